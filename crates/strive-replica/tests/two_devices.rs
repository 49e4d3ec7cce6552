//! Two devices, one server: offline work syncs both ways, loops arrive whole, a change the server
//! refuses is rolled back on the device with its reason.

mod support;

use serde_json::json;
use strive_domain::mutations::contacts::{ContactChanges, CreateContact};
use strive_domain::mutations::loops::CreateLoop;
use strive_domain::mutations::{Delete, Mutation, Update};
use strive_domain::rules::default_task_ids;
use strive_domain::{ContactId, LoopId, OrgId, TransactionType};
use support::TestServer;

fn contact(id: ContactId, name: &str) -> Mutation {
    Mutation::CreateContact(CreateContact {
        id: Some(id),
        name: name.into(),
        ..Default::default()
    })
}

#[tokio::test]
async fn offline_work_reaches_the_other_device_and_refusals_roll_back() {
    let server = TestServer::start().await;
    server.signup("ann@example.com").await;
    server.signup("bob@example.com").await;
    // Ann creates the organization and adds Bob, online, through the API.
    let mut ann_setup = server.device("ann@example.com", OrgId::new()).await;
    let (s, org) = server
        .call(
            reqwest::Method::POST,
            "/v1/orgs",
            Some(&ann_setup.token),
            json!({"name": "Acme Realty"}),
        )
        .await;
    assert_eq!(s, 201, "{org}");
    let org: OrgId = org["id"].as_str().unwrap().parse().unwrap();
    let (s, _) = server
        .call(
            reqwest::Method::POST,
            &format!("/v1/orgs/{org}/members"),
            Some(&ann_setup.token),
            json!({"email": "bob@example.com", "role": "MEMBER"}),
        )
        .await;
    assert_eq!(s, 201);
    ann_setup.token.clear();
    // Deleting contacts takes a platform role above USER (docs/permissions.md).
    server
        .sql("UPDATE users SET role = 'MODERATOR' WHERE email = 'ann@example.com'")
        .await;

    let mut a = server.device("ann@example.com", org).await;
    let mut b = server.device("bob@example.com", org).await;
    a.sync(&server).await;
    b.sync(&server).await;
    assert_eq!(a.replica.count("organization_members").unwrap(), 2);

    // Device A works offline: nothing here touches the network.
    let (keep, gone) = (ContactId::new(), ContactId::new());
    let l = LoopId::new();
    a.replica.mutate(contact(keep, "Carol Client")).unwrap();
    a.replica.mutate(contact(gone, "Dan Dropped")).unwrap();
    a.replica
        .mutate(Mutation::UpdateContact(Update {
            id: keep,
            base_seq: None,
            changes: ContactChanges {
                company: Some(Some("Elm Holdings".into())),
                ..Default::default()
            },
        }))
        .unwrap();
    a.replica
        .mutate(Mutation::DeleteContact(Delete { id: gone }))
        .unwrap();
    a.replica
        .mutate(Mutation::CreateLoop(CreateLoop {
            id: Some(l),
            property_address: "12 Elm Street".into(),
            transaction_type: TransactionType::PurchaseAgreement,
            listing_price_cents: 45_000_000,
            expected_closing: None,
        }))
        .unwrap();
    a.replica
        .mutate(Mutation::CompleteTask(Delete {
            id: default_task_ids(l)[0],
        }))
        .unwrap();
    assert_eq!(a.replica.pending().unwrap(), 6);
    assert_eq!(
        a.replica.count("contacts").unwrap(),
        1,
        "the UI sees offline work at once"
    );
    assert_eq!(a.replica.count("transaction_tasks").unwrap(), 4);
    assert_eq!(
        server.scalar("SELECT count(*) FROM contacts").await,
        0,
        "nothing reached the server yet"
    );

    // Back online.
    let (pushed, _) = a.sync(&server).await;
    assert_eq!((pushed.applied, pushed.rejected), (6, 0));
    assert_eq!(a.replica.pending().unwrap(), 0);
    assert_eq!(server.scalar("SELECT count(*) FROM contacts").await, 1);
    assert_eq!(
        server
            .scalar(&format!(
                "SELECT progress::bigint FROM transaction_loops WHERE id = '{l}'"
            ))
            .await,
        25
    );

    b.sync(&server).await;
    assert_eq!(b.replica.count("contacts").unwrap(), 1);
    assert_eq!(b.replica.count("transaction_loops").unwrap(), 1);
    assert_eq!(
        b.replica.count("transaction_tasks").unwrap(),
        4,
        "the loop arrives with its four tasks"
    );
    assert!(
        b.replica.count("audit_log").unwrap() >= 6,
        "the activity feed arrives too"
    );

    // Bob is demoted to VIEWER on the server while his device still believes he is a MEMBER.
    server
        .sql(&format!(
            "UPDATE organization_members SET role = 'VIEWER' WHERE user_id = '{}'",
            b.user
        ))
        .await;
    let refused = ContactId::new();
    b.replica.mutate(contact(refused, "Never Saved")).unwrap();
    assert_eq!(
        b.replica.count("contacts").unwrap(),
        2,
        "optimistic local write"
    );
    let (pushed, _) = b.sync(&server).await;
    assert_eq!((pushed.applied, pushed.rejected), (0, 1));
    assert_eq!(
        b.replica.count("contacts").unwrap(),
        1,
        "the refused contact is rolled back"
    );
    let rejections = b.replica.rejections().unwrap();
    assert_eq!(rejections.len(), 1);
    assert_eq!(rejections[0].mutation, "createContact");
    assert_eq!(rejections[0].code, "forbidden_org_role");
    assert!(
        rejections[0].message.contains("VIEWER"),
        "{}",
        rejections[0].message
    );
    // And now the device knows the role: the next attempt is refused locally.
    assert!(b
        .replica
        .mutate(contact(ContactId::new(), "Also Refused"))
        .is_err());
}
