-- Coding agents: the session each agent keeps per task (resumed next heartbeat), its runtime
-- totals, and its instructions bundle (AGENTS.md-style files, edited through the API).

CREATE TABLE agent_task_sessions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id uuid NOT NULL REFERENCES companies (id),
    agent_id uuid NOT NULL REFERENCES agents (id),
    adapter_type text NOT NULL,
    task_key text NOT NULL,
    session_params_json jsonb,
    session_display_id text,
    last_run_id uuid REFERENCES heartbeat_runs (id),
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (company_id, agent_id, adapter_type, task_key)
);
CREATE TRIGGER agent_task_sessions_touch BEFORE UPDATE ON agent_task_sessions
    FOR EACH ROW EXECUTE FUNCTION paperclip_touch_updated_at();

CREATE TABLE agent_runtime_state (
    agent_id uuid PRIMARY KEY REFERENCES agents (id),
    company_id uuid NOT NULL REFERENCES companies (id),
    adapter_type text NOT NULL,
    session_id text,
    state_json jsonb,
    last_run_id uuid REFERENCES heartbeat_runs (id),
    last_run_status text,
    total_input_tokens bigint NOT NULL DEFAULT 0,
    total_output_tokens bigint NOT NULL DEFAULT 0,
    total_cached_input_tokens bigint NOT NULL DEFAULT 0,
    total_cost_cents bigint NOT NULL DEFAULT 0,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER agent_runtime_state_touch BEFORE UPDATE ON agent_runtime_state
    FOR EACH ROW EXECUTE FUNCTION paperclip_touch_updated_at();

CREATE TABLE agent_instruction_files (
    agent_id uuid NOT NULL REFERENCES agents (id),
    company_id uuid NOT NULL REFERENCES companies (id),
    path text NOT NULL CHECK (path ~ '^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$' AND path !~ '(^|/)\.\.?(/|$)'),
    content text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, path)
);
CREATE TRIGGER agent_instruction_files_touch BEFORE UPDATE ON agent_instruction_files
    FOR EACH ROW EXECUTE FUNCTION paperclip_touch_updated_at();
