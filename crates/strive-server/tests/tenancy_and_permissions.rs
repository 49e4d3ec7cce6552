mod common;

// Tenancy and permissions, end to end: every org-scoped endpoint refuses other organizations'
// data, row-level security holds on its own (without the service's checks), the permission
// matrix is enforced for every mutation, the data-dependent rules hold, and a person in two
// organizations acts in each with the right data and role.

use common::{TestApp, TestUser};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use std::collections::BTreeSet;
use std::str::FromStr;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

type Reply = (StatusCode, Value);

fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}

/// Asserts an error reply: its status and its machine-readable code.
fn assert_error(got: &Reply, status: StatusCode, code: &str, what: &str) {
    assert_eq!(
        (got.0, got.1["code"].as_str()),
        (status, Some(code)),
        "{what}: unexpected answer {}",
        got.1
    );
}

/// Asserts a 422 that names `field`.
fn assert_invalid_field(got: &Reply, field: &str, what: &str) {
    assert_error(
        got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        what,
    );
    let fields: Vec<&str> = got.1["fields"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["field"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        fields.contains(&field),
        "{what}: expected the error to name `{field}`, got {}",
        got.1
    );
}

async fn created(app: &TestApp, path: &str, who: &TestUser, body: Value) -> Value {
    let (s, b) = app.post(path, &who.token, body).await;
    assert_eq!(s, StatusCode::CREATED, "POST {path}: {b}");
    b
}

fn loop_body(address: &str) -> Value {
    json!({
        "property_address": address,
        "transaction_type": "PURCHASE_AGREEMENT",
        "listing_price_cents": 45_000_000,
    })
}

/// Sets a person's platform role, making sure their profile exists first (profiles are created
/// lazily, and an UPDATE of a missing profile would silently change nothing).
async fn promote(app: &TestApp, who: &TestUser, role: &str) {
    let (s, b) = app.get("/v1/me", &who.token).await;
    assert_eq!(s, StatusCode::OK, "GET /v1/me: {b}");
    app.set_global_role(who, role).await;
    let now = app
        .scalar_text(&format!("SELECT role FROM users WHERE id = '{}'", who.id))
        .await;
    assert_eq!(now.as_deref(), Some(role), "global role of {}", who.email);
}

async fn count(app: &TestApp, query: &str) -> i64 {
    app.scalar_i64(query).await
}

async fn member_role(app: &TestApp, org: &str, who: &TestUser) -> Option<String> {
    app.scalar_text(&format!(
        "SELECT (SELECT role FROM organization_members
                  WHERE organization_id = '{org}' AND user_id = '{}')",
        who.id
    ))
    .await
}

/// One organization with an owner, a second member, a contact and a deal (both assigned to the
/// second member), and a loop with its four default tasks.
struct Tenant {
    org: String,
    owner: TestUser,
    second: TestUser,
    contact: String,
    deal: String,
    loop_id: String,
    tasks: Vec<String>,
    document: String,
    upload: String,
}

async fn tenant(app: &TestApp, owner: &str, second: &str, name: &str) -> Tenant {
    let owner = app.user(owner).await;
    let second = app.user(second).await;
    let org = app.org(&owner, name).await;
    app.add(&org, &owner, &second, "MEMBER").await;
    let contact = id_of(
        &created(
            app,
            &format!("/v1/orgs/{org}/contacts"),
            &owner,
            json!({"name": format!("{name} Client"), "assigned_to_id": second.id}),
        )
        .await,
    );
    let deal = id_of(
        &created(
            app,
            &format!("/v1/orgs/{org}/deals"),
            &owner,
            json!({"title": format!("{name} Deal"), "value_cents": 1_000_000,
                   "contact_id": contact, "assigned_to_id": second.id}),
        )
        .await,
    );
    let l = created(
        app,
        &format!("/v1/orgs/{org}/loops"),
        &owner,
        loop_body(&format!("1 {name} Street")),
    )
    .await;
    let tasks: Vec<String> = l["tasks"]
        .as_array()
        .expect("loop answers its tasks")
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(tasks.len(), 4, "a new loop has its 4 default tasks: {l}");
    let (document, upload) = app.document(&org, &owner.token, &id_of(&l)).await;
    Tenant {
        document,
        upload,
        org,
        owner,
        second,
        contact,
        deal,
        loop_id: id_of(&l),
        tasks,
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Tenant isolation for every org-scoped endpoint
// ---------------------------------------------------------------------------------------------

/// Every org-scoped route (relative to `/v1/orgs/{org_id}`) with a body that would be accepted
/// if the caller had access to `target`: the only reason left to refuse is tenancy.
fn org_routes(target: &Tenant, intruder: &TestUser) -> Vec<(Method, &'static str, Value)> {
    let none = Value::Null;
    vec![
        (Method::GET, "/members", none.clone()),
        (
            Method::POST,
            "/members",
            json!({"email": intruder.email, "role": "OWNER"}),
        ),
        (
            Method::PATCH,
            "/members/{user_id}",
            json!({"role": "VIEWER"}),
        ),
        (Method::DELETE, "/members/{user_id}", none.clone()),
        (Method::GET, "/contacts", none.clone()),
        (
            Method::POST,
            "/contacts",
            json!({"name": "Planted Contact"}),
        ),
        (
            Method::POST,
            "/contacts/bulk-assign",
            json!({"contact_ids": [target.contact], "assigned_to_id": target.owner.id}),
        ),
        (Method::GET, "/contacts/{id}", none.clone()),
        (
            Method::PATCH,
            "/contacts/{id}",
            json!({"name": "Hijacked Contact"}),
        ),
        (Method::DELETE, "/contacts/{id}", none.clone()),
        (Method::GET, "/dashboard", none.clone()),
        (Method::GET, "/deals", none.clone()),
        (
            Method::POST,
            "/deals",
            json!({"title": "Planted Deal", "value_cents": 100, "contact_id": target.contact}),
        ),
        (Method::GET, "/deals/{id}", none.clone()),
        (
            Method::PATCH,
            "/deals/{id}",
            json!({"stage": "CLOSED_LOST"}),
        ),
        (Method::DELETE, "/deals/{id}", none.clone()),
        (Method::GET, "/loops", none.clone()),
        (Method::POST, "/loops", loop_body("9 Planted Road")),
        (Method::GET, "/loops/{id}", none.clone()),
        (Method::PATCH, "/loops/{id}", json!({"status": "CANCELLED"})),
        (Method::DELETE, "/loops/{id}", none.clone()),
        (
            Method::POST,
            "/loops/{id}/tasks",
            json!({"title": "Planted task"}),
        ),
        (Method::PATCH, "/tasks/{id}", json!({"status": "CANCELLED"})),
        (Method::DELETE, "/tasks/{id}", none.clone()),
        (Method::POST, "/tasks/{id}/complete", none.clone()),
        (Method::GET, "/documents", none.clone()),
        (Method::GET, "/documents/{id}", none.clone()),
        (Method::GET, "/documents/{id}/versions", none.clone()),
        (Method::POST, "/documents/{id}/access", none.clone()),
        (Method::POST, "/documents/{id}/submit", none.clone()),
        (
            Method::POST,
            "/documents/{id}/review",
            json!({"decision": "RETURN", "note": "Planted note"}),
        ),
        (Method::GET, "/review-queue", none.clone()),
        (
            Method::POST,
            "/uploads",
            json!({"id": "0190a5d2-7c3e-7000-8000-00000000beef",
                   "document_id": "0190a5d2-7c3e-7000-8000-00000000cafe",
                   "loop_id": target.loop_id, "name": "Planted.pdf",
                   "mime_type": "application/pdf", "ciphertext_size": 48,
                   "sha256": "0".repeat(64)}),
        ),
        (Method::GET, "/uploads/{id}", none.clone()),
        (Method::PUT, "/uploads/{id}", json!({"planted": true})),
        (
            Method::POST,
            "/uploads/{id}/complete",
            json!({"data_key": "A".repeat(43) + "=", "size": 0}),
        ),
        (Method::GET, "/activity", none.clone()),
        (Method::GET, "/sync/pull", none.clone()),
        (Method::POST, "/sync/push", json!({"mutations": []})),
        (Method::POST, "/sync/request", json!({"full": true})),
        (Method::GET, "/events", none.clone()),
        (Method::GET, "/devices", none),
    ]
}

/// `/v1/orgs/{org}` + the template with its id filled from `ids` (a contact, deal, loop or task
/// of `ids` by the template's collection, and `ids`' second member for `{user_id}`).
fn fill(org: &str, template: &str, ids: &Tenant) -> String {
    let id = if template.starts_with("/contacts/") {
        &ids.contact
    } else if template.starts_with("/deals/") {
        &ids.deal
    } else if template.starts_with("/loops/") {
        &ids.loop_id
    } else if template.starts_with("/tasks/") {
        &ids.tasks[1]
    } else if template.starts_with("/documents/") {
        &ids.document
    } else if template.starts_with("/uploads/") {
        &ids.upload
    } else {
        ""
    };
    format!(
        "/v1/orgs/{org}{}",
        template
            .replace("{user_id}", &ids.second.id)
            .replace("{id}", id)
    )
}

/// The org-scoped routes as `src/router.rs` declares them: (METHOD, full path template).
fn routes_in_router() -> BTreeSet<(String, String)> {
    let src = include_str!("../src/router.rs");
    assert!(
        src.contains(".nest(\"/v1/orgs/{org_id}\", org)"),
        "router.rs nests the org routes under /v1/orgs/{{org_id}}"
    );
    let start = src
        .find("let org = Router::new()")
        .expect("router.rs builds the org router");
    let block = &src[start..];
    let block = &block[..block.find(';').expect("end of the org router")];
    let mut out = BTreeSet::new();
    for seg in block.split(".route(").skip(1) {
        let open = seg.find('"').expect("route path") + 1;
        let close = open + seg[open..].find('"').expect("route path end");
        let path = &seg[open..close];
        let handlers = &seg[close + 1..];
        for m in ["get", "post", "put", "patch", "delete"] {
            let needle = format!("{m}(");
            let mut from = 0;
            while let Some(i) = handlers[from..].find(&needle) {
                let at = from + i;
                let prev = handlers[..at].chars().last();
                if prev.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':')) {
                    out.insert((m.to_uppercase(), format!("/v1/orgs/{{org_id}}{path}")));
                }
                from = at + needle.len();
            }
        }
    }
    out
}

