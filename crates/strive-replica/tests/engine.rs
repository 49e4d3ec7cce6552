//! The sync task: a write on one device reaches a listening device by itself, an admin's request
//! reaches the device, an expired token is renewed, and an unreachable server is retried with
//! backoff until it is back, with nothing lost.

mod support;

use serde_json::json;
use std::time::Duration;
use strive_domain::mutations::contacts::CreateContact;
use strive_domain::mutations::Mutation;
use strive_domain::{ContactId, OrgId};
use strive_replica::api::{Api, Auth};
use strive_replica::engine::{self, EngineOptions, SyncEvent};
use support::{Device, TestServer};
use tokio::sync::broadcast::Receiver;

fn contact(name: &str) -> Mutation {
    Mutation::CreateContact(CreateContact {
        id: Some(ContactId::new()),
        name: name.into(),
        ..Default::default()
    })
}

/// The first event `pick` accepts, within 15 s.
async fn until<T>(
    rx: &mut Receiver<SyncEvent>,
    mut pick: impl FnMut(&SyncEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match rx.recv().await {
                Ok(e) => {
                    if let Some(t) = pick(&e) {
                        return t;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event stream closed: {e}"),
            }
        }
    })
    .await
    .expect("the event arrives in time")
}

async fn org_with_two(server: &TestServer) -> (OrgId, Device, Device) {
    server.signup("ann@example.com").await;
    server.signup("bob@example.com").await;
    let token = server.token("ann@example.com").await;
    let (s, org) = server
        .call(
            reqwest::Method::POST,
            "/v1/orgs",
            Some(&token),
            json!({"name": "Acme Realty"}),
        )
        .await;
    assert_eq!(s, 201, "{org}");
    let org: OrgId = org["id"].as_str().unwrap().parse().unwrap();
    server
        .call(
            reqwest::Method::POST,
            &format!("/v1/orgs/{org}/members"),
            Some(&token),
            json!({"email": "bob@example.com", "role": "MEMBER"}),
        )
        .await;
    let a = server.device("ann@example.com", org).await;
    let b = server.device("bob@example.com", org).await;
    (org, a, b)
}

