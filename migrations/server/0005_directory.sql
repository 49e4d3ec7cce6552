-- Per-organization databases: the organization directory, the membership index, the write gate
-- and the copy mode used by online moves (docs/operations.md, docs/decisions.md).
--
-- Every registered database gets every migration. The database the server starts with
-- (DATABASE_URL, or the embedded one) is the control database: it holds identities, profiles,
-- devices, tokens, the registry of tenant databases and the directory, and is also the tenant
-- database named 'default'. In a database that only holds tenant data, the control tables stay
-- empty; its `users` rows are copies of the members' profiles (tenant rows reference them).

-- Tenant databases the server may route to. `url` is the owner's connection URL: a secret. No
-- grant to the service role, which therefore cannot read it; the server reads it as the owner.
CREATE TABLE tenant_databases (
  name     text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  url      text,  -- NULL for 'default': the control database itself
  app_url  text,  -- how the service role connects, when it is not `url` with the user swapped
  added_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO tenant_databases (name) VALUES ('default');

-- Where each organization lives. Also the global registry of slugs (unique across databases)
-- and, with org_memberships, what /v1/me lists without visiting tenant databases.
-- state: creating (placed, rows being written), active, moving (rows being copied to move_to;
-- still served from `database`), cleanup (served from `database`; old rows left in move_from).
CREATE TABLE org_directory (
  organization_id uuid PRIMARY KEY,
  name            text NOT NULL,
  slug            text NOT NULL UNIQUE,
  tier            text NOT NULL DEFAULT 'STARTER',
  database        text NOT NULL DEFAULT 'default' REFERENCES tenant_databases (name),
  state           text NOT NULL DEFAULT 'active'
                  CHECK (state IN ('creating', 'active', 'moving', 'cleanup')),
  move_to         text REFERENCES tenant_databases (name),
  move_from       text REFERENCES tenant_databases (name),
  version         bigint NOT NULL DEFAULT 1,
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX org_directory_database ON org_directory (database);

-- Who belongs where, for listing a person's organizations in one query. A cache of the tenant
-- databases' organization_members (which alone decide access): kept by triggers for
-- organizations in the control database, by the server after member changes for the others,
-- and rebuilt at start-up.
CREATE TABLE org_memberships (
  user_id         uuid NOT NULL,
  organization_id uuid NOT NULL REFERENCES org_directory (organization_id) ON DELETE CASCADE,
  role            text NOT NULL,
  PRIMARY KEY (user_id, organization_id)
);
CREATE INDEX org_memberships_org ON org_memberships (organization_id);

-- Existing organizations live in this database. The owner may be bound by FORCE ROW LEVEL
-- SECURITY (when it is not a superuser), so lift it for the backfill.
ALTER TABLE organizations NO FORCE ROW LEVEL SECURITY;
ALTER TABLE organization_members NO FORCE ROW LEVEL SECURITY;
ALTER TABLE subscriptions NO FORCE ROW LEVEL SECURITY;
INSERT INTO org_directory (organization_id, name, slug, tier)
SELECT o.id, o.name, o.slug, coalesce(s.tier, 'FREE')
  FROM organizations o LEFT JOIN subscriptions s ON s.organization_id = o.id;
INSERT INTO org_memberships (user_id, organization_id, role)
SELECT user_id, organization_id, role FROM organization_members;
ALTER TABLE organizations FORCE ROW LEVEL SECURITY;
ALTER TABLE organization_members FORCE ROW LEVEL SECURITY;
ALTER TABLE subscriptions FORCE ROW LEVEL SECURITY;

-- The service lists its caller's organizations and creates new ones (always in 'default');
-- it can never change where an organization lives (no grant on database, state, move_*).
ALTER TABLE org_memberships ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON org_memberships
  USING (user_id = app_user_id() OR organization_id = app_org_id())
  WITH CHECK (organization_id = app_org_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON org_memberships TO strive_app;
ALTER TABLE org_directory ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON org_directory
  USING (organization_id = app_org_id()
         OR organization_id IN (SELECT organization_id FROM org_memberships
                                WHERE user_id = app_user_id()))
  WITH CHECK (organization_id = app_org_id());
GRANT SELECT ON org_directory TO strive_app;
GRANT INSERT (organization_id, name, slug, tier) ON org_directory TO strive_app;
GRANT UPDATE (name, tier, updated_at) ON org_directory TO strive_app;

-- Profiles in a tenant-only database are copies of the control database's, which alone holds
-- identities; devices live in the control database only.
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_id_fkey;
ALTER TABLE device_sync_state DROP CONSTRAINT IF EXISTS device_sync_state_device_id_fkey;

-- Routing, in one call (control database): the caller's platform role, how many organizations
-- they belong to, and the database `org` lives in ('default' for an organization not placed
-- yet, i.e. being created). Runs as the owner: routing must not depend on the cached index.
CREATE FUNCTION caller_standing(usr uuid, org uuid)
RETURNS TABLE (global_role text, memberships bigint, home text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT u.role,
         (SELECT count(*) FROM org_memberships m WHERE m.user_id = usr),
         coalesce((SELECT d.database FROM org_directory d WHERE d.organization_id = org), 'default')
    FROM users u WHERE u.id = usr AND u.is_active
$$;

CREATE FUNCTION org_home(org uuid) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT coalesce((SELECT database FROM org_directory WHERE organization_id = org), 'default')
$$;

-- The write gate is an advisory lock keyed hashtextextended('strive.org:' || org, 0): every
-- tenant transaction of the service takes it shared (and answers "moving, try again" when it
-- cannot); a move takes it exclusively in the source database for its final catch-up, check and
-- switch (crates/strive-server/src/tenants/mod.rs, gate_key).

-- Copy mode: rows keep the sync_seq they arrive with, deletes leave no tombstone, nothing is
-- notified. Only a session of the tables' owner (the mover) can turn it on: the service role
-- setting strive.copying gets nothing.
CREATE FUNCTION strive_copying() RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF coalesce(current_setting('strive.copying', true), '') <> 'on' THEN
    RETURN false;
  END IF;
  RETURN pg_has_role(session_user,
                     (SELECT relowner FROM pg_class WHERE oid = 'public.sync_counters'::regclass),
                     'MEMBER');
END $$;

CREATE OR REPLACE FUNCTION stamp_sync_seq() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE org uuid;
BEGIN
  IF current_setting('strive.copying', true) = 'on' AND strive_copying() THEN
    RETURN NEW;
  END IF;
  -- Field access, not to_jsonb(NEW): this runs for every written row.
  IF TG_ARGV[0] = 'id' THEN org := NEW.id; ELSE org := NEW.organization_id; END IF;
  NEW.sync_seq := next_sync_seq(org);
  PERFORM pg_notify('strive_changes', org::text);
  RETURN NEW;
END $$;

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
  PERFORM pg_notify('strive_changes', org::text);
  RETURN OLD;
END $$;

CREATE OR REPLACE FUNCTION notify_activity() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  IF current_setting('strive.copying', true) = 'on' AND strive_copying() THEN
    RETURN NEW;
  END IF;
  PERFORM pg_notify('strive_activity', json_build_object(
    'organization_id', NEW.organization_id, 'id', NEW.id, 'user_id', NEW.user_id,
    'user_name', (SELECT name FROM users WHERE id = NEW.user_id), 'action', NEW.action,
    'entity_type', NEW.entity_type, 'entity_id', NEW.entity_id, 'created_at', NEW.created_at)::text);
  RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION notify_member_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  IF current_setting('strive.copying', true) = 'on' AND strive_copying() THEN
    RETURN NULL;
  END IF;
  PERFORM pg_notify('strive_members', json_build_object(
    'organization_id', OLD.organization_id, 'user_id', OLD.user_id)::text);
  RETURN NULL;
END $$;

-- The membership index follows organization_members, organizations and subscriptions of the
-- organizations this database's directory places here (in a tenant-only database the directory
-- is empty and these do nothing). Copies made by a move are indexed by the mover instead.
CREATE FUNCTION index_membership() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE r record;
BEGIN
  IF current_setting('strive.copying', true) = 'on' AND strive_copying() THEN
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    DELETE FROM org_memberships
     WHERE user_id = OLD.user_id AND organization_id = OLD.organization_id;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO org_memberships (user_id, organization_id, role)
    SELECT NEW.user_id, NEW.organization_id, NEW.role
     WHERE EXISTS (SELECT 1 FROM org_directory d
                    WHERE d.organization_id = NEW.organization_id AND d.database = 'default')
    ON CONFLICT (user_id, organization_id) DO UPDATE SET role = excluded.role;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER index_membership AFTER INSERT OR UPDATE OR DELETE ON organization_members
  FOR EACH ROW EXECUTE FUNCTION index_membership();

CREATE FUNCTION index_org_summary() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  IF current_setting('strive.copying', true) = 'on' AND strive_copying() THEN
    RETURN NULL;
  END IF;
  IF TG_TABLE_NAME = 'organizations' THEN
    UPDATE org_directory SET name = NEW.name, updated_at = now()
     WHERE organization_id = NEW.id AND database = 'default' AND name IS DISTINCT FROM NEW.name;
  ELSE
    UPDATE org_directory SET tier = NEW.tier, updated_at = now()
     WHERE organization_id = NEW.organization_id AND database = 'default'
       AND tier IS DISTINCT FROM NEW.tier;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER index_org_summary AFTER INSERT OR UPDATE ON organizations
  FOR EACH ROW EXECUTE FUNCTION index_org_summary();
CREATE TRIGGER index_org_summary AFTER INSERT OR UPDATE ON subscriptions
  FOR EACH ROW EXECUTE FUNCTION index_org_summary();

REVOKE EXECUTE ON FUNCTION stamp_sync_seq(), record_tombstone(), notify_activity(),
  notify_member_change(), index_membership(), index_org_summary() FROM PUBLIC;
