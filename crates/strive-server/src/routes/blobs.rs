//! `GET /v1/blobs/{org}/{version}?user=..&expires=..&sig=..`: a document version's ciphertext
//! through an expiring signed URL. The signature is the credential (no bearer token): it names
//! one object of one organization and the member it was issued to, who must still be allowed to
//! view documents.

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ApiQuery};
use crate::guard::{self, Caller};
use crate::signed_url::{self, Refusal};
use crate::store::StoreError;
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use strive_domain::permissions::Action;
use strive_domain::{OrgId, UserId, VersionId};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signed {
    pub user: UserId,
    pub expires: i64,
    pub sig: String,
}

fn refused(r: Refusal) -> ApiError {
    ApiError::coded(StatusCode::FORBIDDEN, r.code(), r.message())
}

#[utoipa::path(get, path = "/v1/blobs/{org_id}/{version_id}", tag = "documents",
    params(("org_id" = OrgId, Path), ("version_id" = VersionId, Path), ("user" = UserId, Query),
           ("expires" = i64, Query), ("sig" = String, Query)),
    responses((status = 200, content_type = "application/octet-stream", description = "the ciphertext"),
              (status = 403, body = crate::error::ErrorBody)))]
pub async fn download(
    State(state): State<AppState>,
    ApiPath((org, version)): ApiPath<(OrgId, VersionId)>,
    query: Result<ApiQuery<Signed>, ApiError>,
) -> ApiResult<Response> {
    // A URL missing its signature is as good as a tampered one.
    let ApiQuery(q) = query.map_err(|_| refused(Refusal::BadSignature))?;
    let now = chrono::Utc::now().timestamp();
    signed_url::verify(
        state.kms().url_key(),
        org,
        version,
        q.user,
        q.expires,
        &q.sig,
        now,
    )
    .map_err(refused)?;
    let caller = Caller {
        user: q.user,
        device: None,
        expires_at: q.expires,
    };
    let (key, size) = guard::read(
        &state,
        &caller,
        org,
        Action::ViewDocuments,
        move |tx, ctx| Box::pin(crate::db::documents::storage_of(tx, ctx.org, version)),
    )
    .await?;
    let blob = match state.store().open(&key).await {
        Ok(b) => b,
        Err(StoreError::NotFound) => return Err(ApiError::not_found("Document content")),
        Err(e) => return Err(ApiError::Internal(e.into())),
    };
    if blob.len != size as u64 {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "stored blob {key} has {} bytes, its metadata says {size}",
            blob.len
        )));
    }
    let stream = tokio_util::io::ReaderStream::with_capacity(blob.body, 256 * 1024);
    Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, blob.len)
        .header(header::CACHE_CONTROL, "private, no-store")
        .body(Body::from_stream(stream))
        .map_err(|e| ApiError::Internal(e.into()))
}
