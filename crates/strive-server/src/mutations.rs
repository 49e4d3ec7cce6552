//! Runs a named mutation (from a REST route now, from a pushed sync batch later) through the
//! guarded pipeline: the one place where each mutation's effect and audit rows are defined.

use crate::db::{contacts, deals, documents as docs, loops, patch};
use crate::error::{ApiError, ApiResult};
use crate::guard::{self, Audit, Caller, Ctx};
use crate::sync::push::PushResult;
use crate::AppState;
use serde::Serialize;
use serde_json::json;
use sqlx::PgConnection;
use strive_domain::documents::{review, submit};
use strive_domain::entities::{Contact, Deal, Document, LoopWithTasks, Task, TransactionLoop};
use strive_domain::mutations::{Changes, Mutation, ValidMutation};
use strive_domain::rules::can_modify_loop;
use strive_domain::{DeviceId, OrgId, OrgRole, Valid};

/// What a mutation answers.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    Contact(Contact),
    Deal(Deal),
    Loop(Box<LoopWithTasks>),
    UpdatedLoop(TransactionLoop),
    Task(Task),
    Document(Box<Document>),
    Deleted { deleted: uuid::Uuid },
    Assigned { updated: usize },
}

pub async fn apply(
    state: &AppState,
    caller: &Caller,
    org: OrgId,
    m: Mutation,
) -> ApiResult<Outcome> {
    let action = m.action();
    let upload = uploaded_version(&m);
    let st = state.clone();
    let out = guard::mutate(
        state,
        caller,
        org,
        action,
        move || m.validate(),
        move |tx, ctx, valid| Box::pin(async move { execute(tx, ctx, &st, valid).await }),
    )
    .await?;
    if let Some(v) = upload {
        crate::uploads::discard_part(state, org, v).await;
    }
    Ok(out)
}

/// The upload a mutation records, whose part file goes once its rows committed.
fn uploaded_version(m: &Mutation) -> Option<strive_domain::VersionId> {
    match m {
        Mutation::UploadDocument(u) => Some(u.version_id),
        _ => None,
    }
}

/// Like [`apply`], for a mutation pushed by a device, as one write of its push's batch: the same
/// savepoint records `(device, client_seq)` and the answer, so a replay can answer the same
/// without running again.
pub async fn apply_for_device(
    batch: &mut guard::Batch,
    device: DeviceId,
    client_seq: i64,
    m: Mutation,
) -> ApiResult<PushResult> {
    let action = m.action();
    let replay = guard::Replay {
        device,
        client_seq,
        kind: action.name(),
    };
    let upload = uploaded_version(&m);
    // The conflict check of an update reads the audit log: this group's earlier writes of the
    // same row must be in it.
    if let Some(row) = conflict_checked_row(&m) {
        if batch.has_unwritten_audit(row) {
            batch.write_audits().await?;
        }
    }
    let st = batch.state().clone();
    let result = batch
        .mutate(
            action,
            Some(replay),
            move || m.validate(),
            move |tx, ctx, valid| {
                Box::pin(async move {
                    let (outcome, audits) = execute(tx, ctx, &st, valid).await?;
                    Ok((applied(client_seq, &outcome)?, audits))
                })
            },
        )
        .await?;
    if let Some(v) = upload {
        batch.discard_after_commit(v);
    }
    Ok(result)
}

/// A pushed mutation's answer once it is written: what it did.
fn applied(client_seq: i64, outcome: &Outcome) -> ApiResult<PushResult> {
    let result = serde_json::to_value(outcome).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(PushResult::Applied { client_seq, result })
}

