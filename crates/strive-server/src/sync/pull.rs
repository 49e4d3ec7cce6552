//! `GET /v1/orgs/{org}/sync/pull?after=N`: every change of the organization after N, in
//! sequence order, streamed straight from PostgreSQL, in one of two formats.
//!
//! NDJSON (the default, `application/x-ndjson`), rendered by PostgreSQL:
//! `{"seq":7,"table":"contacts","row":{...}}` for an insert or update,
//! `{"seq":8,"table":"contacts","deleted":"<id>"}` for a delete, and a last line
//! `{"end":true,"last_seq":8,"more":false,"full_resync":false}`; with `more` the client asks
//! again after `last_seq`; with `full_resync` an admin asked it to drop its copy and pull from 0.
//!
//! Bulk (`format=bulk`, `application/x-strive-bulk`), for large pulls: the same page (the first
//! `limit` changes after N) as PostgreSQL's binary `COPY` format, one section per table, which
//! PostgreSQL writes several times faster than JSON and the client reads without a JSON parser:
//!
//! - a first line `{"bulk":1,"last_seq":L,"more":M}` (the page's range, known before its rows);
//! - per table with changes in the page, tombstones first: a line
//!   `{"table":"contacts","columns":[["sync_seq","bigint"],["id","uuid"],...]}` (or
//!   `{"deleted":true,"columns":[["seq","bigint"],["table","text"],["id","uuid"]]}`), then that
//!   table's rows in `COPY ... (FORMAT binary)` (signature, tuples, trailer), in sequence order;
//!   the first column is always the change's sequence number;
//! - the same end line as NDJSON.
//!
//! Within a page the tables come one after another, not interleaved by sequence number, so a
//! client applies a bulk page as a whole (tombstones first: a row re-created after its delete
//! always has the higher number) and records `last_seq` only once the page is in. Columns are
//! sent in the types listed in [`BINARY_TYPES`]; any other type is sent as `jsonb`.

use crate::db::Tx;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ApiQuery};
use crate::guard::{self, Caller};
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::Response;
use futures_util::TryStreamExt;
use serde::Deserialize;
use strive_domain::permissions::Action;
use strive_domain::{OrgId, ValidationError};
use tokio::sync::mpsc;

pub const DEFAULT_PAGE: i64 = 20_000;
pub const MAX_PAGE: i64 = 100_000;

pub const NDJSON: &str = "application/x-ndjson";
pub const BULK: &str = "application/x-strive-bulk";

/// The column types a bulk page sends as they are (PostgreSQL's binary encoding of each); a
/// column of any other type is sent as `to_jsonb(column)`, which a client reads as JSON.
pub const BINARY_TYPES: &[&str] = &[
    "uuid",
    "text",
    "character varying",
    "bigint",
    "integer",
    "smallint",
    "boolean",
    "date",
    "timestamp with time zone",
    "timestamp without time zone",
    "jsonb",
    "text[]",
];

#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PullFormat {
    #[default]
    Ndjson,
    Bulk,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullQuery {
    #[serde(default)]
    pub after: i64,
    pub limit: Option<i64>,
    #[serde(default)]
    pub format: PullFormat,
}

/// A table of the feed: its alias, the column holding the organization, and (for members) the
/// join that adds the member's name and email.
struct Synced {
    table: &'static str,
    alias: &'static str,
    org_col: &'static str,
    join: &'static str,
    extra: &'static [(&'static str, &'static str)],
}

const fn synced(table: &'static str, alias: &'static str, org_col: &'static str) -> Synced {
    Synced {
        table,
        alias,
        org_col,
        join: "",
        extra: &[],
    }
}

const SYNCED: &[Synced] = &[
    synced("organizations", "o", "id"),
    Synced {
        table: "organization_members",
        alias: "m",
        org_col: "organization_id",
        join: "JOIN users u ON u.id = m.user_id",
        extra: &[("u.name", "name"), ("u.email", "email")],
    },
    synced("subscriptions", "s", "organization_id"),
    synced("contacts", "c", "organization_id"),
    synced("deals", "d", "organization_id"),
    synced("transaction_loops", "l", "organization_id"),
    synced("transaction_tasks", "t", "organization_id"),
    synced("documents", "doc", "organization_id"),
    synced("document_versions", "dv", "organization_id"),
    synced("audit_log", "a", "organization_id"),
    // Every device gets every conflict; each shows those addressed to its own device_id.
    synced("conflicts", "cf", "organization_id"),
];

