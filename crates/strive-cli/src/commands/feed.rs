//! dashboard, activity.

use crate::context::Ctx;
use crate::output::{self, dollars, opt};
use anyhow::Result;
use clap::Args;
use strive_domain::entities::ActivityItem;
use strive_replica::engine::{self, EngineOptions, SyncEvent};

#[derive(Args)]
pub struct Activity {
    #[arg(long, default_value_t = 20)]
    limit: u32,
    /// Keep listening: print new activity as it happens (and keep this device in sync) until
    /// interrupted.
    #[arg(short, long)]
    follow: bool,
}

pub fn dashboard(ctx: &Ctx) -> Result<()> {
    let local = ctx.local()?;
    let d = local.replica.dashboard(chrono::Utc::now())?;
    if ctx.json {
        return output::json(&d);
    }
    println!(
        "Contacts        {} ({} new this week)",
        d.total_contacts, d.contacts_created_last_7_days
    );
    for s in &d.contacts_by_status {
        println!("  {:<14} {}", s.status.to_string(), s.count);
    }
    println!(
        "Deals           {} worth {} (average {})",
        d.deal_count,
        dollars(d.deal_value_sum_cents),
        d.deal_value_avg_cents
            .map(dollars)
            .unwrap_or_else(|| "-".into())
    );
    println!("Next follow-ups");
    if d.upcoming_follow_ups.is_empty() {
        println!("  none in the next 7 days");
    }
    for f in &d.upcoming_follow_ups {
        println!(
            "  {}  {}  {}",
            f.next_follow_up_at.format("%a %b %e %H:%M"),
            f.name,
            opt(f.assignee_name.as_ref())
        );
    }
    Ok(())
}

fn describe(a: &ActivityItem) -> String {
    let who = if a.user_name.is_empty() {
        "someone"
    } else {
        &a.user_name
    };
    let what = a.action.replace('_', " ");
    let label = ["name", "title", "property_address"]
        .iter()
        .find_map(|k| a.new_values.get(*k).and_then(|v| v.as_str()))
        .map(|l| format!(" \"{l}\""))
        .unwrap_or_default();
    format!(
        "{}  {who} {what} {}{label}",
        a.created_at.format("%Y-%m-%d %H:%M"),
        a.entity_type.replace('_', " ")
    )
}

fn print(ctx: &Ctx, a: &ActivityItem) -> Result<()> {
    if ctx.json {
        println!("{}", serde_json::to_string(a)?);
    } else {
        println!("{}", describe(a));
    }
    Ok(())
}

pub async fn activity(ctx: &Ctx, a: Activity) -> Result<()> {
    let local = ctx.local()?;
    let mut items = local.replica.activity(a.limit, None)?;
    items.reverse();
    if ctx.json && !a.follow {
        return output::json(&items);
    }
    for i in &items {
        print(ctx, i)?;
    }
    if !a.follow {
        return Ok(());
    }
    let account = ctx.account()?;
    let auth = ctx.auth(account)?;
    let handle = engine::spawn(local.replica.reopen()?, auth, EngineOptions::default());
    let mut events = handle.subscribe();
    if !ctx.json {
        eprintln!("Following; Ctrl-C stops.");
    }
    // Items are printed from the replica after each sync, so what happened while this device
    // was offline shows too, in order, each once.
    let mut newest = local
        .replica
        .activity(1, None)?
        .first()
        .map(|i| (i.created_at, i.id));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            e = events.recv() => match e {
                Ok(SyncEvent::Synced { .. }) => {
                    let mut fresh: Vec<ActivityItem> = local
                        .replica
                        .activity(200, None)?
                        .into_iter()
                        .take_while(|i| newest.is_none_or(|n| (i.created_at, i.id) > n))
                        .collect();
                    fresh.reverse();
                    for i in &fresh {
                        print(ctx, i)?;
                    }
                    if let Some(last) = fresh.last() {
                        newest = Some((last.created_at, last.id));
                    }
                }
                Ok(SyncEvent::Offline { error, retry_in_ms }) => {
                    eprintln!("offline ({error}); retrying in {:.1} s", retry_in_ms as f64 / 1000.0);
                }
                Ok(SyncEvent::SignedOut { message }) => {
                    handle.stop();
                    anyhow::bail!("the session ended: {message}");
                }
                Ok(_) => {}
                // Printing fell behind: the next sync's listing catches up.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => break,
            }
        }
    }
    handle.stop();
    Ok(())
}
