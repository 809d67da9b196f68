//! `issue list|get|create|update|comment|checkout` over the API.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use paperclip_api_types::issues::{
    Checkout, CreateComment, CreateIssue, IssueListQuery, PatchIssue,
};
use serde::Deserialize;
use uuid::Uuid;

use super::table::{fields, opt};
use super::{print, print_list, view, Api, ClientArgs, CompanyArg};

#[derive(Debug, Subcommand)]
pub enum IssueCommand {
    /// Issues of a company, newest first.
    List {
        #[command(flatten)]
        company: CompanyArg,
        /// Comma-separated statuses (todo,in_progress).
        #[arg(long)]
        status: Option<String>,
        /// Only this agent's issues.
        #[arg(long)]
        assignee_agent_id: Option<String>,
        #[arg(long)]
        project_id: Option<Uuid>,
        /// Text search in identifier, title and description.
        #[arg(long)]
        q: Option<String>,
        #[arg(long)]
        limit: Option<i64>,
    },
    /// One issue (by id or identifier such as ACME-12).
    Get { id: String },
    /// Create an issue.
    Create {
        #[command(flatten)]
        company: CompanyArg,
        #[arg(long)]
        title: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        priority: Option<String>,
        #[arg(long)]
        assignee_agent_id: Option<Uuid>,
        #[arg(long)]
        project_id: Option<Uuid>,
        #[arg(long)]
        goal_id: Option<Uuid>,
        #[arg(long)]
        parent_id: Option<Uuid>,
    },
    /// Change an issue's fields (and optionally comment in the same change).
    Update {
        id: String,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        priority: Option<String>,
        /// An agent's id, or `none` to unassign.
        #[arg(long)]
        assignee_agent_id: Option<String>,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Add a comment.
    Comment {
        id: String,
        #[arg(long)]
        body: String,
    },
    /// Check the issue out for an agent (atomic: one agent at a time).
    Checkout {
        id: String,
        #[arg(long)]
        agent_id: Uuid,
        /// Statuses the issue may be in (default: the server's).
        #[arg(long, value_delimiter = ',')]
        expected_statuses: Option<Vec<String>>,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IssueView {
    id: Uuid,
    identifier: String,
    title: String,
    status: String,
    priority: String,
    assignee_agent_id: Option<Uuid>,
    project_id: Option<Uuid>,
    description: Option<String>,
    updated_at: DateTime<Utc>,
}

fn details(i: &IssueView) -> String {
    fields(&[
        ("identifier", i.identifier.clone()),
        ("id", i.id.to_string()),
        ("title", i.title.clone()),
        ("status", i.status.clone()),
        ("priority", i.priority.clone()),
        ("assignee", opt(&i.assignee_agent_id)),
        ("project", opt(&i.project_id)),
        ("updated", i.updated_at.to_rfc3339()),
        ("description", opt(&i.description)),
    ])
}

pub async fn issue(api_args: &ClientArgs, cmd: IssueCommand) -> anyhow::Result<ExitCode> {
    let api = Api::new(api_args)?;
    let one = |v: &serde_json::Value| Ok(details(&view(v)?));
    match cmd {
        IssueCommand::List {
            company,
            status,
            assignee_agent_id,
            project_id,
            q,
            limit,
        } => {
            let query = IssueListQuery {
                status,
                assignee_agent_id,
                assignee_user_id: None,
                project_id,
                parent_id: None,
                label_id: None,
                q,
                view: None,
                limit,
                offset: None,
            };
            let v = api
                .get_query(&format!("/companies/{}/issues", company.company_id), &query)
                .await?;
            print_list::<IssueView>(
                api_args.json,
                &v,
                &["identifier", "status", "priority", "assignee", "title"],
                |i| {
                    vec![
                        i.identifier.clone(),
                        i.status.clone(),
                        i.priority.clone(),
                        opt(&i.assignee_agent_id),
                        i.title.clone(),
                    ]
                },
            )?;
        }
        IssueCommand::Get { id } => {
            let v = api.get(&format!("/issues/{id}")).await?;
            print(api_args.json, &v, one)?;
        }
        IssueCommand::Create {
            company,
            title,
            description,
            status,
            priority,
            assignee_agent_id,
            project_id,
            goal_id,
            parent_id,
        } => {
            let body = CreateIssue {
                title: Some(title),
                description,
                status,
                priority,
                assignee_agent_id,
                assignee_user_id: None,
                parent_id,
                project_id,
                goal_id,
                billing_code: None,
                blocked_by_issue_ids: None,
                label_ids: None,
            };
            let v = api
                .post(&format!("/companies/{}/issues", company.company_id), &body)
                .await?;
            print(api_args.json, &v, one)?;
        }
        IssueCommand::Update {
            id,
            title,
            description,
            status,
            priority,
            assignee_agent_id,
            comment,
        } => {
            let assignee = match assignee_agent_id.as_deref() {
                None => None,
                Some("none") => Some(None),
                Some(a) => Some(Some(a.parse::<Uuid>().map_err(|_| {
                    anyhow::anyhow!("--assignee-agent-id must be an agent's UUID or `none`")
                })?)),
            };
            let body = PatchIssue {
                title,
                description: description.map(Some),
                status,
                priority,
                assignee_agent_id: assignee,
                assignee_user_id: None,
                parent_id: None,
                project_id: None,
                goal_id: None,
                billing_code: None,
                blocked_by_issue_ids: None,
                label_ids: None,
                comment,
            };
            let v = api
                .send(
                    reqwest::Method::PATCH,
                    &format!("/issues/{id}"),
                    Some(&body),
                )
                .await?;
            print(api_args.json, &v, one)?;
        }
        IssueCommand::Comment { id, body } => {
            let v = api
                .post(
                    &format!("/issues/{id}/comments"),
                    &CreateComment { body: Some(body) },
                )
                .await?;
            print(api_args.json, &v, |v| {
                #[derive(Deserialize)]
                struct CommentView {
                    id: Uuid,
                }
                let c: CommentView = view(v)?;
                Ok(format!("comment {}\n", c.id))
            })?;
        }
        IssueCommand::Checkout {
            id,
            agent_id,
            expected_statuses,
        } => {
            let body = Checkout {
                agent_id,
                expected_statuses,
            };
            let v = api.post(&format!("/issues/{id}/checkout"), &body).await?;
            print(api_args.json, &v, one)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