/// The org-scoped routes the OpenAPI description lists.
fn routes_in_openapi(spec: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        if !path.starts_with("/v1/orgs/{org_id}/") {
            continue;
        }
        for m in ["get", "post", "put", "patch", "delete"] {
            if item.get(m).is_some() {
                out.insert((m.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

async fn fingerprints(app: &TestApp, a: &str, b: &str) -> (String, String) {
    (app.fingerprint(a).await, app.fingerprint(b).await)
}

#[tokio::test]
async fn every_org_scoped_endpoint_refuses_other_organizations() {
    let app = TestApp::spawn().await;
    let a = tenant(&app, "alice@example.com", "amy@example.com", "Alpha Homes").await;
    let b = tenant(&app, "bob@example.com", "bea@example.com", "Beta Realty").await;
    let alice = a.owner.clone();

    // The table covers exactly the org-scoped routes of router.rs (and of the OpenAPI spec).
    let table = org_routes(&b, &alice);
    let covered: BTreeSet<(String, String)> = table
        .iter()
        .map(|(m, t, _)| (m.to_string(), format!("/v1/orgs/{{org_id}}{t}")))
        .collect();
    assert_eq!(covered.len(), table.len(), "no route twice in the table");
    assert_eq!(covered, routes_in_router(), "table vs src/router.rs");
    let (s, spec) = app
        .call(Method::GET, "/openapi.json", None, Value::Null)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(covered, routes_in_openapi(&spec), "table vs /openapi.json");
    assert_eq!(table.len(), 42);

    // Nothing below may change a row of either organization.
    let untouched = fingerprints(&app, &a.org, &b.org).await;

    // (a) Every endpoint of B, whatever alice's platform role (short of SUPER_ADMIN): 404.
    let mut probes = 0;
    for global in ["USER", "MODERATOR", "ADMIN"] {
        promote(&app, &alice, global).await;
        for (method, template, body) in &table {
            let path = fill(&b.org, template, &b);
            let what = format!("alice ({global}) {method} {path}");
            let got = app
                .call(method.clone(), &path, Some(&alice.token), body.clone())
                .await;
            assert_error(&got, StatusCode::NOT_FOUND, "not_found", &what);
            // Writes are checked one by one; reads once per pass, below (they cannot write).
            if *method != Method::GET {
                assert_eq!(
                    fingerprints(&app, &a.org, &b.org).await,
                    untouched,
                    "{what} changed data"
                );
            }
            probes += 1;
        }
        assert_eq!(
            fingerprints(&app, &a.org, &b.org).await,
            untouched,
            "alice ({global}) changed data"
        );
    }
    assert_eq!(probes, 3 * table.len());

    // Outside the nest: B's tier is platform administration, creating an org with B's id must
    // not take it over, and alice's organization list does not show B.
    promote(&app, &alice, "USER").await;
    let got = app
        .call(
            Method::PUT,
            &format!("/v1/admin/orgs/{}/tier", b.org),
            Some(&alice.token),
            json!({"tier": "FREE"}),
        )
        .await;
    assert_error(
        &got,
        StatusCode::FORBIDDEN,
        "forbidden_global_role",
        "alice sets B's tier",
    );
    let (s, body) = app
        .post(
            "/v1/orgs",
            &alice.token,
            json!({"id": b.org, "name": "Takeover Inc"}),
        )
        .await;
    assert!(
        s.is_client_error(),
        "creating an org with B's id: {s} {body}"
    );
    assert_eq!(fingerprints(&app, &a.org, &b.org).await, untouched);
    let (s, orgs) = app.get("/v1/orgs", &alice.token).await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<&str> = orgs
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["organization_id"].as_str())
        .collect();
    assert_eq!(ids, vec![a.org.as_str()], "alice's organizations: {orgs}");

    // (b) Alice's own organization, naming B's ids. MODERATOR so that deleting contacts and
    // deals gets past the global-role check and reaches the data.
    promote(&app, &alice, "MODERATOR").await;
    let mut foreign: Vec<(Method, String, Value)> = table
        .iter()
        .filter(|(_, t, _)| t.contains('{'))
        .map(|(m, t, body)| (m.clone(), fill(&a.org, t, &b), body.clone()))
        .collect();
    assert_eq!(foreign.len(), 23, "every route naming an id");
    for task in [&b.tasks[0], &b.tasks[2], &b.tasks[3]] {
        foreign.push((
            Method::POST,
            format!("/v1/orgs/{}/tasks/{task}/complete", a.org),
            Value::Null,
        ));
    }
    for who in [&b.owner, &b.second] {
        let path = format!("/v1/orgs/{}/members/{}", a.org, who.id);
        foreign.push((Method::PATCH, path.clone(), json!({"role": "VIEWER"})));
        foreign.push((Method::DELETE, path, Value::Null));
    }
    for (method, path, body) in &foreign {
        let what = format!("alice {method} {path}");
        let got = app
            .call(method.clone(), path, Some(&alice.token), body.clone())
            .await;
        assert_error(&got, StatusCode::NOT_FOUND, "not_found", &what);
        if *method != Method::GET {
            assert_eq!(
                fingerprints(&app, &a.org, &b.org).await,
                untouched,
                "{what} changed data"
            );
        }
    }
    assert_eq!(fingerprints(&app, &a.org, &b.org).await, untouched);

    // Bulk assignment in A that names B's contact: 404 and nothing assigned, not even A's own.
    let bulk = format!("/v1/orgs/{}/contacts/bulk-assign", a.org);
    for ids in [json!([b.contact]), json!([a.contact, b.contact])] {
        let got = app
            .post(
                &bulk,
                &alice.token,
                json!({"contact_ids": ids, "assigned_to_id": alice.id}),
            )
            .await;
        assert_error(
            &got,
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("bulk-assign {ids} in A"),
        );
        assert_eq!(fingerprints(&app, &a.org, &b.org).await, untouched);
    }
    let assignees = count(
        &app,
        &format!(
            "SELECT count(*) FROM contacts WHERE assigned_to_id = '{}'",
            alice.id
        ),
    )
    .await;
    assert_eq!(assignees, 0, "nothing was assigned to alice");

    // Pointing A's rows at B's contact or at bob (no member of A): 422 naming the field.
    let cases: Vec<(Method, String, Value, &str)> = vec![
        (
            Method::POST,
            format!("/v1/orgs/{}/deals", a.org),
            json!({"title": "Cross deal", "value_cents": 500, "contact_id": b.contact}),
            "contact_id",
        ),
        (
            Method::PATCH,
            format!("/v1/orgs/{}/deals/{}", a.org, a.deal),
            json!({"contact_id": b.contact}),
            "contact_id",
        ),
        (
            Method::POST,
            format!("/v1/orgs/{}/deals", a.org),
            json!({"title": "Cross deal", "value_cents": 500, "assigned_to_id": b.owner.id}),
            "assigned_to_id",
        ),
        (
            Method::POST,
            format!("/v1/orgs/{}/contacts", a.org),
            json!({"name": "Cross Contact", "assigned_to_id": b.owner.id}),
            "assigned_to_id",
        ),
        (
            Method::PATCH,
            format!("/v1/orgs/{}/contacts/{}", a.org, a.contact),
            json!({"assigned_to_id": b.owner.id}),
            "assigned_to_id",
        ),
        (
            Method::POST,
            bulk.clone(),
            json!({"contact_ids": [a.contact], "assigned_to_id": b.owner.id}),
            "assigned_to_id",
        ),
    ];
    for (method, path, body, field) in cases {
        let what = format!("alice {method} {path} {body}");
        let got = app.call(method, &path, Some(&alice.token), body).await;
        assert_invalid_field(&got, field, &what);
        assert_eq!(
            fingerprints(&app, &a.org, &b.org).await,
            untouched,
            "{what} changed data"
        );
    }

    // A's own listings show A's rows only.
    let base = format!("/v1/orgs/{}", a.org);
    let (s, page) = app.get(&format!("{base}/contacts"), &alice.token).await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids, vec![a.contact.clone()]);
    let (_, page) = app.get(&format!("{base}/deals"), &alice.token).await;
    let ids: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids, vec![a.deal.clone()]);
    let (_, page) = app.get(&format!("{base}/loops"), &alice.token).await;
    let ids: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids, vec![a.loop_id.clone()]);
    let (_, members) = app.get(&format!("{base}/members"), &alice.token).await;
    let mut emails: Vec<&str> = members
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["email"].as_str())
        .collect();
    emails.sort();
    assert_eq!(emails, vec!["alice@example.com", "amy@example.com"]);
    let (_, dash) = app.get(&format!("{base}/dashboard"), &alice.token).await;
    assert_eq!(
        (dash["total_contacts"].as_i64(), dash["deal_count"].as_i64()),
        (Some(1), Some(1)),
        "{dash}"
    );
    let (s, feed) = app.get(&format!("{base}/activity"), &alice.token).await;
    assert_eq!(s, StatusCode::OK);
    let feed = feed.as_array().unwrap();
    assert!(!feed.is_empty());
    assert!(
        feed.iter()
            .all(|i| i["organization_id"].as_str() == Some(a.org.as_str())),
        "activity of A shows only A: {feed:?}"
    );

    // Ids are made by clients, so A may reuse one of B's ids: that makes a row of A and leaves
    // B's row alone (or is refused), never touches B.
    let before_b = app.fingerprint(&b.org).await;
    let reused = [
        (
            format!("/v1/orgs/{}/contacts", a.org),
            json!({"id": b.contact, "name": "Same Id Contact"}),
        ),
        (
            format!("/v1/orgs/{}/deals", a.org),
            json!({"id": b.deal, "title": "Same Id Deal", "value_cents": 700}),
        ),
        (format!("/v1/orgs/{}/loops", a.org), {
            let mut l = loop_body("3 Same Id Court");
            l["id"] = json!(b.loop_id);
            l
        }),
        (
            format!("/v1/orgs/{}/loops/{}/tasks", a.org, a.loop_id),
            json!({"id": b.tasks[0], "title": "Same id task"}),
        ),
    ];
    for (path, body) in reused {
        let (s, got) = app.post(&path, &alice.token, body.clone()).await;
        assert!(
            s == StatusCode::CREATED || s == StatusCode::CONFLICT,
            "POST {path} {body}: {s} {got}"
        );
        if s == StatusCode::CREATED {
            assert_eq!(
                got["organization_id"].as_str(),
                Some(a.org.as_str()),
                "{got}"
            );
        }
        assert_eq!(
            app.fingerprint(&b.org).await,
            before_b,
            "POST {path} {body} touched B"
        );
    }
    let (s, bc) = app
        .get(
            &format!("/v1/orgs/{}/contacts/{}", b.org, b.contact),
            &b.owner.token,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(bc["name"].as_str(), Some("Beta Realty Client"));
    let (s, bl) = app
        .get(
            &format!("/v1/orgs/{}/loops/{}", b.org, b.loop_id),
            &b.owner.token,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(bl["tasks"].as_array().map(Vec::len), Some(4), "{bl}");
}

// ---------------------------------------------------------------------------------------------
// 2. Row-level security on its own
// ---------------------------------------------------------------------------------------------

const TENANT_TABLES: [(&str, &str); 10] = [
    ("organizations", "id"),
    ("organization_members", "organization_id"),
    ("subscriptions", "organization_id"),
    ("contacts", "organization_id"),
    ("deals", "organization_id"),
    ("transaction_loops", "organization_id"),
    ("transaction_tasks", "organization_id"),
    ("documents", "organization_id"),
    ("audit_log", "organization_id"),
    ("conflicts", "organization_id"),
];

async fn app_scalar(conn: &mut PgConnection, query: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(query)
        .fetch_one(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{query}: {e}"))
}

/// A transaction of the service role inside `org`'s tenant context.
async fn in_context<'c>(
    conn: &'c mut PgConnection,
    org: &str,
) -> sqlx::Transaction<'c, sqlx::Postgres> {
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.org_id', $1, true)")
        .bind(org)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

/// Asserts that numbering `org`'s changes from this transaction is refused with 42501.
async fn numbering_is_refused(tx: &mut PgConnection, org: &str, what: &str) {
    let err = sqlx::query("SELECT next_sync_seq($1::uuid)")
        .bind(org)
        .execute(&mut *tx)
        .await
        .expect_err(what);
    assert_eq!(sqlstate(&err).as_deref(), Some("42501"), "{what}: {err}");
}

fn sqlstate(e: &sqlx::Error) -> Option<String> {
    e.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned())
}

#[tokio::test]
async fn row_level_security_binds_the_service_role() {
    let app = TestApp::spawn().await;
    let a = tenant(&app, "alice@example.com", "amy@example.com", "Alpha Homes").await;
    let b = tenant(&app, "bob@example.com", "bea@example.com", "Beta Realty").await;
    for t in [&a, &b] {
        app.sql(&format!(
            "INSERT INTO documents (organization_id, id, loop_id, original_name, mime_type,
                                    file_size, storage_key, uploaded_by)
             VALUES ('{}', gen_random_uuid(), '{}', 'offer.pdf', 'application/pdf', 1024,
                     '{}/offer.pdf', '{}')",
            t.org, t.loop_id, t.org, t.owner.id
        ))
        .await;
        app.sql(&format!(
            "INSERT INTO conflicts (organization_id, id, device_id, user_id, entity_type, entity_id,
                                    field, lost_value, winning_value, winner_user_id)
             VALUES ('{}', gen_random_uuid(), gen_random_uuid(), '{}', 'contact', '{}', 'name',
                     '\"Old Name\"', '\"New Name\"', '{}')",
            t.org, t.owner.id, t.contact, t.owner.id
        ))
        .await;
    }

    let opts = PgConnectOptions::from_str(&app.admin_url)
        .unwrap()
        .username("strive_app");
    let mut conn = PgConnection::connect_with(&opts)
        .await
        .expect("strive_app connects");
    let me: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(me, "strive_app");

    // The role itself: no superuser, no BYPASSRLS, owns nothing; every tenant table forces RLS.
    let (superuser, bypass): (bool, bool) =
        sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'strive_app'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(!superuser, "strive_app must not be a superuser");
    assert!(!bypass, "strive_app must not bypass RLS");
    let owned = app_scalar(
        &mut conn,
        "SELECT count(*) FROM pg_tables WHERE tableowner = 'strive_app'",
    )
    .await;
    assert_eq!(owned, 0, "strive_app owns no table");
    for (table, _) in TENANT_TABLES {
        let forced = app_scalar(
            &mut conn,
            &format!(
                "SELECT count(*) FROM pg_class WHERE oid = 'public.{table}'::regclass
                   AND relrowsecurity AND relforcerowsecurity"
            ),
        )
        .await;
        assert_eq!(
            forced, 1,
            "{table} has row-level security enabled and forced"
        );
    }

    // No tenant context: nothing is visible, while the owner sees rows in every table.
    for (table, _) in TENANT_TABLES {
        let owner_sees = count(&app, &format!("SELECT count(*) FROM {table}")).await;
        assert!(owner_sees > 0, "the owner sees rows of {table}");
        let app_sees = app_scalar(&mut conn, &format!("SELECT count(*) FROM {table}")).await;
        assert_eq!(app_sees, 0, "strive_app without app.org_id sees {table}");
    }

    let before_b = app.fingerprint(&b.org).await;

    // Inside A's context: A's rows, and only them.
    let mut tx = in_context(&mut conn, &a.org).await;
    for (table, col) in TENANT_TABLES {
        let owner_a = count(
            &app,
            &format!("SELECT count(*) FROM {table} WHERE {col} = '{}'", a.org),
        )
        .await;
        assert!(owner_a > 0, "A has rows in {table}");
        let all = app_scalar(&mut tx, &format!("SELECT count(*) FROM {table}")).await;
        let of_a = app_scalar(
            &mut tx,
            &format!("SELECT count(*) FROM {table} WHERE {col} = '{}'", a.org),
        )
        .await;
        let of_b = app_scalar(
            &mut tx,
            &format!("SELECT count(*) FROM {table} WHERE {col} = '{}'", b.org),
        )
        .await;
        assert_eq!(
            (all, of_a, of_b),
            (owner_a, owner_a, 0),
            "{table} in A's context"
        );
    }
    let visible: Vec<String> = sqlx::query_scalar("SELECT id::text FROM contacts")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(visible, vec![a.contact.clone()]);
    for (sql, what) in [
        (
            format!(
                "UPDATE contacts SET name = 'Overwritten' WHERE organization_id = '{}'",
                b.org
            ),
            "update B's contacts",
        ),
        (
            format!("UPDATE deals SET value_cents = 1 WHERE id = '{}'", b.deal),
            "update B's deal by id",
        ),
        (
            format!(
                "UPDATE transaction_tasks SET status = 'DONE' WHERE organization_id = '{}'",
                b.org
            ),
            "update B's tasks",
        ),
        (
            format!(
                "UPDATE subscriptions SET tier = 'FREE' WHERE organization_id = '{}'",
                b.org
            ),
            "update B's subscription",
        ),
        (
            format!("DELETE FROM contacts WHERE organization_id = '{}'", b.org),
            "delete B's contacts",
        ),
        (
            format!(
                "DELETE FROM organization_members WHERE organization_id = '{}'",
                b.org
            ),
            "delete B's members",
        ),
    ] {
        let done = sqlx::query(&sql)
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(done.rows_affected(), 0, "{what} touched rows");
    }
    tx.commit().await.unwrap();
    assert_eq!(app.fingerprint(&b.org).await, before_b);

    // Writing a row into B, or moving A's row into B, from A's context: 42501, nothing written.
    let writes = [
        format!(
            "INSERT INTO contacts (organization_id, id, name, created_by)
             VALUES ('{}', gen_random_uuid(), 'RLS Intruder', '{}')",
            b.org, b.owner.id
        ),
        format!(
            "UPDATE contacts SET organization_id = '{}' WHERE organization_id = '{}'",
            b.org, a.org
        ),
        format!(
            "INSERT INTO audit_log (organization_id, id, user_id, action, entity_type, entity_id)
             VALUES ('{}', gen_random_uuid(), '{}', 'planted', 'contact', gen_random_uuid())",
            b.org, a.owner.id
        ),
        format!(
            "INSERT INTO conflicts (organization_id, id, device_id, entity_type, entity_id, field,
                                    lost_value, winning_value, winner_user_id)
             VALUES ('{}', gen_random_uuid(), gen_random_uuid(), 'contact', gen_random_uuid(),
                     'name', '1', '2', '{}')",
            b.org, a.owner.id
        ),
    ];
    let before_a = app.fingerprint(&a.org).await;
    for sql in writes {
        let mut tx = in_context(&mut conn, &a.org).await;
        let err = sqlx::query(&sql)
            .execute(&mut *tx)
            .await
            .expect_err("RLS refuses a row of another organization");
        assert_eq!(sqlstate(&err).as_deref(), Some("42501"), "{sql}: {err}");
        tx.rollback().await.unwrap();
    }
    let intruders = count(
        &app,
        "SELECT count(*) FROM contacts WHERE name = 'RLS Intruder'",
    )
    .await;
    assert_eq!(intruders, 0, "nothing was inserted");
    assert_eq!(app.fingerprint(&a.org).await, before_a);
    assert_eq!(app.fingerprint(&b.org).await, before_b);

    // The service may call the change feed's numbering (its writes' trigger runs as the
    // writer), but for the organization of its transaction only: B's counter is neither taken
    // nor moved from A's context.
    let b_counter = format!(
        "SELECT coalesce((SELECT last_seq FROM sync_counters WHERE organization_id = '{}'), -1)",
        b.org
    );
    let b_seq = count(&app, &b_counter).await;
    let mut tx = in_context(&mut conn, &a.org).await;
    numbering_is_refused(&mut tx, &b.org, "numbering another organization's changes").await;
    tx.rollback().await.unwrap();
    assert_eq!(count(&app, &b_counter).await, b_seq);
    assert_eq!(app.fingerprint(&b.org).await, before_b);

    // Nor by shadowing the catalog with a temporary table that names the service as the owner:
    // the owner's functions and the mover's copy switch read pg_catalog's own.
    let mut tx = in_context(&mut conn, &a.org).await;
    sqlx::raw_sql(
        "CREATE TEMP TABLE pg_class (oid oid, relowner oid) ON COMMIT DROP;
         INSERT INTO pg_temp.pg_class
           SELECT 'public.sync_counters'::regclass, oid FROM pg_catalog.pg_roles
            WHERE rolname = 'strive_app';
         SELECT set_config('strive.copying', 'on', true);",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    let copying: bool = sqlx::query_scalar("SELECT strive_copying()")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert!(!copying, "the service turned on the mover's copy mode");
    numbering_is_refused(
        &mut tx,
        &b.org,
        "a shadowed catalog does not make the owner",
    )
    .await;
    tx.rollback().await.unwrap();
    assert_eq!(count(&app, &b_counter).await, b_seq);

    // After the transaction the setting reads back empty: again nothing visible, and no error.
    let after = app_scalar(&mut conn, "SELECT count(*) FROM contacts").await;
    assert_eq!(after, 0, "no tenant context after the transaction ended");

    // The role cannot switch RLS off for itself.
    sqlx::query("SET row_security = off")
        .execute(&mut conn)
        .await
        .unwrap();
    let err = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM contacts")
        .fetch_one(&mut conn)
        .await
        .expect_err("row_security = off does not let strive_app past RLS");
    assert_eq!(sqlstate(&err).as_deref(), Some("42501"), "{err}");
    conn.close().await.ok();
}

