//! Database care through the real binary: `db shell` with and without a running server,
//! `db vacuum [--full]` and `db analyze` reporting what they changed, and `run --maintenance`
//! (the API answers; agents do not run until a normal start).

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn db_shell_runs_psql_on_the_instance_with_or_without_a_server() {
    let inst = Instance::new();
    // No server, not even a cluster yet: the CLI makes and starts it for psql, stops it after.
    let out = inst.ok(&["db", "shell", "--", "-tAc", "select current_database()"]);
    assert_eq!(out.trim(), "paperclip");
    assert!(
        !inst.root().join("db/postmaster.pid").exists(),
        "the cluster the shell started is stopped again"
    );
    // Beside a server: attaches to its cluster and sees its writes.
    let server = inst.start();
    server.post("/companies", json!({"name": "Shell Co"})).await;
    let out = inst.ok(&["db", "shell", "--", "-tAc", "select name from companies"]);
    assert_eq!(out.trim(), "Shell Co");
    // psql's own exit code comes back.
    let bad = inst.output(&[
        "db",
        "shell",
        "--",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        "select nope",
    ]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("nope"), "{}", stderr(&bad));
    server.stop();
}

#[tokio::test]
async fn vacuum_and_analyze_report_what_they_changed() {
    let inst = Instance::new();
    let server = inst.start();
    inst.ok(&[
            "db",
            "shell",
            "--",
            "-q",
            "-c",
            "create table scratch as select g, repeat('x', 500) as pad from generate_series(1, 40000) g",
            "-c",
            "delete from scratch",
        ],
    );
    let analyzed: Value = serde_json::from_str(&inst.ok(&["db", "analyze", "--json"])).unwrap();
    assert!(analyzed["databaseBytesAfter"].as_i64().unwrap() > 0);
    let vacuumed: Value = serde_json::from_str(&inst.ok(&["db", "vacuum", "--json"])).unwrap();
    assert!(vacuumed["tookMs"].is_number(), "{vacuumed}");
    let before = inst.ok(&["db", "vacuum", "--full"]);
    assert!(before.starts_with("VACUUM (FULL, ANALYZE)"), "{before}");
    assert!(before.contains("largest tables:"), "{before}");
    let full: Value =
        serde_json::from_str(&inst.ok(&["db", "vacuum", "--full", "--json"])).unwrap();
    let size = |v: &Value, t: &str| {
        v["largest"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["table"] == t)
            .map(|r| r["bytes"].as_i64().unwrap())
    };
    // After VACUUM FULL the emptied table holds no pages, so it is no longer among the largest
    // (or is tiny).
    assert!(
        size(&full, "scratch").is_none_or(|b| b < 64 * 1024),
        "{full}"
    );
    server.stop();
}

#[tokio::test]
async fn maintenance_mode_serves_the_api_and_runs_no_agent() {
    let inst = Instance::new();
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let server = inst.start();
    let c = server.post("/companies", json!({"name": "Quiet Co"})).await;
    let a = server
        .post(
            &format!("/companies/{}/agents", c["id"].as_str().unwrap()),
            json!({"name": "Waiter", "adapterConfig": {"command": "sh",
               "args": ["-c", format!("touch {}", marker.display())]},
               "runtimeConfig": {"heartbeat": {"enabled": false}}}),
        )
        .await;
    let agent = a["id"].as_str().unwrap().to_string();
    server.stop();

    let mut child = inst
        .command(&["run", "--maintenance"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr_pipe = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr_pipe)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut addr = None;
    let mut said_maintenance = false;
    while addr.is_none() {
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap();
        said_maintenance |= line.contains("Maintenance mode");
        addr = line
            .split("listening on http://")
            .nth(1)
            .map(|a| a.trim().to_string());
    }
    assert!(said_maintenance);
    let base = format!("http://{}", addr.unwrap());
    let health: Value = reqwest::get(format!("{base}/api/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        health["warnings"].to_string().contains("maintenance_mode"),
        "{health}"
    );
    assert!(
        health["backgroundTasks"].get("heartbeatEngine").is_none(),
        "{health}"
    );
    // The API writes; the wakeup queues and nothing runs it.
    let res = reqwest::Client::new()
        .post(format!("{base}/api/agents/{agent}/wakeup"))
        .json(&json!({"source": "on_demand"}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let woken: Value = res.json().await.unwrap();
    let run = woken["run"]["id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!marker.exists(), "an agent ran in maintenance mode");
    let r: Value = reqwest::get(format!("{base}/api/heartbeat-runs/{run}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "queued", "{r}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    assert!(child.wait().unwrap().success());

    // A normal start runs what waited.
    let server = inst.start();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !marker.exists() {
        assert!(Instant::now() < deadline, "the queued run never ran");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop();
}
