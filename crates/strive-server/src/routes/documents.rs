//! Transaction documents: lists, versions, access (data key and signed URL), the review workflow.

use crate::db::documents::{self as docs, DocumentFilter};
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::guard::{self, Audit, Caller};
use crate::mutations::{apply, Outcome};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use strive_domain::documents::ReviewDecision;
use strive_domain::entities::{Document, DocumentVersion, ReviewItem};
use strive_domain::mutations::documents::ReviewDocument;
use strive_domain::mutations::{Delete, Mutation};
use strive_domain::permissions::Action;
use strive_domain::{DocumentId, OrgId, VersionId};

#[utoipa::path(get, path = "/v1/orgs/{org_id}/documents", tag = "documents", security(("bearer" = [])),
    params(("org_id" = OrgId, Path), ("loop_id" = Option<String>, Query), ("status" = Option<String>, Query)),
    responses((status = 200, body = Vec<Document>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<OrgId>,
    ApiQuery(filter): ApiQuery<DocumentFilter>,
) -> ApiResult<Json<Vec<Document>>> {
    let list = guard::read(&state, &caller, org, Action::ViewDocuments, |tx, ctx| {
        Box::pin(docs::list(tx, ctx.org, filter))
    })
    .await?;
    Ok(Json(list))
}

#[utoipa::path(get, path = "/v1/orgs/{org_id}/documents/{id}", tag = "documents", security(("bearer" = [])),
    params(("org_id" = OrgId, Path), ("id" = DocumentId, Path)), responses((status = 200, body = Document)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, id)): ApiPath<(OrgId, DocumentId)>,
) -> ApiResult<Json<Document>> {
    let d = guard::read(
        &state,
        &caller,
        org,
        Action::ViewDocuments,
        move |tx, ctx| Box::pin(docs::get(tx, ctx.org, id)),
    )
    .await?;
    Ok(Json(d))
}

/// Every version of a document, oldest first.
#[utoipa::path(get, path = "/v1/orgs/{org_id}/documents/{id}/versions", tag = "documents", security(("bearer" = [])),
    params(("org_id" = OrgId, Path), ("id" = DocumentId, Path)), responses((status = 200, body = Vec<DocumentVersion>)))]
pub async fn versions(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, id)): ApiPath<(OrgId, DocumentId)>,
) -> ApiResult<Json<Vec<DocumentVersion>>> {
    let v = guard::read(
        &state,
        &caller,
        org,
        Action::ViewDocuments,
        move |tx, ctx| {
            Box::pin(async move {
                docs::get(tx, ctx.org, id).await?;
                docs::versions(tx, ctx.org, id).await
            })
        },
    )
    .await?;
    Ok(Json(v))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessRequest {
    /// A version number; the current version when absent.
    #[serde(default)]
    pub version: Option<i32>,
}

/// What a device needs to read one version: where to fetch its ciphertext and the key to open it.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct Access {
    pub document_id: DocumentId,
    pub version_id: VersionId,
    pub version: i32,
    /// Path and query of a signed URL on this server (prefix the server's base URL).
    pub url: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// The version's data key, base64. Keep it only in the encrypted replica.
    pub data_key: String,
    pub sha256: String,
    pub ciphertext_size: i64,
    pub file_size: i64,
    pub mime_type: String,
    pub original_name: String,
}

/// Unwraps a version's data key for a member who may view documents (audited: every unwrap
/// leaves an audit row, kept out of the activity feed) and signs a URL for its ciphertext.
#[utoipa::path(post, path = "/v1/orgs/{org_id}/documents/{id}/access", tag = "documents", security(("bearer" = [])),
    params(("org_id" = OrgId, Path), ("id" = DocumentId, Path)), request_body = AccessRequest,
    responses((status = 200, body = Access)))]
