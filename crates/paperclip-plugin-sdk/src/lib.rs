//! Paperclip plugin SDK for Rust.
//!
//! A plugin worker is a program that speaks JSON-RPC 2.0 with the Paperclip host, one JSON message
//! per line on stdin/stdout. This crate runs that loop: implement [`Plugin`], call [`run`] from
//! `main`, and use the [`Host`] handed to each request for typed, capability-checked host calls.
//!
//! ```no_run
//! use paperclip_plugin_sdk::{run, ApiRequest, ApiResponse, Host, Plugin, RpcError};
//!
//! struct Hello;
//!
//! impl Plugin for Hello {
//!     async fn handle_api_request(&self, host: &Host, req: ApiRequest) -> Result<ApiResponse, RpcError> {
//!         let issue = host.issues_get(&req, req.param("issueId")?).await?;
//!         Ok(ApiResponse::json(200, serde_json::json!({"title": issue["title"]})))
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() {
//!     run(Hello).await;
//! }
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

pub use paperclip_api_types::host_calls::HostCall;
pub use paperclip_api_types::rpc::{codes, RpcError};

/// A request to one of the plugin's scoped routes.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiRequest {
    pub route_key: Option<String>,
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub params: HashMap<String, String>,
    #[serde(default)]
    pub query: HashMap<String, String>,
    #[serde(default)]
    pub body: Value,
    pub company_id: Option<String>,
    #[serde(default)]
    pub actor: Value,
    /// Pass-through for host calls: attribution and company scope.
    pub invocation_id: Option<String>,
}

impl ApiRequest {
    /// A path parameter (`:issueId`).
    pub fn param(&self, name: &str) -> Result<&str, RpcError> {
        self.params
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| RpcError::worker(format!("missing route parameter {name}")))
    }
}

/// What a scoped route answers.
#[derive(Debug, Clone, Serialize)]
pub struct ApiResponse {
    pub status: u16,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub headers: HashMap<String, String>,
    pub body: Value,
}

impl ApiResponse {
    /// A JSON response.
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: HashMap::new(),
            body,
        }
    }
}

/// A plugin's handlers. Every method has a default; implement what the plugin serves.
pub trait Plugin: Send + Sync + 'static {
    /// `initialize`: return `false` to refuse to start.
    fn initialize(&self, _host: &Host, _params: &Value) -> impl Future<Output = bool> + Send {
        async { true }
    }

    /// `onEvent`: a domain event the manifest subscribes to (`events` + `events.subscribe`).
    /// Returning `Ok` acknowledges it: it is never delivered again. The default declines
    /// (`METHOD_NOT_IMPLEMENTED`), which the host also treats as handled.
    fn on_event(
        &self,
        _host: &Host,
        _event: Value,
    ) -> impl Future<Output = Result<(), RpcError>> + Send {
        async {
            Err(RpcError {
                code: codes::METHOD_NOT_IMPLEMENTED,
                message: "onEvent is not implemented".into(),
            })
        }
    }

    /// `handleApiRequest` for the routes declared in `apiRoutes`.
    fn handle_api_request(
        &self,
        _host: &Host,
        _req: ApiRequest,
    ) -> impl Future<Output = Result<ApiResponse, RpcError>> + Send {
        async {
            Err(RpcError {
                code: codes::METHOD_NOT_IMPLEMENTED,
                message: "handleApiRequest is not implemented".into(),
            })
        }
    }
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Result<Value, RpcError>>>>>;

/// The host, as seen from the worker: typed calls over the same stdio.
#[derive(Clone)]
pub struct Host {
    out: mpsc::UnboundedSender<String>,
    pending: Pending,
    next: Arc<AtomicU64>,
}

impl Host {
    /// Calls any host method (the typed helpers below cover the common ones).
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let id = format!("sdk{}", self.next.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("pending").insert(id.clone(), tx);
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.out
            .send(msg.to_string())
            .map_err(|_| RpcError::worker("the host connection is closed"))?;
        rx.await
            .map_err(|_| RpcError::worker("the host connection is closed"))?
    }

    fn scoped(req: &ApiRequest, mut params: Value) -> Value {
        if let (Some(inv), Some(obj)) = (&req.invocation_id, params.as_object_mut()) {
            obj.insert("invocationId".into(), json!(inv));
        }
        params
    }

    /// `db.namespace`: the plugin's schema name.
    pub async fn db_namespace(&self, req: &ApiRequest) -> Result<String, RpcError> {
        let v = self
            .call(HostCall::DbNamespace.method(), Self::scoped(req, json!({})))
            .await?;
        Ok(v["namespace"].as_str().unwrap_or_default().to_string())
    }

