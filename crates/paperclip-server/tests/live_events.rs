//! Live events over WebSocket against real servers: another replica's writes arrive, a
//! reconnecting client resumes without gaps, company scoping and the origin check hold, and a
//! client that stops reading is closed with a reason instead of growing memory.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Connection;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(base: &str, cid: &str, after: Option<&str>) -> Ws {
    let mut url = format!(
        "{}/companies/{cid}/events/ws",
        base.replacen("http://", "ws://", 1)
    );
    if let Some(a) = after {
        url.push_str(&format!("?after={a}"));
    }
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("the socket opens");
    ws
}

/// The next event, within 10 s.
async fn next(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("an event within 10 s");
        match msg.expect("open").expect("no error") {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Close(f) => panic!("closed: {f:?}"),
            _ => {}
        }
    }
}

/// Events until one matches `pred`.
async fn until(ws: &mut Ws, mut pred: impl FnMut(&Value) -> bool) -> (Value, Vec<Value>) {
    let mut seen = Vec::new();
    loop {
        let e = next(ws).await;
        if pred(&e) {
            return (e, seen);
        }
        seen.push(e);
    }
}

#[tokio::test]
async fn another_replicas_writes_and_a_runs_life_arrive_live() {
    let app = TestApp::spawn().await;
    let second = app.replica("live").await;
    let c = app.company("Live Co").await;
    let mut ws = connect(&second, id(&c), None).await;
    let t0 = Instant::now();
    let issue = app.issue(&c, json!({"title": "watched"})).await;
    let (created, _) = until(&mut ws, |e| {
        e["type"] == "activity.logged" && e["payload"]["action"] == "issue.created"
    })
    .await;
    eprintln!(
        "write on one replica → event on the other: {:?}",
        t0.elapsed()
    );
    assert_eq!(created["payload"]["entityId"], issue["id"]);
    assert!(created["cursor"].is_string() && created["companyId"] == c["id"]);
    // A run, told as it happens: queued, running, its events and log, the agent's status, done.
    let (s, a) = app
        .post(&format!("/companies/{}/agents", id(&c)), json!({"name": "Talker", "adapterConfig": {"command": "sh", "args": ["-c", "echo hello live"]}}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, inv) = app
        .post(&format!("/agents/{}/heartbeat/invoke", id(&a)), json!({}))
        .await;
    let run = inv["run"]["id"].clone();
    let (_, before) = until(&mut ws, |e| {
        e["type"] == "heartbeat.run.status"
            && e["payload"]["runId"] == run
            && e["payload"]["status"] == "succeeded"
    })
    .await;
    let types: Vec<&str> = before
        .iter()
        .filter(|e| e["payload"]["runId"] == run || e["payload"]["agentId"] == a["id"])
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    for t in [
        "heartbeat.run.queued",
        "heartbeat.run.status",
        "heartbeat.run.event",
        "heartbeat.run.log",
        "agent.status",
    ] {
        assert!(types.contains(&t), "{t} in {types:?}");
    }
    let log = before
        .iter()
        .find(|e| e["type"] == "heartbeat.run.log")
        .unwrap();
    assert!(log.to_string().contains("hello live"), "{log}");
    let cursors: Vec<String> = before
        .iter()
        .map(|e| e["cursor"].as_str().unwrap().to_string())
        .collect();
    let mut unique = cursors.clone();
    unique.dedup();
    assert_eq!(unique.len(), cursors.len(), "no event twice");
}

#[tokio::test]
async fn a_reconnecting_client_resumes_from_its_cursor_without_gaps_and_sees_only_its_company() {
    let app = TestApp::spawn().await;
    let c = app.company("Resume Co").await;
    let other = app.company("Other Co").await;
    let mut ws = connect(&app.base, id(&c), None).await;
    app.issue(&c, json!({"title": "first"})).await;
    let (first, _) = until(&mut ws, |e| e["payload"]["action"] == "issue.created").await;
    let cursor = first["cursor"].as_str().unwrap().to_string();
    ws.close(None).await.unwrap();
    // While away: 20 issues here, 5 in another company, written concurrently.
    let here = (0..20).map(|i| app.issue(&c, json!({"title": format!("away {i}")})));
    let there = (0..5).map(|i| app.issue(&other, json!({"title": format!("elsewhere {i}")})));
    let mine: Vec<Value> = futures_join_all(here).await;
    futures_join_all(there).await;
    let mut ws = connect(&app.base, id(&c), Some(&cursor)).await;
    let mut got = Vec::new();
    while got.len() < 20 {
        let e = next(&mut ws).await;
        assert_eq!(e["companyId"], c["id"], "only this company's events: {e}");
        if e["payload"]["action"] == "issue.created" {
            got.push(e["payload"]["entityId"].as_str().unwrap().to_string());
        }
    }
    let mut want: Vec<String> = mine.iter().map(|i| id(i).to_string()).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want, "every missed event, once");
    // A malformed cursor is refused before the upgrade.
    let url = format!(
        "{}/companies/{}/events/ws?after=nope",
        app.base.replacen("http://", "ws://", 1),
        id(&c)
    );
    assert!(tokio_tungstenite::connect_async(url).await.is_err());
}

#[tokio::test]
async fn other_origins_and_other_companies_agents_cannot_listen() {
    let app = TestApp::spawn().await;
    let c = app.company("Walled Co").await;
    let other = app.company("Neighbour Co").await;
    let url = format!(
        "{}/companies/{}/events/ws",
        app.base.replacen("http://", "ws://", 1),
        id(&c)
    );
    let mut req = url.clone().into_client_request().unwrap();
    req.headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        other => panic!("a foreign page must not listen: {other:?}"),
    }
    let a = app.agent(&other, "Snoop").await;
    let key = app.key(&a).await;
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 404),
        other => panic!("another company's agent must not listen: {other:?}"),
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_with_a_reason() {
    let app = TestApp::spawn().await;
    let c = app.company("Flood Co").await;
    let mut ws = connect(&app.base, id(&c), None).await;
    // More than the buffer, large enough to fill the socket's kernel buffers too.
    let mut db = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
    sqlx::query("INSERT INTO live_events (company_id, event_type, payload)
                 SELECT $1, 'test.flood', jsonb_build_object('n', g, 'pad', repeat('x', 4096)) FROM generate_series(1, 6000) g")
        .bind(uuid::Uuid::parse_str(id(&c)).unwrap())
        .execute(&mut db)
        .await
        .unwrap();
    sqlx::query("SELECT pg_notify('paperclip_live', '')")
        .execute(&mut db)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut received = 0;
    loop {
        assert!(
            Instant::now() < deadline,
            "never closed after {received} events"
        );
        match tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("the server acts")
        {
            Some(Ok(Message::Text(_))) => received += 1,
            Some(Ok(Message::Close(Some(f)))) => {
                assert_eq!(u16::from(f.code), 4008, "{f:?}");
                assert!(
                    f.reason.contains("after="),
                    "the reason says how to resume: {f:?}"
                );
                break;
            }
            Some(Ok(_)) => {}
            other => panic!("closed without a reason after {received}: {other:?}"),
        }
    }
    assert!(received < 6000, "it was cut off, not buffered: {received}");
}
