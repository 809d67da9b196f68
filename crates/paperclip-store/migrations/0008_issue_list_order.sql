-- Issue lists are ordered by priority, then newest first. A stored rank lets an index deliver
-- that order directly, so `LIMIT 200` reads 200 index entries instead of sorting every issue of
-- the company.
ALTER TABLE issues ADD COLUMN priority_rank smallint GENERATED ALWAYS AS (
    CASE priority WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END
) STORED;
CREATE INDEX issues_company_list_order ON issues (company_id, priority_rank, created_at DESC, id) WHERE hidden_at IS NULL;
CREATE INDEX issues_company_status_list_order ON issues (company_id, status, priority_rank, created_at DESC, id) WHERE hidden_at IS NULL;
-- The activity log grows fastest; filtering it by action must not scan a company's history.
CREATE INDEX activity_log_company_action ON activity_log (company_id, action, created_at DESC);
