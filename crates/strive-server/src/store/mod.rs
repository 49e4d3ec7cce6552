//! The blob store: where documents' ciphertext lives, behind a small trait so an S3-compatible
//! store can replace the file system one. Callers name objects by key and hand over finished
//! local files; they assume nothing about renames, directories or local paths of objects.

pub mod fs;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use tokio::io::AsyncRead;

pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `put_new` never replaces an object (the platform's `upsert: false`).
    #[error("an object already exists at this key")]
    AlreadyExists,
    #[error("no object at this key")]
    NotFound,
    #[error("not a valid object key")]
    BadKey,
    #[error("blob store I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// An object opened for reading, streamed.
pub struct Blob {
    pub len: u64,
    pub body: Pin<Box<dyn AsyncRead + Send>>,
}

pub trait BlobStore: Send + Sync {
    /// Stores the finished local file `from` as a new object `key`; fails with
    /// [`StoreError::AlreadyExists`] rather than replace one. `from` is left in place.
    fn put_new<'a>(&'a self, key: &'a str, from: &'a Path) -> StoreFuture<'a, ()>;
    fn open<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Blob>;
    /// Deleting a missing object is not an error.
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()>;
    fn exists<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool>;
}

/// Checks a key's shape again where it is used (defence in depth: keys are built from typed ids
/// and a sanitized name, see `strive_domain::documents::storage_key`): `/`-separated segments of
/// letters, digits, `.`, `-` and `_`, none empty and none starting with a dot.
pub fn check_key(key: &str) -> Result<Vec<&str>, StoreError> {
    let segments: Vec<&str> = key.split('/').collect();
    let ok = !segments.is_empty()
        && key.len() <= 512
        && segments.iter().all(|s| {
            !s.is_empty()
                && !s.starts_with('.')
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        });
    if ok {
        Ok(segments)
    } else {
        Err(StoreError::BadKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_again() {
        assert!(check_key("o/transactions/l/1-a.pdf").is_ok());
        for bad in [
            "",
            "a//b",
            "../x",
            "a/./b",
            "a/..",
            "a/b\\c",
            "a/\0",
            "/abs",
            "a/.hidden",
        ] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }
}
