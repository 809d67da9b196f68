-- Board reads at company scale (1,000 agents, 100,000 issues, 1,000,000 activity rows) answer
-- from totals kept in the writing transaction instead of scanning the rows they summarise.
-- Triggers keep them, so every writer (routes, plugin host calls, bulk SQL) keeps them true.

-- 1. Month-to-date costs per agent and project. Every company-scoped request reads the
-- company's spend, the agent list reads each agent's and the cost pages group them: summing this
-- month's cost events each time grew with the events (100,000 events: 40 ms per company read).
-- One row per UTC month, agent and project (NULL: no project); the company's totals are the sum
-- of its rows. A row is locked only by cost events of the same agent and project, which the
-- agent's own runs write.
CREATE TABLE cost_monthly_totals (
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    month date NOT NULL,
    agent_id uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    project_id uuid REFERENCES projects (id) ON DELETE CASCADE,
    cost_cents bigint NOT NULL,
    input_tokens bigint NOT NULL,
    cached_input_tokens bigint NOT NULL,
    output_tokens bigint NOT NULL,
    event_count bigint NOT NULL,
    -- Agent first: an agent's spend is a short range of this index (the agent list reads 1,000).
    CONSTRAINT cost_monthly_totals_key UNIQUE NULLS NOT DISTINCT (company_id, agent_id, month, project_id)
);
-- The company's totals for a month, whatever the agent.
CREATE INDEX cost_monthly_totals_company_month ON cost_monthly_totals (company_id, month);

CREATE FUNCTION paperclip_cost_month(at timestamptz) RETURNS date
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN date_trunc('month', at AT TIME ZONE 'UTC')::date;

-- Adds the changed events (removed ones negated) to their rows; statement-level, so a bulk
-- insert is one grouped upsert, not one per row. (A transition table exists only for the
-- operations that have it, hence the source chosen per operation.)
CREATE FUNCTION paperclip_cost_totals() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    src text := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT e.*, 1 AS sign FROM new_rows e'
        WHEN 'DELETE' THEN 'SELECT e.*, -1 AS sign FROM old_rows e'
        ELSE 'SELECT e.*, -1 AS sign FROM old_rows e UNION ALL SELECT e.*, 1 AS sign FROM new_rows e' END;
BEGIN
    EXECUTE 'INSERT INTO cost_monthly_totals AS t (company_id, month, agent_id, project_id, cost_cents,
                                input_tokens, cached_input_tokens, output_tokens, event_count)
             SELECT company_id, paperclip_cost_month(occurred_at), agent_id, project_id, sum(sign * cost_cents),
                    sum(sign * input_tokens), sum(sign * cached_input_tokens), sum(sign * output_tokens), sum(sign)
               FROM (' || src || ') d
              GROUP BY 1, 2, 3, 4
             ON CONFLICT ON CONSTRAINT cost_monthly_totals_key DO UPDATE SET
                 cost_cents = t.cost_cents + excluded.cost_cents,
                 input_tokens = t.input_tokens + excluded.input_tokens,
                 cached_input_tokens = t.cached_input_tokens + excluded.cached_input_tokens,
                 output_tokens = t.output_tokens + excluded.output_tokens,
                 event_count = t.event_count + excluded.event_count';
    RETURN NULL;
END
$$;
CREATE TRIGGER cost_events_totals_insert AFTER INSERT ON cost_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION paperclip_cost_totals();
CREATE TRIGGER cost_events_totals_update AFTER UPDATE ON cost_events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION paperclip_cost_totals();
CREATE TRIGGER cost_events_totals_delete AFTER DELETE ON cost_events
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION paperclip_cost_totals();

INSERT INTO cost_monthly_totals (company_id, month, agent_id, project_id, cost_cents, input_tokens,
                                 cached_input_tokens, output_tokens, event_count)
SELECT company_id, paperclip_cost_month(occurred_at), agent_id, project_id, sum(cost_cents), sum(input_tokens),
       sum(cached_input_tokens), sum(output_tokens), count(*)
  FROM cost_events GROUP BY 1, 2, 3, 4;

-- 2. Issues per status, for the dashboard. A single counter row per (company, status) would
-- make every create in a company queue on it, so writers append signed deltas instead (no row
-- is ever updated by two writers), readers sum them, and a background round folds a company's
-- deltas into one row per status.
CREATE TABLE issue_status_tally (
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    status text NOT NULL,
    n bigint NOT NULL
);
CREATE INDEX issue_status_tally_company ON issue_status_tally (company_id);
ALTER TABLE issue_status_tally SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000);

CREATE FUNCTION paperclip_issue_tally() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO issue_status_tally (company_id, status, n)
        SELECT company_id, status, count(*) FROM new_rows GROUP BY 1, 2;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO issue_status_tally (company_id, status, n)
        SELECT company_id, status, -count(*) FROM old_rows GROUP BY 1, 2;
    ELSE
        INSERT INTO issue_status_tally (company_id, status, n)
        SELECT company_id, status, sum(n) FROM (
            SELECT o.company_id, o.status, -1 AS n FROM old_rows o JOIN new_rows w ON w.id = o.id
             WHERE (o.company_id, o.status) IS DISTINCT FROM (w.company_id, w.status)
            UNION ALL
            SELECT w.company_id, w.status, 1 FROM old_rows o JOIN new_rows w ON w.id = o.id
             WHERE (o.company_id, o.status) IS DISTINCT FROM (w.company_id, w.status)
        ) d GROUP BY 1, 2 HAVING sum(n) <> 0;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER issues_tally_insert AFTER INSERT ON issues
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION paperclip_issue_tally();
CREATE TRIGGER issues_tally_update AFTER UPDATE ON issues
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION paperclip_issue_tally();
CREATE TRIGGER issues_tally_delete AFTER DELETE ON issues
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION paperclip_issue_tally();

