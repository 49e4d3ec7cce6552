//! Resumable uploads of document ciphertext, and the commit of a finished upload as a version.
//!
//! A session records what the device declared (loop, name, type, ciphertext size and SHA-256)
//! and where the blob will go; chunks arrive at offsets into a part file (a chunk sent twice is
//! harmless); when the last byte is in, the checksum is verified. Recording the version (the
//! `uploadDocument` mutation, from the REST `complete` call or a device's push) moves the blob
//! into the store and writes the metadata, the wrapped data key and the audit row in one
//! transaction. Sessions never finished are swept, with their files, once they expire.

use crate::db::documents::{self as docs, NewVersionRow};
use crate::error::{ApiError, ApiResult};
use crate::guard::{Audit, Ctx};
use crate::store::StoreError;
use crate::AppState;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use std::path::PathBuf;
use strive_domain::documents::{check_declared_mime, check_size, display_name, storage_key};
use strive_domain::entities::Document;
use strive_domain::mutations::documents::{check_sha256, NewVersion};
use strive_domain::{DocumentId, DocumentType, LoopId, OrgId, ValidationError, VersionId};

/// What a device declares before sending a document's ciphertext.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUpload {
    /// Chosen by the device (UUIDv7); becomes the version's id. Creating it again resumes.
    pub id: VersionId,
    /// A new document's id, or an existing one's for its next version.
    pub document_id: DocumentId,
    pub loop_id: LoopId,
    #[schema(min_length = 1, max_length = 255)]
    pub name: String,
    #[schema(schema_with = allowed_mime_types)]
    pub mime_type: String,
    #[serde(default)]
    pub document_type: Option<DocumentType>,
    #[schema(minimum = 1)]
    pub ciphertext_size: i64,
    /// SHA-256 of the ciphertext, hex.
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    pub sha256: String,
}

/// The MIME types on the allow-list, as the API documents them (the content is checked too, by
/// its bytes).
fn allowed_mime_types() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(
            strive_domain::documents::DocumentKind::ALL
                .iter()
                .map(|k| k.mime()),
        ))
        .description(Some(
            "One of the allowed kinds (the content is checked too, by its bytes).",
        ))
        .build()
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct UploadStatus {
    pub id: VersionId,
    pub document_id: DocumentId,
    /// Bytes received so far: the offset to send next.
    pub received: i64,
    pub ciphertext_size: i64,
    /// RECEIVING, VERIFIED (every byte in, checksum right) or COMPLETED.
    pub state: String,
    /// Largest chunk body accepted.
    pub chunk_limit: usize,
}

#[derive(sqlx::FromRow)]
pub struct Session {
    pub id: VersionId,
    pub document_id: DocumentId,
    pub loop_id: LoopId,
    pub original_name: String,
    pub mime_type: String,
    pub document_type: DocumentType,
    pub ciphertext_size: i64,
    pub sha256: String,
    pub storage_key: String,
    pub received: i64,
    pub state: String,
    pub created_by: strive_domain::UserId,
}

impl Session {
    pub fn status(&self, state: &AppState) -> UploadStatus {
        UploadStatus {
            id: self.id,
            document_id: self.document_id,
            received: self.received,
            ciphertext_size: self.ciphertext_size,
            state: self.state.clone(),
            chunk_limit: state.config().documents.chunk_limit,
        }
    }
}

pub fn part_path(state: &AppState, org: OrgId, id: VersionId) -> PathBuf {
    state
        .config()
        .documents
        .upload_dir
        .join(org.to_string())
        .join(format!("{id}.part"))
}

fn too_large(e: strive_domain::documents::DocumentRejection) -> ApiError {
    ApiError::coded(StatusCode::PAYLOAD_TOO_LARGE, e.code(), e.to_string())
}

fn unsupported(e: strive_domain::documents::DocumentRejection) -> ApiError {
    ApiError::coded(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.code(), e.to_string())
}

/// The plaintext size a ciphertext size stands for, within the configured limit.
pub fn plaintext_size(state: &AppState, ciphertext_size: i64) -> ApiResult<u64> {
    let plain = u64::try_from(ciphertext_size)
        .ok()
        .and_then(strive_crypto::plaintext_len)
        .ok_or_else(|| {
            ApiError::Invalid(ValidationError::single(
                "ciphertext_size",
                "no encrypted document has this size",
            ))
        })?;
    check_size(plain, state.config().documents.max_document_bytes).map_err(too_large)?;
    Ok(plain)
}

