//! The store: every SQL statement of the control plane, one module per resource.
//!
//! Functions take a `&mut PgConnection` (a [`crate::Session`] or a transaction) so a caller can
//! compose several of them in one transaction; every mutation writes its activity row through
//! [`activity::record`] on the same connection, so the audit log and the data never disagree.
//! Rows are returned as types that serialize to upstream's JSON (camelCase).

pub mod activity;
pub mod agents;
pub mod approvals;
pub mod comments;
pub mod companies;
pub mod costs;
pub mod documents;
pub mod goals;
pub mod issues;
pub mod orchestration;
pub mod projects;
pub mod secrets;

use uuid::Uuid;

/// Who is acting: the board (a user) or an agent, possibly within a heartbeat run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// What kind of principal.
    pub kind: ActorKind,
    /// The heartbeat run, from `X-Paperclip-Run-Id`.
    pub run_id: Option<Uuid>,
}

/// Kinds of principals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorKind {
    /// A board user (`local-board` in `local_trusted` mode).
    Board { user_id: String },
    /// An agent authenticated by its API key.
    Agent { agent_id: Uuid, company_id: Uuid },
    /// Paperclip itself (budget enforcement, …).
    System,
    /// A plugin acting through its host APIs, on behalf of whoever called it.
    Plugin {
        plugin_id: Uuid,
        plugin_key: String,
        /// `user`, `agent` or `system`: who triggered the plugin.
        initiating_type: String,
        initiating_id: String,
        initiating_agent_id: Option<Uuid>,
    },
}

impl Actor {
    /// The implicit board user of `local_trusted` mode.
    pub fn local_board() -> Self {
        Self {
            kind: ActorKind::Board {
                user_id: "local-board".into(),
            },
            run_id: None,
        }
    }

    /// Paperclip itself.
    pub fn system() -> Self {
        Self {
            kind: ActorKind::System,
            run_id: None,
        }
    }

    /// `activity_log.actor_type`.
    pub fn actor_type(&self) -> &'static str {
        match self.kind {
            ActorKind::Board { .. } => "user",
            ActorKind::Agent { .. } => "agent",
            ActorKind::System => "system",
            ActorKind::Plugin { .. } => "plugin",
        }
    }

    /// `activity_log.actor_id`.
    pub fn actor_id(&self) -> String {
        match &self.kind {
            ActorKind::Board { user_id } => user_id.clone(),
            ActorKind::Agent { agent_id, .. } => agent_id.to_string(),
            ActorKind::System => "system".into(),
            ActorKind::Plugin { plugin_id, .. } => plugin_id.to_string(),
        }
    }

    /// The acting agent, if any.
    pub fn agent_id(&self) -> Option<Uuid> {
        match self.kind {
            ActorKind::Agent { agent_id, .. } => Some(agent_id),
            _ => None,
        }
    }

    /// The acting board user, if any.
    pub fn user_id(&self) -> Option<&str> {
        match &self.kind {
            ActorKind::Board { user_id } => Some(user_id),
            _ => None,
        }
    }

    /// True for the board.
    pub fn is_board(&self) -> bool {
        matches!(self.kind, ActorKind::Board { .. })
    }
}

/// Start of the current UTC calendar month, the budget window.
pub const MONTH_START: &str = "date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'";
