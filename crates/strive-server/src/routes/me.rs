//! The signed-in person: profile (created on first sight) and organizations.

use crate::db::{self, orgs};
use crate::error::{ApiError, ApiResult};
use crate::guard::{ensure_profile, Caller};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use strive_domain::entities::{Membership, User};

#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    pub user: User,
    pub organizations: Vec<Membership>,
    /// Set when the person belongs to no organization yet: what to do next.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub onboarding: Option<String>,
}

#[utoipa::path(get, path = "/v1/me", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = crate::error::ErrorBody)))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Me>> {
    let mut tx = db::begin_personal(state.pool(), caller.user).await?;
    ensure_profile(&mut tx, caller.user).await?;
    let user: User =
        sqlx::query_as("SELECT id, email, name, role, created_at FROM users WHERE id = $1")
            .bind(caller.user)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| ApiError::Unauthorized("This account no longer exists".into()))?;
    let organizations = orgs::memberships(&mut tx, caller.user).await?;
    tx.commit().await?;
    let onboarding = organizations
        .is_empty()
        .then(|| ApiError::NeedsOrganization.to_string());
    Ok(Json(Me {
        user,
        organizations,
        onboarding,
    }))
}
