mod common;

use common::TestDevice as Device;

// Merge and conflicts (DESIGN "Sync", Merge): updates carry only the fields they change, so
// concurrent edits of different fields both survive; when two devices change the same field the
// last update the server applies wins, and the device whose value was overwritten gets a
// conflict row through the change feed. Every test drives the real server over HTTP (devices
// push and pull) and checks the database as its owner.

use common::{TestApp, TestUser};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use std::str::FromStr;

// ---------------------------------------------------------------------------------------------
// Helpers (the device ones as in sync_feed.rs).

/// One pull: the change lines, then the end line.
struct Pull {
    lines: Vec<Value>,
    end: Value,
}

impl Pull {
    fn last_seq(&self) -> i64 {
        self.end["last_seq"].as_i64().expect("last_seq")
    }
    /// The rows of `table` (inserts and updates, not deletes).
    fn rows(&self, table: &str) -> Vec<&Value> {
        self.lines
            .iter()
            .filter(|l| l["table"] == table && l.get("row").is_some())
            .map(|l| &l["row"])
            .collect()
    }
    /// The sync_seq of row `id` of `table` as this pull delivered it: a device's base_seq.
    fn seq_of(&self, table: &str, id: &str) -> i64 {
        self.lines
            .iter()
            .rev()
            .find(|l| l["table"] == table && l["row"]["id"] == id)
            .unwrap_or_else(|| panic!("{table} {id} in the pull"))["seq"]
            .as_i64()
            .unwrap()
    }
    /// The conflicts addressed to `device` (what a client shows).
    fn conflicts_for(&self, device: &Device) -> Vec<&Value> {
        self.rows("conflicts")
            .into_iter()
            .filter(|c| c["device_id"] == device.id.as_str())
            .collect()
    }
}

/// `GET /sync/pull` (no paging: these organizations are small), parsed.
async fn pull(app: &TestApp, org: &str, token: &str, after: i64) -> Pull {
    let path = format!("/v1/orgs/{org}/sync/pull?after={after}");
    let res = app
        .client
        .get(app.url(&path))
        .bearer_auth(token)
        .send()
        .await
        .expect("pull reaches the server");
    let status = res.status();
    let text = res.text().await.expect("pull body");
    assert_eq!(status, StatusCode::OK, "pull {path}: {text}");
    let mut lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect();
    let end = lines.pop().expect("at least the end line");
    assert_eq!(end["end"], true, "the last line is the end line: {end}");
    assert_eq!(end["more"], false, "one page: {end}");
    Pull { lines, end }
}

fn item(client_seq: i64, mutation: Value) -> Value {
    json!({"client_seq": client_seq, "mutation": mutation})
}

