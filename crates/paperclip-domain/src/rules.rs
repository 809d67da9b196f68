//! The rules of the control plane, as pure functions the store calls before it writes.

use serde_json::json;
use uuid::Uuid;

use crate::{AgentStatus, DomainError, IssueStatus};

/// Whether an agent may move an issue from `from` to `to`. The board may move an issue
/// anywhere, as upstream's board drags cards freely; agents follow the work's natural order.
pub fn agent_may_transition(from: IssueStatus, to: IssueStatus) -> bool {
    use IssueStatus::*;
    from == to
        || matches!(
            (from, to),
            (Backlog, Todo | Cancelled)
                | (Todo, InProgress | Blocked | Cancelled)
                | (InProgress, InReview | Blocked | Done | Cancelled)
                | (InReview, InProgress | Done | Cancelled)
                | (Blocked, Todo | InProgress | Cancelled)
        )
}

/// A lifecycle step the board takes on an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Pause,
    Resume,
    Terminate,
    Approve,
}

/// The status an agent in `from` reaches by `step`, or why it cannot. Termination is final;
/// only a paused (or errored) agent resumes; only a pending hire is approved.
pub fn agent_lifecycle(
    agent_id: Uuid,
    from: AgentStatus,
    step: Lifecycle,
) -> Result<AgentStatus, DomainError> {
    let conflict = |message: String| {
        DomainError::conflict(message, json!({"agentId": agent_id, "status": from}))
    };
    if from == AgentStatus::Terminated {
        return Err(conflict("Agent is terminated; termination is final".into()));
    }
    match step {
        Lifecycle::Pause => Ok(AgentStatus::Paused),
        Lifecycle::Terminate => Ok(AgentStatus::Terminated),
        Lifecycle::Resume if matches!(from, AgentStatus::Paused | AgentStatus::Error) => {
            Ok(AgentStatus::Idle)
        }
        Lifecycle::Resume => Err(conflict(format!("Agent is {from}, not paused"))),
        Lifecycle::Approve if from == AgentStatus::PendingApproval => Ok(AgentStatus::Idle),
        Lifecycle::Approve => Err(conflict(format!("Agent is {from}, not pending approval"))),
    }
}

/// Whether an agent in `status` can be woken or given work: paused, terminated and not yet
/// approved agents cannot.
pub fn agent_accepts_work(status: AgentStatus) -> bool {
    !matches!(
        status,
        AgentStatus::Paused | AgentStatus::Terminated | AgentStatus::PendingApproval
    )
}

/// Whether spending `spent` of a monthly `budget` (cents; 0 means no budget) must pause an
/// agent now in `status`.
pub fn budget_exhausted(spent: i64, budget: i64, status: AgentStatus) -> bool {
    budget > 0
        && spent >= budget
        && !matches!(status, AgentStatus::Paused | AgentStatus::Terminated)
}

/// Spend as a percentage of a budget, to two decimals; 0 when there is no budget.
pub fn utilization_percent(spent: i64, budget: i64) -> f64 {
    if budget > 0 {
        (spent as f64 / budget as f64 * 10000.0).round() / 100.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_follow_the_work_order_and_termination_is_final() {
        assert!(agent_may_transition(
            IssueStatus::Todo,
            IssueStatus::InProgress
        ));
        assert!(!agent_may_transition(
            IssueStatus::Backlog,
            IssueStatus::Done
        ));
        assert!(agent_may_transition(IssueStatus::Done, IssueStatus::Done));
        let id = Uuid::nil();
        assert_eq!(
            agent_lifecycle(id, AgentStatus::Paused, Lifecycle::Resume).unwrap(),
            AgentStatus::Idle
        );
        assert!(agent_lifecycle(id, AgentStatus::Idle, Lifecycle::Resume).is_err());
        assert!(agent_lifecycle(id, AgentStatus::Terminated, Lifecycle::Pause).is_err());
        assert!(agent_lifecycle(id, AgentStatus::Idle, Lifecycle::Approve).is_err());
        assert!(budget_exhausted(100, 100, AgentStatus::Idle));
        assert!(!budget_exhausted(100, 0, AgentStatus::Idle));
        assert!(!budget_exhausted(100, 100, AgentStatus::Paused));
    }
}
