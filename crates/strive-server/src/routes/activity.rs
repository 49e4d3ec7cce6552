//! The organization's recent activity, newest first (the platform's Pattern 5 initial load).

use crate::db::activity;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ApiQuery};
use crate::guard::{self, Caller};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use strive_domain::entities::ActivityItem;
use strive_domain::permissions::Action;
use strive_domain::{OrgId, ValidationError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityQuery {
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/v1/orgs/{org_id}/activity", tag = "activity", security(("bearer" = [])),
    params(("org_id" = OrgId, Path), ("limit" = Option<i64>, Query, description = "1-200, default 50")),
    responses((status = 200, body = Vec<ActivityItem>)))]
pub async fn recent(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<OrgId>,
    ApiQuery(q): ApiQuery<ActivityQuery>,
) -> ApiResult<Json<Vec<ActivityItem>>> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::Invalid(ValidationError::single(
            "limit",
            "must be between 1 and 200",
        )));
    }
    let items = guard::read(
        &state,
        &caller,
        org,
        Action::ViewActivity,
        move |tx, ctx| Box::pin(activity::recent(tx, ctx.org, limit)),
    )
    .await?;
    Ok(Json(items))
}