pub async fn lock_session(conn: &mut PgConnection, ctx: &Ctx, id: VersionId) -> ApiResult<Session> {
    let s: Option<Session> = sqlx::query_as(
        "SELECT id, document_id, loop_id, original_name, mime_type, document_type, ciphertext_size,
                sha256, storage_key, received, state, created_by
           FROM upload_sessions WHERE organization_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(ctx.org)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    // Someone else's upload is not yours to see or finish.
    s.filter(|s| s.created_by == ctx.user)
        .ok_or_else(|| ApiError::not_found("Upload"))
}

/// Checks the declaration and opens (or finds again) the session. Nothing is stored when a check
/// fails: a foreign loop is 404, a type off the allow-list 415, a size over the limit 413.
pub async fn create(
    conn: &mut PgConnection,
    ctx: &Ctx,
    state: &AppState,
    u: NewUpload,
) -> ApiResult<(UploadStatus, Vec<(VersionId, String)>)> {
    let name = display_name(&u.name).map_err(ValidationError::from)?;
    check_declared_mime(&u.mime_type).map_err(unsupported)?;
    let sha = check_sha256(&u.sha256)
        .map_err(|m| ApiError::Invalid(ValidationError::single("sha256", m)))?;
    plaintext_size(state, u.ciphertext_size)?;
    crate::db::loops::lock(conn, ctx.org, u.loop_id).await?;
    if let Some(doc) = docs::lock(conn, ctx.org, u.document_id).await? {
        if doc.loop_id != u.loop_id {
            return Err(ApiError::Invalid(ValidationError::single(
                "document_id",
                "this document belongs to another transaction loop",
            )));
        }
    }
    let existing: Option<Session> = sqlx::query_as(
        "SELECT id, document_id, loop_id, original_name, mime_type, document_type, ciphertext_size,
                sha256, storage_key, received, state, created_by
           FROM upload_sessions WHERE organization_id = $1 AND id = $2",
    )
    .bind(ctx.org)
    .bind(u.id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(s) = existing {
        let same = s.created_by == ctx.user
            && s.document_id == u.document_id
            && s.loop_id == u.loop_id
            && s.ciphertext_size == u.ciphertext_size
            && s.sha256 == sha;
        if !same {
            return Err(ApiError::Conflict(
                "An upload with this id exists and describes another file".into(),
            ));
        }
        return Ok((s.status(state), Vec::new()));
    }
    let now = chrono::Utc::now();
    let key = storage_key(ctx.org, u.loop_id, now.timestamp_millis(), &name);
    let ttl = chrono::Duration::from_std(state.config().documents.upload_ttl)
        .unwrap_or_else(|_| chrono::Duration::hours(24));
    let s: Session = sqlx::query_as(
        "INSERT INTO upload_sessions (organization_id, id, document_id, loop_id, original_name,
                                      mime_type, document_type, ciphertext_size, sha256,
                                      storage_key, created_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         RETURNING id, document_id, loop_id, original_name, mime_type, document_type,
                   ciphertext_size, sha256, storage_key, received, state, created_by",
    )
    .bind(ctx.org)
    .bind(u.id)
    .bind(u.document_id)
    .bind(u.loop_id)
    .bind(&name)
    .bind(&u.mime_type)
    .bind(u.document_type.unwrap_or(DocumentType::Other))
    .bind(u.ciphertext_size)
    .bind(&sha)
    .bind(&key)
    .bind(ctx.user)
    .bind(now + ttl)
    .fetch_one(&mut *conn)
    .await?;
    let expired = sweep(conn, ctx.org).await?;
    Ok((s.status(state), expired))
}

/// Removes the organization's expired sessions; returns (id, storage key) of those never
/// completed, whose files the caller deletes after commit.
async fn sweep(conn: &mut PgConnection, org: OrgId) -> ApiResult<Vec<(VersionId, String)>> {
    let rows: Vec<(VersionId, String, String)> = sqlx::query_as(
        "DELETE FROM upload_sessions WHERE organization_id = $1 AND expires_at < now()
         RETURNING id, storage_key, state",
    )
    .bind(org)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, key, state)| {
            (
                id,
                if state == "COMPLETED" {
                    String::new()
                } else {
                    key
                },
            )
        })
        .collect())
}

