//! Request bodies of the costs routes.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateCost {
    pub agent_id: Uuid,
    pub issue_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub goal_id: Option<Uuid>,
    pub billing_code: Option<String>,
    #[schemars(length(min = 1, max = 200))]
    pub provider: String,
    #[schemars(length(min = 1, max = 200))]
    pub model: String,
    #[schemars(range(min = 0))]
    #[serde(default)]
    pub input_tokens: i64,
    #[schemars(range(min = 0))]
    #[serde(default)]
    pub cached_input_tokens: i64,
    #[schemars(range(min = 0))]
    #[serde(default)]
    pub output_tokens: i64,
    #[schemars(range(min = 0))]
    pub cost_cents: i64,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// `GET /companies/{companyId}/costs/summary`: month-to-date totals against the budget.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CostSummary {
    pub company_id: Uuid,
    pub spend_cents: i64,
    pub budget_cents: i64,
    pub utilization_percent: f64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub event_count: i64,
}

/// One row of `GET /companies/{companyId}/costs/by-agent`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentSpend {
    pub agent_id: Option<Uuid>,
    pub agent_name: Option<String>,
    pub cost_cents: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
}

/// One row of `GET /companies/{companyId}/costs/by-project` (`projectId` null: no project).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSpend {
    pub project_id: Option<Uuid>,
    pub project_name: Option<String>,
    pub cost_cents: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
}
