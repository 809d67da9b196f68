-- Foundation: shared helpers and instance-wide settings.

-- Keeps updated_at honest on every table that opts in with a trigger.
CREATE FUNCTION paperclip_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

-- One row per instance (singleton_key = 'default'): settings that every server replica must
-- agree on live here, never in a replica's memory.
CREATE TABLE instance_settings (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    singleton_key text NOT NULL DEFAULT 'default' UNIQUE,
    general jsonb NOT NULL DEFAULT '{}'::jsonb,
    experimental jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER instance_settings_touch BEFORE UPDATE ON instance_settings
    FOR EACH ROW EXECUTE FUNCTION paperclip_touch_updated_at();

INSERT INTO instance_settings (singleton_key) VALUES ('default');