    /// `db.query`: one SELECT in the plugin's namespace; rows as JSON objects.
    pub async fn db_query(
        &self,
        req: &ApiRequest,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<Vec<Value>, RpcError> {
        let v = self
            .call(
                HostCall::DbQuery.method(),
                Self::scoped(req, json!({"sql": sql, "params": params})),
            )
            .await?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    /// `db.execute`: one INSERT/UPDATE/DELETE in the plugin's namespace; rows affected.
    pub async fn db_execute(
        &self,
        req: &ApiRequest,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<u64, RpcError> {
        let v = self
            .call(
                HostCall::DbExecute.method(),
                Self::scoped(req, json!({"sql": sql, "params": params})),
            )
            .await?;
        Ok(v["rowCount"].as_u64().unwrap_or(0))
    }

    /// `issues.get`.
    pub async fn issues_get(&self, req: &ApiRequest, issue_id: &str) -> Result<Value, RpcError> {
        self.call(
            HostCall::IssuesGet.method(),
            Self::scoped(req, json!({"issueId": issue_id})),
        )
        .await
    }

    /// `issues.create` (fields as upstream names them: `companyId`, `title`, `status`, …).
    pub async fn issues_create(&self, req: &ApiRequest, fields: Value) -> Result<Value, RpcError> {
        self.call(HostCall::IssuesCreate.method(), Self::scoped(req, fields))
            .await
    }

    /// `issues.relations.setBlockedBy`.
    pub async fn set_blocked_by(
        &self,
        req: &ApiRequest,
        issue_id: &str,
        blockers: &[&str],
    ) -> Result<Value, RpcError> {
        self.call(
            HostCall::SetBlockedBy.method(),
            Self::scoped(
                req,
                json!({"issueId": issue_id, "blockedByIssueIds": blockers}),
            ),
        )
        .await
    }

    /// `issues.documents.upsert`.
    pub async fn upsert_document(
        &self,
        req: &ApiRequest,
        issue_id: &str,
        key: &str,
        title: &str,
        body: &str,
    ) -> Result<Value, RpcError> {
        self.call(
            HostCall::DocumentsUpsert.method(),
            Self::scoped(
                req,
                json!({"issueId": issue_id, "key": key, "title": title, "body": body}),
            ),
        )
        .await
    }

    /// `issues.requestWakeup` → `{queued, …}`.
    pub async fn request_wakeup(
        &self,
        req: &ApiRequest,
        issue_id: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<Value, RpcError> {
        self.call(
            HostCall::RequestWakeup.method(),
            Self::scoped(
                req,
                json!({"issueId": issue_id, "reason": reason, "idempotencyKey": idempotency_key}),
            ),
        )
        .await
    }

    /// `issues.summaries.getOrchestration`.
    pub async fn orchestration_summary(
        &self,
        req: &ApiRequest,
        issue_id: &str,
    ) -> Result<Value, RpcError> {
        self.call(
            HostCall::IssuesOrchestration.method(),
            Self::scoped(req, json!({"issueId": issue_id, "includeSubtree": true})),
        )
        .await
    }

    /// `issues.getSubtree` → ids, root first.
    pub async fn subtree_ids(
        &self,
        req: &ApiRequest,
        issue_id: &str,
    ) -> Result<Vec<String>, RpcError> {
        let v = self
            .call(
                HostCall::IssuesGetSubtree.method(),
                Self::scoped(req, json!({"issueId": issue_id})),
            )
            .await?;
        Ok(v["issueIds"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// Runs the worker until the host closes stdin or asks it to shut down.
pub async fn run<P: Plugin>(plugin: P) {
    let plugin = Arc::new(plugin);
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let host = Host {
        out: tx,
        pending: Arc::default(),
        next: Arc::new(AtomicU64::new(1)),
    };
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(line) = rx.recv().await {
            if stdout.write_all(line.as_bytes()).await.is_err()
                || stdout.write_all(b"\n").await.is_err()
                || stdout.flush().await.is_err()
            {
                break;
            }
        }
    });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let id = msg.get("id").cloned();
        match msg.get("method").and_then(Value::as_str) {
            None => {
                // A response to one of our host calls.
                let Some(key) = id.as_ref().and_then(|i| i.as_str().map(str::to_string)) else {
                    continue;
                };
                if let Some(waiter) = host.pending.lock().expect("pending").remove(&key) {
                    let result = match msg.get("error") {
                        Some(e) => Err(serde_json::from_value(e.clone())
                            .unwrap_or_else(|_| RpcError::worker("host error"))),
                        None => Ok(msg.get("result").cloned().unwrap_or(Value::Null)),
                    };
                    let _ = waiter.send(result);
                }
            }
            Some("shutdown") => {
                let _ = host
                    .out
                    .send(json!({"jsonrpc": "2.0", "id": id, "result": {}}).to_string());
                break;
            }
            Some(method) => {
                let (method, params, plugin, host) = (
                    method.to_string(),
                    msg.get("params").cloned().unwrap_or(Value::Null),
                    plugin.clone(),
                    host.clone(),
                );
                tokio::spawn(async move {
                    let result: Result<Value, RpcError> = match method.as_str() {
                        "initialize" => Ok(json!({"ok": plugin.initialize(&host, &params).await})),
                        "health" => Ok(json!({"status": "ok"})),
                        "onEvent" => plugin
                            .on_event(&host, params.get("event").cloned().unwrap_or(Value::Null))
                            .await
                            .map(|()| json!({})),
                        "handleApiRequest" => match serde_json::from_value::<ApiRequest>(params) {
                            Ok(req) => plugin
                                .handle_api_request(&host, req)
                                .await
                                .map(|r| serde_json::to_value(r).expect("serializable")),
                            Err(e) => Err(RpcError {
                                code: codes::INVALID_PARAMS,
                                message: e.to_string(),
                            }),
                        },
                        other => Err(RpcError {
                            code: codes::METHOD_NOT_FOUND,
                            message: format!("unknown method {other}"),
                        }),
                    };
                    let reply = match result {
                        Ok(r) => json!({"jsonrpc": "2.0", "id": id, "result": r}),
                        Err(e) => json!({"jsonrpc": "2.0", "id": id, "error": e}),
                    };
                    let _ = host.out.send(reply.to_string());
                });
            }
        }
    }
    drop(host);
    let _ = writer.await;
}
