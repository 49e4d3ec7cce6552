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
