//! The OpenAPI document is complete and valid: every operation of the route table has its
//! request body, query and path parameters and answers with schemas, and the document validates
//! as OpenAPI 3.1 (with `openapi-spec-validator`, which `.ci/run` installs).

mod common;

use common::validate_openapi as validate;
use serde_json::Value;

/// Writes and answers with `paperclip_server::openapi_document()` in a temporary file.
fn document() -> (Value, tempfile::NamedTempFile) {
    let doc = paperclip_server::openapi_document();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    (doc, file)
}

#[test]
fn the_document_validates_as_openapi_3_1() {
    let (doc, file) = document();
    assert_eq!(doc["openapi"], "3.1.0");
    validate(file.path(), None);
}

/// Writes that take no body: the path names the whole action.
const NO_BODY: &[&str] = &[
    "POST /api/companies/{companyId}/archive",
    "POST /api/agents/{agentId}/resume",
    "POST /api/agents/{agentId}/terminate",
    "POST /api/agents/{agentId}/approve",
    "POST /api/issues/{issueId}/release",
    "POST /api/plugins/{pluginId}/enable",
    "POST /api/plugins/{pluginId}/disable",
    "POST /api/instance/database-backups",
    "POST /api/heartbeat-runs/{runId}/cancel",
    "POST /api/issues/{issueId}/read",
];

#[test]
fn every_operation_declares_its_inputs_and_answers() {
    let (doc, _file) = document();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut problems = Vec::new();
    let mut count = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            count += 1;
            let name = format!("{} {path}", method.to_uppercase());
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            for seg in path.split('/') {
                if let Some(p) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    let p = p.trim_start_matches('*');
                    let declared = params.iter().any(|d| {
                        d["in"] == "path" && d["name"] == p && d["schema"]["type"] == "string"
                    });
                    if !declared {
                        problems.push(format!("{name}: path parameter {p} has no schema"));
                    }
                }
            }
            let success: Vec<(&String, &Value)> = op["responses"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(s, _)| s.starts_with('2'))
                .collect();
            if success.is_empty() {
                problems.push(format!("{name}: no success answer"));
            }
            for (status, answer) in &success {
                // JSON, or a file's bytes (`application/octet-stream`): either way, declared.
                let schema = answer["content"]
                    .as_object()
                    .and_then(|c| c.values().next())
                    .map_or(&Value::Null, |m| &m["schema"]);
                // A plugin's own routes answer whatever the plugin declares.
                let free_form = path.contains("{path}");
                if !free_form && (schema.is_null() || schema == &serde_json::json!({})) {
                    problems.push(format!("{name}: answer {status} has no schema"));
                }
            }
            let writes = matches!(method.as_str(), "post" | "patch" | "put");
            let body = op["requestBody"]["content"]
                .as_object()
                .and_then(|c| c.values().next())
                .map_or(&Value::Null, |m| &m["schema"]);
            if writes && body.is_null() && !NO_BODY.contains(&name.as_str()) {
                problems.push(format!("{name}: no request body schema"));
            }
            if method == "post"
                && !success
                    .iter()
                    .any(|(s, _)| ["200", "201", "202"].contains(&s.as_str()))
            {
                problems.push(format!("{name}: a POST without a 200/201/202 answer"));
            }
        }
    }
    // Every reference resolves.
    let text = doc.to_string();
    for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = part.split('"').next().unwrap();
        if !schemas.contains_key(name) {
            problems.push(format!("$ref to a missing schema {name}"));
        }
    }
    assert!(count > 75, "{count} operations");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
