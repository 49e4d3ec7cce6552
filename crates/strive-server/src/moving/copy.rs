//! Copying one organization's rows from its database (`src`) to another (`dst`), as the owner.
//!
//! The first pass copies everything with binary COPY in primary-key order, from one repeatable-
//! read snapshot (so foreign keys hold in the copy). Later passes catch up with what changed
//! since the previous snapshot: change-feed tables by `sync_seq` (their deletes by tombstone),
//! other tables by the transaction ids that wrote them. The target runs in copy mode
//! (`strive.copying`, honoured for the owner only): rows keep their `sync_seq`, nothing is
//! numbered, tombstoned or notified there.

use super::tables::{quoted, Kind, Table};
use futures_util::StreamExt;
use sqlx::{Connection, PgConnection};
use strive_domain::OrgId;

/// The tables and profile references of a database, as a move sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schema {
    /// Parents first.
    pub tables: Vec<Table>,
    pub user_columns: Vec<String>,
    /// (table, column) of tenant rows that reference a profile.
    pub user_refs: Vec<(String, String)>,
}

impl Schema {
    pub async fn discover(conn: &mut PgConnection) -> Result<Self, super::tables::SchemaError> {
        let tables = super::tables::discover(conn).await?;
        let user_refs = super::tables::user_references(conn, &tables).await?;
        let user_columns: Vec<String> = sqlx::query_scalar(
            "SELECT attname::text FROM pg_attribute
              WHERE attrelid = 'public.users'::regclass AND attnum > 0 AND NOT attisdropped
              ORDER BY attnum",
        )
        .fetch_all(conn)
        .await?;
        Ok(Self {
            tables,
            user_columns,
            user_refs,
        })
    }
}

/// Where a pass left off in the source: the feed's last number and the oldest transaction still
/// running when its snapshot was taken (anything written later has a transaction id from there).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    pub seq: i64,
    pub xmin: i64,
}

/// Session settings for a move's connection: the organization's tenant context (the owner may
/// be bound by row-level security), one rendering of instants for checksums, and copy mode.
pub async fn session(
    conn: &mut PgConnection,
    org: OrgId,
    copying: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "SELECT set_config('app.org_id', $1, false), set_config('TimeZone', 'UTC', false),
                set_config('DateStyle', 'ISO, MDY', false),
                set_config('strive.copying', $2, false)",
    )
    .bind(org.to_string())
    .bind(if copying { "on" } else { "off" })
    .execute(conn)
    .await?;
    Ok(())
}

/// Opens the source's snapshot and reads where it stands.
async fn snapshot(src: &mut PgConnection, org: OrgId) -> Result<Position, sqlx::Error> {
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *src)
        .await?;
    let (seq, xmin): (i64, i64) = sqlx::query_as(
        "SELECT coalesce((SELECT last_seq FROM sync_counters WHERE organization_id = $1), 0),
                pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
    )
    .bind(org)
    .fetch_one(&mut *src)
    .await?;
    Ok(Position { seq, xmin })
}

/// Streams `COPY ... TO STDOUT` on `src` into `COPY ... FROM STDIN` on `dst`; answers rows.
async fn pipe(
    src: &mut PgConnection,
    out_sql: &str,
    dst: &mut PgConnection,
    in_sql: &str,
) -> Result<u64, sqlx::Error> {
    let mut rows = src.copy_out_raw(out_sql).await?;
    let mut sink = dst.copy_in_raw(in_sql).await?;
    while let Some(chunk) = rows.next().await {
        match chunk {
            Ok(bytes) => {
                sink.send(bytes).await?;
            }
            Err(e) => {
                let _ = sink.abort("the source failed").await;
                return Err(e);
            }
        }
    }
    drop(rows);
    sink.finish().await
}

fn select_out(t: &Table, org: OrgId, condition: &str) -> String {
    format!(
        "COPY (SELECT {cols} FROM {name} WHERE {org_col} = '{org}' {condition} ORDER BY {pk})
         TO STDOUT (FORMAT binary)",
        cols = t.column_list(),
        name = quoted(std::slice::from_ref(&t.name)),
        org_col = quoted(std::slice::from_ref(&t.org_col)),
        pk = t.pk_list(),
    )
}

