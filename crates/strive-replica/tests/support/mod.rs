//! The shared test server (strive-testkit), and devices signed in to it.
#![allow(dead_code)]

use serde_json::{json, Value};
use strive_domain::{DeviceId, GlobalRole, OrgId, UserId};
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
    pub token: String,
    pub replica: Replica,
    _dir: tempfile::TempDir,
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
