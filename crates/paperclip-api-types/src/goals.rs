//! Request bodies of the goals routes.

use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GoalBody {
    #[schemars(length(min = 1, max = 500))]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "crate::double")]
    pub description: Option<Option<String>>,
    #[schemars(extend("enum" = crate::one_of(paperclip_domain::GoalLevel::NAMES, true)))]
    pub level: Option<String>,
    #[serde(default, deserialize_with = "crate::double")]
    pub parent_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "crate::double")]
    pub owner_agent_id: Option<Option<Uuid>>,
    #[schemars(extend("enum" = crate::one_of(paperclip_domain::GoalStatus::NAMES, true)))]
    pub status: Option<String>,
}

impl crate::RequiredOnCreate for GoalBody {
    const ON_CREATE: &'static [&'static str] = &["title"];
}
