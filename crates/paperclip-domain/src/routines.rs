//! Routines: when a schedule fires, which missed firings it makes up, and what a firing does
//! while an earlier one's issue is still open. Pure: the clock is always an argument, so a
//! test can run five minutes (or a three-hour outage) without sleeping.

use std::collections::VecDeque;
use std::str::FromStr;

use chrono::{DateTime, Timelike, Utc};
use chrono_tz::Tz;
use croner::Cron;

use crate::{CatchUpPolicy, ConcurrencyPolicy, DomainError};

/// Most missed firings one catch-up makes (`enqueue_missed_with_cap`): the latest ones.
pub const MAX_CATCH_UP: usize = 25;

/// Most missed firings counted after an outage; a longer gap is reported as at least this many.
const MAX_COUNTED: u64 = 100_000;

/// A trigger's schedule: a standard five-field cron expression (minute hour day-of-month month
/// day-of-week, with lists, ranges, steps and names), or `@hourly`, `@daily`, `@weekly`,
/// `@monthly`, `@yearly`, in an IANA time zone (UTC when none is given). A local time that a
/// daylight-saving change skips or repeats fires once.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    tz: Tz,
}

impl Schedule {
    /// Parses an expression and a zone; a wrong one is an invalid field naming what is wrong.
    pub fn parse(expression: &str, timezone: Option<&str>) -> Result<Self, DomainError> {
        let expr = expression.trim();
        let fields = expr.split_whitespace().count();
        if !(expr.starts_with('@') || fields == 5) {
            return Err(DomainError::invalid(
                "cronExpression",
                format!("must have five fields (minute hour day-of-month month day-of-week) or be @hourly, @daily, @weekly, @monthly or @yearly; got {fields}"),
            ));
        }
        let cron = Cron::from_str(expr).map_err(|e| {
            DomainError::invalid("cronExpression", format!("is not a cron expression: {e}"))
        })?;
        let tz = match timezone.map(str::trim).filter(|t| !t.is_empty()) {
            None => Tz::UTC,
            Some(name) => name.parse::<Tz>().map_err(|_| {
                DomainError::invalid(
                    "timezone",
                    format!("{name:?} is not an IANA time zone (e.g. Europe/Paris)"),
                )
            })?,
        };
        let schedule = Self { cron, tz };
        // An expression that never matches (February 30th) would never fire: refuse it now.
        if schedule.next_after(Utc::now()).is_none() {
            return Err(DomainError::invalid(
                "cronExpression",
                "never matches a date",
            ));
        }
        Ok(schedule)
    }

    /// The first firing strictly after `t`, on a whole second (the parser would otherwise carry
    /// `t`'s fraction of a second into every time it finds).
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let whole = t.with_nanosecond(0)?;
        self.cron
            .find_next_occurrence(&whole.with_timezone(&self.tz), false)
            .ok()
            .and_then(|d| d.with_timezone(&Utc).with_nanosecond(0))
    }
}

/// What a due schedule does at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firings {
    /// The times to fire for, oldest first (each becomes one routine run).
    pub fire: Vec<DateTime<Utc>>,
    /// Due times not fired (made up for by a later one, or beyond the cap).
    pub skipped: u64,
    /// The trigger's next time after `now`.
    pub next: Option<DateTime<Utc>>,
}

/// The firings of a schedule whose stored next time is `due` (at or before `now`): every
/// time from `due` up to `now`, then thinned by `policy`. Once a server is running, a round a
/// second fires one time; after an outage `skip_missed` fires only the latest missed time and
/// `enqueue_missed_with_cap` the latest [`MAX_CATCH_UP`].
pub fn firings(
    schedule: &Schedule,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
    policy: CatchUpPolicy,
) -> Firings {
    let keep = match policy {
        CatchUpPolicy::SkipMissed => 1,
        CatchUpPolicy::EnqueueMissedWithCap => MAX_CATCH_UP,
    };
    let mut latest = VecDeque::with_capacity(keep);
    let mut total = 0u64;
    let mut t = Some(due);
    while let Some(at) = t.filter(|at| *at <= now) {
        total += 1;
        if latest.len() == keep {
            latest.pop_front();
        }
        latest.push_back(at);
        t = if total >= MAX_COUNTED {
            // A gap this long: stop counting, carry on from now.
            schedule.next_after(now)
        } else {
            schedule.next_after(at)
        };
        if total >= MAX_COUNTED {
            break;
        }
    }
    let fire: Vec<_> = latest.into();
    Firings {
        skipped: total - fire.len() as u64,
        fire,
        next: t
            .filter(|at| *at > now)
            .or_else(|| schedule.next_after(now)),
    }
}

