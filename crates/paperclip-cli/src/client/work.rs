//! `project list|get|create`, `goal list|get|create` and `routine list|get|run` over the API.

use std::process::ExitCode;

use chrono::{DateTime, NaiveDate, Utc};
use clap::Subcommand;
use paperclip_api_types::goals::GoalBody;
use paperclip_api_types::projects::ProjectBody;
use paperclip_api_types::routines::RunRoutine;
use serde::Deserialize;
use uuid::Uuid;

use super::table::{fields, opt};
use super::{print, print_list, view, Api, ClientArgs, CompanyArg};

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Projects of a company.
    List {
        #[command(flatten)]
        company: CompanyArg,
    },
    /// One project.
    Get { id: String },
    /// Create a project.
    Create {
        #[command(flatten)]
        company: CompanyArg,
        #[arg(long)]
        name: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        goal_id: Option<Uuid>,
        #[arg(long)]
        lead_agent_id: Option<Uuid>,
        /// YYYY-MM-DD.
        #[arg(long)]
        target_date: Option<NaiveDate>,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProjectView {
    id: Uuid,
    name: String,
    status: String,
    description: Option<String>,
    goal_id: Option<Uuid>,
    lead_agent_id: Option<Uuid>,
    target_date: Option<NaiveDate>,
}

fn project_details(p: &ProjectView) -> String {
    fields(&[
        ("id", p.id.to_string()),
        ("name", p.name.clone()),
        ("status", p.status.clone()),
        ("goal", opt(&p.goal_id)),
        ("lead", opt(&p.lead_agent_id)),
        ("target date", opt(&p.target_date)),
        ("description", opt(&p.description)),
    ])
}

pub async fn project(api_args: &ClientArgs, cmd: ProjectCommand) -> anyhow::Result<ExitCode> {
    let api = Api::new(api_args)?;
    let v = match cmd {
        ProjectCommand::List { company } => {
            let v = api
                .get(&format!("/companies/{}/projects", company.company_id))
                .await?;
            return print_list::<ProjectView>(
                api_args.json,
                &v,
                &["id", "name", "status", "target date"],
                |p| {
                    vec![
                        p.id.to_string(),
                        p.name.clone(),
                        p.status.clone(),
                        opt(&p.target_date),
                    ]
                },
            )
            .map(|()| ExitCode::SUCCESS);
        }
        ProjectCommand::Get { id } => api.get(&format!("/projects/{id}")).await?,
        ProjectCommand::Create {
            company,
            name,
            description,
            goal_id,
            lead_agent_id,
            target_date,
        } => {
            let body = ProjectBody {
                name: Some(name),
                description: description.map(Some),
                goal_id: goal_id.map(Some),
                status: None,
                lead_agent_id: lead_agent_id.map(Some),
                target_date: target_date.map(Some),
                env: None,
            };
            api.post(
                &format!("/companies/{}/projects", company.company_id),
                &body,
            )
            .await?
        }
    };
    print(api_args.json, &v, |v| Ok(project_details(&view(v)?)))?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Subcommand)]