// ---------------------------------------------------------------------------------------------
// 3. The permission matrix, end to end
// ---------------------------------------------------------------------------------------------

struct Denial<'a> {
    who: &'a TestUser,
    code: &'static str,
    message: String,
}

fn org_role_denial<'a>(who: &'a TestUser, role: &str, verb: &str) -> Denial<'a> {
    Denial {
        who,
        code: "forbidden_org_role",
        message: format!(
            "Your role in this organization ({role}) cannot {verb}; ask an owner or admin"
        ),
    }
}

fn global_role_denial<'a>(who: &'a TestUser, role: &str, verb: &str) -> Denial<'a> {
    Denial {
        who,
        code: "forbidden_global_role",
        message: format!("Your account role ({role}) cannot {verb}; ask a platform administrator"),
    }
}

struct Case<'a> {
    method: Method,
    path: String,
    body: Value,
    /// The tier-gated feature ("CRM", "transaction"), or `None` for settings (every tier).
    feature: Option<&'static str>,
    allowed: &'a TestUser,
    status: StatusCode,
    denials: Vec<Denial<'a>>,
    /// A query (as the owner) and the text it must answer after the allowed call.
    effect: (String, &'a str),
}

#[tokio::test]
async fn the_permission_matrix_holds_for_every_mutation() {
    let app = TestApp::spawn().await;
    let owner = app.user("owner@example.com").await; // USER, OWNER
    let admin = app.user("admin@example.com").await; // MODERATOR, ADMIN
    let member = app.user("member@example.com").await; // USER, MEMBER
    let modmember = app.user("modmember@example.com").await; // MODERATOR, MEMBER
    let viewer = app.user("viewer@example.com").await; // USER, VIEWER
    let root = app.user("root@example.com").await; // SUPER_ADMIN, VIEWER
    let plat = app.user("plat@example.com").await; // ADMIN, no member
    let extra1 = app.user("extra1@example.com").await;
    let extra2 = app.user("extra2@example.com").await;
    let newbie = app.user("newbie@example.com").await;
    let org = app.org(&owner, "Matrix Realty").await;
    for (who, role) in [
        (&admin, "ADMIN"),
        (&member, "MEMBER"),
        (&modmember, "MEMBER"),
        (&viewer, "VIEWER"),
        (&root, "VIEWER"),
        (&extra1, "MEMBER"),
        (&extra2, "MEMBER"),
    ] {
        app.add(&org, &owner, who, role).await;
    }
    promote(&app, &admin, "MODERATOR").await;
    promote(&app, &modmember, "MODERATOR").await;
    promote(&app, &root, "SUPER_ADMIN").await;
    promote(&app, &plat, "ADMIN").await;

    let base = format!("/v1/orgs/{org}");
    let contact = |name: &str| json!({"name": name});
    let c_upd = id_of(
        &created(
            &app,
            &format!("{base}/contacts"),
            &owner,
            contact("Cora Update"),
        )
        .await,
    );
    let c_del = id_of(
        &created(
            &app,
            &format!("{base}/contacts"),
            &owner,
            contact("Dora Delete"),
        )
        .await,
    );
    let c_bulk = id_of(
        &created(
            &app,
            &format!("{base}/contacts"),
            &owner,
            contact("Bella Bulk"),
        )
        .await,
    );
    let deal = |title: &str| json!({"title": title, "value_cents": 300_000});
    let d_upd = id_of(&created(&app, &format!("{base}/deals"), &owner, deal("Deal to edit")).await);
    let d_del = id_of(&created(&app, &format!("{base}/deals"), &owner, deal("Deal to drop")).await);
    let l_upd = id_of(
        &created(
            &app,
            &format!("{base}/loops"),
            &owner,
            loop_body("10 Edit Avenue"),
        )
        .await,
    );
    let l_del = id_of(
        &created(
            &app,
            &format!("{base}/loops"),
            &owner,
            loop_body("20 Drop Avenue"),
        )
        .await,
    );
    let l_tasks = created(
        &app,
        &format!("{base}/loops"),
        &owner,
        loop_body("30 Task Avenue"),
    )
    .await;
    let tasks: Vec<String> = l_tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    let l_tasks = id_of(&l_tasks);

    let cases = vec![
        Case {
            method: Method::POST,
            path: format!("{base}/contacts"),
            body: contact("Matrix Contact"),
            feature: Some("CRM"),
            allowed: &member,
            status: StatusCode::CREATED,
            denials: vec![org_role_denial(&viewer, "VIEWER", "create contacts")],
            effect: (
                format!("SELECT count(*)::text FROM contacts WHERE organization_id = '{org}' AND name = 'Matrix Contact'"),
                "1",
            ),
        },
        Case {
            method: Method::PATCH,
            path: format!("{base}/contacts/{c_upd}"),
            body: json!({"name": "Cora Updated"}),
            feature: Some("CRM"),
            allowed: &member,
            status: StatusCode::OK,
            denials: vec![org_role_denial(&viewer, "VIEWER", "edit contacts")],
            effect: (format!("SELECT name FROM contacts WHERE id = '{c_upd}'"), "Cora Updated"),
        },
        Case {
            method: Method::DELETE,
            path: format!("{base}/contacts/{c_del}"),
            body: Value::Null,
            feature: Some("CRM"),
            allowed: &admin,
            status: StatusCode::OK,
            denials: vec![
                global_role_denial(&owner, "USER", "delete contacts"),
                global_role_denial(&member, "USER", "delete contacts"),
                org_role_denial(&modmember, "MEMBER", "delete contacts"),
            ],
            effect: (format!("SELECT count(*)::text FROM contacts WHERE id = '{c_del}'"), "0"),
        },
        Case {
            method: Method::POST,
            path: format!("{base}/contacts/bulk-assign"),
            body: json!({"contact_ids": [c_bulk], "assigned_to_id": member.id}),
            feature: Some("CRM"),
            allowed: &admin,
            status: StatusCode::OK,
            denials: vec![
                org_role_denial(&member, "MEMBER", "bulk-assign contacts"),
                org_role_denial(&viewer, "VIEWER", "bulk-assign contacts"),
            ],
            effect: (
                format!("SELECT assigned_to_id::text FROM contacts WHERE id = '{c_bulk}'"),
                member.id.as_str(),
            ),
        },
        Case {
            method: Method::POST,
            path: format!("{base}/deals"),
            body: deal("Matrix Deal"),
            feature: Some("CRM"),
            allowed: &member,
            status: StatusCode::CREATED,
            denials: vec![org_role_denial(&viewer, "VIEWER", "create deals")],
            effect: (
                format!("SELECT count(*)::text FROM deals WHERE organization_id = '{org}' AND title = 'Matrix Deal'"),
                "1",
            ),
        },
        Case {
            method: Method::PATCH,
            path: format!("{base}/deals/{d_upd}"),
            body: json!({"stage": "QUALIFIED"}),
            feature: Some("CRM"),
            allowed: &member,
            status: StatusCode::OK,
            denials: vec![org_role_denial(&viewer, "VIEWER", "edit deals")],
            effect: (format!("SELECT stage FROM deals WHERE id = '{d_upd}'"), "QUALIFIED"),
        },
        Case {
            method: Method::DELETE,
            path: format!("{base}/deals/{d_del}"),
            body: Value::Null,
            feature: Some("CRM"),
            allowed: &admin,
            status: StatusCode::OK,
            denials: vec![
                global_role_denial(&owner, "USER", "delete deals"),
                org_role_denial(&modmember, "MEMBER", "delete deals"),
                global_role_denial(&viewer, "USER", "delete deals"),
            ],
            effect: (format!("SELECT count(*)::text FROM deals WHERE id = '{d_del}'"), "0"),
        },
        Case {
            method: Method::POST,
            path: format!("{base}/loops"),
            body: loop_body("77 Matrix Lane"),
            feature: Some("transaction"),
            allowed: &member,
            status: StatusCode::CREATED,
            denials: vec![org_role_denial(&viewer, "VIEWER", "create transaction loops")],
            effect: (
                format!(
                    "SELECT count(*)::text FROM transaction_tasks t JOIN transaction_loops l
                       ON l.organization_id = t.organization_id AND l.id = t.loop_id
                     WHERE l.organization_id = '{org}' AND l.property_address = '77 Matrix Lane'"
                ),
                "4",
            ),
        },
        Case {
            method: Method::PATCH,
            path: format!("{base}/loops/{l_upd}"),
            body: json!({"status": "ACTIVE"}),
            feature: Some("transaction"),
            allowed: &owner,
            status: StatusCode::OK,
            denials: vec![org_role_denial(&viewer, "VIEWER", "edit transaction loops")],
            effect: (format!("SELECT status FROM transaction_loops WHERE id = '{l_upd}'"), "ACTIVE"),
        },
        Case {
            method: Method::DELETE,
            path: format!("{base}/loops/{l_del}"),
            body: Value::Null,
            feature: Some("transaction"),
            allowed: &admin,
            status: StatusCode::OK,
            denials: vec![
                org_role_denial(&member, "MEMBER", "delete transaction loops"),
                org_role_denial(&viewer, "VIEWER", "delete transaction loops"),
            ],
            effect: (
                format!("SELECT count(*)::text FROM transaction_loops WHERE id = '{l_del}'"),
                "0",
            ),
        },
        Case {
            method: Method::POST,
            path: format!("{base}/loops/{l_tasks}/tasks"),
            body: json!({"title": "Order appraisal"}),
            feature: Some("transaction"),
            allowed: &member,
            status: StatusCode::CREATED,
            denials: vec![org_role_denial(&viewer, "VIEWER", "create tasks")],
            effect: (
                format!("SELECT count(*)::text FROM transaction_tasks WHERE loop_id = '{l_tasks}' AND title = 'Order appraisal'"),
                "1",
            ),
        },
        Case {
            method: Method::PATCH,
            path: format!("{base}/tasks/{}", tasks[0]),
            body: json!({"status": "IN_PROGRESS"}),
            feature: Some("transaction"),
            allowed: &member,
            status: StatusCode::OK,
            denials: vec![org_role_denial(&viewer, "VIEWER", "edit tasks")],
            effect: (
                format!("SELECT status FROM transaction_tasks WHERE id = '{}'", tasks[0]),
                "IN_PROGRESS",
            ),
        },
        Case {
            method: Method::POST,
            path: format!("{base}/tasks/{}/complete", tasks[1]),
            body: Value::Null,
            feature: Some("transaction"),
            allowed: &member,
            status: StatusCode::OK,
            denials: vec![org_role_denial(&viewer, "VIEWER", "complete tasks")],
            effect: (
                format!("SELECT status FROM transaction_tasks WHERE id = '{}'", tasks[1]),
                "DONE",
            ),
        },
        Case {
            method: Method::DELETE,
            path: format!("{base}/tasks/{}", tasks[2]),
            body: Value::Null,
            feature: Some("transaction"),
            allowed: &member,
            status: StatusCode::OK,
            denials: vec![org_role_denial(&viewer, "VIEWER", "delete tasks")],
            effect: (
                format!("SELECT count(*)::text FROM transaction_tasks WHERE id = '{}'", tasks[2]),
                "0",
            ),
        },
        Case {
            method: Method::POST,
            path: format!("{base}/members"),
            body: json!({"email": newbie.email, "role": "MEMBER"}),
            feature: None,
            allowed: &member,
            status: StatusCode::CREATED,
            denials: vec![org_role_denial(&viewer, "VIEWER", "add members")],
            effect: (
                format!("SELECT role FROM organization_members WHERE organization_id = '{org}' AND user_id = '{}'", newbie.id),
                "MEMBER",
            ),
        },
        Case {
            method: Method::PATCH,
            path: format!("{base}/members/{}", extra1.id),
            body: json!({"role": "VIEWER"}),
            feature: None,
            allowed: &admin,
            status: StatusCode::OK,
            denials: vec![
                org_role_denial(&member, "MEMBER", "change members' roles"),
                org_role_denial(&viewer, "VIEWER", "change members' roles"),
            ],
            effect: (
                format!("SELECT role FROM organization_members WHERE organization_id = '{org}' AND user_id = '{}'", extra1.id),
                "VIEWER",
            ),
        },
        Case {
            method: Method::DELETE,
            path: format!("{base}/members/{}", extra2.id),
            body: Value::Null,
            feature: None,
            allowed: &owner,
            status: StatusCode::NO_CONTENT,
            denials: vec![
                org_role_denial(&member, "MEMBER", "remove members"),
                org_role_denial(&viewer, "VIEWER", "remove members"),
            ],
            effect: (
                format!("SELECT count(*)::text FROM organization_members WHERE organization_id = '{org}' AND user_id = '{}'", extra2.id),
                "0",
            ),
        },
        Case {
            method: Method::PUT,
            path: format!("/v1/admin/orgs/{org}/tier"),
            body: json!({"tier": "GROWTH"}),
            feature: None,
            allowed: &plat,
            status: StatusCode::NO_CONTENT,
            denials: vec![
                global_role_denial(&owner, "USER", "change subscription tiers"),
                global_role_denial(&modmember, "MODERATOR", "change subscription tiers"),
            ],
            effect: (
                format!("SELECT tier FROM subscriptions WHERE organization_id = '{org}'"),
                "GROWTH",
            ),
        },
    ];
    assert_eq!(cases.len(), 18, "every mutation endpoint");

    for case in &cases {
        let label = format!("{} {}", case.method, case.path);

        // Wrong tier: refused first, for everyone, whatever their roles.
        if let Some(feature) = case.feature {
            for tier in ["FREE", "CUSTOM"] {
                app.set_tier(&org, tier).await;
                let fp = app.fingerprint(&org).await;
                let callers =
                    std::iter::once(case.allowed).chain(case.denials.iter().map(|d| d.who));
                for who in callers {
                    let what = format!("{} on {tier}: {label}", who.email);
                    let got = send(&app, case, who).await;
                    assert_error(&got, StatusCode::FORBIDDEN, "forbidden_tier", &what);
                    assert_eq!(
                        got.1["message"].as_str(),
                        Some(
                            format!("Upgrade to STARTER tier to access {feature} features")
                                .as_str()
                        ),
                        "{what}"
                    );
                    assert_eq!(app.fingerprint(&org).await, fp, "{what} changed data");
                }
            }
            app.set_tier(&org, "STARTER").await;
        }

        // Wrong global role or org role.
        let fp = app.fingerprint(&org).await;
        for d in &case.denials {
            let what = format!("{}: {label}", d.who.email);
            let got = send(&app, case, d.who).await;
            assert_error(&got, StatusCode::FORBIDDEN, d.code, &what);
            assert_eq!(
                got.1["message"].as_str(),
                Some(d.message.as_str()),
                "{what}"
            );
            assert_eq!(app.fingerprint(&org).await, fp, "{what} changed data");
        }

        // The allowed caller; settings actions are open on every tier, so try those on FREE.
        if case.feature.is_none() {
            app.set_tier(&org, "FREE").await;
        }
        let fp = app.fingerprint(&org).await;
        let got = send(&app, case, case.allowed).await;
        assert_eq!(
            got.0, case.status,
            "{}: {label}: {}",
            case.allowed.email, got.1
        );
        assert_ne!(app.fingerprint(&org).await, fp, "{label} changed nothing");
        assert_eq!(
            app.scalar_text(&case.effect.0).await.as_deref(),
            Some(case.effect.1),
            "{label}: effect"
        );
        if case.feature.is_none() {
            app.set_tier(&org, "STARTER").await;
        }
    }

    // SUPER_ADMIN skips the org-role check (a VIEWER in the org creates and deletes contacts),
    // but not the tier check.
    let got = app
        .post(
            &format!("{base}/contacts"),
            &root.token,
            contact("Root Contact"),
        )
        .await;
    assert_eq!(
        got.0,
        StatusCode::CREATED,
        "SUPER_ADMIN VIEWER creates: {}",
        got.1
    );
    let root_contact = id_of(&got.1);
    app.set_tier(&org, "FREE").await;
    let fp = app.fingerprint(&org).await;
    let got = app
        .delete(&format!("{base}/contacts/{root_contact}"), &root.token)
        .await;
    assert_error(
        &got,
        StatusCode::FORBIDDEN,
        "forbidden_tier",
        "SUPER_ADMIN on FREE",
    );
    assert_eq!(app.fingerprint(&org).await, fp);
    app.set_tier(&org, "STARTER").await;
    let got = app
        .delete(&format!("{base}/contacts/{root_contact}"), &root.token)
        .await;
    assert_eq!(
        got.0,
        StatusCode::OK,
        "SUPER_ADMIN VIEWER deletes: {}",
        got.1
    );
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) FROM contacts WHERE id = '{root_contact}'")
        )
        .await,
        0
    );

    // Role changes and removals take effect on the very next request (the token carries no
    // role): extra1, now VIEWER, can no longer write; extra2, removed, can no longer read.
    let fp = app.fingerprint(&org).await;
    let got = app
        .post(
            &format!("{base}/contacts"),
            &extra1.token,
            contact("Late Write"),
        )
        .await;
    assert_error(
        &got,
        StatusCode::FORBIDDEN,
        "forbidden_org_role",
        "demoted extra1 writes",
    );
    let got = app.get(&format!("{base}/contacts"), &extra2.token).await;
    assert!(
        got.0 == StatusCode::NOT_FOUND || got.1["code"].as_str() == Some("needs_organization"),
        "removed extra2 still reads the org: {} {}",
        got.0,
        got.1
    );
    assert_eq!(app.fingerprint(&org).await, fp);

    // Settings stay open on FREE: a VIEWER reads the members.
    app.set_tier(&org, "FREE").await;
    let (s, list) = app.get(&format!("{base}/members"), &viewer.token).await;
    assert_eq!(s, StatusCode::OK, "members are readable on FREE: {list}");
}

