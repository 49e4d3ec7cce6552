//! A real server over a real (private, throwaway) PostgreSQL, for tests of the clients.

use serde_json::{json, Value};
use sqlx::Connection;
use strive_pg::Database;
use strive_server::{Config, Server};

pub const PASSWORD: &str = "a long password";

pub struct TestServer {
    pub base: String,
    pub owner_url: String,
    pub http: reqwest::Client,
    _db: Database,
    _data: tempfile::TempDir,
}

impl TestServer {
    /// A fresh database on the shared private cluster and a server on a free loopback port,
    /// running on the caller's tokio runtime.
    pub async fn start() -> Self {
        let db = Database::from_env_or_throwaway().expect("a private PostgreSQL");
        let name = format!(
            "client_{}_{}",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        );
        let mut conn = sqlx::PgConnection::connect(&db.admin_url())
            .await
            .expect("admin connection");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create database");
        let admin = db.admin_url();
        let owner_url = format!(
            "{}/{name}",
            &admin[..admin.rfind('/').unwrap_or(admin.len())]
        );
        let data = tempfile::tempdir().expect("temp dir");
        let s = Server::build(
            Config::new(
                "127.0.0.1:0".parse().expect("loopback address"),
                data.path().into(),
            ),
            &owner_url,
        )
        .await
        .expect("server starts");
        let base = format!("http://{}", s.local_addr());
        tokio::spawn(s.run(std::future::pending()));
        TestServer {
            base,
            owner_url,
            http: reqwest::Client::new(),
            _db: db,
            _data: data,
        }
    }

    /// One API call: (status, JSON body or null).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if !body.is_null() {
            req = req.json(&body);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.expect("the server answers");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn signup(&self, email: &str) {
        let (s, b) = self
            .call(
                reqwest::Method::POST,
                "/v1/auth/signup",
                None,
                json!({"email": email, "password": PASSWORD, "name": email.split('@').next()}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }

    /// Signs in without a device: an access token for API calls.
    pub async fn token(&self, email: &str) -> String {
        let (s, b) = self
            .call(
                reqwest::Method::POST,
                "/v1/auth/login",
                None,
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        b["access_token"].as_str().expect("a token").to_string()
    }

    pub async fn sql(&self, q: &str) {
        let mut c = sqlx::PgConnection::connect(&self.owner_url)
            .await
            .expect("owner connection");
        sqlx::raw_sql(q).execute(&mut c).await.expect("sql runs");
    }

    pub async fn scalar(&self, q: &str) -> i64 {
        let mut c = sqlx::PgConnection::connect(&self.owner_url)
            .await
            .expect("owner connection");
        sqlx::query_scalar(q)
            .fetch_one(&mut c)
            .await
            .expect("a number")
    }
}
