//! One claimed run, start to finish: its environment (secrets decrypted, `PAPERCLIP_*` set, a run
//! token), the adapter, the log and events while it works, and the completion transaction.

use std::time::{Duration, Instant};

use paperclip_domain::RunStatus;
use paperclip_store::runs::{self, Claimed, Finish, NewEvent, Spawned};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::adapters::{Outcome, Output, RunContext, SessionChange, Stop};
use crate::log::{self, LogWriter, Redactor};
use crate::token::RunClaims;
use crate::{procfs, Engine};

/// How often a running run's last output is written to its row (output itself goes to the log
/// at once; the row only says "still talking").
const OUTPUT_MARK_EVERY: Duration = Duration::from_millis(500);

/// Runs `claimed` to its end. Errors are recorded on the run where the database allows; a run
/// that cannot be finished is left to lease recovery.
pub(crate) async fn execute(engine: &Engine, claimed: Claimed, stop: Stop) {
    let run_id = claimed.run.id;
    let started = Instant::now();
    let claimed_by = format!("claimed by {}", engine.cfg.owner);
    let r = async {
        let mut conn = engine.db.session().await?;
        runs::append_event(&mut conn, run_id, &NewEvent::lifecycle("info", claimed_by)).await?;
        conn.close().await?;
        Ok(())
    }
    .await;
    quietly(run_id, "record the claim", r);
    let outcome = match prepare(engine, &claimed).await {
        Ok((ctx, redactor)) => work(engine, &claimed, ctx, redactor, stop).await,
        Err(outcome) => (outcome, None),
    };
    let (mut outcome, summary) = outcome;
    if engine.is_stopping() && outcome.status == RunStatus::Cancelled {
        outcome = Outcome::failed("server_shutdown", "The server stopped during the run");
    }
    let summary = summary.unwrap_or(log::LogSummary {
        bytes: 0,
        sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"")),
        stdout_excerpt: None,
        stderr_excerpt: None,
    });
    let finish = Finish {
        status: outcome.status,
        exit_code: outcome.exit_code,
        signal: outcome.signal.clone(),
        error: outcome.error.clone(),
        error_code: outcome.error_code.clone(),
        usage: outcome.usage.clone(),
        result: outcome.result.clone(),
        log_bytes: summary.bytes,
        log_sha256: summary.sha256,
        stdout_excerpt: summary.stdout_excerpt,
        stderr_excerpt: summary.stderr_excerpt,
        external_run_id: outcome.external_run_id.clone(),
        cost: outcome.cost.clone(),
        session: match &outcome.session {
            SessionChange::Keep => None,
            SessionChange::Set { id, display } => Some(runs::SessionWrite::Set {
                id: id.clone(),
                display: display.clone(),
            }),
            SessionChange::Clear => Some(runs::SessionWrite::Clear),
        },
    };
    let message = format!(
        "run {} in {} ms{}",
        outcome.status,
        started.elapsed().as_millis(),
        outcome
            .error
            .as_deref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default()
    );
    let level = if outcome.status == RunStatus::Succeeded {
        "info"
    } else {
        "error"
    };
    match finish_run(engine, run_id, &finish, level, &message).await {
        Ok(true) => {
            tracing::info!(run = %run_id, status = %outcome.status, "heartbeat run finished");
        }
        Ok(false) => {
            tracing::warn!(run = %run_id, "heartbeat run finished after its lease was recovered elsewhere; result dropped");
        }
        Err(e) => tracing::error!(run = %run_id, "cannot record the end of the heartbeat run: {e}"),
    }
}

async fn finish_run(
    engine: &Engine,
    run_id: uuid::Uuid,
    f: &Finish,
    level: &str,
    message: &str,
) -> crate::Result<bool> {
    let mut tx = engine.db.begin().await?;
    let mine = runs::finish(&mut tx, run_id, &engine.cfg.owner, f).await?;
    if mine {
        runs::append_event(&mut tx, run_id, &NewEvent::lifecycle(level, message)).await?;
    }
    tx.commit().await.map_err(paperclip_store::StoreError::sql(
        "cannot commit the run's end",
    ))?;
    Ok(mine)
}

