-- Events for plugins: each activity row a ready plugin subscribes to is queued here in the same
-- transaction as the mutation, claimed with SKIP LOCKED by one replica, and deleted when the
-- worker acknowledges it, so an acknowledged event is never delivered again.
CREATE TABLE plugin_event_outbox (
    id bigserial PRIMARY KEY,
    plugin_id uuid NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
    activity_id uuid NOT NULL REFERENCES activity_log (id),
    attempts integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (plugin_id, activity_id)
);
CREATE INDEX plugin_event_outbox_plugin ON plugin_event_outbox (plugin_id, id);
