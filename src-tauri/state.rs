//! What the shell holds between commands: the signed-in account, the open organization (its
//! replica and sync task) and the connection state the sync events last reported.
//!
//! Every lock here is a plain mutex held for a few statements, never across an `.await`;
//! replica work runs on the blocking pool so a long read never stalls the IPC threads.

use crate::error::{AppError, AppResult};
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use strive_domain::OrgId;
use strive_replica::account::{Account, Profile};
use strive_replica::api::{Api, Auth};
use strive_replica::engine::SyncHandle;
use strive_replica::{Keychain, Replica};

pub struct Settings {
    pub dir: PathBuf,
    pub keychain: Keychain,
    pub allow_insecure: bool,
    pub default_server: String,
    pub started: Instant,
}

pub struct AppState {
    pub settings: Settings,
    session: Mutex<Option<Active>>,
    pub connection: Mutex<Connection>,
    /// Files being received from the web view, by upload id.
    pub uploads: Mutex<HashMap<String, crate::commands::documents::Receiving>>,
}

/// A signed-in, unlocked account.
pub struct Active {
    pub account: Arc<Account>,
    pub auth: Auth,
    /// The profile as last refreshed (the account's own copy is the one read at unlock).
    pub profile: Profile,
    pub org: Option<OpenOrg>,
}

/// The organization being worked on: the UI's connection to its replica and its sync task
/// (which has a connection of its own).
pub struct OpenOrg {
    pub id: OrgId,
    pub replica: Arc<Mutex<Replica>>,
    pub sync: SyncHandle,
    pub forwarder: tauri::async_runtime::JoinHandle<()>,
    /// The watched folder of this organization on this device, if one is set.
    pub watcher: Option<crate::watcher::Watcher>,
}

impl OpenOrg {
    pub fn close(self) {
        drop(self.watcher);
        self.forwarder.abort();
        self.sync.stop();
    }
}

/// Whether the server answers, as the sync task last found out.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Connection {
    /// `None` until the first attempt ends.
    pub online: Option<bool>,
    pub syncing: bool,
    pub last_error: Option<String>,
}

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; keep going.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AppState {
    pub fn new(settings: Settings) -> Self {
        AppState {
            settings,
            session: Mutex::new(None),
            connection: Mutex::new(Connection::default()),
            uploads: Mutex::new(HashMap::new()),
        }
    }

    pub fn session(&self) -> MutexGuard<'_, Option<Active>> {
        lock(&self.session)
    }

    pub fn api(&self, url: &str) -> AppResult<Api> {
        Ok(Api::new(url, self.settings.allow_insecure)?)
    }

    pub fn auth(&self) -> AppResult<Auth> {
        let s = self.session();
        Ok(s.as_ref().ok_or_else(AppError::no_session)?.auth.clone())
    }

    /// The open organization's id and the UI's replica connection.
    pub fn replica(&self) -> AppResult<(OrgId, Arc<Mutex<Replica>>)> {
        let s = self.session();
        let active = s.as_ref().ok_or_else(AppError::no_session)?;
        let org = active.org.as_ref().ok_or_else(|| {
            AppError::new(
                "no_organization",
                "Create or join an organization to continue",
            )
        })?;
        Ok((org.id, org.replica.clone()))
    }

    /// Runs `f` on the replica on the blocking pool.
    pub async fn with_replica<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Replica) -> AppResult<T> + Send + 'static,
    ) -> AppResult<T> {
        let (_, replica) = self.replica()?;
        tauri::async_runtime::spawn_blocking(move || f(&mut lock(&replica)))
            .await
            .map_err(AppError::internal)?
    }

    /// Asks the sync task for a round (after a local write: push it now if online).
    pub fn nudge(&self) {
        if let Some(org) = self.session().as_ref().and_then(|a| a.org.as_ref()) {
            org.sync.sync_now();
        }
    }
}
