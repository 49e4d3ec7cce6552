-- Conflicts. Updates carry only the fields they change, so concurrent edits of different fields
-- both survive; when two devices change the same field, the last update the server applies wins
-- and the device whose value it overwrote gets a conflict row (through the change feed).
--
-- Detection reads the audit log: which device wrote a field of a row, and whether the device now
-- writing had already seen that write (its `base_seq`, the row's sync_seq as it last saw it).

-- The device a mutation came from (NULL: a REST call or plain SQL).
ALTER TABLE audit_log ADD COLUMN device_id uuid;
-- The entity row's sync_seq right after the write this audit row records. The audit row itself is
-- numbered after the entity in the same transaction, so a device that pulled this very write has
-- base_seq = entity_seq < the audit row's sync_seq: comparing base_seq with the audit row's own
-- number would call a write the device has seen concurrent. NULL when the row is gone or the
-- entity is not a synced row; detection then falls back to the audit row's sync_seq.
ALTER TABLE audit_log ADD COLUMN entity_seq bigint;
-- Detection looks up the writes of one row after a number.
CREATE INDEX audit_log_entity ON audit_log (organization_id, entity_id, sync_seq);

-- The current sync_seq of the row an audit entity type and id name (NULL when none). Runs as the
-- caller, so row-level security applies.
CREATE FUNCTION audit_entity_seq(uuid, text, uuid) RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN $2 = 'contact' THEN
      (SELECT c.sync_seq FROM contacts c WHERE c.organization_id = $1 AND c.id = $3)
    WHEN $2 = 'deal' THEN
      (SELECT d.sync_seq FROM deals d WHERE d.organization_id = $1 AND d.id = $3)
    WHEN $2 IN ('loop', 'transaction_loop') THEN
      (SELECT l.sync_seq FROM transaction_loops l WHERE l.organization_id = $1 AND l.id = $3)
    WHEN $2 = 'transaction_task' THEN
      (SELECT t.sync_seq FROM transaction_tasks t WHERE t.organization_id = $1 AND t.id = $3)
  END
$$;

CREATE TABLE conflicts (
  organization_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  id               uuid NOT NULL,
  device_id        uuid NOT NULL,  -- the device whose edit lost
  user_id          uuid,           -- the author of the edit that lost
  entity_type      text NOT NULL,  -- as in audit_log: contact, deal, loop, transaction_task
  entity_id        uuid NOT NULL,
  field            text NOT NULL,
  lost_value       jsonb NOT NULL,
  winning_value    jsonb NOT NULL,
  winner_user_id   uuid NOT NULL,
  winner_device_id uuid,
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id)
);

ALTER TABLE conflicts ENABLE ROW LEVEL SECURITY;
ALTER TABLE conflicts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON conflicts
  USING (organization_id = app_org_id()) WITH CHECK (organization_id = app_org_id());
GRANT SELECT, INSERT ON conflicts TO strive_app;

-- In the change feed like every synced table (0002).
DO $$
DECLARE
  t record;
BEGIN
  FOR t IN SELECT * FROM (VALUES
      ('conflicts', 'organization_id', 'id')) AS v(name, org_col, id_col)
  LOOP
    EXECUTE format('ALTER TABLE %I ADD COLUMN sync_seq bigint NOT NULL DEFAULT 0', t.name);
    EXECUTE format('CREATE INDEX %I ON %I (%I, sync_seq)', t.name || '_sync', t.name, t.org_col);
    EXECUTE format('CREATE TRIGGER stamp_sync_seq BEFORE INSERT OR UPDATE ON %I
                    FOR EACH ROW EXECUTE FUNCTION stamp_sync_seq(%L)', t.name, t.org_col);
    EXECUTE format('CREATE TRIGGER record_tombstone AFTER DELETE ON %I
                    FOR EACH ROW EXECUTE FUNCTION record_tombstone(%L, %L)',
                   t.name, t.org_col, t.id_col);
  END LOOP;
END $$;
