//! Request extractors whose failures are typed API errors, never axum's plain-text rejections.

use crate::error::ApiError;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::FromRequest;
use axum::http::StatusCode;
use strive_domain::ValidationError;

/// A JSON body: malformed -> 400, wrong types or unknown fields -> 422, too large -> 413,
/// not JSON -> 415.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonSyntaxError(e) => {
                ApiError::BadRequest(format!("Malformed JSON: {}", inner_message(&e.body_text())))
            }
            JsonRejection::JsonDataError(e) => {
                // serde_path_to_error gives "path.to.field: what is wrong".
                let text = inner_message(&e.body_text());
                let (field, message) = match text.split_once(": ") {
                    Some((path, msg)) if !path.contains(' ') => (path.to_string(), msg.to_string()),
                    _ => ("body".to_string(), text),
                };
                ApiError::Invalid(ValidationError::single(&field, message))
            }
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(
                "Send the body as JSON with Content-Type: application/json".into(),
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::NotFound(format!("Not found: {}", inner_message(&r.body_text())))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::Invalid(ValidationError::single(
            "query",
            inner_message(&r.body_text()),
        ))
    }
}

/// axum prefixes serde's message with its own sentence; keep the part that names the field.
fn inner_message(text: &str) -> String {
    text.split_once(": ")
        .map(|(_, rest)| rest)
        .unwrap_or(text)
        .to_string()
}
