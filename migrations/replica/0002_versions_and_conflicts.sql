-- The server's version of each editable row (its change-feed number as last pulled), so a local
-- update can say which version it edited (`base_seq`) and the server can tell a concurrent
-- same-field edit from a later one.
ALTER TABLE contacts ADD COLUMN sync_seq INTEGER;
ALTER TABLE deals ADD COLUMN sync_seq INTEGER;
ALTER TABLE transaction_loops ADD COLUMN sync_seq INTEGER;
ALTER TABLE transaction_tasks ADD COLUMN sync_seq INTEGER;
ALTER TABLE documents ADD COLUMN sync_seq INTEGER;

-- Same-field edits this organization's devices lost (server migration 0003), as pulled. A device
-- shows the rows whose device_id is its own.
CREATE TABLE conflicts (
  id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, device_id TEXT NOT NULL, user_id TEXT,
  entity_type TEXT NOT NULL, entity_id TEXT NOT NULL, field TEXT NOT NULL,
  lost_value TEXT, winning_value TEXT, winner_user_id TEXT NOT NULL,
  winner_device_id TEXT, created_at TEXT, sync_seq INTEGER
);
CREATE INDEX conflicts_device ON conflicts (device_id, created_at DESC);
