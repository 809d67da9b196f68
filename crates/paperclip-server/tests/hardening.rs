//! Findings of the attack run (hardening issue), each reproduced and now refused: other web
//! pages driving the board, DNS rebinding, malformed credentials, NUL bytes, loose input, values
//! echoed in errors, fake costs against a sibling agent.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = app.client.request(method, format!("{}{path}", app.base));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.body(b.to_string());
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{status}: the body is not JSON: {text:?}"));
    (status, body)
}

fn authority(app: &TestApp) -> String {
    app.base
        .trim_start_matches("http://")
        .trim_end_matches("/api")
        .to_string()
}

#[tokio::test]
async fn other_web_pages_cannot_drive_the_board() {
    let app = TestApp::spawn().await;
    let json_ct = ("content-type", "application/json");
    // A cross-origin form-like POST (no preflight in browsers): refused, nothing created.
    let (s, e) = raw(
        &app,
        Method::POST,
        "/companies",
        &[
            ("origin", "http://attacker.example"),
            ("content-type", "text/plain"),
        ],
        Some(r#"{"name":"Pwned"}"#),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
    let (s, e) = raw(
        &app,
        Method::POST,
        "/plugins/install",
        &[("origin", "http://attacker.example"), json_ct],
        Some(r#"{"path":"/tmp"}"#),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
    // Another local port is another origin too, and so is `null` (sandboxed frames, files).
    for origin in ["http://localhost:8080", "null", "file://"] {
        let (s, _) = raw(
            &app,
            Method::POST,
            "/companies",
            &[("origin", origin), json_ct],
            Some(r#"{"name":"X"}"#),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{origin}");
    }
    let (s, _) = raw(
        &app,
        Method::POST,
        "/companies",
        &[("sec-fetch-site", "cross-site"), json_ct],
        Some(r#"{"name":"X"}"#),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Without Origin (curl, the CLI) a text/plain body is still not JSON: 415.
    let (s, e) = raw(
        &app,
        Method::POST,
        "/companies",
        &[("content-type", "text/plain")],
        Some(r#"{"name":"Pwned"}"#),
    )
    .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{e}");
    let (s, e) = raw(
        &app,
        Method::POST,
        "/companies",
        &[],
        Some(r#"{"name":"Pwned"}"#),
    )
    .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{e}");
    let (_, list) = app.get("/companies").await;
    assert_eq!(
        list.as_array().unwrap().len(),
        0,
        "nothing was created: {list}"
    );
    // The board's own origin works.
    let own = format!("http://{}", authority(&app));
    let (s, e) = raw(
        &app,
        Method::POST,
        "/companies",
        &[
            ("origin", &own),
            ("content-type", "application/json; charset=utf-8"),
        ],
        Some(r#"{"name":"Mine"}"#),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");

    // DNS rebinding: a foreign Host is refused, reads included.
    let (s, e) = raw(
        &app,
        Method::GET,
        "/companies",
        &[("host", "attacker.example")],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
    assert!(
        e["error"].as_str().unwrap().contains("allowedHostnames"),
        "{e}"
    );
    let port = authority(&app).rsplit(':').next().unwrap().to_string();
    for host in [
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        format!("127.0.0.1:{port}"),
    ] {
        let (s, _) = raw(&app, Method::GET, "/companies", &[("host", &host)], None).await;
        assert_eq!(s, StatusCode::OK, "{host}");
    }
}

#[tokio::test]
async fn a_malformed_authorization_header_is_not_the_board() {
    let app = TestApp::spawn().await;
    for value in [
        "BEARER x",
        "Basic dXNlcjpwYXNz",
        "",
        "Bearer",
        "Bearer   ",
        "Token abc",
    ] {
        let (s, e) = raw(
            &app,
            Method::GET,
            "/companies",
            &[("authorization", value)],
            None,
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{value:?}: {e}");
    }
    let res = app
        .client
        .get(format!("{}/companies", app.base))
        .header(
            "authorization",
            reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn nul_bytes_are_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let c = app.company("Nul Co").await;
    let cid = c["id"].as_str().unwrap();
    let (s, e) = app
        .post(
            &format!("/companies/{cid}/issues"),
            json!({"title": "a\u{0}b"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["details"][0]["path"], json!(["title"]), "{e}");
    let (s, e) = app
        .post(
            &format!("/companies/{cid}/agents"),
            json!({"name": "x", "metadata": {"deep": ["ok", "n\u{0}"]}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(
        e["details"][0]["path"],
        json!(["metadata", "deep", 1]),
        "{e}"
    );
    let (s, e) = raw(
        &app,
        Method::GET,
        &format!("/companies/{cid}/issues?q=a%00b"),
        &[],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["details"][0]["path"], json!(["query"]));
    let (s, e) = raw(&app, Method::GET, "/issues/PAP-%00", &[], None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, e) = raw(&app, Method::GET, "/issues/%FF", &[], None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
}

#[tokio::test]
async fn loose_input_is_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let c = app.company("Loose Co").await;
    let cid = c["id"].as_str().unwrap();
    for (field, body) in [
        (
            "adapterType",
            json!({"name": "a", "adapterType": "../../bin/sh"}),
        ),
        (
            "runtimeConfig",
            json!({"name": "a", "runtimeConfig": "abc"}),
        ),
        ("permissions", json!({"name": "a", "permissions": "abc"})),
    ] {
        let (s, e) = app.post(&format!("/companies/{cid}/agents"), body).await;
        assert!(s.is_client_error(), "{field}: {s} {e}");
        assert!(e.to_string().contains(field), "{field}: {e}");
    }
    let agent = app.agent(&c, "Spender").await;
    let (s, e) = app
        .patch(
            &format!("/agents/{}", agent["id"].as_str().unwrap()),
            json!({"adapterType": "a/b"}),
        )
        .await;
    assert!(
        s.is_client_error() && e.to_string().contains("adapterType"),
        "{e}"
    );
    let (s, e) = app.post(&format!("/companies/{cid}/cost-events"), json!({"agentId": agent["id"], "provider": "p", "model": "m", "costCents": 1, "occurredAt": "-4000-01-01T00:00:00Z"})).await;
    assert!(
        s.is_client_error() && e.to_string().contains("occurredAt"),
        "{s} {e}"
    );
    // Oversized bodies: JSON 413, declared or streamed.
    let big = format!("{{\"name\":\"{}\"}}", "x".repeat(2 << 20));
    let (s, e) = raw(
        &app,
        Method::POST,
        "/companies",
        &[("content-type", "application/json")],
        Some(&big),
    )
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{e}");
}

#[tokio::test]
async fn a_rejected_secret_value_is_never_echoed() {
    let app = TestApp::spawn().await;
    let c = app.company("Secret Co").await;
    let (s, e) = app
        .post(
            &format!("/companies/{}/secrets", c["id"].as_str().unwrap()),
            json!({"name": "k", "key": "K", "value": 424242424242_i64}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(!e.to_string().contains("424242424242"), "{e}");
    assert_eq!(e["details"][0]["path"], json!(["value"]), "{e}");
}

#[tokio::test]
async fn an_agent_reports_only_its_own_costs() {
    let app = TestApp::spawn().await;
    let c = app.company("Cost Co").await;
    let cid = c["id"].as_str().unwrap();
    let ceo = app.agent(&c, "CEO").await;
    let worker = app.agent(&c, "Worker").await;
    let token = app.key(&worker).await;
    let cost = |agent: &Value| json!({"agentId": agent["id"], "provider": "anthropic", "model": "m", "costCents": 999999});
    let (s, e) = app
        .call(
            Method::POST,
            &format!("/companies/{cid}/cost-events"),
            Some(cost(&ceo)),
            Some(&token),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
    let (_, ceo_now) = app
        .get(&format!("/agents/{}", ceo["id"].as_str().unwrap()))
        .await;
    assert_ne!(ceo_now["status"], "paused", "{ceo_now}");
    let (s, e) = app.call(Method::POST, &format!("/companies/{cid}/cost-events"), Some(json!({"agentId": worker["id"], "provider": "anthropic", "model": "m", "costCents": 5})), Some(&token)).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
}

#[tokio::test]
async fn health_has_its_own_connection_and_says_degraded_when_the_pool_is_busy() {
    let app = TestApp::spawn().await;
    // Occupy every connection of the application pool.
    let max = app.pool.pool_state().max;
    let mut held = Vec::new();
    for _ in 0..max {
        held.push(app.pool.pool().acquire().await.unwrap());
    }
    let (s, h) = app.get("/health").await;
    assert_eq!(s, StatusCode::OK, "{h}");
    assert_eq!(h["status"], "degraded", "{h}");
    assert!(h["warnings"].to_string().contains("busy"), "{h}");
    drop(held);
    let (s, h) = app.get("/health").await;
    assert_eq!(
        (s, h["status"].clone()),
        (StatusCode::OK, json!("ok")),
        "{h}"
    );
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await;
    let addr = authority(&app);
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /api/health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .unwrap();
    // The server keeps serving others meanwhile.
    let (s, _) = app.get("/health").await;
    assert_eq!(s, StatusCode::OK);
    // Then closes the slow socket (header timeout), well before this bound.
    let bound = paperclip_server::listener::HEADER_TIMEOUT * 3;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(bound, slow.read_to_end(&mut buf)).await;
    assert!(
        read.is_ok(),
        "the slow socket was still open after {bound:?}"
    );
}

#[tokio::test]
async fn a_field_a_request_does_not_take_is_refused_by_name_never_dropped() {
    let app = TestApp::spawn().await;
    let c = app.company("Strict Input Co").await;
    let cid = c["id"].as_str().unwrap();
    for (path, body, field) in [
        (
            format!("/companies/{cid}/issues"),
            json!({"title": "t", "watcherIds": []}),
            "watcherIds",
        ),
        (
            format!("/companies/{cid}/agents"),
            json!({"name": "a", "adapterTpye": "process"}),
            "adapterTpye",
        ),
        (
            "/companies".to_string(),
            json!({"name": "x", "budgetMonthlyCent": 5}),
            "budgetMonthlyCent",
        ),
    ] {
        let (s, err) = app.post(&path, body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {err}");
        assert_eq!(err["details"][0]["path"][0], field, "{body}: {err}");
        assert_eq!(err["details"][0]["code"], "unrecognized_keys", "{err}");
    }
    let (_, issues) = app.get(&format!("/companies/{cid}/issues")).await;
    assert_eq!(
        issues.as_array().map(Vec::len),
        Some(0),
        "nothing was created: {issues}"
    );
}
