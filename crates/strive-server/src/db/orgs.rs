//! Organizations, memberships and subscriptions.

use crate::error::{ApiError, ApiResult};
use sqlx::PgConnection;
use strive_domain::entities::{Member, Membership, Organization};
use strive_domain::mutations::members::NewOrganization;
use strive_domain::{OrgId, OrgRole, Tier, UserId};

/// The organization, its creator as OWNER, and a STARTER subscription, in the caller's
/// transaction, which is in the control database: organizations created through the API start
/// there (the directory entry, which also claims the slug across every database, is written in
/// the same transaction). Operators place them elsewhere (`strive-server org create --db`).
pub async fn create(
    conn: &mut PgConnection,
    owner: UserId,
    o: &NewOrganization,
) -> ApiResult<Organization> {
    let org: Organization = sqlx::query_as(
        "INSERT INTO organizations (id, name, slug) VALUES ($1, $2, $3)
         RETURNING id, name, slug, created_at",
    )
    .bind(o.id)
    .bind(&o.name)
    .bind(&o.slug)
    .fetch_one(&mut *conn)
    .await?;
    // Before the member row: the index trigger indexes members of organizations it finds here.
    sqlx::query(
        "INSERT INTO org_directory (organization_id, name, slug, tier) VALUES ($1, $2, $3, 'STARTER')",
    )
    .bind(o.id)
    .bind(&o.name)
    .bind(&o.slug)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO organization_members (organization_id, user_id, role) VALUES ($1, $2, 'OWNER');
         ",
    )
    .bind(o.id)
    .bind(owner)
    .execute(&mut *conn)
    .await?;
    sqlx::query("INSERT INTO subscriptions (organization_id, tier) VALUES ($1, 'STARTER')")
        .bind(o.id)
        .execute(&mut *conn)
        .await?;
    Ok(org)
}

/// Every organization the person belongs to, with their role and its tier: one query on the
/// control database's index, wherever the organizations live.
pub async fn memberships(conn: &mut PgConnection, user: UserId) -> ApiResult<Vec<Membership>> {
    Ok(sqlx::query_as(
        "SELECT d.organization_id, d.name, d.slug, m.role, d.tier
           FROM org_memberships m
           JOIN org_directory d ON d.organization_id = m.organization_id
          WHERE m.user_id = $1
          ORDER BY d.name, d.organization_id",
    )
    .bind(user)
    .fetch_all(conn)
    .await?)
}

pub async fn members(conn: &mut PgConnection, org: OrgId) -> ApiResult<Vec<Member>> {
    Ok(sqlx::query_as(
        "SELECT u.id AS user_id, u.email, u.name, m.role, m.joined_at
           FROM organization_members m JOIN users u ON u.id = m.user_id
          WHERE m.organization_id = $1
          ORDER BY u.name, u.id",
    )
    .bind(org)
    .fetch_all(conn)
    .await?)
}

pub async fn member(conn: &mut PgConnection, org: OrgId, user: UserId) -> ApiResult<Member> {
    sqlx::query_as(
        "SELECT u.id AS user_id, u.email, u.name, m.role, m.joined_at
           FROM organization_members m JOIN users u ON u.id = m.user_id
          WHERE m.organization_id = $1 AND m.user_id = $2",
    )
    .bind(org)
    .bind(user)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ApiError::not_found("Member"))
}

/// The profile behind an email, creating it (lazily, as on first sign-in) when only the identity
/// exists yet. `control` is the control database, where identities and profiles live.
pub async fn user_by_email(control: &mut PgConnection, email: &str) -> ApiResult<UserId> {
    sqlx::query_scalar(
        "WITH made AS (
           INSERT INTO users (id, email, name)
           SELECT id, email, coalesce(display_name, split_part(email, '@', 1))
             FROM identities WHERE email = $1
           ON CONFLICT (id) DO NOTHING RETURNING id)
         SELECT id FROM made UNION ALL SELECT id FROM users WHERE email = $1 LIMIT 1",
    )
    .bind(email)
    .fetch_optional(control)
    .await?
    .ok_or_else(|| {
        ApiError::NotFound(format!(
            "No Strive account uses {email}; ask them to sign up first"
        ))
    })
}

/// A person's profile as stored in the control database (to copy into a tenant database).
pub async fn profile(control: &mut PgConnection, user: UserId) -> ApiResult<serde_json::Value> {
    sqlx::query_scalar("SELECT to_jsonb(u) FROM users u WHERE u.id = $1")
        .bind(user)
        .fetch_optional(control)
        .await?
        .ok_or_else(|| ApiError::NotFound("No such account".into()))
}

/// Makes sure the tenant database of `conn` has the person's profile, which its rows reference
/// (a no-op in the control database, which has it already).
pub async fn copy_profile(
    conn: &mut PgConnection,
    profile: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO users SELECT * FROM jsonb_populate_record(NULL::users, $1)
         ON CONFLICT DO NOTHING",
    )
    .bind(profile)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn add_member(
    conn: &mut PgConnection,
    org: OrgId,
    user: UserId,
    role: OrgRole,
) -> ApiResult<()> {
    let inserted = sqlx::query(
        "INSERT INTO organization_members (organization_id, user_id, role) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(org)
    .bind(user)
    .bind(role)
    .execute(conn)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(ApiError::Conflict("This person is already a member".into()));
    }
    Ok(())
}

/// Owners other than `except`, counted under a lock so two demotions cannot both pass.
pub async fn other_owners(conn: &mut PgConnection, org: OrgId, except: UserId) -> ApiResult<usize> {
    let owners: Vec<UserId> = sqlx::query_scalar(
        "SELECT user_id FROM organization_members
          WHERE organization_id = $1 AND role = 'OWNER' FOR UPDATE",
    )
    .bind(org)
    .fetch_all(conn)
    .await?;
    Ok(owners.iter().filter(|u| **u != except).count())
}

pub async fn set_role(
    conn: &mut PgConnection,
    org: OrgId,
    user: UserId,
    role: OrgRole,
) -> ApiResult<()> {
    sqlx::query(
        "UPDATE organization_members SET role = $3 WHERE organization_id = $1 AND user_id = $2",
    )
    .bind(org)
    .bind(user)
    .bind(role)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn remove_member(conn: &mut PgConnection, org: OrgId, user: UserId) -> ApiResult<()> {
    sqlx::query("DELETE FROM organization_members WHERE organization_id = $1 AND user_id = $2")
        .bind(org)
        .bind(user)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_tier(conn: &mut PgConnection, org: OrgId, tier: Tier) -> ApiResult<()> {
    let done = sqlx::query(
        "UPDATE subscriptions SET tier = $2, updated_at = now() WHERE organization_id = $1",
    )
    .bind(org)
    .bind(tier)
    .execute(conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::not_found("Organization"));
    }
    Ok(())
}
