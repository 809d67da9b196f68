//! The `process` adapter: `{command, args, cwd, env, timeoutSec, graceSec}`. Starts the command in
//! a process group of its own that dies with the server, streams its lines, and succeeds by exit
//! code. A timeout or cancel sends SIGTERM to the whole group, then SIGKILL after `graceSec`; when
//! the command exits, anything it left running in its group is killed too.

use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use paperclip_domain::RunStatus;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use super::*;

/// Seconds between SIGTERM and SIGKILL unless `graceSec` says otherwise.
pub const DEFAULT_GRACE_SEC: u64 = 15;
const MAX_TIMEOUT_SEC: u64 = 7 * 24 * 3600;
const MAX_GRACE_SEC: u64 = 3600;
/// Longest line kept whole; longer output is split (a line is also the unit of redaction).
const MAX_LINE: usize = 64 * 1024;

/// The variables of the server's own environment a run inherits (nothing else: the server's
/// environment holds the database URL and perhaps the master key).
const INHERITED: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SHELL", "TERM",
];

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

/// Why the wait ended early.
enum Ended {
    Exited(std::io::Result<std::process::ExitStatus>),
    TimedOut,
    Cancelled,
}

#[derive(Clone, Copy)]
enum How {
    Exited,
    TimedOut,
    Cancelled,
}

async fn run(ctx: &RunContext, cfg: &ProcessConfig, out: Sink, mut stop: Stop) -> Outcome {
    let mut cmd = std::process::Command::new(&cfg.command);
    cmd.args(&cfg.args).env_clear();
    for k in INHERITED {
        if let Ok(v) = std::env::var(k) {
            cmd.env(k, v);
        }
    }
    cmd.envs(ctx.env.iter().map(|(k, v)| (k, v)));
    if let Some(cwd) = &cfg.cwd {
        cmd.current_dir(cwd);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    paperclip_sandbox::own_group_dying_with_server(&mut cmd);
    let mut cmd = tokio::process::Command::from(cmd);
    let runtime = tokio::runtime::Handle::current();
    let spawned = paperclip_sandbox::spawn_on_stable_thread(move || {
        let _entered = runtime.enter();
        cmd.spawn()
    });
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            return Outcome::failed(
                "process_spawn_failed",
                format!("cannot start {:?}: {e}", cfg.command),
            )
        }
    };
    let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) else {
        return Outcome::failed("process_spawn_failed", "the process exited at once");
    };
    let _ = out.send(Output::Spawned { pid }).await;
    let readers = [
        tokio::spawn(pump(
            child.stdout.take().expect("piped"),
            Stream::Stdout,
            out.clone(),
        )),
        tokio::spawn(pump(
            child.stderr.take().expect("piped"),
            Stream::Stderr,
            out.clone(),
        )),
    ];
    let deadline = async {
        match cfg.timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    let ended = tokio::select! {
        s = child.wait() => Ended::Exited(s),
        () = deadline => Ended::TimedOut,
        () = async { let _ = stop.wait_for(|s| *s).await; } => Ended::Cancelled,
    };
    let group = Pid::from_raw(pid);
    let (how, status) = match ended {
        Ended::Exited(s) => (How::Exited, s),
        Ended::TimedOut | Ended::Cancelled => {
            let _ = killpg(group, Signal::SIGTERM);
            let s = match tokio::time::timeout(cfg.grace, child.wait()).await {
                Ok(s) => s,
                Err(_) => {
                    let _ = killpg(group, Signal::SIGKILL);
                    child.wait().await
                }
            };
            let how = if matches!(ended, Ended::TimedOut) {
                How::TimedOut
            } else {
                How::Cancelled
            };
            (how, s)
        }
    };
    // Whatever the command left behind in its group goes with it (it would otherwise outlive
    // the run, holding the pipes open).
    let _ = killpg(group, Signal::SIGKILL);
    let mut reported = Reported::default();
    for r in readers {
        if let Ok(r) = r.await {
            if r.usage.is_some() {
                reported.usage = r.usage;
                reported.cost = r.cost;
            }
            if r.result.is_some() {
                reported.result = r.result;
            }
        }
    }
    let (exit_code, signal) = match &status {
        Ok(s) => {
            use std::os::unix::process::ExitStatusExt;
            (s.code(), s.signal().map(signal_name))
        }
        Err(_) => (None, None),
    };
    let (status, error, error_code) = match (how, &status) {
        (How::TimedOut, _) => (
            RunStatus::TimedOut,
            Some(format!(
                "timed out after {} s",
                cfg.timeout.map_or(0, |t| t.as_secs())
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
        usage: reported.usage,
        cost: reported.cost,
        result: reported.result,
        external_run_id: None,
    }
}

fn signal_name(sig: i32) -> String {
    Signal::try_from(sig).map_or_else(|_| format!("signal {sig}"), |s| s.as_str().to_string())
}

/// Forwards a stream line by line (lines over [`MAX_LINE`] are split) and gathers reports.
async fn pump(r: impl AsyncRead + Unpin, stream: Stream, out: Sink) -> Reported {
    let mut reader = BufReader::with_capacity(MAX_LINE, r);
    let mut reported = Reported::default();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        // Read up to a newline, but never more than MAX_LINE bytes into memory.
        let n = match read_line_bounded(&mut reader, &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if stream == Stream::Stdout {
            reported.take(&text);
        }
        if out.send(Output::Line { stream, text }).await.is_err() {
            break;
        }
    }
    reported
}

async fn read_line_bounded<R: AsyncBufReadExt + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    loop {
        let available = r.fill_buf().await?;
        if available.is_empty() {
            return Ok(buf.len());
        }
        let room = MAX_LINE - buf.len();
        let take = available.len().min(room);
        if let Some(i) = available[..take].iter().position(|b| *b == b'\n') {
            buf.extend_from_slice(&available[..=i]);
            r.consume(i + 1);
            return Ok(buf.len());
        }
        buf.extend_from_slice(&available[..take]);
        r.consume(take);
        if buf.len() >= MAX_LINE {
            return Ok(buf.len());
        }
    }
}
