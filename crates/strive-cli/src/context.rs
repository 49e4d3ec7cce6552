//! What every command needs: where the data lives, how to unlock it, the current organization.

use anyhow::{anyhow, bail, Context, Result};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use strive_domain::OrgId;
use strive_replica::account::{Account, Profile};
use strive_replica::api::{Api, Auth};
use strive_replica::{Keychain, Replica, ReplicaError};

pub struct Ctx {
    pub dir: PathBuf,
    pub keychain: Keychain,
    pub allow_insecure: bool,
    pub json: bool,
}

/// The signed-in profile and the current organization's replica: enough for offline work.
pub struct Local {
    pub profile: Profile,
    pub replica: Replica,
}

fn default_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("strive")
}

impl Ctx {
    pub fn new(dir: Option<PathBuf>, no_keychain: bool, allow_insecure: bool, json: bool) -> Self {
        Ctx {
            dir: dir.unwrap_or_else(default_dir),
            keychain: if no_keychain {
                Keychain::Disabled
            } else {
                Keychain::System
            },
            allow_insecure,
            json,
        }
    }

    /// The password: STRIVE_PASSWORD, else a prompt on the terminal.
    pub fn password(&self, prompt: &str) -> Result<String> {
        if let Ok(p) = std::env::var("STRIVE_PASSWORD") {
            return Ok(p);
        }
        if !std::io::stdin().is_terminal() {
            bail!("a password is needed ({prompt}); set STRIVE_PASSWORD or run in a terminal");
        }
        Ok(rpassword::prompt_password(format!("{prompt}: "))?)
    }

    pub fn profile(&self) -> Result<Profile> {
        let profile =
            Account::read_profile(&self.dir)?.filter(|_| Account::is_signed_in(&self.dir));
        profile.ok_or_else(|| anyhow!("not signed in on this device; run `strive login` first"))
    }

    pub fn api(&self, url: &str) -> Result<Api> {
        Ok(Api::new(url, self.allow_insecure)?)
    }

    /// Unlocks the account (its tokens), asking for the password if the keychain cannot.
    pub fn account(&self) -> Result<Arc<Account>> {
        let account = match Account::unlock(&self.dir, None, self.keychain) {
            Err(ReplicaError::PasswordNeeded) => {
                let p = self.password("Password")?;
                Account::unlock(&self.dir, Some(&p), self.keychain)
            }
            other => other,
        };
        match account {
            Err(ReplicaError::SignedOut) => {
                bail!("not signed in on this device; run `strive login` first")
            }
            other => Ok(Arc::new(other?)),
        }
    }

    pub fn auth(&self, account: Arc<Account>) -> Result<Auth> {
        let api = self.api(&account.profile.server_url)?;
        Ok(Auth::new(api, account))
    }

    pub fn current_org(&self, profile: &Profile) -> Result<OrgId> {
        profile.current_org.ok_or_else(|| {
            anyhow!("no organization chosen; `strive orgs` lists yours, `strive orgs create NAME` makes one")
        })
    }

    /// The current organization's replica (offline: no server involved).
    pub fn local(&self) -> Result<Local> {
        let profile = self.profile()?;
        let org = self.current_org(&profile)?;
        let replica = self.open_replica(org, None)?;
        Ok(Local { profile, replica })
    }

    /// Opens (or with a password, creates) a replica, prompting when the keychain cannot help.
    pub fn open_replica(&self, org: OrgId, account: Option<&Account>) -> Result<Replica> {
        let open = |password: Option<&str>| match account {
            Some(a) => a.open_replica(org, password),
            None => Replica::open(&self.dir, org, password, self.keychain),
        };
        let replica = match open(None) {
            Err(ReplicaError::PasswordNeeded) => {
                let p = self.password("Password (to unlock this device's copy)")?;
                open(Some(&p))
            }
            other => other,
        };
        replica.with_context(|| format!("opening the local copy of organization {org}"))
    }
}
