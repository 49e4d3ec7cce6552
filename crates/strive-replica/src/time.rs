//! The one text form of an instant in the replica: UTC, six fraction digits, `Z`
//! (`2026-11-25T10:00:00.123456Z`).
//!
//! Instants arrive in several spellings of RFC 3339: PostgreSQL renders `+00:00` (or the
//! server's session offset) and drops trailing zero digits, chrono writes `Z` and 0, 3, 6 or 9
//! digits. Compared as text those do not sort as time. Every `*_at` column is therefore
//! rewritten to this fixed-width form when it is stored (pull and local writes alike), so plain
//! text comparison is time order and the indexes on time columns serve range filters and sorts.
//! Comparing through `julianday()` instead would lose PostgreSQL's microseconds (it keeps
//! milliseconds) and could use no index.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::functions::FunctionFlags;
use rusqlite::Connection;

/// `t` in canonical form (truncated to microseconds, PostgreSQL's precision).
pub fn canonical(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Whether a column holds instants: the schema's naming rule, the same one the server's
/// keyset pagination relies on.
pub fn is_time_column(column: &str) -> bool {
    column.ends_with("_at")
}

/// `s` rewritten in canonical form; `None` when it is canonical already or not an instant
/// (left as it is: the replica never invents data). Parsing costs well under a microsecond, next
/// to the tens a pulled row costs to apply.
pub fn normalize(s: &str) -> Option<String> {
    let t = DateTime::parse_from_rfc3339(s).ok()?.with_timezone(&Utc);
    let c = canonical(t);
    (c != s).then_some(c)
}

/// Registers `strive_time(x)` (the same rewrite, for migrations that fix stored rows).
pub(crate) fn register(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        "strive_time",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let v: Option<String> = ctx.get(0)?;
            Ok(v.map(|s| normalize(&s).unwrap_or(s)))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn every_spelling_becomes_one_fixed_width_utc_form() {
        let cases = [
            ("2026-11-25T10:00:00+00:00", "2026-11-25T10:00:00.000000Z"),
            ("2026-11-25T10:00:00.5+00:00", "2026-11-25T10:00:00.500000Z"),
            ("2026-11-25T10:00:00.123Z", "2026-11-25T10:00:00.123000Z"),
            ("2026-11-25T10:00:00Z", "2026-11-25T10:00:00.000000Z"),
            (
                "2026-11-25T10:00:00.123456789Z",
                "2026-11-25T10:00:00.123456Z",
            ),
            (
                "2026-11-25T15:30:00.25+05:30",
                "2026-11-25T10:00:00.250000Z",
            ),
            ("2026-11-25T05:00:00-05:00", "2026-11-25T10:00:00.000000Z"),
            (
                "2026-11-26T01:00:00.999999+15:00",
                "2026-11-25T10:00:00.999999Z",
            ),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize(raw).as_deref(), Some(want), "{raw}");
        }
    }

    #[test]
    fn canonical_and_foreign_text_is_left_alone() {
        assert_eq!(normalize("2026-11-25T10:00:00.000000Z"), None);
        for raw in [
            "",
            "soon",
            "2026-11-25",
            "2026-11-25T10:00:00.Z",
            "2026-13-45T99:00:00Z",
        ] {
            assert_eq!(normalize(raw), None, "{raw}");
        }
    }

    /// A replica made before migration 0003 has instants as the server spelled them; opening it
    /// rewrites them.
    #[test]
    fn opening_an_older_replica_rewrites_its_instants() {
        use crate::{Keychain, Replica};
        let dir = tempfile::tempdir().unwrap();
        let org = strive_domain::OrgId::new();
        let r = Replica::create(dir.path(), org, "pw", Keychain::Disabled).unwrap();
        r.conn
            .execute_batch(
                // Undo migrations 0005 and 0004 (this test replays them from 0003).
                "DROP INDEX documents_loop; DROP INDEX documents_review_queue;
                 DROP TABLE document_versions; DROP TABLE document_keys; DROP TABLE vault;
                 DROP TABLE pins; DROP TABLE watch_imports;
                 ALTER TABLE documents DROP COLUMN is_encrypted;
                 ALTER TABLE documents DROP COLUMN current_version_id;
                 ALTER TABLE documents DROP COLUMN ciphertext_size;
                 ALTER TABLE documents DROP COLUMN submitted_at;
                 ALTER TABLE documents DROP COLUMN submitted_by;
                 ALTER TABLE documents DROP COLUMN reviewed_at;
                 ALTER TABLE documents DROP COLUMN reviewed_by;
                 ALTER TABLE documents DROP COLUMN review_note;
                 DROP INDEX contacts_name; DROP INDEX contacts_updated;
                 DROP INDEX contacts_follow_up_order; DROP INDEX deals_updated;
                 DROP INDEX transaction_loops_created;
                 CREATE INDEX contacts_follow_up ON contacts (next_follow_up_at)
                   WHERE next_follow_up_at IS NOT NULL;
                 PRAGMA user_version = 2;
                 INSERT INTO contacts (id, organization_id, name, contact_type, status,
                                       next_follow_up_at, created_at, updated_at)
                 VALUES ('c', 'o', 'n', 'CLIENT', 'ACTIVE', NULL,
                         '2026-11-25T15:30:00.25+05:30', '2026-11-25T10:00:00+00:00');",
            )
            .unwrap();
        drop(r);
        let r = Replica::open(dir.path(), org, Some("pw"), Keychain::Disabled).unwrap();
        let row = r.row_json("contacts", "c").unwrap().unwrap();
        assert_eq!(row["created_at"], "2026-11-25T10:00:00.250000Z");
        assert_eq!(row["updated_at"], "2026-11-25T10:00:00.000000Z");
        assert_eq!(row["next_follow_up_at"], serde_json::Value::Null);
    }
}
