//! The CRM dashboard (the platform's Pattern 7): five aggregates computed by PostgreSQL,
//! run concurrently on separate connections of the same tenant.

use crate::error::ApiResult;
use crate::guard::Authorized;
use strive_domain::entities::{Dashboard, FollowUp, StatusCount};

pub async fn load(auth: &Authorized) -> ApiResult<Dashboard> {
    let org = auth.ctx.org;
    let total = async {
        let mut tx = auth.tenant_tx().await?;
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM contacts WHERE organization_id = $1")
            .bind(org)
            .fetch_one(&mut *tx)
            .await?;
        ApiResult::Ok(n)
    };
    let by_status = async {
        let mut tx = auth.tenant_tx().await?;
        let rows: Vec<StatusCount> = sqlx::query_as(
            "SELECT status, count(*) AS count FROM contacts WHERE organization_id = $1
              GROUP BY status ORDER BY status",
        )
        .bind(org)
        .fetch_all(&mut *tx)
        .await?;
        ApiResult::Ok(rows)
    };
    let recent = async {
        let mut tx = auth.tenant_tx().await?;
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM contacts
              WHERE organization_id = $1 AND created_at >= now() - interval '7 days'",
        )
        .bind(org)
        .fetch_one(&mut *tx)
        .await?;
        ApiResult::Ok(n)
    };
    let deals = async {
        let mut tx = auth.tenant_tx().await?;
        let row: (i64, i64, Option<i64>) = sqlx::query_as(
            "SELECT count(*), coalesce(sum(value_cents), 0)::bigint, round(avg(value_cents))::bigint
               FROM deals WHERE organization_id = $1",
        )
        .bind(org)
        .fetch_one(&mut *tx)
        .await?;
        ApiResult::Ok(row)
    };
    let follow_ups = async {
        let mut tx = auth.tenant_tx().await?;
        let rows: Vec<FollowUp> = sqlx::query_as(
            "SELECT c.id AS contact_id, c.name, c.next_follow_up_at, u.name AS assignee_name
               FROM contacts c LEFT JOIN users u ON u.id = c.assigned_to_id
              WHERE c.organization_id = $1
                AND c.next_follow_up_at BETWEEN now() AND now() + interval '7 days'
              ORDER BY c.next_follow_up_at, c.id
              LIMIT 10",
        )
        .bind(org)
        .fetch_all(&mut *tx)
        .await?;
        ApiResult::Ok(rows)
    };
    let (total_contacts, contacts_by_status, contacts_created_last_7_days, deals, upcoming) =
        tokio::try_join!(total, by_status, recent, deals, follow_ups)?;
    Ok(Dashboard {
        total_contacts,
        contacts_by_status,
        contacts_created_last_7_days,
        deal_count: deals.0,
        deal_value_sum_cents: deals.1,
        deal_value_avg_cents: deals.2,
        upcoming_follow_ups: upcoming,
    })
}
