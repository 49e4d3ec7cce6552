//! Routing organizations to their databases.
//!
//! The control database's directory says where each organization lives. The server keeps a
//! cached guess per organization and a bounded pool per tenant database (created on first use,
//! its connections closed when idle, the pool itself dropped after a longer idle spell). Every
//! tenant transaction starts the same way: take the organization's write gate in the guessed
//! database (shared; a move holds it exclusively while it switches), *then* read the directory.
//! A move switches the directory only while it holds the gate in the old database, so a
//! transaction that holds the gate and reads "here" is in the right place until it ends; one that
//! reads "elsewhere" starts over there. Stale caches cost a retry, never a wrong answer.

pub mod index;
pub mod registry;

use crate::db::Tx;
use crate::error::{ApiError, ApiResult};
use crate::sync::realtime::Hub;
use registry::{TenantDb, DEFAULT_DB};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};
use strive_domain::{OrgId, UserId};

/// How many times a request follows a directory that changed under it before answering
/// "moving, try again".
const ROUTE_ATTEMPTS: usize = 3;
/// Cached directory entries kept at most (beyond it the cache starts over).
const MAX_CACHED_HOMES: usize = 100_000;

/// The key of an organization's write gate (an advisory lock), as SQL over a text parameter
/// holding the organization id: one formula for the service, which takes the gate shared, and the
/// mover (`crate::moving`), which takes it exclusively.
pub fn gate_key_sql(param: &str) -> String {
    format!("hashtextextended('strive.org:' || {param}, 0)")
}

/// Tuning of the per-database pools.
#[derive(Clone, Copy, Debug)]
pub struct PoolLimits {
    /// Connections per tenant database (the control database's pool is sized separately).
    pub max_connections: u32,
    /// An idle connection is closed after this long.
    pub idle_connection: Duration,
    /// A pool nobody used for this long is closed and forgotten (re-created on next use).
    pub idle_pool: Duration,
}

impl Default for PoolLimits {
    fn default() -> Self {
        Self {
            max_connections: 16,
            idle_connection: Duration::from_secs(60),
            idle_pool: Duration::from_secs(600),
        }
    }
}

/// Cheap to clone; shared by every request.
#[derive(Clone)]
pub struct Tenants(Arc<Inner>);

struct Inner {
    control: PgPool,
    /// The control database's owner URL: only to read the registry (the service role cannot).
    control_admin_url: String,
    limits: PoolLimits,
    registry: RwLock<HashMap<String, TenantDb>>,
    pools: RwLock<HashMap<String, Arc<TenantPool>>>,
    homes: RwLock<HashMap<OrgId, String>>,
    hub: Hub,
    started: Instant,
}

struct TenantPool {
    pool: PgPool,
    /// Seconds since `started` of the last use.
    last_used: AtomicU64,
}

impl Tenants {
    /// Must run inside a Tokio runtime: starts the realtime listeners and the idle-pool reaper.
    pub fn new(
        control: PgPool,
        control_admin_url: &str,
        registered: Vec<TenantDb>,
        limits: PoolLimits,
        hub: Hub,
    ) -> Self {
        hub.listen(DEFAULT_DB, control.connect_options().as_ref().clone());
        for db in &registered {
            hub.listen(&db.name, db.app.clone());
        }
        let registry = registered
            .into_iter()
            .map(|db| (db.name.clone(), db))
            .collect();
        let inner = Arc::new(Inner {
            control,
            control_admin_url: control_admin_url.to_string(),
            limits,
            registry: RwLock::new(registry),
            pools: RwLock::new(HashMap::new()),
            homes: RwLock::new(HashMap::new()),
            hub,
            started: Instant::now(),
        });
        tokio::spawn(reap_idle_pools(Arc::downgrade(&inner)));
        Tenants(inner)
    }

    /// The control database, as the service role.
    pub fn control(&self) -> &PgPool {
        &self.0.control
    }

    pub fn hub(&self) -> &Hub {
        &self.0.hub
    }

