//! The heartbeat rules: an agent's heartbeat policy (`runtimeConfig.heartbeat`), which wakeups
//! are admitted (and the recorded reason when one is not), and whom a comment mentions.

use serde_json::Value;

use crate::{AgentStatus, CompanyStatus, DomainError, WakeupSource};

/// `runtimeConfig.heartbeat`, with upstream's field names and defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatPolicy {
    /// Timer heartbeats are on.
    pub enabled: bool,
    /// Seconds between timer heartbeats; 0 turns the timer off.
    pub interval_sec: u64,
    pub wake_on_assignment: bool,
    pub wake_on_on_demand: bool,
    pub wake_on_automation: bool,
    /// Runs of this agent that may execute at once (enforced by the claim, in the database).
    pub max_concurrent_runs: u32,
}

impl Default for HeartbeatPolicy {
    fn default() -> Self {
        Self {
            enabled: false,
            interval_sec: 0,
            wake_on_assignment: true,
            wake_on_on_demand: true,
            wake_on_automation: true,
            // One at a time unless the board says otherwise: two heartbeats of one agent racing
            // over the same inbox is the failure upstream's users report most.
            max_concurrent_runs: 1,
        }
    }
}

/// The most runs of one agent that may execute at once.
pub const MAX_CONCURRENT_RUNS_LIMIT: u64 = 50;
/// The longest timer interval (31 days).
pub const MAX_INTERVAL_SEC: u64 = 31 * 24 * 3600;

impl HeartbeatPolicy {
    /// Reads the policy from an agent's `runtimeConfig`; a field of the wrong type or out of
    /// range is an error naming it (`runtimeConfig.heartbeat.intervalSec`, …). Unknown fields are
    /// kept by the caller (the config is stored as given) and ignored here.
    pub fn from_runtime_config(runtime_config: &Value) -> Result<Self, DomainError> {
        let mut p = Self::default();
        let Some(h) = runtime_config.get("heartbeat") else {
            return Ok(p);
        };
        if h.is_null() {
            return Ok(p);
        }
        let h = h.as_object().ok_or_else(|| {
            DomainError::invalid(
                "runtimeConfig.heartbeat",
                "runtimeConfig.heartbeat must be an object",
            )
        })?;
        let flag = |key: &'static str, field: &'static str, into: &mut bool| match h.get(key) {
            None | Some(Value::Null) => Ok(()),
            Some(Value::Bool(b)) => {
                *into = *b;
                Ok(())
            }
            Some(_) => Err(DomainError::invalid(
                field,
                format!("{field} must be a boolean"),
            )),
        };
        flag("enabled", "runtimeConfig.heartbeat.enabled", &mut p.enabled)?;
        flag(
            "wakeOnAssignment",
            "runtimeConfig.heartbeat.wakeOnAssignment",
            &mut p.wake_on_assignment,
        )?;
        flag(
            "wakeOnOnDemand",
            "runtimeConfig.heartbeat.wakeOnOnDemand",
            &mut p.wake_on_on_demand,
        )?;
        flag(
            "wakeOnAutomation",
            "runtimeConfig.heartbeat.wakeOnAutomation",
            &mut p.wake_on_automation,
        )?;
        let count = |key: &'static str, field: &'static str, min: u64, max: u64| match h.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => Err(DomainError::invalid(
                    field,
                    format!("{field} must be an integer from {min} to {max}"),
                )),
            },
        };
        if let Some(n) = count(
            "intervalSec",
            "runtimeConfig.heartbeat.intervalSec",
            0,
            MAX_INTERVAL_SEC,
        )? {
            p.interval_sec = n;
        }
        if let Some(n) = count(
            "maxConcurrentRuns",
            "runtimeConfig.heartbeat.maxConcurrentRuns",
            1,
            MAX_CONCURRENT_RUNS_LIMIT,
        )? {
            p.max_concurrent_runs = u32::try_from(n).expect("bounded");
        }
        Ok(p)
    }

    /// The policy, or the default when the stored config is unreadable (it was checked when it
    /// was written; a row edited by hand must not stop the engine).
    pub fn lenient(runtime_config: &Value) -> Self {
        Self::from_runtime_config(runtime_config).unwrap_or_default()
    }

    /// Timer heartbeats fire for this agent.
    pub fn timer_on(&self) -> bool {
        self.enabled && self.interval_sec > 0
    }

    /// This source may wake the agent under its policy.
    pub fn allows(&self, source: WakeupSource) -> bool {
        match source {
            WakeupSource::Timer => self.timer_on(),
            WakeupSource::Assignment => self.wake_on_assignment,
            WakeupSource::OnDemand => self.wake_on_on_demand,
            WakeupSource::Automation => self.wake_on_automation,
        }
    }
}

/// Why a wakeup was not admitted. Recorded on the wakeup (`status: skipped`, `error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    AgentPaused,
    AgentTerminated,
    AgentPendingApproval,
    BudgetExhausted,
    CompanyArchived,
    CompanyPaused,
    /// The agent's heartbeat policy turns this source off.
    SourceDisabled(WakeupSource),
}

impl Refusal {
    /// A stable code for clients.
    pub fn code(self) -> &'static str {
        match self {
            Self::AgentPaused => "agent_paused",
            Self::AgentTerminated => "agent_terminated",
            Self::AgentPendingApproval => "agent_pending_approval",
            Self::BudgetExhausted => "budget_exhausted",
            Self::CompanyArchived => "company_archived",
            Self::CompanyPaused => "company_paused",
            Self::SourceDisabled(_) => "wake_source_disabled",
        }
    }

    /// What a person reads.
    pub fn message(self) -> String {
        match self {
            Self::AgentPaused => "the agent is paused".into(),
            Self::AgentTerminated => "the agent is terminated".into(),
            Self::AgentPendingApproval => "the agent is waiting for its hire to be approved".into(),
            Self::BudgetExhausted => "the agent's monthly budget is spent".into(),
            Self::CompanyArchived => "the company is archived".into(),
            Self::CompanyPaused => "the company is paused".into(),
            Self::SourceDisabled(s) => {
                format!("the agent's heartbeat policy turns off {s} wakeups")
            }
        }
    }
}

