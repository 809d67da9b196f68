//! Request bodies of the approvals routes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateApproval {
    #[schemars(extend("enum" = crate::one_of(paperclip_domain::ApprovalType::NAMES, false)))]
    #[serde(rename = "type")]
    pub kind: String,
    pub requested_by_agent_id: Option<Uuid>,
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub payload: Option<Value>,
    #[serde(default)]
    pub issue_ids: Vec<Uuid>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct DecisionBody {
    #[schemars(length(max = 10000))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_note: Option<String>,
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
}

/// Query of `GET /companies/{companyId}/approvals`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct ApprovalListQuery {
    /// Only approvals in this status.
    #[schemars(extend("enum" = crate::one_of(paperclip_domain::ApprovalStatus::NAMES, true)))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}
