-- The change feed's per-row work, made cheaper. Same numbers, same notices, less done per row
-- (measured in docs/benchmarks.md, "Push of queued mutations"):
--
-- * stamp_sync_seq runs for every written row. It ran as the owner with its own search_path and
--   called next_sync_seq, which did the same again: two switches of role and search path per
--   row. Only an organization's first change in a transaction needs the owner's rights (to lock
--   its counter row); later ones count on in a transaction-local setting the writer could set
--   anyway. The trigger now runs as the writer and calls the owner's function for that first
--   change only.
-- * "Something changed in this organization" was notified for every row. PostgreSQL delivers
--   notices at commit and folds identical ones, so one per organization per transaction (sent
--   with its first change, dropped with it if that is rolled back) says the same.
-- * New activity is notified by one trigger call per statement over its inserted rows, in their
--   order, not one call per row.

CREATE OR REPLACE FUNCTION next_sync_seq(org uuid) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  k text := 'strive.seq_' || replace(org::text, '-', '');
  cur text := current_setting(k, true);
  s bigint;
BEGIN
  IF cur IS NULL OR cur = '' THEN
    -- The service (the writer, now that stamp_sync_seq runs as the writer) numbers only the
    -- organization its transaction is in, as row-level security lets it write only there; the
    -- owner (plain SQL, the mover) numbers any.
    IF org IS DISTINCT FROM app_org_id() AND NOT pg_has_role(session_user,
         (SELECT relowner FROM pg_class WHERE oid = 'public.sync_counters'::regclass), 'MEMBER') THEN
      RAISE EXCEPTION 'new row violates row-level security policy'
        USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO sync_counters (organization_id, last_seq) VALUES (org, 0) ON CONFLICT DO NOTHING;
    SELECT last_seq + 1 INTO s FROM sync_counters WHERE organization_id = org FOR UPDATE;
    PERFORM set_config(k, s::text, true);
    -- Set first: with constraints made immediate, the flush runs inside this INSERT.
    INSERT INTO sync_flush (organization_id) VALUES (org);
    PERFORM pg_notify('strive_changes', org::text);
  ELSE
    s := cur::bigint + 1;
    PERFORM set_config(k, s::text, true);
  END IF;
  RETURN s;
END $$;

-- As the writer: triggers need no EXECUTE grant, but the first change's call does.
CREATE OR REPLACE FUNCTION stamp_sync_seq() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER AS $$
DECLARE
  org uuid;
  k text;
  cur text;
BEGIN
  IF current_setting('strive.copying', true) = 'on' AND public.strive_copying() THEN
    RETURN NEW;
  END IF;
  -- Field access, not to_jsonb(NEW): this runs for every written row.
  IF TG_ARGV[0] = 'id' THEN org := NEW.id; ELSE org := NEW.organization_id; END IF;
  k := 'strive.seq_' || replace(org::text, '-', '');
  cur := current_setting(k, true);
  IF cur IS NULL OR cur = '' THEN
    NEW.sync_seq := public.next_sync_seq(org);
  ELSE
    NEW.sync_seq := cur::bigint + 1;
    PERFORM set_config(k, NEW.sync_seq::text, true);
  END IF;
  RETURN NEW;
END $$;
GRANT EXECUTE ON FUNCTION next_sync_seq(uuid) TO strive_app;

-- next_sync_seq notifies with the organization's first change.
CREATE OR REPLACE FUNCTION record_tombstone() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  org uuid;
  rid uuid;
BEGIN
  IF current_setting('strive.copying', true) = 'on' AND strive_copying() THEN
    RETURN OLD;
  END IF;
  org := (to_jsonb(OLD) ->> TG_ARGV[0])::uuid;
  rid := (to_jsonb(OLD) ->> TG_ARGV[1])::uuid;
  INSERT INTO tombstones (organization_id, seq, table_name, row_id)
  VALUES (org, next_sync_seq(org), TG_TABLE_NAME, rid);
  RETURN OLD;
END $$;

DROP TRIGGER notify_activity ON audit_log;
DROP FUNCTION notify_activity();
CREATE FUNCTION notify_activity() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  IF current_setting('strive.copying', true) = 'on' AND strive_copying() THEN
    RETURN NULL;
  END IF;
  -- A scan of the transition table meets the rows in their insertion order.
  PERFORM pg_notify('strive_activity', json_build_object(
    'organization_id', n.organization_id, 'id', n.id, 'user_id', n.user_id,
    'user_name', (SELECT name FROM users WHERE id = n.user_id), 'action', n.action,
    'entity_type', n.entity_type, 'entity_id', n.entity_id, 'created_at', n.created_at)::text)
    FROM new_activity n;
  RETURN NULL;
END $$;
REVOKE EXECUTE ON FUNCTION notify_activity() FROM PUBLIC;
CREATE TRIGGER notify_activity AFTER INSERT ON audit_log REFERENCING NEW TABLE AS new_activity
  FOR EACH STATEMENT EXECUTE FUNCTION notify_activity();
