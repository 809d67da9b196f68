-- Plugins: the registry, their database namespaces and the ledger of their migrations.

CREATE TABLE plugins (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    plugin_key text NOT NULL UNIQUE,
    version text NOT NULL,
    display_name text,
    status text NOT NULL DEFAULT 'installed' CHECK (status IN ('installed', 'ready', 'error', 'disabled', 'uninstalled')),
    install_path text NOT NULL,
    manifest jsonb NOT NULL,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER plugins_touch BEFORE UPDATE ON plugins
    FOR EACH ROW EXECUTE FUNCTION paperclip_touch_updated_at();

CREATE TABLE plugin_database_namespaces (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    plugin_id uuid NOT NULL UNIQUE REFERENCES plugins (id) ON DELETE CASCADE,
    plugin_key text NOT NULL,
    namespace_name text NOT NULL UNIQUE,
    namespace_mode text NOT NULL DEFAULT 'schema',
    -- 'role': plugin SQL runs as its own login role (PostgreSQL enforces the boundary);
    -- 'checked': the database user may not create roles, so only the statement checks apply.
    isolation text NOT NULL CHECK (isolation IN ('role', 'checked')),
    role_name text,
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'migration_failed')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER plugin_database_namespaces_touch BEFORE UPDATE ON plugin_database_namespaces
    FOR EACH ROW EXECUTE FUNCTION paperclip_touch_updated_at();

CREATE TABLE plugin_migrations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    plugin_id uuid NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
    plugin_key text NOT NULL,
    namespace_name text NOT NULL,
    migration_key text NOT NULL,
    checksum text NOT NULL,
    plugin_version text NOT NULL,
    status text NOT NULL CHECK (status IN ('applied', 'failed')),
    started_at timestamptz NOT NULL DEFAULT now(),
    applied_at timestamptz,
    error_message text,
    UNIQUE (plugin_id, migration_key)
);
