//! Moving an organization to another database while it keeps working
//! (`strive-server org move ORG --to DB`, docs/operations.md).
//!
//! 1. Copy every row (COPY, key order) from one snapshot of the source; the organization keeps
//!    working meanwhile. Rows keep their `sync_seq`, so devices never re-sync.
//! 2. Catch up what changed since, from the change feed (and transaction ids for tables outside
//!    it), until a pass finds little; one more pass compares every row of both sides (counts and
//!    checksums per table, the source as of that pass's snapshot).
//! 3. Pause: take the organization's write gate exclusively in the source database. Requests
//!    answer "moving, try again in a moment" (503 `org_moving`) until step 6.
//! 4. Catch up the last changes; set the feed counter on the target.
//! 5. Verify, per table, row counts and checksums of every row's version (key and `sync_seq`)
//!    and of the full rows written since step 2's check, on both sides.
//! 6. Switch the directory entry (control database), open the gate, tell devices to pull.
//! 7. Only then delete the organization's rows from the old database.
//!
//! Until step 6 commits, the organization lives in the old database whatever happens: a failure
//! (or a crash: the gate is a session lock, gone with the connection) leaves it there, and the
//! target's partial copy is removed by this run or the next. After step 6 it lives in the new
//! one; a crash before step 7 ends leaves the directory in state `cleanup`, which the next
//! `org move` of the organization finishes. One mover per organization at a time.

pub mod copy;
mod steps;
pub mod tables;
pub mod verify;

use crate::admin::{find_org, DirEntry, Operator};
use crate::tenants::registry::RegistryError;
use sqlx::PgConnection;
use std::future::Future;
use std::time::{Duration, Instant};
use steps::{abandon, copy_and_switch, finish_cleanup, refresh_index};
use strive_domain::OrgId;

/// Points a move passes, in order (`--hold-at` stops at one, for tests and rehearsals).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// The target holds no rows of the organization; the first pass starts.
    Copying,
    /// Every row as of one snapshot is in the target.
    Copied,
    /// Writes are paused and the target caught up; next: verify and switch.
    Paused,
    /// The directory points at the target; the old rows are still there.
    Switched,
    /// The old rows are gone.
    Done,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Copying => "copying",
            Phase::Copied => "copied",
            Phase::Paused => "paused",
            Phase::Switched => "switched",
            Phase::Done => "done",
        }
    }
}

impl std::str::FromStr for Phase {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [
            Phase::Copying,
            Phase::Copied,
            Phase::Paused,
            Phase::Switched,
            Phase::Done,
        ]
        .into_iter()
        .find(|p| p.name() == s)
        .ok_or_else(|| format!("unknown phase '{s}' (copying, copied, paused, switched, done)"))
    }
}

#[derive(Clone, Copy, Debug)]
pub struct MoveOptions {
    /// How long the pause may wait for requests in flight to finish (new ones already get
    /// "moving" meanwhile) before giving up this attempt.
    pub pause_timeout: Duration,
    /// Attempts at pausing (with a catch-up pass between) before the move fails.
    pub pause_attempts: u32,
    /// Catch-up passes before pausing, at most.
    pub max_passes: u32,
    /// Pause as soon as a pass found at most this many changed rows.
    pub small_delta: u64,
}

