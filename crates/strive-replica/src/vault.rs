//! The document vault: a directory next to the replica (`<org>.vault/`) holding ciphertext only,
//! one file per document version. The data keys that open them live in the encrypted replica.
//!
//! Adding a document works offline: its bytes are checked (content sniffing and the size limit,
//! strive-domain's rules), encrypted at once under a fresh data key into the vault, and an
//! `uploadDocument` mutation is queued in the same SQLite transaction as the key and the vault
//! entry. The sync uploads the file before it pushes that mutation ([`crate::transfer`]).
//! Reading decrypts to memory or to a file written only once the whole document authenticated.

use crate::error::ReplicaError;
use crate::mutate::MutateError;
use crate::open::Replica;
pub use crate::staging::{sniff_file, Source, Staged};
use rusqlite::{params, OptionalExtension, Transaction};
use sha2::{Digest, Sha256};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use strive_crypto::{CryptoError, DataKey, EncryptWriter};
use strive_domain::documents::{check_size, DocumentKind, DocumentRejection};
use strive_domain::mutations::documents::{Secret, UploadDocument};
use strive_domain::mutations::Mutation;
use strive_domain::permissions::Action;
use strive_domain::{DocumentId, DocumentType, LoopId, VersionId};

#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// The file is not one Strive takes (type or size); nothing was stored.
    #[error("{0}")]
    Rejected(DocumentRejection),
    #[error(transparent)]
    Mutate(#[from] MutateError),
    #[error("cannot open the document: {0}")]
    Crypto(#[from] CryptoError),
    #[error("this version is not on this device; sync online to fetch it (or pin the document)")]
    NotOnDevice,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("the downloaded copy is damaged: {0}")]
    Damaged(String),
    #[error(transparent)]
    Sync(#[from] crate::error::SyncError),
    #[error("file error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<ReplicaError> for DocumentError {
    fn from(e: ReplicaError) -> Self {
        DocumentError::Mutate(MutateError::Replica(e))
    }
}

impl From<rusqlite::Error> for DocumentError {
    fn from(e: rusqlite::Error) -> Self {
        DocumentError::Mutate(MutateError::Replica(e.into()))
    }
}

/// A file to add as a document (or as a new version of one).
pub struct NewDocument<'a> {
    pub loop_id: LoopId,
    pub source: Source<'a>,
    /// The name people see; the file's own name when `None`.
    pub name: Option<String>,
    pub document_type: DocumentType,
    /// An existing document of the loop: the file becomes its next version.
    pub document_id: Option<DocumentId>,
    /// Largest plaintext accepted (the organization's limit; 100 MB by default).
    pub max_bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Added {
    pub document_id: DocumentId,
    pub version_id: VersionId,
    pub kind: DocumentKind,
    pub size: u64,
    pub ciphertext_size: u64,
    pub client_seq: i64,
}

/// A decrypted copy for viewing; removed with its directory when dropped.
pub struct Viewed {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

/// A document version on this device.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct VaultEntry {
    pub version_id: String,
    pub document_id: String,
    pub file: PathBuf,
    pub ciphertext_size: i64,
    pub sha256: String,
    pub state: String,
}

/// Hashes what goes through it.
pub(crate) struct Hashing<T> {
    pub inner: T,
    pub hash: Sha256,
    pub count: u64,
}

impl<T> Hashing<T> {
    pub fn new(inner: T) -> Self {
        Hashing {
            inner,
            hash: Sha256::new(),
            count: 0,
        }
    }
    pub fn hex(self) -> String {
        hex::encode(self.hash.finalize())
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The SHA-256 of a file's content, hex.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut h = Hashing::new(std::io::sink());
    std::io::copy(&mut BufReader::new(std::fs::File::open(path)?), &mut h)?;
    Ok(h.hex())
}

/// A temporary file (0600) in `dest`'s directory, to be renamed onto `dest` once it is whole.
pub(crate) fn private_temp_next_to(dest: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let dir = dest.parent().filter(|p| !p.as_os_str().is_empty());
    let tmp = tempfile::NamedTempFile::new_in(dir.unwrap_or(Path::new(".")))?;
    restrict(tmp.path(), 0o600)?;
    Ok(tmp)
}

fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

impl Replica {
    /// `<org>.vault`, next to the replica (created 0700 on first use).
    pub fn vault_dir(&self) -> Result<PathBuf, std::io::Error> {
        let dir = self.path().with_extension("vault");
        if !dir.exists() {
            std::fs::create_dir_all(&dir)?;
            restrict(&dir, 0o700)?;
        }
        Ok(dir)
    }

    /// Checks, encrypts into the vault and queues a file as a document version (offline).
    pub fn add_document(&mut self, d: NewDocument<'_>) -> Result<Added, DocumentError> {
        self.add_document_with(d, |_, _| Ok(()))
    }

    /// [`add_document`](Self::add_document), running `extra` in the transaction that queues it
    /// (a watched folder records the import there, so it happens exactly once).
    pub fn add_document_with(
        &mut self,
        d: NewDocument<'_>,
        extra: impl FnOnce(&Transaction<'_>, &Added) -> Result<(), MutateError>,
    ) -> Result<Added, DocumentError> {
        self.may(Action::UploadDocument)?;
        check_size(d.source.len()?, d.max_bytes).map_err(DocumentError::Rejected)?;
        let kind = d.source.kind()?;
        let name = match d.name {
            Some(n) => n,
            None => d.source.file_name().unwrap_or_default(),
        };
        let version_id = VersionId::new();
        let document_id = d.document_id.unwrap_or_default();
        let key = DataKey::generate();
        let dir = self.vault_dir()?;
        let file = dir.join(format!("{version_id}.sdoc"));
        let tmp = dir.join(format!("{version_id}.tmp"));
        let sealed = d.source.open().and_then(|src| seal_file(&key, src, &tmp));
        let (size, ciphertext_size, sha) = match sealed {
            Ok(v) => v,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        // The file may have grown since it was measured.
        if let Err(e) = check_size(size, d.max_bytes) {
            let _ = std::fs::remove_file(&tmp);
            return Err(DocumentError::Rejected(e));
        }
        std::fs::rename(&tmp, &file)?;
        let m = Mutation::UploadDocument(UploadDocument {
            version_id,
            document_id,
            loop_id: d.loop_id,
            name,
            mime_type: kind.mime().to_string(),
            document_type: Some(d.document_type),
            size: size as i64,
            ciphertext_size: ciphertext_size as i64,
            sha256: sha.clone(),
            data_key: Secret(key.to_base64()),
        });
        let mut added = Added {
            document_id,
            version_id,
            kind,
            size,
            ciphertext_size,
            client_seq: 0,
        };
        let file_text = file.to_string_lossy().into_owned();
        let queued = self.mutate_with(m, |tx| {
            tx.execute(
                "INSERT INTO document_keys (version_id, data_key) VALUES (?1, ?2)",
                params![version_id.to_string(), key.to_base64()],
            )?;
            tx.execute(
                "INSERT INTO vault (version_id, document_id, file, ciphertext_size, sha256, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'upload')",
                params![
                    version_id.to_string(),
                    document_id.to_string(),
                    file_text,
                    ciphertext_size as i64,
                    sha
                ],
            )?;
            extra(tx, &added)
        });
        match queued {
            Ok(seq) => {
                added.client_seq = seq;
                Ok(added)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&file);
                Err(e.into())
            }
        }
    }

    /// The vault entry of a version, if its ciphertext is on this device.
    pub fn vault_entry(&self, version: VersionId) -> Result<Option<VaultEntry>, ReplicaError> {
        Ok(self
            .conn
            .query_row(
                "SELECT version_id, document_id, file, ciphertext_size, sha256, state
                   FROM vault WHERE version_id = ?1",
                [version.to_string()],
                |r| {
                    Ok(VaultEntry {
                        version_id: r.get(0)?,
                        document_id: r.get(1)?,
                        file: PathBuf::from(r.get::<_, String>(2)?),
                        ciphertext_size: r.get(3)?,
                        sha256: r.get(4)?,
                        state: r.get(5)?,
                    })
                },
            )
            .optional()?
            .filter(|e| e.file.exists()))
    }

    /// Every vault entry (status screens, tests).
    pub fn vault_entries(&self) -> Result<Vec<VaultEntry>, ReplicaError> {
        let mut stmt = self.conn.prepare(
            "SELECT version_id, document_id, file, ciphertext_size, sha256, state
               FROM vault ORDER BY added_at, version_id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(VaultEntry {
                    version_id: r.get(0)?,
                    document_id: r.get(1)?,
                    file: PathBuf::from(r.get::<_, String>(2)?),
                    ciphertext_size: r.get(3)?,
                    sha256: r.get(4)?,
                    state: r.get(5)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The version id of a document's version `number` (the current one when `None`).
    pub fn version_id(
        &self,
        document: DocumentId,
        number: Option<i32>,
    ) -> Result<VersionId, DocumentError> {
        let id: Option<String> = match number {
            None => self
                .conn
                .query_row(
                    "SELECT current_version_id FROM documents WHERE id = ?1",
                    [document.to_string()],
                    |r| r.get(0),
                )
                .optional()?
                .flatten(),
            Some(n) => self
                .conn
                .query_row(
                    "SELECT id FROM document_versions WHERE document_id = ?1 AND version = ?2",
                    params![document.to_string(), n],
                    |r| r.get(0),
                )
                .optional()?,
        };
        id.and_then(|s| s.parse().ok())
            .ok_or(DocumentError::NotFound("Document version"))
    }

    pub(crate) fn data_key(&self, version: VersionId) -> Result<Option<DataKey>, ReplicaError> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT data_key FROM document_keys WHERE version_id = ?1",
                [version.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(text.and_then(|t| DataKey::from_base64(&t).ok()))
    }

    /// A version's plaintext, in memory: all of it, authenticated, or an error.
    pub fn read_document(&self, version: VersionId) -> Result<Vec<u8>, DocumentError> {
        let (entry, key) = self.openable(version)?;
        let mut out = Vec::new();
        let f = BufReader::with_capacity(256 * 1024, std::fs::File::open(&entry.file)?);
        strive_crypto::decrypt(&key, f, &mut out, Some(entry.ciphertext_size as u64))?;
        Ok(out)
    }

    /// Writes a version's plaintext to `dest` (mode 0600), which appears only once the whole
    /// document authenticated: a damaged copy never leaves a partial file behind.
    pub fn export_document(&self, version: VersionId, dest: &Path) -> Result<u64, DocumentError> {
        let (entry, key) = self.openable(version)?;
        let tmp = private_temp_next_to(dest)?;
        let f = BufReader::with_capacity(256 * 1024, std::fs::File::open(&entry.file)?);
        let mut w = BufWriter::with_capacity(256 * 1024, tmp.as_file());
        let n = strive_crypto::decrypt(&key, f, &mut w, Some(entry.ciphertext_size as u64))?;
        w.flush()?;
        drop(w);
        tmp.persist(dest).map_err(|e| DocumentError::Io(e.error))?;
        Ok(n)
    }

    /// Decrypts a version into a private temporary directory for viewing; it is deleted (file
    /// and all) when the returned handle is dropped.
    pub fn view_document(&self, version: VersionId) -> Result<Viewed, DocumentError> {
        let dir = tempfile::Builder::new().prefix("strive-view-").tempdir()?;
        restrict(dir.path(), 0o700)?;
        let name = self
            .conn
            .query_row(
                "SELECT original_name FROM document_versions WHERE id = ?1",
                [version.to_string()],
                |r| r.get::<_, String>(0),
            )
            .optional()?
            .unwrap_or_else(|| "document".into());
        let path = dir
            .path()
            .join(strive_domain::documents::sanitize_name(&name));
        self.export_document(version, &path)?;
        Ok(Viewed { _dir: dir, path })
    }

    fn openable(&self, version: VersionId) -> Result<(VaultEntry, DataKey), DocumentError> {
        let entry = self
            .vault_entry(version)?
            .ok_or(DocumentError::NotOnDevice)?;
        let key = self.data_key(version)?.ok_or(DocumentError::NotOnDevice)?;
        Ok((entry, key))
    }

    /// Keeps a document's current version on this device for offline reading (fetched by the
    /// next sync if it is not here yet).
    pub fn pin(&mut self, document: DocumentId, on: bool) -> Result<(), DocumentError> {
        let id = document.to_string();
        let exists: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM documents WHERE id = ?1)",
            [&id],
            |r| r.get(0),
        )?;
        if !exists {
            return Err(DocumentError::NotFound("Document"));
        }
        if on {
            self.conn.execute(
                "INSERT OR IGNORE INTO pins (document_id) VALUES (?1)",
                [&id],
            )?;
        } else {
            self.conn
                .execute("DELETE FROM pins WHERE document_id = ?1", [&id])?;
        }
        Ok(())
    }

    /// Pinned documents whose current version is not in the vault yet.
    pub fn pins_to_fetch(&self) -> Result<Vec<DocumentId>, ReplicaError> {
        let mut stmt = self.conn.prepare(
            "SELECT p.document_id FROM pins p JOIN documents d ON d.id = p.document_id
              WHERE d.current_version_id IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM vault v WHERE v.version_id = d.current_version_id)",
        )?;
        let ids = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .filter_map(|r| r.ok().and_then(|s| s.parse().ok()))
            .collect();
        Ok(ids)
    }

    /// Records a fetched version's ciphertext and key.
    pub(crate) fn store_fetched(
        &mut self,
        version: VersionId,
        document: DocumentId,
        file: &Path,
        ciphertext_size: i64,
        sha256: &str,
        key: &DataKey,
    ) -> Result<(), ReplicaError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT OR REPLACE INTO document_keys (version_id, data_key) VALUES (?1, ?2)",
            params![version.to_string(), key.to_base64()],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO vault (version_id, document_id, file, ciphertext_size, sha256, state)
             VALUES (?1, ?2, ?3, ?4, ?5, 'stored')",
            params![
                version.to_string(),
                document.to_string(),
                file.to_string_lossy(),
                ciphertext_size,
                sha256
            ],
        )?;
        tx.commit()?;
        Ok(())
    }
}

/// Encrypts `src` into `dest`; returns (plaintext size, ciphertext size, ciphertext SHA-256).
/// Streams: memory does not grow with the file. Two threads: this one reads and encrypts while
/// another hashes and writes what it encrypted (a few 1 MiB buffers in flight).
fn seal_file(
    key: &DataKey,
    mut reader: impl Read,
    dest: &Path,
) -> Result<(u64, u64, String), DocumentError> {
    use std::os::unix::fs::OpenOptionsExt;
    let out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dest)?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> std::io::Result<String> {
            let mut out = Writeback::new(out);
            let mut hash = Sha256::new();
            for buf in rx {
                hash.update(&buf);
                out.write_all(&buf)?;
            }
            out.finish()?.sync_all()?;
            Ok(hex::encode(hash.finalize()))
        });
        let encrypted = (|| -> Result<(u64, u64), DocumentError> {
            let mut enc = EncryptWriter::new(key, Handoff::new(tx))?;
            std::io::copy(&mut reader, &mut enc)?;
            let (mut handoff, plain, cipher) = enc.finish()?;
            handoff.flush()?;
            Ok((plain, cipher))
        })();
        // The sender is gone either way, so the writer thread ends.
        let written = writer
            .join()
            .map_err(|_| std::io::Error::other("the vault writer thread failed"))?;
        let sha = written?;
        let (plain, cipher) = encrypted?;
        Ok((plain, cipher, sha))
    })
}

