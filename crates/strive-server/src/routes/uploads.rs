//! Resumable uploads of document ciphertext: declare, send chunks at offsets, complete.

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::guard::{self, Caller};
use crate::mutations::{apply, Outcome};
use crate::uploads::{self, ChunkOutcome, ChunkPlan, NewUpload, UploadStatus};
use crate::AppState;
use axum::body::{Body, BodyDataStream};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use strive_domain::entities::Document;
use strive_domain::mutations::documents::{Secret, UploadDocument};
use strive_domain::mutations::Mutation;
use strive_domain::permissions::Action;
use strive_domain::{OrgId, VersionId};

/// Declares an upload (or finds it again, to resume): checks the loop, the declared type and the
/// size before a byte is sent.
#[utoipa::path(post, path = "/v1/orgs/{org_id}/uploads", tag = "documents", security(("bearer" = [])),
    params(("org_id" = OrgId, Path)), request_body = NewUpload,
    responses((status = 201, body = UploadStatus), (status = 413, body = crate::error::ErrorBody),
              (status = 415, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<OrgId>,
    ApiJson(body): ApiJson<NewUpload>,
) -> ApiResult<(StatusCode, Json<UploadStatus>)> {
    let st = state.clone();
    let (status, swept) = guard::mutate(
        &state,
        &caller,
        org,
        Action::UploadDocument,
        || Ok(body),
        move |tx, ctx, body| {
            Box::pin(async move { Ok((uploads::create(tx, ctx, &st, body).await?, Vec::new())) })
        },
    )
    .await?;
    uploads::remove_files(&state, org, &swept).await;
    Ok((StatusCode::CREATED, Json(status)))
}

#[utoipa::path(get, path = "/v1/orgs/{org_id}/uploads/{id}", tag = "documents", security(("bearer" = [])),
    params(("org_id" = OrgId, Path), ("id" = VersionId, Path)), responses((status = 200, body = UploadStatus)))]
pub async fn status(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, id)): ApiPath<(OrgId, VersionId)>,
) -> ApiResult<Json<UploadStatus>> {
    let st = state.clone();
    let s = guard::read(
        &state,
        &caller,
        org,
        Action::UploadDocument,
        move |tx, ctx| {
            Box::pin(async move { Ok(uploads::lock_session(tx, ctx, id).await?.status(&st)) })
        },
    )
    .await?;
    Ok(Json(s))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkQuery {
    /// Required; checked after the upload is found, so a stranger learns nothing from it.
    #[serde(default)]
    pub offset: Option<i64>,
}

/// One chunk of ciphertext at `offset` (`application/octet-stream`). Sending a chunk again is
/// harmless; the answer says how many bytes arrived, i.e. where to go on.
///
/// The body is streamed into the part file as it arrives, between two short transactions: one
/// checks the chunk may go there (the caller's upload, still receiving, the offset) before a byte
/// is written, the other records it. No database connection waits on the network. Chunks of one
/// upload are written one at a time: in this process a chunk waits, unread, at the upload's gate
/// while another is written; across instances the part file's lock does the same, and a file
/// verified meanwhile is never written again (see `uploads::lock_part`).
#[utoipa::path(put, path = "/v1/orgs/{org_id}/uploads/{id}", tag = "documents", security(("bearer" = [])),
    params(("org_id" = OrgId, Path), ("id" = VersionId, Path), ("offset" = i64, Query)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = UploadStatus), (status = 409, body = crate::error::ErrorBody),
              (status = 413, body = crate::error::ErrorBody)))]
pub async fn put_chunk(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, id)): ApiPath<(OrgId, VersionId)>,
    ApiQuery(q): ApiQuery<ChunkQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<UploadStatus>> {
    let limit = state.config().documents.chunk_limit;
    // A declared length over the limit is refused before anything else (the body is counted as
    // it streams too: a length need not be declared, nor be true).
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(uploads::chunk_too_large(limit));
    }
    let mut body = body.into_data_stream();
    let written = write_chunk(
        &state, &caller, org, id, q.offset, limit, declared, &mut body,
    )
    .await;
    // What a refusal left unread (all of it, when refused before a byte was written): read, so
    // that the device gets the answer rather than a reset connection while it still sends.
    uploads::drain(&mut body, limit).await;
    match written? {
        ChunkOutcome::Accepted(s) => Ok(Json(s)),
        ChunkOutcome::ChecksumMismatch => Err(ApiError::coded(
            StatusCode::UNPROCESSABLE_ENTITY,
            "checksum_mismatch",
            "The bytes received do not match the declared SHA-256; the upload starts over from offset 0",
        )),
    }
}

