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
