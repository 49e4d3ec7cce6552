-- Transaction documents on the device (server migration 0004). Metadata syncs like any table;
-- the content stays encrypted in the vault (a directory next to this file: ciphertext only), and
-- the data keys that open it live only here, inside the encrypted replica.
ALTER TABLE documents ADD COLUMN is_encrypted INTEGER NOT NULL DEFAULT 1;
ALTER TABLE documents ADD COLUMN current_version_id TEXT;
ALTER TABLE documents ADD COLUMN ciphertext_size INTEGER;
ALTER TABLE documents ADD COLUMN submitted_at TEXT;
ALTER TABLE documents ADD COLUMN submitted_by TEXT;
ALTER TABLE documents ADD COLUMN reviewed_at TEXT;
ALTER TABLE documents ADD COLUMN reviewed_by TEXT;
ALTER TABLE documents ADD COLUMN review_note TEXT;
UPDATE documents SET status = CASE status
    WHEN 'PENDING' THEN 'SUBMITTED' WHEN 'REVIEWED' THEN 'APPROVED' WHEN 'SIGNED' THEN 'APPROVED'
    ELSE status END;
CREATE INDEX documents_loop ON documents (loop_id, created_at, id);
CREATE INDEX documents_review_queue ON documents (submitted_at, id) WHERE status = 'SUBMITTED';

CREATE TABLE document_versions (
  id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, document_id TEXT NOT NULL,
  version INTEGER NOT NULL, original_name TEXT NOT NULL, mime_type TEXT NOT NULL,
  file_size INTEGER NOT NULL, ciphertext_size INTEGER NOT NULL, sha256 TEXT NOT NULL,
  storage_key TEXT NOT NULL, uploaded_by TEXT, created_at TEXT, sync_seq INTEGER
);
CREATE INDEX document_versions_document ON document_versions (document_id, version);

-- Local only (never synced, never sent but inside TLS to the key service):
-- the data key of each version this device encrypted or was given.
CREATE TABLE document_keys (
  version_id TEXT PRIMARY KEY,
  data_key   TEXT NOT NULL
);
-- Ciphertext files in the vault. state: 'upload' (encrypted here, not yet on the server),
-- 'stored' (on the server too), 'refused' (the server will not take it; `reason` says why).
CREATE TABLE vault (
  version_id      TEXT PRIMARY KEY,
  document_id     TEXT NOT NULL,
  file            TEXT NOT NULL,
  ciphertext_size INTEGER NOT NULL,
  sha256          TEXT NOT NULL,
  state           TEXT NOT NULL,
  reason          TEXT,
  added_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX vault_document ON vault (document_id);
-- Documents kept for offline reading (their current version stays in the vault).
CREATE TABLE pins (document_id TEXT PRIMARY KEY);
-- Files a watched folder imported, so none is imported twice (across restarts too).
CREATE TABLE watch_imports (
  folder      TEXT NOT NULL,
  name        TEXT NOT NULL,
  sha256      TEXT NOT NULL,
  document_id TEXT NOT NULL,
  version_id  TEXT NOT NULL,
  at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  PRIMARY KEY (folder, name, sha256)
);
