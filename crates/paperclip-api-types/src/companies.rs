//! Request bodies of the companies routes.

use schemars::JsonSchema;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateCompany {
    #[schemars(required, with = "String")]
    #[schemars(length(min = 1, max = 200))]
    pub name: Option<String>,
    #[schemars(length(max = 10000))]
    pub description: Option<String>,
    #[schemars(range(min = 0))]
    #[serde(default)]
    pub budget_monthly_cents: i64,
    #[serde(default)]
    pub require_board_approval_for_new_agents: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatchCompany {
    #[schemars(length(min = 1, max = 200))]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::double")]
    pub description: Option<Option<String>>,
    #[schemars(extend("enum" = crate::one_of(paperclip_domain::CompanyStatus::NAMES, true)))]
    pub status: Option<String>,
    #[schemars(range(min = 0))]
    pub budget_monthly_cents: Option<i64>,
    pub require_board_approval_for_new_agents: Option<bool>,
}

/// Query of `GET /companies/{companyId}/activity`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActivityQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[schemars(range(min = 1, max = 500))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[schemars(range(min = 0, max = 2147483647))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
}

/// Month-to-date spend against the company budget.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DashboardCosts {
    pub month_spend_cents: i64,
    pub month_budget_cents: i64,
    pub month_utilization_percent: f64,
}

/// `GET /companies/{companyId}/dashboard`; `A` is an activity entry.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Dashboard<A> {
    pub company_id: Uuid,
    /// Agents by status.
    pub agents: BTreeMap<String, i64>,
    /// Issues by status.
    pub tasks: BTreeMap<String, i64>,
    pub costs: DashboardCosts,
    pub pending_approvals: i64,
    pub recent_activity: Vec<A>,
}

/// One agent in `GET /companies/{companyId}/org`, with its reports.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OrgNode {
    pub id: Uuid,
    pub name: String,
    pub role: String,
    pub title: Option<String>,
    pub status: String,
    pub reports: Vec<OrgNode>,
}

/// `POST /companies/{companyId}/exports/preview`: what an export holds, without its rows.
/// (`C` is rows per table.)
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportPreview<C> {
    pub format: String,
    pub version: u32,
    pub schema_version: i64,
    /// The tables the bundle carries, in import order.
    pub tables: Vec<String>,
    /// Tables it leaves out, and why.
    pub omitted: BTreeMap<String, String>,
    pub counts: C,
}

/// Query of `POST /companies/import` and `/companies/import/preview` (the body is the bundle).
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportQuery {
    /// Import into this existing company; absent: into a new one (instance admins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_id: Option<Uuid>,
    /// The new company's name (default: the bundle's).
    #[schemars(length(min = 1, max = 200))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What to do with an object whose name the target already has (default `rename`).
    #[schemars(extend("enum" = ["rename", "skip", "replace"]))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collisions: Option<String>,
    /// Choices per object, as the preview names them: `table:id=rename|skip|replace`, comma-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decide: Option<String>,
}