/// Consecutive pushed mutations of one kind that can be written together (see
/// [`run_kind`]), from an optimistic group: what the pipeline would do one by one, in a
/// statement or two per run instead of a round trip or more each. Each is checked and validated
/// alone, and one that is refused answers its error and is left out. Answers in order; `None`
/// when a statement failed or missed a row, which spoils the group (it runs again one write at
/// a time, so each answers for itself).
pub async fn apply_run_for_device(
    batch: &mut guard::Batch,
    device: DeviceId,
    run: Vec<(i64, Mutation)>,
) -> ApiResult<Option<Vec<(i64, ApiResult<PushResult>)>>> {
    let mut answers: Vec<(i64, Option<ApiError>)> = Vec::with_capacity(run.len());
    let (mut valids, mut replays, mut ctx) = (Vec::new(), Vec::new(), None);
    for (seq, m) in run {
        let action = m.action();
        let checked = batch
            .check(action)
            .and_then(|ctx| Ok((ctx, m.validate()?.into_inner())));
        match checked {
            Ok((checked_ctx, valid)) => {
                valids.push(valid);
                replays.push(guard::Replay {
                    device,
                    client_seq: seq,
                    kind: action.name(),
                });
                ctx = Some(checked_ctx);
                answers.push((seq, None));
            }
            Err(e) => answers.push((seq, Some(e))),
        }
    }
    let mut applied = match ctx {
        None => Vec::new(),
        Some(ctx) => {
            let seqs: Vec<i64> = replays.iter().map(|r| r.client_seq).collect();
            let written = batch
                .mutate_many(ctx, replays, move |tx, ctx| {
                    Box::pin(async move {
                        execute_run(tx, ctx, valids)
                            .await?
                            .into_iter()
                            .zip(seqs)
                            .map(|((outcome, audits), client_seq)| {
                                Ok((applied(client_seq, &outcome)?, audits))
                            })
                            .collect::<ApiResult<Vec<_>>>()
                    })
                })
                .await;
            match written {
                Ok(results) => results,
                Err(_) if batch.spoiled() => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }
    .into_iter();
    let mut out = Vec::with_capacity(answers.len());
    for (seq, refused) in answers {
        let answer = match refused {
            Some(e) => Err(e),
            None => applied.next().ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("no answer for a write of a run"))
            }),
        };
        out.push((seq, answer));
    }
    Ok(Some(out))
}

/// What consecutive pushed mutations must share to be written together: new contacts, new
/// deals, new loops (with their default tasks), or updates of contacts or of deals made without
/// a base number (rows the device created and changed before it synced: there is nothing they
/// could conflict with). Anything else goes alone: an update with a base looks for conflicts in
/// the audit log, which must hold the group's earlier writes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunKind {
    CreateContact,
    CreateDeal,
    CreateLoop,
    UpdateContact,
    UpdateDeal,
}

pub fn run_kind(m: &Mutation) -> Option<RunKind> {
    Some(match m {
        Mutation::CreateContact(_) => RunKind::CreateContact,
        Mutation::CreateDeal(_) => RunKind::CreateDeal,
        Mutation::CreateLoop(_) => RunKind::CreateLoop,
        Mutation::UpdateContact(u) if u.base_seq.is_none() => RunKind::UpdateContact,
        Mutation::UpdateDeal(u) if u.base_seq.is_none() => RunKind::UpdateDeal,
        _ => return None,
    })
}

/// Writes a run of validated mutations of one [`RunKind`]; answers each one's outcome and audit
/// rows, in order. An error spoils the group.
async fn execute_run(
    tx: &mut PgConnection,
    ctx: &Ctx,
    valids: Vec<ValidMutation>,
) -> ApiResult<Vec<(Outcome, Vec<Audit>)>> {
    // The run's values, every one of the variant given.
    macro_rules! all_of {
        ($valids:expr, $pat:pat => $value:expr) => {
            $valids
                .into_iter()
                .map(|v| match v {
                    $pat => Ok($value),
                    _ => Err(ApiError::Internal(anyhow::anyhow!(
                        "a run mixes kinds of writes"
                    ))),
                })
                .collect::<ApiResult<Vec<_>>>()?
        };
    }
    let (org, user) = (ctx.org, ctx.user);
    match valids.first() {
        None => Ok(Vec::new()),
        Some(ValidMutation::CreateContact(_)) => {
            let news = all_of!(valids, ValidMutation::CreateContact(c) => c);
            let created = contacts::insert_many(tx, org, user, &news).await?;
            Ok(created.into_iter().map(created_contact).collect())
        }
        Some(ValidMutation::CreateDeal(_)) => {
            let news = all_of!(valids, ValidMutation::CreateDeal(d) => d);
            let created = deals::insert_many(tx, org, user, &news).await?;
            Ok(created.into_iter().map(created_deal).collect())
        }
        Some(ValidMutation::CreateLoop(_)) => {
            let news = all_of!(valids, ValidMutation::CreateLoop(l) => l);
            let created = loops::insert_many_with_default_tasks(tx, org, user, &news).await?;
            Ok(created.into_iter().map(created_loop).collect())
        }
        Some(ValidMutation::UpdateContact(..)) => {
            let ups =
                all_of!(valids, ValidMutation::UpdateContact(id, changes, _) => (id.0, changes));
            let rows: Vec<Contact> =
                patch::update_many_returning(tx, CONTACT.table, org, &refs(&ups), |c: &Contact| {
                    c.id.0
                })
                .await?;
            Ok(updated_many(CONTACT, rows, ups, Outcome::Contact))
        }
        Some(ValidMutation::UpdateDeal(..)) => {
            let ups = all_of!(valids, ValidMutation::UpdateDeal(id, changes, _) => (id.0, changes));
            let rows: Vec<Deal> =
                patch::update_many_returning(tx, DEAL.table, org, &refs(&ups), |d: &Deal| d.id.0)
                    .await?;
            Ok(updated_many(DEAL, rows, ups, Outcome::Deal))
        }
        Some(_) => Err(ApiError::Internal(anyhow::anyhow!(
            "not a kind written in runs"
        ))),
    }
}

