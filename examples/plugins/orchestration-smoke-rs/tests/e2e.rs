//! The Rust smoke plugin against a real host (paperclip-plugin-test-host).

use std::time::{Duration, Instant};

use paperclip_plugin_test_host::TestHost;
use serde_json::{json, Value};

const KEY: &str = "paperclipai.plugin-orchestration-smoke-example";

/// The shared manifest and migration, with the worker pointed at this crate's binary.
fn plugin_dir() -> tempfile::TempDir {
    let src = format!("{}/../orchestration-smoke", env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let mut manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{src}/paperclip-plugin.json")).unwrap(),
    )
    .unwrap();
    manifest["worker"] = json!({"command": env!("CARGO_BIN_EXE_orchestration-smoke"), "args": []});
    std::fs::write(
        dir.path().join("paperclip-plugin.json"),
        manifest.to_string(),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("migrations")).unwrap();
    for f in std::fs::read_dir(format!("{src}/migrations"))
        .unwrap()
        .flatten()
    {
        std::fs::copy(f.path(), dir.path().join("migrations").join(f.file_name())).unwrap();
    }
    dir
}

async fn post(base: &str, path: &str, body: Value) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn the_rust_smoke_plugin_runs_against_a_real_host() {
    let host = TestHost::spawn().await;
    let dir = plugin_dir();
    let (s, p) = post(&host.base, "/plugins/install", json!({"path": dir.path()})).await;
    assert_eq!(s, 201, "{p}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let p: Value = reqwest::get(format!("{}/plugins/{KEY}", host.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if p["workerRunning"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "worker never started: {p}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, company) = post(&host.base, "/companies", json!({"name": "Rust Plugin Co"})).await;
    let cid = company["id"].as_str().unwrap();
    let (_, agent) = post(
        &host.base,
        &format!("/companies/{cid}/agents"),
        json!({"name": "Worker"}),
    )
    .await;
    let (_, root) = post(
        &host.base,
        &format!("/companies/{cid}/issues"),
        json!({"title": "root", "assigneeAgentId": agent["id"]}),
    )
    .await;
    let route = format!(
        "/plugins/{KEY}/api/issues/{}/smoke",
        root["id"].as_str().unwrap()
    );
    let (s, out) = post(&host.base, &route, json!({})).await;
    assert_eq!(s, 201, "{out}");
    assert_eq!(out["wakeupQueued"], true);
    assert_eq!(out["joinedRows"][0]["identifier"], root["identifier"]);
    assert_eq!(out["subtreeIssueIds"].as_array().unwrap().len(), 3);
    let (s, _) = post(
        &host.base,
        &format!(
            "/plugins/{KEY}/api/issues/{}/denied",
            root["id"].as_str().unwrap()
        ),
        json!({}),
    )
    .await;
    assert_eq!(s, 403, "capability denied reaches the caller");
}
