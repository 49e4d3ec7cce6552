// The shapes the shell's commands return (src-tauri/commands), as serde writes them.

export type GlobalRole = "SUPER_ADMIN" | "ADMIN" | "MODERATOR" | "USER";
export type OrgRole = "OWNER" | "ADMIN" | "MEMBER" | "VIEWER";
export type Tier = "FREE" | "CUSTOM" | "STARTER" | "GROWTH" | "ELITE" | "ENTERPRISE";
export type ContactStatus = "ACTIVE" | "INACTIVE" | "DO_NOT_CONTACT";
export type ContactType = "PROSPECT" | "CLIENT" | "PAST_CLIENT" | "PARTNER" | "VENDOR";
export type DealStage =
  | "LEAD" | "QUALIFIED" | "PROPOSAL" | "NEGOTIATION" | "CLOSING" | "CLOSED_WON" | "CLOSED_LOST";
export type DealStatus = "ACTIVE" | "WON" | "LOST" | "ABANDONED";
export type TransactionType =
  | "PURCHASE_AGREEMENT" | "LISTING_AGREEMENT" | "LEASE_AGREEMENT" | "COMMERCIAL_PURCHASE"
  | "COMMERCIAL_LEASE";
export type LoopStatus =
  | "DRAFT" | "ACTIVE" | "UNDER_CONTRACT" | "CLOSING" | "CLOSED" | "CANCELLED" | "ARCHIVED";
export type TaskStatus = "PENDING" | "IN_PROGRESS" | "REVIEW" | "DONE" | "CANCELLED";

export interface FieldError { field: string; message: string }
export interface AppError { code: string; message: string; fields?: FieldError[] }

export interface Membership {
  organization_id: string; name: string; slug: string; role: OrgRole; tier: Tier;
}

export interface Profile {
  email: string; user_id: string; server_url: string; device_name: string;
  global_role: GlobalRole; organizations: Membership[]; current_org: string | null;
}

export type AppStatus =
  | { phase: "welcome"; default_server: string; last_email: string | null }
  | { phase: "locked"; email: string; server_url: string }
  | { phase: "ready"; profile: Profile };

export interface Permission { action: string; allowed: boolean; reason?: string }
export interface Permissions {
  global_role: GlobalRole; role: OrgRole; tier: Tier; actions: Permission[];
}

export interface Contact {
  id: string; organization_id: string; name: string; email: string | null; phone: string | null;
  company: string | null; position: string | null; contact_type: ContactType;
  status: ContactStatus; notes: string | null; tags: string[]; assigned_to_id: string | null;
  next_follow_up_at: string | null; last_contact_at: string | null; created_by: string;
  created_at: string; updated_at: string; assignee_name: string | null;
}

export type ContactSort = "name" | "created_at" | "updated_at" | "next_follow_up_at";
export interface ContactQuery {
  search?: string | null; status?: ContactStatus | null; contact_type?: ContactType | null;
  assigned_to?: string | null; sort: ContactSort; descending: boolean; limit: number;
  offset: number;
}

export interface Page<T> { items: T[]; total: number }

export interface ContactInput {
  name: string; email?: string | null; phone?: string | null; company?: string | null;
  position?: string | null; contact_type?: ContactType; status?: ContactStatus;
  notes?: string | null; tags?: string[]; next_follow_up_at?: string | null;
}

export interface Member {
  user_id: string; email: string; name: string; role: OrgRole; joined_at: string;
}

export interface Deal {
  id: string; title: string; value_cents: number; stage: DealStage; status: DealStatus;
  probability: number; contact_id: string | null; assigned_to_id: string | null;
  expected_close_date: string | null; created_at: string; updated_at: string;
}

export interface DealInput {
  title: string; value_cents: number; stage?: DealStage; probability?: number;
  expected_close_date?: string | null;
}

export interface TransactionLoop {
  id: string; property_address: string; transaction_type: TransactionType;
  listing_price_cents: number; status: LoopStatus; progress: number;
  expected_closing: string | null; created_at: string; updated_at: string;
}
export interface LoopSummary extends TransactionLoop { task_count: number; tasks_done: number }

export interface Task {
  id: string; loop_id: string; title: string; description: string | null; category: string;
  status: TaskStatus; priority: string; position: number; due_date: string | null;
  completed_at: string | null;
}
export interface LoopWithTasks extends TransactionLoop { tasks: Task[] }