pub async fn access(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, id)): ApiPath<(OrgId, DocumentId)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Access>> {
    // No body: the current version.
    let wanted = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<AccessRequest>(&body)
            .map_err(|e| {
                crate::error::ApiError::Invalid(strive_domain::ValidationError::single(
                    "body",
                    e.to_string(),
                ))
            })?
            .version
    };
    let st = state.clone();
    let grant = guard::mutate(
        &state,
        &caller,
        org,
        Action::ViewDocuments,
        || Ok(wanted),
        move |tx, ctx, wanted| {
            Box::pin(async move {
                let v = docs::version(tx, ctx.org, id, wanted).await?;
                let key = st.kms().data_key(tx, ctx.org, v.id).await?;
                let ttl = st.config().documents.signed_url_ttl.as_secs() as i64;
                let expires_at = chrono::Utc::now().timestamp() + ttl;
                let url = crate::signed_url::sign(
                    st.kms().url_key(),
                    ctx.org,
                    v.id,
                    ctx.user,
                    expires_at,
                );
                let audit = Audit::new(
                    crate::db::activity::KEY_ACCESS,
                    "document",
                    id.0,
                    json!({ "version": v.version, "version_id": v.id }),
                );
                let grant = Access {
                    document_id: id,
                    version_id: v.id,
                    version: v.version,
                    url,
                    expires_at,
                    data_key: key.to_base64(),
                    sha256: v.sha256,
                    ciphertext_size: v.ciphertext_size,
                    file_size: v.file_size,
                    mime_type: v.mime_type,
                    original_name: v.original_name,
                };
                Ok((grant, vec![audit]))
            })
        },
    )
    .await?;
    Ok(Json(grant))
}

/// DRAFT -> SUBMITTED (a returned document is submitted again as a new version).
#[utoipa::path(post, path = "/v1/orgs/{org_id}/documents/{id}/submit", tag = "documents", security(("bearer" = [])),
    params(("org_id" = OrgId, Path), ("id" = DocumentId, Path)), responses((status = 200, body = Document),
    (status = 409, body = crate::error::ErrorBody)))]
pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, id)): ApiPath<(OrgId, DocumentId)>,
) -> ApiResult<Json<Outcome>> {
    Ok(Json(
        apply(
            &state,
            &caller,
            org,
            Mutation::SubmitDocument(Delete { id }),
        )
        .await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    pub decision: ReviewDecision,
    /// Required to return a document: what to fix.
    #[serde(default)]
    pub note: Option<String>,
}

/// SUBMITTED -> APPROVED or RETURNED (with a note). Reviewers only (owners and admins).
#[utoipa::path(post, path = "/v1/orgs/{org_id}/documents/{id}/review", tag = "documents", security(("bearer" = [])),
    params(("org_id" = OrgId, Path), ("id" = DocumentId, Path)), request_body = ReviewBody,
    responses((status = 200, body = Document), (status = 409, body = crate::error::ErrorBody)))]
pub async fn review(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, id)): ApiPath<(OrgId, DocumentId)>,
    ApiJson(b): ApiJson<ReviewBody>,
) -> ApiResult<Json<Outcome>> {
    let m = Mutation::ReviewDocument(ReviewDocument {
        id,
        decision: b.decision,
        note: b.note,
    });
    Ok(Json(apply(&state, &caller, org, m).await?))
}

/// Submitted documents across the organization's loops, oldest submission first.
#[utoipa::path(get, path = "/v1/orgs/{org_id}/review-queue", tag = "documents", security(("bearer" = [])),
    params(("org_id" = OrgId, Path)), responses((status = 200, body = Vec<ReviewItem>)))]
pub async fn queue(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<OrgId>,
) -> ApiResult<Json<Vec<ReviewItem>>> {
    let q = guard::read(&state, &caller, org, Action::ReviewDocument, |tx, ctx| {
        Box::pin(docs::review_queue(tx, ctx.org))
    })
    .await?;
    Ok(Json(q))
}
