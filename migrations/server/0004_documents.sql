-- Transaction documents: versions, the review workflow, uploads in progress and the key service.
--
-- What is where: `documents` is the logical document (its current version and its review) and
-- `document_versions` every version's metadata; both sync to devices. The ciphertext is in the
-- blob store, never here. Each version's data key is stored only wrapped by its organization's
-- key-encryption key (`document_keys`), and that key only wrapped by the server's master key,
-- which lives outside the database (`organization_keys`): a database backup alone opens nothing.
-- Neither key table nor `upload_sessions` is in the change feed.

-- The review workflow's states replace the platform's (PENDING -> SUBMITTED; REVIEWED and
-- SIGNED -> APPROVED: signatures are out of scope).
ALTER TABLE documents DROP CONSTRAINT documents_status_check;
UPDATE documents SET status = CASE status
    WHEN 'PENDING' THEN 'SUBMITTED' WHEN 'REVIEWED' THEN 'APPROVED' WHEN 'SIGNED' THEN 'APPROVED'
    ELSE status END
  WHERE status IN ('PENDING', 'REVIEWED', 'SIGNED');
ALTER TABLE documents ADD CONSTRAINT documents_status_check
  CHECK (status IN ('DRAFT', 'SUBMITTED', 'APPROVED', 'RETURNED', 'ARCHIVED'));

ALTER TABLE documents
  ADD COLUMN is_encrypted boolean NOT NULL DEFAULT true,
  ADD COLUMN current_version_id uuid,
  ADD COLUMN ciphertext_size bigint,
  ADD COLUMN submitted_at timestamptz,
  ADD COLUMN submitted_by uuid REFERENCES users (id),
  ADD COLUMN reviewed_at timestamptz,
  ADD COLUMN reviewed_by uuid REFERENCES users (id),
  ADD COLUMN review_note text CHECK (char_length(review_note) <= 2000);
-- The review queue: submitted documents of the organization, oldest submission first.
CREATE INDEX documents_review_queue ON documents (organization_id, submitted_at, id)
  WHERE status = 'SUBMITTED';

CREATE TABLE document_versions (
  organization_id uuid NOT NULL,
  id              uuid NOT NULL,  -- also the id of the upload that brought it
  document_id     uuid NOT NULL,
  version         integer NOT NULL CHECK (version >= 1),
  original_name   text NOT NULL CHECK (char_length(original_name) BETWEEN 1 AND 255),
  mime_type       text NOT NULL,
  file_size       bigint NOT NULL CHECK (file_size >= 0),
  ciphertext_size bigint NOT NULL CHECK (ciphertext_size > 0),
  sha256          text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  storage_key     text NOT NULL UNIQUE,
  uploaded_by     uuid NOT NULL REFERENCES users (id),
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  UNIQUE (organization_id, document_id, version),
  FOREIGN KEY (organization_id, document_id)
    REFERENCES documents (organization_id, id) ON DELETE CASCADE
);

-- Each version's data key, wrapped (AES-256-GCM, bound to organization and version) by the
-- organization's key-encryption key.
CREATE TABLE document_keys (
  organization_id uuid NOT NULL,
  version_id      uuid NOT NULL,
  wrapped_key     bytea NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, version_id),
  FOREIGN KEY (organization_id, version_id)
    REFERENCES document_versions (organization_id, id) ON DELETE CASCADE
);

-- Each organization's key-encryption key, wrapped by the server's master key (kept in a file of
-- the server's data dir or given in its configuration, never in the database).
CREATE TABLE organization_keys (
  organization_id uuid PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
  wrapped_kek     bytea NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now()
);

-- Resumable uploads: what the device declared, how many bytes arrived, where the blob will go.
-- RECEIVING -> VERIFIED (all bytes, checksum right) -> COMPLETED (version recorded).
CREATE TABLE upload_sessions (
  organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  id              uuid NOT NULL,
  document_id     uuid NOT NULL,
  loop_id         uuid NOT NULL,
  original_name   text NOT NULL CHECK (char_length(original_name) BETWEEN 1 AND 255),
  mime_type       text NOT NULL,
  document_type   text NOT NULL,
  ciphertext_size bigint NOT NULL CHECK (ciphertext_size > 0),
  sha256          text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  storage_key     text NOT NULL UNIQUE,
  received        bigint NOT NULL DEFAULT 0 CHECK (received >= 0 AND received <= ciphertext_size),
  state           text NOT NULL DEFAULT 'RECEIVING'
                  CHECK (state IN ('RECEIVING', 'VERIFIED', 'COMPLETED')),
  created_by      uuid NOT NULL REFERENCES users (id),
  created_at      timestamptz NOT NULL DEFAULT now(),
  expires_at      timestamptz NOT NULL,
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, loop_id)
    REFERENCES transaction_loops (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX upload_sessions_expiry ON upload_sessions (organization_id, expires_at)
  WHERE state <> 'COMPLETED';

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['document_versions', 'document_keys', 'organization_keys',
                           'upload_sessions']
  LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant ON %I USING (organization_id = app_org_id()) '
                   'WITH CHECK (organization_id = app_org_id())', t);
  END LOOP;
END $$;

GRANT SELECT, INSERT ON document_versions, document_keys, organization_keys TO strive_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON upload_sessions TO strive_app;

-- Versions are in the change feed like every synced table (0002); the key tables and upload
-- sessions are not.
DO $$
DECLARE
  t record;
BEGIN
  FOR t IN SELECT * FROM (VALUES
      ('document_versions', 'organization_id', 'id')) AS v(name, org_col, id_col)
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

-- Audit rows about documents record the document row's number too (conflict detection, 0003).
CREATE OR REPLACE FUNCTION audit_entity_seq(uuid, text, uuid) RETURNS bigint
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
    WHEN $2 = 'document' THEN
      (SELECT x.sync_seq FROM documents x WHERE x.organization_id = $1 AND x.id = $3)
  END
$$;
