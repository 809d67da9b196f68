-- Plugin configuration (instance-wide, or per company) and key/value state.
CREATE TABLE plugin_config (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    plugin_id uuid NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
    company_id uuid REFERENCES companies (id),
    config jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (plugin_id, company_id)
);

CREATE TABLE plugin_state (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    plugin_id uuid NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
    scope_kind text NOT NULL CHECK (scope_kind IN ('instance', 'company', 'project', 'agent', 'issue', 'goal', 'run')),
    scope_id text,
    namespace text NOT NULL DEFAULT 'default',
    state_key text NOT NULL CHECK (length(state_key) BETWEEN 1 AND 200),
    value jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (plugin_id, scope_kind, scope_id, namespace, state_key)
);
