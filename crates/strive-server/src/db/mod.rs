//! The database: migrations (as the owner), the service pool (as `strive_app`, which RLS binds),
//! and tenant transactions.

pub mod activity;
pub mod contacts;
pub mod dashboard;
pub mod deals;
pub mod documents;
pub mod loops;
pub mod orgs;
pub mod page;
pub mod patch;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};
use std::str::FromStr;
use strive_domain::{OrgId, UserId};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/server");

/// The role the service runs as: owns nothing, is no superuser, so row-level security binds it.
pub const APP_ROLE: &str = "strive_app";

pub type Tx = Transaction<'static, Postgres>;

/// Applies every pending migration, connected as the schema's owner.
pub async fn migrate(admin_url: &str) -> anyhow::Result<()> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(admin_url)
        .await?;
    ensure_app_role(&mut *pool.acquire().await?).await?;
    MIGRATOR.run(&pool).await?;
    pool.close().await;
    Ok(())
}

/// Creates the service role if the cluster lacks it. The first migration does too, but roles
/// belong to the whole cluster while migrations lock one database: two databases of one cluster
/// migrated at once (several tenant databases, several instances starting) would both try.
pub async fn ensure_app_role(conn: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(
        "DO $$
         BEGIN
           IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'strive_app') THEN
             BEGIN
               CREATE ROLE strive_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
             EXCEPTION WHEN duplicate_object OR unique_violation THEN
               NULL; -- created meanwhile by another migration
             END;
           END IF;
         END $$",
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Connection options for the service role: `APP_DATABASE_URL` if set, else the admin URL with
/// the user swapped for `strive_app` (password from `STRIVE_APP_DB_PASSWORD`, if any).
pub fn app_options(admin_url: &str) -> anyhow::Result<PgConnectOptions> {
    if let Ok(url) = std::env::var("APP_DATABASE_URL") {
        return Ok(PgConnectOptions::from_str(&url)?);
    }
    let mut opts = PgConnectOptions::from_str(admin_url)?.username(APP_ROLE);
    if let Ok(pw) = std::env::var("STRIVE_APP_DB_PASSWORD") {
        opts = opts.password(&pw);
    }
    Ok(opts)
}

pub async fn connect_app(opts: PgConnectOptions, max: u32) -> anyhow::Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect_with(opts)
        .await?)
}

/// Opens a transaction bound to one organization and one person: row-level security then shows
/// only that organization's rows (and the person's own memberships).
pub async fn begin_tenant(pool: &PgPool, org: OrgId, user: UserId) -> Result<Tx, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT set_config('app.org_id', $1, true), set_config('app.user_id', $2, true)")
        .bind(org.to_string())
        .bind(user.to_string())
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// A transaction that sees only the person's own memberships (no organization chosen yet).
pub async fn begin_personal(pool: &PgPool, user: UserId) -> Result<Tx, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT set_config('app.user_id', $1, true)")
        .bind(user.to_string())
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// The rows a multi-row write returned, in the order of what was written (`RETURNING` promises
/// no order); an error when one is missing.
pub fn in_given_order<R, G, K: std::hash::Hash + Eq + std::fmt::Debug>(
    rows: Vec<R>,
    given: &[G],
    row_key: impl Fn(&R) -> K,
    given_key: impl Fn(&G) -> K,
    what: &str,
) -> crate::error::ApiResult<Vec<R>> {
    let mut by_key: std::collections::HashMap<K, R> =
        rows.into_iter().map(|r| (row_key(&r), r)).collect();
    given
        .iter()
        .map(|g| {
            let key = given_key(g);
            by_key.remove(&key).ok_or_else(|| {
                crate::error::ApiError::Internal(anyhow::anyhow!("{what} {key:?} not written"))
            })
        })
        .collect()
}

/// One field of every item, as the array a multi-row statement binds.
pub fn column<X, T>(items: &[X], field: impl Fn(&X) -> T) -> Vec<T> {
    items.iter().map(field).collect()
}

/// The single row a one-row call of a multi-row write returned.
pub fn the_one<R>(mut rows: Vec<R>, what: &str) -> crate::error::ApiResult<R> {
    match (rows.pop(), rows.is_empty()) {
        (Some(row), true) => Ok(row),
        _ => Err(crate::error::ApiError::Internal(anyhow::anyhow!(
            "one {what} expected from a one-row write"
        ))),
    }
}
