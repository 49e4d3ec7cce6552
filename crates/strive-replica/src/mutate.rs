//! Local writes: every change is a named mutation, checked with strive-domain's rules (the same
//! permission matrix and validation the server runs), applied to the replica at once, and queued
//! in the outbox in the same SQLite transaction, so the UI is instant and nothing is lost.

use crate::apply::{delete_row, read_row, upsert_row, Columns};
use crate::error::ReplicaError;
use crate::open::Replica;
use chrono::Utc;
use rusqlite::TransactionBehavior;
use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::{json, Map, Value};
use strive_domain::documents;
use strive_domain::mutations::{Changes, FieldValue, Mutation, ValidMutation};
use strive_domain::permissions::{check, Denied};
use strive_domain::rules::{can_modify_loop, default_task_ids, loop_progress, DEFAULT_LOOP_TASKS};
use strive_domain::{
    DeviceId, DocumentStatus, GlobalRole, OrgRole, TaskStatus, Tier, UserId, ValidationError,
};

#[derive(Debug, thiserror::Error)]
pub enum MutateError {
    #[error("{}", .0.message)]
    Denied(Denied),
    #[error("{0}")]
    Invalid(ValidationError),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A step the document's review status does not allow.
    #[error("{0}")]
    WrongStatus(String),
    #[error("sign in first: this replica does not know who you are")]
    NoSession,
    #[error(transparent)]
    Replica(#[from] ReplicaError),
}

impl From<rusqlite::Error> for MutateError {
    fn from(e: rusqlite::Error) -> Self {
        MutateError::Replica(e.into())
    }
}

/// Who works on this replica, as recorded at sign-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session {
    pub user: UserId,
    pub device: DeviceId,
    pub global: GlobalRole,
}

fn now() -> String {
    crate::time::canonical(Utc::now())
}