/// The run's context and what must never appear in its output; or the outcome of a run that
/// cannot start (no adapter, a secret that cannot be read).
async fn prepare(engine: &Engine, c: &Claimed) -> Result<(RunContext, Redactor), Outcome> {
    let agent = &c.agent;
    let env_value = agent
        .adapter_config
        .get("env")
        .cloned()
        .unwrap_or(Value::Null);
    let mut secret_values = Vec::new();
    let mut env: Vec<(String, String)> = Vec::new();
    if env_value.is_object() {
        let refs: Vec<String> = paperclip_secrets::env::check(&env_value)
            .map(|c| c.refs.into_iter().map(|r| r.key).collect())
            .unwrap_or_default();
        let resolved = async {
            let mut conn = engine.db.session().await?;
            let r = paperclip_store::secrets::resolve_env(
                &mut conn,
                &engine.secrets.key,
                agent.company_id,
                &env_value,
            )
            .await;
            conn.close().await?;
            r
        }
        .await
        .map_err(|e| {
            Outcome::failed(
                "secret_unavailable",
                format!("cannot resolve the agent's env: {e}"),
            )
        })?;
        for (k, v) in resolved {
            if refs.contains(&k) || paperclip_secrets::env::is_sensitive(&k) {
                secret_values.push(v.to_string());
            }
            env.push((k, v.to_string()));
        }
    }
    let ctx = c.run.context_snapshot.clone().unwrap_or(Value::Null);
    let text = |k: &str| ctx.get(k).and_then(Value::as_str).map(str::to_string);
    let timeout = agent
        .adapter_config
        .get("timeoutSec")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    // The token outlives a run's own limit only by a margin; a run without a limit gets a day
    // (the server refuses it as soon as the run ends anyway).
    let ttl = if timeout > 0 {
        Duration::from_secs(timeout + 600)
    } else {
        Duration::from_secs(24 * 3600)
    };
    let token = engine.tokens.issue(
        RunClaims {
            agent_id: agent.id,
            company_id: agent.company_id,
            run_id: c.run.id,
        },
        ttl,
    );
    secret_values.push(token.clone());
    let api_url = engine.api_url();
    let mut vars = vec![
        ("PAPERCLIP_API_URL", Some(api_url.clone())),
        ("PAPERCLIP_AGENT_ID", Some(agent.id.to_string())),
        ("PAPERCLIP_COMPANY_ID", Some(agent.company_id.to_string())),
        ("PAPERCLIP_RUN_ID", Some(c.run.id.to_string())),
        ("PAPERCLIP_API_KEY", Some(token.clone())),
        ("PAPERCLIP_TASK_ID", text("taskId")),
        ("PAPERCLIP_WAKE_REASON", text("wakeReason")),
        ("PAPERCLIP_WAKE_SOURCE", text("wakeSource")),
        ("PAPERCLIP_WAKE_COMMENT_ID", text("wakeCommentId")),
        ("PAPERCLIP_APPROVAL_ID", text("approvalId")),
        ("PAPERCLIP_APPROVAL_STATUS", text("approvalStatus")),
    ];
    // Runtime keys win over the agent's own env.
    env.retain(|(k, _)| !vars.iter().any(|(v, _)| v == k));
    for (k, v) in vars.drain(..) {
        if let Some(v) = v {
            env.push((k.to_string(), v));
        }
    }
    let (session, task, instructions) = memory(engine, c).await.map_err(|e| {
        Outcome::failed(
            "run_context_unavailable",
            format!("cannot read the agent's session or instructions: {e}"),
        )
    })?;
    let scratch = std::env::temp_dir().join(format!("paperclip-run-{}", c.run.id));
    tokio::fs::create_dir_all(&scratch).await.map_err(|e| {
        Outcome::failed(
            "scratch_unavailable",
            format!("cannot create the run's folder: {e}"),
        )
    })?;
    Ok((
        RunContext {
            run_id: c.run.id,
            agent_id: agent.id,
            company_id: agent.company_id,
            agent_name: agent.name.clone(),
            adapter_config: agent.adapter_config.clone(),
            env,
            context: ctx,
            api_url,
            token,
            session,
            task,
            instructions,
            scratch,
        },
        Redactor::new(secret_values),
    ))
}

