//! What differs between the CLIs: names, how each is invoked in its non-interactive streaming
//! mode (flags checked against Claude Code 2.1 `-p --output-format stream-json` and Codex CLI
//! 0.171 `exec --json` / `exec resume`, Gemini CLI 0.x `-p --output-format stream-json`, OpenCode
//! `run --format json`), and how its environment is checked.

use std::path::Path;

use serde_json::Value;

use super::super::{EnvCheck, EnvReport};
use super::CliConfig;

/// The coding-agent CLIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    Claude,
    Codex,
    Gemini,
    OpenCode,
}

/// One invocation's inputs.
pub struct Invocation<'a> {
    pub prompt: &'a str,
    /// The skill and the agent's instructions.
    pub system: &'a str,
    pub session: Option<&'a str>,
    pub model: Option<&'a str>,
    pub max_turns: Option<u64>,
    pub extra_args: &'a [String],
    pub unattended: bool,
    pub scratch: &'a Path,
}

impl Vendor {
    pub const ALL: &'static [Self] = &[Self::Claude, Self::Codex, Self::Gemini, Self::OpenCode];

    pub fn kind(self) -> &'static str {
        match self {
            Self::Claude => "claude_local",
            Self::Codex => "codex_local",
            Self::Gemini => "gemini_local",
            Self::OpenCode => "opencode_local",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Claude => "Claude Code",
            Self::Codex => "Codex",
            Self::Gemini => "Gemini CLI",
            Self::OpenCode => "OpenCode",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Self::Claude => {
                "Runs Claude Code (`claude -p`, stream-json) in the agent's working directory"
            }
            Self::Codex => "Runs Codex (`codex exec --json`) in the agent's working directory",
            Self::Gemini => {
                "Runs Gemini CLI (`gemini -p`, stream-json) in the agent's working directory"
            }
            Self::OpenCode => {
                "Runs OpenCode (`opencode run --format json`) in the agent's working directory"
            }
        }
    }

    pub fn default_command(self) -> &'static str {
        match self {
            Self::Claude => "claude",
            Self::Codex => "codex",
            Self::Gemini => "gemini",
            Self::OpenCode => "opencode",
        }
    }

    pub fn has_max_turns(self) -> bool {
        self == Self::Claude
    }

    /// The config key that turns unattended mode off.
    pub fn unattended_key(self) -> &'static str {
        match self {
            Self::Claude => "dangerouslySkipPermissions",
            Self::Codex => "dangerouslyBypassApprovalsAndSandbox",
            Self::Gemini => "yolo",
            Self::OpenCode => "autoApprove",
        }
    }

    /// The cost event's provider.
    pub fn provider(self, model: &str) -> &str {
        match self {
            Self::Claude => "anthropic",
            Self::Codex => "openai",
            Self::Gemini => "google",
            // OpenCode models are `provider/model`.
            Self::OpenCode => model.split_once('/').map_or("opencode", |(p, _)| p),
        }
    }

    /// Arguments, and the text for stdin (when the prompt goes there).
    pub fn args(self, inv: &Invocation<'_>) -> (Vec<String>, Option<String>) {
        let mut a: Vec<String> = Vec::new();
        let push =
            |a: &mut Vec<String>, items: &[&str]| a.extend(items.iter().map(|s| (*s).to_string()));
        // CLIs without a system-prompt flag get the skill ahead of the prompt.
        let combined = format!("{}\n\n---\n\n{}", inv.system, inv.prompt);
        match self {
            Self::Claude => {
                push(
                    &mut a,
                    &["-p", "--output-format", "stream-json", "--verbose"],
                );
                if let Some(s) = inv.session {
                    push(&mut a, &["--resume", s]);
                }
                if let Some(m) = inv.model {
                    push(&mut a, &["--model", m]);
                }
                if let Some(n) = inv.max_turns {
                    a.push("--max-turns".into());
                    a.push(n.to_string());
                }
                if inv.unattended {
                    a.push("--dangerously-skip-permissions".into());
                }
                a.push("--append-system-prompt".into());
                a.push(inv.system.to_string());
                a.push("--add-dir".into());
                a.push(inv.scratch.display().to_string());
                a.extend(inv.extra_args.iter().cloned());
                (a, Some(inv.prompt.to_string()))
            }
            Self::Codex => {
                // `exec resume` takes the same options after its own name.
                push(&mut a, &["exec"]);
                if inv.session.is_some() {
                    push(&mut a, &["resume"]);
                }
                push(&mut a, &["--json", "--skip-git-repo-check"]);
                if let Some(m) = inv.model {
                    push(&mut a, &["--model", m]);
                }
                if inv.unattended {
                    a.push("--dangerously-bypass-approvals-and-sandbox".into());
                }
                a.extend(inv.extra_args.iter().cloned());
                if let Some(s) = inv.session {
                    a.push(s.to_string());
                }
                a.push(combined);
                (a, None)
            }
            Self::Gemini => {
                push(&mut a, &["--output-format", "stream-json"]);
                if let Some(s) = inv.session {
                    push(&mut a, &["--resume", s]);
                }
                if let Some(m) = inv.model {
                    push(&mut a, &["--model", m]);
                }
                if inv.unattended {
                    push(&mut a, &["--approval-mode", "yolo"]);
                }
                a.extend(inv.extra_args.iter().cloned());
                a.push("--prompt".into());
                a.push(combined);
                (a, None)
            }
            Self::OpenCode => {
                push(&mut a, &["run", "--format", "json"]);
                if let Some(s) = inv.session {
                    push(&mut a, &["--session", s]);
                }
                if let Some(m) = inv.model {
                    push(&mut a, &["--model", m]);
                }
                a.extend(inv.extra_args.iter().cloned());
                a.push(combined);
                (a, None)
            }
        }
    }

    /// Credentials the CLI can use: an env var, or the file its login writes.
    fn credentials(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Self::Claude => (
                &["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"],
                &[".claude/.credentials.json", ".claude.json"],
            ),
            Self::Codex => (&["OPENAI_API_KEY", "CODEX_API_KEY"], &[".codex/auth.json"]),
            Self::Gemini => (
                &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
                &[".gemini/oauth_creds.json"],
            ),
            Self::OpenCode => (
                &["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY"],
                &[".local/share/opencode/auth.json"],
            ),
        }
    }
}

