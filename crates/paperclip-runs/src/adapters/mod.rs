//! Adapters: how a run reaches an agent. The engine hands an adapter a [`RunContext`] and a
//! [`Sink`] for what the agent prints; the adapter starts the agent, streams its output, honours
//! a stop request and answers an [`Outcome`]. Coding-agent CLIs implement the same trait.

mod cli;
mod config;
mod http;
mod process;
mod report;
pub mod spawn;

pub use cli::{CliAdapter, Vendor, SKILL};
pub use config::{ConfigProblem, Fields};
pub use http::HttpAdapter;
pub use process::ProcessAdapter;
pub use report::Reported;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use paperclip_domain::RunStatus;
use paperclip_store::runs::{NewEvent, RunCost};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

/// Everything an adapter needs to run one heartbeat.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub run_id: Uuid,
    pub agent_id: Uuid,
    pub company_id: Uuid,
    pub agent_name: String,
    pub adapter_config: Value,
    /// The run's environment: the agent's env (secrets decrypted) and the `PAPERCLIP_*`
    /// variables, which win.
    pub env: Vec<(String, String)>,
    /// The run's context snapshot (task, wake reason, comment, approval).
    pub context: Value,
    /// `PAPERCLIP_API_URL`.
    pub api_url: String,
    /// The run token (`PAPERCLIP_API_KEY`).
    pub token: String,
    /// The session this agent had for the run's task, if any (resumed by adapters with sessions).
    pub session: Option<String>,
    /// The task, for prompts: `(id, identifier, title)`.
    pub task: Option<(String, String, String)>,
    /// The agent's instructions (its `AGENTS.md` bundle), if it has any.
    pub instructions: Option<String>,
    /// A folder for this run only (removed when it ends).
    pub scratch: std::path::PathBuf,
}

/// What a run did to its task session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionChange {
    /// Nothing (adapters without sessions).
    Keep,
    /// The session to resume next time (`display` is what the board shows).
    Set { id: String, display: Option<String> },
    /// The session is gone (the CLI refused it and no new one was made).
    Clear,
}

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// What an adapter reports while it runs.
#[derive(Debug, Clone)]
pub enum Output {
    /// The agent's process started (its pid is also its process group).
    Spawned { pid: i32 },
    /// A line the agent printed (with its newline, if it had one).
    Line { stream: Stream, text: String },
    /// A structured run event.
    Event(NewEvent),
}

/// Where an adapter sends its [`Output`].
pub type Sink = mpsc::Sender<Output>;

/// Becomes `true` when the run must stop (cancelled by the board).
pub type Stop = watch::Receiver<bool>;

/// How a run ended, as the adapter saw it.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: RunStatus,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub error: Option<String>,
    pub error_code: Option<String>,
    pub usage: Option<Value>,
    pub cost: Option<RunCost>,
    pub result: Option<Value>,
    pub external_run_id: Option<String>,
    pub session: SessionChange,
}

impl Outcome {
    /// A run that failed before or outside the agent, with a code and a message.
    pub fn failed(code: &str, message: impl Into<String>) -> Self {
        Self {
            status: RunStatus::Failed,
            exit_code: None,
            signal: None,
            error: Some(message.into()),
            error_code: Some(code.into()),
            usage: None,
            cost: None,
            result: None,
            external_run_id: None,
            session: SessionChange::Keep,
        }
    }
}

/// A boxed future (the trait is used as `dyn Adapter`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One way of running agents.
pub trait Adapter: Send + Sync + std::fmt::Debug {
    /// The `adapterType` key.
    fn kind(&self) -> &'static str;
    /// What `GET /api/adapters` shows.
    fn describe(&self) -> AdapterInfo;
    /// Checks an `adapterConfig` when an agent is created or changed; the problem names the
    /// field (`adapterConfig.command`).
    fn validate(&self, config: &Value) -> Result<(), ConfigProblem>;
    /// Runs one heartbeat.
    fn execute<'a>(&'a self, ctx: &'a RunContext, out: Sink, stop: Stop) -> BoxFuture<'a, Outcome>;
    /// Whether this machine can run agents with `config` (`test-environment`). By default the
    /// config's own check.
    fn test_environment<'a>(&'a self, config: &'a Value) -> BoxFuture<'a, EnvReport> {
        Box::pin(async move {
            let check = match self.validate(config) {
                Ok(()) => EnvCheck::pass("config", "the configuration is valid"),
                Err(p) => EnvCheck::fail(
                    "config_invalid",
                    p.to_string(),
                    "Fix the agent's adapterConfig",
                ),
            };
            EnvReport::new(self.kind(), vec![check])
        })
    }
}

