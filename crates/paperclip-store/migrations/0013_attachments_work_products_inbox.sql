-- Stored files and what they are attached to, an issue's deliverables, and per-reader inbox state.

-- One stored object. The bytes live with the provider (`local_disk` or `s3`) under `object_key`;
-- the row is written only once the object is complete.
CREATE TABLE assets (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id uuid NOT NULL REFERENCES companies (id),
    provider text NOT NULL CHECK (provider IN ('local_disk', 's3')),
    object_key text NOT NULL,
    content_type text NOT NULL,
    byte_size bigint NOT NULL CHECK (byte_size >= 0),
    sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    original_filename text,
    created_by_agent_id uuid REFERENCES agents (id),
    created_by_user_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX assets_company_object_key ON assets (company_id, object_key);

CREATE TABLE issue_attachments (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id uuid NOT NULL REFERENCES companies (id),
    issue_id uuid NOT NULL REFERENCES issues (id),
    asset_id uuid NOT NULL REFERENCES assets (id),
    issue_comment_id uuid REFERENCES issue_comments (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX issue_attachments_issue ON issue_attachments (issue_id, created_at);
CREATE INDEX issue_attachments_comment ON issue_attachments (issue_comment_id)
    WHERE issue_comment_id IS NOT NULL;

-- An issue's deliverables: a PR, a branch, a preview URL, a file, a document.
CREATE TABLE issue_work_products (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id uuid NOT NULL REFERENCES companies (id),
    issue_id uuid NOT NULL REFERENCES issues (id),
    project_id uuid REFERENCES projects (id),
    type text NOT NULL CHECK (type IN
        ('preview_url', 'runtime_service', 'pull_request', 'branch', 'commit', 'artifact', 'document')),
    provider text NOT NULL CHECK (length(btrim(provider)) > 0),
    external_id text,
    title text NOT NULL CHECK (length(btrim(title)) > 0),
    url text,
    status text NOT NULL DEFAULT 'active' CHECK (status IN
        ('active', 'ready_for_review', 'approved', 'changes_requested', 'merged', 'closed', 'failed',
         'archived', 'draft')),
    review_state text NOT NULL DEFAULT 'none' CHECK (review_state IN
        ('none', 'needs_board_review', 'approved', 'changes_requested')),
    is_primary boolean NOT NULL DEFAULT false,
    health_status text NOT NULL DEFAULT 'unknown' CHECK (health_status IN ('unknown', 'healthy', 'unhealthy')),
    summary text,
    metadata jsonb,
    created_by_run_id uuid REFERENCES heartbeat_runs (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX issue_work_products_issue ON issue_work_products (issue_id, created_at);
-- At most one primary deliverable per issue and type.
CREATE UNIQUE INDEX issue_work_products_primary ON issue_work_products (issue_id, type) WHERE is_primary;
CREATE TRIGGER issue_work_products_touch BEFORE UPDATE ON issue_work_products
    FOR EACH ROW EXECUTE FUNCTION paperclip_touch_updated_at();

-- When a reader (a board user or an agent) last read an issue, and whether they archived it
-- from their inbox. `reader` is `user:<id>` or `agent:<uuid>`.
CREATE TABLE issue_read_states (
    issue_id uuid NOT NULL REFERENCES issues (id),
    reader text NOT NULL CHECK (reader ~ '^(user|agent):.+'),
    company_id uuid NOT NULL REFERENCES companies (id),
    last_read_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issue_id, reader)
);
CREATE TABLE issue_inbox_archives (
    issue_id uuid NOT NULL REFERENCES issues (id),
    reader text NOT NULL CHECK (reader ~ '^(user|agent):.+'),
    company_id uuid NOT NULL REFERENCES companies (id),
    archived_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issue_id, reader)
);
CREATE INDEX issue_inbox_archives_reader ON issue_inbox_archives (company_id, reader);
CREATE TRIGGER assets_touch BEFORE UPDATE ON assets
    FOR EACH ROW EXECUTE FUNCTION paperclip_touch_updated_at();
CREATE TRIGGER issue_attachments_touch BEFORE UPDATE ON issue_attachments
    FOR EACH ROW EXECUTE FUNCTION paperclip_touch_updated_at();
