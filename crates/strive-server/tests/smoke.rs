mod common;

use common::TestApp;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn health_openapi_and_a_first_contact() {
    let app = TestApp::spawn().await;
    let (s, body) = app
        .call(
            reqwest::Method::GET,
            "/healthz",
            None,
            serde_json::Value::Null,
        )
        .await;
    assert_eq!((s, body["database"].as_str()), (StatusCode::OK, Some("ok")));

    let (s, spec) = app
        .call(
            reqwest::Method::GET,
            "/openapi.json",
            None,
            serde_json::Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        spec["paths"]["/v1/orgs/{org_id}/contacts"]["post"].is_object(),
        "spec lists routes"
    );

    let ann = app.user("ann@example.com").await;
    let org = app.org(&ann, "Acme Realty").await;
    let (s, c) = app
        .post(
            &format!("/v1/orgs/{org}/contacts"),
            &ann.token,
            json!({"name": "Bob Buyer"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(c["organization_id"], org.as_str());
    let n = app
        .scalar_i64(&format!(
            "SELECT count(*) FROM contacts WHERE organization_id = '{org}'"
        ))
        .await;
    assert_eq!(n, 1);
}

/// The operator commands, run as the real binary against this test's database.
#[tokio::test]
async fn strive_server_set_tier_and_set_role_commands() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    let org = app.org(&ann, "Acme Realty").await;
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_strive-server"))
            .args(args)
            .env("DATABASE_URL", &app.admin_url)
            .output()
            .expect("strive-server runs")
    };
    let out = run(&["set-tier", "--org", "acme-realty", "--tier", "growth"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("GROWTH"));
    let (_, orgs) = app.get("/v1/orgs", &ann.token).await;
    assert_eq!(orgs[0]["tier"], "GROWTH");

    let out = run(&[
        "set-role",
        "--email",
        "ANN@example.com",
        "--role",
        "moderator",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, me) = app.get("/v1/me", &ann.token).await;
    assert_eq!(me["user"]["role"], "MODERATOR");

    // Unknown targets and values are clear failures that change nothing.
    let out = run(&["set-tier", "--org", "no-such-org", "--tier", "growth"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no organization"));
    let out = run(&["set-tier", "--org", &org, "--tier", "platinum"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("STARTER"),
        "lists valid tiers"
    );
    let (_, orgs) = app.get("/v1/orgs", &ann.token).await;
    assert_eq!(orgs[0]["tier"], "GROWTH");
}
