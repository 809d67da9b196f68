/// A domain rule said no. Each variant is one answer a client can act on; the server maps them
/// to 422, 409, 404 and 403.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DomainError {
    /// A field breaks a rule (HTTP 422 naming the field).
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },

    /// The request conflicts with the current state (HTTP 409).
    #[error("{message}")]
    Conflict {
        message: String,
        details: serde_json::Value,
    },

    /// A referenced object does not exist (HTTP 404).
    #[error("{0}")]
    NotFound(String),

    /// The actor may not do this (HTTP 403).
    #[error("{0}")]
    Forbidden(String),
}

impl DomainError {
    /// A rule violation on `field`.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }

    /// A conflict with the current state.
    pub fn conflict(message: impl Into<String>, details: serde_json::Value) -> Self {
        Self::Conflict {
            message: message.into(),
            details,
        }
    }
}
