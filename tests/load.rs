//! Load: many event-stream clients across many organizations on two server instances sharing
//! one database, with a steady write rate. Every client sees every change of its organization and
//! nothing of any other; pull latency and the servers' memory are reported.
//! Short profile: 20 organizations × 10 clients; `STRIVE_PROOF=long`: 100 × 10 (1,000 clients).

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use strive_proof::profile;
use strive_testkit::TestServer;

/// (organization, client) → the entity ids its activity events named.
type Seen = HashMap<(usize, usize), HashSet<String>>;

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<f64>().ok())
            })
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}

async fn instance(owner_url: &str, data: &std::path::Path) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let child = Child(
        Command::new(env!("CARGO_BIN_EXE_strive-proof-server"))
            .args([owner_url, &bind, data.to_str().unwrap()])
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .spawn()
            .expect("server starts"),
    );
    let base = format!("http://{bind}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    while !matches!(http.get(format!("{base}/healthz")).send().await, Ok(r) if r.status().is_success())
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "instance did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, base)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_client_sees_its_organization_and_nothing_else() {
    let orgs_n = profile(20, 100);
    let per_org = 10;
    let writes_n = profile(200, 1000);
    let setup = TestServer::start().await;
    let data = tempfile::tempdir().unwrap();
    let (a, base_a) = instance(&setup.owner_url, data.path()).await;
    let (b, base_b) = instance(&setup.owner_url, data.path()).await;
    let bases = [base_a.clone(), base_b.clone()];

    // Organizations, each with an owner signed in as a device (through the instances, whose
    // shared data directory holds the token secret).
    let http = reqwest::Client::new();
    let post = |url: String, token: Option<String>, body: Value| {
        let http = http.clone();
        async move {
            let mut req = http.post(url).json(&body);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let res = req.send().await.expect("the server answers");
            assert!(res.status().is_success(), "{}", res.status());
            res.json::<Value>().await.expect("JSON")
        }
    };
    let mut orgs: Vec<(String, String)> = Vec::new(); // (org id, device token)
    for i in 0..orgs_n {
        if i % 10 == 0 {
            // All sign-ins come from one loopback address; its rate limit is not under test here.
            setup.sql("DELETE FROM login_attempts").await;
        }
        let email = format!("owner{i}@example.com");
        post(
            format!("{base_a}/v1/auth/signup"),
            None,
            json!({"email": email, "password": strive_testkit::PASSWORD}),
        )
        .await;
        let device = json!({"id": uuid_v7(), "name": format!("laptop {i}"), "platform": "linux"});
        let session = post(
            format!("{base_a}/v1/auth/login"),
            None,
            json!({"email": email, "password": strive_testkit::PASSWORD, "device": device}),
        )
        .await;
        let token = session["access_token"].as_str().unwrap().to_string();
        let org = post(
            format!("{base_a}/v1/orgs"),
            Some(token.clone()),
            json!({"name": format!("Load Realty {i}")}),
        )
        .await;
        orgs.push((org["id"].as_str().unwrap().to_string(), token));
    }

    // The clients: half on each instance.
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let foreign = Arc::new(Mutex::new(0u64));
    let mut clients = Vec::new();
    for (o, (org, token)) in orgs.iter().enumerate() {
        for c in 0..per_org {
            let url = format!("{}/v1/orgs/{org}/events", bases[c % 2]);
            let res = http
                .get(&url)
                .bearer_auth(token)
                .send()
                .await
                .expect("connects");
            assert!(res.status().is_success(), "{url}: {}", res.status());
            let (seen, foreign, org) = (seen.clone(), foreign.clone(), org.clone());
            clients.push(tokio::spawn(async move {
                let mut stream = res.bytes_stream().eventsource();
                while let Some(Ok(e)) = stream.next().await {
                    if e.event != "activity" {
                        continue;
                    }
                    let item: Value = serde_json::from_str(&e.data).unwrap_or(Value::Null);
                    if item["organization_id"].as_str() != Some(org.as_str()) {
                        *foreign.lock().unwrap() += 1;
                    }
                    if let Some(id) = item["entity_id"].as_str() {
                        seen.lock()
                            .unwrap()
                            .entry((o, c))
                            .or_default()
                            .insert(id.to_string());
                    }
                }
            }));
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A steady write rate across organizations and instances, with pulls measured meanwhile.
    let mut written: Vec<HashSet<String>> = vec![HashSet::new(); orgs.len()];
    let mut pulls = Vec::new();
    let started = Instant::now();
    for w in 0..writes_n {
        let o = w % orgs.len();
        let (org, token) = &orgs[o];
        let base = &bases[w % 2];
        let res: Value = http
            .post(format!("{base}/v1/orgs/{org}/contacts"))
            .bearer_auth(token)
            .json(&json!({"name": format!("Load contact {w}")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        written[o].insert(res["id"].as_str().expect("created").to_string());
        let t = Instant::now();
        let pulled = http
            .get(format!(
                "{}/v1/orgs/{org}/sync/pull?after=0",
                bases[(w + 1) % 2]
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        pulls.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(!pulled.is_empty());
        // About 100 writes a second.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = started.elapsed();

    // Every client has every change of its organization (waiting a moment for the last ones).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let missing: usize = {
            let seen = seen.lock().unwrap();
            (0..orgs.len())
                .flat_map(|o| (0..per_org).map(move |c| (o, c)))
                .map(|(o, c)| {
                    let got = seen.get(&(o, c)).cloned().unwrap_or_default();
                    written[o].iter().filter(|id| !got.contains(*id)).count()
                })
                .sum()
        };
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} changes never reached their clients"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        *foreign.lock().unwrap(),
        0,
        "no client saw another organization's activity"
    );
    pulls.sort_by(|x, y| x.total_cmp(y));
    println!(
        "load: {} clients on 2 instances, {} organizations, {writes_n} writes in {:.1} s; every client saw all of its organization's changes and none of another's",
        orgs.len() * per_org,
        orgs.len(),
        elapsed.as_secs_f64()
    );
    println!(
        "load: pull latency p50 {:.1} ms, p99 {:.1} ms; server peak RSS {:.0} MiB and {:.0} MiB",
        percentile(&pulls, 0.5),
        percentile(&pulls, 0.99),
        rss_mib(a.0.id()),
        rss_mib(b.0.id())
    );
    for c in clients {
        c.abort();
    }
}

fn uuid_v7() -> String {
    strive_domain::DeviceId::new().to_string()
}
