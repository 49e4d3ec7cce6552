//! The sync task: keeps one replica in step with the server for as long as it runs.
//!
//! It syncs at start, whenever the server says the organization changed (server-sent events),
//! when asked (`Sync now`, an admin's request, a local write), and every few minutes; it pushes
//! until the outbox is empty; while the server is unreachable it retries with exponential
//! backoff and jitter. It refreshes the access token itself. State and progress go out as
//! [`SyncEvent`]s (the CLI prints them, the desktop app forwards them to the UI).
//!
//! The task owns its own connection to the replica, so the UI keeps reading and writing during
//! a sync. Everything it does is resumable: the outbox and the last applied sequence number are
//! in the replica, so after a crash the next run picks up where this one stopped.

use crate::api::Auth;
use crate::error::SyncError;
use crate::open::Replica;
use crate::pull::PullStats;
use crate::push::{sync_once, PushStats};
use crate::status::SyncStatus;
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;
use strive_domain::DeviceId;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SyncEvent {
    /// A round began.
    Syncing { full: bool },
    /// Running totals of the pull in progress.
    Progress { applied: u64, last_seq: i64 },
    /// A round ended well.
    Synced {
        applied: u64,
        rejected: u64,
        pulled: u64,
        status: SyncStatus,
    },
    /// Listening to the server's notices.
    Online,
    /// The server is unreachable; the next attempt is in `retry_in_ms`.
    Offline { error: String, retry_in_ms: u64 },
    /// A new item of the organization's activity feed.
    Activity { item: Value },
    /// A document's ciphertext going up (before its upload is pushed).
    Upload {
        progress: crate::transfer::UploadProgress,
    },
    /// Something other than the network failed; retried with backoff.
    Error { message: String },
    /// The session ended (signed out elsewhere, membership removed); the task stops.
    SignedOut { message: String },
}

#[derive(Clone, Copy, Debug)]
pub struct EngineOptions {
    /// Listen to the server's events (off: sync only when asked or on the timer).
    pub listen: bool,
    /// Sync at least this often even without a notice.
    pub every: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            listen: true,
            every: Duration::from_secs(300),
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Wake {
    full: bool,
}

pub struct SyncHandle {
    wake: mpsc::UnboundedSender<Wake>,
    events: broadcast::Sender<SyncEvent>,
    task: JoinHandle<()>,
    listener: Option<JoinHandle<()>>,
}

impl SyncHandle {
    /// Sync as soon as the current round (if any) ends.
    pub fn sync_now(&self) {
        let _ = self.wake.send(Wake { full: false });
    }