/// Copies rows of `t` matching `condition` into `dst`, replacing rows with the same key.
async fn upsert(
    src: &mut PgConnection,
    dst: &mut PgConnection,
    t: &Table,
    org: OrgId,
    condition: &str,
) -> Result<u64, sqlx::Error> {
    let name = quoted(std::slice::from_ref(&t.name));
    // Most tables have nothing new in a pass (and the last pass runs during the pause): skip
    // the temporary table then.
    let any: bool = sqlx::query_scalar(&format!(
        "SELECT EXISTS (SELECT 1 FROM {name} WHERE {} = $1 {condition})",
        quoted(std::slice::from_ref(&t.org_col))
    ))
    .bind(org)
    .fetch_one(&mut *src)
    .await?;
    if !any {
        return Ok(0);
    }
    let temp = format!("\"strive_in_{}\"", t.name);
    sqlx::raw_sql(&format!(
        "CREATE TEMP TABLE {temp} (LIKE {name}) ON COMMIT DROP"
    ))
    .execute(&mut *dst)
    .await?;
    let cols = t.column_list();
    let n = pipe(
        src,
        &select_out(t, org, condition),
        dst,
        &format!("COPY {temp} ({cols}) FROM STDIN (FORMAT binary)"),
    )
    .await?;
    if n > 0 {
        let others: Vec<String> = t
            .columns
            .iter()
            .filter(|c| !t.pk.contains(c))
            .map(|c| {
                let q = quoted(std::slice::from_ref(c));
                format!("{q} = excluded.{q}")
            })
            .collect();
        let action = if others.is_empty() {
            "NOTHING".to_string()
        } else {
            format!("UPDATE SET {}", others.join(", "))
        };
        sqlx::raw_sql(&format!(
            "INSERT INTO {name} ({cols}) SELECT {cols} FROM {temp}
             ON CONFLICT ({pk}) DO {action}",
            pk = t.pk_list()
        ))
        .execute(&mut *dst)
        .await?;
    }
    sqlx::raw_sql(&format!("DROP TABLE {temp}"))
        .execute(&mut *dst)
        .await?;
    Ok(n)
}

