//! sync, status.

use crate::context::Ctx;
use crate::output;
use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::time::Duration;
use strive_replica::engine::sync_round;
use strive_replica::SyncError;

#[derive(Args)]
pub struct Sync {
    /// Drop this device's copy of the server's data and pull it all again (local changes that
    /// have not reached the server are kept and sent).
    #[arg(long)]
    full: bool,
}

#[derive(Args)]
pub struct Status {
    /// Do not ask the server whether it is reachable.
    #[arg(long)]
    offline: bool,
}

pub async fn sync(ctx: &Ctx, a: Sync) -> Result<()> {
    let account = ctx.account()?;
    let auth = ctx.auth(account.clone())?;
    let org = ctx.current_org(&account.profile)?;
    let mut replica = ctx.open_replica(org, Some(&account))?;
    let queued = replica.pending()?;
    let bar = ProgressBar::new_spinner();
    if ctx.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar.set_message(if queued > 0 {
        format!("sending {queued} local changes…")
    } else {
        "syncing…".to_string()
    });
    let mut full = a.full;
    let (mut applied, mut rejected, mut pulled) = (0, 0, 0);
    loop {
        let progress = |s: &strive_replica::pull::PullStats| {
            bar.set_message(format!(
                "received {} changes (up to #{})",
                s.upserts + s.deletes,
                s.last_seq
            ));
        };
        let uploaded = strive_replica::engine::upload_round(&mut replica, &auth, |p| {
            bar.set_message(format!(
                "uploading {} ({} of {} KiB)…",
                p.name,
                p.sent / 1024,
                p.total / 1024
            ));
        })
        .await;
        let result = match uploaded {
            Ok(_) => sync_round(&mut replica, &auth, full, progress).await,
            Err(e) => Err(e),
        };
        let (pushed, got) = match result {
            Ok(r) => r,
            Err(e @ (SyncError::Network(_) | SyncError::Broken(_))) => {
                bar.finish_and_clear();
                let pending = replica.pending()?;
                return Err(anyhow::Error::new(e)).context(format!(
                    "sync failed; {pending} local change(s) stay queued and nothing is lost"
                ));
            }
            Err(e) => {
                bar.finish_and_clear();
                return Err(e.into());
            }
        };
        applied += pushed.applied;
        rejected += pushed.rejected;
        pulled += got.upserts + got.deletes;
        if !got.full_resync_requested {
            break;
        }
        // An admin asked this device to start over.
        full = true;
    }
    bar.finish_and_clear();
    let status = replica.status()?;
    if ctx.json {
        return output::json(&json!({
            "pushed": applied, "rejected": rejected, "pulled": pulled, "status": status
        }));
    }
    println!(
        "Sent {applied} change(s){}, received {pulled}; up to date at #{}.",
        if rejected > 0 {
            format!(" ({rejected} refused)")
        } else {
            String::new()
        },
        status.last_seq
    );
    if rejected > 0 {
        println!("Refused changes were undone on this device; `strive status` says why.");
    }
    if status.conflicts > 0 {
        println!(
            "{} of your edits were overwritten by later edits from others; `strive status` lists them.",
            status.conflicts
        );
    }
    Ok(())
}

/// Whether the server answers its health check within two seconds.
async fn reachable(ctx: &Ctx, url: &str) -> bool {
    let Ok(api) = ctx.api(url) else { return false };
    let req = api
        .http()
        .get(format!("{}/healthz", api.base()))
        .timeout(Duration::from_secs(2));
    matches!(req.send().await, Ok(r) if r.status().is_success())
}

pub async fn status(ctx: &Ctx, a: Status) -> Result<()> {
    let local = ctx.local()?;
    let p = &local.profile;
    let online = if a.offline {
        None
    } else {
        Some(reachable(ctx, &p.server_url).await)
    };
    let status = local.replica.status()?;
    let conflicts = local.replica.conflicts()?;
    let rejections = local.replica.rejections()?;
    let org = p.current_org.and_then(|o| p.membership(o));
    if ctx.json {
        return output::json(&json!({
            "server": p.server_url, "online": online, "user": p.email, "device": p.device_name,
            "organization": org, "sync": status, "conflicts": conflicts, "rejections": rejections,
        }));
    }
    let online = match online {
        Some(true) => "online",
        Some(false) => "offline",
        None => "not checked",
    };
    println!("Server        {} ({online})", p.server_url);
    println!("Signed in as  {} on \"{}\"", p.email, p.device_name);
    if let Some(m) = org {
        println!("Organization  {} ({}, {})", m.name, m.role, m.tier);
    }
    println!(
        "Pending       {} local change(s) waiting to be sent",
        status.pending
    );
    println!(
        "Last sync     {}, up to change #{}",
        status
            .last_sync_at
            .as_deref()
            .map(output::when)
            .unwrap_or_else(|| "never".into()),
        status.last_seq
    );
    println!("Conflicts     {}", conflicts.len());
    for c in &conflicts {
        println!(
            "  {} \"{}\": your {} {} was overwritten by {} ({})",
            c.entity_type,
            c.entity_label.as_deref().unwrap_or(&c.entity_id),
            c.field,
            output::opt(c.lost_value.as_deref()),
            output::opt(c.winning_value.as_deref()),
            c.winner_name.as_deref().unwrap_or(&c.winner_user_id),
        );
    }
    println!("Refused       {}", rejections.len());
    for r in &rejections {
        println!(
            "  {} (#{}): {} [{}]",
            r.mutation, r.client_seq, r.message, r.code
        );
    }
    Ok(())
}
