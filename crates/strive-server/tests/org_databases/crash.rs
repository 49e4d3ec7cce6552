//! Killing the server and the mover in the middle of a move (the real binaries, SIGKILL), then
//! restarting: the organization works, in the old database or the new, never both, never
//! neither, and the move can be run again to completion.

use crate::support::{rows_of, Two};
use serde_json::{json, Value};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_strive-server");
const PASSWORD: &str = "correct horse battery staple";

/// `strive-server serve` as a child process (killed when dropped).
struct Served {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Served {
    async fn start(control_url: &str, data: &std::path::Path) -> Served {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data.join("server.log"))
            .unwrap();
        let child = Command::new(BIN)
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .env("DATABASE_URL", control_url)
            .env("STRIVE_DATA_DIR", data)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .expect("strive-server starts");
        let s = Served {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        for _ in 0..300 {
            if let Ok(r) = s.http.get(format!("{}/healthz", s.base)).send().await {
                if r.status() == 200 {
                    return s;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the server did not come up; see {}",
            data.join("server.log").display()
        );
    }

    async fn kill(mut self) {
        self.child.start_kill().expect("SIGKILL");
        self.child.wait().await.expect("reaped");
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if !body.is_null() {
            req = req.json(&body);
        }
        let res = req.send().await.expect("the server answers");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn add_contact(&self, org: &str, token: &str, name: &str) -> u16 {
        self.call(
            reqwest::Method::POST,
            &format!("/v1/orgs/{org}/contacts"),
            Some(token),
            json!({"name": name}),
        )
        .await
        .0
    }

    /// Every contact name of the organization, through the API.
    async fn contacts(&self, org: &str, token: &str) -> Vec<String> {
        let (s, page) = self
            .call(
                reqwest::Method::GET,
                &format!("/v1/orgs/{org}/contacts?limit=200"),
                Some(token),
                Value::Null,
            )
            .await;
        assert_eq!(s, 200, "{page}");
        let mut names: Vec<String> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    }
}

/// `strive-server org move ORG --to DB`, stopped at `hold` (until killed or told to go on).
async fn mover_held_at(control_url: &str, org: &str, to: &str, hold: &str) -> Child {
    let mut child = Command::new(BIN)
        .args(["org", "move", org, "--to", to, "--hold-at", hold])
        .env("DATABASE_URL", control_url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the mover starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let want = format!("phase {hold}");
    let reached = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line == want {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(reached, Ok(true), "the mover reached {hold}");
    child
}

/// `strive-server ARGS...` to completion: (success, stdout + stderr).
async fn run(control_url: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .args(args)
        .env("DATABASE_URL", control_url)
        .output()
        .await
        .expect("strive-server runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn sigkill(mut child: Child) {
    child.start_kill().expect("SIGKILL");
    child.wait().await.expect("reaped");
}

#[tokio::test]
async fn killing_server_and_mover_mid_move_leaves_the_organization_in_exactly_one_place() {
    let two = Two::start().await;
    let control = two.app.admin_url.clone();
    let data = tempfile::tempdir().unwrap();
    let mut server = Served::start(&control, data.path()).await;
    let (s, _) = server
        .call(
            reqwest::Method::POST,
            "/v1/auth/signup",
            None,
            json!({"email": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, 201);
    let (_, session) = server
        .call(
            reqwest::Method::POST,
            "/v1/auth/login",
            None,
            json!({"email": "ann@example.com", "password": PASSWORD}),
        )
        .await;
    let token = session["access_token"].as_str().unwrap().to_string();
    let (s, org) = server
        .call(
            reqwest::Method::POST,
            "/v1/orgs",
            Some(&token),
            json!({"name": "Acme Realty"}),
        )
        .await;
    assert_eq!(s, 201, "{org}");
    let org = org["id"].as_str().unwrap().to_string();
    let mut expected: Vec<String> = Vec::new();
    for i in 0..30 {
        let name = format!("Person {i:02}");
        assert_eq!(server.add_contact(&org, &token, &name).await, 201);
        expected.push(name);
    }

    // Rounds: where the move is killed, where it was going, where the organization must be
    // found after the restart.
    let rounds = [
        ("copied", "default", "b", "default"),
        ("paused", "b", "default", "b"),
        ("switched", "default", "b", "b"),
    ];
    for (i, (hold, from, to, after)) in rounds.into_iter().enumerate() {
        let mover = mover_held_at(&control, &org, to, hold).await;
        if hold == "paused" {
            // Writes are paused (and changed nothing) while the mover holds the gate.
            let (s, body) = server
                .call(
                    reqwest::Method::POST,
                    &format!("/v1/orgs/{org}/contacts"),
                    Some(&token),
                    json!({"name": "Refused Rita"}),
                )
                .await;
            assert_eq!(
                (s, body["code"].as_str()),
                (503, Some("org_moving")),
                "{body}"
            );
        }
        sigkill(mover).await;
        server.kill().await;
        server = Served::start(&control, data.path()).await;

        let (home, state) = two.home(&org).await;
        assert_eq!(home, after, "round {hold}: where the organization lives");
        assert_ne!(
            state, "active",
            "round {hold}: the directory remembers the move was cut short"
        );
        let (ok, listing) = run(&control, &["org", "list"]).await;
        assert!(ok, "{listing}");
        assert!(listing.contains("run org move again"), "{listing}");
        // It works, from one database: every contact is there, a new one lands there only.
        assert_eq!(
            server.contacts(&org, &token).await,
            expected,
            "round {hold}"
        );
        let other = if after == "b" { "default" } else { "b" };
        let other_rows = rows_of(two.url(other), &org).await;
        let name = format!("After crash {i}");
        assert_eq!(
            server.add_contact(&org, &token, &name).await,
            201,
            "round {hold}: writes work"
        );
        expected.push(name);
        expected.sort();
        assert_eq!(server.contacts(&org, &token).await, expected);
        assert_eq!(
            rows_of(two.url(other), &org).await,
            other_rows,
            "round {hold}: nothing written to {other}"
        );
        let in_home = two
            .scalar(
                after,
                &format!("SELECT count(*) FROM contacts WHERE organization_id = '{org}'"),
            )
            .await;
        assert_eq!(in_home as usize, expected.len());

        // Run again: it completes (or finishes the clean-up), and only the target holds rows.
        let (ok, out) = run(&control, &["org", "move", &org, "--to", to]).await;
        assert!(ok, "round {hold}: the retried move: {out}");
        assert_eq!(two.home(&org).await, (to.to_string(), "active".to_string()));
        assert_eq!(
            rows_of(two.url(from), &org).await,
            0,
            "round {hold}: {from} holds none of its rows"
        );
        assert_eq!(
            server.contacts(&org, &token).await,
            expected,
            "round {hold}: after the retry"
        );
    }
    assert_eq!(server.add_contact(&org, &token, "Last One").await, 201);
    server.kill().await;
}