/// `POST /sync/push` that must answer 200; answers its results.
async fn push_ok(app: &TestApp, org: &str, device: &Device, mutations: Vec<Value>) -> Vec<Value> {
    let n = mutations.len();
    let (s, body) = app
        .post(
            &format!("/v1/orgs/{org}/sync/push"),
            &device.user.token,
            json!({ "mutations": mutations }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "push: {body}");
    let results = body["results"].as_array().expect("results").clone();
    assert_eq!(results.len(), n, "one result per mutation: {body}");
    results
}

/// Pushes one mutation that must apply.
async fn push_applied(app: &TestApp, org: &str, device: &Device, client_seq: i64, m: Value) {
    let results = push_ok(app, org, device, vec![item(client_seq, m)]).await;
    assert_eq!(results[0]["status"], "applied", "{}", results[0]);
}

/// An update mutation as a device queues it: the changed fields and the row's seq it saw.
fn update(kind: &str, id: &str, changes: Value, base_seq: Option<i64>) -> Value {
    let mut args = json!({ "id": id, "changes": changes });
    if let Some(b) = base_seq {
        args["base_seq"] = json!(b);
    }
    json!({ "type": kind, "args": args })
}

fn update_contact(id: &str, changes: Value, base_seq: i64) -> Value {
    update("updateContact", id, changes, Some(base_seq))
}

/// `{field: value}`.
fn one_field(field: &str, value: &Value) -> Value {
    let mut changes = serde_json::Map::new();
    changes.insert(field.to_string(), value.clone());
    Value::Object(changes)
}

async fn create_contact(app: &TestApp, org: &str, token: &str, name: &str) -> String {
    let (s, c) = app
        .post(
            &format!("/v1/orgs/{org}/contacts"),
            token,
            json!({ "name": name }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "create contact: {c}");
    c["id"].as_str().unwrap().to_string()
}

async fn contact(app: &TestApp, org: &str, token: &str, id: &str) -> Value {
    let (s, c) = app
        .get(&format!("/v1/orgs/{org}/contacts/{id}"), token)
        .await;
    assert_eq!(s, StatusCode::OK, "get contact: {c}");
    c
}

/// Every conflict row of `org` in feed order, as the owner sees it (without sync_seq).
async fn conflicts(app: &TestApp, org: &str) -> Vec<Value> {
    let text = app
        .scalar_text(&format!(
            "SELECT coalesce(jsonb_agg(to_jsonb(c) - 'sync_seq' ORDER BY c.sync_seq), '[]')::text
               FROM conflicts c WHERE organization_id = '{org}'"
        ))
        .await
        .unwrap();
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// An organization where Ann (owner, on her phone) and Bob (member, on his laptop) have both
/// pulled one contact: `base` is its seq as they saw it.
struct Scene {
    app: TestApp,
    org: String,
    ann: TestUser,
    bob: TestUser,
    phone: Device,
    laptop: Device,
    contact: String,
    base: i64,
    /// Where each device's pull stopped.
    phone_at: i64,
    laptop_at: i64,
}

async fn scene() -> Scene {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    let bob = app.user("bob@example.com").await;
    let org = app.org(&ann, "Acme Realty").await;
    app.add(&org, &ann, &bob, "MEMBER").await;
    let contact = create_contact(&app, &org, &ann.token, "Carl Client").await;
    let phone = app.device_login("ann@example.com", "phone").await;
    let laptop = app.device_login("bob@example.com", "laptop").await;
    let on_phone = pull(&app, &org, &phone.user.token, 0).await;
    let on_laptop = pull(&app, &org, &laptop.user.token, 0).await;
    let base = on_phone.seq_of("contacts", &contact);
    assert_eq!(base, on_laptop.seq_of("contacts", &contact));
    Scene {
        phone_at: on_phone.last_seq(),
        laptop_at: on_laptop.last_seq(),
        app,
        org,
        ann,
        bob,
        phone,
        laptop,
        contact,
        base,
    }
}

// ---------------------------------------------------------------------------------------------
// (a) The same field on two devices: the last applied wins, the other device is told.

#[tokio::test]
async fn same_field_on_two_devices_last_wins_and_the_loser_gets_a_conflict() {
    let s = scene().await;
    let (app, org) = (&s.app, s.org.as_str());
    push_applied(
        app,
        org,
        &s.phone,
        1,
        update_contact(&s.contact, json!({"name": "Carla Phone"}), s.base),
    )
    .await;
    assert!(conflicts(app, org).await.is_empty(), "no conflict yet");
    push_applied(
        app,
        org,
        &s.laptop,
        1,
        update_contact(&s.contact, json!({"name": "Carla Laptop"}), s.base),
    )
    .await;

    // The last applied wins.
    let c = contact(app, org, &s.ann.token, &s.contact).await;
    assert_eq!(c["name"], "Carla Laptop", "{c}");

    // One conflict, addressed to the phone, saying what it lost to whom.
    let all = conflicts(app, org).await;
    assert_eq!(all.len(), 1, "{all:?}");
    let k = &all[0];
    assert_eq!(k["organization_id"], org, "{k}");
    assert_eq!(k["device_id"], s.phone.id.as_str(), "{k}");
    assert_eq!(k["user_id"], s.ann.id.as_str(), "{k}");
    assert_eq!(k["entity_type"], "contact", "{k}");
    assert_eq!(k["entity_id"], s.contact.as_str(), "{k}");
    assert_eq!(k["field"], "name", "{k}");
    assert_eq!(k["lost_value"], "Carla Phone", "{k}");
    assert_eq!(k["winning_value"], "Carla Laptop", "{k}");
    assert_eq!(k["winner_user_id"], s.bob.id.as_str(), "{k}");
    assert_eq!(k["winner_device_id"], s.laptop.id.as_str(), "{k}");
    assert!(k["created_at"].is_string(), "{k}");
    assert!(k["id"].is_string(), "{k}");

    // The phone's next pull brings it, exactly as stored.
    let on_phone = pull(app, org, &s.phone.user.token, s.phone_at).await;
    let mine = on_phone.conflicts_for(&s.phone);
    assert_eq!(mine, vec![k], "the phone's conflict line");
    assert_eq!(
        on_phone.rows("contacts").last().unwrap()["name"],
        "Carla Laptop",
        "with the winning row"
    );
    // The laptop, whose edit won, has none (it receives the phone's row, addressed elsewhere).
    let on_laptop = pull(app, org, &s.laptop.user.token, s.laptop_at).await;
    assert!(on_laptop.conflicts_for(&s.laptop).is_empty());
    assert_eq!(on_laptop.rows("conflicts").len(), 1);
    // No audit row records the conflict itself.
    let audit = app
        .scalar_i64(&format!(
            "SELECT count(*) FROM audit_log WHERE organization_id = '{org}'
                AND (entity_type = 'conflict' OR action ILIKE '%conflict%')"
        ))
        .await;
    assert_eq!(audit, 0);
    // The audit rows name the devices that wrote.
    let devices = app
        .scalar_text(&format!(
            "SELECT string_agg(coalesce(device_id::text, '-'), ',' ORDER BY sync_seq)
               FROM audit_log WHERE organization_id = '{org}' AND entity_id = '{}'",
            s.contact
        ))
        .await
        .unwrap();
    assert_eq!(devices, format!("-,{},{}", s.phone.id, s.laptop.id));
}

// Deals, loops and tasks too; here one person on two devices.
#[tokio::test]
async fn deals_loops_and_tasks_report_conflicts_too() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    let org = app.org(&ann, "Acme Realty").await;
    let (s, deal) = app
        .post(
            &format!("/v1/orgs/{org}/deals"),
            &ann.token,
            json!({"title": "Elm Street sale", "value_cents": 45_000_000}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{deal}");
    let deal = deal["id"].as_str().unwrap().to_string();
    let (s, lp) = app
        .post(
            &format!("/v1/orgs/{org}/loops"),
            &ann.token,
            json!({"property_address": "12 Main Street", "transaction_type": "PURCHASE_AGREEMENT",
                   "listing_price_cents": 50_000_000}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{lp}");
    let lp_id = lp["id"].as_str().unwrap().to_string();
    let task = lp["tasks"][0]["id"].as_str().unwrap().to_string();

    let phone = app.device_login("ann@example.com", "phone").await;
    let laptop = app.device_login("ann@example.com", "laptop").await;
    let seen = pull(&app, &org, &phone.user.token, 0).await;
    let cases = [
        (
            "updateDeal",
            "deals",
            "deal",
            deal.as_str(),
            "value_cents",
            json!(46_000_000),
            json!(47_000_000),
        ),
        (
            "updateLoop",
            "transaction_loops",
            "loop",
            lp_id.as_str(),
            "status",
            json!("ACTIVE"),
            json!("UNDER_CONTRACT"),
        ),
        (
            "updateTask",
            "transaction_tasks",
            "transaction_task",
            task.as_str(),
            "title",
            json!("Order the appraisal"),
            json!("Order the inspection"),
        ),
    ];
    let mut client_seq = 0;
    for (kind, table, entity_type, id, field, phone_value, laptop_value) in cases {
        let base = seen.seq_of(table, id);
        client_seq += 1;
        push_applied(
            &app,
            &org,
            &phone,
            client_seq,
            update(kind, id, one_field(field, &phone_value), Some(base)),
        )
        .await;
        push_applied(
            &app,
            &org,
            &laptop,
            client_seq,
            update(kind, id, one_field(field, &laptop_value), Some(base)),
        )
        .await;
        let stored = app
            .scalar_text(&format!(
                "SELECT to_jsonb(x) ->> '{field}' FROM {table} x WHERE id = '{id}'"
            ))
            .await
            .unwrap();
        let expected = match &laptop_value {
            Value::String(v) => v.clone(),
            v => v.to_string(),
        };
        assert_eq!(stored, expected, "{kind}: the laptop's value won");
        let all = conflicts(&app, &org).await;
        let k = all
            .iter()
            .find(|k| k["entity_id"] == id)
            .unwrap_or_else(|| panic!("{kind}: a conflict in {all:?}"));
        assert_eq!(k["entity_type"], entity_type, "{k}");
        assert_eq!(k["field"], field, "{k}");
        assert_eq!(k["device_id"], phone.id.as_str(), "{k}");
        assert_eq!(k["user_id"], ann.id.as_str(), "{k}");
        assert_eq!(k["lost_value"], phone_value, "{k}");
        assert_eq!(k["winning_value"], laptop_value, "{k}");
        assert_eq!(k["winner_user_id"], ann.id.as_str(), "{k}");
        assert_eq!(k["winner_device_id"], laptop.id.as_str(), "{k}");
    }
    assert_eq!(conflicts(&app, &org).await.len(), 3);
    let on_phone = pull(&app, &org, &phone.user.token, seen.last_seq()).await;
    assert_eq!(on_phone.conflicts_for(&phone).len(), 3);
    assert!(on_phone.conflicts_for(&laptop).is_empty());
}

// ---------------------------------------------------------------------------------------------
// (b) Different fields: both survive, nobody is told anything.

#[tokio::test]
async fn concurrent_edits_of_different_fields_both_survive_without_conflict() {
    let s = scene().await;
    let (app, org) = (&s.app, s.org.as_str());
    push_applied(
        app,
        org,
        &s.phone,
        1,
        update_contact(&s.contact, json!({"phone": "555-0100"}), s.base),
    )
    .await;
    push_applied(
        app,
        org,
        &s.laptop,
        1,
        update_contact(&s.contact, json!({"company": "Acme Builders"}), s.base),
    )
    .await;
    let c = contact(app, org, &s.ann.token, &s.contact).await;
    assert_eq!(c["phone"], "555-0100", "{c}");
    assert_eq!(c["company"], "Acme Builders", "{c}");
    assert_eq!(c["name"], "Carl Client", "{c}");
    assert!(conflicts(app, org).await.is_empty());
    let on_phone = pull(app, org, &s.phone.user.token, s.phone_at).await;
    assert!(on_phone.rows("conflicts").is_empty());
}

// ---------------------------------------------------------------------------------------------
// (c) Sequential edits: a device that saw the other write overwrites it knowingly.

#[tokio::test]
async fn an_edit_made_after_pulling_the_other_write_is_no_conflict() {
    let s = scene().await;
    let (app, org) = (&s.app, s.org.as_str());
    push_applied(
        app,
        org,
        &s.phone,
        1,
        update_contact(&s.contact, json!({"name": "Carla Phone"}), s.base),
    )
    .await;
    // The laptop pulls the phone's change, then edits the same field.
    let on_laptop = pull(app, org, &s.laptop.user.token, s.laptop_at).await;
    let seen = on_laptop.seq_of("contacts", &s.contact);
    assert!(seen > s.base);
    push_applied(
        app,
        org,
        &s.laptop,
        1,
        update_contact(&s.contact, json!({"name": "Carla Laptop"}), seen),
    )
    .await;
    assert_eq!(
        contact(app, org, &s.ann.token, &s.contact).await["name"],
        "Carla Laptop"
    );
    assert!(conflicts(app, org).await.is_empty());

    // Again, but the row moved on (another field) between the laptop's pull and its edit: the
    // name write the laptop saw is still no conflict, although the audit row of that write is
    // numbered after the row version the laptop holds.
    let on_laptop = pull(app, org, &s.laptop.user.token, on_laptop.last_seq()).await;
    let seen = on_laptop.seq_of("contacts", &s.contact);
    push_applied(
        app,
        org,
        &s.phone,
        2,
        update_contact(&s.contact, json!({"name": "Carla Phone Again"}), seen),
    )
    .await;
    let on_laptop = pull(app, org, &s.laptop.user.token, on_laptop.last_seq()).await;
    let seen_name = on_laptop.seq_of("contacts", &s.contact);
    push_applied(
        app,
        org,
        &s.phone,
        3,
        update_contact(&s.contact, json!({"phone": "555-0100"}), seen_name),
    )
    .await;
    push_applied(
        app,
        org,
        &s.laptop,
        2,
        update_contact(&s.contact, json!({"name": "Carla Laptop Again"}), seen_name),
    )
    .await;
    let c = contact(app, org, &s.ann.token, &s.contact).await;
    assert_eq!(c["name"], "Carla Laptop Again", "{c}");
    assert_eq!(c["phone"], "555-0100", "{c}");
    assert!(conflicts(app, org).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// (d) The same value from both: nothing was lost.

#[tokio::test]
async fn the_same_value_from_both_devices_is_no_conflict() {
    let s = scene().await;
    let (app, org) = (&s.app, s.org.as_str());
    for (device, n) in [(&s.phone, 1), (&s.laptop, 1)] {
        push_applied(
            app,
            org,
            device,
            n,
            update_contact(
                &s.contact,
                json!({"name": "Carla Same", "tags": ["vip", "buyer"]}),
                s.base,
            ),
        )
        .await;
    }
    assert!(conflicts(app, org).await.is_empty());
    // A differing field among equal ones is reported alone.
    push_applied(
        app,
        org,
        &s.phone,
        2,
        update_contact(
            &s.contact,
            json!({"name": "Carla Other", "tags": ["vip", "buyer"]}),
            s.base,
        ),
    )
    .await;
    let all = conflicts(app, org).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["field"], "name");
    assert_eq!(all[0]["device_id"], s.laptop.id.as_str());
    assert_eq!(all[0]["lost_value"], "Carla Same");
    assert_eq!(all[0]["winning_value"], "Carla Other");
}

// ---------------------------------------------------------------------------------------------
// (e) A replayed push answers what it answered and records no second conflict.

#[tokio::test]
async fn a_replayed_push_records_no_second_conflict() {
    let s = scene().await;
    let (app, org) = (&s.app, s.org.as_str());
    push_applied(
        app,
        org,
        &s.phone,
        1,
        update_contact(&s.contact, json!({"name": "Carla Phone"}), s.base),
    )
    .await;
    let batch = vec![item(
        1,
        update_contact(&s.contact, json!({"name": "Carla Laptop"}), s.base),
    )];
    let first = push_ok(app, org, &s.laptop, batch.clone()).await;
    assert_eq!(first[0]["status"], "applied", "{}", first[0]);
    assert_eq!(conflicts(app, org).await.len(), 1);
    for _ in 0..2 {
        let again = push_ok(app, org, &s.laptop, batch.clone()).await;
        assert_eq!(again, first, "a replay answers the same");
    }
    assert_eq!(conflicts(app, org).await.len(), 1, "still one conflict");
}

// A value already overwritten is reported once, to the device that lost it; one person on two
// devices is two devices.
#[tokio::test]
async fn an_overwritten_value_is_reported_once_to_the_device_that_lost_it() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    let org = app.org(&ann, "Acme Realty").await;
    let id = create_contact(&app, &org, &ann.token, "Carl Client").await;
    let phone = app.device_login("ann@example.com", "phone").await;
    let laptop = app.device_login("ann@example.com", "laptop").await;
    let base = pull(&app, &org, &phone.user.token, 0)
        .await
        .seq_of("contacts", &id);

    push_applied(
        &app,
        &org,
        &phone,
        1,
        update_contact(&id, json!({"name": "From Phone"}), base),
    )
    .await;
    // The laptop was offline and queued two edits of the name, both on the row it last saw.
    let results = push_ok(
        &app,
        &org,
        &laptop,
        vec![
            item(
                1,
                update_contact(&id, json!({"name": "Laptop First"}), base),
            ),
            item(
                2,
                update_contact(&id, json!({"name": "Laptop Second"}), base),
            ),
        ],
    )
    .await;
    assert!(
        results.iter().all(|r| r["status"] == "applied"),
        "{results:?}"
    );
    let all = conflicts(&app, &org).await;
    assert_eq!(all.len(), 1, "the phone's value was lost once: {all:?}");
    assert_eq!(all[0]["device_id"], phone.id.as_str());
    assert_eq!(all[0]["lost_value"], "From Phone");
    assert_eq!(all[0]["winning_value"], "Laptop First");
    assert_eq!(all[0]["user_id"], ann.id.as_str());
    assert_eq!(all[0]["winner_user_id"], ann.id.as_str());

    // The phone, still on the old row, edits the name again: now the laptop's value is lost.
    push_applied(
        &app,
        &org,
        &phone,
        2,
        update_contact(&id, json!({"name": "Phone Again"}), base),
    )
    .await;
    let all = conflicts(&app, &org).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[1]["device_id"], laptop.id.as_str());
    assert_eq!(all[1]["lost_value"], "Laptop Second");
    assert_eq!(all[1]["winning_value"], "Phone Again");
    assert_eq!(all[1]["winner_device_id"], phone.id.as_str());
    assert_eq!(
        contact(&app, &org, &ann.token, &id).await["name"],
        "Phone Again"
    );
}

// ---------------------------------------------------------------------------------------------
// (f) REST writes detect nothing and, having no device, are told nothing.

#[tokio::test]
async fn rest_updates_never_create_conflicts() {
    let s = scene().await;
    let (app, org) = (&s.app, s.org.as_str());
    push_applied(
        app,
        org,
        &s.phone,
        1,
        update_contact(&s.contact, json!({"name": "Carla Phone"}), s.base),
    )
    .await;
    // REST overwrites the phone's value: no base_seq, no detection.
    let path = format!("/v1/orgs/{org}/contacts/{}", s.contact);
    let (st, b) = app
        .patch(&path, &s.bob.token, json!({"name": "Carla Web"}))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert!(conflicts(app, org).await.is_empty());
    // A device overwriting a REST write: nobody to tell.
    push_applied(
        app,
        org,
        &s.laptop,
        1,
        update_contact(&s.contact, json!({"name": "Carla Laptop"}), s.base),
    )
    .await;
    assert!(conflicts(app, org).await.is_empty());
    // REST after a device write, on the same field, any number of times: still none.
    for name in ["Carla Web Two", "Carla Web Three"] {
        let (st, b) = app.patch(&path, &s.ann.token, json!({"name": name})).await;
        assert_eq!(st, StatusCode::OK, "{b}");
    }
    assert!(conflicts(app, org).await.is_empty());
    assert_eq!(
        contact(app, org, &s.ann.token, &s.contact).await["name"],
        "Carla Web Three"
    );
    // REST audit rows carry no device.
    let rest_rows = app
        .scalar_i64(&format!(
            "SELECT count(*) FROM audit_log WHERE entity_id = '{}' AND device_id IS NULL",
            s.contact
        ))
        .await;
    assert_eq!(rest_rows, 4, "the create and three REST updates");
}

// ---------------------------------------------------------------------------------------------
// (g) Conflicts are tenant rows: another organization never sees them.

#[tokio::test]
async fn conflicts_of_one_organization_are_invisible_to_another() {
    let s = scene().await;
    let (app, org) = (&s.app, s.org.as_str());
    push_applied(
        app,
        org,
        &s.phone,
        1,
        update_contact(&s.contact, json!({"name": "Carla Phone"}), s.base),
    )
    .await;
    push_applied(
        app,
        org,
        &s.laptop,
        1,
        update_contact(&s.contact, json!({"name": "Carla Laptop"}), s.base),
    )
    .await;
    assert_eq!(conflicts(app, org).await.len(), 1);

    // Carol's organization: her own contact and device; her pull has no conflict lines.
    let carol = app.user("carol@example.com").await;
    let other = app.org(&carol, "Other Realty").await;
    create_contact(app, &other, &carol.token, "Carol's Client").await;
    let tablet = app.device_login("carol@example.com", "tablet").await;
    let theirs = pull(app, &other, &tablet.user.token, 0).await;
    assert!(!theirs.rows("contacts").is_empty());
    assert!(theirs.rows("conflicts").is_empty(), "{:?}", theirs.lines);
    assert!(!format!("{:?}", theirs.lines).contains(&s.contact));
    // ...and Ann's organization does not exist to her.
    let (st, b) = app
        .get(
            &format!("/v1/orgs/{org}/sync/pull?after=0"),
            &tablet.user.token,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{b}");

    // Row-level security on its own, as the service role.
    let opts = PgConnectOptions::from_str(&app.admin_url)
        .unwrap()
        .username("strive_app");
    let mut conn = PgConnection::connect_with(&opts).await.unwrap();
    assert_eq!(visible(&mut conn, Some(org)).await, 1);
    assert_eq!(visible(&mut conn, Some(&other)).await, 0);
    assert_eq!(visible(&mut conn, None).await, 0);
    // Nor can the other organization's context write one into Ann's.
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.org_id', $1, true)")
        .bind(&other)
        .execute(&mut *tx)
        .await
        .unwrap();
    let err = sqlx::query(
        "INSERT INTO conflicts (organization_id, id, device_id, entity_type, entity_id, field,
                                lost_value, winning_value, winner_user_id)
         VALUES ($1::uuid, gen_random_uuid(), gen_random_uuid(), 'contact', gen_random_uuid(),
                 'name', '1', '2', $2::uuid)",
    )
    .bind(org)
    .bind(&carol.id)
    .execute(&mut *tx)
    .await
    .expect_err("RLS refuses a conflict of another organization");
    assert_eq!(
        err.as_database_error().and_then(|d| d.code()).as_deref(),
        Some("42501"),
        "{err}"
    );
    tx.rollback().await.unwrap();
    assert_eq!(conflicts(app, org).await.len(), 1);
}

/// How many conflict rows the service role sees with `org` (or nothing) as its tenant context.
async fn visible(conn: &mut PgConnection, org: Option<&str>) -> i64 {
    let mut tx = conn.begin().await.unwrap();
    if let Some(o) = org {
        sqlx::query("SELECT set_config('app.org_id', $1, true)")
            .bind(o)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM conflicts")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    n
}

// ---------------------------------------------------------------------------------------------
// Racing pushes: whichever applies last wins, and the other is told exactly once.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_pushes_of_one_field_leave_exactly_one_conflict_for_the_loser() {
    const ROUNDS: i64 = 8;
    let s = scene().await;
    let (app, org) = (&s.app, s.org.as_str());
    let mut at = s.phone_at;
    let mut base = s.base;
    for round in 1..=ROUNDS {
        let (a, b) = (
            format!("Phone Round {round}"),
            format!("Laptop Round {round}"),
        );
        let (ra, rb) = tokio::join!(
            push_ok(
                app,
                org,
                &s.phone,
                vec![item(
                    round,
                    update_contact(&s.contact, json!({ "name": a }), base)
                )]
            ),
            push_ok(
                app,
                org,
                &s.laptop,
                vec![item(
                    round,
                    update_contact(&s.contact, json!({ "name": b }), base)
                )]
            ),
        );
        assert_eq!(ra[0]["status"], "applied", "{ra:?}");
        assert_eq!(rb[0]["status"], "applied", "{rb:?}");
        let winner = contact(app, org, &s.ann.token, &s.contact).await["name"]
            .as_str()
            .unwrap()
            .to_string();
        let (loser_device, lost) = if winner == a {
            (&s.laptop, &b)
        } else {
            assert_eq!(winner, b);
            (&s.phone, &a)
        };
        let all = conflicts(app, org).await;
        assert_eq!(all.len() as i64, round, "one conflict per round: {all:?}");
        let k = all.last().unwrap();
        assert_eq!(k["device_id"], loser_device.id.as_str(), "{k}");
        assert_eq!(k["lost_value"], lost.as_str(), "{k}");
        assert_eq!(k["winning_value"], winner.as_str(), "{k}");
        // Both devices catch up before the next round.
        let p = pull(app, org, &s.phone.user.token, at).await;
        at = p.last_seq();
        base = p.seq_of("contacts", &s.contact);
    }
}

// Updates pushed together, in one group, keep the per-update rule: each row's stale fields are
// checked against what its device had seen.
#[tokio::test]
async fn based_updates_pushed_together_report_each_overwritten_field_once() {
    let s = scene().await;
    let (app, org) = (&s.app, s.org.as_str());
    let second = create_contact(app, org, &s.ann.token, "Dora Client").await;
    let third = create_contact(app, org, &s.ann.token, "Eve Client").await;
    let seen = pull(app, org, &s.laptop.user.token, 0).await;
    let (base2, base3) = (
        seen.seq_of("contacts", &second),
        seen.seq_of("contacts", &third),
    );
    // The phone changes the first contact's company and the third's name.
    push_applied(
        app,
        org,
        &s.phone,
        1,
        update_contact(&s.contact, json!({"company": "Phone Co"}), s.base),
    )
    .await;
    push_applied(
        app,
        org,
        &s.phone,
        2,
        update_contact(&third, json!({"name": "Eve Phone"}), base3),
    )
    .await;
    // The laptop, which saw none of that, changes the company of all three in one push.
    let results = push_ok(
        app,
        org,
        &s.laptop,
        vec![
            item(
                1,
                update_contact(&s.contact, json!({"company": "Laptop Co"}), s.base),
            ),
            item(
                2,
                update_contact(&second, json!({"company": "Laptop Co"}), base2),
            ),
            item(
                3,
                update_contact(&third, json!({"company": "Laptop Co"}), base3),
            ),
        ],
    )
    .await;
    for r in &results {
        assert_eq!(r["status"], "applied", "{r}");
        assert_eq!(r["result"]["company"], "Laptop Co", "{r}");
    }
    // Only the first contact's company was overwritten; the third's name was not touched.
    let all = conflicts(app, org).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["entity_id"], s.contact.as_str());
    assert_eq!(all[0]["device_id"], s.phone.id.as_str());
    assert_eq!(all[0]["field"], "company");
    assert_eq!(all[0]["lost_value"], "Phone Co");
    assert_eq!(all[0]["winning_value"], "Laptop Co");
    let third_now = contact(app, org, &s.ann.token, &third).await;
    assert_eq!(third_now["name"], "Eve Phone", "{third_now}");
    assert_eq!(third_now["company"], "Laptop Co", "{third_now}");
}
