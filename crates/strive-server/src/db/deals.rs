//! Deals: insert, read, list.

use crate::db::page::{time_value, Cursor, Page, SortKey};
use crate::error::{ApiError, ApiResult};
use serde::Deserialize;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use strive_domain::entities::Deal;
use strive_domain::mutations::deals::NewDeal;
use strive_domain::{DealId, DealStage, OrgId, UserId};

pub async fn insert(
    conn: &mut PgConnection,
    org: OrgId,
    by: UserId,
    d: &NewDeal,
) -> ApiResult<Deal> {
    Ok(sqlx::query_as(
        "INSERT INTO deals (organization_id, id, title, value_cents, stage, status, probability,
                            contact_id, assigned_to_id, expected_close_date, description, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         RETURNING *",
    )
    .bind(org)
    .bind(d.id)
    .bind(&d.title)
    .bind(d.value.get())
    .bind(d.stage)
    .bind(d.status)
    .bind(d.probability)
    .bind(d.contact_id)
    .bind(d.assigned_to_id)
    .bind(d.expected_close_date)
    .bind(&d.description)
    .bind(by)
    .fetch_one(conn)
    .await?)
}

pub async fn get(conn: &mut PgConnection, org: OrgId, id: DealId) -> ApiResult<Deal> {
    sqlx::query_as("SELECT * FROM deals WHERE organization_id = $1 AND id = $2")
        .bind(org)
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| ApiError::not_found("Deal"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DealFilter {
    pub stage: Option<DealStage>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

pub async fn list(conn: &mut PgConnection, org: OrgId, f: DealFilter) -> ApiResult<Page<Deal>> {
    let sort = SortKey::parse(None, &["created_at"], "-created_at")?;
    let limit = Page::<Deal>::limit(f.limit)?;
    let cursor = f.cursor.as_deref().map(Cursor::decode).transpose()?;
    let mut qb: QueryBuilder<Postgres> =
        QueryBuilder::new("SELECT * FROM deals WHERE organization_id = ");
    qb.push_bind(org);
    if let Some(stage) = f.stage {
        qb.push(" AND stage = ").push_bind(stage);
    }
    sort.push_keyset(&mut qb, cursor.as_ref());
    sort.push_order(&mut qb, limit + 1);
    let rows: Vec<Deal> = qb.build_query_as().fetch_all(conn).await?;
    Ok(Page::from_rows(rows, limit, |d| {
        Cursor::new(time_value(d.created_at), d.id.0)
    }))
}