/// Writes to a file, asking the kernel every 4 MiB to start writing what came before to the disk
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`, which does not wait): the disk works while the rest
/// is produced, and the fsync at the end has little left to do. Only a hint: that fsync is what
/// makes the file durable, so an error of the hint is ignored.
pub(crate) struct Writeback<F: std::borrow::Borrow<std::fs::File>> {
    file: F,
    flushed: u64,
    at: u64,
}

impl<F: std::borrow::Borrow<std::fs::File>> Writeback<F> {
    const STEP: u64 = 4 << 20;

    /// Writes from the file's start.
    pub fn new(file: F) -> Self {
        Writeback {
            file,
            flushed: 0,
            at: 0,
        }
    }

    fn start_writeback(&mut self) {
        use std::os::fd::AsRawFd;
        let (Ok(offset), Ok(len)) = (
            i64::try_from(self.flushed),
            i64::try_from(self.at - self.flushed),
        ) else {
            return;
        };
        // SAFETY: a plain system call on a descriptor `self.file` keeps open; no memory passed.
        unsafe {
            libc::sync_file_range(
                self.file.borrow().as_raw_fd(),
                offset,
                len,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
        self.flushed = self.at;
    }

    /// Starts the writeback of the tail; returns the file (to sync).
    pub fn finish(mut self) -> std::io::Result<F> {
        self.start_writeback();
        Ok(self.file)
    }
}

impl<F: std::borrow::Borrow<std::fs::File>> Write for Writeback<F> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.borrow().write(buf)?;
        self.at += n as u64;
        if self.at - self.flushed >= Self::STEP {
            self.start_writeback();
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Hands what is written to another thread in 1 MiB buffers. Writing fails once the receiving
/// thread stopped (its own error is the one reported).
struct Handoff {
    tx: std::sync::mpsc::SyncSender<Vec<u8>>,
    buf: Vec<u8>,
}

impl Handoff {
    const SIZE: usize = 1 << 20;

    fn new(tx: std::sync::mpsc::SyncSender<Vec<u8>>) -> Self {
        Handoff {
            tx,
            buf: Vec::with_capacity(Self::SIZE),
        }
    }
}

impl Write for Handoff {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(Self::SIZE - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == Self::SIZE {
            self.flush()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.buf, Vec::with_capacity(Self::SIZE));
        self.tx
            .send(full)
            .map_err(|_| std::io::Error::other("the vault writer stopped"))
    }
}
