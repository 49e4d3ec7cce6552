//! A watched folder bound to a transaction loop: every file dropped into it becomes a document of
//! the loop (a new version when the loop already has a document of that name), exactly once.
//!
//! A file is taken once its size and modification time have not changed for `settle` (a copy or
//! a download in progress is left alone); it is checked and encrypted into the vault, and its
//! `uploadDocument` queued, in one transaction that also records the import (folder, name,
//! SHA-256 of the content); then it moves to `imported/`. A file that fails the checks moves to
//! `rejected/` with `<name>.reason.txt`. After a crash between the record and the move, the file
//! is found again, recognized by its record, and only moved: nothing is imported twice.

use crate::open::Replica;
use crate::vault::{file_sha256, DocumentError, NewDocument, Source};
use notify::{EventKind, RecursiveMode, Watcher as _};
use rusqlite::{params, OptionalExtension};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};
use strive_domain::{DocumentId, DocumentType, LoopId};

pub const IMPORTED: &str = "imported";
pub const REJECTED: &str = "rejected";

#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// How long a file must stay unchanged before it is taken.
    pub settle: Duration,
    /// How often candidates are looked at again.
    pub poll: Duration,
    pub document_type: DocumentType,
    pub max_bytes: u64,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            settle: Duration::from_secs(2),
            poll: Duration::from_millis(250),
            document_type: DocumentType::Other,
            max_bytes: strive_domain::documents::DEFAULT_MAX_DOCUMENT_BYTES,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WatchEvent {
    Imported {
        name: String,
        document_id: String,
        version: String,
    },
    /// Imported before (a crash came between the record and the move): moved, not imported.
    AlreadyImported {
        name: String,
    },
    Rejected {
        name: String,
        reason: String,
    },
    /// Could not be handled now (it vanished, a disk error); tried again if it changes.
    Failed {
        name: String,
        error: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot watch {0}: {1}")]
    Notify(PathBuf, notify::Error),
    #[error("file error: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Replica(#[from] crate::ReplicaError),
}

impl From<rusqlite::Error> for WatchError {
    fn from(e: rusqlite::Error) -> Self {
        WatchError::Replica(e.into())
    }
}

/// Files people and programs leave while writing, or that are ours.
fn ignored(name: &str) -> bool {
    name.starts_with('.')
        || name.starts_with("~$")
        || name.ends_with('~')
        || [".part", ".tmp", ".crdownload", ".download", ".reason.txt"]
            .iter()
            .any(|s| name.ends_with(s))
}

struct Candidate {
    size: u64,
    modified: Option<SystemTime>,
    since: Instant,
}

/// Watches `folder` until `stop` is set, importing into `loop_id`. Blocking: run it on a thread
/// of its own (with its own replica connection, [`Replica::reopen`]).
pub fn watch(
    replica: &mut Replica,
    folder: &Path,
    loop_id: LoopId,
    options: &WatchOptions,
    stop: &AtomicBool,
    mut on_event: impl FnMut(&WatchEvent),
) -> Result<(), WatchError> {
    let folder = folder.canonicalize()?;
    std::fs::create_dir_all(folder.join(IMPORTED))?;
    std::fs::create_dir_all(folder.join(REJECTED))?;
    let (tx, rx) = std::sync::mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
        let _ = tx.send(e);
    })
    .map_err(|e| WatchError::Notify(folder.clone(), e))?;
    watcher
        .watch(&folder, RecursiveMode::NonRecursive)
        .map_err(|e| WatchError::Notify(folder.clone(), e))?;
    let mut candidates: HashMap<PathBuf, Candidate> = HashMap::new();
    // Files that arrived while nobody watched (or before a restart).
    for entry in std::fs::read_dir(&folder)?.flatten() {
        note(&mut candidates, &folder, entry.path());
    }
    while !stop.load(Ordering::SeqCst) {
        match rx.recv_timeout(options.poll) {
            Ok(Ok(event)) => {
                if matches!(
                    event.kind,
                    EventKind::Create(_) | EventKind::Modify(_) | EventKind::Any
                ) {
                    for p in event.paths {
                        note(&mut candidates, &folder, p);
                    }
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "file system watch error"),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
        let ready = settled(&mut candidates, options.settle);
        for path in ready {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            candidates.remove(&path);
            if let Some(event) = take(replica, &folder, &path, loop_id, options)? {
                on_event(&event);
            }
        }
    }
    Ok(())
}

/// Adds a direct child file of the folder to the candidates (or restarts its clock).
fn note(candidates: &mut HashMap<PathBuf, Candidate>, folder: &Path, path: PathBuf) {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    if path.parent() != Some(folder) || ignored(name) {
        return;
    }
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => {
            candidates.insert(
                path,
                Candidate {
                    size: m.len(),
                    modified: m.modified().ok(),
                    since: Instant::now(),
                },
            );
        }
        _ => {
            candidates.remove(&path);
        }
    }
}

