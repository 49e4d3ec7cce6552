//! No plaintext at rest: after a full scenario (sign-in, offline writes, a document added offline,
//! sync both ways, a second device that fetches and views the document), known markers are
//! searched for in every file of the devices' data directories (replicas, their WAL and
//! shared-memory files, keys, the sealed account, the document vaults), in the temp directory
//! (where views are decrypted while open) and in the server's data directory (the blob store).
//! Zero hits.

use serde_json::json;
use std::path::Path;
use strive_domain::mutations::contacts::CreateContact;
use strive_domain::mutations::loops::CreateLoop;
use strive_domain::mutations::Mutation;
use strive_domain::{ContactId, DocumentType, LoopId, TransactionType};
use strive_replica::vault::{NewDocument, Source};
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

/// Private view directories (`strive-view-*`) still in the temp directory.
fn views_left() -> Vec<std::path::PathBuf> {
    std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("strive-view-"))
        .map(|e| e.path())
        .collect()
}

#[tokio::test]
async fn nothing_readable_in_the_devices_files() {
    let server = TestServer::start().await;
    for e in ["ann@example.com", "bob@example.com"] {
        server.signup(e).await;
    }
    let token = server.token("ann@example.com").await;
    let org = server.create_org(&token, "Marker Realty").await;
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
        "DocumentCanary-4411",
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
    let loop_id = LoopId::new();
    a.replica
        .mutate(Mutation::CreateLoop(CreateLoop {
            id: Some(loop_id),
            property_address: markers[1].into(),
            transaction_type: TransactionType::ListingAgreement,
            listing_price_cents: 1,
            expected_closing: None,
        }))
        .unwrap();
    // A document added offline: its plaintext source is removed before the search.
    let source = tempfile::tempdir().unwrap();
    let plaintext = format!("{} in a contract\n", markers[3]).repeat(3_000);
    let path = source.path().join("Contract.txt");
    std::fs::write(&path, &plaintext).unwrap();
    let added = a
        .replica
        .add_document(NewDocument {
            loop_id,
            source: Source::File(&path),
            name: None,
            document_type: DocumentType::Contract,
            document_id: None,
            max_bytes: 10 << 20,
        })
        .unwrap();
    drop(source);
    a.sync(&server).await;
    b.sync(&server).await;
    assert_eq!(
        b.replica.count("contacts").unwrap(),
        1,
        "the markers reached device B"
    );
    let fetched = strive_replica::transfer::fetch(
        &mut b.replica,
        &server.http,
        &server.base,
        &b.token,
        added.document_id,
        None,
    )
    .await
    .unwrap();
    {
        let view = b.replica.view_document(fetched).unwrap();
        let shown = std::fs::read_to_string(&view.path).unwrap();
        assert_eq!(shown, plaintext, "the view shows the document while open");
    }
    // Written once more so the write-ahead logs hold recent pages too.
    a.sync(&server).await;
    let blobs = server.data_dir().join("blobs");
    assert!(
        !files_containing(&blobs, b"SDOC").is_empty(),
        "the blob store holds the encrypted document"
    );

    let mut hits = Vec::new();
    for m in markers {
        for dir in [a.dir.path(), b.dir.path()] {
            hits.extend(files_containing(dir, m.as_bytes()));
        }
        hits.extend(files_containing(server.data_dir(), m.as_bytes()));
        hits.extend(files_containing(
            &std::env::temp_dir().join("strive"),
            m.as_bytes(),
        ));
        for view in views_left() {
            hits.extend(files_containing(&view, m.as_bytes()));
        }
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
