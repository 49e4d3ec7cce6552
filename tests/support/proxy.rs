//! A fault-injecting HTTP proxy on loopback between devices and the server. Per request it may
//! drop the request, drop the response after the server acted, send the request twice, replay it
//! later (after newer requests: reordering), delay it, cut the request body midway (the server
//! receives part of it, then the connection breaks), or cut the response body midway.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    DropRequest,
    DropResponse,
    Duplicate,
    ReplayLater,
    Delay,
    CutRequest,
    CutResponse,
}

const FAULTS: [Fault; 7] = [
    Fault::DropRequest,
    Fault::DropResponse,
    Fault::Duplicate,
    Fault::ReplayLater,
    Fault::Delay,
    Fault::CutRequest,
    Fault::CutResponse,
];

#[derive(Default)]
pub struct Counts {
    pub requests: AtomicU64,
    pub faults: [AtomicU64; 7],
    /// Requests cut midway that were document upload chunks (the server got part of a chunk).
    pub cut_upload_chunks: AtomicU64,
}

impl Counts {
    pub fn injected(&self) -> u64 {
        self.faults.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    pub fn summary(&self) -> String {
        FAULTS
            .iter()
            .zip(&self.faults)
            .map(|(f, c)| format!("{f:?} {}", c.load(Ordering::Relaxed)))
            .chain([format!(
                "of the cut requests, upload chunks {}",
                self.cut_upload_chunks.load(Ordering::Relaxed)
            )])
            .collect::<Vec<_>>()
            .join(", ")
    }
}

struct Shared {
    target: String,
    http: reqwest::Client,
    rng: Mutex<rand::rngs::StdRng>,
    /// Probability that a request meets a fault.
    rate: f64,
    enabled: AtomicBool,
    counts: Arc<Counts>,
}

pub struct FaultProxy {
    pub base: String,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Starts a proxy to `target` (e.g. `http://127.0.0.1:1234`) on a free loopback port.
    pub async fn start(target: &str, seed: u64, rate: f64) -> Self {
        let shared = Arc::new(Shared {
            target: target.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            rng: Mutex::new(rand::rngs::StdRng::seed_from_u64(seed)),
            rate,
            enabled: AtomicBool::new(true),
            counts: Arc::default(),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("bound"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FaultProxy { base, shared }
    }

    /// Faults off: the network heals.
    pub fn heal(&self) {
        self.shared.enabled.store(false, Ordering::SeqCst);
    }

    pub fn counts(&self) -> Arc<Counts> {
        self.shared.counts.clone()
    }
}

fn pick(shared: &Shared) -> (Option<Fault>, u64, f64) {
    let mut rng = shared.rng.lock().unwrap_or_else(|p| p.into_inner());
    let fault = (shared.enabled.load(Ordering::SeqCst) && rng.gen_bool(shared.rate))
        .then(|| FAULTS[rng.gen_range(0..FAULTS.len())]);
    (fault, rng.gen_range(1..60), rng.gen_range(0.0..1.0))
}

/// Part of `body` (`cut_at` of it), then an error: the connection breaks mid-body.
fn cut(body: &Bytes, cut_at: f64) -> reqwest::Body {
    let head = body.slice(..((body.len() as f64 * cut_at) as usize).min(body.len()));
    reqwest::Body::wrap_stream(futures_util::stream::iter(vec![
        Ok::<Bytes, std::io::Error>(head),
        Err(std::io::Error::other("cut by the proxy")),
    ]))
}

async fn send(
    shared: &Shared,
    method: &reqwest::Method,
    path: &str,
    headers: &axum::http::HeaderMap,
    body: reqwest::Body,
) -> Result<(StatusCode, axum::http::HeaderMap, Bytes), StatusCode> {
    let mut req = shared
        .http
        .request(method.clone(), format!("{}{path}", shared.target))
        .body(body);
    for (k, v) in headers {
        if k != "host" && k != "content-length" {
            req = req.header(k, v);
        }
    }
    let res = req.send().await.map_err(|_| StatusCode::BAD_GATEWAY)?;
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.map_err(|_| StatusCode::BAD_GATEWAY)?;
    Ok((status, headers, bytes))
}

fn respond(status: StatusCode, headers: axum::http::HeaderMap, body: Body) -> Response {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    for (k, v) in &headers {
        if k != "content-length" && k != "transfer-encoding" {
            r.headers_mut().insert(k, v.clone());
        }
    }
    r
}

fn gateway_error() -> Response {
    let mut r = Response::new(Body::from(
        "{\"code\":\"proxy_fault\",\"message\":\"the network ate it\"}",
    ));
    *r.status_mut() = StatusCode::BAD_GATEWAY;
    r
}

async fn forward(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    shared.counts.requests.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 64 << 20).await else {
        return gateway_error();
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_string();
    let method = parts.method.clone();
    let (fault, delay_ms, cut_at) = pick(&shared);
    if let Some(f) = fault {
        let i = FAULTS.iter().position(|x| *x == f).unwrap_or(0);
        shared.counts.faults[i].fetch_add(1, Ordering::Relaxed);
    }
    let once = |shared: Arc<Shared>| {
        let (method, path, headers, body) = (
            method.clone(),
            path.clone(),
            parts.headers.clone(),
            body.clone(),
        );
        async move { send(&shared, &method, &path, &headers, body.into()).await }
    };
    let result = match fault {
        Some(Fault::DropRequest) => return gateway_error(),
        Some(Fault::CutRequest) => {
            if method == reqwest::Method::PUT && path.contains("/uploads/") {
                shared
                    .counts
                    .cut_upload_chunks
                    .fetch_add(1, Ordering::Relaxed);
            }
            let body = cut(&body, cut_at);
            let _ = send(&shared, &method, &path, &parts.headers, body).await;
            return gateway_error();
        }
        Some(Fault::Delay) => {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            once(shared.clone()).await
        }
        Some(Fault::Duplicate) => {
            let _ = once(shared.clone()).await;
            once(shared.clone()).await
        }
        Some(Fault::ReplayLater) => {
            let replay = once(shared.clone());
            let first = once(shared.clone()).await;
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(delay_ms * 5)).await;
                let _ = replay.await;
            });
            first
        }
        Some(Fault::DropResponse) => {
            let _ = once(shared.clone()).await;
            return gateway_error();
        }
        Some(Fault::CutResponse) | None => once(shared.clone()).await,
    };
    match result {
        Err(status) => {
            let mut r = gateway_error();
            *r.status_mut() = status;
            r
        }
        Ok((status, headers, bytes)) if fault == Some(Fault::CutResponse) => {
            // Part of the body, then the connection breaks.
            let cut = ((bytes.len() as f64) * cut_at) as usize;
            let head = bytes.slice(..cut.min(bytes.len()));
            let stream = futures_util::stream::iter(vec![
                Ok::<Bytes, std::io::Error>(head),
                Err(std::io::Error::other("cut by the proxy")),
            ]);
            respond(status, headers, Body::from_stream(stream))
        }
        Ok((status, headers, bytes)) => respond(status, headers, Body::from(bytes)),
    }
}
