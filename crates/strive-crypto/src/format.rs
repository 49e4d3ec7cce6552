//! The bytes of an encrypted document:
//!
//! ```text
//! header (32 bytes, all of it associated data of every chunk)
//!   0..4   magic "SDOC"
//!   4      format version (1)
//!   5..9   chunk size, u32 big-endian (65536)
//!   9..16  STREAM nonce prefix (7 random bytes)
//!   16..32 key check: HMAC-SHA256(data key, "strive-doc key check v1" || bytes 0..16), first 16
//! chunks
//!   each: AES-256-GCM(plaintext chunk) || 16-byte tag, nonce = prefix || counter u32 BE || last flag
//!   every chunk but the last holds exactly `chunk size` plaintext bytes; the last holds 0 to
//!   `chunk size` (0 only when the document is empty) and is sealed with the last flag set.
//! ```
//!
//! The key check commits the header to the key: a wrong key is told apart from a damaged chunk,
//! and (GCM not being key-committing) no ciphertext opens under two different keys.

use crate::{CryptoError, DataKey};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

pub const MAGIC: &[u8; 4] = b"SDOC";
pub const VERSION: u8 = 1;
/// Plaintext bytes per chunk.
pub const CHUNK_SIZE: u32 = 64 * 1024;
pub const HEADER_LEN: usize = 32;
pub const TAG_LEN: u64 = 16;
pub const NONCE_PREFIX_LEN: usize = 7;
const KEY_CHECK_LABEL: &[u8] = b"strive-doc key check v1";
/// Chunk sizes a reader accepts: bounds the memory a hostile header can make it allocate.
const MIN_CHUNK: u32 = 1024;
const MAX_CHUNK: u32 = 4 * 1024 * 1024;

/// A parsed, not yet key-checked header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub chunk_size: u32,
    pub nonce_prefix: [u8; NONCE_PREFIX_LEN],
    pub key_check: [u8; 16],
}

impl Header {
    /// A header for a new document under `key`, with a fresh random nonce prefix.
    pub fn new(key: &DataKey) -> Self {
        let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce_prefix);
        let mut h = Header {
            chunk_size: CHUNK_SIZE,
            nonce_prefix,
            key_check: [0; 16],
        };
        h.key_check = h.compute_key_check(key);
        h
    }

    fn prefix_bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(MAGIC);
        b[4] = VERSION;
        b[5..9].copy_from_slice(&self.chunk_size.to_be_bytes());
        b[9..16].copy_from_slice(&self.nonce_prefix);
        b
    }

    fn mac(key: &DataKey, prefix: &[u8; 16]) -> Hmac<Sha256> {
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts 32-byte keys"));
        mac.update(KEY_CHECK_LABEL);
        mac.update(prefix);
        mac
    }

    fn compute_key_check(&self, key: &DataKey) -> [u8; 16] {
        let full = Self::mac(key, &self.prefix_bytes()).finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }

    /// Whether `key` is the key this document was encrypted with (constant time).
    pub fn check_key(&self, key: &DataKey) -> Result<(), CryptoError> {
        Self::mac(key, &self.prefix_bytes())
            .verify_truncated_left(&self.key_check)
            .map_err(|_| CryptoError::WrongKey)
    }

    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..16].copy_from_slice(&self.prefix_bytes());
        b[16..].copy_from_slice(&self.key_check);
        b
    }

    /// Parses a header. Never panics, whatever the bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() < 4 || &bytes[..4] != MAGIC {
            return Err(CryptoError::NotEncrypted);
        }
        if bytes.len() < HEADER_LEN {
            return Err(CryptoError::BadHeader("shorter than a header"));
        }
        if bytes[4] != VERSION {
            return Err(CryptoError::UnsupportedVersion(bytes[4]));
        }
        let chunk_size = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]);
        if !(MIN_CHUNK..=MAX_CHUNK).contains(&chunk_size) {
            return Err(CryptoError::BadHeader("chunk size out of range"));
        }
        let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
        nonce_prefix.copy_from_slice(&bytes[9..16]);
        let mut key_check = [0u8; 16];
        key_check.copy_from_slice(&bytes[16..32]);
        Ok(Header {
            chunk_size,
            nonce_prefix,
            key_check,
        })
    }
}

/// The encrypted size of a `plaintext`-byte document: deterministic, so the server can check a
/// declared size against the bytes it receives and derive the plaintext size from them.
pub fn ciphertext_len(plaintext: u64) -> Option<u64> {
    let c = CHUNK_SIZE as u64;
    let chunks = plaintext.div_ceil(c).max(1);
    plaintext
        .checked_add(chunks.checked_mul(TAG_LEN)?)?
        .checked_add(HEADER_LEN as u64)
}

/// The plaintext size of a `ciphertext`-byte document in this format (64 KiB chunks), or `None`
/// when no document has that encrypted size.
pub fn plaintext_len(ciphertext: u64) -> Option<u64> {
    let body = ciphertext.checked_sub(HEADER_LEN as u64)?;
    let full = CHUNK_SIZE as u64 + TAG_LEN;
    let chunks = body.div_ceil(full).max(1);
    let plain = body.checked_sub(chunks * TAG_LEN)?;
    // The inverse must agree: rules out a last chunk too short for its tag, or an empty last
    // chunk after full ones.
    (ciphertext_len(plain)? == ciphertext).then_some(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_invert_exactly() {
        let c = CHUNK_SIZE as u64;
        for n in [0, 1, c - 1, c, c + 1, 2 * c, 3 * c + 7, 50 << 20] {
            let ct = ciphertext_len(n).unwrap();
            assert_eq!(plaintext_len(ct), Some(n), "plaintext {n}");
        }
        assert_eq!(ciphertext_len(0), Some(48));
        assert_eq!(ciphertext_len(c), Some(32 + c + 16));
        assert_eq!(ciphertext_len(c + 1), Some(32 + c + 1 + 32));
        // Sizes no document has: shorter than header and one tag, or a 1..16-byte last chunk.
        for bad in [0, 31, 47, 32 + c + 16 + 1, 32 + c + 16 + 16] {
            assert_eq!(plaintext_len(bad), None, "ciphertext {bad}");
        }
        assert_eq!(ciphertext_len(u64::MAX), None);
    }

    #[test]
    fn header_round_trips_and_checks_the_key() {
        let k = DataKey::generate();
        let h = Header::new(&k);
        let parsed = Header::parse(&h.to_bytes()).unwrap();
        assert_eq!(parsed, h);
        parsed.check_key(&k).unwrap();
        assert!(matches!(
            parsed.check_key(&DataKey::generate()),
            Err(CryptoError::WrongKey)
        ));
        let mut b = h.to_bytes();
        b[4] = 9;
        assert!(matches!(
            Header::parse(&b),
            Err(CryptoError::UnsupportedVersion(9))
        ));
        assert!(matches!(
            Header::parse(b"%PDF-1.7"),
            Err(CryptoError::NotEncrypted)
        ));
        assert!(matches!(
            Header::parse(b"SDOC"),
            Err(CryptoError::BadHeader(_))
        ));
    }
}
