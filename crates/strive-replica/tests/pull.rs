//! Initial sync from a real server over a real PostgreSQL into a real SQLCipher replica.

mod support;

use serde_json::json;
use sqlx::Connection;
use strive_domain::OrgId;
use strive_replica::pull;
use support::TestServer;

#[tokio::test]
async fn a_fresh_replica_pulls_everything_and_then_only_what_changed() {
    let (base, owner_url, _db, _data) = server().await;
    let http = reqwest::Client::new();
    let post = reqwest::Method::POST;
    call(
        &http,
        post.clone(),
        format!("{base}/v1/auth/signup"),
        None,
        json!({"email": "ann@example.com", "password": "a long password"}),
    )
    .await;
    let session = call(
        &http,
        post.clone(),
        format!("{base}/v1/auth/login"),
        None,
        json!({"email": "ann@example.com", "password": "a long password",
        "device": {"id": uuid::Uuid::now_v7(), "name": "laptop", "platform": "linux"}}),
    )
    .await;
    let token = session["access_token"].as_str().unwrap().to_string();
    let org = call(
        &http,
        post.clone(),
        format!("{base}/v1/orgs"),
        Some(&token),
        json!({"name": "Acme Realty"}),
    )
    .await;
    let org_id: OrgId = org["id"].as_str().unwrap().parse().unwrap();
    for i in 0..25 {
        call(
            &http,
            post.clone(),
            format!("{base}/v1/orgs/{org_id}/contacts"),
            Some(&token),
            json!({"name": format!("Contact {i}")}),
        )
        .await;
    }
    call(&http, post.clone(), format!("{base}/v1/orgs/{org_id}/loops"), Some(&token),
        json!({"property_address": "12 Elm Street", "transaction_type": "PURCHASE_AGREEMENT", "listing_price_cents": 45000000})).await;

    let dir = tempfile::tempdir().unwrap();
    let mut replica =
        Replica::create(dir.path(), org_id, "a long password", Keychain::Disabled).unwrap();
    let mut progress_calls = 0;
    let stats = pull::pull_all(replica, &http, &base, &token, |_| progress_calls += 1)
        .await
        .unwrap();
    assert!(progress_calls >= 1);
    assert_eq!(replica.count("contacts").unwrap(), 25);
    assert_eq!(replica.count("transaction_loops").unwrap(), 1);
    assert_eq!(replica.count("transaction_tasks").unwrap(), 4);
    assert_eq!(replica.count("organization_members").unwrap(), 1);
    let mut owner = sqlx::PgConnection::connect(&owner_url).await.unwrap();
    let head: i64 =
        sqlx::query_scalar("SELECT last_seq FROM sync_counters WHERE organization_id = $1")
            .bind(org_id.0)
            .fetch_one(&mut owner)
            .await
            .unwrap();
    assert_eq!(stats.last_seq, head, "the replica is at the server's head");

    // Rows written with plain SQL, and a delete, arrive on the next pull; nothing else is resent.
    sqlx::query("INSERT INTO contacts (organization_id, id, name, created_by) SELECT $1, gen_random_uuid(), 'Via SQL', user_id FROM organization_members WHERE organization_id = $1")
        .bind(org_id.0).execute(&mut owner).await.unwrap();
    sqlx::query("DELETE FROM contacts WHERE organization_id = $1 AND name = 'Contact 0'")
        .bind(org_id.0)
        .execute(&mut owner)
        .await
        .unwrap();
    let next = pull::pull_all(replica, &http, &base, &token, |_| {})
        .await
        .unwrap();
    assert_eq!((next.upserts, next.deletes), (1, 1));
    assert_eq!(replica.count("contacts").unwrap(), 25);
}
