//! Routines against a real PostgreSQL: schedules fired exactly once by rounds on two replicas
//! (clock injected), catch-up after an outage, concurrency policies, idempotency, and who may
//! manage what. Webhooks are in `routine_webhooks.rs`.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::auth::{exec, sql_i64};
use common::routines::*;
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn a_minute_schedule_on_two_replicas_fires_exactly_once_a_minute() {
    let app = TestApp::spawn().await;
    let c = app.company("Cron Co").await;
    let agent = quiet_agent(&app, &c, "Reporter").await;
    let r = routine(
        &app,
        &c,
        json!({"title": "Daily report", "assigneeAgentId": id(&agent), "concurrencyPolicy": "always_enqueue"}),
    )
    .await;
    let t = trigger(
        &app,
        &r,
        json!({"kind": "schedule", "cronExpression": "* * * * *", "timezone": "UTC"}),
    )
    .await;
    let t0 = time(&t["nextRunAt"]);
    assert!(
        t0 > Utc::now() && t0 <= Utc::now() + Duration::minutes(1),
        "{t}"
    );

    // Five simulated minutes; at each, both replicas run a round at once (twice, as a busy
    // second would), racing for the same firing.
    let (a, b) = (app.pool.clone(), another_replica(&app).await);
    for minute in 0..5 {
        let now = t0 + Duration::minutes(minute) + Duration::seconds(2);
        let (x, y, z) = tokio::join!(
            paperclip_store::routines::schedule_round(&a, now),
            paperclip_store::routines::schedule_round(&b, now),
            paperclip_store::routines::schedule_round(&b, now),
        );
        assert_eq!(
            x.unwrap() + y.unwrap() + z.unwrap(),
            1,
            "minute {minute}: one firing in all"
        );
    }
    assert_eq!(sql_i64(&app, &routine_issues(&r)).await, 5);
    let (_, runs) = app.get(&format!("/routines/{}/runs", id(&r))).await;
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 5);
    let mut times: Vec<DateTime<Utc>> = runs.iter().map(|r| time(&r["scheduledFor"])).collect();
    times.sort();
    assert_eq!(
        times,
        (0..5)
            .map(|m| t0 + Duration::minutes(m))
            .collect::<Vec<_>>()
    );
    assert!(runs
        .iter()
        .all(|r| r["status"] == "issue_created" && r["source"] == "schedule"));
    // Each issue is the template's, assigned, and woke its assignee.
    let (_, issue) = app
        .get(&format!(
            "/issues/{}",
            runs[0]["linkedIssueId"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        (issue["title"].as_str(), issue["status"].as_str()),
        (Some("Daily report"), Some("todo"))
    );
    assert_eq!(issue["originKind"], "routine_execution");
    assert_eq!(issue["originId"], r["id"]);
    let woken = sql_i64(
        &app,
        &format!("SELECT count(*) FROM agent_wakeup_requests WHERE agent_id = '{}' AND reason = 'issue_assigned'", id(&agent)),
    )
    .await;
    assert_eq!(woken, 5);
    let (_, read) = app.get(&format!("/routines/{}", id(&r))).await;
    assert_eq!(
        time(&read["triggers"][0]["nextRunAt"]),
        t0 + Duration::minutes(5)
    );
}

#[tokio::test]
async fn after_three_hours_down_each_catch_up_policy_does_what_it_says() {
    let app = TestApp::spawn().await;
    let c = app.company("Outage Co").await;
    let skip = routine(
        &app,
        &c,
        json!({"title": "skip", "concurrencyPolicy": "always_enqueue"}),
    )
    .await;
    let capped = routine(
        &app,
        &c,
        json!({"title": "capped", "concurrencyPolicy": "always_enqueue", "catchUpPolicy": "enqueue_missed_with_cap"}),
    )
    .await;
    let mut t0 = None;
    for r in [&skip, &capped] {
        let t = trigger(
            &app,
            r,
            json!({"kind": "schedule", "cronExpression": "*/1 * * * *"}),
        )
        .await;
        t0 = Some(time(&t["nextRunAt"]));
    }
    let t0 = t0.unwrap();
    // No server ran for three hours.
    let now = t0 + Duration::hours(3);
    let fired = paperclip_store::routines::schedule_round(&app.pool, now)
        .await
        .unwrap();
    assert_eq!(fired, 1 + paperclip_domain::routines::MAX_CATCH_UP);
    assert_eq!(sql_i64(&app, &routine_issues(&skip)).await, 1);
    assert_eq!(sql_i64(&app, &routine_issues(&capped)).await, 25);
    let (_, runs) = app
        .get(&format!("/routines/{}/runs?limit=100", id(&capped)))
        .await;
    let newest = time(&runs[0]["scheduledFor"]);
    let oldest = time(&runs[24]["scheduledFor"]);
    assert_eq!((oldest, newest), (now - Duration::minutes(24), now));
    let (_, read) = app.get(&format!("/routines/{}", id(&skip))).await;
    let t = &read["triggers"][0];
    assert_eq!(time(&t["nextRunAt"]), now + Duration::minutes(1));
    assert_eq!(t["lastResult"], "fired 1, skipped 180 missed");
    // A second round at the same time fires nothing more.
    assert_eq!(
        paperclip_store::routines::schedule_round(&app.pool, now)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn firings_follow_the_concurrency_policy_and_idempotency_keys() {
    let owned = TestApp::spawn().await;
    let app = &owned;
    let c = app.company("Policy Co").await;
    let agent = quiet_agent(app, &c, "Worker").await;
    let coalesce = routine(
        app,
        &c,
        json!({"title": "coalesce", "assigneeAgentId": id(&agent)}),
    )
    .await;
    let skip = routine(
        app,
        &c,
        json!({"title": "skip", "concurrencyPolicy": "skip_if_active"}),
    )
    .await;
    let run = |r: &Value, body: Value| {
        let path = format!("/routines/{}/run", id(r));
        async move { app.post(&path, body).await }
    };
    let (s, first) = run(&coalesce, json!({})).await;
    assert_eq!(
        (s, first["status"].as_str()),
        (StatusCode::OK, Some("issue_created")),
        "{first}"
    );
    let (_, second) = run(&coalesce, json!({"source": "api"})).await;
    assert_eq!(second["status"], "coalesced");
    assert_eq!(second["linkedIssueId"], first["linkedIssueId"]);
    run(&skip, json!({})).await;
    let (_, skipped) = run(&skip, json!({})).await;
    assert_eq!(skipped["status"], "skipped");
    // Once the open issue is done, the next firing creates another.
    exec(
        app,
        &format!(
            "UPDATE issues SET status = 'done' WHERE id = '{}'",
            first["linkedIssueId"].as_str().unwrap()
        ),
    )
    .await;
    let (_, third) = run(&coalesce, json!({})).await;
    assert_eq!(third["status"], "issue_created");
    assert_ne!(third["linkedIssueId"], first["linkedIssueId"]);
    // An idempotency key answers a repeat with the first run.
    let (_, k1) = run(&skip, json!({"idempotencyKey": "k-1"})).await;
    let (_, k2) = run(&skip, json!({"idempotencyKey": "k-1"})).await;
    assert_eq!(k1["id"], k2["id"]);
    // A template that no longer makes an issue records a failed firing, with the reason.
    exec(
        app,
        &format!(
            "UPDATE agents SET status = 'terminated' WHERE id = '{}'",
            id(&agent)
        ),
    )
    .await;
    exec(
        app,
        &format!(
            "UPDATE issues SET status = 'done' WHERE id = '{}'",
            third["linkedIssueId"].as_str().unwrap()
        ),
    )
    .await;
    let (_, failed) = run(&coalesce, json!({})).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        failed["failureReason"]
            .as_str()
            .unwrap()
            .contains("terminated"),
        "{failed}"
    );
    // Refused by name: bad policies, cron, zones and fields that do not fit the kind.
    for (path, body, field) in [
        (
            format!("/companies/{}/routines", id(&c)),
            json!({"title": "x", "concurrencyPolicy": "whenever"}),
            "concurrencyPolicy",
        ),
        (
            format!("/companies/{}/routines", id(&c)),
            json!({"description": "no title"}),
            "title",
        ),
        (
            format!("/routines/{}/triggers", id(&skip)),
            json!({"kind": "schedule", "cronExpression": "* * *"}),
            "cronExpression",
        ),
        (
            format!("/routines/{}/triggers", id(&skip)),
            json!({"kind": "schedule", "cronExpression": "0 9 * * *", "timezone": "Moon/Base"}),
            "timezone",
        ),
        (
            format!("/routines/{}/triggers", id(&skip)),
            json!({"kind": "api", "cronExpression": "0 9 * * *"}),
            "cronExpression",
        ),
        (
            format!("/routines/{}/triggers", id(&skip)),
            json!({"kind": "webhook", "replayWindowSec": 5}),
            "replayWindowSec",
        ),
        (
            format!("/routines/{}/run", id(&skip)),
            json!({"variables": {}}),
            "variables",
        ),
    ] {
        let (s, e) = app.post(&path, body.clone()).await;
        assert!(s.is_client_error(), "{body}: {s} {e}");
        assert!(e.to_string().contains(field), "{body}: {e}");
    }
}

#[tokio::test]
async fn agents_manage_only_their_own_routines_and_companies_stay_apart() {
    let owned = TestApp::spawn().await;
    let app = &owned;
    let c = app.company("Own Co").await;
    let me = quiet_agent(app, &c, "Me").await;
    let other = quiet_agent(app, &c, "Other").await;
    let key = app.key(&me).await;
    let cid = id(&c).to_string();
    let as_me = |method: Method, path: String, body: Value| {
        let key = key.clone();
        async move { app.call(method, &path, Some(body), Some(&key)).await }
    };
    let (s, mine) = as_me(
        Method::POST,
        format!("/companies/{cid}/routines"),
        json!({"title": "mine", "assigneeAgentId": id(&me)}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{mine}");
    let (s, _) = as_me(
        Method::POST,
        format!("/companies/{cid}/routines"),
        json!({"title": "theirs", "assigneeAgentId": id(&other)}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let theirs = routine(
        app,
        &c,
        json!({"title": "theirs", "assigneeAgentId": id(&other)}),
    )
    .await;
    let (s, _) = as_me(
        Method::POST,
        format!("/routines/{}/run", id(&theirs)),
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = as_me(
        Method::PATCH,
        format!("/routines/{}", id(&mine)),
        json!({"assigneeAgentId": id(&other)}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, run) = as_me(
        Method::POST,
        format!("/routines/{}/run", id(&mine)),
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{run}");
    // Another company's routines and triggers are not there.
    let stranger_co = app.company("Else Co").await;
    let stranger = quiet_agent(app, &stranger_co, "Stranger").await;
    let skey = app.key(&stranger).await;
    let t = trigger(app, &theirs, json!({"kind": "api"})).await;
    for (method, path) in [
        (Method::GET, format!("/routines/{}", id(&theirs))),
        (Method::POST, format!("/routines/{}/run", id(&theirs))),
        (Method::PATCH, format!("/routine-triggers/{}", id(&t))),
        (Method::GET, format!("/companies/{cid}/routines")),
    ] {
        let (s, _) = app.call(method, &path, Some(json!({})), Some(&skey)).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
    }
}
