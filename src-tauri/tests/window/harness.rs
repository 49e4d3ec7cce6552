//! What the real-window test needs around the app: the real server as a process on a private
//! PostgreSQL (so it can be stopped and started again), tauri-driver, and a WebDriver session.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use sqlx::Connection;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use strive_pg::Database;

/// A child process killed when dropped (a failing test leaves nothing running).
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A binary of this workspace, next to the test's own directory (target/<profile>/).
pub fn binary(env: &str, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("the test's path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    dir.join(name)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// strive-server on its own database of the private cluster, restartable on the same port and
/// data dir (the token secret lives there, so the app's session survives a restart).
pub struct Server {
    pub base: String,
    pub owner_url: String,
    port: u16,
    data: tempfile::TempDir,
    proc: Option<Proc>,
    _db: Database,
}

impl Server {
    pub async fn start() -> Server {
        let db = Database::from_env_or_throwaway().expect("a private PostgreSQL");
        let name = format!("window_{}", std::process::id());
        let owner_url = db.create_database(&name).await.expect("create database");
        let port = free_port();
        let mut s = Server {
            base: format!("http://127.0.0.1:{port}"),
            owner_url,
            port,
            data: tempfile::tempdir().expect("temp dir"),
            proc: None,
            _db: db,
        };
        s.resume().await;
        s
    }

    /// Starts the server process and waits until it answers.
    pub async fn resume(&mut self) {
        let child = Command::new(binary("STRIVE_SERVER_BIN", "strive-server"))
            .args(["serve", "--bind", &format!("127.0.0.1:{}", self.port)])
            .env("DATABASE_URL", &self.owner_url)
            .env("STRIVE_DATA_DIR", self.data.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("strive-server starts (built by scripts/test.sh)");
        self.proc = Some(Proc(child));
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(r) = reqwest::get(format!("{}/healthz", self.base)).await {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("strive-server did not come up on {}", self.base);
    }

    /// Takes the server away at once, as a network loss would.
    pub fn stop(&mut self) {
        self.proc = None;
    }

    pub async fn count(&self, sql: &str) -> i64 {
        let mut c = sqlx::PgConnection::connect(&self.owner_url)
            .await
            .expect("owner connection");
        sqlx::query_scalar(sql)
            .fetch_one(&mut c)
            .await
            .expect("a count")
    }

    /// Waits until `sql` counts `want`.
    pub async fn eventually(&self, sql: &str, want: i64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.count(sql).await;
            if got == want {
                return;
            }
            assert!(Instant::now() < deadline, "{sql}: {got}, expected {want}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Prints a step with the time since the test began (what a hung step was doing shows).
pub fn step(what: &str) {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let t = START.get_or_init(Instant::now).elapsed();
    eprintln!("window [{:>6.1}s] {what}", t.as_secs_f64());
}

/// tauri-driver in front of WebKitWebDriver, and a session on the app.
pub struct Driver {
    pub client: Client,
    _driver: Proc,
}

impl Driver {
    pub async fn start(app: &Path, env: &[(&str, &str)]) -> Driver {
        let port = free_port();
        let native = free_port();
        let mut cmd =
            Command::new(std::env::var("TAURI_DRIVER").unwrap_or_else(|_| "tauri-driver".into()));
        cmd.args([
            "--port",
            &port.to_string(),
            "--native-port",
            &native.to_string(),
        ])
        .stdout(Stdio::null());
        // The app is started by WebKitWebDriver, a child of tauri-driver: it inherits these.
        for (k, v) in env {
            cmd.env(k, v);
        }
        let driver = Proc(
            cmd.spawn()
                .expect("tauri-driver (cargo install --locked tauri-driver)"),
        );
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("wry"));
        // In-app links change only the URL's hash, a navigation WebKitWebDriver waits for and,
        // on the app's own URL scheme, never sees complete: with the normal strategy the next
        // command hangs. The test waits for what it needs itself.
        caps.insert("pageLoadStrategy".into(), json!("none"));
        caps.insert("tauri:options".into(), json!({ "application": app }));
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let builder = ClientBuilder::rustls()
                .expect("TLS roots")
                .capabilities(caps.clone())
                .connect(&url)
                .await;
            match builder {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no WebDriver session: {e}"),
            }
        };
        Driver {
            client,
            _driver: driver,
        }
    }

    /// The element `css` matches, once there.
    pub async fn el(&self, css: &str) -> fantoccini::elements::Element {
        self.wait(Locator::Css(css)).await
    }

    /// The innermost element whose text contains `text`, once there.
    pub async fn text(&self, text: &str) -> fantoccini::elements::Element {
        let xpath = format!("//*[contains(text(), \"{text}\")]");
        self.wait(Locator::XPath(&xpath)).await
    }

    async fn wait(&self, what: Locator<'_>) -> fantoccini::elements::Element {
        step(&format!("wait for {what:?}"));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(e) = self.client.find(what).await {
                if e.is_displayed().await.unwrap_or(false) {
                    return e;
                }
            }
            if Instant::now() > deadline {
                let shot = self.shot("failure").await;
                panic!("{what:?} did not appear (see {})", shot.display());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks once the element is enabled (buttons wait for the permissions answer).
    pub async fn click(&self, css: &str) {
        step(&format!("click {css}"));
        let deadline = Instant::now() + Duration::from_secs(30);
        let e = self.el(css).await;
        while !e.is_enabled().await.unwrap_or(false) {
            assert!(Instant::now() < deadline, "{css} stayed disabled");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        e.click().await.expect("click");
    }

    pub async fn fill(&self, css: &str, value: &str) {
        step(&format!("fill {css}"));
        let e = self.el(css).await;
        e.clear().await.expect("clear");
        e.send_keys(value).await.expect("type");
    }

    /// Picks `file` in the file input `css` (hidden behind its button, as pickers are: shown
    /// for the moment WebDriver types the path into it).
    pub async fn pick_file(&self, css: &str, file: &Path) {
        step(&format!("pick {} in {css}", file.display()));
        let show = format!("document.querySelector('{css}').hidden = arguments[0]");
        self.client
            .execute(&show, vec![false.into()])
            .await
            .expect("show the picker");
        let input = self
            .client
            .find(Locator::Css(css))
            .await
            .expect("the picker");
        input
            .send_keys(&file.to_string_lossy())
            .await
            .expect("pick the file");
        let _ = self.client.execute(&show, vec![true.into()]).await;
    }

    /// Saves what the window shows now as target/screenshots/window-NAME.png.
    pub async fn shot(&self, name: &str) -> PathBuf {
        // Let the page paint what the test just saw in its DOM (two frames, then a moment:
        // closing a modal and a list's refetch otherwise land in a blank frame).
        let _ = self
            .client
            .execute_async(
                "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(done, 250)));",
                vec![],
            )
            .await;
        // Where cargo runs this test from (not a path fixed when it was built).
        let root = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| ".".into());
        let dir = Path::new(&root).join("target/screenshots");
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!("window-{name}.png"));
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(&path, png);
        }
        path
    }
}
