//! Attacks on sign-in and sessions, end to end: brute force meets the rate limit (even the right
//! password waits), a stolen refresh token used twice revokes the whole session, a removed
//! member's tokens stop working at once, and a VIEWER cannot push any write.

use reqwest::Method;
use serde_json::{json, Value};
use strive_testkit::{TestServer, PASSWORD};

async fn login(server: &TestServer, email: &str, password: &str) -> (u16, Value) {
    server
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            json!({"email": email, "password": password}),
        )
        .await
}

#[tokio::test]
async fn brute_force_hits_the_limit_and_the_right_password_waits_too() {
    let server = TestServer::start().await;
    server.signup("ann@example.com").await;
    let mut throttled = 0;
    for i in 0..20 {
        let (s, b) = login(&server, "ann@example.com", &format!("guess number {i}")).await;
        assert!(s == 401 || s == 429, "{s} {b}");
        throttled += (s == 429) as u32;
    }
    assert!(
        throttled >= 10,
        "most guesses are refused unchecked: {throttled}/20"
    );
    let (s, b) = login(&server, "ann@example.com", PASSWORD).await;
    assert_eq!(
        s, 429,
        "the right password does not get through a lockout: {b}"
    );
    assert!(
        b["message"]
            .as_str()
            .unwrap_or_default()
            .contains("try again later"),
        "{b}"
    );
    // Another account is not locked by Ann's attacker.
    server.signup("bob@example.com").await;
    assert_eq!(login(&server, "bob@example.com", PASSWORD).await.0, 200);
}

#[tokio::test]
async fn a_stolen_refresh_token_used_twice_revokes_the_session() {
    let server = TestServer::start().await;
    server.signup("ann@example.com").await;
    let (_, first) = login(&server, "ann@example.com", PASSWORD).await;
    let stolen = first["refresh_token"].as_str().unwrap().to_string();
    let refresh = |token: String| {
        let server = &server;
        async move {
            server
                .call(
                    Method::POST,
                    "/v1/auth/refresh",
                    None,
                    json!({"refresh_token": token}),
                )
                .await
        }
    };
    let (s, second) = refresh(stolen.clone()).await;
    assert_eq!(s, 200, "{second}");
    let rotated = second["refresh_token"].as_str().unwrap().to_string();
    // The owner's client moves on.
    let (s, third) = refresh(rotated).await;
    assert_eq!(s, 200, "{third}");
    let current = third["refresh_token"].as_str().unwrap().to_string();
    // The thief replays the stolen token: refused, and the whole family is revoked.
    let (s, b) = refresh(stolen).await;
    assert_eq!(s, 401, "{b}");
    let (s, b) = refresh(current).await;
    assert_eq!(s, 401, "the legitimate holder must sign in again: {b}");
}

#[tokio::test]
async fn removed_members_and_viewers_cannot_act() {
    let server = TestServer::start().await;
    for e in ["ann@example.com", "bob@example.com", "vic@example.com"] {
        server.signup(e).await;
    }
    let ann = server.token("ann@example.com").await;
    let (_, org) = server
        .call(
            Method::POST,
            "/v1/orgs",
            Some(&ann),
            json!({"name": "Acme"}),
        )
        .await;
    let org = org["id"].as_str().unwrap().to_string();
    for (e, role) in [("bob@example.com", "MEMBER"), ("vic@example.com", "VIEWER")] {
        let (s, b) = server
            .call(
                Method::POST,
                &format!("/v1/orgs/{org}/members"),
                Some(&ann),
                json!({"email": e, "role": role}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }
    let (_, c) = server
        .call(
            Method::POST,
            &format!("/v1/orgs/{org}/contacts"),
            Some(&ann),
            json!({"name": "Carol"}),
        )
        .await;
    let contact = c["id"].as_str().unwrap().to_string();
    let (_, l) = server
        .call(Method::POST, &format!("/v1/orgs/{org}/loops"), Some(&ann),
              json!({"property_address": "1 Elm", "transaction_type": "PURCHASE_AGREEMENT", "listing_price_cents": 1}))
        .await;
    let loop_id = l["id"].as_str().unwrap().to_string();

    // Bob's token works, then Ann removes him: the same token stops working at once.
    let bob = server.token("bob@example.com").await;
    let contacts = format!("/v1/orgs/{org}/contacts");
    assert_eq!(
        server
            .call(Method::GET, &contacts, Some(&bob), Value::Null)
            .await
            .0,
        200
    );
    let (_, me) = server
        .call(Method::GET, "/v1/me", Some(&bob), Value::Null)
        .await;
    let bob_id = me["user"]["id"].as_str().unwrap().to_string();
    let (s, _) = server
        .call(
            Method::DELETE,
            &format!("/v1/orgs/{org}/members/{bob_id}"),
            Some(&ann),
            Value::Null,
        )
        .await;
    assert!(s == 200 || s == 204, "{s}");
    let (s, b) = server
        .call(Method::GET, &contacts, Some(&bob), Value::Null)
        .await;
    assert!(
        s == 403 || s == 404,
        "a removed member sees nothing: {s} {b}"
    );
    assert!(!b.to_string().contains("Carol"), "{b}");
    let (s, _) = server
        .call(
            Method::POST,
            &contacts,
            Some(&bob),
            json!({"name": "Ghost"}),
        )
        .await;
    assert!(s == 403 || s == 404, "{s}");
    assert_eq!(
        server
            .scalar("SELECT count(*) FROM contacts WHERE name = 'Ghost'")
            .await,
        0
    );

    // Vic, a VIEWER, pushes one of every write: each is refused and nothing changes.
    let vic = server.device("vic@example.com", org.parse().unwrap()).await;
    let seq = format!("SELECT last_seq FROM sync_counters WHERE organization_id = '{org}'");
    let before = server.scalar(&seq).await;
    let writes = [
        json!({"type": "createContact", "args": {"name": "Nope"}}),
        json!({"type": "updateContact", "args": {"id": contact, "changes": {"name": "Nope"}}}),
        json!({"type": "deleteContact", "args": {"id": contact}}),
        json!({"type": "bulkAssignContacts", "args": {"contact_ids": [contact], "assigned_to_id": bob_id}}),
        json!({"type": "createDeal", "args": {"title": "Nope", "value_cents": 1}}),
        json!({"type": "createLoop", "args": {"property_address": "2 Elm", "transaction_type": "PURCHASE_AGREEMENT", "listing_price_cents": 1}}),
        json!({"type": "updateLoop", "args": {"id": loop_id, "changes": {"status": "ACTIVE"}}}),
        json!({"type": "deleteLoop", "args": {"id": loop_id}}),
        json!({"type": "createTask", "args": {"loop_id": loop_id, "title": "Nope"}}),
    ];
    let mutations: Vec<Value> = writes
        .iter()
        .enumerate()
        .map(|(i, m)| json!({"client_seq": i + 1, "mutation": m}))
        .collect();
    let (s, b) = server
        .call(
            Method::POST,
            &format!("/v1/orgs/{org}/sync/push"),
            Some(&vic.token),
            json!({"mutations": mutations}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let results = b["results"].as_array().unwrap();
    assert_eq!(results.len(), writes.len());
    for r in results {
        assert_eq!(r["status"], "rejected", "{r}");
    }
    assert_eq!(server.scalar(&seq).await, before, "nothing changed");
}