fn state(tx: &rusqlite::Connection, key: &str) -> Result<Option<String>, rusqlite::Error> {
    tx.prepare_cached("SELECT value FROM sync_state WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()
}

impl Replica {
    pub fn set_session(&mut self, s: Session) -> Result<(), ReplicaError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (k, v) in [
            ("user_id", s.user.to_string()),
            ("device_id", s.device.to_string()),
            ("global_role", s.global.to_string()),
        ] {
            tx.execute(
                "INSERT INTO sync_state (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [k, &v],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn session(&self) -> Result<Option<Session>, ReplicaError> {
        let get = |k| state(&self.conn, k);
        let (Some(u), Some(d), Some(g)) = (get("user_id")?, get("device_id")?, get("global_role")?)
        else {
            return Ok(None);
        };
        let parse = |e: String| ReplicaError::Corrupt(e);
        Ok(Some(Session {
            user: u.parse().map_err(|e: uuid::Error| parse(e.to_string()))?,
            device: d.parse().map_err(|e: uuid::Error| parse(e.to_string()))?,
            global: g
                .parse()
                .map_err(|e: strive_domain::enums::UnknownVariant| parse(e.to_string()))?,
        }))
    }

    /// The caller's role and the organization's tier, as last synced (no role before the first
    /// pull).
    pub fn standing(&self, user: UserId) -> Result<(Option<OrgRole>, Tier), ReplicaError> {
        let role: Option<String> = self
            .conn
            .prepare_cached("SELECT role FROM organization_members WHERE user_id = ?1")?
            .query_row([user.to_string()], |r| r.get(0))
            .optional()?;
        let tier: Option<String> = self
            .conn
            .prepare_cached("SELECT tier FROM subscriptions LIMIT 1")?
            .query_row([], |r| r.get(0))
            .optional()?;
        Ok((
            role.and_then(|r| r.parse().ok()),
            tier.and_then(|t| t.parse().ok()).unwrap_or(Tier::Free),
        ))
    }

    /// Whether the signed-in person may do `action` here, as far as this replica knows (before
    /// the first pull it cannot know the role: the server decides then).
    pub fn may(&self, action: strive_domain::permissions::Action) -> Result<(), MutateError> {
        let session = self.session()?.ok_or(MutateError::NoSession)?;
        let (role, tier) = self.standing(session.user)?;
        if let Some(role) = role {
            check(session.global, role, tier, action)
                .into_result()
                .map_err(MutateError::Denied)?;
        }
        Ok(())
    }

    /// Checks, applies and queues one mutation. Returns its outbox sequence number.
    pub fn mutate(&mut self, m: Mutation) -> Result<i64, MutateError> {
        self.mutate_with(m, |_| Ok(()))
    }

    /// Like [`mutate`](Self::mutate), running `extra` in the same SQLite transaction (the vault
    /// records its file and key with the mutation that needs them, all or nothing).
    pub fn mutate_with(
        &mut self,
        mut m: Mutation,
        extra: impl FnOnce(&Transaction<'_>) -> Result<(), MutateError>,
    ) -> Result<i64, MutateError> {
        let session = self.session()?.ok_or(MutateError::NoSession)?;
        let (role, _) = self.standing(session.user)?;
        self.may(m.action())?;
        if let Some((tbl, id, slot)) = base_seq_slot(&mut m) {
            if slot.is_none() {
                *slot = self
                    .conn
                    .query_row(
                        &format!("SELECT sync_seq FROM {tbl} WHERE id = ?1"),
                        [id],
                        |r| r.get(0),
                    )
                    .optional()?
                    .flatten();
            }
        }
        let wire = serde_json::to_string(&m).map_err(|e| ReplicaError::Corrupt(e.to_string()))?;
        let valid = m.validate().map_err(MutateError::Invalid)?.into_inner();
        let org = self.org().to_string();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let local = Local {
            tx: &tx,
            columns: &self.columns,
            org: &org,
            session,
            role,
        };
        let touched = local.apply(valid)?;
        for (tbl, id) in &touched {
            local.shadow(tbl, id)?;
        }
        extra(&tx)?;
        let touched_json = Value::from(
            touched
                .iter()
                .map(|(t, i)| json!([t, i]))
                .collect::<Vec<_>>(),
        );
        tx.prepare_cached("INSERT INTO outbox (mutation, touched) VALUES (?1, ?2)")?
            .execute(params![wire, touched_json.to_string()])?;
        let seq = tx.last_insert_rowid();
        tx.commit()?;
        Ok(seq)
    }

    /// How many local changes wait for the server.
    pub fn pending(&self) -> Result<i64, ReplicaError> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM outbox WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?)
    }
}

/// An update's row and its `base_seq`: the version of the row this device saw when it made the
/// edit (its live row's `sync_seq`), which lets the server detect a concurrent same-field edit.
fn base_seq_slot(m: &mut Mutation) -> Option<(&'static str, String, &mut Option<i64>)> {
    match m {
        Mutation::UpdateContact(u) => Some(("contacts", u.id.to_string(), &mut u.base_seq)),
        Mutation::UpdateDeal(u) => Some(("deals", u.id.to_string(), &mut u.base_seq)),
        Mutation::UpdateLoop(u) => Some(("transaction_loops", u.id.to_string(), &mut u.base_seq)),
        Mutation::UpdateTask(u) => Some(("transaction_tasks", u.id.to_string(), &mut u.base_seq)),
        _ => None,
    }
}

type Touched = Vec<(&'static str, String)>;

struct Local<'a> {
    tx: &'a Transaction<'a>,
    columns: &'a Columns,
    org: &'a str,
    session: Session,
    role: Option<OrgRole>,
}

impl Local<'_> {
    /// Counts one more unsettled mutation on a row [`before`](Self::before) snapshotted.
    fn shadow(&self, tbl: &str, id: &str) -> Result<(), MutateError> {
        self.tx
            .prepare_cached("UPDATE shadows SET pending = pending + 1 WHERE tbl = ?1 AND id = ?2")?
            .execute(params![tbl, id])?;
        Ok(())
    }

    /// Records a row's pre-write state (once) so it can be restored; call before changing it.
    fn before(
        &self,
        tbl: &'static str,
        id: &str,
        touched: &mut Touched,
    ) -> Result<(), MutateError> {
        let exists: bool = self
            .tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM shadows WHERE tbl = ?1 AND id = ?2)")?
            .query_row(params![tbl, id], |r| r.get(0))?;
        if !exists {
            let row = read_row(self.tx, tbl, id)?.map(|m| Value::Object(m).to_string());
            self.tx
                .prepare_cached(
                    "INSERT INTO shadows (tbl, id, row, pending) VALUES (?1, ?2, ?3, 0)",
                )?
                .execute(params![tbl, id, row])?;
        }
        if !touched.iter().any(|(t, i)| *t == tbl && i == id) {
            touched.push((tbl, id.to_string()));
        }
        Ok(())
    }

    fn row(&self, tbl: &str, id: &str) -> Result<Option<Map<String, Value>>, MutateError> {
        Ok(read_row(self.tx, tbl, id)?)
    }

    fn require(
        &self,
        tbl: &str,
        id: &str,
        what: &'static str,
    ) -> Result<Map<String, Value>, MutateError> {
        self.row(tbl, id)?.ok_or(MutateError::NotFound(what))
    }

    fn insert(&self, tbl: &str, row: Value) -> Result<(), MutateError> {
        if let Value::Object(m) = row {
            upsert_row(self.tx, self.columns, tbl, &m)?;
        }
        Ok(())
    }

    fn update(
        &self,
        tbl: &'static str,
        id: &str,
        changes: &Changes,
        what: &'static str,
    ) -> Result<(), MutateError> {
        let mut row = self.require(tbl, id, what)?;
        for c in changes.iter() {
            row.insert(c.column.to_string(), field_json(&c.value));
        }
        row.insert("updated_at".into(), now().into());
        upsert_row(self.tx, self.columns, tbl, &row)?;
        Ok(())
    }

    fn refresh_progress(&self, loop_id: &str) -> Result<(), MutateError> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT status FROM transaction_tasks WHERE loop_id = ?1")?;
        let statuses: Vec<TaskStatus> = stmt
            .query_map([loop_id], |r| r.get::<_, String>(0))?
            .filter_map(|s| s.ok().and_then(|s| s.parse().ok()))
            .collect();
        self.tx.execute(
            "UPDATE transaction_loops SET progress = ?2 WHERE id = ?1",
            params![loop_id, loop_progress(statuses)],
        )?;
        Ok(())
    }

    fn loop_of_task(&self, task: &str) -> Result<String, MutateError> {
        let t = self.require("transaction_tasks", task, "Task")?;
        Ok(t.get("loop_id")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string())
    }

    /// Applies the mutation's effect; returns every row it touched.
    fn apply(&self, m: ValidMutation) -> Result<Touched, MutateError> {
        let mut t: Touched = Vec::new();
        let (org, user, ts) = (self.org, self.session.user.to_string(), now());
        match m {
            ValidMutation::CreateContact(c) => {
                let id = c.id.to_string();
                self.before("contacts", &id, &mut t)?;
                self.insert("contacts", json!({
                    "id": id, "organization_id": org, "name": c.name, "email": c.email, "phone": c.phone,
                    "company": c.company, "position": c.position, "contact_type": c.contact_type,
                    "status": c.status, "notes": c.notes, "tags": Value::from(c.tags).to_string(),
                    "assigned_to_id": c.assigned_to_id, "next_follow_up_at": c.next_follow_up_at,
                    "created_by": user, "created_at": ts, "updated_at": ts,
                }))?;
            }
            ValidMutation::UpdateContact(id, ch, _) => {
                let id = id.to_string();
                self.before("contacts", &id, &mut t)?;
                self.update("contacts", &id, &ch, "Contact")?;
            }
            ValidMutation::DeleteContact(id) => {
                let id = id.to_string();
                self.require("contacts", &id, "Contact")?;
                self.before("contacts", &id, &mut t)?;
                delete_row(self.tx, "contacts", &id)?;
            }
            ValidMutation::BulkAssignContacts(b) => {
                let assignee = b.assigned_to_id.to_string();
                if self.row("organization_members", &assignee)?.is_none() {
                    return Err(MutateError::Invalid(ValidationError::single(
                        "assigned_to_id",
                        "is not a member of this organization",
                    )));
                }
                for c in &b.contact_ids {
                    self.require("contacts", &c.to_string(), "Contact")?;
                }
                let mut ch = Changes::default();
                ch.set("assigned_to_id", FieldValue::Id(Some(b.assigned_to_id.0)));
                for c in &b.contact_ids {
                    let id = c.to_string();
                    self.before("contacts", &id, &mut t)?;
                    self.update("contacts", &id, &ch, "Contact")?;
                }
            }
            ValidMutation::CreateDeal(d) => {
                let id = d.id.to_string();
                self.before("deals", &id, &mut t)?;
                self.insert("deals", json!({
                    "id": id, "organization_id": org, "title": d.title, "value_cents": d.value.get(),
                    "stage": d.stage, "status": d.status, "probability": d.probability,
                    "contact_id": d.contact_id, "assigned_to_id": d.assigned_to_id,
                    "expected_close_date": d.expected_close_date, "description": d.description,
                    "created_by": user, "created_at": ts, "updated_at": ts,
                }))?;
            }
            ValidMutation::UpdateDeal(id, ch, _) => {
                let id = id.to_string();
                self.before("deals", &id, &mut t)?;
                self.update("deals", &id, &ch, "Deal")?;
            }
            ValidMutation::DeleteDeal(id) => {
                let id = id.to_string();
                self.require("deals", &id, "Deal")?;
                self.before("deals", &id, &mut t)?;
                delete_row(self.tx, "deals", &id)?;
            }
            ValidMutation::CreateLoop(l) => {
                let id = l.id.to_string();
                self.before("transaction_loops", &id, &mut t)?;
                self.insert("transaction_loops", json!({
                    "id": id, "organization_id": org, "property_address": l.property_address,
                    "transaction_type": l.transaction_type, "listing_price_cents": l.listing_price.get(),
                    "status": "DRAFT", "progress": 0, "expected_closing": l.expected_closing,
                    "created_by": user, "created_at": ts, "updated_at": ts,
                }))?;
                for (i, (task_id, (title, category))) in default_task_ids(l.id)
                    .iter()
                    .zip(DEFAULT_LOOP_TASKS)
                    .enumerate()
                {
                    let tid = task_id.to_string();
                    self.before("transaction_tasks", &tid, &mut t)?;
                    self.insert("transaction_tasks", json!({
                        "id": tid, "organization_id": org, "loop_id": id, "title": title,
                        "category": category, "status": "PENDING", "priority": "MEDIUM",
                        "position": i + 1, "created_by": user, "created_at": ts, "updated_at": ts,
                    }))?;
                }
            }
            ValidMutation::UpdateLoop(id, ch, _) => {
                let id = id.to_string();
                let row = self.require("transaction_loops", &id, "Transaction loop")?;
                let creator: UserId = row
                    .get("created_by")
                    .and_then(|v| v.as_str())
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_default();
                can_modify_loop(
                    self.session.user,
                    self.session.global,
                    self.role.unwrap_or(OrgRole::Viewer),
                    creator,
                )
                .map_err(MutateError::Denied)?;
                self.before("transaction_loops", &id, &mut t)?;
                self.update("transaction_loops", &id, &ch, "Transaction loop")?;
            }
            ValidMutation::DeleteLoop(id) => {
                let id = id.to_string();
                self.require("transaction_loops", &id, "Transaction loop")?;
                let mut stmt = self
                    .tx
                    .prepare("SELECT id FROM transaction_tasks WHERE loop_id = ?1")?;
                let tasks: Vec<String> = stmt
                    .query_map([&id], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                self.before("transaction_loops", &id, &mut t)?;
                for task in &tasks {
                    self.before("transaction_tasks", task, &mut t)?;
                    delete_row(self.tx, "transaction_tasks", task)?;
                }
                delete_row(self.tx, "transaction_loops", &id)?;
            }
            ValidMutation::CreateTask(task) => {
                let loop_id = task.loop_id.to_string();
                self.require("transaction_loops", &loop_id, "Transaction loop")?;
                let id = task.id.to_string();
                let position: i64 = self.tx.query_row(
                    "SELECT coalesce(max(position), 0) + 1 FROM transaction_tasks WHERE loop_id = ?1",
                    [&loop_id],
                    |r| r.get(0),
                )?;
                self.before("transaction_tasks", &id, &mut t)?;
                self.before("transaction_loops", &loop_id, &mut t)?;
                self.insert("transaction_tasks", json!({
                    "id": id, "organization_id": org, "loop_id": loop_id, "title": task.title,
                    "description": task.description, "category": task.category, "status": "PENDING",
                    "priority": task.priority, "position": position, "due_date": task.due_date,
                    "created_by": user, "created_at": ts, "updated_at": ts,
                }))?;
                self.refresh_progress(&loop_id)?;
            }
            ValidMutation::UpdateTask(id, ch, _) => {
                let id = id.to_string();
                let loop_id = self.loop_of_task(&id)?;
                self.before("transaction_tasks", &id, &mut t)?;
                self.before("transaction_loops", &loop_id, &mut t)?;
                self.update("transaction_tasks", &id, &ch, "Task")?;
                if let Some(FieldValue::Text(Some(status))) = ch.get("status") {
                    let done = if status == "DONE" { Some(now()) } else { None };
                    self.tx.execute(
                        "UPDATE transaction_tasks SET completed_at = CASE WHEN ?2 IS NULL THEN NULL ELSE coalesce(completed_at, ?2) END WHERE id = ?1",
                        params![id, done],
                    )?;
                }
                self.refresh_progress(&loop_id)?;
            }
            ValidMutation::CompleteTask(id) => {
                let id = id.to_string();
                let loop_id = self.loop_of_task(&id)?;
                self.before("transaction_tasks", &id, &mut t)?;
                self.before("transaction_loops", &loop_id, &mut t)?;
                self.tx.execute(
                    "UPDATE transaction_tasks SET status = 'DONE', completed_at = coalesce(completed_at, ?2), updated_at = ?2 WHERE id = ?1",
                    params![id, ts],
                )?;
                self.refresh_progress(&loop_id)?;
            }
            ValidMutation::DeleteTask(id) => {
                let id = id.to_string();
                let loop_id = self.loop_of_task(&id)?;
                self.before("transaction_tasks", &id, &mut t)?;
                self.before("transaction_loops", &loop_id, &mut t)?;
                delete_row(self.tx, "transaction_tasks", &id)?;
                self.refresh_progress(&loop_id)?;
            }
            ValidMutation::UploadDocument(v) => self.new_version(v, &mut t)?,
            ValidMutation::SubmitDocument(id) => {
                let id = id.to_string();
                let status = self.document_status(&id)?;
                let next = documents::submit(status).map_err(|e| MutateError::WrongStatus(e.0))?;
                self.before("documents", &id, &mut t)?;
                self.tx.execute(
                    "UPDATE documents SET status = ?2, submitted_at = ?3, submitted_by = ?4,
                            reviewed_at = NULL, reviewed_by = NULL, updated_at = ?3 WHERE id = ?1",
                    params![id, next.as_str(), ts, user],
                )?;
            }
            ValidMutation::ReviewDocument(r) => {
                let id = r.id.to_string();
                let status = self.document_status(&id)?;
                let next = documents::review(status, r.decision)
                    .map_err(|e| MutateError::WrongStatus(e.0))?;
                self.before("documents", &id, &mut t)?;
                self.tx.execute(
                    "UPDATE documents SET status = ?2, reviewed_at = ?3, reviewed_by = ?4,
                            review_note = ?5, updated_at = ?3 WHERE id = ?1",
                    params![id, next.as_str(), ts, user, r.note],
                )?;
            }
        }
        Ok(t)
    }

    fn document_status(&self, id: &str) -> Result<DocumentStatus, MutateError> {
        let row = self.require("documents", id, "Document")?;
        row.get("status")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| MutateError::Replica(ReplicaError::Corrupt("document status".into())))
    }

    /// A version encrypted on this device: the document row (new, or its next version, back to
    /// a draft) and the version row, as the server will write them; the server's rows replace
    /// them once the upload is settled.
    fn new_version(
        &self,
        v: strive_domain::mutations::documents::NewVersion,
        t: &mut Touched,
    ) -> Result<(), MutateError> {
        let (org, user, ts) = (self.org, self.session.user.to_string(), now());
        let loop_id = v.loop_id.to_string();
        self.require("transaction_loops", &loop_id, "Transaction loop")?;
        let doc_id = v.document_id.to_string();
        let existing = self.row("documents", &doc_id)?;
        if let Some(d) = &existing {
            if d.get("loop_id").and_then(|l| l.as_str()) != Some(loop_id.as_str()) {
                return Err(MutateError::Invalid(ValidationError::single(
                    "document_id",
                    "this document belongs to another transaction loop",
                )));
            }
        }
        let number = existing
            .as_ref()
            .and_then(|d| d.get("version").and_then(|n| n.as_i64()))
            .unwrap_or(0)
            + 1;
        let vid = v.version_id.to_string();
        self.before("documents", &doc_id, t)?;
        self.before("document_versions", &vid, t)?;
        let created = existing
            .as_ref()
            .and_then(|d| d.get("created_at").cloned())
            .unwrap_or_else(|| ts.clone().into());
        let uploader = existing
            .as_ref()
            .and_then(|d| d.get("uploaded_by").cloned())
            .unwrap_or_else(|| user.clone().into());
        self.insert(
            "documents",
            json!({
                "id": doc_id, "organization_id": org, "loop_id": loop_id, "original_name": v.name,
                "mime_type": v.kind.mime(), "file_size": v.size, "storage_key": "",
                "document_type": v.document_type, "status": "DRAFT", "version": number,
                "is_encrypted": 1, "current_version_id": vid, "ciphertext_size": v.ciphertext_size,
                "uploaded_by": uploader, "created_at": created, "updated_at": ts,
            }),
        )?;
        self.insert(
            "document_versions",
            json!({
                "id": vid, "organization_id": org, "document_id": doc_id, "version": number,
                "original_name": v.name, "mime_type": v.kind.mime(), "file_size": v.size,
                "ciphertext_size": v.ciphertext_size, "sha256": v.sha256, "storage_key": "",
                "uploaded_by": user, "created_at": ts,
            }),
        )?;
        Ok(())
    }
}

/// A changed value as the replica stores it (lists as JSON text).
fn field_json(v: &FieldValue) -> Value {
    match v {
        FieldValue::TextList(l) => Value::from(l.clone()).to_string().into(),
        other => other.to_json(),
    }
}
