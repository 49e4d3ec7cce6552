//! `strive-bench`: measures Strive on this machine and prints each figure next to the
//! physical limit it is compared with. Results go to docs/benchmarks.md by hand.

mod dashboard;
mod documents;
mod initial_sync;
mod latency;
mod org_move;
mod push;
mod setup;
mod work_floor;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "strive-bench",
    about = "Benchmarks against raw limits on the same machine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// CRM dashboard over HTTP (guard, RLS, 5 concurrent queries) vs the same SQL run raw.
    Dashboard {
        #[arg(long, default_value_t = 100_000)]
        contacts: i64,
        #[arg(long, default_value_t = 10_000)]
        deals: i64,
        #[arg(long, default_value_t = 50)]
        runs: usize,
    },
    /// Initial sync of a large organization into a fresh replica vs raw COPY and raw SQLCipher insert.
    InitialSync {
        #[arg(long, default_value_t = 1_000_000)]
        rows: i64,
    },
    /// A device pushes its offline mutations vs the same rows written raw in one transaction.
    Push {
        #[arg(long, default_value_t = 10_000)]
        mutations: usize,
    },
    /// Write on device A to visible on device B through the sync tasks (SSE + pull + apply).
    Latency {
        #[arg(long, default_value_t = 1000)]
        writes: usize,
    },
    /// A document through encrypt + upload + download + decrypt on loopback vs raw AES-256-GCM.
    Documents {
        #[arg(long, default_value_t = 200)]
        mb: u64,
    },
    /// Moving an organization of N contacts to a database on another cluster while a client
    /// writes to it: total time and write pause, against a raw cluster-to-cluster COPY.
    OrgMove {
        #[arg(long, default_value_t = 100_000)]
        contacts: i64,
    },
    /// The client's apply step alone, on lines made in memory.
    ApplyOnly {
        #[arg(long, default_value_t = 100_000)]
        rows: i64,
    },
    /// The replica's raw limit alone: a prepared upsert of N contacts into a fresh SQLCipher
    /// replica (with BENCH_INDEXES_AFTER set, also with its secondary indexes built after).
    RawSqlcipher {
        #[arg(long, default_value_t = 1_000_000)]
        rows: i64,
    },
    /// (internal) Loads an organization and serves it until killed (profiling the client).
    #[command(hide = true)]
    Serve {
        #[arg(long, default_value_t = 1_000_000)]
        rows: i64,
    },
    /// (internal) The client side of initial-sync, in its own process so its memory is its own.
    #[command(hide = true)]
    PullChild {
        #[arg(long)]
        base: String,
        #[arg(long)]
        token: String,
        #[arg(long)]
        org: String,
        #[arg(long)]
        dir: std::path::PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The server's logs (and the mover's per-table timings) when asked for.
    if std::env::var_os("RUST_LOG").is_some() {
        strive_server::trace::init();
    }
    match Cli::parse().command {
        Command::Dashboard {
            contacts,
            deals,
            runs,
        } => dashboard::run(contacts, deals, runs).await,
        Command::InitialSync { rows } => initial_sync::run(rows).await,
        Command::Serve { rows } => initial_sync::serve(rows).await,
        Command::Push { mutations } => push::run(mutations).await,
        Command::Latency { writes } => latency::run(writes).await,
        Command::Documents { mb } => documents::run(mb).await,
        Command::OrgMove { contacts } => org_move::run(contacts).await,
        Command::ApplyOnly { rows } => initial_sync::apply_only(rows),
        Command::RawSqlcipher { rows } => initial_sync::raw_only(rows),
        Command::PullChild {
            base,
            token,
            org,
            dir,
        } => initial_sync::pull_child(&base, &token, &org, &dir).await,
    }
}
