//! The CLI as an API client, through the real binary against a real server: every command of
//! `company`, `agent`, `issue`, `approval`, `project`, `goal`, `routine`, `activity`,
//! `dashboard`, `cost`, `token agent` and `health`, as tables and as `--json`; the server found
//! through `--api-base` or `PAPERCLIP_API_URL` (with or without `/api`); refusals that carry the
//! server's message; shell completions.

mod common;

use common::*;
use serde_json::{json, Value};

/// `--json` output, parsed.
fn json_of(inst: &Instance, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let text = inst.ok(&all);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
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
    let inst = inst.with("PAPERCLIP_API_URL", &server.url(""));

    // Companies.
    let c = server
        .post("/companies", json!({"name": "Client Co"}))
        .await;
    let cid = c["id"].as_str().unwrap().to_string();
    let list = inst.ok(&["company", "list"]);
    assert!(list.starts_with("ID "), "{list}");
    assert!(list.contains("Client Co") && list.contains(&cid), "{list}");
    let got = json_of(&inst, &["company", "get", &cid]);
    assert_eq!(got["name"], "Client Co");
    assert!(inst
        .ok(&["company", "get", &cid])
        .contains("monthly budget"));

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
    let agents = inst.ok(&["agent", "list", "--company-id", &cid]);
    assert!(
        agents.contains("Builder") && agents.contains("process"),
        "{agents}"
    );
    let agents = json_of(&inst, &["agent", "list", "--company-id", &cid]);
    assert_eq!(agents.as_array().unwrap().len(), 1);
    assert!(inst.ok(&["agent", "get", &aid]).contains("Builder"));
    let paused = json_of(&inst, &["agent", "pause", &aid, "--reason", "maintenance"]);
    assert_eq!(paused["status"], "paused");
    assert_eq!(paused["pauseReason"], "maintenance");
    let resumed = json_of(&inst, &["agent", "resume", &aid]);
    assert_ne!(resumed["status"], "paused");
    let woken = inst.ok(&["agent", "wake", &aid, "--reason", "cli test"]);
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
    let listed = inst.ok(&["issue", "list", "--company-id", &cid]);
    assert!(
        listed.contains(&ident) && listed.contains("Ship the client"),
        "{listed}"
    );
    let none = inst.ok(&["issue", "list", "--company-id", &cid, "--status", "done"]);
    assert!(none.contains("(none)"), "{none}");
    assert!(inst
        .ok(&["issue", "get", &ident])
        .contains("Every command, tested."));
    let updated = json_of(
        &inst,
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
    let comment = inst.ok(&["issue", "comment", &ident, "--body", "second thoughts"]);
    assert!(comment.starts_with("comment "), "{comment}");
    let checked = json_of(&inst, &["issue", "checkout", &ident, "--agent-id", &aid]);
    assert_eq!(checked["status"], "in_progress");
    let unassigned = json_of(
        &inst,
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
    let pending = inst.ok(&[
        "approval",
        "list",
        "--company-id",
        &cid,
        "--status",
        "pending",
    ]);
    assert!(pending.contains(&apid), "{pending}");
    let approved = json_of(&inst, &["approval", "approve", &apid, "--note", "go"]);
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["decisionNote"], "go");
    let again = inst.refused(&["approval", "reject", &apid]);
    assert!(again.contains("refused it (4"), "{again}");
    let ap2 = server
        .post(
            &format!("/companies/{cid}/approvals"),
            json!({"type": "approve_ceo_strategy", "payload": {"plan": "shrink"}}),
        )
        .await;
    let rejected = inst.ok(&["approval", "reject", ap2["id"].as_str().unwrap()]);
    assert!(rejected.contains("rejected"), "{rejected}");

    // Agent tokens: the token is printed once, works, lists, and stops working when revoked.
    let token = inst.ok(&[
        "token",
        "agent",
        "create",
        "--agent-id",
        &aid,
        "--name",
        "ci",
    ]);
    let token = token.trim().to_string();
    assert!(token.len() > 20, "{token}");
    assert_eq!(me_status(&server, &token).await, 200);
    let keys = json_of(&inst, &["token", "agent", "list", "--agent-id", &aid]);
    let key_id = keys[0]["id"].as_str().unwrap().to_string();
    assert!(
        !keys.to_string().contains(&token),
        "a listed key shows its token"
    );
    assert!(inst
        .ok(&["token", "agent", "list", "--agent-id", &aid])
        .contains("ci"));
    inst.ok(&["token", "agent", "revoke", "--agent-id", &aid, &key_id]);
    assert_eq!(me_status(&server, &token).await, 401);

    // An agent's key as the credential: it sees its own company and not the approve route.
    let agent_token = inst.ok(&["token", "agent", "create", "--agent-id", &aid]);
    let as_agent = inst
        .command(&["issue", "list", "--company-id", &cid, "--json"])
        .env("PAPERCLIP_API_KEY", agent_token.trim())
        .output()
        .unwrap();
    assert!(as_agent.status.success(), "{}", stderr(&as_agent));
    let board_only = inst
        .command(&["approval", "approve", &apid])
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
    let e = inst.refused(&["issue", "get", "NOPE-999"]);
    assert!(e.contains("404"), "{e}");
    let e = inst.refused(&[
        "issue",
        "create",
        "--company-id",
        &cid,
        "--title",
        "x",
        "--priority",
        "urgent",
    ]);
    assert!(e.contains("422") || e.contains("400"), "{e}");
    assert!(e.contains("priority"), "{e}");
    let e = inst.refused(&["issue", "update", &ident, "--assignee-agent-id", "bob"]);
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
    let inst = inst.with("PAPERCLIP_API_URL", &server.url(""));
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
    let g = json_of(
        &inst,
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
    let goals = inst.ok(&["goal", "list", "--company-id", &cid]);
    assert!(
        goals.contains("Grow") && goals.contains("company"),
        "{goals}"
    );
    assert!(inst.ok(&["goal", "get", &gid]).contains("Grow"));

    // Projects.
    let p = json_of(
        &inst,
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
    let projects = inst.ok(&["project", "list", "--company-id", &cid]);
    assert!(
        projects.contains("Web") && projects.contains("2027-01-31"),
        "{projects}"
    );
    let one = inst.ok(&["project", "get", p["id"].as_str().unwrap()]);
    assert!(one.contains(&gid), "{one}");
    let e = inst.refused(&[
        "project",
        "create",
        "--company-id",
        &cid,
        "--name",
        "X",
        "--target-date",
        "soon",
    ]);
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
    let routines = inst.ok(&["routine", "list", "--company-id", &cid]);
    assert!(
        routines.contains("Weekly review") && routines.contains("UTC"),
        "{routines}"
    );
    assert!(inst.ok(&["routine", "get", &rid]).contains("schedule"));
    let fired = inst.ok(&["routine", "run", &rid]);
    assert!(
        fired.starts_with("run ") && fired.contains("issue "),
        "{fired}"
    );
    let first = json_of(
        &inst,
        &["routine", "run", &rid, "--idempotency-key", "cli-1"],
    );
    let again = json_of(
        &inst,
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
    let created = json_of(
        &inst,
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
    let log = inst.ok(&["activity", "list", "--company-id", &cid, "--limit", "5"]);
    assert_eq!(log.lines().count(), 6, "a header and five entries: {log}");
    let board = inst.ok(&["dashboard", "get", "--company-id", &cid]);
    assert!(
        board.contains("issues")
            && board.contains("$2.50 of $100.00")
            && board.contains("recent activity"),
        "{board}"
    );
    let costs = json_of(&inst, &["cost", "summary", "--company-id", &cid]);
    assert_eq!(costs["spendCents"], 250);
    assert!(inst
        .ok(&["cost", "summary", "--company-id", &cid])
        .contains("$2.50"));
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
