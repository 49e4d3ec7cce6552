//! The guarded action pipeline (the platform's Pattern 1), the one road every request takes:
//!
//! authenticate -> route -> tier -> global role -> org role -> validate -> tenant transaction
//! (`app.org_id` set locally) -> execute -> audit -> commit, with typed errors at each step.
//!
//! Handlers never see the pool: the only way to a tenant transaction is through [`read`],
//! [`mutate`] or [`authorize`], which run the checks first. The transaction is in the database
//! the organization lives in ([`crate::tenants`]); while the organization is being switched to
//! another database the pipeline answers [`ApiError::OrgMoving`] (503, retry in a moment).

use crate::db::Tx;
use crate::error::{ApiError, ApiResult};
use crate::tenants::registry::DEFAULT_DB;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::Serialize;
use sqlx::PgConnection;
use std::future::Future;
use std::pin::Pin;
use strive_domain::permissions::{check, Action, OrgRule};
use strive_domain::{
    DeviceId, GlobalRole, OrgId, OrgRole, Tier, UserId, ValidationError, VersionId,
};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Who is calling: read from a verified access token. Holds no database state yet.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: UserId,
    pub device: Option<DeviceId>,
    /// When the access token expires (Unix seconds): long-lived streams end then.
    pub expires_at: i64,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::Unauthorized("Sign in first: no access token was sent".into())
            })?;
        let token = header.strip_prefix("Bearer ").ok_or_else(|| {
            ApiError::Unauthorized("Use an 'Authorization: Bearer <token>' header".into())
        })?;
        let claims = state.keys().verify(token.trim()).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            ApiError::Unauthorized(match e.kind() {
                ErrorKind::ExpiredSignature => {
                    "Your session has expired; refresh it or sign in again".into()
                }
                _ => "Your access token is not valid; sign in again".into(),
            })
        })?;
        Ok(Caller {
            user: UserId(claims.sub),
            device: claims.did.map(DeviceId),
            expires_at: claims.exp,
        })
    }
}

/// The caller as the organization sees them, after every check passed.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub user: UserId,
    pub device: Option<DeviceId>,
    pub org: OrgId,
    pub global: GlobalRole,
    /// `None` only for platform administration of an organization one is not a member of.
    pub org_role: Option<OrgRole>,
    pub tier: Tier,
}

/// One audit row, written in the same transaction as the change it records.
#[derive(Clone, Debug, Serialize)]
pub struct Audit {
    pub action: &'static str,
    pub entity_type: &'static str,
    pub entity_id: uuid::Uuid,
    pub new_values: serde_json::Value,
}

