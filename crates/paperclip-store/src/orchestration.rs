//! Orchestration reads and writes used by plugins: subtrees, blockers and summaries.

use serde_json::{json, Value};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::activity::{self, Entry};
use crate::issues::{self, Issue};
use crate::Actor;
use crate::{Result, StoreError};
use paperclip_postgres::pool::{q, qa};

/// The issue and all its descendants (depth-limited), root first.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn subtree(conn: &mut PgConnection, root: &Issue) -> Result<Vec<Issue>> {
    let ids: Vec<Uuid> = paperclip_postgres::pool::qs(
        "WITH RECURSIVE down(id, depth) AS (
             SELECT id, 0 FROM issues WHERE id = $1
             UNION ALL SELECT i.id, down.depth + 1 FROM issues i JOIN down ON i.parent_id = down.id WHERE down.depth < 50
         ) SELECT id FROM down ORDER BY depth",
    )
    .bind(root.id)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot read the subtree"))?;
    let mut rows = issues::get_many(conn, &ids).await?;
    rows.sort_by_key(|i| ids.iter().position(|x| *x == i.id));
    Ok(rows)
}

/// Replaces the blockers of `issue` (all in the same company) and records `issue.relations_updated`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn set_blocked_by(
    conn: &mut PgConnection,
    actor: &Actor,
    issue: &Issue,
    blockers: &[Uuid],
) -> Result<()> {
    for b in blockers {
        issues::check_ref(conn, "issues", "blockedByIssueIds", issue.company_id, *b).await?;
        if *b == issue.id {
            return Err(StoreError::invalid(
                "blockedByIssueIds",
                "an issue cannot block itself",
            ));
        }
    }
    // No cycles: none of the new blockers may (transitively) be blocked by this issue.
    let cycle: Option<Vec<String>> = paperclip_postgres::pool::qs(
        "WITH RECURSIVE up(id, path) AS (
             SELECT b, ARRAY[b] FROM unnest($2::uuid[]) AS b
             UNION ALL
             SELECT r.blocked_by_issue_id, up.path || r.blocked_by_issue_id
             FROM issue_relations r JOIN up ON r.issue_id = up.id
             WHERE r.issue_id <> $1 AND cardinality(up.path) < 100 AND NOT r.blocked_by_issue_id = ANY(up.path)
         )
         SELECT ARRAY(SELECT i.identifier FROM unnest(up.path) WITH ORDINALITY AS p(id, n) JOIN issues i ON i.id = p.id ORDER BY p.n)
         FROM up WHERE up.id = $1 LIMIT 1",
    )
    .bind(issue.id)
    .bind(blockers)
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot check for blocker cycles"))?;
    if let Some(path) = cycle {
        let mut names = vec![issue.identifier.clone()];
        names.extend(path);
        return Err(StoreError::invalid(
            "blockedByIssueIds",
            format!(
                "blockers would make a cycle: {}",
                names.join(" → blocked by → ")
            ),
        ));
    }
    q("DELETE FROM issue_relations WHERE issue_id = $1")
        .bind(issue.id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot update blockers"))?;
    q("INSERT INTO issue_relations (company_id, issue_id, blocked_by_issue_id) SELECT $1, $2, unnest($3::uuid[])")
        .bind(issue.company_id)
        .bind(issue.id)
        .bind(blockers)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot update blockers"))?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id: issue.company_id,
            action: "issue.relations_updated",
            entity_type: "issue",
            entity_id: issue.id.to_string(),
            details: json!({"identifier": issue.identifier, "blockedByIssueIds": blockers}),
        },
    )
    .await
}

