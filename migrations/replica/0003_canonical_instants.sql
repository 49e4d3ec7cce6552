-- Instants in one fixed-width UTC form (src/time.rs), so text order is time order for reads.
-- Rows stored before this migration are rewritten; new ones are stored that way.
UPDATE organizations SET created_at = strive_time(created_at), updated_at = strive_time(updated_at);
UPDATE organization_members SET joined_at = strive_time(joined_at);
UPDATE subscriptions SET updated_at = strive_time(updated_at);
UPDATE contacts SET next_follow_up_at = strive_time(next_follow_up_at),
  last_contact_at = strive_time(last_contact_at),
  created_at = strive_time(created_at), updated_at = strive_time(updated_at);
UPDATE deals SET created_at = strive_time(created_at), updated_at = strive_time(updated_at);
UPDATE transaction_loops SET created_at = strive_time(created_at),
  updated_at = strive_time(updated_at);
UPDATE transaction_tasks SET completed_at = strive_time(completed_at),
  created_at = strive_time(created_at), updated_at = strive_time(updated_at);
UPDATE documents SET created_at = strive_time(created_at), updated_at = strive_time(updated_at);
UPDATE audit_log SET created_at = strive_time(created_at);
UPDATE conflicts SET created_at = strive_time(created_at);
