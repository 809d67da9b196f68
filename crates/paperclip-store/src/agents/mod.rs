//! Agents: the org tree, lifecycle and API keys (wakeups and runs live in [`crate::runs`]).

mod keys;
mod org;

pub use keys::*;
pub use org::*;

use chrono::{DateTime, Utc};
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::activity::{self, Entry};
use crate::{Actor, AGENT_SPEND, COMPANY_AGENT_SPEND};
use crate::{Result, StoreError};
use paperclip_domain::rules::agent_lifecycle;
use paperclip_domain::{AgentRole, AgentStatus};
use paperclip_postgres::pool::{q, qa, qs};

/// Roles upstream knows.
pub const ROLES: &[&str] = AgentRole::NAMES;

/// An agent as upstream serializes it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Agent {
    pub id: Uuid,
    pub company_id: Uuid,
    pub name: String,
    pub role: String,
    pub title: Option<String>,
    pub icon: Option<String>,
    pub status: String,
    pub reports_to: Option<Uuid>,
    pub capabilities: Option<String>,
    pub adapter_type: String,
    pub adapter_config: Value,
    pub runtime_config: Value,
    #[sqlx(skip)]
    pub default_environment_id: Option<Uuid>,
    pub budget_monthly_cents: i64,
    pub spent_monthly_cents: i64,
    pub pause_reason: Option<String>,
    pub paused_at: Option<DateTime<Utc>>,
    pub error_reason: Option<String>,
    pub permissions: Value,
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    pub metadata: Option<Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub url_key: String,
    /// Set on a deleted agent: a tombstone that runs, costs and activity still point at.
    pub deleted_at: Option<DateTime<Utc>>,
    #[sqlx(skip)]
    pub org_chain_health: OrgChainHealth,
}

/// The columns of an [`Agent`] read from `agents a`, its month-to-date spend included.
fn select() -> String {
    select_spending(AGENT_SPEND, "")
}

/// [`select`] for many agents of the company `$1`: the spend of all of them in one grouped
/// read of the totals, joined (a subquery per agent costs 1,000 index probes on a big company).
fn select_listed() -> String {
    select_spending(
        "COALESCE(sp.cents, 0)::bigint",
        &format!(" LEFT JOIN {COMPANY_AGENT_SPEND} sp ON sp.agent_id = a.id"),
    )
}

fn select_spending(spend: &str, join: &str) -> String {
    format!(
        "SELECT a.id, a.company_id, a.name, a.role, a.title, a.icon, a.status, a.reports_to, a.capabilities,
                a.adapter_type, a.adapter_config, a.runtime_config, a.budget_monthly_cents,
                {spend} AS spent_monthly_cents,
                a.pause_reason, a.paused_at, a.error_reason, a.permissions, a.last_heartbeat_at, a.metadata,
                a.created_at, a.updated_at, a.url_key, a.deleted_at
         FROM agents a{join}"
    )
}

/// Agents of a company, oldest first: all of them, or the page `limit` and `offset` choose.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(
    conn: &mut PgConnection,
    company_id: Uuid,
    limit: Option<i64>,
    offset: i64,
) -> Result<Vec<Agent>> {
    let agents: Vec<Agent> = qa(&format!(
        "{} WHERE a.company_id = $1 AND a.deleted_at IS NULL ORDER BY a.created_at, a.id
         LIMIT $2 OFFSET $3",
        select_listed()
    ))
    .bind(company_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot list agents"))?;
    let tree = company_tree(conn, company_id).await?;
    Ok(with_chain_health(agents, &tree))
}

/// One agent.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<Agent>> {
    let Some(agent): Option<Agent> = qa(&format!("{} WHERE a.id = $1", select()))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot read the agent"))?
    else {
        return Ok(None);
    };
    let tree = company_tree(conn, agent.company_id).await?;
    Ok(with_chain_health(vec![agent], &tree).pop())
}

/// Fields of a new agent.
#[derive(Debug, Clone, Default)]
pub struct NewAgent {
    pub name: String,
    pub role: String,
    pub title: Option<String>,
    pub icon: Option<String>,
    pub reports_to: Option<Uuid>,
    pub capabilities: Option<String>,
    pub adapter_type: String,
    pub adapter_config: Value,
    pub runtime_config: Option<Value>,
    pub budget_monthly_cents: i64,
    pub permissions: Option<Value>,
    pub metadata: Option<Value>,
    pub status: String,
}

fn slug(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
        }
    }
    let s = s.trim_end_matches('-').to_string();
    if s.is_empty() {
        "agent".into()
    } else {
        s
    }
}

