//! The orchestration smoke plugin in Rust: creates a finished blocker and a child blocked by it,
//! writes a document, requests a wakeup, reads the orchestration summary, and keeps a row in its
//! own namespace table. Same manifest and migration as the Python example.

use paperclip_plugin_sdk::{run, ApiRequest, ApiResponse, Host, Plugin, RpcError};
use serde_json::{json, Value};

const KEY: &str = "paperclipai.plugin-orchestration-smoke-example";

struct Smoke;

impl Smoke {
    async fn smoke(&self, host: &Host, req: &ApiRequest) -> Result<ApiResponse, RpcError> {
        let root = host.issues_get(req, req.param("issueId")?).await?;
        let root_id = root["id"].as_str().unwrap_or_default().to_string();
        let company = root["companyId"].clone();
        let namespace = host.db_namespace(req).await?;
        let billing = format!("plugin-smoke:{root_id}");
        let blocker = host
            .issues_create(req, json!({"companyId": company, "title": format!("Smoke blocker for {}", root["identifier"].as_str().unwrap_or("")),
                "status": "done", "priority": "low", "parentId": root_id, "billingCode": billing, "originKind": format!("plugin:{KEY}:blocker")}))
            .await?;
        let blocker_id = blocker["id"].as_str().unwrap_or_default().to_string();
        let assignee = req
            .body
            .get("assigneeAgentId")
            .cloned()
            .filter(|v| !v.is_null())
            .unwrap_or_else(|| root["assigneeAgentId"].clone());
        let child = host
            .issues_create(req, json!({"companyId": company, "title": "Smoke child", "status": "todo", "priority": "medium", "parentId": root_id,
                "billingCode": billing, "assigneeAgentId": assignee, "blockedByIssueIds": [blocker_id], "originKind": format!("plugin:{KEY}:child")}))
            .await?;
        let child_id = child["id"].as_str().unwrap_or_default().to_string();
        host.set_blocked_by(req, &child_id, &[&blocker_id]).await?;
        host.upsert_document(
            req,
            &child_id,
            "orchestration-smoke",
            "Orchestration smoke",
            &format!("# Smoke\n\nNamespace `{namespace}`.\n"),
        )
        .await?;
        let wake = host
            .request_wakeup(
                req,
                &child_id,
                "plugin:orchestration_smoke",
                &format!("smoke:{child_id}"),
            )
            .await?;
        let summary = host.orchestration_summary(req, &root_id).await?;
        let subtree = host.subtree_ids(req, &root_id).await?;
        host.db_execute(
            req,
            "INSERT INTO smoke_runs (root_issue_id, child_issue_id, blocker_issue_id, billing_code, last_summary) VALUES ($1::uuid, $2::uuid, $3::uuid, $4, $5::jsonb)",
            vec![json!(root_id), json!(child_id), json!(blocker_id), json!(billing), json!(summary.to_string())],
        )
        .await?;
        let joined = host
            .db_query(req, "SELECT s.billing_code, i.identifier FROM smoke_runs s JOIN public.issues i ON i.id = s.root_issue_id WHERE s.root_issue_id = $1::uuid", vec![json!(root_id)])
            .await?;
        Ok(ApiResponse::json(
            201,
            json!({
                "rootIssueId": root_id, "childIssueId": child_id, "blockerIssueId": blocker_id, "billingCode": billing,
                "namespace": namespace, "joinedRows": joined, "subtreeIssueIds": subtree,
                "wakeupQueued": wake.get("queued").and_then(Value::as_bool).unwrap_or(false), "summary": summary,
            }),
        ))
    }
}

impl Plugin for Smoke {
    async fn handle_api_request(
        &self,
        host: &Host,
        req: ApiRequest,
    ) -> Result<ApiResponse, RpcError> {
        match req.route_key.as_deref() {
            Some("initialize") => self.smoke(host, &req).await,
            Some("summary") => {
                let rows = host
                    .db_query(&req, "SELECT last_summary FROM smoke_runs WHERE root_issue_id = $1::uuid ORDER BY created_at DESC LIMIT 1", vec![json!(req.param("issueId")?)])
                    .await?;
                Ok(match rows.first() {
                    Some(r) => ApiResponse::json(200, r["last_summary"].clone()),
                    None => ApiResponse::json(404, json!({"error": "no smoke run for this issue"})),
                })
            }
            Some("denied") => {
                host.call("issues.update", json!({"issueId": req.param("issueId")?, "title": "hijacked", "invocationId": req.invocation_id})).await?;
                Ok(ApiResponse::json(200, json!({"unexpected": true})))
            }
            _ => Ok(ApiResponse::json(404, json!({"error": "unknown route"}))),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    run(Smoke).await;
}
