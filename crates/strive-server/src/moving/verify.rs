//! The check before a switch: per table, the organization's row count and a checksum of its
//! rows (each row's text, hashed to 64 bits, summed: independent of order and of where the rows
//! sit on disk), computed in both databases while writes are paused.

use super::tables::{quoted, Table};
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
        let (rows, checksum): (i64, String) = sqlx::query_as(&format!(
            "SELECT count(*), coalesce(sum(hashtextextended(x::text, 0)::numeric), 0)::text
               FROM {} x WHERE {} = $1",
            quoted(std::slice::from_ref(&t.name)),
            quoted(std::slice::from_ref(&t.org_col))
        ))
        .bind(org)
        .fetch_one(&mut *conn)
        .await?;
        out.push(Sum {
            table: t.name.clone(),
            rows,
            checksum,
        });
    }
    Ok(out)
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
