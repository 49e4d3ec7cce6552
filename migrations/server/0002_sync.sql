-- The change feed. Every insert and update of a synced row stamps it with the next number of its
-- organization's counter; every delete leaves a tombstone with such a number. The counter row is
-- locked by the writing transaction until it commits, so numbers are gap-free per organization
-- and in commit order: a client that has seen everything up to N needs exactly "seq > N".
-- Triggers do this, so rows written with plain SQL (not through the service) sync too.

CREATE TABLE sync_counters (
  organization_id uuid PRIMARY KEY,
  last_seq        bigint NOT NULL DEFAULT 0
);

CREATE TABLE tombstones (
  organization_id uuid NOT NULL,
  seq             bigint NOT NULL,
  table_name      text NOT NULL,
  row_id          uuid NOT NULL,
  deleted_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, seq)
);

-- Readable by the service within its organization only. Writes happen in the SECURITY DEFINER
-- trigger functions below (as the owner), so the service role has no write grant on these.
ALTER TABLE sync_counters ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON sync_counters USING (organization_id = app_org_id());
ALTER TABLE tombstones ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON tombstones USING (organization_id = app_org_id());
GRANT SELECT ON sync_counters, tombstones TO strive_app;

-- The next number of an organization's feed. The first change of an organization in a
-- transaction locks its counter row until commit (that lock is what makes the numbers gap-free and
-- commit-ordered) and reads it; later changes count in a transaction-local setting, and a deferred
-- trigger writes the final value back once, at commit. Updating the counter row per change instead
-- would make a transaction of n changes cost O(n^2) (n versions of one row to walk).
CREATE TABLE sync_flush (organization_id uuid NOT NULL);

CREATE FUNCTION next_sync_seq(org uuid) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  k text := 'strive.seq_' || replace(org::text, '-', '');
  cur text := current_setting(k, true);
  s bigint;
BEGIN
  IF cur IS NULL OR cur = '' THEN
    INSERT INTO sync_counters (organization_id, last_seq) VALUES (org, 0) ON CONFLICT DO NOTHING;
    SELECT last_seq + 1 INTO s FROM sync_counters WHERE organization_id = org FOR UPDATE;
    PERFORM set_config(k, s::text, true);
    -- Set first: with constraints made immediate, the flush runs inside this INSERT.
    INSERT INTO sync_flush (organization_id) VALUES (org);
  ELSE
    s := cur::bigint + 1;
    PERFORM set_config(k, s::text, true);
  END IF;
  RETURN s;
END $$;

CREATE FUNCTION flush_sync_seq() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  k text := 'strive.seq_' || replace(NEW.organization_id::text, '-', '');
BEGIN
  UPDATE sync_counters SET last_seq = NULLIF(current_setting(k, true), '')::bigint
   WHERE organization_id = NEW.organization_id AND NULLIF(current_setting(k, true), '') IS NOT NULL;
  DELETE FROM sync_flush WHERE organization_id = NEW.organization_id;
  -- Should more changes follow (after SET CONSTRAINTS ... IMMEDIATE), they re-arm the flush.
  PERFORM set_config(k, '', true);
  RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER flush_sync_seq AFTER INSERT ON sync_flush
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION flush_sync_seq();

-- TG_ARGV[0]: the column holding the organization id ('organization_id', or 'id' for organizations).
CREATE FUNCTION stamp_sync_seq() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE org uuid;
BEGIN
  -- Field access, not to_jsonb(NEW): this runs for every written row.
  IF TG_ARGV[0] = 'id' THEN org := NEW.id; ELSE org := NEW.organization_id; END IF;
  NEW.sync_seq := next_sync_seq(org);
  PERFORM pg_notify('strive_changes', org::text);
  RETURN NEW;
END $$;

-- TG_ARGV[0]: organization column; TG_ARGV[1]: the column that identifies the row.
CREATE FUNCTION record_tombstone() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  org uuid := (to_jsonb(OLD) ->> TG_ARGV[0])::uuid;
  rid uuid := (to_jsonb(OLD) ->> TG_ARGV[1])::uuid;