INSERT INTO issue_status_tally (company_id, status, n)
SELECT company_id, status, count(*) FROM issues GROUP BY 1, 2;

-- 3. The inbox badge: per commented issue, its latest comment and author, and the latest
-- comment by anyone else. For any reader, the newest comment someone else wrote is then
-- `other_at` when the reader wrote the latest one and `last_at` otherwise, so counting unread
-- issues reads one row per commented issue instead of every issue's comments.
CREATE TABLE issue_comment_marks (
    issue_id uuid PRIMARY KEY REFERENCES issues (id) ON DELETE CASCADE,
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    last_at timestamptz NOT NULL,
    last_author text NOT NULL,
    other_at timestamptz
);
CREATE INDEX issue_comment_marks_company ON issue_comment_marks (company_id);

-- `user:<id>`, `agent:<uuid>` (the inbox's reader names), or `system`.
CREATE FUNCTION paperclip_comment_author(agent uuid, usr text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN agent IS NOT NULL THEN 'agent:' || agent
                WHEN usr IS NOT NULL THEN 'user:' || usr
                ELSE 'system' END;

-- A new comment (t, a): by the latest author, it may move `last_at`; by someone else and newer,
-- it becomes the latest and the old latest is the newest by anyone other than `a`; by someone
-- else and older (a transaction that committed late), it may move `other_at`.
CREATE FUNCTION paperclip_comment_mark() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    a text := paperclip_comment_author(NEW.author_agent_id, NEW.author_user_id);
BEGIN
    INSERT INTO issue_comment_marks AS m (issue_id, company_id, last_at, last_author, other_at)
    VALUES (NEW.issue_id, NEW.company_id, NEW.created_at, a, NULL)
    ON CONFLICT (issue_id) DO UPDATE SET
        last_at = CASE WHEN m.last_author = a OR NEW.created_at >= m.last_at
                       THEN greatest(m.last_at, NEW.created_at) ELSE m.last_at END,
        last_author = CASE WHEN m.last_author <> a AND NEW.created_at >= m.last_at
                           THEN a ELSE m.last_author END,
        other_at = CASE WHEN m.last_author = a THEN m.other_at
                        WHEN NEW.created_at >= m.last_at THEN m.last_at
                        ELSE greatest(m.other_at, NEW.created_at) END;
    RETURN NULL;
END
$$;
CREATE TRIGGER issue_comments_mark AFTER INSERT ON issue_comments
    FOR EACH ROW EXECUTE FUNCTION paperclip_comment_mark();

-- The marks of `issues`, recomputed from their comments (an issue without comments has none).
CREATE FUNCTION paperclip_comment_marks_for(issues uuid[]) RETURNS void LANGUAGE sql AS $$
    DELETE FROM issue_comment_marks WHERE issue_id = ANY(issues);
    INSERT INTO issue_comment_marks (issue_id, company_id, last_at, last_author, other_at)
    SELECT l.issue_id, l.company_id, l.created_at, l.author,
           (SELECT max(c.created_at) FROM issue_comments c
             WHERE c.issue_id = l.issue_id
               AND paperclip_comment_author(c.author_agent_id, c.author_user_id) <> l.author)
      FROM (SELECT DISTINCT ON (c.issue_id) c.issue_id, c.company_id, c.created_at,
                   paperclip_comment_author(c.author_agent_id, c.author_user_id) AS author
              FROM issue_comments c
             WHERE c.issue_id = ANY(issues)
             ORDER BY c.issue_id, c.created_at DESC) l;
$$;

-- Comments go away rarely (an issue or company deleted): recompute the touched issues' marks.
CREATE FUNCTION paperclip_comment_marks_recompute() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM paperclip_comment_marks_for(ARRAY(SELECT DISTINCT issue_id FROM old_rows));
    RETURN NULL;
END
$$;
CREATE TRIGGER issue_comments_unmark AFTER DELETE ON issue_comments
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION paperclip_comment_marks_recompute();

SELECT paperclip_comment_marks_for(ARRAY(SELECT DISTINCT issue_id FROM issue_comments));

-- 4. A project's issue list in list order (as the company's and each status's lists are), so
-- `LIMIT` stops early instead of sorting every issue of the project. Not partial, so it serves
-- every lookup the plain (company, project) index it replaces did.
DROP INDEX issues_company_project;
CREATE INDEX issues_company_project ON issues (company_id, project_id, priority_rank, created_at DESC, id);

-- 5. The sidebar's failed-runs badge on every board page: a company's recent failures, without
-- reading its whole run history.
CREATE INDEX heartbeat_runs_company_failed ON heartbeat_runs (company_id, finished_at)
    WHERE status IN ('failed', 'timed_out');

-- 6. The busiest tables are vacuumed and analysed after 2 % of their rows change rather than
-- the default 20 %: index-only scans stay index-only and plans follow the data while agents write.
ALTER TABLE issues SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE activity_log SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE heartbeat_runs SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE cost_events SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
