mod common;

// Authentication (sign-up, sign-in, tokens, refresh rotation, throttling, secrets) and hostile
// input: every refusal is a typed 4xx JSON answer that changes nothing, and no request in this
// file ever gets a 500.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{TestApp, TestUser, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Helpers: every request of this file goes through one of these, and none may answer 500.

/// `app.call`, refusing a 500.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let (s, b) = app.call(method.clone(), path, token, body).await;
    assert_ne!(
        s,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{method} {path} answered 500: {b}"
    );
    (s, b)
}

/// `app.raw`, refusing a 500.
async fn send_raw(
    app: &TestApp,
    path: &str,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let (s, b) = app
        .raw(Method::POST, path, Some(token), content_type, body)
        .await;
    assert_ne!(
        s,
        StatusCode::INTERNAL_SERVER_ERROR,
        "POST {path} (raw) answered 500: {b}"
    );
    (s, b)
}

/// A GET with an arbitrary (or no) Authorization header, refusing a 500.
async fn get_with_header(
    app: &TestApp,
    path: &str,
    authorization: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = app.client.get(app.url(path));
    if let Some(h) = authorization {
        req = req.header("authorization", h);
    }
    let res = req.send().await.expect("request reaches the server");
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    assert_ne!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "GET {path} answered 500: {text}"
    );
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Asserts a typed error answer: status, stable code and a non-empty message.
#[track_caller]
fn assert_error(got: &(StatusCode, Value), status: StatusCode, code: &str) {
    let (s, body) = got;
    assert_eq!(*s, status, "expected {status} {code}, got {s}: {body}");
    assert_eq!(body["code"], code, "error code: {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "an error carries a message: {body}"
    );
}

/// The `field` names of a validation error.
fn fields(body: &Value) -> Vec<String> {
    body["fields"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["field"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

async fn signup(
    app: &TestApp,
    email: &str,
    password: &str,
    name: Option<&str>,
) -> (StatusCode, Value) {
    let mut body = json!({"email": email, "password": password});
    if let Some(n) = name {
        body["name"] = json!(n);
    }
    send(app, Method::POST, "/v1/auth/signup", None, body).await
}

async fn login(app: &TestApp, email: &str, password: &str) -> (StatusCode, Value) {
    send(
        app,
        Method::POST,
        "/v1/auth/login",
        None,
        json!({"email": email, "password": password}),
    )
    .await
}

async fn refresh(app: &TestApp, token: &str) -> (StatusCode, Value) {
    send(
        app,
        Method::POST,
        "/v1/auth/refresh",
        None,
        json!({"refresh_token": token}),
    )
    .await
}

async fn me(app: &TestApp, token: &str) -> (StatusCode, Value) {
    send(app, Method::GET, "/v1/me", Some(token), Value::Null).await
}

/// The decoded claims of an access token (no verification).
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url payload"))
        .expect("JSON claims")
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Where the stored refresh token `token` is, by the SHA-256 the server keeps.
fn by_token(token: &str) -> String {
    format!("token_hash = sha256(convert_to('{token}', 'UTF8'))")
}

async fn count(app: &TestApp, query: &str) -> i64 {
    app.scalar_i64(query).await
}

// ---------------------------------------------------------------------------------------------
// 1. Sign-up and sign-in.

#[tokio::test]
async fn signup_then_login_and_no_account_enumeration() {
    let app = TestApp::spawn().await;
    let (s, account) = signup(&app, "ann@example.com", PASSWORD, Some("Ann Agent")).await;
    assert_eq!(s, StatusCode::CREATED, "{account}");
    assert_eq!(account["email"], "ann@example.com");
    let id = account["id"].as_str().expect("account id").to_string();
    assert_eq!(count(&app, "SELECT count(*) FROM identities").await, 1);

    let (s, session) = login(&app, "ann@example.com", PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{session}");
    assert_eq!(session["user_id"], id.as_str());
    assert_eq!(session["token_type"], "Bearer");
    assert_eq!(session["expires_in"], 600);
    let access = session["access_token"].as_str().expect("access token");
    assert!(session["refresh_token"]
        .as_str()
        .is_some_and(|r| r.len() >= 40));
    let (s, profile) = me(&app, access).await;
    assert_eq!(
        (s, profile["user"]["id"].as_str()),
        (StatusCode::OK, Some(id.as_str()))
    );

    // The email is matched without regard to case or surrounding spaces.
    let (s, body) = login(&app, "  ANN@Example.com ", PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{body}");

    let sessions = format!("SELECT count(*) FROM refresh_tokens WHERE identity_id = '{id}'");
    assert_eq!(count(&app, &sessions).await, 2);

    // Wrong password and unknown account: the same 401 and the same words.
    let wrong = login(&app, "ann@example.com", "not the right password").await;
    assert_error(&wrong, StatusCode::UNAUTHORIZED, "unauthorized");
    let unknown = login(&app, "nobody@example.com", PASSWORD).await;
    assert_error(&unknown, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(
        wrong.1["message"], unknown.1["message"],
        "an unknown email must be indistinguishable from a wrong password"
    );
    assert!(wrong.1.get("access_token").is_none());
    assert_eq!(
        count(&app, &sessions).await,
        2,
        "a failed login issues no session"
    );

    // The same address again, in other letters: 409, and the first account is untouched.
    let hash_before = app
        .scalar_text(&format!(
            "SELECT password_hash FROM identities WHERE id = '{id}'"
        ))
        .await;
    let dup = signup(
        &app,
        "Ann@EXAMPLE.com",
        "another password 123",
        Some("Impostor"),
    )
    .await;
    assert_error(&dup, StatusCode::CONFLICT, "conflict");
    assert_eq!(count(&app, "SELECT count(*) FROM identities").await, 1);
    let hash_after = app
        .scalar_text(&format!(
            "SELECT password_hash FROM identities WHERE id = '{id}'"
        ))
        .await;
    assert_eq!(hash_before, hash_after);
    let (s, _) = login(&app, "ann@example.com", "another password 123").await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "the duplicate's password does not work"
    );
    let (s, _) = login(&app, "ann@example.com", PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "the original password still does");
}

// ---------------------------------------------------------------------------------------------
// 2. Sign-up validation.

#[tokio::test]
async fn signup_validation_names_the_bad_fields_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let identities = "SELECT count(*) FROM identities";

    let r = signup(&app, "not-an-email", PASSWORD, None).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&r.1), ["email"]);

    for bad in [
        "ann@",
        "@example.com",
        "ann@example",
        "ann example@example.com",
        "",
    ] {
        let r = signup(&app, bad, PASSWORD, None).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(fields(&r.1), ["email"], "email {bad:?}: {}", r.1);
    }

    // Nine characters is one too few.
    let r = signup(&app, "ann@example.com", "123456789", None).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&r.1), ["password"]);
    let r = signup(&app, "ann@example.com", "", None).await;
    assert_eq!(fields(&r.1), ["password"]);

    // Every broken rule at once.
    let long_name = "n".repeat(101);
    let r = signup(&app, "bad", "short", Some(&long_name)).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let mut f = fields(&r.1);
    f.sort();
    assert_eq!(f, ["email", "name", "password"]);

    assert_eq!(
        count(&app, identities).await,
        0,
        "no identity for a refused sign-up"
    );

    // Ten characters is enough.
    let (s, body) = signup(&app, "ann@example.com", "1234567890", None).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(count(&app, identities).await, 1);
}