/// What a firing does, given whether an issue of the routine is still open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    /// Create an issue from the routine's template.
    Create,
    /// Link the firing to the open issue.
    Coalesce,
    /// Record the firing as skipped.
    Skip,
}

/// The concurrency policy applied to one firing.
pub fn dispatch(policy: ConcurrencyPolicy, open_issue: bool) -> Dispatch {
    match (policy, open_issue) {
        (ConcurrencyPolicy::AlwaysEnqueue, _) | (_, false) => Dispatch::Create,
        (ConcurrencyPolicy::CoalesceIfActive, true) => Dispatch::Coalesce,
        (ConcurrencyPolicy::SkipIfActive, true) => Dispatch::Skip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, h, m, 0).unwrap()
    }

    #[test]
    fn expressions_and_zones_are_checked_by_field() {
        assert!(Schedule::parse("*/5 * * * *", None).is_ok());
        assert!(Schedule::parse("0 9 * * MON-FRI", Some("Europe/Paris")).is_ok());
        assert!(Schedule::parse("@daily", Some("UTC")).is_ok());
        for (expr, tz, field) in [
            ("* * * *", None, "cronExpression"),
            ("0 0 * * * *", None, "cronExpression"),
            ("61 * * * *", None, "cronExpression"),
            ("bogus", None, "cronExpression"),
            ("0 0 30 2 *", None, "cronExpression"),
            ("* * * * *", Some("Mars/Olympus"), "timezone"),
        ] {
            match Schedule::parse(expr, tz) {
                Err(DomainError::Invalid { field: f, .. }) => assert_eq!(f, field, "{expr} {tz:?}"),
                other => panic!("{expr} {tz:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn times_fall_on_whole_seconds() {
        let s = Schedule::parse("* * * * *", None).unwrap();
        let t = at(10, 0) + chrono::Duration::milliseconds(30_500);
        assert_eq!(s.next_after(t), Some(at(10, 1)));
        assert_eq!(
            s.next_after(at(10, 1) + chrono::Duration::milliseconds(1)),
            Some(at(10, 2))
        );
    }

    #[test]
    fn the_next_time_follows_the_zone() {
        let s = Schedule::parse("0 9 * * *", Some("America/New_York")).unwrap();
        // 9:00 in New York is 14:00 UTC in winter (EST).
        assert_eq!(s.next_after(at(0, 0)), Some(at(14, 0)));
    }

    #[test]
    fn a_running_server_fires_each_minute_once() {
        let s = Schedule::parse("* * * * *", None).unwrap();
        let f = firings(&s, at(10, 0), at(10, 0), CatchUpPolicy::SkipMissed);
        assert_eq!(f.fire, vec![at(10, 0)]);
        assert_eq!((f.skipped, f.next), (0, Some(at(10, 1))));
    }

    #[test]
    fn after_three_hours_down_the_policies_differ() {
        let s = Schedule::parse("* * * * *", None).unwrap();
        let (due, now) = (at(10, 0), at(13, 0));
        let skip = firings(&s, due, now, CatchUpPolicy::SkipMissed);
        assert_eq!(skip.fire, vec![at(13, 0)]);
        assert_eq!(skip.skipped, 180);
        assert_eq!(skip.next, Some(at(13, 1)));
        let capped = firings(&s, due, now, CatchUpPolicy::EnqueueMissedWithCap);
        assert_eq!(capped.fire.len(), MAX_CATCH_UP);
        assert_eq!(capped.fire.first(), Some(&at(12, 36)));
        assert_eq!(capped.fire.last(), Some(&at(13, 0)));
        assert_eq!(capped.skipped, 181 - MAX_CATCH_UP as u64);
    }

    #[test]
    fn open_issues_decide_by_policy() {
        use ConcurrencyPolicy::*;
        assert_eq!(dispatch(CoalesceIfActive, false), Dispatch::Create);
        assert_eq!(dispatch(CoalesceIfActive, true), Dispatch::Coalesce);
        assert_eq!(dispatch(SkipIfActive, true), Dispatch::Skip);
        assert_eq!(dispatch(AlwaysEnqueue, true), Dispatch::Create);
    }
}
