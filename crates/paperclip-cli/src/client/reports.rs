//! `activity list`, `dashboard get` and `cost summary` over the API: what a company did, where
//! it stands, and what it spent.

use std::collections::BTreeMap;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use paperclip_api_types::companies::ActivityQuery;
use serde::Deserialize;
use uuid::Uuid;

use super::table::{fields, render};
use super::{print, view, Api, ClientArgs, CompanyArg};

#[derive(Debug, Subcommand)]
pub enum ActivityCommand {
    /// The company's activity log, newest first.
    List {
        #[command(flatten)]
        company: CompanyArg,
        /// Only what this agent did.
        #[arg(long)]
        agent_id: Option<Uuid>,
        /// Only entries about this kind of object (issue, agent, approval…).
        #[arg(long)]
        entity_type: Option<String>,
        /// Only this action (issue.created…).
        #[arg(long)]
        action: Option<String>,
        #[arg(long)]
        limit: Option<i64>,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntryView {
    action: String,
    actor_type: String,
    actor_id: String,
    entity_type: String,
    entity_id: String,
    created_at: DateTime<Utc>,
}

fn entries(rows: &[EntryView]) -> String {
    render(
        &["when", "actor", "action", "entity"],
        &rows
            .iter()
            .map(|e| {
                vec![
                    e.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    format!("{}:{}", e.actor_type, e.actor_id),
                    e.action.clone(),
                    format!("{}:{}", e.entity_type, e.entity_id),
                ]
            })
            .collect::<Vec<_>>(),
    )
}

pub async fn activity(api_args: &ClientArgs, cmd: ActivityCommand) -> anyhow::Result<ExitCode> {
    let ActivityCommand::List {
        company,
        agent_id,
        entity_type,
        action,
        limit,
    } = cmd;
    let api = Api::new(api_args)?;
    let query = ActivityQuery {
        agent_id,
        entity_type,
        entity_id: None,
        action,
        limit,
        offset: None,
    };
    let v = api
        .get_query(
            &format!("/companies/{}/activity", company.company_id),
            &query,
        )
        .await?;
    print(api_args.json, &v, |v| {
        Ok(entries(&view::<Vec<EntryView>>(v)?))
    })?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Subcommand)]
pub enum DashboardCommand {
    /// Agents and issues by status, month-to-date spend, pending approvals, recent activity.
    Get {
        #[command(flatten)]
        company: CompanyArg,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DashboardView {
    agents: BTreeMap<String, i64>,
    tasks: BTreeMap<String, i64>,
    costs: CostsView,
    pending_approvals: i64,
    recent_activity: Vec<EntryView>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CostsView {
    month_spend_cents: i64,
    month_budget_cents: i64,
    month_utilization_percent: f64,
}

fn counts(m: &BTreeMap<String, i64>) -> String {
    let parts: Vec<String> = m
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

fn cents(c: i64) -> String {
    format!("${}.{:02}", c / 100, (c % 100).abs())
}

pub async fn dashboard(api_args: &ClientArgs, cmd: DashboardCommand) -> anyhow::Result<ExitCode> {
    let DashboardCommand::Get { company } = cmd;
    let api = Api::new(api_args)?;
    let v = api
        .get(&format!("/companies/{}/dashboard", company.company_id))
        .await?;
    print(api_args.json, &v, |v| {
        let d: DashboardView = view(v)?;
        let mut out = fields(&[
            ("agents", counts(&d.agents)),
            ("issues", counts(&d.tasks)),
            (
                "spend this month",
                format!(
                    "{} of {} ({:.1} %)",
                    cents(d.costs.month_spend_cents),
                    cents(d.costs.month_budget_cents),
                    d.costs.month_utilization_percent
                ),
            ),
            ("pending approvals", d.pending_approvals.to_string()),
        ]);
        out.push_str("\nrecent activity:\n");
        out.push_str(&entries(&d.recent_activity));
        Ok(out)
    })?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Subcommand)]
pub enum CostCommand {
    /// Month-to-date spend against the budget.
    Summary {
        #[command(flatten)]
        company: CompanyArg,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SummaryView {
    spend_cents: i64,
    budget_cents: i64,
    utilization_percent: f64,
    input_tokens: i64,
    output_tokens: i64,
    event_count: i64,
}

pub async fn cost(api_args: &ClientArgs, cmd: CostCommand) -> anyhow::Result<ExitCode> {
    let CostCommand::Summary { company } = cmd;
    let api = Api::new(api_args)?;
    let v = api
        .get(&format!("/companies/{}/costs/summary", company.company_id))
        .await?;
    print(api_args.json, &v, |v| {
        let s: SummaryView = view(v)?;
        Ok(fields(&[
            ("spend", cents(s.spend_cents)),
            ("budget", cents(s.budget_cents)),
            ("utilization", format!("{:.1} %", s.utilization_percent)),
            ("input tokens", s.input_tokens.to_string()),
            ("output tokens", s.output_tokens.to_string()),
            ("cost events", s.event_count.to_string()),
        ]))
    })?;
    Ok(ExitCode::SUCCESS)
}