impl Audit {
    pub fn new(
        action: &'static str,
        entity_type: &'static str,
        entity_id: uuid::Uuid,
        new_values: impl Serialize,
    ) -> Self {
        Self {
            action,
            entity_type,
            entity_id,
            new_values: serde_json::to_value(new_values).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// Proof that the caller passed the checks for one action in one organization.
pub struct Authorized {
    pub ctx: Ctx,
    state: AppState,
    /// The database the organization lives in.
    db: String,
    /// What the checks were made against (a batch checks each of its writes against it).
    standing: Standing,
}

impl Authorized {
    /// Another transaction in the same tenant context (for reads that run concurrently).
    pub async fn tenant_tx(&self) -> ApiResult<Tx> {
        self.state
            .tenants()
            .begin_in(&self.db, self.ctx.org, self.ctx.user)
            .await
    }
}

/// Authenticate, create the profile on first sight, route to the organization's database,
/// then check tier, global role and org role. Returns the transaction, now bound to the
/// organization.
pub async fn authorize(
    state: &AppState,
    caller: &Caller,
    org: OrgId,
    action: Action,
) -> ApiResult<(Authorized, Tx)> {
    let tenants = state.tenants();
    let mut db = tenants.guess(org).await?;
    let mut routed = None;
    for _ in 0..3 {
        // The gate first, then the directory: see `crate::tenants`.
        let mut tx = tenants.begin_gated(&db, org, caller.user, false).await?;
        let standing = match standing(state, &mut tx, &db, caller.user, org).await? {
            Some(s) => s,
            // First sight of this person: the profile is made in this transaction, so a refused
            // request leaves nothing behind.
            None if db == DEFAULT_DB => {
                ensure_profile(&mut tx, caller.user).await?;
                standing(state, &mut tx, &db, caller.user, org)
                    .await?
                    .ok_or_else(|| ApiError::Unauthorized("This account no longer exists".into()))?
            }
            // Elsewhere, someone without a profile belongs to no organization (becoming a
            // member makes the profile): judge them as such, without writing anything.
            None => {
                let deactivated: bool =
                    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)")
                        .bind(caller.user)
                        .fetch_one(state.pool())
                        .await?;
                if deactivated {
                    return Err(ApiError::Unauthorized(
                        "This account no longer exists".into(),
                    ));
                }
                Standing {
                    global: GlobalRole::User,
                    org_role: None,
                    tier: None,
                    memberships: 0,
                    home: db.clone(),
                }
            }
        };
        if standing.home == db {
            routed = Some((tx, standing));
            break;
        }
        // It moved (or our guess was stale): start over where the directory says.
        tenants.remember(org, &standing.home);
        db = standing.home;
    }
    let (mut tx, standing) = routed.ok_or(ApiError::OrgMoving)?;
    let ctx = admit(caller, org, action, standing.clone())?;
    sqlx::query("SELECT set_config('app.org_id', $1, true)")
        .bind(org.to_string())
        .execute(&mut *tx)
        .await?;
    Ok((
        Authorized {
            ctx,
            state: state.clone(),
            db,
            standing,
        },
        tx,
    ))
}

/// Tier, global role and org role checks of `action` against the caller's standing in `org`.
fn admit(caller: &Caller, org: OrgId, action: Action, standing: Standing) -> ApiResult<Ctx> {
    let (_, _, org_rule) = action.rule();
    let org_role = match (standing.org_role, org_rule) {
        (Some(role), _) => Some(role),
        (None, OrgRule::NotRequired) => None,
        // Not a member: to this caller the organization does not exist.
        (None, _) if standing.memberships == 0 => return Err(ApiError::NeedsOrganization),
        (None, _) => return Err(ApiError::not_found("Organization")),
    };
    let tier = standing.tier.unwrap_or(Tier::Free);
    check(
        standing.global,
        org_role.unwrap_or(OrgRole::Viewer),
        tier,
        action,
    )
    .into_result()?;
    Ok(Ctx {
        user: caller.user,
        device: caller.device,
        org,
        global: standing.global,
        org_role,
        tier,
    })
}

/// What a pushed write records for replays (`applied_mutations`), written in the same statement
/// as its audit rows: the device, its number for the mutation, and the mutation's name. The
/// answer recorded is the write's result.
#[derive(Clone, Debug)]
pub struct Replay {
    pub device: DeviceId,
    pub client_seq: i64,
    pub kind: String,
}

/// Writes per transaction in a [`Batch`] run with a savepoint each (see
/// [`Batch::retry_group_carefully`]): each savepoint takes a subtransaction id, and PostgreSQL
/// tracks at most 64 of them per transaction cheaply.
pub const BATCH_GROUP: usize = 50;

/// Writes per transaction in a [`Batch`] run optimistically, without savepoints: a group's
/// fixed cost (checks, push lock, audit statement, commit) spread over more writes. A group
/// that fails is run again carefully, in transactions of [`BATCH_GROUP`].
pub const OPTIMISTIC_GROUP: usize = 250;

/// Many writes in one tenant context (a pushed sync batch), in groups of at most
/// [`BATCH_GROUP`], one transaction each. A group's transaction is checked as a request's is
/// (routing, tier, roles), and each write is checked against the standing read then, as the
/// writes of any one transaction are: a role changed meanwhile counts from the next group.
/// A group first runs optimistically, without savepoints (almost every pushed write succeeds;
/// a savepoint costs a round trip per write). When a write fails the group is spoiled: it is
/// rolled back and run again with [`Batch::retry_group_carefully`], each write in a savepoint
/// and rolled back alone when it fails. Audit rows and replay records are kept until the group
/// commits and written then, in one statement.
pub struct Batch {
    state: AppState,
    caller: Caller,
    org: OrgId,
    standing: Standing,
    tx: Option<Tx>,
    /// Each write in a savepoint (after the group was spoiled once).
    careful: bool,
    /// A write failed outside a savepoint: the group's transaction must not commit.
    spoiled: bool,
    /// The savepoint of the last write is still open (released with the next write's start).
    open: bool,
    /// The group's audit rows and replay records, not written yet.
    audits: AuditRows,
    /// Uploads recorded in the current transaction, whose part files go once it committed.
    uploaded: Vec<VersionId>,
}

/// Starts a [`Batch`]: the checks for `action` (which lets the caller use the batch at all).
pub async fn batch(
    state: &AppState,
    caller: &Caller,
    org: OrgId,
    action: Action,
) -> ApiResult<Batch> {
    let (auth, tx) = authorize(state, caller, org, action).await?;
    Ok(Batch {
        state: state.clone(),
        caller: caller.clone(),
        org,
        standing: auth.standing,
        tx: Some(tx),
        careful: false,
        spoiled: false,
        open: false,
        audits: AuditRows::default(),
        uploaded: Vec::new(),
    })
}

// The batch's methods return boxed futures: with the higher-ranked closures they take, the
// compiler cannot otherwise prove the handlers' futures `Send`.
impl Batch {
    /// A read in the batch's transaction (no checks beyond the batch's own).
    pub fn read<'s, R: Send + 's>(
        &'s mut self,
        f: impl for<'b> FnOnce(&'b mut PgConnection, OrgId) -> BoxFuture<'b, ApiResult<R>> + Send + 's,
    ) -> BoxFuture<'s, ApiResult<R>> {
        Box::pin(async move {
            let org = self.org;
            let tx = self.tx()?;
            f(tx, org).await
        })
    }

