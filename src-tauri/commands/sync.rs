//! The sync panel: state, Sync now, and the admins' controls over every device.

use crate::error::AppResult;
use crate::state::{lock, AppState, Connection};
use serde::Serialize;
use strive_domain::entities::DeviceState;
use strive_replica::status::{Conflict, Rejection, SyncStatus};
use tauri::State;

#[derive(Serialize)]
pub struct SyncView {
    pub connection: Connection,
    pub status: SyncStatus,
    pub server_url: String,
    pub device_name: String,
}

#[tauri::command]
pub async fn sync_status(state: State<'_, AppState>) -> AppResult<SyncView> {
    let status = state.with_replica(|r| Ok(r.status()?)).await?;
    let (server_url, device_name) = {
        let s = state.session();
        let a = s.as_ref().ok_or_else(crate::error::AppError::no_session)?;
        (a.profile.server_url.clone(), a.profile.device_name.clone())
    };
    Ok(SyncView {
        connection: lock(&state.connection).clone(),
        status,
        server_url,
        device_name,
    })
}

#[tauri::command]
pub async fn sync_now(state: State<'_, AppState>) -> AppResult<()> {
    state.replica()?;
    state.nudge();
    Ok(())
}

/// Drops this device's copy of the server's data (unsent changes stay) and pulls it all again.
#[tauri::command]
pub async fn full_resync(state: State<'_, AppState>) -> AppResult<()> {
    let s = state.session();
    if let Some(org) = s.as_ref().and_then(|a| a.org.as_ref()) {
        org.sync.full_resync();
    }
    Ok(())
}

/// Admins: asks every online device of the organization to sync now (or to start over).
#[tauri::command]
pub async fn request_sync_all(state: State<'_, AppState>, full: bool) -> AppResult<()> {
    let (org, _) = state.replica()?;
    let auth = state.auth()?;
    let token = auth.token().await?;
    auth.api().request_sync(&token, org, None, full).await?;
    Ok(())
}

/// Admins: each device of the organization, its user, last sync and pending changes.
#[tauri::command]
pub async fn devices(state: State<'_, AppState>) -> AppResult<Vec<DeviceState>> {
    let (org, _) = state.replica()?;
    let auth = state.auth()?;
    let token = auth.token().await?;
    Ok(auth.api().devices(&token, org).await?)
}

#[derive(Serialize)]
pub struct SyncIssues {
    pub conflicts: Vec<Conflict>,
    pub rejections: Vec<Rejection>,
}

#[tauri::command]
pub async fn sync_issues(state: State<'_, AppState>) -> AppResult<SyncIssues> {
    state
        .with_replica(|r| {
            Ok(SyncIssues {
                conflicts: r.conflicts()?,
                rejections: r.rejections()?,
            })
        })
        .await
}
