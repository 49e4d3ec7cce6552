//! Moving ciphertext between the vault and the server: resumable uploads of versions encrypted
//! here (before their `uploadDocument` mutations are pushed), and fetches of versions to read.

use crate::error::SyncError;
use crate::open::Replica;
use crate::pull::ok_or_refused;
use crate::vault::{DocumentError, Writeback};
use futures_util::StreamExt;
use rusqlite::params;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use strive_crypto::DataKey;
use strive_domain::{DocumentId, VersionId};

/// Bytes per upload request: the server's default limit (8 MiB), so a 100 MB document takes 13.
pub const UPLOAD_CHUNK: usize = 8 * 1024 * 1024;

/// Progress of one upload.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct UploadProgress {
    pub document_id: String,
    pub name: String,
    pub sent: u64,
    pub total: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UploadStats {
    pub uploaded: u64,
    pub refused: u64,
}

#[derive(Deserialize)]
struct Status {
    received: i64,
    state: String,
    /// The server's largest chunk (absent from older servers).
    #[serde(default)]
    chunk_limit: Option<usize>,
}

struct Pending {
    version_id: String,
    file: PathBuf,
    ciphertext_size: i64,
    client_seq: i64,
    declaration: serde_json::Value,
    name: String,
    document_id: String,
}

impl Replica {
    /// Vault files whose `uploadDocument` mutation waits in the outbox, in outbox order.
    fn pending_uploads(&self) -> Result<Vec<Pending>, crate::ReplicaError> {
        let mut stmt = self.conn.prepare(
            "SELECT v.version_id, v.file, v.ciphertext_size, o.client_seq, v.sha256,
                    json_extract(o.mutation, '$.args.document_id'),
                    json_extract(o.mutation, '$.args.loop_id'),
                    json_extract(o.mutation, '$.args.name'),
                    json_extract(o.mutation, '$.args.mime_type'),
                    json_extract(o.mutation, '$.args.document_type')
               FROM outbox o JOIN vault v
                 ON v.version_id = json_extract(o.mutation, '$.args.version_id')
              WHERE o.state = 'pending' AND json_extract(o.mutation, '$.type') = 'uploadDocument'
                AND v.state = 'upload'
              ORDER BY o.client_seq",
        )?;
        let rows = stmt
            .query_map([], |r| {
                let version_id: String = r.get(0)?;
                let size: i64 = r.get(2)?;
                let name: String = r.get(7)?;
                let document_id: String = r.get(5)?;
                Ok(Pending {
                    declaration: json!({
                        "id": version_id, "document_id": document_id,
                        "loop_id": r.get::<_, String>(6)?, "name": name,
                        "mime_type": r.get::<_, String>(8)?,
                        "document_type": r.get::<_, Option<String>>(9)?,
                        "ciphertext_size": size, "sha256": r.get::<_, String>(4)?,
                    }),
                    version_id,
                    file: PathBuf::from(r.get::<_, String>(1)?),
                    ciphertext_size: size,
                    client_seq: r.get(3)?,
                    name,
                    document_id,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Whether mutations queued before `client_seq` still wait to be pushed.
    fn pending_before(&self, client_seq: i64) -> Result<bool, crate::ReplicaError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE state = 'pending' AND client_seq < ?1)",
            [client_seq],
            |r| r.get(0),
        )?)
    }

    fn set_vault_state(
        &self,
        version: &str,
        state: &str,
        reason: Option<&str>,
    ) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE vault SET state = ?2, reason = ?3 WHERE version_id = ?1",
            params![version, state, reason],
        )?;
        Ok(())
    }

    /// The server refused an upload for good (its type, size, loop...): the queued mutation is
    /// settled as rejected with the server's reason, like a rejected push, and rolled back locally
    /// after the next pull.
    fn refuse_upload(&mut self, p: &Pending, code: &str, message: &str) -> rusqlite::Result<()> {
        self.set_vault_state(&p.version_id, "refused", Some(message))?;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT OR REPLACE INTO rejections (client_seq, mutation, code, message)
             SELECT client_seq, json_remove(mutation, '$.args.data_key'), ?2, ?3
               FROM outbox WHERE client_seq = ?1",
            params![p.client_seq, code, message],
        )?;
        tx.execute(
            "UPDATE outbox SET state = 'rejected' WHERE client_seq = ?1",
            [p.client_seq],
        )?;
        tx.commit()
    }
}

