//! Request bodies of the projects routes.

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectBody {
    #[schemars(length(min = 1, max = 200))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::double")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::double")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goal_id: Option<Option<Uuid>>,
    #[schemars(extend("enum" = crate::one_of(paperclip_domain::ProjectStatus::NAMES, true)))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "crate::double")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead_agent_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "crate::double")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_date: Option<Option<NaiveDate>>,
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<serde_json::Value>,
}

impl crate::RequiredOnCreate for ProjectBody {
    const ON_CREATE: &'static [&'static str] = &["name"];
}
