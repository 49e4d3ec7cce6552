//! Document mutations: a new version (upload), a submission for review, a review.

use crate::documents::{check_declared_mime, display_name, DocumentKind, ReviewDecision};
use crate::documents::{DocumentRejection, MAX_NOTE_CHARS};
use crate::enums::DocumentType;
use crate::ids::{DocumentId, LoopId, VersionId};
use crate::validation::{Checker, ValidationError};
use serde::{Deserialize, Serialize};

/// A secret that travels inside a mutation (a document's data key): never shown by `Debug`, so
/// it cannot reach a log line by accident.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String))]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// A document version whose ciphertext the device has uploaded (the upload `version_id` is
/// complete): records it, with its data key for the server to wrap. With a `document_id` that
/// exists, it is that document's next version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadDocument {
    pub version_id: VersionId,
    pub document_id: DocumentId,
    pub loop_id: LoopId,
    pub name: String,
    pub mime_type: String,
    #[serde(default)]
    pub document_type: Option<DocumentType>,
    /// Plaintext bytes (the server checks it against the ciphertext it received).
    pub size: i64,
    pub ciphertext_size: i64,
    /// SHA-256 of the ciphertext, lowercase hex.
    pub sha256: String,
    /// The version's data key, base64: sent inside TLS, wrapped by the server at once.
    pub data_key: Secret,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NewVersion {
    pub version_id: VersionId,
    pub document_id: DocumentId,
    pub loop_id: LoopId,
    pub name: String,
    pub kind: DocumentKind,
    pub document_type: DocumentType,
    pub size: u64,
    pub ciphertext_size: u64,
    pub sha256: String,
    pub data_key: Secret,
}

/// A SHA-256 in lowercase hex.
pub fn check_sha256(text: &str) -> Result<String, String> {
    let t = text.trim().to_ascii_lowercase();
    if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(t)
    } else {
        Err("must be a SHA-256 in hex (64 characters)".into())
    }
}

fn check_key_text(k: &Secret) -> Result<(), String> {
    let ok = k.0.len() == 44
        && k.0
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
    ok.then_some(())
        .ok_or_else(|| "must be a 256-bit key in base64 (44 characters)".into())
}

impl UploadDocument {
    pub fn validate(self) -> Result<NewVersion, ValidationError> {
        let mut c = Checker::new();
        let name = c.check("name", display_name(&self.name));
        let kind = c.check("mime_type", check_declared_mime(&self.mime_type));
        let size = c.check(
            "size",
            u64::try_from(self.size).map_err(|_| "must be 0 or more"),
        );
        let ciphertext_size = c.check(
            "ciphertext_size",
            u64::try_from(self.ciphertext_size)
                .ok()
                .filter(|s| *s > 0)
                .ok_or("must be more than 0"),
        );
        let sha = c.check("sha256", check_sha256(&self.sha256));
        c.check("data_key", check_key_text(&self.data_key));
        c.finish(|| {
            Some(NewVersion {
                version_id: self.version_id,
                document_id: self.document_id,
                loop_id: self.loop_id,
                name: name?,
                kind: kind?,
                document_type: self.document_type.unwrap_or(DocumentType::Other),
                size: size?,
                ciphertext_size: ciphertext_size?,
                sha256: sha?,
                data_key: self.data_key,
            })
        })
    }
}

/// A reviewer's decision on a submitted document; returning it needs a note.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReviewDocument {
    pub id: DocumentId,
    pub decision: ReviewDecision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Review {
    pub id: DocumentId,
    pub decision: ReviewDecision,
    pub note: Option<String>,
}

impl ReviewDocument {
    pub fn validate(self) -> Result<Review, ValidationError> {
        let note = self
            .note
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty());
        let mut c = Checker::new();
        if let Some(n) = &note {
            if n.chars().count() > MAX_NOTE_CHARS {
                c.fail(
                    "note",
                    format!("must be at most {MAX_NOTE_CHARS} characters"),
                );
            }
        }
        if self.decision == ReviewDecision::Return && note.is_none() {
            c.fail(
                "note",
                "a returned document needs a note saying what to fix",
            );
        }
        c.finish(|| {
            Some(Review {
                id: self.id,
                decision: self.decision,
                note,
            })
        })
    }
}

impl From<DocumentRejection> for ValidationError {
    fn from(r: DocumentRejection) -> Self {
        ValidationError::single(
            match r {
                DocumentRejection::TooLarge { .. } => "size",
                DocumentRejection::UnsupportedType { .. } => "mime_type",
                DocumentRejection::EmptyName => "name",
            },
            r.to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload() -> UploadDocument {
        UploadDocument {
            version_id: VersionId::new(),
            document_id: DocumentId::new(),
            loop_id: LoopId::new(),
            name: "Offer.pdf".into(),
            mime_type: "application/pdf".into(),
            document_type: None,
            size: 10,
            ciphertext_size: 58,
            sha256: "AB".repeat(32),
            data_key: Secret("A".repeat(43) + "="),
        }
    }

    #[test]
    fn uploads_check_every_field_and_hide_the_key() {
        let v = upload().validate().unwrap();
        assert_eq!(v.sha256, "ab".repeat(32));
        assert_eq!(v.document_type, DocumentType::Other);
        assert!(!format!("{:?}", upload()).contains("AAAA"), "key in Debug");
        let bad = UploadDocument {
            name: " ".into(),
            mime_type: "application/x-msdownload".into(),
            size: -1,
            ciphertext_size: 0,
            sha256: "xyz".into(),
            data_key: Secret("short".into()),
            ..upload()
        };
        let fields: Vec<_> = bad
            .validate()
            .unwrap_err()
            .fields
            .into_iter()
            .map(|f| f.field)
            .collect();
        assert_eq!(
            fields,
            [
                "name",
                "mime_type",
                "size",
                "ciphertext_size",
                "sha256",
                "data_key"
            ]
        );
    }

    #[test]
    fn returning_needs_a_note() {
        let r = |decision, note: Option<&str>| {
            ReviewDocument {
                id: DocumentId::new(),
                decision,
                note: note.map(str::to_string),
            }
            .validate()
        };
        assert!(r(ReviewDecision::Approve, None).is_ok());
        let e = r(ReviewDecision::Return, Some("   ")).unwrap_err();
        assert_eq!(e.fields[0].field, "note");
        assert_eq!(
            r(ReviewDecision::Return, Some(" Sign page 3 "))
                .unwrap()
                .note,
            Some("Sign page 3".into())
        );
        assert!(r(ReviewDecision::Approve, Some(&"x".repeat(2001))).is_err());
    }
}
