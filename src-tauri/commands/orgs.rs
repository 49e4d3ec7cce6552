//! Organizations: open one (its replica and sync task), create one, switch, refresh the list.

use crate::error::{AppError, AppResult};
use crate::events;
use crate::state::{Active, AppState, OpenOrg};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use strive_domain::entities::Membership;
use strive_domain::{GlobalRole, OrgId};
use strive_replica::account::Account;
use strive_replica::api::Auth;
use strive_replica::engine::{self, EngineOptions};
use tauri::{AppHandle, State};

/// The signed-in person as the UI shows them (no tokens, no keys).
#[derive(Serialize)]
pub struct ProfileView {
    pub email: String,
    pub user_id: String,
    pub server_url: String,
    pub device_name: String,
    pub global_role: GlobalRole,
    pub organizations: Vec<Membership>,
    pub current_org: Option<OrgId>,
}

pub fn profile_view(a: &Active) -> ProfileView {
    let p = &a.profile;
    ProfileView {
        email: p.email.clone(),
        user_id: p.user_id.to_string(),
        server_url: p.server_url.clone(),
        device_name: p.device_name.clone(),
        global_role: p.global_role,
        organizations: p.organizations.clone(),
        current_org: a.org.as_ref().map(|o| o.id),
    }
}

/// Opens the organization's replica (created with `password` on first use) and starts its
/// sync task, whose events go to the UI.
pub async fn open_org(
    app: &AppHandle,
    account: &Arc<Account>,
    auth: &Auth,
    org: OrgId,
    password: Option<&str>,
) -> AppResult<OpenOrg> {
    let account2 = account.clone();
    let pw = password.map(str::to_string);
    let (replica, for_sync) = tauri::async_runtime::spawn_blocking(move || {
        let r = account2.open_replica(org, pw.as_deref())?;
        let second = r.reopen()?;
        Ok::<_, AppError>((r, second))
    })
    .await
    .map_err(AppError::internal)??;
    let sync = engine::spawn(for_sync, auth.clone(), EngineOptions::default());
    let forwarder = tauri::async_runtime::spawn(events::forward(app.clone(), sync.subscribe()));
    // The watched folder set for this organization on this device, if any (a folder that is
    // gone is reported by the settings screen, not here).
    let watcher = crate::watcher::saved(account.dir(), org)
        .filter(|s| crate::watcher::check(s).is_ok())
        .and_then(|s| crate::watcher::start(app, &replica, s).ok());
    Ok(OpenOrg {
        id: org,
        replica: Arc::new(Mutex::new(replica)),
        sync,
        forwarder,
        watcher,
    })
}

/// Checks the password against this device's account (a new replica's key is wrapped under it,
/// so a typo must not get that far).
async fn verify_password(state: &AppState, password: &str) -> AppResult<()> {
    let dir = state.settings.dir.clone();
    let pw = password.to_string();
    tauri::async_runtime::spawn_blocking(move || {
        Account::unlock(&dir, Some(&pw), strive_replica::Keychain::Disabled).map(|_| ())
    })
    .await
    .map_err(AppError::internal)??;
    Ok(())
}

/// Switches the session to `org` and saves it as the current organization.
async fn switch(
    app: &AppHandle,
    state: &AppState,
    org: OrgId,
    password: Option<&str>,
) -> AppResult<()> {
    let (account, auth) = {
        let s = state.session();
        let a = s.as_ref().ok_or_else(AppError::no_session)?;
        if !a
            .profile
            .organizations
            .iter()
            .any(|m| m.organization_id == org)
        {
            return Err(AppError::new(
                "not_found",
                "You are not a member of that organization",
            ));
        }
        (a.account.clone(), a.auth.clone())
    };
    let opened = open_org(app, &account, &auth, org, password).await?;
    let mut s = state.session();
    let a = s.as_mut().ok_or_else(AppError::no_session)?;
    if let Some(old) = a.org.replace(opened) {
        old.close();
    }
    a.profile.current_org = Some(org);
    Account::write_profile(&state.settings.dir, &a.profile)?;
    *crate::state::lock(&state.connection) = Default::default();
    Ok(())
}

/// Creates an organization (the caller owns it) and switches to it.
pub async fn create(
    app: &AppHandle,
    state: &AppState,
    name: &str,
    password: &str,
) -> AppResult<crate::commands::session::AppStatus> {
    let name = name.trim();
    if name.chars().count() < 2 {
        return Err(AppError::field("name", "Give the organization a name"));
    }
    verify_password(state, password).await?;
    let auth = state.auth()?;
    let token = auth.token().await?;
    let org = auth.api().create_org(&token, name).await?;
    refresh(state).await?;
    switch(app, state, org.id, Some(password)).await?;
    status(state)
}

fn status(state: &AppState) -> AppResult<crate::commands::session::AppStatus> {
    let s = state.session();
    let a = s.as_ref().ok_or_else(AppError::no_session)?;
    Ok(crate::commands::session::AppStatus::Ready {
        profile: profile_view(a),
    })
}

/// Asks the server for the person's organizations now (after being added to one elsewhere).
async fn refresh(state: &AppState) -> AppResult<()> {
    let auth = state.auth()?;
    let token = auth.token().await?;
    let me = auth.api().me(&token).await?;
    let mut s = state.session();
    let a = s.as_mut().ok_or_else(AppError::no_session)?;
    a.profile.organizations = me.organizations;
    a.profile.global_role = me.user.role;
    Account::write_profile(&state.settings.dir, &a.profile)?;
    Ok(())
}

#[tauri::command]
pub async fn create_org(
    app: AppHandle,
    state: State<'_, AppState>,
    name: String,
    password: String,
) -> AppResult<crate::commands::session::AppStatus> {
    create(&app, &state, &name, &password).await
}

/// Switches organization; `password` is needed only the first time one is opened here.
#[tauri::command]
pub async fn switch_org(
    app: AppHandle,
    state: State<'_, AppState>,
    org: OrgId,
    password: Option<String>,
) -> AppResult<crate::commands::session::AppStatus> {
    if let Some(pw) = &password {
        verify_password(&state, pw).await?;
    }
    switch(&app, &state, org, password.as_deref()).await?;
    status(&state)
}

/// The organizations as the server lists them now (offline: as last known).
#[tauri::command]
pub async fn refresh_orgs(
    state: State<'_, AppState>,
) -> AppResult<crate::commands::session::AppStatus> {
    match refresh(&state).await {
        Err(e) if e.code == "offline" => {}
        other => other?,
    }
    status(&state)
}
