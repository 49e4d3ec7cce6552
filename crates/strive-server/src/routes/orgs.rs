//! Organizations, members and tiers.

use crate::db::{self, orgs};
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath};
use crate::guard::{self, ensure_profile, Audit, Caller};
use crate::tenants::index;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::json;
use strive_domain::entities::{Member, Membership, Organization};
use strive_domain::mutations::members::{AddMember, ChangeRole, CreateOrganization, SetTier};
use strive_domain::permissions::Action;
use strive_domain::rules::check_role_change;
use strive_domain::{OrgId, OrgRole, UserId};

#[utoipa::path(get, path = "/v1/orgs", tag = "organizations", security(("bearer" = [])),
    responses((status = 200, body = Vec<Membership>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<Membership>>> {
    let mut tx = db::begin_personal(state.pool(), caller.user).await?;
    ensure_profile(&mut tx, caller.user).await?;
    let list = orgs::memberships(&mut tx, caller.user).await?;
    tx.commit().await?;
    Ok(Json(list))
}

/// Creates an organization; the creator becomes its OWNER and it starts on STARTER.
#[utoipa::path(post, path = "/v1/orgs", tag = "organizations", security(("bearer" = [])),
    request_body = CreateOrganization,
    responses((status = 201, body = Organization), (status = 409, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(mut body): ApiJson<CreateOrganization>,
) -> ApiResult<(StatusCode, Json<Organization>)> {
    let id = *body.id.get_or_insert_with(OrgId::new);
    let org = guard::mutate(
        &state,
        &caller,
        id,
        Action::CreateOrganization,
        || body.validate(),
        |tx, ctx, o| {
            Box::pin(async move {
                let org = orgs::create(tx, ctx.user, &o).await?;
                let audit = Audit::new("created", "organization", org.id.0, &org);
                Ok((org, vec![audit]))
            })
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(org)))
}

#[utoipa::path(get, path = "/v1/orgs/{org_id}/members", tag = "organizations", security(("bearer" = [])),
    params(("org_id" = OrgId, Path)), responses((status = 200, body = Vec<Member>)))]
pub async fn members(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<OrgId>,
) -> ApiResult<Json<Vec<Member>>> {
    let list = guard::read(&state, &caller, org, Action::ViewMembers, |tx, ctx| {
        Box::pin(orgs::members(tx, ctx.org))
    })
    .await?;
    Ok(Json(list))
}

/// Adds an existing account by email. Nobody can grant a role above their own.
#[utoipa::path(post, path = "/v1/orgs/{org_id}/members", tag = "organizations", security(("bearer" = [])),
    params(("org_id" = OrgId, Path)), request_body = AddMember,
    responses((status = 201, body = Member), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
pub async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<OrgId>,
    ApiJson(body): ApiJson<AddMember>,
) -> ApiResult<(StatusCode, Json<Member>)> {
    let control = state.pool().clone();
    let member = guard::mutate(
        &state,
        &caller,
        org,
        Action::InviteMember,
        || body.validate(),
        |tx, ctx, m| {
            Box::pin(async move {
                check_role_change(ctx.global, actor_role(ctx), None, Some(m.role), 1)?;
                // The person's profile lives in the control database; the organization's
                // database gets a copy, which its rows reference.
                let mut ctl = control.acquire().await?;
                let user = orgs::user_by_email(&mut ctl, m.email.as_str()).await?;
                let profile = orgs::profile(&mut ctl, user).await?;
                drop(ctl);
                orgs::copy_profile(tx, &profile).await?;
                orgs::add_member(tx, ctx.org, user, m.role).await?;
                let member = orgs::member(tx, ctx.org, user).await?;
                let audit = Audit::new("added_member", "member", user.0, json!({ "role": m.role }));
                Ok((member, vec![audit]))
            })
        },
    )
    .await?;
    index::refresh_after_change(state.tenants(), org).await;
    Ok((StatusCode::CREATED, Json(member)))
}

#[utoipa::path(patch, path = "/v1/orgs/{org_id}/members/{user_id}", tag = "organizations",
    security(("bearer" = [])), params(("org_id" = OrgId, Path), ("user_id" = UserId, Path)),
    request_body = ChangeRole, responses((status = 200, body = Member)))]
pub async fn change_role(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, user)): ApiPath<(OrgId, UserId)>,
    ApiJson(body): ApiJson<ChangeRole>,
) -> ApiResult<Json<Member>> {
    let member = guard::mutate(
        &state,
        &caller,
        org,
        Action::ChangeMemberRole,
        || Ok(body.role),
        move |tx, ctx, role| {
            Box::pin(async move {
                let target = orgs::member(tx, ctx.org, user).await?;
                let others = orgs::other_owners(tx, ctx.org, user).await?;
                let after = others + usize::from(role == OrgRole::Owner);
                check_role_change(
                    ctx.global,
                    actor_role(ctx),
                    Some(target.role),
                    Some(role),
                    after,
                )?;
                orgs::set_role(tx, ctx.org, user, role).await?;
                let member = orgs::member(tx, ctx.org, user).await?;
                let audit = Audit::new("changed_role", "member", user.0, json!({ "role": role }));
                Ok((member, vec![audit]))
            })
        },
    )
    .await?;
    index::refresh_after_change(state.tenants(), org).await;
    Ok(Json(member))
}

#[utoipa::path(delete, path = "/v1/orgs/{org_id}/members/{user_id}", tag = "organizations",
    security(("bearer" = [])), params(("org_id" = OrgId, Path), ("user_id" = UserId, Path)),
    responses((status = 204)))]
pub async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, user)): ApiPath<(OrgId, UserId)>,
) -> ApiResult<StatusCode> {
    guard::mutate(
        &state,
        &caller,
        org,
        Action::RemoveMember,
        || Ok(()),
        move |tx, ctx, ()| {
            Box::pin(async move {
                let target = orgs::member(tx, ctx.org, user).await?;
                let others = orgs::other_owners(tx, ctx.org, user).await?;
                check_role_change(ctx.global, actor_role(ctx), Some(target.role), None, others)?;
                orgs::remove_member(tx, ctx.org, user).await?;
                Ok((
                    (),
                    vec![Audit::new("removed_member", "member", user.0, json!({}))],
                ))
            })
        },
    )
    .await?;
    index::refresh_after_change(state.tenants(), org).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Platform administration: change an organization's tier (no payments involved).
#[utoipa::path(put, path = "/v1/admin/orgs/{org_id}/tier", tag = "admin", security(("bearer" = [])),
    params(("org_id" = OrgId, Path)), request_body = SetTier, responses((status = 204)))]
pub async fn set_tier(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<OrgId>,
    ApiJson(body): ApiJson<SetTier>,
) -> ApiResult<StatusCode> {
    guard::mutate(
        &state,
        &caller,
        org,
        Action::SetTier,
        || Ok(body.tier),
        |tx, ctx, tier| {
            Box::pin(async move {
                orgs::set_tier(tx, ctx.org, tier).await?;
                Ok((
                    (),
                    vec![Audit::new(
                        "set_tier",
                        "organization",
                        ctx.org.0,
                        json!({ "tier": tier }),
                    )],
                ))
            })
        },
    )
    .await?;
    index::refresh_after_change(state.tenants(), org).await;
    Ok(StatusCode::NO_CONTENT)
}

fn actor_role(ctx: &guard::Ctx) -> OrgRole {
    ctx.org_role.unwrap_or(OrgRole::Viewer)
}
