//! Documents of transaction loops: lists, versions, the review queue, uploads, the viewer and
//! the review steps. Every rule (file types, size limit, who may review, which status allows
//! which step, encryption) is strive-replica's and strive-domain's; these commands carry bytes
//! and ids across.
//!
//! Uploads come from the web view's file picker or a drop, in chunks (so the UI can show
//! progress): `upload_begin` starts a staged file (strive-replica's [`Staged`]: encrypted as it
//! arrives under a key held only in memory, in a private temporary file deleted when done or
//! abandoned, so no plaintext reaches the disk even if the app dies halfway), `upload_chunk`
//! appends raw bytes, `upload_finish` hands it to the replica, which checks it and encrypts it
//! into the vault under the document's own key and queues its upload. The
//! viewer gets a version's decrypted bytes as the command's answer: the web view never learns a
//! path, and nothing decrypted is written to disk for it.

use super::crm::mutate;
use crate::error::{AppError, AppResult};
use crate::state::{lock, AppState};
use crate::watcher::{self, WatchSetting};
use serde::Serialize;
use strive_domain::documents::{check_size, ReviewDecision, DEFAULT_MAX_DOCUMENT_BYTES};
use strive_domain::entities::{DocumentVersion, ReviewItem};
use strive_domain::mutations::documents::ReviewDocument;
use strive_domain::mutations::{Delete, Mutation};
use strive_domain::{DocumentId, DocumentStatus, DocumentType, LoopId, VersionId};
use strive_replica::read::DocumentRow;
use strive_replica::vault::{NewDocument, Source, Staged};
use tauri::ipc::{InvokeBody, Request, Response};
use tauri::{AppHandle, State};

/// The largest document accepted on this device (`STRIVE_MAX_DOCUMENT_MB`, else 100 MB), as
/// the CLI has it.
pub fn max_bytes() -> u64 {
    std::env::var("STRIVE_MAX_DOCUMENT_MB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(|mb| mb * 1024 * 1024)
        .unwrap_or(DEFAULT_MAX_DOCUMENT_BYTES)
}

/// A file being received from the web view.
pub struct Receiving {
    name: String,
    size: u64,
    staged: Staged,
}

#[tauri::command]
pub async fn documents(
    state: State<'_, AppState>,
    loop_id: Option<LoopId>,
    status: Option<DocumentStatus>,
) -> AppResult<Vec<DocumentRow>> {
    state
        .with_replica(move |r| Ok(r.documents(loop_id, status)?))
        .await
}

#[tauri::command]
pub async fn document_versions(
    state: State<'_, AppState>,
    id: DocumentId,
) -> AppResult<Vec<DocumentVersion>> {
    state
        .with_replica(move |r| Ok(r.document_versions(id)?))
        .await
}

#[tauri::command]
pub async fn review_queue(state: State<'_, AppState>) -> AppResult<Vec<ReviewItem>> {
    state.with_replica(|r| Ok(r.review_queue()?)).await
}

/// Starts receiving a file of `size` bytes called `name`; answers the upload's id.
#[tauri::command]
pub async fn upload_begin(
    state: State<'_, AppState>,
    name: String,
    size: u64,
) -> AppResult<String> {
    state.replica()?;
    check_size(size, max_bytes()).map_err(|e| AppError::new("rejected", e.to_string()))?;
    let staged = Staged::new().map_err(AppError::internal)?;
    let id = uuid::Uuid::now_v7().to_string();
    lock(&state.uploads).insert(id.clone(), Receiving { name, size, staged });
    Ok(id)
}

fn unknown_upload() -> AppError {
    AppError::new(
        "not_found",
        "That upload is no longer in progress; add the file again",
    )
}

/// Appends a chunk (the raw request body) to the upload named by the `upload-id` header;
/// answers the bytes received so far.
#[tauri::command]
pub async fn upload_chunk(state: State<'_, AppState>, request: Request<'_>) -> AppResult<u64> {
    let InvokeBody::Raw(bytes) = request.body() else {
        return Err(AppError::new("invalid", "A chunk is sent as raw bytes"));
    };
    let id = request
        .headers()
        .get("upload-id")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unknown_upload)?;
    let mut uploads = lock(&state.uploads);
    let upload = uploads.get_mut(id).ok_or_else(unknown_upload)?;
    let received = upload.staged.len() + bytes.len() as u64;
    if received > upload.size {
        uploads.remove(id);
        return Err(AppError::new(
            "invalid",
            "The file changed while it was being added; add it again",
        ));
    }
    upload.staged.write(bytes).map_err(AppError::internal)?;
    Ok(received)
}

/// What an upload became.
#[derive(Serialize)]
pub struct UploadedView {
    pub document_id: String,
    pub version_id: String,
    pub mime_type: String,
    pub size: u64,
}

