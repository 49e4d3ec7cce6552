//! Documents, their versions and review, in SQL.

use crate::error::{ApiError, ApiResult};
use serde::Deserialize;
use sqlx::PgConnection;
use strive_domain::entities::{Document, DocumentVersion, ReviewItem};
use strive_domain::{DocumentId, DocumentStatus, LoopId, OrgId, UserId, VersionId};

const DOCUMENT_COLUMNS: &str = "id, organization_id, loop_id, original_name, mime_type, file_size,
    document_type, status, version, current_version_id, is_encrypted, uploaded_by, submitted_at,
    submitted_by, reviewed_at, reviewed_by, review_note, created_at, updated_at";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentFilter {
    pub loop_id: Option<LoopId>,
    pub status: Option<DocumentStatus>,
}

pub async fn list(
    conn: &mut PgConnection,
    org: OrgId,
    f: DocumentFilter,
) -> ApiResult<Vec<Document>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {DOCUMENT_COLUMNS} FROM documents
          WHERE organization_id = $1 AND ($2::uuid IS NULL OR loop_id = $2)
            AND ($3::text IS NULL OR status = $3)
          ORDER BY created_at, id LIMIT 1000"
    ))
    .bind(org)
    .bind(f.loop_id)
    .bind(f.status)
    .fetch_all(conn)
    .await?)
}

pub async fn get(conn: &mut PgConnection, org: OrgId, id: DocumentId) -> ApiResult<Document> {
    sqlx::query_as(&format!(
        "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE organization_id = $1 AND id = $2"
    ))
    .bind(org)
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ApiError::not_found("Document"))
}

/// The document locked for a change of its versions or review, if it exists.
pub async fn lock(
    conn: &mut PgConnection,
    org: OrgId,
    id: DocumentId,
) -> ApiResult<Option<Document>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE organization_id = $1 AND id = $2 FOR UPDATE"
    ))
    .bind(org)
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

pub async fn versions(
    conn: &mut PgConnection,
    org: OrgId,
    id: DocumentId,
) -> ApiResult<Vec<DocumentVersion>> {
    let rows: Vec<DocumentVersion> = sqlx::query_as(
        "SELECT id, organization_id, document_id, version, original_name, mime_type, file_size,
                ciphertext_size, sha256, storage_key, uploaded_by, created_at
           FROM document_versions WHERE organization_id = $1 AND document_id = $2
          ORDER BY version",
    )
    .bind(org)
    .bind(id)
    .fetch_all(conn)
    .await?;
    Ok(rows)
}

/// One version (the current one when `version` is `None`).
pub async fn version(
    conn: &mut PgConnection,
    org: OrgId,
    id: DocumentId,
    version: Option<i32>,
) -> ApiResult<DocumentVersion> {
    sqlx::query_as(
        "SELECT v.id, v.organization_id, v.document_id, v.version, v.original_name, v.mime_type,
                v.file_size, v.ciphertext_size, v.sha256, v.storage_key, v.uploaded_by, v.created_at
           FROM document_versions v JOIN documents d
             ON d.organization_id = v.organization_id AND d.id = v.document_id
          WHERE v.organization_id = $1 AND v.document_id = $2
            AND v.version = coalesce($3, d.version)",
    )
    .bind(org)
    .bind(id)
    .bind(version)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ApiError::not_found("Document version"))
}

/// Where a version's ciphertext is stored.
pub async fn storage_of(
    conn: &mut PgConnection,
    org: OrgId,
    version: VersionId,
) -> ApiResult<(String, i64)> {
    sqlx::query_as(
        "SELECT storage_key, ciphertext_size FROM document_versions
          WHERE organization_id = $1 AND id = $2",
    )
    .bind(org)
    .bind(version)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ApiError::not_found("Document version"))
}

/// A new version's metadata row; with `first` the document row too, else the document now
/// points at this version and starts its review over.
pub struct NewVersionRow<'a> {
    pub org: OrgId,
    pub user: UserId,
    pub version_id: VersionId,
    pub document_id: DocumentId,
    pub loop_id: LoopId,
    pub name: &'a str,
    pub mime: &'a str,
    pub document_type: strive_domain::DocumentType,
    pub size: i64,
    pub ciphertext_size: i64,
    pub sha256: &'a str,
    pub storage_key: &'a str,
}