/// Deletes swept sessions' part files and never-recorded blobs (an empty key: recorded, keep).
pub async fn remove_files(state: &AppState, org: OrgId, swept: &[(VersionId, String)]) {
    for (id, key) in swept {
        let _ = tokio::fs::remove_file(part_path(state, org, *id)).await;
        if !key.is_empty() {
            if let Err(e) = state.store().delete(key).await {
                tracing::warn!(error = %e, "could not delete an orphaned blob");
            }
        }
    }
}

/// What a chunk did.
pub enum ChunkOutcome {
    Accepted(UploadStatus),
    /// Every byte arrived but they do not hash to the declared SHA-256; the session starts over.
    ChecksumMismatch,
}

/// Where a chunk may be written, decided (in a short transaction) before any of its bytes are.
pub enum ChunkPlan {
    /// The upload takes no more chunks (verified or recorded): its status; nothing is written.
    Done(UploadStatus),
    /// Write at `offset`, once the bytes before it are in (`received` were when checked);
    /// `room` bytes fit before the declared size.
    Write {
        offset: u64,
        room: u64,
        received: u64,
    },
}

pub fn offset_mismatch(received: i64) -> ApiError {
    ApiError::coded(
        StatusCode::CONFLICT,
        "upload_offset_mismatch",
        format!("Send the bytes from offset {received} next"),
    )
}

pub fn chunk_too_large(limit: usize) -> ApiError {
    ApiError::coded(
        StatusCode::PAYLOAD_TOO_LARGE,
        "chunk_too_large",
        format!("Send at most {limit} bytes per chunk"),
    )
}

pub fn past_declared_size(end: u64, room: u64, offset: u64) -> ApiError {
    ApiError::coded(
        StatusCode::PAYLOAD_TOO_LARGE,
        "upload_exceeds_declared_size",
        format!(
            "This chunk ends at byte {end}, past the declared size of {} bytes",
            offset + room
        ),
    )
}

/// Checks a chunk before it is received: the upload is the caller's, still receiving, and the
/// offset within the declared size (whether the bytes before it are in is decided at the
/// upload's gate, and again when the chunk is recorded).
pub async fn plan_chunk(
    conn: &mut PgConnection,
    ctx: &Ctx,
    state: &AppState,
    id: VersionId,
    offset: Option<i64>,
) -> ApiResult<ChunkPlan> {
    let s = lock_session(conn, ctx, id).await?;
    let offset = offset.ok_or_else(|| {
        ApiError::Invalid(ValidationError::single(
            "offset",
            "say where this chunk goes: ?offset=<bytes already sent>",
        ))
    })?;
    if s.state != "RECEIVING" {
        return Ok(ChunkPlan::Done(s.status(state)));
    }
    // Past what was received is judged at the upload's gate: the chunk before it may be in
    // flight.
    if offset < 0 || offset > s.ciphertext_size {
        return Err(offset_mismatch(s.received));
    }
    Ok(ChunkPlan::Write {
        offset: offset as u64,
        room: (s.ciphertext_size - offset) as u64,
        received: s.received as u64,
    })
}

/// Opens the part file for writing (creating it) and takes its exclusive lock, waiting while
/// another server instance writes or verifies a chunk of the same upload: the lock is what keeps
/// a chunk from writing into a file whose checksum was verified meanwhile (the database row is
/// not held while a body streams in). `None` when the file is marked verified ([`mark_verified`]):
/// the database must then be asked again whether the upload still takes chunks.
pub async fn lock_part(path: PathBuf) -> std::io::Result<Option<std::fs::File>> {
    let opened = blocking(move || {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let opened = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path);
        match opened {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Ok(None),
            Err(e) => Err(e),
        }
    })
    .await?;
    let Some(mut f) = opened else {
        return Ok(None);
    };
    // Waiting for the lock happens here, not parked on a blocking thread: a request cancelled
    // meanwhile (the device went away) stops waiting, and the wait is bounded.
    let deadline = tokio::time::Instant::now() + PART_LOCK_WAIT;
    loop {
        let (file, got) = blocking(move || {
            let got = match f.try_lock() {
                // Read after the lock: a verification that finished while this waited shows.
                Ok(()) => Some(f.metadata()?.permissions().readonly()),
                Err(std::fs::TryLockError::WouldBlock) => None,
                Err(std::fs::TryLockError::Error(e)) => return Err(e),
            };
            Ok((f, got))
        })
        .await?;
        match got {
            Some(true) => return Ok(None),
            Some(false) => return Ok(Some(file)),
            None => f = file,
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "another chunk of this upload is still being written",
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A chunk that waited too long for the part file's lock: busy, not broken (the device retries
/// it); any other file error stays ours.
pub fn part_busy(e: std::io::Error) -> ApiError {
    if e.kind() == std::io::ErrorKind::TimedOut {
        ApiError::coded(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "upload_busy",
            e.to_string(),
        )
    } else {
        e.into()
    }
}

/// How long a chunk waits for another server instance to finish writing the same upload.
const PART_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Marks a part file verified (read-only), under its lock, before its session says VERIFIED.
async fn mark_verified(path: &std::path::Path) -> std::io::Result<()> {
    let path = path.to_path_buf();
    blocking(move || {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400))
    })
    .await
}

