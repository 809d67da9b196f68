//! `paperclipai heartbeat run --agent-id <id>`: wakes an agent through a running server's API
//! and streams the run's log to the terminal until the run ends (exit 0 when it succeeded).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use paperclip_api_types::agents::Wake;
use serde_json::Value;

use crate::client::{Api, ClientArgs};

use crate::ui;

/// What `heartbeat run` was asked.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The agent to wake.
    #[arg(long)]
    pub agent_id: String,
    /// Wake source.
    #[arg(long, default_value = "on_demand", value_parser = ["timer", "assignment", "on_demand", "automation"])]
    pub source: String,
    /// Trigger detail.
    #[arg(long, default_value = "manual", value_parser = ["manual", "ping", "callback", "system"])]
    pub trigger: String,
    /// Stop waiting after this many milliseconds (the run goes on; exit code 2).
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// The API to call (default: `PAPERCLIP_API_URL`, else this instance's port on loopback).
    #[arg(long, env = "PAPERCLIP_API_URL")]
    pub api_base: Option<String>,
    /// A bearer token (board key in authenticated mode); none in local_trusted mode.
    #[arg(long, env = "PAPERCLIP_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Also print the run's events and the final run record.
    #[arg(long)]
    pub debug: bool,
}

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(&ClientArgs {
        api_base: args.api_base,
        api_key: args.api_key,
        json: false,
    })?;
    let wake = Wake {
        source: Some(args.source),
        trigger_detail: Some(args.trigger),
        reason: Some("cli_heartbeat_run".into()),
        payload: None,
        idempotency_key: None,
        force_fresh_session: None,
    };
    let (status, answer) = api
        .send_raw(
            reqwest::Method::POST,
            &format!("/agents/{}/wakeup", args.agent_id),
            Some(&wake),
        )
        .await?;
    if !(200..300).contains(&status) {
        ui::error(&format!(
            "The wakeup was refused ({status}): {}",
            answer.get("error").unwrap_or(&answer)
        ));
        return Ok(ExitCode::FAILURE);
    }
    let Some(run_id) = answer["run"]["id"].as_str().map(str::to_string) else {
        ui::error(&format!(
            "The wakeup was queued but no run answers it: {answer}"
        ));
        return Ok(ExitCode::FAILURE);
    };
    ui::info(&format!("Run {run_id} queued for agent {}", args.agent_id));
    let deadline = args
        .timeout_ms
        .map(|ms| Instant::now() + Duration::from_millis(ms));
    let mut offset = 0u64;
    let mut after_seq = 0i64;
    loop {
        let (_, run) = api
            .send_raw(
                reqwest::Method::GET,
                &format!("/heartbeat-runs/{run_id}"),
                None::<&()>,
            )
            .await?;
        let (s, log) = api
            .send_raw(
                reqwest::Method::GET,
                &format!("/heartbeat-runs/{run_id}/log?offset={offset}&limitBytes=262144"),
                None::<&()>,
            )
            .await?;
        if s == 200 {
            for line in log["content"].as_str().unwrap_or("").lines() {
                print_line(line);
            }
            offset = log["nextOffset"].as_u64().unwrap_or(offset);
        }
        if args.debug {
            let (_, events) = api
                .send_raw(
                    reqwest::Method::GET,
                    &format!("/heartbeat-runs/{run_id}/events?afterSeq={after_seq}"),
                    None::<&()>,
                )
                .await?;
            for e in events.as_array().into_iter().flatten() {
                after_seq = e["seq"].as_i64().unwrap_or(after_seq);
                eprintln!(
                    "[event {}] {} {}",
                    e["seq"],
                    e["eventType"].as_str().unwrap_or(""),
                    e["message"].as_str().unwrap_or("")
                );
            }
        }
        let state = run["status"].as_str().unwrap_or("unknown").to_string();
        let done = !["queued", "running"].contains(&state.as_str());
        if done && (s != 200 || log["complete"] == true) {
            if args.debug {
                eprintln!("{}", serde_json::to_string_pretty(&run)?);
            }
            let detail = run["error"]
                .as_str()
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            ui::info(&format!("Run {run_id} {state}{detail}"));
            return Ok(if state == "succeeded" {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            ui::info(&format!(
                "Run {run_id} is still {state}; stopped waiting (it goes on)"
            ));
            return Ok(ExitCode::from(2));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One NDJSON log line: the chunk, to stdout or stderr as the agent wrote it.
fn print_line(line: &str) {
    use std::io::Write;
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return;
    };
    let chunk = v["chunk"].as_str().unwrap_or("");
    match v["stream"].as_str() {
        Some("stderr") => {
            let _ = std::io::stderr().write_all(chunk.as_bytes());
        }
        Some("stdout") => {
            let _ = std::io::stdout().write_all(chunk.as_bytes());
            let _ = std::io::stdout().flush();
        }
        _ => eprint!("[paperclip] {chunk}"),
    }
}