fn is_not_found(e: &SyncError) -> bool {
    matches!(e, SyncError::Refused { status: 404, .. })
}

/// Whether a refusal is about this upload (settle it) rather than the session or the server
/// (stop the round and retry later).
fn refusal_is_final(e: &SyncError) -> Option<(String, String)> {
    match e {
        SyncError::Refused {
            status,
            code,
            message,
        } if (400..500).contains(status) && !matches!(status, 401 | 408 | 429) => {
            Some((code.clone(), message.clone()))
        }
        _ => None,
    }
}

/// Uploads every vault file whose `uploadDocument` mutation is queued, resuming where the server
/// says it stopped. A file the server refuses for good settles its mutation as rejected; any other
/// failure stops here (the push must not run ahead of its upload) and is retried next round.
pub async fn upload_pending(
    replica: &mut Replica,
    http: &reqwest::Client,
    base: &str,
    token: &str,
    mut progress: impl FnMut(&UploadProgress),
) -> Result<UploadStats, SyncError> {
    let mut stats = UploadStats::default();
    let org = replica.org();
    for p in replica.pending_uploads()? {
        match upload_one(http, base, token, org, &p, &mut progress).await {
            Ok(()) => {
                replica
                    .set_vault_state(&p.version_id, "sent", None)
                    .map_err(crate::ReplicaError::from)?;
                stats.uploaded += 1;
            }
            Err(e) => match refusal_is_final(&e) {
                // Something it names (its loop) may be created by a mutation queued before it:
                // upload it once those are pushed.
                Some(_) if is_not_found(&e) && replica.pending_before(p.client_seq)? => break,
                Some((code, message)) => {
                    replica
                        .refuse_upload(&p, &code, &message)
                        .map_err(crate::ReplicaError::from)?;
                    stats.refused += 1;
                }
                None => return Err(e),
            },
        }
    }
    Ok(stats)
}

async fn upload_one(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    org: strive_domain::OrgId,
    p: &Pending,
    progress: &mut impl FnMut(&UploadProgress),
) -> Result<(), SyncError> {
    let res = http
        .post(format!("{base}/v1/orgs/{org}/uploads"))
        .bearer_auth(token)
        .json(&p.declaration)
        .send()
        .await?;
    let mut status: Status = ok_or_refused(res).await?.json().await?;
    let file = std::fs::File::open(&p.file).map_err(crate::ReplicaError::from)?;
    let total = p.ciphertext_size as u64;
    let mut report = |sent: i64| {
        progress(&UploadProgress {
            document_id: p.document_id.clone(),
            name: p.name.clone(),
            sent: sent as u64,
            total,
        })
    };
    report(status.received);
    let on_disk = file.metadata().map_err(crate::ReplicaError::from)?.len();
    drop(file);
    if on_disk < total {
        return Err(SyncError::Refused {
            status: 422,
            code: "vault_file_short".into(),
            message: "this device's encrypted copy is shorter than declared".into(),
        });
    }
    let chunk = status
        .chunk_limit
        .unwrap_or(UPLOAD_CHUNK)
        .clamp(1, UPLOAD_CHUNK) as u64;
    let put = |offset: u64, n: u64| async move {
        let res = http
            .put(format!(
                "{base}/v1/orgs/{org}/uploads/{}?offset={offset}",
                p.version_id
            ))
            .bearer_auth(token)
            .header("content-type", "application/octet-stream")
            .header("content-length", n)
            .body(file_body(p.file.clone(), offset, n))
            .send()
            .await?;
        ok_or_refused(res)
            .await?
            .json::<Status>()
            .await
            .map_err(SyncError::from)
    };
    // Two requests in flight: the server checks the next one while the current one streams in,
    // and holds it (unread) until that one is recorded, so neither side waits on the other
    // between chunks.
    let mut in_flight = futures_util::stream::FuturesOrdered::new();
    let mut next = status.received as u64;
    while status.state == "RECEIVING" {
        if in_flight.is_empty() {
            next = status.received as u64;
        }
        while in_flight.len() < 2 && next < total {
            let n = (total - next).min(chunk);
            in_flight.push_back(put(next, n));
            next += n;
        }
        let Some(answer) = in_flight.next().await else {
            // Nothing left to send, yet not verified: send again from where the server is.
            in_flight.push_back(put(status.received as u64, 0));
            continue;
        };
        status = match answer {
            Ok(s) => s,
            // Another attempt got further (or less far) meanwhile: ask where to go on, and
            // send again from there.
            Err(SyncError::Refused { code, .. }) if code == "upload_offset_mismatch" => {
                in_flight.clear();
                let res = http
                    .get(format!("{base}/v1/orgs/{org}/uploads/{}", p.version_id))
                    .bearer_auth(token)
                    .send()
                    .await?;
                ok_or_refused(res).await?.json().await?
            }
            Err(e) => return Err(e),
        };
        report(status.received);
    }
    Ok(())
}

