//! Pushing the outbox, and settling it once the server's answers and changes are in.

use crate::apply::{columns_of, delete_row, upsert_row};
use crate::error::ReplicaError;
use crate::error::SyncError;
use crate::open::Replica;
use crate::pull::{self, PullStats};
use rusqlite::params;
use rusqlite::TransactionBehavior;
use serde::Deserialize;
use serde_json::{json, Value};

/// Mutations per push request (the server takes up to 1,000).
pub const PUSH_BATCH: usize = 500;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PushStats {
    pub applied: u64,
    pub rejected: u64,
}

#[derive(Deserialize)]
struct PushResponse {
    results: Vec<PushResult>,
}

#[derive(Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum PushResult {
    Applied {
        client_seq: i64,
    },
    Rejected {
        client_seq: i64,
        code: String,
        message: String,
    },
}

/// Sends every pending mutation, in order, in batches; records each answer. The effects are
/// settled later by [`Replica::release_settled`], after a pull.
pub async fn push_pending(
    replica: &mut Replica,
    http: &reqwest::Client,
    base_url: &str,
    token: &str,
) -> Result<PushStats, SyncError> {
    let mut stats = PushStats::default();
    loop {
        let batch = replica.pending_batch(PUSH_BATCH)?;
        if batch.is_empty() {
            return Ok(stats);
        }
        let remaining = replica.pending()? - batch.len() as i64;
        let items: Vec<Value> = batch
            .iter()
            .map(|(seq, m)| json!({ "client_seq": seq, "mutation": m }))
            .collect();
        let url = format!("{base_url}/v1/orgs/{}/sync/push", replica.org());
        let res = http
            .post(&url)
            .bearer_auth(token)
            .json(&json!({ "mutations": items, "pending": remaining }))
            .send()
            .await?;
        let res = crate::pull::ok_or_refused(res).await?;
        let answer: PushResponse = res.json().await?;
        let (a, r) = replica.record_results(&answer.results)?;
        stats.applied += a;
        stats.rejected += r;
    }
}

/// Push, pull, settle: one full round.
pub async fn sync_once(
    replica: &mut Replica,
    http: &reqwest::Client,
    base_url: &str,
    token: &str,
    on_progress: impl FnMut(&PullStats),
) -> Result<(PushStats, PullStats), SyncError> {
    // A document's ciphertext goes up before the mutation that records it.
    crate::transfer::upload_pending(replica, http, base_url, token, |_| {}).await?;
    let pushed = push_pending(replica, http, base_url, token).await?;
    let pulled = pull::pull_all(replica, http, base_url, token, on_progress).await?;
    replica.release_settled()?;
    // Pinned documents stay readable offline: fetch new versions now (best effort; the next
    // round tries again).
    if let Err(e) = crate::transfer::fetch_pinned(replica, http, base_url, token).await {
        tracing::warn!(error = %e, "could not fetch a pinned document");
    }
    replica.set_state_value(
        "last_sync_at",
        &chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )?;
    Ok((pushed, pulled))
}

impl Replica {
    fn pending_batch(&self, n: usize) -> Result<Vec<(i64, Value)>, ReplicaError> {
        let mut stmt = self.conn.prepare(
            "SELECT client_seq, mutation FROM outbox WHERE state = 'pending' ORDER BY client_seq LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([n as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows
            .into_iter()
            .map(|(s, m)| (s, serde_json::from_str(&m).unwrap_or(Value::Null)))
            .collect())
    }

    fn record_results(&mut self, results: &[PushResult]) -> Result<(u64, u64), ReplicaError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (mut applied, mut rejected) = (0, 0);
        for r in results {
            match r {
                PushResult::Applied { client_seq } => {
                    tx.execute(
                        "UPDATE outbox SET state = 'applied' WHERE client_seq = ?1",
                        [client_seq],
                    )?;
                    applied += 1;
                }
                PushResult::Rejected {
                    client_seq,
                    code,
                    message,
                } => {
                    tx.execute(
                        "INSERT OR REPLACE INTO rejections (client_seq, mutation, code, message)
                         SELECT client_seq, json_remove(mutation, '$.args.data_key'), ?2, ?3
                           FROM outbox WHERE client_seq = ?1",
                        params![client_seq, code, message],
                    )?;
                    tx.execute(
                        "UPDATE outbox SET state = 'rejected' WHERE client_seq = ?1",
                        [client_seq],
                    )?;
                    rejected += 1;
                }
            }
        }
        tx.commit()?;
        Ok((applied, rejected))
    }

    /// Settles every answered mutation: rows no unsettled mutation touches any more take their
    /// server version again (which by now includes applied changes and excludes rejected ones).
    pub fn release_settled(&mut self) -> Result<u64, ReplicaError> {
        let columns = columns_of(&self.conn)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let settled: Vec<(i64, String)> = {
            let mut stmt = tx.prepare("SELECT client_seq, touched FROM outbox WHERE state <> 'pending' ORDER BY client_seq")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            rows
        };
        for (seq, touched) in &settled {
            let touched: Vec<(String, String)> = serde_json::from_str(touched).unwrap_or_default();
            for (tbl, id) in touched {
                tx.execute(
                    "UPDATE shadows SET pending = pending - 1 WHERE tbl = ?1 AND id = ?2",
                    params![tbl, id],
                )?;
                let done: Option<(i64, Option<String>)> = tx
                    .query_row(
                        "SELECT pending, row FROM shadows WHERE tbl = ?1 AND id = ?2",
                        params![tbl, id],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .ok();
                if let Some((pending, row)) = done {
                    if pending <= 0 {
                        match row.and_then(|r| {
                            serde_json::from_str::<serde_json::Map<String, Value>>(&r).ok()
                        }) {
                            Some(server_row) => upsert_row(&tx, &columns, &tbl, &server_row)?,
                            None => delete_row(&tx, &tbl, &id)?,
                        }
                        tx.execute(
                            "DELETE FROM shadows WHERE tbl = ?1 AND id = ?2",
                            params![tbl, id],
                        )?;
                    }
                }
            }
            tx.execute("DELETE FROM outbox WHERE client_seq = ?1", [seq])?;
        }
        tx.commit()?;
        Ok(settled.len() as u64)
    }
}
