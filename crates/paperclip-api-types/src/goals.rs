//! Request bodies of the goals routes.

use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GoalBody {
    pub title: Option<String>,
    #[serde(default, deserialize_with = "crate::double")]
    pub description: Option<Option<String>>,
    pub level: Option<String>,
    #[serde(default, deserialize_with = "crate::double")]
    pub parent_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "crate::double")]
    pub owner_agent_id: Option<Option<Uuid>>,
    pub status: Option<String>,
}
