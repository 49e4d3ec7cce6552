//! Pulling the change feed over HTTP into the replica, pipelined: each page's bytes are received
//! whole, then handed through a channel of one page to a thread that decodes and applies them
//! on its own connection while the next page arrives. Memory stays bounded by a few pages
//! whatever the organization's size, and a page's write transaction never waits for the network:
//! the UI's writes (another connection) wait at most for one page being applied.
//!
//! The client asks for bulk pages (`format=bulk`, PostgreSQL's binary `COPY` rows, one SQLite
//! transaction per page, see [`crate::bulk`]); an NDJSON answer is applied too, in transactions
//! of [`APPLY_BATCH`] lines.

use crate::apply::{self, Applied, Columns};
use crate::bulk::BulkPage;
use crate::error::{ReplicaError, SyncError};
use crate::open::Replica;
use futures_util::StreamExt;
use rusqlite::TransactionBehavior;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// NDJSON lines per SQLite transaction: large enough to amortise the commit, small enough to
/// bound memory.
pub const APPLY_BATCH: usize = 10_000;

/// Changes per bulk page (the server's maximum), each applied in one SQLite transaction.
pub const BULK_PAGE: i64 = 100_000;

/// Response bytes go to the applying thread in pieces of at least this size (the network's own
/// pieces are often a few KiB: one hand-over, with its thread wake-up, per piece would cost more
/// than the copy that gathers them).
const PIECE: usize = 64 * 1024;

/// Whole pages waiting for the applying thread (besides the one it applies and the one being
/// received).
const IN_FLIGHT: usize = 1;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PullStats {
    pub upserts: u64,
    pub deletes: u64,
    pub pages: u32,
    pub last_seq: i64,
    /// An admin asked this device to drop its copy and pull everything again.
    pub full_resync_requested: bool,
    /// Time the applying thread spent decoding and writing into the replica (it runs while the
    /// network brings the next bytes).
    pub apply_time: Duration,
    /// Time the network side waited, at the end of each page, for the applying thread to finish
    /// it.
    pub wait_time: Duration,
}

