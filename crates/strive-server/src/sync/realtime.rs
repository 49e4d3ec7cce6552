//! Realtime fan-out. One LISTEN connection per server instance receives PostgreSQL's
//! notifications (so any instance over the same database hears every write, including plain SQL)
//! and re-broadcasts them in-process; each SSE client keeps its own organization's events.
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
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::convert::Infallible;
use std::time::Duration;
use strive_domain::permissions::Action;
use strive_domain::{DeviceId, OrgId};
use tokio::sync::broadcast;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::StreamExt;

pub const CHANNELS: [&str; 3] = ["strive_changes", "strive_activity", "strive_commands"];

#[derive(Clone, Debug)]
pub struct OrgEvent {
    pub org: OrgId,
    /// Only this device should act on it (`None`: every device of the organization).
    pub device: Option<DeviceId>,
    pub kind: &'static str,
    pub data: String,
}

#[derive(Clone)]
pub struct Hub {
    sender: broadcast::Sender<OrgEvent>,
}

#[derive(Deserialize)]
struct OrgOnly {
    organization_id: OrgId,
    #[serde(default)]
    device_id: Option<DeviceId>,
}

impl Hub {
    /// Starts listening; reconnects with a short pause if the connection drops.
    pub fn start(pool: PgPool) -> Self {
        let (sender, _) = broadcast::channel(4096);
        let hub = Hub { sender };
        let tx = hub.sender.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = listen(&pool, &tx).await {
                    tracing::warn!(error = %e, "realtime listener lost its connection; reconnecting");
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        hub
    }

    pub fn subscribe(&self) -> broadcast::Receiver<OrgEvent> {
        self.sender.subscribe()
    }

    pub fn connections(&self) -> usize {
        self.sender.receiver_count()
    }
}

async fn listen(pool: &PgPool, tx: &broadcast::Sender<OrgEvent>) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen_all(CHANNELS).await?;
    loop {
        let n = listener.recv().await?;
        let event = match n.channel() {
            "strive_changes" => n.payload().parse().ok().map(|org| OrgEvent {
                org,
                device: None,
                kind: "changed",
                data: "{}".into(),
            }),
            channel => serde_json::from_str::<OrgOnly>(n.payload())
                .ok()
                .map(|o| OrgEvent {
                    org: o.organization_id,
                    device: o.device_id,
                    kind: if channel == "strive_activity" {
                        "activity"
                    } else {
                        "sync"
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

/// `GET /v1/orgs/{org}/events`: the organization's events as server-sent events.
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<OrgId>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let (auth, tx) = guard::authorize(&state, &caller, org, Action::Sync).await?;
    tx.commit().await?;
    let device = auth.ctx.device;
    let stream = BroadcastStream::new(state.hub().subscribe()).filter_map(move |item| match item {
        Ok(e) if e.org == org && (e.device.is_none() || e.device == device) => {
            Some(Ok(Event::default().event(e.kind).data(e.data)))
        }
        Ok(_) => None,
        // This client fell behind: whatever it missed, a pull catches up.
        Err(BroadcastStreamRecvError::Lagged(_)) => {
            Some(Ok(Event::default().event("changed").data("{}")))
        }
    });
    let hello = tokio_stream::once(Ok(Event::default().event("ready").data("{}")));
    Ok(
        Sse::new(hello.chain(stream))
            .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))),
    )
}