/// Takes a stale mark off (its session's VERIFIED never committed, or the upload started over).
pub async fn unmark(path: &std::path::Path) -> std::io::Result<()> {
    let path = path.to_path_buf();
    blocking(move || {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
    })
    .await
}

/// Frames of a chunk's body in flight between the connection and the file writer: bounds the
/// memory a chunk takes (hyper hands over at most a few hundred KiB per frame).
const FRAMES_IN_FLIGHT: usize = 16;

/// Chunks streaming into part files at once, in this process (two blocking threads each; tokio's
/// pool has 512).
const MAX_STREAMING_CHUNKS: usize = 64;
static STREAMING_CHUNKS: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new(MAX_STREAMING_CHUNKS);

/// A chunk's body that stops arriving for this long is refused (and its threads freed).
const BODY_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

/// Streams a chunk's body into the part file at `offset` as it arrives: this task receives while
/// a blocking thread writes and continues `hash` (the SHA-256 of the bytes before `offset`), so
/// receiving and writing overlap and no chunk is ever held whole in memory. Refuses a body longer
/// than `limit` or than `room`, and (at offset 0) one that does not start with a Strive header,
/// before writing any of it. Returns the bytes written and the continued hash. Bytes written by
/// a chunk refused half-way count for nothing: `received` only moves in [`commit_chunk`], and the
/// checksum over the whole file is what decides.
pub async fn receive_chunk(
    part: &std::fs::File,
    offset: u64,
    room: u64,
    limit: usize,
    hash: Option<Sha256>,
    stream: &mut axum::body::BodyDataStream,
) -> ApiResult<(u64, Option<Sha256>)> {
    use futures_util::StreamExt;
    // Each chunk streaming in holds two blocking threads (writer, hasher): a bounded number of
    // them at once, so slow or stalled uploads cannot take the pool every other request needs
    // (password hashing, file reads). The others wait here, without a thread.
    let _slot = STREAMING_CHUNKS
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let mut writer: Option<FileWriter> = None;
    let mut hash = Some(hash);
    let mut len = 0u64;
    // At offset 0 the header is checked before anything is written; it may span frames.
    let mut head: Option<Vec<u8>> = (offset == 0).then(Vec::new);
    let received = async {
        loop {
            let next = tokio::time::timeout(BODY_IDLE, stream.next())
                .await
                .map_err(|_| {
                    ApiError::coded(
                        axum::http::StatusCode::REQUEST_TIMEOUT,
                        "body_timeout",
                        format!(
                            "no part of the chunk arrived for {} s; send it again",
                            BODY_IDLE.as_secs()
                        ),
                    )
                })?;
            let data = match next {
                Some(frame) => frame.map_err(|e| {
                    ApiError::BadRequest(format!("the chunk's body could not be read: {e}"))
                })?,
                None => break,
            };
            len += data.len() as u64;
            if len > limit as u64 {
                return Err(chunk_too_large(limit));
            }
            if len > room {
                return Err(past_declared_size(offset + len, room, offset));
            }
            let data = match head.as_mut() {
                Some(h) => {
                    h.extend_from_slice(&data);
                    if h.len() < strive_crypto::HEADER_LEN {
                        continue;
                    }
                    check_header(h)?;
                    let whole = std::mem::take(h);
                    head = None;
                    axum::body::Bytes::from(whole)
                }
                None => data,
            };
            let w = match writer.as_mut() {
                Some(w) => w,
                None => writer.insert(FileWriter::start(
                    part.try_clone()?,
                    offset,
                    hash.take().flatten(),
                )),
            };
            if !w.send(data).await {
                break;
            }
        }
        if let Some(h) = head.as_ref() {
            // A body shorter than a header, at offset 0.
            check_header(h)?;
        }
        Ok(())
    }
    .await;
    let written = match writer {
        Some(w) => w.finish().await,
        None => Ok(hash.flatten()),
    };
    received?;
    Ok((len, written?))
}

