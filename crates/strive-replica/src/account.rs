//! The account signed in on this device, in its data directory:
//!
//! - `profile.json`: who and where (server, user, device, organizations, the current one). No
//!   secrets, so offline commands read it without unlocking anything.
//! - `account.tokens`: the session's tokens, sealed (AES-256-GCM) under a random account key that
//!   is kept like a replica key: in the OS keychain and wrapped under the password
//!   (`account.key`). A stolen disk without the password yields no token.
//! - `<org>.db` / `<org>.key`: one encrypted replica per organization (see [`Replica`]).

use crate::error::ReplicaError;
use crate::keys::{self, DbKey, Keychain};
use crate::mutate::Session;
use crate::open::Replica;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};
use strive_domain::entities::Membership;
use strive_domain::{DeviceId, GlobalRole, OrgId, UserId};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub server_url: String,
    pub email: String,
    pub user_id: UserId,
    pub device_id: DeviceId,
    pub device_name: String,
    pub global_role: GlobalRole,
    pub organizations: Vec<Membership>,
    pub current_org: Option<OrgId>,
}

impl Profile {
    pub fn membership(&self, org: OrgId) -> Option<&Membership> {
        self.organizations.iter().find(|m| m.organization_id == org)
    }

    /// The organization an argument names: its id, slug or (case-insensitive) name.
    pub fn find_org(&self, name: &str) -> Option<&Membership> {
        self.organizations.iter().find(|m| {
            m.organization_id.to_string() == name
                || m.slug == name
                || m.name.eq_ignore_ascii_case(name)
        })
    }
}

/// The session's tokens. Never printed: `Debug` is redacted.
#[derive(Clone, Serialize, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    /// Unix seconds.
    pub access_expires_at: i64,
    pub refresh_token: String,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(..)")
    }
}

pub struct Account {
    dir: PathBuf,
    keychain: Keychain,
    key: DbKey,
    pub profile: Profile,
}

const PROFILE: &str = "profile.json";
const TOKENS: &str = "account.tokens";
const WRAPPED_KEY: &str = "account.key";
const LOCK: &str = "account.lock";

