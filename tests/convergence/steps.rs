//! The convergence run's random steps: a mutation of any kind that makes sense on a device's
//! replica (it may still be refused: another device may have deleted the row, or the role may
//! not allow it), or a file added as a document.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use strive_domain::documents::ReviewDecision;
use strive_domain::mutations::contacts::{BulkAssignContacts, ContactChanges, CreateContact};
use strive_domain::mutations::deals::{CreateDeal, DealChanges};
use strive_domain::mutations::documents::ReviewDocument;
use strive_domain::mutations::loops::{CreateLoop, CreateTask, LoopChanges, TaskChanges};
use strive_domain::mutations::{Delete, Mutation, Update};
use strive_domain::{
    ContactId, ContactStatus, DealId, DealStage, DocumentId, LoopId, LoopStatus, TaskId,
    TaskStatus, TransactionType, UserId,
};
use strive_replica::Replica;

fn ids(r: &Replica, table: &str) -> Vec<String> {
    r.rows_json(table)
        .expect("rows")
        .into_iter()
        .filter_map(|row| row.get("id").and_then(|v| v.as_str()).map(str::to_string))
        .collect()
}

fn one<T: std::str::FromStr>(rng: &mut StdRng, from: &[String]) -> Option<T> {
    from.choose(rng).and_then(|s| s.parse().ok())
}

/// The ids a device picks its targets from, refreshed now and then (reading them each step
/// would make the long profile quadratic).
#[derive(Default)]
pub struct Known {
    contacts: Vec<String>,
    deals: Vec<String>,
    loops: Vec<String>,
    tasks: Vec<String>,
    documents: Vec<KnownDocument>,
}

struct KnownDocument {
    id: String,
    loop_id: String,
    status: String,
}

