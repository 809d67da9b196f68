use uuid::Uuid;

use crate::{MembershipRole, LOCAL_BOARD_USER};

/// Who is acting: the board (a user) or an agent, possibly within a heartbeat run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// What kind of principal.
    pub kind: ActorKind,
    /// The heartbeat run, from `X-Paperclip-Run-Id`.
    pub run_id: Option<Uuid>,
}

/// What a board user may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoardAccess {
    /// Every company and the instance's own routes: the implicit board of `local_trusted` mode
    /// and instance admins.
    Instance,
    /// Only the companies the user is an active member of. `mutating` is set for a request that
    /// changes state, where a viewer's grant does not reach.
    Companies {
        grants: Vec<CompanyGrant>,
        mutating: bool,
    },
}

/// An active membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompanyGrant {
    pub company_id: Uuid,
    pub role: MembershipRole,
}

/// Kinds of principals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorKind {
    /// A board user (`local-board` in `local_trusted` mode) and what it may reach.
    Board {
        user_id: String,
        access: BoardAccess,
    },
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
                user_id: LOCAL_BOARD_USER.into(),
                access: BoardAccess::Instance,
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
            ActorKind::Board { user_id, .. } => user_id.clone(),
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
            ActorKind::Board { user_id, .. } => Some(user_id),
            _ => None,
        }
    }

    /// True for the board.
    pub fn is_board(&self) -> bool {
        matches!(self.kind, ActorKind::Board { .. })
    }

    /// Whether this actor may see `company_id`'s data: an instance-wide board user every
    /// company, a member only theirs, an agent only its own, a plugin acts with its host's scope.
    pub fn can_see(&self, company_id: Uuid) -> bool {
        match &self.kind {
            ActorKind::Agent {
                company_id: own, ..
            } => *own == company_id,
            ActorKind::Board {
                access: BoardAccess::Companies { grants, .. },
                ..
            } => grants.iter().any(|g| g.company_id == company_id),
            _ => true,
        }
    }

    /// The member's role in `company_id`, for a board user scoped by memberships.
    pub fn member_role(&self, company_id: Uuid) -> Option<MembershipRole> {
        match &self.kind {
            ActorKind::Board {
                access: BoardAccess::Companies { grants, .. },
                ..
            } => grants
                .iter()
                .find(|g| g.company_id == company_id)
                .map(|g| g.role),
            _ => None,
        }
    }

    /// A viewer's state-changing request: seen, but refused.
    pub fn read_only_in(&self, company_id: Uuid) -> bool {
        matches!(
            &self.kind,
            ActorKind::Board {
                access: BoardAccess::Companies { mutating: true, .. },
                ..
            }
        ) && self.member_role(company_id) == Some(MembershipRole::Viewer)
    }

    /// May manage `company_id`'s members and invites: an instance-wide board user, or an owner
    /// or admin of it.
    pub fn can_manage_members(&self, company_id: Uuid) -> bool {
        match &self.kind {
            ActorKind::Board {
                access: BoardAccess::Instance,
                ..
            } => true,
            ActorKind::Board { .. } => matches!(
                self.member_role(company_id),
                Some(MembershipRole::Owner | MembershipRole::Admin)
            ),
            _ => false,
        }
    }

    /// The instance's own routes (plugins, backups, users): the implicit local board and
    /// instance admins.
    pub fn is_instance_admin(&self) -> bool {
        matches!(
            self.kind,
            ActorKind::Board {
                access: BoardAccess::Instance,
                ..
            } | ActorKind::System
        )
    }
}
