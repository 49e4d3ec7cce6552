//! A device syncing until it has nothing left to send, as its own process, so the crash suite
//! can SIGKILL it during a push or an apply. Usage: strive-proof-client DATA_DIR ORG PASSWORD

use strive_replica::account::Account;
use strive_replica::api::{Api, Auth};
use strive_replica::engine::sync_round;
use strive_replica::Keychain;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(org), Some(password)) = (args.next(), args.next(), args.next()) else {
        anyhow::bail!("usage: strive-proof-client DATA_DIR ORG PASSWORD");
    };
    let dir = std::path::PathBuf::from(dir);
    let account = std::sync::Arc::new(Account::unlock(&dir, Some(&password), Keychain::Disabled)?);
    let mut replica = account.open_replica(org.parse()?, Some(&password))?;
    let auth = Auth::new(Api::new(&account.profile.server_url, false)?, account);
    loop {
        match sync_round(&mut replica, &auth, false, |_| {}).await {
            Ok(_) if replica.pending()? == 0 => return Ok(()),
            Ok(_) => {}
            // The server may be down (the suite kills it too): try again shortly.
            Err(e) if e.is_transient() => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await
            }
            Err(e) => return Err(e.into()),
        }
    }
}