async fn send(app: &TestApp, case: &Case<'_>, who: &TestUser) -> Reply {
    app.call(
        case.method.clone(),
        &case.path,
        Some(&who.token),
        case.body.clone(),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// 4. Rules that depend on the data
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn data_dependent_rules() {
    let app = TestApp::spawn().await;
    let owner = app.user("owner@example.com").await;
    let admin = app.user("admin@example.com").await;
    let member = app.user("member@example.com").await;
    let member2 = app.user("member2@example.com").await;
    let newcomer = app.user("newcomer@example.com").await;
    let org = app.org(&owner, "Rules Realty").await;
    app.add(&org, &owner, &admin, "ADMIN").await;
    app.add(&org, &owner, &member, "MEMBER").await;
    app.add(&org, &owner, &member2, "MEMBER").await;
    let base = format!("/v1/orgs/{org}");

    // Loops: only the creator or an owner/admin may edit.
    let owners_loop = id_of(
        &created(
            &app,
            &format!("{base}/loops"),
            &owner,
            loop_body("5 Owner Way"),
        )
        .await,
    );
    let members_loop = id_of(
        &created(
            &app,
            &format!("{base}/loops"),
            &member,
            loop_body("6 Member Way"),
        )
        .await,
    );
    for (who, l) in [(&member, &owners_loop), (&member2, &members_loop)] {
        let fp = app.fingerprint(&org).await;
        let got = app
            .patch(
                &format!("{base}/loops/{l}"),
                &who.token,
                json!({"status": "ACTIVE"}),
            )
            .await;
        let what = format!("{} edits a loop they did not create", who.email);
        assert_error(&got, StatusCode::FORBIDDEN, "forbidden_org_role", &what);
        assert_eq!(
            got.1["message"].as_str(),
            Some("Only the loop's creator or an owner or admin can edit this loop")
        );
        assert_eq!(app.fingerprint(&org).await, fp, "{what} changed data");
    }
    for (who, l, status) in [
        (&member, &members_loop, "ACTIVE"),
        (&admin, &owners_loop, "UNDER_CONTRACT"),
    ] {
        let got = app
            .patch(
                &format!("{base}/loops/{l}"),
                &who.token,
                json!({"status": status}),
            )
            .await;
        assert_eq!(got.0, StatusCode::OK, "{} edits loop: {}", who.email, got.1);
        assert_eq!(got.1["status"].as_str(), Some(status));
    }

    // An ADMIN can neither demote nor remove the OWNER, nor make anyone OWNER. While the
    // OWNER is the only one, the last-owner rule refuses too; which message wins is not the
    // point here, the refusal and the unchanged state are (the rank rule alone is checked
    // below, once there are two owners).
    let above = "You cannot change a member whose role is above yours";
    let too_high = "You cannot give a role above your own";
    let last = "An organization needs at least one owner; make someone else owner first";
    let owner_path = format!("{base}/members/{}", owner.id);
    let refusals: Vec<(Method, String, Value, Vec<&str>)> = vec![
        (
            Method::PATCH,
            owner_path.clone(),
            json!({"role": "MEMBER"}),
            vec![above, last],
        ),
        (
            Method::DELETE,
            owner_path.clone(),
            Value::Null,
            vec![above, last],
        ),
        (
            Method::PATCH,
            format!("{base}/members/{}", member.id),
            json!({"role": "OWNER"}),
            vec![too_high],
        ),
    ];
    for (method, path, body, messages) in refusals {
        let what = format!("admin {method} {path} {body}");
        let fp = app.fingerprint(&org).await;
        let got = app.call(method, &path, Some(&admin.token), body).await;
        assert_error(&got, StatusCode::FORBIDDEN, "forbidden_org_role", &what);
        let message = got.1["message"].as_str().unwrap_or("");
        assert!(messages.contains(&message), "{what}: {message}");
        assert_eq!(app.fingerprint(&org).await, fp, "{what} changed data");
    }
    assert_eq!(
        member_role(&app, &org, &owner).await.as_deref(),
        Some("OWNER")
    );

    // The last OWNER can neither demote nor remove themselves...
    for (method, body) in [
        (Method::PATCH, json!({"role": "ADMIN"})),
        (Method::DELETE, Value::Null),
    ] {
        let what = format!("last owner {method}s themselves");
        let fp = app.fingerprint(&org).await;
        let got = app
            .call(method, &owner_path, Some(&owner.token), body)
            .await;
        assert_error(&got, StatusCode::FORBIDDEN, "forbidden_org_role", &what);
        assert_eq!(got.1["message"].as_str(), Some(last), "{what}");
        assert_eq!(app.fingerprint(&org).await, fp, "{what} changed data");
    }

    // ...but can once someone else is OWNER.
    let got = app
        .patch(
            &format!("{base}/members/{}", member2.id),
            &owner.token,
            json!({"role": "OWNER"}),
        )
        .await;
    assert_eq!(got.0, StatusCode::OK, "promote member2 to owner: {}", got.1);
    assert_eq!(got.1["role"].as_str(), Some("OWNER"));

    // With two owners only the rank rule is left, and it still stops the ADMIN.
    for (method, path, body) in [
        (Method::PATCH, owner_path.clone(), json!({"role": "MEMBER"})),
        (Method::DELETE, owner_path.clone(), Value::Null),
        (
            Method::PATCH,
            format!("{base}/members/{}", member2.id),
            json!({"role": "ADMIN"}),
        ),
        (
            Method::DELETE,
            format!("{base}/members/{}", member2.id),
            Value::Null,
        ),
    ] {
        let what = format!("admin {method} {path} {body} (two owners)");
        let fp = app.fingerprint(&org).await;
        let got = app.call(method, &path, Some(&admin.token), body).await;
        assert_error(&got, StatusCode::FORBIDDEN, "forbidden_org_role", &what);
        assert_eq!(got.1["message"].as_str(), Some(above), "{what}");
        assert_eq!(app.fingerprint(&org).await, fp, "{what} changed data");
    }

    let got = app
        .patch(&owner_path, &owner.token, json!({"role": "ADMIN"}))
        .await;
    assert_eq!(
        got.0,
        StatusCode::OK,
        "former last owner steps down: {}",
        got.1
    );
    assert_eq!(
        member_role(&app, &org, &owner).await.as_deref(),
        Some("ADMIN")
    );
    assert_eq!(
        member_role(&app, &org, &member2).await.as_deref(),
        Some("OWNER")
    );
    // Now member2 is the last owner.
    let fp = app.fingerprint(&org).await;
    let got = app
        .patch(
            &format!("{base}/members/{}", member2.id),
            &member2.token,
            json!({"role": "MEMBER"}),
        )
        .await;
    assert_error(
        &got,
        StatusCode::FORBIDDEN,
        "forbidden_org_role",
        "new last owner steps down",
    );
    assert_eq!(got.1["message"].as_str(), Some(last));
    assert_eq!(app.fingerprint(&org).await, fp);

    // A MEMBER may add a VIEWER but not an ADMIN.
    let fp = app.fingerprint(&org).await;
    let got = app
        .post(
            &format!("{base}/members"),
            &member.token,
            json!({"email": newcomer.email, "role": "ADMIN"}),
        )
        .await;
    assert_error(
        &got,
        StatusCode::FORBIDDEN,
        "forbidden_org_role",
        "member adds an ADMIN",
    );
    assert_eq!(got.1["message"].as_str(), Some(too_high));
    assert_eq!(app.fingerprint(&org).await, fp);
    assert_eq!(member_role(&app, &org, &newcomer).await, None);
    let got = app
        .post(
            &format!("{base}/members"),
            &member.token,
            json!({"email": newcomer.email, "role": "VIEWER"}),
        )
        .await;
    assert_eq!(
        got.0,
        StatusCode::CREATED,
        "member adds a VIEWER: {}",
        got.1
    );
    assert_eq!(got.1["role"].as_str(), Some("VIEWER"));
    assert_eq!(
        member_role(&app, &org, &newcomer).await.as_deref(),
        Some("VIEWER")
    );

    // An email with no account: 404. An existing member: 409.
    for (email, status, code) in [
        ("nobody@example.com", StatusCode::NOT_FOUND, "not_found"),
        (member2.email.as_str(), StatusCode::CONFLICT, "conflict"),
    ] {
        let fp = app.fingerprint(&org).await;
        let got = app
            .post(
                &format!("{base}/members"),
                &owner.token,
                json!({"email": email, "role": "MEMBER"}),
            )
            .await;
        assert_error(&got, status, code, &format!("add {email}"));
        assert_eq!(app.fingerprint(&org).await, fp, "add {email} changed data");
    }
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM users WHERE email = 'nobody@example.com'"
        )
        .await,
        0,
        "no profile was made up for an unknown email"
    );
    assert_eq!(
        member_role(&app, &org, &member2).await.as_deref(),
        Some("OWNER")
    );
}

