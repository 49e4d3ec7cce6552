//! Tenant isolation, generated from the server's own OpenAPI description: every endpoint and
//! method, called by a member of another organization with this organization's ids, with this
//! organization's entity ids inside the caller's own organization, with no token and with a
//! tampered token. Nothing of the victim organization may appear in any answer and nothing in
//! the database may change. Then the same at the SQL level, as the service's role.

use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Connection;
use strive_testkit::TestServer;

struct Org {
    id: String,
    contact: String,
    deal: String,
    loop_id: String,
    task: String,
    user: String,
}

async fn org(server: &TestServer, email: &str, name: &str, secret: &str) -> Org {
    server.signup(email).await;
    let token = server.token(email).await;
    let post = |path: String, body: Value| {
        let token = token.clone();
        async move {
            let (s, b) = server.call(Method::POST, &path, Some(&token), body).await;
            assert!(s == 200 || s == 201, "POST {path}: {s} {b}");
            b
        }
    };
    let id = post("/v1/orgs".into(), json!({"name": name})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let contact = post(format!("/v1/orgs/{id}/contacts"), json!({"name": format!("{secret} Contact"), "email": format!("{}@secret.example.com", secret.to_lowercase())})).await;
    let deal = post(
        format!("/v1/orgs/{id}/deals"),
        json!({"title": format!("{secret} Deal"), "value_cents": 4200}),
    )
    .await;
    let l = post(format!("/v1/orgs/{id}/loops"), json!({"property_address": format!("{secret} Manor"), "transaction_type": "PURCHASE_AGREEMENT", "listing_price_cents": 100})).await;
    let (_, me) = server
        .call(Method::GET, "/v1/me", Some(&token), Value::Null)
        .await;
    let (_, lw) = server
        .call(
            Method::GET,
            &format!("/v1/orgs/{id}/loops/{}", l["id"].as_str().unwrap()),
            Some(&token),
            Value::Null,
        )
        .await;
    Org {
        contact: contact["id"].as_str().unwrap().to_string(),
        deal: deal["id"].as_str().unwrap().to_string(),
        loop_id: l["id"].as_str().unwrap().to_string(),
        task: lw["tasks"][0]["id"]
            .as_str()
            .expect("a default task")
            .to_string(),
        user: me["user"]["id"].as_str().unwrap().to_string(),
        id,
    }
}

/// The victim's state that any write would change: its change-feed counter (every synced table,
/// members and tier included, bumps it) and its audit rows.
async fn fingerprint(server: &TestServer, org: &str) -> (i64, i64) {
    (
        server.scalar(&format!("SELECT coalesce((SELECT last_seq FROM sync_counters WHERE organization_id = '{org}'), 0)")).await,
        server.scalar(&format!("SELECT count(*) FROM audit_log WHERE organization_id = '{org}'")).await,
    )
}

/// A body for an operation, pointing at `v`'s rows where it names any.
fn body(method: &Method, path: &str, v: &Org) -> Value {
    let last = path.rsplit('/').next().unwrap_or_default();
    match (method.as_str(), last) {
        ("POST", "contacts") => json!({"name": "Mallory Was Here"}),
        ("POST", "bulk-assign") => json!({"contact_ids": [v.contact], "assigned_to_id": v.user}),
        ("POST", "deals") => {
            json!({"title": "Mallory Deal", "value_cents": 1, "contact_id": v.contact})
        }
        ("POST", "loops") => {
            json!({"property_address": "1 Mallory Way", "transaction_type": "PURCHASE_AGREEMENT", "listing_price_cents": 1})
        }
        ("POST", "tasks") => json!({"title": "Mallory task"}),
        ("POST", "members") => json!({"email": "victim@example.com", "role": "ADMIN"}),
        ("PATCH", _) if path.contains("members") => json!({"role": "VIEWER"}),
        ("PATCH", _) if path.contains("/contacts/") => json!({"name": "Pwned"}),
        ("PATCH", _) if path.contains("/loops/") => json!({"property_address": "Pwned"}),
        ("PATCH", _) => json!({"title": "Pwned"}),
        ("POST", "push") => json!({"mutations": [
            {"client_seq": 1, "mutation": {"type": "updateContact", "args": {"id": v.contact, "changes": {"name": "Pwned"}}}},
            {"client_seq": 2, "mutation": {"type": "deleteDeal", "args": {"id": v.deal}}},
            {"client_seq": 3, "mutation": {"type": "completeTask", "args": {"id": v.task}}}]}),
        ("POST", "request") => json!({"full": true}),
        ("PUT", "tier") => json!({"tier": "ENTERPRISE"}),
        ("POST", "uploads") => json!({"id": "0190a5d2-7c3e-7000-8000-00000000beef",
            "document_id": "0190a5d2-7c3e-7000-8000-00000000cafe", "loop_id": v.loop_id,
            "name": "Mallory.pdf", "mime_type": "application/pdf", "ciphertext_size": 48,
            "sha256": "0".repeat(64)}),
        ("POST", "review") => json!({"decision": "RETURN", "note": "Pwned"}),
        ("POST", "complete") => json!({"data_key": "A".repeat(43) + "=", "size": 0}),
        _ => Value::Null,
    }
}

/// `template` with its parameters filled: the organization `org`, entities of `v`.
fn fill(template: &str, org: &str, v: &Org) -> String {
    let entity = if template.contains("/contacts/") {
        &v.contact
    } else if template.contains("/deals/") {
        &v.deal
    } else if template.contains("/loops/") {
        &v.loop_id
    } else {
        &v.task
    };
    template
        .replace("{org_id}", org)
        .replace("{user_id}", &v.user)
        .replace("{id}", entity)
}

#[tokio::test]
async fn no_endpoint_leaks_or_changes_another_organization() {
    let server = TestServer::start().await;
    let victim = org(&server, "victim@example.com", "Victim Realty", "Zanzibar").await;
    let mallory = org(&server, "mallory@example.com", "Mallory Realty", "Mallory").await;
    let secrets = [
        "Zanzibar",
        "zanzibar@secret",
        "Victim Realty",
        &victim.contact,
        &victim.deal,
        &victim.loop_id,
        &victim.task,
    ];
    let (_, spec) = server
        .call(Method::GET, "/openapi.json", None, Value::Null)
        .await;
    let paths = spec["paths"].as_object().expect("paths");
    let before = fingerprint(&server, &victim.id).await;
    // A device session: pushes need one, and it is the strongest credential a client holds.
    let device = server
        .device("mallory@example.com", mallory.id.parse().expect("org id"))
        .await;
    let mallory_token = device.token.clone();
    let mut tampered = mallory_token.clone();
    let flip = tampered
        .pop()
        .map(|c| if c == 'A' { 'B' } else { 'A' })
        .unwrap_or('A');
    tampered.push(flip);
    let mut calls = 0;
    for (template, ops) in paths {
        if !template.contains("{org_id}") {
            continue;
        }
        for method in ops.as_object().unwrap().keys() {
            let method: Method = method.to_uppercase().parse().unwrap();
            // 1. Mallory names the victim organization; 2. Mallory's own organization with the
            // victim's rows; 3. no token; 4. a tampered token.
            let attempts = [
                (
                    fill(template, &victim.id, &victim),
                    Some(mallory_token.as_str()),
                    "foreign org",
                ),
                (
                    fill(template, &mallory.id, &victim),
                    Some(mallory_token.as_str()),
                    "foreign ids",
                ),
                (fill(template, &victim.id, &victim), None, "no token"),
                (
                    fill(template, &victim.id, &victim),
                    Some(tampered.as_str()),
                    "tampered token",
                ),
            ];
            for (path, token, how) in attempts {
                // Inside one's own organization only a call that names the victim's rows (in
                // its path or its body) is an attack; the rest is ordinary work.
                let names_victim = template.contains("{id}")
                    || template.contains("{user_id}")
                    || ["bulk-assign", "push"]
                        .iter()
                        .any(|s| template.ends_with(s))
                    || (template.ends_with("deals") && method == Method::POST)
                    || (template.ends_with("uploads") && method == Method::POST);
                if how == "foreign ids" && !names_victim {
                    continue;
                }
                let b = body(&method, template, &victim);
                let (status, answer) = tokio::time::timeout(
                    std::time::Duration::from_secs(10),
                    server.call(method.clone(), &path, token, b),
                )
                .await
                .unwrap_or_else(|_| panic!("{method} {path} ({how}) did not answer"));
                calls += 1;
                let text = answer.to_string();
                for s in secrets {
                    assert!(
                        !text.contains(s) || path.contains(s) && !text.contains("Zanzibar"),
                        "{method} {path} ({how}) leaked {s}: {status} {text}"
                    );
                }
                // Blob URLs are credentialed by their signature, not a token: without a valid
                // one they are refused (403), or not found when the path itself is unfilled.
                let signed = template.starts_with("/v1/blobs/");
                let refused = match how {
                    _ if signed => status == 403 || status == 404,
                    "no token" | "tampered token" => status == 401,
                    "foreign org" => status == 404 || status == 403,
                    // Inside the caller's own org a foreign id is unknown (404), or the push
                    // answers each mutation as rejected.
                    _ => {
                        status == 404
                            || status == 403
                            || status == 422
                            || (template.ends_with("push")
                                && status == 200
                                && text.matches("\"rejected\"").count() == 3)
                    }
                };
                assert!(
                    refused,
                    "{method} {path} ({how}) was not refused: {status} {text}"
                );
            }
        }
    }
    assert_eq!(
        fingerprint(&server, &victim.id).await,
        before,
        "the victim organization changed"
    );
    println!(
        "isolation: {calls} foreign calls over {} paths, 0 leaks, 0 changes",
        paths.len()
    );
}

#[tokio::test]
async fn row_level_security_holds_for_the_service_role_on_its_own() {
    let server = TestServer::start().await;
    let a = org(&server, "a@example.com", "Alpha Realty", "Alpha").await;
    let b = org(&server, "b@example.com", "Bravo Realty", "Bravo").await;
    let mut conn = sqlx::PgConnection::connect(&server.owner_url)
        .await
        .unwrap();
    sqlx::raw_sql("SET ROLE strive_app")
        .execute(&mut conn)
        .await
        .unwrap();
    // Without a tenant set, the service role sees no tenant row at all.
    for table in [
        "contacts",
        "deals",
        "transaction_loops",
        "transaction_tasks",
        "audit_log",
    ] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(n, 0, "{table} without app.org_id");
    }
    let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
    sqlx::query("SELECT set_config('app.org_id', $1, true)")
        .bind(&a.id)
        .execute(&mut *tx)
        .await
        .unwrap();
    let seen: Vec<(String,)> = sqlx::query_as("SELECT organization_id::text FROM contacts")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert!(
        !seen.is_empty() && seen.iter().all(|(o,)| *o == a.id),
        "only Alpha's contacts: {seen:?}"
    );
    // Writing into Bravo while acting for Alpha fails, and so does moving a row over.
    let insert = sqlx::query(
        "INSERT INTO contacts (organization_id, id, name, created_by) VALUES ($1::uuid, gen_random_uuid(), 'Smuggled', $2::uuid)",
    )
    .bind(&b.id)
    .bind(&a.user)
    .execute(&mut *tx)
    .await;
    assert!(insert.is_err(), "RLS refuses a row of another organization");
    tx.rollback().await.unwrap();
    let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
    sqlx::query("SELECT set_config('app.org_id', $1, true)")
        .bind(&a.id)
        .execute(&mut *tx)
        .await
        .unwrap();
    let moved = sqlx::query("UPDATE contacts SET organization_id = $1::uuid")
        .bind(&b.id)
        .execute(&mut *tx)
        .await;
    assert!(
        moved.is_err(),
        "RLS refuses moving rows into another organization"
    );
    tx.rollback().await.unwrap();
    let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
    sqlx::query("SELECT set_config('app.org_id', $1, true)")
        .bind(&a.id)
        .execute(&mut *tx)
        .await
        .unwrap();
    let touched = sqlx::query("UPDATE contacts SET name = 'Pwned' WHERE id = $1::uuid")
        .bind(&b.contact)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(
        touched.rows_affected(),
        0,
        "Bravo's row is invisible to Alpha's context"
    );
    tx.rollback().await.unwrap();
    assert_eq!(
        server
            .scalar("SELECT count(*) FROM contacts WHERE name IN ('Smuggled', 'Pwned')")
            .await,
        0
    );
}
