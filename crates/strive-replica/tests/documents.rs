//! Documents from device to device through the real server: added offline (encrypted at once
//! into the vault, queued), uploaded with the next sync, read on another device, versions kept,
//! the review workflow offline, and refusals settled like rejected pushes. No plaintext is ever at
//! rest on a device or on the server.

mod support;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use strive_domain::documents::{DocumentRejection, ReviewDecision};
use strive_domain::mutations::documents::ReviewDocument;
use strive_domain::mutations::{Delete, Mutation};
use strive_domain::{DocumentId, DocumentStatus, DocumentType, LoopId, OrgId};
use strive_replica::transfer;
use strive_replica::vault::{DocumentError, NewDocument, Source};
use strive_replica::MutateError;
use support::{Device, TestServer};

const MARKER: &[u8] = b"PLAINTEXT-CANARY-5d1e";

fn pdf(len: usize, salt: u8) -> Vec<u8> {
    let mut v = b"%PDF-1.7\n".to_vec();
    let mut i = 0u32;
    while v.len() < len {
        v.extend_from_slice(MARKER);
        v.extend_from_slice(format!(" {salt} {i} ").as_bytes());
        v.extend_from_slice(&[b'.'; 200]);
        i += 1;
    }
    v.truncate(len);
    v
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Every file under `dir` (the device's whole data directory: replica, WAL, vault).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn no_plaintext_at_rest(dir: &Path) {
    for f in files(dir) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(!contains(&bytes, MARKER), "plaintext in {}", f.display());
    }
}

struct World {
    server: TestServer,
    org: OrgId,
    loop_id: LoopId,
    owner: String,
}

