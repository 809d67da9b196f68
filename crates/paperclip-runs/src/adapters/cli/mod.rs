//! The coding-agent CLIs as adapters: `claude_local`, `codex_local`, `gemini_local`,
//! `opencode_local`. Each runs the vendor's CLI in the agent's working directory in its
//! non-interactive, machine-readable mode, teaches it Paperclip (the skill and the agent's
//! instructions), parses its stream into run events, the session id, usage and cost, resumes the
//! task's session next heartbeat and falls back to a fresh one when the CLI refuses the resume.

mod parse;
mod prompt;
mod vendor;

pub use vendor::Vendor;

use std::time::Duration;

use paperclip_domain::RunStatus;
use serde_json::Value;

use super::spawn::{self, Spawn};
use super::*;
use parse::Transcript;

/// The Paperclip skill every coding agent gets: how to work through the API, in our words.
pub const SKILL: &str = include_str!("skill.md");

/// A parsed coding-agent config (upstream's field names).
#[derive(Debug, Clone)]
pub struct CliConfig {
    pub command: Option<String>,
    pub model: Option<String>,
    pub cwd: Option<String>,
    pub extra_args: Vec<String>,
    pub timeout: Option<Duration>,
    pub grace: Duration,
    pub max_turns: Option<u64>,
    pub prompt_template: Option<String>,
    pub instructions_file: Option<String>,
    /// Let the CLI act without asking (Claude's `--dangerously-skip-permissions`, Codex's
    /// `--dangerously-bypass-approvals-and-sandbox`, Gemini's yolo mode): an unattended agent
    /// has nobody to ask. On unless the config says `false`.
    pub unattended: bool,
}

impl CliConfig {
    pub fn parse(vendor: Vendor, config: &Value) -> Result<Self, ConfigProblem> {
        let f = Fields::of(config)?;
        let absolute = |name: &str, v: Option<&str>| match v {
            Some(p) if !p.starts_with('/') => Err(ConfigProblem::new(
                name,
                format!("{name} must be an absolute path"),
            )),
            _ => Ok(v.map(str::to_string)),
        };
        let max_turns = match f.seconds("maxTurnsPerRun", 10_000)? {
            Some(_) if !vendor.has_max_turns() => {
                return Err(ConfigProblem::new(
                    "maxTurnsPerRun",
                    format!("maxTurnsPerRun is not supported by {}", vendor.kind()),
                ))
            }
            Some(0) => {
                return Err(ConfigProblem::new(
                    "maxTurnsPerRun",
                    "maxTurnsPerRun must be at least 1",
                ))
            }
            n => n,
        };
        let template = f.string("promptTemplate", 20_000)?;
        if let Some(t) = template {
            prompt::check(t).map_err(|m| ConfigProblem::new("promptTemplate", m))?;
        }
        let unattended_key = vendor.unattended_key();
        let unattended = match f.0.get(unattended_key) {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(ConfigProblem::new(
                    unattended_key,
                    format!("{unattended_key} must be a boolean"),
                ))
            }
        };
        Ok(Self {
            command: f.string("command", 4096)?.map(str::to_string),
            model: f.string("model", 200)?.map(str::to_string),
            cwd: absolute("cwd", f.string("cwd", 4096)?)?,
            extra_args: f.strings("extraArgs")?,
            timeout: f
                .seconds("timeoutSec", process::MAX_TIMEOUT)?
                .filter(|s| *s > 0)
                .map(Duration::from_secs),
            grace: Duration::from_secs(
                f.seconds("graceSec", process::MAX_GRACE_SEC)?
                    .unwrap_or(process::DEFAULT_GRACE_SEC),
            ),
            max_turns,
            prompt_template: template.map(str::to_string),
            instructions_file: absolute(
                "instructionsFilePath",
                f.string("instructionsFilePath", 4096)?,
            )?,
            unattended,
        })
    }
}

/// One coding-agent CLI.
#[derive(Debug, Clone, Copy)]
pub struct CliAdapter {
    vendor: Vendor,
}

