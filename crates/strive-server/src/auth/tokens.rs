//! Access tokens (short-lived JWTs, HS256) and refresh tokens (random, stored hashed).

use base64::Engine;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;
use strive_domain::{DeviceId, UserId};
use uuid::Uuid;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The identity (and its profile) the token speaks for.
    pub sub: Uuid,
    /// The device that logged in, if it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub did: Option<Uuid>,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl: Duration,
}

impl TokenKeys {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(&self, user: UserId, device: Option<DeviceId>) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user.0,
            did: device.map(|d| d.0),
            iat: now,
            exp: now + self.ttl.as_secs() as i64,
        };
        Ok(encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Checks signature, algorithm and expiry (no leeway).
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 0;
        v.set_required_spec_claims(&["exp", "sub"]);
        decode::<Claims>(token, &self.decoding, &v).map(|d| d.claims)
    }
}

/// The signing secret: `STRIVE_TOKEN_SECRET` if set, else a random one kept in the data dir
/// (mode 0600) so tokens survive restarts.
pub fn load_or_create_secret(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    if let Ok(s) = std::env::var("STRIVE_TOKEN_SECRET") {
        if s.len() < 32 {
            anyhow::bail!("STRIVE_TOKEN_SECRET must be at least 32 characters");
        }
        return Ok(s.into_bytes());
    }
    let path = data_dir.join("token-secret");
    if let Ok(bytes) = std::fs::read(&path) {
        if bytes.len() >= 32 {
            return Ok(bytes);
        }
    }
    std::fs::create_dir_all(data_dir)?;
    let mut secret = vec![0u8; 64];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    f.write_all(&secret)?;
    Ok(secret)
}

/// A new refresh token (256 random bits, base64url) and the hash we store.
pub fn new_refresh_token() -> (String, Vec<u8>) {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let hash = hash_refresh_token(&token);
    (token, hash)
}

pub fn hash_refresh_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_and_tampering_fails() {
        let keys = TokenKeys::new(&[7u8; 32], Duration::from_secs(60));
        let user = UserId::new();
        let t = keys.issue(user, None).unwrap();
        assert_eq!(keys.verify(&t).unwrap().sub, user.0);
        let mut tampered = t.clone();
        tampered.pop();
        tampered.push(if t.ends_with('A') { 'B' } else { 'A' });
        assert!(keys.verify(&tampered).is_err());
        let other = TokenKeys::new(&[8u8; 32], Duration::from_secs(60));
        assert!(
            other.verify(&t).is_err(),
            "another secret's token is refused"
        );
    }

    #[test]
    fn expired_tokens_fail() {
        let keys = TokenKeys::new(&[7u8; 32], Duration::from_secs(0));
        let t = keys.issue(UserId::new(), None).unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        assert!(keys.verify(&t).is_err());
    }
}
