//! Which tables hold an organization's rows, found in the database's catalog rather than listed
//! by hand, so that tables added by later migrations move too.

use sqlx::PgConnection;
use std::collections::{HashMap, HashSet};

/// Tables with an organization_id that are not tenant data: the control database's directory
/// and index, and the transient queue of the change-feed counter.
const NOT_TENANT_DATA: [&str; 3] = ["org_directory", "org_memberships", "sync_flush"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// In the change feed: every write stamps `sync_seq`, every delete leaves a tombstone.
    Feed,
    /// The change feed's deletes, numbered by `seq`.
    Tombstones,
    /// The organization's feed counter: set, not copied.
    Counter,
    /// Anything else (applied_mutations, device_sync_state, ...): caught up by transaction id.
    Plain,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    /// `organization_id`, or `id` for organizations itself.
    pub org_col: String,
    pub columns: Vec<String>,
    pub pk: Vec<String>,
    pub kind: Kind,
    /// Every column's type can be hashed as is (checksums then hash rows with
    /// `hash_record_extended`, about twice as fast as hashing their text).
    pub hashable: bool,
}

impl Table {
    /// The column a tombstone's `row_id` names: the key without the organization.
    pub fn row_id(&self) -> &str {
        self.pk
            .iter()
            .find(|c| **c != self.org_col)
            .unwrap_or(&self.org_col)
    }

    pub fn column_list(&self) -> String {
        quoted(&self.columns)
    }

    pub fn pk_list(&self) -> String {
        quoted(&self.pk)
    }

    /// SQL hashing the record `row` (of this table's rows, or made of their columns) to 64
    /// bits with `seed`.
    pub fn hash(&self, row: &str, seed: &str) -> String {
        if self.hashable {
            format!("hash_record_extended({row}, {seed})")
        } else {
            format!("hashtextextended(({row})::text, {seed})")
        }
    }
}

