//! Replica migrations, embedded at build time and applied in order when a replica opens.
//! `PRAGMA user_version` records how many have been applied. Migrations may call the SQL
//! functions the connection registers first (`strive_time`, see [`crate::time`]).

use rusqlite::Connection;
use rusqlite::TransactionBehavior;

const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/replica/0001_init.sql"),
    include_str!("../../../migrations/replica/0002_versions_and_conflicts.sql"),
    include_str!("../../../migrations/replica/0003_canonical_instants.sql"),
    include_str!("../../../migrations/replica/0004_read_indexes.sql"),
    include_str!("../../../migrations/replica/0005_documents.sql"),
];

pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let applied: usize =
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

/// The columns of a synced table, in table order (read from the schema, so the pull applier
/// always matches the migrations).
pub fn columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")?;
    let cols = stmt
        .query_map([table], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(cols)
}
