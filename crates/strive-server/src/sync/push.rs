//! `POST /v1/orgs/{org}/sync/push`: a device's queued mutations, in its own order. Each runs
//! through the same guarded pipeline as the REST routes (checks, validation, effect, audit), all
//! or nothing in its own savepoint, and its answer is recorded under `(device, client_seq)` so a
//! replay is a no-op answering what the first run answered. The mutations go in groups of
//! [`guard::OPTIMISTIC_GROUP`], a transaction each, checked when it begins (see [`guard::Batch`]); a
//! group's audit rows and replay records are written in one statement, so a batch costs a few
//! commits and statements rather than several per mutation.

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::guard::{self, Caller};
use crate::mutations;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
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
    let mut batch = guard::batch(&state, &caller, org, Action::Sync).await?;
    let device = caller.device.ok_or_else(|| {
        ApiError::BadRequest("Pushing needs a device session: sign in with a device id".into())
    })?;
    let mut results: Vec<PushResult> = Vec::with_capacity(body.mutations.len());
    // A client_seq sent twice in one batch answers what its first run answered.
    let mut answered: HashMap<i64, usize> = HashMap::new();
    for (i, group) in body.mutations.chunks(guard::OPTIMISTIC_GROUP).enumerate() {
        if i > 0 {
            batch.next_group().await?;
        }
        let done = results.len();
        let mut outcome = run_group(&mut batch, device, group, &mut results, &mut answered).await;
        if matches!(outcome, Ok(false)) {
            // A write failed outside a savepoint: the group again, each write in its own, in
            // transactions small enough for their savepoints.
            results.truncate(done);
            answered.retain(|_, at| *at < done);
            for (j, part) in group.chunks(guard::BATCH_GROUP).enumerate() {
                if j == 0 {
                    batch.retry_group_carefully().await?;
                } else {
                    batch.next_group_carefully().await?;
                }
                outcome = run_group(&mut batch, device, part, &mut results, &mut answered).await;
                if matches!(outcome, Ok(false)) {
                    outcome = Err(ApiError::Internal(anyhow::anyhow!(
                        "a pushed group failed outside its writes' savepoints"
                    )));
                }
                if outcome.is_err() {
                    break;
                }
            }
        }
        if let Err(e) = outcome {
            // Our fault, not the mutations': keep what is done; the device retries the rest.
            batch.commit().await?;
            return Err(e);
        }
    }
    record_push(&mut batch, device, body.pending).await?;
    batch.commit().await?;
    Ok(Json(PushResponse { results }))
}

/// Runs one group's mutations, appending their answers; `false` when the group is spoiled.
async fn run_group(
    batch: &mut guard::Batch,
    device: DeviceId,
    group: &[PushItem],
    results: &mut Vec<PushResult>,
    answered: &mut HashMap<i64, usize>,
) -> ApiResult<bool> {
    let seqs = group.iter().map(|m| m.client_seq).collect();
    let mut prior = claim(batch, device, seqs).await?;
    let mut parsed: Vec<Option<ApiResult<Mutation>>> =
        group
            .iter()
            .map(|item| {
                Some(Mutation::deserialize(&item.mutation).map_err(|e| {
                    ApiError::Invalid(ValidationError::single("mutation", e.to_string()))
                }))
            })
            .collect();
    // Each mutation's kind, kept with a refusal too ("invalid" when it was no mutation).
    let actions: Vec<Option<Action>> = parsed
        .iter()
        .map(|m| match m {
            Some(Ok(m)) => Some(m.action()),
            _ => None,
        })
        .collect();
    let kind = |at: usize| actions[at].map_or_else(|| "invalid".to_string(), |a| a.name());
    let mut i = 0;
    while i < group.len() {
        let seq = group[i].client_seq;
        if let Some(&at) = answered.get(&seq) {
            results.push(results[at].clone());
            i += 1;
            continue;
        }
        if let Some(previous) = prior.remove(&seq) {
            answered.insert(seq, results.len());
            results.push(previous);
            i += 1;
            continue;
        }
        let run = if batch.is_optimistic() {
            run_from(group, &mut parsed, i, &prior, answered)
        } else {
            Vec::new()
        };
        if run.len() > 1 {
            let n = run.len();
            let Some(answers) = mutations::apply_run_for_device(batch, device, run).await? else {
                return Ok(false);
            };
            // A run is the group's mutations from `i` on, answered in their order.
            for (k, (seq, answer)) in answers.into_iter().enumerate() {
                let result = answer_or_rejection(batch, device, seq, || kind(i + k), answer)?;
                answered.insert(seq, results.len());
                results.push(result);
            }
            i += n;
            continue;
        }
        // One at a time (a run of one is put back).
        let mutation = match run.into_iter().next() {
            Some((_, m)) => Ok(m),
            None => parsed[i]
                .take()
                .unwrap_or_else(|| Err(ApiError::Internal(anyhow::anyhow!("mutation used twice")))),
        };
        let result = match mutation {
            Ok(m) => mutations::apply_for_device(batch, device, seq, m).await,
            Err(e) => Err(e),
        };
        if result.is_err() && batch.spoiled() {
            return Ok(false);
        }
        let result = answer_or_rejection(batch, device, seq, || kind(i), result)?;
        answered.insert(seq, results.len());
        results.push(result);
        i += 1;
    }
    Ok(true)
}