fn created_contact(contact: Contact) -> (Outcome, Vec<Audit>) {
    let audit = Audit::new("created", "contact", contact.id.0, &contact);
    (Outcome::Contact(contact), vec![audit])
}

fn created_deal(deal: Deal) -> (Outcome, Vec<Audit>) {
    let audit = Audit::new("created", "deal", deal.id.0, &deal);
    (Outcome::Deal(deal), vec![audit])
}

fn created_loop(created: LoopWithTasks) -> (Outcome, Vec<Audit>) {
    let audit = Audit::new(
        "created",
        "loop",
        created.transaction_loop.id.0,
        &created.transaction_loop,
    );
    (Outcome::Loop(Box::new(created)), vec![audit])
}

fn updated_audit(entity: Entity, id: uuid::Uuid, changes: &Changes) -> Audit {
    Audit::new("updated", entity.audit_type, id, changes.to_json())
}

/// Updated rows (in the order of `ups`) with their outcomes and audit rows.
fn updated_many<T>(
    entity: Entity,
    rows: Vec<T>,
    ups: Vec<(uuid::Uuid, Changes)>,
    outcome: impl Fn(T) -> Outcome,
) -> Vec<(Outcome, Vec<Audit>)> {
    rows.into_iter()
        .zip(ups)
        .map(|(row, (id, changes))| (outcome(row), vec![updated_audit(entity, id, &changes)]))
        .collect()
}

fn refs(ups: &[(uuid::Uuid, Changes)]) -> Vec<(uuid::Uuid, &Changes)> {
    ups.iter().map(|(id, c)| (*id, c)).collect()
}

/// The row an update with a base number changes (such an update looks for conflicts).
fn conflict_checked_row(m: &Mutation) -> Option<uuid::Uuid> {
    match m {
        Mutation::UpdateContact(u) => u.base_seq.map(|_| u.id.0),
        Mutation::UpdateDeal(u) => u.base_seq.map(|_| u.id.0),
        Mutation::UpdateLoop(u) => u.base_seq.map(|_| u.id.0),
        Mutation::UpdateTask(u) => u.base_seq.map(|_| u.id.0),
        _ => None,
    }
}

fn deleted(
    found: bool,
    what: &str,
    id: uuid::Uuid,
    (action, entity): (&'static str, &'static str),
) -> ApiResult<(Outcome, Vec<Audit>)> {
    if !found {
        return Err(ApiError::not_found(what));
    }
    Ok((
        Outcome::Deleted { deleted: id },
        vec![Audit::new(action, entity, id, json!({}))],
    ))
}

