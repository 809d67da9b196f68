//! The control plane's rules, against a real PostgreSQL.

mod common;

use std::collections::HashSet;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn exactly_one_of_many_concurrent_checkouts_wins() {
    let app = TestApp::spawn().await;
    let c = app.company("Race Co").await;
    let mut agents = Vec::new();
    for i in 0..16 {
        agents.push(app.agent(&c, &format!("Racer {i}")).await);
    }
    let issue = app
        .issue(&c, json!({"title": "contested", "status": "todo"}))
        .await;
    let path = format!("/issues/{}/checkout", id(&issue));
    let calls = agents.iter().map(|a| {
        let body = json!({"agentId": id(a), "expectedStatuses": ["todo"]});
        app.post(&path, body)
    });
    let results = futures_join_all(calls).await;
    let winners: Vec<&Value> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .map(|(_, v)| v)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one winner: {results:?}");
    let owner = winners[0]["assigneeAgentId"].clone();
    for (s, body) in &results {
        if *s != StatusCode::OK {
            assert_eq!(*s, StatusCode::CONFLICT);
            assert_eq!(
                body["details"]["assigneeAgentId"], owner,
                "losers see the owner"
            );
            assert_eq!(body["details"]["status"], "in_progress");
        }
    }
    // Idempotent for the owner.
    let (s, again) = app
        .post(
            &path,
            json!({"agentId": owner, "expectedStatuses": ["todo"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{again}");
    // One checkout activity row, not sixteen.
    let (_, activity) = app.get(&format!("/issues/{}/activity", id(&issue))).await;
    let checkouts = activity
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "issue.checked_out")
        .count();
    assert_eq!(checkouts, 2);
}

async fn futures_join_all<F: std::future::Future>(
    futs: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let handles: Vec<_> = futs.into_iter().map(Box::pin).collect();
    let mut out = Vec::new();
    // Poll them all concurrently on this task.
    let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (i, slot) in pending.iter_mut().enumerate() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        results[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    for r in results {
        out.push(r.expect("completed"));
    }
    out
}

#[tokio::test]
async fn identifiers_never_repeat_under_concurrent_creates() {
    let app = TestApp::spawn().await;
    let c = app.company("Counter Inc").await;
    let path = format!("/companies/{}/issues", id(&c));
    let results =
        futures_join_all((0..40).map(|i| app.post(&path, json!({"title": format!("issue {i}")}))))
            .await;
    let mut idents = HashSet::new();
    for (s, v) in &results {
        assert_eq!(*s, StatusCode::CREATED, "{v}");
        assert!(idents.insert(v["identifier"].as_str().unwrap().to_string()));
    }
    let expected: HashSet<String> = (1..=40).map(|n| format!("COU-{n}")).collect();
    assert_eq!(idents, expected);
    let (_, company) = app.get(&format!("/companies/{}", id(&c))).await;
    assert_eq!(company["issueCounter"], 40);
}

#[tokio::test]
async fn status_rules_and_their_side_effects() {
    let app = TestApp::spawn().await;
    let c = app.company("Rules").await;
    let agent = app.agent(&c, "Worker").await;
    let cid = id(&c);
    let (s, err) = app
        .post(
            &format!("/companies/{cid}/issues"),
            json!({"title": "t", "status": "in_progress"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["details"][0]["path"], json!(["status"]));
    let (s, err) = app
        .post(
            &format!("/companies/{cid}/issues"),
            json!({"title": "t", "status": "doing"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(err["details"][0]["path"], json!(["status"]));
    let issue = app.issue(&c, json!({"title": "t"})).await;
    let path = format!("/issues/{}", id(&issue));
    let (s, err) = app.patch(&path, json!({"status": "in_progress"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let (s, v) = app
        .patch(
            &path,
            json!({"status": "in_progress", "assigneeAgentId": id(&agent)}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["startedAt"].is_string());
    let (_, v) = app.patch(&path, json!({"status": "done"})).await;
    assert!(v["completedAt"].is_string());
    let (_, v) = app.patch(&path, json!({"status": "cancelled"})).await;
    assert!(v["cancelledAt"].is_string() && v["completedAt"].is_null());
    // Single assignee: both kinds at once is refused.
    let (s, _) = app
        .patch(
            &path,
            json!({"assigneeAgentId": id(&agent), "assigneeUserId": "someone"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn agents_follow_the_state_machine_while_the_board_moves_freely() {
    let app = TestApp::spawn().await;
    let c = app.company("Machine").await;
    let agent = app.agent(&c, "Strict").await;
    let token = app.key(&agent).await;
    let issue = app.issue(&c, json!({"title": "t"})).await;
    let path = format!("/issues/{}", id(&issue));
    let (s, err) = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({"status": "done"})),
            Some(&token),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(err["error"].as_str().unwrap().contains("backlog to done"));
    let (s, _) = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({"status": "todo"})),
            Some(&token),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app.patch(&path, json!({"status": "done"})).await;
    assert_eq!(s, StatusCode::OK, "the board may jump");
    let (s, _) = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({"projectId": null})),
            Some(&token),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_agent_sees_only_its_company_and_holds_no_board_powers() {
    let app = TestApp::spawn().await;
    let mine = app.company("Mine").await;
    let theirs = app.company("Theirs").await;
    let me = app.agent(&mine, "Me").await;
    let token = app.key(&me).await;
    let foreign_issue = app.issue(&theirs, json!({"title": "secret"})).await;
    let call = |m: Method, p: String, b: Option<Value>| {
        let t = token.clone();
        let app = &app;
        async move { app.call(m, &p, b, Some(&t)).await }
    };
    let (s, list) = call(Method::GET, "/companies".into(), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    for path in [
        format!("/companies/{}", id(&theirs)),
        format!("/issues/{}", id(&foreign_issue)),
        format!("/issues/{}", foreign_issue["identifier"].as_str().unwrap()),
        format!("/companies/{}/agents", id(&theirs)),
    ] {
        let (s, _) = call(Method::GET, path.clone(), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
    }
    let (s, list) = call(
        Method::GET,
        format!("/companies/{}/issues", id(&theirs)),
        None,
    )
    .await;
    assert_eq!((s, list), (StatusCode::OK, json!([])));
    let (s, _) = call(
        Method::POST,
        "/companies".into(),
        Some(json!({"name": "Coup"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = call(
        Method::POST,
        format!("/agents/{}/pause", id(&me)),
        Some(json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, appr) = call(
        Method::POST,
        format!("/companies/{}/approvals", id(&mine)),
        Some(json!({"type": "request_board_approval"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{appr}");
    let (s, _) = call(
        Method::POST,
        format!("/approvals/{}/approve", id(&appr)),
        Some(json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "agents cannot approve");
    let (s, me_v) = call(Method::GET, "/agents/me".into(), None).await;
    assert_eq!((s, me_v["id"].clone()), (StatusCode::OK, me["id"].clone()));
    // Bad and revoked keys are refused.
    let (s, _) = app
        .call(Method::GET, "/companies", None, Some("pcp_nope"))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (_, keys) = app.get(&format!("/agents/{}/keys", id(&me))).await;
    assert!(
        keys[0].get("keyHash").is_none() && keys[0].get("key").is_none(),
        "no secret material in listings"
    );
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/agents/{}/keys/{}", id(&me), id(&keys[0])),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(Method::GET, "/companies".into(), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn trees_stay_trees_and_references_stay_in_their_company() {
    let app = TestApp::spawn().await;
    let c = app.company("Tree").await;
    let other = app.company("Elsewhere").await;
    let boss = app.agent(&c, "Boss").await;
    let report = app.agent(&c, "Report").await;
    let outsider = app.agent(&other, "Outsider").await;
    let (s, _) = app
        .patch(
            &format!("/agents/{}", id(&report)),
            json!({"reportsTo": id(&boss)}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, err) = app
        .patch(
            &format!("/agents/{}", id(&boss)),
            json!({"reportsTo": id(&report)}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let (s, _) = app
        .patch(
            &format!("/agents/{}", id(&boss)),
            json!({"reportsTo": id(&outsider)}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, org) = app.get(&format!("/companies/{}/org", id(&c))).await;
    assert_eq!(org[0]["reports"][0]["id"], report["id"]);

    let parent = app.issue(&c, json!({"title": "parent"})).await;
    let child = app
        .issue(&c, json!({"title": "child", "parentId": id(&parent)}))
        .await;
    let (s, _) = app
        .patch(
            &format!("/issues/{}", id(&parent)),
            json!({"parentId": id(&child)}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let foreign = app.issue(&other, json!({"title": "foreign"})).await;
    let (s, _) = app
        .post(
            &format!("/companies/{}/issues", id(&c)),
            json!({"title": "x", "parentId": id(&foreign)}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = app
        .post(
            &format!("/companies/{}/issues", id(&c)),
            json!({"title": "x", "assigneeAgentId": id(&outsider)}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, children) = app
        .get(&format!(
            "/companies/{}/issues?parentId={}",
            id(&c),
            id(&parent)
        ))
        .await;
    assert_eq!(children.as_array().unwrap().len(), 1);
}

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

#[tokio::test]
async fn every_mutation_is_audited_and_failures_leave_nothing_behind() {
    let app = TestApp::spawn().await;
    let c = app.company("Audit").await;
    let cid = id(&c);
    let issue = app.issue(&c, json!({"title": "t"})).await;
    app.post(
        &format!("/issues/{}/comments", id(&issue)),
        json!({"body": "hi"}),
    )
    .await;
    let (_, act) = app.get(&format!("/companies/{cid}/activity")).await;
    let actions: Vec<&str> = act
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["issue.comment_added", "issue.created", "company.created"]
    );
    // A rejected mutation writes neither data nor activity.
    let (s, _) = app
        .post(
            &format!("/companies/{cid}/issues"),
            json!({"title": "x", "parentId": "00000000-0000-0000-0000-000000000000"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, act2) = app.get(&format!("/companies/{cid}/activity")).await;
    assert_eq!(act2.as_array().unwrap().len(), 3);
    let (_, company) = app.get(&format!("/companies/{cid}")).await;
    assert_eq!(
        company["issueCounter"], 1,
        "the counter did not move for a rejected issue"
    );
}

#[tokio::test]
async fn malformed_input_gets_a_clear_4xx() {
    let app = TestApp::spawn().await;
    let c = app.company("Input").await;
    let cid = id(&c);
    let client = &app.client;
    let raw = |path: String, body: &'static str| {
        client
            .post(format!("{}{}", app.base, path))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let res = raw(format!("/companies/{cid}/issues"), "{not json")
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = raw(format!("/companies/{cid}/issues"), r#"{"title": ["a"]}"#)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["details"][0]["path"], json!(["title"]));
    let huge = "x".repeat(2 << 20);
    let res = client
        .post(format!("{}/companies/{cid}/issues", app.base))
        .json(&json!({"title": huge}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());
    for path in [
        "/companies/not-a-uuid",
        "/agents/zzz",
        "/goals/1",
        "/issues/NOPE-999",
    ] {
        let (s, v) = app.get(path).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {v}");
    }
    let (s, _) = app.get(&format!("/companies/{cid}/issues?limit=abc")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = app
        .get(&format!("/companies/{cid}/issues?assigneeAgentId=xyz"))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, v) = app.call(Method::GET, "/companies", None, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let res = client
        .get(format!("{}/companies", app.base))
        .header("x-paperclip-run-id", "not-a-uuid")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn lists_filter_search_and_paginate() {
    let app = TestApp::spawn().await;
    let c = app.company("Lists").await;
    let a = app.agent(&c, "Assignee").await;
    let cid = id(&c);
    for i in 0..5 {
        app.issue(&c, json!({"title": format!("alpha {i}"), "priority": if i == 4 { "critical" } else { "low" }})).await;
    }
    app.issue(&c, json!({"title": "beta", "assigneeAgentId": id(&a)}))
        .await;
    let (_, all) = app.get(&format!("/companies/{cid}/issues")).await;
    assert_eq!(all.as_array().unwrap().len(), 6);
    assert_eq!(all[0]["priority"], "critical", "priority order");
    let (_, page) = app
        .get(&format!("/companies/{cid}/issues?limit=2&offset=2"))
        .await;
    assert_eq!(page.as_array().unwrap().len(), 2);
    let (_, found) = app.get(&format!("/companies/{cid}/issues?q=alph")).await;
    assert_eq!(found.as_array().unwrap().len(), 5);
    let (_, mine) = app
        .get(&format!(
            "/companies/{cid}/issues?assigneeAgentId={}&status=todo,backlog",
            id(&a)
        ))
        .await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    let (_, none) = app
        .get(&format!("/companies/{cid}/issues?status=done"))
        .await;
    assert_eq!(none, json!([]));
    let (_, goal) = app
        .post(
            &format!("/companies/{cid}/goals"),
            json!({"title": "Win", "level": "company"}),
        )
        .await;
    let (s, project) = app
        .post(
            &format!("/companies/{cid}/projects"),
            json!({"name": "P", "goalId": id(&goal), "leadAgentId": id(&a)}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{project}");
    assert_eq!(project["goalIds"], json!([goal["id"]]));
    app.issue(
        &c,
        json!({"title": "in project", "projectId": id(&project)}),
    )
    .await;
    let (_, in_project) = app
        .get(&format!(
            "/companies/{cid}/issues?projectId={}",
            id(&project)
        ))
        .await;
    assert_eq!(in_project.as_array().unwrap().len(), 1);
    let (s, _) = app
        .call(Method::DELETE, &format!("/goals/{}", id(&goal)), None, None)
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "a referenced goal is not deleted");
}
