//! PostgreSQL without hand setup.
//!
//! `DATABASE_URL` wins when it is set. Otherwise we run a private cluster from the
//! PostgreSQL server binaries on this machine: `initdb` into a directory of our own,
//! `pg_ctl start` on a free loopback port with the socket in that directory. Nothing
//! depends on a cluster someone started by hand.
//!
//! Two flavours:
//! - [`PrivateCluster::persistent`] keeps its data between runs (the server's embedded default);
//! - [`PrivateCluster::throwaway`] lives in a temp dir that is deleted when the process exits,
//!   even if it is killed (a watchdog process cleans up after it).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The superuser that owns a private cluster.
pub const SUPERUSER: &str = "postgres";

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("PostgreSQL server binaries not found (looked in {0}); install postgresql-15")]
    BinariesMissing(String),
    #[error("{step} failed: {detail}")]
    Step { step: &'static str, detail: String },
    #[error("i/o error while {context}: {source}")]
    Io {
        context: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{context}: {source}")]
    Sql {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
}

fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> PgError {
    move |source| PgError::Io { context, source }
}

/// Where the database comes from: a URL given to us, or a cluster we run ourselves.
pub enum Database {
    External { url: String },
    Private(PrivateCluster),
}

impl Database {
    /// `DATABASE_URL` if set, else a persistent private cluster under `data_dir`.
    pub fn from_env_or_persistent(data_dir: &Path) -> Result<Self, PgError> {
        match std::env::var("DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => Ok(Database::External { url }),
            _ => PrivateCluster::persistent(data_dir).map(Database::Private),
        }
    }

    /// `DATABASE_URL` if set, else a throwaway private cluster.
    pub fn from_env_or_throwaway() -> Result<Self, PgError> {
        match std::env::var("DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => Ok(Database::External { url }),
            _ => PrivateCluster::throwaway().map(Database::Private),
        }
    }

    /// URL of the server's maintenance database, as its owner/superuser.
    pub fn admin_url(&self) -> String {
        self.url_for("postgres")
    }

    /// Creates database `name` unless it exists; answers its URL ([`Database::url_for`]).
    pub async fn create_database(&self, name: &str) -> Result<String, PgError> {
        create_database(&self.admin_url(), name).await?;
        Ok(self.url_for(name))
    }

    /// [`Database::admin_url`] with its database swapped for `database`; an external URL keeps
    /// its user, host and parameters.
    pub fn url_for(&self, database: &str) -> String {
        match self {
            Database::Private(c) => c.url(SUPERUSER, database),
            Database::External { url } if database == "postgres" => url.clone(),
            Database::External { url } => with_database(url, database),
        }
    }
}

/// Creates database `name` (letters, digits and `_`) through the maintenance database at
/// `admin_url`, unless it exists.
async fn create_database(admin_url: &str, name: &str) -> Result<(), PgError> {
    use sqlx::Connection;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(PgError::Step {
            step: "creating a database",
            detail: format!("'{name}' is not a plain database name"),
        });
    }
    let sql = |context| move |source| PgError::Sql { context, source };
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .map_err(sql("connecting to the maintenance database"))?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await
            .map_err(sql("looking for the database"))?;
    if !exists {
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .map_err(sql("creating the database"))?;
    }
    Ok(())
}

/// `url` (`postgres://authority[/database][?params]`) naming `database` instead.
fn with_database(url: &str, database: &str) -> String {
    let (head, query) = match url.find('?') {
        Some(q) => url.split_at(q),
        None => (url, ""),
    };
    let authority_start = head.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match head[authority_start..].find('/') {
        Some(slash) => &head[..authority_start + slash],
        None => head,
    };
    format!("{base}/{database}{query}")
}

/// A PostgreSQL cluster this process started. Stopped on drop.
pub struct PrivateCluster {
    data_dir: PathBuf,
    port: u16,
    bin_dir: PathBuf,
    run_as_postgres: bool,
    /// Keeps the temp dir alive for throwaway clusters; `None` for persistent ones.
    _temp: Option<tempfile::TempDir>,
}

impl PrivateCluster {
    /// A cluster whose data lives in `dir` and survives restarts.
    pub fn persistent(dir: &Path) -> Result<Self, PgError> {
        std::fs::create_dir_all(dir).map_err(io("creating the data directory"))?;
        let cluster = Self::prepare(dir.to_path_buf(), dir.to_path_buf(), None)?;
        cluster.start()?;
        Ok(cluster)
    }

    /// A cluster in a fresh temp dir, tuned for tests (no fsync), gone when the process exits.
    pub fn throwaway() -> Result<Self, PgError> {
        let temp = tempfile::Builder::new()
            .prefix("strive-pg-")
            .tempdir()
            .map_err(io("creating a temp dir"))?;
        let dir = temp.path().join("data");
        let cluster = Self::prepare(dir, temp.path().to_path_buf(), Some(temp))?;
        // Durability is pointless in a throwaway cluster; statement statistics let tests count
        // the queries a request runs.
        cluster.append_conf(
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n\
             shared_preload_libraries = 'pg_stat_statements'\n",
        )?;
        cluster.start()?;
        cluster.spawn_watchdog()?;
        Ok(cluster)
    }

    /// `owned` is the directory handed to the `postgres` OS user when we run as root.
    fn prepare(
        data_dir: PathBuf,
        owned: PathBuf,
        temp: Option<tempfile::TempDir>,
    ) -> Result<Self, PgError> {
        let bin_dir = find_bin_dir()?;
        // initdb refuses to run as root: as root, the cluster belongs to the `postgres` OS user.
        let run_as_postgres = unsafe { libc::geteuid() } == 0;
        let cluster = PrivateCluster {
            data_dir,
            port: free_port()?,
            bin_dir,
            run_as_postgres,
            _temp: temp,
        };
        if run_as_postgres {
            std::fs::create_dir_all(&owned).map_err(io("creating the cluster dir"))?;
            chown_to_postgres(&owned)?;
        }
        if !cluster.data_dir.join("PG_VERSION").exists() {
            cluster.initdb()?;
        }
        Ok(cluster)
    }

    fn initdb(&self) -> Result<(), PgError> {
        let dir = self.data_dir.to_string_lossy().into_owned();
        self.run(
            "initdb",
            &[
                "-D",
                &dir,
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?;
        self.append_conf(
            "listen_addresses = '127.0.0.1'\nmax_connections = 300\nshared_buffers = 128MB\n",
        )
    }

    fn append_conf(&self, text: &str) -> Result<(), PgError> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.data_dir.join("postgresql.conf"))
            .map_err(io("opening postgresql.conf"))?;
        f.write_all(text.as_bytes())
            .map_err(io("writing postgresql.conf"))
    }

    fn start(&self) -> Result<(), PgError> {
        let dir = self.data_dir.to_string_lossy().into_owned();
        // A cluster left running by a crashed process would hold the port and the pid file.
        let _ = self.run("pg_ctl", &["-D", &dir, "-m", "fast", "-w", "stop"]);
        let log = self
            .data_dir
            .join("server.log")
            .to_string_lossy()
            .into_owned();
        let opts = format!("-p {} -k {dir}", self.port);
        self.run(
            "pg_ctl",
            &[
                "-D", &dir, "-l", &log, "-o", &opts, "-w", "-t", "60", "start",
            ],
        )
        .map(|_| ())
    }

    /// Stops the cluster (fast shutdown: in-flight transactions are rolled back).
    pub fn stop(&self) {
        let dir = self.data_dir.to_string_lossy().into_owned();
        if let Err(e) = self.run("pg_ctl", &["-D", &dir, "-m", "fast", "-w", "stop"]) {
            tracing::warn!(error = %e, "stopping the private PostgreSQL cluster failed");
        }
    }

    /// Deletes the cluster's directory once this process is gone, however it ends.
    fn spawn_watchdog(&self) -> Result<(), PgError> {
        let Some(temp) = &self._temp else {
            return Ok(());
        };
        let pg_ctl = self.bin_dir.join("pg_ctl");
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             {su} '{pg_ctl}' -D '{data}' -m immediate stop >/dev/null 2>&1; rm -rf '{temp}'",
            pid = std::process::id(),
            su = if self.run_as_postgres {
                "runuser -u postgres --"
            } else {
                ""
            },
            pg_ctl = pg_ctl.display(),
            data = self.data_dir.display(),
            temp = temp.path().display(),
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(io("starting the cleanup watchdog"))?;
        Ok(())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Creates database `name` unless it exists; answers the superuser's URL for it.
    pub async fn create_database(&self, name: &str) -> Result<String, PgError> {
        create_database(&self.url(SUPERUSER, "postgres"), name).await?;
        Ok(self.url(SUPERUSER, name))
    }

    /// A connection URL for `user` on `database`, through the cluster's Unix socket (in its data
    /// directory): a server beside its embedded database saves the TCP stack on every round
    /// trip, and a push makes thousands. Loopback TCP when the socket's path is too long for one
    /// or relative.
    pub fn url(&self, user: &str, database: &str) -> String {
        let dir = self.data_dir.to_string_lossy();
        let socket_path_len = dir.len() + format!("/.s.PGSQL.{}", self.port).len();
        // A relative `host` would be taken for a host name.
        if socket_path_len >= 100 || !self.data_dir.is_absolute() {
            return format!("postgres://{user}@127.0.0.1:{}/{database}", self.port);
        }
        // Query values are form-decoded: `+` would become a space.
        let mut host = String::with_capacity(dir.len());
        for c in dir.chars() {
            match c {
                '%' | ' ' | '&' | '#' | '?' | '+' | '=' => {
                    host.push_str(&format!("%{:02X}", c as u32))
                }
                c => host.push(c),
            }
        }
        format!(
            "postgres://{user}@localhost/{database}?host={host}&port={}",
            self.port
        )
    }

    fn run(&self, tool: &'static str, args: &[&str]) -> Result<String, PgError> {
        let exe = self.bin_dir.join(tool);
        let mut cmd = if self.run_as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(io("running a PostgreSQL tool"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(PgError::Step {
                step: tool,
                detail: format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout).trim(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            })
        }
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The newest PostgreSQL server binaries installed the Debian way, or `PG_BIN_DIR`.
fn find_bin_dir() -> Result<PathBuf, PgError> {
    if let Ok(dir) = std::env::var("PG_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| PgError::BinariesMissing(root.display().to_string()))
}

fn free_port() -> Result<u16, PgError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io("finding a free port"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(io("finding a free port"))
}

fn chown_to_postgres(path: &Path) -> Result<(), PgError> {
    let out = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(path)
        .output()
        .map_err(io("changing the cluster dir's owner"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(PgError::Step {
            step: "chown",
            detail: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_names_another_database_and_keeps_the_rest() {
        for (url, want) in [
            (
                "postgres://u:p@db.example:6543/app",
                "postgres://u:p@db.example:6543/other",
            ),
            (
                "postgres://u@h/app?sslmode=require",
                "postgres://u@h/other?sslmode=require",
            ),
            ("postgres://u@h", "postgres://u@h/other"),
            (
                "postgres://u@localhost/app?host=/var/run/pg&port=5433",
                "postgres://u@localhost/other?host=/var/run/pg&port=5433",
            ),
        ] {
            let db = Database::External { url: url.into() };
            assert_eq!(db.url_for("other"), want);
        }
    }

    #[test]
    fn a_private_cluster_is_reached_through_its_socket() {
        let cluster = PrivateCluster::throwaway().expect("cluster starts");
        let url = cluster.url(SUPERUSER, "postgres");
        assert!(url.contains("?host=/"), "{url}");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let one: i32 = rt.block_on(async {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&url).await.expect("connects");
            sqlx::query_scalar("SELECT 1")
                .fetch_one(&mut c)
                .await
                .unwrap()
        });
        assert_eq!(one, 1);
    }

    #[test]
    fn throwaway_cluster_accepts_connections_and_is_removed_on_drop() {
        let cluster = PrivateCluster::throwaway().expect("cluster starts");
        let data = cluster.data_dir().to_path_buf();
        let ready = Command::new(find_bin_dir().unwrap().join("pg_isready"))
            .args(["-h", "127.0.0.1", "-p", &cluster.port().to_string()])
            .status()
            .unwrap();
        assert!(ready.success(), "pg_isready reports the cluster up");
        drop(cluster);
        assert!(!data.exists(), "the temp dir is deleted with the cluster");
    }

    #[test]
    fn persistent_cluster_keeps_its_data_between_starts() {
        let parent = tempfile::tempdir().unwrap();
        // The `postgres` OS user must be able to reach the data dir when tests run as root.
        std::fs::set_permissions(
            parent.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let dir = parent.path().join("pg");
        let first = PrivateCluster::persistent(&dir).expect("first start");
        std::fs::write(dir.join("marker"), b"kept").unwrap();
        drop(first);
        assert!(dir.join("PG_VERSION").exists(), "data kept after stop");
        assert!(
            !dir.join("postmaster.pid").exists(),
            "the cluster is stopped on drop"
        );
        let second = PrivateCluster::persistent(&dir).expect("second start reuses the data");
        assert!(dir.join("postmaster.pid").exists(), "running again");
        assert_eq!(
            std::fs::read(second.data_dir().join("marker")).unwrap(),
            b"kept"
        );
    }
}
