//! `company list|get` and the board's decisions (`approval list|approve|reject`) over the API, and
//! `health`.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use paperclip_api_types::approvals::{ApprovalListQuery, DecisionBody};
use serde::Deserialize;
use uuid::Uuid;

use super::table::{fields, opt, render};
use super::{print, print_list, view, Api, ClientArgs, CompanyArg};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CompanyView {
    id: Uuid,
    name: String,
    issue_prefix: String,
    status: String,
    budget_monthly_cents: i64,
    spent_monthly_cents: i64,
    description: Option<String>,
    created_at: DateTime<Utc>,
}

fn dollars(cents: i64) -> String {
    format!("${}.{:02}", cents / 100, (cents % 100).abs())
}

/// `company list`.
pub async fn company_list(api_args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(api_args)?;
    let v = api.get("/companies").await?;
    print_list::<CompanyView>(
        api_args.json,
        &v,
        &["id", "prefix", "name", "status", "spent", "budget"],
        |c| {
            vec![
                c.id.to_string(),
                c.issue_prefix.clone(),
                c.name.clone(),
                c.status.clone(),
                dollars(c.spent_monthly_cents),
                dollars(c.budget_monthly_cents),
            ]
        },
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `company get <id>`.
pub async fn company_get(api_args: &ClientArgs, id: &str) -> anyhow::Result<ExitCode> {
    let api = Api::new(api_args)?;
    let v = api.get(&format!("/companies/{id}")).await?;
    print(api_args.json, &v, |v| {
        let c: CompanyView = view(v)?;
        Ok(fields(&[
            ("id", c.id.to_string()),
            ("name", c.name),
            ("prefix", c.issue_prefix),
            ("status", c.status),
            ("description", opt(&c.description)),
            ("spent this month", dollars(c.spent_monthly_cents)),
            ("monthly budget", dollars(c.budget_monthly_cents)),
            ("created", c.created_at.to_rfc3339()),
        ]))
    })?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Subcommand)]
pub enum ApprovalCommand {
    /// Approvals of a company.
    List {
        #[command(flatten)]
        company: CompanyArg,
        /// Only approvals in this status (pending, approved, rejected, …).
        #[arg(long)]
        status: Option<String>,
    },
    /// Approve (board).
    Approve {
        id: String,
        /// A note kept with the decision.
        #[arg(long)]
        note: Option<String>,
    },
    /// Reject (board).
    Reject {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApprovalView {
    id: Uuid,
    #[serde(rename = "type")]
    kind: String,
    status: String,
    requested_by_agent_id: Option<Uuid>,
    decision_note: Option<String>,
    created_at: DateTime<Utc>,
}

pub async fn approval(api_args: &ClientArgs, cmd: ApprovalCommand) -> anyhow::Result<ExitCode> {
    let api = Api::new(api_args)?;
    let (v, one) = match cmd {
        ApprovalCommand::List { company, status } => {
            let q = ApprovalListQuery { status };
            let v = api
                .get_query(&format!("/companies/{}/approvals", company.company_id), &q)
                .await?;
            (v, false)
        }
        ApprovalCommand::Approve { id, note } => (decide(&api, &id, "approve", note).await?, true),
        ApprovalCommand::Reject { id, note } => (decide(&api, &id, "reject", note).await?, true),
    };
    print(api_args.json, &v, |v| {
        let rows: Vec<ApprovalView> = if one { vec![view(v)?] } else { view(v)? };
        Ok(render(
            &["id", "type", "status", "requested by", "note", "created"],
            &rows
                .iter()
                .map(|a| {
                    vec![
                        a.id.to_string(),
                        a.kind.clone(),
                        a.status.clone(),
                        opt(&a.requested_by_agent_id),
                        opt(&a.decision_note),
                        a.created_at.format("%Y-%m-%d %H:%M").to_string(),
                    ]
                })
                .collect::<Vec<_>>(),
        ))
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn decide(
    api: &Api,
    id: &str,
    verb: &str,
    note: Option<String>,
) -> anyhow::Result<serde_json::Value> {
    let body = DecisionBody {
        decision_note: note,
        payload: None,
    };
    api.post(&format!("/approvals/{id}/{verb}"), &body).await
}

/// `health [--url]`: exit 0 when the server and its database answer (the image's
/// `HEALTHCHECK`).
pub async fn health(api_args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(api_args)?;
    let (status, v) = api
        .send_raw(reqwest::Method::GET, "/health", None::<&()>)
        .await?;
    if api_args.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "{} ({status})",
            v.get("status")
                .and_then(|s| s.as_str())
                .unwrap_or("unknown")
        );
    }
    Ok(if status == 200 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