pub fn quoted(cols: &[String]) -> String {
    cols.iter()
        .map(|c| format!("\"{}\"", c.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("table {0} has no primary key")]
    NoKey(String),
    #[error("foreign keys between {0:?} form a cycle")]
    Cycle(Vec<String>),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// The tenant tables, parents before children (by foreign key).
pub async fn discover(conn: &mut PgConnection) -> Result<Vec<Table>, SchemaError> {
    let rows: Vec<(String, Vec<String>, Vec<String>)> = sqlx::query_as(
        "SELECT c.relname::text,
                array_agg(a.attname::text ORDER BY a.attnum),
                coalesce((SELECT array_agg(pa.attname::text ORDER BY k.ord)
                            FROM pg_index i
                            CROSS JOIN unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                            JOIN pg_attribute pa ON pa.attrelid = i.indrelid AND pa.attnum = k.attnum
                           WHERE i.indrelid = c.oid AND i.indisprimary), '{}')
           FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
          WHERE c.relkind IN ('r', 'p')
          GROUP BY c.oid, c.relname",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut tables = Vec::new();
    for (name, columns, pk) in rows {
        let org_col = if name == "organizations" {
            "id"
        } else if columns.iter().any(|c| c == "organization_id") {
            "organization_id"
        } else {
            continue;
        };
        if NOT_TENANT_DATA.contains(&name.as_str()) {
            continue;
        }
        if pk.is_empty() {
            return Err(SchemaError::NoKey(name));
        }
        let kind = match name.as_str() {
            "tombstones" => Kind::Tombstones,
            "sync_counters" => Kind::Counter,
            _ if columns.iter().any(|c| c == "sync_seq") => Kind::Feed,
            _ => Kind::Plain,
        };
        tables.push(Table {
            org_col: org_col.to_string(),
            name,
            columns,
            pk,
            kind,
            hashable: false,
        });
    }
    for t in &mut tables {
        // A row of the table's type with every field NULL makes PostgreSQL look up each
        // column's hash function, and fail if one has none.
        t.hashable = sqlx::query(&format!(
            "SELECT hash_record_extended(jsonb_populate_record(NULL::{}, '{{}}'), 0)",
            quoted(std::slice::from_ref(&t.name))
        ))
        .execute(&mut *conn)
        .await
        .is_ok();
    }
    let edges: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, p.relname::text
           FROM pg_constraint k
           JOIN pg_class c ON c.oid = k.conrelid
           JOIN pg_class p ON p.oid = k.confrelid
          WHERE k.contype = 'f' AND k.conrelid <> k.confrelid",
    )
    .fetch_all(&mut *conn)
    .await?;
    order_by_dependencies(tables, &edges)
}

/// Parents first; ties by name so both databases of a move agree on the order.
fn order_by_dependencies(
    mut tables: Vec<Table>,
    edges: &[(String, String)],
) -> Result<Vec<Table>, SchemaError> {
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    let names: HashSet<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let mut parents: HashMap<&str, HashSet<&str>> = HashMap::new();
    for (child, parent) in edges {
        if names.contains(child.as_str()) && names.contains(parent.as_str()) {
            parents
                .entry(child.as_str())
                .or_default()
                .insert(parent.as_str());
        }
    }
    let mut done: HashSet<String> = HashSet::new();
    let mut ordered = Vec::with_capacity(tables.len());
    while ordered.len() < tables.len() {
        let next = tables.iter().find(|t| {
            !done.contains(&t.name)
                && parents
                    .get(t.name.as_str())
                    .is_none_or(|ps| ps.iter().all(|p| done.contains(*p)))
        });
        match next {
            Some(t) => {
                done.insert(t.name.clone());
                ordered.push(t.clone());
            }
            None => {
                let left = tables
                    .iter()
                    .filter(|t| !done.contains(&t.name))
                    .map(|t| t.name.clone())
                    .collect();
                return Err(SchemaError::Cycle(left));
            }
        }
    }
    Ok(ordered)
}

/// The columns of tenant tables that reference `users` (the profiles a tenant database must
/// have copies of), as (table, column).
pub async fn user_references(
    conn: &mut PgConnection,
    tables: &[Table],
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let refs: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, a.attname::text
           FROM pg_constraint k
           JOIN pg_class c ON c.oid = k.conrelid
           JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
          WHERE k.contype = 'f' AND k.confrelid = 'public.users'::regclass
          ORDER BY 1, 2",
    )
    .fetch_all(conn)
    .await?;
    Ok(refs
        .into_iter()
        .filter(|(t, _)| tables.iter().any(|x| &x.name == t))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str) -> Table {
        Table {
            name: name.into(),
            org_col: "organization_id".into(),
            columns: vec![],
            pk: vec!["organization_id".into(), "id".into()],
            kind: Kind::Feed,
            hashable: true,
        }
    }

    #[test]
    fn parents_come_first() {
        let edges = vec![
            ("deals".to_string(), "contacts".to_string()),
            ("contacts".to_string(), "organizations".to_string()),
            ("deals".to_string(), "users".to_string()),
        ];
        let order =
            order_by_dependencies(vec![t("deals"), t("contacts"), t("organizations")], &edges)
                .unwrap();
        let names: Vec<&str> = order.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["organizations", "contacts", "deals"]);
    }

    #[test]
    fn cycles_are_refused() {
        let edges = vec![
            ("a".to_string(), "b".to_string()),
            ("b".to_string(), "a".to_string()),
        ];
        assert!(order_by_dependencies(vec![t("a"), t("b")], &edges).is_err());
    }

    #[test]
    fn tombstone_ids_are_the_key_without_the_organization() {
        let mut subs = t("subscriptions");
        subs.pk = vec!["organization_id".into()];
        assert_eq!(subs.row_id(), "organization_id");
        let mut members = t("organization_members");
        members.pk = vec!["organization_id".into(), "user_id".into()];
        assert_eq!(members.row_id(), "user_id");
    }
}
