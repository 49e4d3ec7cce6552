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
    pub documents: DocumentLimits,
    /// Pools of the tenant databases other than the control one.
    pub tenant_pools: crate::tenants::PoolLimits,
}

/// Documents: where blobs go and how large things may be.
#[derive(Clone, Debug)]
pub struct DocumentLimits {
    /// Root of the file system blob store (ciphertext only).
    pub blob_dir: PathBuf,
    /// Uploads in progress (partial ciphertext files).
    pub upload_dir: PathBuf,
    /// Largest document, in plaintext bytes (the ciphertext allowed follows from it).
    pub max_document_bytes: u64,
    /// Largest body of one upload chunk request.
    pub chunk_limit: usize,
    /// How long a signed blob URL stays valid.
    pub signed_url_ttl: Duration,
    /// How long an unfinished upload may be resumed before it is cleaned away.
    pub upload_ttl: Duration,
}

impl DocumentLimits {
    pub fn under(data_dir: &std::path::Path) -> Self {
        Self {
            blob_dir: data_dir.join("blobs"),
            upload_dir: data_dir.join("uploads"),
            max_document_bytes: strive_domain::documents::DEFAULT_MAX_DOCUMENT_BYTES,
            chunk_limit: 8 * 1024 * 1024,
            signed_url_ttl: Duration::from_secs(3600),
            upload_ttl: Duration::from_secs(24 * 3600),
        }
    }
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
        let mut documents = DocumentLimits::under(&data_dir);
        if let Some(mb) = std::env::var("STRIVE_MAX_DOCUMENT_MB")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            documents.max_document_bytes = mb * 1024 * 1024;
        }
        Self {
            bind,
            data_dir,
            access_ttl: Duration::from_secs(10 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            body_limit: 256 * 1024,
            limits: LoginLimits::default(),
            documents,
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
