//! Every operation of the route table, walked in authenticated mode as an anonymous caller, a
//! signed-in member of another company and an agent of another company: each is refused, and
//! no row changes.

mod common;

use common::auth::*;
use common::world::world;
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A fingerprint of every table an outsider's request could change (volatile bookkeeping such
/// as key last-use times, sessions and the heartbeat engine's queues is left out).
async fn fingerprint(app: &TestApp) -> Vec<(String, String)> {
    let mut conn = paperclip_postgres::pool::connect_direct(&app.db.url)
        .await
        .unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
           AND table_name NOT IN ('agent_api_keys', 'board_api_keys', 'user_sessions', 'live_events',
               'heartbeat_runs', 'heartbeat_run_events', 'agent_wakeup_requests', 'agent_runtime_state',
               'plugin_event_outbox', 'background_leases', 'instance_settings', '_paperclip_migrations')
           AND table_name NOT LIKE '%lease%' AND table_name NOT LIKE '%outbox%'
         ORDER BY 1",
    )
    .persistent(false)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut out = Vec::new();
    for t in tables {
        let h: String = sqlx::query_scalar(&format!(
            "SELECT count(*)::text || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM \"{t}\" t"
        ))
        .persistent(false)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        out.push((t, h));
    }
    out
}

/// Routes anyone may call: they read nothing private or take credentials.
fn public(method: &str, path: &str) -> bool {
    match method {
        "get" => matches!(path, "/health" | "/openapi.json" | "/invites/{token}"),
        "post" => matches!(path, "/auth/sign-up/email" | "/auth/sign-in/email"),
        _ => false,
    }
}

/// Routes about the caller's own account: a board user of any company may use them.
fn own_account(method: &str, path: &str) -> bool {
    path.starts_with("/auth/")
        || path.starts_with("/board-api-keys")
        || (method == "post" && path == "/invites/{token}/accept")
        || (method == "get"
            && matches!(
                path,
                "/companies" | "/adapters" | "/skills/index" | "/skills/{skillName}"
            ))
}

/// The instance's own routes: instance admins only.
fn instance_route(path: &str) -> bool {
    // A plugin's own routes are company routes forwarded to its worker, not instance routes.
    (path.starts_with("/plugins") && !path.contains("/api/"))
        || path.starts_with("/instance/")
        || path.starts_with("/admin/")
}

#[tokio::test]
async fn every_operation_refuses_outsiders_and_changes_nothing() {
    let app = TestApp::spawn().await;
    // Company A and its objects, made by the local board; then the deployment moves to
    // authenticated mode over the same database and the first admin claims A.
    let w = world(&app).await;
    let srv = Auth::start(&app, |_| {}).await;
    let cast = cast(&app, &srv).await;
    let doc = paperclip_server::openapi_document();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let path = path.strip_prefix("/api").unwrap().to_string();
        for method in item.as_object().unwrap().keys() {
            ops.push((method.clone(), path.clone()));
        }
    }
    assert!(ops.len() > 90, "{} operations", ops.len());
    let before = fingerprint(&app).await;
    let mut failures = Vec::new();
    let mut walked = 0;
    for (method, path) in &ops {
        // Signing out would end the member's session the rest of the walk uses.
        if path == "/auth/sign-out" || path == "/auth/revoke-session" {
            continue;
        }
        let url: String = path
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    let name = seg.trim_matches(|c| c == '{' || c == '}' || c == '*');
                    match name {
                        "token" => "pci_not-a-real-token".to_string(),
                        "inviteId" | "requestId" | "memberId" | "userId" => {
                            uuid::Uuid::new_v4().to_string()
                        }
                        "keyId" if path.starts_with("/board-api-keys") => {
                            uuid::Uuid::new_v4().to_string()
                        }
                        other => w.path_param(other),
                    }
                } else {
                    seg.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let body = (m != Method::GET && m != Method::DELETE).then(|| json!({}));
        walked += 1;
        // Anonymous.
        let a = srv
            .send(m.clone(), &url, body.clone(), None, None, None)
            .await;
        if !public(method, path) && a.status != StatusCode::UNAUTHORIZED {
            failures.push(format!(
                "anonymous {method} {path}: {} {}",
                a.status, a.body
            ));
        }
        // Upstream answers the issue list of a company that does not exist with an empty list;
        // one the caller cannot see gets the same answer, so it tells nothing either.
        // A routine's webhook is authenticated by its signature, not by who calls: anyone
        // without it gets 401.
        let refused = |s: StatusCode, b: &Value| {
            matches!(s.as_u16(), 400 | 403 | 404 | 415 | 422)
                || (path == "/companies/{companyId}/issues"
                    && s == StatusCode::OK
                    && *b == json!([]))
                || (path == "/routine-triggers/public/{publicId}/fire"
                    && s == StatusCode::UNAUTHORIZED)
        };
        // A member of another company (operator of B), by cookie with its CSRF token.
        let (s, b) = srv
            .as_user(&cast.member, m.clone(), &url, body.clone())
            .await;
        if instance_route(path) || (method == "post" && path == "/companies") {
            if s != StatusCode::FORBIDDEN {
                failures.push(format!("non-admin {method} {path}: {s} {b}"));
            }
        } else if !public(method, path) && !own_account(method, path) && !refused(s, &b) {
            failures.push(format!(
                "member of another company {method} {path}: {s} {b}"
            ));
        }
        if method == "get" && path == "/companies" {
            let ids: Vec<&str> = b
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap())
                .collect();
            assert_eq!(
                ids,
                vec![cast.company_b.as_str()],
                "a member lists only their companies"
            );
        }
        // An agent of another company.
        let (s, b) = srv
            .as_key(&cast.agent_b_key, m.clone(), &url, body.clone())
            .await;
        if !public(method, path)
            && !own_account(method, path)
            && !refused(s, &b)
            && path != "/agents/me"
            && path != "/agents/me/inbox-lite"
            && path != "/agents/me/inbox/mine"
        {
            failures.push(format!("agent of another company {method} {path}: {s} {b}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {walked} operations:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let after = fingerprint(&app).await;
    let changed: Vec<_> = before
        .iter()
        .zip(&after)
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.0.clone())
        .collect();
    assert!(changed.is_empty(), "outsiders changed rows in {changed:?}");
    // The admin, meanwhile, reaches company A (claimed from the local board).
    let (s, c) = srv
        .as_key(
            &cast.admin_key,
            Method::GET,
            &format!("/companies/{}", w.cid),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    let _ = cast.admin;
}
