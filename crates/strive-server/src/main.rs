//! `strive-server`: run the service, migrate, or administer tiers and roles from the shell.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use strive_domain::{GlobalRole, Tier};
use strive_pg::Database;
use strive_server::moving::Phase;
use strive_server::{config, Config, Server};

#[derive(Parser)]
#[command(
    name = "strive-server",
    version,
    about = "Strive's central sync and API service"
)]
struct Cli {
    /// Where the embedded PostgreSQL cluster and the token secret live.
    #[arg(long, env = "STRIVE_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default). Uses DATABASE_URL, or an embedded PostgreSQL under the data dir.
    Serve {
        #[arg(long, env = "STRIVE_BIND", default_value = "127.0.0.1:8787")]
        bind: SocketAddr,
        /// Connections per tenant database (other than the control one), per instance.
        #[arg(long, env = "STRIVE_TENANT_POOL_MAX", default_value_t = 16)]
        tenant_pool_max: u32,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Set an organization's subscription tier (no payment involved).
    SetTier {
        /// The organization's id or slug.
        #[arg(long)]
        org: String,
        #[arg(long, value_parser = parse_tier)]
        tier: Tier,
    },
    /// Set a person's platform-wide role (e.g. make the first SUPER_ADMIN).
    SetRole {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = parse_role)]
        role: GlobalRole,
    },
    /// Tenant databases: register one, list them.
    #[command(subcommand)]
    Db(DbCommand),
    /// Organizations: place a new one, list where each lives, move one to another database.
    #[command(subcommand)]
    Org(OrgCommand),
}

#[derive(Subcommand)]
enum DbCommand {
    /// Register a database for organizations (migrated now and at every start). It must be
    /// empty; the URL (the owner's connection, a secret: pass `-` to read it from stdin) is kept
    /// in the control database and never printed.
    Add {
        url: String,
        /// Its name in the directory (default: the database's own name).
        #[arg(long)]
        name: Option<String>,
        /// How the service role connects, if not as `strive_app` with the owner's host.
        #[arg(long)]
        app_url: Option<String>,
    },
    /// Every database organizations can live in.
    List,
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organization in a given database, owned by an existing account.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        owner: String,
        #[arg(long, default_value = "default")]
        db: String,
        #[arg(long)]
        slug: Option<String>,
    },
    /// Every organization: its database, size and state.
    List,
    /// Move an organization (id or slug) to another database while it keeps working.
    Move {
        org: String,
        #[arg(long)]
        to: String,
        /// How long the write pause may wait for requests in flight, per attempt.
        #[arg(long, default_value_t = 5000)]
        pause_timeout_ms: u64,
        /// Stop at a phase until a line arrives on stdin (rehearsals, crash tests).
        #[arg(long, hide = true)]
        hold_at: Option<Phase>,
    },
}

fn parse_tier(s: &str) -> Result<Tier, String> {
    s.to_uppercase()
        .parse()
        .map_err(|e: strive_domain::enums::UnknownVariant| e.to_string())
}

fn parse_role(s: &str) -> Result<GlobalRole, String> {
    s.to_uppercase()
        .parse()
        .map_err(|e: strive_domain::enums::UnknownVariant| e.to_string())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    strive_server::trace::init();
    let cli = Cli::parse();
    let data_dir = cli.data_dir.unwrap_or_else(config::default_data_dir);
    let db = Database::from_env_or_persistent(&data_dir.join("pg"))
        .context("starting PostgreSQL (set DATABASE_URL to use your own)")?;
    let admin_url = match &db {
        Database::Private(c) => {
            tracing::info!(dir = %c.data_dir().display(), port = c.port(), "embedded PostgreSQL running");
            c.create_database("strive").await?
        }
        Database::External { url } => url.clone(),
    };
    match cli.command.unwrap_or(Command::Serve {
        bind: "127.0.0.1:8787".parse()?,
        tenant_pool_max: 16,
    }) {
        Command::Serve {
            bind,
            tenant_pool_max,
        } => {
            let mut config = Config::new(bind, data_dir);
            config.tenant_pools.max_connections = tenant_pool_max.max(1);
            let server = Server::build(config, &admin_url).await?;
            tracing::info!(addr = %server.local_addr(), "strive-server listening");
            server.run(shutdown_signal()).await?;
            tracing::info!("stopped");
        }
        Command::Migrate => {
            let dbs = strive_server::tenants::registry::migrate_all(&admin_url).await?;
            println!(
                "migrations applied to the control database and {} more",
                dbs.len()
            );
        }
        Command::Db(c) => {
            strive_server::tenants::registry::migrate_all(&admin_url).await?;
            cli_admin::db(&admin_url, c).await?;
        }
        Command::Org(c) => {
            strive_server::tenants::registry::migrate_all(&admin_url).await?;
            cli_admin::org(&admin_url, c).await?;
        }
        Command::SetTier { org, tier } => {
            strive_server::db::migrate(&admin_url).await?;
            let n = strive_server::admin::set_tier(&admin_url, &org, tier).await?;
            if n == 0 {
                anyhow::bail!("no organization has the id or slug '{org}'");
            }
            println!("{org} is now on the {tier} tier");
        }
        Command::SetRole { email, role } => {
            strive_server::db::migrate(&admin_url).await?;
            let n = strive_server::admin::set_role(&admin_url, &email, role).await?;
            if n == 0 {
                anyhow::bail!("no account uses {email}");
            }
            println!("{email} is now {role}");
        }
    }
    drop(db);
    Ok(())
}

mod cli_admin;

/// The embedded cluster starts with only the maintenance database; ours is `strive`.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing in-flight requests");
}
