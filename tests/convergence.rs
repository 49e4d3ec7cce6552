//! Convergence under faults: devices make random mutations of every kind (same and different
//! fields, deletes, bulk assigns, loops and tasks), going offline and back, and sync through a
//! proxy that drops, delays, duplicates, replays late and cuts requests and responses. At the
//! end every replica equals the server, no accepted mutation is lost and every refused one is
//! listed on its device. The seed is printed: `STRIVE_SEED=<n>` replays a failing run.
//! Short profile: 5 devices × 150 mutations; `STRIVE_PROOF=long`: 5 × 2,000.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;
use strive_domain::mutations::contacts::{BulkAssignContacts, ContactChanges, CreateContact};
use strive_domain::mutations::deals::{CreateDeal, DealChanges};
use strive_domain::mutations::loops::{CreateLoop, CreateTask, LoopChanges, TaskChanges};
use strive_domain::mutations::{Delete, Mutation, Update};
use strive_domain::{
    ContactId, ContactStatus, DealId, DealStage, LoopId, LoopStatus, OrgId, TaskId, TaskStatus,
    TransactionType, UserId,
};
use strive_proof::proxy::FaultProxy;
use strive_proof::{dump, profile, seeded};
use strive_replica::api::{Api, Auth};
use strive_replica::engine::sync_round;
use strive_replica::Replica;
use strive_testkit::{Device, TestServer};

const PEOPLE: [(&str, &str); 5] = [
    ("ann@example.com", "OWNER"),
    ("bob@example.com", "ADMIN"),
    ("cy@example.com", "MEMBER"),
    ("dee@example.com", "MEMBER"),
    ("eve@example.com", "MEMBER"),
];

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

/// A random mutation that makes sense on this replica (it may still be refused: another device
/// may have deleted the row, or the role may not allow it).
/// The ids a device picks its targets from, refreshed now and then (reading them each step
/// would make the long profile quadratic).
#[derive(Default)]
struct Known {
    contacts: Vec<String>,
    deals: Vec<String>,
    loops: Vec<String>,
    tasks: Vec<String>,
}

impl Known {
    fn read(r: &Replica) -> Self {
        Known {
            contacts: ids(r, "contacts"),
            deals: ids(r, "deals"),
            loops: ids(r, "transaction_loops"),
            tasks: ids(r, "transaction_tasks"),
        }
    }
}

