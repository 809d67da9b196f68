-- The heartbeat engine: runs with their events, the wakeups that feed them, and the lease that
-- lets any replica take over the runs of a replica that died.

ALTER TABLE agent_wakeup_requests
    ADD COLUMN coalesced_count integer NOT NULL DEFAULT 0,
    ADD COLUMN run_id uuid,
    ADD COLUMN claimed_at timestamptz,
    ADD COLUMN finished_at timestamptz,
    ADD COLUMN error text;

CREATE TABLE heartbeat_runs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id uuid NOT NULL REFERENCES companies (id),
    agent_id uuid NOT NULL REFERENCES agents (id),
    invocation_source text NOT NULL DEFAULT 'on_demand'
        CHECK (invocation_source IN ('timer', 'assignment', 'on_demand', 'automation')),
    trigger_detail text,
    status text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out')),
    -- What coalesces: wakeups of one agent for one task (or for no task) share a queued run.
    task_key text,
    started_at timestamptz,
    finished_at timestamptz,
    error text,
    wakeup_request_id uuid REFERENCES agent_wakeup_requests (id),
    exit_code integer,
    signal text,
    usage_json jsonb,
    result_json jsonb,
    session_id_before text,
    session_id_after text,
    log_store text,
    log_ref text,
    log_bytes bigint,
    log_sha256 text,
    log_compressed boolean NOT NULL DEFAULT false,
    stdout_excerpt text,
    stderr_excerpt text,
    error_code text,
    external_run_id text,
    process_pid integer,
    process_group_id integer,
    process_started_at timestamptz,
    last_output_at timestamptz,
    last_output_seq integer NOT NULL DEFAULT 0,
    last_output_stream text,
    last_output_bytes bigint,
    retry_of_run_id uuid REFERENCES heartbeat_runs (id),
    process_loss_retry_count integer NOT NULL DEFAULT 0,
    scheduled_retry_at timestamptz,
    scheduled_retry_attempt integer NOT NULL DEFAULT 0,
    scheduled_retry_reason text,
    liveness_state text,
    liveness_reason text,
    continuation_attempt integer NOT NULL DEFAULT 0,
    last_useful_action_at timestamptz,
    next_action text,
    context_snapshot jsonb,
    -- The engine's own bookkeeping (not part of the API shape): who runs it and until when the
    -- claim holds without renewal, a requested cancel, the next event number, and where the
    -- process lives (host and kernel start time, so a restarted server can kill exactly it).
    lease_owner text,
    lease_expires_at timestamptz,
    cancel_requested_at timestamptz,
    event_seq integer NOT NULL DEFAULT 0,
    process_host text,
    process_start_ticks bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (status <> 'running' OR lease_owner IS NOT NULL)
);
-- The queue claimers scan with FOR UPDATE SKIP LOCKED, oldest first.
CREATE INDEX heartbeat_runs_queue ON heartbeat_runs (created_at) WHERE status = 'queued';
-- The recovery sweep: running runs by lease expiry.
CREATE INDEX heartbeat_runs_leases ON heartbeat_runs (lease_expires_at) WHERE status = 'running';
CREATE INDEX heartbeat_runs_agent_status ON heartbeat_runs (agent_id, status);
CREATE INDEX heartbeat_runs_company_created ON heartbeat_runs (company_id, created_at DESC);
CREATE INDEX heartbeat_runs_company_agent_created ON heartbeat_runs (company_id, agent_id, created_at DESC);
CREATE INDEX heartbeat_runs_company_task ON heartbeat_runs (company_id, task_key, created_at DESC);
CREATE TRIGGER heartbeat_runs_touch BEFORE UPDATE ON heartbeat_runs
    FOR EACH ROW EXECUTE FUNCTION paperclip_touch_updated_at();

CREATE TABLE heartbeat_run_events (
    id bigserial PRIMARY KEY,
    company_id uuid NOT NULL REFERENCES companies (id),
    run_id uuid NOT NULL REFERENCES heartbeat_runs (id),
    agent_id uuid NOT NULL REFERENCES agents (id),
    seq integer NOT NULL,
    event_type text NOT NULL,
    stream text,
    level text,
    color text,
    message text,
    payload jsonb,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (run_id, seq)
);

ALTER TABLE cost_events ADD COLUMN heartbeat_run_id uuid REFERENCES heartbeat_runs (id);
CREATE INDEX cost_events_run ON cost_events (heartbeat_run_id) WHERE heartbeat_run_id IS NOT NULL;

-- When the agent's timer heartbeat is next due (NULL: computed from its last heartbeat).
ALTER TABLE agents ADD COLUMN timer_next_at timestamptz;
