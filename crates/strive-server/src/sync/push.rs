//! `POST /v1/orgs/{org}/sync/push`: a device's queued mutations, in its own order. Each runs
//! through the same guarded pipeline as the REST routes, in its own transaction, which also
//! records `(device, client_seq)` so a replay is a no-op answering what the first run answered.

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::guard::{self, Caller};
use crate::mutations;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use strive_domain::mutations::Mutation;
use strive_domain::permissions::Action;
use strive_domain::{DeviceId, OrgId, ValidationError};

pub const MAX_BATCH: usize = 1000;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    pub mutations: Vec<PushItem>,
    /// How many mutations the device still has queued after this batch (for admins' view).
    #[serde(default)]
    pub pending: Option<i64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushItem {
    /// The device's own sequence number for this mutation, increasing from 1.
    pub client_seq: i64,
    /// `{"type": "createContact", "args": {...}}`; parsed one by one, so one malformed
    /// mutation is rejected alone.
    #[schema(value_type = Object)]
    pub mutation: Value,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PushResult {
    Applied {
        client_seq: i64,
        #[schema(value_type = Object)]
        result: Value,
    },
    Rejected {
        client_seq: i64,
        code: String,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<Object>)]
        fields: Option<Value>,
    },
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PushResponse {
    pub results: Vec<PushResult>,
}

/// Applies a device's queued mutations in order; each answers `applied` or `rejected`.
#[utoipa::path(post, path = "/v1/orgs/{org_id}/sync/push", tag = "sync", security(("bearer" = [])),
    params(("org_id" = OrgId, Path)), request_body = PushRequest,
    responses((status = 200, body = PushResponse), (status = 400, body = crate::error::ErrorBody)))]
pub async fn push(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<OrgId>,
    ApiJson(body): ApiJson<PushRequest>,
) -> ApiResult<Json<PushResponse>> {
    if body.mutations.len() > MAX_BATCH {
        return Err(ApiError::Invalid(ValidationError::single(
            "mutations",
            format!(
                "at most {MAX_BATCH} mutations per push ({} sent)",
                body.mutations.len()
            ),
        )));
    }
    // Membership first (a stranger learns nothing), then the device session.
    guard::authorize(&state, &caller, org, Action::Sync).await?;
    let device = caller.device.ok_or_else(|| {
        ApiError::BadRequest("Pushing needs a device session: sign in with a device id".into())
    })?;
    let seqs: Vec<i64> = body.mutations.iter().map(|m| m.client_seq).collect();
    let mut prior = already_applied(&state, &caller, org, device, &seqs).await?;
    let mut results = Vec::with_capacity(body.mutations.len());
    for item in body.mutations {
        if let Some(previous) = prior.remove(&item.client_seq) {
            results.push(previous);
            continue;
        }
        let result = run_one(&state, &caller, org, device, item).await?;
        results.push(result);
    }
    record_push(&state, &caller, org, device, body.pending).await?;
    Ok(Json(PushResponse { results }))
}

/// The recorded answers for those of `seqs` this device already pushed: one query per batch.
async fn already_applied(
    state: &AppState,
    caller: &Caller,
    org: OrgId,
    device: DeviceId,
    seqs: &[i64],
) -> ApiResult<HashMap<i64, PushResult>> {
    let seqs = seqs.to_vec();
    guard::read(state, caller, org, Action::Sync, move |tx, ctx| {
        Box::pin(async move {
            let rows: Vec<(i64, Value)> = sqlx::query_as(
                "SELECT client_seq, outcome FROM applied_mutations
                  WHERE organization_id = $1 AND device_id = $2 AND client_seq = ANY($3)",
            )
            .bind(ctx.org)
            .bind(device)
            .bind(&seqs)
            .fetch_all(&mut *tx)
            .await?;
            Ok(rows
                .into_iter()
                .filter_map(|(seq, v)| serde_json::from_value(v).ok().map(|r| (seq, r)))
                .collect())
        })
    })
    .await
}

async fn run_one(
    state: &AppState,
    caller: &Caller,
    org: OrgId,
    device: DeviceId,
    item: PushItem,
) -> ApiResult<PushResult> {
    let seq = item.client_seq;
    let outcome = match serde_json::from_value::<Mutation>(item.mutation) {
        Ok(m) => mutations::apply_for_device(state, caller, org, device, seq, m).await,
        Err(e) => Err(ApiError::Invalid(ValidationError::single(
            "mutation",
            e.to_string(),
        ))),
    };
    match outcome {
        Ok(result) => Ok(result),
        // Our fault or a moment's pause (the organization is moving), not the mutation's: stop
        // here; the device retries this one later.
        Err(e) if e.is_retryable() => Err(e),
        Err(e) => {
            // A retry racing the first attempt (or a repeated client_seq) fails on what the
            // first one wrote: answer what the first one answered.
            if let Some(first) = already_applied(state, caller, org, device, &[seq])
                .await?
                .remove(&seq)
            {
                return Ok(first);
            }
            let rejected = rejection(seq, &e);
            record_rejection(state, caller, org, device, &rejected).await;
            Ok(rejected)
        }
    }
}

fn rejection(client_seq: i64, e: &ApiError) -> PushResult {
    let (_, code) = e.status_and_code();
    PushResult::Rejected {
        client_seq,
        code: code.to_string(),
        message: e.to_string(),
        fields: match e {
            ApiError::Invalid(v) => serde_json::to_value(&v.fields).ok(),
            _ => None,
        },
    }
}

/// Remembers a rejection so a replay answers the same. Best effort: if even that is refused
/// (say the organization lost its tier), the replay is simply judged again.
async fn record_rejection(
    state: &AppState,
    caller: &Caller,
    org: OrgId,
    device: DeviceId,
    r: &PushResult,
) {
    let PushResult::Rejected { client_seq, .. } = r else {
        return;
    };
    let (seq, outcome) = (*client_seq, serde_json::to_value(r).unwrap_or(Value::Null));
    let recorded = guard::read(state, caller, org, Action::Sync, move |tx, ctx| {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO applied_mutations (organization_id, device_id, client_seq, mutation_type, outcome)
                 VALUES ($1, $2, $3, 'rejected', $4) ON CONFLICT DO NOTHING",
            )
            .bind(ctx.org)
            .bind(device)
            .bind(seq)
            .bind(outcome)
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    })
    .await;
    if let Err(e) = recorded {
        tracing::debug!(error = %e, "could not record a rejected mutation");
    }
}

async fn record_push(
    state: &AppState,
    caller: &Caller,
    org: OrgId,
    device: DeviceId,
    pending: Option<i64>,
) -> ApiResult<()> {
    guard::read(state, caller, org, Action::Sync, move |tx, ctx| {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO device_sync_state (organization_id, device_id, last_push_at, pending_count)
                 VALUES ($1, $2, now(), coalesce($3, 0))
                 ON CONFLICT (organization_id, device_id) DO UPDATE
                   SET last_push_at = now(), pending_count = coalesce($3, device_sync_state.pending_count),
                       updated_at = now()",
            )
            .bind(ctx.org)
            .bind(device)
            .bind(pending.map(|p| p.clamp(0, i32::MAX as i64) as i32))
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    })
    .await
}
