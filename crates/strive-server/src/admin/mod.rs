//! Operator commands run from the shell as the databases' owner (no HTTP, no tokens).

pub mod orgs;

use crate::tenants::registry::{self, RegistryError, TenantDb, DEFAULT_DB};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use std::str::FromStr;
use strive_domain::{GlobalRole, OrgId, Tier};

/// The control database and the registered ones, as their owner.
pub struct Operator {
    control: PgConnectOptions,
    dbs: Vec<TenantDb>,
}

impl Operator {
    pub async fn new(control_url: &str) -> Result<Self, RegistryError> {
        let control = PgConnectOptions::from_str(control_url)
            .map_err(|_| RegistryError::BadUrl("the control database URL".into()))?;
        let mut conn = PgConnection::connect_with(&control)
            .await
            .map_err(|source| RegistryError::Connect {
                what: "the control database".into(),
                source,
            })?;
        let dbs = registry::load(&mut conn).await?;
        conn.close().await.ok();
        Ok(Self { control, dbs })
    }

    /// Every database organizations can live in: `default` first.
    pub fn databases(&self) -> Vec<&str> {
        std::iter::once(DEFAULT_DB)
            .chain(self.dbs.iter().map(|d| d.name.as_str()))
            .collect()
    }

    pub fn knows(&self, db: &str) -> bool {
        db == DEFAULT_DB || self.dbs.iter().any(|d| d.name == db)
    }

    /// Where database `db` is, without its password.
    pub fn describe(&self, db: &str) -> String {
        self.options(db)
            .map(|o| registry::describe(&o))
            .unwrap_or_default()
    }

    fn options(&self, db: &str) -> Result<PgConnectOptions, RegistryError> {
        if db == DEFAULT_DB {
            return Ok(self.control.clone());
        }
        self.dbs
            .iter()
            .find(|d| d.name == db)
            .map(|d| d.owner.clone())
            .ok_or_else(|| RegistryError::Unknown(db.to_string()))
    }

    /// A connection to database `db` as its owner.
    pub async fn connect(&self, db: &str) -> Result<PgConnection, RegistryError> {
        let opts = self.options(db)?;
        PgConnection::connect_with(&opts)
            .await
            .map_err(|source| RegistryError::Connect {
                what: format!("database '{db}'"),
                source,
            })
    }

    pub async fn control(&self) -> Result<PgConnection, RegistryError> {
        self.connect(DEFAULT_DB).await
    }
}

/// One organization's directory entry.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DirEntry {
    pub organization_id: OrgId,
    pub name: String,
    pub slug: String,
    pub tier: String,
    pub database: String,
    pub state: String,
    pub move_to: Option<String>,
    pub move_from: Option<String>,
    pub version: i64,
}

/// The directory entry of the organization with this id or slug.
pub async fn find_org(
    control: &mut PgConnection,
    id_or_slug: &str,
) -> Result<Option<DirEntry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT organization_id, name, slug, tier, database, state, move_to, move_from, version
           FROM org_directory WHERE organization_id::text = $1 OR slug = $1",
    )
    .bind(id_or_slug.trim().to_lowercase())
    .fetch_optional(control)
    .await
}

/// Sets the tier of the organization with this id or slug, in the database it lives in; returns
/// rows changed.
pub async fn set_tier(admin_url: &str, org: &str, tier: Tier) -> anyhow::Result<u64> {
    let op = Operator::new(admin_url).await?;
    let mut ctl = op.control().await?;
    let Some(entry) = find_org(&mut ctl, org).await? else {
        return Ok(0);
    };
    let mut conn = op.connect(&entry.database).await?;
    let mut tx = conn.begin().await?;
    // The owner may be bound by row-level security (when it is no superuser): set the context.
    sqlx::query("SELECT set_config('app.org_id', $1, true)")
        .bind(entry.organization_id.to_string())
        .execute(&mut *tx)
        .await?;
    let done = sqlx::query(
        "UPDATE subscriptions SET tier = $2, updated_at = now() WHERE organization_id = $1",
    )
    .bind(entry.organization_id)
    .bind(tier)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    // In the control database a trigger updated the index; elsewhere, do it here.
    sqlx::query(
        "UPDATE org_directory SET tier = $2, updated_at = now() WHERE organization_id = $1",
    )
    .bind(entry.organization_id)
    .bind(tier)
    .execute(&mut ctl)
    .await?;
    Ok(done.rows_affected())
}

/// Sets a person's global role, creating their profile first if they never signed in. Profiles
/// live in the control database (tenant databases' copies carry no authority).
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
