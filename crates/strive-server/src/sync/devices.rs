//! Devices' sync state for admins, and asking devices to sync.

use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath};
use crate::guard::{self, Audit, Caller};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use sqlx::PgPool;
use std::collections::HashMap;
use strive_domain::entities::DeviceState;
use strive_domain::permissions::Action;
use strive_domain::{DeviceId, OrgId, UserId};
use uuid::Uuid;

/// What the organization's database knows of one device's sync.
#[derive(sqlx::FromRow)]
struct SyncRow {
    device_id: DeviceId,
    last_pulled_seq: i64,
    last_pull_at: Option<DateTime<Utc>>,
    last_push_at: Option<DateTime<Utc>>,
    pending_count: i32,
    full_resync_requested: bool,
}

/// `GET /v1/orgs/{org}/devices`: every device of the organization's members. Members and sync
/// state come from the organization's database, devices from the control database: two
/// queries, however many members and devices.
#[utoipa::path(get, path = "/v1/orgs/{org_id}/devices", tag = "sync", security(("bearer" = [])),
    params(("org_id" = OrgId, Path)), responses((status = 200, body = Vec<DeviceState>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<OrgId>,
) -> ApiResult<Json<Vec<DeviceState>>> {
    let (members, syncs, last_seq) = guard::read(&state, &caller, org, Action::ViewDevices, |tx, ctx| {
        Box::pin(async move {
            let members: Vec<(Uuid, String)> = sqlx::query_as(
                "SELECT m.user_id, u.name FROM organization_members m JOIN users u ON u.id = m.user_id
                  WHERE m.organization_id = $1",
            )
            .bind(ctx.org)
            .fetch_all(&mut *tx)
            .await?;
            let syncs: Vec<SyncRow> = sqlx::query_as(
                "SELECT device_id, last_pulled_seq, last_pull_at, last_push_at, pending_count,
                        full_resync_requested
                   FROM device_sync_state WHERE organization_id = $1",
            )
            .bind(ctx.org)
            .fetch_all(&mut *tx)
            .await?;
            let last: i64 = sqlx::query_scalar(
                "SELECT coalesce((SELECT last_seq FROM sync_counters WHERE organization_id = $1), 0)",
            )
            .bind(ctx.org)
            .fetch_one(&mut *tx)
            .await?;
            Ok((members, syncs, last))
        })
    })
    .await?;
    let users: Vec<Uuid> = members.iter().map(|(u, _)| *u).collect();
    let devices = devices_of(state.pool(), &users).await?;
    let names: HashMap<Uuid, String> = members.into_iter().collect();
    let mut syncs: HashMap<DeviceId, SyncRow> =
        syncs.into_iter().map(|s| (s.device_id, s)).collect();
    let mut rows: Vec<DeviceState> = devices
        .into_iter()
        .map(|d| {
            let s = syncs.remove(&d.id);
            let pulled = s.as_ref().map_or(0, |s| s.last_pulled_seq);
            DeviceState {
                device_id: d.id,
                name: d.name,
                platform: d.platform,
                user_id: UserId(d.identity_id),
                user_name: names.get(&d.identity_id).cloned().unwrap_or_default(),
                last_seen_at: d.last_seen_at,
                last_pulled_seq: pulled,
                behind: (last_seq - pulled).max(0),
                last_pull_at: s.as_ref().and_then(|s| s.last_pull_at),
                last_push_at: s.as_ref().and_then(|s| s.last_push_at),
                pending_count: s.as_ref().map_or(0, |s| s.pending_count),
                full_resync_requested: s.is_some_and(|s| s.full_resync_requested),
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        (&a.user_name, &a.name, a.device_id.0).cmp(&(&b.user_name, &b.name, b.device_id.0))
    });
    Ok(Json(rows))
}

#[derive(sqlx::FromRow)]
struct Device {
    id: DeviceId,
    identity_id: Uuid,
    name: String,
    platform: String,
    last_seen_at: DateTime<Utc>,
}

/// The devices of these people, from the control database (devices are not tenant data).
async fn devices_of(control: &PgPool, users: &[Uuid]) -> ApiResult<Vec<Device>> {
    Ok(sqlx::query_as(
        "SELECT id, identity_id, name, platform, last_seen_at FROM devices
          WHERE identity_id = ANY($1)",
    )
    .bind(users)
    .fetch_all(control)
    .await?)
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
    let control = state.pool().clone();
    guard::mutate(&state, &caller, org, Action::RequestSync, || Ok(body), |tx, ctx, b| {
        Box::pin(async move {
            if b.full {
                let members: Vec<Uuid> = sqlx::query_scalar(
                    "SELECT user_id FROM organization_members WHERE organization_id = $1",
                )
                .bind(ctx.org)
                .fetch_all(&mut *tx)
                .await?;
                let devices: Vec<Uuid> = devices_of(&control, &members)
                    .await?
                    .into_iter()
                    .map(|d| d.id.0)
                    .filter(|d| b.device_id.is_none_or(|only| only.0 == *d))
                    .collect();
                sqlx::query(
                    "INSERT INTO device_sync_state (organization_id, device_id, full_resync_requested)
                     SELECT $1, d, true FROM unnest($2::uuid[]) AS d
                     ON CONFLICT (organization_id, device_id)
                     DO UPDATE SET full_resync_requested = true, updated_at = now()",
                )
                .bind(ctx.org)
                .bind(&devices)
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
