//! A job's `keep` rules in restic's and borg's vocabulary: which of its backups retention keeps,
//! and by which rule. Pure: the job's restore points in, the kept ones with their rules out.
//!
//! Combined as restic's `forget` combines its `--keep-*` options: a backup is kept if ANY rule
//! keeps it, and each rule counts on its own:
//! - `last N`: the N newest backups;
//! - `hourly`/`daily`/`weekly`/`monthly`/`yearly N`: going from the newest backup to the
//!   oldest, the newest backup of each of the N newest hours / days / ISO weeks / months / years
//!   (UTC) that have a backup; a period without a backup does not use up a count. If a rule
//!   still has counts left when the oldest backup is reached, the oldest backup is kept too (the
//!   longest history the counts allow, as restic does since 0.17);
//! - `within D`: every backup made less than D before the job's NEWEST backup (not before now,
//!   so a job that stopped backing up does not lose its history to the clock).
//!
//! The safety rules (a kept backup keeps its bases, the newest good full stays, a plan that
//! deletes everything is refused) are `retention`'s, applied after these.

use std::collections::BTreeMap;

use crate::domain::duration;
use crate::events::{KeepRules, Ts};

/// One period rule: its name and the label of the period a time falls in. Labels are unique
/// per period, so two times share a period exactly when their labels are equal.
type Period = (&'static str, fn(Ts) -> String);

const PERIODS: [Period; 5] = [
    ("hourly", |t| {
        let t = t.get();
        format!("{} {:02}:00", t.date(), t.hour())
    }),
    ("daily", |t| t.get().date().to_string()),
    ("weekly", |t| {
        let (year, week, _) = t.get().to_iso_week_date();
        format!("{year}-W{week:02}")
    }),
    ("monthly", |t| {
        let t = t.get();
        format!("{}-{:02}", t.year(), u8::from(t.month()))
    }),
    ("yearly", |t| t.get().year().to_string()),
];

fn count(rules: &KeepRules, period: &str) -> Option<u32> {
    match period {
        "hourly" => rules.hourly,
        "daily" => rules.daily,
        "weekly" => rules.weekly,
        "monthly" => rules.monthly,
        _ => rules.yearly,
    }
}

/// Whether the rules keep anything at all (an object of zeros keeps nothing).
pub fn is_empty(rules: &KeepRules) -> bool {
    *rules == KeepRules::default()
}

/// For each kept backup of one job, the rules that keep it, e.g. `keep.daily 2026-11-29`,
/// `keep.last 3` (the third newest), `keep.within 7d`, `keep.monthly oldest`. `points` are the
/// job's restore points `(id, created_at)` in any order; ties in time go by id, newest last.
pub fn kept<'a>(rules: &KeepRules, points: &[(&'a str, Ts)]) -> BTreeMap<&'a str, Vec<String>> {
    let mut sorted = points.to_vec();
    sorted.sort_by(|a, b| (b.1, b.0).cmp(&(a.1, a.0)));
    let mut out: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let Some(&(_, newest)) = sorted.first() else {
        return out;
    };
    // A backup is within D if it is strictly younger than newest - D (restic: "After").
    let within_from = rules
        .within_secs
        .map(|d| newest.get().unix_timestamp_nanos() - i128::from(d) * 1_000_000_000);
    let mut left: Vec<u32> = PERIODS
        .iter()
        .map(|(name, _)| count(rules, name).unwrap_or(0))
        .collect();
    let mut last_label: Vec<Option<String>> = vec![None; PERIODS.len()];
    let oldest = sorted.len() - 1;
    for (nr, &(id, at)) in sorted.iter().enumerate() {
        let mut why = Vec::new();
        if rules.last.is_some_and(|n| (nr as u64) < u64::from(n)) {
            why.push(format!("keep.last {}", nr + 1));
        }
        for (i, (name, label_of)) in PERIODS.iter().enumerate() {
            if left[i] == 0 {
                continue;
            }
            let label = label_of(at);
            if last_label[i].as_deref() != Some(label.as_str()) {
                why.push(format!("keep.{name} {label}"));
                left[i] -= 1;
                last_label[i] = Some(label);
            } else if nr == oldest {
                // Counts left over and no older period: the oldest backup stretches the history.
                why.push(format!("keep.{name} oldest"));
                left[i] -= 1;
            }
        }
        if let (Some(from), Some(d)) = (within_from, rules.within_secs) {
            if at.get().unix_timestamp_nanos() > from {
                why.push(format!("keep.within {}", duration::format(Some(d))));
            }
        }
        if !why.is_empty() {
            out.insert(id, why);
        }
    }
    out
}

#[cfg(test)]
mod tests;
