//! `GET /v1/orgs/{org}/sync/pull?after=N`: every change of the organization after N, in
//! sequence order, streamed as NDJSON straight from PostgreSQL (which also renders the JSON).
//!
//! Lines: `{"seq":7,"table":"contacts","row":{...}}` for an insert or update,
//! `{"seq":8,"table":"contacts","deleted":"<id>"}` for a delete, and a last line
//! `{"end":true,"last_seq":8,"more":false,"full_resync":false}`; with `more` the client asks
//! again after `last_seq`; with `full_resync` an admin asked it to drop its copy and pull from 0.

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullQuery {
    #[serde(default)]
    pub after: i64,
    pub limit: Option<i64>,
}

/// One SELECT per synced table, each rendering its change lines; merged by sequence number.
/// Each branch is limited on its own too, so it walks its (organization_id, sync_seq) index and
/// renders at most one page of JSON, whatever the size of the organization.
fn changes_sql() -> String {
    let row = |table: &str, alias: &str, org_col: &str, extra: &str| {
        format!(
            "(SELECT {alias}.sync_seq AS seq, jsonb_build_object('seq', {alias}.sync_seq, 'table', '{table}', \
             'row', (to_jsonb({alias}) - 'sync_seq'){extra})::text AS line \
             FROM {table} {alias} {join} WHERE {alias}.{org_col} = $1 AND {alias}.sync_seq > $2 \
             ORDER BY {alias}.sync_seq LIMIT $3)",
            join = if table == "organization_members" {
                "JOIN users u ON u.id = m.user_id"
            } else {
                ""
            }
        )
    };
    let parts = [
        row("organizations", "o", "id", ""),
        row(
            "organization_members",
            "m",
            "organization_id",
            " || jsonb_build_object('name', u.name, 'email', u.email)",
        ),
        row("subscriptions", "s", "organization_id", ""),
        row("contacts", "c", "organization_id", ""),
        row("deals", "d", "organization_id", ""),
        row("transaction_loops", "l", "organization_id", ""),
        row("transaction_tasks", "t", "organization_id", ""),
        row("documents", "doc", "organization_id", ""),
        row("document_versions", "dv", "organization_id", ""),
        row("audit_log", "a", "organization_id", ""),
        // Every device gets every conflict; each shows those addressed to its own device_id.
        row("conflicts", "cf", "organization_id", ""),
        "(SELECT z.seq, jsonb_build_object('seq', z.seq, 'table', z.table_name, 'deleted', z.row_id)::text \
         FROM tombstones z WHERE z.organization_id = $1 AND z.seq > $2 ORDER BY z.seq LIMIT $3)"
            .to_string(),
    ];
    format!("{} ORDER BY seq LIMIT $3", parts.join(" UNION ALL "))
}

#[utoipa::path(get, path = "/v1/orgs/{org_id}/sync/pull", tag = "sync", security(("bearer" = [])),
    params(("org_id" = OrgId, Path), ("after" = Option<i64>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, content_type = "application/x-ndjson",
               description = "change lines in sequence order, then an end line")))]
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
    let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(32);
    tokio::spawn(async move {
        let page = Page {
            org,
            device,
            after: q.after,
            limit,
            full_resync,
        };
        if let Err(e) = stream_changes(tx, page, &sender).await {
            tracing::warn!(org = %org, ?device, error = %e, "pull stream ended early");
            let _ = sender.send(Err(std::io::Error::other("pull failed"))).await;
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(receiver));
    Response::builder()
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .header(header::CACHE_CONTROL, "no-store")
        .body(body)
        .map_err(|e| ApiError::Internal(e.into()))
}

/// Sends the lines in chunks of about 64 KiB; the channel's bound applies back-pressure, so a slow
/// client never makes the server hold a whole page in memory.
async fn stream_changes(
    mut tx: Tx,
    page: Page,
    sender: &mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> anyhow::Result<()> {
    let Page {
        org,
        device,
        after,
        limit,
        full_resync,
    } = page;
    let sql = changes_sql();
    let mut rows = sqlx::query_as::<_, (i64, String)>(&sql)
        .bind(org)
        .bind(after)
        .bind(limit)
        .fetch(&mut *tx);
    let mut buf = Vec::with_capacity(96 * 1024);
    let (mut last, mut sent) = (after, 0i64);
    while let Some((seq, line)) = rows.try_next().await? {
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        last = seq;
        sent += 1;
        if buf.len() >= 64 * 1024 {
            let chunk = Bytes::from(std::mem::replace(&mut buf, Vec::with_capacity(96 * 1024)));
            if sender.send(Ok(chunk)).await.is_err() {
                return Ok(()); // the client went away
            }
        }
    }
    drop(rows);
    let end = serde_json::json!({
        "end": true, "last_seq": last, "more": sent == limit, "full_resync": full_resync,
    });
    buf.extend_from_slice(end.to_string().as_bytes());
    buf.push(b'\n');
    if sender.send(Ok(Bytes::from(buf))).await.is_err() {
        return Ok(());
    }
    // Delivered whole: the admins' device list shows the device this far along.
    if let Some(device) = device {
        sqlx::query(
            "UPDATE device_sync_state SET last_pulled_seq = greatest(last_pulled_seq, $3)
              WHERE organization_id = $1 AND device_id = $2",
        )
        .bind(org)
        .bind(device)
        .bind(last)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// What one pull request asked for.
struct Page {
    org: OrgId,
    device: Option<strive_domain::DeviceId>,
    after: i64,
    limit: i64,
    full_resync: bool,
}
