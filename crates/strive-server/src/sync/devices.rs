//! Devices' sync state for admins, and asking devices to sync.

use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath};
use crate::guard::{self, Audit, Caller};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use strive_domain::entities::DeviceState;
use strive_domain::permissions::Action;
use strive_domain::{DeviceId, OrgId};

/// `GET /v1/orgs/{org}/devices`: every device of the organization's members.
#[utoipa::path(get, path = "/v1/orgs/{org_id}/devices", tag = "sync", security(("bearer" = [])),
    params(("org_id" = OrgId, Path)), responses((status = 200, body = Vec<DeviceState>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<OrgId>,
) -> ApiResult<Json<Vec<DeviceState>>> {
    let rows = guard::read(&state, &caller, org, Action::ViewDevices, |tx, ctx| {
        Box::pin(async move {
            Ok(sqlx::query_as(
                "SELECT d.id AS device_id, d.name, d.platform, u.id AS user_id, u.name AS user_name,
                        d.last_seen_at, coalesce(s.last_pulled_seq, 0) AS last_pulled_seq,
                        greatest(coalesce((SELECT last_seq FROM sync_counters c
                                            WHERE c.organization_id = m.organization_id), 0)
                                 - coalesce(s.last_pulled_seq, 0), 0) AS behind,
                        s.last_pull_at, s.last_push_at, coalesce(s.pending_count, 0) AS pending_count,
                        coalesce(s.full_resync_requested, false) AS full_resync_requested
                   FROM organization_members m
                   JOIN users u ON u.id = m.user_id
                   JOIN devices d ON d.identity_id = m.user_id
                   LEFT JOIN device_sync_state s
                          ON s.organization_id = m.organization_id AND s.device_id = d.id
                  WHERE m.organization_id = $1
                  ORDER BY u.name, d.name, d.id",
            )
            .bind(ctx.org)
            .fetch_all(&mut *tx)
            .await?)
        })
    })
    .await?;
    Ok(Json(rows))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    /// Ask for a full re-sync (the device drops its copy and pulls everything again).
    #[serde(default)]
    pub full: bool,
    /// One device; all of the organization's devices when absent.
    #[serde(default)]
    pub device_id: Option<DeviceId>,
}

/// `POST /v1/orgs/{org}/sync/request`: ask one device or every online device to sync now.
#[utoipa::path(post, path = "/v1/orgs/{org_id}/sync/request", tag = "sync", security(("bearer" = [])),
    params(("org_id" = OrgId, Path)), request_body = SyncRequest, responses((status = 202)))]
pub async fn request(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<OrgId>,
    ApiJson(body): ApiJson<SyncRequest>,
) -> ApiResult<StatusCode> {
    guard::mutate(&state, &caller, org, Action::RequestSync, || Ok(body), |tx, ctx, b| {
        Box::pin(async move {
            if b.full {
                sqlx::query(
                    "INSERT INTO device_sync_state (organization_id, device_id, full_resync_requested)
                     SELECT m.organization_id, d.id, true
                       FROM organization_members m JOIN devices d ON d.identity_id = m.user_id
                      WHERE m.organization_id = $1 AND ($2::uuid IS NULL OR d.id = $2)
                     ON CONFLICT (organization_id, device_id)
                     DO UPDATE SET full_resync_requested = true, updated_at = now()",
                )
                .bind(ctx.org)
                .bind(b.device_id)
                .execute(&mut *tx)
                .await?;
            }
            let payload = json!({ "organization_id": ctx.org, "device_id": b.device_id, "full": b.full });
            sqlx::query("SELECT pg_notify('strive_commands', $1)")
                .bind(payload.to_string())
                .execute(&mut *tx)
                .await?;
            let target = b.device_id.map(|d| d.0).unwrap_or(ctx.org.0);
            let audit = Audit::new("requested_sync", "device", target, &payload);
            Ok(((), vec![audit]))
        })
    })
    .await?;
    Ok(StatusCode::ACCEPTED)
}

/// Records what a pulling device already has; answers whether an admin asked it to start over.
/// Pulling from 0 is starting over, which clears the request.
pub async fn record_pull(
    conn: &mut sqlx::PgConnection,
    org: OrgId,
    device: DeviceId,
    after: i64,
) -> ApiResult<bool> {
    let full: bool = sqlx::query_scalar(
        "INSERT INTO device_sync_state (organization_id, device_id, last_pulled_seq, last_pull_at)
         VALUES ($1, $2, $3, now())
         ON CONFLICT (organization_id, device_id) DO UPDATE
           SET last_pulled_seq = $3, last_pull_at = now(), updated_at = now(),
               full_resync_requested = device_sync_state.full_resync_requested AND $3 > 0
         RETURNING full_resync_requested",
    )
    .bind(org)
    .bind(device)
    .bind(after)
    .fetch_one(conn)
    .await?;
    Ok(full)
}