BEGIN
  INSERT INTO tombstones (organization_id, seq, table_name, row_id)
  VALUES (org, next_sync_seq(org), TG_TABLE_NAME, rid);
  PERFORM pg_notify('strive_changes', org::text);
  RETURN OLD;
END $$;

DO $$
DECLARE
  t record;
BEGIN
  FOR t IN SELECT * FROM (VALUES
      ('organizations', 'id', 'id'),
      ('organization_members', 'organization_id', 'user_id'),
      ('subscriptions', 'organization_id', 'organization_id'),
      ('contacts', 'organization_id', 'id'),
      ('deals', 'organization_id', 'id'),
      ('transaction_loops', 'organization_id', 'id'),
      ('transaction_tasks', 'organization_id', 'id'),
      ('documents', 'organization_id', 'id'),
      ('audit_log', 'organization_id', 'id')) AS v(name, org_col, id_col)
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

-- Pushed mutations already applied, per device: a replay answers what the first run answered.
CREATE TABLE applied_mutations (
  organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  device_id       uuid NOT NULL,
  client_seq      bigint NOT NULL,
  mutation_type   text NOT NULL,
  outcome         jsonb NOT NULL,
  applied_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, device_id, client_seq)
);
ALTER TABLE applied_mutations ENABLE ROW LEVEL SECURITY;
ALTER TABLE applied_mutations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON applied_mutations
  USING (organization_id = app_org_id()) WITH CHECK (organization_id = app_org_id());
GRANT SELECT, INSERT ON applied_mutations TO strive_app;

-- What each device last reported about its sync, for admins.
CREATE TABLE device_sync_state (
  organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  device_id       uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
  last_pulled_seq bigint NOT NULL DEFAULT 0,
  last_pull_at    timestamptz,
  last_push_at    timestamptz,
  pending_count   integer NOT NULL DEFAULT 0,
  full_resync_requested boolean NOT NULL DEFAULT false,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, device_id)
);
ALTER TABLE device_sync_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE device_sync_state FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON device_sync_state
  USING (organization_id = app_org_id()) WITH CHECK (organization_id = app_org_id());
GRANT SELECT, INSERT, UPDATE ON device_sync_state TO strive_app;

-- New activity reaches connected clients at once (the platform's Pattern 5), without its values
-- (a notification carries at most 8,000 bytes); the full row arrives with the next pull.
CREATE FUNCTION notify_activity() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  PERFORM pg_notify('strive_activity', json_build_object(
    'organization_id', NEW.organization_id, 'id', NEW.id, 'user_id', NEW.user_id,
    'user_name', (SELECT name FROM users WHERE id = NEW.user_id), 'action', NEW.action,
    'entity_type', NEW.entity_type, 'entity_id', NEW.entity_id, 'created_at', NEW.created_at)::text);
  RETURN NEW;
END $$;
CREATE TRIGGER notify_activity AFTER INSERT ON audit_log
  FOR EACH ROW EXECUTE FUNCTION notify_activity();

-- A member removed or whose role changed must stop hearing the organization at once: their open
-- event streams re-check on this notice.
CREATE FUNCTION notify_member_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  PERFORM pg_notify('strive_members', json_build_object(
    'organization_id', OLD.organization_id, 'user_id', OLD.user_id)::text);
  RETURN NULL;
END $$;
CREATE TRIGGER notify_member_change AFTER UPDATE OR DELETE ON organization_members
  FOR EACH ROW EXECUTE FUNCTION notify_member_change();

-- Only the triggers (running as the owner) number changes; no role may call these directly.
REVOKE EXECUTE ON FUNCTION next_sync_seq(uuid), stamp_sync_seq(), record_tombstone(),
  notify_activity(), notify_member_change(), flush_sync_seq() FROM PUBLIC;