impl Known {
    pub fn read(r: &Replica) -> Self {
        let text = |row: &serde_json::Map<String, serde_json::Value>, f: &str| {
            row.get(f)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        Known {
            contacts: ids(r, "contacts"),
            deals: ids(r, "deals"),
            loops: ids(r, "transaction_loops"),
            tasks: ids(r, "transaction_tasks"),
            documents: r
                .rows_json("documents")
                .expect("rows")
                .iter()
                .map(|row| KnownDocument {
                    id: text(row, "id"),
                    loop_id: text(row, "loop_id"),
                    status: text(row, "status"),
                })
                .collect(),
        }
    }
}

/// What a device does next.
pub enum Step {
    Mutate(Mutation),
    /// A file of `size` bytes added to a loop: a new document, or a new version of one.
    AddDocument {
        loop_id: LoopId,
        document_id: Option<DocumentId>,
        size: usize,
    },
}

/// `reviewer`: the device's person reviews documents (an owner or admin: a broker), so reviews
/// what is submitted more often than anything else about documents.
pub fn random_step(
    rng: &mut StdRng,
    known: &Known,
    members: &[UserId],
    reviewer: bool,
) -> Option<Step> {
    // Documents are 12 % of the steps: each addition encrypts and uploads a file.
    if rng.gen_bool(0.12) {
        return document_step(rng, known, reviewer);
    }
    random_mutation(rng, known, members).map(Step::Mutate)
}

/// Sizes around the encryption's chunk boundary (64 KiB) and the empty file, then any.
fn document_size(rng: &mut StdRng) -> usize {
    const CHUNK: usize = 64 * 1024;
    match rng.gen_range(0..6) {
        0 => 0,
        1 => CHUNK - 1,
        2 => CHUNK,
        3 => CHUNK + 1,
        _ => rng.gen_range(1..3 * CHUNK),
    }
}

fn document_step(rng: &mut StdRng, known: &Known, reviewer: bool) -> Option<Step> {
    let in_status = |status: &str| -> Vec<&KnownDocument> {
        known
            .documents
            .iter()
            .filter(|d| d.status == status)
            .collect()
    };
    let to_review = reviewer && !in_status("SUBMITTED").is_empty() && rng.gen_bool(0.8);
    // Agents may try to review too: their replica refuses it, as the server would.
    Some(match if to_review { 9 } else { rng.gen_range(0..10) } {
        0..4 => Step::AddDocument {
            loop_id: one(rng, &known.loops)?,
            document_id: None,
            size: document_size(rng),
        },
        // A new version, mostly of a returned document (what an agent does with a return).
        4..6 => {
            let returned = in_status("RETURNED");
            let d = match returned.choose(rng) {
                Some(d) if rng.gen_bool(0.7) => *d,
                _ => known.documents.choose(rng)?,
            };
            Step::AddDocument {
                loop_id: d.loop_id.parse().ok()?,
                document_id: d.id.parse().ok(),
                size: document_size(rng),
            }
        }
        6..9 => Step::Mutate(Mutation::SubmitDocument(Delete {
            id: in_status("DRAFT").choose(rng)?.id.parse().ok()?,
        })),
        _ => {
            let id = in_status("SUBMITTED").choose(rng)?.id.parse().ok()?;
            let (decision, note) = if rng.gen_bool(0.5) {
                (ReviewDecision::Approve, None)
            } else {
                let page = rng.gen_range(1..20);
                (ReviewDecision::Return, Some(format!("Initial page {page}")))
            };
            Step::Mutate(Mutation::ReviewDocument(ReviewDocument {
                id,
                decision,
                note,
            }))
        }
    })
}

fn random_mutation(rng: &mut StdRng, known: &Known, members: &[UserId]) -> Option<Mutation> {
    let Known {
        contacts,
        deals,
        loops,
        tasks,
        ..
    } = known;
    // A small pool of values, so devices often write the same field with different values.
    let companies = ["Elm Holdings", "Oak Partners", "Pine LLC", "Birch & Co"];
    let n: u32 = rng.gen_range(0..100);
    Some(match n {
        0..20 => Mutation::CreateContact(CreateContact {
            id: Some(ContactId::new()),
            name: format!("Contact {}", rng.gen_range(0..100_000)),
            company: Some(companies.choose(rng)?.to_string()),
            ..Default::default()
        }),
        20..40 => {
            let mut changes = ContactChanges::default();
            match rng.gen_range(0..4) {
                0 => changes.company = Some(Some(companies.choose(rng)?.to_string())),
                1 => changes.phone = Some(Some(format!("+1 555 {:04}", rng.gen_range(0..10_000)))),
                2 => {
                    changes.status =
                        Some(*[ContactStatus::Active, ContactStatus::Inactive].choose(rng)?)
                }
                _ => {
                    changes.company = Some(None);
                    changes.tags = Some(vec!["hot".into(), format!("t{}", rng.gen_range(0..3))]);
                }
            }
            Mutation::UpdateContact(Update {
                id: one(rng, contacts)?,
                changes,
                base_seq: None,
            })
        }
        40..45 => Mutation::DeleteContact(Delete {
            id: one(rng, contacts)?,
        }),
        45..50 => {
            let mut pick: Vec<String> = contacts.clone();
            pick.shuffle(rng);
            pick.truncate(rng.gen_range(1..5));
            Mutation::BulkAssignContacts(BulkAssignContacts {
                contact_ids: pick.iter().filter_map(|s| s.parse().ok()).collect(),
                assigned_to_id: *members.choose(rng)?,
            })
        }
        50..58 => Mutation::CreateDeal(CreateDeal {
            id: Some(DealId::new()),
            title: format!("Deal {}", rng.gen_range(0..100_000)),
            value_cents: rng.gen_range(0..100_000_000),
            contact_id: one(rng, contacts),
            ..Default::default()
        }),
        58..66 => Mutation::UpdateDeal(Update {
            id: one(rng, deals)?,
            changes: DealChanges {
                stage: Some(
                    *[
                        DealStage::Qualified,
                        DealStage::Proposal,
                        DealStage::Negotiation,
                    ]
                    .choose(rng)?,
                ),
                value_cents: rng.gen_bool(0.5).then(|| rng.gen_range(0..100_000_000)),
                ..Default::default()
            },
            base_seq: None,
        }),
        66..69 => Mutation::DeleteDeal(Delete {
            id: one(rng, deals)?,
        }),
        69..75 => Mutation::CreateLoop(CreateLoop {
            id: Some(LoopId::new()),
            property_address: format!("{} Elm Street", rng.gen_range(1..999)),
            transaction_type: TransactionType::PurchaseAgreement,
            listing_price_cents: rng.gen_range(10_000_000..90_000_000),
            expected_closing: None,
        }),
        75..79 => Mutation::UpdateLoop(Update {
            id: one(rng, loops)?,
            changes: LoopChanges {
                status: Some(*[LoopStatus::Active, LoopStatus::UnderContract].choose(rng)?),
                ..Default::default()
            },
            base_seq: None,
        }),
        79..85 => Mutation::CompleteTask(Delete {
            id: one::<TaskId>(rng, tasks)?,
        }),
        85..89 => Mutation::CreateTask(CreateTask {
            id: Some(TaskId::new()),
            loop_id: one(rng, loops)?,
            title: format!("Task {}", rng.gen_range(0..1000)),
            description: None,
            category: None,
            priority: None,
            due_date: None,
        }),
        89..95 => Mutation::UpdateTask(Update {
            id: one(rng, tasks)?,
            changes: TaskChanges {
                status: Some(
                    *[
                        TaskStatus::InProgress,
                        TaskStatus::Pending,
                        TaskStatus::Done,
                    ]
                    .choose(rng)?,
                ),
                ..Default::default()
            },
            base_seq: None,
        }),
        95..98 => Mutation::DeleteTask(Delete {
            id: one(rng, tasks)?,
        }),
        _ => Mutation::DeleteLoop(Delete {
            id: one(rng, loops)?,
        }),
    })
}