/// Checks that `manager` is an agent of `company_id` and that making it `agent`'s manager
/// creates no cycle.
async fn check_manager(
    conn: &mut PgConnection,
    company_id: Uuid,
    agent: Option<Uuid>,
    manager: Uuid,
) -> Result<()> {
    let owner: Option<Uuid> = qs("SELECT company_id FROM agents WHERE id = $1")
        .bind(manager)
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot read the manager"))?;
    if owner != Some(company_id) {
        return Err(StoreError::invalid(
            "reportsTo",
            "reportsTo must be an agent of the same company",
        ));
    }
    if let Some(agent) = agent {
        let cycle: bool = qs(
            "WITH RECURSIVE up(id, reports_to, depth) AS (
                 SELECT id, reports_to, 0 FROM agents WHERE id = $1
                 UNION ALL
                 SELECT a.id, a.reports_to, up.depth + 1 FROM agents a JOIN up ON a.id = up.reports_to WHERE up.depth < 1000
             ) SELECT EXISTS (SELECT 1 FROM up WHERE id = $2)",
        )
        .bind(manager)
        .bind(agent)
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot check the org tree"))?;
        if cycle {
            return Err(StoreError::invalid(
                "reportsTo",
                "reportsTo would create a cycle in the org tree",
            ));
        }
    }
    Ok(())
}

/// Creates an agent (`agent.created`).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    company_id: Uuid,
    new: &NewAgent,
) -> Result<Agent> {
    if let Some(m) = new.reports_to {
        check_manager(conn, company_id, None, m).await?;
    }
    let base = slug(&new.name);
    let taken: Vec<String> = qs("SELECT url_key FROM agents WHERE company_id = $1 AND url_key ~ ('^' || $2 || '(-[0-9]+)?$')")
        .bind(company_id)
        .bind(&base)
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot read agent keys"))?;
    let url_key = (1..)
        .map(|n| {
            if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            }
        })
        .find(|k| !taken.contains(k))
        .expect("unbounded");
    let runtime = new
        .runtime_config
        .clone()
        .unwrap_or_else(|| json!({"heartbeat": {"enabled": false, "maxConcurrentRuns": 20}}));
    let permissions = new
        .permissions
        .clone()
        .unwrap_or_else(|| json!({"canCreateAgents": new.role == "ceo", "canCreateSkills": true}));
    let id: Uuid = qs(
        "INSERT INTO agents (company_id, name, role, title, icon, status, reports_to, capabilities, adapter_type,
                             adapter_config, runtime_config, budget_monthly_cents, permissions, metadata, url_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
    )
    .bind(company_id)
    .bind(&new.name)
    .bind(&new.role)
    .bind(&new.title)
    .bind(&new.icon)
    .bind(&new.status)
    .bind(new.reports_to)
    .bind(&new.capabilities)
    .bind(&new.adapter_type)
    .bind(&new.adapter_config)
    .bind(&runtime)
    .bind(new.budget_monthly_cents)
    .bind(&permissions)
    .bind(&new.metadata)
    .bind(&url_key)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot create the agent"))?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id,
            action: "agent.created",
            entity_type: "agent",
            entity_id: id.to_string(),
            details: json!({"name": new.name, "role": new.role, "status": new.status}),
        },
    )
    .await?;
    Ok(get(conn, id).await?.expect("just inserted"))
}

/// Patchable agent fields.
#[derive(Debug, Clone, Default)]
pub struct AgentPatch {
    pub name: Option<String>,
    pub role: Option<String>,
    pub title: Option<Option<String>>,
    pub icon: Option<Option<String>>,
    pub reports_to: Option<Option<Uuid>>,
    pub capabilities: Option<Option<String>>,
    pub adapter_type: Option<String>,
    pub adapter_config: Option<Value>,
    pub runtime_config: Option<Value>,
    pub budget_monthly_cents: Option<i64>,
    pub permissions: Option<Value>,
    pub metadata: Option<Option<Value>>,
}

