//! Two private PostgreSQL clusters: the shared test cluster holds each test's control database
//! (through `TestApp`), a second one started here holds its tenant databases.

use crate::common::TestApp;
use sqlx::{Connection, PgConnection};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use strive_pg::PrivateCluster;
use strive_server::moving::{self, MoveError, MoveOptions, MoveReport, Phase};
use strive_server::tenants::registry;

static SECOND: OnceLock<PrivateCluster> = OnceLock::new();
static NEXT: AtomicUsize = AtomicUsize::new(0);

pub fn second_cluster() -> &'static PrivateCluster {
    SECOND.get_or_init(|| PrivateCluster::throwaway().expect("a second private cluster"))
}

/// A fresh, empty database on the second cluster; answers its owner URL.
pub async fn empty_database() -> String {
    let cluster = second_cluster();
    let name = format!(
        "b{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    cluster
        .create_database(&name)
        .await
        .expect("create database")
}

/// A server over a control database, with database `b` (on the other cluster) registered.
pub struct Two {
    pub app: TestApp,
    pub b_url: String,
}

impl Two {
    pub async fn start() -> Self {
        let app = TestApp::spawn().await;
        let b_url = empty_database().await;
        registry::add(&app.admin_url, &b_url, Some("b"), None)
            .await
            .expect("db add");
        Two { app, b_url }
    }

    /// The owner URL of database `db` (`default` or `b`).
    pub fn url(&self, db: &str) -> &str {
        if db == "b" {
            &self.b_url
        } else {
            &self.app.admin_url
        }
    }

    pub async fn scalar(&self, db: &str, sql: &str) -> i64 {
        scalar(self.url(db), sql).await
    }

    /// Where the directory places `org`, and its state.
    pub async fn home(&self, org: &str) -> (String, String) {
        let mut c = PgConnection::connect(&self.app.admin_url).await.unwrap();
        sqlx::query_as("SELECT database, state FROM org_directory WHERE organization_id::text = $1")
            .bind(org)
            .fetch_one(&mut c)
            .await
            .unwrap()
    }

    /// Rows of `org` in database `db`, all tenant tables together.
    pub async fn rows_of(&self, db: &str, org: &str) -> i64 {
        rows_of(self.url(db), org).await
    }

    pub async fn move_org(&self, org: &str, to: &str) -> Result<MoveReport, MoveError> {
        moving::move_org(
            &self.app.admin_url,
            org,
            to,
            MoveOptions::default(),
            |_| async {},
        )
        .await
    }

    /// Moves with `at` awaited at each phase.
    pub async fn move_with<F, Fut>(
        &self,
        org: &str,
        to: &str,
        at: F,
    ) -> Result<MoveReport, MoveError>
    where
        F: FnMut(Phase) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        moving::move_org(&self.app.admin_url, org, to, MoveOptions::default(), at).await
    }
}

pub async fn scalar(url: &str, sql: &str) -> i64 {
    let mut c = PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Every tenant table with an organization column (found in the catalog, as a move does).
pub const TENANT_TABLES: [(&str, &str); 15] = [
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
    ("applied_mutations", "organization_id"),
    ("device_sync_state", "organization_id"),
    ("tombstones", "organization_id"),
    ("sync_counters", "organization_id"),
    ("sync_flush", "organization_id"),
];

pub async fn rows_of(url: &str, org: &str) -> i64 {
    let parts: Vec<String> = TENANT_TABLES
        .iter()
        .map(|(t, c)| format!("(SELECT count(*) FROM {t} WHERE {c} = '{org}')"))
        .collect();
    scalar(url, &format!("SELECT {}", parts.join(" + "))).await
}

/// Every row of `org` in `db`, as text, table by table (for "same data before and after").
pub async fn dump(url: &str, org: &str) -> Vec<String> {
    let mut c = PgConnection::connect(url).await.unwrap();
    let mut out = Vec::new();
    sqlx::query("SET TimeZone = 'UTC'")
        .execute(&mut c)
        .await
        .unwrap();
    for (t, col) in TENANT_TABLES {
        let rows: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT x::text FROM {t} x WHERE {col} = '{org}' ORDER BY 1"
        ))
        .fetch_all(&mut c)
        .await
        .unwrap();
        out.extend(rows.into_iter().map(|r| format!("{t}: {r}")));
    }
    out
}

/// Reads an NDJSON pull to its end line.
pub async fn pull(
    app: &TestApp,
    org: &str,
    token: &str,
    after: i64,
) -> (Vec<serde_json::Value>, serde_json::Value) {
    let res = app
        .client
        .get(app.url(&format!(
            "/v1/orgs/{org}/sync/pull?after={after}&limit=100000"
        )))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let mut lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let end = lines.pop().expect("an end line");
    assert_eq!(end["end"], true, "{end}");
    (lines, end)
}

/// A server-sent event stream of one organization, read chunk by chunk.
pub struct Events {
    res: reqwest::Response,
    buf: Vec<u8>,
}

impl Events {
    pub async fn open(app: &TestApp, org: &str, token: &str) -> Events {
        let res = app
            .client
            .get(app.url(&format!("/v1/orgs/{org}/events")))
            .bearer_auth(token)
            .send()
            .await
            .expect("events reach the server");
        assert_eq!(res.status(), 200, "events");
        let mut e = Events {
            res,
            buf: Vec::new(),
        };
        let first = e.next(std::time::Duration::from_secs(5)).await;
        assert_eq!(first.as_deref(), Some("ready"));
        e
    }

    /// The next event's name within `within`, or `None`.
    pub async fn next(&mut self, within: std::time::Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(pos) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buf.drain(..pos + 2).collect();
                let text = String::from_utf8_lossy(&block);
                if let Some(name) = text.lines().find_map(|l| l.strip_prefix("event:")) {
                    return Some(name.trim().to_string());
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.res.chunk())
                .await
                .ok()?
                .ok()??;
            self.buf.extend_from_slice(&chunk);
        }
    }

    /// Waits for an event named `name`; panics after `within`.
    pub async fn expect(&mut self, name: &str, within: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Some(n) if n == name => return,
                Some(n) => seen.push(n),
                None => panic!("no '{name}' event within {within:?}; saw {seen:?}"),
            }
        }
    }
}