/// One column of a synced table as the feed sends it: the SQL that reads it, its name in the
/// row, and (bulk) its type.
struct Column {
    expr: String,
    name: String,
    ty: String,
}

/// Every synced table's columns (without `sync_seq`, which is the change's number), read from
/// the catalog so the feed always matches the schema.
async fn columns(tx: &mut Tx) -> ApiResult<Vec<Vec<Column>>> {
    let tables: Vec<&str> = SYNCED.iter().map(|s| s.table).collect();
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT x.t, a.attname::text, format_type(a.atttypid, NULL)
           FROM unnest($1::text[]) WITH ORDINALITY AS x(t, i)
           JOIN pg_attribute a ON a.attrelid = to_regclass(x.t)
          WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attname <> 'sync_seq'
          ORDER BY x.i, a.attnum",
    )
    .bind(&tables)
    .fetch_all(&mut **tx)
    .await?;
    Ok(SYNCED
        .iter()
        .map(|s| {
            let mut cols: Vec<Column> = rows
                .iter()
                .filter(|(t, _, _)| t == s.table)
                .map(|(_, name, ty)| Column {
                    expr: format!("{}.{}", s.alias, ident(name)),
                    name: name.clone(),
                    ty: ty.clone(),
                })
                .collect();
            cols.extend(s.extra.iter().map(|(expr, name)| Column {
                expr: expr.to_string(),
                name: name.to_string(),
                ty: "text".into(),
            }));
            cols
        })
        .collect())
}

/// A quoted SQL identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The NDJSON page: one SELECT per synced table, each rendering its change lines with
/// `row_to_json` (text, several times cheaper than building `jsonb`); merged by sequence number.
/// Each branch is limited on its own too, so it walks its (organization_id, sync_seq) index and
/// renders at most one page of JSON, whatever the size of the organization.
fn ndjson_sql(cols: &[Vec<Column>]) -> String {
    let mut parts: Vec<String> = SYNCED
        .iter()
        .zip(cols)
        .map(|(s, cols)| {
            let a = s.alias;
            let list = cols.iter().map(|c| format!("{} AS {}", c.expr, ident(&c.name)));
            format!(
                "(SELECT {a}.sync_seq AS seq, '{{\"seq\":' || {a}.sync_seq || ',\"table\":\"{t}\",\"row\":' \
                 || row_to_json(r)::text || '}}' AS line \
                 FROM {t} {a} {join} CROSS JOIN LATERAL (SELECT {list}) r \
                 WHERE {a}.{org} = $1 AND {a}.sync_seq > $2 ORDER BY {a}.sync_seq LIMIT $3)",
                t = s.table,
                join = s.join,
                list = list.collect::<Vec<_>>().join(", "),
                org = s.org_col,
            )
        })
        .collect();
    parts.push(
        "(SELECT z.seq, '{\"seq\":' || z.seq || ',\"table\":' || to_json(z.table_name)::text \
         || ',\"deleted\":\"' || z.row_id || '\"}' FROM tombstones z \
         WHERE z.organization_id = $1 AND z.seq > $2 ORDER BY z.seq LIMIT $3)"
            .to_string(),
    );
    format!("{} ORDER BY seq LIMIT $3", parts.join(" UNION ALL "))
}

/// The bulk page's range: the first `limit` change numbers after `after` (index-only scans,
/// merged), their last one and their count; then which tables have changes in it (one index
/// probe each).
fn range_sql() -> String {
    let branch = |table: &str, seq: &str, org: &str| {
        format!(
            "(SELECT {seq} AS seq FROM {table} WHERE {org} = $1 AND {seq} > $2 ORDER BY {seq} LIMIT $3)"
        )
    };
    let probe = |table: &str, seq: &str, org: &str| {
        format!(
            "CASE WHEN EXISTS (SELECT 1 FROM {table} WHERE {org} = $1 AND {seq} > $2 AND {seq} <= r.hi) \
             THEN '{table}' END"
        )
    };
    let all = SYNCED
        .iter()
        .map(|s| (s.table, "sync_seq", s.org_col))
        .chain([("tombstones", "seq", "organization_id")]);
    let branches: Vec<String> = all.clone().map(|(t, q, o)| branch(t, q, o)).collect();
    let probes: Vec<String> = all.map(|(t, q, o)| probe(t, q, o)).collect();
    format!(
        "WITH r AS (SELECT coalesce(max(seq), $2) AS hi, count(*) AS n
                      FROM (SELECT seq FROM ({}) u ORDER BY seq LIMIT $3) page)
         SELECT r.hi, r.n, array_remove(ARRAY[{}]::text[], NULL) FROM r",
        branches.join(" UNION ALL "),
        probes.join(", ")
    )
}

