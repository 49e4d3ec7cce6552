//! Applies the server's change feed (NDJSON lines from `/sync/pull`) to the replica, many lines
//! per SQLite transaction, and records the last sequence number in the same transaction so a
//! crash never applies a change twice nor skips one.

use crate::error::ReplicaError;
use crate::open::Replica;
use crate::schema;
use crate::time;
use rusqlite::types::Value as Sql;
use rusqlite::TransactionBehavior;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

/// Tables the feed may name, with the column that identifies a row.
pub(crate) const SYNCED: &[(&str, &str)] = &[
    ("organizations", "id"),
    ("organization_members", "user_id"),
    ("subscriptions", "organization_id"),
    ("contacts", "id"),
    ("deals", "id"),
    ("transaction_loops", "id"),
    ("transaction_tasks", "id"),
    ("documents", "id"),
    ("document_versions", "id"),
    ("audit_log", "id"),
    ("conflicts", "id"),
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

pub(crate) fn to_sql(v: Option<&Value>) -> Sql {
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

/// The key column of a synced table.
pub(crate) fn key_of(table: &str) -> Option<&'static str> {
    SYNCED.iter().find(|(t, _)| *t == table).map(|(_, k)| *k)
}

/// Per synced table: its columns and its upsert statement, built once per batch.
pub(crate) type Columns = HashMap<&'static str, (Vec<String>, String)>;

pub(crate) fn columns_of(conn: &rusqlite::Connection) -> Result<Columns, ReplicaError> {
    let mut columns = HashMap::new();
    for (t, _) in SYNCED {
        let cols = schema::columns(conn, t)?;
        let sql = format!(
            "INSERT OR REPLACE INTO {t} ({}) VALUES ({})",
            cols.join(", "),
            (1..=cols.len())
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        columns.insert(*t, (cols, sql));
    }
    Ok(columns)
}

/// `INSERT OR REPLACE` of one row given as a JSON object (absent columns become NULL; instants
/// are stored in [`time`]'s canonical form).
pub(crate) fn upsert_row(
    tx: &rusqlite::Transaction<'_>,
    columns: &Columns,
    table: &str,
    row: &serde_json::Map<String, Value>,
) -> Result<(), ReplicaError> {
    let Some((cols, sql)) = columns.get(table) else {
        return Err(ReplicaError::BadChange(format!("unknown table {table}")));
    };
    let values = cols.iter().map(|c| {
        let v = row.get(c);
        match v {
            Some(Value::String(t)) if time::is_time_column(c) => {
                time::normalize(t).map_or_else(|| to_sql(v), Sql::Text)
            }
            _ => to_sql(v),
        }
    });
    tx.prepare_cached(sql)?
        .execute(rusqlite::params_from_iter(values))?;
    Ok(())
}

pub(crate) fn delete_row(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    id: &str,
) -> Result<(), ReplicaError> {
    let key =
        key_of(table).ok_or_else(|| ReplicaError::BadChange(format!("unknown table {table}")))?;
    tx.prepare_cached(&format!("DELETE FROM {table} WHERE {key} = ?1"))?
        .execute([id])?;
    Ok(())
}

/// A live row as a JSON object, or `None` when absent.
pub(crate) fn read_row(
    tx: &rusqlite::Connection,
    table: &str,
    id: &str,
) -> Result<Option<serde_json::Map<String, Value>>, ReplicaError> {
    let key =
        key_of(table).ok_or_else(|| ReplicaError::BadChange(format!("unknown table {table}")))?;
    let mut stmt = tx.prepare_cached(&format!("SELECT * FROM {table} WHERE {key} = ?1"))?;
    let names: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
    let mut rows = stmt.query([id])?;
    match rows.next()? {
        Some(r) => Ok(Some(row_json(&names, r)?)),
        None => Ok(None),
    }
}

/// Every live row of a synced table as JSON objects, in key order (diagnostics, proof suites).
pub(crate) fn read_all(
    conn: &rusqlite::Connection,
    table: &str,
) -> Result<Vec<serde_json::Map<String, Value>>, ReplicaError> {
    let key =
        key_of(table).ok_or_else(|| ReplicaError::BadChange(format!("unknown table {table}")))?;
    let mut stmt = conn.prepare(&format!("SELECT * FROM {table} ORDER BY {key}"))?;
    let names: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(row_json(&names, r)?);
    }
    Ok(out)
}

fn row_json(
    names: &[String],
    r: &rusqlite::Row<'_>,
) -> Result<serde_json::Map<String, Value>, ReplicaError> {
    use rusqlite::types::ValueRef;
    let mut map = serde_json::Map::new();
    for (i, n) in names.iter().enumerate() {
        let v = match r.get_ref(i)? {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(x) => Value::from(x),
            ValueRef::Real(x) => Value::from(x),
            ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(_) => Value::Null,
        };
        map.insert(n.clone(), v);
    }
    Ok(map)
}

/// A server change for a row with unsettled local writes goes to its shadow, not the live row.
/// Returns whether the row was shadowed.
pub(crate) fn into_shadow(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    id: &str,
    row: Option<&serde_json::Map<String, Value>>,
) -> Result<bool, ReplicaError> {
    let json = row.map(|r| Value::Object(r.clone()).to_string());
    let n = tx
        .prepare_cached("UPDATE shadows SET row = ?3 WHERE tbl = ?1 AND id = ?2")?
        .execute(rusqlite::params![table, id, json])?;
    Ok(n == 1)
}

fn row_id(table: &str, row: &serde_json::Map<String, Value>) -> Option<String> {
    row.get(key_of(table)?)?.as_str().map(str::to_string)
}

impl Replica {
    /// Applies NDJSON `lines` in one transaction. Lines at or below the stored sequence number
    /// are skipped (a page re-read after a crash).
    pub fn apply_lines<'a>(
        &mut self,
        lines: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Applied, ReplicaError> {
        apply_lines(&mut self.conn, &self.columns, lines)
    }
}

/// The highest change-feed number applied so far (0: none).
pub(crate) fn last_seq(conn: &rusqlite::Connection) -> Result<i64, ReplicaError> {
    let v: Option<String> = conn
        .query_row(
            "SELECT value FROM sync_state WHERE key = 'last_seq'",
            [],
            |r| r.get(0),
        )
        .ok();
    Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
}

pub(crate) fn set_last_seq(tx: &rusqlite::Transaction<'_>, seq: i64) -> Result<(), ReplicaError> {
    tx.execute(
        "INSERT INTO sync_state (key, value) VALUES ('last_seq', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [seq.to_string()],
    )?;
    Ok(())
}

/// Whether any row has unsettled local writes (then changes may go to shadows).
pub(crate) fn shadowing(tx: &rusqlite::Connection) -> Result<bool, ReplicaError> {
    Ok(tx.query_row("SELECT EXISTS (SELECT 1 FROM shadows)", [], |r| r.get(0))?)
}

/// [`Replica::apply_lines`] on a connection.
pub(crate) fn apply_lines<'a>(
    conn: &mut rusqlite::Connection,
    columns: &Columns,
    lines: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Applied, ReplicaError> {
    let have = last_seq(conn)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let shadowing = shadowing(&tx)?;
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
        last = last.max(seq);
        let table = line.table.unwrap_or_default();
        if !is_synced_table(&table) {
            tracing::debug!(%table, "skipping a change of a table this version does not keep");
            continue;
        }
        if let Some(id) = line.deleted {
            if !(shadowing && into_shadow(&tx, &table, &id, None)?) {
                delete_row(&tx, &table, &id)?;
            }
            out.deletes += 1;
        } else if let Some(mut row) = line.row {
            // Kept so a local update can name the version it edited (its base_seq).
            row.insert("sync_seq".into(), seq.into());
            let shadowed = shadowing
                && match row_id(&table, &row) {
                    Some(id) => into_shadow(&tx, &table, &id, Some(&row))?,
                    None => false,
                };
            if !shadowed {
                upsert_row(&tx, columns, &table, &row)?;
            }
            out.upserts += 1;
        }
    }
    if last > have {
        set_last_seq(&tx, last)?;
    }
    tx.commit()?;
    Ok(out)
}

