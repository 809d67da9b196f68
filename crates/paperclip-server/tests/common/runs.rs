//! Helpers of the heartbeat tests: the test worker agent and waiting for runs.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{id, TestApp};

pub const WORKER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/agents/worker.py"
);

/// An agent whose process adapter runs the test worker with `env`.
pub async fn worker(app: &TestApp, c: &Value, name: &str, env: Value, runtime: Value) -> Value {
    let (s, a) = app
        .post(
            &format!("/companies/{}/agents", id(c)),
            json!({"name": name, "role": "engineer", "adapterType": "process",
                   "adapterConfig": {"command": "python3", "args": [WORKER], "env": env, "graceSec": 2},
                   "runtimeConfig": runtime}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    a
}

/// Waits until `f` answers something.
pub async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut f: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until a run is running.
pub async fn running(app: &TestApp, run_id: &str) {
    eventually("the run running", || async {
        let (_, v) = app.get(&format!("/heartbeat-runs/{run_id}")).await;
        (v["status"] == "running").then_some(())
    })
    .await;
}

/// The runs of an agent, newest first.
pub async fn runs_of(app: &TestApp, c: &Value, agent: &Value) -> Vec<Value> {
    let (s, v) = app
        .get(&format!(
            "/companies/{}/heartbeat-runs?agentId={}",
            id(c),
            id(agent)
        ))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v.as_array().unwrap().clone()
}

/// Waits for the one run that answers a wake of `agent` with `reason`, to its end.
pub async fn run_for(app: &TestApp, c: &Value, agent: &Value, reason: &str) -> Value {
    let run = eventually(reason, || async {
        runs_of(app, c, agent)
            .await
            .into_iter()
            .find(|r| r["contextSnapshot"]["wakeReason"] == reason)
    })
    .await;
    app.finished_run(id(&run)).await
}
