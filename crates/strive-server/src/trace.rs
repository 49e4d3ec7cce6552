//! Structured logs: JSON when not on a terminal, human-readable on one. Secrets are never
//! logged: request bodies and headers are not recorded, only method, path, status and latency.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = if std::io::stderr().is_terminal() {
        builder.with_writer(std::io::stderr).try_init()
    } else {
        builder.json().with_writer(std::io::stderr).try_init()
    };
    // A second init (tests start several servers in one process) keeps the first subscriber.
    let _ = result;
}
