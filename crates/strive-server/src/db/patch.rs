//! Applies a validated [`Changes`] list as one UPDATE. Column names come from strive-domain's
//! validators (static strings), never from input; values are always bound parameters.

use crate::error::ApiResult;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection, Postgres, QueryBuilder};
use strive_domain::mutations::{Changes, FieldValue};
use strive_domain::OrgId;
use uuid::Uuid;

/// `UPDATE {table} SET ... WHERE organization_id = $org AND id = $id RETURNING *`.
/// `None` when no such row exists in the organization.
pub async fn update_returning<T>(
    conn: &mut PgConnection,
    table: &'static str,
    org: OrgId,
    id: Uuid,
    changes: &Changes,
) -> ApiResult<Option<T>>
where
    T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    let mut qb: QueryBuilder<Postgres> = QueryBuilder::new("");
    push_update(&mut qb, table, org, id, changes);
    Ok(qb.build_query_as::<T>().fetch_optional(conn).await?)
}

/// Runs of updates up to this long keep their statement prepared on the connection.
const PREPARED_RUN: usize = 16;

/// Several updates of `table`, answered in the order given, in as few statements as it takes:
/// consecutive updates that change the same columns of different rows go in one statement, a
/// data-modifying `WITH` part each (each a one-row update by key: nothing more to plan, unlike an
/// `UPDATE … FROM unnest(…)`, which measured slower). An error when a row is missing.
pub async fn update_many_returning<T>(
    conn: &mut PgConnection,
    table: &'static str,
    org: OrgId,
    updates: &[(Uuid, &Changes)],
    id_of: impl Fn(&T) -> Uuid + Copy,
) -> ApiResult<Vec<T>>
where
    T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    let mut out = Vec::with_capacity(updates.len());
    let mut start = 0;
    while start < updates.len() {
        let shape = updates[start].1;
        let same_shape = |c: &Changes| {
            c.iter()
                .map(|x| x.column)
                .eq(shape.iter().map(|x| x.column))
        };
        let mut ids = std::collections::HashSet::new();
        let end = start
            + updates[start..]
                .iter()
                .take_while(|(id, c)| same_shape(c) && ids.insert(*id))
                .count();
        let part = &updates[start..end];
        let mut qb: QueryBuilder<Postgres> = QueryBuilder::new("WITH ");
        for (i, (id, changes)) in part.iter().enumerate() {
            if i > 0 {
                qb.push(", ");
            }
            qb.push(format_args!("u{i} AS ("));
            push_update(&mut qb, table, org, *id, changes);
            qb.push(")");
        }
        for i in 0..part.len() {
            if i > 0 {
                qb.push(" UNION ALL");
            }
            qb.push(format_args!(" SELECT * FROM u{i}"));
        }
        // Kept prepared only when short: every run length and set of fields is its own text,
        // and a connection's statement cache should not fill with plans of hundreds of parts.
        let rows: Vec<T> = qb
            .build_query_as::<T>()
            .persistent(part.len() <= PREPARED_RUN)
            .fetch_all(&mut *conn)
            .await?;
        out.extend(crate::db::in_given_order(
            rows,
            part,
            id_of,
            |(id, _)| *id,
            table,
        )?);
        start = end;
    }
    Ok(out)
}

/// `UPDATE {table} SET updated_at = now(), ... WHERE organization_id = $org AND id = $id
/// RETURNING *`, its values bound.
fn push_update(
    qb: &mut QueryBuilder<'_, Postgres>,
    table: &'static str,
    org: OrgId,
    id: Uuid,
    changes: &Changes,
) {
    qb.push("UPDATE ")
        .push(table)
        .push(" SET updated_at = now()");
    for change in changes.iter() {
        qb.push(", ").push(change.column).push(" = ");
        match &change.value {
            FieldValue::Text(v) => qb.push_bind(v.clone()),
            FieldValue::Int(v) => qb.push_bind(*v),
            FieldValue::Id(v) => qb.push_bind(*v),
            FieldValue::Time(v) => qb.push_bind(*v),
            FieldValue::Date(v) => qb.push_bind(*v),
            FieldValue::TextList(v) => qb.push_bind(v.clone()),
        };
    }
    qb.push(" WHERE organization_id = ")
        .push_bind(org)
        .push(" AND id = ")
        .push_bind(id)
        .push(" RETURNING *");
}

/// `DELETE FROM {table} WHERE organization_id = $org AND id = $id`; true when a row went.
pub async fn delete(
    conn: &mut PgConnection,
    table: &'static str,
    org: OrgId,
    id: Uuid,
) -> ApiResult<bool> {
    let sql = format!("DELETE FROM {table} WHERE organization_id = $1 AND id = $2");
    let done = sqlx::query(&sql).bind(org).bind(id).execute(conn).await?;
    Ok(done.rows_affected() == 1)
}