#[tokio::test]
async fn a_listening_device_gets_changes_activity_and_admin_requests_by_itself() {
    let server = TestServer::start().await;
    let (org, mut a, b) = org_with_two(&server).await;
    let auth_a = Auth::new(
        Api::new(&server.base, false).unwrap(),
        a.account(&server.base, "ann@example.com", org),
    );
    let auth_b = Auth::new(
        Api::new(&server.base, false).unwrap(),
        b.account(&server.base, "bob@example.com", org),
    );
    let engine_a = engine::spawn(
        a.replica.reopen().unwrap(),
        auth_a,
        EngineOptions::default(),
    );
    let engine_b = engine::spawn(
        b.replica.reopen().unwrap(),
        auth_b,
        EngineOptions::default(),
    );
    let mut ev_a = engine_a.subscribe();
    let mut ev_b = engine_b.subscribe();
    until(&mut ev_b, |e| matches!(e, SyncEvent::Online).then_some(())).await;
    until(&mut ev_a, |e| matches!(e, SyncEvent::Online).then_some(())).await;

    // A writes through its UI connection and nudges its task; B hears of it and pulls.
    a.replica.mutate(contact("Carol Client")).unwrap();
    engine_a.sync_now();
    let item = until(&mut ev_b, |e| match e {
        SyncEvent::Activity { item } => Some(item.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        (item["action"].as_str(), item["entity_type"].as_str()),
        (Some("created"), Some("contact")),
        "{item}"
    );
    assert_eq!(item["user_name"], "ann");
    until(&mut ev_b, |e| match e {
        SyncEvent::Synced { status, .. } if b.replica.count("contacts").unwrap() == 1 => {
            Some(status.clone())
        }
        _ => None,
    })
    .await;
    // A's own round settles its outbox (push, pull, release) on its own schedule.
    until(&mut ev_a, |e| match e {
        SyncEvent::Synced { status, .. } if status.pending == 0 => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(
        a.replica.pending().unwrap(),
        0,
        "A's task pushed its outbox"
    );

    // An admin asks B (only) to start over: B's task does a full re-sync by itself.
    let (s, body) = server
        .call(
            reqwest::Method::POST,
            &format!("/v1/orgs/{org}/sync/request"),
            Some(&a.token),
            json!({"device_id": b.device, "full": true}),
        )
        .await;
    assert_eq!(s, 202, "{body}");
    until(&mut ev_b, |e| {
        matches!(e, SyncEvent::Syncing { full: true }).then_some(())
    })
    .await;
    until(&mut ev_b, |e| {
        matches!(e, SyncEvent::Synced { .. }).then_some(())
    })
    .await;
    assert_eq!(
        b.replica.count("contacts").unwrap(),
        1,
        "the copy is whole again"
    );
    let flagged = server
        .scalar("SELECT count(*) FROM device_sync_state WHERE full_resync_requested")
        .await;
    assert_eq!(flagged, 0, "the request is cleared by the re-sync");
    engine_a.stop();
    engine_b.stop();
}

#[tokio::test]
async fn an_expired_token_is_renewed_and_rotated_once() {
    let server = TestServer::start().await;
    let (org, a, _b) = org_with_two(&server).await;
    let account = a.account(&server.base, "ann@example.com", org);
    let mut tokens = account.tokens().unwrap();
    tokens.access_expires_at = 0;
    account.save_tokens(&tokens).unwrap();
    let auth = Auth::new(Api::new(&server.base, false).unwrap(), account.clone());
    // Two tasks ask at once: one refresh, both get the same new token.
    let (t1, t2) = tokio::join!(auth.token(), auth.token());
    let (t1, t2) = (t1.unwrap(), t2.unwrap());
    assert_eq!(t1, t2);
    let saved = account.tokens().unwrap();
    assert_eq!(saved.access_token, t1);
    assert!(
        saved.access_expires_at > chrono::Utc::now().timestamp() + 60,
        "renewed"
    );
    assert_ne!(saved.refresh_token, tokens.refresh_token, "rotated");
    let families_revoked = server
        .scalar("SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NOT NULL")
        .await;
    assert_eq!(families_revoked, 0, "no reuse was detected");
    let (s, _) = server
        .call(
            reqwest::Method::GET,
            "/v1/me",
            Some(&t1),
            serde_json::Value::Null,
        )
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn an_unreachable_server_is_retried_with_backoff_until_it_is_back() {
    let server = TestServer::start().await;
    let (org, mut a, _b) = org_with_two(&server).await;
    // A port with nothing behind it yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let auth = Auth::new(
        Api::new(&base, false).unwrap(),
        a.account(&base, "ann@example.com", org),
    );
    a.replica.mutate(contact("Queued Quinn")).unwrap();
    let handle = engine::spawn(a.replica.reopen().unwrap(), auth, EngineOptions::default());
    let mut ev = handle.subscribe();
    let mut delays = Vec::new();
    while delays.len() < 3 {
        let d = until(&mut ev, |e| match e {
            SyncEvent::Offline { retry_in_ms, .. } => Some(*retry_in_ms),
            _ => None,
        })
        .await;
        delays.push(d);
    }
    assert!(
        delays[2] >= 1000 && delays[2] <= 2000,
        "backoff grows: {delays:?}"
    );
    assert_eq!(
        a.replica.pending().unwrap(),
        1,
        "nothing lost while offline"
    );

    // The server comes back on that port (a forwarder to the real one).
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let target = server.base.trim_start_matches("http://").to_string();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                if let Ok(mut out) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                }
            });
        }
    });
    until(&mut ev, |e| {
        matches!(e, SyncEvent::Synced { .. }).then_some(())
    })
    .await;
    assert_eq!(a.replica.pending().unwrap(), 0);
    assert_eq!(
        server
            .scalar("SELECT count(*) FROM contacts WHERE name = 'Queued Quinn'")
            .await,
        1
    );
    handle.stop();
}
