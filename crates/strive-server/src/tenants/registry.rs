//! The registry of tenant databases (`tenant_databases` in the control database), read and
//! written as the control database's owner. Connection URLs are secrets: they never reach logs
//! or output, and [`describe`] shows where a database is without its password.

use crate::db::MIGRATOR;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use std::str::FromStr;

/// The control database, which is also the tenant database of every organization not placed
/// elsewhere. It has no URL in the registry: it is wherever the server's DATABASE_URL points.
pub const DEFAULT_DB: &str = "default";

/// A registered tenant database: how the owner (migrations, moves) and the service role
/// (requests) connect to it.
#[derive(Clone)]
pub struct TenantDb {
    pub name: String,
    pub owner: PgConnectOptions,
    pub app: PgConnectOptions,
}

impl std::fmt::Debug for TenantDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TenantDb({} at {})", self.name, describe(&self.owner))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "'{0}' is not a valid database name: use 1 to 63 lowercase letters, digits, '-' or '_'"
    )]
    BadName(String),
    #[error("a database named '{0}' is already registered")]
    NameTaken(String),
    #[error("that database is already registered as '{0}'")]
    AlreadyRegistered(String),
    #[error("not a PostgreSQL connection URL: {0}")]
    BadUrl(String),
    #[error("no database named '{0}' is registered (see `strive-server db list`)")]
    Unknown(String),
    #[error("{0} already holds Strive organizations or a directory; register an empty database")]
    NotEmpty(String),
    #[error("cannot connect to {what}: {source}")]
    Connect {
        what: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("migrating {0}: {1}")]
    Migrate(String, #[source] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// `user@host:port/database`: enough to know which database, never the password.
pub fn describe(opts: &PgConnectOptions) -> String {
    format!(
        "{}@{}:{}/{}",
        opts.get_username(),
        opts.get_host(),
        opts.get_port(),
        opts.get_database().unwrap_or("")
    )
}

fn parse_url(url: &str) -> Result<PgConnectOptions, RegistryError> {
    // The parser's message may quote the URL; say only what kind of mistake it was.
    PgConnectOptions::from_str(url).map_err(|_| {
        RegistryError::BadUrl("expected postgres://user[:password]@host[:port]/database".into())
    })
}

/// How the service role connects: `app_url` when given, else the owner's URL as `strive_app`
/// (with `STRIVE_APP_DB_PASSWORD` when set), as for the control database.
pub fn app_options(
    owner: &PgConnectOptions,
    app_url: Option<&str>,
) -> Result<PgConnectOptions, RegistryError> {
    if let Some(url) = app_url {
        return parse_url(url);
    }
    let mut opts = owner.clone().username(crate::db::APP_ROLE);
    if let Ok(pw) = std::env::var("STRIVE_APP_DB_PASSWORD") {
        opts = opts.password(&pw);
    }
    Ok(opts)
}

pub fn check_name(name: &str) -> Result<(), RegistryError> {
    let ok = (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(RegistryError::BadName(name.to_string()))
    }
}

async fn connect(opts: &PgConnectOptions, what: &str) -> Result<PgConnection, RegistryError> {
    PgConnection::connect_with(opts)
        .await
        .map_err(|source| RegistryError::Connect {
            what: what.to_string(),
            source,
        })
}

/// Every registered database but the control one.
pub async fn load(control: &mut PgConnection) -> Result<Vec<TenantDb>, RegistryError> {
    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT name, url, app_url FROM tenant_databases WHERE url IS NOT NULL ORDER BY name",
    )
    .fetch_all(&mut *control)
    .await?;
    rows.into_iter()
        .map(|(name, url, app_url)| {
            let owner = parse_url(&url)?;
            let app = app_options(&owner, app_url.as_deref())?;
            Ok(TenantDb { name, owner, app })
        })
        .collect()
}

