//! Test harness: one real PostgreSQL cluster per test binary (private and throwaway unless
//! DATABASE_URL is set), a migrated template database, and per test a fresh database cloned from
//! it with a real server on a random loopback port.
#![allow(dead_code)]

pub mod statements;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::Connection;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use strive_pg::Database;
use strive_server::{Config, Server};

pub const PASSWORD: &str = "correct horse battery staple";

struct Cluster {
    db: Database,
    template: String,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// Everything the server logged in this test binary (to check that no secret is ever logged).
pub static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| {
        init_logging();
        // Our own runtime on our own thread: the caller is already inside a test's runtime.
        std::thread::spawn(|| {
            let db = Database::from_env_or_throwaway().expect("PostgreSQL for tests");
            let template = format!("strive_template_{}", std::process::id());
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&db.admin_url()).await.unwrap();
                sqlx::query(&format!("DROP DATABASE IF EXISTS {template}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                sqlx::query(&format!("CREATE DATABASE {template}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                strive_server::db::migrate(&db.url_for(&template))
                    .await
                    .expect("migrations apply");
            });
            Cluster { db, template }
        })
        .join()
        .expect("cluster set-up")
    })
}

fn init_logging() {
    let buf = LOGS
        .get_or_init(|| Arc::new(Mutex::new(Vec::new())))
        .clone();
    let writer = move || LogWriter(buf.clone());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
        .json()
        .with_writer(writer)
        .try_init();
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(b);
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn logs() -> String {
    LOGS.get()
        .and_then(|l| {
            l.lock()
                .ok()
                .map(|v| String::from_utf8_lossy(&v).into_owned())
        })
        .unwrap_or_default()
}

/// A running server over its own fresh database.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    /// Superuser/owner URL of this test's database: for set-up and for checking what changed.
    pub admin_url: String,
    pub db_name: String,
    pub data: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let cluster = cluster();
        let db_name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::SeqCst)
        );
        let mut conn = sqlx::PgConnection::connect(&cluster.db.admin_url())
            .await
            .unwrap();
        sqlx::query(&format!(
            "CREATE DATABASE {db_name} TEMPLATE {}",
            cluster.template
        ))
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.ok();
        let admin_url = cluster.db.url_for(&db_name);
        let data = tempfile::tempdir().unwrap();
        let mut config = Config::new("127.0.0.1:0".parse().unwrap(), data.path().to_path_buf());
        tweak(&mut config);
        let server = Server::build(config, &admin_url)
            .await
            .expect("server starts");
        let addr = server.local_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        TestApp {
            addr,
            client: reqwest::Client::new(),
            admin_url,
            db_name,
            data,
            shutdown: Some(tx),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends a request; `body` of `Value::Null` sends none. Answers status and JSON (or Null).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if !body.is_null() {
            req = req.json(&body);
        }
        let res = req.send().await.expect("request reaches the server");
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Sends raw bytes with a content type.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, self.url(path))
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.expect("request reaches the server");
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), Value::Null).await
    }
    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), body).await
    }
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(token), body).await
    }
    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(token), Value::Null)
            .await
    }

    /// Signs up and signs in; returns the person.
    pub async fn user(&self, email: &str) -> TestUser {
        let (s, body) = self
            .call(
                Method::POST,
                "/v1/auth/signup",
                None,
                json!({"email": email, "password": PASSWORD, "name": email.split('@').next()}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "signup {email}: {body}");
        self.login(email).await
    }

    pub async fn login(&self, email: &str) -> TestUser {
        self.sign_in(email, json!({"email": email, "password": PASSWORD}))
            .await
    }

    /// Signs in with a fresh device id (UUID v7): the session a device pushes with.
    pub async fn device_login(&self, email: &str, name: &str) -> TestDevice {
        let id = uuid::Uuid::now_v7().to_string();
        let body = json!({"email": email, "password": PASSWORD,
                          "device": {"id": id, "name": name, "platform": "linux"}});
        TestDevice {
            user: self.sign_in(email, body).await,
            id,
        }
    }

    async fn sign_in(&self, email: &str, body: Value) -> TestUser {
        let (s, body) = self.call(Method::POST, "/v1/auth/login", None, body).await;
        assert_eq!(s, StatusCode::OK, "login {email}: {body}");
        TestUser {
            id: body["user_id"].as_str().unwrap().to_string(),
            token: body["access_token"].as_str().unwrap().to_string(),
            refresh: body["refresh_token"].as_str().unwrap().to_string(),
            email: email.to_string(),
        }
    }

    /// Creates an organization owned by `owner`; returns its id.
    pub async fn org(&self, owner: &TestUser, name: &str) -> String {
        let (s, body) = self
            .post("/v1/orgs", &owner.token, json!({"name": name}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "create org: {body}");
        body["id"].as_str().unwrap().to_string()
    }

    /// Adds `who` to `org` with `role`, as the owner.
    pub async fn add(&self, org: &str, owner: &TestUser, who: &TestUser, role: &str) {
        let (s, body) = self
            .post(
                &format!("/v1/orgs/{org}/members"),
                &owner.token,
                json!({"email": who.email, "role": role}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "add member: {body}");
    }

    /// Runs SQL as the database owner (set-up and inspection only).
    pub async fn sql(&self, query: &str) {
        let mut conn = sqlx::PgConnection::connect(&self.admin_url).await.unwrap();
        sqlx::raw_sql(query).execute(&mut conn).await.unwrap();
    }

    pub async fn scalar_i64(&self, query: &str) -> i64 {
        let mut conn = sqlx::PgConnection::connect(&self.admin_url).await.unwrap();
        sqlx::query_scalar::<_, i64>(query)
            .fetch_one(&mut conn)
            .await
            .unwrap()
    }

    pub async fn scalar_text(&self, query: &str) -> Option<String> {
        let mut conn = sqlx::PgConnection::connect(&self.admin_url).await.unwrap();
        sqlx::query_scalar::<_, Option<String>>(query)
            .fetch_one(&mut conn)
            .await
            .unwrap()
    }

    /// A fingerprint of every tenant row of `org`: equal before and after means nothing changed.
    pub async fn fingerprint(&self, org: &str) -> String {
        let tables = [
            "organization_members",
            "subscriptions",
            "contacts",
            "deals",
            "transaction_loops",
            "transaction_tasks",
            "documents",
            "document_versions",
            "document_keys",
            "organization_keys",
            "upload_sessions",
            "audit_log",
            "conflicts",
        ];
        let mut parts = Vec::new();
        for t in tables {
            let q = format!(
                "SELECT coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), 'empty') FROM {t} x WHERE organization_id = '{org}'"
            );
            parts.push(format!(
                "{t}:{}",
                self.scalar_text(&q).await.unwrap_or_default()
            ));
        }
        let q = format!("SELECT md5(o::text) FROM organizations o WHERE id = '{org}'");
        parts.push(format!(
            "org:{}",
            self.scalar_text(&q).await.unwrap_or_default()
        ));
        parts.join(",")
    }

    /// Uploads a small encrypted PDF to `loop_id` as a new document (declare, one chunk,
    /// complete); returns (document id, version id).
    pub async fn document(&self, org: &str, token: &str, loop_id: &str) -> (String, String) {
        use sha2::Digest;
        let key = strive_crypto::DataKey::generate();
        let plain = b"%PDF-1.7\n% test document\n".to_vec();
        let mut sealed = Vec::new();
        strive_crypto::encrypt(&key, plain.as_slice(), &mut sealed).unwrap();
        let (doc, version) = (
            uuid::Uuid::now_v7().to_string(),
            uuid::Uuid::now_v7().to_string(),
        );
        let (s, b) = self
            .post(
                &format!("/v1/orgs/{org}/uploads"),
                token,
                json!({"id": version, "document_id": doc, "loop_id": loop_id, "name": "Test.pdf",
                       "mime_type": "application/pdf", "ciphertext_size": sealed.len(),
                       "sha256": hex::encode(sha2::Sha256::digest(&sealed))}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "declare upload: {b}");
        let (s, b) = self
            .raw(
                Method::PUT,
                &format!("/v1/orgs/{org}/uploads/{version}?offset=0"),
                Some(token),
                "application/octet-stream",
                sealed,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "upload chunk: {b}");
        let (s, b) = self
            .post(
                &format!("/v1/orgs/{org}/uploads/{version}/complete"),
                token,
                json!({"data_key": key.to_base64(), "size": plain.len()}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "complete upload: {b}");
        (doc, version)
    }

    /// Sets a person's platform role directly (as the strive-server set-role command does).
    pub async fn set_global_role(&self, user: &TestUser, role: &str) {
        self.sql(&format!(
            "UPDATE users SET role = '{role}' WHERE id = '{}'",
            user.id
        ))
        .await;
    }

    pub async fn set_tier(&self, org: &str, tier: &str) {
        self.sql(&format!(
            "UPDATE subscriptions SET tier = '{tier}' WHERE organization_id = '{org}'"
        ))
        .await;
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub token: String,
    pub refresh: String,
}

/// A session bound to a device (push needs one).
#[derive(Clone, Debug)]
pub struct TestDevice {
    pub user: TestUser,
    pub id: String,
}