async fn execute(
    tx: &mut PgConnection,
    ctx: &Ctx,
    state: &AppState,
    valid: Valid<ValidMutation>,
) -> ApiResult<(Outcome, Vec<Audit>)> {
    let org = ctx.org;
    match valid.into_inner() {
        ValidMutation::CreateContact(c) => Ok(created_contact(
            contacts::insert(tx, org, ctx.user, &c).await?,
        )),
        ValidMutation::UpdateContact(id, changes, base) => {
            detect_conflicts(tx, ctx, CONTACT, id.0, &changes, base).await?;
            let contact: Contact = patch::update_returning(tx, "contacts", org, id.0, &changes)
                .await?
                .ok_or_else(|| ApiError::not_found("Contact"))?;
            let audit = updated_audit(CONTACT, id.0, &changes);
            Ok((Outcome::Contact(contact), vec![audit]))
        }
        ValidMutation::DeleteContact(id) => {
            let found = patch::delete(tx, "contacts", org, id.0).await?;
            deleted(found, "Contact", id.0, ("deleted", "contact"))
        }
        ValidMutation::BulkAssignContacts(b) => {
            let updated = contacts::bulk_assign(tx, org, &b).await?;
            let audits = b
                .contact_ids
                .iter()
                .map(|c| {
                    Audit::new(
                        "bulk_assigned",
                        "contact",
                        c.0,
                        json!({ "assigned_to_id": b.assigned_to_id }),
                    )
                })
                .collect();
            Ok((Outcome::Assigned { updated }, audits))
        }
        ValidMutation::CreateDeal(d) => {
            Ok(created_deal(deals::insert(tx, org, ctx.user, &d).await?))
        }
        ValidMutation::UpdateDeal(id, changes, base) => {
            detect_conflicts(tx, ctx, DEAL, id.0, &changes, base).await?;
            let deal: Deal = patch::update_returning(tx, "deals", org, id.0, &changes)
                .await?
                .ok_or_else(|| ApiError::not_found("Deal"))?;
            let audit = updated_audit(DEAL, id.0, &changes);
            Ok((Outcome::Deal(deal), vec![audit]))
        }
        ValidMutation::DeleteDeal(id) => {
            let found = patch::delete(tx, "deals", org, id.0).await?;
            deleted(found, "Deal", id.0, ("deleted", "deal"))
        }
        ValidMutation::CreateLoop(l) => Ok(created_loop(
            loops::insert_with_default_tasks(tx, org, ctx.user, &l).await?,
        )),
        ValidMutation::UpdateLoop(id, changes, base) => {
            let creator = loops::lock(tx, org, id).await?;
            can_modify_loop(ctx.user, ctx.global, role(ctx), creator)?;
            detect_conflicts(tx, ctx, LOOP, id.0, &changes, base).await?;
            let updated: TransactionLoop =
                patch::update_returning(tx, "transaction_loops", org, id.0, &changes)
                    .await?
                    .ok_or_else(|| ApiError::not_found("Transaction loop"))?;
            let audit = updated_audit(LOOP, id.0, &changes);
            Ok((Outcome::UpdatedLoop(updated), vec![audit]))
        }
        ValidMutation::DeleteLoop(id) => {
            let found = patch::delete(tx, "transaction_loops", org, id.0).await?;
            deleted(found, "Transaction loop", id.0, ("deleted", "loop"))
        }
        ValidMutation::CreateTask(t) => {
            loops::lock(tx, org, t.loop_id).await?;
            let task = loops::insert_task(tx, org, ctx.user, &t).await?;
            loops::refresh_progress(tx, org, t.loop_id).await?;
            let audit = Audit::new("created_task", "transaction_task", task.id.0, &task);
            Ok((Outcome::Task(task), vec![audit]))
        }
        ValidMutation::UpdateTask(id, changes, base) => {
            let loop_id = loops::lock_loop_of_task(tx, org, id).await?;
            detect_conflicts(tx, ctx, TASK, id.0, &changes, base).await?;
            let mut task: Task =
                patch::update_returning(tx, "transaction_tasks", org, id.0, &changes)
                    .await?
                    .ok_or_else(|| ApiError::not_found("Task"))?;
            if changes.get("status").is_some() {
                task = loops::sync_completed_at(tx, org, id).await?;
            }
            loops::refresh_progress(tx, org, loop_id).await?;
            let audit = Audit::new("updated_task", "transaction_task", id.0, changes.to_json());
            Ok((Outcome::Task(task), vec![audit]))
        }
        ValidMutation::CompleteTask(id) => {
            let loop_id = loops::lock_loop_of_task(tx, org, id).await?;
            let (task, statuses) = loops::complete_task(tx, org, id).await?;
            let progress = loops::store_progress(tx, org, loop_id, statuses).await?;
            let audits = vec![
                Audit::new(
                    "completed_task",
                    "transaction_task",
                    id.0,
                    json!({ "status": "DONE" }),
                ),
                Audit::new(
                    "updated_progress",
                    "transaction_loop",
                    loop_id.0,
                    json!({ "progress": progress }),
                ),
            ];
            Ok((Outcome::Task(task), audits))
        }
        ValidMutation::DeleteTask(id) => {
            let loop_id = loops::lock_loop_of_task(tx, org, id).await?;
            let found = patch::delete(tx, "transaction_tasks", org, id.0).await?;
            loops::refresh_progress(tx, org, loop_id).await?;
            deleted(found, "Task", id.0, ("deleted_task", "transaction_task"))
        }
        ValidMutation::UploadDocument(v) => {
            let (doc, audits) = crate::uploads::record_version(tx, ctx, state, v).await?;
            Ok((Outcome::Document(Box::new(doc)), audits))
        }
        ValidMutation::SubmitDocument(id) => {
            let doc = docs::lock(tx, org, id)
                .await?
                .ok_or_else(|| ApiError::not_found("Document"))?;
            let next = submit(doc.status).map_err(wrong_status)?;
            let doc = docs::set_review_state(tx, org, id, next, ctx.user, None).await?;
            let audit = Audit::new(
                "submitted_document",
                "document",
                id.0,
                json!({ "status": next, "version": doc.version, "file_name": doc.original_name }),
            );
            Ok((Outcome::Document(Box::new(doc)), vec![audit]))
        }
        ValidMutation::ReviewDocument(r) => {
            let doc = docs::lock(tx, org, r.id)
                .await?
                .ok_or_else(|| ApiError::not_found("Document"))?;
            let next = review(doc.status, r.decision).map_err(wrong_status)?;
            let doc =
                docs::set_review_state(tx, org, r.id, next, ctx.user, r.note.as_deref()).await?;
            let action = match next {
                strive_domain::DocumentStatus::Approved => "approved_document",
                _ => "returned_document",
            };
            let audit = Audit::new(
                action,
                "document",
                r.id.0,
                json!({ "status": next, "note": r.note, "version": doc.version,
                        "file_name": doc.original_name }),
            );
            Ok((Outcome::Document(Box::new(doc)), vec![audit]))
        }
    }
}

