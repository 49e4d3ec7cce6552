//! Operator commands run from the shell as the database owner (no HTTP, no tokens).

use sqlx::Connection;
use strive_domain::{GlobalRole, Tier};

/// Sets the tier of the organization with this id or slug; returns rows changed.
pub async fn set_tier(admin_url: &str, org: &str, tier: Tier) -> anyhow::Result<u64> {
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    let done = sqlx::query(
        "UPDATE subscriptions s SET tier = $2, updated_at = now()
           FROM organizations o
          WHERE o.id = s.organization_id AND (o.id::text = $1 OR o.slug = $1)",
    )
    .bind(org)
    .bind(tier)
    .execute(&mut conn)
    .await?;
    Ok(done.rows_affected())
}

/// Sets a person's global role, creating their profile first if they never signed in.
pub async fn set_role(admin_url: &str, email: &str, role: GlobalRole) -> anyhow::Result<u64> {
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    let email = email.trim().to_lowercase();
    sqlx::query(
        "INSERT INTO users (id, email, name)
         SELECT id, email, coalesce(display_name, split_part(email, '@', 1)) FROM identities
          WHERE email = $1
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&email)
    .execute(&mut conn)
    .await?;
    let done = sqlx::query("UPDATE users SET role = $2, updated_at = now() WHERE email = $1")
        .bind(&email)
        .bind(role)
        .execute(&mut conn)
        .await?;
    Ok(done.rows_affected())
}