impl CliAdapter {
    pub fn new(vendor: Vendor) -> Self {
        Self { vendor }
    }
}

impl Adapter for CliAdapter {
    fn kind(&self) -> &'static str {
        self.vendor.kind()
    }

    fn describe(&self) -> AdapterInfo {
        let mut fields = vec![
            ConfigField::new(
                "command",
                "string",
                false,
                "The CLI to run (default: on PATH)",
            ),
            ConfigField::new("model", "string", false, "Model name passed to the CLI"),
            ConfigField::new("cwd", "string", false, "Absolute working directory"),
            ConfigField::new("extraArgs", "string[]", false, "Extra arguments"),
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
            ConfigField::new(
                "promptTemplate",
                "string",
                false,
                "The heartbeat prompt ({{agent.name}}, {{task.title}}, …)",
            ),
            ConfigField::new(
                "instructionsFilePath",
                "string",
                false,
                "Absolute path of an instructions file read at each run",
            ),
            ConfigField::new(
                self.vendor.unattended_key(),
                "boolean",
                false,
                "Act without asking for permission (default true)",
            ),
        ];
        if self.vendor.has_max_turns() {
            fields.push(ConfigField::new(
                "maxTurnsPerRun",
                "integer",
                false,
                "Most agent turns per heartbeat",
            ));
        }
        AdapterInfo {
            kind: self.vendor.kind(),
            label: self.vendor.label(),
            description: self.vendor.description(),
            built_in: true,
            disabled: false,
            supports_local_agent_jwt: true,
            config_fields: fields,
        }
    }

    fn validate(&self, config: &Value) -> Result<(), ConfigProblem> {
        CliConfig::parse(self.vendor, config).map(drop)
    }

    fn execute<'a>(&'a self, ctx: &'a RunContext, out: Sink, stop: Stop) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            match CliConfig::parse(self.vendor, &ctx.adapter_config) {
                Ok(cfg) => run(self.vendor, ctx, &cfg, out, stop).await,
                Err(p) => Outcome::failed("adapter_config_invalid", p.to_string()),
            }
        })
    }

    fn test_environment<'a>(&'a self, config: &'a Value) -> BoxFuture<'a, EnvReport> {
        Box::pin(vendor::test_environment(self.vendor, config))
    }
}

