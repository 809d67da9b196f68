-- Every event the worker receives, as received (no de-duplication here: the tests count them).
CREATE TABLE smoke_events (
    id bigserial PRIMARY KEY,
    activity_id uuid NOT NULL,
    event_type text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
