//! Creating and opening a replica: `<dir>/<org>.db` (SQLCipher) and `<dir>/<org>.key` (the key
//! wrapped under the password).

use crate::error::ReplicaError;
use crate::keys::{self, DbKey, Keychain};
use crate::schema;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use strive_domain::OrgId;

pub struct Replica {
    pub(crate) conn: Connection,
    org: OrgId,
    path: PathBuf,
    /// Kept to open more connections to the same file ([`Replica::reopen`]); SQLCipher holds
    /// it in memory anyway.
    key: DbKey,
}

fn paths(dir: &Path, org: OrgId) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{org}.db")),
        dir.join(format!("{org}.key")),
    )
}

fn keychain_name(org: OrgId) -> String {
    format!("replica-key:{org}")
}

impl Replica {
    /// Opens the organization's replica on this device, creating it on first use. The key comes
    /// from the keychain when it works, else from the wrapped file with `password`.
    pub fn open_or_create(
        dir: &Path,
        org: OrgId,
        password: Option<&str>,
        keychain: Keychain,
    ) -> Result<Self, ReplicaError> {
        let (db, _) = paths(dir, org);
        if db.exists() {
            Self::open(dir, org, password, keychain)
        } else {
            let password = password.ok_or(ReplicaError::PasswordNeeded)?;
            Self::create(dir, org, password, keychain)
        }
    }

    pub fn create(
        dir: &Path,
        org: OrgId,
        password: &str,
        keychain: Keychain,
    ) -> Result<Self, ReplicaError> {
        std::fs::create_dir_all(dir)?;
        restrict(dir, 0o700)?;
        let (db, keyfile) = paths(dir, org);
        let key = DbKey::generate();
        let wrapped = keys::wrap(&key, password)?;
        let json = serde_json::to_vec_pretty(&wrapped)
            .map_err(|e| ReplicaError::Corrupt(e.to_string()))?;
        std::fs::write(&keyfile, json)?;
        restrict(&keyfile, 0o600)?;
        keychain.store(&keychain_name(org), &key);
        Self::connect(db, org, &key)
    }

    pub fn open(
        dir: &Path,
        org: OrgId,
        password: Option<&str>,
        keychain: Keychain,
    ) -> Result<Self, ReplicaError> {
        let (db, keyfile) = paths(dir, org);
        if !db.exists() {
            return Err(ReplicaError::NotFound);
        }
        if let Some(key) = keychain.load(&keychain_name(org)) {
            if let Ok(r) = Self::connect(db.clone(), org, &key) {
                return Ok(r);
            }
        }
        let password = password.ok_or(ReplicaError::PasswordNeeded)?;
        let wrapped: keys::WrappedKey = serde_json::from_slice(&std::fs::read(&keyfile)?)
            .map_err(|e| ReplicaError::Corrupt(format!("key file: {e}")))?;
        let key = keys::unwrap(&wrapped, password)?;
        let replica = Self::connect(db, org, &key)?;
        // The keychain works again (or did not have it): keep it there for next time.
        keychain.store(&keychain_name(org), &key);
        Ok(replica)
    }

    fn connect(path: PathBuf, org: OrgId, key: &DbKey) -> Result<Self, ReplicaError> {
        let mut conn = Connection::open(&path)?;
        conn.execute_batch("PRAGMA cipher_log_level = NONE;")?;
        conn.execute_batch(&format!("PRAGMA key = {};", key.pragma_value()))?;
        conn.execute_batch("PRAGMA cipher_page_size = 16384;")?;
        // The first read proves the key: a wrong one fails here ("file is not a database").
        if let Err(e) = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        }) {
            return Err(ReplicaError::Corrupt(format!("cannot decrypt: {e}")));
        }
        // A 64 MiB page cache: with SQLCipher every page that leaves the cache is encrypted and
        // every page that comes back decrypted, and the 2 MiB default thrashes on large syncs.
        // The sync task and the UI each hold a connection; a writer waits for the other's
        // transaction (at most one apply batch) instead of failing. Every write transaction
        // begins IMMEDIATE: a deferred one that read first could not wait for the other writer
        // and would fail at once with SQLITE_BUSY.
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = OFF;
             PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;",
        )?;
        crate::time::register(&conn)?;
        crate::read::register(&conn)?;
        schema::migrate(&mut conn)?;
        restrict(&path, 0o600)?;
        Ok(Replica {
            conn,
            org,
            path,
            key: key.clone(),
        })
    }

    /// A second connection to the same replica (the sync task writes through its own while the
    /// UI reads and writes through another; WAL lets readers go on during a sync).
    pub fn reopen(&self) -> Result<Self, ReplicaError> {
        Self::connect(self.path.clone(), self.org, &self.key)
    }

    /// Deletes this device's copy of `org` (database, WAL, wrapped key, keychain entry).
    pub fn destroy(dir: &Path, org: OrgId, keychain: Keychain) -> Result<(), ReplicaError> {
        let (db, keyfile) = paths(dir, org);
        let wal = db.with_extension("db-wal");
        let shm = db.with_extension("db-shm");
        for f in [db, wal, shm, keyfile] {
            match std::fs::remove_file(&f) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        Self::forget_key(org, keychain);
        Ok(())
    }

    /// Removes the replica's key from the keychain; the password opens it again.
    pub fn forget_key(org: OrgId, keychain: Keychain) {
        keychain.forget(&keychain_name(org));
    }

    pub fn org(&self) -> OrgId {
        self.org
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The highest change-feed sequence number applied so far.
    pub fn last_seq(&self) -> Result<i64, ReplicaError> {
        let v: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM sync_state WHERE key = 'last_seq'",
                [],
                |r| r.get(0),
            )
            .ok();
        Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    /// One live row of a synced table as JSON (diagnostics, tests, `strive` debugging).
    pub fn row_json(
        &self,
        table: &str,
        id: &str,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, ReplicaError> {
        crate::apply::read_row(&self.conn, table, id)
    }

    /// The ids of `table` that begin or end with `fragment` (at most 2: one means the fragment
    /// names a row unambiguously). Lets people type a short id: UUIDv7s begin with their
    /// creation time, so lists show their random last characters.
    pub fn ids_matching(&self, table: &str, fragment: &str) -> Result<Vec<String>, ReplicaError> {
        let key = crate::apply::key_of(table)
            .ok_or_else(|| ReplicaError::BadChange(format!("unknown table {table}")))?;
        let fragment = fragment.to_ascii_lowercase();
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {key} FROM {table}
              WHERE ({key} >= ?1 AND {key} < ?1 || 'g') OR substr({key}, -length(?1)) = ?1
              ORDER BY {key} LIMIT 2"
        ))?;
        let ids = stmt
            .query_map([fragment], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(ids)
    }

    /// SQLite's own consistency check of the file ("ok" when sound); for diagnostics and the
    /// crash suites.
    pub fn integrity_check(&self) -> Result<String, ReplicaError> {
        Ok(self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }

    /// Every live row of a synced table as JSON, in key order (diagnostics, proof suites).
    pub fn rows_json(
        &self,
        table: &str,
    ) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, ReplicaError> {
        crate::apply::read_all(&self.conn, table)
    }

    /// Counts rows of a synced table (status screens, tests).
    pub fn count(&self, table: &str) -> Result<i64, ReplicaError> {
        if !crate::apply::is_synced_table(table) {
            return Err(ReplicaError::BadChange(format!("unknown table {table}")));
        }
        Ok(self
            .conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?)
    }
}

fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}