async fn run(vendor: Vendor, ctx: &RunContext, cfg: &CliConfig, out: Sink, stop: Stop) -> Outcome {
    let mut system = SKILL.to_string();
    if let Some(text) = &ctx.instructions {
        system.push_str("\n\n# Your instructions\n\n");
        system.push_str(text);
    }
    if let Some(path) = &cfg.instructions_file {
        match tokio::fs::read_to_string(path).await {
            Ok(text) => {
                system.push_str("\n\n# Your instructions file\n\n");
                system.push_str(&text);
            }
            Err(e) => {
                let msg =
                    format!("instructionsFilePath {path} cannot be read ({e}); running without it");
                let _ = out
                    .send(Output::Event(NewEvent::lifecycle("warn", msg)))
                    .await;
            }
        }
    }
    // The skill also goes into the run's own folder, for CLIs that read files (never into the
    // user's CLI configuration).
    let _ = tokio::fs::write(ctx.scratch.join("PAPERCLIP_SKILL.md"), &system).await;
    if vendor == Vendor::Claude {
        // Claude Code's own skill layout, in the folder the run adds with `--add-dir`.
        let dir = ctx.scratch.join(".claude/skills/paperclip");
        if tokio::fs::create_dir_all(&dir).await.is_ok() {
            let skill = format!(
                "---\nname: paperclip\ndescription: How to work inside Paperclip through its API (inbox, checkout, comments, status, delegation)\n---\n\n{SKILL}"
            );
            let _ = tokio::fs::write(dir.join("SKILL.md"), skill).await;
        }
    }
    let prompt = prompt::render(cfg.prompt_template.as_deref(), ctx);
    let attempt = |session: Option<String>| {
        let inv = vendor::Invocation {
            prompt: &prompt,
            system: &system,
            session: session.as_deref(),
            model: cfg.model.as_deref(),
            max_turns: cfg.max_turns,
            extra_args: &cfg.extra_args,
            unattended: cfg.unattended,
            scratch: &ctx.scratch,
        };
        let (args, stdin) = vendor.args(&inv);
        let spec = Spawn {
            program: cfg
                .command
                .clone()
                .unwrap_or_else(|| vendor.default_command().to_string()),
            args,
            cwd: cfg.cwd.clone(),
            env: ctx.env.clone(),
            stdin,
            timeout: cfg.timeout,
            grace: cfg.grace,
        };
        let out = out.clone();
        let stop = stop.clone();
        async move {
            let mut t = Transcript::default();
            let exit = spawn::run(&spec, &out, stop, |stream, line| {
                parse::line(vendor, &mut t, stream, line)
            })
            .await;
            (exit, t)
        }
    };
    let resumed = ctx.session.clone();
    let (mut exit, mut t) = attempt(resumed.clone()).await;
    let mut refused_resume = false;
    if let (Some(old), Ok(e)) = (&resumed, &exit) {
        // A resume the CLI refused: it failed (or reported an error) before doing anything
        // under that session, as Claude Code ("No conversation found") and Codex ("no rollout
        // found") do for a session they no longer have.
        if (!e.success() || t.error.is_some()) && e.how == spawn::How::Exited && !t.did_work() {
            refused_resume = true;
            let msg = format!("the CLI refused to resume session {old}; starting a fresh session");
            let _ = out
                .send(Output::Event(NewEvent::lifecycle("warn", msg)))
                .await;
            (exit, t) = attempt(None).await;
        }
    }
    let exit = match exit {
        Ok(e) => e,
        Err(e) => {
            let command = cfg.command.as_deref().unwrap_or(vendor.default_command());
            return Outcome::failed(
                "process_spawn_failed",
                format!(
                    "cannot start {command:?}: {e} (is {} installed?)",
                    vendor.label()
                ),
            );
        }
    };
    let mut o = process::outcome_of(&exit, cfg.timeout);
    if o.status == RunStatus::Succeeded {
        if let Some(err) = &t.error {
            o.status = RunStatus::Failed;
            o.error = Some(err.clone());
            o.error_code = Some("adapter_failed".into());
        }
    } else if let Some(err) = t.error.as_ref().or(t.last_stderr.as_ref()) {
        o.error = Some(format!("{}: {err}", o.error.unwrap_or_default()));
    }
    o.session = match (&t.session_id, refused_resume) {
        (Some(id), _) => SessionChange::Set {
            id: id.clone(),
            display: Some(id.clone()),
        },
        (None, true) => SessionChange::Clear,
        (None, false) => SessionChange::Keep,
    };
    let model = t
        .model
        .clone()
        .or_else(|| cfg.model.clone())
        .unwrap_or_else(|| "unknown".into());
    if t.input_tokens > 0 || t.output_tokens > 0 || t.cost_usd > 0.0 {
        let cost = RunCost {
            provider: vendor.provider(&model).to_string(),
            model: model.clone(),
            input_tokens: t.input_tokens,
            cached_input_tokens: t.cached_input_tokens,
            output_tokens: t.output_tokens,
            cost_cents: (t.cost_usd * 100.0).round() as i64,
        };
        o.usage = Some(serde_json::json!({
            "inputTokens": cost.input_tokens, "cachedInputTokens": cost.cached_input_tokens,
            "outputTokens": cost.output_tokens, "costUsd": t.cost_usd, "costCents": cost.cost_cents,
            "provider": cost.provider, "model": cost.model,
        }));
        o.cost = Some(cost);
    }
    o.result = t.result.map(|r| serde_json::json!({"result": r, "sessionId": t.session_id, "resumedSession": resumed, "refusedResume": refused_resume}));
    o
}
