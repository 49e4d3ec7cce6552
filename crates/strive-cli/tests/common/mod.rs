//! Runs the real `strive` binary against the shared test server, one data directory per device.
#![allow(dead_code)]

use serde_json::Value;
use std::process::{Command, Output};
pub use strive_testkit::{TestServer, PASSWORD};

pub struct Strive {
    pub home: tempfile::TempDir,
    server: String,
}

impl Strive {
    pub fn new(server: &TestServer) -> Self {
        Strive {
            home: tempfile::tempdir().expect("temp dir"),
            server: server.base.clone(),
        }
    }

    /// The command with this device's environment: no keychain (the password path), the
    /// password from the environment as a script would give it.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_strive"));
        c.args(args)
            .env("STRIVE_HOME", self.home.path())
            .env("STRIVE_SERVER", &self.server)
            .env("STRIVE_PASSWORD", PASSWORD)
            .env("STRIVE_NO_KEYCHAIN", "true")
            .env_remove("STRIVE_ALLOW_INSECURE");
        c
    }

    /// Runs to the end off the async runtime (the binary talks to a server on this process's
    /// runtime, so the test must not block it).
    pub async fn run(&self, args: &[&str]) -> Output {
        let mut c = self.command(args);
        tokio::task::spawn_blocking(move || c.output().expect("strive runs"))
            .await
            .expect("join")
    }

    /// Runs and insists on success; the standard output.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        let (stdout, stderr) = text(&out);
        assert!(
            out.status.success(),
            "strive {args:?} failed:\n{stdout}\n{stderr}"
        );
        stdout
    }

    /// `--json` output parsed.
    pub async fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(&all).await;
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }
}

pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A child process killed when the test lets go of it, even by panicking: a leftover `strive`
/// would keep the test runner's output open.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
