//! Reading host-call parameters and mapping store errors to JSON-RPC errors, for every host call.

use paperclip_domain::DomainError;
use paperclip_store::StoreError;
use serde_json::Value;
use uuid::Uuid;

use crate::worker::{codes, RpcError};

pub(super) fn from_db(e: impl Into<StoreError>) -> RpcError {
    match e.into() {
        StoreError::Domain(DomainError::Forbidden(m)) => RpcError::new(codes::CAPABILITY_DENIED, m),
        StoreError::Domain(
            DomainError::Invalid { message, .. } | DomainError::NotFound(message),
        ) => RpcError::new(codes::INVALID_PARAMS, message),
        StoreError::Domain(DomainError::Conflict { message, .. }) => {
            RpcError::new(codes::WORKER_ERROR, message)
        }
        other => RpcError::new(codes::WORKER_ERROR, other.to_string()),
    }
}

pub(super) fn str_param<'a>(p: &'a Value, key: &str) -> Result<&'a str, RpcError> {
    p.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::new(codes::INVALID_PARAMS, format!("{key} is required")))
}

pub(super) fn uuid_param(p: &Value, key: &str) -> Result<Uuid, RpcError> {
    Uuid::parse_str(str_param(p, key)?)
        .map_err(|_| RpcError::new(codes::INVALID_PARAMS, format!("{key} must be a UUID")))
}

pub(super) fn uuid_list(p: &Value, key: &str) -> Result<Vec<Uuid>, RpcError> {
    match p.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .and_then(|s| Uuid::parse_str(s).ok())
                    .ok_or_else(|| {
                        RpcError::new(codes::INVALID_PARAMS, format!("{key} must be UUIDs"))
                    })
            })
            .collect(),
        _ => Err(RpcError::new(
            codes::INVALID_PARAMS,
            format!("{key} must be an array"),
        )),
    }
}

/// Commits a host call's transaction.
pub(super) async fn commit(tx: sqlx::Transaction<'_, sqlx::Postgres>) -> Result<(), RpcError> {
    tx.commit()
        .await
        .map_err(|e| from_db(StoreError::sql("commit")(e)))
}
