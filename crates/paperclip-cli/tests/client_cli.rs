//! The CLI as an API client, through the real binary against a real server: every command of
//! `company`, `agent`, `issue`, `approval`, `project`, `goal`, `routine`, `activity`,
//! `dashboard`, `cost`, `token agent` and `health`, as tables and as `--json`, the server found through `--api-base`, `PAPERCLIP_API_URL` or the instance's own
//! config, refusals that carry the server's message, and shell completions.

mod common;

use common::*;
use serde_json::{json, Value};

/// Runs the CLI against `server` (by `PAPERCLIP_API_URL`); panics unless it succeeds.
fn cli(inst: &Instance, server: &Server, args: &[&str]) -> String {
    let out = inst
        .command(args)
        .env("PAPERCLIP_API_URL", server.url(""))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn cli_json(inst: &Instance, server: &Server, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let text = cli(inst, server, &all);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
}

fn refused(inst: &Instance, server: &Server, args: &[&str]) -> String {
    let out = inst
        .command(args)
        .env("PAPERCLIP_API_URL", server.url(""))
        .output()
        .unwrap();
    assert!(!out.status.success(), "{args:?} should fail");
    stderr(&out)
}

/// What `GET /api/agents/me` answers with `token`.
async fn me_status(server: &Server, token: &str) -> u16 {
    reqwest::Client::new()
        .get(server.url("/api/agents/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn every_client_command_against_a_real_server() {
    let inst = Instance::new();
    let server = inst.start();

    // Companies.
    let c = server
        .post("/companies", json!({"name": "Client Co"}))
        .await;
    let cid = c["id"].as_str().unwrap().to_string();
    let list = cli(&inst, &server, &["company", "list"]);
    assert!(list.starts_with("ID "), "{list}");
    assert!(list.contains("Client Co") && list.contains(&cid), "{list}");
    let got = cli_json(&inst, &server, &["company", "get", &cid]);
    assert_eq!(got["name"], "Client Co");
    assert!(cli(&inst, &server, &["company", "get", &cid]).contains("monthly budget"));

    // Agents.
    let a = server
        .post(
            &format!("/companies/{cid}/agents"),
            json!({"name": "Builder", "role": "engineer", "adapterType": "process",
               "adapterConfig": {"command": "true"},
               "runtimeConfig": {"heartbeat": {"enabled": false}}}),
        )
        .await;
    let aid = a["id"].as_str().unwrap().to_string();
    let agents = cli(&inst, &server, &["agent", "list", "--company-id", &cid]);
    assert!(
        agents.contains("Builder") && agents.contains("process"),
        "{agents}"
    );
    let agents = cli_json(&inst, &server, &["agent", "list", "--company-id", &cid]);
    assert_eq!(agents.as_array().unwrap().len(), 1);
    assert!(cli(&inst, &server, &["agent", "get", &aid]).contains("Builder"));
    let paused = cli_json(
        &inst,
        &server,
        &["agent", "pause", &aid, "--reason", "maintenance"],
    );
    assert_eq!(paused["status"], "paused");
    assert_eq!(paused["pauseReason"], "maintenance");
    let resumed = cli_json(&inst, &server, &["agent", "resume", &aid]);
    assert_ne!(resumed["status"], "paused");
    let woken = cli(
        &inst,
        &server,
        &["agent", "wake", &aid, "--reason", "cli test"],
    );
    assert!(woken.starts_with("run "), "{woken}");

    // Issues: the company from PAPERCLIP_COMPANY_ID this time.
    let created = {
        let out = inst
            .command(&[
                "issue",
                "create",
                "--title",
                "Ship the client",
                "--priority",
                "high",
                "--description",
                "Every command, tested.",
                "--json",
            ])
            .env("PAPERCLIP_API_URL", server.url("/api"))
            .env("PAPERCLIP_COMPANY_ID", &cid)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let ident = created["identifier"].as_str().unwrap().to_string();
    assert_eq!(created["priority"], "high");
    let listed = cli(&inst, &server, &["issue", "list", "--company-id", &cid]);
    assert!(
        listed.contains(&ident) && listed.contains("Ship the client"),
        "{listed}"
    );
    let none = cli(
        &inst,
        &server,
        &["issue", "list", "--company-id", &cid, "--status", "done"],
    );
    assert!(none.contains("(none)"), "{none}");
    assert!(cli(&inst, &server, &["issue", "get", &ident]).contains("Every command, tested."));
    let updated = cli_json(
        &inst,
        &server,
        &[
            "issue",
            "update",
            &ident,
            "--status",
            "todo",
            "--assignee-agent-id",
            &aid,
            "--comment",
            "assigned from the CLI",
        ],
    );
    assert_eq!(updated["status"], "todo");
    assert_eq!(updated["assigneeAgentId"], aid.as_str());
    let comment = cli(
        &inst,
        &server,
        &["issue", "comment", &ident, "--body", "second thoughts"],
    );
    assert!(comment.starts_with("comment "), "{comment}");
    let checked = cli_json(
        &inst,
        &server,
        &["issue", "checkout", &ident, "--agent-id", &aid],
    );
    assert_eq!(checked["status"], "in_progress");
    let unassigned = cli_json(
        &inst,
        &server,
        &[
            "issue",
            "update",
            &ident,
            "--status",
            "todo",
            "--assignee-agent-id",
            "none",
        ],
    );
    assert!(unassigned["assigneeAgentId"].is_null());
    let comments: Value = reqwest::get(server.url(&format!(
        "/api/issues/{}/comments",
        created["id"].as_str().unwrap()
    )))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(comments.as_array().unwrap().len(), 2);

    // Approvals.
    let ap = server
        .post(
            &format!("/companies/{cid}/approvals"),
            json!({"type": "approve_ceo_strategy", "payload": {"plan": "grow"}}),
        )
        .await;
    let apid = ap["id"].as_str().unwrap().to_string();
    let pending = cli(
        &inst,
        &server,
        &[
            "approval",
            "list",
            "--company-id",
            &cid,
            "--status",
            "pending",
        ],
    );
    assert!(pending.contains(&apid), "{pending}");
    let approved = cli_json(
        &inst,
        &server,
        &["approval", "approve", &apid, "--note", "go"],
    );
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["decisionNote"], "go");
    let again = refused(&inst, &server, &["approval", "reject", &apid]);
    assert!(again.contains("refused it (4"), "{again}");
    let ap2 = server
        .post(
            &format!("/companies/{cid}/approvals"),
            json!({"type": "approve_ceo_strategy", "payload": {"plan": "shrink"}}),
        )
        .await;
    let rejected = cli(
        &inst,
        &server,
        &["approval", "reject", ap2["id"].as_str().unwrap()],
    );
    assert!(rejected.contains("rejected"), "{rejected}");

    // Agent tokens: the token is printed once, works, lists, and stops working when revoked.
    let token = cli(
        &inst,
        &server,
        &[
            "token",
            "agent",
            "create",
            "--agent-id",
            &aid,
            "--name",
            "ci",
        ],
    );
    let token = token.trim().to_string();
    assert!(token.len() > 20, "{token}");
    assert_eq!(me_status(&server, &token).await, 200);
    let keys = cli_json(
        &inst,
        &server,
        &["token", "agent", "list", "--agent-id", &aid],
    );
    let key_id = keys[0]["id"].as_str().unwrap().to_string();
    assert!(
        !keys.to_string().contains(&token),
        "a listed key shows its token"
    );
    assert!(cli(
        &inst,
        &server,
        &["token", "agent", "list", "--agent-id", &aid]
    )
    .contains("ci"));
    cli(
        &inst,
        &server,
        &["token", "agent", "revoke", "--agent-id", &aid, &key_id],
    );
    assert_eq!(me_status(&server, &token).await, 401);

    // An agent's key as the credential: it sees its own company and not the approve route.
    let agent_token = cli(
        &inst,
        &server,
        &["token", "agent", "create", "--agent-id", &aid],
    );
    let as_agent = inst
        .command(&["issue", "list", "--company-id", &cid, "--json"])
        .env("PAPERCLIP_API_URL", server.url(""))
        .env("PAPERCLIP_API_KEY", agent_token.trim())
        .output()
        .unwrap();
    assert!(as_agent.status.success(), "{}", stderr(&as_agent));
    let board_only = inst
        .command(&["approval", "approve", &apid])
        .env("PAPERCLIP_API_URL", server.url(""))
        .env("PAPERCLIP_API_KEY", agent_token.trim())
        .output()
        .unwrap();
    assert!(!board_only.status.success());
    assert!(
        stderr(&board_only).contains("403"),
        "{}",
        stderr(&board_only)
    );

    // Health, by flag; the instance's own port when nothing names a server is covered by
    // `heartbeat_cli` (PORT=0 here, so the config has no fixed port to find).
    let health = inst
        .command(&["health", "--api-base", &server.url("")])
        .env_remove("PAPERCLIP_API_URL")
        .output()
        .unwrap();
    assert!(health.status.success(), "{}", stderr(&health));
    assert!(String::from_utf8_lossy(&health.stdout).contains("ok"));

    // Refusals name the cause.
    let e = refused(&inst, &server, &["issue", "get", "NOPE-999"]);
    assert!(e.contains("404"), "{e}");
    let e = refused(
        &inst,
        &server,
        &[
            "issue",
            "create",
            "--company-id",
            &cid,
            "--title",
            "x",
            "--priority",
            "urgent",
        ],
    );
    assert!(e.contains("422") || e.contains("400"), "{e}");
    assert!(e.contains("priority"), "{e}");
    let e = refused(
        &inst,
        &server,
        &["issue", "update", &ident, "--assignee-agent-id", "bob"],
    );
    assert!(e.contains("--assignee-agent-id"), "{e}");
    let unreachable = inst
        .command(&["company", "list"])
        .env(
            "PAPERCLIP_API_URL",
            format!("http://127.0.0.1:{}", free_port()),
        )
        .output()
        .unwrap();
    assert!(!unreachable.status.success());
    assert!(
        stderr(&unreachable).contains("cannot reach"),
        "{}",
        stderr(&unreachable)
    );
    let down = inst
        .command(&[
            "health",
            "--api-base",
            &format!("http://127.0.0.1:{}", free_port()),
        ])
        .output()
        .unwrap();
    assert!(!down.status.success());
}

#[tokio::test]
async fn projects_goals_routines_and_the_company_reports() {
    let inst = Instance::new();
    let server = inst.start();
    let c = server
        .post(
            "/companies",
            json!({"name": "Plan Co", "budgetMonthlyCents": 10000}),
        )
        .await;
    let cid = c["id"].as_str().unwrap().to_string();
    let a = server
        .post(
            &format!("/companies/{cid}/agents"),
            json!({"name": "Planner", "role": "pm", "adapterType": "process",
                   "adapterConfig": {"command": "true"},
                   "runtimeConfig": {"heartbeat": {"enabled": false}}}),
        )
        .await;
    let aid = a["id"].as_str().unwrap().to_string();

    // Goals.
    let g = cli_json(
        &inst,
        &server,
        &[
            "goal",
            "create",
            "--company-id",
            &cid,
            "--title",
            "Grow",
            "--level",
            "company",
            "--owner-agent-id",
            &aid,
        ],
    );
    let gid = g["id"].as_str().unwrap().to_string();
    assert_eq!(g["ownerAgentId"], aid.as_str());
    let goals = cli(&inst, &server, &["goal", "list", "--company-id", &cid]);
    assert!(
        goals.contains("Grow") && goals.contains("company"),
        "{goals}"
    );
    assert!(cli(&inst, &server, &["goal", "get", &gid]).contains("Grow"));

    // Projects.
    let p = cli_json(
        &inst,
        &server,
        &[
            "project",
            "create",
            "--company-id",
            &cid,
            "--name",
            "Web",
            "--goal-id",
            &gid,
            "--target-date",
            "2027-01-31",
        ],
    );
    assert_eq!(p["goalId"], gid.as_str());
    assert_eq!(p["targetDate"], "2027-01-31");
    let projects = cli(&inst, &server, &["project", "list", "--company-id", &cid]);
    assert!(
        projects.contains("Web") && projects.contains("2027-01-31"),
        "{projects}"
    );
    let one = cli(
        &inst,
        &server,
        &["project", "get", p["id"].as_str().unwrap()],
    );
    assert!(one.contains(&gid), "{one}");
    let e = refused(
        &inst,
        &server,
        &[
            "project",
            "create",
            "--company-id",
            &cid,
            "--name",
            "X",
            "--target-date",
            "soon",
        ],
    );
    assert!(e.contains("--target-date"), "{e}");

    // Routines: listed with the next scheduled time, fired by hand, idempotent by key.
    let r = server
        .post(
            &format!("/companies/{cid}/routines"),
            json!({"title": "Weekly review", "assigneeAgentId": aid,
                   "concurrencyPolicy": "always_enqueue"}),
        )
        .await;
    let rid = r["id"].as_str().unwrap().to_string();
    server
        .post(
            &format!("/routines/{rid}/triggers"),
            json!({"kind": "schedule", "cronExpression": "0 9 * * 1", "timezone": "Europe/Paris"}),
        )
        .await;
    let routines = cli(&inst, &server, &["routine", "list", "--company-id", &cid]);
    assert!(
        routines.contains("Weekly review") && routines.contains("UTC"),
        "{routines}"
    );
    assert!(cli(&inst, &server, &["routine", "get", &rid]).contains("schedule"));
    let fired = cli(&inst, &server, &["routine", "run", &rid]);
    assert!(
        fired.starts_with("run ") && fired.contains("issue "),
        "{fired}"
    );
    let first = cli_json(
        &inst,
        &server,
        &["routine", "run", &rid, "--idempotency-key", "cli-1"],
    );
    let again = cli_json(
        &inst,
        &server,
        &["routine", "run", &rid, "--idempotency-key", "cli-1"],
    );
    assert_eq!(first["id"], again["id"]);

    // What happened, where the company stands, what it spent.
    server
        .post(
            &format!("/companies/{cid}/cost-events"),
            json!({"agentId": aid, "provider": "anthropic", "model": "claude",
                   "inputTokens": 1200, "cachedInputTokens": 0, "outputTokens": 300,
                   "costCents": 250}),
        )
        .await;
    let created = cli_json(
        &inst,
        &server,
        &[
            "activity",
            "list",
            "--company-id",
            &cid,
            "--action",
            "issue.created",
        ],
    );
    assert_eq!(created.as_array().unwrap().len(), 2, "{created}");
    let log = cli(
        &inst,
        &server,
        &["activity", "list", "--company-id", &cid, "--limit", "5"],
    );
    assert_eq!(log.lines().count(), 6, "a header and five entries: {log}");
    let board = cli(&inst, &server, &["dashboard", "get", "--company-id", &cid]);
    assert!(
        board.contains("issues")
            && board.contains("$2.50 of $100.00")
            && board.contains("recent activity"),
        "{board}"
    );
    let costs = cli_json(&inst, &server, &["cost", "summary", "--company-id", &cid]);
    assert_eq!(costs["spendCents"], 250);
    assert!(cli(&inst, &server, &["cost", "summary", "--company-id", &cid]).contains("$2.50"));
    server.stop();
}

#[test]
fn completions_are_generated_for_each_shell() {
    let inst = Instance::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = inst.output(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("paperclipai"), "{shell}");
        assert!(
            text.contains("checkout"),
            "{shell}: the issue commands are completed"
        );
    }
    let bad = inst.output(&["completions", "tcsh"]);
    assert!(!bad.status.success());
}
