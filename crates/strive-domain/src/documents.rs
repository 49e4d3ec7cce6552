//! Rules for transaction documents, called where each applies: content sniffing and the size
//! limit on the device (where the plaintext is), the MIME allow-list and the size limit on the
//! server (which sees ciphertext only), the storage key's sanitizing rule, and the review
//! workflow's transitions on both.

use crate::enums::DocumentStatus;
use crate::ids::{LoopId, OrgId};
use serde::{Deserialize, Serialize};

/// 100 MB: the default largest document (plaintext), configurable on server and device.
pub const DEFAULT_MAX_DOCUMENT_BYTES: u64 = 100 * 1024 * 1024;
/// Longest display name kept.
pub const MAX_NAME_CHARS: usize = 255;
/// Longest sanitized name in a storage key (the key stays well under any file system's limit).
pub const MAX_KEY_NAME_CHARS: usize = 120;
/// Longest review note.
pub const MAX_NOTE_CHARS: usize = 2000;

/// The kinds of file a transaction document may be, found from its bytes, never its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DocumentKind {
    Pdf,
    Png,
    Jpeg,
    Docx,
    Xlsx,
    Text,
}

impl DocumentKind {
    pub const ALL: &'static [DocumentKind] = &[
        DocumentKind::Pdf,
        DocumentKind::Png,
        DocumentKind::Jpeg,
        DocumentKind::Docx,
        DocumentKind::Xlsx,
        DocumentKind::Text,
    ];

    pub fn mime(&self) -> &'static str {
        match self {
            DocumentKind::Pdf => "application/pdf",
            DocumentKind::Png => "image/png",
            DocumentKind::Jpeg => "image/jpeg",
            DocumentKind::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
            DocumentKind::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
            DocumentKind::Text => "text/plain",
        }
    }

    /// The kind a declared MIME type names, if it is on the allow-list (parameters such as
    /// `; charset=utf-8` are ignored).
    pub fn from_mime(mime: &str) -> Option<Self> {
        let base = mime.split(';').next().unwrap_or("").trim();
        Self::ALL
            .iter()
            .copied()
            .find(|k| k.mime().eq_ignore_ascii_case(base))
    }

    /// The usual extension, for naming a downloaded copy that lost its own.
    pub fn extension(&self) -> &'static str {
        match self {
            DocumentKind::Pdf => "pdf",
            DocumentKind::Png => "png",
            DocumentKind::Jpeg => "jpg",
            DocumentKind::Docx => "docx",
            DocumentKind::Xlsx => "xlsx",
            DocumentKind::Text => "txt",
        }
    }
}

/// Why a document was refused. Each has its own code and message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DocumentRejection {
    #[error("the document is {size} bytes; the largest allowed is {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
    #[error("{what} is not an allowed document type; allowed: PDF, PNG, JPEG, Word (.docx), Excel (.xlsx) and plain text")]
    UnsupportedType { what: String },
    #[error("a document needs a file name")]
    EmptyName,
}

impl DocumentRejection {
    /// Stable machine-readable code (the API's `code`).
    pub fn code(&self) -> &'static str {
        match self {
            DocumentRejection::TooLarge { .. } => "document_too_large",
            DocumentRejection::UnsupportedType { .. } => "unsupported_document_type",
            DocumentRejection::EmptyName => "document_name_missing",
        }
    }
}

/// The size limit, applied to the plaintext size.
pub fn check_size(size: u64, limit: u64) -> Result<(), DocumentRejection> {
    if size > limit {
        return Err(DocumentRejection::TooLarge { size, limit });
    }
    Ok(())
}

/// The server's allow-list check of a declared MIME type.
pub fn check_declared_mime(mime: &str) -> Result<DocumentKind, DocumentRejection> {
    DocumentKind::from_mime(mime).ok_or_else(|| DocumentRejection::UnsupportedType {
        what: format!("'{}'", mime.chars().take(100).collect::<String>()),
    })
}

/// How many bytes of the file's beginning [`sniff`] wants.
pub const SNIFF_HEAD: usize = 8 * 1024;
/// How many bytes of the file's end [`sniff`] wants (a ZIP's central directory).
pub const SNIFF_TAIL: usize = 64 * 1024;

/// The kind of a file from its first bytes (`head`, up to [`SNIFF_HEAD`]) and, for ZIP-based
/// Office files, its last bytes (`tail`, up to [`SNIFF_TAIL`]). The name plays no part.
pub fn sniff(head: &[u8], tail: &[u8]) -> Result<DocumentKind, DocumentRejection> {
    let refuse = |what: &str| {
        Err(DocumentRejection::UnsupportedType {
            what: what.to_string(),
        })
    };
    if head.starts_with(b"%PDF-") {
        return Ok(DocumentKind::Pdf);
    }
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(DocumentKind::Png);
    }
    if head.starts_with(b"\xFF\xD8\xFF") {
        return Ok(DocumentKind::Jpeg);
    }
    if head.starts_with(b"PK\x03\x04") {
        let names = zip_names(tail);
        let has = |n: &str| names.iter().any(|x| x == n);
        let under = |p: &str| names.iter().any(|x| x.starts_with(p));
        if has("[Content_Types].xml") && under("word/") {
            return Ok(DocumentKind::Docx);
        }
        if has("[Content_Types].xml") && under("xl/") {
            return Ok(DocumentKind::Xlsx);
        }
        return refuse("a ZIP archive that is not a Word or Excel document");
    }
    let known: &[(&[u8], &str)] = &[
        (b"\x7FELF", "an executable (ELF)"),
        (b"MZ", "a Windows executable"),
        (b"GIF8", "a GIF image"),
        (b"\xD0\xCF\x11\xE0", "an old-style Office file (.doc/.xls)"),
        (b"\x1F\x8B", "a gzip archive"),
        (b"Rar!", "a RAR archive"),
        (b"7z\xBC\xAF", "a 7-Zip archive"),
        (b"#!", "a script"),
    ];
    if let Some((_, what)) = known.iter().find(|(magic, _)| head.starts_with(magic)) {
        return refuse(what);
    }
    if looks_like_text(head) {
        return Ok(DocumentKind::Text);
    }
    refuse("binary data of an unknown kind")
}

