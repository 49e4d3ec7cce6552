//! Strive Desktop: the Tauri shell. It holds no business rules: commands parse their input,
//! call strive-replica (which calls strive-domain), and map errors to a typed JSON error; sync
//! events are forwarded to the web view. Tokens, passwords and keys stay on this side.

pub mod commands;
pub mod demo;
pub mod error;
pub mod events;
pub mod state;
pub mod watcher;

use state::{AppState, Settings};
use std::path::PathBuf;
use std::time::Instant;
use strive_replica::Keychain;

/// Where the account and replicas live: `STRIVE_HOME`, else the `strive` CLI's default, so the
/// CLI and the app of one person on one machine are one device.
pub fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("STRIVE_HOME") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("strive")
}

fn flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "yes"))
}

pub fn settings(started: Instant) -> Settings {
    Settings {
        dir: data_dir(),
        keychain: if flag("STRIVE_NO_KEYCHAIN") {
            Keychain::Disabled
        } else {
            Keychain::System
        },
        allow_insecure: flag("STRIVE_ALLOW_INSECURE"),
        default_server: std::env::var("STRIVE_SERVER")
            .unwrap_or_else(|_| "http://127.0.0.1:8787".into()),
        started,
    }
}

pub fn run(started: Instant) -> anyhow::Result<()> {
    use commands::*;
    tauri::Builder::default()
        .manage(AppState::new(settings(started)))
        .invoke_handler(tauri::generate_handler![
            session::app_status,
            session::sign_up,
            session::sign_in,
            session::unlock,
            session::sign_out,
            session::ui_ready,
            orgs::create_org,
            orgs::switch_org,
            orgs::refresh_orgs,
            overview::permissions,
            overview::dashboard,
            overview::activity,
            crm::members,
            crm::contacts,
            crm::contact,
            crm::create_contact,
            crm::update_contact,
            crm::bulk_assign,
            crm::deals,
            crm::create_deal,
            loops::loops,
            loops::loop_detail,
            loops::create_loop,
            loops::set_task_status,
            documents::documents,
            documents::document_versions,
            documents::review_queue,
            documents::upload_begin,
            documents::upload_chunk,
            documents::upload_finish,
            documents::upload_cancel,
            documents::open_document,
            documents::submit_document,
            documents::review_document,
            documents::watch_folder,
            documents::set_watch_folder,
            sync::sync_status,
            sync::sync_now,
            sync::full_resync,
            sync::request_sync_all,
            sync::devices,
            sync::sync_issues,
        ])
        .run(tauri::generate_context!())?;
    Ok(())
}