/// The response if the server accepted the request, else its typed refusal.
pub(crate) async fn ok_or_refused(res: reqwest::Response) -> Result<reqwest::Response, SyncError> {
    if res.status().is_success() {
        return Ok(res);
    }
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    let text = |k: &str| body[k].as_str().map(str::to_string);
    Err(SyncError::Refused {
        status,
        code: text("code").unwrap_or_else(|| format!("http_{status}")),
        message: text("message").unwrap_or_else(|| "no reason given".into()),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Bulk,
    Ndjson,
}

/// From the network side to the applying thread: one whole page, as received.
struct Msg {
    format: Format,
    pieces: Vec<bytes::Bytes>,
}

/// From the applying thread, once a page is in.
struct PageDone {
    applied: Applied,
    busy: Duration,
}

/// Pulls every page after the replica's last sequence number. `on_progress` hears the running
/// totals after each applied page.
pub async fn pull_all(
    replica: &mut Replica,
    http: &reqwest::Client,
    base_url: &str,
    token: &str,
    on_progress: impl FnMut(&PullStats),
) -> Result<PullStats, SyncError> {
    pull_all_paged(replica, http, base_url, token, BULK_PAGE, on_progress).await
}

/// [`pull_all`] with pages of `page` changes (tests use small ones).
pub async fn pull_all_paged(
    replica: &mut Replica,
    http: &reqwest::Client,
    base_url: &str,
    token: &str,
    page: i64,
    mut on_progress: impl FnMut(&PullStats),
) -> Result<PullStats, SyncError> {
    let conn = replica.second_connection()?;
    let checkpointer = Checkpointer::start(replica.second_connection()?);
    let pages = checkpointer.pages();
    let (to_applier, from_network) = mpsc::channel::<Msg>(IN_FLIGHT);
    let (report, mut reports) = mpsc::unbounded_channel::<PageDone>();
    let applier =
        tokio::task::spawn_blocking(move || run_applier(conn, pages, from_network, report));
    let feed = Feed {
        http,
        base_url,
        token,
        page,
    };
    let fetched = fetch_pages(replica, &feed, &to_applier, &mut reports, &mut on_progress).await;
    // Closing the channel ends the thread once it applied the pages it was given.
    drop(to_applier);
    let applied = applier
        .await
        .map_err(|e| ReplicaError::BadChange(format!("the applying thread failed: {e}")))?;
    // Its last checkpoint, which also empties the WAL.
    let _ = tokio::task::spawn_blocking(move || checkpointer.finish()).await;
    match (fetched, applied) {
        // The thread's own failure is why the network side stopped.
        (Err(_), Err(e)) => Err(e.into()),
        (fetched, _) => fetched,
    }
}

/// Where and how the pages are asked for.
struct Feed<'a> {
    http: &'a reqwest::Client,
    base_url: &'a str,
    token: &'a str,
    page: i64,
}

async fn fetch_pages(
    replica: &mut Replica,
    feed: &Feed<'_>,
    to_applier: &mpsc::Sender<Msg>,
    reports: &mut mpsc::UnboundedReceiver<PageDone>,
    on_progress: &mut impl FnMut(&PullStats),
) -> Result<PullStats, SyncError> {
    let gone = || ReplicaError::BadChange("the applying thread stopped".into());
    let mut stats = PullStats::default();
    // Pages handed to the applying thread and not reported back yet.
    let mut outstanding = 0usize;
    // Where the next page starts when a bulk page's first line said so; else the replica knows.
    let mut next: Option<i64> = None;
    let mut first = true;
    loop {
        let after = match next {
            Some(after) => after,
            None => replica.last_seq()?,
        };
        // The first page is smaller, so applying starts sooner: a page is applied only once
        // it is all here.
        let limit = if first {
            (feed.page / 4).max(1)
        } else {
            feed.page
        };
        first = false;
        let url = format!(
            "{}/v1/orgs/{}/sync/pull?after={after}&limit={limit}&format=bulk",
            feed.base_url,
            replica.org(),
        );
        let res = feed.http.get(&url).bearer_auth(feed.token).send().await?;
        let res = ok_or_refused(res).await?;
        let bulk = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-strive-bulk"));
        let format = if bulk { Format::Bulk } else { Format::Ndjson };
        let mut body = res.bytes_stream();
        let mut pieces = Vec::new();
        let mut piece = bytes::BytesMut::new();
        // A bulk page's first line: its last number and whether more follow.
        let mut range: Option<(i64, bool)> = None;
        while let Some(chunk) = body.next().await {
            piece.extend_from_slice(&chunk?);
            if bulk && range.is_none() {
                range = page_range(&piece)?;
            }
            if piece.len() >= PIECE {
                pieces.push(piece.split().freeze());
            }
        }
        if !piece.is_empty() {
            pieces.push(piece.freeze());
        }
        // The page is all here: the applying thread's transaction will not wait for the network.
        to_applier
            .send(Msg { format, pieces })
            .await
            .map_err(|_| gone())?;
        outstanding += 1;
        while let Ok(done) = reports.try_recv() {
            outstanding -= 1;
            account(&mut stats, done, on_progress)?;
        }
        match range {
            // Ask for the next page while the thread still applies this one (and those before).
            Some((last, true)) => next = Some(last),
            Some((_, false)) => break,
            // NDJSON: the page's end is known once it is applied.
            None => {
                let more = wait(&mut stats, reports, &mut outstanding, on_progress).await?;
                if !more {
                    break;
                }
                next = None;
            }
        }
    }
    wait(&mut stats, reports, &mut outstanding, on_progress).await?;
    stats.last_seq = replica.last_seq()?;
    replica.remeasure(stats.upserts + stats.deletes)?;
    Ok(stats)
}

/// Waits for every outstanding page; whether the last one said more follow.
async fn wait(
    stats: &mut PullStats,
    reports: &mut mpsc::UnboundedReceiver<PageDone>,
    outstanding: &mut usize,
    on_progress: &mut impl FnMut(&PullStats),
) -> Result<bool, SyncError> {
    let waiting = Instant::now();
    let mut more = false;
    while *outstanding > 0 {
        let done = reports
            .recv()
            .await
            .ok_or_else(|| ReplicaError::BadChange("the applying thread stopped".into()))?;
        *outstanding -= 1;
        more = account(stats, done, on_progress)?;
    }
    stats.wait_time += waiting.elapsed();
    Ok(more)
}

/// Adds an applied page to the totals; whether it said more follow.
fn account(
    stats: &mut PullStats,
    done: PageDone,
    on_progress: &mut impl FnMut(&PullStats),
) -> Result<bool, SyncError> {
    let Some(end) = done.applied.end else {
        return Err(SyncError::Replica(ReplicaError::BadChange(
            "the pull ended before its last line (connection cut?)".into(),
        )));
    };
    stats.upserts += done.applied.upserts;
    stats.deletes += done.applied.deletes;
    stats.apply_time += done.busy;
    stats.pages += 1;
    stats.last_seq = stats.last_seq.max(end.last_seq);
    stats.full_resync_requested |= end.full_resync;
    on_progress(stats);
    Ok(end.more)
}

/// The range a bulk page announces in its first line, once that line is all there.
fn page_range(head: &[u8]) -> Result<Option<(i64, bool)>, SyncError> {
    let Some(n) = head.iter().position(|b| *b == b'\n') else {
        return Ok(None);
    };
    #[derive(serde::Deserialize)]
    struct Range {
        last_seq: i64,
        more: bool,
    }
    let r: Range = serde_json::from_slice(&head[..n])
        .map_err(|e| ReplicaError::BadChange(format!("a bulk page's first line: {e}")))?;
    Ok(Some((r.last_seq, r.more)))
}

/// Pages applied between two waits for the checkpointer to catch up: the WAL holds at most about
/// this many pages (the log starts over only when all of it is in the database file).
const PAGES_PER_WAL: u64 = 4;

/// A thread with its own connection that copies each committed page from the WAL into the
/// database file (a checkpoint: copies and two fsyncs), so the applying thread does not stop
/// for it after every page as SQLite's automatic checkpoint would make it.
struct Checkpointer {
    commits: std::sync::mpsc::Sender<u64>,
    done: std::sync::Arc<(std::sync::Mutex<u64>, std::sync::Condvar)>,
    thread: std::thread::JoinHandle<()>,
}

/// The applying thread's side of the [`Checkpointer`].
struct Pages {
    commits: std::sync::mpsc::Sender<u64>,
    done: std::sync::Arc<(std::sync::Mutex<u64>, std::sync::Condvar)>,
    committed: u64,
    /// Pages committed since the WAL was last all in the database file.
    since_caught_up: u64,
}

impl Checkpointer {
    fn start(conn: rusqlite::Connection) -> Self {
        let (commits, from_applier) = std::sync::mpsc::channel::<u64>();
        let done = std::sync::Arc::new((std::sync::Mutex::new(0u64), std::sync::Condvar::new()));
        let reported = done.clone();
        let thread = std::thread::spawn(move || {
            while let Ok(mut page) = from_applier.recv() {
                // Only the latest commit matters.
                while let Ok(later) = from_applier.try_recv() {
                    page = later;
                }
                let frames = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                    Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                });
                match frames {
                    // Every frame committed by then is in the database file.
                    Ok((log, copied)) if log == copied => {
                        let (lock, cvar) = &*reported;
                        if let Ok(mut d) = lock.lock() {
                            *d = page;
                            cvar.notify_all();
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::debug!(error = %e, "checkpoint during a pull failed"),
                }
            }
            if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
                tracing::debug!(error = %e, "checkpoint after a pull failed");
            }
        });
        Checkpointer {
            commits,
            done,
            thread,
        }
    }

    fn pages(&self) -> Pages {
        Pages {
            commits: self.commits.clone(),
            done: self.done.clone(),
            committed: 0,
            since_caught_up: 0,
        }
    }

    /// Waits for the last checkpoint (once the applying thread's side is gone).
    fn finish(self) {
        drop(self.commits);
        let _ = self.thread.join();
    }
}

