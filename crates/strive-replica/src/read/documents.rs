//! Documents as the device knows them: by loop, their versions, the review queue.

use super::rows::{parse, parse_opt};
use crate::error::ReplicaError;
use crate::open::Replica;
use serde::{Deserialize, Serialize};
use strive_domain::entities::{Document, DocumentVersion, ReviewItem};
use strive_domain::{DocumentId, DocumentStatus, LoopId};

/// A document in a list, with what this device has of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DocumentRow {
    #[serde(flatten)]
    pub document: Document,
    /// Its current version's ciphertext is in this device's vault (readable offline).
    pub on_device: bool,
    pub pinned: bool,
    /// Encrypted here and not yet on the server.
    pub pending_upload: bool,
}

const COLUMNS: &str = "d.id, d.organization_id, d.loop_id, d.original_name, d.mime_type,
    d.file_size, d.document_type, d.status, d.version, d.current_version_id, d.is_encrypted,
    d.uploaded_by, d.submitted_at, d.submitted_by, d.reviewed_at, d.reviewed_by, d.review_note,
    d.created_at, d.updated_at";

fn document(r: &rusqlite::Row<'_>) -> rusqlite::Result<Document> {
    Ok(Document {
        id: parse(r, 0)?,
        organization_id: parse(r, 1)?,
        loop_id: parse(r, 2)?,
        original_name: r.get(3)?,
        mime_type: r.get(4)?,
        file_size: r.get(5)?,
        document_type: parse(r, 6)?,
        status: parse(r, 7)?,
        version: r.get(8)?,
        current_version_id: parse_opt(r, 9)?,
        is_encrypted: r.get::<_, i64>(10)? != 0,
        uploaded_by: parse(r, 11)?,
        submitted_at: parse_opt(r, 12)?,
        submitted_by: parse_opt(r, 13)?,
        reviewed_at: parse_opt(r, 14)?,
        reviewed_by: parse_opt(r, 15)?,
        review_note: r.get(16)?,
        created_at: parse(r, 17)?,
        updated_at: parse(r, 18)?,
    })
}

impl Replica {
    /// Documents, oldest first, of one loop or all, of one status or any.
    pub fn documents(
        &self,
        loop_id: Option<LoopId>,
        status: Option<DocumentStatus>,
    ) -> Result<Vec<DocumentRow>, ReplicaError> {
        let sql = format!(
            "SELECT {COLUMNS},
                    EXISTS (SELECT 1 FROM vault v WHERE v.version_id = d.current_version_id),
                    EXISTS (SELECT 1 FROM pins p WHERE p.document_id = d.id),
                    EXISTS (SELECT 1 FROM vault v WHERE v.document_id = d.id AND v.state = 'upload')
               FROM documents d
              WHERE (?1 IS NULL OR d.loop_id = ?1) AND (?2 IS NULL OR d.status = ?2)
              ORDER BY d.created_at, d.id LIMIT 1000"
        );
        let rows = self
            .conn
            .prepare_cached(&sql)?
            .query_map(
                rusqlite::params![loop_id.map(|l| l.to_string()), status.map(|s| s.as_str())],
                |r| {
                    Ok(DocumentRow {
                        document: document(r)?,
                        on_device: r.get(19)?,
                        pinned: r.get(20)?,
                        pending_upload: r.get(21)?,
                    })
                },
            )?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    pub fn document(&self, id: DocumentId) -> Result<Option<Document>, ReplicaError> {
        let sql = format!("SELECT {COLUMNS} FROM documents d WHERE d.id = ?1");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query_map([id.to_string()], document)?;
        Ok(rows.next().transpose()?)
    }

    pub fn document_versions(&self, id: DocumentId) -> Result<Vec<DocumentVersion>, ReplicaError> {
        let rows = self
            .conn
            .prepare_cached(
                "SELECT id, organization_id, document_id, version, original_name, mime_type,
                        file_size, ciphertext_size, sha256, storage_key, uploaded_by, created_at
                   FROM document_versions WHERE document_id = ?1 ORDER BY version",
            )?
            .query_map([id.to_string()], |r| {
                Ok(DocumentVersion {
                    id: parse(r, 0)?,
                    organization_id: parse(r, 1)?,
                    document_id: parse(r, 2)?,
                    version: r.get(3)?,
                    original_name: r.get(4)?,
                    mime_type: r.get(5)?,
                    file_size: r.get(6)?,
                    ciphertext_size: r.get(7)?,
                    sha256: r.get(8)?,
                    storage_key: r.get(9)?,
                    uploaded_by: parse(r, 10)?,
                    created_at: parse(r, 11)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Submitted documents across the organization's loops, oldest submission first (the same
    /// list as the server's review queue).
    pub fn review_queue(&self) -> Result<Vec<ReviewItem>, ReplicaError> {
        let rows = self
            .conn
            .prepare_cached(
                "SELECT d.id, d.loop_id, coalesce(l.property_address, ''), d.original_name,
                        d.document_type, d.version, d.submitted_at, d.submitted_by, m.name
                   FROM documents d
                   LEFT JOIN transaction_loops l ON l.id = d.loop_id
                   LEFT JOIN organization_members m ON m.user_id = d.submitted_by
                  WHERE d.status = 'SUBMITTED'
                  ORDER BY d.submitted_at, d.id LIMIT 1000",
            )?
            .query_map([], |r| {
                Ok(ReviewItem {
                    id: parse(r, 0)?,
                    loop_id: parse(r, 1)?,
                    property_address: r.get(2)?,
                    original_name: r.get(3)?,
                    document_type: parse(r, 4)?,
                    version: r.get(5)?,
                    submitted_at: parse_opt(r, 6)?,
                    submitted_by: parse_opt(r, 7)?,
                    submitted_by_name: r.get(8)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }
}
