//! devices, sync-all: the organization's admins watching over its devices.

use crate::context::Ctx;
use crate::output::{self, opt, short};
use anyhow::Result;
use clap::Args;
use strive_domain::DeviceId;

#[derive(Args)]
pub struct SyncAll {
    /// Ask for a full re-sync: devices drop their copy and pull everything again.
    #[arg(long)]
    full: bool,
    /// Only this device (its id; `strive devices` lists them).
    #[arg(long)]
    device: Option<DeviceId>,
}

pub async fn devices(ctx: &Ctx) -> Result<()> {
    let account = ctx.account()?;
    let org = ctx.current_org(&account.profile)?;
    let auth = ctx.auth(account)?;
    let token = auth.token().await?;
    let devices = auth.api().devices(&token, org).await?;
    if ctx.json {
        return output::json(&devices);
    }
    let rows: Vec<Vec<String>> = devices
        .iter()
        .map(|d| {
            vec![
                short(d.device_id),
                d.name.clone(),
                d.user_name.clone(),
                opt(d
                    .last_pull_at
                    .map(|t| t.format("%Y-%m-%d %H:%M").to_string())),
                d.behind.to_string(),
                d.pending_count.to_string(),
                if d.full_resync_requested {
                    "full re-sync asked"
                } else {
                    ""
                }
                .into(),
            ]
        })
        .collect();
    output::table(
        &[
            "DEVICE",
            "NAME",
            "USER",
            "LAST SYNC",
            "BEHIND",
            "PENDING",
            "",
        ],
        &rows,
    );
    Ok(())
}

pub async fn sync_all(ctx: &Ctx, a: SyncAll) -> Result<()> {
    let account = ctx.account()?;
    let org = ctx.current_org(&account.profile)?;
    let auth = ctx.auth(account)?;
    let token = auth.token().await?;
    auth.api()
        .request_sync(&token, org, a.device, a.full)
        .await?;
    if !ctx.json {
        let whom = a
            .device
            .map(|d| format!("device {}", short(d)))
            .unwrap_or_else(|| "every online device".into());
        let what = if a.full {
            "start over with a full re-sync"
        } else {
            "sync now"
        };
        println!("Asked {whom} to {what}.");
    } else {
        output::json(
            &serde_json::json!({ "requested": true, "full": a.full, "device": a.device }),
        )?;
    }
    Ok(())
}
