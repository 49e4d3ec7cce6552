//! The replica's database key: 256 random bits, stored two ways.
//!
//! 1. In the OS keychain (Secret Service on Linux, via `keyring`), so day-to-day opening needs
//!    no password.
//! 2. Wrapped: encrypted with AES-256-GCM under a key derived from the user's password with
//!    Argon2id, in a small JSON file next to the database. This is what opens the replica on a
//!    machine whose keychain does not work (headless Linux), once the password is typed.

use crate::error::ReplicaError;
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// The raw SQLCipher key.
#[derive(Clone)]
pub struct DbKey(pub(crate) [u8; 32]);

impl DbKey {
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        DbKey(k)
    }

    /// `x'<64 hex>'`: SQLCipher's raw-key syntax (no key derivation on open).
    pub(crate) fn pragma_value(&self) -> String {
        format!("\"x'{}'\"", hex::encode(self.0))
    }
}

impl std::fmt::Debug for DbKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbKey(..)")
    }
}

/// The key wrapped under the password, as stored on disk.
#[derive(Debug, Serialize, Deserialize)]
pub struct WrappedKey {
    pub version: u32,
    pub kdf: String,
    pub m_cost: u32,
    pub t_cost: u32,
    pub p_cost: u32,
    pub salt: String,
    pub nonce: String,
    pub ciphertext: String,
}

fn kek(password: &str, salt: &[u8], m: u32, t: u32, p: u32) -> Result<[u8; 32], ReplicaError> {
    let params =
        Params::new(m, t, p, Some(32)).map_err(|e| ReplicaError::Corrupt(e.to_string()))?;
    let mut out = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(password.as_bytes(), salt, &mut out)
        .map_err(|e| ReplicaError::Corrupt(e.to_string()))?;
    Ok(out)
}

pub fn wrap(key: &DbKey, password: &str) -> Result<WrappedKey, ReplicaError> {
    let (m, t, p) = (19 * 1024, 2, 1);
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let cipher = Aes256Gcm::new_from_slice(&kek(password, &salt, m, t, p)?)
        .map_err(|e| ReplicaError::Corrupt(e.to_string()))?;
    let ciphertext = cipher
        .encrypt(Nonce::from_slice(&nonce), key.0.as_slice())
        .map_err(|_| ReplicaError::Corrupt("key wrapping failed".into()))?;
    Ok(WrappedKey {
        version: 1,
        kdf: "argon2id".into(),
        m_cost: m,
        t_cost: t,
        p_cost: p,
        salt: B64.encode(salt),
        nonce: B64.encode(nonce),
        ciphertext: B64.encode(ciphertext),
    })
}

/// Unwraps the key. A wrong password fails GCM's authentication: [`ReplicaError::WrongPassword`].
pub fn unwrap(w: &WrappedKey, password: &str) -> Result<DbKey, ReplicaError> {
    let decode = |s: &str| {
        B64.decode(s)
            .map_err(|e| ReplicaError::Corrupt(e.to_string()))
    };
    let (salt, nonce, ct) = (decode(&w.salt)?, decode(&w.nonce)?, decode(&w.ciphertext)?);
    if w.kdf != "argon2id" || nonce.len() != 12 {
        return Err(ReplicaError::Corrupt("unknown key file format".into()));
    }
    let cipher = Aes256Gcm::new_from_slice(&kek(password, &salt, w.m_cost, w.t_cost, w.p_cost)?)
        .map_err(|e| ReplicaError::Corrupt(e.to_string()))?;
    let plain = cipher
        .decrypt(Nonce::from_slice(&nonce), ct.as_slice())
        .map_err(|_| ReplicaError::WrongPassword)?;
    let key: [u8; 32] = plain
        .try_into()
        .map_err(|_| ReplicaError::Corrupt("wrapped key has the wrong length".into()))?;
    Ok(DbKey(key))
}

/// Encrypts a small secret (the account's tokens) under `key`: nonce || AES-256-GCM ciphertext.
pub fn seal(key: &DbKey, plain: &[u8]) -> Result<Vec<u8>, ReplicaError> {
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let cipher =
        Aes256Gcm::new_from_slice(&key.0).map_err(|e| ReplicaError::Corrupt(e.to_string()))?;
    let ct = cipher
        .encrypt(Nonce::from_slice(&nonce), plain)
        .map_err(|_| ReplicaError::Corrupt("encryption failed".into()))?;
    Ok([nonce.as_slice(), &ct].concat())
}

/// The inverse of [`seal`]; a wrong key or a changed byte is `Corrupt`.
pub fn unseal(key: &DbKey, sealed: &[u8]) -> Result<Vec<u8>, ReplicaError> {
    if sealed.len() < 12 {
        return Err(ReplicaError::Corrupt("sealed data is truncated".into()));
    }
    let (nonce, ct) = sealed.split_at(12);
    let cipher =
        Aes256Gcm::new_from_slice(&key.0).map_err(|e| ReplicaError::Corrupt(e.to_string()))?;
    cipher
        .decrypt(Nonce::from_slice(nonce), ct)
        .map_err(|_| ReplicaError::Corrupt("sealed data does not decrypt".into()))
}

/// Where the key may be kept besides the wrapped file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keychain {
    /// The OS keychain (Secret Service on Linux). Failures fall back to the password.
    System,
    /// Never touch a keychain (headless machines, tests of the password path).
    Disabled,
}

const SERVICE: &str = "strive-desktop";

impl Keychain {
    fn entry(&self, name: &str) -> Option<keyring::Entry> {
        match self {
            Keychain::System => keyring::Entry::new(SERVICE, name).ok(),
            Keychain::Disabled => None,
        }
    }

    /// Best effort: a keychain that does not work is reported, not fatal.
    pub fn store(&self, name: &str, key: &DbKey) -> bool {
        match self
            .entry(name)
            .map(|e| e.set_password(&hex::encode(key.0)))
        {
            Some(Ok(())) => true,
            Some(Err(e)) => {
                tracing::info!(error = %e, "keychain unavailable; the password will open this replica");
                false
            }
            None => false,
        }
    }

    pub fn load(&self, name: &str) -> Option<DbKey> {
        let hexed = self.entry(name)?.get_password().ok()?;
        let bytes: [u8; 32] = hex::decode(hexed).ok()?.try_into().ok()?;
        Some(DbKey(bytes))
    }

    pub fn forget(&self, name: &str) {
        if let Some(e) = self.entry(name) {
            let _ = e.delete_credential();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_and_unwrap_round_trip_and_wrong_password_is_typed() {
        let key = DbKey::generate();
        let w = wrap(&key, "hunter2 hunter2").unwrap();
        assert_eq!(unwrap(&w, "hunter2 hunter2").unwrap().0, key.0);
        assert!(matches!(
            unwrap(&w, "hunter3 hunter3"),
            Err(ReplicaError::WrongPassword)
        ));
        let sealed = seal(&key, b"refresh-token").unwrap();
        assert_eq!(unseal(&key, &sealed).unwrap(), b"refresh-token");
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert!(matches!(
            unseal(&key, &tampered),
            Err(ReplicaError::Corrupt(_))
        ));
        assert!(unseal(&DbKey::generate(), &sealed).is_err());
        let json = serde_json::to_string(&w).unwrap();
        assert!(
            !json.contains(&hex::encode(key.0)),
            "the key is not stored in the clear"
        );
    }
}
