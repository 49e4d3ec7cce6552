//! Signing in on this device: one flow for every client (the `strive` CLI, the desktop app).

use crate::account::{Account, Profile};
use crate::api::Api;
use crate::error::SyncError;
use crate::keys::Keychain;
use std::path::Path;
use strive_domain::DeviceId;

/// Signs `email` in on the device whose data directory is `dir`, records the account (tokens
/// sealed, key in the keychain and wrapped under the password) and creates each organization's
/// replica while the password is at hand to wrap its key.
///
/// The same person on the same server keeps this device's identity (one row in the admins'
/// device list, the same sync state) and current organization.
pub async fn sign_in(
    dir: &Path,
    api: &Api,
    email: &str,
    password: &str,
    device_name: &str,
    keychain: Keychain,
) -> Result<Account, SyncError> {
    let previous = Account::read_profile(dir)?;
    let device = previous
        .as_ref()
        .filter(|p| p.email.eq_ignore_ascii_case(email) && p.server_url == api.base())
        .map(|p| p.device_id)
        .unwrap_or_else(DeviceId::new);
    let grant = api.login(email, password, device, device_name).await?;
    let me = api.me(&grant.access_token).await?;
    let current = previous
        .and_then(|p| p.current_org)
        .filter(|o| me.organizations.iter().any(|m| m.organization_id == *o))
        .or_else(|| me.organizations.first().map(|m| m.organization_id));
    let profile = Profile {
        server_url: api.base().to_string(),
        email: me.user.email.clone(),
        user_id: me.user.id,
        device_id: device,
        device_name: device_name.to_string(),
        global_role: me.user.role,
        organizations: me.organizations,
        current_org: current,
    };
    let account = Account::create(dir, profile, &grant.tokens(), password, keychain)?;
    for m in &account.profile.organizations {
        account.open_replica(m.organization_id, Some(password))?;
    }
    Ok(account)
}

/// This machine's name, as admins see the device by default.
pub fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "this computer".into())
}