pub enum GoalCommand {
    /// Goals of a company.
    List {
        #[command(flatten)]
        company: CompanyArg,
    },
    /// One goal.
    Get { id: String },
    /// Create a goal.
    Create {
        #[command(flatten)]
        company: CompanyArg,
        #[arg(long)]
        title: String,
        #[arg(long)]
        description: Option<String>,
        /// company, team, agent or task.
        #[arg(long)]
        level: Option<String>,
        #[arg(long)]
        parent_id: Option<Uuid>,
        #[arg(long)]
        owner_agent_id: Option<Uuid>,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GoalView {
    id: Uuid,
    title: String,
    level: String,
    status: String,
    parent_id: Option<Uuid>,
    owner_agent_id: Option<Uuid>,
    description: Option<String>,
}

pub async fn goal(api_args: &ClientArgs, cmd: GoalCommand) -> anyhow::Result<ExitCode> {
    let api = Api::new(api_args)?;
    let v = match cmd {
        GoalCommand::List { company } => {
            let v = api
                .get(&format!("/companies/{}/goals", company.company_id))
                .await?;
            return print_list::<GoalView>(
                api_args.json,
                &v,
                &["id", "level", "status", "parent", "title"],
                |g| {
                    vec![
                        g.id.to_string(),
                        g.level.clone(),
                        g.status.clone(),
                        opt(&g.parent_id),
                        g.title.clone(),
                    ]
                },
            )
            .map(|()| ExitCode::SUCCESS);
        }
        GoalCommand::Get { id } => api.get(&format!("/goals/{id}")).await?,
        GoalCommand::Create {
            company,
            title,
            description,
            level,
            parent_id,
            owner_agent_id,
        } => {
            let body = GoalBody {
                title: Some(title),
                description: description.map(Some),
                level,
                parent_id: parent_id.map(Some),
                owner_agent_id: owner_agent_id.map(Some),
                status: None,
            };
            api.post(&format!("/companies/{}/goals", company.company_id), &body)
                .await?
        }
    };
    print(api_args.json, &v, |v| {
        let g: GoalView = view(v)?;
        Ok(fields(&[
            ("id", g.id.to_string()),
            ("title", g.title),
            ("level", g.level),
            ("status", g.status),
            ("parent", opt(&g.parent_id)),
            ("owner", opt(&g.owner_agent_id)),
            ("description", opt(&g.description)),
        ]))
    })?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Subcommand)]
pub enum RoutineCommand {
    /// Routines of a company.
    List {
        #[command(flatten)]
        company: CompanyArg,
    },
    /// One routine with its triggers.
    Get { id: String },
    /// Fire a routine now: its issue is created and its assignee woken.
    Run {
        id: String,
        /// A key that makes a repeated call answer the first run.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoutineView {
    id: Uuid,
    title: String,
    status: String,
    assignee_agent_id: Option<Uuid>,
    concurrency_policy: String,
    last_triggered_at: Option<DateTime<Utc>>,
    #[serde(default)]
    triggers: Vec<TriggerView>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TriggerView {
    kind: String,
    next_run_at: Option<DateTime<Utc>>,
}

fn next_run(r: &RoutineView) -> Option<DateTime<Utc>> {
    r.triggers.iter().filter_map(|t| t.next_run_at).min()
}

pub async fn routine(api_args: &ClientArgs, cmd: RoutineCommand) -> anyhow::Result<ExitCode> {
    let api = Api::new(api_args)?;
    match cmd {
        RoutineCommand::List { company } => {
            let v = api
                .get(&format!("/companies/{}/routines", company.company_id))
                .await?;
            print_list::<RoutineView>(
                api_args.json,
                &v,
                &["id", "status", "next run", "title"],
                |r| {
                    vec![
                        r.id.to_string(),
                        r.status.clone(),
                        opt(&next_run(r).map(|t| t.format("%Y-%m-%d %H:%M UTC"))),
                        r.title.clone(),
                    ]
                },
            )?;
        }
        RoutineCommand::Get { id } => {
            let v = api.get(&format!("/routines/{id}")).await?;
            print(api_args.json, &v, |v| {
                let r: RoutineView = view(v)?;
                let kinds: Vec<&str> = r.triggers.iter().map(|t| t.kind.as_str()).collect();
                Ok(fields(&[
                    ("id", r.id.to_string()),
                    ("title", r.title.clone()),
                    ("status", r.status.clone()),
                    ("assignee", opt(&r.assignee_agent_id)),
                    ("concurrency", r.concurrency_policy.clone()),
                    ("triggers", kinds.join(", ")),
                    ("next run", opt(&next_run(&r).map(|t| t.to_rfc3339()))),
                    (
                        "last fired",
                        opt(&r.last_triggered_at.map(|t| t.to_rfc3339())),
                    ),
                ]))
            })?;
        }
        RoutineCommand::Run {
            id,
            idempotency_key,
        } => {
            let body = RunRoutine {
                idempotency_key,
                ..RunRoutine::default()
            };
            let v = api.post(&format!("/routines/{id}/run"), &body).await?;
            print(api_args.json, &v, |v| {
                #[derive(Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct RunView {
                    id: Uuid,
                    status: String,
                    linked_issue_id: Option<Uuid>,
                    failure_reason: Option<String>,
                }
                let r: RunView = view(v)?;
                Ok(format!(
                    "run {} {}{}{}\n",
                    r.id,
                    r.status,
                    r.linked_issue_id
                        .map(|i| format!(", issue {i}"))
                        .unwrap_or_default(),
                    r.failure_reason
                        .map(|f| format!(": {f}"))
                        .unwrap_or_default()
                ))
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