// ---------------------------------------------------------------------------------------------
// 3. Access tokens: expiry, tampering, foreign signatures, missing or wrong headers.

#[tokio::test]
async fn expired_access_token_is_refused_and_refresh_recovers() {
    let app = TestApp::spawn_with(|c| c.access_ttl = Duration::from_secs(1)).await;
    let ann = app.user("ann@example.com").await;
    let (s, body) = me(&app, &ann.token).await;
    assert_eq!(s, StatusCode::OK, "fresh token works: {body}");

    tokio::time::sleep(Duration::from_millis(2500)).await;
    let r = me(&app, &ann.token).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    let msg = r.1["message"].as_str().unwrap().to_lowercase();
    assert!(
        msg.contains("expired"),
        "the message says the session expired: {msg}"
    );

    // An expired token changes nothing either.
    let r = send(
        &app,
        Method::POST,
        "/v1/orgs",
        Some(&ann.token),
        json!({"name": "Expired Realty"}),
    )
    .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(count(&app, "SELECT count(*) FROM organizations").await, 0);

    // The refresh token outlives the access token.
    let (s, session) = refresh(&app, &ann.refresh).await;
    assert_eq!(s, StatusCode::OK, "{session}");
    let (s, body) = me(&app, session["access_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn forged_tampered_and_missing_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    let bob = app.user("bob@example.com").await;
    let (s, _) = me(&app, &ann.token).await;
    assert_eq!(s, StatusCode::OK);
    let profiles = "SELECT count(*) FROM users";
    assert_eq!(
        count(&app, profiles).await,
        1,
        "only Ann has a profile so far"
    );

    let parts: Vec<&str> = ann.token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT");
    let auth = |t: &str| format!("Bearer {t}");

    // One character of the signature changed.
    let mut sig: Vec<char> = parts[2].chars().collect();
    let i = sig.len() / 2;
    sig[i] = if sig[i] == 'A' { 'B' } else { 'A' };
    let flipped = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        sig.iter().collect::<String>()
    );
    let r = get_with_header(&app, "/v1/me", Some(&auth(&flipped))).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");

    // Ann's signature over a payload that now says Bob.
    let mut payload = claims(&ann.token);
    assert_eq!(payload["sub"], ann.id.as_str());
    payload["sub"] = json!(bob.id);
    let swapped = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap()),
        parts[2]
    );
    let r = get_with_header(&app, "/v1/me", Some(&auth(&swapped))).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");

    // Unsigned ("alg": "none").
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap())
    );
    let r = get_with_header(&app, "/v1/me", Some(&auth(&none))).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");

    // Well-formed and unexpired, but signed with another secret.
    let now = now_secs();
    let foreign = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": bob.id, "iat": now, "exp": now + 600}),
        &jsonwebtoken::EncodingKey::from_secret(b"not the server's secret, but long enough"),
    )
    .unwrap();
    let r = get_with_header(&app, "/v1/me", Some(&auth(&foreign))).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");

    // No header, another scheme, garbage.
    let r = get_with_header(&app, "/v1/me", None).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    let r = get_with_header(&app, "/v1/me", Some("Basic xyz")).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    let r = get_with_header(&app, "/v1/me", Some(&format!("Basic {}", ann.token))).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    for junk in [
        "Bearer",
        "Bearer ",
        "Bearer not.a.jwt",
        "Bearer ...",
        "Bearer ☃",
    ] {
        let r = get_with_header(&app, "/v1/me", Some(junk)).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    }

    // None of that created Bob's profile or let anyone create anything.
    assert_eq!(
        count(&app, profiles).await,
        1,
        "a forged token must not reach the database"
    );
    let r = send(
        &app,
        Method::POST,
        "/v1/orgs",
        None,
        json!({"name": "Anonymous Realty"}),
    )
    .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(count(&app, "SELECT count(*) FROM organizations").await, 0);

    // Bob's own token is fine: the refusals above were about the tokens, not about Bob.
    let (s, body) = me(&app, &bob.token).await;
    assert_eq!(
        (s, body["user"]["id"].as_str()),
        (StatusCode::OK, Some(bob.id.as_str()))
    );
    assert_eq!(count(&app, profiles).await, 2);
}