pub async fn insert_version(
    conn: &mut PgConnection,
    row: &NewVersionRow<'_>,
    first: bool,
) -> ApiResult<(Document, i32)> {
    let number: i32 = if first {
        sqlx::query(
            "INSERT INTO documents (organization_id, id, loop_id, original_name, mime_type,
                                    file_size, storage_key, document_type, status, version,
                                    current_version_id, ciphertext_size, uploaded_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'DRAFT', 1, $9, $10, $11)",
        )
        .bind(row.org)
        .bind(row.document_id)
        .bind(row.loop_id)
        .bind(row.name)
        .bind(row.mime)
        .bind(row.size)
        .bind(row.storage_key)
        .bind(row.document_type)
        .bind(row.version_id)
        .bind(row.ciphertext_size)
        .bind(row.user)
        .execute(&mut *conn)
        .await?;
        1
    } else {
        sqlx::query_scalar(
            "UPDATE documents SET version = version + 1, original_name = $3, mime_type = $4,
                    file_size = $5, storage_key = $6, document_type = $7, status = 'DRAFT',
                    current_version_id = $8, ciphertext_size = $9, submitted_at = NULL,
                    submitted_by = NULL, reviewed_at = NULL, reviewed_by = NULL, updated_at = now()
              WHERE organization_id = $1 AND id = $2 RETURNING version",
        )
        .bind(row.org)
        .bind(row.document_id)
        .bind(row.name)
        .bind(row.mime)
        .bind(row.size)
        .bind(row.storage_key)
        .bind(row.document_type)
        .bind(row.version_id)
        .bind(row.ciphertext_size)
        .fetch_one(&mut *conn)
        .await?
    };
    sqlx::query(
        "INSERT INTO document_versions (organization_id, id, document_id, version, original_name,
                                        mime_type, file_size, ciphertext_size, sha256, storage_key,
                                        uploaded_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(row.org)
    .bind(row.version_id)
    .bind(row.document_id)
    .bind(number)
    .bind(row.name)
    .bind(row.mime)
    .bind(row.size)
    .bind(row.ciphertext_size)
    .bind(row.sha256)
    .bind(row.storage_key)
    .bind(row.user)
    .execute(&mut *conn)
    .await?;
    Ok((get(conn, row.org, row.document_id).await?, number))
}

/// Moves a document to `status` for a submission (`submitted`) or a review.
pub async fn set_review_state(
    conn: &mut PgConnection,
    org: OrgId,
    id: DocumentId,
    status: DocumentStatus,
    user: UserId,
    note: Option<&str>,
) -> ApiResult<Document> {
    let submitted = status == DocumentStatus::Submitted;
    sqlx::query(
        "UPDATE documents SET status = $3, updated_at = now(),
                submitted_at = CASE WHEN $4 THEN now() ELSE submitted_at END,
                submitted_by = CASE WHEN $4 THEN $5 ELSE submitted_by END,
                reviewed_at = CASE WHEN $4 THEN NULL ELSE now() END,
                reviewed_by = CASE WHEN $4 THEN NULL ELSE $5 END,
                review_note = CASE WHEN $4 THEN review_note ELSE $6 END
          WHERE organization_id = $1 AND id = $2",
    )
    .bind(org)
    .bind(id)
    .bind(status)
    .bind(submitted)
    .bind(user)
    .bind(note)
    .execute(&mut *conn)
    .await?;
    get(conn, org, id).await
}

/// Submitted documents across the organization's loops, oldest submission first.
pub async fn review_queue(conn: &mut PgConnection, org: OrgId) -> ApiResult<Vec<ReviewItem>> {
    Ok(sqlx::query_as(
        "SELECT d.id, d.loop_id, l.property_address, d.original_name, d.document_type, d.version,
                d.submitted_at, d.submitted_by, u.name AS submitted_by_name
           FROM documents d
           JOIN transaction_loops l ON l.organization_id = d.organization_id AND l.id = d.loop_id
           LEFT JOIN users u ON u.id = d.submitted_by
          WHERE d.organization_id = $1 AND d.status = 'SUBMITTED'
          ORDER BY d.submitted_at, d.id LIMIT 1000",
    )
    .bind(org)
    .fetch_all(conn)
    .await?)
}
