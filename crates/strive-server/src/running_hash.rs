//! SHA-256 of uploads computed as their chunks arrive, so the last chunk need not re-read the
//! whole part file. Only a hint kept in this process: a chunk that does not continue exactly where
//! the hash stopped (sent again, out of order, or received by another instance) drops it, and the
//! upload is then verified by reading its file, as after a restart.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use strive_domain::VersionId;

/// Abandoned uploads leave entries behind; past this many the map starts over (uploads in flight
/// then fall back to reading their files).
const MAX_ENTRIES: usize = 4096;

#[derive(Default)]
pub struct RunningHashes(Mutex<HashMap<VersionId, (u64, Sha256)>>);

impl RunningHashes {
    /// The hash of the bytes before `offset`, taken out to be continued with the chunk written
    /// there; `None` when they are not known (the file will be read instead).
    pub fn take(&self, id: VersionId, offset: u64) -> Option<Sha256> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if offset == 0 {
            map.remove(&id);
            return Some(Sha256::new());
        }
        match map.remove(&id) {
            Some((at, hash)) if at == offset => Some(hash),
            _ => None,
        }
    }

    /// Keeps the hash of the first `end` bytes for the next chunk.
    pub fn put(&self, id: VersionId, end: u64, hash: Sha256) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(id, (end, hash));
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

    #[test]
    fn chunks_in_order_hash_like_the_whole() {
        let r = RunningHashes::default();
        let id = VersionId::new();
        let mut h = r.take(id, 0).unwrap();
        h.update(b"hello ");
        r.put(id, 6, h);
        let mut h = r.take(id, 6).unwrap();
        h.update(b"world");
        assert_eq!(hex(h), hex(Sha256::new_with_prefix(b"hello world")));
    }

    #[test]
    fn a_chunk_elsewhere_drops_the_hash() {
        let r = RunningHashes::default();
        let id = VersionId::new();
        let mut h = r.take(id, 0).unwrap();
        h.update(b"hello ");
        r.put(id, 6, h);
        assert!(r.take(id, 3).is_none(), "a resent chunk");
        assert!(r.take(id, 6).is_none(), "dropped, not kept");
        assert!(r.take(VersionId::new(), 6).is_none(), "never seen here");
    }
}