impl Replica {
    /// The physical limit the pull is measured against: `n` contacts like the benchmark's
    /// (ordered ids, every column a pull writes) through the same prepared upsert, in
    /// transactions of a bulk page, no network and no decoding. For benchmarks only.
    #[doc(hidden)]
    pub fn raw_insert_contacts(&mut self, n: i64) -> Result<(), ReplicaError> {
        let (cols, sql) = self
            .columns
            .get("contacts")
            .ok_or_else(|| ReplicaError::BadChange("no contacts table".into()))?
            .clone();
        const NOTES: &str =
            "Met at the open house on Elm Street; wants three bedrooms and a garden.";
        const STATUS: [&str; 3] = ["ACTIVE", "INACTIVE", "DO_NOT_CONTACT"];
        let mut text = String::new();
        let mut g = 0;
        while g < n {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut stmt = tx.prepare_cached(&sql)?;
                let end = (g + crate::pull::BULK_PAGE).min(n);
                while g < end {
                    // One contact every 20 seconds from 2025-06-01, as the benchmark loads them.
                    let t = 1_748_736_000 + g * 20;
                    let (y, m, d) = crate::bulk::civil(t / 86_400);
                    let r = t % 86_400;
                    let ts = format!(
                        "{y}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000000Z",
                        r / 3600,
                        r / 60 % 60,
                        r % 60
                    );
                    for (i, c) in cols.iter().enumerate() {
                        let p = i + 1;
                        text.clear();
                        match c.as_str() {
                            "id" => {
                                use std::fmt::Write;
                                let _ = write!(text, "0190a5d2-7c3e-7000-8000-{g:012}");
                                stmt.raw_bind_parameter(p, text.as_str())?
                            }
                            "organization_id" => {
                                stmt.raw_bind_parameter(p, "0190a5d2-7c3e-7000-8000-aaaaaaaaaaaa")?
                            }
                            "name" => stmt.raw_bind_parameter(p, format!("Contact {g}"))?,
                            "email" => stmt.raw_bind_parameter(p, format!("c{g}@example.com"))?,
                            "phone" => stmt.raw_bind_parameter(p, "+1 555 0142")?,
                            "company" => stmt.raw_bind_parameter(p, "Company 42")?,
                            "contact_type" => stmt.raw_bind_parameter(p, "PROSPECT")?,
                            "status" => stmt.raw_bind_parameter(p, STATUS[g as usize % 3])?,
                            "notes" => stmt.raw_bind_parameter(p, NOTES)?,
                            "tags" => stmt.raw_bind_parameter(p, r#"["lead","2026"]"#)?,
                            "created_by" => {
                                stmt.raw_bind_parameter(p, "0190a5d2-7c3e-7000-8000-bbbbbbbbbbbb")?
                            }
                            "created_at" | "updated_at" => {
                                stmt.raw_bind_parameter(p, ts.as_str())?
                            }
                            "sync_seq" => stmt.raw_bind_parameter(p, g)?,
                            _ => stmt.raw_bind_parameter(p, rusqlite::types::Null)?,
                        }
                    }
                    stmt.raw_execute()?;
                    g += 1;
                }
            }
            tx.commit()?;
        }
        Ok(())
    }

    /// [`Replica::raw_insert_contacts`] with the contacts' secondary indexes dropped first and
    /// built again after the last row (what an initial sync could do): answers the seconds spent
    /// inserting and building. For benchmarks only.
    #[doc(hidden)]
    pub fn raw_insert_contacts_indexes_after(
        &mut self,
        n: i64,
    ) -> Result<(f64, f64), ReplicaError> {
        let indexes: Vec<(String, String)> = {
            let mut stmt = self.conn.prepare(
                "SELECT name, sql FROM sqlite_master
                  WHERE type = 'index' AND tbl_name = 'contacts' AND sql IS NOT NULL",
            )?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            rows
        };
        for (name, _) in &indexes {
            self.conn.execute_batch(&format!("DROP INDEX {name}"))?;
        }
        let t = std::time::Instant::now();
        self.raw_insert_contacts(n)?;
        let inserted = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let tx = self.conn.transaction()?;
        for (_, sql) in &indexes {
            tx.execute_batch(sql)?;
        }
        tx.commit()?;
        Ok((inserted, t.elapsed().as_secs_f64()))
    }
}