async fn world() -> World {
    let server = TestServer::start().await;
    server.signup("broker@example.com").await;
    server.signup("agent@example.com").await;
    let owner = server.token("broker@example.com").await;
    let org_id = server.create_org(&owner, "Acme Realty").await;
    let (s, _) = server
        .call(
            reqwest::Method::POST,
            &format!("/v1/orgs/{org_id}/members"),
            Some(&owner),
            json!({"email": "agent@example.com", "role": "MEMBER"}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, l) = server
        .call(
            reqwest::Method::POST,
            &format!("/v1/orgs/{org_id}/loops"),
            Some(&owner),
            json!({"property_address": "12 Elm Street", "transaction_type": "LISTING_AGREEMENT",
                   "listing_price_cents": 45_000_000}),
        )
        .await;
    assert_eq!(s, 201, "{l}");
    World {
        server,
        org: org_id,
        loop_id: l["id"].as_str().unwrap().parse().unwrap(),
        owner,
    }
}

async fn device(w: &World, email: &str) -> Device {
    let mut d = w.server.device(email, w.org).await;
    d.sync(&w.server).await;
    d
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn add(
    d: &mut Device,
    w: &World,
    path: &Path,
    doc: Option<DocumentId>,
) -> strive_replica::vault::Added {
    d.replica
        .add_document(NewDocument {
            loop_id: w.loop_id,
            source: Source::File(path),
            name: None,
            document_type: DocumentType::Contract,
            document_id: doc,
            max_bytes: 100 << 20,
        })
        .expect("the document is added")
}

async fn server_doc(w: &World, id: DocumentId) -> (u16, Value) {
    w.server
        .call(
            reqwest::Method::GET,
            &format!("/v1/orgs/{}/documents/{id}", w.org),
            Some(&w.owner),
            Value::Null,
        )
        .await
}

async fn fetch(
    d: &mut Device,
    w: &World,
    id: DocumentId,
    v: Option<i32>,
) -> strive_domain::VersionId {
    transfer::fetch(
        &mut d.replica,
        &w.server.http,
        &w.server.base,
        &d.token,
        id,
        v,
    )
    .await
    .expect("fetched")
}

/// `strive docs get`: fetched and decrypted to `dest`.
async fn get(
    d: &mut Device,
    w: &World,
    id: DocumentId,
    dest: PathBuf,
) -> Result<(strive_domain::VersionId, u64), DocumentError> {
    transfer::fetch_to(
        &mut d.replica,
        &w.server.http,
        &w.server.base,
        &d.token,
        id,
        None,
        &dest,
    )
    .await
}

#[tokio::test]
async fn a_document_added_offline_reaches_another_device_encrypted_all_the_way() {
    let w = world().await;
    let mut agent = device(&w, "agent@example.com").await;
    let mut broker = device(&w, "broker@example.com").await;
    let files_dir = tempfile::tempdir().unwrap();
    let original = pdf(300_000, 1);
    let path = write(files_dir.path(), "Listing agreement.pdf", &original);

    // Offline: encrypted into the vault at once and queued; nothing on the server yet.
    let added = add(&mut agent, &w, &path, None);
    assert_eq!(added.size, 300_000);
    assert_eq!(agent.replica.pending().unwrap(), 1);
    let vault = agent.replica.vault_entries().unwrap();
    assert_eq!((vault.len(), vault[0].state.as_str()), (1, "upload"));
    let rows = agent.replica.documents(Some(w.loop_id), None).unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].pending_upload && rows[0].on_device);
    assert_eq!(rows[0].document.status, DocumentStatus::Draft);
    assert_eq!(server_doc(&w, added.document_id).await.0, 404);
    no_plaintext_at_rest(agent.dir.path());
    assert!(agent.replica.read_document(added.version_id).unwrap() == original);

    // The sync uploads the ciphertext, then pushes the mutation that records it.
    agent.sync(&w.server).await;
    let (s, doc) = server_doc(&w, added.document_id).await;
    assert_eq!(
        (s, doc["version"].as_i64(), doc["file_size"].as_i64()),
        (200, Some(1), Some(300_000))
    );
    assert_eq!(agent.replica.pending().unwrap(), 0);
    let local = agent.replica.document(added.document_id).unwrap().unwrap();
    assert_eq!(local.current_version_id, Some(added.version_id));
    let versions = agent.replica.document_versions(added.document_id).unwrap();
    assert!(versions[0]
        .storage_key
        .starts_with(&format!("{}/transactions/{}/", w.org, w.loop_id)));

    // Another device sees it by sync and reads it through a signed URL and the key service.
    broker.sync(&w.server).await;
    let rows = broker.replica.documents(None, None).unwrap();
    assert_eq!(rows.len(), 1);
    assert!(!rows[0].on_device, "metadata only until fetched");
    assert!(matches!(
        broker.replica.read_document(added.version_id),
        Err(DocumentError::NotOnDevice)
    ));
    let v = fetch(&mut broker, &w, added.document_id, None).await;
    assert_eq!(v, added.version_id);
    assert!(broker.replica.read_document(v).unwrap() == original);
    no_plaintext_at_rest(broker.dir.path());

    // A new version of the same document; both versions stay readable.
    let second = pdf(90_000, 2);
    let path2 = write(files_dir.path(), "Listing agreement (signed).pdf", &second);
    let v2 = add(&mut agent, &w, &path2, Some(added.document_id));
    agent.sync(&w.server).await;
    broker.sync(&w.server).await;
    let numbers: Vec<i32> = broker
        .replica
        .document_versions(added.document_id)
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(numbers, [1, 2]);
    let got2 = fetch(&mut broker, &w, added.document_id, None).await;
    assert_eq!(got2, v2.version_id);
    assert!(broker.replica.read_document(got2).unwrap() == second);
    assert!(broker.replica.read_document(v).unwrap() == original);

    // Viewing decrypts to a private temporary file, gone when the view ends.
    let viewed = broker.replica.view_document(got2).unwrap();
    assert!(std::fs::read(&viewed.path).unwrap() == second);
    let viewed_path = viewed.path.clone();
    drop(viewed);
    assert!(!viewed_path.exists());

    // A damaged vault copy fails to open and exports nothing.
    let entry = broker.replica.vault_entry(got2).unwrap().unwrap();
    let mut bytes = std::fs::read(&entry.file).unwrap();
    bytes[5_000] ^= 0x10;
    std::fs::write(&entry.file, &bytes).unwrap();
    let err = broker.replica.read_document(got2).unwrap_err();
    assert!(
        matches!(
            err,
            DocumentError::Crypto(strive_crypto::CryptoError::Tampered { chunk: 0 })
        ),
        "{err}"
    );
    let dest = files_dir.path().join("out.pdf");
    assert!(broker.replica.export_document(got2, &dest).is_err());
    assert!(!dest.exists(), "no partial plaintext left behind");
}