/// `POST /companies/{companyId}/adapters/{type}/test-environment`: checks with a level and a
/// hint each; `status` is the worst level.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvReport {
    pub adapter_type: String,
    /// `pass`, `warn` or `fail`.
    pub status: &'static str,
    pub checks: Vec<EnvCheck>,
    pub tested_at: chrono::DateTime<chrono::Utc>,
}

impl EnvReport {
    pub fn new(kind: &str, checks: Vec<EnvCheck>) -> Self {
        let status = if checks.iter().any(|c| c.level == "fail") {
            "fail"
        } else if checks.iter().any(|c| c.level == "warn") {
            "warn"
        } else {
            "pass"
        };
        Self {
            adapter_type: kind.into(),
            status,
            checks,
            tested_at: chrono::Utc::now(),
        }
    }
}

/// One check of an environment test.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct EnvCheck {
    /// `pass`, `warn` or `fail`.
    pub level: &'static str,
    pub code: &'static str,
    pub message: String,
    pub hint: Option<String>,
}

impl EnvCheck {
    pub fn pass(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            level: "pass",
            code,
            message: message.into(),
            hint: None,
        }
    }
    pub fn warn(code: &'static str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            level: "warn",
            code,
            message: message.into(),
            hint: Some(hint.into()),
        }
    }
    pub fn fail(code: &'static str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            level: "fail",
            code,
            message: message.into(),
            hint: Some(hint.into()),
        }
    }
}

/// An adapter as `GET /api/adapters` lists it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdapterInfo {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub label: &'static str,
    pub description: &'static str,
    pub built_in: bool,
    pub disabled: bool,
    /// Runs get a short-lived run token as `PAPERCLIP_API_KEY`.
    pub supports_local_agent_jwt: bool,
    /// The `adapterConfig` fields it reads.
    pub config_fields: Vec<ConfigField>,
}

/// One `adapterConfig` field.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigField {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub required: bool,
    pub description: &'static str,
}

impl ConfigField {
    pub const fn new(
        name: &'static str,
        kind: &'static str,
        required: bool,
        description: &'static str,
    ) -> Self {
        Self {
            name,
            kind,
            required,
            description,
        }
    }
}

/// The adapters this server runs, by `adapterType`.
#[derive(Debug, Clone)]
pub struct Registry {
    adapters: BTreeMap<&'static str, Arc<dyn Adapter>>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Registry {
    /// The built-in adapters: `process`, `http` and the coding-agent CLIs.
    pub fn builtin() -> Self {
        let mut r = Self {
            adapters: BTreeMap::new(),
        };
        r.add(Arc::new(ProcessAdapter));
        r.add(Arc::new(HttpAdapter::default()));
        for v in Vendor::ALL {
            r.add(Arc::new(CliAdapter::new(*v)));
        }
        r
    }

    /// Adds (or replaces) an adapter.
    pub fn add(&mut self, a: Arc<dyn Adapter>) {
        self.adapters.insert(a.kind(), a);
    }

    /// The adapter for `kind`.
    pub fn get(&self, kind: &str) -> Option<Arc<dyn Adapter>> {
        self.adapters.get(kind).cloned()
    }

    /// Every adapter, by key.
    pub fn list(&self) -> Vec<AdapterInfo> {
        self.adapters.values().map(|a| a.describe()).collect()
    }

    /// Checks `config` for `kind`. Types this server has no adapter for are stored as given
    /// (their runs fail with `adapter_not_available` until one is installed).
    pub fn validate(&self, kind: &str, config: &Value) -> Result<(), ConfigProblem> {
        match self.get(kind) {
            Some(a) => a.validate(config),
            None => Ok(()),
        }
    }
}