/// Bytes read from the file per piece of a request's body.
const READ_PIECE: usize = 1 << 20;

/// `len` bytes of `path` from `offset`, streamed as a request body: read in 1 MiB pieces on the
/// blocking pool as the connection takes them, so a request never holds its chunk whole and the
/// reading overlaps the sending.
fn file_body(path: PathBuf, offset: u64, len: u64) -> reqwest::Body {
    let state = (path, None::<std::fs::File>, offset, len);
    let pieces = futures_util::stream::unfold(state, |(path, file, at, left)| async move {
        if left == 0 {
            return None;
        }
        let read = tokio::task::spawn_blocking(move || {
            let piece = (|| -> std::io::Result<_> {
                let mut f = match file {
                    Some(f) => f,
                    None => {
                        let mut f = std::fs::File::open(&path)?;
                        f.seek(SeekFrom::Start(at))?;
                        f
                    }
                };
                let mut buf = vec![0u8; left.min(READ_PIECE as u64) as usize];
                f.read_exact(&mut buf)?;
                Ok((f, buf))
            })();
            (path, piece)
        })
        .await;
        Some(match read {
            Ok((path, Ok((f, buf)))) => {
                let n = buf.len() as u64;
                (
                    Ok(bytes::Bytes::from(buf)),
                    (path, Some(f), at + n, left - n),
                )
            }
            // An error ends the request (its body is then short of its declared length); the
            // next round starts again from what the server received.
            Ok((path, Err(e))) => (Err(e), (path, None, at, 0)),
            Err(e) => (Err(std::io::Error::other(e)), (PathBuf::new(), None, at, 0)),
        })
    });
    reqwest::Body::wrap_stream(pieces)
}

/// What the server hands out to read a version (`POST .../documents/{id}/access`).
#[derive(Deserialize)]
struct Access {
    version_id: VersionId,
    url: String,
    data_key: String,
    sha256: String,
    ciphertext_size: i64,
}

/// The version asked for, if its ciphertext and key are on this device already.
fn already_here(
    replica: &Replica,
    document: DocumentId,
    version: Option<i32>,
) -> Result<Option<VersionId>, DocumentError> {
    if let Ok(v) = replica.version_id(document, version) {
        if replica.vault_entry(v)?.is_some() && replica.data_key(v)?.is_some() {
            return Ok(Some(v));
        }
    }
    Ok(None)
}

/// Brings a version's ciphertext and key onto this device (into the vault), unless they are here
/// already. The download is checked against the server's size and SHA-256 before it is kept.
pub async fn fetch(
    replica: &mut Replica,
    http: &reqwest::Client,
    base: &str,
    token: &str,
    document: DocumentId,
    version: Option<i32>,
) -> Result<VersionId, DocumentError> {
    if let Some(v) = already_here(replica, document, version)? {
        return Ok(v);
    }
    let (v, _) = download(replica, http, base, token, document, version, None).await?;
    Ok(v)
}