// ---------------------------------------------------------------------------------------------
// 5. One person in two organizations
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_person_in_two_organizations_acts_in_each_with_its_data_and_role() {
    let app = TestApp::spawn().await;
    let carol = app.user("carol@example.com").await;
    let dave = app.user("dave@example.com").await;
    let x = app.org(&carol, "Carol Homes").await;
    let y = app.org(&dave, "Dave Realty").await;
    app.add(&y, &dave, &carol, "MEMBER").await;
    app.set_tier(&y, "GROWTH").await;

    // Carol acts in each; each row lands in the organization named by the path.
    let cx = created(
        &app,
        &format!("/v1/orgs/{x}/contacts"),
        &carol,
        json!({"name": "Xavier Exley"}),
    )
    .await;
    let cy = created(
        &app,
        &format!("/v1/orgs/{y}/contacts"),
        &carol,
        json!({"name": "Yolanda Young"}),
    )
    .await;
    let dy = created(
        &app,
        &format!("/v1/orgs/{y}/contacts"),
        &dave,
        json!({"name": "Dan Dealer"}),
    )
    .await;
    assert_eq!(cx["organization_id"].as_str(), Some(x.as_str()));
    assert_eq!(cy["organization_id"].as_str(), Some(y.as_str()));
    let (cx, cy, dy) = (id_of(&cx), id_of(&cy), id_of(&dy));

    let names = |page: &Value| -> Vec<String> {
        let mut v: Vec<String> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let (s, px) = app
        .get(&format!("/v1/orgs/{x}/contacts"), &carol.token)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(names(&px), vec!["Xavier Exley"]);
    let (s, py) = app
        .get(&format!("/v1/orgs/{y}/contacts"), &carol.token)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(names(&py), vec!["Dan Dealer", "Yolanda Young"]);
    let (_, dash) = app
        .get(&format!("/v1/orgs/{x}/dashboard"), &carol.token)
        .await;
    assert_eq!(dash["total_contacts"].as_i64(), Some(1), "{dash}");
    let (_, dash) = app
        .get(&format!("/v1/orgs/{y}/dashboard"), &carol.token)
        .await;
    assert_eq!(dash["total_contacts"].as_i64(), Some(2), "{dash}");

    // Ids of one organization mean nothing in the other.
    let got = app
        .get(&format!("/v1/orgs/{x}/contacts/{cy}"), &carol.token)
        .await;
    assert_error(
        &got,
        StatusCode::NOT_FOUND,
        "not_found",
        "Y's contact through X",
    );
    let got = app
        .get(&format!("/v1/orgs/{y}/contacts/{cx}"), &carol.token)
        .await;
    assert_error(
        &got,
        StatusCode::NOT_FOUND,
        "not_found",
        "X's contact through Y",
    );
    // Dave, only in Y, cannot reach X at all.
    let got = app
        .get(&format!("/v1/orgs/{x}/contacts"), &dave.token)
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found", "dave lists X");

    // Her role is per organization: OWNER in X may bulk-assign, MEMBER in Y may not.
    let got = app
        .post(
            &format!("/v1/orgs/{x}/contacts/bulk-assign"),
            &carol.token,
            json!({"contact_ids": [cx], "assigned_to_id": carol.id}),
        )
        .await;
    assert_eq!(got.0, StatusCode::OK, "carol bulk-assigns in X: {}", got.1);
    assert_eq!(got.1["updated"].as_i64(), Some(1));
    let fp = app.fingerprint(&y).await;
    let got = app
        .post(
            &format!("/v1/orgs/{y}/contacts/bulk-assign"),
            &carol.token,
            json!({"contact_ids": [dy], "assigned_to_id": carol.id}),
        )
        .await;
    assert_error(
        &got,
        StatusCode::FORBIDDEN,
        "forbidden_org_role",
        "carol bulk-assigns in Y",
    );
    assert!(
        got.1["message"].as_str().unwrap_or("").contains("(MEMBER)"),
        "{}",
        got.1
    );
    assert_eq!(app.fingerprint(&y).await, fp);

    // The organization list: both, each with her role and its tier.
    let listing = |v: &Value| -> Vec<(String, String, String)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["organization_id"].as_str().unwrap().to_string(),
                    o["role"].as_str().unwrap().to_string(),
                    o["tier"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let (s, orgs) = app.get("/v1/orgs", &carol.token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        listing(&orgs),
        vec![
            (x.clone(), "OWNER".to_string(), "STARTER".to_string()),
            (y.clone(), "MEMBER".to_string(), "GROWTH".to_string()),
        ],
        "{orgs}"
    );
    assert_eq!(orgs[0]["name"].as_str(), Some("Carol Homes"));
    assert_eq!(orgs[1]["name"].as_str(), Some("Dave Realty"));
    let (_, orgs) = app.get("/v1/orgs", &dave.token).await;
    assert_eq!(
        listing(&orgs),
        vec![(y.clone(), "OWNER".to_string(), "GROWTH".to_string())]
    );

    // The tier is per organization too: Y on FREE closes CRM in Y only.
    app.set_tier(&y, "FREE").await;
    let got = app
        .get(&format!("/v1/orgs/{y}/contacts"), &carol.token)
        .await;
    assert_error(
        &got,
        StatusCode::FORBIDDEN,
        "forbidden_tier",
        "CRM in Y on FREE",
    );
    let (s, _) = app
        .get(&format!("/v1/orgs/{x}/contacts"), &carol.token)
        .await;
    assert_eq!(s, StatusCode::OK, "X keeps its CRM");
    let (_, orgs) = app.get("/v1/orgs", &carol.token).await;
    assert_eq!(listing(&orgs)[1].2, "FREE");
}
