//! Typed API errors: every failure a client can cause maps to a 4xx with a JSON body
//! `{code, message, fields?}`. Database errors are classified, logged with context and never
//! leaked; only a fault of ours answers 500.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use strive_domain::permissions::{Denied, DenyKind};
use strive_domain::{FieldError, ValidationError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{}", .0.message)]
    Forbidden(Denied),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("The request body is too large")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Invalid(ValidationError),
    #[error("{message}")]
    TooManyRequests { message: String, retry_after: u64 },
    /// A refusal with its own code (documents: `document_too_large`, `checksum_mismatch`,
    /// `url_expired`, ...), so each way to fail is told apart by machines and people.
    #[error("{message}")]
    Coded {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    /// An onboarding answer: the caller is signed in but belongs to no organization yet.
    #[error("Create or join an organization to continue")]
    NeedsOrganization,
    /// The organization's writes are paused for a moment while it moves to another database.
    /// Retryable: 503 with `Retry-After`; nothing was changed.
    #[error("This organization is moving to another server; try again in a moment")]
    OrgMoving,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `validation_failed`, `forbidden_tier`.
    pub code: &'static str,
    /// A sentence for the user.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldError>>,
}

impl ApiError {
    pub fn not_found(what: &str) -> Self {
        ApiError::NotFound(format!("{what} not found"))
    }

    pub fn coded(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Coded {
            status,
            code,
            message: message.into(),
        }
    }

    /// Not the request's fault and worth sending again as it is (a pushed mutation that meets
    /// this is not rejected: the batch stops and the device retries it).
    pub fn is_retryable(&self) -> bool {
        matches!(self, ApiError::Internal(_) | ApiError::OrgMoving)
    }

    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Coded { status, code, .. } => (*status, code),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(d) => (
                StatusCode::FORBIDDEN,
                match d.kind {
                    DenyKind::Tier => "forbidden_tier",
                    DenyKind::GlobalRole => "forbidden_global_role",
                    DenyKind::OrgRole => "forbidden_org_role",
                },
            ),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            ApiError::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::NeedsOrganization => (StatusCode::FORBIDDEN, "needs_organization"),
            ApiError::OrgMoving => (StatusCode::SERVICE_UNAVAILABLE, "org_moving"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        ApiError::Invalid(e)
    }
}

impl From<Denied> for ApiError {
    fn from(d: Denied) -> Self {
        ApiError::Forbidden(d)
    }
}

/// The server's own files (uploads, blobs): a failure there is ours, never the client's.
impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        ApiError::Internal(anyhow::Error::new(e).context("file system"))
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        classify_db_error(e)
    }
}

/// Constraint violations are the client's mistake (a race, a foreign id, a bad value the
/// checks above missed); anything else is ours.
fn classify_db_error(e: sqlx::Error) -> ApiError {
    if let sqlx::Error::RowNotFound = e {
        return ApiError::NotFound("not found".into());
    }
    if let Some(db) = e.as_database_error() {
        let constraint = db.constraint().unwrap_or("").to_string();
        match db.code().as_deref() {
            Some("23505") => {
                return ApiError::Conflict(match constraint.as_str() {
                    "identities_email_key" | "users_email_key" => {
                        "An account with this email already exists".into()
                    }
                    "organizations_slug_key" | "org_directory_slug_key" => {
                        "An organization with this slug already exists; choose another".into()
                    }
                    c if c.ends_with("_pkey") => "A record with this id already exists".into(),
                    _ => "This would duplicate an existing record".into(),
                })
            }
            Some("23503") => {
                return ApiError::Invalid(ValidationError::single(
                    referenced_field(&constraint),
                    "refers to something that does not exist in this organization",
                ))
            }
            // Class 22 (data exception: out-of-range dates, NUL bytes, bad encodings...) and
            // check constraints: a value PostgreSQL cannot or may not store.
            Some(code) if code == "23514" || code == "54000" || code.starts_with("22") => {
                return ApiError::Invalid(ValidationError::single(
                    "input",
                    "a value is out of the allowed range or cannot be stored",
                ))
            }
            // Row-level security refused the row: to the caller it does not exist. (Any other
            // privilege error is a bug of ours and stays a 500.)
            Some("42501") if db.message().contains("row-level security") => {
                return ApiError::NotFound("not found".into())
            }
            _ => {}
        }
    }
    ApiError::Internal(anyhow::Error::new(e).context("database error"))
}

/// `deals_organization_id_contact_id_fkey` -> `contact_id`.
fn referenced_field(constraint: &str) -> &str {
    constraint
        .strip_suffix("_fkey")
        .and_then(|s| s.rsplit("organization_id_").next())
        .filter(|s| !s.is_empty())
        .unwrap_or("input")
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            ApiError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "request failed");
                "Something went wrong on our side; please try again".to_string()
            }
            other => other.to_string(),
        };
        let fields = match self {
            ApiError::Invalid(ref v) => Some(v.fields.clone()),
            _ => None,
        };
        let retry = match self {
            ApiError::TooManyRequests { retry_after, .. } => Some(retry_after),
            ApiError::OrgMoving => Some(1),
            _ => None,
        };
        let mut res = (
            status,
            axum::Json(ErrorBody {
                code,
                message,
                fields,
            }),
        )
            .into_response();
        if let Some(secs) = retry {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        res
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_key_names_point_at_the_field() {
        assert_eq!(
            referenced_field("deals_organization_id_contact_id_fkey"),
            "contact_id"
        );
        assert_eq!(referenced_field("weird"), "input");
    }
}
