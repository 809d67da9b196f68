//! The coding-agent adapters against stand-in CLIs (a script on disk named like each real CLI,
//! speaking its documented stream format and calling back into the API): the transcript in the
//! log, sessions resumed, reset and refused, the skill and instructions delivered, costs summed.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::Connection;

const STANDIN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/agents/standin_cli.py"
);

async fn invoke(app: &TestApp, agent: &Value, issue: &Value) -> Value {
    let (s, inv) = app
        .post(
            &format!("/agents/{}/heartbeat/invoke", id(agent)),
            json!({"issueId": id(issue)}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{inv}");
    app.finished_run(inv["run"]["id"].as_str().unwrap()).await
}

async fn last_comment(app: &TestApp, issue: &Value) -> String {
    let (_, c) = app
        .get(&format!(
            "/issues/{}/comments?order=desc&limit=1",
            id(issue)
        ))
        .await;
    c[0]["body"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn each_coding_agent_runs_its_cli_keeps_its_session_and_reports_its_cost() {
    let app = TestApp::spawn().await;
    let c = app.company("Coders Co").await;
    let (_, secret) = app
        .post(
            &format!("/companies/{}/secrets", id(&c)),
            json!({"name": "svc", "key": "SERVICE_TOKEN", "value": "tok-9f8e7d6c5b4a"}),
        )
        .await;
    let bin = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    for (kind, cli, costs_cents) in [
        ("claude_local", "claude", 2),
        ("codex_local", "codex", 0),
        ("gemini_local", "gemini", 0),
        ("opencode_local", "opencode", 2),
    ] {
        let exe = bin.path().join(cli);
        std::os::unix::fs::symlink(STANDIN, &exe).unwrap();
        let state = bin.path().join(format!("{cli}-state"));
        let (s, a) = app
            .post(&format!("/companies/{}/agents", id(&c)), json!({
                "name": format!("{cli} coder"), "role": "engineer", "adapterType": kind,
                "adapterConfig": {"command": exe, "cwd": work.path(), "model": "m-1", "timeoutSec": 60, "graceSec": 2,
                                  "env": {"STANDIN_STATE": state, "SERVICE_TOKEN": {"type": "secret_ref", "secretId": secret["id"], "version": "latest"}}},
            }))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{kind}: {a}");
        let (s, f) = app
            .call(Method::PUT, &format!("/agents/{}/instructions-bundle/file", id(&a)),
                  Some(json!({"path": "AGENTS.md", "content": "Always sign your comments with your role."})), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{f}");

        // First heartbeat: the assignment. Fresh session; the skill and instructions arrived.
        let issue = app.issue(&c, json!({"title": format!("{cli} task"), "status": "todo", "assigneeAgentId": id(&a)})).await;
        let r1 = eventually_run(&app, &c, &a, 1).await;
        assert_eq!(r1["status"], "succeeded", "{kind}: {r1}");
        assert!(
            r1["sessionIdBefore"].is_null()
                && r1["sessionIdAfter"].as_str().unwrap().starts_with(cli),
            "{kind}: {r1}"
        );
        let comment = last_comment(&app, &issue).await;
        assert!(
            comment.contains("skill=yes")
                && comment.contains("instructions=yes")
                && comment.contains("resumed=no"),
            "{kind}: {comment}"
        );
        let log = app.run_log(id(&r1)).await;
        assert!(
            log.contains("this line is not JSON")
                && log.contains("***REDACTED***")
                && !log.contains("tok-9f8e7d6c5b4a"),
            "{kind}: {log}"
        );
        let (_, events) = app
            .get(&format!("/heartbeat-runs/{}/events", id(&r1)))
            .await;
        let kinds: Vec<&str> = events
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["eventType"].as_str().unwrap())
            .collect();
        assert!(
            kinds.contains(&"transcript.assistant") && kinds.contains(&"transcript.tool_call"),
            "{kind}: {kinds:?}"
        );
        assert!(
            !events.to_string().contains("tok-9f8e7d6c5b4a"),
            "{kind}: events redacted"
        );
        assert_eq!(r1["usageJson"]["inputTokens"], 100, "{kind}: {r1}");

        // Second heartbeat on the same task resumes the session.
        let r2 = invoke(&app, &a, &issue).await;
        assert_eq!(
            (r2["status"].as_str(), r2["sessionIdBefore"].as_str()),
            (Some("succeeded"), r1["sessionIdAfter"].as_str()),
            "{kind}: {r2}"
        );
        assert!(
            last_comment(&app, &issue).await.contains("resumed=yes"),
            "{kind}"
        );
        let (_, sessions) = app.get(&format!("/agents/{}/task-sessions", id(&a))).await;
        assert_eq!(sessions.as_array().unwrap().len(), 1, "{sessions}");
        assert_eq!(sessions[0]["taskKey"], issue["id"]);

        // Reset: the next heartbeat starts fresh.
        let (s, reset) = app
            .post(
                &format!("/agents/{}/runtime-state/reset-session", id(&a)),
                json!({}),
            )
            .await;
        assert_eq!(
            (s, reset["sessionsCleared"].as_u64()),
            (StatusCode::OK, Some(1)),
            "{reset}"
        );
        let r3 = invoke(&app, &a, &issue).await;
        assert!(
            r3["sessionIdBefore"].is_null() && r3["sessionIdAfter"] != r1["sessionIdAfter"],
            "{kind}: {r3}"
        );

        // The CLI forgets the session: the resume is refused and a fresh session takes over.
        std::fs::remove_file(state.join(r3["sessionIdAfter"].as_str().unwrap())).unwrap();
        let r4 = invoke(&app, &a, &issue).await;
        assert_eq!(r4["status"], "succeeded", "{kind}: {r4}");
        assert_eq!(r4["sessionIdBefore"], r3["sessionIdAfter"], "{kind}: {r4}");
        assert_ne!(r4["sessionIdAfter"], r3["sessionIdAfter"], "{kind}: {r4}");
        let (_, events) = app
            .get(&format!("/heartbeat-runs/{}/events", id(&r4)))
            .await;
        assert!(
            events.to_string().contains("refused to resume"),
            "{kind}: {events}"
        );

        // A wakeup asking for a fresh session gets one, whatever is stored.
        let (s, w) = app
            .post(
                &format!("/agents/{}/wakeup", id(&a)),
                json!({"payload": {"issueId": id(&issue), "forceFreshSession": true}}),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{w}");
        let r5 = app.finished_run(w["run"]["id"].as_str().unwrap()).await;
        assert!(r5["sessionIdBefore"].is_string(), "{kind}: {r5}");
        assert!(
            r5["resultJson"]["resumedSession"].is_null(),
            "{kind}: started fresh: {r5}"
        );

        // Costs: five runs, summed per agent; the runtime state adds the tokens up.
        let (_, state_now) = app.get(&format!("/agents/{}/runtime-state", id(&a))).await;
        assert_eq!(state_now["totalInputTokens"], 500, "{kind}: {state_now}");
        assert_eq!(
            state_now["totalCostCents"],
            5 * costs_cents,
            "{kind}: {state_now}"
        );
        let (_, by_agent) = app
            .get(&format!("/companies/{}/costs/by-agent", id(&c)))
            .await;
        let mine = by_agent
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["agentId"] == a["id"])
            .cloned()
            .unwrap_or(Value::Null);
        assert_eq!(
            mine["costCents"]
                .as_i64()
                .or(mine["spentCents"].as_i64())
                .or(mine["spentMonthlyCents"].as_i64()),
            Some(5 * costs_cents),
            "{kind}: {by_agent}"
        );
    }
}

/// Waits for the agent's `n`th run to end.
async fn eventually_run(app: &TestApp, c: &Value, a: &Value, n: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, runs) = app
            .get(&format!(
                "/companies/{}/heartbeat-runs?agentId={}",
                id(c),
                id(a)
            ))
            .await;
        if let Some(r) = runs.as_array().unwrap().iter().rev().nth(n - 1) {
            return app.finished_run(id(r)).await;
        }
        assert!(Instant::now() < deadline, "no run {n}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_cli_error_fails_the_run_and_bad_configs_name_the_field() {
    let app = TestApp::spawn().await;
    let c = app.company("Broken Co").await;
    let bin = tempfile::tempdir().unwrap();
    let exe = bin.path().join("claude");
    std::os::unix::fs::symlink(STANDIN, &exe).unwrap();
    let (_, a) = app
        .post(&format!("/companies/{}/agents", id(&c)), json!({"name": "Failing", "adapterType": "claude_local",
            "adapterConfig": {"command": exe, "env": {"STANDIN_STATE": bin.path().join("st"), "STANDIN_FAIL": "1"}}}))
        .await;
    let issue = app.issue(&c, json!({"title": "doomed"})).await;
    let r = invoke(&app, &a, &issue).await;
    assert_eq!(
        (r["status"].as_str(), r["errorCode"].as_str()),
        (Some("failed"), Some("adapter_failed")),
        "{r}"
    );
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("error_during_execution"),
        "{r}"
    );

    for (kind, config, field) in [
        (
            "codex_local",
            json!({"maxTurnsPerRun": 3}),
            "adapterConfig.maxTurnsPerRun",
        ),
        (
            "claude_local",
            json!({"maxTurnsPerRun": 0}),
            "adapterConfig.maxTurnsPerRun",
        ),
        (
            "claude_local",
            json!({"promptTemplate": "Hi {{agent.secret}}"}),
            "adapterConfig.promptTemplate",
        ),
        (
            "gemini_local",
            json!({"cwd": "relative/dir"}),
            "adapterConfig.cwd",
        ),
        (
            "opencode_local",
            json!({"extraArgs": "--x"}),
            "adapterConfig.extraArgs",
        ),
        (
            "codex_local",
            json!({"dangerouslyBypassApprovalsAndSandbox": "yes"}),
            "adapterConfig.dangerouslyBypassApprovalsAndSandbox",
        ),
    ] {
        let (s, err) = app
            .post(
                &format!("/companies/{}/agents", id(&c)),
                json!({"name": "Bad", "adapterType": kind, "adapterConfig": config}),
            )
            .await;
        assert_eq!(
            s,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{kind} {config}: {err}"
        );
        assert!(
            err["error"].as_str().unwrap().starts_with(field),
            "{kind} {config}: {err}"
        );
    }
    let (_, adapters) = app.get("/adapters").await;
    let kinds: Vec<&str> = adapters
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["type"].as_str().unwrap())
        .collect();
    for k in [
        "claude_local",
        "codex_local",
        "gemini_local",
        "opencode_local",
        "process",
        "http",
    ] {
        assert!(kinds.contains(&k), "{kinds:?}");
    }
}

#[tokio::test]
async fn test_environment_checks_the_cli_its_version_and_credentials() {
    let app = TestApp::spawn().await;
    let c = app.company("Env Co").await;
    let bin = tempfile::tempdir().unwrap();
    let exe = bin.path().join("codex");
    std::os::unix::fs::symlink(STANDIN, &exe).unwrap();
    let (s, ok) = app
        .post(
            &format!(
                "/companies/{}/adapters/codex_local/test-environment",
                id(&c)
            ),
            json!({"adapterConfig": {"command": exe, "env": {"OPENAI_API_KEY": "sk-test"}}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{ok}");
    assert_eq!(ok["status"], "pass", "{ok}");
    assert!(
        ok.to_string().contains("codex-cli 0.50.0"),
        "the version is read: {ok}"
    );
    let (_, missing) = app
        .post(
            &format!(
                "/companies/{}/adapters/claude_local/test-environment",
                id(&c)
            ),
            json!({"adapterConfig": {"command": "/nonexistent/claude"}}),
        )
        .await;
    assert_eq!(missing["status"], "fail", "{missing}");
    let check = missing["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == "cli_missing")
        .unwrap();
    assert!(
        check["hint"]
            .as_str()
            .unwrap()
            .contains("@anthropic-ai/claude-code"),
        "{check}"
    );
    let (s, _) = app
        .post(
            &format!("/companies/{}/adapters/nope/test-environment", id(&c)),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, skill) = app.get("/skills/paperclip").await;
    assert!(
        skill["markdown"].as_str().unwrap().contains("checkout"),
        "{skill}"
    );
    // The real CLIs, when this machine has them: only their offline `--version`.
    for (kind, cli) in [
        ("claude_local", "claude"),
        ("codex_local", "codex"),
        ("gemini_local", "gemini"),
        ("opencode_local", "opencode"),
    ] {
        let found = std::env::var("PATH")
            .unwrap_or_default()
            .split(':')
            .any(|d| std::path::Path::new(d).join(cli).is_file());
        if found {
            let (_, r) = app
                .post(
                    &format!("/companies/{}/adapters/{kind}/test-environment", id(&c)),
                    json!({}),
                )
                .await;
            assert!(
                r["checks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["code"] == "cli_installed"),
                "{kind}: {r}"
            );
        } else {
            eprintln!("{cli} is not installed here: its real-CLI check is skipped");
        }
    }
}

/// Where the real CLIs are: `PATH`, and `PAPERCLIP_TEST_REAL_CLI_DIR` (an `npm install` of
/// `@anthropic-ai/claude-code` and `@openai/codex`, say).
fn real_cli(name: &str) -> Option<std::path::PathBuf> {
    let mut dirs: Vec<String> = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(str::to_string)
        .collect();
    dirs.extend(std::env::var("PAPERCLIP_TEST_REAL_CLI_DIR").ok());
    dirs.iter()
        .map(|d| std::path::Path::new(d).join(name))
        .find(|p| p.is_file())
}

#[tokio::test]
async fn the_real_clis_accept_our_arguments_and_their_refused_resume_is_caught() {
    let app = TestApp::spawn().await;
    let c = app.company("Real Co").await;
    for (kind, cli) in [("claude_local", "claude"), ("codex_local", "codex")] {
        let Some(exe) = real_cli(cli) else {
            eprintln!("{cli} is not installed here (set PAPERCLIP_TEST_REAL_CLI_DIR): skipped");
            continue;
        };
        // No credentials and no network needed: the CLI refuses an unknown session offline,
        // which proves it parsed every flag we pass (an unknown flag is refused first).
        let home = tempfile::tempdir().unwrap();
        let (s, a) = app
            .post(&format!("/companies/{}/agents", id(&c)), json!({"name": format!("real {cli}"), "adapterType": kind,
                "adapterConfig": {"command": exe, "cwd": home.path(), "timeoutSec": 20, "graceSec": 1, "model": "test-model",
                                  "env": {"HOME": home.path(), "IS_SANDBOX": "1"}}}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
        let issue = app.issue(&c, json!({"title": format!("real {cli}")})).await;
        let mut db = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
        sqlx::query("INSERT INTO agent_task_sessions (company_id, agent_id, adapter_type, task_key, session_params_json)
                     VALUES ($1, $2, $3, $4, $5)")
            .bind(uuid::Uuid::parse_str(id(&c)).unwrap())
            .bind(uuid::Uuid::parse_str(id(&a)).unwrap())
            .bind(kind)
            .bind(id(&issue))
            .bind(json!({"sessionId": "11111111-2222-3333-4444-555555555555"}))
            .execute(&mut db)
            .await
            .unwrap();
        let r = invoke(&app, &a, &issue).await;
        let log = app.run_log(id(&r)).await;
        assert!(
            !log.contains("unknown option") && !log.contains("unexpected argument"),
            "{kind}: {log}"
        );
        let (_, events) = app.get(&format!("/heartbeat-runs/{}/events", id(&r))).await;
        assert!(
            events.to_string().contains("refused to resume"),
            "{kind}: {events}\n{log}"
        );
        assert_eq!(
            r["sessionIdBefore"], "11111111-2222-3333-4444-555555555555",
            "{r}"
        );
    }
}
