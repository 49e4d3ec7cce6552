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
