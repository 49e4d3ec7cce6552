use thiserror::Error;

#[derive(Debug, Error)]
pub enum ReplicaError {
    #[error("wrong password for this device's copy of the organization")]
    WrongPassword,
    #[error("the keychain is unavailable here; type your password to open the local copy")]
    PasswordNeeded,
    #[error("no local copy of this organization on this device yet; sign in and sync first")]
    NotFound,
    #[error("nobody is signed in on this device; sign in first")]
    SignedOut,
    #[error("the local copy is damaged or was not made by Strive ({0})")]
    Corrupt(String),
    #[error("sync data was malformed: {0}")]
    BadChange(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("file error: {0}")]
    Io(#[from] std::io::Error),
}

/// Why talking to the server failed. `Network` is worth retrying; `Refused` is the server's typed
/// answer; `SignedOut` means the session is over and the user must sign in again.
#[derive(Debug, Error)]
pub enum SyncError {
    #[error("the server could not be reached: {0}")]
    Network(#[from] reqwest::Error),
    #[error("the server refused ({status} {code}): {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("the connection to the server broke: {0}")]
    Broken(String),
    #[error("signed out: {0}; sign in again")]
    SignedOut(String),
    #[error("{0}")]
    BadServerUrl(String),
    #[error(transparent)]
    Replica(#[from] ReplicaError),
}

impl SyncError {
    /// Worth trying again later without the user doing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Network(_) | SyncError::Broken(_) => true,
            // Throttled, a server-side failure, or the organization's writes paused for a
            // moment while it moves to another database: the server will be back.
            SyncError::Refused { status, code, .. } => {
                *status == 429 || *status >= 500 || code == "org_moving"
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, code: &str) -> SyncError {
        SyncError::Refused {
            status,
            code: code.into(),
            message: String::new(),
        }
    }

    #[test]
    fn a_moving_organization_is_retried_a_refusal_is_not() {
        assert!(refused(503, "org_moving").is_transient());
        assert!(refused(429, "rate_limited").is_transient());
        assert!(!refused(403, "forbidden_org_role").is_transient());
        assert!(!refused(422, "validation_failed").is_transient());
    }
}