/// [`fetch`], then the plaintext written to `dest` (mode 0600) as
/// [`Replica::export_document`] does, in one pass when the version is not here yet: each piece
/// of the download goes to the vault file (hashed) and to the decryption at once, on two
/// threads. `dest` appears only once the whole document authenticated and the download matched
/// the server's size and SHA-256; the vault keeps the ciphertext as after [`fetch`]. Returns the
/// version and the plaintext's size.
pub async fn fetch_to(
    replica: &mut Replica,
    http: &reqwest::Client,
    base: &str,
    token: &str,
    document: DocumentId,
    version: Option<i32>,
    dest: &Path,
) -> Result<(VersionId, u64), DocumentError> {
    if let Some(v) = already_here(replica, document, version)? {
        let n = replica.export_document(v, dest)?;
        return Ok((v, n));
    }
    let (v, n) = download(replica, http, base, token, document, version, Some(dest)).await?;
    Ok((v, n.unwrap_or(0)))
}

/// Pieces of a download in flight to each of its threads: bounds its memory (4 pieces of about
/// [`GATHER`] each).
const PIECES_IN_FLIGHT: usize = 4;

/// The size a download's pieces are gathered to before they are handed on.
const GATHER: usize = 1 << 20;

type Piece = bytes::Bytes;