/// Blockers of `issue_id`: (blocker id, identifier, status).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn blockers(
    conn: &mut PgConnection,
    issue_ids: &[Uuid],
) -> Result<Vec<(Uuid, Uuid, String, String)>> {
    qa("SELECT r.issue_id, b.id, b.identifier, b.status FROM issue_relations r JOIN issues b ON b.id = r.blocked_by_issue_id
        WHERE r.issue_id = ANY($1) ORDER BY b.issue_number")
    .bind(issue_ids)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot read blockers"))
}

/// An issue and (optionally) its subtree: statuses, blockers and month-independent cost totals.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn summary(
    conn: &mut PgConnection,
    root: &Issue,
    include_subtree: bool,
) -> Result<Value> {
    let tree = if include_subtree {
        subtree(conn, root).await?
    } else {
        vec![root.clone()]
    };
    let ids: Vec<Uuid> = tree.iter().map(|i| i.id).collect();
    let blockers = blockers(conn, &ids).await?;
    let costs: Vec<(Uuid, i64)> = qa("SELECT issue_id, sum(cost_cents)::bigint FROM cost_events WHERE issue_id = ANY($1) GROUP BY issue_id")
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot sum costs"))?;
    let mut by_status = serde_json::Map::new();
    for i in &tree {
        let n = by_status
            .get(&i.status)
            .and_then(Value::as_i64)
            .unwrap_or(0);
        by_status.insert(i.status.clone(), json!(n + 1));
    }
    let issues: Vec<Value> = tree
        .iter()
        .map(|i| {
            let bl: Vec<Value> = blockers
                .iter()
                .filter(|(owner, ..)| *owner == i.id)
                .map(|(_, id, ident, status)| json!({"id": id, "identifier": ident, "status": status}))
                .collect();
            json!({"id": i.id, "identifier": i.identifier, "title": i.title, "status": i.status, "parentId": i.parent_id,
                   "assigneeAgentId": i.assignee_agent_id, "blockedBy": bl,
                   "costCents": costs.iter().find(|(id, _)| *id == i.id).map_or(0, |(_, c)| *c)})
        })
        .collect();
    let unresolved = blockers
        .iter()
        .filter(|(.., s)| s != "done" && s != "cancelled")
        .count();
    Ok(json!({
        "rootIssueId": root.id, "issueCount": tree.len(), "byStatus": by_status,
        "unresolvedBlockerCount": unresolved, "totalCostCents": costs.iter().map(|(_, c)| c).sum::<i64>(),
        "issues": issues,
    }))
}

/// An issue as a relation names it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Related {
    pub id: Uuid,
    pub identifier: String,
    pub title: String,
    pub status: String,
}

/// What blocks `issue_id` and what it blocks.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn relations(
    conn: &mut PgConnection,
    issue_id: Uuid,
) -> Result<(Vec<Related>, Vec<Related>)> {
    let blocked_by = qa(
        "SELECT i.id, i.identifier, i.title, i.status FROM issue_relations r JOIN issues i ON i.id = r.blocked_by_issue_id
         WHERE r.issue_id = $1 ORDER BY i.issue_number",
    )
    .bind(issue_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot read blockers"))?;
    let blocks = qa(
        "SELECT i.id, i.identifier, i.title, i.status FROM issue_relations r JOIN issues i ON i.id = r.issue_id
         WHERE r.blocked_by_issue_id = $1 ORDER BY i.issue_number",
    )
    .bind(issue_id)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot read blocked issues"))?;
    Ok((blocked_by, blocks))
}

/// When `done` finished or cancelled, the issues it blocked that have no unresolved blocker left
/// wake their assignee agents (`issue_blockers_resolved`).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn wake_unblocked(conn: &mut PgConnection, actor: &Actor, done: &Issue) -> Result<()> {
    let freed: Vec<(Uuid, Uuid)> = qa(
        "SELECT i.id, i.assignee_agent_id FROM issue_relations r JOIN issues i ON i.id = r.issue_id
         WHERE r.blocked_by_issue_id = $1 AND i.assignee_agent_id IS NOT NULL AND i.status NOT IN ('done', 'cancelled')
           AND NOT EXISTS (SELECT 1 FROM issue_relations r2 JOIN issues b ON b.id = r2.blocked_by_issue_id
                           WHERE r2.issue_id = i.id AND b.status NOT IN ('done', 'cancelled'))",
    )
    .bind(done.id)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot find unblocked issues"))?;
    for (issue, agent) in freed {
        crate::runs::wake_assignee(conn, actor, agent, issue, "issue_blockers_resolved").await?;
    }
    Ok(())
}
