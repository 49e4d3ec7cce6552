-- Functions that run as the owner name the tables they touch without a schema. With
-- `SET search_path = public`, PostgreSQL still looks in the session's temporary schema first
-- (it is searched first whenever the path does not list it), so a caller could shadow
-- `sync_counters`, `tombstones` or `pg_class` with a temporary table of its own. Every such
-- function now searches pg_catalog first and the temporary schema last, as PostgreSQL's
-- documentation advises; `strive_copying` (run as the caller, but trusted by the owner's
-- functions) names the catalog explicitly and gets the same path.
--
-- Since 0007 the service may call next_sync_seq itself (its writes' trigger runs as the writer),
-- for its own organization only. A call that numbers nothing leaves a gap in the feed's numbers;
-- clients ask for "seq > N", so a gap is harmless, and the service makes no such call.

DO $$
DECLARE f record;
BEGIN
  FOR f IN SELECT p.oid::regprocedure AS sig
             FROM pg_proc p
            WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef
              AND pg_has_role(current_user, p.proowner, 'USAGE')
  LOOP
    EXECUTE format('ALTER FUNCTION %s SET search_path = pg_catalog, public, pg_temp', f.sig);
  END LOOP;
END $$;

CREATE OR REPLACE FUNCTION strive_copying() RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
  IF coalesce(pg_catalog.current_setting('strive.copying', true), '') <> 'on' THEN
    RETURN false;
  END IF;
  RETURN pg_catalog.pg_has_role(session_user,
           (SELECT c.relowner FROM pg_catalog.pg_class c
             WHERE c.oid = 'public.sync_counters'::regclass),
           'MEMBER');
END $$;
