//! `agent list|get|wake|pause|resume` and `token agent create|list|revoke` over the API.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use paperclip_api_types::agents::{CreateKey, Reason, Wake};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::table::{fields, opt, render};
use super::{print, print_list, view, Api, ClientArgs, CompanyArg};

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Agents of a company.
    List {
        #[command(flatten)]
        company: CompanyArg,
    },
    /// One agent.
    Get { id: String },
    /// Queue a wakeup (a heartbeat); prints the run that answers it.
    Wake {
        id: String,
        /// Why (shown in the run).
        #[arg(long)]
        reason: Option<String>,
        /// A key that makes a repeated call answer the first wakeup.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Pause (board): no new runs until resumed.
    Pause {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Resume a paused agent (board).
    Resume { id: String },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AgentView {
    id: Uuid,
    name: String,
    role: String,
    title: Option<String>,
    status: String,
    adapter_type: String,
    reports_to: Option<Uuid>,
    pause_reason: Option<String>,
    last_heartbeat_at: Option<DateTime<Utc>>,
    spent_monthly_cents: i64,
    budget_monthly_cents: i64,
}

fn row(a: &AgentView) -> Vec<String> {
    vec![
        a.id.to_string(),
        a.name.clone(),
        a.role.clone(),
        a.status.clone(),
        a.adapter_type.clone(),
        a.last_heartbeat_at
            .map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d %H:%M").to_string()),
    ]
}

const HEADER: &[&str] = &["id", "name", "role", "status", "adapter", "last heartbeat"];

pub async fn agent(api_args: &ClientArgs, cmd: AgentCommand) -> anyhow::Result<ExitCode> {
    let api = Api::new(api_args)?;
    match cmd {
        AgentCommand::List { company } => {
            let v = api
                .get(&format!("/companies/{}/agents", company.company_id))
                .await?;
            print_list::<AgentView>(api_args.json, &v, HEADER, row)?;
        }
        AgentCommand::Get { id } => {
            let v = api.get(&format!("/agents/{id}")).await?;
            print(api_args.json, &v, |v| Ok(details(&view(v)?)))?;
        }
        AgentCommand::Wake {
            id,
            reason,
            idempotency_key,
        } => {
            let body = Wake {
                source: Some("on_demand".into()),
                trigger_detail: Some("manual".into()),
                reason,
                payload: None,
                idempotency_key,
                force_fresh_session: None,
            };
            let v = api.post(&format!("/agents/{id}/wakeup"), &body).await?;
            print(api_args.json, &v, |v| {
                #[derive(Deserialize)]
                struct Woken {
                    run: Option<RunView>,
                }
                #[derive(Deserialize)]
                struct RunView {
                    id: Uuid,
                    status: String,
                }
                let w: Woken = view(v)?;
                Ok(match w.run {
                    Some(r) => format!("run {} ({})\n", r.id, r.status),
                    None => "queued\n".into(),
                })
            })?;
        }
        AgentCommand::Pause { id, reason } => {
            let v = api
                .post(&format!("/agents/{id}/pause"), &Reason { reason })
                .await?;
            print(api_args.json, &v, |v| Ok(details(&view(v)?)))?;
        }
        AgentCommand::Resume { id } => {
            let v = api
                .post(&format!("/agents/{id}/resume"), &Reason::default())
                .await?;
            print(api_args.json, &v, |v| Ok(details(&view(v)?)))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn details(a: &AgentView) -> String {
    fields(&[
        ("id", a.id.to_string()),
        ("name", a.name.clone()),
        ("role", a.role.clone()),
        ("title", opt(&a.title)),
        ("status", a.status.clone()),
        ("pause reason", opt(&a.pause_reason)),
        ("adapter", a.adapter_type.clone()),
        ("reports to", opt(&a.reports_to)),
        (
            "last heartbeat",
            opt(&a.last_heartbeat_at.map(|t| t.to_rfc3339())),
        ),
        (
            "spent / budget",
            format!(
                "{} / {} cents",
                a.spent_monthly_cents, a.budget_monthly_cents
            ),
        ),
    ])
}

#[derive(Debug, Subcommand)]
pub enum AgentTokenCommand {
    /// Create an API key for the agent; the token is printed once.
    Create {
        #[arg(long)]
        agent_id: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// The agent's keys (never their tokens).
    List {
        #[arg(long)]
        agent_id: String,
    },
    /// Revoke one of the agent's keys.
    Revoke {
        #[arg(long)]
        agent_id: String,
        key_id: String,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyView {
    id: Uuid,
    name: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

pub async fn token(api_args: &ClientArgs, cmd: AgentTokenCommand) -> anyhow::Result<ExitCode> {
    let api = Api::new(api_args)?;
    match cmd {
        AgentTokenCommand::Create { agent_id, name } => {
            let v = api
                .post(
                    &format!("/agents/{agent_id}/keys"),
                    &CreateKey { name: Some(name) },
                )
                .await?;
            print(api_args.json, &v, |v| {
                let token = v
                    .get("key")
                    .and_then(Value::as_str)
                    .ok_or_else(|| anyhow::anyhow!("the server's answer has no token"))?;
                crate::ui::info(&format!(
                    "Created key {}; the token below is shown once.",
                    v.get("id").and_then(Value::as_str).unwrap_or("?")
                ));
                Ok(format!("{token}\n"))
            })?;
        }
        AgentTokenCommand::List { agent_id } => {
            let v = api.get(&format!("/agents/{agent_id}/keys")).await?;
            print(api_args.json, &v, |v| {
                let keys: Vec<KeyView> = view(v)?;
                let when = |t: &Option<DateTime<Utc>>| {
                    t.map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d %H:%M").to_string())
                };
                Ok(render(
                    &["id", "name", "created", "last used", "revoked"],
                    &keys
                        .iter()
                        .map(|k| {
                            vec![
                                k.id.to_string(),
                                k.name.clone(),
                                k.created_at.format("%Y-%m-%d %H:%M").to_string(),
                                when(&k.last_used_at),
                                when(&k.revoked_at),
                            ]
                        })
                        .collect::<Vec<_>>(),
                ))
            })?;
        }
        AgentTokenCommand::Revoke { agent_id, key_id } => {
            let v = api
                .send(
                    reqwest::Method::DELETE,
                    &format!("/agents/{agent_id}/keys/{key_id}"),
                    None::<&()>,
                )
                .await?;
            print(api_args.json, &v, |_| Ok(format!("revoked {key_id}\n")))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
