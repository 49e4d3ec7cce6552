//! Write on device A to visible on device B: A's local write, its sync task's push, the
//! server's NOTIFY, B's event stream, B's pull and apply, read back on B's own connection.

use crate::setup::{self, Bench, PASSWORD};
use anyhow::{anyhow, Context};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use strive_domain::mutations::contacts::{ContactChanges, CreateContact};
use strive_domain::mutations::{Mutation, Update};
use strive_domain::{ContactId, DeviceId, GlobalRole, OrgId, UserId};
use strive_replica::account::{Account, Profile, Tokens};
use strive_replica::api::{Api, Auth};
use strive_replica::engine::{self, EngineOptions, SyncEvent, SyncHandle};
use strive_replica::{Keychain, Replica, Session};

struct Device {
    replica: Replica,
    engine: SyncHandle,
    _dir: tempfile::TempDir,
}

/// Signs in as a new device of the benchmark user and starts its sync task.
async fn device(b: &Bench, org: OrgId, name: &str) -> anyhow::Result<Device> {
    let id = DeviceId::new();
    let session: Value = b
        .http
        .post(format!("{}/v1/auth/login", b.base))
        .json(&json!({"email": "bench@example.com", "password": PASSWORD,
                      "device": {"id": id, "name": name, "platform": "linux"}}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let text = |k: &str| {
        session[k]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("login answer without {k}"))
    };
    let user: UserId = text("user_id")?.parse()?;
    let dir = tempfile::tempdir()?;
    let mut replica = Replica::create(dir.path(), org, PASSWORD, Keychain::Disabled)?;
    let global = GlobalRole::User;
    replica.set_session(Session {
        user,
        device: id,
        global,
    })?;
    let profile = Profile {
        server_url: b.base.clone(),
        email: "bench@example.com".into(),
        user_id: user,
        device_id: id,
        device_name: name.into(),
        global_role: global,
        organizations: Vec::new(),
        current_org: Some(org),
    };
    let tokens = Tokens {
        access_token: text("access_token")?,
        access_expires_at: chrono::Utc::now().timestamp() + 600,
        refresh_token: text("refresh_token")?,
    };
    let account = Account::create(dir.path(), profile, &tokens, PASSWORD, Keychain::Disabled)?;
    let auth = Auth::new(Api::new(&b.base, false)?, Arc::new(account));
    let engine = engine::spawn(replica.reopen()?, auth, EngineOptions::default());
    Ok(Device {
        replica,
        engine,
        _dir: dir,
    })
}

fn name_of(replica: &Replica, id: ContactId) -> Option<String> {
    replica
        .row_json("contacts", &id.to_string())
        .ok()
        .flatten()
        .and_then(|r| r.get("name").and_then(|v| v.as_str()).map(str::to_string))
}

/// Waits on B's events until its replica shows `expected`.
async fn visible(
    b: &mut tokio::sync::broadcast::Receiver<SyncEvent>,
    replica: &Replica,
    id: ContactId,
    expected: &str,
) -> anyhow::Result<()> {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if name_of(replica, id).as_deref() == Some(expected) {
                return Ok(());
            }
            match b.recv().await {
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => return Err(anyhow!("B's sync task stopped: {e}")),
            }
        }
    })
    .await
    .context("a write did not reach device B within 30 s")?
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

pub async fn run(writes: usize) -> anyhow::Result<()> {
    let b = setup::start().await?;
    let org: OrgId = b.org_id.parse()?;
    let mut a = device(&b, org, "device A").await?;
    let dev_b = device(&b, org, "device B").await?;
    let mut events_b = dev_b.engine.subscribe();
    let id = ContactId::new();
    a.replica.mutate(Mutation::CreateContact(CreateContact {
        id: Some(id),
        name: "Latency Probe".into(),
        ..Default::default()
    }))?;
    a.engine.sync_now();
    visible(&mut events_b, &dev_b.replica, id, "Latency Probe").await?;

    let mut samples = Vec::with_capacity(writes);
    for i in 0..writes {
        let expected = format!("Probe {i}");
        let started = Instant::now();
        a.replica.mutate(Mutation::UpdateContact(Update {
            id,
            changes: ContactChanges {
                name: Some(expected.clone()),
                ..Default::default()
            },
            base_seq: None,
        }))?;
        a.engine.sync_now();
        visible(&mut events_b, &dev_b.replica, id, &expected).await?;
        samples.push(started.elapsed());
    }
    // The floor: one HTTP round trip to the same server (a sync needs at least two plus a
    // NOTIFY).
    let mut floor = Vec::with_capacity(200);
    for _ in 0..200 {
        let t = Instant::now();
        b.http
            .get(format!("{}/healthz", b.base))
            .send()
            .await?
            .error_for_status()?;
        floor.push(t.elapsed());
    }
    samples.sort();
    floor.sort();
    println!("write on A -> visible on B, {writes} writes");
    println!(
        "  p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
        percentile(&samples, 0.5),
        percentile(&samples, 0.95),
        percentile(&samples, 0.99),
        percentile(&samples, 1.0)
    );
    println!(
        "  floor: one HTTP round trip p50 {:.2} ms, p99 {:.2} ms",
        percentile(&floor, 0.5),
        percentile(&floor, 0.99)
    );
    a.engine.stop();
    dev_b.engine.stop();
    Ok(())
}
