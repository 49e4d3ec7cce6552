//! Online moves, in process: everything arrives with its feed numbers, the pause answers a
//! retryable "moving", and a move that fails at any step leaves the organization where it was.

use crate::common::{TestApp, TestDevice};
use crate::support::{dump, pull, Two};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strive_server::moving::{self, MoveError, MoveOptions, Phase};

async fn push(app: &TestApp, org: &str, dev: &TestDevice, items: Value) -> (StatusCode, Value) {
    app.post(
        &format!("/v1/orgs/{org}/sync/push"),
        &dev.user.token,
        json!({ "mutations": items }),
    )
    .await
}

fn create(name: &str) -> Value {
    json!({"type": "createContact", "args": {"name": name}})
}

/// An organization with a bit of everything: contacts (one deleted), a deal, a loop with its
/// tasks (one done), two devices' pushes (one overwriting the other: a conflict) and pulls.
async fn busy_org(app: &TestApp) -> (String, TestDevice, TestDevice) {
    let ann = app.user("ann@example.com").await;
    let bob = app.user("bob@example.com").await;
    let org = app.org(&ann, "Acme Realty").await;
    // Deleting contacts takes a platform role above USER (the profile exists now).
    app.set_global_role(&ann, "MODERATOR").await;
    app.add(&org, &ann, &bob, "MEMBER").await;
    let ann = app.login("ann@example.com").await;
    let mut ids = Vec::new();
    for name in ["Carol Client", "Dan Dropped", "Eve Early"] {
        let (s, c) = app
            .post(
                &format!("/v1/orgs/{org}/contacts"),
                &ann.token,
                json!({"name": name}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        ids.push(c["id"].as_str().unwrap().to_string());
    }
    let (s, _) = app
        .delete(&format!("/v1/orgs/{org}/contacts/{}", ids[1]), &ann.token)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, d) = app
        .post(
            &format!("/v1/orgs/{org}/deals"),
            &ann.token,
            json!({"title": "Elm Street sale", "value_cents": 4_500_000, "contact_id": ids[0]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    let (s, l) = app
        .post(
            &format!("/v1/orgs/{org}/loops"),
            &ann.token,
            json!({"property_address": "12 Elm Street", "transaction_type": "PURCHASE_AGREEMENT",
                   "listing_price_cents": 45_000_000}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{l}");
    let task = l["tasks"][0]["id"].as_str().unwrap().to_string();
    let (s, _) = app
        .post(
            &format!("/v1/orgs/{org}/tasks/{task}/complete"),
            &ann.token,
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    let phone = app.device_login("ann@example.com", "Ann's phone").await;
    let laptop = app.device_login("bob@example.com", "Bob's laptop").await;
    let (_, end) = pull(app, &org, &phone.user.token, 0).await;
    pull(app, &org, &laptop.user.token, 0).await;
    let base = end["last_seq"].as_i64().unwrap();
    let phone_edit = json!({"type": "updateContact", "args": {"id": ids[0], "changes": {"phone": "555 0101"}, "base_seq": base}});
    let laptop_edit = json!({"type": "updateContact", "args": {"id": ids[0], "changes": {"phone": "555 0202"}, "base_seq": base}});
    let (s, r) = push(
        app,
        &org,
        &phone,
        json!([{"client_seq": 1, "mutation": phone_edit}]),
    )
    .await;
    assert_eq!(
        (s, r["results"][0]["status"].as_str()),
        (StatusCode::OK, Some("applied")),
        "{r}"
    );
    let (s, r) = push(app, &org, &laptop, json!([{"client_seq": 1, "mutation": laptop_edit}, {"client_seq": 2, "mutation": create("Fay Fresh")}])).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let conflicts = app
        .scalar_i64(&format!(
            "SELECT count(*) FROM conflicts WHERE organization_id = '{org}'"
        ))
        .await;
    assert_eq!(
        conflicts, 1,
        "the phone's phone number lost: a conflict row"
    );
    pull(app, &org, &phone.user.token, base).await;
    (org, phone, laptop)
}

async fn named(two: &Two, org: &str, name: &str) -> i64 {
    two.scalar(
        "b",
        &format!(
            "SELECT count(*) FROM contacts WHERE organization_id = '{org}' AND name = '{name}'"
        ),
    )
    .await
}

#[tokio::test]
async fn a_move_keeps_every_row_and_the_feed_and_pauses_writes_with_a_retryable_answer() {
    let two = Two::start().await;
    let app = &two.app;
    let (org, phone, laptop) = busy_org(app).await;
    let ann = app.login("ann@example.com").await;
    let before = dump(two.url("default"), &org).await;
    let (feed, end) = pull(app, &org, &ann.token, 0).await;
    let last = end["last_seq"].as_i64().unwrap();

    // While paused, every request of the organization answers 503 org_moving, and changes
    // nothing; other organizations are not paused.
    let other = app.org(&ann, "Other Org").await;
    let answers = Arc::new(Mutex::new(Vec::new()));
    let seen = answers.clone();
    let token = ann.token.clone();
    let (org2, other2, phone2) = (org.clone(), other.clone(), phone.clone());
    let report = two
        .move_with(&org, "b", move |p| {
            let (seen, token, org, other, phone) = (
                seen.clone(),
                token.clone(),
                org2.clone(),
                other2.clone(),
                phone2.clone(),
            );
            async move {
                if p != Phase::Paused {
                    return;
                }
                let res = app
                    .client
                    .post(app.url(&format!("/v1/orgs/{org}/contacts")))
                    .bearer_auth(&token)
                    .json(&json!({"name": "Paused Paul"}))
                    .send()
                    .await
                    .unwrap();
                let retry = res
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_string());
                let status = res.status();
                let body: Value = res.json().await.unwrap();
                seen.lock()
                    .unwrap()
                    .push(("write", status, body["code"].clone(), retry));
                let (s, b) = app.get(&format!("/v1/orgs/{org}/contacts"), &token).await;
                seen.lock()
                    .unwrap()
                    .push(("read", s, b["code"].clone(), None));
                let (s, b) = push(
                    app,
                    &org,
                    &phone,
                    json!([{"client_seq": 7, "mutation": create("Paused Pat")}]),
                )
                .await;
                seen.lock()
                    .unwrap()
                    .push(("push", s, b["code"].clone(), None));
                let (s, b) = app
                    .post(
                        &format!("/v1/orgs/{other}/contacts"),
                        &token,
                        json!({"name": "Elsewhere Ed"}),
                    )
                    .await;
                seen.lock()
                    .unwrap()
                    .push(("other org", s, b["code"].clone(), None));
            }
        })
        .await
        .expect("the move succeeds");
    let answers = answers.lock().unwrap().clone();
    let moving = (StatusCode::SERVICE_UNAVAILABLE, json!("org_moving"));
    assert_eq!((answers[0].1, answers[0].2.clone()), moving, "{answers:?}");
    assert_eq!(answers[0].3.as_deref(), Some("1"), "Retry-After");
    assert_eq!(
        (answers[1].1, answers[1].2.clone()),
        moving,
        "reads pause too: {answers:?}"
    );
    assert_eq!(
        (answers[2].1, answers[2].2.clone()),
        moving,
        "a push is refused whole, not rejected: {answers:?}"
    );
    assert_eq!(
        answers[3].1,
        StatusCode::CREATED,
        "other organizations keep working"
    );
    assert!(report.pause < Duration::from_secs(10), "{report:?}");
    assert_eq!(report.last_seq, last);

    // Everything arrived as it was, feed numbers included; nothing is left behind.
    assert_eq!(two.home(&org).await, ("b".into(), "active".into()));
    assert_eq!(
        dump(two.url("b"), &org).await,
        before,
        "the same rows, byte for byte"
    );
    assert_eq!(
        two.rows_of("default", &org).await,
        0,
        "the old database holds none of its rows"
    );
    let (feed_after, end_after) = pull(app, &org, &ann.token, 0).await;
    assert_eq!(feed_after, feed, "the same feed");
    assert_eq!(end_after["last_seq"], last);
    let (lines, _) = pull(app, &org, &phone.user.token, last).await;
    assert!(
        lines.is_empty(),
        "a device that had everything has nothing to pull: {lines:?}"
    );

    // The feed continues where it was: the next change is last + 1.
    let (s, c) = app
        .post(
            &format!("/v1/orgs/{org}/contacts"),
            &ann.token,
            json!({"name": "Gus After"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let (lines, _) = pull(app, &org, &phone.user.token, last).await;
    assert_eq!(lines[0]["seq"], last + 1, "{lines:?}");
    assert_eq!(lines[0]["row"]["name"], "Gus After");
    // A replayed push answers what it answered before the move (applied_mutations came along),
    // and the paused one runs now, once.
    let (s, r) = push(app, &org, &laptop, json!([{"client_seq": 2, "mutation": create("Fay Fresh")}, {"client_seq": 3, "mutation": create("Hal Here")}])).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let in_control = app
        .scalar_i64(&format!(
            "SELECT count(*) FROM contacts WHERE organization_id = '{org}'"
        ))
        .await;
    assert_eq!(in_control, 0, "the control database stays empty of it");
    assert_eq!(
        named(&two, &org, "Fay Fresh").await,
        1,
        "replayed, not run twice"
    );
    assert_eq!(named(&two, &org, "Hal Here").await, 1);
    assert_eq!(
        named(&two, &org, "Paused Paul").await,
        0,
        "refused during the pause: never written"
    );
    let (s, r) = push(
        app,
        &org,
        &phone,
        json!([{"client_seq": 7, "mutation": create("Paused Pat")}]),
    )
    .await;
    assert_eq!(
        (s, r["results"][0]["status"].as_str()),
        (StatusCode::OK, Some("applied")),
        "{r}"
    );
    assert_eq!(named(&two, &org, "Paused Pat").await, 1);
    let (s, me) = app.get("/v1/me", &ann.token).await;
    assert_eq!(s, StatusCode::OK);
    assert!(me["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["organization_id"] == org.as_str()));
    let (_, devices) = app
        .get(&format!("/v1/orgs/{org}/devices"), &ann.token)
        .await;
    assert_eq!(devices.as_array().unwrap().len(), 2, "{devices}");

    // And back again.
    let before_back = dump(two.url("b"), &org).await;
    two.move_org(&org, "default").await.expect("moves back");
    assert_eq!(two.home(&org).await, ("default".into(), "active".into()));
    assert_eq!(dump(two.url("default"), &org).await, before_back);
    assert_eq!(two.rows_of("b", &org).await, 0);
    let (s, _) = app
        .post(
            &format!("/v1/orgs/{org}/contacts"),
            &ann.token,
            json!({"name": "Ivy Home"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
}

#[tokio::test]
async fn a_failed_check_leaves_the_organization_working_where_it_was() {
    let two = Two::start().await;
    let app = &two.app;
    let ann = app.user("ann@example.com").await;
    let org = app.org(&ann, "Acme Realty").await;
    for i in 0..20 {
        let (s, _) = app
            .post(
                &format!("/v1/orgs/{org}/contacts"),
                &ann.token,
                json!({"name": format!("Person {i}")}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    // A write that bypasses the service (plain SQL as the owner) lands during the pause: the
    // copy no longer matches, so the move must not switch.
    let url = two.url("default").to_string();
    let org2 = org.clone();
    let r = two
        .move_with(&org, "b", move |p| {
            let (url, org) = (url.clone(), org2.clone());
            async move {
                if p == Phase::Paused {
                    let mut c = PgConnection::connect(&url).await.unwrap();
                    sqlx::query(
                        "INSERT INTO contacts (organization_id, id, name, created_by)
                         SELECT organization_id, gen_random_uuid(), 'Sneaky SQL', created_by
                           FROM contacts WHERE organization_id = $1::uuid LIMIT 1",
                    )
                    .bind(&org)
                    .execute(&mut c)
                    .await
                    .unwrap();
                }
            }
        })
        .await;
    let err = r.expect_err("the check fails");
    assert!(
        matches!(err, MoveError::Mismatch(ref t) if t.iter().any(|(n, _, _)| n == "contacts")),
        "{err}"
    );
    assert!(err.to_string().contains("stays where it was"), "{err}");
    assert_eq!(two.home(&org).await, ("default".into(), "active".into()));
    assert_eq!(two.rows_of("b", &org).await, 0, "the partial copy is gone");
    let (s, page) = app
        .get(&format!("/v1/orgs/{org}/contacts?limit=100"), &ann.token)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 21, "{page}");
    let (s, _) = app
        .post(
            &format!("/v1/orgs/{org}/contacts"),
            &ann.token,
            json!({"name": "Still Here"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);

    // A request that will not finish (here: a session holding the gate shared, as one does)
    // keeps the pause from starting: the move gives up, and nothing changed.
    let mut blocker = PgConnection::connect(two.url("default")).await.unwrap();
    sqlx::query("SELECT pg_advisory_lock_shared(hashtextextended('strive.org:' || $1, 0))")
        .bind(&org)
        .execute(&mut blocker)
        .await
        .unwrap();
    let opts = MoveOptions {
        pause_timeout: Duration::from_millis(200),
        pause_attempts: 2,
        ..MoveOptions::default()
    };
    let r = moving::move_org(&app.admin_url, &org, "b", opts, |_| async {}).await;
    assert!(
        matches!(r, Err(MoveError::PauseTimedOut { attempts: 2, .. })),
        "{r:?}"
    );
    assert_eq!(two.home(&org).await, ("default".into(), "active".into()));
    assert_eq!(two.rows_of("b", &org).await, 0);
    let (s, _) = app
        .post(
            &format!("/v1/orgs/{org}/contacts"),
            &ann.token,
            json!({"name": "Not Paused"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "the gate is open again");
    drop(blocker);

    // Unknown targets, one mover at a time, and a move to where it already is.
    assert!(matches!(
        two.move_org(&org, "nowhere").await,
        Err(MoveError::UnknownDatabase(_))
    ));
    assert!(matches!(
        two.move_org("no-such-org", "b").await,
        Err(MoveError::UnknownOrg(_))
    ));
    let org3 = org.clone();
    let two_ref = &two;
    let report = two
        .move_with(&org, "b", move |p| {
            let (org, two) = (org3.clone(), two_ref);
            async move {
                if p == Phase::Copied {
                    let second = two.move_org(&org, "b").await;
                    assert!(matches!(second, Err(MoveError::Busy)), "{second:?}");
                }
            }
        })
        .await
        .expect("the retry moves it");
    assert!(report.copied > 20, "{report:?}");
    assert_eq!(two.home(&org).await, ("b".into(), "active".into()));
    let again = two.move_org(&org, "b").await.unwrap();
    assert!(again.already_there);
    let (s, page) = app
        .get(&format!("/v1/orgs/{org}/contacts?limit=100"), &ann.token)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 23, "{page}");
}

#[tokio::test]
async fn the_check_before_the_pause_catches_a_bad_copy_and_repairs_untracked_tables() {
    let two = Two::start().await;
    let app = &two.app;
    let (org, phone, _laptop) = busy_org(app).await;
    let rows = |db: &'static str, table: &'static str| {
        let org = org.clone();
        let two = &two;
        async move {
            two.scalar(
                db,
                &format!("SELECT count(*) FROM {table} WHERE organization_id = '{org}'"),
            )
            .await
        }
    };
    assert_eq!(rows("default", "applied_mutations").await, 3);

    // A copied row altered behind the mover's back (keeping its feed number): the full check
    // before the pause finds it, so writes were never paused and the organization stays.
    let b_url = two.url("b").to_string();
    let org2 = org.clone();
    let r = two
        .move_with(&org, "b", move |p| {
            let (b_url, org) = (b_url.clone(), org2.clone());
            async move {
                if p == Phase::Copied {
                    let mut c = PgConnection::connect(&b_url).await.unwrap();
                    sqlx::raw_sql(&format!(
                        "SET strive.copying = 'on';
                         UPDATE contacts SET notes = 'tampered' WHERE organization_id = '{org}'"
                    ))
                    .execute(&mut c)
                    .await
                    .unwrap();
                }
            }
        })
        .await;
    assert!(
        matches!(r, Err(MoveError::Mismatch(ref t)) if t.iter().any(|(n, _, _)| n == "contacts")),
        "{r:?}"
    );
    assert_eq!(two.home(&org).await, ("default".into(), "active".into()));
    assert_eq!(two.rows_of("b", &org).await, 0);

    // A row deleted from a table outside the change feed (plain SQL; the mover cannot see
    // such deletes) is repaired by copying that table again: the move succeeds, and the copy
    // matches the source, the deleted row included.
    let url = two.url("default").to_string();
    let (org3, device) = (org.clone(), phone.id.clone());
    let report = two
        .move_with(&org, "b", move |p| {
            let (url, org, device) = (url.clone(), org3.clone(), device.clone());
            async move {
                if p == Phase::Copied {
                    let mut c = PgConnection::connect(&url).await.unwrap();
                    sqlx::query(
                        "DELETE FROM applied_mutations WHERE organization_id = $1::uuid AND device_id = $2::uuid",
                    )
                    .bind(&org)
                    .bind(&device)
                    .execute(&mut c)
                    .await
                    .unwrap();
                }
            }
        })
        .await
        .expect("the move repairs the table and succeeds");
    assert_eq!(report.to, "b");
    assert_eq!(
        rows("b", "applied_mutations").await,
        2,
        "the phone's record is gone there too"
    );
    assert_eq!(rows("default", "applied_mutations").await, 0);
}

#[tokio::test]
async fn a_move_finds_the_tenant_tables_in_the_catalog() {
    let app = TestApp::spawn().await;
    let mut c = PgConnection::connect(&app.admin_url).await.unwrap();
    let schema = strive_server::moving::copy::Schema::discover(&mut c)
        .await
        .unwrap();
    let names: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
    for t in crate::support::TENANT_TABLES
        .iter()
        .map(|(t, _)| *t)
        .filter(|t| *t != "sync_flush")
    {
        assert!(names.contains(&t), "{t} is moved: {names:?}");
    }
    for t in [
        "org_directory",
        "org_memberships",
        "sync_flush",
        "users",
        "devices",
        "identities",
    ] {
        assert!(!names.contains(&t), "{t} is not tenant data: {names:?}");
    }
    let at = |t: &str| names.iter().position(|n| *n == t).unwrap();
    assert!(at("organizations") < at("contacts") && at("contacts") < at("deals"));
    assert!(at("transaction_loops") < at("transaction_tasks"));
    assert!(
        at("organization_members") < at("contacts"),
        "assignees are members"
    );
    assert!(
        schema.tables.iter().all(|t| t.hashable),
        "every table's rows hash as records (the fast checksum)"
    );
    let refs: Vec<String> = schema
        .user_refs
        .iter()
        .map(|(t, c)| format!("{t}.{c}"))
        .collect();
    assert!(
        refs.contains(&"contacts.created_by".to_string()),
        "{refs:?}"
    );
    assert!(
        refs.contains(&"organization_members.user_id".to_string()),
        "{refs:?}"
    );
}