/// Reads (and drops) what is left of a refused chunk's body, up to `limit` bytes, so that the
/// device reads the refusal rather than a connection reset while it is still sending. A body
/// longer than that is left unread (the connection then closes).
pub async fn drain(stream: &mut axum::body::BodyDataStream, limit: usize) {
    use futures_util::StreamExt;
    let mut left = limit;
    while let Some(Ok(data)) = stream.next().await {
        match left.checked_sub(data.len()) {
            Some(l) => left = l,
            None => return,
        }
    }
}

fn check_header(head: &[u8]) -> ApiResult<()> {
    let head = &head[..head.len().min(strive_crypto::HEADER_LEN)];
    strive_crypto::Header::parse(head).map(|_| ()).map_err(|_| {
        ApiError::coded(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_encrypted",
            "This is not a Strive-encrypted document: documents are encrypted on the device before upload",
        )
    })
}

/// How much is written before the kernel is asked to start writing it to the disk.
const WRITEBACK_STEP: u64 = 4 << 20;

/// Asks the kernel to start writing `len` bytes from `offset` of `file` to the disk, without
/// waiting (`sync_file_range(SYNC_FILE_RANGE_WRITE)`): the disk then works while the rest of the
/// upload arrives, and the one fsync before the checksum is verified has little left to do.
/// Only a hint: that fsync is what makes the file durable, so an error here is ignored.
fn start_writeback(file: &std::fs::File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: a plain system call on a file descriptor `file` keeps open; no memory is passed.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

/// Two blocking threads, started on a chunk's first accepted bytes: one writes its frames into
/// the part file at an offset, the other continues the upload's hash with them. Apart, they run
/// on both cores (the copy into the page cache and SHA-256 cost about the same); the frames are
/// shared, not copied.
struct FileWriter {
    to_file: tokio::sync::mpsc::Sender<axum::body::Bytes>,
    to_hash: Option<tokio::sync::mpsc::Sender<axum::body::Bytes>>,
    written: tokio::task::JoinHandle<std::io::Result<()>>,
    hashed: Option<tokio::task::JoinHandle<Sha256>>,
}

impl FileWriter {
    fn start(f: std::fs::File, offset: u64, hash: Option<Sha256>) -> Self {
        let (to_file, mut rx) = tokio::sync::mpsc::channel::<axum::body::Bytes>(FRAMES_IN_FLIGHT);
        // std's file API on the blocking pool: tokio's would hop there per 2 MiB anyway. No
        // fsync per chunk: the checksum at the end catches anything a crash lost, and the file
        // is synced once before it is verified.
        let written = tokio::task::spawn_blocking(move || {
            use std::io::{Seek, Write};
            // Small frames are gathered into fewer system calls; large ones go straight through.
            let mut out = std::io::BufWriter::with_capacity(64 * 1024, f);
            out.seek(std::io::SeekFrom::Start(offset))?;
            let mut flushed = offset;
            let mut at = offset;
            while let Some(data) = rx.blocking_recv() {
                out.write_all(&data)?;
                at += data.len() as u64;
                if at - flushed >= WRITEBACK_STEP {
                    out.flush()?;
                    start_writeback(out.get_ref(), flushed, at - flushed);
                    flushed = at;
                }
            }
            out.flush()?;
            start_writeback(out.get_ref(), flushed, at - flushed);
            Ok(())
        });
        let (to_hash, hashed) = match hash {
            Some(mut h) => {
                let (tx, mut rx) =
                    tokio::sync::mpsc::channel::<axum::body::Bytes>(FRAMES_IN_FLIGHT);
                let done = tokio::task::spawn_blocking(move || {
                    while let Some(data) = rx.blocking_recv() {
                        h.update(&data);
                    }
                    h
                });
                (Some(tx), Some(done))
            }
            None => (None, None),
        };
        FileWriter {
            to_file,
            to_hash,
            written,
            hashed,
        }
    }

    /// Hands a frame over; `false` once the writer stopped ([`finish`](Self::finish) then
    /// returns the error that stopped it).
    async fn send(&mut self, data: axum::body::Bytes) -> bool {
        if let Some(h) = &self.to_hash {
            // The hasher only stops when told to.
            let _ = h.send(data.clone()).await;
        }
        self.to_file.send(data).await.is_ok()
    }

    async fn finish(self) -> ApiResult<Option<Sha256>> {
        drop(self.to_file);
        drop(self.to_hash);
        let hash = match self.hashed {
            Some(h) => Some(h.await.map_err(std::io::Error::other)?),
            None => None,
        };
        self.written.await.map_err(std::io::Error::other)??;
        Ok(hash)
    }
}

/// Records a chunk written at `offset..end` (in the transaction that holds the session's row):
/// `received` moves on, and once every byte is in, the checksum is verified. `hash` is the
/// SHA-256 of the first `end` bytes when it is known; returned again (to keep for the next
/// chunk) only if the upload goes on from exactly there.
pub async fn commit_chunk(
    conn: &mut PgConnection,
    ctx: &Ctx,
    state: &AppState,
    id: VersionId,
    offset: u64,
    end: u64,
    hash: Option<Sha256>,
) -> ApiResult<(ChunkOutcome, Option<(u64, Sha256)>)> {
    let mut s = lock_session(conn, ctx, id).await?;
    if s.state != "RECEIVING" {
        return Ok((ChunkOutcome::Accepted(s.status(state)), None));
    }
    // Another request may have started the upload over meanwhile (a checksum mismatch).
    if offset as i64 > s.received {
        return Err(offset_mismatch(s.received));
    }
    let end = end as i64;
    s.received = s.received.max(end);
    let mut outcome_state = "RECEIVING";
    let mut mismatch = false;
    let mut keep = None;
    let hashed = match hash {
        Some(h) if end == s.ciphertext_size => Some(hex::encode(h.finalize())),
        Some(h) => {
            keep = Some((end as u64, h));
            None
        }
        None => None,
    };
    let path = part_path(state, ctx.org, id);
    if s.received == s.ciphertext_size {
        let sha = match hashed {
            Some(sha) => {
                sync_file(&path).await?;
                sha
            }
            None => sha256_of(&path).await?,
        };
        if sha == s.sha256 {
            outcome_state = "VERIFIED";
            mark_verified(&path).await?;
        } else {
            mismatch = true;
            s.received = 0;
            tokio::fs::File::create(&path).await?;
        }
    }
    sqlx::query(
        "UPDATE upload_sessions SET received = $3, state = $4 WHERE organization_id = $1 AND id = $2",
    )
    .bind(ctx.org)
    .bind(id)
    .bind(s.received)
    .bind(outcome_state)
    .execute(&mut *conn)
    .await?;
    if mismatch {
        return Ok((ChunkOutcome::ChecksumMismatch, None));
    }
    s.state = outcome_state.to_string();
    Ok((ChunkOutcome::Accepted(s.status(state)), keep))
}

/// Makes the finished part file durable before it is declared verified.
async fn sync_file(path: &std::path::Path) -> std::io::Result<()> {
    let path = path.to_path_buf();
    blocking(move || std::fs::File::open(&path)?.sync_all()).await
}

/// Syncs the finished part file and hashes it, on the blocking pool.
async fn sha256_of(path: &std::path::Path) -> std::io::Result<String> {
    let path = path.to_path_buf();
    blocking(move || {
        use std::io::Read;
        let mut f = std::fs::File::open(&path)?;
        f.sync_all()?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                return Ok(hex::encode(h.finalize()));
            }
            h.update(&buf[..n]);
        }
    })
    .await
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(std::io::Error::other)?
}