    /// Drop the local copy of the server's data (local unsynced changes stay) and pull it all.
    pub fn full_resync(&self) {
        let _ = self.wake.send(Wake { full: true });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<SyncEvent> {
        self.events.subscribe()
    }

    /// Stops at once; a round cut short is resumed by the next run.
    pub fn stop(self) {
        self.task.abort();
        if let Some(l) = self.listener {
            l.abort();
        }
    }
}

/// Starts the sync task over `replica` (give it its own connection: [`Replica::reopen`]).
pub fn spawn(replica: Replica, auth: Auth, options: EngineOptions) -> SyncHandle {
    let (wake_tx, wake_rx) = mpsc::unbounded_channel();
    let (events, _) = broadcast::channel(1024);
    let listener = options.listen.then(|| {
        let device = auth.account().profile.device_id;
        tokio::spawn(listen(
            auth.clone(),
            replica.org(),
            device,
            events.clone(),
            wake_tx.clone(),
        ))
    });
    let task = tokio::spawn(run(replica, auth, options, events.clone(), wake_rx));
    SyncHandle {
        wake: wake_tx,
        events,
        task,
        listener,
    }
}

/// Exponential backoff with full jitter: 0.5 s, 1 s, 2 s ... capped at a minute, each a random
/// point of its window so that many devices coming back do not hit the server at once.
pub fn backoff(failures: u32) -> Duration {
    let cap_ms = (500u64 << failures.min(7)).min(60_000);
    Duration::from_millis(rand::thread_rng().gen_range(cap_ms / 2..=cap_ms))
}

async fn run(
    mut replica: Replica,
    auth: Auth,
    options: EngineOptions,
    events: broadcast::Sender<SyncEvent>,
    mut wake: mpsc::UnboundedReceiver<Wake>,
) {
    let emit = |e: SyncEvent| {
        let _ = events.send(e);
    };
    let mut full = false;
    let mut failures = 0u32;
    loop {
        emit(SyncEvent::Syncing { full });
        let outcome = round(&mut replica, &auth, full, &events).await;
        let retry = match outcome {
            Ok((applied, rejected, pulled)) => {
                failures = 0;
                full = pulled.full_resync_requested;
                match replica.status() {
                    Ok(status) => {
                        let more = status.pending > 0;
                        emit(SyncEvent::Synced {
                            applied,
                            rejected,
                            pulled: pulled.upserts + pulled.deletes,
                            status,
                        });
                        // An admin asked for a fresh copy, or writes arrived meanwhile: go again.
                        if full || more {
                            continue;
                        }
                    }
                    Err(e) => emit(SyncEvent::Error {
                        message: e.to_string(),
                    }),
                }
                None
            }
            Err(SyncError::SignedOut(message)) => {
                emit(SyncEvent::SignedOut { message });
                return;
            }
            Err(e) => {
                failures += 1;
                let delay = backoff(failures - 1);
                emit(if e.is_transient() {
                    SyncEvent::Offline {
                        error: e.to_string(),
                        retry_in_ms: delay.as_millis() as u64,
                    }
                } else {
                    SyncEvent::Error {
                        message: e.to_string(),
                    }
                });
                Some(delay)
            }
        };
        let wait = retry.unwrap_or(options.every);
        tokio::select! {
            w = wake.recv() => match w {
                Some(w) => full |= w.full,
                None => return,
            },
            _ = tokio::time::sleep(wait) => {}
        }
        // Notices that arrived together make one round.
        while let Ok(w) = wake.try_recv() {
            full |= w.full;
        }
    }
}

async fn round(
    replica: &mut Replica,
    auth: &Auth,
    full: bool,
    events: &broadcast::Sender<SyncEvent>,
) -> Result<(u64, u64, PullStats), SyncError> {
    let progress = |s: &PullStats| {
        let _ = events.send(SyncEvent::Progress {
            applied: s.upserts + s.deletes,
            last_seq: s.last_seq,
        });
    };
    upload_round(replica, auth, |p| {
        let _ = events.send(SyncEvent::Upload {
            progress: p.clone(),
        });
    })
    .await?;
    let (pushed, pulled) = sync_round(replica, auth, full, progress).await?;
    Ok((pushed.applied, pushed.rejected, pulled))
}

/// Uploads the vault files waiting for the next push, reporting progress (the push itself
/// would upload them too, silently); renews the token once if the server refused it.
pub async fn upload_round(
    replica: &mut Replica,
    auth: &Auth,
    mut progress: impl FnMut(&crate::transfer::UploadProgress),
) -> Result<crate::transfer::UploadStats, SyncError> {
    let api = auth.api();
    let token = auth.token().await?;
    match crate::transfer::upload_pending(replica, api.http(), api.base(), &token, &mut progress)
        .await
    {
        Err(SyncError::Refused { status: 401, .. }) => {
            let token = auth.renew(&token).await?;
            crate::transfer::upload_pending(replica, api.http(), api.base(), &token, progress).await
        }
        other => other,
    }
}

/// One sync round for a caller that is not the task (`strive sync`): start over first if
/// `full`; push, pull, settle; once more with a renewed token if the server refused the old one.
/// Losing the membership ends the session for this organization (`SignedOut`).
pub async fn sync_round(
    replica: &mut Replica,
    auth: &Auth,
    full: bool,
    mut progress: impl FnMut(&PullStats),
) -> Result<(PushStats, PullStats), SyncError> {
    if full {
        replica.reset_for_full_resync()?;
    }
    let api = auth.api();
    let token = auth.token().await?;
    let result = match sync_once(replica, api.http(), api.base(), &token, &mut progress).await {
        Err(SyncError::Refused { status: 401, .. }) => {
            let token = auth.renew(&token).await?;
            sync_once(replica, api.http(), api.base(), &token, &mut progress).await
        }
        other => other,
    };
    match result {
        Ok(done) => Ok(done),
        // Removed from the organization (404 hides whether it exists): nothing more to sync.
        Err(SyncError::Refused {
            status: 403 | 404,
            message,
            ..
        }) => Err(SyncError::SignedOut(message)),
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
struct SyncCommand {
    #[serde(default)]
    device_id: Option<DeviceId>,
}

/// Follows the organization's event stream for as long as the session lasts, reconnecting with
/// backoff. Every (re)connection triggers a sync: notices sent while away were missed.
async fn listen(
    auth: Auth,
    org: strive_domain::OrgId,
    device: DeviceId,
    events: broadcast::Sender<SyncEvent>,
    wake: mpsc::UnboundedSender<Wake>,
) {
    let mut failures = 0u32;
    loop {
        match follow(&auth, org, device, &events, &wake).await {
            Ok(()) => failures = 0,
            Err(SyncError::SignedOut(_)) => return,
            Err(e) => {
                tracing::debug!(error = %e, "event stream lost");
                failures += 1;
            }
        }
        if wake.is_closed() {
            return;
        }
        tokio::time::sleep(backoff(failures)).await;
    }
}

async fn follow(
    auth: &Auth,
    org: strive_domain::OrgId,
    device: DeviceId,
    events: &broadcast::Sender<SyncEvent>,
    wake: &mpsc::UnboundedSender<Wake>,
) -> Result<(), SyncError> {
    let api = auth.api();
    let url = format!("{}/v1/orgs/{org}/events", api.base());
    let mut token = auth.token().await?;
    let mut res = api.http().get(&url).bearer_auth(&token).send().await?;
    if res.status() == reqwest::StatusCode::UNAUTHORIZED {
        token = auth.renew(&token).await?;
        res = api.http().get(&url).bearer_auth(&token).send().await?;
    }
    let res = crate::pull::ok_or_refused(res).await?;
    let mut stream = res.bytes_stream().eventsource();
    while let Some(event) = stream.next().await {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                return Err(SyncError::Broken(e.to_string()));
            }
        };
        match event.event.as_str() {
            "ready" => {
                let _ = events.send(SyncEvent::Online);
                let _ = wake.send(Wake { full: false });
            }
            "changed" => {
                let _ = wake.send(Wake { full: false });
            }
            "activity" => {
                let item = serde_json::from_str(&event.data).unwrap_or(Value::Null);
                let _ = events.send(SyncEvent::Activity { item });
            }
            "sync" => {
                if let Ok(c) = serde_json::from_str::<SyncCommand>(&event.data) {
                    // A full re-sync is not started from the notice: the server keeps the
                    // request as a flag that the next pull reports, and acting on both would
                    // start over twice (the pull in flight may already have seen the flag).
                    if c.device_id.is_none_or(|d| d == device) {
                        let _ = wake.send(Wake { full: false });
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}
