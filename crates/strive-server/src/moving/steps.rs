//! The steps of a move (see the module above): copy, catch up, pause, verify, switch, and the
//! clean-ups on either side of the switch.

use super::copy::{self, Position, Schema};
use super::tables::{self, Kind};
use super::{verify, MoveError, MoveOptions, MoveReport, Phase};
use crate::admin::{DirEntry, Operator};
use crate::tenants::{gate_key_sql, index};
use sqlx::{Connection, PgConnection};
use std::future::Future;
use std::time::Instant;
use strive_domain::OrgId;

/// Steps 1 to 6. Returns once the directory points at `to` (or with why not).
#[allow(clippy::too_many_arguments)]
pub(super) async fn copy_and_switch<F, Fut>(
    op: &Operator,
    ctl: &mut PgConnection,
    org: OrgId,
    from: &str,
    to: &str,
    opts: MoveOptions,
    at: &mut F,
    report: &mut MoveReport,
) -> Result<(), MoveError>
where
    F: FnMut(Phase) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut src = op.connect(from).await?;
    copy::session(&mut src, org, false).await?;
    let mut dst = op.connect(to).await?;
    copy::session(&mut dst, org, true).await?;
    let schema = Schema::discover(&mut src).await?;
    if Schema::discover(&mut dst).await? != schema {
        return Err(MoveError::SchemaDiffers(from.into(), to.into()));
    }
    // What an interrupted attempt left behind.
    copy::clear(&mut dst, &schema, org).await?;
    at(Phase::Copying).await;
    let t = Instant::now();
    let (mut pos, rows) = copy::bulk(&mut src, &mut dst, &schema, org).await?;
    report.copied = rows;
    at(Phase::Copied).await;
    loop {
        let n = pass(&mut src, &mut dst, &schema, org, &mut pos, report).await?;
        if n <= opts.small_delta || report.passes >= opts.max_passes {
            break;
        }
    }
    // Every row compared, the source as of one more pass's snapshot against the target, while
    // the organization keeps working: the pause then only compares versions and what changed.
    let v = Instant::now();
    let checked = copy::catch_up(&mut src, &mut dst, &schema, org, pos, true).await?;
    report.passes += 1;
    report.caught_up += checked.changed;
    pos = checked.pos;
    let checked = match checked.differences {
        Some(bad) if !bad.is_empty() => return Err(MoveError::Mismatch(bad)),
        _ => pos,
    };
    report.check_time = v.elapsed();
    report.copy_time = t.elapsed();

    let mut gate = op.connect(from).await?;
    sqlx::query(&format!(
        "SET lock_timeout = '{}ms'",
        opts.pause_timeout.as_millis().max(1)
    ))
    .execute(&mut gate)
    .await?;
    let lock = format!("SELECT pg_advisory_lock({})", gate_key_sql("$1"));
    let mut attempt = 0;
    let paused_at = loop {
        attempt += 1;
        let asked = Instant::now();
        match sqlx::query(&lock)
            .bind(org.to_string())
            .execute(&mut gate)
            .await
        {
            Ok(_) => break asked,
            Err(e) if is_lock_timeout(&e) && attempt < opts.pause_attempts => {
                tracing::info!(
                    attempt,
                    "requests still running at the pause; catching up and trying again"
                );
                pass(&mut src, &mut dst, &schema, org, &mut pos, report).await?;
            }
            Err(e) if is_lock_timeout(&e) => {
                return Err(MoveError::PauseTimedOut {
                    attempts: attempt,
                    timeout: opts.pause_timeout,
                })
            }
            Err(e) => return Err(e.into()),
        }
    };
    let switched = async {
        let last = Instant::now();
        pass(&mut src, &mut dst, &schema, org, &mut pos, report).await?;
        report.last_pass = last.elapsed();
        report.last_seq = pos.seq;
        at(Phase::Paused).await;
        let v = Instant::now();
        verify(&mut src, &mut dst, &schema, org, checked).await?;
        report.verify_time = v.elapsed();
        let done = sqlx::query(
            "UPDATE org_directory
                SET database = $2, state = 'cleanup', move_from = $3, move_to = NULL,
                    version = version + 1, updated_at = now()
              WHERE organization_id = $1 AND database = $3 AND state = 'moving' AND move_to = $2",
        )
        .bind(org)
        .bind(to)
        .bind(from)
        .execute(&mut *ctl)
        .await?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(MoveError::DirectoryChanged)
        }
    }
    .await;
    // Whatever happened, let the organization's requests through again (closing the
    // connection would too).
    if let Err(e) = sqlx::query("SELECT pg_advisory_unlock_all()")
        .execute(&mut gate)
        .await
    {
        tracing::warn!(error = %e, "could not open the gate; closing its connection instead");
    }
    drop(gate);
    report.pause = paused_at.elapsed();
    switched?;
    // Devices told "moving" are backing off: tell them to pull now, from the new home.
    sqlx::query("SELECT pg_notify('strive_changes', $1)")
        .bind(org.to_string())
        .execute(&mut dst)
        .await?;
    Ok(())
}

