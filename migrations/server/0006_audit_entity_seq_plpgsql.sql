-- audit_entity_seq (0003, with 0004's documents) in PL/pgSQL. As a SQL function whose body has
-- sub-selects it is not inlined, and PostgreSQL (before 18) plans such a body again every time a
-- statement calling it runs: every audit row paid for planning its sub-selects (~1 ms, most of a
-- pushed mutation's database time). PL/pgSQL keeps its plans for the session. Same result; still
-- runs as the caller, so row-level security applies.
CREATE OR REPLACE FUNCTION audit_entity_seq(uuid, text, uuid) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF $2 = 'contact' THEN
    RETURN (SELECT c.sync_seq FROM contacts c WHERE c.organization_id = $1 AND c.id = $3);
  ELSIF $2 = 'deal' THEN
    RETURN (SELECT d.sync_seq FROM deals d WHERE d.organization_id = $1 AND d.id = $3);
  ELSIF $2 IN ('loop', 'transaction_loop') THEN
    RETURN (SELECT l.sync_seq FROM transaction_loops l WHERE l.organization_id = $1 AND l.id = $3);
  ELSIF $2 = 'transaction_task' THEN
    RETURN (SELECT t.sync_seq FROM transaction_tasks t WHERE t.organization_id = $1 AND t.id = $3);
  ELSIF $2 = 'document' THEN
    RETURN (SELECT x.sync_seq FROM documents x WHERE x.organization_id = $1 AND x.id = $3);
  END IF;
  RETURN NULL;
END $$;
