//! Key wrapping (the key service's primitive): a key sealed under another with AES-256-GCM and a
//! random nonce, bound to its context (associated data such as the organization and document
//! ids), so a wrapped key copied onto another row does not open.
//!
//! Bytes: version (1) || nonce (12) || AES-256-GCM(key) (32) || tag (16) = 61 bytes.

use crate::{CryptoError, DataKey};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use zeroize::Zeroize;

const WRAP_VERSION: u8 = 1;
pub const WRAPPED_LEN: usize = 1 + 12 + 32 + 16;

/// Seals `key` under `kek`, bound to `context`.
pub fn wrap(kek: &DataKey, key: &DataKey, context: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let cipher = Aes256Gcm::new(kek.as_bytes().into());
    let payload = Payload {
        msg: key.as_bytes(),
        aad: context,
    };
    // Sealing 32 bytes cannot exceed GCM's limits.
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce), payload)
        .unwrap_or_default();
    let mut out = Vec::with_capacity(WRAPPED_LEN);
    out.push(WRAP_VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

/// Opens a key [`wrap`] sealed, if `kek` and `context` are the ones it was sealed with.
pub fn unwrap(kek: &DataKey, wrapped: &[u8], context: &[u8]) -> Result<DataKey, CryptoError> {
    if wrapped.len() != WRAPPED_LEN || wrapped[0] != WRAP_VERSION {
        return Err(CryptoError::Unwrap);
    }
    let cipher = Aes256Gcm::new(kek.as_bytes().into());
    let payload = Payload {
        msg: &wrapped[13..],
        aad: context,
    };
    let mut plain = cipher
        .decrypt(Nonce::from_slice(&wrapped[1..13]), payload)
        .map_err(|_| CryptoError::Unwrap)?;
    let key = DataKey::from_slice(&plain);
    plain.zeroize();
    key.map_err(|_| CryptoError::Unwrap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_keys_open_only_with_their_kek_and_context() {
        let (kek, dek) = (DataKey::generate(), DataKey::generate());
        let w = wrap(&kek, &dek, b"org-1/doc-1");
        assert_eq!(w.len(), WRAPPED_LEN);
        assert_eq!(unwrap(&kek, &w, b"org-1/doc-1").unwrap(), dek);
        assert!(unwrap(&DataKey::generate(), &w, b"org-1/doc-1").is_err());
        assert!(unwrap(&kek, &w, b"org-2/doc-1").is_err());
        let mut flipped = w.clone();
        flipped[20] ^= 1;
        assert!(unwrap(&kek, &flipped, b"org-1/doc-1").is_err());
        assert!(unwrap(&kek, &w[..40], b"org-1/doc-1").is_err());
        assert_ne!(
            wrap(&kek, &dek, b"x"),
            wrap(&kek, &dek, b"x"),
            "fresh nonce each time"
        );
    }
}