/// Is the CLI installed, which version, and can it authenticate: pass/warn/fail checks with a
/// hint each. Runs `<command> --version` (offline).
pub async fn test_environment(vendor: Vendor, config: &Value) -> EnvReport {
    let mut checks = Vec::new();
    let cfg = match CliConfig::parse(vendor, config) {
        Ok(c) => c,
        Err(p) => {
            checks.push(EnvCheck::fail(
                "config_invalid",
                p.to_string(),
                "Fix the agent's adapterConfig",
            ));
            return EnvReport::new(vendor.kind(), checks);
        }
    };
    let command = cfg
        .command
        .clone()
        .unwrap_or_else(|| vendor.default_command().to_string());
    let version = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        tokio::process::Command::new(&command)
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await;
    match version {
        Ok(Ok(out)) if out.status.success() => {
            let v = String::from_utf8_lossy(&out.stdout)
                .trim()
                .lines()
                .next()
                .unwrap_or("")
                .to_string();
            checks.push(EnvCheck::pass(
                "cli_installed",
                format!("{command} is installed ({v})"),
            ));
        }
        Ok(Ok(out)) => checks.push(EnvCheck::fail(
            "cli_broken",
            format!(
                "{command} --version failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            "Reinstall the CLI",
        )),
        Ok(Err(e)) => checks.push(EnvCheck::fail(
            "cli_missing",
            format!("{command} cannot be started: {e}"),
            match vendor {
                Vendor::Claude => {
                    "npm install -g @anthropic-ai/claude-code (or set adapterConfig.command)"
                }
                Vendor::Codex => "npm install -g @openai/codex (or set adapterConfig.command)",
                Vendor::Gemini => {
                    "npm install -g @google/gemini-cli (or set adapterConfig.command)"
                }
                Vendor::OpenCode => "npm install -g opencode-ai (or set adapterConfig.command)",
            },
        )),
        Err(_) => checks.push(EnvCheck::fail(
            "cli_hangs",
            format!("{command} --version did not answer in 20 s"),
            "Check the CLI",
        )),
    }
    if let Some(cwd) = &cfg.cwd {
        if Path::new(cwd).is_dir() {
            checks.push(EnvCheck::pass(
                "cwd",
                format!("working directory {cwd} exists"),
            ));
        } else {
            checks.push(EnvCheck::fail(
                "cwd_missing",
                format!("working directory {cwd} does not exist"),
                "Create it or change adapterConfig.cwd",
            ));
        }
    }
    let (vars, files) = vendor.credentials();
    let env_has = |k: &str| {
        std::env::var(k).is_ok_and(|v| !v.is_empty())
            || config.get("env").and_then(|e| e.get(k)).is_some()
    };
    let home = std::env::var("HOME").unwrap_or_default();
    if let Some(k) = vars.iter().find(|k| env_has(k)) {
        checks.push(EnvCheck::pass("credentials", format!("{k} is set")));
    } else if let Some(f) = files.iter().find(|f| Path::new(&home).join(f).exists()) {
        checks.push(EnvCheck::pass("credentials", format!("logged in (~/{f})")));
    } else {
        checks.push(EnvCheck::warn(
            "credentials_missing",
            format!("no {} credentials found ({} or a login)", vendor.label(), vars.join(", ")),
            format!("Log in with `{command}` once on this machine, or bind {} to a secret in adapterConfig.env", vars[0]),
        ));
    }
    EnvReport::new(vendor.kind(), checks)
}
