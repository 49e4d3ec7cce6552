//! Convergence under faults: devices make random mutations of every kind (same and different
//! fields, deletes, bulk assigns, loops and tasks, documents added, replaced, submitted and
//! reviewed), going offline and back, and sync through a proxy that drops, delays, duplicates,
//! replays late and cuts requests and responses. At the end every replica equals the server, no
//! accepted mutation is lost, every refused one is listed on its device, and every document
//! version on the server decrypts to the bytes its author added. The seed is printed:
//! `STRIVE_SEED=<n>` replays a failing run.
//! Short profile: 5 devices × 250 steps; `STRIVE_PROOF=long`: 5 × 2,000.

#[path = "convergence/steps.rs"]
mod steps;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use steps::{random_step, Known, Step};
use strive_domain::permissions::Action;
use strive_domain::{DocumentType, LoopId, OrgId, UserId, VersionId};
use strive_proof::proxy::FaultProxy;
use strive_proof::{dump, profile, seeded};
use strive_replica::api::{Api, Auth};
use strive_replica::engine::sync_round;
use strive_replica::vault::{file_sha256, NewDocument, Source};
use strive_testkit::{Device, TestServer};

const PEOPLE: [(&str, &str); 5] = [
    ("ann@example.com", "OWNER"),
    ("bob@example.com", "ADMIN"),
    ("cy@example.com", "MEMBER"),
    ("dee@example.com", "MEMBER"),
    ("eve@example.com", "MEMBER"),
];

struct Outcome {
    email: &'static str,
    /// The device, with its replica and the directory holding it and its account.
    d: Device,
    queued: u64,
    refused_locally: u64,
    /// Per mutation kind: how many were tried, and how many of those were queued.
    kinds: BTreeMap<String, (u64, u64)>,
    /// Every document version this device added: its plaintext's SHA-256 and its loop.
    added: HashMap<VersionId, (String, LoopId)>,
}

/// A text file of `size` bytes, different for every `tag`.
fn write_document(dir: &Path, tag: u64, size: usize) -> std::path::PathBuf {
    let line = format!("Convergence document {tag}: inspection notes, page after page.\n");
    let text: Vec<u8> = line.bytes().cycle().take(size).collect();
    let path = dir.join(format!("doc-{tag}.txt"));
    std::fs::write(&path, text).expect("a document file");
    path
}

