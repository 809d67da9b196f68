-- Authenticated mode: board users with passwords (argon2id PHC strings), their sessions,
-- instance admins, company memberships, invites and join requests, and board API keys.
-- Every token (session, invite, key) is stored as its SHA-256: a copy of the database lets no
-- one in.

CREATE TABLE board_users (
    id text PRIMARY KEY,
    email text NOT NULL CHECK (email = lower(email) AND email LIKE '%_@_%'),
    name text NOT NULL,
    password_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX board_users_email ON board_users (email);

CREATE TABLE instance_user_roles (
    user_id text NOT NULL REFERENCES board_users (id) ON DELETE CASCADE,
    role text NOT NULL CHECK (role IN ('instance_admin')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, role)
);

CREATE TABLE user_sessions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id text NOT NULL REFERENCES board_users (id) ON DELETE CASCADE,
    token_hash text NOT NULL UNIQUE,
    -- Sent back by the board in X-Paperclip-CSRF on every cookie-authenticated mutation.
    csrf_token text NOT NULL,
    user_agent text,
    ip_address text,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX user_sessions_user ON user_sessions (user_id, created_at DESC);

CREATE TABLE company_memberships (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    user_id text NOT NULL REFERENCES board_users (id) ON DELETE CASCADE,
    membership_role text NOT NULL CHECK (membership_role IN ('owner', 'admin', 'operator', 'viewer')),
    status text NOT NULL CHECK (status IN ('pending', 'active', 'suspended', 'archived')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (company_id, user_id)
);
CREATE INDEX company_memberships_user ON company_memberships (user_id) WHERE status = 'active';

CREATE TABLE invites (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- NULL for the bootstrap invite, which makes the first instance admin.
    company_id uuid REFERENCES companies (id) ON DELETE CASCADE,
    invite_type text NOT NULL CHECK (invite_type IN ('company_join', 'bootstrap_ceo')),
    token_hash text NOT NULL UNIQUE,
    allowed_join_types text NOT NULL DEFAULT 'human' CHECK (allowed_join_types IN ('human')),
    human_role text CHECK (human_role IN ('owner', 'admin', 'operator', 'viewer')),
    created_by_user_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    accepted_at timestamptz,
    accepted_by_user_id text,
    revoked_at timestamptz,
    CHECK ((invite_type = 'bootstrap_ceo') = (company_id IS NULL))
);
CREATE INDEX invites_company ON invites (company_id, created_at DESC);

CREATE TABLE join_requests (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    invite_id uuid NOT NULL UNIQUE REFERENCES invites (id) ON DELETE CASCADE,
    request_type text NOT NULL CHECK (request_type IN ('human')),
    requesting_user_id text NOT NULL REFERENCES board_users (id) ON DELETE CASCADE,
    membership_role text NOT NULL CHECK (membership_role IN ('owner', 'admin', 'operator', 'viewer')),
    status text NOT NULL DEFAULT 'pending_approval'
        CHECK (status IN ('pending_approval', 'approved', 'rejected')),
    decided_by_user_id text,
    decided_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX join_requests_company ON join_requests (company_id, created_at DESC);

CREATE TABLE board_api_keys (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id text NOT NULL REFERENCES board_users (id) ON DELETE CASCADE,
    name text NOT NULL,
    key_hash text NOT NULL UNIQUE,
    -- A key may be narrowed to one company the user can reach.
    company_id uuid REFERENCES companies (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    last_used_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX board_api_keys_user ON board_api_keys (user_id, created_at DESC);

-- Instance-level events (sign-ins, failed sign-ins, bootstrap) belong to no company. Failed
-- sign-ins are also what login throttling counts, across every replica.
ALTER TABLE activity_log ALTER COLUMN company_id DROP NOT NULL;
CREATE INDEX activity_log_instance ON activity_log (action, created_at DESC) WHERE company_id IS NULL;
