-- The control plane: companies, agents, goals, projects, issues and their conversation,
-- approvals, costs and the audit log. Every business row belongs to exactly one company.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE companies (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL CHECK (length(btrim(name)) > 0),
    description text,
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'archived')),
    pause_reason text,
    paused_at timestamptz,
    issue_prefix text NOT NULL UNIQUE,
    issue_counter integer NOT NULL DEFAULT 0,
    budget_monthly_cents bigint NOT NULL DEFAULT 0 CHECK (budget_monthly_cents >= 0),
    require_board_approval_for_new_agents boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER companies_touch BEFORE UPDATE ON companies
    FOR EACH ROW EXECUTE FUNCTION paperclip_touch_updated_at();

CREATE TABLE agents (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id uuid NOT NULL REFERENCES companies (id),
    name text NOT NULL CHECK (length(btrim(name)) > 0),
    role text NOT NULL DEFAULT 'general' CHECK (role IN
        ('ceo', 'cto', 'cmo', 'cfo', 'engineer', 'designer', 'pm', 'qa', 'devops', 'researcher', 'general')),
    title text,
    icon text,
    status text NOT NULL DEFAULT 'idle' CHECK (status IN
        ('active', 'paused', 'idle', 'running', 'error', 'pending_approval', 'terminated')),
    reports_to uuid REFERENCES agents (id),
    capabilities text,
    adapter_type text NOT NULL DEFAULT 'process',
    adapter_config jsonb NOT NULL DEFAULT '{}'::jsonb,
    runtime_config jsonb NOT NULL DEFAULT '{}'::jsonb,
    budget_monthly_cents bigint NOT NULL DEFAULT 0 CHECK (budget_monthly_cents >= 0),
    pause_reason text,
    paused_at timestamptz,
    error_reason text,
    permissions jsonb NOT NULL DEFAULT '{}'::jsonb,
    last_heartbeat_at timestamptz,
    metadata jsonb,
    url_key text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (company_id, url_key),
    CHECK (reports_to IS DISTINCT FROM id)
);
CREATE INDEX agents_company_status ON agents (company_id, status);
CREATE INDEX agents_company_reports_to ON agents (company_id, reports_to);
CREATE TRIGGER agents_touch BEFORE UPDATE ON agents
    FOR EACH ROW EXECUTE FUNCTION paperclip_touch_updated_at();