/// One device's run: steps, with syncs at random moments and offline stretches.
async fn run_device(
    mut d: Device,
    auth: Auth,
    (email, role): (&'static str, &'static str),
    steps: usize,
    seed: u64,
    members: Vec<UserId>,
) -> Outcome {
    let mut rng = StdRng::seed_from_u64(seed);
    let reviewer = matches!(role, "OWNER" | "ADMIN");
    let (mut queued, mut refused_locally) = (0, 0);
    let mut added = HashMap::new();
    let mut kinds = BTreeMap::new();
    let files = tempfile::tempdir().expect("a directory for the files to add");
    let mut offline = false;
    let mut known = Known::default();
    for step in 0..steps {
        if rng.gen_bool(0.03) {
            offline = !offline;
        }
        if step % 10 == 0 {
            known = Known::read(&d.replica);
        }
        let done = match random_step(&mut rng, &known, &members, reviewer) {
            None => None,
            Some(Step::Mutate(m)) => {
                let name = m.action().name();
                let r = d.replica.mutate(m);
                Some((name, r.is_ok()))
            }
            Some(Step::AddDocument {
                loop_id,
                document_id,
                size,
            }) => {
                let path = write_document(files.path(), rng.gen(), size);
                let result = d.replica.add_document(NewDocument {
                    loop_id,
                    source: Source::File(&path),
                    name: Some(format!("Inspection {}.txt", rng.gen_range(1..50))),
                    document_type: DocumentType::Inspection,
                    document_id,
                    max_bytes: 100 << 20,
                });
                if let Ok(a) = &result {
                    let sha = file_sha256(&path).expect("hashed");
                    added.insert(a.version_id, (sha, loop_id));
                }
                Some((Action::UploadDocument.name(), result.is_ok()))
            }
        };
        if let Some((kind, ok)) = done {
            let (tried, queued_of_kind) = kinds.entry(kind).or_insert((0, 0));
            *tried += 1;
            if ok {
                *queued_of_kind += 1;
                queued += 1;
            } else {
                refused_locally += 1;
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
        kinds,
        added,
    }
}

/// Every document version on the server, fetched and decrypted by `reader`, is the file its
/// author added (same SHA-256): nothing an upload carried through the faults was damaged.
async fn versions_decrypt_to_what_was_added(
    server: &TestServer,
    reader: &mut Device,
    auth: &Auth,
    added: &HashMap<VersionId, (String, LoopId)>,
    seed: u64,
) -> usize {
    let versions = server
        .strings(&format!(
            "SELECT concat_ws(' ', id, document_id, version) FROM document_versions
             WHERE organization_id = '{}' ORDER BY id",
            reader.replica.org()
        ))
        .await;
    let token = auth.token().await.expect("a token");
    let out = tempfile::tempdir().expect("a directory");
    for row in &versions {
        let [id, document, version] = row.split(' ').collect::<Vec<_>>()[..] else {
            panic!("a version row: {row}");
        };
        let v: VersionId = id.parse().expect("a version id");
        let (expected, _) = added
            .get(&v)
            .unwrap_or_else(|| panic!("seed {seed}: version {id} was added by no device"));
        let got = strive_replica::transfer::fetch(
            &mut reader.replica,
            auth.api().http(),
            auth.api().base(),
            &token,
            document.parse().expect("a document id"),
            Some(version.parse().expect("a version number")),
        )
        .await
        .unwrap_or_else(|e| panic!("seed {seed}: version {id} cannot be fetched: {e}"));
        assert_eq!(got, v);
        let dest = out.path().join(id);
        reader
            .replica
            .export_document(v, &dest)
            .unwrap_or_else(|e| panic!("seed {seed}: version {id} does not decrypt: {e}"));
        assert_eq!(
            &file_sha256(&dest).expect("hashed"),
            expected,
            "seed {seed}: version {id} decrypts to other bytes than its author added"
        );
    }
    versions.len()
}

/// Every queued mutation has exactly one answer: applied on the server, refused by the server,
/// or (an upload whose loop another device deleted meanwhile) refused at its upload; every
/// refusal is listed on the device. Returns how many of each.
async fn every_mutation_has_one_answer(
    server: &TestServer,
    o: &Outcome,
    seed: u64,
) -> (u64, u64, u64) {
    let count = |status: &str| {
        format!(
            "SELECT count(*) FROM applied_mutations WHERE device_id = '{}' AND outcome->>'status' = '{status}'",
            o.d.device
        )
    };
    let applied = server.scalar(&count("applied")).await as u64;
    let rejected_server = server.scalar(&count("rejected")).await as u64;
    let refused: Vec<_> =
        o.d.replica
            .vault_entries()
            .expect("vault entries")
            .into_iter()
            .filter(|e| e.state == "refused")
            .collect();
    // Each refused upload's loop is gone from the server (one query for all of them).
    let loops: Vec<String> = refused
        .iter()
        .map(|e| {
            let v: VersionId = e.version_id.parse().expect("a version id");
            o.added[&v].1.to_string()
        })
        .collect();
    let still_there = server
        .scalar(&format!(
            "SELECT count(*) FROM transaction_loops WHERE id = ANY('{{{}}}'::uuid[])",
            loops.join(",")
        ))
        .await;
    assert_eq!(
        still_there, 0,
        "seed {seed}: {} had uploads refused while their loop exists",
        o.email
    );
    let refused = refused.len() as u64;
    let rejected_device = o.d.replica.rejections().expect("rejections").len() as u64;
    assert_eq!(
        rejected_device,
        rejected_server + refused,
        "seed {seed}: {} lists every refusal",
        o.email
    );
    assert_eq!(
        applied + rejected_server + refused,
        o.queued,
        "seed {seed}: {} lost or doubled a mutation",
        o.email
    );
    (applied, rejected_server, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn devices_converge_through_a_faulty_network() {
    let (seed, mut rng) = seeded("convergence");
    let steps = profile(250, 2_000);
    let server = TestServer::start().await;
    for (email, _) in PEOPLE {
        server.signup(email).await;
        // The profile is made on first use (lazily), so that there is one to promote.
        let token = server.token(email).await;
        let (s, me) = server
            .call(reqwest::Method::GET, "/v1/me", Some(&token), json!(null))
            .await;
        assert_eq!(s, 200, "{me}");
    }
    // Deletes need a platform role above USER (docs/permissions.md).
    let promoted = server
        .scalar(
            "WITH u AS (UPDATE users SET role = 'MODERATOR' RETURNING 1) SELECT count(*) FROM u",
        )
        .await;
    assert_eq!(
        promoted,
        PEOPLE.len() as i64,
        "everyone has a profile to promote"
    );
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
    for person @ (email, _) in PEOPLE {
        let mut d = server.device(email, org).await;
        d.sync(&server).await; // a first copy, directly
        members.push(d.user);
        devices.push((person, d));
    }
    for (person @ (email, _), d) in devices {
        let auth = Auth::new(
            Api::new(&proxy.base, false).unwrap(),
            d.account(&proxy.base, email, org),
        );
        let run = run_device(d, auth.clone(), person, steps, rng.gen(), members.clone());
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
        let (applied, rejected_server, refused_uploads) =
            every_mutation_has_one_answer(&server, o, seed).await;
        println!(
            "  {}: {} queued ({} applied, {} refused by the server, {} uploads refused), {} refused on the device",
            o.email, o.queued, applied, rejected_server, refused_uploads, o.refused_locally
        );
        total_queued += o.queued;
    }
    assert!(total_queued > 0);
    let rows: usize = expected.values().map(|t| t.len()).sum();
    println!("convergence: {rows} rows on the server, all replicas equal");

    let added: HashMap<VersionId, (String, LoopId)> =
        outcomes.iter().flat_map(|(o, _)| o.added.clone()).collect();
    let (reader, auth) = outcomes.last_mut().expect("devices");
    let versions =
        versions_decrypt_to_what_was_added(&server, &mut reader.d, auth, &added, seed).await;
    println!(
        "convergence: {} document versions added on devices, {versions} on the server, each decrypts to its file",
        added.len()
    );
    // Every kind of mutation was made, and queued at least once.
    let mut kinds: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (o, _) in &outcomes {
        for (kind, (tried, queued)) in &o.kinds {
            let k = kinds.entry(kind.clone()).or_default();
            k.0 += tried;
            k.1 += queued;
        }
    }
    let never: Vec<&String> = kinds
        .iter()
        .filter(|(_, k)| k.1 == 0)
        .map(|(n, _)| n)
        .collect();
    let summary: Vec<String> = kinds
        .iter()
        .map(|(n, (tried, queued))| format!("{n} {queued}/{tried}"))
        .collect();
    println!("convergence: queued/tried by kind: {}", summary.join(", "));
    let on_server = server
        .strings(
            "SELECT mutation_type || ' ' || count(*) FILTER (WHERE outcome->>'status' = 'applied')
               || '/' || count(*) FROM applied_mutations
             GROUP BY mutation_type ORDER BY mutation_type",
        )
        .await;
    println!(
        "convergence: applied/answered on the server by kind: {}",
        on_server.join(", ")
    );
    assert!(
        on_server.iter().all(|k| !k.starts_with("invalid ")),
        "seed {seed}: a device sent something that is not a mutation: {on_server:?}"
    );
    assert!(never.is_empty(), "seed {seed}: never queued: {never:?}");
    assert_eq!(
        kinds.len(),
        17,
        "seed {seed}: every mutation kind: {summary:?}"
    );
}
