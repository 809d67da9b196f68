//! Request bodies of the projects routes.

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectBody {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::double")]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::double")]
    pub goal_id: Option<Option<Uuid>>,
    pub status: Option<String>,
    #[serde(default, deserialize_with = "crate::double")]
    pub lead_agent_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "crate::double")]
    pub target_date: Option<Option<NaiveDate>>,
    pub env: Option<serde_json::Value>,
}
