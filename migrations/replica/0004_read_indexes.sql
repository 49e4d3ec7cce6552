-- The orders the lists offer, each ending in id so pages are stable; an index per order lets a
-- page of a large table be read in order instead of sorting every row.
CREATE INDEX contacts_name ON contacts (name COLLATE NOCASE, id);
CREATE INDEX contacts_updated ON contacts (updated_at, id);
-- PostgreSQL's default null order (last ascending, first descending) is one index read either
-- way. It also serves the dashboard's follow-up window, so the partial index of 0001 goes.
CREATE INDEX contacts_follow_up_order
  ON contacts (next_follow_up_at IS NULL, next_follow_up_at, id);
DROP INDEX contacts_follow_up;
CREATE INDEX deals_updated ON deals (updated_at, id);
CREATE INDEX transaction_loops_created ON transaction_loops (created_at, id);