// ---------------------------------------------------------------------------------------------
// 4-6. Refresh tokens: rotation, reuse detection, logout.

#[tokio::test]
async fn refresh_rotates_both_tokens() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    // Access tokens carry second-resolution timestamps and no random id: wait for a new second
    // so the rotated access token must differ.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let (s, session) = refresh(&app, &ann.refresh).await;
    assert_eq!(s, StatusCode::OK, "{session}");
    let access = session["access_token"].as_str().unwrap();
    let refresh_b = session["refresh_token"].as_str().unwrap();
    assert_ne!(access, ann.token, "a new access token");
    assert_ne!(refresh_b, ann.refresh, "a new refresh token");
    assert_eq!(session["user_id"], ann.id.as_str());
    assert_eq!(session["token_type"], "Bearer");
    assert_eq!(claims(access)["sub"], ann.id.as_str());

    let (s, body) = me(&app, access).await;
    assert_eq!(
        (s, body["user"]["id"].as_str()),
        (StatusCode::OK, Some(ann.id.as_str()))
    );

    let mine = format!("identity_id = '{}'", ann.id);
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) FROM refresh_tokens WHERE {mine}")
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(DISTINCT family_id) FROM refresh_tokens WHERE {mine}")
        )
        .await,
        1,
        "the new token belongs to the same family"
    );
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) FROM refresh_tokens WHERE {} AND used_at IS NOT NULL",
                by_token(&ann.refresh)
            )
        )
        .await,
        1,
        "the old token is spent"
    );

    // The chain goes on.
    let (s, next) = refresh(&app, refresh_b).await;
    assert_eq!(s, StatusCode::OK, "{next}");
    assert_ne!(next["refresh_token"], session["refresh_token"]);
}

#[tokio::test]
async fn reusing_a_refresh_token_revokes_its_whole_family() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await; // family 1, token A
    let laptop = app.login("ann@example.com").await; // family 2

    let (s, rotated) = refresh(&app, &ann.refresh).await;
    assert_eq!(s, StatusCode::OK, "{rotated}");
    let token_b = rotated["refresh_token"].as_str().unwrap().to_string();
    // The owner moves on: B is traded for C.
    let (s, next) = refresh(&app, &token_b).await;
    assert_eq!(s, StatusCode::OK, "{next}");
    let token_c = next["refresh_token"].as_str().unwrap().to_string();

    // A again: a replay. Refused, and everything descended from that login is signed out.
    let r = refresh(&app, &ann.refresh).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(r.1.get("refresh_token").is_none());
    let r = refresh(&app, &token_c).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");

    let family = format!(
        "family_id = (SELECT family_id FROM refresh_tokens WHERE {})",
        by_token(&ann.refresh)
    );
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) FROM refresh_tokens WHERE {family}")
        )
        .await,
        3,
        "A, B and C, and no token issued for the refused attempts"
    );
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) FROM refresh_tokens WHERE {family} AND revoked_at IS NULL")
        )
        .await,
        0,
        "every token of the family is revoked"
    );

    // The other login is another family: untouched.
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) FROM refresh_tokens WHERE {} AND revoked_at IS NULL",
                by_token(&laptop.refresh)
            )
        )
        .await,
        1
    );
    let (s, body) = refresh(&app, &laptop.refresh).await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_refresh_whose_answer_was_lost_can_be_retried_but_not_raced() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await; // token A

    // A is traded for B, but the answer never arrives: the client retries with A and gets C.
    let (s, lost) = refresh(&app, &ann.refresh).await;
    assert_eq!(s, StatusCode::OK, "{lost}");
    let token_b = lost["refresh_token"].as_str().unwrap().to_string();
    let (s, retried) = refresh(&app, &ann.refresh).await;
    assert_eq!(s, StatusCode::OK, "a retry within the window: {retried}");
    let token_c = retried["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(token_c, token_b);
    // The session goes on from C.
    let (s, next) = refresh(&app, &token_c).await;
    assert_eq!(s, StatusCode::OK, "{next}");
    let token_d = next["refresh_token"].as_str().unwrap().to_string();

    // B, replaced by the retry, turns up: whoever retried was not its holder. Everything goes.
    let r = refresh(&app, &token_b).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    let r = refresh(&app, &token_d).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    // And A, whose successor has been used, is no retry either.
    let r = refresh(&app, &ann.refresh).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn logout_revokes_the_family() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    let other = app.login("ann@example.com").await;
    let (s, rotated) = refresh(&app, &ann.refresh).await;
    assert_eq!(s, StatusCode::OK);
    let token_b = rotated["refresh_token"].as_str().unwrap().to_string();

    let revoked = "SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NOT NULL";
    // An unknown token: still 204 (says nothing), and nothing is revoked.
    let (s, _) = send(
        &app,
        Method::POST,
        "/v1/auth/logout",
        None,
        json!({"refresh_token": "no-such-token"}),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(count(&app, revoked).await, 0);

    let (s, body) = send(
        &app,
        Method::POST,
        "/v1/auth/logout",
        None,
        json!({"refresh_token": token_b}),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    let r = refresh(&app, &token_b).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    let r = refresh(&app, &ann.refresh).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    let family = format!(
        "family_id = (SELECT family_id FROM refresh_tokens WHERE {})",
        by_token(&token_b)
    );
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) FROM refresh_tokens WHERE {family} AND revoked_at IS NULL")
        )
        .await,
        0
    );
    assert_eq!(count(&app, revoked).await, 2, "only that family");

    let (s, body) = refresh(&app, &other.refresh).await;
    assert_eq!(s, StatusCode::OK, "another session survives: {body}");
}