#[utoipa::path(get, path = "/v1/orgs/{org_id}/sync/pull", tag = "sync", security(("bearer" = [])),
    params(("org_id" = OrgId, Path), ("after" = Option<i64>, Query), ("limit" = Option<i64>, Query),
           ("format" = Option<String>, Query, description = "ndjson (default) or bulk")),
    responses((status = 200, content_type = "application/x-ndjson",
               description = "change lines in sequence order, then an end line; with format=bulk, \
                              application/x-strive-bulk (see the module documentation)")))]
pub async fn pull(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<OrgId>,
    ApiQuery(q): ApiQuery<PullQuery>,
) -> ApiResult<Response> {
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) || q.after < 0 {
        return Err(ApiError::Invalid(ValidationError::single(
            "limit",
            format!("after must be >= 0 and limit between 1 and {MAX_PAGE}"),
        )));
    }
    let (auth, mut tx) = guard::authorize(&state, &caller, org, Action::Sync).await?;
    let device = auth.ctx.device;
    let full_resync = match device {
        Some(d) => crate::sync::devices::record_pull(&mut tx, org, d, q.after).await?,
        None => false,
    };
    let cols = columns(&mut tx).await?;
    let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(32);
    let page = Page {
        org,
        device,
        after: q.after,
        limit,
        full_resync,
    };
    tokio::spawn(async move {
        let streamed = match q.format {
            PullFormat::Ndjson => stream_ndjson(tx, page, &cols, &sender).await,
            PullFormat::Bulk => stream_bulk(tx, page, &cols, &sender).await,
        };
        if let Err(e) = streamed {
            tracing::warn!(org = %org, ?device, error = %e, "pull stream ended early");
            let _ = sender.send(Err(std::io::Error::other("pull failed"))).await;
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(receiver));
    Response::builder()
        .header(
            header::CONTENT_TYPE,
            match q.format {
                PullFormat::Ndjson => NDJSON,
                PullFormat::Bulk => BULK,
            },
        )
        .header(header::CACHE_CONTROL, "no-store")
        .body(body)
        .map_err(|e| ApiError::Internal(e.into()))
}

/// What one pull request asked for.
#[derive(Clone, Copy)]
struct Page {
    org: OrgId,
    device: Option<strive_domain::DeviceId>,
    after: i64,
    limit: i64,
    full_resync: bool,
}

/// Chunks of about 64 KiB for the response; the channel's bound applies back-pressure, so a
/// slow client never makes the server hold a whole page in memory.
struct Out<'a> {
    sender: &'a mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
    /// The client went away: the rest is read and dropped.
    gone: bool,
}

const CHUNK: usize = 64 * 1024;

impl<'a> Out<'a> {
    fn new(sender: &'a mpsc::Sender<Result<Bytes, std::io::Error>>) -> Self {
        Out {
            sender,
            buf: Vec::with_capacity(CHUNK + 32 * 1024),
            gone: false,
        }
    }

    async fn write(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= CHUNK {
            self.flush().await;
        }
    }

    async fn line(&mut self, v: &serde_json::Value) {
        let mut line = v.to_string().into_bytes();
        line.push(b'\n');
        self.write(&line).await;
    }

    async fn flush(&mut self) {
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK + 32 * 1024));
        if !self.gone
            && !chunk.is_empty()
            && self.sender.send(Ok(Bytes::from(chunk))).await.is_err()
        {
            self.gone = true;
        }
    }

    async fn end(&mut self, last_seq: i64, more: bool, full_resync: bool) {
        self.line(&serde_json::json!({
            "end": true, "last_seq": last_seq, "more": more, "full_resync": full_resync,
        }))
        .await;
        self.flush().await;
    }
}

