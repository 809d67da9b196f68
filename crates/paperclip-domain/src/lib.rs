//! Paperclip's domain: who acts ([`Actor`]), the closed vocabularies of the control plane (issue
//! status and priority, agent status and role, goal, project and approval kinds, deployment
//! mode), the rules that relate them (the issue status machine, the agent lifecycle, budgets),
//! and [`DomainError`], the one way a rule says no.
//!
//! Rules: nothing here knows SQL or HTTP. The store calls these rules before it writes; the
//! server maps [`DomainError`] to status codes in one place.

mod actor;
mod enums;
mod error;
pub mod heartbeat;
pub mod routines;
pub mod rules;
pub mod work;

pub use actor::{Actor, ActorKind, BoardAccess, CompanyGrant};
pub use enums::{
    AgentRole, AgentStatus, ApprovalStatus, ApprovalType, CatchUpPolicy, CompanyStatus,
    ConcurrencyPolicy, DeploymentExposure, DeploymentMode, GoalLevel, GoalStatus, IssuePriority,
    IssueStatus, MembershipRole, ProjectStatus, RoutineRunSource, RoutineRunStatus, RoutineStatus,
    RunStatus, SigningMode, TriggerKind, UnknownValue, WakeupSource, WakeupTrigger,
};
pub use error::DomainError;

/// The implicit board user of `local_trusted` mode.
pub const LOCAL_BOARD_USER: &str = "local-board";