/// Applies a patch (`agent.updated`), checking the org tree.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    agent: &Agent,
    p: &AgentPatch,
) -> Result<Agent> {
    if let Some(Some(m)) = p.reports_to {
        if m == agent.id {
            return Err(StoreError::invalid(
                "reportsTo",
                "an agent cannot report to itself",
            ));
        }
        check_manager(conn, agent.company_id, Some(agent.id), m).await?;
    }
    q("UPDATE agents SET
         name = COALESCE($2, name), role = COALESCE($3, role),
         title = CASE WHEN $4 THEN $5 ELSE title END,
         icon = CASE WHEN $6 THEN $7 ELSE icon END,
         reports_to = CASE WHEN $8 THEN $9 ELSE reports_to END,
         capabilities = CASE WHEN $10 THEN $11 ELSE capabilities END,
         adapter_type = COALESCE($12, adapter_type),
         adapter_config = COALESCE($13, adapter_config),
         runtime_config = COALESCE($14, runtime_config),
         budget_monthly_cents = COALESCE($15, budget_monthly_cents),
         permissions = COALESCE($16, permissions),
         metadata = CASE WHEN $17 THEN $18 ELSE metadata END
       WHERE id = $1")
    .bind(agent.id)
    .bind(&p.name)
    .bind(&p.role)
    .bind(p.title.is_some())
    .bind(p.title.clone().flatten())
    .bind(p.icon.is_some())
    .bind(p.icon.clone().flatten())
    .bind(p.reports_to.is_some())
    .bind(p.reports_to.flatten())
    .bind(p.capabilities.is_some())
    .bind(p.capabilities.clone().flatten())
    .bind(&p.adapter_type)
    .bind(&p.adapter_config)
    .bind(&p.runtime_config)
    .bind(p.budget_monthly_cents)
    .bind(&p.permissions)
    .bind(p.metadata.is_some())
    .bind(p.metadata.clone().flatten())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::sql("cannot update the agent"))?;
    activity::record(
        conn,
        actor,
        Entry {
            company_id: agent.company_id,
            action: "agent.updated",
            entity_type: "agent",
            entity_id: agent.id.to_string(),
            details: json!({"fields": changed_fields(p)}),
        },
    )
    .await?;
    Ok(get(conn, agent.id).await?.expect("exists"))
}

fn changed_fields(p: &AgentPatch) -> Vec<&'static str> {
    let mut v = Vec::new();
    macro_rules! f { ($($field:ident => $name:literal),*) => { $( if p.$field.is_some() { v.push($name); } )* } }
    f!(name => "name", role => "role", title => "title", icon => "icon", reports_to => "reportsTo",
       capabilities => "capabilities", adapter_type => "adapterType", adapter_config => "adapterConfig",
       runtime_config => "runtimeConfig", budget_monthly_cents => "budgetMonthlyCents",
       permissions => "permissions", metadata => "metadata");
    v
}

pub use paperclip_domain::rules::Lifecycle;

/// Moves an agent through its lifecycle. `terminated` is final.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn transition(
    conn: &mut PgConnection,
    actor: &Actor,
    agent: &Agent,
    to: Lifecycle,
    reason: Option<&str>,
) -> Result<Agent> {
    let from: AgentStatus = StoreError::parse_stored("status", &agent.status)?;
    // The rule decides whether the step is allowed; the statement only records it.
    agent_lifecycle(agent.id, from, to)?;
    let (sql, action) = match to {
        Lifecycle::Pause => (
            "UPDATE agents SET status = 'paused', pause_reason = COALESCE($2, 'manual'), paused_at = now() WHERE id = $1",
            "agent.paused",
        ),
        Lifecycle::Resume => (
            "UPDATE agents SET status = 'idle', pause_reason = NULL, paused_at = NULL, error_reason = NULL WHERE id = $1",
            "agent.resumed",
        ),
        Lifecycle::Terminate => (
            "UPDATE agents SET status = 'terminated', pause_reason = NULL, paused_at = NULL WHERE id = $1",
            "agent.terminated",
        ),
        Lifecycle::Approve => ("UPDATE agents SET status = 'idle' WHERE id = $1", "agent.approved"),
    };
    let mut query = q(sql).bind(agent.id);
    if to == Lifecycle::Pause {
        query = query.bind(reason);
    }
    query
        .execute(&mut *conn)
        .await
        .map_err(StoreError::sql("cannot change the agent's status"))?;
    if to == Lifecycle::Terminate {
        // Terminated agents can no longer authenticate.
        q("UPDATE agent_api_keys SET revoked_at = now() WHERE agent_id = $1 AND revoked_at IS NULL")
            .bind(agent.id)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::sql("cannot revoke keys"))?;
    }
    activity::record(
        conn,
        actor,
        Entry {
            company_id: agent.company_id,
            action,
            entity_type: "agent",
            entity_id: agent.id.to_string(),
            details: json!({"previousStatus": agent.status, "reason": reason}),
        },
    )
    .await?;
    Ok(get(conn, agent.id).await?.expect("exists"))
}

/// Names of the given agents of a company (deleted ones included: history still names them).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn names(
    conn: &mut PgConnection,
    company_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, String)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    qa("SELECT id, name FROM agents WHERE company_id = $1 AND id = ANY($2)")
        .bind(company_id)
        .bind(ids)
        .fetch_all(conn)
        .await
        .map_err(StoreError::sql("cannot read agent names"))
}

/// Agents work can be assigned to (not terminated, not deleted), by name.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn assignable(conn: &mut PgConnection, company_id: Uuid) -> Result<Vec<(Uuid, String)>> {
    qa("SELECT id, name FROM agents WHERE company_id = $1 AND deleted_at IS NULL AND status <> 'terminated'
        ORDER BY lower(name), id")
        .bind(company_id)
        .fetch_all(conn)
        .await
        .map_err(StoreError::sql("cannot list agents"))
}
