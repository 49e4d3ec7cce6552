//! The operator commands of the `strive-server` binary (`db ...`, `org ...`) and their output.

use super::{DbCommand, OrgCommand};
use std::io::Write;
use strive_server::admin::{orgs, Operator};
use strive_server::moving::{self, MoveOptions, Phase};
use strive_server::tenants::registry;

pub async fn db(admin_url: &str, c: DbCommand) -> anyhow::Result<()> {
    match c {
        DbCommand::Add { url, name, app_url } => {
            let url = if url == "-" {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                line.trim().to_string()
            } else {
                url
            };
            let db = registry::add(admin_url, &url, name.as_deref(), app_url.as_deref()).await?;
            println!("registered {} ({})", db.name, registry::describe(&db.owner));
        }
        DbCommand::List => {
            let op = Operator::new(admin_url).await?;
            println!("{:<16} WHERE", "DATABASE");
            for name in op.databases() {
                println!("{:<16} {}", name, op.describe(name));
            }
        }
    }
    Ok(())
}

pub async fn org(admin_url: &str, c: OrgCommand) -> anyhow::Result<()> {
    let op = Operator::new(admin_url).await?;
    match c {
        OrgCommand::Create {
            name,
            owner,
            db,
            slug,
        } => {
            let id = orgs::create(&op, &name, slug.as_deref(), &owner, &db).await?;
            println!("{id}");
        }
        OrgCommand::List => {
            println!(
                "{:<36}  {:<24} {:<12} {:<10} {:>10} {:>10}",
                "ORGANIZATION", "SLUG", "DATABASE", "STATE", "ROWS", "SIZE"
            );
            for l in orgs::list(&op).await? {
                let e = &l.entry;
                let state = match (e.state.as_str(), &e.move_to, &e.move_from) {
                    ("moving", Some(to), _) if l.interrupted => {
                        format!("interrupted move to {to}: run org move again")
                    }
                    ("moving", Some(to), _) => format!("moving to {to}"),
                    ("cleanup", _, Some(from)) if l.interrupted => {
                        format!("rows left in {from}: run org move again")
                    }
                    ("cleanup", _, Some(from)) => format!("removing rows from {from}"),
                    (s, _, _) => s.to_string(),
                };
                println!(
                    "{:<36}  {:<24} {:<12} {:<10} {:>10} {:>10}",
                    e.organization_id.to_string(),
                    e.slug,
                    e.database,
                    state,
                    l.rows,
                    orgs::human_bytes(l.bytes)
                );
            }
        }
        OrgCommand::Move {
            org,
            to,
            pause_timeout_ms,
            hold_at,
        } => {
            let opts = MoveOptions {
                pause_timeout: std::time::Duration::from_millis(pause_timeout_ms),
                ..MoveOptions::default()
            };
            let r = moving::move_org(admin_url, &org, &to, opts, |p| hold(p, hold_at)).await?;
            if r.already_there {
                println!("{org} is in {to} already");
                if r.removed > 0 {
                    println!("removed {} rows left in the old database", r.removed);
                }
                return Ok(());
            }
            println!(
                "moved {org} from {} to {}: {} rows copied, {} caught up in {} passes, \
                 feed at {}; writes paused {} ms (verify {} ms); copy {:.1} s, total {:.1} s; \
                 {} rows removed from {}",
                r.from,
                r.to,
                r.copied,
                r.caught_up,
                r.passes,
                r.last_seq,
                r.pause.as_millis(),
                r.verify_time.as_millis(),
                r.copy_time.as_secs_f64(),
                r.total.as_secs_f64(),
                r.removed,
                r.from
            );
        }
    }
    Ok(())
}

/// Prints each phase; at `hold_at`, waits for a line on stdin (or its end).
async fn hold(phase: Phase, hold_at: Option<Phase>) {
    println!("phase {}", phase.name());
    let _ = std::io::stdout().flush();
    if hold_at == Some(phase) {
        let _ = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        })
        .await;
    }
}
