//! Which off-site versions of a dossier are kept (DESIGN §10): the newest
//! version of each of the last `keep_daily` days, `keep_weekly` ISO weeks
//! and `keep_monthly` months that have versions, each rule on its own and
//! the union kept — the rules of restic's `forget --keep-daily/-weekly/
//! -monthly` (restic's `internal/restic/snapshot_policy.go`: the versions
//! newest first, a rule keeps a version when its bucket differs from the
//! last one that rule saw, until its count is spent). Buckets are read in
//! the machine's local time, as restic does. A dossier not modified for
//! months keeps its last versions: the count is of buckets that have
//! versions, not of calendar days back from now.
//!
//! Besides the rules, the newest version and any `protected` one (the
//! newest a restore drill checked) are never deleted.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, TimeZone};

/// `keep_daily`, `keep_weekly`, `keep_monthly`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Days (that have versions) whose newest version is kept.
    pub daily: u32,
    /// ISO weeks (ISO 8601 week-numbering year and week).
    pub weekly: u32,
    /// Calendar months.
    pub monthly: u32,
}

/// The versions to keep among `versions` (an id and its time each, in any
/// order): those the rules keep, the newest, and those in `protected`.
pub fn keep<'a, Tz: TimeZone>(
    versions: &[(&'a str, DateTime<Tz>)],
    policy: Policy,
    protected: &[&str],
) -> BTreeSet<&'a str> {
    let mut sorted: Vec<&(&str, DateTime<Tz>)> = versions.iter().collect();
    // Newest first; two versions of the same time, by id for a stable order.
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(a.0)));

    type Bucket<Tz> = fn(&DateTime<Tz>) -> (i32, u32, u32);
    let rules: [(u32, Bucket<Tz>); 3] = [
        (policy.daily, |t| (t.year(), t.ordinal(), 0)),
        (policy.weekly, |t| {
            let w = t.iso_week();
            (w.year(), w.week(), 0)
        }),
        (policy.monthly, |t| (t.year(), t.month(), 0)),
    ];
    let mut left: Vec<u32> = rules.iter().map(|r| r.0).collect();
    let mut last: Vec<Option<(i32, u32, u32)>> = vec![None; rules.len()];

    let mut kept = BTreeSet::new();
    if let Some(newest) = sorted.first() {
        kept.insert(newest.0);
    }
    for (id, time) in sorted.iter().map(|v| (v.0, &v.1)) {
        for (i, (_, bucket)) in rules.iter().enumerate() {
            let b = bucket(time);
            if left[i] > 0 && last[i] != Some(b) {
                kept.insert(id);
                left[i] -= 1;
                last[i] = Some(b);
            }
        }
        if protected.contains(&id) {
            kept.insert(id);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, Utc};

    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    #[test]
    fn each_rule_keeps_the_newest_of_its_buckets_and_the_union_is_kept() {
        // Two versions a day for 60 days, from 2026-01-01 (a Thursday).
        let times: Vec<(String, DateTime<Utc>)> = (0..120)
            .map(|i| {
                let t = at(2026, 1, 1, 8) + Duration::hours(12 * i);
                (format!("{i:03}"), t)
            })
            .collect();
        let versions: Vec<(&str, DateTime<Utc>)> =
            times.iter().map(|(id, t)| (id.as_str(), *t)).collect();
        let policy = Policy {
            daily: 3,
            weekly: 2,
            monthly: 2,
        };
        let kept = keep(&versions, policy, &[]);
        // Daily: the evening versions of the last 3 days (119, 117, 115).
        // Weekly: last ISO week's newest (119), the week before's newest:
        // day 52 = 2026-02-22, a Sunday, evening → 105.
        // Monthly: March 1st evening is 119 (day 59 = 2026-03-01), and
        // February's newest: 2026-02-28 evening → 117.
        let want: BTreeSet<&str> = ["105", "115", "117", "119"].into();
        assert_eq!(kept, want);
    }

    #[test]
    fn the_newest_and_the_protected_are_kept_whatever_the_rules() {
        let v = [
            ("a", at(2026, 1, 1, 8)),
            ("b", at(2026, 1, 2, 8)),
            ("c", at(2026, 1, 3, 8)),
        ];
        let none = Policy {
            daily: 0,
            weekly: 0,
            monthly: 0,
        };
        assert_eq!(keep(&v, none, &[]), ["c"].into());
        assert_eq!(keep(&v, none, &["a"]), ["a", "c"].into());
        assert!(keep::<Utc>(&[], none, &[]).is_empty());
    }

    #[test]
    fn counts_are_of_buckets_that_have_versions_not_of_days_back() {
        // A dossier saved on three days a year apart keeps all three with
        // keep_daily = 3, however long ago they were.
        let v = [
            ("a", at(2024, 5, 1, 8)),
            ("b", at(2025, 5, 1, 8)),
            ("c", at(2026, 5, 1, 8)),
        ];
        let p = Policy {
            daily: 3,
            weekly: 0,
            monthly: 0,
        };
        assert_eq!(keep(&v, p, &[]).len(), 3);
    }

    #[test]
    fn iso_weeks_cross_the_new_year() {
        // 2026-12-31 (Thursday) and 2027-01-03 (Sunday) are both in ISO
        // week 2026-W53: one weekly bucket.
        let v = [
            ("a", at(2026, 12, 31, 8)),
            ("b", at(2027, 1, 3, 8)),
            ("c", at(2026, 12, 27, 8)),
        ];
        let p = Policy {
            daily: 0,
            weekly: 2,
            monthly: 0,
        };
        assert_eq!(keep(&v, p, &[]), ["b", "c"].into());
    }
}
