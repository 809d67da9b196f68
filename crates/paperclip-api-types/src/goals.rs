//! Request bodies of the goals routes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GoalBody {
    #[schemars(length(min = 1, max = 500))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "crate::double")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<Option<String>>,
    #[schemars(extend("enum" = crate::one_of(paperclip_domain::GoalLevel::NAMES, true)))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    #[serde(default, deserialize_with = "crate::double")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "crate::double")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_agent_id: Option<Option<Uuid>>,
    #[schemars(extend("enum" = crate::one_of(paperclip_domain::GoalStatus::NAMES, true)))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

impl crate::RequiredOnCreate for GoalBody {
    const ON_CREATE: &'static [&'static str] = &["title"];
}
