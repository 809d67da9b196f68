//! The `process` adapter: `{command, args, cwd, env, timeoutSec, graceSec}`. Starts the command
//! (see [`super::spawn`] for the process group, the stop sequence and the environment), streams its
//! lines, and succeeds by exit code.

use std::time::Duration;

use paperclip_domain::RunStatus;
use serde_json::Value;

use super::spawn::{self, Exit, How, Spawn};
use super::*;

/// Seconds between SIGTERM and SIGKILL unless `graceSec` says otherwise.
pub const DEFAULT_GRACE_SEC: u64 = 15;
const MAX_TIMEOUT_SEC: u64 = 7 * 24 * 3600;
pub(crate) const MAX_TIMEOUT: u64 = MAX_TIMEOUT_SEC;
pub(crate) const MAX_GRACE_SEC: u64 = 3600;

/// The `process` adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessAdapter;

/// A parsed `process` config.
#[derive(Debug, Clone)]
pub struct ProcessConfig {
    pub command: String,
    pub args: Vec<String>,
    pub cwd: Option<String>,
    pub timeout: Option<Duration>,
    pub grace: Duration,
}

impl ProcessConfig {
    /// Parses and checks a config (an empty object is an agent not configured yet: valid to
    /// store, but it cannot run).
    pub fn parse(config: &Value) -> Result<Self, ConfigProblem> {
        let f = Fields::of(config)?;
        let command = f.required("command", 4096, "the program the process adapter runs")?;
        let cwd = f.string("cwd", 4096)?;
        if let Some(c) = cwd {
            if !c.starts_with('/') {
                return Err(ConfigProblem::new("cwd", "cwd must be an absolute path"));
            }
        }
        Ok(Self {
            command: command.to_string(),
            args: f.strings("args")?,
            cwd: cwd.map(str::to_string),
            timeout: f
                .seconds("timeoutSec", MAX_TIMEOUT_SEC)?
                .filter(|s| *s > 0)
                .map(Duration::from_secs),
            grace: Duration::from_secs(
                f.seconds("graceSec", MAX_GRACE_SEC)?
                    .unwrap_or(DEFAULT_GRACE_SEC),
            ),
        })
    }
}

impl Adapter for ProcessAdapter {
    fn kind(&self) -> &'static str {
        "process"
    }

    fn describe(&self) -> AdapterInfo {
        AdapterInfo {
            kind: "process",
            label: "Process",
            description: "Runs a command on this machine; success by exit code",
            built_in: true,
            disabled: false,
            supports_local_agent_jwt: true,
            config_fields: vec![
                ConfigField::new(
                    "command",
                    "string",
                    true,
                    "Program to run (looked up on PATH)",
                ),
                ConfigField::new("args", "string[]", false, "Arguments"),
                ConfigField::new("cwd", "string", false, "Absolute working directory"),
                ConfigField::new(
                    "env",
                    "object",
                    false,
                    "Environment: plain values or secret_ref bindings",
                ),
                ConfigField::new(
                    "timeoutSec",
                    "integer",
                    false,
                    "Stop the run after this many seconds (0: no limit)",
                ),
                ConfigField::new(
                    "graceSec",
                    "integer",
                    false,
                    "Seconds between SIGTERM and SIGKILL (default 15)",
                ),
            ],
        }
    }

    fn validate(&self, config: &Value) -> Result<(), ConfigProblem> {
        // An agent may be hired before it is configured (only its env bound, say): then its
        // runs fail naming `adapterConfig.command`. Whatever is given must be well formed.
        if config
            .as_object()
            .is_some_and(|o| o.keys().all(|k| k == "env"))
        {
            return Ok(());
        }
        ProcessConfig::parse(config).map(drop)
    }

    fn execute<'a>(&'a self, ctx: &'a RunContext, out: Sink, stop: Stop) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            match ProcessConfig::parse(&ctx.adapter_config) {
                Ok(cfg) => run(ctx, &cfg, out, stop).await,
                Err(p) => Outcome::failed("adapter_config_invalid", p.to_string()),
            }
        })
    }
}

async fn run(ctx: &RunContext, cfg: &ProcessConfig, out: Sink, stop: Stop) -> Outcome {
    let spec = Spawn {
        program: cfg.command.clone(),
        args: cfg.args.clone(),
        cwd: cfg.cwd.clone(),
        env: ctx.env.clone(),
        stdin: None,
        timeout: cfg.timeout,
        grace: cfg.grace,
    };
    let mut reported = Reported::default();
    let exit = spawn::run(&spec, &out, stop, |stream, line| {
        if stream == Stream::Stdout {
            reported.take(line);
        }
        Vec::new()
    })
    .await;
    let exit = match exit {
        Ok(e) => e,
        Err(e) => {
            return Outcome::failed(
                "process_spawn_failed",
                format!("cannot start {:?}: {e}", cfg.command),
            )
        }
    };
    let mut o = outcome_of(&exit, cfg.timeout);
    o.usage = reported.usage;
    o.cost = reported.cost;
    o.result = reported.result;
    o
}

/// The outcome a process's end implies (success by exit code).
pub(crate) fn outcome_of(exit: &Exit, timeout: Option<Duration>) -> Outcome {
    let (exit_code, signal) = exit.code_and_signal();
    let (status, error, error_code) = match (exit.how, &exit.status) {
        (How::TimedOut, _) => (
            RunStatus::TimedOut,
            Some(format!(
                "timed out after {} s",
                timeout.map_or(0, |t| t.as_secs())
            )),
            Some("timeout".to_string()),
        ),
        (How::Cancelled, _) => (
            RunStatus::Cancelled,
            Some("Cancelled by the board".into()),
            Some("cancelled".into()),
        ),
        (How::Exited, Ok(s)) if s.success() => (RunStatus::Succeeded, None, None),
        (How::Exited, Ok(s)) => (
            RunStatus::Failed,
            Some(match (exit_code, &signal) {
                (Some(c), _) => format!("exited with code {c}"),
                (None, Some(sig)) => format!("killed by {sig}"),
                _ => s.to_string(),
            }),
            Some("adapter_failed".into()),
        ),
        (How::Exited, Err(e)) => (
            RunStatus::Failed,
            Some(format!("cannot wait for the process: {e}")),
            Some("process_lost".into()),
        ),
    };
    Outcome {
        status,
        exit_code,
        signal,
        error,
        error_code,
        usage: None,
        cost: None,
        result: None,
        external_run_id: None,
        session: SessionChange::Keep,
    }
}
