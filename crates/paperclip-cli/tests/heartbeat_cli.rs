//! The heartbeat engine in the real binary: `heartbeat run` streams a run's log, and kill -9 of
//! the server mid-run leaves no run `running` forever and no process behind.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

async fn call(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, server.url(&format!("/api{path}")));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn agent_running(server: &Server, script: &str) -> (String, String) {
    let (s, c) = call(
        server,
        reqwest::Method::POST,
        "/companies",
        Some(json!({"name": "Crash Co"})),
    )
    .await;
    assert_eq!(s, 201, "{c}");
    let (s, a) = call(
        server,
        reqwest::Method::POST,
        &format!("/companies/{}/agents", c["id"].as_str().unwrap()),
        Some(json!({"name": "Survivor", "adapterConfig": {"command": "sh", "args": ["-c", script], "graceSec": 1}})),
    )
    .await;
    assert_eq!(s, 201, "{a}");
    (
        c["id"].as_str().unwrap().to_string(),
        a["id"].as_str().unwrap().to_string(),
    )
}

fn alive(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty() && !stat.contains(") Z ")
}

#[tokio::test]
async fn kill_9_mid_run_is_recovered_as_process_lost_retried_once_and_leaves_no_orphan() {
    let inst = Instance::new();
    let root = inst.root();
    let server = inst.start();
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let marker = dir.path().join("second");
    // The first run hangs with a child in the background; its retry finds the marker and ends.
    let script = format!(
        "if [ -e {m} ]; then echo retried; exit 0; fi; sleep 300 & echo $! >> {p}; echo $$ >> {p}; touch {m}; while true; do sleep 0.1; done",
        m = marker.display(),
        p = pids.display()
    );
    let (cid, agent) = agent_running(&server, &script).await;
    let (s, inv) = call(
        &server,
        reqwest::Method::POST,
        &format!("/agents/{agent}/heartbeat/invoke"),
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 202, "{inv}");
    let run = inv["run"]["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let recorded: Vec<i32> = loop {
        let text = std::fs::read_to_string(&pids).unwrap_or_default();
        let v: Vec<i32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
        if v.len() == 2 {
            break v;
        }
        assert!(Instant::now() < deadline, "the agent never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    server.kill9();
    let server = inst.start();
    let (status, health) = server.health().await;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    let (old, retry) = loop {
        let (_, runs) = call(
            &server,
            reqwest::Method::GET,
            &format!("/companies/{cid}/heartbeat-runs"),
            None,
        )
        .await;
        let runs = runs.as_array().cloned().unwrap_or_default();
        let old = runs
            .iter()
            .find(|r| r["id"] == run.as_str())
            .cloned()
            .unwrap();
        let retry = runs
            .iter()
            .find(|r| r["retryOfRunId"] == run.as_str())
            .cloned();
        if let Some(r) = retry.filter(|r| r["status"] == "succeeded") {
            break (old, r);
        }
        assert!(
            Instant::now() < deadline,
            "no finished retry: {runs:?}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        (old["status"].as_str(), old["errorCode"].as_str()),
        (Some("failed"), Some("process_lost")),
        "{old}"
    );
    assert_eq!(retry["processLossRetryCount"], 1, "{retry}");
    let (_, h) = server.health().await;
    assert_eq!(h["startupRecovery"]["phase"], "ready", "{health}");
    assert!(
        h["startupRecovery"]["recoveredRuns"].as_u64() >= Some(1),
        "{h}"
    );
    for pid in recorded {
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(pid) {
            assert!(
                Instant::now() < deadline,
                "process {pid} of the lost run is still alive"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let (_, live) = call(
        &server,
        reqwest::Method::GET,
        &format!("/companies/{cid}/live-runs"),
        None,
    )
    .await;
    assert_eq!(live, json!([]), "nothing left running");
    assert_eq!(server.stop(), 0);
    assert!(root.join("data/run-logs").join(&cid).is_dir());
}

#[tokio::test]
async fn heartbeat_run_streams_the_live_log_and_exits_with_the_runs_outcome() {
    let inst = Instance::new();
    let server = inst.start();
    let (_, ok) = agent_running(&server, "echo hello from the agent; echo to stderr >&2").await;
    let base = server.url("/api");
    let out = inst.output(&["heartbeat", "run", "--agent-id", &ok, "--api-base", &base]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", stderr(&out));
    assert!(stdout.contains("hello from the agent"), "{stdout}");
    assert!(
        stderr(&out).contains("to stderr") && stderr(&out).contains("succeeded"),
        "{}",
        stderr(&out)
    );
    let (_, failing) = agent_running(&server, "exit 3").await;
    let out = inst.output(&[
        "heartbeat",
        "run",
        "--agent-id",
        &failing,
        "--api-base",
        &base,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("exited with code 3"),
        "{}",
        stderr(&out)
    );
    server.stop();
}
