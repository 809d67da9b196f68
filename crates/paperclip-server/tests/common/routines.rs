//! Routines: a quiet agent, a routine, a trigger, and the rows a routine's firings made.

use chrono::{DateTime, Utc};
use paperclip_config::PoolSettings;
use paperclip_postgres::Db;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{id, TestApp};

/// An agent that never runs by itself (so woken runs stay queued, visible, and cost nothing).
pub async fn quiet_agent(app: &TestApp, c: &Value, name: &str) -> Value {
    let (s, a) = app
        .post(
            &format!("/companies/{}/agents", id(c)),
            json!({"name": name, "role": "engineer", "adapterType": "process",
                   "adapterConfig": {"command": "true"},
                   "runtimeConfig": {"heartbeat": {"enabled": false}}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    a
}

pub async fn routine(app: &TestApp, c: &Value, body: Value) -> Value {
    let (s, r) = app
        .post(&format!("/companies/{}/routines", id(c)), body)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    r
}

pub async fn trigger(app: &TestApp, r: &Value, body: Value) -> Value {
    let (s, t) = app
        .post(&format!("/routines/{}/triggers", id(r)), body)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    t
}

pub fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

pub async fn another_replica(app: &TestApp) -> Db {
    Db::connect(
        &app.db.url,
        &PoolSettings {
            max_connections: 5,
            connect_timeout: std::time::Duration::from_secs(10),
            idle_timeout: std::time::Duration::from_secs(60),
            prepared_statements: None,
        },
    )
    .await
    .unwrap()
}

pub fn routine_issues(r: &Value) -> String {
    format!(
        "SELECT count(*) FROM issues WHERE origin_kind = 'routine_execution' AND origin_id = '{}'",
        id(r)
    )
}
