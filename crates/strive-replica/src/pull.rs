//! Pulling the change feed over HTTP into the replica, streamed: lines are applied in batches
//! as they arrive, so memory stays flat whatever the organization's size.

use crate::apply::Applied;
use crate::error::{ReplicaError, SyncError};
use crate::open::Replica;
use futures_util::StreamExt;
use rusqlite::TransactionBehavior;

/// Lines per SQLite transaction: large enough to amortise the commit, small enough to bound memory.
pub const APPLY_BATCH: usize = 10_000;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PullStats {
    pub upserts: u64,
    pub deletes: u64,
    pub pages: u32,
    pub last_seq: i64,
    /// An admin asked this device to drop its copy and pull everything again.
    pub full_resync_requested: bool,
    /// Time spent writing into the replica (the rest is waiting for the network and server).
    pub apply_time: std::time::Duration,
}

/// The response if the server accepted the request, else its typed refusal.
pub(crate) async fn ok_or_refused(res: reqwest::Response) -> Result<reqwest::Response, SyncError> {
    if res.status().is_success() {
        return Ok(res);
    }
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    let text = |k: &str| body[k].as_str().map(str::to_string);
    Err(SyncError::Refused {
        status,
        code: text("code").unwrap_or_else(|| format!("http_{status}")),
        message: text("message").unwrap_or_else(|| "no reason given".into()),
    })
}

/// Pulls every page after the replica's last sequence number. `on_progress` hears the running
/// totals after each applied batch.
pub async fn pull_all(
    replica: &mut Replica,
    http: &reqwest::Client,
    base_url: &str,
    token: &str,
    mut on_progress: impl FnMut(&PullStats),
) -> Result<PullStats, SyncError> {
    let mut stats = PullStats::default();
    loop {
        let after = replica.last_seq()?;
        let url = format!(
            "{base_url}/v1/orgs/{}/sync/pull?after={after}",
            replica.org()
        );
        let res = http.get(&url).bearer_auth(token).send().await?;
        let res = ok_or_refused(res).await?;
        let mut body = res.bytes_stream();
        let mut pending: Vec<u8> = Vec::new();
        let mut lines: Vec<Vec<u8>> = Vec::with_capacity(APPLY_BATCH);
        let mut end = None;
        while let Some(chunk) = body.next().await {
            pending.extend_from_slice(&chunk?);
            // Cut every complete line out of the buffer, then keep only the unfinished tail
            // (one copy per chunk, not one per line).
            let mut start = 0;
            while let Some(pos) = pending[start..].iter().position(|b| *b == b'\n') {
                lines.push(pending[start..start + pos].to_vec());
                start += pos + 1;
                if lines.len() >= APPLY_BATCH {
                    end = end.or(apply(replica, &mut lines, &mut stats)?.end);
                    on_progress(&stats);
                }
            }
            pending.drain(..start);
        }
        if !pending.is_empty() {
            lines.push(std::mem::take(&mut pending));
        }
        end = end.or(apply(replica, &mut lines, &mut stats)?.end);
        stats.pages += 1;
        on_progress(&stats);
        let Some(end) = end else {
            return Err(SyncError::Replica(ReplicaError::BadChange(
                "the pull ended before its last line (connection cut?)".into(),
            )));
        };
        stats.last_seq = replica.last_seq()?;
        stats.full_resync_requested |= end.full_resync;
        if !end.more {
            replica.remeasure(stats.upserts + stats.deletes)?;
            return Ok(stats);
        }
    }
}

fn apply(
    replica: &mut Replica,
    lines: &mut Vec<Vec<u8>>,
    stats: &mut PullStats,
) -> Result<Applied, ReplicaError> {
    let started = std::time::Instant::now();
    let applied = replica.apply_lines(lines.iter().map(|l| l.as_slice()))?;
    stats.apply_time += started.elapsed();
    lines.clear();
    stats.upserts += applied.upserts;
    stats.deletes += applied.deletes;
    Ok(applied)
}

impl Replica {
    /// Forgets the server's data so the next pull starts from 0 (an admin asked for a full
    /// re-sync). Rows with unsettled local writes stay, their server versions unknown until the
    /// pull brings them again; the outbox is untouched, so no local work is lost.
    pub fn reset_for_full_resync(&mut self) -> Result<(), ReplicaError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (table, key) in crate::apply::SYNCED {
            tx.execute(
                &format!(
                    "DELETE FROM {table} WHERE NOT EXISTS
                       (SELECT 1 FROM shadows s WHERE s.tbl = '{table}' AND s.id = {table}.{key})"
                ),
                [],
            )?;
        }
        tx.execute("UPDATE shadows SET row = NULL", [])?;
        tx.execute("DELETE FROM sync_state WHERE key = 'last_seq'", [])?;
        tx.commit()?;
        Ok(())
    }
}
