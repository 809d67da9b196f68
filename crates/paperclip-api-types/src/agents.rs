//! Request bodies of the agents routes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Query of `GET /companies/{companyId}/agents`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentListQuery {
    /// `summary`: each agent without its configuration and chain of command.
    #[schemars(extend("enum" = ["summary"]))]
    pub view: Option<String>,
    /// At most this many agents (oldest first); all of them when absent.
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<i64>,
    #[schemars(range(min = 0, max = 2147483647))]
    pub offset: Option<i64>,
}

/// `GET /companies/{companyId}/agents`: whole agents, or their summaries with `view=summary`.
/// (`A` is the stored agent, `S` its summary.)
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum AgentList<A, S> {
    Full(Vec<A>),
    Summary(Vec<S>),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateAgent {
    #[schemars(required, with = "String")]
    #[schemars(length(min = 1, max = 200))]
    pub name: Option<String>,
    #[schemars(extend("enum" = crate::one_of(paperclip_domain::AgentRole::NAMES, true)))]
    pub role: Option<String>,
    pub title: Option<String>,
    pub icon: Option<String>,
    pub reports_to: Option<Uuid>,
    pub capabilities: Option<String>,
    pub adapter_type: Option<String>,
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub adapter_config: Option<Value>,
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub runtime_config: Option<Value>,
    #[schemars(range(min = 0))]
    #[serde(default)]
    pub budget_monthly_cents: i64,
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub permissions: Option<Value>,
    pub metadata: Option<Value>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatchAgent {
    #[schemars(length(min = 1, max = 200))]
    pub name: Option<String>,
    #[schemars(extend("enum" = crate::one_of(paperclip_domain::AgentRole::NAMES, true)))]
    pub role: Option<String>,
    #[serde(default, deserialize_with = "crate::double")]
    pub title: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::double")]
    pub icon: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::double")]
    pub reports_to: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "crate::double")]
    pub capabilities: Option<Option<String>>,
    pub adapter_type: Option<String>,
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub adapter_config: Option<Value>,
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub runtime_config: Option<Value>,
    #[schemars(range(min = 0))]
    pub budget_monthly_cents: Option<i64>,
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub permissions: Option<Value>,
    #[serde(default, deserialize_with = "crate::double")]
    pub metadata: Option<Option<Value>>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema, Default)]
pub struct Reason {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema, Default)]
pub struct CreateKey {
    #[schemars(length(min = 1, max = 200))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Wake {
    #[schemars(extend("enum" = crate::one_of(paperclip_domain::WakeupSource::NAMES, true)))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[schemars(extend("enum" = crate::one_of(paperclip_domain::WakeupTrigger::NAMES, true)))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger_detail: Option<String>,
    #[schemars(length(max = 2000))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    #[schemars(length(max = 200))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Start the agent's next session fresh (kept in the payload for adapters with sessions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub force_fresh_session: Option<bool>,
}

/// `POST /companies/{companyId}/agent-hires`: the hired agent (pending when the company requires
/// approval) and the `hire_agent` approval, if one was opened.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Hired<A, P> {
    pub agent: A,
    pub approval: Option<P>,
}

/// `POST /agents/{agentId}/keys`: the key's metadata and, this once, its plaintext.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CreatedKey<K> {
    #[serde(flatten)]
    pub meta: K,
    /// The token (`pcp_…`); never stored, never shown again.
    pub key: String,
}