impl Default for MoveOptions {
    fn default() -> Self {
        Self {
            pause_timeout: Duration::from_secs(5),
            pause_attempts: 3,
            max_passes: 10,
            small_delta: 1000,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct MoveReport {
    pub org: Option<OrgId>,
    pub from: String,
    pub to: String,
    /// Already there: nothing was copied (an interrupted clean-up may have been finished).
    pub already_there: bool,
    /// Rows of the first pass.
    pub copied: u64,
    /// Rows written or deleted by catch-up passes (the last one during the pause).
    pub caught_up: u64,
    pub passes: u32,
    /// The change feed's last number, the same on both sides at the switch.
    pub last_seq: i64,
    /// Rows removed from the old database.
    pub removed: u64,
    pub copy_time: Duration,
    /// The full comparison of every row, before the pause (part of `copy_time`).
    pub check_time: Duration,
    /// From asking for the gate to opening it again: how long writes were refused.
    pub pause: Duration,
    pub verify_time: Duration,
    /// The catch-up pass during the pause (part of `pause`).
    pub last_pass: Duration,
    pub total: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    #[error("no organization has the id or slug '{0}'")]
    UnknownOrg(String),
    #[error("no database named '{0}' is registered (see `strive-server db list`)")]
    UnknownDatabase(String),
    #[error("another move of this organization is running")]
    Busy,
    #[error("the organization is still being created; try again when `org list` shows it active")]
    NotReady,
    #[error("databases '{0}' and '{1}' have different schemas; run `strive-server migrate` first")]
    SchemaDiffers(String, String),
    #[error("could not pause the organization's writes: requests kept running past {timeout:?} in {attempts} attempts; nothing changed, try again")]
    PauseTimedOut { attempts: u32, timeout: Duration },
    #[error("the copy does not match the source ({}); nothing changed, the organization stays where it was",
            .0.iter().map(|(t, a, b)| format!("{t}: {a} rows vs {b}")).collect::<Vec<_>>().join(", "))]
    Mismatch(Vec<(String, i64, i64)>),
    #[error("the directory entry changed during the move; nothing changed")]
    DirectoryChanged,
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Schema(#[from] tables::SchemaError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

fn move_lock_sql(f: &str) -> String {
    format!("SELECT {f}(hashtextextended('strive.move:' || $1, 0))")
}

/// Whether a mover is working on `org` now (its lock is held).
pub async fn mover_running(ctl: &mut PgConnection, org: OrgId) -> Result<bool, sqlx::Error> {
    let free: bool = sqlx::query_scalar(&move_lock_sql("pg_try_advisory_lock"))
        .bind(org.to_string())
        .fetch_one(&mut *ctl)
        .await?;
    if free {
        sqlx::query(&move_lock_sql("pg_advisory_unlock"))
            .bind(org.to_string())
            .execute(&mut *ctl)
            .await?;
    }
    Ok(!free)
}

async fn entry(ctl: &mut PgConnection, org: OrgId) -> Result<DirEntry, MoveError> {
    find_org(ctl, &org.to_string())
        .await?
        .ok_or_else(|| MoveError::UnknownOrg(org.to_string()))
}

/// Moves the organization `org_ref` (id or slug) to database `to`. `at` is awaited at each
/// [`Phase`].
pub async fn move_org<F, Fut>(
    control_url: &str,
    org_ref: &str,
    to: &str,
    opts: MoveOptions,
    mut at: F,
) -> Result<MoveReport, MoveError>
where
    F: FnMut(Phase) -> Fut,
    Fut: Future<Output = ()>,
{
    let started = Instant::now();
    let op = Operator::new(control_url).await?;
    let mut ctl = op.control().await?;
    let org = find_org(&mut ctl, org_ref)
        .await?
        .ok_or_else(|| MoveError::UnknownOrg(org_ref.to_string()))?
        .organization_id;
    if !op.knows(to) {
        return Err(MoveError::UnknownDatabase(to.to_string()));
    }
    // Held by this connection until the move ends (or the process dies).
    let mine: bool = sqlx::query_scalar(&move_lock_sql("pg_try_advisory_lock"))
        .bind(org.to_string())
        .fetch_one(&mut ctl)
        .await?;
    if !mine {
        return Err(MoveError::Busy);
    }
    let mut report = MoveReport {
        org: Some(org),
        to: to.to_string(),
        ..Default::default()
    };
    let mut e = entry(&mut ctl, org).await?;
    if e.state == "creating" {
        return Err(MoveError::NotReady);
    }
    if e.state == "cleanup" {
        report.removed += finish_cleanup(&op, &mut ctl, &e).await?;
        e = entry(&mut ctl, org).await?;
    }
    report.from = e.database.clone();
    if e.database == to {
        report.already_there = true;
        report.total = started.elapsed();
        return Ok(report);
    }
    sqlx::query(
        "UPDATE org_directory SET state = 'moving', move_to = $2, updated_at = now()
          WHERE organization_id = $1 AND database = $3",
    )
    .bind(org)
    .bind(to)
    .bind(&e.database)
    .execute(&mut ctl)
    .await?;
    let outcome = copy_and_switch(
        &op,
        &mut ctl,
        org,
        &e.database,
        to,
        opts,
        &mut at,
        &mut report,
    )
    .await;
    if let Err(err) = outcome {
        // Did the switch commit before the error? Then the organization lives in `to` now.
        let now = entry(&mut ctl, org).await?;
        if now.database != to {
            abandon(&op, &mut ctl, org, &e.database, to).await;
            return Err(err);
        }
        tracing::warn!(error = %err, "the move switched, then failed; finishing it");
    }
    at(Phase::Switched).await;
    refresh_index(&op, &mut ctl, org, to).await?;
    let switched = entry(&mut ctl, org).await?;
    report.removed += finish_cleanup(&op, &mut ctl, &switched).await?;
    at(Phase::Done).await;
    report.total = started.elapsed();
    Ok(report)
}