    /// One write, all or nothing: like [`mutate`], inside a savepoint of the group's transaction;
    /// with `replay`, its result is recorded for replays along with its audit rows.
    pub fn mutate<'s, V: Send + 's, R: Serialize + Send + 's>(
        &'s mut self,
        action: Action,
        replay: Option<Replay>,
        validate: impl FnOnce() -> Result<V, ValidationError> + Send + 's,
        f: impl for<'b> FnOnce(
                &'b mut PgConnection,
                &'b Ctx,
                V,
            ) -> BoxFuture<'b, ApiResult<(R, Vec<Audit>)>>
            + Send
            + 's,
    ) -> BoxFuture<'s, ApiResult<R>> {
        Box::pin(async move {
            // A refused or invalid write never reaches the database.
            let ctx = self.check(action)?;
            let valid = validate()?;
            if self.careful {
                let savepoint = if self.open {
                    "RELEASE SAVEPOINT w; SAVEPOINT w"
                } else {
                    "SAVEPOINT w"
                };
                sqlx::Executor::execute(&mut **self.tx()?, sqlx::raw_sql(savepoint)).await?;
                self.open = true;
            }
            let tx = self.tx()?;
            let result = async {
                let (out, audits) = f(&mut *tx, &ctx, valid).await?;
                let replay = match replay {
                    Some(r) => Some((r, replay_answer(&out)?)),
                    None => None,
                };
                Ok((out, audits, replay))
            }
            .await;
            match result {
                Ok((out, audits, replay)) => {
                    self.audits.add(audits, replay);
                    Ok(out)
                }
                Err(e) if self.careful => {
                    self.rollback_write().await?;
                    Err(e)
                }
                Err(e) => {
                    self.spoiled = true;
                    Err(e)
                }
            }
        })
    }

    /// A write failed outside a savepoint: run the group again with
    /// [`Batch::retry_group_carefully`].
    pub fn spoiled(&self) -> bool {
        self.spoiled
    }

    /// Rolls the spoiled group back and starts it again, checked again, each write in a
    /// savepoint.
    pub fn retry_group_carefully(&mut self) -> BoxFuture<'_, ApiResult<()>> {
        Box::pin(async move {
            self.abandon();
            self.begin_group().await?;
            self.careful = true;
            Ok(())
        })
    }

    /// Several writes of one kind in one statement, for an optimistic group only (see
    /// [`Batch::is_optimistic`]): `f` writes them all and answers each one's result and audit
    /// rows, in order; the writes were checked ([`Batch::check`]) and validated by the caller.
    /// When `f` fails the group is spoiled.
    pub fn mutate_many<'s, R: Serialize + Send + 's>(
        &'s mut self,
        ctx: Ctx,
        replays: Vec<Replay>,
        f: impl for<'b> FnOnce(
                &'b mut PgConnection,
                &'b Ctx,
            ) -> BoxFuture<'b, ApiResult<Vec<(R, Vec<Audit>)>>>
            + Send
            + 's,
    ) -> BoxFuture<'s, ApiResult<Vec<R>>> {
        Box::pin(async move {
            if self.careful {
                return Err(ApiError::Internal(anyhow::anyhow!(
                    "writes in one statement need an optimistic group"
                )));
            }
            let tx = self.tx()?;
            let written = async {
                let outs = f(&mut *tx, &ctx).await?;
                if outs.len() != replays.len() {
                    return Err(ApiError::Internal(anyhow::anyhow!(
                        "{} results for {} writes",
                        outs.len(),
                        replays.len()
                    )));
                }
                outs.into_iter()
                    .zip(replays)
                    .map(|((out, audits), replay)| {
                        let answer = replay_answer(&out)?;
                        Ok((out, audits, (replay, answer)))
                    })
                    .collect::<ApiResult<Vec<_>>>()
            }
            .await;
            match written {
                Ok(written) => {
                    let mut outs = Vec::with_capacity(written.len());
                    for (out, audits, replay) in written {
                        self.audits.add(audits, Some(replay));
                        outs.push(out);
                    }
                    Ok(outs)
                }
                Err(e) => {
                    self.spoiled = true;
                    Err(e)
                }
            }
        })
    }

    /// The checks of one write against the group's standing (tier, global role, org role).
    pub fn check(&self, action: Action) -> ApiResult<Ctx> {
        admit(&self.caller, self.org, action, self.standing.clone())
    }

    /// The group runs without savepoints (its writes may be combined).
    pub fn is_optimistic(&self) -> bool {
        !self.careful
    }

    /// Records a refused write's answer for replays, with the group's other records.
    pub fn record_rejection(&mut self, replay: Replay, answer: serde_json::Value) {
        self.audits.add(Vec::new(), Some((replay, answer)));
    }

    /// Whether a write of this group whose audit rows are not written yet touched `entity`.
    pub fn has_unwritten_audit(&self, entity: uuid::Uuid) -> bool {
        self.audits.entities.contains(&entity)
    }

    /// Writes the group's audit rows and replay records now (say, before a conflict check reads
    /// the audit log).
    pub fn write_audits(&mut self) -> BoxFuture<'_, ApiResult<()>> {
        Box::pin(async move {
            let rows = std::mem::take(&mut self.audits);
            let (org, user, device) = (self.org, self.caller.user, self.caller.device);
            let written = rows.write(&mut **self.tx()?, org, user, device).await;
            // Outside any savepoint: the transaction is lost.
            self.spoiled |= written.is_err();
            written
        })
    }

    /// Commits every write that succeeded.
    pub fn commit(mut self) -> BoxFuture<'static, ApiResult<()>> {
        Box::pin(async move { self.commit_tx().await })
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Discards `version`'s part file once the write that recorded it (the last one) commits.
    pub fn discard_after_commit(&mut self, version: VersionId) {
        self.uploaded.push(version);
    }

    /// Commits the group so far and starts the next one, checked and routed again (the
    /// organization may have moved between two groups).
    pub fn next_group(&mut self) -> BoxFuture<'_, ApiResult<()>> {
        Box::pin(async move {
            self.commit_tx().await?;
            self.begin_group().await
        })
    }

    /// [`Batch::next_group`] for the next part of a spoiled group: each write in a savepoint.
    pub fn next_group_carefully(&mut self) -> BoxFuture<'_, ApiResult<()>> {
        Box::pin(async move {
            self.next_group().await?;
            self.careful = true;
            Ok(())
        })
    }

    fn begin_group(&mut self) -> BoxFuture<'_, ApiResult<()>> {
        Box::pin(async move {
            let (auth, tx) = authorize(&self.state, &self.caller, self.org, Action::Sync).await?;
            self.standing = auth.standing;
            self.tx = Some(tx);
            self.careful = false;
            self.spoiled = false;
            self.open = false;
            Ok(())
        })
    }

    /// Drops the group's transaction (rolling it back) and all it would have recorded.
    fn abandon(&mut self) {
        self.tx = None;
        self.audits = AuditRows::default();
        self.uploaded.clear();
    }

    /// Writes the audit rows, commits, then discards the part files of the uploads recorded.
    fn commit_tx(&mut self) -> BoxFuture<'_, ApiResult<()>> {
        Box::pin(async move {
            if self.spoiled {
                self.abandon();
            }
            if self.tx.is_none() {
                return Ok(());
            }
            self.write_audits().await?;
            let uploaded = std::mem::take(&mut self.uploaded);
            if let Some(tx) = self.tx.take() {
                tx.commit().await?;
                for v in uploaded {
                    crate::uploads::discard_part(&self.state, self.org, v).await;
                }
            }
            Ok(())
        })
    }

    fn tx(&mut self) -> ApiResult<&mut Tx> {
        self.tx
            .as_mut()
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("batch used after a failure")))
    }

    /// Undoes the current write (its savepoint stays open, empty). If even that fails the
    /// transaction is dropped: nothing of its group is kept.
    fn rollback_write(&mut self) -> BoxFuture<'_, ApiResult<()>> {
        Box::pin(async move {
            let tx = self.tx()?;
            if let Err(e) = sqlx::query("ROLLBACK TO SAVEPOINT w")
                .execute(&mut **tx)
                .await
            {
                self.abandon();
                return Err(e.into());
            }
            Ok(())
        })
    }
}