CREATE TABLE agent_api_keys (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    agent_id uuid NOT NULL REFERENCES agents (id),
    company_id uuid NOT NULL REFERENCES companies (id),
    name text NOT NULL,
    key_hash text NOT NULL UNIQUE,
    last_used_at timestamptz,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_api_keys_agent ON agent_api_keys (agent_id);

CREATE TABLE agent_wakeup_requests (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id uuid NOT NULL REFERENCES companies (id),
    agent_id uuid NOT NULL REFERENCES agents (id),
    source text NOT NULL CHECK (source IN ('timer', 'assignment', 'on_demand', 'automation')),
    trigger_detail text CHECK (trigger_detail IN ('manual', 'ping', 'callback', 'system')),
    reason text,
    payload jsonb,
    idempotency_key text,
    status text NOT NULL DEFAULT 'queued' CHECK (status IN
        ('queued', 'deferred_issue_execution', 'claimed', 'coalesced', 'skipped', 'completed', 'failed', 'cancelled')),
    requested_by_actor_type text NOT NULL,
    requested_by_actor_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- One queued wakeup per idempotency key and agent, even under concurrent requests.
CREATE UNIQUE INDEX agent_wakeup_requests_idempotency
    ON agent_wakeup_requests (agent_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
-- The queue a scheduler claims from with FOR UPDATE SKIP LOCKED.
CREATE INDEX agent_wakeup_requests_queue ON agent_wakeup_requests (agent_id, created_at) WHERE status = 'queued';

CREATE TABLE goals (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id uuid NOT NULL REFERENCES companies (id),
    title text NOT NULL CHECK (length(btrim(title)) > 0),
    description text,
    level text NOT NULL DEFAULT 'task' CHECK (level IN ('company', 'team', 'agent', 'task')),
    parent_id uuid REFERENCES goals (id),
    owner_agent_id uuid REFERENCES agents (id),
    status text NOT NULL DEFAULT 'planned' CHECK (status IN ('planned', 'active', 'achieved', 'cancelled')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX goals_company ON goals (company_id, created_at);
CREATE TRIGGER goals_touch BEFORE UPDATE ON goals
    FOR EACH ROW EXECUTE FUNCTION paperclip_touch_updated_at();

CREATE TABLE projects (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id uuid NOT NULL REFERENCES companies (id),
    goal_id uuid REFERENCES goals (id),
    name text NOT NULL CHECK (length(btrim(name)) > 0),
    description text,
    status text NOT NULL DEFAULT 'backlog' CHECK (status IN ('backlog', 'planned', 'in_progress', 'completed', 'cancelled')),
    lead_agent_id uuid REFERENCES agents (id),
    target_date date,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX projects_company ON projects (company_id, created_at);
CREATE TRIGGER projects_touch BEFORE UPDATE ON projects
    FOR EACH ROW EXECUTE FUNCTION paperclip_touch_updated_at();

CREATE TABLE issues (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id uuid NOT NULL REFERENCES companies (id),
    project_id uuid REFERENCES projects (id),
    goal_id uuid REFERENCES goals (id),
    parent_id uuid REFERENCES issues (id),
    title text NOT NULL CHECK (length(btrim(title)) > 0),
    description text,
    status text NOT NULL DEFAULT 'backlog' CHECK (status IN
        ('backlog', 'todo', 'in_progress', 'in_review', 'done', 'blocked', 'cancelled')),
    status_version integer NOT NULL DEFAULT 0,
    priority text NOT NULL DEFAULT 'medium' CHECK (priority IN ('critical', 'high', 'medium', 'low')),
    assignee_agent_id uuid REFERENCES agents (id),
    assignee_user_id text,
    checkout_run_id uuid,
    execution_run_id uuid,
    execution_locked_at timestamptz,
    created_by_agent_id uuid REFERENCES agents (id),
    created_by_user_id text,
    issue_number integer NOT NULL,
    identifier text NOT NULL UNIQUE,
    origin_kind text NOT NULL DEFAULT 'manual',
    origin_id text,
    origin_run_id uuid,
    request_depth integer NOT NULL DEFAULT 0,
    billing_code text,
    started_at timestamptz,
    completed_at timestamptz,
    cancelled_at timestamptz,
    hidden_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (company_id, issue_number),
    CHECK (assignee_agent_id IS NULL OR assignee_user_id IS NULL),
    CHECK (status <> 'in_progress' OR assignee_agent_id IS NOT NULL OR assignee_user_id IS NOT NULL),
    CHECK (parent_id IS DISTINCT FROM id)
);
CREATE INDEX issues_company_status ON issues (company_id, status);
CREATE INDEX issues_company_assignee_status ON issues (company_id, assignee_agent_id, status);
CREATE INDEX issues_company_parent ON issues (company_id, parent_id);
CREATE INDEX issues_company_project ON issues (company_id, project_id);
CREATE INDEX issues_title_trgm ON issues USING gin (title gin_trgm_ops);
CREATE TRIGGER issues_touch BEFORE UPDATE ON issues
    FOR EACH ROW EXECUTE FUNCTION paperclip_touch_updated_at();

CREATE TABLE issue_comments (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id uuid NOT NULL REFERENCES companies (id),
    issue_id uuid NOT NULL REFERENCES issues (id),
    author_agent_id uuid REFERENCES agents (id),
    author_user_id text,
    body text NOT NULL CHECK (length(btrim(body)) > 0),
    created_by_run_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX issue_comments_issue ON issue_comments (issue_id, created_at, id);

CREATE TABLE issue_documents (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id uuid NOT NULL REFERENCES companies (id),
    issue_id uuid NOT NULL REFERENCES issues (id),
    key text NOT NULL CHECK (key ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    title text,
    format text NOT NULL DEFAULT 'markdown',
    latest_revision_id uuid,
    latest_revision_number integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (issue_id, key)
);

CREATE TABLE document_revisions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    document_id uuid NOT NULL REFERENCES issue_documents (id),
    revision_number integer NOT NULL,
    title text,
    format text NOT NULL,
    body text NOT NULL,
    created_by_agent_id uuid REFERENCES agents (id),
    created_by_user_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (document_id, revision_number)
);

CREATE TABLE approvals (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id uuid NOT NULL REFERENCES companies (id),
    type text NOT NULL CHECK (type IN
        ('hire_agent', 'approve_ceo_strategy', 'budget_override_required', 'request_board_approval')),
    requested_by_agent_id uuid REFERENCES agents (id),
    requested_by_user_id text,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN
        ('pending', 'revision_requested', 'approved', 'rejected', 'cancelled')),
    payload jsonb NOT NULL DEFAULT '{}'::jsonb,
    decision_note text,
    decided_by_user_id text,
    decided_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX approvals_company_status_type ON approvals (company_id, status, type);
CREATE TRIGGER approvals_touch BEFORE UPDATE ON approvals
    FOR EACH ROW EXECUTE FUNCTION paperclip_touch_updated_at();

CREATE TABLE issue_approvals (
    issue_id uuid NOT NULL REFERENCES issues (id),
    approval_id uuid NOT NULL REFERENCES approvals (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (approval_id, issue_id)
);
CREATE INDEX issue_approvals_issue ON issue_approvals (issue_id);

CREATE TABLE cost_events (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id uuid NOT NULL REFERENCES companies (id),
    agent_id uuid NOT NULL REFERENCES agents (id),
    issue_id uuid REFERENCES issues (id),
    project_id uuid REFERENCES projects (id),
    goal_id uuid REFERENCES goals (id),
    billing_code text,
    provider text NOT NULL,
    model text NOT NULL,
    input_tokens bigint NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    cached_input_tokens bigint NOT NULL DEFAULT 0 CHECK (cached_input_tokens >= 0),
    output_tokens bigint NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    cost_cents bigint NOT NULL CHECK (cost_cents >= 0),
    occurred_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cost_events_company_time ON cost_events (company_id, occurred_at);
CREATE INDEX cost_events_company_agent_time ON cost_events (company_id, agent_id, occurred_at);
CREATE INDEX cost_events_company_project_time ON cost_events (company_id, project_id, occurred_at);

-- Append-only audit log: one row per mutation, written in the mutation's transaction.
CREATE TABLE activity_log (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id uuid NOT NULL REFERENCES companies (id),
    actor_type text NOT NULL CHECK (actor_type IN ('agent', 'user', 'system', 'plugin')),
    actor_id text NOT NULL,
    action text NOT NULL,
    entity_type text NOT NULL,
    entity_id text NOT NULL,
    agent_id uuid,
    run_id uuid,
    details jsonb,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX activity_log_company_time ON activity_log (company_id, created_at DESC);
CREATE INDEX activity_log_company_entity ON activity_log (company_id, entity_type, entity_id, created_at DESC);
CREATE INDEX activity_log_company_agent ON activity_log (company_id, agent_id, created_at DESC);
