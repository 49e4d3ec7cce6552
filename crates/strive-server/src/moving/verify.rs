//! Comparing the organization's rows in both databases, per table: row counts and checksums
//! (each row's text hashed to 64 bits and summed: independent of order and of where rows sit).
//!
//! Two checks. Before the pause, [`sums`] compares every row of every table (the source as of a
//! snapshot, the target as caught up to it) while the organization keeps working. During the
//! pause, [`since`] compares, per table, the count, the *versions* of all rows (key and
//! `sync_seq`: every write of a feed row stamps a new one, and on the target only the mover
//! writes), and the full text of the rows written since that snapshot. Together they prove the
//! two sides equal while reading far less during the pause.

use super::copy::{written_since, Position};
use super::tables::{quoted, Kind, Table};
use sqlx::PgConnection;
use strive_domain::OrgId;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sum {
    pub table: String,
    pub rows: i64,
    pub checksum: String,
}

pub async fn sums(
    conn: &mut PgConnection,
    tables: &[Table],
    org: OrgId,
) -> Result<Vec<Sum>, sqlx::Error> {
    let mut out = Vec::with_capacity(tables.len());
    for t in tables {
        let started = std::time::Instant::now();
        let (rows, checksum): (i64, String) = sqlx::query_as(&format!(
            "SELECT count(*), coalesce(sum({}), 0)::text FROM {} x WHERE {} = $1",
            t.hash("x", "0"),
            quoted(std::slice::from_ref(&t.name)),
            quoted(std::slice::from_ref(&t.org_col))
        ))
        .bind(org)
        .fetch_one(&mut *conn)
        .await?;
        tracing::debug!(table = %t.name, rows, ms = started.elapsed().as_millis() as u64, "checksummed");
        out.push(Sum {
            table: t.name.clone(),
            rows,
            checksum,
        });
    }
    Ok(out)
}

/// One side of [`since`] for one table.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Figures {
    rows: i64,
    versions: String,
    changed: String,
}

/// How [`since`] reads one table: a row's key, its version, and which rows count as written
/// since the full check (`None`: found on the source by transaction id, compared by key).
struct Plan {
    key: String,
    version: String,
    changed: Option<String>,
}

fn plan(t: &Table, checked: Position) -> Plan {
    let cols: Vec<String> =
        t.pk.iter()
            .map(|k| format!("x.{}", quoted(std::slice::from_ref(k))))
            .collect();
    let key = format!("ROW({})", cols.join(", "));
    let (seed, changed) = match t.kind {
        // The key hashed with the row's feed number: a new number, a new version.
        Kind::Feed => ("x.sync_seq", Some(format!("x.sync_seq > {}", checked.seq))),
        Kind::Tombstones => ("0", Some(format!("x.seq > {}", checked.seq))),
        Kind::Counter => ("0", Some("true".into())),
        // No version column: rows rewritten since are found by transaction id.
        Kind::Plain => ("0", None),
    };
    Plan {
        version: t.hash(&key, seed),
        key: format!("{key}::text"),
        changed,
    }
}

/// Count, version checksum, and checksum (and keys) of the rows matching `changed`.
async fn figures(
    conn: &mut PgConnection,
    t: &Table,
    org: OrgId,
    p: &Plan,
    changed: &str,
    keys: Option<&[String]>,
) -> Result<(Figures, Vec<String>), sqlx::Error> {
    let sql = format!(
        "SELECT count(*),
                coalesce(sum({version}), 0)::text,
                coalesce(sum({content}) FILTER (WHERE {changed}), 0)::text,
                coalesce(array_agg({key}) FILTER (WHERE {changed}), '{{}}')
           FROM {name} x WHERE x.{org_col} = $1",
        version = p.version,
        content = t.hash("x", "0"),
        key = p.key,
        name = quoted(std::slice::from_ref(&t.name)),
        org_col = quoted(std::slice::from_ref(&t.org_col)),
    );
    let q = sqlx::query_as(&sql).bind(org);
    let q = match keys {
        Some(k) => q.bind(k),
        None => q,
    };
    let (rows, versions, changed, found): (i64, String, String, Vec<String>) =
        q.fetch_one(conn).await?;
    Ok((
        Figures {
            rows,
            versions,
            changed,
        },
        found,
    ))
}

/// One side of [`since`]: the figures of `tables` (the source also names the rows of tables
/// without versions written since the check).
async fn side(
    conn: &mut PgConnection,
    tables: Vec<&Table>,
    org: OrgId,
    checked: Position,
) -> Result<Vec<(String, Figures, Vec<String>)>, sqlx::Error> {
    let mut out = Vec::with_capacity(tables.len());
    for t in tables {
        let p = plan(t, checked);
        let changed = p
            .changed
            .clone()
            .unwrap_or_else(|| written_since(checked.xmin));
        let (f, keys) = figures(conn, t, org, &p, &changed, None).await?;
        out.push((t.name.clone(), f, keys));
    }
    Ok(out)
}

/// The check during the pause, given that [`sums`] found both sides equal as of the source
/// snapshot `checked`. Answers the tables that differ, with both sides' counts.
pub async fn since(
    src: &mut PgConnection,
    dst: &mut PgConnection,
    tables: &[Table],
    org: OrgId,
    checked: Position,
) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
    let versioned: Vec<&Table> = tables.iter().filter(|t| t.kind != Kind::Plain).collect();
    let (a, b) = tokio::try_join!(
        side(src, tables.iter().collect(), org, checked),
        side(dst, versioned, org, checked)
    )?;
    let mut bad = Vec::new();
    for (t, (_, fa, keys)) in tables.iter().zip(a) {
        let fb = match b.iter().find(|(name, _, _)| *name == t.name) {
            Some((_, f, _)) => f.clone(),
            None => {
                let p = plan(t, checked);
                let by_key = format!("{} = ANY($2)", p.key);
                figures(dst, t, org, &p, &by_key, Some(&keys)).await?.0
            }
        };
        if fa != fb {
            bad.push((t.name.clone(), fa.rows, fb.rows));
        }
    }
    Ok(bad)
}

/// The tables whose count or checksum differ, with both sides' counts.
pub fn differences(src: &[Sum], dst: &[Sum]) -> Vec<(String, i64, i64)> {
    src.iter()
        .map(|a| {
            let b = dst.iter().find(|b| b.table == a.table);
            (a, b)
        })
        .filter(|(a, b)| b.is_none_or(|b| b != *a))
        .map(|(a, b)| (a.table.clone(), a.rows, b.map_or(-1, |b| b.rows)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: &str, rows: i64, c: &str) -> Sum {
        Sum {
            table: t.into(),
            rows,
            checksum: c.into(),
        }
    }

    #[test]
    fn a_changed_checksum_is_a_difference_even_with_equal_counts() {
        let a = vec![s("contacts", 2, "10"), s("deals", 1, "5")];
        let b = vec![s("contacts", 2, "11"), s("deals", 1, "5")];
        assert_eq!(differences(&a, &b), vec![("contacts".to_string(), 2, 2)]);
        assert!(differences(&a, &a).is_empty());
        assert_eq!(
            differences(&a, &b[1..]),
            vec![("contacts".to_string(), 2, -1)]
        );
    }
}
