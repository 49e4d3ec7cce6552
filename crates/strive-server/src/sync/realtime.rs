//! Realtime fan-out. One LISTEN connection per registered database receives PostgreSQL's
//! notifications (so any instance hears every write to any organization, including plain SQL,
//! wherever the organization lives) and re-broadcasts them in-process; each SSE client keeps its
//! own organization's events.
//!
//! Events: `changed` (pull now), `activity` (a new feed item), `sync` (an admin asked this
//! device, or all, to sync; `full` asks for a full re-sync).

use crate::error::ApiResult;
use crate::extract::ApiPath;
use crate::guard::{self, Caller};
use crate::AppState;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::PgPool;
use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strive_domain::permissions::Action;
use strive_domain::{DeviceId, OrgId, UserId};
use tokio::sync::broadcast;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::StreamExt;

pub const CHANNELS: [&str; 4] = [
    "strive_changes",
    "strive_activity",
    "strive_commands",
    "strive_members",
];

#[derive(Clone, Debug)]
pub struct OrgEvent {
    pub org: OrgId,
    /// Only this device should act on it (`None`: every device of the organization).
    pub device: Option<DeviceId>,
    /// For `member_changed`: whose membership changed.
    pub user: Option<UserId>,
    pub kind: &'static str,
    pub data: String,
}

#[derive(Clone)]
pub struct Hub {
    sender: broadcast::Sender<OrgEvent>,
    /// The databases listened to, by registry name.
    listening: Arc<Mutex<HashSet<String>>>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Deserialize)]
struct OrgOnly {
    organization_id: OrgId,
    #[serde(default)]
    device_id: Option<DeviceId>,
    #[serde(default)]
    user_id: Option<UserId>,
}

impl Hub {
    /// A hub listening to nothing yet; see [`Hub::listen`].
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(4096);
        Hub {
            sender,
            listening: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    /// Listens to database `name` (once per name) on a connection of its own, reconnecting
    /// with a short pause if it drops; its notifications join every other database's.
    pub fn listen(&self, name: &str, opts: PgConnectOptions) {
        let fresh = self
            .listening
            .lock()
            .map(|mut l| l.insert(name.to_string()))
            .unwrap_or(false);
        if !fresh {
            return;
        }
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(opts);
        let tx = self.sender.clone();
        let name = name.to_string();
        tokio::spawn(async move {
            loop {
                if let Err(e) = listen(&pool, &tx).await {
                    tracing::warn!(database = %name, error = %e,
                        "realtime listener lost its connection; reconnecting");
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }

    /// The databases listened to.
    pub fn databases(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .listening
            .lock()
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    pub fn subscribe(&self) -> broadcast::Receiver<OrgEvent> {
        self.sender.subscribe()
    }

    pub fn connections(&self) -> usize {
        self.sender.receiver_count()
    }
}

/// An event addressed to every organization (`org` is the nil id): after a listener
/// (re)connects, since whatever was notified while it was not listening is lost.
fn every_org_changed() -> OrgEvent {
    OrgEvent {
        org: OrgId(uuid::Uuid::nil()),
        device: None,
        user: None,
        kind: "changed",
        data: "{}".into(),
    }
}

/// Listens until the connection drops (then the caller connects again).
async fn listen(pool: &PgPool, tx: &broadcast::Sender<OrgEvent>) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen_all(CHANNELS).await?;
    // Every client pulls once: a notice may have gone out before this connection listened (a
    // database registered or a connection re-established just now).
    let _ = tx.send(every_org_changed());
    loop {
        // `None`: the connection was lost; connect again (and tell everyone) above.
        let Some(n) = listener.try_recv().await? else {
            return Ok(());
        };
        let event = match n.channel() {
            "strive_changes" => n.payload().parse().ok().map(|org| OrgEvent {
                org,
                device: None,
                user: None,
                kind: "changed",
                data: "{}".into(),
            }),
            channel => serde_json::from_str::<OrgOnly>(n.payload())
                .ok()
                .map(|o| OrgEvent {
                    org: o.organization_id,
                    device: o.device_id,
                    user: o.user_id,
                    kind: match channel {
                        "strive_activity" => "activity",
                        "strive_members" => "member_changed",
                        _ => "sync",
                    },
                    data: n.payload().to_string(),
                }),
        };
        if let Some(e) = event {
            // No receiver is fine: nobody is connected.
            let _ = tx.send(e);
        }
    }
}

/// `GET /v1/orgs/{org}/events`: the organization's events as server-sent events. The stream
/// ends when the access token expires (the client reconnects with a fresh one) and as soon as
/// the caller stops being a member.
#[utoipa::path(get, path = "/v1/orgs/{org_id}/events", tag = "sync", security(("bearer" = [])),
    params(("org_id" = OrgId, Path)),
    responses((status = 200, content_type = "text/event-stream",
               description = "events: ready, changed, activity, sync")))]
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<OrgId>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let (auth, tx) = guard::authorize(&state, &caller, org, Action::Sync).await?;
    tx.commit().await?;
    let device = auth.ctx.device;
    let left = (caller.expires_at - chrono::Utc::now().timestamp()).max(0) as u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(left);
    let receiver = BroadcastStream::new(state.hub().subscribe());
    let listener = Listener {
        receiver,
        state,
        caller,
        org,
        device,
    };
    let stream = futures_util::stream::unfold(Some(listener), move |l| async move {
        let mut l = l?;
        let event = l.next_event(deadline).await?;
        Some((Ok(event), Some(l)))
    });
    let hello = tokio_stream::once(Ok(Event::default().event("ready").data("{}")));
    Ok(
        Sse::new(hello.chain(stream))
            .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))),
    )
}

struct Listener {
    receiver: BroadcastStream<OrgEvent>,
    state: AppState,
    caller: Caller,
    org: OrgId,
    device: Option<DeviceId>,
}

impl Listener {
    /// The next event for this client; `None` ends the stream.
    async fn next_event(&mut self, deadline: tokio::time::Instant) -> Option<Event> {
        loop {
            let item = tokio::time::timeout_at(deadline, self.receiver.next())
                .await
                .ok()??;
            match item {
                Ok(e) if e.org != self.org && !e.org.0.is_nil() => continue,
                Ok(e) if e.kind == "member_changed" => {
                    let me = e.user == Some(self.caller.user);
                    if me
                        && guard::authorize(&self.state, &self.caller, self.org, Action::Sync)
                            .await
                            .is_err()
                    {
                        return None;
                    }
                }
                Ok(e) if e.device.is_some() && e.device != self.device => continue,
                Ok(e) => return Some(Event::default().event(e.kind).data(e.data)),
                // This client fell behind: whatever it missed, a pull catches up.
                Err(BroadcastStreamRecvError::Lagged(_)) => {
                    return Some(Event::default().event("changed").data("{}"))
                }
            }
        }
    }
}
