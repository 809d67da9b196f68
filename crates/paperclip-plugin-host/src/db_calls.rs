//! The database host calls (`db.namespace`, `db.query`, `db.execute`): the plugin's own schema,
//! as its own role, a few calls at a time.

use std::time::Duration;

use paperclip_api_types::host_calls::{Access, HostCall};
use paperclip_store::plugins::Namespace;
use serde_json::{json, Value};

use super::params::{from_db, str_param};
use super::{PluginHost, Slot};
use crate::worker::{codes, RpcError};

/// Database calls of one plugin in flight at once on one server (its role's `CONNECTION LIMIT`
/// bounds all servers together).
pub const DB_CALLS_PER_PLUGIN: usize = 4;

/// How long a database call waits for a permit before it fails.
pub const DB_CALL_QUEUE_WAIT: Duration = Duration::from_secs(10);

/// The plugin's namespace, or the error for a plugin without one.
pub(super) fn namespace(slot: &Slot) -> Result<&Namespace, RpcError> {
    slot.namespace.as_ref().ok_or_else(|| {
        RpcError::new(
            codes::CAPABILITY_DENIED,
            "the plugin has no database namespace",
        )
    })
}

/// `db.query` (rows) or `db.execute` (`{"rowCount"}`).
pub(super) async fn run(
    host: &PluginHost,
    slot: &Slot,
    call: HostCall,
    params: &Value,
) -> Result<Value, RpcError> {
    let ns = namespace(slot)?;
    let sql = str_param(params, "sql")?.to_string();
    let args = params
        .get("params")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // At most DB_CALLS_PER_PLUGIN at once per server; the rest wait a little, then fail: one
    // plugin cannot take the database's connection slots or our blocking threads.
    let _permit = tokio::time::timeout(DB_CALL_QUEUE_WAIT, slot.db_calls.acquire())
        .await
        .map_err(|_| {
            RpcError::new(
                codes::WORKER_ERROR,
                format!(
                    "too many concurrent database calls from this plugin (at most {DB_CALLS_PER_PLUGIN} at once)"
                ),
            )
        })?
        .map_err(|_| RpcError::new(codes::WORKER_UNAVAILABLE, "the plugin is stopping"))?;
    let runtime = host.access().runtime(ns).map_err(from_db)?;
    if call.access() == Access::Read {
        runtime
            .query(sql, args)
            .await
            .map(Value::from)
            .map_err(from_db)
    } else {
        runtime
            .execute(sql, args)
            .await
            .map(|n| json!({"rowCount": n}))
            .map_err(from_db)
    }
}
