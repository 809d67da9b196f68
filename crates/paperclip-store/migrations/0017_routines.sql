-- Routines: templates for recurring work. Each firing (a schedule's time, a webhook call, an API
-- or manual run) is one `routine_runs` row and, by the routine's concurrency policy, a tracked
-- issue (`origin_kind = 'routine_execution'`, `origin_id` = the routine) assigned and woken.
CREATE TABLE routines (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id uuid NOT NULL REFERENCES companies (id),
    project_id uuid REFERENCES projects (id) ON DELETE SET NULL,
    goal_id uuid REFERENCES goals (id) ON DELETE SET NULL,
    parent_issue_id uuid REFERENCES issues (id) ON DELETE SET NULL,
    title text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 200),
    description text,
    assignee_agent_id uuid REFERENCES agents (id),
    priority text NOT NULL DEFAULT 'medium' CHECK (priority IN ('critical', 'high', 'medium', 'low')),
    label_ids uuid[] NOT NULL DEFAULT '{}',
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'archived')),
    concurrency_policy text NOT NULL DEFAULT 'coalesce_if_active'
        CHECK (concurrency_policy IN ('coalesce_if_active', 'always_enqueue', 'skip_if_active')),
    catch_up_policy text NOT NULL DEFAULT 'skip_missed'
        CHECK (catch_up_policy IN ('skip_missed', 'enqueue_missed_with_cap')),
    created_by_agent_id uuid REFERENCES agents (id),
    created_by_user_id text,
    last_triggered_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX routines_company ON routines (company_id, created_at, id);
CREATE TRIGGER routines_touch BEFORE UPDATE ON routines
    FOR EACH ROW EXECUTE FUNCTION paperclip_touch_updated_at();

CREATE TABLE routine_triggers (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id uuid NOT NULL REFERENCES companies (id),
    routine_id uuid NOT NULL REFERENCES routines (id) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('schedule', 'webhook', 'api')),
    label text CHECK (length(label) <= 120),
    enabled boolean NOT NULL DEFAULT true,
    cron_expression text,
    timezone text,
    -- A schedule's next firing time; the scheduler claims due triggers by it.
    next_run_at timestamptz,
    last_fired_at timestamptz,
    -- A webhook's URL names it by this unguessable id; its signing secret is a company secret
    -- (so master-key rotation and backups treat it like every other secret).
    public_id text UNIQUE,
    secret_id uuid REFERENCES company_secrets (id) ON DELETE SET NULL,
    signing_mode text CHECK (signing_mode IN ('bearer', 'hmac_sha256', 'github_hmac', 'none')),
    replay_window_sec integer CHECK (replay_window_sec BETWEEN 30 AND 86400),
    last_rotated_at timestamptz,
    last_result text,
    created_by_agent_id uuid REFERENCES agents (id),
    created_by_user_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'schedule') = (cron_expression IS NOT NULL)),
    CHECK ((kind = 'webhook') = (public_id IS NOT NULL AND signing_mode IS NOT NULL))
);
CREATE INDEX routine_triggers_routine ON routine_triggers (routine_id, created_at);
CREATE INDEX routine_triggers_due ON routine_triggers (next_run_at) WHERE kind = 'schedule' AND enabled;
CREATE TRIGGER routine_triggers_touch BEFORE UPDATE ON routine_triggers
    FOR EACH ROW EXECUTE FUNCTION paperclip_touch_updated_at();

CREATE TABLE routine_runs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id uuid NOT NULL REFERENCES companies (id),
    routine_id uuid NOT NULL REFERENCES routines (id) ON DELETE CASCADE,
    trigger_id uuid REFERENCES routine_triggers (id) ON DELETE SET NULL,
    source text NOT NULL CHECK (source IN ('schedule', 'webhook', 'api', 'manual')),
    status text NOT NULL CHECK (status IN ('issue_created', 'coalesced', 'skipped', 'failed')),
    -- The schedule time this run fires for: with the trigger, the lock that makes every firing
    -- happen once however many servers run the scheduler.
    scheduled_for timestamptz,
    triggered_at timestamptz NOT NULL DEFAULT now(),
    idempotency_key text CHECK (length(idempotency_key) <= 255),
    trigger_payload jsonb,
    linked_issue_id uuid REFERENCES issues (id) ON DELETE SET NULL,
    failure_reason text,
    created_by_agent_id uuid REFERENCES agents (id),
    created_by_user_id text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX routine_runs_firing ON routine_runs (trigger_id, scheduled_for) WHERE scheduled_for IS NOT NULL;
CREATE UNIQUE INDEX routine_runs_idempotency ON routine_runs (routine_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX routine_runs_routine ON routine_runs (routine_id, created_at DESC, id);

-- Signed webhook calls seen within their trigger's replay window: a second delivery of the same
-- signed call is refused.
CREATE TABLE routine_webhook_deliveries (
    trigger_id uuid NOT NULL REFERENCES routine_triggers (id) ON DELETE CASCADE,
    digest text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (trigger_id, digest)
);
CREATE INDEX routine_webhook_deliveries_age ON routine_webhook_deliveries (received_at);

-- A routine's open issue, for its concurrency policy.
CREATE INDEX issues_open_origin ON issues (company_id, origin_kind, origin_id)
    WHERE status NOT IN ('done', 'cancelled');
