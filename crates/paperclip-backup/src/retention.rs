//! Tiered retention: which backups to keep, as a pure function of their times.

use std::collections::HashSet;

use chrono::{DateTime, Datelike, Duration, Utc};

/// How long backups are kept. One default, used by the CLI, the scheduler and the docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Keep every backup younger than this many days.
    pub daily_days: u32,
    /// Then keep the newest backup of each ISO week, for this many weeks.
    pub weekly_weeks: u32,
    /// Then keep the newest backup of each calendar month (UTC), for this many months.
    pub monthly_months: u32,
}

impl Retention {
    /// The default: 7 days of everything, 4 weekly, 6 monthly. The daily tier follows
    /// `database.backup.retentionDays` / `--retention-days`.
    pub fn with_days(days: u32) -> Self {
        Self {
            daily_days: days.max(1),
            weekly_weeks: 4,
            monthly_months: 6,
        }
    }
}

/// The items to delete, given each item's time, `now` and the policy. Never deletes the newest
/// backup, whatever its age.
pub fn to_prune<T: Clone>(
    items: &[(T, DateTime<Utc>)],
    now: DateTime<Utc>,
    r: Retention,
) -> Vec<T> {
    let mut sorted: Vec<&(T, DateTime<Utc>)> = items.iter().collect();
    sorted.sort_by_key(|b| std::cmp::Reverse(b.1));
    let mut weeks = HashSet::new();
    let mut months = HashSet::new();
    let mut prune = Vec::new();
    let month_index = |t: DateTime<Utc>| t.year() * 12 + t.month0() as i32;
    for (i, (item, t)) in sorted.iter().enumerate() {
        let age = now - *t;
        let keep = if i == 0 || age < Duration::days(i64::from(r.daily_days)) {
            true
        } else if age < Duration::weeks(i64::from(r.weekly_weeks)) {
            let w = t.iso_week();
            weeks.insert((w.year(), w.week()))
        } else if month_index(now) - month_index(*t) < r.monthly_months as i32 {
            months.insert(month_index(*t))
        } else {
            false
        };
        if !keep {
            prune.push(item.clone());
        }
    }
    prune
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn keeps_daily_then_weekly_then_monthly() {
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        // One backup every 6 hours for 400 days.
        let items: Vec<(i64, DateTime<Utc>)> = (0..1600)
            .map(|i| (i, now - Duration::hours(6 * i)))
            .collect();
        let r = Retention {
            daily_days: 7,
            weekly_weeks: 4,
            monthly_months: 6,
        };
        let pruned: HashSet<i64> = to_prune(&items, now, r).into_iter().collect();
        let kept: Vec<&(i64, DateTime<Utc>)> =
            items.iter().filter(|(i, _)| !pruned.contains(i)).collect();
        // Everything from the last 7 days (28 backups).
        assert_eq!(
            kept.iter()
                .filter(|(_, t)| now - *t < Duration::days(7))
                .count(),
            28
        );
        // Between 7 days and 4 weeks: one per ISO week.
        let weekly: Vec<_> = kept
            .iter()
            .filter(|(_, t)| now - *t >= Duration::days(7) && now - *t < Duration::weeks(4))
            .collect();
        let weeks: HashSet<_> = weekly
            .iter()
            .map(|(_, t)| (t.iso_week().year(), t.iso_week().week()))
            .collect();
        assert_eq!(weekly.len(), weeks.len());
        assert!((3..=4).contains(&weekly.len()), "{}", weekly.len());
        // Older: at most one per month, none older than 6 calendar months.
        let older: Vec<_> = kept
            .iter()
            .filter(|(_, t)| now - *t >= Duration::weeks(4))
            .collect();
        let months: HashSet<_> = older.iter().map(|(_, t)| (t.year(), t.month())).collect();
        assert_eq!(older.len(), months.len());
        assert!(older
            .iter()
            .all(|(_, t)| (now.year() * 12 + now.month() as i32)
                - (t.year() * 12 + t.month() as i32)
                < 6));
        assert!(older.len() >= 5);
    }

    #[test]
    fn the_newest_backup_survives_any_policy() {
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 0, 0, 0).unwrap();
        let items = vec![
            ("old", now - Duration::days(900)),
            ("older", now - Duration::days(1000)),
        ];
        let pruned = to_prune(
            &items,
            now,
            Retention {
                daily_days: 1,
                weekly_weeks: 1,
                monthly_months: 1,
            },
        );
        assert_eq!(pruned, vec!["older"]);
    }
}
