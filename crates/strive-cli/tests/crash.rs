//! SIGKILL in the middle of a push and of a pull: after a restart the replica opens, nothing
//! queued is lost and nothing is applied twice.

mod common;

use common::{Strive, TestServer};
use std::time::{Duration, Instant};

/// Starts `strive sync`, waits until `reached` says the sync is under way, then kills it with
/// SIGKILL. Returns whether it was still running when killed.
async fn kill_during(strive: &Strive, reached: impl AsyncFn() -> bool) -> bool {
    let mut child = common::Running(strive.command(&["sync"]).spawn().expect("strive starts"));
    let started = Instant::now();
    while !reached().await {
        if child.0.try_wait().expect("wait").is_some()
            || started.elapsed() > Duration::from_secs(60)
        {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let alive = child.0.try_wait().expect("wait").is_none();
    // Child::kill sends SIGKILL: no chance to finish a transaction or flush anything.
    let _ = tokio::task::spawn_blocking(move || drop(child)).await;
    alive
}

#[tokio::test]
async fn killed_mid_push_resumes_without_loss_or_duplicates() {
    let server = TestServer::start().await;
    server.signup("ann@example.com").await;
    let ann = Strive::new(&server);
    ann.ok(&["login", "--email", "ann@example.com"]).await;
    ann.ok(&["orgs", "create", "Acme Realty"]).await;
    ann.ok(&["sync"]).await;
    let n = 3000;
    let csv = ann.home.path().join("contacts.csv");
    let mut body = String::from("name,email,company\n");
    for i in 0..n {
        body.push_str(&format!(
            "Contact {i},c{i}@example.com,Company {}\n",
            i % 37
        ));
    }
    std::fs::write(&csv, body).unwrap();
    ann.ok(&["contacts", "import", csv.to_str().unwrap()]).await;

    let mut kills = 0;
    for round in 0..3 {
        // Kill once some of the batches are in, at a different point each round.
        let target = 300 + round * 700;
        let killed = kill_during(&ann, async || {
            server.scalar("SELECT count(*) FROM contacts").await >= target
        })
        .await;
        kills += killed as usize;
        let status = ann.json(&["status", "--offline"]).await;
        assert!(status["sync"]["pending"].as_i64().unwrap() <= n, "{status}");
    }
    assert!(kills >= 1, "at least one kill landed mid-push");
    ann.ok(&["sync"]).await;
    assert_eq!(server.scalar("SELECT count(*) FROM contacts").await, n);
    assert_eq!(
        server
            .scalar("SELECT count(DISTINCT email) FROM contacts")
            .await,
        n,
        "each contact once"
    );
    assert_eq!(
        server.scalar("SELECT count(*) FROM audit_log WHERE action = 'created' AND entity_type = 'contact'").await,
        n,
        "no mutation applied twice"
    );
    let status = ann.json(&["status"]).await;
    assert_eq!(status["sync"]["pending"], 0);
    assert_eq!(
        status["rejections"].as_array().unwrap().len(),
        0,
        "{status}"
    );
    assert_eq!(
        ann.json(&["contacts", "list", "--limit", "1"]).await["total"],
        n
    );
}

#[tokio::test]
async fn killed_mid_pull_resumes_to_the_same_copy() {
    let server = TestServer::start().await;
    server.signup("ann@example.com").await;
    let ann = Strive::new(&server);
    ann.ok(&["login", "--email", "ann@example.com"]).await;
    ann.ok(&["orgs", "create", "Acme Realty"]).await;
    let org = ann.json(&["orgs"]).await[0]["organization_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Written outside the service: 60,000 contacts, which reach the device through the feed.
    server
        .sql(&format!(
            "INSERT INTO contacts (organization_id, id, name, email, contact_type, status, created_by)
             SELECT '{org}', gen_random_uuid(), 'Bulk ' || g, 'b' || g || '@example.com', 'PROSPECT', 'ACTIVE',
                    (SELECT user_id FROM organization_members WHERE organization_id = '{org}' LIMIT 1)
               FROM generate_series(1, 60000) g"
        ))
        .await;
    let pulled = "SELECT coalesce(max(last_pulled_seq), 0) FROM device_sync_state";
    let mut kills = 0;
    for _ in 0..3 {
        // Killed once the device asks for its next page: it has applied one and the rest is
        // on its way (pages are 20,000 changes).
        let before = server.scalar(pulled).await;
        let killed = kill_during(&ann, async || server.scalar(pulled).await > before).await;
        kills += killed as usize;
        // The replica opens after each kill.
        ann.json(&["status", "--offline"]).await;
    }
    assert!(kills >= 1, "at least one kill landed mid-pull");
    ann.ok(&["sync"]).await;
    let status = ann.json(&["status", "--offline"]).await;
    let server_last = server
        .scalar(&format!(
            "SELECT last_seq FROM sync_counters WHERE organization_id = '{org}'"
        ))
        .await;
    assert_eq!(status["sync"]["last_seq"], server_last);
    assert_eq!(
        ann.json(&["contacts", "list", "--limit", "1"]).await["total"],
        60_000
    );
    assert_eq!(
        ann.json(&["contacts", "list", "--search", "b59999@"]).await["total"],
        1
    );
}
