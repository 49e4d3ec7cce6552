//! The membership index in the control database (`org_directory`'s name and tier, and
//! `org_memberships`): what `/v1/me` and `/v1/orgs` list in one query, whatever databases the
//! organizations live in. A cache: access is always decided by the tenant database's own
//! `organization_members`.
//!
//! For organizations in the control database, triggers keep it in the same transaction. For the
//! others, the server rewrites an organization's entries after each member or tier change
//! ([`refresh`]), a move does it after switching, and start-up repairs them all
//! ([`refresh_all_placed`]) in case a crash came between the two commits.

use super::registry::DEFAULT_DB;
use super::Tenants;
use crate::error::ApiResult;
use sqlx::{Connection, PgConnection};
use std::str::FromStr;
use strive_domain::{OrgId, UserId};
use uuid::Uuid;

/// What the index holds about one organization, read from its tenant database.
#[derive(Debug, Default)]
pub struct Entry {
    pub name: Option<String>,
    pub tier: Option<String>,
    pub members: Vec<(Uuid, String)>,
}

/// Reads the organization's entry; `conn` must be in the organization's tenant context.
pub async fn read(conn: &mut PgConnection, org: OrgId) -> Result<Entry, sqlx::Error> {
    let summary: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT o.name, s.tier FROM organizations o
           LEFT JOIN subscriptions s ON s.organization_id = o.id
          WHERE o.id = $1",
    )
    .bind(org)
    .fetch_optional(&mut *conn)
    .await?;
    let members = sqlx::query_as(
        "SELECT user_id, role FROM organization_members WHERE organization_id = $1 ORDER BY user_id",
    )
    .bind(org)
    .fetch_all(&mut *conn)
    .await?;
    let (name, tier) = summary.map_or((None, None), |(n, t)| (Some(n), t));
    Ok(Entry {
        name,
        tier,
        members,
    })
}

/// Takes the organization's index lock in the control transaction `ctl` (so two rewrites of
/// one organization's entries apply in the order they read) and sets its tenant context.
pub async fn lock(ctl: &mut PgConnection, org: OrgId) -> Result<(), sqlx::Error> {
    sqlx::query(
        "SELECT set_config('app.org_id', $1, true),
                pg_advisory_xact_lock(hashtextextended('strive.index:' || $1, 0))",
    )
    .bind(org.to_string())
    .execute(&mut *ctl)
    .await?;
    Ok(())
}

/// Replaces the organization's entries with `e`, in the control transaction `ctl` (after
/// [`lock`]).
pub async fn write(ctl: &mut PgConnection, org: OrgId, e: &Entry) -> Result<(), sqlx::Error> {
    if let Some(name) = &e.name {
        sqlx::query(
            "UPDATE org_directory SET name = $2, tier = coalesce($3, 'FREE'), updated_at = now()
              WHERE organization_id = $1",
        )
        .bind(org)
        .bind(name)
        .bind(&e.tier)
        .execute(&mut *ctl)
        .await?;
    }
    let users: Vec<Uuid> = e.members.iter().map(|(u, _)| *u).collect();
    let roles: Vec<&str> = e.members.iter().map(|(_, r)| r.as_str()).collect();
    sqlx::query(
        "DELETE FROM org_memberships WHERE organization_id = $1 AND NOT (user_id = ANY($2))",
    )
    .bind(org)
    .bind(&users)
    .execute(&mut *ctl)
    .await?;
    sqlx::query(
        "INSERT INTO org_memberships (user_id, organization_id, role)
         SELECT u, $1, r FROM unnest($2::uuid[], $3::text[]) AS x(u, r)
         ON CONFLICT (user_id, organization_id) DO UPDATE SET role = excluded.role",
    )
    .bind(org)
    .bind(&users)
    .bind(&roles)
    .execute(&mut *ctl)
    .await?;
    Ok(())
}

/// Rewrites the entries of `org` from its tenant database, if it lives outside the control
/// database (inside, triggers did it already).
pub async fn refresh(tenants: &Tenants, org: OrgId) -> ApiResult<()> {
    let mut ctl = tenants.control().begin().await?;
    lock(&mut ctl, org).await?;
    let (db, mut tx) = tenants.begin(org, UserId(Uuid::nil())).await?;
    if db == DEFAULT_DB {
        return Ok(());
    }
    let entry = read(&mut tx, org).await?;
    tx.commit().await?;
    write(&mut ctl, org, &entry).await?;
    ctl.commit().await?;
    Ok(())
}

/// [`refresh`] after a change that already committed: a failure leaves the index stale until
/// the next change or start-up, which is logged, not reported to the caller.
pub async fn refresh_after_change(tenants: &Tenants, org: OrgId) {
    // The request that made the change routed just now: the cached home is fresh.
    if matches!(tenants.guess(org).await.as_deref(), Ok(DEFAULT_DB)) {
        return;
    }
    if let Err(e) = refresh(tenants, org).await {
        tracing::warn!(org = %org, error = %e, "could not refresh the membership index");
    }
}

/// Refreshes every organization placed outside the control database.
pub async fn refresh_all_placed(tenants: &Tenants) -> anyhow::Result<()> {
    let opts = sqlx::postgres::PgConnectOptions::from_str(&tenants.0.control_admin_url)?;
    let mut owner = PgConnection::connect_with(&opts).await?;
    // As the owner: the directory is not forced under row-level security.
    let orgs: Vec<OrgId> = sqlx::query_scalar(
        "SELECT organization_id FROM org_directory
          WHERE database <> $1 AND state IN ('active', 'moving', 'cleanup')",
    )
    .bind(DEFAULT_DB)
    .fetch_all(&mut owner)
    .await?;
    owner.close().await.ok();
    for org in orgs {
        refresh(tenants, org).await?;
    }
    Ok(())
}