/// [`put_chunk`]: check, enter the upload's gate, stream to the part file, record.
#[allow(clippy::too_many_arguments)]
async fn write_chunk(
    state: &AppState,
    caller: &Caller,
    org: OrgId,
    id: VersionId,
    offset: Option<i64>,
    limit: usize,
    declared: Option<u64>,
    body: &mut BodyDataStream,
) -> ApiResult<ChunkOutcome> {
    let plan = || {
        let st = state.clone();
        guard::read(
            state,
            caller,
            org,
            Action::UploadDocument,
            move |tx, ctx| {
                Box::pin(async move { uploads::plan_chunk(tx, ctx, &st, id, offset).await })
            },
        )
    };
    // Checked before the gate: a chunk sent before the previous one was answered is checked
    // while that one streams in.
    let (mut offset, mut room, received) = match plan().await? {
        ChunkPlan::Done(status) => return Ok(ChunkOutcome::Accepted(status)),
        ChunkPlan::Write {
            offset,
            room,
            received,
        } => (offset, room, received),
    };
    let gate = state.upload_hashes().gate(id);
    let mut progress = gate
        .enter(offset, received)
        .await
        .map_err(|known| uploads::offset_mismatch(known as i64))?;
    let path = uploads::part_path(state, org, id);
    let lock = || async {
        uploads::lock_part(path.clone())
            .await
            .map_err(uploads::part_busy)
    };
    // Held until the chunk is recorded (the lock goes with the file).
    let part = match lock().await? {
        Some(f) => f,
        // Verified meanwhile (here or by another instance), or a mark whose VERIFIED never
        // committed: ask the database again.
        None => {
            match plan().await? {
                ChunkPlan::Done(status) => return Ok(ChunkOutcome::Accepted(status)),
                ChunkPlan::Write {
                    offset: o, room: r, ..
                } => (offset, room) = (o, r),
            }
            uploads::unmark(&path).await?;
            lock().await?.ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("the part file of upload {id} stays locked"))
            })?
        }
    };
    if let Some(n) = declared.filter(|n| *n > room) {
        return Err(uploads::past_declared_size(offset + n, room, offset));
    }
    let hash = progress.take(offset);
    // Until this chunk is recorded, what was received is the database's to say.
    progress.recorded(None);
    let (len, hash) = uploads::receive_chunk(&part, offset, room, limit, hash, body).await?;
    let st = state.clone();
    let (outcome, keep) = guard::mutate(
        state,
        caller,
        org,
        Action::UploadDocument,
        || Ok(hash),
        move |tx, ctx, hash| {
            Box::pin(async move {
                let out =
                    uploads::commit_chunk(tx, ctx, &st, id, offset, offset + len, hash).await?;
                Ok((out, Vec::new()))
            })
        },
    )
    .await?;
    drop(part);
    // Kept only once the chunk's row committed: a failed commit leaves nothing ahead of it.
    if let ChunkOutcome::Accepted(s) = &outcome {
        progress.recorded(Some(s.received as u64));
    }
    if let Some((end, hash)) = keep {
        progress.put(end, hash);
    }
    drop(progress);
    gate.recorded();
    Ok(outcome)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteUpload {
    /// The version's data key, base64 (the server keeps it only wrapped).
    #[schema(pattern = "^[A-Za-z0-9+/=]{44}$")]
    pub data_key: Secret,
    /// Plaintext bytes.
    #[schema(minimum = 0)]
    pub size: i64,
}

/// Records a verified upload as a document version: the blob goes into the store, and the
/// metadata, the wrapped key and the audit row commit together.
#[utoipa::path(post, path = "/v1/orgs/{org_id}/uploads/{id}/complete", tag = "documents", security(("bearer" = [])),
    params(("org_id" = OrgId, Path), ("id" = VersionId, Path)), request_body = CompleteUpload,
    responses((status = 201, body = Document), (status = 409, body = crate::error::ErrorBody)))]
pub async fn complete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, id)): ApiPath<(OrgId, VersionId)>,
    ApiJson(body): ApiJson<CompleteUpload>,
) -> ApiResult<(StatusCode, Json<Outcome>)> {
    let session = guard::read(
        &state,
        &caller,
        org,
        Action::UploadDocument,
        move |tx, ctx| Box::pin(uploads::lock_session(tx, ctx, id)),
    )
    .await?;
    let m = Mutation::UploadDocument(UploadDocument {
        version_id: id,
        document_id: session.document_id,
        loop_id: session.loop_id,
        name: session.original_name,
        mime_type: session.mime_type,
        document_type: Some(session.document_type),
        size: body.size,
        ciphertext_size: session.ciphertext_size,
        sha256: session.sha256,
        data_key: body.data_key,
    });
    let out = apply(&state, &caller, org, m).await?;
    Ok((StatusCode::CREATED, Json(out)))
}
