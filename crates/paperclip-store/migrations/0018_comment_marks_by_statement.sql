-- Comment marks (0016) are kept by one trigger per *statement* instead of one per row. An
-- import writes comments hundreds to a statement, and upserting the issue's mark once per
-- comment was half of each batch's time. The rule is unchanged; it is applied to each issue's
-- new comments at once.
--
-- A statement's comments on one issue, as a mark of their own: the newest (T, by A; among equal
-- times the last inserted, whose id sorts last) and the newest by anyone other than A (X). Merged
-- into the issue's mark (L, by B; O the newest by anyone other than B):
--   T >= L: the batch's newest is the latest: (T, A), and the newest not by A is X or, from the
--           old mark, L when B is not A, else O;
--   T <  L: (L, B) stays, and the newest not by B is O or, from the batch, T when A is not B,
--           else X.
-- Concurrent writers meet on the mark's row (ON CONFLICT locks it), as before, and a statement
-- takes its marks in issue order.
CREATE FUNCTION paperclip_comment_marks_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- One pass over the statement's rows whatever its size (a correlated max per issue would
    -- read them all once per issue: quadratic for a bulk load).
    WITH n AS (
        SELECT issue_id, company_id, created_at, id,
               paperclip_comment_author(author_agent_id, author_user_id) AS author
          FROM new_rows),
    latest AS (
        SELECT DISTINCT ON (issue_id) issue_id, company_id, created_at, author
          FROM n ORDER BY issue_id, created_at DESC, id DESC),
    other AS (
        SELECT n.issue_id, max(n.created_at) AS other_at
          FROM n JOIN latest l ON l.issue_id = n.issue_id AND n.author <> l.author
         GROUP BY n.issue_id)
    INSERT INTO issue_comment_marks AS m (issue_id, company_id, last_at, last_author, other_at)
    SELECT l.issue_id, l.company_id, l.created_at, l.author, o.other_at
      FROM latest l LEFT JOIN other o ON o.issue_id = l.issue_id
     ORDER BY l.issue_id
    ON CONFLICT (issue_id) DO UPDATE SET
        last_at = greatest(m.last_at, EXCLUDED.last_at),
        last_author = CASE WHEN EXCLUDED.last_at >= m.last_at
                           THEN EXCLUDED.last_author ELSE m.last_author END,
        other_at = CASE
            WHEN EXCLUDED.last_at >= m.last_at THEN greatest(
                EXCLUDED.other_at,
                CASE WHEN m.last_author <> EXCLUDED.last_author THEN m.last_at ELSE m.other_at END)
            ELSE greatest(
                m.other_at,
                CASE WHEN EXCLUDED.last_author <> m.last_author
                     THEN EXCLUDED.last_at ELSE EXCLUDED.other_at END)
        END;
    RETURN NULL;
END
$$;

DROP TRIGGER issue_comments_mark ON issue_comments;
DROP FUNCTION paperclip_comment_mark();
CREATE TRIGGER issue_comments_mark AFTER INSERT ON issue_comments
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION paperclip_comment_marks_add();
