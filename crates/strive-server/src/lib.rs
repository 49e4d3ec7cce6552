//! Strive's central service.
//!
//! Start-up lives here; every route is listed in [`router`]; the checks every request passes
//! through live in [`guard`].

pub mod admin;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod extract;
pub mod guard;
pub mod kms;
pub mod moving;
pub mod mutations;
pub mod openapi;
pub mod router;
pub mod routes;
pub mod signed_url;
pub mod store;
pub mod sync;
pub mod tenants;
pub mod trace;
pub mod uploads;

use anyhow::Context;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::Arc;

pub use config::Config;

/// Shared by every request. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    tenants: tenants::Tenants,
    keys: auth::tokens::TokenKeys,
    config: Config,
    store: Arc<dyn store::BlobStore>,
    kms: kms::KeyService,
}

impl AppState {
    pub fn new(
        tenants: tenants::Tenants,
        keys: auth::tokens::TokenKeys,
        config: Config,
        kms: kms::KeyService,
    ) -> Self {
        let store = Arc::new(store::fs::FsStore::new(config.documents.blob_dir.clone()));
        Self(Arc::new(Inner {
            tenants,
            keys,
            config,
            store,
            kms,
        }))
    }
    pub fn store(&self) -> &dyn store::BlobStore {
        self.0.store.as_ref()
    }
    pub fn kms(&self) -> &kms::KeyService {
        &self.0.kms
    }
    pub fn hub(&self) -> &sync::realtime::Hub {
        self.0.tenants.hub()
    }
    /// The control database (accounts, devices, the directory). Crate-private: handlers reach
    /// tenant data only through [`guard`].
    pub(crate) fn pool(&self) -> &PgPool {
        self.0.tenants.control()
    }
    /// Where each organization's data lives.
    pub fn tenants(&self) -> &tenants::Tenants {
        &self.0.tenants
    }
    pub fn keys(&self) -> &auth::tokens::TokenKeys {
        &self.0.keys
    }
    pub fn config(&self) -> &Config {
        &self.0.config
    }
}

/// A server bound to its port, ready to serve.
pub struct Server {
    listener: tokio::net::TcpListener,
    app: axum::Router,
    tenants: tenants::Tenants,
}

impl Server {
    /// Migrates the control database at `admin_url` and every registered tenant database,
    /// connects as the service role and binds the port.
    pub async fn build(config: Config, admin_url: &str) -> anyhow::Result<Self> {
        let (registered, unreachable) = tenants::registry::migrate_reachable(admin_url)
            .await
            .context("applying database migrations")?;
        for (db, e) in unreachable {
            tracing::error!(database = %db, error = %e,
                "tenant database unreachable: not migrated; its organizations fail until it is back (then run `strive-server migrate`)");
        }
        let pool = db::connect_app(db::app_options(admin_url)?, 32)
            .await
            .context("connecting to PostgreSQL as the service role")?;
        let secret = auth::tokens::load_or_create_secret(&config.data_dir)
            .context("loading the token-signing secret")?;
        let keys = auth::tokens::TokenKeys::new(&secret, config.access_ttl);
        let kms = kms::KeyService::load_or_create(&config.data_dir)
            .context("loading the master key of the key service")?;
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("binding {}", config.bind))?;
        let tenants = tenants::Tenants::new(
            pool,
            admin_url,
            registered,
            config.tenant_pools,
            sync::realtime::Hub::new(),
        );
        // Repairs the membership index of organizations outside the control database (a
        // member change whose index update was cut short by a crash); requests need not wait.
        let t = tenants.clone();
        tokio::spawn(async move {
            if let Err(e) = tenants::index::refresh_all_placed(&t).await {
                tracing::warn!(error = %e, "refreshing the membership index failed");
            }
        });
        let state = AppState::new(tenants.clone(), keys, config, kms);
        Ok(Self {
            listener,
            app: router::router(state),
            tenants,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests (and their transactions)
    /// finish before closing the pool.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let app = self.app.into_make_service_with_connect_info::<SocketAddr>();
        // Without TCP_NODELAY a small write (an SSE notice, a short JSON answer) after another
        // waits for the peer's delayed ACK: about 40 ms added to every realtime hop.
        let listener = axum::serve::ListenerExt::tap_io(self.listener, |tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
        });
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await?;
        self.tenants.close().await;
        Ok(())
    }
}
