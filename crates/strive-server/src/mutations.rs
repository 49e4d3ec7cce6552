//! Runs a named mutation (from a REST route now, from a pushed sync batch later) through the
//! guarded pipeline: the one place where each mutation's effect and audit rows are defined.

use crate::db::{contacts, deals, loops, patch};
use crate::error::{ApiError, ApiResult};
use crate::guard::{self, Audit, Caller, Ctx};
use crate::sync::push::PushResult;
use crate::AppState;
use serde::Serialize;
use serde_json::json;
use sqlx::PgConnection;
use strive_domain::entities::{Contact, Deal, LoopWithTasks, Task, TransactionLoop};
use strive_domain::mutations::{Mutation, ValidMutation};
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
    guard::mutate(
        state,
        caller,
        org,
        action,
        move || m.validate(),
        |tx, ctx, valid| Box::pin(execute(tx, ctx, valid)),
    )
    .await
}

/// Like [`apply`], for a mutation pushed by a device: the same transaction records
/// `(device, client_seq)` and the answer, so a replay can answer the same without running again.
pub async fn apply_for_device(
    state: &AppState,
    caller: &Caller,
    org: OrgId,
    device: DeviceId,
    client_seq: i64,
    m: Mutation,
) -> ApiResult<PushResult> {
    let action = m.action();
    let kind = action.name();
    guard::mutate(state, caller, org, action, move || m.validate(), move |tx, ctx, valid| {
        Box::pin(async move {
            let (outcome, audits) = execute(tx, ctx, valid).await?;
            let result = PushResult::Applied {
                client_seq,
                result: serde_json::to_value(&outcome).map_err(|e| ApiError::Internal(e.into()))?,
            };
            sqlx::query(
                "INSERT INTO applied_mutations (organization_id, device_id, client_seq, mutation_type, outcome)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(ctx.org)
            .bind(device)
            .bind(client_seq)
            .bind(kind)
            .bind(serde_json::to_value(&result).map_err(|e| ApiError::Internal(e.into()))?)
            .execute(&mut *tx)
            .await?;
            Ok((result, audits))
        })
    })
    .await
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
    valid: Valid<ValidMutation>,
) -> ApiResult<(Outcome, Vec<Audit>)> {
    let org = ctx.org;
    match valid.into_inner() {
        ValidMutation::CreateContact(c) => {
            let contact = contacts::insert(tx, org, ctx.user, &c).await?;
            let audit = Audit::new("created", "contact", contact.id.0, &contact);
            Ok((Outcome::Contact(contact), vec![audit]))
        }
        ValidMutation::UpdateContact(id, changes, _base) => {
            let contact: Contact = patch::update_returning(tx, "contacts", org, id.0, &changes)
                .await?
                .ok_or_else(|| ApiError::not_found("Contact"))?;
            let audit = Audit::new("updated", "contact", id.0, changes.to_json());
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
            let deal = deals::insert(tx, org, ctx.user, &d).await?;
            let audit = Audit::new("created", "deal", deal.id.0, &deal);
            Ok((Outcome::Deal(deal), vec![audit]))
        }
        ValidMutation::UpdateDeal(id, changes, _base) => {
            let deal: Deal = patch::update_returning(tx, "deals", org, id.0, &changes)
                .await?
                .ok_or_else(|| ApiError::not_found("Deal"))?;
            let audit = Audit::new("updated", "deal", id.0, changes.to_json());
            Ok((Outcome::Deal(deal), vec![audit]))
        }
        ValidMutation::DeleteDeal(id) => {
            let found = patch::delete(tx, "deals", org, id.0).await?;
            deleted(found, "Deal", id.0, ("deleted", "deal"))
        }
        ValidMutation::CreateLoop(l) => {
            let created = loops::insert_with_default_tasks(tx, org, ctx.user, &l).await?;
            let audit = Audit::new("created", "loop", l.id.0, &created.transaction_loop);
            Ok((Outcome::Loop(Box::new(created)), vec![audit]))
        }
        ValidMutation::UpdateLoop(id, changes, _base) => {
            let creator = loops::lock(tx, org, id).await?;
            can_modify_loop(ctx.user, ctx.global, role(ctx), creator)?;
            let updated: TransactionLoop =
                patch::update_returning(tx, "transaction_loops", org, id.0, &changes)
                    .await?
                    .ok_or_else(|| ApiError::not_found("Transaction loop"))?;
            let audit = Audit::new("updated", "loop", id.0, changes.to_json());
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
        ValidMutation::UpdateTask(id, changes, _base) => {
            let loop_id = loops::lock_loop_of_task(tx, org, id).await?;
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
            let task = loops::complete_task(tx, org, id).await?;
            let progress = loops::refresh_progress(tx, org, loop_id).await?;
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
    }
}

fn role(ctx: &Ctx) -> OrgRole {
    ctx.org_role.unwrap_or(OrgRole::Viewer)
}