/// A read: the checks, then `f` inside the tenant transaction.
pub async fn read<R>(
    state: &AppState,
    caller: &Caller,
    org: OrgId,
    action: Action,
    f: impl for<'a> FnOnce(&'a mut PgConnection, &'a Ctx) -> BoxFuture<'a, ApiResult<R>>,
) -> ApiResult<R> {
    let (auth, mut tx) = authorize(state, caller, org, action).await?;
    let out = f(&mut tx, &auth.ctx).await?;
    tx.commit().await?;
    Ok(out)
}

/// A write: the checks, validation, `f`, its audit rows, commit. All or nothing.
pub async fn mutate<V, R>(
    state: &AppState,
    caller: &Caller,
    org: OrgId,
    action: Action,
    validate: impl FnOnce() -> Result<V, ValidationError>,
    f: impl for<'a> FnOnce(
        &'a mut PgConnection,
        &'a Ctx,
        V,
    ) -> BoxFuture<'a, ApiResult<(R, Vec<Audit>)>>,
) -> ApiResult<R> {
    let (auth, mut tx) = authorize(state, caller, org, action).await?;
    let valid = validate()?;
    let (out, audits) = f(&mut tx, &auth.ctx, valid).await?;
    let mut rows = AuditRows::default();
    rows.add(audits, None);
    rows.write(&mut tx, auth.ctx.org, auth.ctx.user, auth.ctx.device)
        .await?;
    tx.commit().await?;
    Ok(out)
}

