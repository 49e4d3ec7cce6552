//! The activity feed: recent audit rows with their authors' names.

use crate::error::ApiResult;
use sqlx::PgConnection;
use strive_domain::entities::ActivityItem;
use strive_domain::OrgId;

/// The audit action of a data-key unwrap. Every unwrap is audited, but as noise in a feed of
/// what people did (every view of a document would show), it stays out of the activity feed.
pub const KEY_ACCESS: &str = "accessed_document_key";

pub async fn recent(
    conn: &mut PgConnection,
    org: OrgId,
    limit: i64,
) -> ApiResult<Vec<ActivityItem>> {
    Ok(sqlx::query_as(
        "SELECT a.id, a.organization_id, a.user_id, u.name AS user_name, a.action, a.entity_type,
                a.entity_id, a.new_values, a.created_at
           FROM audit_log a JOIN users u ON u.id = a.user_id
          WHERE a.organization_id = $1 AND a.action <> 'accessed_document_key'
          ORDER BY a.created_at DESC, a.id DESC
          LIMIT $2",
    )
    .bind(org)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}