/// The `uploadDocument` mutation: records a verified upload as a new version (or, for an upload
/// already recorded, answers that version again). Runs inside the mutation's transaction; the
/// blob is linked into the store before the rows commit, so a failure leaves no row, and a blob
/// left by a failed commit is reused by the retry or swept with its expired session.
pub async fn record_version(
    conn: &mut PgConnection,
    ctx: &Ctx,
    state: &AppState,
    v: NewVersion,
) -> ApiResult<(Document, Vec<Audit>)> {
    // The loop first, as deleting it does (then its sessions): no deadlock between the two, and
    // an upload whose loop was deleted meanwhile is refused for that reason.
    crate::db::loops::lock(conn, ctx.org, v.loop_id).await?;
    let s = lock_session(conn, ctx, v.version_id).await?;
    let matches = s.document_id == v.document_id
        && s.loop_id == v.loop_id
        && s.ciphertext_size as u64 == v.ciphertext_size
        && s.sha256 == v.sha256;
    if !matches {
        return Err(ApiError::Invalid(ValidationError::single(
            "version_id",
            "this upload was declared for another document, loop, size or checksum",
        )));
    }
    if s.state == "COMPLETED" {
        return Ok((docs::get(conn, ctx.org, v.document_id).await?, Vec::new()));
    }
    if s.state != "VERIFIED" {
        return Err(ApiError::coded(
            StatusCode::CONFLICT,
            "upload_incomplete",
            format!(
                "The upload is not complete: {} of {} bytes received",
                s.received, s.ciphertext_size
            ),
        ));
    }
    let plain = plaintext_size(state, s.ciphertext_size)?;
    if plain != v.size {
        return Err(ApiError::Invalid(ValidationError::single(
            "size",
            format!(
                "an encrypted document of this size holds {plain} bytes, not {}",
                v.size
            ),
        )));
    }
    let key = strive_crypto::DataKey::from_base64(&v.data_key.0).map_err(|_| {
        ApiError::Invalid(ValidationError::single(
            "data_key",
            "must be a 256-bit key in base64",
        ))
    })?;
    let existing = docs::lock(conn, ctx.org, v.document_id).await?;
    if existing.as_ref().is_some_and(|d| d.loop_id != v.loop_id) {
        return Err(ApiError::Invalid(ValidationError::single(
            "document_id",
            "this document belongs to another transaction loop",
        )));
    }
    let row = NewVersionRow {
        org: ctx.org,
        user: ctx.user,
        version_id: v.version_id,
        document_id: v.document_id,
        loop_id: v.loop_id,
        name: &v.name,
        mime: v.kind.mime(),
        document_type: v.document_type,
        size: plain as i64,
        ciphertext_size: s.ciphertext_size,
        sha256: &s.sha256,
        storage_key: &s.storage_key,
    };
    let (doc, number) = docs::insert_version(conn, &row, existing.is_none()).await?;
    state
        .kms()
        .store_data_key(conn, ctx.org, v.version_id, &key)
        .await?;
    sqlx::query(
        "UPDATE upload_sessions SET state = 'COMPLETED' WHERE organization_id = $1 AND id = $2",
    )
    .bind(ctx.org)
    .bind(v.version_id)
    .execute(&mut *conn)
    .await?;
    // Last, so that any failure above leaves no blob behind; the session owns its key, so an
    // object already there is this upload's own from an attempt whose commit failed.
    match state
        .store()
        .put_new(&s.storage_key, &part_path(state, ctx.org, v.version_id))
        .await
    {
        Ok(()) | Err(StoreError::AlreadyExists) => {}
        Err(e) => return Err(ApiError::Internal(e.into())),
    }
    let audit = Audit::new(
        "uploaded_document",
        "document",
        v.document_id.0,
        json!({
            "file_name": v.name, "document_type": v.document_type, "version": number,
            "file_size": plain, "mime_type": v.kind.mime(), "loop_id": v.loop_id,
        }),
    );
    Ok((doc, vec![audit]))
}

/// After a version's rows committed: the part file is no longer needed (the store has the blob).
pub async fn discard_part(state: &AppState, org: OrgId, id: VersionId) {
    state.upload_hashes().forget(id);
    let _ = tokio::fs::remove_file(part_path(state, org, id)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_verified_part_file_is_not_written_again_until_unmarked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("org").join("v.part");
        let held = lock_part(path.clone())
            .await
            .unwrap()
            .expect("a new part file");
        // Another writer (as another instance would) waits for the lock.
        let waiting = tokio::spawn(lock_part(path.clone()));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "one writer at a time");
        mark_verified(&path).await.unwrap();
        drop(held);
        assert!(
            waiting.await.unwrap().unwrap().is_none(),
            "verified while it waited: the database is asked again"
        );
        unmark(&path).await.unwrap();
        assert!(lock_part(path).await.unwrap().is_some());
    }
}