#[tokio::test]
async fn a_loop_created_offline_and_its_document_sync_in_one_round() {
    let w = world().await;
    let mut agent = device(&w, "agent@example.com").await;
    let loop_id = LoopId::new();
    agent
        .replica
        .mutate(Mutation::CreateLoop(
            strive_domain::mutations::loops::CreateLoop {
                id: Some(loop_id),
                property_address: "9 Offline Lane".into(),
                transaction_type: strive_domain::TransactionType::PurchaseAgreement,
                listing_price_cents: 30_000_000,
                expected_closing: None,
            },
        ))
        .unwrap();
    let files_dir = tempfile::tempdir().unwrap();
    let path = write(files_dir.path(), "Offer.pdf", &pdf(20_000, 9));
    let added = agent
        .replica
        .add_document(NewDocument {
            loop_id,
            source: Source::File(&path),
            name: None,
            document_type: DocumentType::Contract,
            document_id: None,
            max_bytes: 100 << 20,
        })
        .unwrap();

    // The upload waits for the loop's creation to reach the server, within the same round.
    let (pushed, _) = agent.sync(&w.server).await;
    assert_eq!((pushed.applied, pushed.rejected), (2, 0));
    assert!(agent.replica.rejections().unwrap().is_empty());
    let (s, doc) = server_doc(&w, added.document_id).await;
    assert_eq!(
        (s, doc["loop_id"].as_str()),
        (200, Some(loop_id.to_string().as_str()))
    );
    assert_eq!(agent.replica.pending().unwrap(), 0);
}

#[tokio::test]
async fn fifty_megabytes_round_trip_with_upload_progress() {
    let w = world().await;
    let mut agent = device(&w, "agent@example.com").await;
    let mut broker = device(&w, "broker@example.com").await;
    let files_dir = tempfile::tempdir().unwrap();
    let original = pdf(50 << 20, 3);
    let path = write(files_dir.path(), "Inspection.pdf", &original);
    let added = add(&mut agent, &w, &path, None);
    let mut seen = Vec::new();
    let stats = transfer::upload_pending(
        &mut agent.replica,
        &w.server.http,
        &w.server.base,
        &agent.token,
        |p| seen.push((p.sent, p.total)),
    )
    .await
    .unwrap();
    assert_eq!(stats.uploaded, 1);
    let total = added.ciphertext_size;
    assert_eq!(seen.first(), Some(&(0, total)));
    assert_eq!(seen.last(), Some(&(total, total)));
    assert!(
        seen.windows(2).all(|p| p[0].0 < p[1].0),
        "progress only grows"
    );
    assert!(seen.len() >= 7, "8 MiB requests: {}", seen.len());
    agent.sync(&w.server).await;
    broker.sync(&w.server).await;
    let v = fetch(&mut broker, &w, added.document_id, None).await;
    let out = files_dir.path().join("copy.pdf");
    assert_eq!(broker.replica.export_document(v, &out).unwrap(), 50 << 20);
    assert!(std::fs::read(&out).unwrap() == original);
    no_plaintext_at_rest(broker.dir.path());

    // Fetched and decrypted in one pass (`strive docs get`): the same bytes, and the vault keeps
    // the ciphertext as after a plain fetch.
    let entry = broker.replica.vault_entry(v).unwrap().unwrap();
    std::fs::remove_file(&entry.file).unwrap();
    let again = files_dir.path().join("again.pdf");
    let (got, n) = get(&mut broker, &w, added.document_id, again.clone())
        .await
        .unwrap();
    assert_eq!((got, n), (v, 50 << 20));
    assert!(std::fs::read(&again).unwrap() == original);
    assert!(broker.replica.vault_entry(v).unwrap().is_some());
    no_plaintext_at_rest(broker.dir.path());
    // Already in the vault: decrypted from there.
    let third = files_dir.path().join("third.pdf");
    assert_eq!(
        get(&mut broker, &w, added.document_id, third.clone())
            .await
            .unwrap(),
        (v, 50 << 20)
    );
    assert!(std::fs::read(&third).unwrap() == original);

    // Damaged on the server: refused as such, and neither the plaintext nor the ciphertext kept.
    let blob = files(&w.server.data_dir().join("blobs")).pop().unwrap();
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[1_000_000] ^= 0x01;
    std::fs::write(&blob, &bytes).unwrap();
    std::fs::remove_file(&entry.file).unwrap();
    let damaged = files_dir.path().join("damaged.pdf");
    let err = get(&mut broker, &w, added.document_id, damaged.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, DocumentError::Damaged(_)), "{err}");
    assert!(!damaged.exists(), "no plaintext from a damaged download");
    assert!(broker.replica.vault_entry(v).unwrap().is_none());
    assert!(
        std::fs::read_dir(files_dir.path())
            .unwrap()
            .flatten()
            .all(|e| !e.file_name().to_string_lossy().starts_with(".tmp")),
        "no temporary file left behind"
    );
    let blob_count = w
        .server
        .scalar("SELECT count(*) FROM document_versions")
        .await;
    assert_eq!(blob_count, 1);
}

