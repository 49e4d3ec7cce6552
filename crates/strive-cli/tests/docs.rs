//! `strive docs` and `strive watch` as a user types them, against a real server: an agent adds a
//! document offline and syncs, the broker reads it, reviews it from the queue, a watched folder
//! imports a dropped file and uploads it.

mod common;

use common::{text, Strive, TestServer};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const MARKER: &str = "CLI-PLAINTEXT-MARKER";

async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !done().await {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn documents_from_an_offline_agent_to_the_brokers_review() {
    let server = TestServer::start().await;
    server.signup("broker@example.com").await;
    server.signup("agent@example.com").await;
    let broker = Strive::new(&server);
    broker.ok(&["login", "--email", "broker@example.com"]).await;
    broker.ok(&["orgs", "create", "Acme Realty"]).await;
    let org = broker.json(&["orgs"]).await[0]["organization_id"]
        .as_str()
        .unwrap()
        .to_string();
    broker
        .ok(&[
            "loops",
            "create",
            "--address",
            "12 Elm Street",
            "--type",
            "LISTING_AGREEMENT",
            "--price",
            "450000",
        ])
        .await;
    broker.ok(&["sync"]).await;
    let token = server.token("broker@example.com").await;
    let (s, _) = server
        .call(
            reqwest::Method::POST,
            &format!("/v1/orgs/{org}/members"),
            Some(&token),
            json!({"email": "agent@example.com", "role": "MEMBER"}),
        )
        .await;
    assert_eq!(s, 201);

    let agent = Strive::new(&server);
    agent.ok(&["login", "--email", "agent@example.com"]).await;
    agent.ok(&["sync"]).await;
    let loop_id = agent.json(&["loops", "list"]).await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let file = agent.home.path().join("Disclosure.txt");
    std::fs::write(
        &file,
        format!("{MARKER}\nSeller's disclosure: roof replaced 2019.\n"),
    )
    .unwrap();

    // Offline: encrypted and queued.
    let added = agent
        .json(&[
            "docs",
            "upload",
            file.to_str().unwrap(),
            "--loop",
            &loop_id[loop_id.len() - 8..],
            "--type",
            "DISCLOSURE",
        ])
        .await;
    assert_eq!(added["mime_type"], "text/plain");
    let doc = added["document_id"].as_str().unwrap().to_string();
    let listed = agent.json(&["docs", "list"]).await;
    assert_eq!(listed[0]["pending_upload"], true);
    // A refused file says why, and queues nothing.
    let exe = agent.home.path().join("setup.pdf");
    std::fs::write(&exe, b"MZ\x90\x00\x03 a program").unwrap();
    let out = agent
        .run(&["docs", "upload", exe.to_str().unwrap(), "--loop", &loop_id])
        .await;
    let (_, err) = text(&out);
    assert!(
        !out.status.success() && err.contains("Windows executable"),
        "{err}"
    );

    agent.ok(&["docs", "submit", &doc]).await;
    let out = agent.ok(&["sync"]).await;
    assert!(out.contains("Sent 2 change(s)"), "{out}");
    assert_eq!(
        server
            .scalar("SELECT count(*) FROM documents WHERE status = 'SUBMITTED'")
            .await,
        1
    );

    // The broker: the queue, the document itself, a return with a note.
    broker.ok(&["sync"]).await;
    let queue = broker.json(&["docs", "queue"]).await;
    assert_eq!(queue[0]["id"], doc.as_str());
    assert_eq!(queue[0]["property_address"], "12 Elm Street");
    let dest = broker.home.path().join("copy.txt");
    broker
        .ok(&["docs", "get", &doc, "-o", dest.to_str().unwrap()])
        .await;
    assert!(std::fs::read_to_string(&dest).unwrap().starts_with(MARKER));
    let out = agent.run(&["docs", "approve", &doc]).await;
    assert!(!out.status.success(), "an agent cannot approve");
    broker
        .ok(&["docs", "return", &doc, "--note", "Add the 2021 repairs"])
        .await;
    broker.ok(&["sync"]).await;
    agent.ok(&["sync"]).await;
    let listed = agent.json(&["docs", "list"]).await;
    assert_eq!(listed[0]["status"], "RETURNED");
    assert_eq!(listed[0]["review_note"], "Add the 2021 repairs");

    // A corrected version, submitted and approved.
    std::fs::write(&file, format!("{MARKER}\nRoof 2019, repairs 2021.\n")).unwrap();
    agent
        .ok(&[
            "docs",
            "upload",
            file.to_str().unwrap(),
            "--loop",
            &loop_id,
            "--version-of",
            &doc,
        ])
        .await;
    agent.ok(&["docs", "submit", &doc]).await;
    agent.ok(&["sync"]).await;
    broker.ok(&["sync"]).await;
    broker.ok(&["docs", "approve", &doc]).await;
    broker.ok(&["sync"]).await;
    let versions = broker.json(&["docs", "versions", &doc]).await;
    assert_eq!(versions.as_array().unwrap().len(), 2);
    let (_, d) = server
        .call(
            reqwest::Method::GET,
            &format!("/v1/orgs/{org}/documents/{doc}"),
            Some(&token),
            Value::Null,
        )
        .await;
    assert_eq!(
        (d["status"].as_str(), d["version"].as_i64()),
        (Some("APPROVED"), Some(2))
    );
    broker
        .ok(&[
            "docs",
            "get",
            &doc,
            "--version",
            "1",
            "-o",
            dest.to_str().unwrap(),
        ])
        .await;
    assert!(!std::fs::read_to_string(&dest).unwrap().contains("2021"));

    // A watched folder: a dropped file is imported, moved and uploaded by the watcher's sync.
    let folder = tempfile::tempdir().unwrap();
    let watcher = common::Running(
        agent
            .command(&["watch", folder.path().to_str().unwrap(), "--loop", &loop_id])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("strive watch starts"),
    );
    std::fs::write(
        folder.path().join("Inspection.pdf"),
        b"%PDF-1.7\nInspection report\n",
    )
    .unwrap();
    wait_until("the watched file reaches the server", async || {
        server
            .scalar("SELECT count(*) FROM documents WHERE original_name = 'Inspection.pdf'")
            .await
            == 1
    })
    .await;
    assert!(folder.path().join("imported/Inspection.pdf").exists());
    drop(watcher);
}
