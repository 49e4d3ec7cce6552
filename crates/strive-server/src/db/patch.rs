//! Applies a validated [`Changes`] list as one UPDATE. Column names come from strive-domain's
//! validators (static strings), never from input; values are always bound parameters.

use crate::error::{ApiError, ApiResult};
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
    let mut qb: QueryBuilder<Postgres> = QueryBuilder::new("UPDATE ");
    qb.push(table).push(" SET updated_at = now()");
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
    Ok(qb.build_query_as::<T>().fetch_optional(conn).await?)
}

/// [`update_returning`] for several rows of one table that change the same columns (in the same
/// order; ids distinct), in one statement: each column's new values go as one array. The rows
/// come back in the order given; `None` when one of them does not exist in the organization.
pub async fn update_many<T>(
    conn: &mut PgConnection,
    table: &'static str,
    org: OrgId,
    rows: &[(Uuid, &Changes)],
    id_of: impl Fn(&T) -> Uuid,
) -> ApiResult<Option<Vec<T>>>
where
    T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    let Some((_, first)) = rows.first() else {
        return Ok(Some(Vec::new()));
    };
    let columns: Vec<&'static str> = first.iter().map(|c| c.column).collect();
    if rows
        .iter()
        .any(|(_, c)| !c.iter().map(|c| c.column).eq(columns.iter().copied()))
    {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "rows updated together must change the same columns"
        )));
    }
    let mut qb: QueryBuilder<Postgres> = QueryBuilder::new("UPDATE ");
    qb.push(table).push(" AS t SET updated_at = now()");
    for (i, column) in columns.iter().enumerate() {
        qb.push(", ").push(*column).push(" = ");
        // A list travels as JSON (arrays of arrays must be rectangular in PostgreSQL).
        match &first.0[i].value {
            FieldValue::TextList(_) => qb.push(format_args!(
                "ARRAY(SELECT jsonb_array_elements_text(v.c{i}))"
            )),
            _ => qb.push(format_args!("v.c{i}")),
        };
    }
    qb.push(" FROM unnest(")
        .push_bind(rows.iter().map(|(id, _)| *id).collect::<Vec<_>>());
    for i in 0..columns.len() {
        qb.push(", ");
        push_column(&mut qb, rows, i)?;
    }
    qb.push(") AS v(id");
    for i in 0..columns.len() {
        qb.push(format_args!(", c{i}"));
    }
    // `t.id = ANY(ids)` as well: the planner then finds the rows through the primary key
    // instead of scanning the table to join it with the unnested values.
    qb.push(") WHERE t.organization_id = ")
        .push_bind(org)
        .push(" AND t.id = ANY(")
        .push_bind(rows.iter().map(|(id, _)| *id).collect::<Vec<_>>())
        .push(") AND t.id = v.id RETURNING t.*");
    let written: Vec<T> = qb.build_query_as::<T>().fetch_all(conn).await?;
    if written.len() != rows.len() {
        return Ok(None);
    }
    let ids: Vec<Uuid> = rows.iter().map(|(id, _)| *id).collect();
    Ok(Some(crate::db::in_given_order(
        written,
        &ids,
        id_of,
        |id| *id,
        table,
    )?))
}

/// Binds the `i`-th changed column of every row as one typed array.
fn push_column(
    qb: &mut QueryBuilder<Postgres>,
    rows: &[(Uuid, &Changes)],
    i: usize,
) -> ApiResult<()> {
    // Every row's value of the column, all of the first row's variant.
    macro_rules! bind_all {
        ($variant:ident($v:ident) => $value:expr, $sql_type:literal) => {{
            let values = rows
                .iter()
                .map(|(_, c)| match &c.0[i].value {
                    FieldValue::$variant($v) => Ok($value),
                    _ => Err(ApiError::Internal(anyhow::anyhow!(
                        "a column changed with values of two types"
                    ))),
                })
                .collect::<ApiResult<Vec<_>>>()?;
            qb.push_bind(values).push($sql_type);
        }};
    }
    match rows.first().map(|(_, c)| &c.0[i].value) {
        Some(FieldValue::Text(_)) => bind_all!(Text(t) => t.clone(), "::text[]"),
        Some(FieldValue::Int(_)) => bind_all!(Int(n) => *n, "::int8[]"),
        Some(FieldValue::Id(_)) => bind_all!(Id(id) => *id, "::uuid[]"),
        Some(FieldValue::Time(_)) => bind_all!(Time(t) => *t, "::timestamptz[]"),
        Some(FieldValue::Date(_)) => bind_all!(Date(d) => *d, "::date[]"),
        Some(FieldValue::TextList(_)) => {
            bind_all!(TextList(l) => serde_json::json!(l), "::jsonb[]")
        }
        None => {}
    }
    Ok(())
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
