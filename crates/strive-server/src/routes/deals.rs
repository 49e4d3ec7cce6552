//! Deals CRUD.

use crate::db::deals::{self, DealFilter};
use crate::db::page::Page;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::guard::{self, Caller};
use crate::mutations::{apply, Outcome};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use strive_domain::entities::Deal;
use strive_domain::mutations::deals::{CreateDeal, DealChanges};
use strive_domain::mutations::{Delete, Mutation, Update};
use strive_domain::permissions::Action;
use strive_domain::{DealId, OrgId};

#[utoipa::path(get, path = "/v1/orgs/{org_id}/deals", tag = "deals", security(("bearer" = [])),
    params(("org_id" = OrgId, Path), ("stage" = Option<String>, Query), ("limit" = Option<i64>, Query),
           ("cursor" = Option<String>, Query)),
    responses((status = 200, body = Page<Deal>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<OrgId>,
    ApiQuery(filter): ApiQuery<DealFilter>,
) -> ApiResult<Json<Page<Deal>>> {
    let page = guard::read(&state, &caller, org, Action::ViewCrm, |tx, ctx| {
        Box::pin(deals::list(tx, ctx.org, filter))
    })
    .await?;
    Ok(Json(page))
}

#[utoipa::path(get, path = "/v1/orgs/{org_id}/deals/{id}", tag = "deals", security(("bearer" = [])),
    params(("org_id" = OrgId, Path), ("id" = DealId, Path)), responses((status = 200, body = Deal)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, id)): ApiPath<(OrgId, DealId)>,
) -> ApiResult<Json<Deal>> {
    let d = guard::read(&state, &caller, org, Action::ViewCrm, move |tx, ctx| {
        Box::pin(deals::get(tx, ctx.org, id))
    })
    .await?;
    Ok(Json(d))
}

#[utoipa::path(post, path = "/v1/orgs/{org_id}/deals", tag = "deals", security(("bearer" = [])),
    params(("org_id" = OrgId, Path)), request_body = CreateDeal, responses((status = 201, body = Deal)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<OrgId>,
    ApiJson(body): ApiJson<CreateDeal>,
) -> ApiResult<(StatusCode, Json<Outcome>)> {
    let out = apply(&state, &caller, org, Mutation::CreateDeal(body)).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

#[utoipa::path(patch, path = "/v1/orgs/{org_id}/deals/{id}", tag = "deals", security(("bearer" = [])),
    params(("org_id" = OrgId, Path), ("id" = DealId, Path)), request_body = DealChanges,
    responses((status = 200, body = Deal)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, id)): ApiPath<(OrgId, DealId)>,
    ApiJson(changes): ApiJson<DealChanges>,
) -> ApiResult<Json<Outcome>> {
    Ok(Json(
        apply(
            &state,
            &caller,
            org,
            Mutation::UpdateDeal(Update {
                id,
                changes,
                base_seq: None,
            }),
        )
        .await?,
    ))
}

#[utoipa::path(delete, path = "/v1/orgs/{org_id}/deals/{id}", tag = "deals", security(("bearer" = [])),
    params(("org_id" = OrgId, Path), ("id" = DealId, Path)), responses((status = 200)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, id)): ApiPath<(OrgId, DealId)>,
) -> ApiResult<Json<Outcome>> {
    Ok(Json(
        apply(&state, &caller, org, Mutation::DeleteDeal(Delete { id })).await?,
    ))
}