#[tokio::test]
async fn refused_files_queue_nothing_and_refused_uploads_roll_back() {
    let w = world().await;
    let mut agent = device(&w, "agent@example.com").await;
    let files_dir = tempfile::tempdir().unwrap();
    let elf = write(
        files_dir.path(),
        "contract.pdf",
        b"\x7FELF\x02\x01\x01\x00 not a pdf at all",
    );
    let err = agent
        .replica
        .add_document(NewDocument {
            loop_id: w.loop_id,
            source: Source::File(&elf),
            name: None,
            document_type: DocumentType::Contract,
            document_id: None,
            max_bytes: 100 << 20,
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            DocumentError::Rejected(DocumentRejection::UnsupportedType { .. })
        ),
        "{err}"
    );
    let big = write(files_dir.path(), "big.pdf", &pdf(20_000, 4));
    let err = agent
        .replica
        .add_document(NewDocument {
            loop_id: w.loop_id,
            source: Source::File(&big),
            name: None,
            document_type: DocumentType::Contract,
            document_id: None,
            max_bytes: 10_000,
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            DocumentError::Rejected(DocumentRejection::TooLarge { .. })
        ),
        "{err}"
    );
    assert_eq!(agent.replica.pending().unwrap(), 0);
    assert!(agent.replica.vault_entries().unwrap().is_empty());
    assert!(files(&agent.replica.vault_dir().unwrap()).is_empty());

    // Added offline to a loop the broker deletes meanwhile: the server refuses the upload, the
    // change settles as rejected with its reason and is rolled back locally.
    let ok = write(files_dir.path(), "ok.pdf", &pdf(5_000, 5));
    let added = add(&mut agent, &w, &ok, None);
    let (s, _) = w
        .server
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/orgs/{}/loops/{}", w.org, w.loop_id),
            Some(&w.owner),
            Value::Null,
        )
        .await;
    assert_eq!(s, 200);
    agent.sync(&w.server).await;
    let refusals = agent.replica.rejections().unwrap();
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(refusals[0].code, "not_found");
    assert!(
        agent.replica.document(added.document_id).unwrap().is_none(),
        "rolled back"
    );
    assert_eq!(agent.replica.pending().unwrap(), 0);
    assert_eq!(
        w.server
            .scalar("SELECT count(*) FROM upload_sessions")
            .await,
        0
    );
    assert_eq!(w.server.scalar("SELECT count(*) FROM documents").await, 0);
}

fn review(id: DocumentId, decision: ReviewDecision, note: Option<&str>) -> Mutation {
    Mutation::ReviewDocument(ReviewDocument {
        id,
        decision,
        note: note.map(str::to_string),
    })
}

