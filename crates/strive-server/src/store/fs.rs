//! The file system blob store (the default): one file per object under a root directory, the
//! key's segments as its path.

use super::{check_key, Blob, BlobStore, StoreError, StoreFuture};
use std::path::{Path, PathBuf};

pub struct FsStore {
    root: PathBuf,
}

impl FsStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FsStore { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        let mut p = self.root.clone();
        for seg in check_key(key)? {
            p.push(seg);
        }
        Ok(p)
    }
}

/// Links `from` at `dest`, which fails if `dest` exists (never replaces); across file systems,
/// copies into a file created exclusively (`O_EXCL`), removed again if the copy fails.
async fn put_no_replace(from: &Path, dest: &Path) -> Result<(), StoreError> {
    match tokio::fs::hard_link(from, dest).await {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(StoreError::AlreadyExists)
        }
        Err(e) => tracing::debug!(error = %e, "hard link failed; copying instead"),
    }
    let mut out = match tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dest)
        .await
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(StoreError::AlreadyExists)
        }
        Err(e) => return Err(e.into()),
    };
    let copied = async {
        let mut src = tokio::fs::File::open(from).await?;
        tokio::io::copy(&mut src, &mut out).await?;
        out.sync_all().await
    }
    .await;
    if let Err(e) = copied {
        let _ = tokio::fs::remove_file(dest).await;
        return Err(e.into());
    }
    Ok(())
}

impl BlobStore for FsStore {
    fn put_new<'a>(&'a self, key: &'a str, from: &'a Path) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let dest = self.path(key)?;
            if let Some(dir) = dest.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
            put_no_replace(from, &dest).await
        })
    }

    fn open<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Blob> {
        Box::pin(async move {
            let path = self.path(key)?;
            let file = match tokio::fs::File::open(&path).await {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(StoreError::NotFound)
                }
                Err(e) => return Err(e.into()),
            };
            let len = file.metadata().await?.len();
            Ok(Blob {
                len,
                body: Box::pin(file),
            })
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            match tokio::fs::remove_file(self.path(key)?).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            }
        })
    }

    fn exists<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move { Ok(tokio::fs::try_exists(self.path(key)?).await?) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn objects_are_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::new(dir.path().join("blobs"));
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"first").unwrap();
        std::fs::write(&b, b"second").unwrap();
        let key = "org/transactions/loop/1-x.pdf";
        assert!(!store.exists(key).await.unwrap());
        store.put_new(key, &a).await.unwrap();
        assert!(matches!(
            store.put_new(key, &b).await,
            Err(StoreError::AlreadyExists)
        ));
        let mut blob = store.open(key).await.unwrap();
        let mut got = Vec::new();
        blob.body.read_to_end(&mut got).await.unwrap();
        assert_eq!((blob.len, got.as_slice()), (5, &b"first"[..]));
        assert!(a.exists(), "the source stays for the caller to remove");
        store.delete(key).await.unwrap();
        store.delete(key).await.unwrap();
        assert!(matches!(store.open(key).await, Err(StoreError::NotFound)));
        assert!(matches!(
            store.put_new("../escape", &a).await,
            Err(StoreError::BadKey)
        ));
    }
}