fn keychain_name(user: UserId) -> String {
    format!("account-key:{user}")
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> ReplicaError {
    ReplicaError::Corrupt(format!("{what}: {e}"))
}

/// Writes through a temporary file and a rename, so a crash never leaves half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ReplicaError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

impl Account {
    /// The profile alone, if someone signed in here (no password needed).
    pub fn read_profile(dir: &Path) -> Result<Option<Profile>, ReplicaError> {
        match std::fs::read(dir.join(PROFILE)) {
            Ok(bytes) => Ok(Some(
                serde_json::from_slice(&bytes).map_err(|e| corrupt(PROFILE, e))?,
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Records a new sign-in: a fresh account key, kept in the keychain and wrapped under the
    /// password, sealing the tokens.
    pub fn create(
        dir: &Path,
        profile: Profile,
        tokens: &Tokens,
        password: &str,
        keychain: Keychain,
    ) -> Result<Self, ReplicaError> {
        std::fs::create_dir_all(dir)?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let key = DbKey::generate();
        let wrapped = keys::wrap(&key, password)?;
        let json = serde_json::to_vec_pretty(&wrapped).map_err(|e| corrupt(WRAPPED_KEY, e))?;
        write_atomically(&dir.join(WRAPPED_KEY), &json)?;
        keychain.store(&keychain_name(profile.user_id), &key);
        let account = Account {
            dir: dir.to_path_buf(),
            keychain,
            key,
            profile,
        };
        account.save_profile()?;
        account.save_tokens(tokens)?;
        Ok(account)
    }

    /// Opens the signed-in account: the key from the keychain, else from the password.
    pub fn unlock(
        dir: &Path,
        password: Option<&str>,
        keychain: Keychain,
    ) -> Result<Self, ReplicaError> {
        let profile = Self::read_profile(dir)?.ok_or(ReplicaError::SignedOut)?;
        if !Self::is_signed_in(dir) {
            return Err(ReplicaError::SignedOut);
        }
        let name = keychain_name(profile.user_id);
        let key = match keychain.load(&name) {
            Some(k) => k,
            None => {
                let password = password.ok_or(ReplicaError::PasswordNeeded)?;
                let bytes = match std::fs::read(dir.join(WRAPPED_KEY)) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(ReplicaError::SignedOut)
                    }
                    other => other?,
                };
                let wrapped: keys::WrappedKey =
                    serde_json::from_slice(&bytes).map_err(|e| corrupt(WRAPPED_KEY, e))?;
                let key = keys::unwrap(&wrapped, password)?;
                keychain.store(&name, &key);
                key
            }
        };
        Ok(Account {
            dir: dir.to_path_buf(),
            keychain,
            key,
            profile,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn keychain(&self) -> Keychain {
        self.keychain
    }

    pub fn save_profile(&self) -> Result<(), ReplicaError> {
        Self::write_profile(&self.dir, &self.profile)
    }

    /// Replaces the profile (organizations refreshed, another current organization).
    pub fn write_profile(dir: &Path, profile: &Profile) -> Result<(), ReplicaError> {
        let json = serde_json::to_vec_pretty(profile).map_err(|e| corrupt(PROFILE, e))?;
        write_atomically(&dir.join(PROFILE), &json)
    }

    pub fn tokens(&self) -> Result<Tokens, ReplicaError> {
        let sealed = match std::fs::read(self.dir.join(TOKENS)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ReplicaError::SignedOut)
            }
            other => other?,
        };
        let plain = keys::unseal(&self.key, &sealed)?;
        serde_json::from_slice(&plain).map_err(|e| corrupt(TOKENS, e))
    }

    pub fn save_tokens(&self, tokens: &Tokens) -> Result<(), ReplicaError> {
        let plain = serde_json::to_vec(tokens).map_err(|e| corrupt(TOKENS, e))?;
        write_atomically(&self.dir.join(TOKENS), &keys::seal(&self.key, &plain)?)
    }

    /// An exclusive lock across processes (a `strive activity --follow` and a `strive sync` may
    /// both want to refresh): refresh tokens rotate, and using an old one twice would revoke the
    /// whole session. Released on drop; `None` while another holder has it.
    pub fn try_lock_tokens(&self) -> Result<Option<File>, ReplicaError> {
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(LOCK))?;
        match f.try_lock() {
            Ok(()) => Ok(Some(f)),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
        }
    }

    /// Whether someone is signed in here (the profile alone outlives a sign-out, so the next
    /// sign-in keeps this device's identity).
    pub fn is_signed_in(dir: &Path) -> bool {
        dir.join(TOKENS).exists()
    }

    /// Signs out on this device: tokens, the account key and every replica key in the keychain
    /// are gone; replicas stay encrypted on disk, openable again after a sign-in with the
    /// password (`forget_data` deletes them).
    pub fn forget(self, forget_data: bool) -> Result<(), ReplicaError> {
        for f in [TOKENS, WRAPPED_KEY, LOCK] {
            match std::fs::remove_file(self.dir.join(f)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        self.keychain.forget(&keychain_name(self.profile.user_id));
        for m in &self.profile.organizations {
            if forget_data {
                Replica::destroy(&self.dir, m.organization_id, self.keychain)?;
            } else {
                Replica::forget_key(m.organization_id, self.keychain);
            }
        }
        Ok(())
    }

    /// This device's replica of `org`, created on first use (which needs the password), with
    /// the signed-in user's session recorded in it.
    pub fn open_replica(
        &self,
        org: OrgId,
        password: Option<&str>,
    ) -> Result<Replica, ReplicaError> {
        let mut replica = Replica::open_or_create(&self.dir, org, password, self.keychain)?;
        let session = Session {
            user: self.profile.user_id,
            device: self.profile.device_id,
            global: self.profile.global_role,
        };
        if replica.session()? != Some(session) {
            replica.set_session(session)?;
        }
        Ok(replica)
    }
}