/// Candidates unchanged for `settle`; changed ones restart their clock, vanished ones go.
fn settled(candidates: &mut HashMap<PathBuf, Candidate>, settle: Duration) -> Vec<PathBuf> {
    let mut ready = Vec::new();
    candidates.retain(|path, c| match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {
            let modified = m.modified().ok();
            if m.len() != c.size || modified != c.modified {
                c.size = m.len();
                c.modified = modified;
                c.since = Instant::now();
            } else if c.since.elapsed() >= settle {
                ready.push(path.clone());
            }
            true
        }
        _ => false,
    });
    ready.sort();
    ready
}

/// Imports one settled file and moves it; answers what happened.
fn take(
    replica: &mut Replica,
    folder: &Path,
    path: &Path,
    loop_id: LoopId,
    options: &WatchOptions,
) -> Result<Option<WatchEvent>, WatchError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let folder_key = folder.to_string_lossy().into_owned();
    let sha = match file_sha256(path) {
        Ok(s) => s,
        Err(e) => {
            return Ok(Some(WatchEvent::Failed {
                name,
                error: e.to_string(),
            }))
        }
    };
    let known: bool = replica.conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM watch_imports WHERE folder = ?1 AND name = ?2 AND sha256 = ?3)",
        params![folder_key, name, sha],
        |r| r.get(0),
    )?;
    if known {
        move_into(path, &folder.join(IMPORTED))?;
        return Ok(Some(WatchEvent::AlreadyImported { name }));
    }
    // The loop's document of the same name gets a new version.
    let existing: Option<String> = replica
        .conn
        .query_row(
            "SELECT id FROM documents WHERE loop_id = ?1 AND original_name = ?2
              ORDER BY created_at LIMIT 1",
            params![loop_id.to_string(), name],
            |r| r.get(0),
        )
        .optional()?;
    let doc = NewDocument {
        loop_id,
        source: Source::File(path),
        name: Some(name.clone()),
        document_type: options.document_type,
        document_id: existing.and_then(|s| s.parse::<DocumentId>().ok()),
        max_bytes: options.max_bytes,
    };
    let outcome = replica.add_document_with(doc, |tx, added| {
        tx.execute(
            "INSERT INTO watch_imports (folder, name, sha256, document_id, version_id)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                folder_key,
                name,
                sha,
                added.document_id.to_string(),
                added.version_id.to_string()
            ],
        )?;
        Ok(())
    });
    match outcome {
        Ok(added) => {
            move_into(path, &folder.join(IMPORTED))?;
            Ok(Some(WatchEvent::Imported {
                name,
                document_id: added.document_id.to_string(),
                version: added.version_id.to_string(),
            }))
        }
        Err(DocumentError::Io(e)) => Ok(Some(WatchEvent::Failed {
            name,
            error: e.to_string(),
        })),
        // Refused for good: its type, its size, the loop, the caller's role.
        Err(e) => {
            let reason = e.to_string();
            let moved = move_into(path, &folder.join(REJECTED))?;
            let note = moved.with_file_name(format!(
                "{}.reason.txt",
                moved
                    .file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            ));
            std::fs::write(note, format!("{reason}\n"))?;
            Ok(Some(WatchEvent::Rejected { name, reason }))
        }
    }
}

/// Moves a file into `dir`, never over another: `name (2).pdf` and so on when taken.
fn move_into(path: &Path, dir: &Path) -> std::io::Result<PathBuf> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (&name[..], ""),
    };
    for n in 1..100_000u32 {
        let candidate = if n == 1 {
            dir.join(&*name)
        } else {
            dir.join(format!("{stem} ({n}){ext}"))
        };
        // hard_link refuses an existing target (no race with another mover); then unlink.
        match std::fs::hard_link(path, &candidate) {
            Ok(()) => {
                std::fs::remove_file(path)?;
                return Ok(candidate);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free file name"))
}
