-- The device's copy of one organization. Rows arrive from the server's change feed (pull) and
-- from local mutations; ids are UUIDv7 text, enums text, money integer cents, times RFC 3339 text.
-- No foreign keys: the server guarantees integrity, and changes may arrive in any table order.

CREATE TABLE organizations (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, slug TEXT NOT NULL,
  created_at TEXT, updated_at TEXT
);
CREATE TABLE organization_members (
  organization_id TEXT NOT NULL, user_id TEXT PRIMARY KEY, role TEXT NOT NULL,
  name TEXT, email TEXT, joined_at TEXT
);
CREATE TABLE subscriptions (
  organization_id TEXT PRIMARY KEY, tier TEXT NOT NULL, status TEXT,
  current_period_start TEXT, current_period_end TEXT, updated_at TEXT
);
CREATE TABLE contacts (
  id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, name TEXT NOT NULL, email TEXT, phone TEXT,
  company TEXT, position TEXT, contact_type TEXT NOT NULL, status TEXT NOT NULL, notes TEXT,
  tags TEXT NOT NULL DEFAULT '[]', assigned_to_id TEXT, next_follow_up_at TEXT,
  last_contact_at TEXT, created_by TEXT, created_at TEXT, updated_at TEXT
);
CREATE INDEX contacts_status ON contacts (status);
CREATE INDEX contacts_assignee ON contacts (assigned_to_id);
CREATE INDEX contacts_created ON contacts (created_at, id);
CREATE INDEX contacts_follow_up ON contacts (next_follow_up_at) WHERE next_follow_up_at IS NOT NULL;
CREATE TABLE deals (
  id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, title TEXT NOT NULL,
  value_cents INTEGER NOT NULL, stage TEXT NOT NULL, status TEXT NOT NULL,
  probability INTEGER NOT NULL, contact_id TEXT, assigned_to_id TEXT, expected_close_date TEXT,
  actual_close_date TEXT, lost_reason TEXT, description TEXT, created_by TEXT,
  created_at TEXT, updated_at TEXT
);
CREATE TABLE transaction_loops (
  id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, property_address TEXT NOT NULL,
  transaction_type TEXT NOT NULL, listing_price_cents INTEGER NOT NULL, status TEXT NOT NULL,
  progress INTEGER NOT NULL, expected_closing TEXT, actual_closing TEXT, created_by TEXT,
  created_at TEXT, updated_at TEXT
);
CREATE TABLE transaction_tasks (
  id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, loop_id TEXT NOT NULL, title TEXT NOT NULL,
  description TEXT, category TEXT NOT NULL, status TEXT NOT NULL, priority TEXT NOT NULL,
  position INTEGER NOT NULL, due_date TEXT, completed_at TEXT, created_by TEXT,
  created_at TEXT, updated_at TEXT
);
CREATE INDEX transaction_tasks_loop ON transaction_tasks (loop_id, position);
CREATE TABLE documents (
  id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, loop_id TEXT NOT NULL,
  original_name TEXT NOT NULL, mime_type TEXT NOT NULL, file_size INTEGER NOT NULL,
  storage_key TEXT NOT NULL, document_type TEXT NOT NULL, status TEXT NOT NULL,
  version INTEGER NOT NULL, uploaded_by TEXT, created_at TEXT, updated_at TEXT
);
CREATE TABLE audit_log (
  id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, user_id TEXT NOT NULL, action TEXT NOT NULL,
  entity_type TEXT NOT NULL, entity_id TEXT NOT NULL, new_values TEXT, created_at TEXT
);
CREATE INDEX audit_log_recent ON audit_log (created_at DESC, id DESC);

-- Sync bookkeeping.
CREATE TABLE sync_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE outbox (
  client_seq INTEGER PRIMARY KEY AUTOINCREMENT,
  mutation   TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
-- Optimistic local writes. A row touched by a mutation the server has not settled yet keeps its
-- server version here (NULL: the server does not have it); pulls update this copy instead of the
-- live row. When the last mutation touching the row settles (applied or rejected), the live row
-- becomes the server's version again: an applied change has arrived by then, a rejected one is
-- thereby rolled back.
CREATE TABLE shadows (
  tbl     TEXT NOT NULL,
  id      TEXT NOT NULL,
  row     TEXT,
  pending INTEGER NOT NULL,
  PRIMARY KEY (tbl, id)
);
-- Outbox states: pending (not yet accepted by the server), applied, rejected (settled, waiting
-- for the pull that follows the push before release).
ALTER TABLE outbox ADD COLUMN touched TEXT NOT NULL DEFAULT '[]';
ALTER TABLE outbox ADD COLUMN state TEXT NOT NULL DEFAULT 'pending';
CREATE TABLE rejections (
  client_seq INTEGER PRIMARY KEY,
  mutation   TEXT NOT NULL,
  code       TEXT NOT NULL,
  message    TEXT NOT NULL,
  at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