impl Pages {
    fn committed(&mut self) {
        self.committed += 1;
        self.since_caught_up += 1;
        let _ = self.commits.send(self.committed);
    }

    /// Every few pages, waits until the WAL is all in the database file, so the next page
    /// starts the log over instead of growing it.
    fn before_page(&mut self) {
        if self.since_caught_up < PAGES_PER_WAL {
            return;
        }
        self.since_caught_up = 0;
        let (lock, cvar) = &*self.done;
        let Ok(done) = lock.lock() else { return };
        // Bounded: a checkpoint that cannot finish (a long reader) only lets the WAL grow.
        let _ = cvar.wait_timeout_while(done, Duration::from_secs(10), |d| *d < self.committed);
    }
}

/// The applying thread: pages in, one after another, until the channel closes.
fn run_applier(
    mut conn: rusqlite::Connection,
    mut pages: Pages,
    mut from_network: mpsc::Receiver<Msg>,
    report: mpsc::UnboundedSender<PageDone>,
) -> Result<(), ReplicaError> {
    let columns = apply::columns_of(&conn)?;
    // The checkpointer thread copies the WAL into the database file, not this one.
    conn.execute_batch("PRAGMA wal_autocheckpoint = 0")?;
    while let Some(Msg { format, pieces }) = from_network.blocking_recv() {
        pages.before_page();
        let done = match format {
            Format::Bulk => bulk_page(&mut conn, &columns, &pieces)?,
            Format::Ndjson => ndjson_page(&mut conn, &columns, &pieces)?,
        };
        drop(pieces);
        pages.committed();
        if report.send(done).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

fn cut_short() -> ReplicaError {
    ReplicaError::BadChange("the pull ended before its last line (connection cut?)".into())
}

fn bulk_page(
    conn: &mut rusqlite::Connection,
    columns: &Columns,
    pieces: &[bytes::Bytes],
) -> Result<PageDone, ReplicaError> {
    let started = Instant::now();
    let mut page = BulkPage::begin(conn, columns)?;
    // The unfinished line or row at the end of the last piece.
    let mut pending: Vec<u8> = Vec::new();
    for bytes in pieces {
        if pending.is_empty() {
            let used = page.feed(bytes)?;
            pending.extend_from_slice(&bytes[used..]);
        } else {
            pending.extend_from_slice(bytes);
            let used = page.feed(&pending)?;
            pending.drain(..used);
        }
    }
    if !pending.is_empty() {
        return Err(cut_short());
    }
    let applied = page.finish()?;
    Ok(PageDone {
        applied,
        busy: started.elapsed(),
    })
}

fn ndjson_page(
    conn: &mut rusqlite::Connection,
    columns: &Columns,
    pieces: &[bytes::Bytes],
) -> Result<PageDone, ReplicaError> {
    let started = Instant::now();
    let mut pending: Vec<u8> = Vec::new();
    let mut lines: Vec<Vec<u8>> = Vec::with_capacity(APPLY_BATCH);
    let mut total = Applied::default();
    let mut apply = |conn: &mut rusqlite::Connection, lines: &mut Vec<Vec<u8>>| {
        let applied = apply::apply_lines(conn, columns, lines.iter().map(|l| l.as_slice()))?;
        lines.clear();
        total.upserts += applied.upserts;
        total.deletes += applied.deletes;
        total.end = total.end.or(applied.end);
        Ok::<_, ReplicaError>(())
    };
    for bytes in pieces {
        pending.extend_from_slice(bytes);
        // Cut every complete line out of the buffer, then keep only the unfinished tail (one
        // copy per piece, not one per line).
        let mut start = 0;
        while let Some(pos) = pending[start..].iter().position(|b| *b == b'\n') {
            lines.push(pending[start..start + pos].to_vec());
            start += pos + 1;
            if lines.len() >= APPLY_BATCH {
                apply(conn, &mut lines)?;
            }
        }
        pending.drain(..start);
    }
    if !pending.is_empty() {
        lines.push(std::mem::take(&mut pending));
    }
    apply(conn, &mut lines)?;
    Ok(PageDone {
        applied: total,
        busy: started.elapsed(),
    })
}

impl Replica {
    /// Forgets the server's data so the next pull starts from 0 (an admin asked for a full
    /// re-sync). Rows with unsettled local writes stay, their server versions unknown until the
    /// pull brings them again; the outbox is untouched, so no local work is lost.
    pub fn reset_for_full_resync(&mut self) -> Result<(), ReplicaError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (table, key) in crate::apply::SYNCED {
            tx.execute(
                &format!(
                    "DELETE FROM {table} WHERE NOT EXISTS
                       (SELECT 1 FROM shadows s WHERE s.tbl = '{table}' AND s.id = {table}.{key})"
                ),
                [],
            )?;
        }
        tx.execute("UPDATE shadows SET row = NULL", [])?;
        tx.execute("DELETE FROM sync_state WHERE key = 'last_seq'", [])?;
        tx.commit()?;
        Ok(())
    }
}
