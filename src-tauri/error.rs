//! The one error the UI receives: `{code, message, fields?}`. Messages are written for people;
//! internals (SQL, file paths, stack traces) stay in the log.

use serde::Serialize;
use strive_domain::FieldError;
use strive_replica::vault::DocumentError;
use strive_replica::{MutateError, ReplicaError, SyncError};

#[derive(Debug, Serialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AppError {
    /// Stable, for the UI to branch on: `invalid`, `denied`, `not_found`, `offline`,
    /// `password_needed`, `wrong_password`, `signed_out`, `no_organization`, `refused`, ...
    pub code: String,
    pub message: String,
    /// Field errors from validation, for forms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldError>>,
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        AppError {
            code: code.into(),
            message: message.into(),
            fields: None,
        }
    }

    pub fn invalid(fields: Vec<FieldError>) -> Self {
        AppError {
            code: "invalid".into(),
            message: "Some fields need attention".into(),
            fields: Some(fields),
        }
    }

    pub fn field(field: &str, message: &str) -> Self {
        Self::invalid(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    pub fn no_session() -> Self {
        Self::new("signed_out", "Sign in to continue")
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new(
            "internal",
            "Something went wrong on this device; the details are in the log",
        )
    }
}

impl From<ReplicaError> for AppError {
    fn from(e: ReplicaError) -> Self {
        match e {
            ReplicaError::WrongPassword => {
                Self::new("wrong_password", "That password is not right")
            }
            ReplicaError::PasswordNeeded => Self::new(
                "password_needed",
                "Type your password to unlock this device's copy",
            ),
            ReplicaError::NotFound => Self::new("not_found", e.to_string()),
            ReplicaError::SignedOut => Self::no_session(),
            other => Self::internal(other),
        }
    }
}

impl From<SyncError> for AppError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Network(_) | SyncError::Broken(_) => Self::new(
                "offline",
                "The server cannot be reached; your work is saved on this device",
            ),
            SyncError::Refused {
                status,
                code,
                message,
                ..
            } => {
                // The server's typed answer is already meant for people (docs/decisions.md).
                let code = match status {
                    401 => "unauthorized".to_string(),
                    429 => "throttled".to_string(),
                    s if s >= 500 => "server_error".to_string(),
                    _ => code,
                };
                Self::new(&code, message)
            }
            SyncError::SignedOut(m) => Self::new("signed_out", format!("Signed out: {m}")),
            SyncError::BadServerUrl(m) => Self::field("server_url", &m),
            SyncError::Replica(r) => r.into(),
        }
    }
}

impl From<MutateError> for AppError {
    fn from(e: MutateError) -> Self {
        match e {
            MutateError::Denied(d) => Self::new("denied", d.message),
            MutateError::Invalid(v) => Self::invalid(v.fields),
            MutateError::NotFound(what) => {
                Self::new("not_found", format!("{what} not found on this device"))
            }
            MutateError::WrongStatus(m) => Self::new("wrong_status", m),
            MutateError::NoSession => Self::no_session(),
            MutateError::Replica(r) => r.into(),
        }
    }
}

impl From<DocumentError> for AppError {
    fn from(e: DocumentError) -> Self {
        match e {
            DocumentError::Rejected(r) => Self::new("rejected", r.to_string()),
            DocumentError::Mutate(m) => m.into(),
            DocumentError::Sync(s) => s.into(),
            DocumentError::NotOnDevice => Self::new(
                "not_on_device",
                "This version is not on this device yet; it opens once the server can be reached",
            ),
            DocumentError::NotFound(what) => {
                Self::new("not_found", format!("{what} not found on this device"))
            }
            // Which check failed (wrong key, a damaged chunk) is worth telling; no path is in it.
            DocumentError::Crypto(c) => Self::new(
                "damaged",
                format!("This copy of the document cannot be opened: {c}"),
            ),
            DocumentError::Damaged(m) => {
                Self::new("damaged", format!("The downloaded copy is damaged: {m}"))
            }
            DocumentError::Io(io) => Self::internal(io),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_errors_keep_every_field_for_the_form() {
        let e: AppError = MutateError::Invalid(strive_domain::ValidationError {
            fields: vec![
                FieldError {
                    field: "name".into(),
                    message: "too short".into(),
                },
                FieldError {
                    field: "email".into(),
                    message: "not an email".into(),
                },
            ],
        })
        .into();
        let json = serde_json::to_value(&e).expect("serializes");
        assert_eq!(json["code"], "invalid");
        assert_eq!(json["fields"][1]["field"], "email");
    }

    #[test]
    fn internal_errors_do_not_leak_details() {
        let e: AppError = ReplicaError::Corrupt("/home/ann/.local/share/strive/x.db".into()).into();
        assert_eq!(e.code, "internal");
        assert!(!e.message.contains("/home"), "{}", e.message);
    }

    #[test]
    fn document_errors_are_typed_and_keep_paths_out() {
        let e: AppError =
            DocumentError::Io(std::io::Error::other("/home/ann/x.sdoc: denied")).into();
        assert_eq!(e.code, "internal");
        assert!(!e.message.contains("/home"), "{}", e.message);
        let e: AppError = DocumentError::NotOnDevice.into();
        assert_eq!(e.code, "not_on_device");
        let e: AppError = MutateError::WrongStatus("Only a draft can be submitted".into()).into();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("wrong_status", "Only a draft can be submitted")
        );
    }

    #[test]
    fn server_refusals_keep_their_code_and_message() {
        let e: AppError = SyncError::Refused {
            status: 409,
            code: "conflict".into(),
            message: "That email is already registered".into(),
        }
        .into();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("conflict", "That email is already registered")
        );
        let down: AppError = SyncError::Refused {
            status: 503,
            code: "unavailable".into(),
            message: "x".into(),
        }
        .into();
        assert_eq!(down.code, "server_error");
    }
}