/// One catch-up pass; answers rows changed.
async fn pass(
    src: &mut PgConnection,
    dst: &mut PgConnection,
    schema: &Schema,
    org: OrgId,
    pos: &mut Position,
    report: &mut MoveReport,
) -> Result<u64, MoveError> {
    let p = copy::catch_up(src, dst, schema, org, *pos, false).await?;
    *pos = p.pos;
    report.passes += 1;
    report.caught_up += p.changed;
    Ok(p.changed)
}

fn is_lock_timeout(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "55P03")
}

/// Step 5, while paused: counts, versions and what changed since the full check at `checked`
/// ([`verify::since`]). Tables outside the change feed that differ are copied again whole (their
/// deletes are not tracked) and compared in full; any other difference fails the move.
async fn verify(
    src: &mut PgConnection,
    dst: &mut PgConnection,
    schema: &Schema,
    org: OrgId,
    checked: Position,
) -> Result<(), MoveError> {
    let mut bad = verify::since(src, dst, &schema.tables, org, checked).await?;
    let plain: Vec<&tables::Table> = schema
        .tables
        .iter()
        .filter(|t| t.kind == Kind::Plain && bad.iter().any(|(n, _, _)| *n == t.name))
        .collect();
    for t in plain {
        copy::recopy(src, dst, t, org).await?;
        let one = std::slice::from_ref(t);
        let (a, b) = tokio::try_join!(verify::sums(src, one, org), verify::sums(dst, one, org))?;
        if verify::differences(&a, &b).is_empty() {
            bad.retain(|(n, _, _)| *n != t.name);
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(MoveError::Mismatch(bad))
    }
}

/// The membership index for the organization, from its new home.
pub(super) async fn refresh_index(
    op: &Operator,
    ctl: &mut PgConnection,
    org: OrgId,
    db: &str,
) -> Result<(), MoveError> {
    let mut conn = op.connect(db).await?;
    copy::session(&mut conn, org, false).await?;
    let e = index::read(&mut conn, org).await?;
    let mut tx = ctl.begin().await?;
    index::lock(&mut tx, org).await?;
    index::write(&mut tx, org, &e).await?;
    tx.commit().await?;
    Ok(())
}

/// Step 7: removes the organization's rows from the database it left.
pub(super) async fn finish_cleanup(
    op: &Operator,
    ctl: &mut PgConnection,
    e: &DirEntry,
) -> Result<u64, MoveError> {
    let Some(old) = e.move_from.as_deref().filter(|old| *old != e.database) else {
        return Ok(0);
    };
    let mut conn = op.connect(old).await?;
    copy::session(&mut conn, e.organization_id, true).await?;
    let schema = Schema::discover(&mut conn).await?;
    let removed = copy::clear(&mut conn, &schema, e.organization_id).await?;
    sqlx::query(
        "UPDATE org_directory SET state = 'active', move_from = NULL, updated_at = now()
          WHERE organization_id = $1 AND state = 'cleanup'",
    )
    .bind(e.organization_id)
    .execute(&mut *ctl)
    .await?;
    Ok(removed)
}

/// After a failure before the switch: the organization stays in `from`; remove the partial copy.
pub(super) async fn abandon(
    op: &Operator,
    ctl: &mut PgConnection,
    org: OrgId,
    from: &str,
    to: &str,
) {
    let reset = sqlx::query(
        "UPDATE org_directory SET state = 'active', move_to = NULL, updated_at = now()
          WHERE organization_id = $1 AND database = $2 AND state = 'moving'",
    )
    .bind(org)
    .bind(from)
    .execute(&mut *ctl)
    .await;
    if let Err(e) = reset {
        tracing::warn!(error = %e, "could not mark the move abandoned; `org move` again will");
    }
    let cleared = async {
        let mut dst = op.connect(to).await?;
        copy::session(&mut dst, org, true).await?;
        let schema = Schema::discover(&mut dst).await?;
        copy::clear(&mut dst, &schema, org).await?;
        Ok::<_, MoveError>(())
    }
    .await;
    if let Err(e) = cleared {
        tracing::warn!(error = %e, "could not remove the partial copy; the next move of this organization will");
    }
}