/// What the agent remembers for this run: its session for the task, the task, its instructions.
async fn memory(
    engine: &Engine,
    c: &Claimed,
) -> crate::Result<(
    Option<String>,
    Option<(String, String, String)>,
    Option<String>,
)> {
    let mut conn = engine.db.session().await?;
    let key = task_key(c);
    let fresh = c
        .run
        .context_snapshot
        .as_ref()
        .and_then(|v| v.get("forceFreshSession"))
        == Some(&Value::Bool(true));
    let session = if fresh {
        None
    } else {
        runs::session_for(&mut conn, c.agent.id, &c.agent.adapter_type, &key).await?
    };
    let task = match c
        .run
        .context_snapshot
        .as_ref()
        .and_then(|v| v.get("issueId"))
        .and_then(Value::as_str)
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
    {
        Some(id) => paperclip_store::issues::get(&mut conn, id)
            .await?
            .map(|i| (i.id.to_string(), i.identifier, i.title)),
        None => None,
    };
    let instructions = runs::instructions_text(&mut conn, c.agent.id).await?;
    conn.close().await?;
    Ok((session, task, instructions))
}

/// The task session key of a run (the issue, or none).
fn task_key(c: &Claimed) -> String {
    c.run
        .context_snapshot
        .as_ref()
        .and_then(|v| v.get("taskKey"))
        .and_then(Value::as_str)
        .unwrap_or(runs::NO_TASK)
        .to_string()
}

/// Runs the adapter while writing what it reports: the log, events and the run row.
async fn work(
    engine: &Engine,
    c: &Claimed,
    ctx: RunContext,
    redactor: Redactor,
    stop: Stop,
) -> (Outcome, Option<log::LogSummary>) {
    let Some(adapter) = engine.adapters.get(&c.agent.adapter_type) else {
        return (
            Outcome::failed(
                "adapter_not_available",
                format!("no adapter {:?} on this server", c.agent.adapter_type),
            ),
            None,
        );
    };
    let log_ref = log::log_ref(c.run.company_id, c.run.agent_id, c.run.id);
    let mut log = match LogWriter::create(&engine.cfg.log_dir, &log_ref, redactor.clone()).await {
        Ok(l) => l,
        Err(e) => {
            return (
                Outcome::failed("log_unavailable", format!("cannot open the run log: {e}")),
                None,
            )
        }
    };
    let (tx, mut rx) = mpsc::channel::<Output>(256);
    let exec = adapter.execute(&ctx, tx, stop);
    tokio::pin!(exec);
    let mut outcome = None;
    let mut last_mark = Instant::now() - OUTPUT_MARK_EVERY;
    let mut lines = 0i32;
    let mut live_log = LiveLog::default();
    let mut last_stream = "stdout";
    loop {
        tokio::select! {
            o = &mut exec, if outcome.is_none() => outcome = Some(o),
            msg = rx.recv() => match msg {
                None => {
                    if outcome.is_none() {
                        outcome = Some(exec.as_mut().await);
                    }
                    break;
                }
                Some(Output::Spawned { pid }) => {
                    let s = Spawned {
                        pid,
                        host: engine.cfg.host.clone(),
                        start_ticks: procfs::start_ticks(pid),
                        log_ref: log_ref.clone(),
                    };
                    let run_id = c.run.id;
                    let r = async {
                        let mut conn = engine.db.session().await?;
                        runs::mark_spawned(&mut conn, run_id, &s).await?;
                        runs::append_event(&mut conn, run_id, &NewEvent::lifecycle("info", format!("process {pid} started"))).await?;
                        conn.close().await?;
                        Ok(())
                    }
                    .await;
                    quietly(run_id, "record the process", r);
                    let _ = log.write("system", &format!("process {pid} started\n")).await;
                }
                Some(Output::Line { stream, text }) => {
                    lines += 1;
                    last_stream = stream.as_str();
                    match log.write(stream.as_str(), &text).await {
                        Ok(redacted) => live_log.push(stream.as_str(), &redacted),
                        Err(e) => tracing::warn!(run = %c.run.id, "cannot write the run log: {e}"),
                    }
                    if last_mark.elapsed() >= OUTPUT_MARK_EVERY {
                        last_mark = Instant::now();
                        mark_output(engine, c, lines, last_stream, log.bytes()).await;
                        live_log.flush(engine, c).await;
                    }
                }
                Some(Output::Event(mut e)) => {
                    e.message = e.message.map(|m| redactor.apply(&m));
                    let run_id = c.run.id;
                    let r = async {
                        let mut conn = engine.db.session().await?;
                        runs::append_event(&mut conn, run_id, &e).await?;
                        conn.close().await?;
                        Ok(())
                    }
                    .await;
                    quietly(run_id, "record a run event", r);
                }
            }
        }
    }
    if lines > 0 {
        mark_output(engine, c, lines, last_stream, log.bytes()).await;
        live_log.flush(engine, c).await;
    }
    let _ = tokio::fs::remove_dir_all(&ctx.scratch).await;
    let mut outcome = outcome.expect("set before the loop ends");
    outcome.error = outcome.error.map(|e| redactor.apply(&e));
    let summary = match log.finish().await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(run = %c.run.id, "cannot close the run log: {e}");
            None
        }
    };
    (outcome, summary)
}