fn random_mutation(rng: &mut StdRng, known: &Known, members: &[UserId]) -> Option<Mutation> {
    let Known {
        contacts,
        deals,
        loops,
        tasks,
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

struct Outcome {
    email: &'static str,
    /// The device, with its replica and the directory holding it and its account.
    d: Device,
    queued: u64,
    refused_locally: u64,
}

/// One device's run: mutations, with syncs at random moments and offline stretches.
async fn run_device(
    mut d: Device,
    auth: Auth,
    email: &'static str,
    steps: usize,
    seed: u64,
    members: Vec<UserId>,
) -> Outcome {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut queued, mut refused_locally) = (0, 0);
    let mut offline = false;
    let mut known = Known::default();
    for step in 0..steps {
        if rng.gen_bool(0.03) {
            offline = !offline;
        }
        if step % 10 == 0 {
            known = Known::read(&d.replica);
        }
        if let Some(m) = random_mutation(&mut rng, &known, &members) {
            match d.replica.mutate(m) {
                Ok(_) => queued += 1,
                Err(_) => refused_locally += 1,
            }
        }
        if !offline && rng.gen_bool(0.15) {
            // Faults make many rounds fail; the next one picks up where this one stopped.
            let _ = sync_round(&mut d.replica, &auth, false, |_| {}).await;
        }
        tokio::task::yield_now().await;
    }
    Outcome {
        email,
        d,
        queued,
        refused_locally,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn devices_converge_through_a_faulty_network() {
    let (seed, mut rng) = seeded("convergence");
    let steps = profile(150, 2_000);
    let server = TestServer::start().await;
    for (email, _) in PEOPLE {
        server.signup(email).await;
    }
    // Deletes need a platform role above USER (docs/permissions.md).
    server.sql("UPDATE users SET role = 'MODERATOR'").await;
    let owner = server.token(PEOPLE[0].0).await;
    let (s, org) = server
        .call(
            reqwest::Method::POST,
            "/v1/orgs",
            Some(&owner),
            json!({"name": "Converge Realty"}),
        )
        .await;
    assert_eq!(s, 201, "{org}");
    let org: OrgId = org["id"].as_str().unwrap().parse().unwrap();
    for (email, role) in &PEOPLE[1..] {
        let (s, b) = server
            .call(
                reqwest::Method::POST,
                &format!("/v1/orgs/{org}/members"),
                Some(&owner),
                json!({"email": email, "role": role}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }
    let proxy = FaultProxy::start(&server.base, rng.gen(), 0.25).await;
    let mut tasks = Vec::new();
    let mut members = Vec::new();
    let mut devices = Vec::new();
    for (email, _) in PEOPLE {
        let mut d = server.device(email, org).await;
        d.sync(&server).await; // a first copy, directly
        members.push(d.user);
        devices.push((email, d));
    }
    for (email, d) in devices {
        let auth = Auth::new(
            Api::new(&proxy.base, false).unwrap(),
            d.account(&proxy.base, email, org),
        );
        let run = run_device(d, auth.clone(), email, steps, rng.gen(), members.clone());
        tasks.push((tokio::spawn(run), auth));
    }
    let mut outcomes = Vec::new();
    for (task, auth) in tasks {
        outcomes.push((task.await.expect("device run"), auth));
    }

    // The network heals; every device syncs until it has nothing left to send, then once more
    // so that each one has everyone's last changes.
    proxy.heal();
    for _ in 0..2 {
        for (o, auth) in outcomes.iter_mut() {
            for attempt in 0.. {
                let done = sync_round(&mut o.d.replica, auth, false, |_| {}).await;
                if done.is_ok() && o.d.replica.pending().unwrap() == 0 {
                    break;
                }
                assert!(attempt < 5, "{} cannot finish syncing: {done:?}", o.email);
            }
        }
    }

    let expected = dump::server(&server.owner_url, &org.to_string()).await;
    let counts = proxy.counts();
    println!(
        "convergence: {} requests through the proxy, {} faults ({})",
        counts.requests.load(std::sync::atomic::Ordering::Relaxed),
        counts.injected(),
        counts.summary()
    );
    assert!(counts.injected() > 0, "faults were injected");
    let mut total_queued = 0;
    for (o, _) in &outcomes {
        let diffs = dump::differences(&expected, &dump::replica(&o.d.replica), 10);
        assert!(
            diffs.is_empty(),
            "seed {seed}: {} differs from the server:\n{}",
            o.email,
            diffs.join("\n")
        );
        // Every queued mutation has exactly one answer: applied on the server, or refused and
        // listed on the device.
        let applied = server
            .scalar(&format!(
                "SELECT count(*) FROM applied_mutations WHERE device_id = '{}' AND outcome->>'status' = 'applied'",
                o.d.device
            ))
            .await as u64;
        let rejected_server = server
            .scalar(&format!(
                "SELECT count(*) FROM applied_mutations WHERE device_id = '{}' AND outcome->>'status' = 'rejected'",
                o.d.device
            ))
            .await as u64;
        let rejected_device = o.d.replica.rejections().unwrap().len() as u64;
        assert_eq!(
            rejected_device, rejected_server,
            "seed {seed}: {} lists every refusal",
            o.email
        );
        assert_eq!(
            applied + rejected_server,
            o.queued,
            "seed {seed}: {} lost or doubled a mutation",
            o.email
        );
        println!(
            "  {}: {} queued ({} applied, {} refused by the server), {} refused on the device",
            o.email, o.queued, applied, rejected_server, o.refused_locally
        );
        total_queued += o.queued;
    }
    assert!(total_queued > 0);
    let rows: usize = expected.values().map(|t| t.len()).sum();
    println!("convergence: {rows} rows on the server, all replicas equal");
}
