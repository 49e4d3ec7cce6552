//! A real server over a real (private, throwaway) PostgreSQL, for tests of the clients.

use serde_json::{json, Value};
use sqlx::Connection;
use strive_domain::{DeviceId, GlobalRole, OrgId, UserId};
use strive_pg::Database;
use strive_replica::account::{Account, Profile, Tokens};
use strive_replica::{Keychain, Replica, Session};
use strive_server::{Config, Server};

pub const PASSWORD: &str = "a long password";

/// A signed-in device with its own replica (in its own temp dir).
pub struct Device {
    pub user: UserId,
    pub device: DeviceId,
    pub global: GlobalRole,
    pub token: String,
    pub refresh_token: String,
    pub replica: Replica,
    pub dir: tempfile::TempDir,
}

/// A database on another private cluster, registered with the server (a tenant database).
pub struct TenantDatabase {
    pub name: String,
    pub owner_url: String,
    _cluster: strive_pg::PrivateCluster,
}

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
        Self::start_with(|_| {}).await
    }

    /// [`start`](Self::start) with settings changed by `configure`.
    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> Self {
        let db = Database::from_env_or_throwaway().expect("a private PostgreSQL");
        let name = format!(
            "client_{}_{}",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        );
        let owner_url = db.create_database(&name).await.expect("create database");
        let data = tempfile::tempdir().expect("temp dir");
        let mut config = Config::new(
            "127.0.0.1:0".parse().expect("loopback address"),
            data.path().into(),
        );
        configure(&mut config);
        let s = Server::build(config, &owner_url)
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

    /// The server's data directory (master key, blob store under `blobs/`).
    pub fn data_dir(&self) -> &std::path::Path {
        self._data.path()
    }

    /// Creates an organization owned by the holder of `token`; its id.
    pub async fn create_org(&self, token: &str, name: &str) -> OrgId {
        let (status, org) = self
            .call(
                reqwest::Method::POST,
                "/v1/orgs",
                Some(token),
                serde_json::json!({ "name": name }),
            )
            .await;
        assert_eq!(status, 201, "{org}");
        org["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("an organization id")
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

    /// POSTs `body` to `path` as the holder of `token`, which must create it (201); answers
    /// what was created.
    pub async fn create(&self, token: &str, path: &str, body: Value) -> Value {
        let (s, b) = self
            .call(reqwest::Method::POST, path, Some(token), body)
            .await;
        assert_eq!(s, 201, "POST {path}: {b}");
        b
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
        let token = session["access_token"]
            .as_str()
            .expect("device sign-in")
            .to_string();
        let refresh_token = session["refresh_token"]
            .as_str()
            .expect("device sign-in")
            .to_string();
        let user: UserId = session["user_id"]
            .as_str()
            .expect("device sign-in")
            .parse()
            .expect("device sign-in");
        let (_, me) = self
            .call(reqwest::Method::GET, "/v1/me", Some(&token), Value::Null)
            .await;
        let global: GlobalRole = me["user"]["role"]
            .as_str()
            .expect("device sign-in")
            .parse()
            .expect("device sign-in");
        let dir = tempfile::tempdir().expect("device sign-in");
        let mut replica =
            Replica::create(dir.path(), org, PASSWORD, Keychain::Disabled).expect("device sign-in");
        replica
            .set_session(Session {
                user,
                device,
                global,
            })
            .expect("device sign-in");
        Device {
            user,
            device,
            global,
            token,
            refresh_token,
            replica,
            dir,
        }
    }

    /// Starts another private cluster and registers an empty database of it as `name`
    /// (`strive-server db add`); organizations can then be placed or moved there.
    pub async fn add_tenant_database(&self, name: &str) -> TenantDatabase {
        let cluster = strive_pg::PrivateCluster::throwaway().expect("another private cluster");
        let owner_url = cluster
            .create_database("tenant")
            .await
            .expect("create database");
        strive_server::tenants::registry::add(&self.owner_url, &owner_url, Some(name), None)
            .await
            .expect("db add");
        TenantDatabase {
            name: name.to_string(),
            owner_url,
            _cluster: cluster,
        }
    }

    /// Creates an organization in database `db`, owned by `owner_email` (`org create --db`).
    pub async fn place_org(&self, name: &str, owner_email: &str, db: &str) -> uuid::Uuid {
        let op = strive_server::admin::Operator::new(&self.owner_url)
            .await
            .expect("the control database");
        strive_server::admin::orgs::create(&op, name, None, owner_email, db)
            .await
            .expect("org create")
            .0
    }

    pub async fn sql(&self, q: &str) {
        let mut c = sqlx::PgConnection::connect(&self.owner_url)
            .await
            .expect("owner connection");
        sqlx::raw_sql(q).execute(&mut c).await.expect("sql runs");
    }

    pub async fn strings(&self, q: &str) -> Vec<String> {
        let mut c = sqlx::PgConnection::connect(&self.owner_url)
            .await
            .expect("owner connection");
        sqlx::query_scalar(q)
            .fetch_all(&mut c)
            .await
            .expect("text values")
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

impl Device {
    /// The signed-in account of this device (as `strive login` records it), talking to `base`.
    pub fn account(&self, base: &str, email: &str, org: OrgId) -> std::sync::Arc<Account> {
        let profile = Profile {
            server_url: base.to_string(),
            email: email.to_string(),
            user_id: self.user,
            device_id: self.device,
            device_name: format!("{email} laptop"),
            global_role: self.global,
            organizations: Vec::new(),
            current_org: Some(org),
        };
        let tokens = Tokens {
            access_token: self.token.clone(),
            access_expires_at: chrono::Utc::now().timestamp() + 600,
            refresh_token: self.refresh_token.clone(),
        };
        std::sync::Arc::new(
            Account::create(
                self.dir.path(),
                profile,
                &tokens,
                PASSWORD,
                Keychain::Disabled,
            )
            .expect("account created"),
        )
    }
}
