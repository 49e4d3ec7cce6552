//! Canonical dumps: the same rows, read from the server and from a replica, in one comparable
//! form (id → chosen fields as JSON), so "every replica equals the server" is one equality.

use serde_json::{Map, Value};
use sqlx::Connection;
use std::collections::BTreeMap;
use strive_replica::Replica;

/// Table → id → fields.
pub type Dump = BTreeMap<&'static str, BTreeMap<String, Value>>;

/// The compared fields of each synced business table.
pub const FIELDS: &[(&str, &[&str])] = &[
    (
        "contacts",
        &[
            "name",
            "email",
            "phone",
            "company",
            "status",
            "contact_type",
            "assigned_to_id",
            "tags",
        ],
    ),
    (
        "deals",
        &[
            "title",
            "value_cents",
            "stage",
            "status",
            "probability",
            "assigned_to_id",
            "contact_id",
        ],
    ),
    (
        "transaction_loops",
        &[
            "property_address",
            "transaction_type",
            "listing_price_cents",
            "status",
            "progress",
        ],
    ),
    (
        "transaction_tasks",
        &[
            "loop_id", "title", "category", "status", "priority", "position",
        ],
    ),
    (
        "documents",
        &[
            "loop_id",
            "original_name",
            "mime_type",
            "file_size",
            "document_type",
            "status",
            "version",
            "current_version_id",
            "ciphertext_size",
            "submitted_by",
            "reviewed_by",
            "review_note",
        ],
    ),
    (
        "document_versions",
        &[
            "document_id",
            "version",
            "original_name",
            "mime_type",
            "file_size",
            "ciphertext_size",
            "sha256",
            "storage_key",
            "uploaded_by",
        ],
    ),
];

fn pick(table: &str, row: &Map<String, Value>, fields: &[&str]) -> Value {
    let mut out = Map::new();
    for f in fields {
        let mut v = row.get(*f).cloned().unwrap_or(Value::Null);
        // The replica keeps lists as JSON text.
        if *f == "tags" {
            if let Value::String(s) = &v {
                v = serde_json::from_str(s).unwrap_or(Value::Null);
            }
        }
        out.insert(f.to_string(), v);
    }
    let _ = table;
    Value::Object(out)
}

/// The organization's rows as the server has them (read as the database owner).
pub async fn server(owner_url: &str, org: &str) -> Dump {
    let mut conn = sqlx::PgConnection::connect(owner_url)
        .await
        .expect("owner connection");
    let mut dump = Dump::new();
    for (table, fields) in FIELDS {
        let rows: Vec<(Value,)> = sqlx::query_as(&format!(
            "SELECT to_jsonb(t) FROM {table} t WHERE organization_id = $1::uuid ORDER BY id"
        ))
        .bind(org)
        .fetch_all(&mut conn)
        .await
        .expect("server rows");
        let entry = dump.entry(table).or_default();
        for (row,) in rows {
            let Value::Object(row) = row else { continue };
            let id = row["id"].as_str().unwrap_or_default().to_string();
            entry.insert(id, pick(table, &row, fields));
        }
    }
    dump
}

/// The same rows as a replica has them.
pub fn replica(r: &Replica) -> Dump {
    let mut dump = Dump::new();
    for (table, fields) in FIELDS {
        let entry = dump.entry(table).or_default();
        for row in r.rows_json(table).expect("replica rows") {
            let id = row["id"].as_str().unwrap_or_default().to_string();
            entry.insert(id, pick(table, &row, fields));
        }
    }
    dump
}

/// Where two dumps differ, described for a failure message (at most `limit` lines).
pub fn differences(expected: &Dump, actual: &Dump, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    for (table, rows) in expected {
        let other = actual.get(table).cloned().unwrap_or_default();
        for (id, v) in rows {
            match other.get(id) {
                None => out.push(format!("{table} {id}: missing on the device")),
                Some(w) if w != v => out.push(format!("{table} {id}: server {v} device {w}")),
                _ => {}
            }
        }
        for id in other.keys().filter(|id| !rows.contains_key(*id)) {
            out.push(format!("{table} {id}: on the device only"));
        }
    }
    out.truncate(limit);
    out
}
