-- Runs as the plugin's own role, with its namespace as search path: it can create here and
-- reference public.issues (whitelisted), nothing else.
CREATE TABLE smoke_runs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    root_issue_id uuid NOT NULL REFERENCES public.issues (id) ON DELETE CASCADE,
    child_issue_id uuid REFERENCES public.issues (id) ON DELETE SET NULL,
    blocker_issue_id uuid REFERENCES public.issues (id) ON DELETE SET NULL,
    billing_code text,
    last_summary jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