#[tokio::test]
async fn the_review_workflow_works_offline_with_the_servers_outcome() {
    let w = world().await;
    let mut agent = device(&w, "agent@example.com").await;
    let mut broker = device(&w, "broker@example.com").await;
    let files_dir = tempfile::tempdir().unwrap();
    let a = add(
        &mut agent,
        &w,
        &write(files_dir.path(), "a.pdf", &pdf(3_000, 6)),
        None,
    );
    let b = add(
        &mut agent,
        &w,
        &write(files_dir.path(), "b.pdf", &pdf(3_000, 7)),
        None,
    );
    // Submitted offline, right after adding: one sync sends all four in order.
    for d in [a.document_id, b.document_id] {
        agent
            .replica
            .mutate(Mutation::SubmitDocument(Delete { id: d }))
            .unwrap();
    }
    agent.sync(&w.server).await;
    assert_eq!(server_doc(&w, a.document_id).await.1["status"], "SUBMITTED");

    // The agent may not review, even offline: the replica applies the same matrix.
    let err = agent
        .replica
        .mutate(review(a.document_id, ReviewDecision::Approve, None))
        .unwrap_err();
    assert!(matches!(err, MutateError::Denied(_)), "{err}");

    broker.sync(&w.server).await;
    let queue: Vec<DocumentId> = broker
        .replica
        .review_queue()
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(queue, [a.document_id, b.document_id]);
    let err = broker
        .replica
        .mutate(review(a.document_id, ReviewDecision::Return, None))
        .unwrap_err();
    assert!(
        matches!(err, MutateError::Invalid(_)),
        "a return needs a note: {err}"
    );

    // The broker reviews offline. Meanwhile the agent replaces b with a new version (a draft
    // again), so the broker's approval of b, made on the old state, is refused by the server.
    broker
        .replica
        .mutate(review(
            a.document_id,
            ReviewDecision::Return,
            Some("Sign page 2"),
        ))
        .unwrap();
    broker
        .replica
        .mutate(review(b.document_id, ReviewDecision::Approve, None))
        .unwrap();
    assert_eq!(
        broker.replica.review_queue().unwrap().len(),
        0,
        "applied locally at once"
    );
    add(
        &mut agent,
        &w,
        &write(files_dir.path(), "b.pdf", &pdf(3_100, 8)),
        Some(b.document_id),
    );
    agent.sync(&w.server).await;

    broker.sync(&w.server).await;
    let (_, da) = server_doc(&w, a.document_id).await;
    assert_eq!(
        (da["status"].as_str(), da["review_note"].as_str()),
        (Some("RETURNED"), Some("Sign page 2"))
    );
    let (_, db) = server_doc(&w, b.document_id).await;
    assert_eq!(
        (db["status"].as_str(), db["version"].as_i64()),
        (Some("DRAFT"), Some(2))
    );
    let refused = broker.replica.rejections().unwrap();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].code, "document_status");
    // Both devices end with the server's state.
    agent.sync(&w.server).await;
    for d in [&agent, &broker] {
        let local_a = d.replica.document(a.document_id).unwrap().unwrap();
        assert_eq!(local_a.status, DocumentStatus::Returned);
        assert_eq!(local_a.review_note.as_deref(), Some("Sign page 2"));
        let local_b = d.replica.document(b.document_id).unwrap().unwrap();
        assert_eq!(
            (local_b.status, local_b.version),
            (DocumentStatus::Draft, 2)
        );
    }
    // The steps are in the activity feed on the devices too (key accesses are not).
    let actions: Vec<String> = broker
        .replica
        .activity(100, None)
        .unwrap()
        .into_iter()
        .map(|i| i.action)
        .collect();
    for a in [
        "uploaded_document",
        "submitted_document",
        "returned_document",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
}

#[tokio::test]
async fn pinned_documents_are_fetched_by_the_sync() {
    let w = world().await;
    let mut agent = device(&w, "agent@example.com").await;
    let mut broker = device(&w, "broker@example.com").await;
    let files_dir = tempfile::tempdir().unwrap();
    let a = add(
        &mut agent,
        &w,
        &write(files_dir.path(), "a.pdf", &pdf(4_000, 9)),
        None,
    );
    agent.sync(&w.server).await;
    broker.sync(&w.server).await;
    broker.replica.pin(a.document_id, true).unwrap();
    broker.sync(&w.server).await;
    let rows = broker.replica.documents(None, None).unwrap();
    assert!(rows[0].pinned && rows[0].on_device);
    // A new version arrives with the next sync as well.
    let v2 = add(
        &mut agent,
        &w,
        &write(files_dir.path(), "a.pdf", &pdf(4_500, 10)),
        Some(a.document_id),
    );
    agent.sync(&w.server).await;
    broker.sync(&w.server).await;
    assert!(broker.replica.read_document(v2.version_id).unwrap() == pdf(4_500, 10));
}