#[derive(Clone, Debug)]
struct Standing {
    global: GlobalRole,
    org_role: Option<OrgRole>,
    tier: Option<Tier>,
    memberships: i64,
    /// Where the directory says the organization lives, read after taking its gate.
    home: String,
}

/// The caller's global role, how many organizations they belong to and where `org` lives (from
/// the control database), and their role and the tier in `org` (from the tenant database `db`,
/// in `tx`). One query when the organization lives in the control database. `None` when the
/// profile does not exist yet.
const STANDING_SQL: &str = "SELECT cs.global_role, cs.memberships, cs.home, m.role, s.tier
   FROM caller_standing($1, $2) cs
   LEFT JOIN organization_members m ON m.organization_id = $2 AND m.user_id = $1
   LEFT JOIN subscriptions s ON s.organization_id = $2";

async fn standing(
    state: &AppState,
    tx: &mut PgConnection,
    db: &str,
    user: UserId,
    org: OrgId,
) -> ApiResult<Option<Standing>> {
    type Row = (GlobalRole, i64, String, Option<OrgRole>, Option<Tier>);
    let row: Option<Row> = if db == DEFAULT_DB {
        sqlx::query_as(STANDING_SQL)
            .bind(user)
            .bind(org)
            .fetch_optional(&mut *tx)
            .await?
    } else {
        let control: Option<(GlobalRole, i64, String)> =
            sqlx::query_as("SELECT global_role, memberships, home FROM caller_standing($1, $2)")
                .bind(user)
                .bind(org)
                .fetch_optional(state.pool())
                .await?;
        match control {
            None => None,
            Some((global, memberships, home)) => {
                let (org_role, tier): (Option<OrgRole>, Option<Tier>) = sqlx::query_as(
                    "SELECT m.role, s.tier FROM (SELECT 1) one
                       LEFT JOIN organization_members m ON m.organization_id = $2 AND m.user_id = $1
                       LEFT JOIN subscriptions s ON s.organization_id = $2",
                )
                .bind(user)
                .bind(org)
                .fetch_one(&mut *tx)
                .await?;
                Some((global, memberships, home, org_role, tier))
            }
        }
    };
    Ok(
        row.map(|(global, memberships, home, org_role, tier)| Standing {
            global,
            org_role,
            tier,
            memberships,
            home,
        }),
    )
}

