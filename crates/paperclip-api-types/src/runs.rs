//! Heartbeat runs: queries and answers of `/heartbeat-runs`, `/live-runs`, the agent's
//! heartbeat invoke, the agent protocol's reads (`inbox-lite`, `heartbeat-context`) and
//! `/adapters`. Rows themselves (runs, events, issues) are the store's types.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Query of `GET /companies/{companyId}/heartbeat-runs`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunListQuery {
    pub agent_id: Option<Uuid>,
    /// Comma-separated statuses (`queued,running`).
    pub status: Option<String>,
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<i64>,
}

/// Query of `GET /heartbeat-runs/{runId}/events`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunEventsQuery {
    #[schemars(range(min = 0, max = 2147483647))]
    pub after_seq: Option<i64>,
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<i64>,
}

/// Query of `GET /heartbeat-runs/{runId}/log`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunLogQuery {
    #[schemars(range(min = 0))]
    pub offset: Option<i64>,
    #[schemars(range(min = 1, max = 1048576))]
    pub limit_bytes: Option<i64>,
}

/// `GET /heartbeat-runs/{runId}/log`: a slice of the run's NDJSON log (`{ts, stream, chunk}`
/// per line), ending at a line boundary; read again from `nextOffset` while `complete` is false.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunLog {
    pub run_id: Uuid,
    /// `local_file`.
    pub store: String,
    pub log_ref: Option<String>,
    pub content: String,
    pub offset: u64,
    pub next_offset: u64,
    pub size: u64,
    /// The run has ended and `nextOffset` is the end of its log.
    pub complete: bool,
}

/// Body of `POST /agents/{agentId}/heartbeat/invoke` (optional).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Invoke {
    #[schemars(length(max = 2000))]
    pub reason: Option<String>,
    /// The task to work on (sets `PAPERCLIP_TASK_ID`).
    pub issue_id: Option<Uuid>,
    pub payload: Option<Value>,
}

/// `POST /agents/{agentId}/heartbeat/invoke` and `POST /agents/{agentId}/wakeup`: the wakeup,
/// the run that answers it (new, or the queued run it joined), and whether an earlier request
/// with the same idempotency key answered.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Invoked<W, R> {
    #[serde(flatten)]
    pub wakeup: W,
    pub run: Option<R>,
    pub deduplicated: bool,
}

/// `GET /issues/{issueId}/heartbeat-context`: what an agent needs to work an issue in one read —
/// the issue with its ancestors, project, goal and plan, its latest comments (oldest first) and
/// the run holding it.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatContext<I, C, R> {
    pub issue: I,
    pub recent_comments: Vec<C>,
    pub active_run: Option<R>,
}

/// Body of `POST /agents/{agentId}/runtime-state/reset-session`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResetSession {
    /// One task's session (an issue id, or `default`); all sessions when absent.
    #[schemars(length(min = 1, max = 200))]
    pub task_key: Option<String>,
}

/// `POST /agents/{agentId}/runtime-state/reset-session`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionsCleared {
    pub ok: bool,
    pub sessions_cleared: u64,
}

/// Query of the instructions bundle's file routes.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstructionsFileQuery {
    /// A relative path inside the bundle (default `AGENTS.md`).
    pub path: Option<String>,
}

/// Body of `PUT /agents/{agentId}/instructions-bundle/file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutInstructionsFile {
    #[schemars(length(min = 1, max = 200))]
    pub path: String,
    #[schemars(length(max = 262144))]
    pub content: String,
}

/// One file of a bundle, without its content.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BundleFile {
    pub path: String,
    pub size: usize,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// `GET /agents/{agentId}/instructions-bundle`: the agent's instructions, given to coding agents
/// at every run after the Paperclip skill.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstructionsBundle {
    pub agent_id: Uuid,
    /// `managed`: the files live in Paperclip's database.
    pub mode: String,
    pub entry_file: String,
    pub files: Vec<BundleFile>,
}

/// A skill Paperclip serves (`GET /skills/{skillName}`).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Skill {
    pub name: String,
    pub description: String,
    /// The skill text (markdown).
    pub markdown: String,
}

/// One entry of `GET /skills/index`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkillRef {
    pub name: String,
    pub description: String,
    pub url: String,
}

/// Body of `POST /companies/{companyId}/adapters/{type}/test-environment`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestEnvironment {
    /// The configuration to test (an agent's `adapterConfig`); defaults apply when absent.
    pub adapter_config: Option<Value>,
}
