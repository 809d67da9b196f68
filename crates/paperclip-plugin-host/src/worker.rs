//! One plugin worker process: JSON-RPC 2.0, one JSON message per line on stdio.
//!
//! Framing is kept apart from dispatch: the reader task sorts each line into a response to one of
//! our calls, a call from the worker (answered by `dispatch`), or noise (logged, never fatal).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot, watch};

pub use paperclip_api_types::rpc::{codes, RpcError};

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, RpcError>>>>>;

/// A boxed, sendable future borrowing for `'a`.
pub type BoxFutA<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// A boxed, sendable future.
pub type BoxFut<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

/// Answers a call from the worker.
pub type Dispatch = Arc<dyn Fn(String, Value) -> BoxFut<Result<Value, RpcError>> + Send + Sync>;

/// A running worker.
pub struct Worker {
    out: mpsc::Sender<String>,
    pending: Pending,
    next_id: AtomicU64,
    /// Process id, which is also its process group (the sandbox starts it as a group leader).
    pid: i32,
    /// How the process ended, once it has (set by the task that owns and reaps the child).
    exit: watch::Receiver<Option<String>>,
    alive: Arc<std::sync::atomic::AtomicBool>,
}

/// How long a worker gets to exit after `shutdown` before its process group is killed.
const EXIT_GRACE: Duration = Duration::from_secs(3);

impl Worker {
    /// Starts the (confined) command and wires its stdio. The fork happens on the sandbox's
    /// long-lived spawner thread, so the parent-death signal follows the server.
    pub fn spawn(
        cmd: std::process::Command,
        plugin_key: &str,
        dispatch: Dispatch,
    ) -> std::io::Result<Arc<Self>> {
        let mut cmd = tokio::process::Command::from(cmd);
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let runtime = tokio::runtime::Handle::current();
        let mut child = paperclip_sandbox::spawn_on_stable_thread(move || {
            let _entered = runtime.enter();
            cmd.spawn()
        })?;
        let pid = child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .ok_or_else(|| std::io::Error::other("the worker exited at once"))?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let (exit_tx, exit) = watch::channel(None);
        tokio::spawn(async move {
            let status = match child.wait().await {
                Ok(s) => s.to_string(),
                Err(e) => e.to_string(),
            };
            let _ = exit_tx.send(Some(status));
        });
        let (tx, mut rx) = mpsc::channel::<String>(256);
        let pending: Pending = Arc::default();
        let alive = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let worker = Arc::new(Self {
            out: tx.clone(),
            pending: pending.clone(),
            next_id: AtomicU64::new(1),
            pid,
            exit,
            alive: alive.clone(),
        });

        // Writer: one line per message.
        tokio::spawn(async move {
            let mut stdin = stdin;
            while let Some(line) = rx.recv().await {
                if stdin.write_all(line.as_bytes()).await.is_err()
                    || stdin.write_all(b"\n").await.is_err()
                    || stdin.flush().await.is_err()
                {
                    break;
                }
            }
        });
        // Worker logs.
        let key = plugin_key.to_string();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(plugin = %key, "{line}");
            }
        });
        // Reader: responses, calls, noise.
        let key = plugin_key.to_string();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(msg) = serde_json::from_str::<Value>(&line) else {
                    tracing::debug!(plugin = %key, "ignoring non-JSON-RPC output: {}", line.chars().take(200).collect::<String>());
                    continue;
                };
                if msg.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
                    tracing::debug!(plugin = %key, "ignoring a JSON line that is not JSON-RPC 2.0");
                    continue;
                }
                match (msg.get("method").and_then(Value::as_str), msg.get("id")) {
                    (Some(method), Some(id)) => {
                        let (method, id, params) = (
                            method.to_string(),
                            id.clone(),
                            msg.get("params").cloned().unwrap_or(Value::Null),
                        );
                        let tx = tx.clone();
                        let dispatch = dispatch.clone();
                        tokio::spawn(async move {
                            let reply = match dispatch(method, params).await {
                                Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
                                Err(e) => {
                                    json!({"jsonrpc": "2.0", "id": id, "error": {"code": e.code, "message": e.message}})
                                }
                            };
                            let _ = tx.send(reply.to_string()).await;
                        });
                    }
                    (Some(method), None) => tracing::debug!(plugin = %key, "notification {method}"),
                    (None, Some(id)) => {
                        let Some(id) = id.as_u64() else { continue };
                        let waiter = pending.lock().expect("pending lock").remove(&id);
                        if let Some(w) = waiter {
                            let result = match msg.get("error") {
                                Some(e) => Err(RpcError::new(
                                    e.get("code")
                                        .and_then(Value::as_i64)
                                        .unwrap_or(codes::WORKER_ERROR),
                                    e.get("message")
                                        .and_then(Value::as_str)
                                        .unwrap_or("worker error"),
                                )),
                                None => Ok(msg.get("result").cloned().unwrap_or(Value::Null)),
                            };
                            let _ = w.send(result);
                        }
                    }
                    (None, None) => {}
                }
            }
            // The worker is gone: fail every call still waiting.
            alive.store(false, Ordering::SeqCst);
            for (_, w) in pending.lock().expect("pending lock").drain() {
                let _ = w.send(Err(RpcError::new(
                    codes::WORKER_UNAVAILABLE,
                    "the plugin worker exited",
                )));
            }
        });
        Ok(worker)
    }

    /// False once the worker's stdout has closed (it exited).
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    /// Waits until the process has exited; says how.
    pub async fn wait(&self) -> String {
        let mut exit = self.exit.clone();
        let status = match exit.wait_for(Option::is_some).await {
            Ok(s) => s.clone().unwrap_or_default(),
            Err(_) => "exited".into(),
        };
        status
    }

    fn exited(&self) -> bool {
        self.exit.borrow().is_some()
    }

    /// Kills the worker's whole process group (it and anything it started).
    fn kill_group(&self) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }

    /// Stops the worker within a deadline: `shutdown`, a grace period to exit, then SIGKILL of
    /// its process group. Never waits on the worker's good will.
    pub async fn shutdown(&self) {
        if !self.exited() {
            let _ = self
                .call("shutdown", json!({}), Duration::from_secs(2))
                .await;
        }
        if tokio::time::timeout(EXIT_GRACE, self.wait()).await.is_err() {
            tracing::warn!(pid = self.pid, "plugin worker ignored shutdown; killing it");
            self.kill_group();
            let _ = tokio::time::timeout(Duration::from_secs(2), self.wait()).await;
        }
    }

    /// Calls `method` on the worker, waiting at most `timeout`.
    pub async fn call(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, RpcError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("pending lock").insert(id, tx);
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        if self.out.send(msg.to_string()).await.is_err() {
            self.pending.lock().expect("pending lock").remove(&id);
            return Err(RpcError::new(
                codes::WORKER_UNAVAILABLE,
                "the plugin worker is not running",
            ));
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(RpcError::new(
                codes::WORKER_UNAVAILABLE,
                "the plugin worker exited",
            )),
            Err(_) => {
                self.pending.lock().expect("pending lock").remove(&id);
                Err(RpcError::new(
                    codes::TIMEOUT,
                    format!("{method} timed out after {}s", timeout.as_secs()),
                ))
            }
        }
    }
}

impl Drop for Worker {
    /// A worker nobody holds any more must not outlive its handle.
    fn drop(&mut self) {
        if !self.exited() {
            self.kill_group();
        }
    }
}
