-- Live events: an outbox every server reads to push changes to connected clients, whichever
-- server made them. Readers take events in (xid, seq) order and only from transactions older
-- than every transaction still running (pg_snapshot_xmin), so a slow commit can never be skipped
-- by a cursor that moved past it.
CREATE TABLE live_events (
    seq bigserial PRIMARY KEY,
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    company_id uuid NOT NULL,
    event_type text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX live_events_order ON live_events (xid, seq);
CREATE INDEX live_events_company_order ON live_events (company_id, xid, seq);
CREATE INDEX live_events_created ON live_events (created_at);
