//! No plaintext at rest on the device: after a full scenario (sign-in, offline writes, sync both
//! ways, a second device, refusals), known markers are searched for in every file of the devices'
//! data directories (replicas, their WAL and shared-memory files, keys, the sealed account) and
//! in the temp directory. Zero hits.

use serde_json::json;
use std::path::Path;
use strive_domain::mutations::contacts::CreateContact;
use strive_domain::mutations::loops::CreateLoop;
use strive_domain::mutations::Mutation;
use strive_domain::{ContactId, LoopId, OrgId, TransactionType};
use strive_testkit::TestServer;

/// Files under `dir` (recursively) that contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return hits;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            hits.extend(files_containing(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|w| w == needle) {
                hits.push(path.display().to_string());
            }
        }
    }
    hits
}

#[tokio::test]
async fn nothing_readable_in_the_devices_files() {
    let server = TestServer::start().await;
    for e in ["ann@example.com", "bob@example.com"] {
        server.signup(e).await;
    }
    let token = server.token("ann@example.com").await;
    let (_, org) = server
        .call(
            reqwest::Method::POST,
            "/v1/orgs",
            Some(&token),
            json!({"name": "Marker Realty"}),
        )
        .await;
    let org: OrgId = org["id"].as_str().unwrap().parse().unwrap();
    server
        .call(
            reqwest::Method::POST,
            &format!("/v1/orgs/{org}/members"),
            Some(&token),
            json!({"email": "bob@example.com", "role": "MEMBER"}),
        )
        .await;
    let mut a = server.device("ann@example.com", org).await;
    let mut b = server.device("bob@example.com", org).await;
    a.account(&server.base, "ann@example.com", org);
    b.account(&server.base, "bob@example.com", org);
    let markers = [
        "QuixoticMarker",
        "ZephyrLane 77",
        "marker-secret@example.com",
    ];
    a.replica
        .mutate(Mutation::CreateContact(CreateContact {
            id: Some(ContactId::new()),
            name: markers[0].into(),
            email: Some(markers[2].into()),
            notes: Some(format!("{} notes", markers[0])),
            ..Default::default()
        }))
        .unwrap();
    a.replica
        .mutate(Mutation::CreateLoop(CreateLoop {
            id: Some(LoopId::new()),
            property_address: markers[1].into(),
            transaction_type: TransactionType::ListingAgreement,
            listing_price_cents: 1,
            expected_closing: None,
        }))
        .unwrap();
    a.sync(&server).await;
    b.sync(&server).await;
    assert_eq!(
        b.replica.count("contacts").unwrap(),
        1,
        "the markers reached device B"
    );
    // Written once more so the write-ahead logs hold recent pages too.
    a.sync(&server).await;

    let mut hits = Vec::new();
    for m in markers {
        for dir in [a.dir.path(), b.dir.path()] {
            hits.extend(files_containing(dir, m.as_bytes()));
        }
        hits.extend(files_containing(
            &std::env::temp_dir().join("strive"),
            m.as_bytes(),
        ));
    }
    let files: usize = [a.dir.path(), b.dir.path()]
        .iter()
        .map(|d| std::fs::read_dir(d).map(|r| r.count()).unwrap_or(0))
        .sum();
    assert!(
        files >= 8,
        "replicas, WAL, keys and accounts were written ({files} files)"
    );
    assert!(hits.is_empty(), "plaintext found at rest: {hits:?}");
    // The search itself finds a marker where there is one.
    let control = a.dir.path().join("control.txt");
    std::fs::write(&control, format!("xx{}xx", markers[1])).unwrap();
    assert_eq!(
        files_containing(a.dir.path(), markers[1].as_bytes()).len(),
        1
    );
    // The tokens are in the account file, sealed.
    let sealed = std::fs::read(a.dir.path().join("account.tokens")).unwrap();
    assert!(!sealed
        .windows(a.token.len())
        .any(|w| w == a.token.as_bytes()));
}