fn wrong_status(e: strive_domain::documents::WrongStatus) -> ApiError {
    ApiError::coded(axum::http::StatusCode::CONFLICT, "document_status", e.0)
}

/// An entity whose updates detect conflicts: its table, its audit entity type, its name in errors.
#[derive(Clone, Copy)]
struct Entity {
    table: &'static str,
    audit_type: &'static str,
    what: &'static str,
}

const CONTACT: Entity = Entity {
    table: "contacts",
    audit_type: "contact",
    what: "Contact",
};
const DEAL: Entity = Entity {
    table: "deals",
    audit_type: "deal",
    what: "Deal",
};
const LOOP: Entity = Entity {
    table: "transaction_loops",
    audit_type: "loop",
    what: "Transaction loop",
};
const TASK: Entity = Entity {
    table: "transaction_tasks",
    audit_type: "transaction_task",
    what: "Task",
};

/// The merge rule's bookkeeping, before an update with a `base_seq` applies: for each changed
/// field, the last write of it that the updating device had not seen (numbered after `base`);
/// when another device made it and it differs from the new value, that device's value is about
/// to be overwritten, so it gets a conflict row. The field's last write counts, not the last one
/// by another device: a value this device already overwrote was reported then. A REST write
/// (no device) has nobody to tell. Two statements at most, whatever the number of fields.
async fn detect_conflicts(
    tx: &mut PgConnection,
    ctx: &Ctx,
    entity: Entity,
    id: uuid::Uuid,
    changes: &Changes,
    base: Option<i64>,
) -> ApiResult<()> {
    let Some(base) = base else {
        return Ok(());
    };
    // Locks the row: a concurrent update of it waits for this one to commit, and so sees this
    // update's audit row when it looks for writes it had not seen.
    let current: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT sync_seq FROM {} WHERE organization_id = $1 AND id = $2 FOR UPDATE",
        entity.table
    ))
    .bind(ctx.org)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let current = current.ok_or_else(|| ApiError::not_found(entity.what))?;
    if base >= current {
        return Ok(()); // the device saw the row as it is: nothing since
    }
    let fields: Vec<&str> = changes.iter().map(|c| c.column).collect();
    sqlx::query(
        "WITH latest AS (
           SELECT DISTINCT ON (f) f AS field, a.device_id, a.user_id, a.new_values -> f AS value
             FROM audit_log a, unnest($3::text[]) AS f
            WHERE a.organization_id = $1 AND a.entity_id = $2
              AND coalesce(a.entity_seq, a.sync_seq) > $4
              AND a.new_values ? f
            ORDER BY f, a.sync_seq DESC)
         INSERT INTO conflicts (organization_id, id, device_id, user_id, entity_type, entity_id,
                                field, lost_value, winning_value, winner_user_id, winner_device_id)
         SELECT $1, gen_random_uuid(), l.device_id, l.user_id, $5, $2,
                l.field, l.value, $6::jsonb -> l.field, $7, $8
           FROM latest l
          WHERE l.device_id IS NOT NULL AND l.device_id IS DISTINCT FROM $8
            AND l.value IS DISTINCT FROM ($6::jsonb -> l.field)",
    )
    .bind(ctx.org)
    .bind(id)
    .bind(&fields)
    .bind(base)
    .bind(entity.audit_type)
    .bind(changes.to_json())
    .bind(ctx.user)
    .bind(ctx.device)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

fn role(ctx: &Ctx) -> OrgRole {
    ctx.org_role.unwrap_or(OrgRole::Viewer)
}
