//! The plugin worker protocol: JSON-RPC 2.0, one message per line on the worker's stdio.

use serde::{Deserialize, Serialize};

/// JSON-RPC error codes: the standard ones and upstream's plugin codes.
pub mod codes {
    /// The method does not exist (standard).
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// The parameters are not what the method takes (standard).
    pub const INVALID_PARAMS: i64 = -32602;
    /// The worker is not running or went away.
    pub const WORKER_UNAVAILABLE: i64 = -32000;
    /// A host call the plugin's manifest does not grant, or outside the invoking company.
    pub const CAPABILITY_DENIED: i64 = -32001;
    /// The worker (or the host on its behalf) failed.
    pub const WORKER_ERROR: i64 = -32002;
    /// A call did not finish in time.
    pub const TIMEOUT: i64 = -32003;
    /// The worker knows the method but does not implement it.
    pub const METHOD_NOT_IMPLEMENTED: i64 = -32004;
    /// A host call for a company other than the one of the request that invoked the worker.
    pub const INVOCATION_SCOPE_DENIED: i64 = -32005;
}

/// A JSON-RPC error object, from either side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{message} (code {code})")]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

impl RpcError {
    /// `CAPABILITY_DENIED`, as the host reports it (kept here for SDK users).
    pub const CAPABILITY_DENIED: i64 = codes::CAPABILITY_DENIED;

    /// An error with `code`.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// An error with the `WORKER_ERROR` code.
    pub fn worker(message: impl Into<String>) -> Self {
        Self::new(codes::WORKER_ERROR, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_the_json_rpc_error_object() {
        let e = RpcError::worker("boom");
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json, serde_json::json!({"code": -32002, "message": "boom"}));
        assert_eq!(serde_json::from_value::<RpcError>(json).unwrap(), e);
    }
}
