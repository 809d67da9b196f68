//! Routines: the template body (create and patch), triggers, runs and webhook answers.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use paperclip_domain::{
    CatchUpPolicy, ConcurrencyPolicy, IssuePriority, RoutineRunSource, RoutineStatus, SigningMode,
    TriggerKind,
};

/// Body of `POST /companies/{companyId}/routines` (`title` required) and
/// `PATCH /routines/{routineId}`: the template of the issue each firing creates, and the
/// policies. `null` clears a nullable field.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoutineBody {
    #[schemars(length(min = 1, max = 200))]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "crate::double")]
    #[schemars(length(max = 200000))]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::double")]
    pub assignee_agent_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "crate::double")]
    pub project_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "crate::double")]
    pub goal_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "crate::double")]
    pub parent_issue_id: Option<Option<Uuid>>,
    #[schemars(extend("enum" = crate::one_of(IssuePriority::NAMES, false)))]
    pub priority: Option<String>,
    /// Labels each created issue carries (labels of the company).
    #[schemars(length(max = 50))]
    pub label_ids: Option<Vec<Uuid>>,
    /// `paused` stops every trigger; `active` again resumes from now (missed times not made up).
    #[schemars(extend("enum" = crate::one_of(RoutineStatus::NAMES, false)))]
    pub status: Option<String>,
    #[schemars(extend("enum" = crate::one_of(ConcurrencyPolicy::NAMES, false)))]
    pub concurrency_policy: Option<String>,
    #[schemars(extend("enum" = crate::one_of(CatchUpPolicy::NAMES, false)))]
    pub catch_up_policy: Option<String>,
}

impl crate::RequiredOnCreate for RoutineBody {
    const ON_CREATE: &'static [&'static str] = &["title"];
}

/// Body of `POST /routines/{routineId}/triggers` (`kind` required) and
/// `PATCH /routine-triggers/{triggerId}` (`kind` cannot change). `cronExpression` and
/// `timezone` are for schedules, `signingMode` and `replayWindowSec` for webhooks.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerBody {
    #[schemars(extend("enum" = crate::one_of(TriggerKind::NAMES, false)))]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "crate::double")]
    #[schemars(length(max = 120))]
    pub label: Option<Option<String>>,
    pub enabled: Option<bool>,
    /// Five fields (minute hour day-of-month month day-of-week) or `@hourly`/`@daily`/….
    #[schemars(length(min = 1, max = 200))]
    pub cron_expression: Option<String>,
    /// An IANA zone (`Europe/Paris`); UTC when absent.
    #[serde(default, deserialize_with = "crate::double")]
    #[schemars(length(min = 1, max = 64))]
    pub timezone: Option<Option<String>>,
    #[schemars(extend("enum" = crate::one_of(SigningMode::NAMES, false)))]
    pub signing_mode: Option<String>,
    #[schemars(range(min = 30, max = 86400))]
    pub replay_window_sec: Option<i32>,
}

impl crate::RequiredOnCreate for TriggerBody {
    const ON_CREATE: &'static [&'static str] = &["kind"];
}

/// A trigger as writes answer it: its signing secret appears once, when it is made or rotated.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerAnswer<T> {
    #[serde(flatten)]
    pub trigger: T,
    /// The webhook's signing secret (shown once; store it now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// Body of `POST /routines/{routineId}/run`.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunRoutine {
    /// An `api` trigger of the routine to run it as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger_id: Option<Uuid>,
    /// Recorded with the run.
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// A second run with the same key answers the first.
    #[schemars(length(min = 1, max = 255))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// `manual` (default) or `api`.
    #[schemars(extend("enum" = crate::one_of(&[RoutineRunSource::Manual.as_str(), RoutineRunSource::Api.as_str()], false)))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Query of `GET /routines/{routineId}/runs`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoutineRunsQuery {
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<i64>,
}
