//! Sync events to the UI: every [`SyncEvent`] of the open organization's sync task goes to the
//! web view as the `sync` event, and the connection state the UI asks for is kept up to date.

use crate::state::{lock, AppState};
use strive_replica::engine::SyncEvent;
use tauri::{AppHandle, Emitter, Manager};
use tokio::sync::broadcast::{error::RecvError, Receiver};

pub const SYNC_EVENT: &str = "sync";

pub async fn forward(app: AppHandle, mut events: Receiver<SyncEvent>) {
    loop {
        let event = match events.recv().await {
            Ok(e) => e,
            // Fell behind a burst of progress events: the next ones carry running totals.
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        };
        note(&app.state::<AppState>(), &event);
        if let Err(e) = app.emit(SYNC_EVENT, &event) {
            tracing::warn!(error = %e, "could not send a sync event to the UI");
        }
    }
}

/// Keeps [`crate::state::Connection`] in step with what the sync task reports.
pub fn note(state: &AppState, event: &SyncEvent) {
    let mut c = lock(&state.connection);
    match event {
        SyncEvent::Syncing { .. } => c.syncing = true,
        SyncEvent::Progress { .. } | SyncEvent::Activity { .. } | SyncEvent::Upload { .. } => {}
        SyncEvent::Synced { .. } | SyncEvent::Online => {
            if matches!(event, SyncEvent::Synced { .. }) {
                c.syncing = false;
            }
            c.online = Some(true);
            c.last_error = None;
        }
        SyncEvent::Offline { error, .. } => {
            c.syncing = false;
            c.online = Some(false);
            c.last_error = Some(error.clone());
        }
        SyncEvent::Error { message } | SyncEvent::SignedOut { message } => {
            c.syncing = false;
            c.last_error = Some(message.clone());
        }
    }
}
