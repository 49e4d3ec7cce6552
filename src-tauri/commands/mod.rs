//! The `#[tauri::command]`s, one file per screen's concern. Each parses its input, calls
//! strive-replica, and maps errors to [`crate::error::AppError`].

pub mod crm;
pub mod documents;
pub mod loops;
pub mod orgs;
pub mod overview;
pub mod session;
pub mod sync;