/// What admission looks at.
#[derive(Debug, Clone, Copy)]
pub struct Admission {
    pub agent_status: AgentStatus,
    pub company_status: CompanyStatus,
    pub spent_monthly_cents: i64,
    pub budget_monthly_cents: i64,
    pub source: WakeupSource,
    pub policy: HeartbeatPolicy,
}

/// Admits a wakeup or says why not. The order matters only for which reason is recorded when
/// several apply: the most permanent first.
pub fn admit(a: &Admission) -> Result<(), Refusal> {
    match a.agent_status {
        AgentStatus::Terminated => return Err(Refusal::AgentTerminated),
        AgentStatus::PendingApproval => return Err(Refusal::AgentPendingApproval),
        _ => {}
    }
    match a.company_status {
        CompanyStatus::Archived => return Err(Refusal::CompanyArchived),
        CompanyStatus::Paused => return Err(Refusal::CompanyPaused),
        CompanyStatus::Active => {}
    }
    if a.agent_status == AgentStatus::Paused {
        return Err(Refusal::AgentPaused);
    }
    if a.budget_monthly_cents > 0 && a.spent_monthly_cents >= a.budget_monthly_cents {
        return Err(Refusal::BudgetExhausted);
    }
    if !a.policy.allows(a.source) {
        return Err(Refusal::SourceDisabled(a.source));
    }
    Ok(())
}

/// Whether `body` mentions `@name` (case-insensitive; the mention ends at the end of the text or
/// at a character that cannot continue a name, so `@Ann` does not match `@Anna`).
pub fn mentions(body: &str, name: &str) -> bool {
    let name = name.trim();
    if name.is_empty() {
        return false;
    }
    let hay = body.to_lowercase();
    let needle = format!("@{}", name.to_lowercase());
    let mut from = 0;
    while let Some(at) = hay[from..].find(&needle) {
        let start = from + at;
        let end = start + needle.len();
        let before_ok = hay[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        let after_ok = hay[end..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '-'));
        if before_ok && after_ok {
            return true;
        }
        from = end;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn policy_reads_upstream_fields_and_names_the_bad_one() {
        let p = HeartbeatPolicy::from_runtime_config(&json!({"heartbeat": {
            "enabled": true, "intervalSec": 30, "wakeOnAssignment": false, "maxConcurrentRuns": 3
        }}))
        .unwrap();
        assert!(p.timer_on() && !p.wake_on_assignment && p.max_concurrent_runs == 3);
        assert_eq!(
            HeartbeatPolicy::from_runtime_config(&json!({})).unwrap(),
            HeartbeatPolicy::default()
        );
        for (bad, field) in [
            (
                json!({"heartbeat": {"intervalSec": -1}}),
                "runtimeConfig.heartbeat.intervalSec",
            ),
            (
                json!({"heartbeat": {"intervalSec": 1.5}}),
                "runtimeConfig.heartbeat.intervalSec",
            ),
            (
                json!({"heartbeat": {"enabled": "yes"}}),
                "runtimeConfig.heartbeat.enabled",
            ),
            (
                json!({"heartbeat": {"maxConcurrentRuns": 0}}),
                "runtimeConfig.heartbeat.maxConcurrentRuns",
            ),
            (json!({"heartbeat": 5}), "runtimeConfig.heartbeat"),
        ] {
            match HeartbeatPolicy::from_runtime_config(&bad) {
                Err(DomainError::Invalid { field: f, .. }) => assert_eq!(f, field, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn admission_records_the_most_permanent_reason() {
        let base = Admission {
            agent_status: AgentStatus::Idle,
            company_status: CompanyStatus::Active,
            spent_monthly_cents: 0,
            budget_monthly_cents: 0,
            source: WakeupSource::OnDemand,
            policy: HeartbeatPolicy::default(),
        };
        assert_eq!(admit(&base), Ok(()));
        let with = |f: &dyn Fn(&mut Admission)| {
            let mut a = base;
            f(&mut a);
            admit(&a)
        };
        assert_eq!(
            with(&|a| a.agent_status = AgentStatus::Paused),
            Err(Refusal::AgentPaused)
        );
        assert_eq!(
            with(&|a| {
                a.agent_status = AgentStatus::Terminated;
                a.company_status = CompanyStatus::Archived;
            }),
            Err(Refusal::AgentTerminated)
        );
        assert_eq!(
            with(&|a| {
                a.spent_monthly_cents = 100;
                a.budget_monthly_cents = 100;
            }),
            Err(Refusal::BudgetExhausted)
        );
        assert_eq!(
            with(&|a| a.source = WakeupSource::Timer),
            Err(Refusal::SourceDisabled(WakeupSource::Timer))
        );
        assert_eq!(
            with(&|a| a.company_status = CompanyStatus::Archived),
            Err(Refusal::CompanyArchived)
        );
    }

    #[test]
    fn mentions_match_whole_names_only() {
        assert!(mentions("hey @ann, look", "Ann"));
        assert!(mentions("@Chief Engineer please", "chief engineer"));
        assert!(!mentions("hey @anna", "Ann"));
        assert!(!mentions("mail bob@ann.com", "ann"));
        assert!(mentions("x @bob and @ann", "ann"));
        assert!(!mentions("no mention", "ann"));
    }
}
