//! Crash safety: the client is SIGKILLed at random points of its pushes and pulls, and the
//! server at random points of its transactions, again and again. After each kill the replica
//! opens and is sound; at the end nothing queued is lost, nothing is applied twice, and the
//! replica equals the server. Short profile: 12 rounds; `STRIVE_PROOF=long`: 100.

use rand::Rng;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use strive_domain::mutations::contacts::{ContactChanges, CreateContact};
use strive_domain::mutations::{Mutation, Update};
use strive_domain::{ContactId, OrgId};
use strive_proof::{dump, profile, seeded};
use strive_replica::{Keychain, Replica};
use strive_testkit::{TestServer, PASSWORD};

/// A child process SIGKILLed when dropped.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(owner_url: &str, bind: &str, data: &std::path::Path) -> Killed {
    Killed(
        Command::new(env!("CARGO_BIN_EXE_strive-proof-server"))
            .args([owner_url, bind, data.to_str().expect("utf-8 path")])
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .spawn()
            .expect("server starts"),
    )
}

async fn healthy(base: &str) {
    let started = Instant::now();
    let http = reqwest::Client::new();
    while !matches!(http.get(format!("{base}/healthz")).send().await, Ok(r) if r.status().is_success())
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not come up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_of_client_and_server_lose_nothing_and_apply_nothing_twice() {
    let (seed, mut rng) = seeded("crash");
    let rounds = profile(12, 100);
    let setup = TestServer::start().await;
    setup.signup("ann@example.com").await;
    let token = setup.token("ann@example.com").await;
    let (_, org) = setup
        .call(
            reqwest::Method::POST,
            "/v1/orgs",
            Some(&token),
            serde_json::json!({"name": "Crash Realty"}),
        )
        .await;
    let org: OrgId = org["id"].as_str().unwrap().parse().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let base = format!("http://{bind}");
    let data_dir = tempfile::tempdir().expect("temp dir");
    let data = data_dir.path().to_path_buf();
    let mut server = start_server(&setup.owner_url, &bind, &data);
    healthy(&base).await;

    let mut device = setup.device("ann@example.com", org).await;
    device.account(&base, "ann@example.com", org);
    let dir = device.dir.path().to_path_buf();
    let (mut queued, mut creates, mut client_kills, mut server_kills) = (0u64, 0u64, 0, 0);
    let mut mine: Vec<ContactId> = Vec::new();
    for round in 0..rounds {
        for _ in 0..30 {
            let m = if mine.is_empty() || rng.gen_bool(0.6) {
                let id = ContactId::new();
                mine.push(id);
                creates += 1;
                Mutation::CreateContact(CreateContact {
                    id: Some(id),
                    name: format!("Crash {round} {}", rng.gen::<u32>()),
                    ..Default::default()
                })
            } else {
                let id = mine[rng.gen_range(0..mine.len())];
                Mutation::UpdateContact(Update {
                    id,
                    changes: ContactChanges {
                        company: Some(Some(format!("Co {}", rng.gen_range(0..50)))),
                        ..Default::default()
                    },
                    base_seq: None,
                })
            };
            device.replica.mutate(m).expect("local write");
            queued += 1;
        }
        // Rows written on the server give the next pull a large apply to be killed in (every
        // round: a push of the round's few mutations alone is over too fast to be hit).
        {
            setup
                .sql(&format!(
                    "INSERT INTO contacts (organization_id, id, name, created_by)
                     SELECT '{org}', gen_random_uuid(), 'Server row ' || g,
                            (SELECT user_id FROM organization_members WHERE organization_id = '{org}' LIMIT 1)
                       FROM generate_series(1, 4000) g"
                ))
                .await;
        }
        let client = Killed(
            Command::new(env!("CARGO_BIN_EXE_strive-proof-client"))
                .args([dir.to_str().unwrap(), &org.to_string(), PASSWORD])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("client starts"),
        );
        tokio::time::sleep(Duration::from_millis(rng.gen_range(5..400))).await;
        if rng.gen_bool(0.3) {
            drop(server); // SIGKILL: whatever transaction was open is rolled back by PostgreSQL
            server_kills += 1;
            server = start_server(&setup.owner_url, &bind, &data);
            tokio::time::sleep(Duration::from_millis(rng.gen_range(0..200))).await;
        }
        let mut client = client;
        if client.0.try_wait().expect("wait").is_none() {
            client_kills += 1;
        }
        drop(client);
        // After every kill the replica opens and SQLite finds it sound.
        let check = Replica::open(&dir, org, Some(PASSWORD), Keychain::Disabled)
            .expect("the replica opens");
        assert_eq!(
            check.integrity_check().unwrap(),
            "ok",
            "seed {seed}, round {round}"
        );
        healthy(&base).await;
    }

    // A last run to the end.
    let mut last = Command::new(env!("CARGO_BIN_EXE_strive-proof-client"))
        .args([dir.to_str().unwrap(), &org.to_string(), PASSWORD])
        .spawn()
        .expect("client starts");
    let status = tokio::task::spawn_blocking(move || last.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "seed {seed}: the final sync failed");
    // The test's own connection pulls once more so that its view is current too.
    assert_eq!(
        device.replica.pending().unwrap(),
        0,
        "seed {seed}: the outbox drained"
    );
    let applied = setup
        .scalar(&format!("SELECT count(*) FROM applied_mutations WHERE device_id = '{}' AND outcome->>'status' = 'applied'", device.device))
        .await as u64;
    let refused = setup
        .scalar(&format!("SELECT count(*) FROM applied_mutations WHERE device_id = '{}' AND outcome->>'status' = 'rejected'", device.device))
        .await;
    assert_eq!(
        (applied, refused),
        (queued, 0),
        "seed {seed}: every queued change applied once"
    );
    let created = setup
        .scalar(&format!("SELECT count(*) FROM audit_log WHERE organization_id = '{org}' AND action = 'created' AND entity_type = 'contact'"))
        .await as u64;
    assert_eq!(created, creates, "seed {seed}: no create applied twice");
    let diffs = dump::differences(
        &dump::server(&setup.owner_url, &org.to_string()).await,
        &dump::replica(&device.replica),
        10,
    );
    assert!(
        diffs.is_empty(),
        "seed {seed}: the replica differs:\n{}",
        diffs.join("\n")
    );
    println!(
        "crash: {rounds} rounds, {client_kills} client kills mid-sync, {server_kills} server kills, {queued} mutations, 0 lost, 0 doubled"
    );
    assert!(client_kills > 0, "some kills landed mid-sync");
}
