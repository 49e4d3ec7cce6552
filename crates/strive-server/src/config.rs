//! Server settings: flags and environment, with defaults that work on a fresh machine.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Config {
    pub bind: SocketAddr,
    /// Holds the embedded PostgreSQL cluster and the token-signing secret.
    pub data_dir: PathBuf,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// Largest JSON body accepted, in bytes.
    pub body_limit: usize,
    pub limits: LoginLimits,
    /// Pools of the tenant databases other than the control one.
    pub tenant_pools: crate::tenants::PoolLimits,
}

/// Login throttling: failed attempts per account, and all attempts per client address.
#[derive(Clone, Debug)]
pub struct LoginLimits {
    pub account_failures: i64,
    pub account_window: Duration,
    pub addr_attempts: i64,
    pub addr_window: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            account_failures: 5,
            account_window: Duration::from_secs(15 * 60),
            addr_attempts: 30,
            addr_window: Duration::from_secs(5 * 60),
        }
    }
}

impl Config {
    pub fn new(bind: SocketAddr, data_dir: PathBuf) -> Self {
        Self {
            bind,
            data_dir,
            access_ttl: Duration::from_secs(10 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            body_limit: 256 * 1024,
            limits: LoginLimits::default(),
            tenant_pools: crate::tenants::PoolLimits::default(),
        }
    }
}

/// `/var/lib/strive-server` for root (the `postgres` user must reach the cluster, and `/root`
/// is closed to it), `$XDG_DATA_HOME/strive-server` otherwise.
pub fn default_data_dir() -> PathBuf {
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/lib/strive-server");
    }
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("strive-server")
}
