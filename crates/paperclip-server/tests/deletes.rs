//! Deletes: what goes, what stays, what is refused, and that every other read still works.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::Connection;

impl TestApp {
    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None, None).await
    }

    /// Every page a board opens for a company still answers 200.
    async fn pages_render(&self, c: &Value) {
        let cid = id(c);
        for path in [
            format!("/companies/{cid}"),
            format!("/companies/{cid}/dashboard"),
            format!("/companies/{cid}/org"),
            format!("/companies/{cid}/agents"),
            format!("/companies/{cid}/issues"),
            format!("/companies/{cid}/activity"),
            format!("/companies/{cid}/heartbeat-runs"),
            format!("/companies/{cid}/costs/summary"),
            format!("/companies/{cid}/costs/by-agent"),
            format!("/companies/{cid}/costs/by-project"),
            format!("/companies/{cid}/sidebar-badges"),
        ] {
            let (s, v) = self.get(&path).await;
            assert_eq!(s, StatusCode::OK, "{path}: {v}");
        }
    }
}

#[tokio::test]
async fn deleting_an_issue_takes_what_is_its_own_and_repoints_the_rest() {
    let app = TestApp::spawn().await;
    let c = app.company("Del Issues").await;
    let agent = app.agent(&c, "Worker").await;
    let parent = app.issue(&c, json!({"title": "parent"})).await;
    let issue = app
        .issue(&c, json!({"title": "doomed", "parentId": id(&parent)}))
        .await;
    let child = app
        .issue(&c, json!({"title": "child", "parentId": id(&issue)}))
        .await;
    let blocked = app
        .issue(
            &c,
            json!({"title": "waits", "blockedByIssueIds": [id(&issue)]}),
        )
        .await;
    let iid = id(&issue).to_string();
    app.post(
        &format!("/issues/{iid}/comments"),
        json!({"body": "a comment"}),
    )
    .await;
    app.call(
        Method::PUT,
        &format!("/issues/{iid}/documents/plan"),
        Some(json!({"title": "Plan", "format": "markdown", "body": "x"})),
        None,
    )
    .await;
    app.attach_text(&c, &issue, "bytes").await;
    app.post(
        &format!("/issues/{iid}/work-products"),
        json!({"type": "branch", "provider": "git", "title": "b"}),
    )
    .await;
    app.post(&format!("/issues/{iid}/read"), json!({})).await;
    let (s, cost) = app
        .post(
            &format!("/companies/{}/cost-events", id(&c)),
            json!({"agentId": id(&agent), "issueId": iid, "provider": "p", "model": "m", "costCents": 250}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{cost}");
    assert_eq!(app.stored_files(), 1);

    // Not for agents.
    let key = app.key(&agent).await;
    let (s, _) = app
        .call(Method::DELETE, &format!("/issues/{iid}"), None, Some(&key))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, v) = app.delete(&format!("/issues/{iid}")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = app.get(&format!("/issues/{iid}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(app.stored_files(), 0, "its file left storage");
    let (_, ch) = app.get(&format!("/issues/{}", id(&child))).await;
    assert_eq!(ch["parentId"], parent["id"], "the sub-issue moved up: {ch}");
    let (_, b) = app.get(&format!("/issues/{}", id(&blocked))).await;
    assert_eq!(b["blockedBy"], json!([]), "{b}");
    let (_, sum) = app
        .get(&format!("/companies/{}/costs/summary", id(&c)))
        .await;
    assert_eq!(sum["spendCents"], 250, "the cost stays: {sum}");
    let (_, act) = app
        .get(&format!("/companies/{}/activity?entityId={iid}", id(&c)))
        .await;
    assert!(
        act.as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "issue.deleted"),
        "{act}"
    );
    app.pages_render(&c).await;
}

#[tokio::test]
async fn a_deleted_agent_is_a_tombstone_every_page_still_renders() {
    let app = TestApp::spawn().await;
    let c = app.company("Del Agents").await;
    let boss = app.agent(&c, "Boss").await;
    let (s, agent) = app
        .post(
            &format!("/companies/{}/agents", id(&c)),
            json!({"name": "Leaver", "role": "engineer", "reportsTo": id(&boss), "adapterType": "process", "adapterConfig": {"command": "true"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{agent}");
    let (_, report) = app
        .post(
            &format!("/companies/{}/agents", id(&c)),
            json!({"name": "Report", "role": "engineer", "reportsTo": id(&agent), "adapterType": "process", "adapterConfig": {"command": "true"}}),
        )
        .await;
    let key = app.key(&agent).await;
    // History: a finished run, a cost, a comment, and an issue in progress.
    let (s, run) = app
        .post(
            &format!("/agents/{}/heartbeat/invoke", id(&agent)),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{run}");
    let run = app.finished_run(run["run"]["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    app.post(
        &format!("/companies/{}/cost-events", id(&c)),
        json!({"agentId": id(&agent), "provider": "p", "model": "m", "costCents": 99}),
    )
    .await;
    let issue = app.issue(&c, json!({"title": "in flight"})).await;
    app.call(
        Method::POST,
        &format!("/issues/{}/comments", id(&issue)),
        Some(json!({"body": "from the agent"})),
        Some(&key),
    )
    .await;
    let (s, _) = app
        .call(
            Method::POST,
            &format!("/issues/{}/checkout", id(&issue)),
            Some(json!({"agentId": id(&agent), "expectedStatuses": ["backlog", "todo"]})),
            Some(&key),
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    let (s, v) = app.delete(&format!("/agents/{}", id(&agent))).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    let (_, list) = app.get(&format!("/companies/{}/agents", id(&c))).await;
    assert!(
        !list
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == agent["id"]),
        "{list}"
    );
    let (s, tomb) = app.get(&format!("/agents/{}", id(&agent))).await;
    assert_eq!(s, StatusCode::OK, "links to it still resolve");
    assert_eq!(tomb["status"], "terminated");
    assert!(tomb["deletedAt"].is_string(), "{tomb}");
    let (_, r) = app.get(&format!("/agents/{}", id(&report))).await;
    assert_eq!(r["reportsTo"], boss["id"], "its report moved up: {r}");
    let (_, i) = app.get(&format!("/issues/{}", id(&issue))).await;
    assert_eq!(
        (i["assigneeAgentId"].clone(), i["status"].clone()),
        (Value::Null, json!("todo")),
        "{i}"
    );
    let (s, _) = app.call(Method::GET, "/agents/me", None, Some(&key)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "its keys are revoked");
    let (s, r) = app.get(&format!("/heartbeat-runs/{}", id(&run))).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (_, by_agent) = app
        .get(&format!("/companies/{}/costs/by-agent", id(&c)))
        .await;
    assert!(
        by_agent.to_string().contains(id(&agent)),
        "its costs still count: {by_agent}"
    );
    let (_, comments) = app.get(&format!("/issues/{}/comments", id(&issue))).await;
    assert_eq!(comments.as_array().unwrap().len(), 1);
    app.pages_render(&c).await;
    let (s, _) = app.delete(&format!("/agents/{}", id(&agent))).await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "a tombstone cannot be deleted again"
    );
}

#[tokio::test]
async fn an_agent_or_issue_with_a_running_run_is_not_deleted() {
    let app = TestApp::spawn().await;
    let c = app.company("Busy").await;
    let (_, agent) = app
        .post(
            &format!("/companies/{}/agents", id(&c)),
            json!({"name": "Sleeper", "role": "engineer", "adapterType": "process", "adapterConfig": {"command": "sleep", "args": ["30"]}}),
        )
        .await;
    let issue = app
        .issue(
            &c,
            json!({"title": "busy", "status": "todo", "assigneeAgentId": id(&agent)}),
        )
        .await;
    // The assignment starts a run for the issue.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let run = loop {
        let (_, runs) = app.get(&format!("/companies/{}/live-runs", id(&c))).await;
        if let Some(r) = runs
            .as_array()
            .and_then(|r| r.iter().find(|r| r["status"] == "running"))
        {
            break r.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no running run: {runs}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    for path in [
        format!("/agents/{}", id(&agent)),
        format!("/issues/{}", id(&issue)),
        format!("/companies/{}", id(&c)),
    ] {
        let (s, e) = app.delete(&path).await;
        assert_eq!(s, StatusCode::CONFLICT, "{path}: {e}");
        assert_eq!(e["details"]["runId"], run["id"], "{e}");
    }
    app.post(&format!("/heartbeat-runs/{}/cancel", id(&run)), json!({}))
        .await;
    app.finished_run(id(&run)).await;
    let (s, e) = app.delete(&format!("/issues/{}", id(&issue))).await;
    assert_eq!(s, StatusCode::OK, "{e}");
}

#[tokio::test]
async fn deleting_a_project_unlinks_its_issues_and_costs() {
    let app = TestApp::spawn().await;
    let c = app.company("Del Projects").await;
    let agent = app.agent(&c, "A").await;
    let (_, p) = app
        .post(
            &format!("/companies/{}/projects", id(&c)),
            json!({"name": "Gone"}),
        )
        .await;
    let issue = app
        .issue(&c, json!({"title": "in project", "projectId": id(&p)}))
        .await;
    app.post(&format!("/companies/{}/cost-events", id(&c)), json!({"agentId": id(&agent), "issueId": id(&issue), "provider": "p", "model": "m", "costCents": 5})).await;
    let (s, v) = app.delete(&format!("/projects/{}", id(&p))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = app.get(&format!("/projects/{}", id(&p))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, i) = app.get(&format!("/issues/{}", id(&issue))).await;
    assert_eq!(i["projectId"], Value::Null, "{i}");
    app.pages_render(&c).await;
}

/// Rows per company in every table that has a `company_id` column.
async fn company_rows(url: &str, company: &str) -> Vec<(String, i64)> {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.columns
         WHERE table_schema = 'public' AND column_name = 'company_id' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut out = Vec::new();
    for (t,) in tables {
        let (n,): (i64,) = sqlx::query_as(&format!(
            "SELECT count(*) FROM {t} WHERE company_id = $1::uuid"
        ))
        .bind(company)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        out.push((t, n));
    }
    out
}

#[tokio::test]
async fn deleting_a_company_backs_up_then_removes_every_row_and_file_of_it_alone() {
    let app = TestApp::spawn().await;
    let (_, health) = app.get("/health").await;
    assert_eq!(health["features"]["companyDeletionEnabled"], true);
    let mut companies = Vec::new();
    for name in ["Doomed", "Survivor"] {
        let c = app.company(name).await;
        let agent = app.agent(&c, "Agent").await;
        let (s, run) = app
            .post(
                &format!("/agents/{}/heartbeat/invoke", id(&agent)),
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{run}");
        app.finished_run(run["run"]["id"].as_str().unwrap()).await;
        let issue = app
            .issue(&c, json!({"title": "work", "assigneeAgentId": id(&agent)}))
            .await;
        let other = app
            .issue(
                &c,
                json!({"title": "blocked", "blockedByIssueIds": [id(&issue)]}),
            )
            .await;
        let iid = id(&issue);
        let (_, cm) = app
            .post(&format!("/issues/{iid}/comments"), json!({"body": "c"}))
            .await;
        app.call(
            Method::PUT,
            &format!("/issues/{iid}/documents/plan"),
            Some(json!({"title": "P", "format": "markdown", "body": "x"})),
            None,
        )
        .await;
        app.attach_text(&c, &issue, name).await;
        app.post(
            &format!("/issues/{iid}/work-products"),
            json!({"type": "commit", "provider": "git", "title": "abc"}),
        )
        .await;
        let (_, l) = app
            .post(
                &format!("/companies/{}/labels", id(&c)),
                json!({"name": "bug", "color": "#ff0000"}),
            )
            .await;
        app.patch(
            &format!("/issues/{}", id(&other)),
            json!({"labelIds": [id(&l)]}),
        )
        .await;
        app.post(&format!("/issues/{iid}/read"), json!({})).await;
        app.post(&format!("/issues/{iid}/inbox-archive"), json!({}))
            .await;
        app.post(
            &format!("/companies/{}/secrets", id(&c)),
            json!({"name": "k", "value": "v"}),
        )
        .await;
        app.post(
            &format!("/companies/{}/cost-events", id(&c)),
            json!({"agentId": id(&agent), "provider": "p", "model": "m", "costCents": 1}),
        )
        .await;
        app.post(
            &format!("/companies/{}/goals", id(&c)),
            json!({"title": "g"}),
        )
        .await;
        app.post(
            &format!("/companies/{}/projects", id(&c)),
            json!({"name": "p"}),
        )
        .await;
        app.post(
            &format!("/companies/{}/agent-hires", id(&c)),
            json!({"name": "Hire", "role": "engineer"}),
        )
        .await;
        app.key(&agent).await;
        let _ = cm;
        companies.push(c);
    }
    let (doomed, survivor) = (&companies[0], &companies[1]);
    let before = company_rows(&app.db.url, id(survivor)).await;
    let doomed_rows = company_rows(&app.db.url, id(doomed)).await;
    let filled = doomed_rows.iter().filter(|(_, n)| *n > 0).count();
    assert!(filled >= 20, "the test fills most tables: {doomed_rows:?}");
    assert_eq!(app.stored_files(), 2);
    let backups = |dir: &std::path::Path| std::fs::read_dir(dir).map_or(0, Iterator::count);
    let backup_dir = std::env::temp_dir().join(format!("paperclip-test-backups-{}", app.db.name));
    let backups_before = backups(&backup_dir);

    let (s, v) = app.delete(&format!("/companies/{}", id(doomed))).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    assert!(backups(&backup_dir) > backups_before, "a backup came first");
    let left: Vec<(String, i64)> = company_rows(&app.db.url, id(doomed))
        .await
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect();
    assert!(left.is_empty(), "rows left behind: {left:?}");
    assert_eq!(
        company_rows(&app.db.url, id(survivor)).await,
        before,
        "the other company is untouched"
    );
    assert_eq!(app.stored_files(), 1, "only the survivor's file is left");
    let (s, _) = app.get(&format!("/companies/{}", id(doomed))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    app.pages_render(survivor).await;
}

#[tokio::test]
async fn company_deletion_can_be_turned_off() {
    let app = TestApp::spawn_with(|cfg| cfg.company_deletion = false).await;
    let (_, health) = app.get("/health").await;
    assert_eq!(health["features"]["companyDeletionEnabled"], false);
    let c = app.company("Kept").await;
    let (s, e) = app.delete(&format!("/companies/{}", id(&c))).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
    assert!(e["error"]
        .as_str()
        .unwrap()
        .contains("PAPERCLIP_ENABLE_COMPANY_DELETION"));
    let (s, _) = app.get(&format!("/companies/{}", id(&c))).await;
    assert_eq!(s, StatusCode::OK);
}
