//! Contacts: CRUD, filtered listing, bulk assign, and the CRM dashboard.

use crate::db::contacts::{self, ContactFilter};
use crate::db::{dashboard, page::Page};
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::guard::{self, Caller};
use crate::mutations::{apply, Outcome};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use strive_domain::entities::{Contact, Dashboard};
use strive_domain::mutations::contacts::{BulkAssignContacts, ContactChanges, CreateContact};
use strive_domain::mutations::{Delete, Mutation, Update};
use strive_domain::permissions::Action;
use strive_domain::{ContactId, OrgId};

#[utoipa::path(get, path = "/v1/orgs/{org_id}/contacts", tag = "contacts", security(("bearer" = [])),
    params(("org_id" = OrgId, Path), ("status" = Option<String>, Query), ("assignee" = Option<String>, Query),
           ("q" = Option<String>, Query), ("sort" = Option<String>, Query), ("limit" = Option<i64>, Query),
           ("cursor" = Option<String>, Query)),
    responses((status = 200, body = Page<Contact>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<OrgId>,
    ApiQuery(filter): ApiQuery<ContactFilter>,
) -> ApiResult<Json<Page<Contact>>> {
    let page = guard::read(&state, &caller, org, Action::ViewCrm, |tx, ctx| {
        Box::pin(contacts::list(tx, ctx.org, filter))
    })
    .await?;
    Ok(Json(page))
}

#[utoipa::path(get, path = "/v1/orgs/{org_id}/contacts/{id}", tag = "contacts", security(("bearer" = [])),
    params(("org_id" = OrgId, Path), ("id" = ContactId, Path)),
    responses((status = 200, body = Contact), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, id)): ApiPath<(OrgId, ContactId)>,
) -> ApiResult<Json<Contact>> {
    let c = guard::read(&state, &caller, org, Action::ViewCrm, move |tx, ctx| {
        Box::pin(contacts::get(tx, ctx.org, id))
    })
    .await?;
    Ok(Json(c))
}

#[utoipa::path(post, path = "/v1/orgs/{org_id}/contacts", tag = "contacts", security(("bearer" = [])),
    params(("org_id" = OrgId, Path)), request_body = CreateContact,
    responses((status = 201, body = Contact), (status = 403, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<OrgId>,
    ApiJson(body): ApiJson<CreateContact>,
) -> ApiResult<(StatusCode, Json<Outcome>)> {
    let out = apply(&state, &caller, org, Mutation::CreateContact(body)).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

#[utoipa::path(patch, path = "/v1/orgs/{org_id}/contacts/{id}", tag = "contacts", security(("bearer" = [])),
    params(("org_id" = OrgId, Path), ("id" = ContactId, Path)), request_body = ContactChanges,
    responses((status = 200, body = Contact), (status = 404, body = crate::error::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, id)): ApiPath<(OrgId, ContactId)>,
    ApiJson(changes): ApiJson<ContactChanges>,
) -> ApiResult<Json<Outcome>> {
    let m = Mutation::UpdateContact(Update {
        id,
        changes,
        base_seq: None,
    });
    Ok(Json(apply(&state, &caller, org, m).await?))
}

#[utoipa::path(delete, path = "/v1/orgs/{org_id}/contacts/{id}", tag = "contacts", security(("bearer" = [])),
    params(("org_id" = OrgId, Path), ("id" = ContactId, Path)), responses((status = 200)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, id)): ApiPath<(OrgId, ContactId)>,
) -> ApiResult<Json<Outcome>> {
    Ok(Json(
        apply(&state, &caller, org, Mutation::DeleteContact(Delete { id })).await?,
    ))
}

/// Assigns up to 100 contacts to one member: all or nothing.
#[utoipa::path(post, path = "/v1/orgs/{org_id}/contacts/bulk-assign", tag = "contacts",
    security(("bearer" = [])), params(("org_id" = OrgId, Path)), request_body = BulkAssignContacts,
    responses((status = 200, description = "{\"updated\": n}"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn bulk_assign(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<OrgId>,
    ApiJson(body): ApiJson<BulkAssignContacts>,
) -> ApiResult<Json<Outcome>> {
    Ok(Json(
        apply(&state, &caller, org, Mutation::BulkAssignContacts(body)).await?,
    ))
}

#[utoipa::path(get, path = "/v1/orgs/{org_id}/dashboard", tag = "contacts", security(("bearer" = [])),
    params(("org_id" = OrgId, Path)), responses((status = 200, body = Dashboard)))]
pub async fn dashboard(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<OrgId>,
) -> ApiResult<Json<Dashboard>> {
    let (auth, tx) = guard::authorize(&state, &caller, org, Action::ViewDashboard).await?;
    tx.commit().await?;
    Ok(Json(dashboard::load(&auth).await?))
}
