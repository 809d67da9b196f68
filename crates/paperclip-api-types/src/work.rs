//! Wire types of an issue's deliverables (work products).

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use paperclip_domain::work::{
    WORK_PRODUCT_HEALTH, WORK_PRODUCT_REVIEW_STATES, WORK_PRODUCT_STATUSES, WORK_PRODUCT_TYPES,
};

/// Body of `POST /issues/{issueId}/work-products`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateWorkProduct {
    #[serde(rename = "type")]
    #[schemars(required, with = "String", extend("enum" = crate::one_of(WORK_PRODUCT_TYPES, false)))]
    pub kind: Option<String>,
    /// Who hosts it (`github`, `vercel`, `paperclip`, …).
    #[schemars(required, with = "String", length(min = 1, max = 100))]
    pub provider: Option<String>,
    #[schemars(required, with = "String", length(min = 1, max = 500))]
    pub title: Option<String>,
    /// The provider's own id (a PR number, a commit SHA).
    #[schemars(length(max = 500))]
    pub external_id: Option<String>,
    /// `http(s)://` only.
    #[schemars(length(max = 2048))]
    pub url: Option<String>,
    #[schemars(extend("enum" = crate::one_of(WORK_PRODUCT_STATUSES, false)))]
    pub status: Option<String>,
    #[schemars(extend("enum" = crate::one_of(WORK_PRODUCT_REVIEW_STATES, false)))]
    pub review_state: Option<String>,
    /// The main deliverable of its type (setting it clears the previous one's flag).
    pub is_primary: Option<bool>,
    #[schemars(extend("enum" = crate::one_of(WORK_PRODUCT_HEALTH, false)))]
    pub health_status: Option<String>,
    #[schemars(length(max = 10000))]
    pub summary: Option<String>,
    /// Free-form facts about it (at most 16 KiB of JSON).
    pub metadata: Option<Map<String, Value>>,
    /// Defaults to the project.
    pub project_id: Option<Uuid>,
    /// Refused unless null: this server runs no execution workspaces.
    pub execution_workspace_id: Option<Uuid>,
    /// Refused unless null: this server runs no runtime services.
    pub runtime_service_id: Option<Uuid>,
    /// Defaults to the caller's run (`X-Paperclip-Run-Id` or its run token).
    pub created_by_run_id: Option<Uuid>,
}

/// Body of `PATCH /work-products/{workProductId}`: the fields to change (`null` clears the
/// nullable ones).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatchWorkProduct {
    #[serde(rename = "type")]
    #[schemars(extend("enum" = crate::one_of(WORK_PRODUCT_TYPES, false)))]
    pub kind: Option<String>,
    #[schemars(length(min = 1, max = 100))]
    pub provider: Option<String>,
    #[schemars(length(min = 1, max = 500))]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "crate::double")]
    pub external_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::double")]
    pub url: Option<Option<String>>,
    #[schemars(extend("enum" = crate::one_of(WORK_PRODUCT_STATUSES, false)))]
    pub status: Option<String>,
    #[schemars(extend("enum" = crate::one_of(WORK_PRODUCT_REVIEW_STATES, false)))]
    pub review_state: Option<String>,
    pub is_primary: Option<bool>,
    #[schemars(extend("enum" = crate::one_of(WORK_PRODUCT_HEALTH, false)))]
    pub health_status: Option<String>,
    #[serde(default, deserialize_with = "crate::double")]
    pub summary: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::double")]
    pub metadata: Option<Option<Map<String, Value>>>,
    #[serde(default, deserialize_with = "crate::double")]
    pub project_id: Option<Option<Uuid>>,
    /// Refused unless null.
    pub execution_workspace_id: Option<Uuid>,
    /// Refused unless null.
    pub runtime_service_id: Option<Uuid>,
    /// Not changeable: a 422 names it.
    pub created_by_run_id: Option<Uuid>,
}

/// Body of `POST|DELETE /issues/{issueId}/inbox-archive`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboxArchive {
    /// The calling board user's id (optional; anyone else's is refused).
    #[schemars(length(min = 1))]
    pub user_id: Option<String>,
}

/// `GET /companies/{companyId}/sidebar-badges`.
#[derive(Debug, Clone, serde::Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SidebarBadges {
    /// Issues with comments the calling board user has not read.
    pub inbox: i64,
    /// Approvals waiting for the board.
    pub approvals: i64,
    /// Runs that failed or timed out in the last 24 hours.
    pub failed_runs: i64,
    pub join_requests: i64,
}