/// Lazy profile creation (the platform's `getCurrentUser`): an identity's first authenticated
/// request creates its profile from what it signed up with.
pub async fn ensure_profile(conn: &mut PgConnection, user: UserId) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO users (id, email, name)
         SELECT id, email, coalesce(display_name, split_part(email, '@', 1))
           FROM identities WHERE id = $1
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(user)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What a write answered, as its replay record keeps it.
fn replay_answer(out: &impl Serialize) -> ApiResult<serde_json::Value> {
    serde_json::to_value(out).map_err(|e| ApiError::Internal(e.into()))
}

/// Audit rows and replay records waiting to be written, in the order of their writes, column by
/// column (bound as typed arrays: no JSON to build here or to parse in the database).
#[derive(Default)]
struct AuditRows {
    ids: Vec<uuid::Uuid>,
    actions: Vec<&'static str>,
    entity_types: Vec<&'static str>,
    entity_ids: Vec<uuid::Uuid>,
    new_values: Vec<serde_json::Value>,
    replay_devices: Vec<DeviceId>,
    replay_seqs: Vec<i64>,
    replay_kinds: Vec<String>,
    replay_outcomes: Vec<serde_json::Value>,
    /// The entities the audit rows name.
    entities: std::collections::HashSet<uuid::Uuid>,
}

impl AuditRows {
    fn add(&mut self, audits: Vec<Audit>, replay: Option<(Replay, serde_json::Value)>) {
        for a in audits {
            self.entities.insert(a.entity_id);
            self.ids.push(uuid::Uuid::now_v7());
            self.actions.push(a.action);
            self.entity_types.push(a.entity_type);
            self.entity_ids.push(a.entity_id);
            self.new_values.push(match a.new_values {
                serde_json::Value::Null => serde_json::json!({}),
                v => v,
            });
        }
        if let Some((r, outcome)) = replay {
            self.replay_devices.push(r.device);
            self.replay_seqs.push(r.client_seq);
            self.replay_kinds.push(r.kind);
            self.replay_outcomes.push(outcome);
        }
    }

    /// All of them in one statement, with the device the writes came from. `entity_seq` is the
    /// entity row's number once written, for conflict detection (within one transaction its
    /// last number is the only one anyone else ever sees).
    async fn write(
        self,
        tx: &mut PgConnection,
        org: OrgId,
        user: UserId,
        device: Option<DeviceId>,
    ) -> ApiResult<()> {
        if self.ids.is_empty() && self.replay_seqs.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "WITH replay AS (
               INSERT INTO applied_mutations (organization_id, device_id, client_seq, mutation_type, outcome)
               SELECT $1, r.device_id, r.client_seq, r.kind, r.outcome
                 FROM unnest($8::uuid[], $9::bigint[], $10::text[], $11::jsonb[])
                      AS r(device_id, client_seq, kind, outcome))
             INSERT INTO audit_log (organization_id, id, user_id, device_id, action, entity_type,
                                    entity_id, new_values, entity_seq)
             SELECT $1, x.id, $2, $4, x.action, x.entity_type, x.entity_id, x.new_values,
                    audit_entity_seq($1, x.entity_type, x.entity_id)
               FROM unnest($3::uuid[], $5::text[], $6::text[], $7::uuid[], $12::jsonb[])
                    WITH ORDINALITY AS x(id, action, entity_type, entity_id, new_values, n)
              ORDER BY x.n",
        )
        .bind(org)
        .bind(user)
        .bind(&self.ids)
        .bind(device)
        .bind(&self.actions)
        .bind(&self.entity_types)
        .bind(&self.entity_ids)
        .bind(&self.replay_devices)
        .bind(&self.replay_seqs)
        .bind(&self.replay_kinds)
        .bind(&self.replay_outcomes)
        .bind(&self.new_values)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}
