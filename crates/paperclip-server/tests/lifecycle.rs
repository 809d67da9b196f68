//! Agent lifecycle, documents, budgets and wakeups, against a real PostgreSQL (the rest of the
//! control plane's rules are in `invariants.rs`).

mod common;

use std::collections::HashSet;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn terminated_is_final_and_hires_wait_for_approval() {
    let app = TestApp::spawn().await;
    let c = app.company("Lifecycle").await;
    let a = app.agent(&c, "Temp").await;
    let (s, v) = app
        .post(
            &format!("/agents/{}/pause", id(&a)),
            json!({"reason": "vacation"}),
        )
        .await;
    assert_eq!((s, v["status"].clone()), (StatusCode::OK, json!("paused")));
    let (_, v) = app
        .post(&format!("/agents/{}/resume", id(&a)), json!({}))
        .await;
    assert_eq!(v["status"], "idle");
    let (_, v) = app
        .post(&format!("/agents/{}/terminate", id(&a)), json!({}))
        .await;
    assert_eq!(v["status"], "terminated");
    let (s, _) = app
        .post(&format!("/agents/{}/resume", id(&a)), json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    let ceo = app.agent(&c, "CEO").await;
    let token = app.key(&ceo).await;
    let (s, hire) = app
        .call(
            Method::POST,
            &format!("/companies/{}/agent-hires", id(&c)),
            Some(json!({"name": "New Hire", "role": "designer"})),
            Some(&token),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{hire}");
    assert_eq!(hire["agent"]["status"], "pending_approval");
    let (s, v) = app
        .post(
            &format!(
                "/approvals/{}/approve",
                hire["approval"]["id"].as_str().unwrap()
            ),
            json!({"decisionNote": "welcome"}),
        )
        .await;
    assert_eq!(
        (s, v["status"].clone()),
        (StatusCode::OK, json!("approved"))
    );
    let (_, agent) = app
        .get(&format!(
            "/agents/{}",
            hire["agent"]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(agent["status"], "idle");
    let (s, _) = app
        .post(
            &format!(
                "/approvals/{}/reject",
                hire["approval"]["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a decided approval stays decided"
    );
}

#[tokio::test]
async fn documents_refuse_stale_writes() {
    let app = TestApp::spawn().await;
    let c = app.company("Docs").await;
    let issue = app.issue(&c, json!({"title": "t"})).await;
    let path = format!("/issues/{}/documents/plan", id(&issue));
    let (s, v1) = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"title": "Plan", "body": "v1"})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v1}");
    let r1 = v1["latestRevisionId"].clone();
    let (s, v2) = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"body": "v2", "baseRevisionId": r1})),
            None,
        )
        .await;
    assert_eq!(
        (s, v2["latestRevisionNumber"].clone()),
        (StatusCode::OK, json!(2))
    );
    let (s, err) = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"body": "lost update", "baseRevisionId": r1})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["details"]["latestRevisionId"], v2["latestRevisionId"]);
    let (_, revs) = app.get(&format!("{path}/revisions")).await;
    assert_eq!(revs.as_array().unwrap().len(), 2);
    let (_, got) = app.get(&format!("/issues/{}", id(&issue))).await;
    assert_eq!(got["planDocument"]["body"], "v2");
}

#[tokio::test]
async fn budgets_warn_at_80_percent_and_stop_at_100() {
    let app = TestApp::spawn().await;
    let c = app.company("Budget").await;
    let a = app.agent(&c, "Spender").await;
    let cid = id(&c);
    app.patch(
        &format!("/agents/{}", id(&a)),
        json!({"budgetMonthlyCents": 1000}),
    )
    .await;
    let cost = |cents: i64| json!({"agentId": id(&a), "provider": "anthropic", "model": "claude", "inputTokens": 10, "outputTokens": 5, "costCents": cents});
    let (s, _) = app
        .post(&format!("/companies/{cid}/cost-events"), cost(800))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, act) = app
        .get(&format!(
            "/companies/{cid}/activity?action=agent.budget_warning"
        ))
        .await;
    assert_eq!(act.as_array().unwrap().len(), 1);
    let (_, agent) = app.get(&format!("/agents/{}", id(&a))).await;
    assert_eq!(
        (agent["status"].clone(), agent["spentMonthlyCents"].clone()),
        (json!("idle"), json!(800))
    );
    app.post(&format!("/companies/{cid}/cost-events"), cost(200))
        .await;
    let (_, agent) = app.get(&format!("/agents/{}", id(&a))).await;
    assert_eq!(
        (agent["status"].clone(), agent["pauseReason"].clone()),
        (json!("paused"), json!("budget"))
    );
    let issue = app.issue(&c, json!({"title": "t", "status": "todo"})).await;
    let (s, err) = app
        .post(
            &format!("/issues/{}/checkout", id(&issue)),
            json!({"agentId": id(&a), "expectedStatuses": ["todo"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{err}");
    let (s, err) = app
        .post(&format!("/companies/{cid}/cost-events"), cost(-1))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{err}");
    let (_, summary) = app.get(&format!("/companies/{cid}/costs/summary")).await;
    assert_eq!(summary["spendCents"], 1000);
    let (_, by_agent) = app.get(&format!("/companies/{cid}/costs/by-agent")).await;
    assert_eq!(by_agent[0]["costCents"], 1000);
    let (_, dash) = app.get(&format!("/companies/{cid}/dashboard")).await;
    assert_eq!(dash["costs"]["monthSpendCents"], 1000);
    assert_eq!(dash["agents"]["paused"], 1);
}

#[tokio::test]
async fn wakeups_are_queued_once_per_idempotency_key() {
    let app = TestApp::spawn().await;
    let c = app.company("Wake").await;
    let a = app.agent(&c, "Sleeper").await;
    let path = format!("/agents/{}/wakeup", id(&a));
    let body = json!({"reason": "ping", "idempotencyKey": "k-1", "payload": {"issue": "WAK-1"}});
    let results = futures_join_all((0..8).map(|_| app.post(&path, body.clone()))).await;
    let ids: HashSet<String> = results
        .iter()
        .map(|(_, v)| v["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 1, "{results:?}");
    assert_eq!(
        results
            .iter()
            .filter(|(s, _)| *s == StatusCode::ACCEPTED)
            .count(),
        1
    );
    let mut conn = app.db.connect().await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM agent_wakeup_requests")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let (s, _) = app.post(&path, json!({"source": "telepathy"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}
