//! Initial sync from a real server over a real PostgreSQL into a real SQLCipher replica.

mod support;

use serde_json::json;
use sqlx::Connection;
use strive_domain::OrgId;
use strive_replica::pull;
use support::TestServer;

#[tokio::test]
async fn a_fresh_replica_pulls_everything_and_then_only_what_changed() {
    let server = TestServer::start().await;
    server.signup("ann@example.com").await;
    let setup = server.device("ann@example.com", OrgId::new()).await;
    let org_id = server.create_org(&setup.token, "Acme Realty").await;
    for i in 0..25 {
        server
            .create(
                &setup.token,
                &format!("/v1/orgs/{org_id}/contacts"),
                json!({"name": format!("Contact {i}")}),
            )
            .await;
    }
    server
        .create(
            &setup.token,
            &format!("/v1/orgs/{org_id}/loops"),
            json!({"property_address": "12 Elm Street", "transaction_type": "PURCHASE_AGREEMENT",
                     "listing_price_cents": 45000000}),
        )
        .await;

    let mut device = server.device("ann@example.com", org_id).await;
    let token = device.token.clone();
    let replica = &mut device.replica;
    let mut progress_calls = 0;
    let stats = pull::pull_all(replica, &server.http, &server.base, &token, |_| {
        progress_calls += 1
    })
    .await
    .unwrap();
    assert!(progress_calls >= 1);
    assert_eq!(replica.count("contacts").unwrap(), 25);
    assert_eq!(replica.count("transaction_loops").unwrap(), 1);
    assert_eq!(replica.count("transaction_tasks").unwrap(), 4);
    assert_eq!(replica.count("organization_members").unwrap(), 1);
    let mut owner = sqlx::PgConnection::connect(&server.owner_url)
        .await
        .unwrap();
    let head: i64 =
        sqlx::query_scalar("SELECT last_seq FROM sync_counters WHERE organization_id = $1")
            .bind(org_id.0)
            .fetch_one(&mut owner)
            .await
            .unwrap();
    assert_eq!(stats.last_seq, head, "the replica is at the server's head");
    let wal = format!("{}-wal", replica.path().display());
    assert_eq!(
        std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0),
        0,
        "the pull's last checkpoint leaves the WAL empty"
    );

    // Rows written with plain SQL, and a delete, arrive on the next pull; nothing else is resent.
    sqlx::query(
        "INSERT INTO contacts (organization_id, id, name, created_by)
         SELECT $1, gen_random_uuid(), 'Via SQL', user_id FROM organization_members WHERE organization_id = $1",
    )
    .bind(org_id.0)
    .execute(&mut owner)
    .await
    .unwrap();
    sqlx::query("DELETE FROM contacts WHERE organization_id = $1 AND name = 'Contact 0'")
        .bind(org_id.0)
        .execute(&mut owner)
        .await
        .unwrap();
    let next = pull::pull_all(replica, &server.http, &server.base, &token, |_| {})
        .await
        .unwrap();
    assert_eq!((next.upserts, next.deletes), (1, 1));
    assert_eq!(replica.count("contacts").unwrap(), 25);
}