    /// The names of the databases with a pool open now (for tests and operators).
    pub fn open_pools(&self) -> Vec<String> {
        let pools = self.0.pools.read().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<String> = pools.keys().cloned().collect();
        names.sort();
        names
    }

    /// Where the directory places `org`, read now from the control database.
    pub async fn home(&self, org: OrgId) -> ApiResult<String> {
        let home: String = sqlx::query_scalar("SELECT org_home($1)")
            .bind(org)
            .fetch_one(&self.0.control)
            .await?;
        self.remember(org, &home);
        Ok(home)
    }

    /// The cached home of `org`, or the directory's answer.
    pub async fn guess(&self, org: OrgId) -> ApiResult<String> {
        let cached = self
            .0
            .homes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&org)
            .cloned();
        match cached {
            Some(db) => Ok(db),
            None => self.home(org).await,
        }
    }

    pub fn remember(&self, org: OrgId, db: &str) {
        let mut homes = self.0.homes.write().unwrap_or_else(|e| e.into_inner());
        if homes.get(&org).map(String::as_str) == Some(db) {
            return;
        }
        if homes.len() >= MAX_CACHED_HOMES {
            homes.clear();
        }
        homes.insert(org, db.to_string());
    }

    /// The pool of database `db`, created on first use.
    pub async fn pool(&self, db: &str) -> ApiResult<PgPool> {
        if db == DEFAULT_DB {
            return Ok(self.0.control.clone());
        }
        if let Some(p) = self.cached_pool(db) {
            return Ok(p);
        }
        let known = self
            .0
            .registry
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(db)
            .cloned();
        let entry = match known {
            Some(e) => e,
            // Registered after we started (`strive-server db add` while serving).
            None => {
                self.reload().await.map_err(ApiError::Internal)?;
                self.0
                    .registry
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(db)
                    .cloned()
                    .ok_or_else(|| {
                        ApiError::Internal(anyhow::anyhow!(
                            "the directory names database '{db}', which is not registered"
                        ))
                    })?
            }
        };
        let mut pools = self.0.pools.write().unwrap_or_else(|e| e.into_inner());
        let p = pools
            .entry(db.to_string())
            .or_insert_with(|| {
                tracing::info!(database = db, "opening a pool for a tenant database");
                Arc::new(TenantPool {
                    pool: PgPoolOptions::new()
                        .max_connections(self.0.limits.max_connections)
                        .min_connections(0)
                        .idle_timeout(self.0.limits.idle_connection)
                        .acquire_timeout(Duration::from_secs(10))
                        .connect_lazy_with(entry.app.clone()),
                    last_used: AtomicU64::new(self.now()),
                })
            })
            .clone();
        Ok(p.pool.clone())
    }

    fn cached_pool(&self, db: &str) -> Option<PgPool> {
        let pools = self.0.pools.read().unwrap_or_else(|e| e.into_inner());
        pools.get(db).map(|p| {
            p.last_used.store(self.now(), Ordering::Relaxed);
            p.pool.clone()
        })
    }

    fn now(&self) -> u64 {
        self.0.started.elapsed().as_secs()
    }

    /// Re-reads the registry; new databases get a realtime listener.
    pub async fn reload(&self) -> anyhow::Result<()> {
        let opts = PgConnectOptions::from_str(&self.0.control_admin_url)?;
        let mut conn = PgConnection::connect_with(&opts).await?;
        let dbs = registry::load(&mut conn).await?;
        conn.close().await.ok();
        let mut reg = self.0.registry.write().unwrap_or_else(|e| e.into_inner());
        for db in dbs {
            if !reg.contains_key(&db.name) {
                self.0.hub.listen(&db.name, db.app.clone());
                reg.insert(db.name.clone(), db);
            }
        }
        Ok(())
    }

    /// A transaction in database `db` holding `org`'s write gate, with `app.user_id` set (and
    /// `app.org_id` when `org_context`). Answers [`ApiError::OrgMoving`] while a move holds the
    /// gate. The caller still has to check that `db` is the organization's home.
    pub async fn begin_gated(
        &self,
        db: &str,
        org: OrgId,
        user: UserId,
        org_context: bool,
    ) -> ApiResult<Tx> {
        let pool = self.pool(db).await?;
        let mut tx = pool.begin().await?;
        let sql = format!(
            "SELECT set_config('app.user_id', $1, true),
                    set_config('app.org_id', CASE WHEN $3 THEN $2 ELSE '' END, true),
                    pg_try_advisory_xact_lock_shared({})",
            gate_key_sql("$2")
        );
        let (_, _, open): (String, String, bool) = sqlx::query_as(&sql)
            .bind(user.to_string())
            .bind(org.to_string())
            .bind(org_context)
            .fetch_one(&mut *tx)
            .await?;
        if !open {
            return Err(ApiError::OrgMoving);
        }
        Ok(tx)
    }

    /// A tenant transaction of `org` in `db`, which must still be its home (a request that
    /// started there and needs another transaction). Answers "moving" if it moved meanwhile.
    pub async fn begin_in(&self, db: &str, org: OrgId, user: UserId) -> ApiResult<Tx> {
        let mut tx = self.begin_gated(db, org, user, true).await?;
        let home: String = if db == DEFAULT_DB {
            sqlx::query_scalar("SELECT org_home($1)")
                .bind(org)
                .fetch_one(&mut *tx)
                .await?
        } else {
            self.home(org).await?
        };
        if home != db {
            self.remember(org, &home);
            return Err(ApiError::OrgMoving);
        }
        Ok(tx)
    }

    /// A tenant transaction of `org` in its home, wherever that is now (no permission check:
    /// for the server's own bookkeeping).
    pub async fn begin(&self, org: OrgId, user: UserId) -> ApiResult<(String, Tx)> {
        for _ in 0..ROUTE_ATTEMPTS {
            let db = self.guess(org).await?;
            match self.begin_in(&db, org, user).await {
                Ok(tx) => return Ok((db, tx)),
                // Moved: `begin_in` remembered the new home; follow it. Paused: say so.
                Err(ApiError::OrgMoving) => {
                    if self.guess(org).await? == db {
                        return Err(ApiError::OrgMoving);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(ApiError::OrgMoving)
    }

    /// Closes every pool (shutdown).
    pub async fn close(&self) {
        let pools: Vec<Arc<TenantPool>> = self
            .0
            .pools
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, p)| p)
            .collect();
        for p in pools {
            p.pool.close().await;
        }
        self.0.control.close().await;
    }
}

/// Closes and forgets pools nobody used for `idle_pool`, and re-reads the registry so that a
/// database registered meanwhile is listened to before any organization lives there; stops when
/// the server is gone.
async fn reap_idle_pools(inner: Weak<Inner>) {
    let every = match inner.upgrade() {
        Some(i) => (i.limits.idle_pool / 4).clamp(Duration::from_secs(1), Duration::from_secs(30)),
        None => return,
    };
    loop {
        tokio::time::sleep(every).await;
        let Some(inner) = inner.upgrade() else { return };
        if let Err(e) = Tenants(inner.clone()).reload().await {
            tracing::warn!(error = %e, "re-reading the registry of tenant databases failed");
        }
        let now = inner.started.elapsed().as_secs();
        let idle = inner.limits.idle_pool.as_secs();
        let closing: Vec<(String, Arc<TenantPool>)> = {
            let mut pools = inner.pools.write().unwrap_or_else(|e| e.into_inner());
            let names: Vec<String> = pools
                .iter()
                .filter(|(_, p)| now.saturating_sub(p.last_used.load(Ordering::Relaxed)) >= idle)
                .map(|(n, _)| n.clone())
                .collect();
            names
                .into_iter()
                .filter_map(|n| pools.remove(&n).map(|p| (n, p)))
                .collect()
        };
        for (name, p) in closing {
            tracing::info!(database = %name, "closing the idle pool of a tenant database");
            p.pool.close().await;
        }
    }
}
