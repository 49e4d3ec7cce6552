//! The watched folder: a folder of this computer bound to one transaction loop of the open
//! organization; every file dropped into it becomes a document of the loop (strive-replica's
//! `watch`, which checks, encrypts, queues and moves each file exactly once). The setting is kept
//! per organization in `<data dir>/watched-folders.json` and the watcher runs while that
//! organization is open.

use crate::error::{AppError, AppResult};
use crate::state::{lock, AppState};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use strive_domain::{DocumentType, LoopId, OrgId};
use strive_replica::watch::{watch, WatchEvent, WatchOptions};
use strive_replica::Replica;
use tauri::{AppHandle, Emitter, Manager};

/// The event the UI gets for each file the watcher handled.
pub const WATCH_EVENT: &str = "watch";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WatchSetting {
    pub dir: String,
    pub loop_id: LoopId,
    pub document_type: DocumentType,
}

/// A running watcher; stops when dropped.
pub struct Watcher {
    pub setting: WatchSetting,
    stop: Arc<AtomicBool>,
    pub error: Arc<Mutex<Option<String>>>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn file(dir: &Path) -> PathBuf {
    dir.join("watched-folders.json")
}

fn read_all(dir: &Path) -> HashMap<OrgId, WatchSetting> {
    std::fs::read(file(dir))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

pub fn saved(dir: &Path, org: OrgId) -> Option<WatchSetting> {
    read_all(dir).remove(&org)
}

pub fn save(dir: &Path, org: OrgId, setting: Option<&WatchSetting>) -> AppResult<()> {
    let mut all = read_all(dir);
    match setting {
        Some(s) => all.insert(org, s.clone()),
        None => all.remove(&org),
    };
    let json = serde_json::to_vec_pretty(&all).map_err(AppError::internal)?;
    std::fs::write(file(dir), json).map_err(AppError::internal)
}

/// The folder must exist and be a folder (it is the person's own choice of place).
pub fn check(setting: &WatchSetting) -> AppResult<()> {
    let p = Path::new(&setting.dir);
    if !p.is_absolute() || !p.is_dir() {
        return Err(AppError::field(
            "dir",
            "Choose an existing folder (its full path)",
        ));
    }
    Ok(())
}

/// Starts watching on a thread of its own, with its own replica connection; each handled file
/// goes to the UI as the `watch` event, and an import wakes the sync task.
pub fn start(app: &AppHandle, replica: &Replica, setting: WatchSetting) -> AppResult<Watcher> {
    let mut conn = replica.reopen()?;
    let stop = Arc::new(AtomicBool::new(false));
    let error = Arc::new(Mutex::new(None));
    let (app, flag, err, s) = (app.clone(), stop.clone(), error.clone(), setting.clone());
    std::thread::Builder::new()
        .name("strive-watch".into())
        .spawn(move || {
            let options = WatchOptions {
                document_type: s.document_type,
                max_bytes: crate::commands::documents::max_bytes(),
                ..Default::default()
            };
            let r = watch(
                &mut conn,
                Path::new(&s.dir),
                s.loop_id,
                &options,
                &flag,
                |e| {
                    if matches!(e, WatchEvent::Imported { .. }) {
                        app.state::<AppState>().nudge();
                    }
                    let _ = app.emit(WATCH_EVENT, e);
                },
            );
            if let Err(e) = r {
                tracing::warn!(error = %e, "the watched folder stopped");
                *lock(&err) = Some("The folder could not be watched; choose it again".into());
            }
        })
        .map_err(AppError::internal)?;
    Ok(Watcher {
        setting,
        stop,
        error,
    })
}
