//! A real server over a real (private, throwaway) PostgreSQL, and devices signed in to it.
#![allow(dead_code)]

use serde_json::{json, Value};
use sqlx::Connection;
use strive_domain::{DeviceId, GlobalRole, OrgId, UserId};
use strive_pg::Database;
use strive_replica::{Keychain, Replica, Session};
use strive_server::{Config, Server};

pub const PASSWORD: &str = "a long password";

pub struct TestServer {
    pub base: String,
    pub owner_url: String,
    pub http: reqwest::Client,
    _db: Database,
    _data: tempfile::TempDir,
}

pub struct Device {
    pub user: UserId,
    pub device: DeviceId,
    pub token: String,
    pub replica: Replica,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> Self {
        let db = Database::from_env_or_throwaway().unwrap();
        let name = format!(
            "replica_{}_{}",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        );
        let mut conn = sqlx::PgConnection::connect(&db.admin_url()).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let admin = db.admin_url();
        let owner_url = format!("{}/{name}", &admin[..admin.rfind('/').unwrap()]);
        let data = tempfile::tempdir().unwrap();
        let s = Server::build(
            Config::new("127.0.0.1:0".parse().unwrap(), data.path().into()),
            &owner_url,
        )
        .await
        .unwrap();
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
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn signup(&self, email: &str) {
        let (s, b) = self
            .call(
                reqwest::Method::POST,
                "/v1/auth/signup",
                None,
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }

    /// Signs in as a new device and opens (creating) its replica of `org`.
    pub async fn device(&self, email: &str, org: OrgId) -> Device {
        let device = DeviceId::new();
        let (s, session) = self
            .call(
                reqwest::Method::POST,
                "/v1/auth/login",
                None,
                json!({"email": email, "password": PASSWORD,
                "device": {"id": device, "name": format!("{email} laptop"), "platform": "linux"}}),
            )
            .await;
        assert_eq!(s, 200, "{session}");
        let token = session["access_token"].as_str().unwrap().to_string();
        let user: UserId = session["user_id"].as_str().unwrap().parse().unwrap();
        let (_, me) = self
            .call(reqwest::Method::GET, "/v1/me", Some(&token), Value::Null)
            .await;
        let global: GlobalRole = me["user"]["role"].as_str().unwrap().parse().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut replica = Replica::create(dir.path(), org, PASSWORD, Keychain::Disabled).unwrap();
        replica
            .set_session(Session {
                user,
                device,
                global,
            })
            .unwrap();
        Device {
            user,
            device,
            token,
            replica,
            _dir: dir,
        }
    }

    pub async fn sql(&self, q: &str) {
        let mut c = sqlx::PgConnection::connect(&self.owner_url).await.unwrap();
        sqlx::raw_sql(q).execute(&mut c).await.unwrap();
    }

    pub async fn strings(&self, q: &str) -> Vec<String> {
        let mut c = sqlx::PgConnection::connect(&self.owner_url).await.unwrap();
        sqlx::query_scalar(q).fetch_all(&mut c).await.unwrap()
    }

    pub async fn scalar(&self, q: &str) -> i64 {
        let mut c = sqlx::PgConnection::connect(&self.owner_url).await.unwrap();
        sqlx::query_scalar(q).fetch_one(&mut c).await.unwrap()
    }
}

impl Device {
    pub async fn sync(
        &mut self,
        server: &TestServer,
    ) -> (
        strive_replica::push::PushStats,
        strive_replica::pull::PullStats,
    ) {
        strive_replica::push::sync_once(
            &mut self.replica,
            &server.http,
            &server.base,
            &self.token,
            |_| {},
        )
        .await
        .expect("sync succeeds")
    }
}
