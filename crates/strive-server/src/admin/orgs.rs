//! Placing organizations (`strive-server org create --db`) and listing where each one lives
//! (`strive-server org list`).

use super::{DirEntry, Operator};
use crate::moving::tables;
use crate::tenants::index;
use crate::tenants::registry::DEFAULT_DB;
use sqlx::{Connection, PgConnection};
use strive_domain::mutations::members::CreateOrganization;
use strive_domain::{OrgId, ValidationError};

#[derive(Debug, thiserror::Error)]
pub enum OrgAdminError {
    #[error("{0}")]
    Invalid(ValidationError),
    #[error("no Strive account uses {0}; ask them to sign up first")]
    NoSuchOwner(String),
    #[error("no database named '{0}' is registered (see `strive-server db list`)")]
    UnknownDatabase(String),
    #[error("an organization with the slug '{0}' already exists; choose another with --slug")]
    SlugTaken(String),
    #[error(transparent)]
    Registry(#[from] crate::tenants::registry::RegistryError),
    #[error(transparent)]
    Schema(#[from] tables::SchemaError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// Creates an organization in database `db`, owned by the account `owner_email`, on the
/// STARTER tier. The directory entry is written first (state `creating`, claiming the slug),
/// then the organization's rows in its database, then the entry turns `active`; if the rows
/// cannot be written the entry is removed again.
pub async fn create(
    op: &Operator,
    name: &str,
    slug: Option<&str>,
    owner_email: &str,
    db: &str,
) -> Result<OrgId, OrgAdminError> {
    if !op.knows(db) {
        return Err(OrgAdminError::UnknownDatabase(db.to_string()));
    }
    let new = CreateOrganization {
        id: None,
        name: name.to_string(),
        slug: slug.map(str::to_string),
    }
    .validate()
    .map_err(OrgAdminError::Invalid)?;
    let mut ctl = op.control().await?;
    let email = owner_email.trim().to_lowercase();
    let profile: Option<serde_json::Value> = sqlx::query_scalar(
        "WITH made AS (
           INSERT INTO users (id, email, name)
           SELECT id, email, coalesce(display_name, split_part(email, '@', 1))
             FROM identities WHERE email = $1
           ON CONFLICT (id) DO NOTHING RETURNING *)
         SELECT to_jsonb(m) FROM made m UNION ALL SELECT to_jsonb(u) FROM users u WHERE email = $1
         LIMIT 1",
    )
    .bind(&email)
    .fetch_optional(&mut ctl)
    .await?;
    let profile = profile.ok_or_else(|| OrgAdminError::NoSuchOwner(email.clone()))?;
    let owner: uuid::Uuid = profile["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| OrgAdminError::NoSuchOwner(email.clone()))?;
    let placed = sqlx::query(
        "INSERT INTO org_directory (organization_id, name, slug, tier, database, state)
         VALUES ($1, $2, $3, 'STARTER', $4, 'creating') ON CONFLICT DO NOTHING",
    )
    .bind(new.id)
    .bind(&new.name)
    .bind(&new.slug)
    .bind(db)
    .execute(&mut ctl)
    .await?;
    if placed.rows_affected() == 0 {
        return Err(OrgAdminError::SlugTaken(new.slug));
    }
    let written = write_rows(op, db, new.id, &new.name, &new.slug, &profile, owner).await;
    if let Err(e) = written {
        sqlx::query("DELETE FROM org_directory WHERE organization_id = $1")
            .bind(new.id)
            .execute(&mut ctl)
            .await?;
        return Err(e);
    }
    let mut tx = ctl.begin().await?;
    if db != DEFAULT_DB {
        let mut conn = op.connect(db).await?;
        crate::moving::copy::session(&mut conn, new.id, false).await?;
        let entry = index::read(&mut conn, new.id).await?;
        index::lock(&mut tx, new.id).await?;
        index::write(&mut tx, new.id, &entry).await?;
    }
    sqlx::query("UPDATE org_directory SET state = 'active' WHERE organization_id = $1")
        .bind(new.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(new.id)
}

/// The organization, its owner and subscription, and the owner's profile copy, in `db`.
async fn write_rows(
    op: &Operator,
    db: &str,
    org: OrgId,
    name: &str,
    slug: &str,
    profile: &serde_json::Value,
    owner: uuid::Uuid,
) -> Result<(), OrgAdminError> {
    let mut conn = op.connect(db).await?;
    let mut tx = conn.begin().await?;
    sqlx::query("SELECT set_config('app.org_id', $1, true)")
        .bind(org.to_string())
        .execute(&mut *tx)
        .await?;
    crate::db::orgs::copy_profile(&mut tx, profile).await?;
    sqlx::query("INSERT INTO organizations (id, name, slug) VALUES ($1, $2, $3)")
        .bind(org)
        .bind(name)
        .bind(slug)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO organization_members (organization_id, user_id, role) VALUES ($1, $2, 'OWNER')",
    )
    .bind(org)
    .bind(owner)
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO subscriptions (organization_id, tier) VALUES ($1, 'STARTER')")
        .bind(org)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO audit_log (organization_id, id, user_id, action, entity_type, entity_id, new_values)
         VALUES ($1, $2, $3, 'created', 'organization', $1, jsonb_build_object('name', $4::text))",
    )
    .bind(org)
    .bind(uuid::Uuid::now_v7())
    .bind(owner)
    .bind(name)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// One line of `strive-server org list`.
#[derive(Debug, Clone)]
pub struct Listed {
    pub entry: DirEntry,
    /// Rows of the organization in its database, all tables together.
    pub rows: i64,
    /// Their size on disk, roughly (the rows' own bytes, no indexes).
    pub bytes: i64,
    /// A move was cut short and no mover is running: run `org move` again.
    pub interrupted: bool,
}

/// Every organization with its database, state and size. One query per organization in its
/// database (the owner may be bound by row-level security, which needs one organization at a
/// time); an operator's command, not a request path.
pub async fn list(op: &Operator) -> Result<Vec<Listed>, OrgAdminError> {
    let mut ctl = op.control().await?;
    let entries: Vec<DirEntry> = sqlx::query_as(
        "SELECT organization_id, name, slug, tier, database, state, move_to, move_from, version
           FROM org_directory ORDER BY database, name, organization_id",
    )
    .fetch_all(&mut ctl)
    .await?;
    let mut out = Vec::with_capacity(entries.len());
    let mut conns: std::collections::HashMap<String, (PgConnection, String)> = Default::default();
    for entry in entries {
        if !conns.contains_key(&entry.database) {
            let mut conn = op.connect(&entry.database).await?;
            let sql = size_sql(&tables::discover(&mut conn).await?);
            conns.insert(entry.database.clone(), (conn, sql));
        }
        let Some((conn, sql)) = conns.get_mut(&entry.database) else {
            continue;
        };
        let mut tx = conn.begin().await?;
        sqlx::query("SELECT set_config('app.org_id', $1, true)")
            .bind(entry.organization_id.to_string())
            .execute(&mut *tx)
            .await?;
        let (rows, bytes): (i64, i64) = sqlx::query_as(sql.as_str())
            .bind(entry.organization_id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        let interrupted = entry.state != "active"
            && !crate::moving::mover_running(&mut ctl, entry.organization_id).await?;
        out.push(Listed {
            entry,
            rows,
            bytes,
            interrupted,
        });
    }
    Ok(out)
}

fn size_sql(tables: &[tables::Table]) -> String {
    let parts: Vec<String> = tables
        .iter()
        .map(|t| {
            format!(
                "SELECT count(*) AS n, coalesce(sum(pg_column_size(x.*)), 0) AS b FROM {} x WHERE {} = $1",
                t.name, t.org_col
            )
        })
        .collect();
    format!(
        "SELECT coalesce(sum(n), 0)::bigint, coalesce(sum(b), 0)::bigint FROM ({}) s",
        parts.join(" UNION ALL ")
    )
}

/// `12.3 MiB`.
pub fn human_bytes(n: i64) -> String {
    let mut v = n as f64;
    for unit in ["B", "KiB", "MiB", "GiB"] {
        if v < 1024.0 || unit == "GiB" {
            return if unit == "B" {
                format!("{n} B")
            } else {
                format!("{v:.1} {unit}")
            };
        }
        v /= 1024.0;
    }
    format!("{n} B")
}