/// UTF-8 (a sequence cut by the end of `head` allowed) without control characters other than
/// tab, line feed, form feed and carriage return.
fn looks_like_text(head: &[u8]) -> bool {
    let valid = match std::str::from_utf8(head) {
        Ok(s) => s,
        // Only an incomplete sequence at the very end (the head cut a character) is forgiven.
        Err(e) if e.error_len().is_none() && head.len() - e.valid_up_to() < 4 => {
            match std::str::from_utf8(&head[..e.valid_up_to()]) {
                Ok(s) => s,
                Err(_) => return false,
            }
        }
        Err(_) => return false,
    };
    valid
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\x0C'))
}

/// File names in a ZIP's central directory, as far as `tail` holds it. Never panics.
fn zip_names(tail: &[u8]) -> Vec<String> {
    const CDH: &[u8] = b"PK\x01\x02";
    let mut out = Vec::new();
    let mut i = 0;
    while i + 46 <= tail.len() {
        if &tail[i..i + 4] != CDH {
            i += 1;
            continue;
        }
        let le16 = |at: usize| u16::from_le_bytes([tail[at], tail[at + 1]]) as usize;
        let (name_len, extra, comment) = (le16(i + 28), le16(i + 30), le16(i + 32));
        let start = i + 46;
        let Some(name) = tail.get(start..start + name_len) else {
            break;
        };
        out.push(String::from_utf8_lossy(name).into_owned());
        i = start + name_len + extra + comment;
    }
    out
}

/// The platform's sanitizing rule for storage keys: every character but ASCII letters, digits,
/// `.` and `-` becomes `_`. Also: leading dots go (no `.` or `..` component, no hidden file),
/// the length is bounded (keeping the extension), and an empty result becomes `document`. The
/// result never contains `/`, `\`, NUL or `..` at its start, so it is always one path segment.
pub fn sanitize_name(name: &str) -> String {
    let mapped: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = mapped.trim_start_matches('.');
    let bounded = if trimmed.chars().count() > MAX_KEY_NAME_CHARS {
        // Keep a short extension (".pdf") so the stored object still says what it is.
        let ext = trimmed
            .rfind('.')
            .map(|i| &trimmed[i..])
            .filter(|e| e.len() <= 10)
            .unwrap_or("");
        let keep = MAX_KEY_NAME_CHARS - ext.len();
        format!("{}{ext}", &trimmed[..keep])
    } else {
        trimmed.to_string()
    };
    if bounded.is_empty() {
        "document".to_string()
    } else {
        bounded
    }
}

/// Where a document version's ciphertext is stored:
/// `{organization_id}/transactions/{loop_id}/{timestamp}-{sanitized_name}`. Only the sanitized
/// name comes from the user; ids are typed and the timestamp is the server's.
pub fn storage_key(org: OrgId, loop_id: LoopId, timestamp_ms: i64, name: &str) -> String {
    format!(
        "{org}/transactions/{loop_id}/{timestamp_ms}-{}",
        sanitize_name(name)
    )
}

/// A name as people see it: control characters (NUL included) become `_`, surrounding space
/// goes, at most [`MAX_NAME_CHARS`] characters. Never used as a path.
pub fn display_name(name: &str) -> Result<String, DocumentRejection> {
    let cleaned: String = name
        .trim()
        .chars()
        .map(|c| if c.is_control() { '_' } else { c })
        .take(MAX_NAME_CHARS)
        .collect();
    if cleaned.is_empty() {
        return Err(DocumentRejection::EmptyName);
    }
    Ok(cleaned)
}

/// A reviewer's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReviewDecision {
    Approve,
    Return,
}

impl ReviewDecision {
    pub fn outcome(&self) -> DocumentStatus {
        match self {
            ReviewDecision::Approve => DocumentStatus::Approved,
            ReviewDecision::Return => DocumentStatus::Returned,
        }
    }
}

/// A step of the workflow the document's current status does not allow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WrongStatus(pub String);

/// DRAFT -> SUBMITTED (an agent asks for review). A returned document comes back as a new
/// version, which starts as a draft: what was returned is not submitted again unchanged.
pub fn submit(current: DocumentStatus) -> Result<DocumentStatus, WrongStatus> {
    match current {
        DocumentStatus::Draft => Ok(DocumentStatus::Submitted),
        DocumentStatus::Returned => Err(WrongStatus(
            "This document was returned: upload a corrected version, then submit that".into(),
        )),
        other => Err(WrongStatus(format!(
            "Only a draft document can be submitted for review; this one is {other}"
        ))),
    }
}

/// SUBMITTED -> APPROVED or RETURNED (a reviewer decides).
pub fn review(
    current: DocumentStatus,
    decision: ReviewDecision,
) -> Result<DocumentStatus, WrongStatus> {
    match current {
        DocumentStatus::Submitted => Ok(decision.outcome()),
        other => Err(WrongStatus(format!(
            "Only a submitted document can be reviewed; this one is {other}"
        ))),
    }
}

/// A new version starts over as a draft: what was approved or returned was another file.
pub fn after_new_version(_current: DocumentStatus) -> DocumentStatus {
    DocumentStatus::Draft
}

#[cfg(test)]
mod tests;
