-- Strive central schema.
--
-- Tenant tables carry organization_id in their primary and foreign keys, so no row can point
-- into another organization, and are guarded by row-level security on the per-transaction
-- settings app.org_id / app.user_id. The service connects as strive_app, which owns nothing
-- and is not a superuser, so RLS always applies to it.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'strive_app') THEN
    CREATE ROLE strive_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
  END IF;
END $$;

-- The tenant context of the current transaction. NULLIF: a setting once set in a session reads
-- back as '' after its transaction ends, and ''::uuid would fail.
CREATE FUNCTION app_org_id() RETURNS uuid LANGUAGE sql STABLE AS
  $$ SELECT NULLIF(current_setting('app.org_id', true), '')::uuid $$;
CREATE FUNCTION app_user_id() RETURNS uuid LANGUAGE sql STABLE AS
  $$ SELECT NULLIF(current_setting('app.user_id', true), '')::uuid $$;

-- Authentication (the platform's Supabase Auth): credentials only.
CREATE TABLE identities (
  id            uuid PRIMARY KEY,
  email         text NOT NULL UNIQUE,
  password_hash text NOT NULL,
  display_name  text,
  created_at    timestamptz NOT NULL DEFAULT now()
);

-- Profiles, created lazily on an identity's first authenticated request.
CREATE TABLE users (
  id         uuid PRIMARY KEY REFERENCES identities (id) ON DELETE CASCADE,
  email      text NOT NULL UNIQUE,
  name       text NOT NULL,
  role       text NOT NULL DEFAULT 'USER'
             CHECK (role IN ('SUPER_ADMIN', 'ADMIN', 'MODERATOR', 'USER')),
  avatar_url text,
  is_active  boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE devices (
  id           uuid PRIMARY KEY,
  identity_id  uuid NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
  name         text NOT NULL,
  platform     text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_identity ON devices (identity_id);

-- Rotating refresh tokens. Only a SHA-256 of the token is stored. A token used twice revokes
-- its whole family (every token descended from the same login).
CREATE TABLE refresh_tokens (
  id          uuid PRIMARY KEY,
  family_id   uuid NOT NULL,
  identity_id uuid NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
  device_id   uuid REFERENCES devices (id) ON DELETE SET NULL,
  token_hash  bytea NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz,
  revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE login_attempts (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email       text NOT NULL,
  client_addr text NOT NULL,
  succeeded   boolean NOT NULL,
  at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_email ON login_attempts (email, at) WHERE NOT succeeded;
CREATE INDEX login_attempts_addr ON login_attempts (client_addr, at);

CREATE TABLE organizations (
  id         uuid PRIMARY KEY,
  name       text NOT NULL,
  slug       text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE organization_members (
  organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role            text NOT NULL DEFAULT 'MEMBER'
                  CHECK (role IN ('OWNER', 'ADMIN', 'MEMBER', 'VIEWER')),
  joined_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX organization_members_user ON organization_members (user_id);

CREATE TABLE subscriptions (
  organization_id      uuid PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
  tier                 text NOT NULL DEFAULT 'STARTER'
                       CHECK (tier IN ('FREE', 'CUSTOM', 'STARTER', 'GROWTH', 'ELITE', 'ENTERPRISE')),
  status               text NOT NULL DEFAULT 'TRIAL'
                       CHECK (status IN ('ACTIVE', 'INACTIVE', 'TRIAL', 'PAST_DUE', 'CANCELLED')),
  current_period_start timestamptz NOT NULL DEFAULT now(),
  current_period_end   timestamptz NOT NULL DEFAULT now() + interval '30 days',
  updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE contacts (
  organization_id   uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  id                uuid NOT NULL,
  name              text NOT NULL CHECK (char_length(name) BETWEEN 2 AND 100),
  email             text CHECK (char_length(email) <= 254),
  phone             text CHECK (char_length(phone) <= 50),
  company           text CHECK (char_length(company) <= 100),
  position          text CHECK (char_length(position) <= 100),
  contact_type      text NOT NULL DEFAULT 'PROSPECT'
                    CHECK (contact_type IN ('PROSPECT', 'CLIENT', 'PAST_CLIENT', 'PARTNER', 'VENDOR')),
  status            text NOT NULL DEFAULT 'ACTIVE'
                    CHECK (status IN ('ACTIVE', 'INACTIVE', 'DO_NOT_CONTACT')),
  notes             text CHECK (char_length(notes) <= 5000),
  tags              text[] NOT NULL DEFAULT '{}',
  assigned_to_id    uuid,
  next_follow_up_at timestamptz,
  last_contact_at   timestamptz,
  created_by        uuid NOT NULL REFERENCES users (id),
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  -- An assignee is a member of the same organization; leaving it unassigns.
  FOREIGN KEY (organization_id, assigned_to_id)
    REFERENCES organization_members (organization_id, user_id) ON DELETE SET NULL (assigned_to_id)
);
CREATE INDEX contacts_created ON contacts (organization_id, created_at, id);
CREATE INDEX contacts_updated ON contacts (organization_id, updated_at, id);
CREATE INDEX contacts_name ON contacts (organization_id, name, id);
CREATE INDEX contacts_status ON contacts (organization_id, status);
CREATE INDEX contacts_assignee ON contacts (organization_id, assigned_to_id);
CREATE INDEX contacts_follow_up ON contacts (organization_id, next_follow_up_at)
  WHERE next_follow_up_at IS NOT NULL;
CREATE INDEX contacts_search ON contacts USING gin (
  lower(name || ' ' || coalesce(email, '') || ' ' || coalesce(phone, '') || ' ' || coalesce(company, ''))
  gin_trgm_ops
);

CREATE TABLE deals (
  organization_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  id                  uuid NOT NULL,
  title               text NOT NULL CHECK (char_length(title) BETWEEN 2 AND 255),
  value_cents         bigint NOT NULL CHECK (value_cents > 0),
  stage               text NOT NULL DEFAULT 'LEAD'
                      CHECK (stage IN ('LEAD', 'QUALIFIED', 'PROPOSAL', 'NEGOTIATION', 'CLOSING',
                                       'CLOSED_WON', 'CLOSED_LOST')),
  status              text NOT NULL DEFAULT 'ACTIVE'
                      CHECK (status IN ('ACTIVE', 'WON', 'LOST', 'ABANDONED')),
  probability         integer NOT NULL DEFAULT 50 CHECK (probability BETWEEN 0 AND 100),
  contact_id          uuid,
  assigned_to_id      uuid,
  expected_close_date date,
  actual_close_date   date,
  lost_reason         text CHECK (char_length(lost_reason) <= 500),
  description         text CHECK (char_length(description) <= 5000),
  created_by          uuid NOT NULL REFERENCES users (id),
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, contact_id)
    REFERENCES contacts (organization_id, id) ON DELETE SET NULL (contact_id),
  FOREIGN KEY (organization_id, assigned_to_id)
    REFERENCES organization_members (organization_id, user_id) ON DELETE SET NULL (assigned_to_id)
);
CREATE INDEX deals_created ON deals (organization_id, created_at, id);
CREATE INDEX deals_stage ON deals (organization_id, stage);
CREATE INDEX deals_contact ON deals (organization_id, contact_id);
CREATE INDEX deals_assignee ON deals (organization_id, assigned_to_id);

CREATE TABLE transaction_loops (
  organization_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  id                  uuid NOT NULL,
  property_address    text NOT NULL CHECK (char_length(property_address) BETWEEN 5 AND 500),
  transaction_type    text NOT NULL
                      CHECK (transaction_type IN ('PURCHASE_AGREEMENT', 'LISTING_AGREEMENT',
                             'LEASE_AGREEMENT', 'COMMERCIAL_PURCHASE', 'COMMERCIAL_LEASE')),
  listing_price_cents bigint NOT NULL CHECK (listing_price_cents > 0),
  status              text NOT NULL DEFAULT 'DRAFT'
                      CHECK (status IN ('DRAFT', 'ACTIVE', 'UNDER_CONTRACT', 'CLOSING', 'CLOSED',
                                        'CANCELLED', 'ARCHIVED')),
  progress            integer NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
  expected_closing    date,
  actual_closing      date,
  created_by          uuid NOT NULL REFERENCES users (id),
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id)
);
CREATE INDEX transaction_loops_created ON transaction_loops (organization_id, created_at, id);
CREATE INDEX transaction_loops_status ON transaction_loops (organization_id, status);

CREATE TABLE transaction_tasks (
  organization_id uuid NOT NULL,
  id              uuid NOT NULL,
  loop_id         uuid NOT NULL,
  title           text NOT NULL CHECK (char_length(title) BETWEEN 3 AND 200),
  description     text CHECK (char_length(description) <= 2000),
  category        text NOT NULL DEFAULT 'OTHER'
                  CHECK (category IN ('PRE_LISTING', 'LISTING', 'UNDER_CONTRACT', 'CLOSING', 'OTHER')),
  status          text NOT NULL DEFAULT 'PENDING'
                  CHECK (status IN ('PENDING', 'IN_PROGRESS', 'REVIEW', 'DONE', 'CANCELLED')),
  priority        text NOT NULL DEFAULT 'MEDIUM'
                  CHECK (priority IN ('LOW', 'MEDIUM', 'HIGH', 'URGENT')),
  position        integer NOT NULL,
  due_date        date,
  completed_at    timestamptz,
  created_by      uuid NOT NULL REFERENCES users (id),
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, loop_id)
    REFERENCES transaction_loops (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX transaction_tasks_loop ON transaction_tasks (organization_id, loop_id, position);

CREATE TABLE documents (
  organization_id uuid NOT NULL,
  id              uuid NOT NULL,
  loop_id         uuid NOT NULL,
  original_name   text NOT NULL CHECK (char_length(original_name) BETWEEN 1 AND 255),
  mime_type       text NOT NULL,
  file_size       bigint NOT NULL CHECK (file_size >= 0),
  storage_key     text NOT NULL UNIQUE,
  document_type   text NOT NULL DEFAULT 'OTHER'
                  CHECK (document_type IN ('CONTRACT', 'DISCLOSURE', 'INSPECTION', 'APPRAISAL',
                                           'TITLE', 'OTHER')),
  status          text NOT NULL DEFAULT 'DRAFT'
                  CHECK (status IN ('DRAFT', 'PENDING', 'REVIEWED', 'SIGNED', 'ARCHIVED')),
  version         integer NOT NULL DEFAULT 1,
  uploaded_by     uuid NOT NULL REFERENCES users (id),
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, loop_id)
    REFERENCES transaction_loops (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX documents_loop ON documents (organization_id, loop_id);

-- Every mutation writes here; the activity feed reads it.
CREATE TABLE audit_log (
  organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  id              uuid NOT NULL,
  user_id         uuid NOT NULL REFERENCES users (id),
  action          text NOT NULL,
  entity_type     text NOT NULL,
  entity_id       uuid NOT NULL,
  new_values      jsonb NOT NULL DEFAULT '{}',
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id)
);
CREATE INDEX audit_log_recent ON audit_log (organization_id, created_at DESC, id DESC);

-- Row-level security: a tenant row is visible only inside its organization's transaction.
ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE organizations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON organizations
  USING (id = app_org_id()
         OR id IN (SELECT organization_id FROM organization_members WHERE user_id = app_user_id()))
  WITH CHECK (id = app_org_id());

ALTER TABLE organization_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE organization_members FORCE ROW LEVEL SECURITY;
-- A person also sees their own memberships, to list the organizations they can open.
CREATE POLICY tenant ON organization_members
  USING (organization_id = app_org_id() OR user_id = app_user_id())
  WITH CHECK (organization_id = app_org_id());

ALTER TABLE subscriptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE subscriptions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON subscriptions
  USING (organization_id = app_org_id()
         OR organization_id IN (SELECT organization_id FROM organization_members
                                WHERE user_id = app_user_id()))
  WITH CHECK (organization_id = app_org_id());

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['contacts', 'deals', 'transaction_loops', 'transaction_tasks',
                           'documents', 'audit_log']
  LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant ON %I USING (organization_id = app_org_id()) '
                   'WITH CHECK (organization_id = app_org_id())', t);
  END LOOP;
END $$;

GRANT USAGE ON SCHEMA public TO strive_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON
  identities, users, devices, refresh_tokens, organizations, organization_members, subscriptions,
  contacts, deals, transaction_loops, transaction_tasks, documents, audit_log
  TO strive_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON login_attempts TO strive_app;
