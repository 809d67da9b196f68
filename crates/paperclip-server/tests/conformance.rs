//! Our responses against the recorded responses of a running upstream server: every field
//! upstream returns is there, with the same JSON type.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn sample(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/upstream/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str::<Value>(&text).unwrap()["response"].clone()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every key of `theirs` exists in `ours`; where both are non-null the types agree (recursively
/// for objects, and for the first element of arrays).
fn conforms(path: &str, theirs: &Value, ours: &Value, problems: &mut Vec<String>) {
    // Free-form maps whose keys depend on the data, not on the schema.
    const FREE_FORM: &[&str] = &[
        ".details",
        ".changes",
        ".payload",
        ".adapterConfig",
        ".metadata",
    ];
    let free_form = FREE_FORM.iter().any(|k| path.ends_with(k));
    match (theirs, ours) {
        (Value::Object(_), Value::Object(_)) if free_form => {}
        (Value::Object(t), Value::Object(o)) => {
            for (k, tv) in t {
                match o.get(k) {
                    None => problems.push(format!("{path}.{k}: missing")),
                    Some(ov) => conforms(&format!("{path}.{k}"), tv, ov, problems),
                }
            }
        }
        (Value::Array(t), Value::Array(o)) => {
            if let (Some(tf), Some(of)) = (t.first(), o.first()) {
                conforms(&format!("{path}[0]"), tf, of, problems);
            }
        }
        (Value::Null, _) | (_, Value::Null) => {}
        (t, o) if kind(t) != kind(o) => {
            problems.push(format!("{path}: upstream {} vs ours {}", kind(t), kind(o)));
        }
        _ => {}
    }
}

fn assert_conforms(name: &str, ours: &Value) {
    let mut problems = Vec::new();
    conforms(name, &sample(name), ours, &mut problems);
    assert!(
        problems.is_empty(),
        "{name} differs:\n{}",
        problems.join("\n")
    );
}

#[tokio::test]
async fn core_responses_have_upstreams_fields_and_types() {
    let app = TestApp::spawn().await;
    let (s, acme) = app.post("/companies", json!({"name": "Acme"})).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(acme["issuePrefix"], "ACM");
    assert_conforms("company-create.json", &acme);
    let cid = id(&acme).to_string();
    let (_, got) = app.get(&format!("/companies/{cid}")).await;
    assert_conforms("company-get.json", &got);
    let (_, list) = app.get("/companies").await;
    assert_conforms("companies-list.json", &list);

    let (s, agent) = app
        .post(&format!("/companies/{cid}/agents"), json!({"name": "Bench Bot 2", "role": "qa", "adapterType": "process", "adapterConfig": {"command": "true"}}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(agent["urlKey"], "bench-bot-2");
    assert_conforms("agent-create.json", &agent);
    let (_, agents) = app.get(&format!("/companies/{cid}/agents")).await;
    assert_conforms("agents-list.json", &agents);

    let (s, issue) = app
        .post(&format!("/companies/{cid}/issues"), json!({"title": "First issue", "description": "Hello from the benchmark", "priority": "medium"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(issue["identifier"], "ACM-1");
    assert_eq!(issue["status"], "backlog");
    assert_conforms("issue-create.json", &issue);
    let iid = id(&issue).to_string();
    let (_, got) = app.get(&format!("/issues/{iid}")).await;
    assert_conforms("issue-get.json", &got);
    let (_, got) = app.get("/issues/ACM-1").await;
    assert_conforms("issue-get-by-identifier.json", &got);
    let (_, list) = app.get(&format!("/companies/{cid}/issues")).await;
    assert_conforms("issues-list.json", &list);

    let (s, comment) = app
        .post(
            &format!("/issues/{iid}/comments"),
            json!({"body": "First comment from the benchmark"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_conforms("comment-create.json", &comment);
    let (_, comments) = app.get(&format!("/issues/{iid}/comments")).await;
    assert_conforms("comments-list.json", &comments);

    let (s, checked) = app
        .post(
            &format!("/issues/{iid}/checkout"),
            json!({"agentId": id(&agent), "expectedStatuses": ["backlog", "todo"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{checked}");
    assert_conforms("issue-checkout.json", &checked);
    let other = app.agent(&acme, "Other").await;
    let (s, conflict) = app
        .post(
            &format!("/issues/{iid}/checkout"),
            json!({"agentId": id(&other), "expectedStatuses": ["backlog", "todo"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_conforms("issue-checkout-conflict.json", &conflict);

    let (s, updated) = app
        .patch(
            "/issues/ACM-1",
            json!({"priority": "high", "comment": "bumping priority"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{updated}");
    assert_conforms("issue-update.json", &updated);

    let (_, activity) = app.get(&format!("/companies/{cid}/activity")).await;
    assert_conforms("activity-list.json", &activity);

    let (s, err) = app.post("/companies", json!({})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_conforms("error-company-validation.json", &err);
    assert_eq!(err["details"][0]["path"], json!(["name"]));
    let (s, err) = app
        .get("/issues/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(err, sample("error-issue-notfound.json"));
    let (s, body) = app
        .get("/companies/00000000-0000-0000-0000-000000000000/issues")
        .await;
    assert_eq!(
        (s, body),
        (StatusCode::OK, sample("error-company-notfound.json"))
    );
    let (s, err) = app.call(Method::GET, "/nope", None, None).await;
    assert_eq!(
        (s, err),
        (StatusCode::NOT_FOUND, sample("error-unknown-route.json"))
    );
}

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let app = TestApp::spawn().await;
    let (s, doc) = app.get("/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/api/companies/{companyId}/issues", &["get", "post"][..]),
        ("/api/issues/{issueId}/checkout", &["post"]),
        (
            "/api/issues/{issueId}/documents/{key}",
            &["get", "put", "delete"],
        ),
        ("/api/agents/{agentId}/wakeup", &["post"]),
        ("/api/companies/{companyId}/cost-events", &["post"]),
        ("/api/approvals/{approvalId}/approve", &["post"]),
        ("/api/openapi.json", &["get"]),
    ] {
        for m in methods {
            assert!(
                paths.get(path).and_then(|p| p.get(m)).is_some(),
                "{m} {path} missing"
            );
        }
    }
    // The router and the document come from one table: every documented route answers.
    let ops: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert!(ops >= 60, "{ops} operations");
}
