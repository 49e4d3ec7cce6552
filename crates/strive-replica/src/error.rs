use thiserror::Error;

#[derive(Debug, Error)]
pub enum ReplicaError {
    #[error("wrong password for this device's copy of the organization")]
    WrongPassword,
    #[error("the keychain is unavailable here; type your password to open the local copy")]
    PasswordNeeded,
    #[error("no local copy of this organization on this device yet; sign in and sync first")]
    NotFound,
    #[error("the local copy is damaged or was not made by Strive ({0})")]
    Corrupt(String),
    #[error("sync data was malformed: {0}")]
    BadChange(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("file error: {0}")]
    Io(#[from] std::io::Error),
}
