//! The key service (KMS-like). Each organization has a random key-encryption key (KEK), stored in
//! the database only wrapped by the server's master key; each document version's data key is
//! stored only wrapped by its organization's KEK. The master key lives in the data dir
//! (`master.key`, mode 0600, made on first start) or comes from `STRIVE_MASTER_KEY` (base64),
//! never in the database: a database backup, or the blob store, opens nothing on its own.
//!
//! Unwrapping is for members who may view documents, and the caller audits every unwrap.

use crate::error::{ApiError, ApiResult};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::PgConnection;
use std::path::Path;
use strive_crypto::{wrap, DataKey};
use strive_domain::{OrgId, VersionId};

pub struct KeyService {
    master: DataKey,
    url_key: [u8; 32],
}

impl KeyService {
    pub fn new(master: DataKey) -> Self {
        // A separate key for signing URLs, derived so there is one secret to keep.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts 32-byte keys"));
        mac.update(b"strive signed-url key v1");
        let url_key = mac.finalize().into_bytes().into();
        KeyService { master, url_key }
    }

    /// `STRIVE_MASTER_KEY`, else `<data_dir>/master.key`, created on first start.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        if let Ok(text) = std::env::var("STRIVE_MASTER_KEY") {
            let key = DataKey::from_base64(&text).map_err(|_| {
                anyhow::anyhow!("STRIVE_MASTER_KEY must be 32 bytes in base64 (44 characters)")
            })?;
            return Ok(Self::new(key));
        }
        let path = data_dir.join("master.key");
        match std::fs::read(&path) {
            Ok(bytes) => {
                let key = DataKey::from_slice(&bytes)
                    .map_err(|_| anyhow::anyhow!("{} is not a 32-byte key", path.display()))?;
                return Ok(Self::new(key));
            }
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            Err(_) => {}
        }
        std::fs::create_dir_all(data_dir)?;
        let key = DataKey::generate();
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        // create_new: two servers starting at once on one data dir must not overwrite each
        // other's key; the loser reads the winner's.
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(mut f) => {
                f.write_all(key.as_bytes())?;
                f.sync_all()?;
                Ok(Self::new(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::load_or_create(data_dir)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The key that signs blob URLs.
    pub fn url_key(&self) -> &[u8; 32] {
        &self.url_key
    }

    /// The organization's KEK, created (and stored wrapped) on first use.
    async fn kek(&self, conn: &mut PgConnection, org: OrgId) -> ApiResult<DataKey> {
        let context = kek_context(org);
        let fresh = wrap::wrap(&self.master, &DataKey::generate(), &context);
        // Two first uses at once: one insert wins, both read the winner's key.
        sqlx::query(
            "INSERT INTO organization_keys (organization_id, wrapped_kek) VALUES ($1, $2)
             ON CONFLICT (organization_id) DO NOTHING",
        )
        .bind(org)
        .bind(&fresh)
        .execute(&mut *conn)
        .await?;
        let wrapped: Vec<u8> = sqlx::query_scalar(
            "SELECT wrapped_kek FROM organization_keys WHERE organization_id = $1",
        )
        .bind(org)
        .fetch_one(&mut *conn)
        .await?;
        wrap::unwrap(&self.master, &wrapped, &context).map_err(|_| {
            ApiError::Internal(anyhow::anyhow!(
                "the master key does not open organization {org}'s key (wrong STRIVE_MASTER_KEY or master.key?)"
            ))
        })
    }

    /// Stores a version's data key, wrapped under the organization's KEK.
    pub async fn store_data_key(
        &self,
        conn: &mut PgConnection,
        org: OrgId,
        version: VersionId,
        key: &DataKey,
    ) -> ApiResult<()> {
        let kek = self.kek(conn, org).await?;
        let wrapped = wrap::wrap(&kek, key, &dek_context(org, version));
        sqlx::query(
            "INSERT INTO document_keys (organization_id, version_id, wrapped_key) VALUES ($1, $2, $3)",
        )
        .bind(org)
        .bind(version)
        .bind(wrapped)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// A version's data key in the clear, for a member allowed to view it (the caller checked
    /// that, and writes the audit row in the same transaction).
    pub async fn data_key(
        &self,
        conn: &mut PgConnection,
        org: OrgId,
        version: VersionId,
    ) -> ApiResult<DataKey> {
        let wrapped: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT wrapped_key FROM document_keys WHERE organization_id = $1 AND version_id = $2",
        )
        .bind(org)
        .bind(version)
        .fetch_optional(&mut *conn)
        .await?;
        let wrapped = wrapped.ok_or_else(|| ApiError::not_found("Document key"))?;
        let kek = self.kek(conn, org).await?;
        wrap::unwrap(&kek, &wrapped, &dek_context(org, version)).map_err(|_| {
            ApiError::Internal(anyhow::anyhow!(
                "organization {org}'s key does not open the key of version {version}"
            ))
        })
    }
}

fn kek_context(org: OrgId) -> Vec<u8> {
    format!("strive kek v1|{org}").into_bytes()
}

fn dek_context(org: OrgId, version: VersionId) -> Vec<u8> {
    format!("strive dek v1|{org}|{version}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_master_key_file_is_private_and_stable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = KeyService::load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = KeyService::load_or_create(dir.path()).unwrap();
        assert_eq!(a.url_key(), b.url_key(), "same key on the next start");
        assert_ne!(
            a.url_key(),
            a.master.as_bytes(),
            "derived, not the master key"
        );
    }
}
