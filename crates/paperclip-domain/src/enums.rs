//! The closed vocabularies of the control plane. Each is stored as its snake_case text (the
//! migrations' CHECK constraints list the same values) and travels as that text on the wire.

use std::fmt;
use std::str::FromStr;

/// A text that is not one of an enum's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be one of: {}", .allowed.join(", "))]
pub struct UnknownValue {
    /// The values that would have been accepted.
    pub allowed: &'static [&'static str],
}

macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in the order upstream lists them.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];
            /// Every value's text, in the same order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The stored and wire text.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;

            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(UnknownValue { allowed: Self::NAMES }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// Where an issue stands, in board order.
    IssueStatus {
        Backlog = "backlog",
        Todo = "todo",
        InProgress = "in_progress",
        InReview = "in_review",
        Done = "done",
        Blocked = "blocked",
        Cancelled = "cancelled",
    }
);

text_enum!(
    /// How urgent an issue is, most urgent first.
    IssuePriority {
        Critical = "critical",
        High = "high",
        Medium = "medium",
        Low = "low",
    }
);

text_enum!(
    /// An agent's lifecycle and activity.
    AgentStatus {
        Active = "active",
        Paused = "paused",
        Idle = "idle",
        Running = "running",
        Error = "error",
        /// Hired, waiting for the board's approval.
        PendingApproval = "pending_approval",
        /// Final.
        Terminated = "terminated",
    }
);

text_enum!(
    /// The roles upstream knows.
    AgentRole {
        Ceo = "ceo",
        Cto = "cto",
        Cmo = "cmo",
        Cfo = "cfo",
        Engineer = "engineer",
        Designer = "designer",
        Pm = "pm",
        Qa = "qa",
        Devops = "devops",
        Researcher = "researcher",
        General = "general",
    }
);

text_enum!(
    /// A company's state.
    CompanyStatus {
        Active = "active",
        Paused = "paused",
        Archived = "archived",
    }
);

text_enum!(
    /// How wide a goal reaches.
    GoalLevel {
        Company = "company",
        Team = "team",
        Agent = "agent",
        Task = "task",
    }
);

text_enum!(
    /// Where a goal stands.
    GoalStatus {
        Planned = "planned",
        Active = "active",
        Achieved = "achieved",
        Cancelled = "cancelled",
    }
);

text_enum!(
    /// Where a project stands.
    ProjectStatus {
        Backlog = "backlog",
        Planned = "planned",
        InProgress = "in_progress",
        Completed = "completed",
        Cancelled = "cancelled",
    }
);

text_enum!(
    /// What an approval decides.
    ApprovalType {
        HireAgent = "hire_agent",
        ApproveCeoStrategy = "approve_ceo_strategy",
        BudgetOverrideRequired = "budget_override_required",
        RequestBoardApproval = "request_board_approval",
    }
);

text_enum!(
    /// Where an approval stands.
    ApprovalStatus {
        Pending = "pending",
        RevisionRequested = "revision_requested",
        Approved = "approved",
        Rejected = "rejected",
        Cancelled = "cancelled",
    }
);

text_enum!(
    /// How the board is reached: `local_trusted` (loopback only, no login) or `authenticated`.
    DeploymentMode {
        LocalTrusted = "local_trusted",
        Authenticated = "authenticated",
    }
);

text_enum!(
    /// Who may reach an `authenticated` server: `private` (only the host names it is told, e.g.
    /// a LAN or tailnet) or `public` (the internet, behind TLS).
    DeploymentExposure {
        Private = "private",
        Public = "public",
    }
);

text_enum!(
    /// A board user's role in a company. Owners and admins manage members and invites;
    /// operators run the company; viewers only read.
    MembershipRole {
        Owner = "owner",
        Admin = "admin",
        Operator = "operator",
        Viewer = "viewer",
    }
);

text_enum!(
    /// Why an agent is woken.
    WakeupSource {
        Timer = "timer",
        Assignment = "assignment",
        OnDemand = "on_demand",
        Automation = "automation",
    }
);

text_enum!(
    /// What triggered a wakeup, within its source.
    WakeupTrigger {
        Manual = "manual",
        Ping = "ping",
        Callback = "callback",
        System = "system",
    }
);

text_enum!(
    /// Where a heartbeat run stands. `queued` and `running` are live; the rest are final.
    RunStatus {
        Queued = "queued",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        Cancelled = "cancelled",
        TimedOut = "timed_out",
    }
);

impl RunStatus {
    /// The run is still waiting or working.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Queued | Self::Running)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_unknown_values_name_the_allowed_ones() {
        for s in IssueStatus::ALL {
            assert_eq!(s.as_str().parse::<IssueStatus>(), Ok(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        let err = "doing".parse::<IssueStatus>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "must be one of: backlog, todo, in_progress, in_review, done, blocked, cancelled"
        );
        assert_eq!(
            "authenticated".parse::<DeploymentMode>(),
            Ok(DeploymentMode::Authenticated)
        );
    }
}

text_enum!(
    /// Whether a routine fires.
    RoutineStatus {
        Active = "active",
        Paused = "paused",
        Archived = "archived",
    }
);

text_enum!(
    /// What a firing does while an issue an earlier firing created is still open.
    ConcurrencyPolicy {
        /// Links the firing to the open issue instead of creating another.
        CoalesceIfActive = "coalesce_if_active",
        /// Creates an issue every time.
        AlwaysEnqueue = "always_enqueue",
        /// Records the firing as skipped.
        SkipIfActive = "skip_if_active",
    }
);

text_enum!(
    /// What a schedule does with the firings it missed while no server ran.
    CatchUpPolicy {
        /// Fires once, for the latest missed time.
        SkipMissed = "skip_missed",
        /// Fires for each missed time, the latest ones up to a cap.
        EnqueueMissedWithCap = "enqueue_missed_with_cap",
    }
);

text_enum!(
    /// How a routine trigger fires.
    TriggerKind {
        /// A cron expression in a time zone.
        Schedule = "schedule",
        /// A public URL an outside system calls.
        Webhook = "webhook",
        /// `POST /api/routines/{id}/run` naming the trigger.
        Api = "api",
    }
);

text_enum!(
    /// How a webhook call proves it knows the trigger's secret.
    SigningMode {
        /// `Authorization: Bearer <secret>`.
        Bearer = "bearer",
        /// `X-Paperclip-Signature: sha256=<HMAC of "<timestamp>.<body>">` with `X-Paperclip-Timestamp`.
        HmacSha256 = "hmac_sha256",
        /// GitHub's `X-Hub-Signature-256: sha256=<HMAC of the body>` with `X-GitHub-Delivery`.
        GithubHmac = "github_hmac",
        /// Nothing but the unguessable URL.
        None = "none",
    }
);

text_enum!(
    /// What started a routine run.
    RoutineRunSource {
        Schedule = "schedule",
        Webhook = "webhook",
        Api = "api",
        Manual = "manual",
    }
);

text_enum!(
    /// What a routine run came to.
    RoutineRunStatus {
        /// It created an issue.
        IssueCreated = "issue_created",
        /// An open issue of the routine took it (`coalesce_if_active`).
        Coalesced = "coalesced",
        /// An open issue of the routine made it skip (`skip_if_active`).
        Skipped = "skipped",
        /// It could not create the issue (`failureReason` says why).
        Failed = "failed",
    }
);