/// Registers a database: migrates it, checks that it holds no organization yet and that the
/// service role can connect, then records it. Nothing is recorded if any step fails.
pub async fn add(
    control_url: &str,
    url: &str,
    name: Option<&str>,
    app_url: Option<&str>,
) -> Result<TenantDb, RegistryError> {
    let owner = parse_url(url)?;
    let name = match name {
        Some(n) => n.to_string(),
        None => owner
            .get_database()
            .unwrap_or("")
            .to_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_"),
    };
    check_name(&name)?;
    if name == DEFAULT_DB {
        return Err(RegistryError::NameTaken(name));
    }
    let control_opts = parse_url(control_url)?;
    let mut control = connect(&control_opts, "the control database").await?;
    let taken: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tenant_databases WHERE name = $1)")
            .bind(&name)
            .fetch_one(&mut control)
            .await?;
    if taken {
        return Err(RegistryError::NameTaken(name));
    }
    // This machine by any name (a socket, localhost, a loopback address) is one place.
    let place = |o: &PgConnectOptions| {
        let local = o.get_socket().is_some()
            || matches!(o.get_host(), "localhost" | "127.0.0.1" | "::1" | "[::1]");
        (
            if local {
                "local".to_string()
            } else {
                o.get_host().to_string()
            },
            o.get_port(),
            o.get_database().map(str::to_string),
        )
    };
    if place(&control_opts) == place(&owner) {
        return Err(RegistryError::AlreadyRegistered(DEFAULT_DB.into()));
    }
    for db in load(&mut control).await? {
        if place(&db.owner) == place(&owner) {
            return Err(RegistryError::AlreadyRegistered(db.name));
        }
    }
    let where_ = describe(&owner);
    let mut conn = connect(&owner, &where_).await?;
    crate::db::ensure_app_role(&mut conn).await?;
    MIGRATOR
        .run(&mut conn)
        .await
        .map_err(|e| RegistryError::Migrate(where_.clone(), e))?;
    // sync_counters and the directory are not forced under row-level security: the owner sees
    // every row, superuser or not.
    let used: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sync_counters) OR EXISTS (SELECT 1 FROM org_directory)",
    )
    .fetch_one(&mut conn)
    .await?;
    if used {
        return Err(RegistryError::NotEmpty(where_));
    }
    let app = app_options(&owner, app_url)?;
    let mut app_conn = connect(&app, &format!("{where_} as the service role")).await?;
    sqlx::query("SELECT 1").execute(&mut app_conn).await?;
    sqlx::query("INSERT INTO tenant_databases (name, url, app_url) VALUES ($1, $2, $3)")
        .bind(&name)
        .bind(url)
        .bind(app_url)
        .execute(&mut control)
        .await?;
    Ok(TenantDb { name, owner, app })
}

/// Applies pending migrations to the control database and every registered one.
pub async fn migrate_all(control_url: &str) -> anyhow::Result<Vec<TenantDb>> {
    let (dbs, unreachable) = migrate_reachable(control_url).await?;
    if let Some((_, e)) = unreachable.into_iter().next() {
        return Err(e.into());
    }
    Ok(dbs)
}

/// Like [`migrate_all`], but a tenant database that cannot be reached is skipped and reported
/// (the server starts anyway: one database down must not stop every organization; its own
/// organizations fail until it is back and migrated). A migration that fails is an error.
pub async fn migrate_reachable(
    control_url: &str,
) -> anyhow::Result<(Vec<TenantDb>, Vec<(String, RegistryError)>)> {
    crate::db::migrate(control_url).await?;
    let mut control = connect(&parse_url(control_url)?, "the control database").await?;
    let dbs = load(&mut control).await?;
    let mut unreachable = Vec::new();
    for db in &dbs {
        let mut conn = match connect(&db.owner, &format!("database '{}'", db.name)).await {
            Ok(c) => c,
            Err(e) => {
                unreachable.push((db.name.clone(), e));
                continue;
            }
        };
        crate::db::ensure_app_role(&mut conn).await?;
        MIGRATOR
            .run(&mut conn)
            .await
            .map_err(|e| RegistryError::Migrate(db.name.clone(), e))?;
    }
    Ok((dbs, unreachable))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_lowercase_words() {
        for ok in ["db2", "big-brokerage", "east_1", "9lives"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Big", "-x", "a b", "x;drop", &"a".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn descriptions_never_show_the_password() {
        let o =
            PgConnectOptions::from_str("postgres://owner:s3cret@db.example:6543/tenants").unwrap();
        let d = describe(&o);
        assert_eq!(d, "owner@db.example:6543/tenants");
        assert!(!d.contains("s3cret"));
        let app = app_options(&o, None).unwrap();
        assert_eq!(app.get_username(), "strive_app");
    }
}