export interface LoopInput {
  property_address: string; transaction_type: TransactionType; listing_price_cents: number;
  expected_closing?: string | null;
}

export interface StatusCount { status: ContactStatus; count: number }
export interface FollowUp {
  contact_id: string; name: string; next_follow_up_at: string; assignee_name: string | null;
}
export interface Dashboard {
  total_contacts: number; contacts_by_status: StatusCount[]; contacts_created_last_7_days: number;
  deal_count: number; deal_value_sum_cents: number; deal_value_avg_cents: number | null;
  upcoming_follow_ups: FollowUp[];
}

export interface ActivityItem {
  id: string; user_id: string; user_name: string; action: string; entity_type: string;
  entity_id: string; new_values: Record<string, unknown> | null; created_at: string;
}

export interface SyncStatus {
  last_seq: number; pending: number; last_sync_at: string | null; rejections: number;
  conflicts: number;
}
export interface Connection { online: boolean | null; syncing: boolean; last_error: string | null }
export interface SyncView {
  connection: Connection; status: SyncStatus; server_url: string; device_name: string;
}

export interface DeviceState {
  device_id: string; name: string; platform: string; user_id: string; user_name: string;
  last_seen_at: string; last_pulled_seq: number; behind: number; last_pull_at: string | null;
  last_push_at: string | null; pending_count: number; full_resync_requested: boolean;
}

export interface Conflict {
  id: string; entity_type: string; entity_id: string; entity_label: string | null; field: string;
  lost_value: string | null; winning_value: string | null; winner_user_id: string;
  winner_name: string | null; at: string | null;
}
export interface Rejection { client_seq: number; mutation: string; code: string; message: string; at: string }
export interface SyncIssues { conflicts: Conflict[]; rejections: Rejection[] }

// What the sync task reports (strive-replica engine::SyncEvent), forwarded as the `sync` event.
export type SyncEvent =
  | { kind: "syncing"; full: boolean }
  | { kind: "progress"; applied: number; last_seq: number }
  | { kind: "synced"; applied: number; rejected: number; pulled: number; status: SyncStatus }
  | { kind: "online" }
  | { kind: "offline"; error: string; retry_in_ms: number }
  | { kind: "activity"; item: ActivityItem }
  | { kind: "upload"; progress: UploadProgress }
  | { kind: "error"; message: string }
  | { kind: "signed_out"; message: string };

// Documents (strive-replica's documents API through src-tauri/commands/documents.rs).
export type DocumentType = "CONTRACT" | "DISCLOSURE" | "INSPECTION" | "APPRAISAL" | "TITLE" | "OTHER";
export type DocumentStatus = "DRAFT" | "SUBMITTED" | "APPROVED" | "RETURNED" | "ARCHIVED";

export interface DocumentRow {
  id: string; organization_id: string; loop_id: string; original_name: string; mime_type: string;
  file_size: number; document_type: DocumentType; status: DocumentStatus; version: number;
  current_version_id: string | null; is_encrypted: boolean; uploaded_by: string;
  submitted_at: string | null; submitted_by: string | null; reviewed_at: string | null;
  reviewed_by: string | null; review_note: string | null; created_at: string; updated_at: string;
  /** Readable here without the server. */
  on_device: boolean; pinned: boolean;
  /** Encrypted here, not on the server yet. */
  pending_upload: boolean;
}

export interface DocumentVersion {
  id: string; document_id: string; version: number; original_name: string; mime_type: string;
  file_size: number; ciphertext_size: number; uploaded_by: string; created_at: string;
}

export interface ReviewItem {
  id: string; loop_id: string; property_address: string; original_name: string;
  document_type: DocumentType; version: number; submitted_at: string | null;
  submitted_by: string | null; submitted_by_name: string | null;
}

export interface UploadProgress { document_id: string; name: string; sent: number; total: number }
export interface Uploaded { document_id: string; version_id: string; mime_type: string; size: number }

export interface WatchSetting { dir: string; loop_id: string; document_type: DocumentType }
export interface WatchView { setting: WatchSetting | null; running: boolean; error: string | null }
export type WatchEvent =
  | { kind: "imported"; name: string; document_id: string; version: string }
  | { kind: "already_imported"; name: string }
  | { kind: "rejected"; name: string; reason: string }
  | { kind: "failed"; name: string; error: string };
