//! Document encryption, written once for devices and the server.
//!
//! - A document version is encrypted on the device under its own random 256-bit data key
//!   ([`DataKey`]) with AES-256-GCM in fixed 64 KiB chunks, using the STREAM construction
//!   (`aead::stream`, big-endian 32-bit counter and a last-chunk flag in each nonce), so that a
//!   flipped bit, a reordered chunk, a cut-off end or a wrong key each fail with their own
//!   [`CryptoError`], never with garbage output. See [`format`] for the bytes.
//! - Readers and writers stream: memory use does not depend on the document's size.
//! - The server never sees a data key in the clear for longer than it takes to wrap it under the
//!   organization's key-encryption key ([`wrap`]).

pub mod decrypt;
pub mod encrypt;
pub mod format;
pub mod wrap;

pub use decrypt::{decrypt, decrypt_to_vec, DecryptReader};
pub use encrypt::{encrypt, EncryptWriter};
pub use format::{ciphertext_len, plaintext_len, Header, CHUNK_SIZE, HEADER_LEN};

use base64::Engine;
use rand::RngCore;
use zeroize::Zeroize;

/// A 256-bit AES key: a document version's data key (DEK), or an organization's key-encryption
/// key (KEK). Zeroed when dropped; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct DataKey([u8; 32]);

impl Drop for DataKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl DataKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        DataKey(k)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        DataKey(bytes)
    }

    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadKey)?;
        Ok(DataKey(arr))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key as standard base64 (how it travels inside the TLS connection and sits in the
    /// device's encrypted replica).
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }

    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let mut bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| CryptoError::BadKey)?;
        let key = Self::from_slice(&bytes);
        bytes.zeroize();
        key
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// Why a document could not be encrypted or decrypted. Each way a ciphertext can be wrong has its
/// own variant, so callers (and people) can tell a damaged download from a wrong key.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("not a Strive encrypted document (unknown format marker)")]
    NotEncrypted,
    #[error("encrypted with format version {0}, which this version of Strive cannot read")]
    UnsupportedVersion(u8),
    #[error("the encrypted document's header is malformed: {0}")]
    BadHeader(&'static str),
    #[error("this key does not open this document (wrong key)")]
    WrongKey,
    #[error("the encrypted document is truncated: it ends after {chunks} chunk(s) without its final chunk")]
    Truncated { chunks: u32 },
    #[error("the encrypted document is truncated: {got} of {expected} bytes")]
    ShortRead { got: u64, expected: u64 },
    #[error("chunk {chunk} failed authentication: the document was modified")]
    Tampered { chunk: u32 },
    #[error("chunk {chunk} holds the content of chunk {belongs_at}: the document's chunks were reordered")]
    Reordered { chunk: u32, belongs_at: u32 },
    #[error("unexpected data after the document's final chunk")]
    TrailingData,
    #[error("the document is too large for this format")]
    TooLarge,
    #[error("a key must be 32 bytes (base64 of 32 bytes)")]
    BadKey,
    #[error("the wrapped key does not open with this key-encryption key")]
    Unwrap,
    #[error("file error: {0}")]
    Io(#[from] std::io::Error),
}

impl CryptoError {
    /// Turns an I/O error that carries a `CryptoError` (from [`DecryptReader`]'s `Read`) back
    /// into it.
    pub fn from_io(e: std::io::Error) -> Self {
        if !e.get_ref().is_some_and(|inner| inner.is::<CryptoError>()) {
            return CryptoError::Io(e);
        }
        match e.into_inner().map(|b| b.downcast::<CryptoError>()) {
            Some(Ok(c)) => *c,
            Some(Err(other)) => CryptoError::Io(std::io::Error::other(other)),
            None => CryptoError::Io(std::io::Error::other("decryption failed")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_base64_and_hide_in_debug() {
        let k = DataKey::generate();
        assert_eq!(DataKey::from_base64(&k.to_base64()).unwrap(), k);
        assert_eq!(format!("{k:?}"), "DataKey(..)");
        assert!(matches!(
            DataKey::from_base64("c2hvcnQ="),
            Err(CryptoError::BadKey)
        ));
        assert!(matches!(
            DataKey::from_base64("not base64!"),
            Err(CryptoError::BadKey)
        ));
    }
}
