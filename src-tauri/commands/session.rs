//! Who is signed in: first run, sign up, sign in, unlock, sign out.
//!
//! The password arrives once per call and is dropped when the call ends; nothing secret is ever
//! returned to the web view.

use crate::commands::orgs::{open_org, profile_view, ProfileView};
use crate::error::{AppError, AppResult};
use crate::state::{Active, AppState};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use strive_domain::values::Email;
use strive_replica::account::Account;
use strive_replica::api::Auth;
use strive_replica::signin::{host_name, sign_in as replica_sign_in};
use strive_replica::ReplicaError;
use tauri::{AppHandle, State};

/// Where the app stands, for the UI to pick its screen.
#[derive(Serialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum AppStatus {
    /// Nobody is signed in on this device.
    Welcome {
        default_server: String,
        last_email: Option<String>,
    },
    /// Signed in, but the keychain cannot open the data: the password must.
    Locked {
        email: String,
        server_url: String,
    },
    Ready {
        profile: ProfileView,
    },
}

#[derive(Deserialize)]
pub struct Credentials {
    server_url: String,
    email: String,
    password: String,
    #[serde(default)]
    name: Option<String>,
    /// Sign up only: an organization to create at once (saves asking for the password again).
    #[serde(default)]
    organization: Option<String>,
}

fn ready(state: &AppState) -> AppResult<AppStatus> {
    let s = state.session();
    let active = s.as_ref().ok_or_else(AppError::no_session)?;
    Ok(AppStatus::Ready {
        profile: profile_view(active),
    })
}

/// The screen to show. On the first call after start it also tries to unlock with the
/// keychain alone, so a returning user goes straight to the dashboard.
#[tauri::command]
pub async fn app_status(app: AppHandle, state: State<'_, AppState>) -> AppResult<AppStatus> {
    if state.session().is_some() {
        return ready(&state);
    }
    let dir = &state.settings.dir;
    let profile = Account::read_profile(dir)?;
    match profile {
        Some(p) if Account::is_signed_in(dir) => {
            match Account::unlock(dir, None, state.settings.keychain) {
                Ok(account) => {
                    activate(&app, &state, account, None).await?;
                    ready(&state)
                }
                Err(ReplicaError::PasswordNeeded) => Ok(AppStatus::Locked {
                    email: p.email,
                    server_url: p.server_url,
                }),
                Err(e) => Err(e.into()),
            }
        }
        other => Ok(AppStatus::Welcome {
            default_server: other
                .as_ref()
                .map(|p| p.server_url.clone())
                .unwrap_or_else(|| state.settings.default_server.clone()),
            last_email: other.map(|p| p.email),
        }),
    }
}

/// Makes `account` the session and opens its current organization.
pub(crate) async fn activate(
    app: &AppHandle,
    state: &AppState,
    account: Account,
    password: Option<&str>,
) -> AppResult<()> {
    let account = Arc::new(account);
    let api = state.api(&account.profile.server_url)?;
    let auth = Auth::new(api, account.clone());
    let profile = account.profile.clone();
    let org = match profile.current_org {
        Some(org) => Some(open_org(app, &account, &auth, org, password).await?),
        None => None,
    };
    let previous = state.session().replace(Active {
        account,
        auth,
        profile,
        org,
    });
    if let Some(o) = previous.and_then(|p| p.org) {
        o.close();
    }
    Ok(())
}

fn check_email(email: &str) -> AppResult<()> {
    Email::parse(email)
        .map(|_| ())
        .map_err(|e| AppError::field("email", &e.to_string()))
}

/// The server answers invalid input as `field: message`; forms want it on the field.
fn on_field(e: AppError) -> AppError {
    if e.code != "invalid" || e.fields.is_some() {
        return e;
    }
    match e.message.split_once(": ") {
        Some((field, message)) if !field.contains(' ') => AppError::field(field, message),
        _ => e,
    }
}

#[tauri::command]
pub async fn sign_in(
    app: AppHandle,
    state: State<'_, AppState>,
    credentials: Credentials,
) -> AppResult<AppStatus> {
    check_email(&credentials.email)?;
    let api = state.api(&credentials.server_url)?;
    let c = credentials;
    let account = replica_sign_in(
        &state.settings.dir,
        &api,
        &c.email,
        &c.password,
        &host_name(),
        state.settings.keychain,
    )
    .await
    .map_err(|e| on_field(e.into()))?;
    activate(&app, &state, account, Some(&c.password)).await?;
    ready(&state)
}

#[tauri::command]
pub async fn sign_up(
    app: AppHandle,
    state: State<'_, AppState>,
    credentials: Credentials,
) -> AppResult<AppStatus> {
    check_email(&credentials.email)?;
    let c = credentials;
    let name = c.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if name.is_none() {
        return Err(AppError::field("name", "Tell your colleagues who you are"));
    }
    let api = state.api(&c.server_url)?;
    api.signup(&c.email, &c.password, name)
        .await
        .map_err(|e| on_field(e.into()))?;
    let organization = c.organization.clone();
    let password = c.password.clone();
    let status = sign_in(app.clone(), state.clone(), c).await?;
    match organization.filter(|o| !o.trim().is_empty()) {
        Some(org) => crate::commands::orgs::create(&app, &state, &org, &password).await,
        None => Ok(status),
    }
}

#[tauri::command]
pub async fn unlock(
    app: AppHandle,
    state: State<'_, AppState>,
    password: String,
) -> AppResult<AppStatus> {
    let dir = state.settings.dir.clone();
    let keychain = state.settings.keychain;
    let pw = password.clone();
    // Argon2 takes a moment: off the async threads.
    let account =
        tauri::async_runtime::spawn_blocking(move || Account::unlock(&dir, Some(&pw), keychain))
            .await
            .map_err(AppError::internal)??;
    activate(&app, &state, account, Some(&password)).await?;
    ready(&state)
}

#[tauri::command]
pub async fn sign_out(state: State<'_, AppState>) -> AppResult<AppStatus> {
    let active = state.session().take();
    let Some(active) = active else {
        return app_status_welcome(&state);
    };
    if let Some(o) = active.org {
        o.close();
    }
    // Ending the session on the server is best effort: offline, the local sign-out holds.
    if let Ok(t) = active.account.tokens() {
        let _ = active.auth.api().logout(&t.refresh_token).await;
    }
    drop(active.auth);
    let mut account = active.account;
    // The stopped sync task drops its handle to the account as soon as the runtime reaps it.
    for _ in 0..200 {
        match Arc::try_unwrap(account) {
            Ok(a) => {
                a.forget(false)?;
                return app_status_welcome(&state);
            }
            Err(a) => account = a,
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    Err(AppError::internal("the account is still in use"))
}

fn app_status_welcome(state: &AppState) -> AppResult<AppStatus> {
    let p = Account::read_profile(&state.settings.dir)?;
    Ok(AppStatus::Welcome {
        default_server: p
            .as_ref()
            .map(|p| p.server_url.clone())
            .unwrap_or_else(|| state.settings.default_server.clone()),
        last_email: p.map(|p| p.email),
    })
}

/// The UI's first usable screen is up: logs the start-up time (and prints it for the
/// start-up benchmark).
#[tauri::command]
pub fn ui_ready(state: State<'_, AppState>, screen: String) {
    let ms = state.settings.started.elapsed().as_millis();
    tracing::info!(screen, ms, "ui ready");
    if std::env::var_os("STRIVE_REPORT_READY").is_some() {
        println!("strive-ready screen={screen} ms={ms}");
    }
}
