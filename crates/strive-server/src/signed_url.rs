//! Signed blob URLs: `GET /v1/blobs/{org}/{version}?user=..&expires=..&sig=..`, an HMAC-SHA256
//! over the organization, the version, the member it was issued to and the expiry. Scoped to one
//! object of one organization; the member must still be allowed to view documents when it is used.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use strive_domain::{OrgId, UserId, VersionId};

/// Why a signed URL was refused (each a 403 with its own code).
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Expired,
    BadSignature,
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Expired => "url_expired",
            Refusal::BadSignature => "url_signature_invalid",
        }
    }

    pub fn message(&self) -> &'static str {
        match self {
            Refusal::Expired => "This link has expired; ask for a new one",
            Refusal::BadSignature => {
                "This link is not valid: it was altered, or it is for another document or organization"
            }
        }
    }
}

fn mac(key: &[u8; 32], org: OrgId, version: VersionId, user: UserId, expires: i64) -> Hmac<Sha256> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts 32-byte keys"));
    m.update(format!("blob v1\n{org}\n{version}\n{user}\n{expires}").as_bytes());
    m
}

/// The URL's path and query (the client prefixes its server's base URL).
pub fn sign(key: &[u8; 32], org: OrgId, version: VersionId, user: UserId, expires: i64) -> String {
    let sig = hex::encode(
        mac(key, org, version, user, expires)
            .finalize()
            .into_bytes(),
    );
    format!("/v1/blobs/{org}/{version}?user={user}&expires={expires}&sig={sig}")
}

/// Checks a URL's signature (constant time) and then its expiry.
pub fn verify(
    key: &[u8; 32],
    org: OrgId,
    version: VersionId,
    user: UserId,
    expires: i64,
    sig: &str,
    now: i64,
) -> Result<(), Refusal> {
    let raw = hex::decode(sig).map_err(|_| Refusal::BadSignature)?;
    mac(key, org, version, user, expires)
        .verify_slice(&raw)
        .map_err(|_| Refusal::BadSignature)?;
    if now > expires {
        return Err(Refusal::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_change_breaks_the_signature() {
        let key = [7u8; 32];
        let (org, v, u) = (OrgId::new(), VersionId::new(), UserId::new());
        let url = sign(&key, org, v, u, 1000);
        let sig = url.rsplit("sig=").next().unwrap();
        assert_eq!(verify(&key, org, v, u, 1000, sig, 999), Ok(()));
        assert_eq!(
            verify(&key, org, v, u, 1000, sig, 1001),
            Err(Refusal::Expired)
        );
        let bad = Err(Refusal::BadSignature);
        assert_eq!(verify(&key, OrgId::new(), v, u, 1000, sig, 0), bad);
        assert_eq!(verify(&key, org, VersionId::new(), u, 1000, sig, 0), bad);
        assert_eq!(verify(&key, org, v, UserId::new(), 1000, sig, 0), bad);
        assert_eq!(verify(&key, org, v, u, 99999, sig, 0), bad);
        assert_eq!(verify(&[8u8; 32], org, v, u, 1000, sig, 0), bad);
        assert_eq!(verify(&key, org, v, u, 1000, "zz", 0), bad);
    }
}
