//! `strive`: the headless Strive client. Every read and write works on this device's encrypted
//! copy of the organization, online or not; `strive sync` (or a running `strive activity
//! --follow`) exchanges changes with the server.

mod commands;
mod context;
mod output;

use clap::{Parser, Subcommand};
use commands::{admin, auth, contacts, docs, feed, loops, orgs, sync};
use context::Ctx;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "strive",
    version,
    about = "Strive from the command line: your organization's CRM and transactions, offline-first.",
    after_help = "Start with `strive login --server https://strive.example.com --email you@example.com`.\n\
                  The password comes from a prompt, or from STRIVE_PASSWORD in scripts."
)]
struct Cli {
    /// Print JSON instead of tables (for scripts).
    #[arg(long, global = true, help_heading = "Global options")]
    json: bool,
    /// Where this device keeps its account and encrypted replicas.
    #[arg(
        long,
        global = true,
        env = "STRIVE_HOME",
        value_name = "DIR",
        help_heading = "Global options"
    )]
    data_dir: Option<PathBuf>,
    /// Never use the OS keychain; the password unlocks everything (headless machines).
    #[arg(
        long,
        global = true,
        env = "STRIVE_NO_KEYCHAIN",
        value_parser = clap::builder::BoolishValueParser::new(),
        action = clap::ArgAction::SetTrue,
        help_heading = "Global options"
    )]
    no_keychain: bool,
    /// Allow plain http:// to a server that is not on this machine.
    #[arg(
        long,
        global = true,
        env = "STRIVE_ALLOW_INSECURE",
        value_parser = clap::builder::BoolishValueParser::new(),
        action = clap::ArgAction::SetTrue,
        help_heading = "Global options"
    )]
    allow_insecure: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create an account on a server.
    Signup(auth::Signup),
    /// Sign in on this device (and set up its encrypted replicas).
    Login(auth::Login),
    /// Sign out on this device; `--forget-data` also deletes the local copies.
    Logout(auth::Logout),
    /// Your organizations; `orgs create NAME` makes a new one.
    Orgs(orgs::Orgs),
    /// Switch the current organization (by name, slug or id).
    Use(orgs::Use),
    /// Exchange changes with the server now.
    Sync(sync::Sync),
    /// Online?, pending changes, last sync, conflicts and refused changes.
    Status(sync::Status),
    /// List, add, edit and assign contacts.
    #[command(subcommand)]
    Contacts(contacts::Contacts),
    /// Transaction loops and their tasks.
    #[command(subcommand)]
    Loops(loops::Loops),
    /// Transaction documents: upload (encrypted here), list, get, versions, review.
    #[command(subcommand)]
    Docs(docs::Docs),
    /// Import every file dropped into a folder as a document of a loop (and sync).
    Watch(docs::Watch),
    /// The organization's key figures.
    Dashboard,
    /// Recent activity; `--follow` keeps listening (and syncing).
    Activity(feed::Activity),
    /// Admins: every device of the organization and its sync state.
    Devices,
    /// Admins: ask every online device (or one) to sync now, or to start over.
    SyncAll(admin::SyncAll),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STRIVE_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let ctx = Ctx::new(cli.data_dir, cli.no_keychain, cli.allow_insecure, cli.json);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Signup(a) => auth::signup(&ctx, a).await,
            Command::Login(a) => auth::login(&ctx, a).await,
            Command::Logout(a) => auth::logout(&ctx, a).await,
            Command::Orgs(a) => orgs::orgs(&ctx, a).await,
            Command::Use(a) => orgs::use_org(&ctx, a),
            Command::Sync(a) => sync::sync(&ctx, a).await,
            Command::Status(a) => sync::status(&ctx, a).await,
            Command::Contacts(c) => contacts::run(&ctx, c),
            Command::Loops(c) => loops::run(&ctx, c),
            Command::Docs(c) => docs::run(&ctx, c).await,
            Command::Watch(a) => docs::watch(&ctx, a).await,
            Command::Dashboard => feed::dashboard(&ctx),
            Command::Activity(a) => feed::activity(&ctx, a).await,
            Command::Devices => admin::devices(&ctx).await,
            Command::SyncAll(a) => admin::sync_all(&ctx, a).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            output::error(&e);
            std::process::ExitCode::FAILURE
        }
    }
}
