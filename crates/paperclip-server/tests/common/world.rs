//! Real objects of one company, for the tests that walk every operation: a value for every
//! path parameter and for every field that names an object.

use reqwest::Method;
use serde_json::{json, Value};

use super::{id, TestApp};

/// Real objects of one company.
pub struct World {
    pub cid: String,
    pub agent: String,
    pub other_agent: String,
    pub issue: String,
    pub other_issue: String,
    pub goal: String,
    pub project: String,
    pub approval: String,
    pub secret: String,
    pub comment: String,
    pub label: String,
    pub revision: String,
    pub run: String,
    pub key_id: String,
    pub work_product: String,
    pub attachment: String,
    pub asset: String,
    pub routine: String,
    pub trigger: String,
    pub public_id: String,
    pub api_trigger: String,
}

pub async fn world(app: &TestApp) -> World {
    let c = app.company("Walk Co").await;
    let cid = id(&c).to_string();
    let agent = app.agent(&c, "Walker").await;
    let other_agent = app.agent(&c, "Other").await;
    let issue = app
        .issue(&c, json!({"title": "walked", "status": "todo"}))
        .await;
    let other_issue = app.issue(&c, json!({"title": "other"})).await;
    let iid = id(&issue).to_string();
    let (_, goal) = app
        .post(&format!("/companies/{cid}/goals"), json!({"title": "G"}))
        .await;
    let (_, project) = app
        .post(&format!("/companies/{cid}/projects"), json!({"name": "P"}))
        .await;
    let (_, approval) = app
        .post(
            &format!("/companies/{cid}/approvals"),
            json!({"type": "request_board_approval", "payload": {}}),
        )
        .await;
    let (_, secret) = app
        .post(
            &format!("/companies/{cid}/secrets"),
            json!({"name": "S", "key": "S", "value": "v"}),
        )
        .await;
    let (_, comment) = app
        .post(&format!("/issues/{iid}/comments"), json!({"body": "hi"}))
        .await;
    let (_, label) = app
        .post(
            &format!("/companies/{cid}/labels"),
            json!({"name": "L", "color": "#112233"}),
        )
        .await;
    let (_, doc) = app
        .call(
            Method::PUT,
            &format!("/issues/{iid}/documents/plan"),
            Some(json!({"title": "Plan", "format": "markdown", "body": "x"})),
            None,
        )
        .await;
    let (_, key) = app
        .post(
            &format!("/agents/{}/keys", id(&agent)),
            json!({"name": "k"}),
        )
        .await;
    let (_, inv) = app
        .post(
            &format!("/agents/{}/heartbeat/invoke", id(&other_agent)),
            json!({}),
        )
        .await;
    let run = inv["run"]["id"].as_str().unwrap().to_string();
    app.finished_run(&run).await;
    let (_, wp) = app
        .post(
            &format!("/issues/{iid}/work-products"),
            json!({"type": "branch", "provider": "git", "title": "b"}),
        )
        .await;
    let attachment = app.attach_text(&c, &issue, "x").await;
    let (_, routine) = app
        .post(
            &format!("/companies/{cid}/routines"),
            json!({"title": "R", "concurrencyPolicy": "always_enqueue"}),
        )
        .await;
    let rid = id(&routine).to_string();
    let (_, webhook) = app
        .post(
            &format!("/routines/{rid}/triggers"),
            json!({"kind": "webhook", "signingMode": "bearer"}),
        )
        .await;
    let (_, api_trigger) = app
        .post(&format!("/routines/{rid}/triggers"), json!({"kind": "api"}))
        .await;
    let s = |v: &Value, k: &str| {
        v[k].as_str()
            .unwrap_or_else(|| panic!("{k}: {v}"))
            .to_string()
    };
    World {
        cid,
        agent: s(&agent, "id"),
        other_agent: s(&other_agent, "id"),
        issue: iid,
        other_issue: s(&other_issue, "id"),
        goal: s(&goal, "id"),
        project: s(&project, "id"),
        approval: s(&approval, "id"),
        secret: s(&secret, "id"),
        comment: s(&comment, "id"),
        label: s(&label, "id"),
        revision: s(&doc, "latestRevisionId"),
        run,
        key_id: s(&key, "id"),
        work_product: s(&wp, "id"),
        attachment: s(&attachment, "id"),
        routine: rid,
        trigger: s(&webhook, "id"),
        public_id: s(&webhook, "publicId"),
        api_trigger: s(&api_trigger, "id"),
        asset: s(&attachment, "assetId"),
    }
}

impl World {
    pub fn path_param(&self, name: &str) -> String {
        match name {
            "companyId" => self.cid.clone(),
            "agentId" => self.agent.clone(),
            "issueId" => self.issue.clone(),
            "goalId" => self.goal.clone(),
            "projectId" => self.project.clone(),
            "approvalId" => self.approval.clone(),
            "secretId" => self.secret.clone(),
            "commentId" => self.comment.clone(),
            "labelId" => self.label.clone(),
            "runId" => self.run.clone(),
            "keyId" => self.key_id.clone(),
            "workProductId" => self.work_product.clone(),
            "attachmentId" => self.attachment.clone(),
            "assetId" => self.asset.clone(),
            "routineId" => self.routine.clone(),
            "triggerId" => self.trigger.clone(),
            "publicId" => self.public_id.clone(),
            "type" => "process".into(),
            "key" => "plan".into(),
            "skillName" => "paperclip".into(),
            "pluginId" => "no-such-plugin".into(),
            "path" => "x".into(),
            // Access objects exist only in authenticated mode: ids that name nothing.
            "memberId" | "inviteId" | "requestId" => "00000000-0000-4000-8000-000000000001".into(),
            "userId" => "no-such-user".into(),
            "token" => "pci_no-such-invite".into(),
            other => panic!("no real value for path parameter {other}"),
        }
    }

    /// A real id for a field that names an object, by the field's name.
    pub fn id_for(&self, field: &str) -> Option<String> {
        Some(match field {
            "agentId" | "assigneeAgentId" | "reportsTo" | "ownerAgentId" | "leadAgentId"
            | "requestedByAgentId" => self.other_agent.clone(),
            "issueId" | "parentId" | "blockedByIssueIds" | "issueIds" => self.other_issue.clone(),
            "projectId" => self.project.clone(),
            "goalId" => self.goal.clone(),
            "labelIds" => self.label.clone(),
            "secretId" => self.secret.clone(),
            "approvalId" => self.approval.clone(),
            "issueCommentId" | "commentId" => self.comment.clone(),
            "baseRevisionId" => self.revision.clone(),
            "heartbeatRunId" | "createdByRunId" | "runId" => self.run.clone(),
            "triggerId" => self.api_trigger.clone(),
            "parentIssueId" => self.other_issue.clone(),
            _ => return None,
        })
    }
}