/// The mutations from `start` on that can be written together: consecutive, of one
/// [`mutations::RunKind`], and new (neither answered before nor repeated in the run). Taken out
/// of `parsed`.
fn run_from(
    group: &[PushItem],
    parsed: &mut [Option<ApiResult<Mutation>>],
    start: usize,
    prior: &HashMap<i64, PushResult>,
    answered: &HashMap<i64, usize>,
) -> Vec<(i64, Mutation)> {
    let mut seqs = HashSet::new();
    let mut kind = None;
    let mut run = Vec::new();
    for (item, slot) in group[start..].iter().zip(&mut parsed[start..]) {
        let seq = item.client_seq;
        let fresh = !prior.contains_key(&seq) && !answered.contains_key(&seq) && seqs.insert(seq);
        let Some(Ok(m)) = slot.as_ref() else { break };
        let Some(this) = mutations::run_kind(m) else {
            break;
        };
        if !fresh || *kind.get_or_insert(this) != this {
            break;
        }
        if let Some(Ok(m)) = slot.take() {
            run.push((seq, m));
        }
    }
    run
}

/// A mutation's answer: what it did, or why it was refused (remembered, so a replay answers
/// the same). Our fault or a moment's pause (the organization is moving) is not the mutation's:
/// that stops the push here, and the device retries this one later.
fn answer_or_rejection(
    batch: &mut guard::Batch,
    device: DeviceId,
    seq: i64,
    kind: impl FnOnce() -> String,
    answer: ApiResult<PushResult>,
) -> ApiResult<PushResult> {
    match answer {
        Ok(result) => Ok(result),
        Err(e) if e.is_retryable() => Err(e),
        Err(e) => {
            let rejected = rejection(seq, &e);
            let replay = guard::Replay {
                device,
                client_seq: seq,
                kind: kind(),
            };
            batch.record_rejection(
                replay,
                serde_json::to_value(&rejected).unwrap_or(Value::Null),
            );
            Ok(rejected)
        }
    }
}

/// Takes the device's push lock for the group's transaction (a retry arriving while the first
/// attempt still runs waits for it), then reads the recorded answers for those of `seqs` this
/// device already pushed: after the lock, so nothing is applied twice.
async fn claim(
    batch: &mut guard::Batch,
    device: DeviceId,
    seqs: Vec<i64>,
) -> ApiResult<HashMap<i64, PushResult>> {
    batch
        .read(move |tx, org| {
            Box::pin(async move {
                sqlx::query(
                    "SELECT pg_advisory_xact_lock(hashtextextended('strive.push:' || $1::text, 0))",
                )
                .bind(device)
                .execute(&mut *tx)
                .await?;
                // Devices number their mutations upwards, so a group usually starts after the
                // device's last record: one index probe says so.
                let last: Option<i64> = sqlx::query_scalar(
                    "SELECT max(client_seq) FROM applied_mutations
                      WHERE organization_id = $1 AND device_id = $2",
                )
                .bind(org)
                .bind(device)
                .fetch_one(&mut *tx)
                .await?;
                if last.is_none_or(|last| seqs.iter().all(|s| *s > last)) {
                    return Ok(HashMap::new());
                }
                let rows: Vec<(i64, Value)> = sqlx::query_as(
                    "SELECT client_seq, outcome FROM applied_mutations
                      WHERE organization_id = $1 AND device_id = $2 AND client_seq = ANY($3)",
                )
                .bind(org)
                .bind(device)
                .bind(&seqs)
                .fetch_all(&mut *tx)
                .await?;
                // A record that cannot be read still means "done": never run it again.
                Ok(rows
                    .into_iter()
                    .map(|(seq, v)| {
                        let answer = serde_json::from_value(v).unwrap_or(PushResult::Rejected {
                            client_seq: seq,
                            code: "unreadable_answer".into(),
                            message: "This change was handled before, but its answer can no \
                                      longer be read"
                                .into(),
                            fields: None,
                        });
                        (seq, answer)
                    })
                    .collect())
            })
        })
        .await
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

async fn record_push(
    batch: &mut guard::Batch,
    device: DeviceId,
    pending: Option<i64>,
) -> ApiResult<()> {
    batch
        .read(move |tx, org| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO device_sync_state (organization_id, device_id, last_push_at, pending_count)
                     VALUES ($1, $2, now(), coalesce($3, 0))
                     ON CONFLICT (organization_id, device_id) DO UPDATE
                       SET last_push_at = now(), pending_count = coalesce($3, device_sync_state.pending_count),
                           updated_at = now()",
                )
                .bind(org)
                .bind(device)
                .bind(pending.map(|p| p.clamp(0, i32::MAX as i64) as i32))
                .execute(&mut *tx)
                .await?;
                Ok(())
            })
        })
        .await
}
