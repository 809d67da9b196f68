//! The heartbeat engine end to end, the waking side: real agent processes calling back into a
//! real server over a real PostgreSQL, for every wake source; coalescing and admission, the
//! timer, the budget hard stop, and two replicas sharing one queue. (What a run may do once it
//! runs is in `heartbeat_runs.rs`.)

mod common;

use std::collections::HashSet;

use common::runs::*;
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn every_wake_source_runs_the_agent_through_the_api() {
    let app = TestApp::spawn().await;
    let c = app.company("Loop Co").await;
    let (s, secret) = app
        .post(
            &format!("/companies/{}/secrets", id(&c)),
            json!({"name": "svc", "key": "SERVICE_TOKEN", "value": "sv-0123456789-topsecret"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{secret}");
    let env = json!({"SERVICE_TOKEN": {"type": "secret_ref", "secretId": secret["id"], "version": "latest"},
                     "REPORT_COST_CENTS": "3"});
    let a = worker(&app, &c, "Ada", env.clone(), json!({})).await;

    // assignment: an issue created for the agent.
    let i1 = app
        .issue(
            &c,
            json!({"title": "assigned work", "status": "todo", "assigneeAgentId": id(&a)}),
        )
        .await;
    let r1 = run_for(&app, &c, &a, "issue_assigned").await;
    assert_eq!(r1["status"], "succeeded", "{r1}");
    assert_eq!(
        (r1["invocationSource"].as_str(), r1["exitCode"].as_i64()),
        (Some("assignment"), Some(0))
    );
    let (_, issue) = app.get(&format!("/issues/{}", id(&i1))).await;
    assert_eq!(issue["status"], "done", "{issue}");
    let (_, comments) = app.get(&format!("/issues/{}/comments", id(&i1))).await;
    assert_eq!(comments[0]["authorAgentId"], a["id"]);
    assert_eq!(
        comments[0]["createdByRunId"], r1["id"],
        "the comment is the run's"
    );
    let log = app.run_log(id(&r1)).await;
    assert!(
        log.contains("\"me\": 200")
            && log.contains("\"inbox\": 200")
            && log.contains("\"done\": 200"),
        "{log}"
    );
    assert!(
        log.contains("***REDACTED***") && !log.contains("topsecret"),
        "the secret is redacted: {log}"
    );
    assert!(log.contains("server env leaked: False"), "{log}");
    for var in [
        "PAPERCLIP_AGENT_ID",
        "PAPERCLIP_COMPANY_ID",
        "PAPERCLIP_RUN_ID",
        "PAPERCLIP_TASK_ID",
        "PAPERCLIP_WAKE_REASON",
        "PAPERCLIP_API_URL",
    ] {
        assert!(log.contains(var), "{var} in {log}");
    }
    let (_, raw) = app.get(&format!("/heartbeat-runs/{}/log", id(&r1))).await;
    assert_eq!(r1["logBytes"].as_u64(), raw["size"].as_u64(), "{raw}");
    // The cost came in the completion transaction, attributed to the run and its issue.
    let (_, by_agent) = app
        .get(&format!("/companies/{}/costs/by-agent", id(&c)))
        .await;
    assert!(by_agent.to_string().contains(id(&a)), "{by_agent}");
    let (_, activity) = app
        .get(&format!(
            "/companies/{}/activity?entityType=issue&entityId={}",
            id(&c),
            id(&i1)
        ))
        .await;
    assert!(
        activity
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "issue.updated" && e["runId"] == r1["id"]),
        "{activity}"
    );
    let (_, events) = app
        .get(&format!("/heartbeat-runs/{}/events", id(&r1)))
        .await;
    let seqs: Vec<i64> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert!(
        seqs.len() >= 2 && seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "{events}"
    );
    let (_, agent) = app.get(&format!("/agents/{}", id(&a))).await;
    assert!(
        agent["lastHeartbeatAt"].is_string() && agent["status"] == "idle",
        "{agent}"
    );

    // on_demand: heartbeat/invoke for a task nobody holds yet → 202 + run.
    let i2 = app
        .issue(&c, json!({"title": "pick me", "status": "todo"}))
        .await;
    let (s, inv) = app
        .post(
            &format!("/agents/{}/heartbeat/invoke", id(&a)),
            json!({"issueId": id(&i2)}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{inv}");
    let r2 = app.finished_run(inv["run"]["id"].as_str().unwrap()).await;
    assert_eq!(
        (r2["status"].as_str(), r2["invocationSource"].as_str()),
        (Some("succeeded"), Some("on_demand")),
        "{r2}"
    );
    let (_, issue) = app.get(&format!("/issues/{}", id(&i2))).await;
    assert_eq!(issue["status"], "done");

    // board checkout for the agent.
    let i3 = app
        .issue(
            &c,
            json!({"title": "checked out for you", "status": "todo"}),
        )
        .await;
    let (s, _) = app
        .post(
            &format!("/issues/{}/checkout", id(&i3)),
            json!({"agentId": id(&a), "expectedStatuses": ["todo"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let r3 = run_for(&app, &c, &a, "issue_checked_out").await;
    assert_eq!(r3["status"], "succeeded", "{r3}");

    // automation: a comment on the agent's issue (its assignment wake turned off: recorded as skipped).
    let quiet = worker(
        &app,
        &c,
        "Quiet",
        json!({}),
        json!({"heartbeat": {"wakeOnAssignment": false}}),
    )
    .await;
    let i4 = app
        .issue(
            &c,
            json!({"title": "comment wakes", "status": "todo", "assigneeAgentId": id(&quiet)}),
        )
        .await;
    let (s, _) = app
        .post(
            &format!("/issues/{}/comments", id(&i4)),
            json!({"body": "please pick this up"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let r4 = run_for(&app, &c, &quiet, "issue_commented").await;
    assert_eq!(r4["status"], "succeeded", "{r4}");
    assert!(r4["contextSnapshot"]["wakeCommentId"].is_string(), "{r4}");
    assert_eq!(
        runs_of(&app, &c, &quiet).await.len(),
        1,
        "the assignment wake was skipped, not run"
    );
    let (_, skipped) = app
        .get(&format!(
            "/companies/{}/activity?action=agent.wakeup_skipped",
            id(&c)
        ))
        .await;
    assert!(
        skipped.to_string().contains("wake_source_disabled"),
        "{skipped}"
    );

    // automation: an @mention wakes the agent named, with the issue as its task.
    let bea = worker(&app, &c, "Bea", json!({}), json!({})).await;
    let i5 = app
        .issue(&c, json!({"title": "mention", "status": "todo"}))
        .await;
    let (s, _) = app
        .post(
            &format!("/issues/{}/comments", id(&i5)),
            json!({"body": "@bea can you take this?"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let r5 = run_for(&app, &c, &bea, "issue_comment_mentioned").await;
    assert_eq!(r5["status"], "succeeded", "{r5}");
    let (_, issue) = app.get(&format!("/issues/{}", id(&i5))).await;
    assert_eq!(
        (issue["status"].as_str(), issue["assigneeAgentId"].as_str()),
        (Some("done"), bea["id"].as_str())
    );

    // automation: the board's decision on the agent's approval wakes it with the approval.
    let key = app.key(&bea).await;
    let (s, approval) = app
        .call(
            Method::POST,
            &format!("/companies/{}/approvals", id(&c)),
            Some(json!({"type": "request_board_approval", "payload": {"ask": "more budget"}})),
            Some(&key),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{approval}");
    let (s, _) = app
        .post(&format!("/approvals/{}/approve", id(&approval)), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let r6 = run_for(&app, &c, &bea, "approval_approved").await;
    assert_eq!(r6["status"], "succeeded", "{r6}");
    let log = app.run_log(id(&r6)).await;
    assert!(
        log.contains(&format!("\"PAPERCLIP_APPROVAL_ID\": \"{}\"", id(&approval)))
            && log.contains("\"PAPERCLIP_APPROVAL_STATUS\": \"approved\""),
        "{log}"
    );

    // Secret values are nowhere an HTTP caller can read.
    for path in [
        format!("/companies/{}/heartbeat-runs", id(&c)),
        format!("/companies/{}/activity?limit=500", id(&c)),
        format!("/heartbeat-runs/{}/events", id(&r1)),
        format!("/agents/{}", id(&a)),
    ] {
        let (_, body) = app.get(&path).await;
        assert!(
            !body.to_string().contains("topsecret"),
            "{path} leaks the secret"
        );
    }
    let logs = std::fs::read_dir(app.instance.join("data/run-logs").join(id(&c)))
        .unwrap()
        .count();
    assert!(logs >= 3, "one folder per agent under the instance: {logs}");
}

#[tokio::test]
async fn wakeups_coalesce_and_refusals_name_the_field() {
    let app = TestApp::spawn().await;
    let c = app.company("Queue Co").await;
    let dir = tempfile::tempdir().unwrap();
    let hold = dir.path().join("hold");
    let a = worker(
        &app,
        &c,
        "Busy",
        json!({"HOLD_FILE": hold.to_str().unwrap(), "SKIP_WORK": "1"}),
        json!({}),
    )
    .await;
    let (_, first) = app
        .post(
            &format!("/agents/{}/wakeup", id(&a)),
            json!({"reason": "one"}),
        )
        .await;
    let first = first["run"]["id"].as_str().unwrap().to_string();
    running(&app, &first).await;
    let mut queued = HashSet::new();
    for i in 0..5 {
        let (s, w) = app
            .post(
                &format!("/agents/{}/wakeup", id(&a)),
                json!({"reason": format!("more {i}"), "idempotencyKey": format!("k{i}")}),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{w}");
        queued.insert(w["run"]["id"].as_str().unwrap().to_string());
    }
    assert_eq!(queued.len(), 1, "five wakeups, one queued run");
    let (s, again) = app
        .post(
            &format!("/agents/{}/wakeup", id(&a)),
            json!({"idempotencyKey": "k0"}),
        )
        .await;
    assert_eq!(
        (s, again["deduplicated"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{again}"
    );
    let run = queued.into_iter().next().unwrap();
    let (_, r) = app.get(&format!("/heartbeat-runs/{run}")).await;
    assert_eq!(r["coalescedCount"], 4, "{r}");
    std::fs::write(&hold, b"go").unwrap();
    assert_eq!(app.finished_run(&run).await["status"], "succeeded");

    for (body, field) in [
        (
            json!({"adapterType": "process", "adapterConfig": {"command": 7}}),
            "adapterConfig.command",
        ),
        (
            json!({"adapterType": "process", "adapterConfig": {"command": "x", "timeoutSec": -1}}),
            "adapterConfig.timeoutSec",
        ),
        (
            json!({"adapterType": "process", "adapterConfig": {"command": "x", "cwd": "relative"}}),
            "adapterConfig.cwd",
        ),
        (
            json!({"adapterType": "process", "adapterConfig": {"args": ["a"]}}),
            "adapterConfig.command",
        ),
        (
            json!({"adapterType": "http", "adapterConfig": {"url": "ftp://x"}}),
            "adapterConfig.url",
        ),
        (
            json!({"adapterType": "http", "adapterConfig": {"url": "http://x", "method": "DELETE"}}),
            "adapterConfig.method",
        ),
        (
            json!({"runtimeConfig": {"heartbeat": {"intervalSec": "often"}}}),
            "runtimeConfig.heartbeat.intervalSec",
        ),
    ] {
        let mut b = body.clone();
        b["name"] = json!("Broken");
        let (s, err) = app.post(&format!("/companies/{}/agents", id(&c)), b).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert!(
            err["error"].as_str().unwrap().starts_with(field),
            "{body}: {err}"
        );
        let (s, err) = app
            .patch(&format!("/agents/{}", id(&a)), body.clone())
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "patch {body}: {err}");
    }
    let (_, adapters) = app.get("/adapters").await;
    let kinds: Vec<&str> = adapters
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["type"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"http") && kinds.contains(&"process"),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn timer_heartbeats_fire_on_their_interval() {
    let app = TestApp::spawn().await;
    let c = app.company("Timer Co").await;
    let (s, a) = app
        .post(&format!("/companies/{}/agents", id(&c)),
              json!({"name": "Ticker", "adapterConfig": {"command": "true"}, "runtimeConfig": {"heartbeat": {"enabled": true, "intervalSec": 1}}}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let runs = eventually("two timer runs", || async {
        let v = runs_of(&app, &c, &a).await;
        (v.iter()
            .filter(|r| r["invocationSource"] == "timer" && r["status"] == "succeeded")
            .count()
            >= 2)
            .then_some(v)
    })
    .await;
    assert!(
        runs.iter()
            .all(|r| r["contextSnapshot"]["wakeReason"] == "heartbeat_timer"),
        "{runs:?}"
    );
}

#[tokio::test]
async fn the_budget_hard_stop_cancels_queued_wakeups() {
    let app = TestApp::spawn().await;
    let c = app.company("Budget Co").await;
    let dir = tempfile::tempdir().unwrap();
    let hold = dir.path().join("hold");
    let a = worker(
        &app,
        &c,
        "Spender",
        json!({"REPORT_COST_CENTS": "500", "HOLD_FILE": hold.to_str().unwrap(), "SKIP_WORK": "1"}),
        json!({}),
    )
    .await;
    let (s, _) = app
        .patch(
            &format!("/agents/{}", id(&a)),
            json!({"budgetMonthlyCents": 100}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, first) = app
        .post(&format!("/agents/{}/heartbeat/invoke", id(&a)), json!({}))
        .await;
    let first = first["run"]["id"].as_str().unwrap().to_string();
    running(&app, &first).await;
    // Queued behind it (maxConcurrentRuns 1), for another task so it does not coalesce.
    let i = app.issue(&c, json!({"title": "later"})).await;
    let (s, queued) = app
        .post(
            &format!("/agents/{}/heartbeat/invoke", id(&a)),
            json!({"issueId": id(&i)}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{queued}");
    let queued = queued["run"]["id"].as_str().unwrap().to_string();
    std::fs::write(&hold, b"go").unwrap();
    let r = app.finished_run(&first).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(r["usageJson"]["costCents"], 500, "{r}");
    let q = app.finished_run(&queued).await;
    assert_eq!(
        (q["status"].as_str(), q["errorCode"].as_str()),
        (Some("cancelled"), Some("budget_exhausted")),
        "{q}"
    );
    let (_, agent) = app.get(&format!("/agents/{}", id(&a))).await;
    assert_eq!(
        (agent["status"].as_str(), agent["pauseReason"].as_str()),
        (Some("paused"), Some("budget")),
        "{agent}"
    );
    let (s, refused) = app
        .post(&format!("/agents/{}/wakeup", id(&a)), json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{refused}");
    assert!(
        refused["details"]["code"].is_string(),
        "the refusal names why: {refused}"
    );
}

#[tokio::test]
async fn two_replicas_run_each_of_200_wakeups_once() {
    let app = TestApp::spawn().await;
    let second = app.replica("b").await;
    let c = app.company("Replica Co").await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    let mut agents = Vec::new();
    for n in 0..20 {
        let (s, a) = app
            .post(&format!("/companies/{}/agents", id(&c)),
                  json!({"name": format!("R{n}"), "adapterConfig": {"command": "sh", "args": ["-c", format!("echo $PAPERCLIP_RUN_ID >> {}", ledger.display())]}}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
        agents.push(a);
    }
    let mut issues = Vec::new();
    for n in 0..10 {
        issues.push(app.issue(&c, json!({"title": format!("task {n}")})).await);
    }
    // 200 wakeups, half through each replica; distinct tasks, so none coalesce.
    let mut calls = Vec::new();
    for (ai, a) in agents.iter().enumerate() {
        for (ii, i) in issues.iter().enumerate() {
            let base = if (ai + ii) % 2 == 0 {
                app.base.clone()
            } else {
                second.clone()
            };
            let req = app
                .client
                .post(format!("{base}/agents/{}/heartbeat/invoke", id(a)))
                .json(&json!({"issueId": id(i)}));
            calls.push(async move { req.send().await.unwrap().json::<Value>().await.unwrap() });
        }
    }
    let answers = futures_join_all(calls).await;
    let ids: HashSet<String> = answers
        .iter()
        .map(|a| a["run"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 200);
    let all = eventually("all 200 ended", || async {
        let (_, v) = app
            .get(&format!("/companies/{}/heartbeat-runs?limit=1000", id(&c)))
            .await;
        let v = v.as_array().unwrap().clone();
        (v.len() == 200 && v.iter().all(|r| r["status"] == "succeeded")).then_some(v)
    })
    .await;
    let lines = std::fs::read_to_string(&ledger).unwrap();
    let ran: Vec<&str> = lines.lines().collect();
    assert_eq!(ran.len(), 200, "each run executed once");
    assert_eq!(
        ran.iter().copied().collect::<HashSet<_>>(),
        ids.iter().map(String::as_str).collect()
    );
    // Both replicas did work (the run log is on the replica that ran it).
    let here = all
        .iter()
        .filter(|r| {
            app.instance
                .join("data/run-logs")
                .join(r["logRef"].as_str().unwrap())
                .exists()
        })
        .count();
    assert!(
        here > 0 && here < 200,
        "{here} of 200 ran on the first replica"
    );
}
