//! Organizations on two clusters: each sees only its own data, both work (REST, sync, realtime),
//! the membership index lists both in one place, and bad registrations change nothing.

use crate::support::{pull, Events, Two};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use std::str::FromStr;
use std::time::Duration;
use strive_server::admin::{orgs, Operator};
use strive_server::tenants::registry::{self, RegistryError};

fn names(list: &serde_json::Value) -> Vec<(String, String, String)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_string(),
                m["role"].as_str().unwrap().to_string(),
                m["tier"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn two_organizations_on_two_clusters_see_only_their_own_data_and_both_work() {
    let two = Two::start().await;
    let app = &two.app;
    let ann = app.user("ann@example.com").await;
    let bob = app.user("bob@example.com").await;
    let carol = app.user("carol@example.com").await;
    let alpha = app.org(&ann, "Alpha Homes").await;
    let op = Operator::new(&app.admin_url).await.unwrap();
    let beta = orgs::create(&op, "Beta Realty", None, "bob@example.com", "b")
        .await
        .unwrap()
        .to_string();
    assert_eq!(two.home(&alpha).await, ("default".into(), "active".into()));
    assert_eq!(two.home(&beta).await, ("b".into(), "active".into()));

    // Realtime from both databases reaches the same server.
    let mut alpha_events = Events::open(app, &alpha, &ann.token).await;
    let mut beta_events = Events::open(app, &beta, &bob.token).await;

    let (s, a1) = app
        .post(
            &format!("/v1/orgs/{alpha}/contacts"),
            &ann.token,
            json!({"name": "Al Alpha"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a1}");
    alpha_events.expect("changed", Duration::from_secs(5)).await;
    let (s, b1) = app
        .post(
            &format!("/v1/orgs/{beta}/contacts"),
            &bob.token,
            json!({"name": "Bea Beta"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b1}");
    beta_events.expect("changed", Duration::from_secs(5)).await;
    beta_events.expect("activity", Duration::from_secs(5)).await;

    // Each organization's rows are in its own database only.
    assert!(two.rows_of("b", &beta).await > 0);
    assert_eq!(
        two.rows_of("default", &beta).await,
        0,
        "nothing of Beta in the control database"
    );
    assert_eq!(two.rows_of("b", &alpha).await, 0, "nothing of Alpha in b");
    let list = |org: &str, token: &str| {
        let path = format!("/v1/orgs/{org}/contacts");
        let token = token.to_string();
        async move { app.get(&path, &token).await }
    };
    let (s, page) = list(&beta, &bob.token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["name"], "Bea Beta");
    // Not a member: not found, whichever database the organization is in.
    let (s, _) = list(&beta, &ann.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = list(&alpha, &bob.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, body) = list(&beta, &carol.token).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("needs_organization"))
    );
    let (s, _) = app
        .get(
            &format!("/v1/orgs/{beta}/contacts/{}", a1["id"].as_str().unwrap()),
            &bob.token,
        )
        .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "another organization's id is unknown here"
    );

    // Row-level security holds on the second cluster too.
    let opts = PgConnectOptions::from_str(&two.b_url)
        .unwrap()
        .username("strive_app");
    let mut app_conn = opts.connect().await.unwrap();
    let mut tx = app_conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.org_id', $1, true)")
        .bind(&alpha)
        .execute(&mut *tx)
        .await
        .unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM contacts")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(
        seen, 0,
        "strive_app in Alpha's context sees none of b's contacts"
    );
    tx.rollback().await.unwrap();

    // One person in both: the index lists both, with role and tier, in one place.
    app.add(&alpha, &ann, &carol, "VIEWER").await;
    app.add(&beta, &bob, &carol, "MEMBER").await;
    let (s, me) = app.get("/v1/me", &carol.token).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(
        names(&me["organizations"]),
        vec![
            ("Alpha Homes".into(), "VIEWER".into(), "STARTER".into()),
            ("Beta Realty".into(), "MEMBER".into(), "STARTER".into())
        ]
    );
    let (s, _) = app
        .patch(
            &format!("/v1/orgs/{beta}/members/{}", carol.id),
            &bob.token,
            json!({"role": "ADMIN"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let n =
        strive_server::admin::set_tier(&app.admin_url, "beta-realty", strive_domain::Tier::Growth)
            .await
            .unwrap();
    assert_eq!(n, 1);
    let (_, list_now) = app.get("/v1/orgs", &carol.token).await;
    assert_eq!(
        names(&list_now)[1],
        ("Beta Realty".into(), "ADMIN".into(), "GROWTH".into())
    );
    // The tier lives with the organization: Beta's database says GROWTH, so GROWTH features open.
    let tier = two
        .scalar("b", &format!("SELECT count(*) FROM subscriptions WHERE organization_id = '{beta}' AND tier = 'GROWTH'"))
        .await;
    assert_eq!(tier, 1);
    let (s, _) = app
        .delete(&format!("/v1/orgs/{beta}/members/{}", carol.id), &bob.token)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, list_now) = app.get("/v1/orgs", &carol.token).await;
    assert_eq!(
        names(&list_now),
        vec![("Alpha Homes".into(), "VIEWER".into(), "STARTER".into())]
    );
    let (s, _) = list(&beta, &carol.token).await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "removed from Beta: Beta is gone for Carol"
    );

    // Sync works for the organization in b: a device pushes, the feed carries it, the admins'
    // device list (devices live in the control database) shows the device.
    let dev = app.device_login("bob@example.com", "Bob's laptop").await;
    let (s, pushed) = app
        .post(
            &format!("/v1/orgs/{beta}/sync/push"),
            &dev.user.token,
            json!({"mutations": [{"client_seq": 1, "mutation": {"type": "createContact", "args": {"name": "Pushed Person"}}}]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{pushed}");
    assert_eq!(pushed["results"][0]["status"], "applied", "{pushed}");
    let (lines, end) = pull(app, &beta, &dev.user.token, 0).await;
    assert!(lines.iter().any(|l| l["row"]["name"] == "Pushed Person"));
    assert!(lines.iter().all(|l| l["row"]["organization_id"]
        .as_str()
        .is_none_or(|o| o == beta)));
    let (s, devices) = app
        .get(&format!("/v1/orgs/{beta}/devices"), &bob.token)
        .await;
    assert_eq!(s, StatusCode::OK, "{devices}");
    let mine = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device_id"] == dev.id.as_str())
        .expect("the device is listed");
    assert_eq!(mine["last_pulled_seq"], end["last_seq"]);
    assert_eq!(mine["user_name"], "bob");

    // The registry's URLs are secrets: the service role cannot read them.
    let opts = PgConnectOptions::from_str(&app.admin_url)
        .unwrap()
        .username("strive_app");
    let mut ctl = opts.connect().await.unwrap();
    let denied = sqlx::query("SELECT url FROM tenant_databases")
        .fetch_all(&mut ctl)
        .await;
    assert!(
        denied.is_err(),
        "strive_app must not read tenant database URLs"
    );
}

#[tokio::test]
async fn bad_registrations_and_placements_are_refused_and_change_nothing() {
    let two = Two::start().await;
    let app = &two.app;
    let registered = || two.scalar("default", "SELECT count(*) FROM tenant_databases");
    let before = registered().await;

    let again = registry::add(&app.admin_url, &two.b_url, Some("b2"), None).await;
    assert!(
        matches!(again, Err(RegistryError::AlreadyRegistered(ref n)) if n == "b"),
        "{again:?}"
    );
    let itself = registry::add(&app.admin_url, &app.admin_url, Some("self"), None).await;
    assert!(
        matches!(itself, Err(RegistryError::AlreadyRegistered(ref n)) if n == "default"),
        "{itself:?}"
    );
    // The same database by another road (loopback TCP instead of the socket) is still itself.
    let ctl = PgConnectOptions::from_str(&app.admin_url).unwrap();
    let by_tcp = format!(
        "postgres://{}@127.0.0.1:{}/{}",
        ctl.get_username(),
        ctl.get_port(),
        ctl.get_database().unwrap_or_default()
    );
    let itself = registry::add(&app.admin_url, &by_tcp, Some("self-tcp"), None).await;
    assert!(
        matches!(itself, Err(RegistryError::AlreadyRegistered(ref n)) if n == "default"),
        "{itself:?}"
    );
    let fresh = crate::support::empty_database().await;
    for (name, want) in [
        ("default", "already registered"),
        ("b", "already registered"),
        ("Bad Name", "not a valid"),
    ] {
        let r = registry::add(&app.admin_url, &fresh, Some(name), None).await;
        let msg = r.expect_err(name).to_string();
        assert!(msg.contains(want), "{name}: {msg}");
    }
    // Unreachable, with a password in the URL: the error says where, never the password.
    let r = registry::add(
        &app.admin_url,
        "postgres://owner:hunter2-secret@127.0.0.1:1/nowhere",
        Some("gone"),
        None,
    )
    .await;
    let msg = r.expect_err("unreachable").to_string();
    assert!(msg.contains("cannot connect"), "{msg}");
    assert!(!msg.contains("hunter2"), "the password leaked: {msg}");
    let r = registry::add(&app.admin_url, "not a url", Some("junk"), None).await;
    assert!(matches!(r, Err(RegistryError::BadUrl(_))), "{r:?}");
    // A database already holding organizations (another installation's) is refused.
    let used = crate::support::empty_database().await;
    strive_server::db::migrate(&used).await.unwrap();
    let mut c = PgConnection::connect(&used).await.unwrap();
    sqlx::query(
        "INSERT INTO sync_counters (organization_id, last_seq) VALUES (gen_random_uuid(), 3)",
    )
    .execute(&mut c)
    .await
    .unwrap();
    let r = registry::add(&app.admin_url, &used, Some("used"), None).await;
    assert!(matches!(r, Err(RegistryError::NotEmpty(_))), "{r:?}");
    assert_eq!(registered().await, before, "nothing was registered");

    let ann = app.user("ann@example.com").await;
    let alpha = app.org(&ann, "Alpha Homes").await;
    let op = Operator::new(&app.admin_url).await.unwrap();
    let directory = || two.scalar("default", "SELECT count(*) FROM org_directory");
    let entries = directory().await;
    let r = orgs::create(&op, "Gamma", None, "ann@example.com", "nowhere").await;
    assert!(
        matches!(r, Err(orgs::OrgAdminError::UnknownDatabase(_))),
        "{r:?}"
    );
    let r = orgs::create(&op, "Alpha Homes", None, "ann@example.com", "b").await;
    assert!(
        matches!(r, Err(orgs::OrgAdminError::SlugTaken(_))),
        "a slug is unique across databases: {r:?}"
    );
    let r = orgs::create(&op, "Delta", None, "nobody@example.com", "b").await;
    assert!(
        matches!(r, Err(orgs::OrgAdminError::NoSuchOwner(_))),
        "{r:?}"
    );
    let r = orgs::create(&op, "x", None, "ann@example.com", "b").await;
    assert!(matches!(r, Err(orgs::OrgAdminError::Invalid(_))), "{r:?}");
    assert_eq!(directory().await, entries);
    assert_eq!(
        two.scalar("b", "SELECT count(*) FROM organizations").await,
        0,
        "nothing written in b"
    );

    // The API's slugs are checked against every database too.
    orgs::create(&op, "Beta Realty", None, "ann@example.com", "b")
        .await
        .unwrap();
    let (s, body) = app
        .post("/v1/orgs", &ann.token, json!({"name": "Beta Realty"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    let (_, mine) = app.get("/v1/orgs", &ann.token).await;
    assert_eq!(mine.as_array().unwrap().len(), 2, "{mine}");
    assert!(mine
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["organization_id"] == alpha.as_str()));
}

#[tokio::test]
async fn tenant_pools_open_on_first_use_are_bounded_and_close_when_idle() {
    use strive_server::tenants::{PoolLimits, Tenants};
    let two = Two::start().await;
    let control = strive_server::db::connect_app(
        strive_server::db::app_options(&two.app.admin_url).unwrap(),
        2,
    )
    .await
    .unwrap();
    let limits = PoolLimits {
        max_connections: 3,
        idle_connection: Duration::from_secs(1),
        idle_pool: Duration::from_secs(2),
    };
    // Registered before it started, like a server restarted after `db add`.
    let tenants = Tenants::new(
        control,
        &two.app.admin_url,
        Vec::new(),
        limits,
        strive_server::sync::realtime::Hub::new(),
    );
    assert!(tenants.open_pools().is_empty(), "no pool before first use");
    let pool = tenants
        .pool("b")
        .await
        .expect("found by re-reading the registry");
    assert_eq!(tenants.open_pools(), vec!["b".to_string()]);
    assert_eq!(pool.options().get_max_connections(), 3, "bounded");
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(pool.acquire().await.unwrap());
    }
    let fourth = tokio::time::timeout(Duration::from_millis(300), pool.acquire()).await;
    assert!(fourth.is_err(), "a fourth connection waits");
    drop(held);
    assert!(
        tenants.pool("nowhere").await.is_err(),
        "an unknown database is an error"
    );
    assert!(
        tenants.hub().databases().contains(&"b".to_string()),
        "listened to"
    );
    // Unused for longer than `idle_pool`: closed and forgotten, and opened again on demand.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        tenants.open_pools().is_empty(),
        "idle pool closed: {:?}",
        tenants.open_pools()
    );
    assert!(pool.is_closed());
    tenants.pool("b").await.unwrap();
    assert_eq!(tenants.open_pools(), vec!["b".to_string()]);
}

#[tokio::test]
async fn a_tenant_database_that_is_down_does_not_stop_the_server_or_other_organizations() {
    let app = crate::common::TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    let alpha = app.org(&ann, "Alpha Homes").await;
    // A database on a cluster of its own, with an organization, and then the cluster goes away.
    let cluster = strive_pg::PrivateCluster::throwaway().unwrap();
    let mut c = PgConnection::connect(&cluster.url("postgres", "postgres"))
        .await
        .unwrap();
    sqlx::query("CREATE DATABASE gone")
        .execute(&mut c)
        .await
        .unwrap();
    drop(c);
    registry::add(
        &app.admin_url,
        &cluster.url("postgres", "gone"),
        Some("gone"),
        None,
    )
    .await
    .unwrap();
    let op = Operator::new(&app.admin_url).await.unwrap();
    let lost = orgs::create(&op, "Lost Realty", None, "ann@example.com", "gone")
        .await
        .unwrap()
        .to_string();
    drop(cluster);

    // A fresh server over the same control database starts anyway.
    let data = tempfile::tempdir().unwrap();
    let server = strive_server::Server::build(
        strive_server::Config::new("127.0.0.1:0".parse().unwrap(), data.path().to_path_buf()),
        &app.admin_url,
    )
    .await
    .expect("starts with a tenant database down");
    let base = format!("http://{}", server.local_addr());
    tokio::spawn(server.run(std::future::pending()));
    let http = reqwest::Client::new();
    // Its own token secret (its own data dir): sign in there.
    let session: serde_json::Value = http
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"email": "ann@example.com", "password": crate::common::PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = session["access_token"].as_str().unwrap().to_string();
    let get = |path: String| {
        let (http, token) = (http.clone(), token.clone());
        async move {
            let r = http.get(path).bearer_auth(token).send().await.unwrap();
            r.status()
        }
    };
    assert_eq!(
        get(format!("{base}/v1/orgs/{alpha}/contacts")).await,
        StatusCode::OK
    );
    let (s, me) = app.get("/v1/me", &ann.token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        me["organizations"].as_array().unwrap().len(),
        2,
        "both listed: {me}"
    );
    let down = get(format!("{base}/v1/orgs/{lost}/contacts")).await;
    assert_eq!(
        down,
        StatusCode::INTERNAL_SERVER_ERROR,
        "its own organization fails, with a generic answer"
    );
    assert!(
        !crate::common::logs().contains("hunter"),
        "no secrets logged"
    );
}
