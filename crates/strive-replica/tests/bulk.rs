//! The bulk pull format fills a replica exactly as the NDJSON feed does: same rows, same stored
//! values and types, whatever the column types, paging, deletes and re-creations.

mod support;

use serde_json::{json, Value};
use strive_domain::OrgId;
use strive_replica::pull;
use support::TestServer;

/// Every synced table's rows of `org`, by key, as the owner sees them on the server.
const KEYS: &[(&str, &str, &str)] = &[
    ("organizations", "id", "id"),
    ("organization_members", "user_id", "organization_id"),
    ("subscriptions", "organization_id", "organization_id"),
    ("contacts", "id", "organization_id"),
    ("deals", "id", "organization_id"),
    ("transaction_loops", "id", "organization_id"),
    ("transaction_tasks", "id", "organization_id"),
    ("documents", "id", "organization_id"),
    ("document_versions", "id", "organization_id"),
    ("audit_log", "id", "organization_id"),
    ("conflicts", "id", "organization_id"),
];

#[tokio::test]
async fn bulk_pages_fill_a_replica_exactly_as_ndjson_does() {
    let server = TestServer::start().await;
    server.signup("ann@example.com").await;
    let setup = server.device("ann@example.com", OrgId::new()).await;
    let org_id = server.create_org(&setup.token, "Acme Realty").await;
    for i in 0..30 {
        server
            .create(
                &setup.token,
                &format!("/v1/orgs/{org_id}/contacts"),
                json!({"name": format!("Contact {i}"), "tags": ["lead", format!("t{i}")]}),
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
    // Values at the edges of each type, written as the owner (through the change-feed triggers).
    let o = org_id.0;
    server
        .sql(&format!(
            "INSERT INTO contacts (organization_id, id, name, email, tags, notes, created_by,
                                   next_follow_up_at, last_contact_at, created_at)
             SELECT '{o}', '0190a5d2-7c3e-7000-8000-000000000001', 'Édith \"Piaf\"', NULL,
                    ARRAY['a \"b\"', NULL, 'tab\there', 'ünï', E'ctl\\x01'], E'two\\nlines\\\\',
                    user_id, '2026-11-25 16:23:48.123456+00', '0044-03-15 12:00:00.5+00 BC',
                    'infinity'
               FROM organization_members WHERE organization_id = '{o}';
             INSERT INTO contacts (organization_id, id, name, tags, created_by, created_at)
             SELECT '{o}', '0190a5d2-7c3e-7000-8000-000000000002', 'No tags', '{{}}', user_id,
                    '1999-12-31 23:59:59.999999+00'
               FROM organization_members WHERE organization_id = '{o}';
             INSERT INTO deals (organization_id, id, title, value_cents, probability, created_by,
                                expected_close_date, actual_close_date)
             SELECT '{o}', gen_random_uuid(), 'Old deal', 9223372036854775807, 0, user_id,
                    '0001-12-31 BC', '12345-01-01'
               FROM organization_members WHERE organization_id = '{o}';
             INSERT INTO audit_log (organization_id, id, user_id, action, entity_type, entity_id,
                                    new_values, entity_seq)
             SELECT '{o}', gen_random_uuid(), user_id, 'tested', 'contact', gen_random_uuid(),
                    '{{\"b\": 1, \"a\": [1, 2.5, \"x\", null], \"t\": true, \"s\": \"é\\n\"}}', 7
               FROM organization_members WHERE organization_id = '{o}';
             INSERT INTO conflicts (organization_id, id, device_id, entity_type, entity_id, field,
                                    lost_value, winning_value, winner_user_id)
             SELECT '{o}', gen_random_uuid(), gen_random_uuid(), 'contact', gen_random_uuid(),
                    'name', '\"text\"', '42', user_id
               FROM organization_members WHERE organization_id = '{o}';
             -- A delete, and a row deleted then made again with the same id: its tombstone comes
             -- before it.
             DELETE FROM contacts WHERE organization_id = '{o}' AND name = 'Contact 3';
             DELETE FROM contacts WHERE organization_id = '{o}' AND id = '0190a5d2-7c3e-7000-8000-000000000002';
             INSERT INTO contacts (organization_id, id, name, created_by)
             SELECT '{o}', '0190a5d2-7c3e-7000-8000-000000000002', 'Made again', user_id
               FROM organization_members WHERE organization_id = '{o}';
             UPDATE contacts SET status = 'INACTIVE' WHERE organization_id = '{o}' AND name = 'Contact 7';"
        ))
        .await;

    // Replica A: the NDJSON feed, applied as it comes.
    let mut a = server.device("ann@example.com", org_id).await;
    let text = server
        .http
        .get(format!(
            "{}/v1/orgs/{org_id}/sync/pull?after=0&limit=100000",
            server.base
        ))
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let applied = a
        .replica
        .apply_lines(text.lines().map(|l| l.as_bytes()))
        .unwrap();
    assert_eq!(applied.end.map(|e| e.more), Some(false));

    // Replica B: bulk pages of 7 changes, so tables, tombstones and pages interleave.
    let mut b = server.device("ann@example.com", org_id).await;
    let token = b.token.clone();
    let stats = pull::pull_all_paged(
        &mut b.replica,
        &server.http,
        &server.base,
        &token,
        7,
        |_| {},
    )
    .await
    .unwrap();
    assert!(stats.pages > 5, "{stats:?}");
    assert_eq!(b.replica.last_seq().unwrap(), a.replica.last_seq().unwrap());
    assert_eq!(stats.deletes, 2, "two tombstones: {stats:?}");
    // Replica C: one page, so whole tables go through the many-rows-per-statement path.
    let mut c = server.device("ann@example.com", org_id).await;
    let token_c = c.token.clone();
    let one = pull::pull_all(&mut c.replica, &server.http, &server.base, &token_c, |_| {})
        .await
        .unwrap();
    assert_eq!(one.pages, 1, "{one:?}");
    assert_eq!(c.replica.last_seq().unwrap(), a.replica.last_seq().unwrap());

    for (table, key, org_col) in KEYS {
        let ids = server
            .strings(&format!(
                "SELECT {key}::text FROM {table} WHERE {org_col} = '{o}' ORDER BY 1"
            ))
            .await;
        assert!(
            !ids.is_empty() || table.starts_with("document"),
            "{table} has rows"
        );
        assert_eq!(
            a.replica.count(table).unwrap(),
            ids.len() as i64,
            "{table} in A"
        );
        for (name, other) in [("B", &b.replica), ("C", &c.replica)] {
            assert_eq!(
                other.count(table).unwrap(),
                ids.len() as i64,
                "{table} in {name}"
            );
            for id in &ids {
                let row_a = a.replica.row_json(table, id).unwrap().expect("row in A");
                let row = other.row_json(table, id).unwrap().expect("row in B, C");
                assert_eq!(
                    Value::Object(row_a),
                    Value::Object(row),
                    "{table} {id} in {name}"
                );
            }
        }
    }
    let edge = b
        .replica
        .row_json("contacts", "0190a5d2-7c3e-7000-8000-000000000001")
        .unwrap()
        .unwrap();
    // Instants in canonical form (as the NDJSON path stores them), except those it has no
    // spelling for, which stay as PostgreSQL wrote them.
    assert_eq!(edge["next_follow_up_at"], "2026-11-25T16:23:48.123456Z");
    assert_eq!(edge["last_contact_at"], "0044-03-15T12:00:00.5+00:00 BC");
    assert_eq!(edge["created_at"], "infinity");
    assert_eq!(
        edge["tags"],
        r#"["a \"b\"",null,"tab\there","ünï","ctl\u0001"]"#
    );
    let again = b
        .replica
        .row_json("contacts", "0190a5d2-7c3e-7000-8000-000000000002")
        .unwrap()
        .unwrap();
    assert_eq!(again["name"], "Made again");

    // Nothing new: one empty page; then a change arrives alone.
    let next = pull::pull_all(&mut b.replica, &server.http, &server.base, &token, |_| {})
        .await
        .unwrap();
    assert_eq!((next.upserts, next.deletes, next.pages), (0, 0, 1));
    server
        .sql(&format!(
            "UPDATE contacts SET name = 'Renamed' WHERE organization_id = '{o}' AND name = 'Contact 9'"
        ))
        .await;
    let next = pull::pull_all(&mut b.replica, &server.http, &server.base, &token, |_| {})
        .await
        .unwrap();
    assert_eq!((next.upserts, next.deletes), (1, 0));
}
