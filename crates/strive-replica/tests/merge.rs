//! Merging on devices: edits of different fields both survive; the same field ends at the last
//! edit the server applied, and the device whose edit was overwritten lists a conflict.

mod support;

use serde_json::json;
use strive_domain::mutations::contacts::{ContactChanges, CreateContact};
use strive_domain::mutations::{Mutation, Update};
use strive_domain::{ContactId, OrgId};
use support::TestServer;

fn edit(id: ContactId, changes: ContactChanges) -> Mutation {
    Mutation::UpdateContact(Update {
        id,
        changes,
        base_seq: None,
    })
}

#[tokio::test]
async fn concurrent_edits_merge_by_field_and_the_loser_sees_a_conflict() {
    let server = TestServer::start().await;
    server.signup("ann@example.com").await;
    server.signup("bob@example.com").await;
    let setup = server.device("ann@example.com", OrgId::new()).await;
    let (s, org) = server
        .call(
            reqwest::Method::POST,
            "/v1/orgs",
            Some(&setup.token),
            json!({"name": "Acme Realty"}),
        )
        .await;
    assert_eq!(s, 201, "{org}");
    let org: OrgId = org["id"].as_str().unwrap().parse().unwrap();
    server
        .call(
            reqwest::Method::POST,
            &format!("/v1/orgs/{org}/members"),
            Some(&setup.token),
            json!({"email": "bob@example.com", "role": "MEMBER"}),
        )
        .await;
    let mut a = server.device("ann@example.com", org).await;
    let mut b = server.device("bob@example.com", org).await;
    let carol = ContactId::new();
    a.replica
        .mutate(Mutation::CreateContact(CreateContact {
            id: Some(carol),
            name: "Carol Client".into(),
            ..Default::default()
        }))
        .unwrap();
    a.sync(&server).await;
    b.sync(&server).await;

    // Both devices offline: A edits company and phone, B edits company and notes.
    a.replica
        .mutate(edit(
            carol,
            ContactChanges {
                company: Some(Some("A Holdings".into())),
                phone: Some(Some("+1 555 0100".into())),
                ..Default::default()
            },
        ))
        .unwrap();
    b.replica
        .mutate(edit(
            carol,
            ContactChanges {
                company: Some(Some("B Partners".into())),
                notes: Some(Some("Prefers email".into())),
                ..Default::default()
            },
        ))
        .unwrap();
    // A reaches the server first, then B: B's company is applied last and wins.
    a.sync(&server).await;
    b.sync(&server).await;
    a.sync(&server).await;

    let (_, row) = server
        .call(
            reqwest::Method::GET,
            &format!("/v1/orgs/{org}/contacts/{carol}"),
            Some(&b.token),
            serde_json::Value::Null,
        )
        .await;
    assert_eq!(row["company"], "B Partners", "{row}");
    assert_eq!(row["phone"], "+1 555 0100", "A's other field survives");
    assert_eq!(row["notes"], "Prefers email", "B's other field survives");
    for d in [&a, &b] {
        let local = d.replica.row_json("contacts", &carol.to_string()).unwrap();
        assert_eq!(local.unwrap()["company"], "B Partners", "replicas converge");
    }

    let lost = a.replica.conflicts().unwrap();
    assert_eq!(lost.len(), 1, "{lost:?}");
    let c = &lost[0];
    assert_eq!(
        (c.entity_type.as_str(), c.entity_id.as_str()),
        ("contact", carol.to_string().as_str())
    );
    assert_eq!(c.entity_label.as_deref(), Some("Carol Client"));
    assert_eq!(c.field, "company");
    assert_eq!(c.lost_value.as_deref(), Some("A Holdings"));
    assert_eq!(c.winning_value.as_deref(), Some("B Partners"));
    assert_eq!(c.winner_user_id, b.user.to_string());
    assert!(
        b.replica.conflicts().unwrap().is_empty(),
        "B won, B lost nothing"
    );
    assert_eq!(a.replica.status().unwrap().conflicts, 1);

    // A edit made after A has seen B's value is not a conflict for anyone.
    b.replica
        .mutate(edit(
            carol,
            ContactChanges {
                company: Some(Some("B Partners LLC".into())),
                ..Default::default()
            },
        ))
        .unwrap();
    b.sync(&server).await;
    a.sync(&server).await;
    assert_eq!(a.replica.conflicts().unwrap().len(), 1);
    assert!(b.replica.conflicts().unwrap().is_empty());
}