fn quietly(run: uuid::Uuid, what: &str, r: crate::Result<()>) {
    if let Err(e) = r {
        tracing::warn!(run = %run, "cannot {what}: {e}");
    }
}

async fn mark_output(engine: &Engine, c: &Claimed, seq: i32, stream: &'static str, bytes: u64) {
    let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
    let r = async {
        let mut conn = engine.db.session().await?;
        runs::record_output(&mut conn, c.run.id, seq, stream, bytes).await?;
        conn.close().await?;
        Ok(())
    }
    .await;
    quietly(c.run.id, "record the output", r);
}

/// Output not yet sent to live clients (`heartbeat.run.log`), flushed with the output mark: a
/// board watching a run sees its log without polling, at most every half second.
#[derive(Default)]
struct LiveLog {
    chunks: Vec<(&'static str, String)>,
    bytes: usize,
}

/// Most output one live log event carries (the log file has it all).
const LIVE_LOG_MAX: usize = 16 * 1024;

impl LiveLog {
    fn push(&mut self, stream: &'static str, text: &str) {
        if self.bytes < LIVE_LOG_MAX {
            self.bytes += text.len();
            self.chunks.push((stream, text.to_string()));
        }
    }

    async fn flush(&mut self, engine: &Engine, c: &Claimed) {
        if self.chunks.is_empty() {
            return;
        }
        let truncated = self.bytes > LIVE_LOG_MAX;
        let chunks: Vec<Value> = self
            .chunks
            .drain(..)
            .map(|(stream, chunk)| serde_json::json!({"stream": stream, "chunk": chunk}))
            .collect();
        self.bytes = 0;
        let payload = serde_json::json!({"runId": c.run.id, "agentId": c.run.agent_id, "chunks": chunks, "truncated": truncated});
        let r = async {
            let mut conn = engine.db.session().await?;
            paperclip_store::live::publish(
                &mut conn,
                c.run.company_id,
                "heartbeat.run.log",
                payload,
            )
            .await?;
            conn.close().await?;
            Ok(())
        }
        .await;
        quietly(c.run.id, "publish the live log", r);
    }
}
