//! The server's HTTP API as the client uses it, and the session's access token (refreshed when
//! it is about to expire, rotated safely across processes).

use crate::account::{Account, Tokens};
use crate::error::SyncError;
use crate::pull::ok_or_refused;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use strive_domain::entities::{DeviceState, Membership, Organization, User};
use strive_domain::{DeviceId, OrgId, UserId};

/// The server's answer to a sign-in or a refresh.
#[derive(Deserialize)]
pub struct SessionGrant {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub user_id: UserId,
}

impl SessionGrant {
    pub fn tokens(&self) -> Tokens {
        Tokens {
            access_token: self.access_token.clone(),
            access_expires_at: chrono::Utc::now().timestamp() + self.expires_in,
            refresh_token: self.refresh_token.clone(),
        }
    }
}

#[derive(Deserialize)]
pub struct Me {
    pub user: User,
    pub organizations: Vec<Membership>,
}

/// A server's base URL and an HTTP client for it.
#[derive(Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
}

/// Accepts `https://` anywhere and `http://` only to this machine, unless the user explicitly
/// allows it (DESIGN.md invariant 7): tokens and data never cross a network in the clear by
/// accident.
pub fn check_server_url(url: &str, allow_insecure: bool) -> Result<String, SyncError> {
    let bad = |why: &str| SyncError::BadServerUrl(format!("{url}: {why}"));
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(bad("no host")),
    };
    match parsed.scheme() {
        "https" => {}
        "http" if loopback || allow_insecure => {}
        "http" => return Err(bad(
            "plain http is only allowed to this machine; use https (or allow insecure explicitly)",
        )),
        other => return Err(bad(&format!("unsupported scheme {other}"))),
    }
    Ok(url.trim_end_matches('/').to_string())
}

impl Api {
    pub fn new(url: &str, allow_insecure: bool) -> Result<Self, SyncError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Api {
            base: check_server_url(url, allow_insecure)?,
            http,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, SyncError> {
        let res = ok_or_refused(req.timeout(Duration::from_secs(30)).send().await?).await?;
        Ok(res.json().await?)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn signup(
        &self,
        email: &str,
        password: &str,
        name: Option<&str>,
    ) -> Result<Value, SyncError> {
        let body = json!({ "email": email, "password": password, "name": name });
        self.send(self.http.post(self.url("/v1/auth/signup")).json(&body))
            .await
    }

    pub async fn login(
        &self,
        email: &str,
        password: &str,
        device: DeviceId,
        device_name: &str,
    ) -> Result<SessionGrant, SyncError> {
        let body = json!({ "email": email, "password": password,
            "device": { "id": device, "name": device_name, "platform": std::env::consts::OS } });
        self.send(self.http.post(self.url("/v1/auth/login")).json(&body))
            .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<SessionGrant, SyncError> {
        let req = self
            .http
            .post(self.url("/v1/auth/refresh"))
            .json(&json!({ "refresh_token": refresh_token }));
        match self.send(req).await {
            Err(SyncError::Refused {
                status: 401,
                message,
                ..
            }) => Err(SyncError::SignedOut(message)),
            other => other,
        }
    }

    pub async fn logout(&self, refresh_token: &str) -> Result<(), SyncError> {
        let req = self
            .http
            .post(self.url("/v1/auth/logout"))
            .json(&json!({ "refresh_token": refresh_token }));
        ok_or_refused(req.send().await?).await?;
        Ok(())
    }

    pub async fn me(&self, token: &str) -> Result<Me, SyncError> {
        self.send(self.http.get(self.url("/v1/me")).bearer_auth(token))
            .await
    }

    pub async fn create_org(&self, token: &str, name: &str) -> Result<Organization, SyncError> {
        let req = self
            .http
            .post(self.url("/v1/orgs"))
            .bearer_auth(token)
            .json(&json!({ "name": name }));
        self.send(req).await
    }

    pub async fn devices(&self, token: &str, org: OrgId) -> Result<Vec<DeviceState>, SyncError> {
        let req = self
            .http
            .get(self.url(&format!("/v1/orgs/{org}/devices")))
            .bearer_auth(token);
        self.send(req).await
    }

    /// Asks one device (or every device) of the organization to sync now, or to start over.
    pub async fn request_sync(
        &self,
        token: &str,
        org: OrgId,
        device: Option<DeviceId>,
        full: bool,
    ) -> Result<(), SyncError> {
        let req = self
            .http
            .post(self.url(&format!("/v1/orgs/{org}/sync/request")))
            .bearer_auth(token)
            .json(&json!({ "device_id": device, "full": full }));
        ok_or_refused(req.send().await?).await?;
        Ok(())
    }
}

/// Hands out a valid access token for the signed-in account, refreshing it shortly before it
/// expires. Shared by every task of a process; the file lock covers other processes.
#[derive(Clone)]
pub struct Auth {
    api: Api,
    account: Arc<Account>,
}

/// Refresh this long before the access token expires.
const MARGIN_SECS: i64 = 60;

impl Auth {
    pub fn new(api: Api, account: Arc<Account>) -> Self {
        Auth { api, account }
    }

    pub fn api(&self) -> &Api {
        &self.api
    }

    pub fn account(&self) -> &Account {
        &self.account
    }

    /// A token valid for at least another minute.
    pub async fn token(&self) -> Result<String, SyncError> {
        self.get(None).await
    }

    /// A token other than `rejected` (which the server just refused): refreshes unless another
    /// task or process already did.
    pub async fn renew(&self, rejected: &str) -> Result<String, SyncError> {
        self.get(Some(rejected)).await
    }

    async fn get(&self, rejected: Option<&str>) -> Result<String, SyncError> {
        let usable = |t: &Tokens| {
            t.access_expires_at > chrono::Utc::now().timestamp() + MARGIN_SECS
                && Some(t.access_token.as_str()) != rejected
        };
        let current = self.account.tokens()?;
        if usable(&current) {
            return Ok(current.access_token);
        }
        let lock = loop {
            match self.account.try_lock_tokens()? {
                Some(lock) => break lock,
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        // Someone may have refreshed while this task waited for the lock.
        let current = self.account.tokens()?;
        if usable(&current) {
            return Ok(current.access_token);
        }
        let grant = self.api.refresh(&current.refresh_token).await?;
        let tokens = grant.tokens();
        self.account.save_tokens(&tokens)?;
        drop(lock);
        Ok(tokens.access_token)
    }
}