async fn download(
    replica: &mut Replica,
    http: &reqwest::Client,
    base: &str,
    token: &str,
    document: DocumentId,
    version: Option<i32>,
    dest: Option<&Path>,
) -> Result<(VersionId, Option<u64>), DocumentError> {
    let org = replica.org();
    let res = http
        .post(format!("{base}/v1/orgs/{org}/documents/{document}/access"))
        .bearer_auth(token)
        .json(&json!({ "version": version }))
        .send()
        .await
        .map_err(SyncError::from)?;
    let a: Access = ok_or_refused(res)
        .await?
        .json()
        .await
        .map_err(SyncError::from)?;
    let key = DataKey::from_base64(&a.data_key)
        .map_err(|_| DocumentError::Damaged("the server sent a malformed key".into()))?;
    let dir = replica.vault_dir()?;
    let file = dir.join(format!("{}.sdoc", a.version_id));
    let tmp = tempfile::NamedTempFile::new_in(&dir)?;
    let res = http
        .get(format!("{base}{}", a.url))
        .send()
        .await
        .map_err(SyncError::from)?;
    let res = ok_or_refused(res).await?;
    let size = a.ciphertext_size as u64;

    // The vault copy: written (and hashed, unless it is decrypted at once) on the blocking pool,
    // then synced. A copy decrypted whole needs no checksum: every chunk's tag, its place and the
    // end are authenticated under this version's own key, so only the exact ciphertext its
    // author sealed decrypts (docs/decisions.md).
    let by_checksum = dest.is_none();
    let (to_vault, mut rx) = tokio::sync::mpsc::channel::<Piece>(PIECES_IN_FLIGHT);
    let vault_job = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
        let mut hash = by_checksum.then(Sha256::new);
        let mut got = 0u64;
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, Writeback::new(tmp.as_file()));
        while let Some(piece) = rx.blocking_recv() {
            if let Some(h) = hash.as_mut() {
                h.update(&piece);
            }
            out.write_all(&piece)?;
            got += piece.len() as u64;
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.finish()?.sync_all()?;
        Ok((got, hash.map(|h| hex::encode(h.finalize())), tmp))
    });
    // The plaintext, when asked for: decrypted as the pieces arrive, into a temporary file.
    let mut decrypting = match dest {
        Some(dest) => {
            let (tx, rx) = tokio::sync::mpsc::channel::<Piece>(PIECES_IN_FLIGHT);
            let out = crate::vault::private_temp_next_to(dest)?;
            let key = key.clone();
            let job = tokio::task::spawn_blocking(move || -> Result<_, DocumentError> {
                let mut w = std::io::BufWriter::with_capacity(256 * 1024, out.as_file());
                let n = strive_crypto::decrypt(&key, PieceReader::new(rx), &mut w, Some(size))?;
                w.flush()?;
                drop(w);
                Ok((n, out))
            });
            Some((Some(tx), job))
        }
        None => None,
    };

    let mut body = res.bytes_stream();
    let mut received: Result<(), DocumentError> = Ok(());
    let mut gathered = bytes::BytesMut::new();
    let mut ended = false;
    while !ended {
        // The connection hands over small pieces; each handed on wakes two threads, so they go
        // on gathered into pieces of about 1 MiB (one copy, far cheaper than the wake-ups).
        let piece = match body.next().await {
            Some(Ok(p)) => {
                if gathered.is_empty() {
                    gathered.reserve(GATHER);
                }
                gathered.extend_from_slice(&p);
                if gathered.len() < GATHER {
                    continue;
                }
                gathered.split().freeze()
            }
            Some(Err(e)) => {
                received = Err(SyncError::from(e).into());
                break;
            }
            None if gathered.is_empty() => break,
            None => {
                ended = true;
                gathered.split().freeze()
            }
        };
        if let Some((tx, _)) = decrypting.as_mut() {
            // A decryption that stopped (its error is reported below) takes no more; the
            // download goes on into the vault, as a plain fetch would.
            if let Some(t) = tx.as_ref() {
                if t.send(piece.clone()).await.is_err() {
                    *tx = None;
                }
            }
        }
        if to_vault.send(piece).await.is_err() {
            // The vault writer stopped: its own error is the one reported.
            break;
        }
    }
    drop(to_vault);
    let decrypting = decrypting.map(|(tx, job)| {
        drop(tx);
        job
    });
    let vaulted = vault_job.await.map_err(std::io::Error::other);
    let decrypted = match decrypting {
        Some(job) => Some(job.await.map_err(std::io::Error::other)),
        None => None,
    };
    received?;
    let (got, sha, tmp) = vaulted??;
    if got != size || sha.as_ref().is_some_and(|sha| *sha != a.sha256) {
        return Err(DocumentError::Damaged(format!(
            "received {got} of {} bytes, or they do not match the server's checksum",
            a.ciphertext_size
        )));
    }
    // Decrypted whole before the copy is kept, when that is its check.
    let plaintext = match (decrypted, dest) {
        (Some(job), Some(dest)) => Some((job?.map_err(damaged_if_it_does_not_open)?, dest)),
        _ => None,
    };
    tmp.persist(&file).map_err(|e| DocumentError::Io(e.error))?;
    replica.store_fetched(
        a.version_id,
        document,
        &file,
        a.ciphertext_size,
        &a.sha256,
        &key,
    )?;
    let n = match plaintext {
        Some(((n, out), dest)) => {
            out.persist(dest).map_err(|e| DocumentError::Io(e.error))?;
            Some(n)
        }
        None => None,
    };
    Ok((a.version_id, n))
}

/// A download that does not decrypt under its own key is not the ciphertext its author sealed.
fn damaged_if_it_does_not_open(e: DocumentError) -> DocumentError {
    match e {
        DocumentError::Crypto(c) => DocumentError::Damaged(c.to_string()),
        other => other,
    }
}

/// Reads the pieces another task hands over, in order; ends when it stops handing them.
struct PieceReader {
    rx: tokio::sync::mpsc::Receiver<Piece>,
    current: Piece,
}

impl PieceReader {
    fn new(rx: tokio::sync::mpsc::Receiver<Piece>) -> Self {
        PieceReader {
            rx,
            current: Piece::new(),
        }
    }
}

impl Read for PieceReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(p) => self.current = p,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Fetches the current version of every pinned document that is not on this device yet.
pub async fn fetch_pinned(
    replica: &mut Replica,
    http: &reqwest::Client,
    base: &str,
    token: &str,
) -> Result<u64, DocumentError> {
    let mut n = 0;
    for doc in replica.pins_to_fetch()? {
        fetch(replica, http, base, token, doc, None).await?;
        n += 1;
    }
    Ok(n)
}