// ---------------------------------------------------------------------------------------------
// 7. Login throttling.

#[tokio::test]
async fn five_failures_lock_the_account_with_retry_after() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    let sessions = format!(
        "SELECT count(*) FROM refresh_tokens WHERE identity_id = '{}'",
        ann.id
    );
    let failures =
        "SELECT count(*) FROM login_attempts WHERE email = 'ann@example.com' AND NOT succeeded";
    assert_eq!(count(&app, &sessions).await, 1);

    for i in 0..5 {
        let r = login(&app, "ann@example.com", &format!("wrong password {i}")).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    assert_eq!(count(&app, failures).await, 5);

    // The sixth attempt is refused before the password is looked at, even the right one.
    let res = app
        .client
        .post(app.url("/v1/auth/login"))
        .json(&json!({"email": "ann@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert_error(
        &(status, body),
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );
    let secs: u64 = retry_after
        .expect("a Retry-After header")
        .parse()
        .expect("Retry-After in seconds");
    assert_eq!(secs, 15 * 60, "the account window");
    assert_eq!(
        count(&app, &sessions).await,
        1,
        "no session for a throttled login"
    );
    assert_eq!(
        count(&app, failures).await,
        5,
        "a throttled attempt is not evaluated"
    );

    // Per account: someone else signs in fine from the same address.
    let bob = app.user("bob@example.com").await;
    assert!(!bob.token.is_empty());
    // And the other spelling of Ann's address is the same account.
    let r = login(&app, "ANN@example.com", PASSWORD).await;
    assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}

#[tokio::test]
async fn too_many_attempts_from_one_address_are_throttled() {
    let app = TestApp::spawn_with(|c| c.limits.addr_attempts = 3).await;
    let (s, _) = signup(&app, "ann@example.com", PASSWORD, None).await;
    assert_eq!(s, StatusCode::CREATED);

    for who in ["a@example.com", "b@example.com", "c@example.com"] {
        let r = login(&app, who, "some wrong password").await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let res = app
        .client
        .post(app.url("/v1/auth/login"))
        .json(&json!({"email": "ann@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert_error(
        &(status, body),
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );
    assert_eq!(retry_after, Some(5 * 60), "the address window");
    assert_eq!(count(&app, "SELECT count(*) FROM refresh_tokens").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM login_attempts").await, 3);
}

/// The account limit must hold for attempts sent at the same time, not only one after another.
#[tokio::test]
async fn parallel_wrong_passwords_are_throttled_like_sequential_ones() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..20 {
        let client = app.client.clone();
        let url = app.url("/v1/auth/login");
        set.spawn(async move {
            client
                .post(url)
                .json(&json!({"email": "ann@example.com", "password": format!("guess number {i}")}))
                .send()
                .await
                .expect("request reaches the server")
                .status()
        });
    }
    let mut evaluated = 0;
    while let Some(status) = set.join_next().await {
        match status.unwrap() {
            StatusCode::UNAUTHORIZED => evaluated += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected answer to a wrong password: {other}"),
        }
    }
    let recorded = count(
        &app,
        "SELECT count(*) FROM login_attempts WHERE email = 'ann@example.com' AND NOT succeeded",
    )
    .await;
    assert!(
        evaluated <= 5 && recorded <= 5,
        "with a limit of 5 failures per account, {evaluated} of 20 simultaneous guesses were \
         checked against the password ({recorded} failures recorded)"
    );
    let r = login(&app, &ann.email, PASSWORD).await;
    assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}

// ---------------------------------------------------------------------------------------------
// 8. Secrets never leak.

#[tokio::test]
async fn passwords_never_appear_in_responses_or_logs() {
    let app = TestApp::spawn().await;
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let password = format!("Pw-{unique}-right");
    let wrong = format!("Pw-{unique}-wrong");
    let email = format!("leak-{unique}@example.com");

    let mut bodies: Vec<String> = Vec::new();
    let mut exchange = |status: StatusCode, text: String, expected: StatusCode, what: &str| {
        assert_eq!(status, expected, "{what}: {text}");
        bodies.push(text);
    };
    async fn post_text(app: &TestApp, path: &str, body: Value) -> (StatusCode, String) {
        let res = app
            .client
            .post(app.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path}: {text}");
        (status, text)
    }

    let (s, t) = post_text(
        &app,
        "/v1/auth/signup",
        json!({"email": email, "password": password, "name": "Leak Test"}),
    )
    .await;
    exchange(s, t, StatusCode::CREATED, "signup");
    let (s, t) = post_text(
        &app,
        "/v1/auth/signup",
        json!({"email": email, "password": password}),
    )
    .await;
    exchange(s, t, StatusCode::CONFLICT, "duplicate signup");
    let (s, t) = post_text(
        &app,
        "/v1/auth/signup",
        json!({"email": "not an email", "password": password}),
    )
    .await;
    exchange(s, t, StatusCode::UNPROCESSABLE_ENTITY, "invalid signup");
    let (s, t) = post_text(
        &app,
        "/v1/auth/signup",
        json!({"email": email, "password": password, "name": 7}),
    )
    .await;
    exchange(s, t, StatusCode::UNPROCESSABLE_ENTITY, "mistyped signup");
    let (s, t) = post_text(
        &app,
        "/v1/auth/login",
        json!({"email": email, "password": wrong}),
    )
    .await;
    exchange(s, t, StatusCode::UNAUTHORIZED, "wrong password");
    let (s, t) = post_text(
        &app,
        "/v1/auth/login",
        json!({"email": format!("x{email}"), "password": password}),
    )
    .await;
    exchange(s, t, StatusCode::UNAUTHORIZED, "unknown account");
    let (s, t) = post_text(
        &app,
        "/v1/auth/login",
        json!({"email": email, "password": password, "extra": password}),
    )
    .await;
    exchange(s, t, StatusCode::UNPROCESSABLE_ENTITY, "unknown field");
    let (s, t) = post_text(
        &app,
        "/v1/auth/login",
        json!({"email": email, "password": password,
               "device": {"id": uuid::Uuid::now_v7(), "name": "phone", "platform": "ios"}}),
    )
    .await;
    let session: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
    exchange(s, t, StatusCode::OK, "login");
    let access = session["access_token"].as_str().unwrap().to_string();
    let refresh_token = session["refresh_token"].as_str().unwrap().to_string();
    let user_id = session["user_id"].as_str().unwrap().to_string();
    let (s, t) = post_text(
        &app,
        "/v1/auth/refresh",
        json!({"refresh_token": refresh_token}),
    )
    .await;
    exchange(s, t, StatusCode::OK, "refresh");
    let (s, body) = me(&app, &access).await;
    exchange(s, body.to_string(), StatusCode::OK, "me");

    let stored = app
        .scalar_text(&format!(
            "SELECT password_hash FROM identities WHERE id = '{user_id}'"
        ))
        .await
        .expect("a stored hash");
    assert!(
        stored.starts_with("$argon2id$"),
        "Argon2id PHC string: {stored}"
    );
    assert!(!stored.contains(&password));

    for b in &bodies {
        assert!(
            !b.contains(&password),
            "a response contains the password: {b}"
        );
        assert!(
            !b.contains(&wrong),
            "a response contains the tried password: {b}"
        );
        assert!(
            !b.contains("$argon2"),
            "a response contains a password hash: {b}"
        );
        assert!(
            !b.contains("password_hash"),
            "a response names the hash column: {b}"
        );
    }

    let logs = common::logs();
    assert!(
        logs.contains(&user_id),
        "the capture works: the sign-in was logged with the user id"
    );
    for secret in [&password, &wrong, &stored, &refresh_token, &access] {
        assert!(
            !logs.contains(secret.as_str()),
            "the server logged a secret ({} characters starting {:?})",
            secret.len(),
            &secret[..6]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 9. Profiles, onboarding, devices.

#[tokio::test]
async fn first_request_creates_the_profile_and_asks_for_an_organization() {
    let app = TestApp::spawn().await;
    let (s, _) = signup(&app, "ann@example.com", PASSWORD, Some("Ann Agent")).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, session) = login(&app, "ann@example.com", PASSWORD).await;
    assert_eq!(s, StatusCode::OK);
    let token = session["access_token"].as_str().unwrap();
    let id = session["user_id"].as_str().unwrap();
    let profile = format!("SELECT count(*) FROM users WHERE id = '{id}'");
    assert_eq!(
        count(&app, &profile).await,
        0,
        "signing in creates no profile"
    );

    let (s, body) = me(&app, token).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        count(&app, &profile).await,
        1,
        "the first request creates it"
    );
    assert_eq!(
        app.scalar_text(&format!("SELECT name FROM users WHERE id = '{id}'"))
            .await
            .as_deref(),
        Some("Ann Agent")
    );
    assert_eq!(body["user"]["name"], "Ann Agent");
    assert_eq!(body["user"]["email"], "ann@example.com");
    assert_eq!(body["user"]["role"], "USER");
    assert_eq!(body["organizations"], json!([]));
    assert!(
        body["onboarding"]
            .as_str()
            .is_some_and(|m| m.to_lowercase().contains("organization")),
        "tells the person to create or join an organization: {body}"
    );
    let (s, _) = me(&app, token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(count(&app, &profile).await, 1, "once");

    // Organization-scoped requests without any organization: an onboarding answer.
    let nowhere = uuid::Uuid::now_v7();
    let r = send(
        &app,
        Method::GET,
        &format!("/v1/orgs/{nowhere}/contacts"),
        Some(token),
        Value::Null,
    )
    .await;
    assert_error(&r, StatusCode::FORBIDDEN, "needs_organization");
    let r = send(
        &app,
        Method::POST,
        &format!("/v1/orgs/{nowhere}/contacts"),
        Some(token),
        json!({"name": "Bob Buyer"}),
    )
    .await;
    assert_error(&r, StatusCode::FORBIDDEN, "needs_organization");
    assert_eq!(count(&app, "SELECT count(*) FROM contacts").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM organizations").await, 0);

    // When the first request ever is organization-scoped and refused, it changes nothing, not
    // even the profile; the next accepted request makes it, named after the address when no
    // name was given.
    let bob = app.user("bob.builder@example.com").await;
    let r = send(
        &app,
        Method::GET,
        &format!("/v1/orgs/{nowhere}/contacts"),
        Some(&bob.token),
        Value::Null,
    )
    .await;
    assert_error(&r, StatusCode::FORBIDDEN, "needs_organization");
    let bob_profile = format!("SELECT count(*) FROM users WHERE id = '{}'", bob.id);
    assert_eq!(count(&app, &bob_profile).await, 0);
    let (s, body) = me(&app, &bob.token).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["name"], "bob.builder");
    assert_eq!(count(&app, &bob_profile).await, 1);
}

#[tokio::test]
async fn login_registers_the_device_and_updates_it() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    let device = uuid::Uuid::now_v7();
    let login_on = |name: &str, who: &TestUser| {
        json!({"email": who.email, "password": PASSWORD,
               "device": {"id": device, "name": name, "platform": "linux"}})
    };

    let (s, session) = send(
        &app,
        Method::POST,
        "/v1/auth/login",
        None,
        login_on("laptop", &ann),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{session}");
    let row = format!(
        "SELECT identity_id::text || '|' || name || '|' || platform FROM devices WHERE id = '{device}'"
    );
    assert_eq!(
        app.scalar_text(&row).await,
        Some(format!("{}|laptop|linux", ann.id))
    );
    let access = session["access_token"].as_str().unwrap();
    assert_eq!(
        claims(access)["did"],
        device.to_string(),
        "the token names the device"
    );
    assert_eq!(
        app.scalar_text(&format!(
            "SELECT device_id::text FROM refresh_tokens WHERE {}",
            by_token(session["refresh_token"].as_str().unwrap())
        ))
        .await,
        Some(device.to_string())
    );

    let (s, body) = send(
        &app,
        Method::POST,
        "/v1/auth/login",
        None,
        login_on("work laptop", &ann),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(count(&app, "SELECT count(*) FROM devices").await, 1);
    assert_eq!(
        app.scalar_text(&row).await,
        Some(format!("{}|work laptop|linux", ann.id))
    );

    // An empty device name is refused and changes nothing.
    let r = send(
        &app,
        Method::POST,
        "/v1/auth/login",
        None,
        login_on("  ", &ann),
    )
    .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&r.1), ["device.name"]);

    // Another account cannot take the device over.
    let bob = app.user("bob@example.com").await;
    let bob_sessions = format!(
        "SELECT count(*) FROM refresh_tokens WHERE identity_id = '{}'",
        bob.id
    );
    assert_eq!(count(&app, &bob_sessions).await, 1);
    let r = send(
        &app,
        Method::POST,
        "/v1/auth/login",
        None,
        login_on("stolen", &bob),
    )
    .await;
    assert_error(&r, StatusCode::CONFLICT, "conflict");
    assert_eq!(count(&app, "SELECT count(*) FROM devices").await, 1);
    assert_eq!(
        app.scalar_text(&row).await,
        Some(format!("{}|work laptop|linux", ann.id))
    );
    assert_eq!(
        count(&app, &bob_sessions).await,
        1,
        "no session for the refused login"
    );
}

// ---------------------------------------------------------------------------------------------
// 10. Bad input against an organization's routes: typed 4xx, and the organization unchanged.

async fn owner_and_org(app: &TestApp) -> (TestUser, String) {
    let ann = app.user("ann@example.com").await;
    let org = app.org(&ann, "Acme Realty").await;
    (ann, org)
}

#[tokio::test]
async fn malformed_bodies_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (ann, org) = owner_and_org(&app).await;
    let contacts = format!("/v1/orgs/{org}/contacts");
    let before = app.fingerprint(&org).await;

    let r = send_raw(
        &app,
        &contacts,
        &ann.token,
        "application/json",
        br#"{"name": "Bob"#.to_vec(),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(app.fingerprint(&org).await, before);

    let r = send(
        &app,
        Method::POST,
        &contacts,
        Some(&ann.token),
        json!({"name": 42}),
    )
    .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields(&r.1), ["name"], "{}", r.1);
    assert_eq!(app.fingerprint(&org).await, before);

    let r = send(
        &app,
        Method::POST,
        &contacts,
        Some(&ann.token),
        json!({"name": "Bob Buyer", "nickname": "Bobby"}),
    )
    .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(r.1["fields"][0]["field"], "nickname", "{}", r.1);
    assert_eq!(app.fingerprint(&org).await, before);

    let r = send(
        &app,
        Method::POST,
        &contacts,
        Some(&ann.token),
        json!({"email": "bob@example.com"}),
    )
    .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(r.1["message"].as_str().unwrap().contains("name"), "{}", r.1);
    assert_eq!(app.fingerprint(&org).await, before);

    let r = send(
        &app,
        Method::POST,
        &contacts,
        Some(&ann.token),
        json!(["Bob Buyer"]),
    )
    .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(app.fingerprint(&org).await, before);

    let huge = json!({"name": "Bob Buyer", "notes": "x".repeat(300 * 1024)});
    let r = send(&app, Method::POST, &contacts, Some(&ann.token), huge).await;
    assert_error(&r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert_eq!(app.fingerprint(&org).await, before);

    let r = send_raw(
        &app,
        &contacts,
        &ann.token,
        "text/plain",
        b"name=Bob Buyer".to_vec(),
    )
    .await;
    assert_error(
        &r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let r = send_raw(
        &app,
        &contacts,
        &ann.token,
        "application/x-www-form-urlencoded",
        b"name=Bob+Buyer".to_vec(),
    )
    .await;
    assert_error(
        &r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    assert_eq!(app.fingerprint(&org).await, before);

    // The same body, well-formed, goes through: the refusals were about the input.
    let (s, body) = send(
        &app,
        Method::POST,
        &contacts,
        Some(&ann.token),
        json!({"name": "Bob Buyer"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_ne!(app.fingerprint(&org).await, before);
}

#[tokio::test]
async fn invalid_values_name_their_fields_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (ann, org) = owner_and_org(&app).await;
    let contacts = format!("/v1/orgs/{org}/contacts");
    let deals = format!("/v1/orgs/{org}/deals");
    let loops = format!("/v1/orgs/{org}/loops");
    let before = app.fingerprint(&org).await;

    let cases: Vec<(&str, &String, Value, Vec<&str>)> = vec![
        ("empty name", &contacts, json!({"name": ""}), vec!["name"]),
        (
            "blank name",
            &contacts,
            json!({"name": "   "}),
            vec!["name"],
        ),
        (
            "one-letter name",
            &contacts,
            json!({"name": "B"}),
            vec!["name"],
        ),
        (
            "2,000-character name",
            &contacts,
            json!({"name": "n".repeat(2000)}),
            vec!["name"],
        ),
        (
            "invalid email",
            &contacts,
            json!({"name": "Bob Buyer", "email": "bob at example"}),
            vec!["email"],
        ),
        (
            "control character",
            &contacts,
            json!({"name": "Bob\u{7}Buyer"}),
            vec!["name"],
        ),
        (
            "several at once",
            &contacts,
            json!({"name": "", "email": "nope", "phone": "call me"}),
            vec!["email", "name", "phone"],
        ),
        (
            "negative value",
            &deals,
            json!({"title": "Main St sale", "value_cents": -100}),
            vec!["value_cents"],
        ),
        (
            "zero value",
            &deals,
            json!({"title": "Main St sale", "value_cents": 0}),
            vec!["value_cents"],
        ),
        (
            "probability 150",
            &deals,
            json!({"title": "Main St sale", "value_cents": 100, "probability": 150}),
            vec!["probability"],
        ),
        (
            "value beyond i64",
            &deals,
            json!({"title": "Main St sale", "value_cents": 1e30}),
            vec!["value_cents"],
        ),
        (
            "listing price 0",
            &loops,
            json!({"property_address": "12 Main Street", "transaction_type": "PURCHASE_AGREEMENT",
                   "listing_price_cents": 0}),
            vec!["listing_price_cents"],
        ),
        (
            "unknown transaction type",
            &loops,
            json!({"property_address": "12 Main Street", "transaction_type": "BARTER",
                   "listing_price_cents": 100}),
            vec!["transaction_type"],
        ),
    ];
    for (what, path, body, expected) in cases {
        let r = send(&app, Method::POST, path, Some(&ann.token), body).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let mut got = fields(&r.1);
        got.sort();
        assert_eq!(got, expected, "{what}: {}", r.1);
        assert_eq!(
            app.fingerprint(&org).await,
            before,
            "{what} changed the organization"
        );
    }

    // Updates are checked the same way.
    let contact = create_contact(&app, &ann, &org).await;
    let before = app.fingerprint(&org).await;
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"email": "bob@"}), "email"),
        (json!({"tags": ["x".repeat(51)]}), "tags"),
        (json!({}), "changes"),
    ] {
        let r = send(&app, Method::PATCH, &contact, Some(&ann.token), body).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(fields(&r.1).iter().any(|f| f == field), "{}", r.1);
        assert_eq!(app.fingerprint(&org).await, before);
    }
}

async fn create_contact(app: &TestApp, owner: &TestUser, org: &str) -> String {
    let contacts = format!("/v1/orgs/{org}/contacts");
    let (s, c) = send(
        app,
        Method::POST,
        &contacts,
        Some(&owner.token),
        json!({"name": "Bob Buyer"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    format!("{contacts}/{}", c["id"].as_str().unwrap())
}

/// An update that names a field with a bad value did name something to change: the answer
/// should be about that field alone, not also "nothing to change".
#[tokio::test]
async fn a_refused_change_is_not_also_reported_as_no_change() {
    let app = TestApp::spawn().await;
    let (ann, org) = owner_and_org(&app).await;
    let contact = create_contact(&app, &ann, &org).await;
    let before = app.fingerprint(&org).await;
    let r = send(
        &app,
        Method::PATCH,
        &contact,
        Some(&ann.token),
        json!({"name": ""}),
    )
    .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(app.fingerprint(&org).await, before);
    assert_eq!(fields(&r.1), ["name"], "{}", r.1);
}

#[tokio::test]
async fn bad_paths_and_queries_are_typed_errors() {
    let app = TestApp::spawn().await;
    let (ann, org) = owner_and_org(&app).await;
    let before = app.fingerprint(&org).await;
    let t = Some(ann.token.as_str());

    for path in [
        "/v1/orgs/not-a-uuid/contacts".to_string(),
        format!("/v1/orgs/{org}/contacts/not-a-uuid"),
        format!("/v1/orgs/{org}/deals/12345"),
        "/v1/nothing-here".to_string(),
        format!("/v1/orgs/{org}/no-such-collection"),
    ] {
        let r = send(&app, Method::GET, &path, t, Value::Null).await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    }
    let r = send(&app, Method::GET, "/v1/nothing-here", None, Value::Null).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    let r = send(
        &app,
        Method::POST,
        "/v1/orgs/not-a-uuid/contacts",
        t,
        json!({"name": "Bob Buyer"}),
    )
    .await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    let r = send(
        &app,
        Method::DELETE,
        &format!("/v1/orgs/{org}/contacts/0"),
        t,
        Value::Null,
    )
    .await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(app.fingerprint(&org).await, before);

    let list = format!("/v1/orgs/{org}/contacts");
    for (query, field) in [
        ("sort=shoe_size", "sort"),
        ("sort=-password_hash", "sort"),
        ("cursor=garbage", "cursor"),
        ("cursor=eyJ2IjoxfQ", "cursor"), // base64 of {"v":1}: not one of ours
        ("limit=0", "limit"),
        ("limit=100000", "limit"),
        ("limit=-1", "limit"),
        ("limit=abc", "query"),
        ("limit=99999999999999999999999", "query"),
        ("status=MAYBE", "query"),
        ("assignee=someone", "query"),
        ("shoe_size=42", "query"),
    ] {
        let r = send(
            &app,
            Method::GET,
            &format!("{list}?{query}"),
            t,
            Value::Null,
        )
        .await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(fields(&r.1), [field], "{query}: {}", r.1);
    }
    // A cursor that decodes but holds no timestamp for a time-sorted list.
    let odd = URL_SAFE_NO_PAD.encode(format!(
        r#"{{"v":"not a time","id":"{}"}}"#,
        uuid::Uuid::now_v7()
    ));
    let r = send(
        &app,
        Method::GET,
        &format!("{list}?cursor={odd}"),
        t,
        Value::Null,
    )
    .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    // Well-formed queries work.
    for query in [
        "sort=name&limit=1",
        "sort=-updated_at&limit=500",
        "q=bob&status=ACTIVE",
    ] {
        let (s, body) = send(
            &app,
            Method::GET,
            &format!("{list}?{query}"),
            t,
            Value::Null,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{query}: {body}");
        assert!(body["items"].is_array());
    }
    assert_eq!(app.fingerprint(&org).await, before);
}

// ---------------------------------------------------------------------------------------------
// 11. Values the typed checks let through must still be refused as input, never as a 500.

/// Sends every case, then asserts none answered 500 (naming all that did) and each answered
/// one of the statuses it may.
async fn expect_refusals(
    app: &TestApp,
    token: &str,
    cases: Vec<(&str, Method, String, Value, &[u16])>,
) {
    let mut wrong = Vec::new();
    for (what, method, path, body, allowed) in cases {
        let (s, b) = app.call(method, &path, Some(token), body).await;
        if !allowed.contains(&s.as_u16()) {
            wrong.push(format!("{what}: {s} {b}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "these inputs must be refused as input (4xx), never answered 500:\n{}",
        wrong.join("\n")
    );
}

/// PostgreSQL text cannot hold U+0000; where the server does not check for it, a NUL reaches SQL
/// and comes back as an internal error.
#[tokio::test]
async fn nul_characters_in_unchecked_text_are_refused_not_500() {
    let app = TestApp::spawn().await;
    let (ann, org) = owner_and_org(&app).await;
    let before = app.fingerprint(&org).await;
    let sessions = count(&app, "SELECT count(*) FROM refresh_tokens").await;

    expect_refusals(
        &app,
        &ann.token,
        vec![
            (
                "login email with NUL",
                Method::POST,
                "/v1/auth/login".to_string(),
                json!({"email": "ann\u{0}@example.com", "password": PASSWORD}),
                &[401, 422],
            ),
            (
                "contact search with NUL",
                Method::GET,
                format!("/v1/orgs/{org}/contacts?q=bob%00"),
                Value::Null,
                &[200, 422],
            ),
            (
                "contact name with NUL (checked: the control)",
                Method::POST,
                format!("/v1/orgs/{org}/contacts"),
                json!({"name": "Bob\u{0}Buyer"}),
                &[422],
            ),
        ],
    )
    .await;
    assert_eq!(app.fingerprint(&org).await, before);
    assert_eq!(
        count(&app, "SELECT count(*) FROM refresh_tokens").await,
        sessions
    );
}

/// chrono accepts years PostgreSQL cannot store (before 4713 BC); such a date must be refused as
/// input, not fail in the database.
#[tokio::test]
async fn dates_postgres_cannot_store_are_refused_not_500() {
    let app = TestApp::spawn().await;
    let (ann, org) = owner_and_org(&app).await;
    let before = app.fingerprint(&org).await;

    expect_refusals(
        &app,
        &ann.token,
        vec![
            (
                "deal expected_close_date -5000-01-01",
                Method::POST,
                format!("/v1/orgs/{org}/deals"),
                json!({"title": "Ancient deal", "value_cents": 100,
                       "expected_close_date": "-5000-01-01"}),
                &[422],
            ),
            (
                "contact next_follow_up_at -5000-01-01T00:00:00Z",
                Method::POST,
                format!("/v1/orgs/{org}/contacts"),
                json!({"name": "Bob Buyer", "next_follow_up_at": "-5000-01-01T00:00:00Z"}),
                &[422],
            ),
            (
                "loop expected_closing -5000-01-01",
                Method::POST,
                format!("/v1/orgs/{org}/loops"),
                json!({"property_address": "12 Main Street",
                       "transaction_type": "PURCHASE_AGREEMENT", "listing_price_cents": 100,
                       "expected_closing": "-5000-01-01"}),
                &[422],
            ),
            (
                "deal expected_close_date 2024-02-30 (checked: the control)",
                Method::POST,
                format!("/v1/orgs/{org}/deals"),
                json!({"title": "Leap deal", "value_cents": 100,
                       "expected_close_date": "2024-02-30"}),
                &[422],
            ),
        ],
    )
    .await;
    assert_eq!(app.fingerprint(&org).await, before);
}
