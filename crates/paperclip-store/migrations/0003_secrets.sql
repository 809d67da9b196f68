-- Company secrets: metadata, encrypted versions, and the instance's master-key check value.

CREATE TABLE company_secrets (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id uuid NOT NULL REFERENCES companies (id),
    key text NOT NULL CHECK (key ~ '^[a-z0-9_.-]{1,120}$'),
    name text NOT NULL CHECK (length(btrim(name)) > 0),
    provider text NOT NULL DEFAULT 'local_encrypted',
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled', 'archived', 'deleted')),
    managed_mode text NOT NULL DEFAULT 'paperclip_managed' CHECK (managed_mode IN ('paperclip_managed', 'external_reference')),
    external_ref text,
    latest_version integer NOT NULL DEFAULT 0,
    description text,
    last_resolved_at timestamptz,
    last_rotated_at timestamptz,
    deleted_at timestamptz,
    created_by_agent_id uuid REFERENCES agents (id),
    created_by_user_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- A deleted secret frees its name and key for reuse.
CREATE UNIQUE INDEX company_secrets_name ON company_secrets (company_id, name) WHERE status <> 'deleted';
CREATE UNIQUE INDEX company_secrets_key ON company_secrets (company_id, key) WHERE status <> 'deleted';
CREATE TRIGGER company_secrets_touch BEFORE UPDATE ON company_secrets
    FOR EACH ROW EXECUTE FUNCTION paperclip_touch_updated_at();

CREATE TABLE company_secret_versions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    secret_id uuid NOT NULL REFERENCES company_secrets (id),
    version integer NOT NULL CHECK (version >= 1),
    material jsonb NOT NULL,
    value_sha256 text,
    status text NOT NULL CHECK (status IN ('current', 'previous', 'disabled', 'destroyed', 'failed')),
    created_by_agent_id uuid REFERENCES agents (id),
    created_by_user_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (secret_id, version)
);
CREATE UNIQUE INDEX company_secret_versions_one_current ON company_secret_versions (secret_id) WHERE status = 'current';

-- Encrypts a known text under the master key, so a wrong key is caught at startup (with both
-- fingerprints) instead of at the first decrypt. Never holds the key.
CREATE TABLE secrets_key_check (
    singleton_key text PRIMARY KEY DEFAULT 'default' CHECK (singleton_key = 'default'),
    fingerprint text NOT NULL,
    material jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE projects ADD COLUMN env jsonb NOT NULL DEFAULT '{}'::jsonb;
