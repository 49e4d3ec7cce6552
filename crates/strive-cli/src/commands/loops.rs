//! loops list | show | create | task done.

use super::contacts::{queue, resolve};
use crate::context::Ctx;
use crate::output::{self, dollars, opt, short};
use anyhow::{anyhow, Result};
use clap::Subcommand;
use serde_json::json;
use strive_domain::mutations::loops::CreateLoop;
use strive_domain::mutations::{Delete, Mutation};
use strive_domain::{LoopId, LoopStatus, TaskId, TaskStatus, TransactionType};
use strive_replica::read::LoopQuery;

#[derive(Subcommand)]
pub enum Loops {
    /// Transaction loops with their progress.
    List {
        #[arg(long)]
        status: Option<LoopStatus>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// A loop and its task checklist.
    Show { id: String },
    /// Open a transaction loop; it starts with the four standard tasks.
    Create {
        /// The property's address.
        #[arg(long)]
        address: String,
        /// PURCHASE_AGREEMENT, LISTING_AGREEMENT, LEASE_AGREEMENT, COMMERCIAL_PURCHASE or
        /// COMMERCIAL_LEASE.
        #[arg(long = "type")]
        transaction_type: TransactionType,
        /// Listing price in dollars (e.g. 450000 or 450000.50).
        #[arg(long)]
        price: String,
        /// Expected closing date (YYYY-MM-DD).
        #[arg(long)]
        closing: Option<chrono::NaiveDate>,
    },
    /// Work on a loop's tasks.
    #[command(subcommand)]
    Task(TaskCommand),
}

#[derive(Subcommand)]
pub enum TaskCommand {
    /// Mark a task done.
    Done { id: String },
}

/// Dollars as typed ("450,000.50") to cents.
fn cents(price: &str) -> Result<i64> {
    let clean: String = price.chars().filter(|c| *c != ',' && *c != '$').collect();
    let (whole, frac) = clean.split_once('.').unwrap_or((&clean, ""));
    let bad = || anyhow!("--price {price}: expected dollars, e.g. 450000 or 450000.50");
    if frac.len() > 2 || whole.is_empty() {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let frac: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<2}").parse().map_err(|_| bad())?
    };
    whole
        .checked_mul(100)
        .and_then(|c| c.checked_add(frac))
        .ok_or_else(bad)
}

pub fn run(ctx: &Ctx, c: Loops) -> Result<()> {
    let mut local = ctx.local()?;
    match c {
        Loops::List { status, limit } => {
            let page = local.replica.loops(&LoopQuery {
                status,
                limit,
                offset: 0,
            })?;
            if ctx.json {
                return output::json(&page);
            }
            let rows: Vec<Vec<String>> = page
                .items
                .iter()
                .map(|s| {
                    let l = &s.transaction_loop;
                    vec![
                        short(l.id),
                        l.property_address.clone(),
                        l.status.to_string(),
                        dollars(l.listing_price_cents),
                        format!("{:>3}% ({}/{})", l.progress, s.tasks_done, s.task_count),
                    ]
                })
                .collect();
            output::table(&["ID", "PROPERTY", "STATUS", "PRICE", "PROGRESS"], &rows);
            println!("{} of {} loop(s)", page.items.len(), page.total);
            Ok(())
        }
        Loops::Show { id } => {
            let id: LoopId = resolve(&local, "transaction_loops", "loop", &id)?.parse()?;
            let l = local
                .replica
                .loop_with_tasks(id)?
                .ok_or_else(|| anyhow!("loop not found"))?;
            if ctx.json {
                return output::json(&l);
            }
            let t = &l.transaction_loop;
            println!(
                "{} ({}, {})",
                t.property_address, t.transaction_type, t.status
            );
            println!(
                "Price {}; closing {}; {}% done",
                dollars(t.listing_price_cents),
                opt(t.expected_closing),
                t.progress
            );
            for task in &l.tasks {
                let mark = if task.status == TaskStatus::Done {
                    "x"
                } else {
                    " "
                };
                println!(
                    "  [{mark}] {}  {} ({})",
                    short(task.id),
                    task.title,
                    task.category
                );
            }
            Ok(())
        }
        Loops::Create {
            address,
            transaction_type,
            price,
            closing,
        } => {
            let id = LoopId::new();
            let m = Mutation::CreateLoop(CreateLoop {
                id: Some(id),
                property_address: address.clone(),
                transaction_type,
                listing_price_cents: cents(&price)?,
                expected_closing: closing,
            });
            queue(
                ctx,
                &mut local,
                m,
                &format!(
                    "Opened {address} ({}) with its 4 standard tasks.",
                    short(id)
                ),
            )?;
            if ctx.json {
                output::json(&json!({ "id": id }))?;
            }
            Ok(())
        }
        Loops::Task(TaskCommand::Done { id }) => {
            let id: TaskId = resolve(&local, "transaction_tasks", "task", &id)?.parse()?;
            queue(
                ctx,
                &mut local,
                Mutation::CompleteTask(Delete { id }),
                "Done.",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::cents;

    #[test]
    fn prices_in_dollars_become_exact_cents() {
        assert_eq!(cents("450000").unwrap(), 45_000_000);
        assert_eq!(cents("$450,000.5").unwrap(), 45_000_050);
        assert_eq!(cents("0.99").unwrap(), 99);
        assert!(cents("12.345").is_err());
        assert!(cents("abc").is_err());
        assert!(cents(".5").is_err());
        assert!(cents("99999999999999999999").is_err());
    }
}
