//! Reading agents as the org chart sees them: each agent's chain of command and its health, the
//! chart's members, the board's page of agents and the lean summary list.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{select_listed, Agent};
use crate::{Result, StoreError, COMPANY_AGENT_SPEND};
use paperclip_postgres::pool::{qa, qs};

/// Longest chain of command followed up from an agent; a deeper one is cut (a cycle cannot
/// form, since a manager change is checked, but a read must end regardless).
const MAX_CHAIN: usize = 64;

/// `orgChainHealth` of an agent, as upstream answers it.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgChainHealth {
    pub status: ChainState,
    pub reason: ChainState,
    /// The agent itself (depth 0), then each manager up to the top.
    pub full_chain: Vec<ChainLink>,
    pub first_invalid_ancestor: Option<ChainLink>,
    pub invalid_ancestors: Vec<ChainLink>,
    pub repair_guidance: Option<String>,
    /// Managers above the agent that are paused or terminated.
    pub paused_ancestors: Vec<PausedAncestor>,
    pub escalation_warning: Option<String>,
}

/// The health of a chain of command. Every chain this server can store is whole: a manager is
/// checked to be in the same company and not below the agent when it is set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChainState {
    #[default]
    Healthy,
}

/// One agent of a chain of command.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChainLink {
    pub id: Uuid,
    pub company_id: Uuid,
    pub name: String,
    pub status: String,
    pub reports_to: Option<Uuid>,
    pub depth: u32,
    pub relation: ChainRelation,
}

/// Whether a chain link is the agent or one of its managers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChainRelation {
    #[serde(rename = "self")]
    Itself,
    Ancestor,
}

/// A manager that is paused or terminated.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PausedAncestor {
    pub id: Uuid,
    pub name: String,
    pub status: String,
}

/// Each live agent of a company: its manager, name and status.
pub(super) type Tree = HashMap<Uuid, (Option<Uuid>, String, String)>;

/// Finishes agents for reading: credentials in `adapterConfig.env` become references, and
/// `orgChainHealth` is filled from `tree` (one query for a whole list, never one per row).
pub(super) fn with_chain_health(mut agents: Vec<Agent>, tree: &Tree) -> Vec<Agent> {
    for a in &mut agents {
        redact(a);
        let mut chain = vec![ChainLink {
            id: a.id,
            company_id: a.company_id,
            name: a.name.clone(),
            status: a.status.clone(),
            reports_to: a.reports_to,
            depth: 0,
            relation: ChainRelation::Itself,
        }];
        let mut paused = Vec::new();
        let mut cur = a.reports_to;
        while let Some(id) = cur {
            let Some((up, name, status)) = tree.get(&id) else {
                break;
            };
            if chain.len() > MAX_CHAIN {
                break;
            }
            if status == "paused" || status == "terminated" {
                paused.push(PausedAncestor {
                    id,
                    name: name.clone(),
                    status: status.clone(),
                });
            }
            chain.push(ChainLink {
                id,
                company_id: a.company_id,
                name: name.clone(),
                status: status.clone(),
                reports_to: *up,
                depth: u32::try_from(chain.len()).unwrap_or(u32::MAX),
                relation: ChainRelation::Ancestor,
            });
            cur = *up;
        }
        a.org_chain_health = OrgChainHealth {
            full_chain: chain,
            paused_ancestors: paused,
            ..OrgChainHealth::default()
        };
    }
    agents
}

/// Reads show secret references, never credentials.
fn redact(a: &mut Agent) {
    if let Some(env) = a.adapter_config.get("env") {
        let redacted = paperclip_secrets::env::redact(env);
        a.adapter_config["env"] = redacted;
    }
}

pub(super) async fn company_tree(conn: &mut PgConnection, company_id: Uuid) -> Result<Tree> {
    let rows: Vec<(Uuid, Option<Uuid>, String, String)> =
        qa("SELECT id, reports_to, name, status FROM agents WHERE company_id = $1 AND deleted_at IS NULL")
            .bind(company_id)
            .fetch_all(conn)
            .await
            .map_err(StoreError::sql("cannot read the org tree"))?;
    Ok(rows
        .into_iter()
        .map(|(id, up, n, s)| (id, (up, n, s)))
        .collect())
}

/// An agent's place in the org chart.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrgMember {
    pub id: Uuid,
    pub reports_to: Option<Uuid>,
    pub name: String,
    pub role: String,
    pub title: Option<String>,
    pub status: String,
}

/// `GET /companies/:id/org`: every agent that is not terminated, oldest first (one query).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn org_members(conn: &mut PgConnection, company_id: Uuid) -> Result<Vec<OrgMember>> {
    qa(
        "SELECT id, reports_to, name, role, title, status FROM agents
        WHERE company_id = $1 AND status <> 'terminated' ORDER BY created_at, id",
    )
    .bind(company_id)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot read the org tree"))
}

/// One page of a company's agents (oldest first), optionally of one status, and how many match
/// in all: the board's agent list, which must stay small on a company of thousands. Org-chain
/// health is not computed here (the page does not show it).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn page(
    conn: &mut PgConnection,
    company_id: Uuid,
    status: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Agent>, i64)> {
    let mut agents: Vec<Agent> = qa(&format!(
        "{} WHERE a.company_id = $1 AND a.deleted_at IS NULL AND ($2::text IS NULL OR a.status = $2)
         ORDER BY a.created_at, a.id LIMIT $3 OFFSET $4",
        select_listed()
    ))
    .bind(company_id)
    .bind(status)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot list agents"))?;
    agents.iter_mut().for_each(redact);
    let total: i64 = qs(
        "SELECT count(*) FROM agents WHERE company_id = $1 AND deleted_at IS NULL AND ($2::text IS NULL OR status = $2)",
    )
    .bind(company_id)
    .bind(status)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot count agents"))?;
    Ok((agents, total))
}

/// An agent as `GET /companies/:id/agents?view=summary` lists it: who it is, where it reports
/// and how it is doing, without its configuration or chain of command (a tenth of the size).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct AgentSummary {
    pub id: Uuid,
    pub company_id: Uuid,
    pub name: String,
    pub url_key: String,
    pub role: String,
    pub title: Option<String>,
    pub icon: Option<String>,
    pub status: String,
    pub reports_to: Option<Uuid>,
    pub adapter_type: String,
    pub budget_monthly_cents: i64,
    pub spent_monthly_cents: i64,
    pub pause_reason: Option<String>,
    pub error_reason: Option<String>,
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Summaries of a company's agents, oldest first: all, or the page `limit` and `offset` choose.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn summaries(
    conn: &mut PgConnection,
    company_id: Uuid,
    limit: Option<i64>,
    offset: i64,
) -> Result<Vec<AgentSummary>> {
    qa(&format!(
        "SELECT a.id, a.company_id, a.name, a.url_key, a.role, a.title, a.icon, a.status, a.reports_to,
                a.adapter_type, a.budget_monthly_cents, COALESCE(sp.cents, 0)::bigint AS spent_monthly_cents,
                a.pause_reason, a.error_reason, a.last_heartbeat_at, a.created_at, a.updated_at
         FROM agents a LEFT JOIN {COMPANY_AGENT_SPEND} sp ON sp.agent_id = a.id WHERE a.company_id = $1 AND a.deleted_at IS NULL ORDER BY a.created_at, a.id
         LIMIT $2 OFFSET $3"
    ))
    .bind(company_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await
    .map_err(StoreError::sql("cannot list agents"))
}
