//! The sync engine over organizations in different databases (two private clusters): both sync
//! at once without seeing each other, and an organization moved while one device pushes and
//! another pulls loses nothing, duplicates nothing, and needs no full re-sync.

mod support;

use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strive_domain::mutations::contacts::CreateContact;
use strive_domain::mutations::Mutation;
use strive_domain::{ContactId, OrgId};
use strive_replica::api::{Api, Auth};
use strive_replica::engine::{self, EngineOptions, SyncEvent, SyncHandle};
use strive_replica::read::ContactQuery;
use strive_replica::Replica;
use strive_server::moving::{self, MoveOptions, Phase};
use support::{Device, TestServer};

/// How many contacts of the replica have `fragment` in their name.
fn named(replica: &Replica, fragment: &str) -> i64 {
    replica
        .contacts(&ContactQuery {
            search: Some(fragment.into()),
            limit: 1,
            ..Default::default()
        })
        .unwrap()
        .total
}

fn contact(name: &str) -> Mutation {
    Mutation::CreateContact(CreateContact {
        id: Some(ContactId::new()),
        name: name.into(),
        ..Default::default()
    })
}

/// A device's sync task, with every event it emitted kept.
struct Running {
    handle: SyncHandle,
    events: Arc<Mutex<Vec<SyncEvent>>>,
}

fn run(server: &TestServer, d: &Device, email: &str, org: OrgId) -> Running {
    let auth = Auth::new(
        Api::new(&server.base, false).unwrap(),
        d.account(&server.base, email, org),
    );
    let handle = engine::spawn(d.replica.reopen().unwrap(), auth, EngineOptions::default());
    let events = Arc::new(Mutex::new(Vec::new()));
    let mut rx = handle.subscribe();
    let kept = events.clone();
    tokio::spawn(async move {
        while let Ok(e) = rx.recv().await {
            kept.lock().unwrap().push(e);
        }
    });
    Running { handle, events }
}

impl Running {
    fn saw(&self, f: impl Fn(&SyncEvent) -> bool) -> bool {
        self.events.lock().unwrap().iter().any(f)
    }
}

