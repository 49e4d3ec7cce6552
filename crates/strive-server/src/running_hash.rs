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

/// What a gate guards: the hash of the first `.0` bytes of the part file, when known.
#[derive(Default)]
pub struct Progress(Option<(u64, Sha256)>);

impl Progress {
    /// The hash of the bytes before `offset`, taken out to be continued with the chunk written
    /// there; `None` when they are not known (the file will be read instead).
    pub fn take(&mut self, offset: u64) -> Option<Sha256> {
        if offset == 0 {
            self.0 = None;
            return Some(Sha256::new());
        }
        match self.0.take() {
            Some((at, hash)) if at == offset => Some(hash),
            _ => None,
        }
    }

    /// Keeps the hash of the first `end` bytes for the next chunk.
    pub fn put(&mut self, end: u64, hash: Sha256) {
        self.0 = Some((end, hash));
    }
}

pub type Gate = Arc<tokio::sync::Mutex<Progress>>;

#[derive(Default)]
pub struct RunningHashes(Mutex<HashMap<VersionId, Gate>>);

impl RunningHashes {
    /// The upload's gate: lock it for as long as a chunk is being written and recorded.
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
        let mut p = gate.lock().await;
        let mut h = p.take(0).unwrap();
        h.update(b"hello ");
        p.put(6, h);
        drop(p);
        let mut p = r.gate(id).lock_owned().await;
        let mut h = p.take(6).unwrap();
        h.update(b"world");
        assert_eq!(hex(h), hex(Sha256::new_with_prefix(b"hello world")));
    }

    #[tokio::test]
    async fn a_chunk_elsewhere_drops_the_hash() {
        let r = RunningHashes::default();
        let id = VersionId::new();
        let gate = r.gate(id);
        let mut p = gate.lock().await;
        let mut h = p.take(0).unwrap();
        h.update(b"hello ");
        p.put(6, h);
        assert!(p.take(3).is_none(), "a resent chunk");
        assert!(p.take(6).is_none(), "dropped, not kept");
        drop(p);
        let other = r.gate(VersionId::new());
        assert!(other.lock().await.take(6).is_none(), "never seen here");
    }

    #[tokio::test]
    async fn one_chunk_at_a_time() {
        let r = RunningHashes::default();
        let id = VersionId::new();
        let held = r.gate(id).lock_owned().await;
        assert!(r.gate(id).try_lock().is_err(), "the second waits");
        drop(held);
        assert!(r.gate(id).try_lock().is_ok());
    }
}
