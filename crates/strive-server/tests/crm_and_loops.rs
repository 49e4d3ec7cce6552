mod common;

// CRM and transaction loops end to end: contacts (CRUD, listing, bulk assignment), deals,
// loops with their default tasks (atomically), tasks and progress, the loop listing's
// statement count, the dashboard and the activity feed. Each test runs a real server over its
// own fresh database and checks both the answers and what the database holds afterwards.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use common::statements::StatementCounter;
use common::{TestApp, TestUser};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// An organization owned by a fresh user.
async fn owner_and_org(app: &TestApp, email: &str, org_name: &str) -> (TestUser, String) {
    let owner = app.user(email).await;
    let org = app.org(&owner, org_name).await;
    (owner, org)
}

fn text(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {v}"))
        .to_string()
}

fn id(v: &Value) -> String {
    text(v, "id")
}

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("{v} is not a time")))
        .unwrap_or_else(|e| panic!("{v} is not RFC 3339: {e}"))
        .with_timezone(&Utc)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Percent-encodes a query-string value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn ids(items: &[Value]) -> Vec<String> {
    items.iter().map(id).collect()
}

fn items(page: &Value) -> Vec<Value> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {page}"))
        .clone()
}

/// `items` in the order `sort` (`name`, `-name`, `created_at`, `-created_at`) should give,
/// ties broken by id in the same direction.
fn sorted(items: &[Value], sort: &str) -> Vec<String> {
    let (desc, key) = match sort.strip_prefix('-') {
        Some(k) => (true, k),
        None => (false, sort),
    };
    let cmp = |a: &Value, b: &Value| -> Ordering {
        let primary = if key == "name" {
            a["name"].as_str().cmp(&b["name"].as_str())
        } else {
            time(&a[key]).cmp(&time(&b[key]))
        };
        primary.then_with(|| a["id"].as_str().cmp(&b["id"].as_str()))
    };
    let mut v: Vec<&Value> = items.iter().collect();
    v.sort_by(|a, b| if desc { cmp(b, a) } else { cmp(a, b) });
    v.into_iter().map(id).collect()
}

/// Follows `next_cursor` from the first page to the last with `limit`, checking that every page
/// but the last is full and that the last has no cursor. Returns every item in order.
async fn walk(app: &TestApp, token: &str, path: &str, query: &str, limit: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut url = format!("{path}?limit={limit}");
        if !query.is_empty() {
            url.push('&');
            url.push_str(query);
        }
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={}", enc(c)));
        }
        let (s, page) = app.get(&url, token).await;
        assert_eq!(s, StatusCode::OK, "{url}: {page}");
        let got = items(&page);
        assert!(got.len() <= limit, "{url}: page larger than the limit");
        out.extend(got.iter().cloned());
        match page.get("next_cursor") {
            None | Some(Value::Null) => return out,
            Some(c) => {
                assert_eq!(
                    got.len(),
                    limit,
                    "{url}: a page before the last must be full"
                );
                cursor = Some(c.as_str().expect("cursor is a string").to_string());
            }
        }
    }
    panic!("{path}?{query}: pagination never ended");
}

async fn count(app: &TestApp, query: &str) -> i64 {
    app.scalar_i64(query).await
}

/// The JSON `new_values` of the only audit row matching `filter`.
async fn audit_values(app: &TestApp, filter: &str) -> Value {
    let n = count(
        app,
        &format!("SELECT count(*) FROM audit_log WHERE {filter}"),
    )
    .await;
    assert_eq!(n, 1, "exactly one audit row where {filter}");
    let raw = app
        .scalar_text(&format!(
            "SELECT new_values::text FROM audit_log WHERE {filter}"
        ))
        .await
        .unwrap();
    serde_json::from_str(&raw).unwrap()
}

fn loop_body(address: &str) -> Value {
    json!({
        "property_address": address,
        "transaction_type": "PURCHASE_AGREEMENT",
        "listing_price_cents": 45_000_000,
        "expected_closing": "2030-06-30",
    })
}

async fn create_loop(app: &TestApp, token: &str, org: &str, address: &str) -> Value {
    let (s, l) = app
        .post(&format!("/v1/orgs/{org}/loops"), token, loop_body(address))
        .await;
    assert_eq!(s, StatusCode::CREATED, "create loop: {l}");
    l
}

async fn get_loop(app: &TestApp, token: &str, org: &str, loop_id: &str) -> Value {
    let (s, l) = app
        .get(&format!("/v1/orgs/{org}/loops/{loop_id}"), token)
        .await;
    assert_eq!(s, StatusCode::OK, "get loop: {l}");
    l
}

