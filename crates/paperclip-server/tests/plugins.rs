//! The orchestration smoke plugin end to end: install, a real worker process (Python, no SDK),
//! scoped routes, host APIs, isolation, crash and restart, uninstall.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn smoke_dir() -> String {
    format!(
        "{}/../../examples/plugins/orchestration-smoke",
        env!("CARGO_MANIFEST_DIR")
    )
}

const KEY: &str = "paperclipai.plugin-orchestration-smoke-example";

async fn wait_running(app: &TestApp, want_restarts: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, p) = app.get(&format!("/plugins/{KEY}")).await;
        if p["workerRunning"] == true
            && p["restarts"].as_u64().unwrap_or(0) >= want_restarts
            && p["lastError"].is_null()
        {
            return p;
        }
        assert!(Instant::now() < deadline, "worker never came up: {p}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_smoke_plugin_runs_end_to_end() {
    let app = TestApp::spawn().await;
    let (s, plugin) = app
        .post("/plugins/install", json!({"path": smoke_dir()}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{plugin}");
    assert_eq!(plugin["status"], "ready");
    wait_running(&app, 0).await;

    let c = app.company("Plugin Co").await;
    let agent = app.agent(&c, "Smoker").await;
    let root = app
        .issue(&c, json!({"title": "root", "assigneeAgentId": id(&agent)}))
        .await;
    let route = format!("/plugins/{KEY}/api/issues/{}/smoke", id(&root));
    let (s, out) = app.post(&route, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{out}");
    assert_eq!(out["wakeupQueued"], true);
    assert!(out["namespace"]
        .as_str()
        .unwrap()
        .starts_with("plugin_orchestration_smoke_"));
    assert_eq!(out["joinedRows"][0]["identifier"], root["identifier"]);
    let subtree = out["subtreeIssueIds"].as_array().unwrap();
    assert!(subtree.contains(&root["id"]) && subtree.contains(&out["childIssueId"]));
    let (_, child) = app
        .get(&format!(
            "/issues/{}",
            out["childIssueId"].as_str().unwrap()
        ))
        .await;
    assert_eq!(child["originKind"], format!("plugin:{KEY}:child"));
    assert_eq!(child["documentSummaries"][0]["key"], "orchestration-smoke");
    let (_, blocker) = app
        .get(&format!(
            "/issues/{}",
            out["blockerIssueId"].as_str().unwrap()
        ))
        .await;
    assert_eq!(blocker["status"], "done");
    assert_eq!(
        out["summary"]["issues"][2]["blockedBy"][0]["id"], out["blockerIssueId"],
        "{}",
        out["summary"]
    );

    // Every mutation is the plugin's, naming who triggered it.
    let (_, activity) = app
        .get(&format!(
            "/companies/{}/activity?entityId={}",
            id(&c),
            out["childIssueId"].as_str().unwrap()
        ))
        .await;
    let created = activity
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "issue.created")
        .unwrap();
    assert_eq!(created["actorType"], "plugin");
    assert_eq!(created["details"]["sourcePluginKey"], KEY);
    assert_eq!(created["details"]["initiatingActorType"], "user");

    // The summary route reads the plugin's own table.
    let res = app
        .client
        .get(format!("{}{route}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");

    // Authorization, capabilities and input rules of scoped routes.
    let (s, _) = app
        .post(
            &format!("/plugins/{KEY}/api/issues/{}/denied", id(&root)),
            json!({}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "a host call without its capability"
    );
    let (s, _) = app
        .post(&format!("/plugins/{KEY}/api/not/declared"), json!({}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let other = app.company("Elsewhere").await;
    let outsider = app.agent(&other, "Outsider").await;
    let token = app.key(&outsider).await;
    let (s, _) = app
        .call(Method::POST, &route, Some(json!({})), Some(&token))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "an agent of another company");
    let own_token = app.key(&agent).await;
    let (s, _) = app
        .call(
            Method::POST,
            &format!("/plugins/{KEY}/api/issues/{}/denied", id(&root)),
            Some(json!({})),
            Some(&own_token),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a board route called by an agent");
    let res = app
        .client
        .post(format!("{}{route}", app.base))
        .header("content-type", "text/plain")
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Plugin state, scoped to the invoking company.
    let (s, st) = app
        .post(
            &format!("/plugins/{KEY}/api/state"),
            json!({"companyId": id(&c), "key": "counter", "value": {"n": 1}}),
        )
        .await;
    assert_eq!((s, st), (StatusCode::OK, json!({"value": {"n": 1}})));

    // Events: the worker records every `issue.created` it receives.
    let ns = out["namespace"].as_str().unwrap().to_string();
    let mut conn = app.db.connect().await;
    let count_sql =
        format!("SELECT count(*) FROM {ns}.smoke_events WHERE event_type = 'issue.created'");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n: i64 = sqlx::query_scalar(&count_sql)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        if n >= 3 {
            break; // root, blocker, child
        }
        assert!(Instant::now() < deadline, "events not delivered ({n})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A worker that does not answer in time: the caller gets 502 after the timeout, not a hang.
    app.plugins.set_call_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let (s, err) = app
        .post(
            &format!("/plugins/{KEY}/api/slow"),
            json!({"companyId": id(&c), "seconds": 1.5}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{err}");
    assert!(
        err["error"].as_str().unwrap().contains("timed out"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "the timeout applied"
    );
    app.plugins.set_call_timeout(Duration::from_secs(30));
    // The late answer is dropped; the worker keeps serving.
    let (s, _) = app
        .post(
            &format!("/plugins/{KEY}/api/state"),
            json!({"companyId": id(&c), "key": "after-timeout", "value": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    // A crash: the call fails cleanly, the worker is restarted, the plugin works again.
    let (s, _) = app
        .post(
            &format!("/plugins/{KEY}/api/crash"),
            json!({"companyId": id(&c)}),
        )
        .await;
    assert!(
        s == StatusCode::SERVICE_UNAVAILABLE || s == StatusCode::BAD_GATEWAY,
        "{s}"
    );
    // While it is down (the first restart waits a second) the plugin shows as `error`.
    let deadline = Instant::now() + Duration::from_millis(900);
    loop {
        let (_, p) = app.get(&format!("/plugins/{KEY}")).await;
        if p["status"] == "error" {
            assert_eq!(p["workerRunning"], false);
            break;
        }
        assert!(Instant::now() < deadline, "the crash was not reported: {p}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    wait_running(&app, 1).await;
    let (s, _) = app.post(&route, json!({})).await;
    assert_eq!(s, StatusCode::CREATED);
    // After the restart: new events arrive, acknowledged ones never come back.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (pending, dups): (i64, i64) = sqlx::query_as(&format!(
            "SELECT (SELECT count(*) FROM plugin_event_outbox),
                    (SELECT count(*) FROM (SELECT activity_id FROM {ns}.smoke_events GROUP BY activity_id HAVING count(*) > 1) d)"
        ))
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(dups, 0, "an event was delivered twice");
        if pending == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{pending} events still queued");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let n: i64 = sqlx::query_scalar(&count_sql)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        n, 5,
        "the root and two smoke runs' blocker and child issues, each delivered once"
    );

    // Disable and uninstall stop the worker; the schema and its rows stay.
    let (_, p) = app
        .post(&format!("/plugins/{KEY}/disable"), json!({}))
        .await;
    assert_eq!(
        (p["status"].clone(), p["workerRunning"].clone()),
        (json!("disabled"), json!(false))
    );
    let (s, _) = app.post(&route, json!({})).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    let (_, p) = app
        .call(Method::DELETE, &format!("/plugins/{KEY}"), None, None)
        .await;
    assert_eq!(p["status"], "uninstalled");
    let mut conn = app.db.connect().await;
    let rows: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM {}.smoke_runs",
        out["namespace"].as_str().unwrap()
    ))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(rows, 2);
}
