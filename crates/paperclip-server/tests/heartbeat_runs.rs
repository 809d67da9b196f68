//! The heartbeat engine end to end, a run's side: a checkout belongs to one live run, run
//! tokens die with their run, cancel and timeout stop the whole process group, and the `http`
//! adapter. (How agents are woken is in `heartbeat.rs`.)

mod common;

use std::time::{Duration, Instant};

use common::runs::*;
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn a_checkout_belongs_to_one_live_run_until_it_ends() {
    let app = TestApp::spawn().await;
    let c = app.company("Owner Co").await;
    let hold = std::env::temp_dir().join(format!("pc-hold-{}", id(&c)));
    let a = worker(
        &app,
        &c,
        "Twin",
        json!({"HOLD_FILE": hold.to_str().unwrap(), "SKIP_WORK": "1"}),
        json!({"heartbeat": {"maxConcurrentRuns": 2}}),
    )
    .await;
    let key = app.key(&a).await;
    let issue = app
        .issue(&c, json!({"title": "contested", "status": "todo"}))
        .await;
    let mut runs = Vec::new();
    for _ in 0..2 {
        // One after the other is running: a second wake while the first is queued would join it.
        let (s, inv) = app
            .post(
                &format!("/agents/{}/heartbeat/invoke", id(&a)),
                json!({"reason": "twin"}),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{inv}");
        let r = inv["run"]["id"].as_str().unwrap().to_string();
        running(&app, &r).await;
        runs.push(r);
    }
    let checkout = |run: String| {
        let url = format!("{}/issues/{}/checkout", app.base, id(&issue));
        let body = json!({"agentId": id(&a), "expectedStatuses": ["todo", "in_progress"]});
        let req = app
            .client
            .post(url)
            .bearer_auth(&key)
            .header("X-Paperclip-Run-Id", run)
            .json(&body);
        async move { req.send().await.unwrap().status() }
    };
    // Many concurrent checkouts under both runs: only the first run ever owns it.
    let tries = (0..32).map(|i| checkout(runs[i % 2].clone()));
    let results = futures_join_all(tries).await;
    let (_, held) = app.get(&format!("/issues/{}", id(&issue))).await;
    let owner = held["checkoutRunId"]
        .as_str()
        .unwrap_or_else(|| panic!("{results:?} {held}"))
        .to_string();
    let other = runs.iter().find(|r| **r != owner).unwrap().clone();
    assert_eq!(
        results.iter().filter(|s| **s == StatusCode::OK).count(),
        16,
        "{results:?}"
    );
    assert_eq!(
        results
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        16,
        "{results:?}"
    );
    let (_, active) = app.get(&format!("/issues/{}/active-run", id(&issue))).await;
    assert_eq!(active["id"].as_str(), Some(owner.as_str()));
    // A run id that is not a running run of this agent is refused.
    let bogus = uuid::Uuid::new_v4().to_string();
    assert_eq!(checkout(bogus).await, StatusCode::BAD_REQUEST);
    // When the holder ends, the other run takes over.
    std::fs::write(&hold, b"go").unwrap();
    app.finished_run(&owner).await;
    let other_done = app.finished_run(&other).await;
    assert_eq!(
        checkout(other.clone()).await,
        StatusCode::FORBIDDEN,
        "an ended run cannot act: {other_done}"
    );
    let (s, inv) = app
        .post(&format!("/agents/{}/heartbeat/invoke", id(&a)), json!({}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{inv}");
    let next = inv["run"]["id"].as_str().unwrap().to_string();
    let _ = std::fs::remove_file(&hold);
    running(&app, &next).await;
    assert_eq!(
        checkout(next.clone()).await,
        StatusCode::OK,
        "a later run takes over once the holder ended"
    );
    std::fs::write(&hold, b"go").unwrap();
    app.finished_run(&next).await;
    let _ = std::fs::remove_file(&hold);
}

#[tokio::test]
async fn run_tokens_die_with_their_run_and_stay_in_their_company() {
    let app = TestApp::spawn().await;
    let c = app.company("Token Co").await;
    let other = app.company("Other Co").await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    let hold = dir.path().join("hold");
    let (s, a) = app
        .post(&format!("/companies/{}/agents", id(&c)),
              json!({"name": "Keeper", "adapterConfig": {"command": "sh", "args": ["-c",
                  format!("printf %s \"$PAPERCLIP_API_KEY\" > {}; while [ ! -e {} ]; do sleep 0.05; done", token_file.display(), hold.display())]}}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let (_, inv) = app
        .post(&format!("/agents/{}/heartbeat/invoke", id(&a)), json!({}))
        .await;
    let run = inv["run"]["id"].as_str().unwrap().to_string();
    let token = eventually("the token", || async {
        std::fs::read_to_string(&token_file)
            .ok()
            .filter(|t| !t.is_empty())
    })
    .await;
    let (s, me) = app
        .call(Method::GET, "/agents/me", None, Some(&token))
        .await;
    assert_eq!((s, me["id"].as_str()), (StatusCode::OK, a["id"].as_str()));
    let (s, body) = app
        .call(
            Method::GET,
            &format!("/companies/{}", id(&other)),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "another company does not exist for the token: {body}"
    );
    let (s, body) = app
        .call(
            Method::GET,
            &format!("/companies/{}/issues", id(&other)),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(
        (s, body),
        (StatusCode::OK, json!([])),
        "nor its issues (upstream answers an empty list)"
    );
    // Activity by the token is the run's.
    let (s, issue) = app
        .call(
            Method::POST,
            &format!("/companies/{}/issues", id(&c)),
            Some(json!({"title": "by token"})),
            Some(&token),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{issue}");
    assert_eq!(
        issue["originRunId"]
            .as_str()
            .or(issue["createdByRunId"].as_str())
            .map(str::to_string),
        Some(run.clone()),
        "{issue}"
    );
    // A forged or tampered token is refused.
    let mut forged = token.clone();
    forged.replace_range(forged.len() - 4.., "AAAA");
    let (s, _) = app
        .call(Method::GET, "/agents/me", None, Some(&forged))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    std::fs::write(&hold, b"go").unwrap();
    let r = app.finished_run(&run).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    let (s, err) = app
        .call(Method::GET, "/agents/me", None, Some(&token))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "useless after the run: {err}");
}

#[tokio::test]
async fn cancel_and_timeout_kill_the_whole_process_group() {
    let app = TestApp::spawn().await;
    let c = app.company("Kill Co").await;
    let dir = tempfile::tempdir().unwrap();
    // A leader that ignores SIGTERM and a child in the background, both recorded.
    let script = |pids: &std::path::Path| {
        format!(
        "trap '' TERM; sleep 300 & echo $! >> {p}; echo $$ >> {p}; while true; do sleep 0.1; done",
        p = pids.display()
    )
    };
    for (name, extra, expected) in [
        ("Cancelled", json!({}), "cancelled"),
        ("Slow", json!({"timeoutSec": 1}), "timed_out"),
    ] {
        let pids = dir.path().join(name);
        let mut config = json!({"command": "sh", "args": ["-c", script(&pids)], "graceSec": 1});
        config
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (s, a) = app
            .post(
                &format!("/companies/{}/agents", id(&c)),
                json!({"name": name, "adapterConfig": config}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
        let (_, inv) = app
            .post(&format!("/agents/{}/heartbeat/invoke", id(&a)), json!({}))
            .await;
        let run = inv["run"]["id"].as_str().unwrap().to_string();
        let recorded: Vec<i32> = eventually("both pids", || async {
            let text = std::fs::read_to_string(&pids).ok()?;
            let v: Vec<i32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
            (v.len() == 2).then_some(v)
        })
        .await;
        if expected == "cancelled" {
            let (s, r) = app
                .post(&format!("/heartbeat-runs/{run}/cancel"), json!({}))
                .await;
            assert_eq!(s, StatusCode::OK, "{r}");
        }
        let started = Instant::now();
        let r = app.finished_run(&run).await;
        assert_eq!(r["status"], expected, "{r}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "SIGKILL after graceSec"
        );
        for pid in recorded {
            let gone = eventually("the process gone", || async {
                let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
                    && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                        .unwrap_or_default()
                        .contains(") Z ");
                (!alive).then_some(())
            });
            gone.await;
        }
        let (_, agent) = app.get(&format!("/agents/{}", id(&a))).await;
        assert_ne!(agent["status"], "running", "{agent}");
    }
}

/// A tiny agent endpoint: calls back into the API with the run token while the request is open,
/// then answers as `mode` says.
async fn agent_endpoint(mode: &'static str) -> String {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/wake",
        post(move |axum::Json(p): axum::Json<Value>| async move {
            let me = reqwest::Client::new()
                .get(format!("{}/agents/me", p["apiUrl"].as_str().unwrap()))
                .bearer_auth(p["runToken"].as_str().unwrap())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            match mode {
                "fail" => (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"me": me}))),
                "slow" => {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    (StatusCode::OK, axum::Json(json!({})))
                }
                _ => (
                    StatusCode::OK,
                    axum::Json(json!({"me": me, "task": p["context"]["taskId"], "extra": p["extra"],
                                      "usage": {"provider": "remote", "model": "r1", "inputTokens": 7, "outputTokens": 3, "costCents": 2}})),
                ),
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/wake", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn the_http_adapter_posts_the_run_and_the_agent_calls_back_with_its_token() {
    let app = TestApp::spawn().await;
    let c = app.company("Remote Co").await;
    for (mode, expected) in [
        ("ok", "succeeded"),
        ("fail", "failed"),
        ("slow", "timed_out"),
    ] {
        let url = agent_endpoint(mode).await;
        let (s, a) = app
            .post(&format!("/companies/{}/agents", id(&c)),
                  json!({"name": format!("Remote {mode}"), "adapterType": "http",
                         "adapterConfig": {"url": url, "timeoutSec": 2, "payloadTemplate": {"extra": "from template"}}}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
        let i = app
            .issue(&c, json!({"title": format!("remote {mode}")}))
            .await;
        let (s, inv) = app
            .post(
                &format!("/agents/{}/heartbeat/invoke", id(&a)),
                json!({"issueId": id(&i)}),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{inv}");
        let r = app.finished_run(inv["run"]["id"].as_str().unwrap()).await;
        assert_eq!(r["status"], expected, "{mode}: {r}");
        if mode == "ok" {
            assert_eq!(
                r["resultJson"]["me"], 200,
                "the agent called back while the request was open: {r}"
            );
            assert_eq!(r["resultJson"]["task"], i["id"], "{r}");
            assert_eq!(r["resultJson"]["extra"], "from template", "{r}");
            assert_eq!(r["usageJson"]["costCents"], 2, "{r}");
            let log = app.run_log(id(&r)).await;
            assert!(
                !log.contains("eyJ"),
                "the run token is not in the log: {log}"
            );
        }
    }
}