/// Copies the profiles the organization's rows reference (members, authors) into `dst`,
/// leaving those it has alone.
/// `since`: only the rows a catch-up pass from there copies (`None`: every row).
async fn copy_profiles(
    src: &mut PgConnection,
    dst: &mut PgConnection,
    schema: &Schema,
    org: OrgId,
    since: Option<Position>,
) -> Result<u64, sqlx::Error> {
    let refs: Vec<String> = schema
        .user_refs
        .iter()
        .filter_map(|(t, c)| {
            let table = schema.tables.iter().find(|x| &x.name == t)?;
            let condition = match (since, table.kind) {
                (None, _) => String::new(),
                (Some(p), Kind::Feed) => format!("AND sync_seq > {}", p.seq),
                (Some(p), _) => format!("AND {}", written_since(p.xmin)),
            };
            Some(format!(
                "SELECT {c} FROM {t} WHERE {org_col} = '{org}' {condition}",
                c = quoted(std::slice::from_ref(c)),
                t = quoted(std::slice::from_ref(t)),
                org_col = quoted(std::slice::from_ref(&table.org_col)),
            ))
        })
        .collect();
    if refs.is_empty() {
        return Ok(0);
    }
    // Profiles are few; most passes find every one already there.
    let wanted: Vec<uuid::Uuid> = sqlx::query_scalar(&format!(
        "SELECT id FROM ({}) r(id) WHERE id IS NOT NULL",
        refs.join(" UNION ")
    ))
    .fetch_all(&mut *src)
    .await?;
    let missing: Vec<uuid::Uuid> = sqlx::query_scalar(
        "SELECT x FROM unnest($1::uuid[]) x WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = x)",
    )
    .bind(&wanted)
    .fetch_all(&mut *dst)
    .await?;
    if missing.is_empty() {
        return Ok(0);
    }
    let list = missing
        .iter()
        .map(|u| format!("'{u}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let cols = quoted(&schema.user_columns);
    sqlx::raw_sql("CREATE TEMP TABLE strive_in_users (LIKE users) ON COMMIT DROP")
        .execute(&mut *dst)
        .await?;
    let n = pipe(
        src,
        &format!("COPY (SELECT {cols} FROM users WHERE id IN ({list})) TO STDOUT (FORMAT binary)"),
        dst,
        &format!("COPY strive_in_users ({cols}) FROM STDIN (FORMAT binary)"),
    )
    .await?;
    sqlx::raw_sql(&format!(
        "INSERT INTO users ({cols}) SELECT {cols} FROM strive_in_users ON CONFLICT DO NOTHING;
         DROP TABLE strive_in_users"
    ))
    .execute(&mut *dst)
    .await?;
    Ok(n)
}

/// The counter row, copied whole each pass.
async fn copy_counter(
    src: &mut PgConnection,
    dst: &mut PgConnection,
    t: &Table,
    org: OrgId,
) -> Result<u64, sqlx::Error> {
    sqlx::query("DELETE FROM sync_counters WHERE organization_id = $1")
        .bind(org)
        .execute(&mut *dst)
        .await?;
    pipe(
        src,
        &select_out(t, org, ""),
        dst,
        &format!(
            "COPY sync_counters ({}) FROM STDIN (FORMAT binary)",
            t.column_list()
        ),
    )
    .await
}

/// The first pass: every row of the organization, in key order. `dst` must hold none.
pub async fn bulk(
    src: &mut PgConnection,
    dst: &mut PgConnection,
    schema: &Schema,
    org: OrgId,
) -> Result<(Position, u64), sqlx::Error> {
    let mut s = src.begin().await?;
    let pos = snapshot(&mut s, org).await?;
    let mut d = dst.begin().await?;
    copy_profiles(&mut s, &mut d, schema, org, None).await?;
    let mut rows = 0;
    for t in &schema.tables {
        let started = std::time::Instant::now();
        let n = match t.kind {
            Kind::Counter => copy_counter(&mut s, &mut d, t, org).await?,
            _ => {
                let in_sql = format!(
                    "COPY {} ({}) FROM STDIN (FORMAT binary)",
                    quoted(std::slice::from_ref(&t.name)),
                    t.column_list()
                );
                pipe(&mut s, &select_out(t, org, ""), &mut d, &in_sql).await?
            }
        };
        if n > 0 {
            tracing::info!(table = %t.name, rows = n, ms = started.elapsed().as_millis() as u64, "copied");
        }
        rows += n;
    }
    d.commit().await?;
    s.commit().await?;
    Ok((pos, rows))
}

/// What a catch-up pass did.
#[derive(Debug)]
pub struct Pass {
    /// The source snapshot it caught up to.
    pub pos: Position,
    /// Rows it wrote or deleted.
    pub changed: u64,
    /// With `check`: the tables that differ after it, the source as of `pos` against the
    /// target (tables outside the change feed that differed were copied again whole first).
    pub differences: Option<Vec<(String, i64, i64)>>,
}

/// The SQL condition "written by a transaction not visible to a snapshot whose oldest running
/// transaction was `xmin`": any transaction id from it on, modulo 2^32 (a row's xmin is a 32-bit
/// id). Rows written earlier but matched anyway are simply copied or compared again.
pub fn written_since(xmin: i64) -> String {
    format!(
        "((xmin::text::bigint - {} + 4294967296) % 4294967296) < 2147483648",
        xmin.rem_euclid(1 << 32)
    )
}

/// A later pass: what changed in the source since `from`. With `check`, also compares every
/// row of both sides (see [`Pass::differences`]); the source keeps writing meanwhile.
pub async fn catch_up(
    src: &mut PgConnection,
    dst: &mut PgConnection,
    schema: &Schema,
    org: OrgId,
    from: Position,
    check: bool,
) -> Result<Pass, sqlx::Error> {
    let mut s = src.begin().await?;
    let pos = snapshot(&mut s, org).await?;
    let mut d = dst.begin().await?;
    let mut changed = 0;
    if pos.seq > from.seq {
        copy_profiles(&mut s, &mut d, schema, org, Some(from)).await?;
        changed += delete_tombstoned(&mut s, &mut d, schema, org, from.seq).await?;
    }
    let since = format!("AND {}", written_since(from.xmin));
    for t in &schema.tables {
        changed += match t.kind {
            Kind::Feed if pos.seq > from.seq => {
                upsert(
                    &mut s,
                    &mut d,
                    t,
                    org,
                    &format!("AND sync_seq > {}", from.seq),
                )
                .await?
            }
            Kind::Tombstones if pos.seq > from.seq => {
                upsert(&mut s, &mut d, t, org, &format!("AND seq > {}", from.seq)).await?
            }
            Kind::Counter if pos.seq > from.seq => copy_counter(&mut s, &mut d, t, org).await?,
            Kind::Plain => upsert(&mut s, &mut d, t, org, &since).await?,
            _ => 0,
        };
    }
    let differences = if check {
        Some(check_all(&mut s, &mut d, schema, org).await?)
    } else {
        None
    };
    d.commit().await?;
    s.commit().await?;
    Ok(Pass {
        pos,
        changed,
        differences,
    })
}

/// Compares every row of both sides, in the pass's transactions; tables outside the change feed
/// that differ (their deletes are not tracked) are copied again whole and compared again.
async fn check_all(
    s: &mut PgConnection,
    d: &mut PgConnection,
    schema: &Schema,
    org: OrgId,
) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
    let (a, b) = tokio::try_join!(
        super::verify::sums(s, &schema.tables, org),
        super::verify::sums(d, &schema.tables, org)
    )?;
    let mut bad = super::verify::differences(&a, &b);
    for t in schema.tables.iter().filter(|t| t.kind == Kind::Plain) {
        if !bad.iter().any(|(n, _, _)| *n == t.name) {
            continue;
        }
        recopy_in(s, d, t, org).await?;
        let one = std::slice::from_ref(t);
        let (a, b) = tokio::try_join!(
            super::verify::sums(s, one, org),
            super::verify::sums(d, one, org)
        )?;
        if super::verify::differences(&a, &b).is_empty() {
            bad.retain(|(n, _, _)| *n != t.name);
        }
    }
    Ok(bad)
}

/// Deletes from `dst` the rows deleted in the source after `after` (those the source still lacks:
/// an id may come back), children first.
async fn delete_tombstoned(
    s: &mut PgConnection,
    d: &mut PgConnection,
    schema: &Schema,
    org: OrgId,
    after: i64,
) -> Result<u64, sqlx::Error> {
    let gone: Vec<(String, Vec<uuid::Uuid>)> = sqlx::query_as(
        "SELECT table_name, array_agg(row_id) FROM tombstones
          WHERE organization_id = $1 AND seq > $2 GROUP BY table_name",
    )
    .bind(org)
    .bind(after)
    .fetch_all(&mut *s)
    .await?;
    let mut n = 0;
    for t in schema.tables.iter().rev() {
        let Some((_, ids)) = gone.iter().find(|(name, _)| *name == t.name) else {
            continue;
        };
        let name = quoted(std::slice::from_ref(&t.name));
        let (org_col, row_id) = (
            quoted(std::slice::from_ref(&t.org_col)),
            quoted(&[t.row_id().to_string()]),
        );
        let still_gone: Vec<uuid::Uuid> = sqlx::query_scalar(&format!(
            "SELECT x FROM unnest($2::uuid[]) AS x
              WHERE NOT EXISTS (SELECT 1 FROM {name} WHERE {org_col} = $1 AND {row_id} = x)"
        ))
        .bind(org)
        .bind(ids)
        .fetch_all(&mut *s)
        .await?;
        let done = sqlx::query(&format!(
            "DELETE FROM {name} WHERE {org_col} = $1 AND {row_id} = ANY($2)"
        ))
        .bind(org)
        .bind(&still_gone)
        .execute(&mut *d)
        .await?;
        n += done.rows_affected();
    }
    Ok(n)
}

/// Deletes every row of the organization from `conn` (in copy mode: no tombstones, no
/// notices), children first. Answers rows deleted.
pub async fn clear(
    conn: &mut PgConnection,
    schema: &Schema,
    org: OrgId,
) -> Result<u64, sqlx::Error> {
    let mut tx = conn.begin().await?;
    let mut n = 0;
    for t in schema.tables.iter().rev() {
        let done = sqlx::query(&format!(
            "DELETE FROM {} WHERE {} = $1",
            quoted(std::slice::from_ref(&t.name)),
            quoted(std::slice::from_ref(&t.org_col))
        ))
        .bind(org)
        .execute(&mut *tx)
        .await?;
        n += done.rows_affected();
    }
    tx.commit().await?;
    Ok(n)
}

/// Replaces the organization's rows of one table in `dst` with the source's, atomically.
pub async fn recopy(
    src: &mut PgConnection,
    dst: &mut PgConnection,
    t: &Table,
    org: OrgId,
) -> Result<u64, sqlx::Error> {
    let mut d = dst.begin().await?;
    let n = recopy_in(src, &mut d, t, org).await?;
    d.commit().await?;
    Ok(n)
}

/// [`recopy`] inside the caller's transaction on `dst`.
async fn recopy_in(
    src: &mut PgConnection,
    dst: &mut PgConnection,
    t: &Table,
    org: OrgId,
) -> Result<u64, sqlx::Error> {
    let name = quoted(std::slice::from_ref(&t.name));
    sqlx::query(&format!(
        "DELETE FROM {name} WHERE {} = $1",
        quoted(std::slice::from_ref(&t.org_col))
    ))
    .bind(org)
    .execute(&mut *dst)
    .await?;
    pipe(
        src,
        &select_out(t, org, ""),
        dst,
        &format!(
            "COPY {name} ({}) FROM STDIN (FORMAT binary)",
            t.column_list()
        ),
    )
    .await
}
