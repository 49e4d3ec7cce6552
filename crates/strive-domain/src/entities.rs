//! Read models: rows as the server returns them and the replica stores them. Values here were
//! validated when they were written, so they are plain types.

use crate::enums::*;
use crate::ids::*;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

macro_rules! entity {
    ($(#[$doc:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub struct $name { $($body)* }
    };
}

entity!(
    pub struct Organization {
        pub id: OrgId,
        pub name: String,
        pub slug: String,
        pub created_at: DateTime<Utc>,
    }
);

entity!(
    /// An organization as one of its members sees it from the outside.
    pub struct Membership {
        pub organization_id: OrgId,
        pub name: String,
        pub slug: String,
        pub role: OrgRole,
        pub tier: Tier,
    }
);

entity!(
    pub struct Member {
        pub user_id: UserId,
        pub email: String,
        pub name: String,
        pub role: OrgRole,
        pub joined_at: DateTime<Utc>,
    }
);

entity!(
    /// A person's profile.
    pub struct User {
        pub id: UserId,
        pub email: String,
        pub name: String,
        pub role: GlobalRole,
        pub created_at: DateTime<Utc>,
    }
);

entity!(
    pub struct Contact {
        pub id: ContactId,
        pub organization_id: OrgId,
        pub name: String,
        pub email: Option<String>,
        pub phone: Option<String>,
        pub company: Option<String>,
        pub position: Option<String>,
        pub contact_type: ContactType,
        pub status: ContactStatus,
        pub notes: Option<String>,
        pub tags: Vec<String>,
        pub assigned_to_id: Option<UserId>,
        pub next_follow_up_at: Option<DateTime<Utc>>,
        pub last_contact_at: Option<DateTime<Utc>>,
        pub created_by: UserId,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
    }
);

entity!(
    pub struct Deal {
        pub id: DealId,
        pub organization_id: OrgId,
        pub title: String,
        pub value_cents: i64,
        pub stage: DealStage,
        pub status: DealStatus,
        pub probability: i32,
        pub contact_id: Option<ContactId>,
        pub assigned_to_id: Option<UserId>,
        pub expected_close_date: Option<NaiveDate>,
        pub actual_close_date: Option<NaiveDate>,
        pub lost_reason: Option<String>,
        pub description: Option<String>,
        pub created_by: UserId,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
    }
);

entity!(
    pub struct TransactionLoop {
        pub id: LoopId,
        pub organization_id: OrgId,
        pub property_address: String,
        pub transaction_type: TransactionType,
        pub listing_price_cents: i64,
        pub status: LoopStatus,
        pub progress: i32,
        pub expected_closing: Option<NaiveDate>,
        pub actual_closing: Option<NaiveDate>,
        pub created_by: UserId,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
    }
);

entity!(
    pub struct Task {
        pub id: TaskId,
        pub organization_id: OrgId,
        pub loop_id: LoopId,
        pub title: String,
        pub description: Option<String>,
        pub category: TaskCategory,
        pub status: TaskStatus,
        pub priority: TaskPriority,
        pub position: i32,
        pub due_date: Option<NaiveDate>,
        pub completed_at: Option<DateTime<Utc>>,
        pub created_by: UserId,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
    }
);

/// A loop with its tasks in order, read in one query.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoopWithTasks {
    #[serde(flatten)]
    #[cfg_attr(feature = "sqlx", sqlx(flatten))]
    pub transaction_loop: TransactionLoop,
    #[cfg_attr(feature = "sqlx", sqlx(json))]
    pub tasks: Vec<Task>,
}

entity!(
    /// One line of the activity feed (an audit row with its author's name).
    pub struct ActivityItem {
        pub id: AuditId,
        pub organization_id: OrgId,
        pub user_id: UserId,
        pub user_name: String,
        pub action: String,
        pub entity_type: String,
        pub entity_id: uuid::Uuid,
        /// Absent from realtime notices (they stay small); the change feed carries it.
        #[cfg_attr(feature = "openapi", schema(value_type = Object))]
        #[serde(default)]
        pub new_values: serde_json::Value,
        pub created_at: DateTime<Utc>,
    }
);

entity!(
    pub struct StatusCount {
        pub status: ContactStatus,
        pub count: i64,
    }
);

entity!(
    pub struct FollowUp {
        pub contact_id: ContactId,
        pub name: String,
        pub next_follow_up_at: DateTime<Utc>,
        pub assignee_name: Option<String>,
    }
);

/// The CRM dashboard (the platform's Pattern 7).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Dashboard {
    pub total_contacts: i64,
    pub contacts_by_status: Vec<StatusCount>,
    pub contacts_created_last_7_days: i64,
    pub deal_count: i64,
    pub deal_value_sum_cents: i64,
    /// Rounded to the cent; `None` when there are no deals.
    pub deal_value_avg_cents: Option<i64>,
    pub upcoming_follow_ups: Vec<FollowUp>,
}

entity!(
    /// A device of the organization's members and how far its sync has come (admins' view).
    pub struct DeviceState {
        pub device_id: DeviceId,
        pub name: String,
        pub platform: String,
        pub user_id: UserId,
        pub user_name: String,
        pub last_seen_at: DateTime<Utc>,
        pub last_pulled_seq: i64,
        /// How many changes the device has not pulled yet.
        pub behind: i64,
        pub last_pull_at: Option<DateTime<Utc>>,
        pub last_push_at: Option<DateTime<Utc>>,
        pub pending_count: i32,
        pub full_resync_requested: bool,
    }
);

entity!(
    /// A transaction document: its current version and where it is in its review.
    pub struct Document {
        pub id: DocumentId,
        pub organization_id: OrgId,
        pub loop_id: LoopId,
        pub original_name: String,
        pub mime_type: String,
        /// Plaintext bytes of the current version.
        pub file_size: i64,
        pub document_type: DocumentType,
        pub status: DocumentStatus,
        pub version: i32,
        pub current_version_id: Option<VersionId>,
        pub is_encrypted: bool,
        pub uploaded_by: UserId,
        pub submitted_at: Option<DateTime<Utc>>,
        pub submitted_by: Option<UserId>,
        pub reviewed_at: Option<DateTime<Utc>>,
        pub reviewed_by: Option<UserId>,
        pub review_note: Option<String>,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
    }
);

entity!(
    /// One version of a document (every upload of it is kept).
    pub struct DocumentVersion {
        pub id: VersionId,
        pub organization_id: OrgId,
        pub document_id: DocumentId,
        pub version: i32,
        pub original_name: String,
        pub mime_type: String,
        pub file_size: i64,
        pub ciphertext_size: i64,
        /// SHA-256 of the ciphertext, hex.
        pub sha256: String,
        pub storage_key: String,
        pub uploaded_by: UserId,
        pub created_at: DateTime<Utc>,
    }
);

entity!(
    /// A document waiting for review, with what a reviewer needs to pick it up.
    pub struct ReviewItem {
        pub id: DocumentId,
        pub loop_id: LoopId,
        pub property_address: String,
        pub original_name: String,
        pub document_type: DocumentType,
        pub version: i32,
        pub submitted_at: Option<DateTime<Utc>>,
        pub submitted_by: Option<UserId>,
        pub submitted_by_name: Option<String>,
    }
);
