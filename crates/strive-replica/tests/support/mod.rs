//! The shared test server (strive-testkit), and devices signed in to it.
#![allow(dead_code)]

use serde_json::{json, Value};
use strive_domain::{DeviceId, GlobalRole, OrgId, UserId};
use strive_replica::account::{Account, Profile, Tokens};
use strive_replica::{Keychain, Replica, Session};
pub use strive_testkit::PASSWORD;

/// The shared test server, plus signing in devices with replicas.
pub struct TestServer(strive_testkit::TestServer);

impl std::ops::Deref for TestServer {
    type Target = strive_testkit::TestServer;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

pub struct Device {
    pub user: UserId,
    pub device: DeviceId,
    pub global: GlobalRole,
    pub token: String,
    pub refresh_token: String,
    pub replica: Replica,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> Self {
        TestServer(strive_testkit::TestServer::start().await)
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
        let refresh_token = session["refresh_token"].as_str().unwrap().to_string();
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
            global,
            token,
            refresh_token,
            replica,
            dir,
        }
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
            .unwrap(),
        )
    }
}