// ---------------------------------------------------------------------------------------------
// 1. Contacts CRUD
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn contact_crud_defaults_partial_update_audit_and_delete() {
    let app = TestApp::spawn().await;
    let (ann, org) = owner_and_org(&app, "ann@example.com", "Acme Realty").await;
    let base = format!("/v1/orgs/{org}/contacts");

    let (s, c) = app
        .post(
            &base,
            &ann.token,
            json!({
                "name": "  Bob Buyer ",
                "email": " Bob.Buyer@Example.COM ",
                "phone": "+1 (555) 010-2000",
                "company": "Buyers Inc",
                "position": "Director",
                "notes": "Met at the open house",
                "tags": ["vip", " vip ", "buyer"],
            }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let cid = id(&c);
    assert_eq!(c["name"], "Bob Buyer", "name trimmed");
    assert_eq!(
        c["email"], "bob.buyer@example.com",
        "email trimmed and lower-cased"
    );
    assert_eq!(c["contact_type"], "PROSPECT", "default type");
    assert_eq!(c["status"], "ACTIVE", "default status");
    assert_eq!(
        c["tags"],
        json!(["vip", "buyer"]),
        "tags trimmed, de-duplicated"
    );
    assert_eq!(c["organization_id"], org.as_str());
    assert_eq!(c["created_by"], ann.id.as_str());
    assert!(c["assigned_to_id"].is_null());
    assert_eq!(
        count(&app, &format!("SELECT count(*) FROM contacts WHERE id = '{cid}' AND email = 'bob.buyer@example.com' AND status = 'ACTIVE' AND contact_type = 'PROSPECT'")).await,
        1,
        "stored as answered"
    );
    assert_eq!(
        count(&app, &format!("SELECT count(*) FROM audit_log WHERE entity_id = '{cid}' AND action = 'created' AND entity_type = 'contact'")).await,
        1
    );

    // Read back by id.
    let (s, got) = app.get(&format!("{base}/{cid}"), &ann.token).await;
    assert_eq!(s, StatusCode::OK, "{got}");
    assert_eq!(got, c, "GET answers what POST answered");

    // Partial update: `null` clears company, status changes, nothing else moves.
    let (s, updated) = app
        .patch(
            &format!("{base}/{cid}"),
            &ann.token,
            json!({"company": null, "status": "INACTIVE"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{updated}");
    assert!(updated["company"].is_null(), "null clears: {updated}");
    assert_eq!(updated["status"], "INACTIVE");
    let before = c.as_object().unwrap();
    for (k, v) in before {
        if ["company", "status", "updated_at"].contains(&k.as_str()) {
            continue;
        }
        assert_eq!(&updated[k], v, "field {k} must be unchanged");
    }
    assert!(time(&updated["updated_at"]) >= time(&c["updated_at"]));
    let (_, reread) = app.get(&format!("{base}/{cid}"), &ann.token).await;
    assert_eq!(reread, updated, "the update is stored");
    assert_eq!(
        count(&app, &format!("SELECT count(*) FROM contacts WHERE id = '{cid}' AND company IS NULL AND status = 'INACTIVE' AND phone = '+1 (555) 010-2000' AND position = 'Director'")).await,
        1
    );
    let audit = audit_values(
        &app,
        &format!("entity_id = '{cid}' AND action = 'updated' AND entity_type = 'contact'"),
    )
    .await;
    assert_eq!(
        audit,
        json!({"company": null, "status": "INACTIVE"}),
        "the audit row holds only the changed fields"
    );

    // An empty update and an unknown field are refused, and change nothing.
    let fp = app.fingerprint(&org).await;
    let (s, body) = app
        .patch(&format!("{base}/{cid}"), &ann.token, json!({}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (s, body) = app
        .patch(
            &format!("{base}/{cid}"),
            &ann.token,
            json!({"nickname": "B"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(app.fingerprint(&org).await, fp);

    // An assignee must be a member of the organization.
    let stranger = app.user("stranger@example.com").await;
    let (s, body) = app
        .patch(
            &format!("{base}/{cid}"),
            &ann.token,
            json!({"assigned_to_id": stranger.id}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["fields"][0]["field"], "assigned_to_id", "{body}");
    assert_eq!(app.fingerprint(&org).await, fp);

    // Another organization cannot see it, through its own organization or this one.
    let (zed, other) = owner_and_org(&app, "zed@example.com", "Other Realty").await;
    let (s, _) = app
        .get(&format!("/v1/orgs/{other}/contacts/{cid}"), &zed.token)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app.get(&format!("{base}/{cid}"), &zed.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app
        .patch(
            &format!("/v1/orgs/{other}/contacts/{cid}"),
            &zed.token,
            json!({"name": "Hijacked"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(app.fingerprint(&org).await, fp);

    // Deleting contacts is not for plain USER accounts (the platform's canDeleteContacts).
    let (s, body) = app.delete(&format!("{base}/{cid}"), &ann.token).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "forbidden_global_role");
    app.set_global_role(&ann, "MODERATOR").await;
    let (s, body) = app.delete(&format!("{base}/{cid}"), &ann.token).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"deleted": cid}));
    let (s, body) = app.get(&format!("{base}/{cid}"), &ann.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "not_found");
    let (s, _) = app.delete(&format!("{base}/{cid}"), &ann.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "deleting twice");
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) FROM contacts WHERE id = '{cid}'")
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) FROM audit_log WHERE entity_id = '{cid}' AND action = 'deleted'"
            )
        )
        .await,
        1
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Listing: filters, search, sort, cursor pagination
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn contact_listing_filters_search_sort_and_pagination() {
    let app = TestApp::spawn().await;
    let (ann, org) = owner_and_org(&app, "ann@example.com", "Acme Realty").await;
    let mia = app.user("mia@example.com").await;
    let max = app.user("max@example.com").await;
    app.add(&org, &ann, &mia, "MEMBER").await;
    app.add(&org, &ann, &max, "MEMBER").await;
    let base = format!("/v1/orgs/{org}/contacts");

    // Names are chosen so that byte order and any locale's collation agree (distinct letters
    // at the first difference, same case pattern); three share a name to exercise the id
    // tie-break across page boundaries.
    type Spec = (
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
    );
    let specs: Vec<Spec> = vec![
        ("Aaron Abbott", Some("aaron@acme.io"), None, None),
        ("Beatrice Baker", None, None, Some("ACME Holdings")),
        (
            "Carlos Castillo",
            Some("Carlos.Castillo@Mail.com"),
            None,
            None,
        ),
        ("Diana Dorsey", None, Some("+1 555-0199"), None),
        ("Edgar Ellis", None, None, Some("50% Off Realty")),
        ("Fiona Fischer", None, None, Some("5000 Off Realty")),
        ("Gavin Grant", Some("first_last@mail.com"), None, None),
        ("Hannah Hughes", Some("firstxlast@mail.com"), None, None),
        ("Ivan Ingram", None, Some("+44 20 7946 0958"), None),
        ("Julia Jensen", None, None, Some("Jensen Partners")),
        ("Kim Lee", Some("kim1@example.org"), None, None),
        ("Laura Lambert", None, None, None),
        ("Kim Lee", Some("kim2@example.org"), None, None),
        ("Miguel Moreno", None, None, Some("acme holdings")),
        ("Nadia Novak", None, Some("555 123 4567"), None),
        ("Oscar Owens", None, None, Some("Back\\Slash Ltd")),
        ("Priya Patel", Some("priya@patel.dev"), None, None),
        ("Quentin Quinn", None, None, Some("Quinn & Sons")),
        ("Rosa Ramirez", None, None, None),
        ("Kim Lee", Some("kim3@example.org"), None, None),
        ("Samuel Stone", None, None, Some("Stone Builders")),
        ("Tara Thompson", None, None, None),
        ("Umar Usman", None, Some("0300 1234567"), None),
        ("Vera Vasquez", None, None, None),
        ("Walter White", Some("walt@white.net"), None, None),
        ("Xena Xu", None, None, None),
        ("Yusuf Young", None, None, Some("Young Homes")),
        ("Zoe Zimmerman", None, None, None),
        ("Alma Ortiz", None, None, None),
        ("Bruno Diaz", None, None, Some("Diaz Realty")),
    ];
    assert_eq!(specs.len(), 30);
    let statuses = ["ACTIVE", "INACTIVE", "DO_NOT_CONTACT"];
    let mut all: Vec<Value> = Vec::new();
    for (i, (name, email, phone, company)) in specs.iter().enumerate() {
        let assignee = match i % 4 {
            0 => Some(mia.id.clone()),
            1 => Some(max.id.clone()),
            _ => None,
        };
        let (s, c) = app
            .post(
                &base,
                &ann.token,
                json!({
                    "name": name, "email": email, "phone": phone, "company": company,
                    "status": statuses[i % 3], "assigned_to_id": assignee,
                }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{name}: {c}");
        all.push(c);
    }
    // Another organization's contact that would match the searches below.
    let (zed, other) = owner_and_org(&app, "zed@example.com", "Other Realty").await;
    let (s, outsider) = app
        .post(
            &format!("/v1/orgs/{other}/contacts"),
            &zed.token,
            json!({"name": "Acme Outsider", "email": "out@acme.io", "company": "50% Off Realty"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{outsider}");

    // Default: newest first, one page of everything.
    let (s, page) = app.get(&base, &ann.token).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(ids(&items(&page)), sorted(&all, "-created_at"));
    assert!(
        page.get("next_cursor").is_none(),
        "single page has no cursor"
    );

    let expect = |pred: &dyn Fn(&Value) -> bool| -> Vec<String> {
        let matching: Vec<Value> = all.iter().filter(|c| pred(c)).cloned().collect();
        sorted(&matching, "-created_at")
    };
    let list = |query: String| {
        let app = &app;
        let token = ann.token.clone();
        let base = base.clone();
        async move {
            let (s, page) = app.get(&format!("{base}?{query}"), &token).await;
            assert_eq!(s, StatusCode::OK, "{query}: {page}");
            ids(&items(&page))
        }
    };

    // Status and assignee filters, alone and together.
    for st in statuses {
        let want = expect(&|c| c["status"] == st);
        assert_eq!(want.len(), 10);
        assert_eq!(list(format!("status={st}")).await, want, "status={st}");
    }
    for who in [&mia, &max] {
        let want = expect(&|c| c["assigned_to_id"] == who.id.as_str());
        assert!(!want.is_empty());
        assert_eq!(list(format!("assignee={}", who.id)).await, want);
    }
    let want = expect(&|c| c["status"] == "ACTIVE" && c["assigned_to_id"] == mia.id.as_str());
    assert!(!want.is_empty());
    assert_eq!(
        list(format!("status=ACTIVE&assignee={}", mia.id)).await,
        want
    );

    // Search: case-insensitive substring over name, email, phone and company.
    let names_for = |got: &[String]| -> Vec<String> {
        let mut n: Vec<String> = got
            .iter()
            .map(|i| {
                let c = all.iter().find(|c| id(c) == *i).unwrap();
                text(c, "name")
            })
            .collect();
        n.sort();
        n
    };
    let cases: Vec<(&str, Vec<&str>)> = vec![
        // email, company (upper and lower case) - not the other organization's
        (
            "AcMe",
            vec!["Aaron Abbott", "Beatrice Baker", "Miguel Moreno"],
        ),
        (
            "mail.com",
            vec!["Carlos Castillo", "Gavin Grant", "Hannah Hughes"],
        ),
        ("555-0199", vec!["Diana Dorsey"]),
        ("7946", vec!["Ivan Ingram"]),
        ("kim lee", vec!["Kim Lee", "Kim Lee", "Kim Lee"]),
        ("ORTIZ", vec!["Alma Ortiz"]),
        ("jensen", vec!["Julia Jensen"]),
        // `%` and `_` are literal, not wildcards
        ("50%", vec!["Edgar Ellis"]),
        ("%", vec!["Edgar Ellis"]),
        ("t_l", vec!["Gavin Grant"]),
        ("_", vec!["Gavin Grant"]),
        ("\\", vec!["Oscar Owens"]),
        ("k\\s", vec!["Oscar Owens"]),
        ("& sons", vec!["Quentin Quinn"]),
        ("no such text", vec![]),
    ];
    for (q, want) in cases {
        let got = list(format!("q={}", enc(q))).await;
        let mut want: Vec<String> = want.into_iter().map(String::from).collect();
        want.sort();
        assert_eq!(names_for(&got), want, "q={q:?}");
        // and in the default order
        let lower = q.to_lowercase();
        let wanted_ids = expect(&|c| {
            ["name", "email", "phone", "company"].iter().any(|k| {
                c[*k]
                    .as_str()
                    .is_some_and(|v| v.to_lowercase().contains(&lower))
            })
        });
        assert_eq!(got, wanted_ids, "q={q:?} order");
    }
    assert_eq!(
        list("q=%20%20".into()).await.len(),
        30,
        "a blank search is no filter"
    );

    // Sorting and cursor pagination with limit=7: every contact once, in order.
    for sort in ["name", "-name", "created_at", "-created_at"] {
        let walked = walk(&app, &ann.token, &base, &format!("sort={sort}"), 7).await;
        let got = ids(&walked);
        assert_eq!(got.len(), 30, "sort={sort}");
        assert_eq!(
            got.iter().collect::<BTreeSet<_>>().len(),
            30,
            "sort={sort}: no duplicates"
        );
        assert_eq!(got, sorted(&all, sort), "sort={sort}");
    }
    // Pagination combined with a filter and a search.
    let active: Vec<Value> = all
        .iter()
        .filter(|c| c["status"] == "ACTIVE")
        .cloned()
        .collect();
    let walked = walk(&app, &ann.token, &base, "status=ACTIVE&sort=name", 7).await;
    assert_eq!(ids(&walked), sorted(&active, "name"));
    let acme: Vec<Value> = all
        .iter()
        .filter(|c| {
            ["email", "company"].iter().any(|k| {
                c[*k]
                    .as_str()
                    .is_some_and(|v| v.to_lowercase().contains("acme"))
            })
        })
        .cloned()
        .collect();
    let walked = walk(&app, &ann.token, &base, "q=acme&sort=-name", 2).await;
    assert_eq!(ids(&walked), sorted(&acme, "-name"));

    // Bad parameters are the caller's mistake.
    for bad in [
        "sort=email",
        "limit=0",
        "limit=501",
        "cursor=not-a-cursor",
        "status=SLEEPING",
        "assignee=nobody",
        "colour=red",
    ] {
        let (s, body) = app.get(&format!("{base}?{bad}"), &ann.token).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert_eq!(body["code"], "validation_failed", "{bad}");
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Bulk assignment (Pattern 6)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bulk_assign_is_all_or_nothing_and_bounded() {
    let app = TestApp::spawn().await;
    let (ann, org) = owner_and_org(&app, "ann@example.com", "Acme Realty").await;
    let mia = app.user("mia@example.com").await;
    let max = app.user("max@example.com").await;
    let nobody = app.user("nobody@example.com").await;
    app.add(&org, &ann, &mia, "MEMBER").await;
    app.add(&org, &ann, &max, "MEMBER").await;
    let base = format!("/v1/orgs/{org}/contacts");
    let bulk = format!("{base}/bulk-assign");

    let mut cs = Vec::new();
    for i in 0..7 {
        let (s, c) = app
            .post(&base, &ann.token, json!({"name": format!("Contact {i}")}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        cs.push(id(&c));
    }
    let (zed, other) = owner_and_org(&app, "zed@example.com", "Other Realty").await;
    let (s, foreign) = app
        .post(
            &format!("/v1/orgs/{other}/contacts"),
            &zed.token,
            json!({"name": "Foreign Contact"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let foreign = id(&foreign);

    // Five contacts to a member.
    let five = &cs[..5];
    let (s, body) = app
        .post(
            &bulk,
            &ann.token,
            json!({"contact_ids": five, "assigned_to_id": mia.id}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"updated": 5}));
    let in_list = |v: &[String]| {
        v.iter()
            .map(|i| format!("'{i}'"))
            .collect::<Vec<_>>()
            .join(",")
    };
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) FROM contacts WHERE id IN ({}) AND assigned_to_id = '{}'",
                in_list(five),
                mia.id
            )
        )
        .await,
        5
    );
    assert_eq!(
        count(&app, &format!("SELECT count(*) FROM contacts WHERE organization_id = '{org}' AND assigned_to_id IS NOT NULL")).await,
        5,
        "the other contacts stay unassigned"
    );
    for c in five {
        let v = audit_values(
            &app,
            &format!("entity_id = '{c}' AND action = 'bulk_assigned' AND entity_type = 'contact'"),
        )
        .await;
        assert_eq!(v, json!({"assigned_to_id": mia.id}));
    }
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM audit_log WHERE action = 'bulk_assigned'"
        )
        .await,
        5
    );

    // Failures below must change nothing in either organization.
    let fp = app.fingerprint(&org).await;
    let fp_other = app.fingerprint(&other).await;
    let unchanged = || async {
        assert_eq!(app.fingerprint(&org).await, fp, "nothing changed");
        assert_eq!(app.fingerprint(&other).await, fp_other);
    };

    // One contact of another organization in the batch: 404, nothing assigned.
    let mut batch: Vec<String> = cs.clone();
    batch.insert(3, foreign.clone());
    let (s, body) = app
        .post(
            &bulk,
            &ann.token,
            json!({"contact_ids": batch, "assigned_to_id": max.id}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "not_found");
    unchanged().await;

    // A random id: same.
    let mut batch: Vec<String> = cs[5..].to_vec();
    batch.push(uuid::Uuid::now_v7().to_string());
    let (s, body) = app
        .post(
            &bulk,
            &ann.token,
            json!({"contact_ids": batch, "assigned_to_id": max.id}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    unchanged().await;

    // An assignee who is not a member: 422 naming the field.
    let (s, body) = app
        .post(
            &bulk,
            &ann.token,
            json!({"contact_ids": cs, "assigned_to_id": nobody.id}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["fields"][0]["field"], "assigned_to_id", "{body}");
    // The other organization's owner is not a member either.
    let (s, _) = app
        .post(
            &bulk,
            &ann.token,
            json!({"contact_ids": cs, "assigned_to_id": zed.id}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    unchanged().await;

    // 101 ids: 422 naming the limit of 100.
    let many: Vec<String> = (0..101).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let (s, body) = app
        .post(
            &bulk,
            &ann.token,
            json!({"contact_ids": many, "assigned_to_id": mia.id}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "validation_failed");
    assert_eq!(body["fields"][0]["field"], "contact_ids");
    assert!(
        body["message"].as_str().unwrap().contains("100"),
        "message names the limit: {body}"
    );
    // Empty list: 422.
    let (s, body) = app
        .post(
            &bulk,
            &ann.token,
            json!({"contact_ids": [], "assigned_to_id": mia.id}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["fields"][0]["field"], "contact_ids");
    // A MEMBER may not bulk-assign at all.
    let (s, body) = app
        .post(
            &bulk,
            &mia.token,
            json!({"contact_ids": cs, "assigned_to_id": mia.id}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "forbidden_org_role");
    unchanged().await;

    // Exactly 100 distinct ids is allowed by validation (they must still exist): 404, not 422.
    let hundred: Vec<String> = (0..100).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let (s, body) = app
        .post(
            &bulk,
            &ann.token,
            json!({"contact_ids": hundred, "assigned_to_id": mia.id}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    unchanged().await;

    // Duplicates count once: one contact, one audit row.
    let (s, body) = app
        .post(
            &bulk,
            &ann.token,
            json!({"contact_ids": [cs[6], cs[6]], "assigned_to_id": max.id}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"updated": 1}));
    assert_eq!(
        count(&app, &format!("SELECT count(*) FROM audit_log WHERE entity_id = '{}' AND action = 'bulk_assigned'", cs[6])).await,
        1
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Deals
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn deal_crud_and_stage_filter() {
    let app = TestApp::spawn().await;
    let (ann, org) = owner_and_org(&app, "ann@example.com", "Acme Realty").await;
    let base = format!("/v1/orgs/{org}/deals");
    let (s, contact) = app
        .post(
            &format!("/v1/orgs/{org}/contacts"),
            &ann.token,
            json!({"name": "Bob Buyer"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let contact = id(&contact);

    let (s, d) = app
        .post(
            &base,
            &ann.token,
            json!({"title": "Sale of 12 Elm St", "value_cents": 45_000_000, "contact_id": contact,
                   "description": "Three bedrooms", "expected_close_date": "2030-01-15"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    let did = id(&d);
    assert_eq!(
        (
            &d["stage"],
            &d["status"],
            &d["probability"],
            &d["value_cents"]
        ),
        (
            &json!("LEAD"),
            &json!("ACTIVE"),
            &json!(50),
            &json!(45_000_000)
        ),
        "defaults: {d}"
    );
    assert_eq!(d["contact_id"], contact.as_str());
    assert_eq!(d["expected_close_date"], "2030-01-15");
    let (s, got) = app.get(&format!("{base}/{did}"), &ann.token).await;
    assert_eq!((s, &got), (StatusCode::OK, &d));

    let mut by_stage: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    by_stage.entry("LEAD").or_default().push(did.clone());
    for (i, stage) in ["PROPOSAL", "NEGOTIATION", "PROPOSAL", "CLOSED_WON"]
        .into_iter()
        .enumerate()
    {
        let (s, x) = app
            .post(
                &base,
                &ann.token,
                json!({"title": format!("Deal number {i}"), "value_cents": 1000 + i, "stage": stage}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{x}");
        assert_eq!(x["stage"], stage);
        by_stage.entry(stage).or_default().push(id(&x));
    }

    // Partial update: stage and probability change, description is cleared, the rest stays.
    let (s, u) = app
        .patch(
            &format!("{base}/{did}"),
            &ann.token,
            json!({"stage": "PROPOSAL", "probability": 70, "description": null}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(u["stage"], "PROPOSAL");
    assert_eq!(u["probability"], 70);
    assert!(u["description"].is_null());
    for k in [
        "title",
        "value_cents",
        "contact_id",
        "expected_close_date",
        "created_at",
    ] {
        assert_eq!(u[k], d[k], "{k} unchanged");
    }
    assert_eq!(
        audit_values(
            &app,
            &format!("entity_id = '{did}' AND action = 'updated' AND entity_type = 'deal'")
        )
        .await,
        json!({"stage": "PROPOSAL", "probability": 70, "description": null})
    );
    by_stage.get_mut("LEAD").unwrap().retain(|x| *x != did);
    by_stage.get_mut("PROPOSAL").unwrap().push(did.clone());

    // Stage filter: exactly that stage's deals, newest first (ids are time-ordered).
    for (stage, want) in &by_stage {
        let (s, page) = app.get(&format!("{base}?stage={stage}"), &ann.token).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        let mut want = want.clone();
        want.sort();
        want.reverse();
        assert_eq!(ids(&items(&page)), want, "stage={stage}");
    }
    let (_, page) = app.get(&format!("{base}?stage=LEAD"), &ann.token).await;
    assert!(items(&page).is_empty(), "no LEAD deals left");
    let all = walk(&app, &ann.token, &base, "", 2).await;
    assert_eq!(all.len(), 5);
    assert_eq!(
        ids(&all),
        sorted(&all, "-created_at"),
        "walked newest first"
    );
    assert_eq!(
        ids(&all).iter().collect::<BTreeSet<_>>().len(),
        5,
        "each deal once"
    );
    let (s, _) = app.get(&format!("{base}?stage=WON"), &ann.token).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "unknown stage");

    // Rules: positive value, a contact of this organization only.
    let fp = app.fingerprint(&org).await;
    let (s, body) = app
        .post(
            &base,
            &ann.token,
            json!({"title": "Free", "value_cents": 0}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (zed, other) = owner_and_org(&app, "zed@example.com", "Other Realty").await;
    let (_, foreign) = app
        .post(
            &format!("/v1/orgs/{other}/contacts"),
            &zed.token,
            json!({"name": "Foreign Contact"}),
        )
        .await;
    let (s, body) = app
        .post(
            &base,
            &ann.token,
            json!({"title": "Sneaky", "value_cents": 100, "contact_id": id(&foreign)}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["fields"][0]["field"], "contact_id", "{body}");
    assert_eq!(app.fingerprint(&org).await, fp);

    // Delete (a platform MODERATOR may): then 404.
    app.set_global_role(&ann, "MODERATOR").await;
    let (s, body) = app.delete(&format!("{base}/{did}"), &ann.token).await;
    assert_eq!((s, body), (StatusCode::OK, json!({"deleted": did})));
    let (s, _) = app.get(&format!("{base}/{did}"), &ann.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) FROM deals WHERE id = '{did}'")
        )
        .await,
        0
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Loop creation (Pattern 2)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn loop_is_created_with_four_default_tasks() {
    let app = TestApp::spawn().await;
    let (ann, org) = owner_and_org(&app, "ann@example.com", "Acme Realty").await;
    let audit_before = count(
        &app,
        &format!("SELECT count(*) FROM audit_log WHERE organization_id = '{org}'"),
    )
    .await;

    let l = create_loop(&app, &ann.token, &org, "12 Elm Street, Springfield").await;
    let lid = id(&l);
    assert_eq!(l["status"], "DRAFT");
    assert_eq!(l["progress"], 0);
    assert_eq!(l["property_address"], "12 Elm Street, Springfield");
    assert_eq!(l["transaction_type"], "PURCHASE_AGREEMENT");
    assert_eq!(l["listing_price_cents"], 45_000_000);
    assert_eq!(l["expected_closing"], "2030-06-30");
    assert_eq!(l["created_by"], ann.id.as_str());
    let tasks = l["tasks"].as_array().expect("tasks in the answer");
    let expected = [
        ("Initial Consultation", "PRE_LISTING"),
        ("Property Inspection", "LISTING"),
        ("Offer Review", "UNDER_CONTRACT"),
        ("Final Walkthrough", "CLOSING"),
    ];
    assert_eq!(tasks.len(), 4, "{l}");
    for (i, (t, (title, category))) in tasks.iter().zip(expected).enumerate() {
        assert_eq!(t["title"], title);
        assert_eq!(t["category"], category);
        assert_eq!(t["status"], "PENDING");
        assert_eq!(t["position"], i as i64 + 1);
        assert_eq!(t["loop_id"], lid.as_str());
        assert!(t["completed_at"].is_null());
    }
    let task_ids: BTreeSet<String> = tasks.iter().map(id).collect();
    assert_eq!(task_ids.len(), 4, "distinct task ids");

    // What the database holds.
    assert_eq!(
        count(&app, &format!("SELECT count(*) FROM transaction_loops WHERE id = '{lid}' AND status = 'DRAFT' AND progress = 0")).await,
        1
    );
    assert_eq!(
        app.scalar_text(&format!(
            "SELECT string_agg(title || '/' || category || '/' || status || '/' || position, ',' ORDER BY position) FROM transaction_tasks WHERE loop_id = '{lid}'"
        ))
        .await
        .unwrap(),
        "Initial Consultation/PRE_LISTING/PENDING/1,Property Inspection/LISTING/PENDING/2,\
         Offer Review/UNDER_CONTRACT/PENDING/3,Final Walkthrough/CLOSING/PENDING/4"
    );
    assert_eq!(
        count(&app, &format!("SELECT count(*) FROM audit_log WHERE entity_id = '{lid}' AND action = 'created' AND entity_type = 'loop'")).await,
        1
    );
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) FROM audit_log WHERE organization_id = '{org}'")
        )
        .await,
        audit_before + 1,
        "one audit row for the whole creation"
    );
    let got = get_loop(&app, &ann.token, &org, &lid).await;
    assert_eq!(got, l, "GET answers what POST answered");

    // Invalid input creates nothing.
    let (s, body) = app
        .post(
            &format!("/v1/orgs/{org}/loops"),
            &ann.token,
            json!({"property_address": "1 A", "transaction_type": "PURCHASE_AGREEMENT", "listing_price_cents": 0}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let fields: BTreeSet<&str> = body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from(["property_address", "listing_price_cents"])
    );
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) FROM transaction_loops WHERE organization_id = '{org}'")
        )
        .await,
        1
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Loop atomicity
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn loop_creation_is_atomic_when_the_audit_write_fails() {
    let app = TestApp::spawn().await;
    let (ann, org) = owner_and_org(&app, "ann@example.com", "Acme Realty").await;
    app.sql(
        "CREATE FUNCTION test_refuse_loop_audit() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.entity_type = 'loop' THEN
             RAISE EXCEPTION 'test trigger refuses loop audit rows';
           END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER test_refuse_loop_audit BEFORE INSERT ON audit_log
           FOR EACH ROW EXECUTE FUNCTION test_refuse_loop_audit();",
    )
    .await;

    let lid = uuid::Uuid::now_v7().to_string();
    let mut body = loop_body("99 Atomic Avenue");
    body["id"] = json!(lid);
    let counts = || async {
        (
            count(
                &app,
                &format!("SELECT count(*) FROM transaction_loops WHERE id = '{lid}'"),
            )
            .await,
            count(
                &app,
                &format!("SELECT count(*) FROM transaction_tasks WHERE loop_id = '{lid}'"),
            )
            .await,
            count(
                &app,
                &format!("SELECT count(*) FROM audit_log WHERE entity_id = '{lid}'"),
            )
            .await,
        )
    };
    let fp = app.fingerprint(&org).await;

    let (s, err) = app
        .post(&format!("/v1/orgs/{org}/loops"), &ann.token, body.clone())
        .await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{err}");
    assert_eq!(err["code"], "internal");
    assert!(
        !err.to_string().contains("test trigger"),
        "the database's message is not leaked: {err}"
    );
    assert_eq!(counts().await, (0, 0, 0), "no loop, no task, no audit row");
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) FROM transaction_tasks WHERE organization_id = '{org}'")
        )
        .await,
        0
    );
    assert_eq!(app.fingerprint(&org).await, fp, "nothing at all changed");

    // The trigger is selective: other audit rows still go in.
    let (s, c) = app
        .post(
            &format!("/v1/orgs/{org}/contacts"),
            &ann.token,
            json!({"name": "Still Works"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");

    app.sql(
        "DROP TRIGGER test_refuse_loop_audit ON audit_log;
         DROP FUNCTION test_refuse_loop_audit();",
    )
    .await;
    let (s, l) = app
        .post(&format!("/v1/orgs/{org}/loops"), &ann.token, body)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{l}");
    assert_eq!(l["id"], lid.as_str());
    assert_eq!(l["tasks"].as_array().unwrap().len(), 4);
    assert_eq!(counts().await, (1, 4, 1));
}

// ---------------------------------------------------------------------------------------------
// 7. Tasks and progress
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn tasks_drive_loop_progress_and_cascade_on_delete() {
    let app = TestApp::spawn().await;
    let (ann, org) = owner_and_org(&app, "ann@example.com", "Acme Realty").await;
    let l = create_loop(&app, &ann.token, &org, "7 Progress Place").await;
    let lid = id(&l);
    let t: Vec<String> = l["tasks"].as_array().unwrap().iter().map(id).collect();
    let task = |i: &str| format!("/v1/orgs/{org}/tasks/{i}");
    let progress = || async {
        let got = get_loop(&app, &ann.token, &org, &lid).await;
        let db = count(
            &app,
            &format!("SELECT progress::bigint FROM transaction_loops WHERE id = '{lid}'"),
        )
        .await;
        assert_eq!(got["progress"].as_i64(), Some(db), "API and database agree");
        db
    };

    // Complete two of four: 50.
    for i in [&t[0], &t[1]] {
        let (s, done) = app
            .post(&format!("{}/complete", task(i)), &ann.token, Value::Null)
            .await;
        assert_eq!(s, StatusCode::OK, "{done}");
        assert_eq!(done["status"], "DONE");
        assert!(done["completed_at"].is_string(), "{done}");
    }
    assert_eq!(progress().await, 50);
    let (s, feed) = app
        .get(&format!("/v1/orgs/{org}/activity"), &ann.token)
        .await;
    assert_eq!(s, StatusCode::OK, "{feed}");
    let feed = feed.as_array().unwrap();
    let completed: BTreeSet<String> = feed
        .iter()
        .filter(|a| a["action"] == "completed_task")
        .map(|a| text(a, "entity_id"))
        .collect();
    assert_eq!(completed, BTreeSet::from([t[0].clone(), t[1].clone()]));
    let progress_rows: Vec<&Value> = feed
        .iter()
        .filter(|a| a["action"] == "updated_progress" && a["entity_id"] == lid.as_str())
        .map(|a| &a["new_values"]["progress"])
        .collect();
    assert_eq!(progress_rows, vec![&json!(50), &json!(25)], "newest first");

    // Completing again keeps the first completion time.
    let first_done = app
        .scalar_text(&format!(
            "SELECT completed_at::text FROM transaction_tasks WHERE id = '{}'",
            t[0]
        ))
        .await;
    assert!(first_done.is_some());
    let (s, _) = app
        .post(
            &format!("{}/complete", task(&t[0])),
            &ann.token,
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        app.scalar_text(&format!(
            "SELECT completed_at::text FROM transaction_tasks WHERE id = '{}'",
            t[0]
        ))
        .await,
        first_done
    );

    // Cancelling one: 2 done of 3 live = 67.
    let (s, c) = app
        .patch(&task(&t[2]), &ann.token, json!({"status": "CANCELLED"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "CANCELLED");
    assert_eq!(progress().await, 67);

    // Back to PENDING clears completed_at: 1 of 3 = 33.
    let (s, back) = app
        .patch(&task(&t[0]), &ann.token, json!({"status": "PENDING"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{back}");
    assert!(back["completed_at"].is_null(), "{back}");
    assert_eq!(
        count(&app, &format!("SELECT count(*) FROM transaction_tasks WHERE id = '{}' AND completed_at IS NULL AND status = 'PENDING'", t[0])).await,
        1
    );
    assert_eq!(progress().await, 33);

    // DONE through PATCH sets completed_at: 2 of 3 = 67.
    let (s, d) = app
        .patch(&task(&t[3]), &ann.token, json!({"status": "DONE"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert!(d["completed_at"].is_string(), "{d}");
    assert_eq!(progress().await, 67);
    // A change that does not touch status leaves completed_at alone.
    let (s, renamed) = app
        .patch(
            &task(&t[3]),
            &ann.token,
            json!({"title": "Final walkthrough with buyer"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["completed_at"], d["completed_at"]);
    assert_eq!(renamed["status"], "DONE");

    // A new task goes last (position 5) and counts as live: 2 of 4 = 50.
    let (s, n) = app
        .post(
            &format!("/v1/orgs/{org}/loops/{lid}/tasks"),
            &ann.token,
            json!({"title": "Send closing gift"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{n}");
    assert_eq!(n["position"], 5);
    assert_eq!(n["status"], "PENDING");
    assert_eq!(n["category"], "OTHER");
    assert_eq!(n["priority"], "MEDIUM");
    assert_eq!(n["loop_id"], lid.as_str());
    let nid = id(&n);
    assert_eq!(progress().await, 50);
    let got = get_loop(&app, &ann.token, &org, &lid).await;
    let positions: Vec<i64> = got["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["position"].as_i64().unwrap())
        .collect();
    assert_eq!(positions, vec![1, 2, 3, 4, 5]);
    // A task for a loop that does not exist.
    let (s, _) = app
        .post(
            &format!("/v1/orgs/{org}/loops/{}/tasks", uuid::Uuid::now_v7()),
            &ann.token,
            json!({"title": "Orphan task"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Deleting it: 2 of 3 = 67 again.
    let (s, body) = app.delete(&task(&nid), &ann.token).await;
    assert_eq!((s, body), (StatusCode::OK, json!({"deleted": nid})));
    assert_eq!(progress().await, 67);
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) FROM transaction_tasks WHERE loop_id = '{lid}'")
        )
        .await,
        4
    );
    let (s, _) = app.delete(&task(&nid), &ann.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Deleting the loop takes its tasks.
    let (s, body) = app
        .delete(&format!("/v1/orgs/{org}/loops/{lid}"), &ann.token)
        .await;
    assert_eq!((s, body), (StatusCode::OK, json!({"deleted": lid})));
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) FROM transaction_loops WHERE id = '{lid}'")
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) FROM transaction_tasks WHERE loop_id = '{lid}'")
        )
        .await,
        0
    );
    let (s, _) = app
        .get(&format!("/v1/orgs/{org}/loops/{lid}"), &ann.token)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app
        .patch(&task(&t[1]), &ann.token, json!({"status": "PENDING"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "the tasks went with the loop");
}

// ---------------------------------------------------------------------------------------------
// 8. No N+1 in the loop listing
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn loop_listing_runs_the_same_statements_for_1_or_41_loops() {
    let app = TestApp::spawn().await;
    let (ann, org) = owner_and_org(&app, "ann@example.com", "Acme Realty").await;
    let mut counter = StatementCounter::new(&app).await;
    let list = format!("/v1/orgs/{org}/loops");

    create_loop(&app, &ann.token, &org, "1 First Street").await;
    // Warm the service's connections (a connection's first use may look up types).
    for _ in 0..3 {
        let (s, _) = app.get(&list, &ann.token).await;
        assert_eq!(s, StatusCode::OK);
    }
    counter.start(&app).await;
    let (s, page) = app.get(&list, &ann.token).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(items(&page).len(), 1);
    let (one, one_detail) = counter.stop(&app).await;
    assert!(
        one >= 3,
        "the counter saw the request's statements ({one}):\n{one_detail}"
    );

    for i in 2..=41 {
        create_loop(&app, &ann.token, &org, &format!("{i} Second Street")).await;
    }
    for _ in 0..3 {
        let (s, _) = app.get(&list, &ann.token).await;
        assert_eq!(s, StatusCode::OK);
    }
    counter.start(&app).await;
    let (s, page) = app.get(&list, &ann.token).await;
    assert_eq!(s, StatusCode::OK);
    let (many, many_detail) = counter.stop(&app).await;

    assert_eq!(
        many, one,
        "listing 41 loops ran {many} statements, listing 1 ran {one}\n-- 1 loop:\n{one_detail}\n-- 41 loops:\n{many_detail}"
    );
    let loops = items(&page);
    assert_eq!(loops.len(), 41);
    for l in &loops {
        let tasks = l["tasks"].as_array().expect("tasks");
        assert_eq!(tasks.len(), 4, "{}", l["id"]);
        let positions: Vec<i64> = tasks
            .iter()
            .map(|t| t["position"].as_i64().unwrap())
            .collect();
        assert_eq!(positions, vec![1, 2, 3, 4]);
        assert!(tasks.iter().all(|t| t["loop_id"] == l["id"]));
    }
    assert_eq!(ids(&loops), sorted(&loops, "-created_at"), "newest first");
    eprintln!("statements per loop listing: {one} (1 loop), {many} (41 loops)\n{many_detail}");
}

// ---------------------------------------------------------------------------------------------
// 9. Dashboard (Pattern 7)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn dashboard_numbers_are_exact() {
    let app = TestApp::spawn().await;
    let (ann, org) = owner_and_org(&app, "ann@example.com", "Acme Realty").await;
    let mia = app.user("mia@example.com").await;
    app.add(&org, &ann, &mia, "MEMBER").await;
    let now = Utc::now();

    // 15 contacts: 8 ACTIVE, 4 INACTIVE, 3 DO_NOT_CONTACT. Eleven follow-ups within the week
    // (13 h apart, created out of order), one in 8 days, one in the past, two without.
    let mut contacts: Vec<Value> = Vec::new();
    let mut follow: Vec<(DateTime<Utc>, String, String, Option<&str>)> = Vec::new();
    for i in 0..15usize {
        let status = match i {
            0..=7 => "ACTIVE",
            8..=11 => "INACTIVE",
            _ => "DO_NOT_CONTACT",
        };
        let at = match i {
            0..=10 => Some(now + Duration::hours(13 * ((i as i64 * 7) % 11 + 1))),
            11 => Some(now + Duration::days(8)),
            12 => Some(now - Duration::days(1)),
            _ => None,
        };
        let assignee = (i % 2 == 0).then(|| mia.id.clone());
        let name = format!("Client {i:02}");
        let (s, c) = app
            .post(
                &format!("/v1/orgs/{org}/contacts"),
                &ann.token,
                json!({"name": name, "status": status, "assigned_to_id": assignee,
                       "next_follow_up_at": at.map(rfc3339)}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        if let (Some(at), true) = (at, i <= 10) {
            follow.push((at, id(&c), name.clone(), assignee.as_ref().map(|_| "mia")));
        }
        contacts.push(c);
    }
    // Three were created ten days ago.
    let old: Vec<String> = [0, 5, 13].iter().map(|i| id(&contacts[*i])).collect();
    app.sql(&format!(
        "UPDATE contacts SET created_at = now() - interval '10 days' WHERE id IN ('{}')",
        old.join("','")
    ))
    .await;

    for v in [100_000, 250_000, 50] {
        let (s, d) = app
            .post(
                &format!("/v1/orgs/{org}/deals"),
                &ann.token,
                json!({"title": format!("Deal worth {v}"), "value_cents": v}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{d}");
    }

    // Another organization's data must not count.
    let (zed, other) = owner_and_org(&app, "zed@example.com", "Other Realty").await;
    let (s, _) = app
        .post(
            &format!("/v1/orgs/{other}/contacts"),
            &zed.token,
            json!({"name": "Outsider", "next_follow_up_at": rfc3339(now + Duration::hours(1))}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = app
        .post(
            &format!("/v1/orgs/{other}/deals"),
            &zed.token,
            json!({"title": "Outside deal", "value_cents": 999_999_999}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);

    let (s, dash) = app
        .get(&format!("/v1/orgs/{org}/dashboard"), &ann.token)
        .await;
    assert_eq!(s, StatusCode::OK, "{dash}");
    assert_eq!(dash["total_contacts"], 15, "{dash}");
    let by_status: BTreeMap<String, i64> = dash["contacts_by_status"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (text(r, "status"), r["count"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        by_status,
        BTreeMap::from([
            ("ACTIVE".to_string(), 8),
            ("INACTIVE".to_string(), 4),
            ("DO_NOT_CONTACT".to_string(), 3),
        ])
    );
    assert_eq!(dash["contacts_created_last_7_days"], 12);
    assert_eq!(dash["deal_count"], 3);
    assert_eq!(dash["deal_value_sum_cents"], 350_050);
    // 350050 / 3 = 116683.33..., rounded to the cent.
    assert_eq!(dash["deal_value_avg_cents"], 116_683);

    follow.sort();
    let want: Vec<Value> = follow
        .iter()
        .take(10)
        .map(|(at, cid, name, assignee)| {
            json!({"contact_id": cid, "name": name, "next_follow_up_at": rfc3339(*at), "assignee_name": assignee})
        })
        .collect();
    let got: Vec<Value> = dash["upcoming_follow_ups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            json!({"contact_id": f["contact_id"], "name": f["name"],
                   "next_follow_up_at": rfc3339(time(&f["next_follow_up_at"])),
                   "assignee_name": f["assignee_name"]})
        })
        .collect();
    assert_eq!(
        got.len(),
        10,
        "at most ten: {}",
        dash["upcoming_follow_ups"]
    );
    assert_eq!(
        got, want,
        "the ten soonest within a week, soonest first, with assignee names"
    );

    // An empty organization: zeros and no average.
    let empty = app.org(&ann, "Empty Realty").await;
    let (s, dash) = app
        .get(&format!("/v1/orgs/{empty}/dashboard"), &ann.token)
        .await;
    assert_eq!(s, StatusCode::OK, "{dash}");
    assert_eq!(
        dash,
        json!({
            "total_contacts": 0, "contacts_by_status": [], "contacts_created_last_7_days": 0,
            "deal_count": 0, "deal_value_sum_cents": 0, "deal_value_avg_cents": null,
            "upcoming_follow_ups": [],
        })
    );
}

// ---------------------------------------------------------------------------------------------
// 10. Activity
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn activity_is_newest_first_with_author_names_and_a_limit() {
    let app = TestApp::spawn().await;
    let (ann, org) = owner_and_org(&app, "ann@example.com", "Acme Realty").await;
    let mia = app.user("mia@example.com").await;
    app.add(&org, &ann, &mia, "MEMBER").await;
    let (zed, other) = owner_and_org(&app, "zed@example.com", "Other Realty").await;

    // 56 contacts, alternating authors: (entity id, author name), oldest first.
    let mut made: Vec<(String, &str)> = Vec::new();
    for i in 0..56 {
        let (who, name) = if i % 3 == 0 {
            (&mia, "mia")
        } else {
            (&ann, "ann")
        };
        let (s, c) = app
            .post(
                &format!("/v1/orgs/{org}/contacts"),
                &who.token,
                json!({"name": format!("Person {i:02}")}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        made.push((id(&c), name));
    }
    let (s, _) = app
        .post(
            &format!("/v1/orgs/{other}/contacts"),
            &zed.token,
            json!({"name": "Not Ours"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);

    let url = format!("/v1/orgs/{org}/activity");
    let (s, feed) = app.get(&url, &ann.token).await;
    assert_eq!(s, StatusCode::OK, "{feed}");
    let feed = feed.as_array().unwrap().clone();
    assert_eq!(feed.len(), 50, "fifty by default");
    let want: Vec<(String, &str)> = made.iter().rev().take(50).cloned().collect();
    let got: Vec<(String, &str)> = feed
        .iter()
        .map(|a| (text(a, "entity_id"), a["user_name"].as_str().unwrap()))
        .collect();
    assert_eq!(got, want, "newest first, each with its author's name");
    for a in &feed {
        assert_eq!(a["organization_id"], org.as_str());
        assert_eq!(a["action"], "created");
        assert_eq!(a["entity_type"], "contact");
        let author = if a["user_name"] == "mia" { &mia } else { &ann };
        assert_eq!(a["user_id"], author.id.as_str());
    }
    for w in feed.windows(2) {
        assert!(time(&w[0]["created_at"]) >= time(&w[1]["created_at"]));
    }

    let (s, five) = app.get(&format!("{url}?limit=5"), &ann.token).await;
    assert_eq!(s, StatusCode::OK, "{five}");
    assert_eq!(five.as_array().unwrap().as_slice(), &feed[..5]);

    // A viewer-level read works for members too, and bad limits are refused.
    let (s, mine) = app.get(&format!("{url}?limit=200"), &mia.token).await;
    assert_eq!(s, StatusCode::OK);
    // 56 contacts + organization created + member added.
    assert_eq!(mine.as_array().unwrap().len(), 58);
    for bad in ["limit=0", "limit=201", "limit=-1", "limit=ten"] {
        let (s, body) = app.get(&format!("{url}?{bad}"), &ann.token).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
}
