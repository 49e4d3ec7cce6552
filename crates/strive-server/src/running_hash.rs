//! Per-upload state kept in this process: a gate that lets one chunk of an upload be checked,
//! written and recorded at a time (a chunk that arrives meanwhile waits here, its body unread),
//! and the SHA-256 of the bytes written so far, so the last chunk need not re-read the whole part
//! file.
//!
//! Only a hint: a chunk that does not continue exactly where the hash stopped (sent again, out of
//! order, or received by another instance) drops it, and the upload is then verified by reading
//! its file, as after a restart. The database stays the authority on what was received.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use strive_domain::VersionId;

/// Abandoned uploads leave entries behind; past this many the map starts over (uploads in flight
/// keep their gate; a later chunk then gets a new one and its hash falls back to the file).
const MAX_ENTRIES: usize = 4096;

/// What a gate guards: the hash of the first `.0` bytes of the part file, when known, and what
/// this process last recorded as received.
#[derive(Default)]
pub struct Progress {
    hash: Option<(u64, Sha256)>,
    received: Option<u64>,
}

impl Progress {
    /// The hash of the bytes before `offset`, taken out to be continued with the chunk written
    /// there; `None` when they are not known (the file will be read instead).
    pub fn take(&mut self, offset: u64) -> Option<Sha256> {
        if offset == 0 {
            self.hash = None;
            return Some(Sha256::new());
        }
        match self.hash.take() {
            Some((at, hash)) if at == offset => Some(hash),
            _ => None,
        }
    }

    /// Keeps the hash of the first `end` bytes for the next chunk.
    pub fn put(&mut self, end: u64, hash: Sha256) {
        self.hash = Some((end, hash));
    }

    /// What a chunk recorded here left as received (`None`: not known here).
    pub fn recorded(&mut self, received: Option<u64>) {
        self.received = received;
    }
}

/// How long a chunk waits for the bytes before it to be recorded here (the chunk before it, sent
/// just before, may have been checked a little later): a gap still open after this is refused.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(1);

/// One upload's gate.
#[derive(Default)]
pub struct GateState {
    progress: tokio::sync::Mutex<Progress>,
    recorded: tokio::sync::Notify,
}

impl GateState {
    /// Enters the gate for a chunk at `offset`, waiting while another chunk of the upload is
    /// checked, written and recorded here: a chunk sent before the previous one was answered
    /// thus finds it recorded. `received` is what the database said before the wait; refused
    /// (with the bytes known received) when neither it nor what was recorded here since reaches
    /// `offset` within a second. The database re-checks when the chunk is recorded.
    pub async fn enter(
        &self,
        offset: u64,
        received: u64,
    ) -> Result<tokio::sync::MutexGuard<'_, Progress>, u64> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            // Registered before the check, so a chunk recorded in between still wakes this one.
            let recorded = self.recorded.notified();
            tokio::pin!(recorded);
            recorded.as_mut().enable();
            let progress = self.progress.lock().await;
            let known = received.max(progress.received.unwrap_or(0));
            if offset <= known {
                return Ok(progress);
            }
            drop(progress);
            if tokio::time::timeout_at(deadline, recorded).await.is_err() {
                return Err(known);
            }
        }
    }

    /// Wakes the chunks waiting for this one (call once it is recorded).
    pub fn recorded(&self) {
        self.recorded.notify_waiters();
    }
}

pub type Gate = Arc<GateState>;

#[derive(Default)]
pub struct RunningHashes(Mutex<HashMap<VersionId, Gate>>);

impl RunningHashes {
    /// The upload's gate: enter it for as long as a chunk is being written and recorded.
    pub fn gate(&self, id: VersionId) -> Gate {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES && !map.contains_key(&id) {
            map.clear();
        }
        map.entry(id).or_default().clone()
    }

    pub fn forget(&self, id: VersionId) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(h: Sha256) -> String {
        hex::encode(h.finalize())
    }

    #[tokio::test]
    async fn chunks_in_order_hash_like_the_whole() {
        let r = RunningHashes::default();
        let id = VersionId::new();
        let gate = r.gate(id);
        let mut p = gate.enter(0, 0).await.unwrap();
        let mut h = p.take(0).unwrap();
        h.update(b"hello ");
        p.put(6, h);
        p.recorded(Some(6));
        drop(p);
        let gate = r.gate(id);
        let mut p = gate.enter(6, 0).await.unwrap();
        let mut h = p.take(6).unwrap();
        h.update(b"world");
        assert_eq!(hex(h), hex(Sha256::new_with_prefix(b"hello world")));
    }

    #[tokio::test]
    async fn a_chunk_elsewhere_drops_the_hash() {
        let r = RunningHashes::default();
        let id = VersionId::new();
        let gate = r.gate(id);
        let mut p = gate.enter(0, 0).await.unwrap();
        let mut h = p.take(0).unwrap();
        h.update(b"hello ");
        p.put(6, h);
        assert!(p.take(3).is_none(), "a resent chunk");
        assert!(p.take(6).is_none(), "dropped, not kept");
        drop(p);
        let other = r.gate(VersionId::new());
        assert!(
            other.enter(6, 6).await.unwrap().take(6).is_none(),
            "never seen here"
        );
    }

    #[tokio::test]
    async fn a_chunk_waits_for_the_one_before_it() {
        let r = RunningHashes::default();
        let id = VersionId::new();
        let gate = r.gate(id);
        let mut held = gate.enter(0, 0).await.unwrap();
        let next = {
            let gate = r.gate(id);
            tokio::spawn(async move { gate.enter(6, 0).await.map(|_| ()) })
        };
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!next.is_finished(), "the second waits");
        held.recorded(Some(6));
        drop(held);
        gate.recorded();
        assert_eq!(next.await.unwrap(), Ok(()), "and finds the first recorded");

        // Sent second but checked first: it waits for the one before it.
        let early = {
            let gate = r.gate(id);
            tokio::spawn(async move { gate.enter(12, 0).await.map(|_| ()) })
        };
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let mut first = gate.enter(6, 0).await.unwrap();
        first.recorded(Some(12));
        drop(first);
        gate.recorded();
        assert_eq!(early.await.unwrap(), Ok(()));

        let started = std::time::Instant::now();
        assert_eq!(
            r.gate(id).enter(20, 0).await.map(|_| ()),
            Err(12),
            "a gap nobody fills is refused"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(3));
    }
}
