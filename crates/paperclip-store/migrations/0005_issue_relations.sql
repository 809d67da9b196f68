-- Blockers between issues ("issue B is blocked by issue A"), same company only.
CREATE TABLE issue_relations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id uuid NOT NULL REFERENCES companies (id),
    issue_id uuid NOT NULL REFERENCES issues (id),
    blocked_by_issue_id uuid NOT NULL REFERENCES issues (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (issue_id, blocked_by_issue_id),
    CHECK (issue_id <> blocked_by_issue_id)
);
CREATE INDEX issue_relations_blocker ON issue_relations (blocked_by_issue_id);
