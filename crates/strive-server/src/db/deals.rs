//! Deals: insert, read, list.

use crate::db::page::{time_value, Cursor, Page, SortKey};
use crate::db::{column, in_given_order};
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
    let one = insert_many(conn, org, by, std::slice::from_ref(d)).await?;
    crate::db::the_one(one, "deal")
}

/// Several new deals in one INSERT; answers them in the order given.
pub async fn insert_many(
    conn: &mut PgConnection,
    org: OrgId,
    by: UserId,
    ds: &[NewDeal],
) -> ApiResult<Vec<Deal>> {
    let rows: Vec<Deal> = sqlx::query_as(
        "INSERT INTO deals (organization_id, id, title, value_cents, stage, status, probability,
                            contact_id, assigned_to_id, expected_close_date, description, created_by)
         SELECT $1, x.id, x.title, x.value_cents, x.stage, x.status, x.probability, x.contact_id,
                x.assigned_to_id, x.expected_close_date, x.description, $12
           FROM unnest($2::uuid[], $3::text[], $4::int8[], $5::text[], $6::text[], $7::int4[],
                       $8::uuid[], $9::uuid[], $10::date[], $11::text[])
                WITH ORDINALITY AS x(id, title, value_cents, stage, status, probability,
                                     contact_id, assigned_to_id, expected_close_date,
                                     description, n)
          ORDER BY x.n
         RETURNING *",
    )
    .bind(org)
    .bind(column(ds, |d| d.id.0))
    .bind(column(ds, |d| d.title.clone()))
    .bind(column(ds, |d| d.value.get()))
    .bind(column(ds, |d| d.stage))
    .bind(column(ds, |d| d.status))
    .bind(column(ds, |d| d.probability))
    .bind(column(ds, |d| d.contact_id.map(|c| c.0)))
    .bind(column(ds, |d| d.assigned_to_id.map(|u| u.0)))
    .bind(column(ds, |d| d.expected_close_date))
    .bind(column(ds, |d| d.description.clone()))
    .bind(by)
    .fetch_all(conn)
    .await?;
    in_given_order(rows, ds, |d| d.id, |d| d.id, "deal")
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
