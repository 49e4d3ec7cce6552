//! What every benchmark starts from: a private PostgreSQL, the real server on loopback, and one
//! signed-in owner of one organization.

use serde_json::json;
use strive_pg::PrivateCluster;
use strive_server::{Config, Server};

pub const PASSWORD: &str = "benchmark password 1";

pub struct Bench {
    pub base: String,
    pub http: reqwest::Client,
    pub token: String,
    pub org_id: String,
    /// The signed-in owner and the device the session belongs to.
    pub user_id: String,
    pub device: strive_domain::DeviceId,
    /// The database owner's URL, for loading data with plain SQL.
    pub admin_url: String,
    _data: tempfile::TempDir,
    _cluster: PrivateCluster,
}

pub async fn start() -> anyhow::Result<Bench> {
    start_with(|_| {}).await
}

/// [`start`] with the server's configuration adjusted first.
pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> anyhow::Result<Bench> {
    let cluster = PrivateCluster::throwaway()?;
    let admin_url = cluster.create_database("bench").await?;
    let data = tempfile::tempdir()?;
    let mut config = Config::new("127.0.0.1:0".parse()?, data.path().into());
    tweak(&mut config);
    let server = Server::build(config, &admin_url).await?;
    let base = format!("http://{}", server.local_addr());
    tokio::spawn(server.run(std::future::pending()));
    let http = reqwest::Client::new();
    http.post(format!("{base}/v1/auth/signup"))
        .json(&json!({"email": "bench@example.com", "password": PASSWORD}))
        .send()
        .await?
        .error_for_status()?;
    let device = strive_domain::DeviceId::new();
    let session: serde_json::Value = http
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"email": "bench@example.com", "password": PASSWORD,
                      "device": {"id": device, "name": "bench", "platform": "linux"}}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = session["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let user_id = session["user_id"].as_str().unwrap_or_default().to_string();
    let org: serde_json::Value = http
        .post(format!("{base}/v1/orgs"))
        .bearer_auth(&token)
        .json(&json!({"name": "Benchmark Realty"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let org_id = org["id"].as_str().unwrap_or_default().to_string();
    Ok(Bench {
        base,
        http,
        token,
        org_id,
        user_id,
        device,
        admin_url,
        _data: data,
        _cluster: cluster,
    })
}
