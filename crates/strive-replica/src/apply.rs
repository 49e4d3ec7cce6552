//! Applies the server's change feed (NDJSON lines from `/sync/pull`) to the replica, many lines
//! per SQLite transaction, and records the last sequence number in the same transaction so a
//! crash never applies a change twice nor skips one.

use crate::error::ReplicaError;
use crate::open::Replica;
use crate::schema;
use rusqlite::types::Value as Sql;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

/// Tables the feed may name, with the column that identifies a row.
const SYNCED: &[(&str, &str)] = &[
    ("organizations", "id"),
    ("organization_members", "user_id"),
    ("subscriptions", "organization_id"),
    ("contacts", "id"),
    ("deals", "id"),
    ("transaction_loops", "id"),
    ("transaction_tasks", "id"),
    ("documents", "id"),
    ("audit_log", "id"),
];

pub fn is_synced_table(t: &str) -> bool {
    SYNCED.iter().any(|(name, _)| *name == t)
}

#[derive(Deserialize)]
struct Line {
    seq: Option<i64>,
    table: Option<String>,
    row: Option<serde_json::Map<String, Value>>,
    deleted: Option<String>,
    #[serde(default)]
    end: bool,
    last_seq: Option<i64>,
    #[serde(default)]
    more: bool,
    #[serde(default)]
    full_resync: bool,
}

/// What the end line of a page said.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PageEnd {
    pub last_seq: i64,
    pub more: bool,
    pub full_resync: bool,
}

/// Counts of what one batch applied.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub upserts: u64,
    pub deletes: u64,
    pub end: Option<PageEnd>,
}

fn to_sql(v: Option<&Value>) -> Sql {
    match v {
        None | Some(Value::Null) => Sql::Null,
        Some(Value::String(s)) => Sql::Text(s.clone()),
        Some(Value::Bool(b)) => Sql::Integer(*b as i64),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Sql::Integer)
            .or_else(|| n.as_f64().map(Sql::Real))
            .unwrap_or(Sql::Null),
        Some(other) => Sql::Text(other.to_string()),
    }
}

impl Replica {
    /// Applies NDJSON `lines` in one transaction. Lines at or below the stored sequence number
    /// are skipped (a page re-read after a crash).
    pub fn apply_lines<'a>(
        &mut self,
        lines: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Applied, ReplicaError> {
        let mut columns: HashMap<&'static str, Vec<String>> = HashMap::new();
        for (t, _) in SYNCED {
            columns.insert(t, schema::columns(&self.conn, t)?);
        }
        let have = self.last_seq()?;
        let tx = self.conn.transaction()?;
        let mut out = Applied::default();
        let mut last = have;
        for raw in lines {
            if raw.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            let line: Line =
                serde_json::from_slice(raw).map_err(|e| ReplicaError::BadChange(e.to_string()))?;
            if line.end {
                out.end = Some(PageEnd {
                    last_seq: line.last_seq.unwrap_or(last),
                    more: line.more,
                    full_resync: line.full_resync,
                });
                continue;
            }
            let seq = line
                .seq
                .ok_or_else(|| ReplicaError::BadChange("line without seq".into()))?;
            if seq <= have {
                continue;
            }
            let table = line.table.unwrap_or_default();
            let Some((name, key)) = SYNCED.iter().find(|(t, _)| *t == table) else {
                tracing::debug!(%table, "skipping a change of a table this version does not keep");
                last = last.max(seq);
                continue;
            };
            if let Some(id) = line.deleted {
                tx.prepare_cached(&format!("DELETE FROM {name} WHERE {key} = ?1"))?
                    .execute([id])?;
                out.deletes += 1;
            } else if let Some(row) = line.row {
                let cols = &columns[name];
                let sql = format!(
                    "INSERT OR REPLACE INTO {name} ({}) VALUES ({})",
                    cols.join(", "),
                    (1..=cols.len())
                        .map(|i| format!("?{i}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                let values: Vec<Sql> = cols.iter().map(|c| to_sql(row.get(c))).collect();
                tx.prepare_cached(&sql)?
                    .execute(rusqlite::params_from_iter(values))?;
                out.upserts += 1;
            }
            last = last.max(seq);
        }
        if last > have {
            tx.execute(
                "INSERT INTO sync_state (key, value) VALUES ('last_seq', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [last.to_string()],
            )?;
        }
        tx.commit()?;
        Ok(out)
    }
}
