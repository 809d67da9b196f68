//! Plugins through the real binary: CLI install, a server that starts the worker, uninstall.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

fn smoke_dir() -> String {
    format!(
        "{}/../../examples/plugins/orchestration-smoke",
        env!("CARGO_MANIFEST_DIR")
    )
}

const KEY: &str = "paperclipai.plugin-orchestration-smoke-example";

/// Worker processes (the smoke plugin's Python) whose parent is `pid`.
fn workers_of(pid: u32) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            let p = e.path();
            let cmd = std::fs::read(p.join("cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(p.join("stat")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().nth(1))
                .and_then(|x| x.parse::<u32>().ok());
            String::from_utf8_lossy(&cmd).contains("worker.py") && ppid == Some(pid)
        })
        .count()
}

async fn until<F: Fn() -> bool>(what: &str, f: F) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn install_by_cli_then_serve_then_uninstall() {
    let inst = Instance::new();
    let out = inst.output(&["plugin", "install", &smoke_dir()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        text.contains("isolation: role") && text.contains("ready"),
        "{text}"
    );
    assert!(String::from_utf8_lossy(&inst.output(&["plugin", "list"]).stdout).contains(KEY));

    let doctor = String::from_utf8_lossy(&inst.output(&["doctor"]).stdout).into_owned();
    assert!(
        doctor.contains(&format!("✓ plugin {KEY}")) && doctor.contains("isolated by role"),
        "{doctor}"
    );

    let server = inst.start();
    let pid = server.child.id();
    until("the worker to start", || workers_of(pid) == 1).await;
    let client = reqwest::Client::new();
    let company: Value = client
        .post(server.url("/api/companies"))
        .json(&json!({"name": "Cli Plugins"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let issue: Value = client
        .post(server.url(&format!(
            "/api/companies/{}/issues",
            company["id"].as_str().unwrap()
        )))
        .json(&json!({"title": "root"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let route = server.url(&format!(
        "/api/plugins/{KEY}/api/issues/{}/smoke",
        issue["id"].as_str().unwrap()
    ));
    let res = client.post(&route).json(&json!({})).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 201, "{}", res.text().await.unwrap());

    // Uninstalled from the CLI while the server runs: the server stops the worker on its own.
    let out = inst.output(&["plugin", "uninstall", KEY]);
    assert!(
        out.status.success()
            && String::from_utf8_lossy(&out.stdout).contains("schema and rows are kept"),
        "{}",
        stderr(&out)
    );
    until("the worker to stop", || workers_of(pid) == 0).await;
    let res = client.post(&route).json(&json!({})).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 503);
    assert_eq!(server.stop(), 0);
}

/// Live processes of the hostile test plugin (answers `shutdown` without exiting, ignores
/// SIGTERM), found by their working folder.
fn hostile_workers() -> Vec<u32> {
    paperclip_testkit::live_processes("worker.py", "hostile-plugin")
}

#[tokio::test]
async fn workers_die_with_a_killed_server_and_a_restart_runs_one() {
    let dir = format!(
        "{}/../paperclip-server/tests/fixtures/hostile-plugin",
        env!("CARGO_MANIFEST_DIR")
    );
    let inst = Instance::new();
    let out = inst.output(&["plugin", "install", &dir]);
    assert!(out.status.success(), "{}", stderr(&out));
    let server = inst.start();
    until("the worker to start", || hostile_workers().len() == 1).await;
    server.kill9();
    // The parent-death signal: no worker outlives the server, even a stubborn one.
    until("the orphaned worker to die", || {
        hostile_workers().is_empty()
    })
    .await;
    let server = inst.start();
    until("the worker to start again", || hostile_workers().len() == 1).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        hostile_workers().len(),
        1,
        "exactly one worker after a restart"
    );
    // SIGTERM of the server completes although the worker ignores `shutdown` and SIGTERM.
    assert_eq!(server.stop(), 0);
    assert!(hostile_workers().is_empty());
}