/// Checks, encrypts and queues the received file as a document of `loop_id` (or as the next
/// version of `version_of`); the sync task uploads it at once when online.
#[tauri::command]
pub async fn upload_finish(
    state: State<'_, AppState>,
    upload: String,
    loop_id: LoopId,
    document_type: DocumentType,
    version_of: Option<DocumentId>,
) -> AppResult<UploadedView> {
    let mut upload = lock(&state.uploads)
        .remove(&upload)
        .ok_or_else(unknown_upload)?;
    if upload.staged.len() != upload.size {
        return Err(AppError::new(
            "invalid",
            "The file did not arrive whole; add it again",
        ));
    }
    upload.staged.finish().map_err(AppError::internal)?;
    let added = state
        .with_replica(move |r| {
            let added = r.add_document(NewDocument {
                loop_id,
                source: Source::Staged(&upload.staged),
                name: Some(upload.name.clone()),
                document_type,
                document_id: version_of,
                max_bytes: max_bytes(),
            })?;
            drop(upload);
            Ok(added)
        })
        .await?;
    state.nudge();
    Ok(UploadedView {
        document_id: added.document_id.to_string(),
        version_id: added.version_id.to_string(),
        mime_type: added.kind.mime().to_string(),
        size: added.size,
    })
}

/// Drops an upload the UI gave up on (its staged bytes go with it).
#[tauri::command]
pub async fn upload_cancel(state: State<'_, AppState>, upload: String) -> AppResult<()> {
    lock(&state.uploads).remove(&upload);
    Ok(())
}

/// A version's decrypted bytes, for the in-app viewer (fetched from the server first when this
/// device does not hold it). The current version when `version` is `None`.
#[tauri::command]
pub async fn open_document(
    state: State<'_, AppState>,
    id: DocumentId,
    version: Option<i32>,
) -> AppResult<Response> {
    let here = state
        .with_replica(move |r| {
            let v = r.version_id(id, version)?;
            Ok((v, r.vault_entry(v)?.is_some()))
        })
        .await?;
    let v: VersionId = match here {
        (v, true) => v,
        (_, false) => {
            let auth = state.auth()?;
            let token = auth.token().await?;
            let api = auth.api();
            let (_, replica) = state.replica()?;
            // The fetch holds the replica only to record what it stored.
            let mut r = tauri::async_runtime::spawn_blocking(move || lock(&replica).reopen())
                .await
                .map_err(AppError::internal)??;
            strive_replica::transfer::fetch(&mut r, api.http(), api.base(), &token, id, version)
                .await?
        }
    };
    let bytes = state.with_replica(move |r| Ok(r.read_document(v)?)).await?;
    Ok(Response::new(bytes))
}

#[tauri::command]
pub async fn submit_document(state: State<'_, AppState>, id: DocumentId) -> AppResult<()> {
    mutate(&state, Mutation::SubmitDocument(Delete { id })).await
}

/// Approves a submitted document, or returns it with a note (strive-domain requires one).
#[tauri::command]
pub async fn review_document(
    state: State<'_, AppState>,
    id: DocumentId,
    decision: ReviewDecision,
    note: Option<String>,
) -> AppResult<()> {
    let note = note.filter(|n| !n.trim().is_empty());
    mutate(
        &state,
        Mutation::ReviewDocument(ReviewDocument { id, decision, note }),
    )
    .await
}

/// The watched folder of the open organization on this device.
#[derive(Serialize)]
pub struct WatchView {
    pub setting: Option<WatchSetting>,
    pub running: bool,
    pub error: Option<String>,
}

fn watch_view(state: &AppState) -> AppResult<WatchView> {
    let s = state.session();
    let a = s.as_ref().ok_or_else(AppError::no_session)?;
    let org = a.org.as_ref().ok_or_else(AppError::no_session)?;
    Ok(match &org.watcher {
        Some(w) => WatchView {
            setting: Some(w.setting.clone()),
            running: lock(&w.error).is_none(),
            error: lock(&w.error).clone(),
        },
        None => WatchView {
            setting: watcher::saved(&state.settings.dir, org.id),
            running: false,
            error: None,
        },
    })
}

#[tauri::command]
pub async fn watch_folder(state: State<'_, AppState>) -> AppResult<WatchView> {
    watch_view(&state)
}

/// Sets (or with `None` clears) the watched folder and restarts the watcher.
#[tauri::command]
pub async fn set_watch_folder(
    app: AppHandle,
    state: State<'_, AppState>,
    setting: Option<WatchSetting>,
) -> AppResult<WatchView> {
    if let Some(s) = &setting {
        watcher::check(s)?;
        let loop_id = s.loop_id;
        state
            .with_replica(move |r| {
                r.loop_with_tasks(loop_id)?.map(|_| ()).ok_or_else(|| {
                    AppError::field("loop_id", "Choose a transaction of this organization")
                })
            })
            .await?;
    }
    let (org, replica) = state.replica()?;
    // The old watcher stops before the new one starts.
    {
        let mut s = state.session();
        if let Some(o) = s.as_mut().and_then(|a| a.org.as_mut()) {
            o.watcher = None;
        }
    }
    watcher::save(&state.settings.dir, org, setting.as_ref())?;
    if let Some(s) = setting {
        let w = {
            let r = lock(&replica);
            watcher::start(&app, &r, s)?
        };
        let mut guard = state.session();
        if let Some(o) = guard.as_mut().and_then(|a| a.org.as_mut()) {
            o.watcher = Some(w);
        }
    }
    watch_view(&state)
}