async fn stream_ndjson(
    mut tx: Tx,
    page: Page,
    cols: &[Vec<Column>],
    sender: &mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> anyhow::Result<()> {
    let sql = ndjson_sql(cols);
    let mut out = Out::new(sender);
    let (mut last, mut sent) = (page.after, 0i64);
    {
        let mut rows = sqlx::query_as::<_, (i64, String)>(&sql)
            .bind(page.org)
            .bind(page.after)
            .bind(page.limit)
            .fetch(&mut *tx);
        while let Some((seq, line)) = rows.try_next().await? {
            out.write(line.as_bytes()).await;
            out.write(b"\n").await;
            last = seq;
            sent += 1;
            if out.gone {
                return Ok(());
            }
        }
    }
    out.end(last, sent == page.limit, page.full_resync).await;
    delivered(tx, page, last, &out).await
}

/// The page's end: once it was delivered whole, the admins' device list shows the device this
/// far along, and the transaction (which recorded the pull) commits. A client gone midway
/// leaves nothing recorded.
async fn delivered(mut tx: Tx, page: Page, last: i64, out: &Out<'_>) -> anyhow::Result<()> {
    if out.gone {
        return Ok(());
    }
    if let Some(device) = page.device {
        sqlx::query(
            "UPDATE device_sync_state SET last_pulled_seq = greatest(last_pulled_seq, $3)
              WHERE organization_id = $1 AND device_id = $2",
        )
        .bind(page.org)
        .bind(device)
        .bind(last)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn stream_bulk(
    mut tx: Tx,
    page: Page,
    cols: &[Vec<Column>],
    sender: &mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> anyhow::Result<()> {
    let (last, count, tables): (i64, i64, Vec<String>) = sqlx::query_as(&range_sql())
        .bind(page.org)
        .bind(page.after)
        .bind(page.limit)
        .fetch_one(&mut *tx)
        .await?;
    let more = count == page.limit;
    let mut out = Out::new(sender);
    out.line(&serde_json::json!({"bulk": 1, "last_seq": last, "more": more}))
        .await;
    let (org, after) = (page.org, page.after);
    // Numbers after the page's last one belong to later pages; a row changed since the range
    // was read has such a number now, and comes with a later page.
    if tables.iter().any(|t| t == "tombstones") {
        out.line(&serde_json::json!({"deleted": true,
            "columns": [["seq", "bigint"], ["table", "text"], ["id", "uuid"]]}))
            .await;
        let sql = format!(
            "COPY (SELECT z.seq, z.table_name, z.row_id FROM tombstones z
                    WHERE z.organization_id = '{org}' AND z.seq > {after} AND z.seq <= {last}
                    ORDER BY z.seq) TO STDOUT (FORMAT binary)"
        );
        copy_out(&mut tx, &sql, &mut out).await?;
    }
    for (s, cols) in SYNCED.iter().zip(cols) {
        if out.gone {
            return Ok(());
        }
        if !tables.iter().any(|t| t == s.table) {
            continue;
        }
        let a = s.alias;
        let mut header = vec![serde_json::json!(["sync_seq", "bigint"])];
        let mut select = vec![format!("{a}.sync_seq")];
        for c in cols {
            if BINARY_TYPES.contains(&c.ty.as_str()) {
                header.push(serde_json::json!([c.name, c.ty]));
                select.push(c.expr.clone());
            } else {
                header.push(serde_json::json!([c.name, "jsonb"]));
                select.push(format!("to_jsonb({})", c.expr));
            }
        }
        out.line(&serde_json::json!({"table": s.table, "columns": header}))
            .await;
        let sql = format!(
            "COPY (SELECT {select} FROM {t} {a} {join}
                    WHERE {a}.{org_col} = '{org}' AND {a}.sync_seq > {after} AND {a}.sync_seq <= {last}
                    ORDER BY {a}.sync_seq) TO STDOUT (FORMAT binary)",
            select = select.join(", "),
            t = s.table,
            join = s.join,
            org_col = s.org_col,
        );
        copy_out(&mut tx, &sql, &mut out).await?;
    }
    out.end(last, more, page.full_resync).await;
    delivered(tx, page, last, &out).await
}

/// Forwards one `COPY ... TO STDOUT` (one message per row) in large chunks. Read to its end even
/// when the client has gone, so the connection goes back to the pool ready for its next query.
async fn copy_out(tx: &mut Tx, sql: &str, out: &mut Out<'_>) -> anyhow::Result<()> {
    let mut stream = tx.copy_out_raw(sql).await?;
    while let Some(bytes) = stream.try_next().await? {
        out.write(&bytes).await;
    }
    Ok(())
}
