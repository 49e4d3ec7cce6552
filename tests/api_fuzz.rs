//! The server fuzzed through its own OpenAPI description with schemathesis (generated bodies,
//! parameters and stateful sequences, signed in as an organization owner): no 5xx answer, and
//! every answer matches the documented schema. `scripts/setup.sh` installs schemathesis into
//! /opt/strive-venv (override with STRIVE_SCHEMATHESIS).

use serde_json::json;
use strive_proof::profile;
use strive_testkit::TestServer;

#[tokio::test]
async fn no_server_errors_and_answers_match_the_schema() {
    let st =
        std::env::var("STRIVE_SCHEMATHESIS").unwrap_or_else(|_| "/opt/strive-venv/bin/st".into());
    assert!(
        std::path::Path::new(&st).exists(),
        "schemathesis is missing at {st}: run scripts/setup.sh"
    );
    let server = TestServer::start().await;
    server.signup("fuzz@example.com").await;
    let token = server.token("fuzz@example.com").await;
    let (s, org) = server
        .call(
            reqwest::Method::POST,
            "/v1/orgs",
            Some(&token),
            json!({"name": "Fuzz Realty"}),
        )
        .await;
    assert_eq!(s, 201, "{org}");
    let examples = profile("25", "500").to_string();
    let url = format!("{}/openapi.json", server.base);
    let mut cmd = std::process::Command::new(st);
    cmd.args(["run", &url, "-H", &format!("Authorization: Bearer {token}")])
        .args(["--checks", "not_a_server_error,response_schema_conformance"])
        .args(["--max-examples", &examples, "--workers", "2"])
        // The coverage phase of this schemathesis version fails on its own (a KeyError inside
        // its schema walker); examples, fuzzing and stateful runs cover the API.
        .args(["--phases", "examples,fuzzing,stateful"])
        // The event stream never ends; repeated sign-in attempts only measure the rate limit.
        .args([
            "--exclude-path",
            "/v1/orgs/{org_id}/events",
            "--exclude-path",
            "/v1/auth/login",
        ])
        .env("NO_COLOR", "1");
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("schemathesis runs"))
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    let summary: Vec<&str> = report
        .lines()
        .filter(|l| l.contains("generated") || l.contains("passed"))
        .collect();
    println!("schemathesis: {}", summary.join(" | "));
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{report}"
    );
}
