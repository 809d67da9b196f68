//! Responses shared by many routes.

use schemars::JsonSchema;
use serde::Serialize;

/// `{"ok": true}`: a delete or release that has nothing else to say.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Ok {
    pub ok: bool,
}

impl Ok {
    /// `{"ok": true}`.
    pub fn yes() -> Self {
        Self { ok: true }
    }
}

/// The body of every error answer.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ErrorBody {
    /// What went wrong, in words a person can act on.
    pub error: String,
    /// Per-field problems (`[{path, message, code}]`) or the conflicting state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}