/// Waits up to `secs` for `cond`.
async fn eventually(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn org_via_api(server: &TestServer, email: &str, name: &str) -> OrgId {
    let token = server.token(email).await;
    let (s, org) = server
        .call(
            reqwest::Method::POST,
            "/v1/orgs",
            Some(&token),
            json!({"name": name}),
        )
        .await;
    assert_eq!(s, 201, "{org}");
    org["id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_sync_engine_works_for_organizations_on_two_clusters_at_once() {
    let server = TestServer::start().await;
    let tenant = server.add_tenant_database("b").await;
    server.signup("ann@example.com").await;
    server.signup("bob@example.com").await;
    let alpha = org_via_api(&server, "ann@example.com", "Alpha Homes").await;
    let beta = OrgId(
        server
            .place_org("Beta Realty", "bob@example.com", "b")
            .await,
    );

    let mut a1 = server.device("ann@example.com", alpha).await;
    let a2 = server.device("ann@example.com", alpha).await;
    let mut b1 = server.device("bob@example.com", beta).await;
    let b2 = server.device("bob@example.com", beta).await;
    let runs = [
        run(&server, &a1, "ann@example.com", alpha),
        run(&server, &a2, "ann@example.com", alpha),
        run(&server, &b1, "bob@example.com", beta),
        run(&server, &b2, "bob@example.com", beta),
    ];
    for r in &runs {
        let r = &r.events;
        eventually(15, "every device online", || {
            r.lock()
                .unwrap()
                .iter()
                .any(|e| matches!(e, SyncEvent::Online))
        })
        .await;
    }
    for i in 0..5 {
        a1.replica.mutate(contact(&format!("Alpha {i}"))).unwrap();
        b1.replica.mutate(contact(&format!("Beta {i}"))).unwrap();
    }
    runs[0].handle.sync_now();
    runs[2].handle.sync_now();
    eventually(
        30,
        "both organizations' second devices to receive their five",
        || a2.replica.count("contacts").unwrap() == 5 && b2.replica.count("contacts").unwrap() == 5,
    )
    .await;
    // Each device holds its own organization's data only.
    assert_eq!(named(&a2.replica, "Beta"), 0);
    assert_eq!(named(&a2.replica, "Alpha"), 5);
    assert_eq!(named(&b2.replica, "Alpha"), 0);
    assert_eq!(named(&b2.replica, "Beta"), 5);
    // And the server keeps each in its own database.
    let in_b = |org: OrgId| {
        let url = tenant.owner_url.clone();
        async move {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
                .await
                .unwrap();
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM contacts WHERE organization_id = $1")
                .bind(org.0)
                .fetch_one(&mut c)
                .await
                .unwrap()
        }
    };
    assert_eq!(in_b(beta).await, 5);
    assert_eq!(in_b(alpha).await, 0);
    let in_control = server
        .scalar(&format!(
            "SELECT count(*) FROM contacts WHERE organization_id = '{beta}'"
        ))
        .await;
    assert_eq!(in_control, 0);
    for r in runs {
        assert!(
            !r.saw(|e| matches!(e, SyncEvent::Error { .. })),
            "{:?}",
            r.events
        );
        r.handle.stop();
    }
}

#[tokio::test]
async fn moving_while_one_device_pushes_and_another_pulls_loses_nothing_and_needs_no_full_resync() {
    let server = TestServer::start().await;
    let tenant = server.add_tenant_database("b").await;
    server.signup("ann@example.com").await;
    let org = org_via_api(&server, "ann@example.com", "Acme Realty").await;
    // Some history first, so the copy has something to do.
    server
        .sql(&format!(
            "INSERT INTO contacts (organization_id, id, name, created_by)
             SELECT '{org}', gen_random_uuid(), 'Early ' || i, user_id
               FROM organization_members, generate_series(1, 2000) AS i
              WHERE organization_id = '{org}'"
        ))
        .await;
    let mut writer = server.device("ann@example.com", org).await;
    let reader = server.device("ann@example.com", org).await;
    let w = run(&server, &writer, "ann@example.com", org);
    let r = run(&server, &reader, "ann@example.com", org);
    eventually(30, "the reader's first sync", || {
        reader.replica.count("contacts").unwrap() == 2000
    })
    .await;
    let before_move = reader.replica.last_seq().unwrap();

    // The writer keeps writing (and nudging its task) while the organization moves; the pause
    // is held a little longer than it needs, so pushes and pulls surely meet "moving".
    const WRITES: usize = 300;
    let wh = &w.handle;
    let writes = async {
        for i in 0..WRITES {
            writer
                .replica
                .mutate(contact(&format!("Written {i:03}")))
                .unwrap();
            wh.sync_now();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let mover = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        moving::move_org(
            &server.owner_url,
            &org.to_string(),
            "b",
            MoveOptions::default(),
            |p| async move {
                if p == Phase::Paused {
                    tokio::time::sleep(Duration::from_millis(800)).await;
                }
            },
        )
        .await
        .expect("the move succeeds")
    };
    let ((), report) = tokio::join!(writes, mover);
    assert_eq!(report.to, "b");

    eventually(
        60,
        "the writer's outbox to empty and the reader to have everything",
        || {
            writer.replica.pending().unwrap() == 0
                && reader.replica.count("contacts").unwrap() == 2000 + WRITES as i64
        },
    )
    .await;

    // The server has every write exactly once, in the new database only.
    let mut b = <sqlx::PgConnection as sqlx::Connection>::connect(&tenant.owner_url)
        .await
        .unwrap();
    let (n, distinct): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT name) FROM contacts
          WHERE organization_id = $1 AND name LIKE 'Written %'",
    )
    .bind(org.0)
    .fetch_one(&mut b)
    .await
    .unwrap();
    assert_eq!(
        (n, distinct),
        (WRITES as i64, WRITES as i64),
        "none lost, none twice"
    );
    let left = server
        .scalar(&format!(
            "SELECT (SELECT count(*) FROM contacts WHERE organization_id = '{org}')
                  + (SELECT count(*) FROM audit_log WHERE organization_id = '{org}')
                  + (SELECT count(*) FROM applied_mutations WHERE organization_id = '{org}')
                  + (SELECT count(*) FROM organizations WHERE id = '{org}')"
        ))
        .await;
    assert_eq!(left, 0, "the old database holds none of its rows");
    // The devices converge on the server's feed, continued across the move, without starting
    // over: no full re-sync, and the reader's position only ever moved forward.
    let last: i64 =
        sqlx::query_scalar("SELECT last_seq FROM sync_counters WHERE organization_id = $1")
            .bind(org.0)
            .fetch_one(&mut b)
            .await
            .unwrap();
    eventually(30, "the reader to reach the feed's end", || {
        reader.replica.last_seq().unwrap() == last
    })
    .await;
    assert!(last > before_move);
    for x in [&w, &r] {
        assert!(
            !x.saw(|e| matches!(e, SyncEvent::Syncing { full: true })),
            "a full re-sync"
        );
        assert!(
            !x.saw(|e| matches!(e, SyncEvent::SignedOut { .. })),
            "signed out"
        );
    }
    let progress: Vec<i64> = r
        .events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            SyncEvent::Progress { last_seq, .. } => Some(*last_seq),
            _ => None,
        })
        .collect();
    assert!(
        progress.windows(2).all(|p| p[0] <= p[1]),
        "the reader never went back: {progress:?}"
    );
    // The pause was met and retried by the engine on its own.
    assert!(
        w.saw(|e| matches!(e, SyncEvent::Offline { error, .. } if error.contains("org_moving")))
            || r.saw(
                |e| matches!(e, SyncEvent::Offline { error, .. } if error.contains("org_moving"))
            ),
        "no device met the pause: {:?}",
        w.events
    );
    assert_eq!(named(&reader.replica, "Written"), WRITES as i64);
    w.handle.stop();
    r.handle.stop();
}
