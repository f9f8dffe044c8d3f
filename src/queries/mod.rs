//! The read side: every figure and listing that `/metrics`, `GET scheduler/status`, the list
//! routes, the daily report and the dashboard show, as pure functions of the projected `State`
//! and `now` returning plain structs. Callers only render them, so a number has one definition.
//!
//! - `status`   the scheduler status and its monitoring figures, what fires next
//! - `runs`     the runs listing; outcomes, durations and failures in a window; runs per day
//! - `backups`  the backups listing; storage by kind and over time; the largest backups
//! - `reports`  the reports listing
//! - `metrics`  the values of every `/metrics` family (the exposition text is the API's)
//! - `performance` per job: throughput, phases, ratios, trends, the backup window, storage
//!   growth and regressions (`GET reports/performance`, the report's performance section)
//! - `repository` the deduplicated repository's logical, stored and prunable bytes
//!
//! Windows are half-open, `(now - length, now]` (`Run::finished_in`): consecutive windows never
//! count a run twice, and a run "finished" after `now` (a clock set back) is not counted yet.

pub mod backups;
pub mod metrics;
pub mod performance;
pub mod reports;
pub mod repository;
pub mod runs;
pub mod status;

#[cfg(test)]
pub(crate) mod fixture;

use crate::events::Ts;
use serde::Serialize;

/// The window of `backupd_run_success_ratio_24h`, the status's `*_24h` figures and the report's
/// `last_24h`.
pub const DAY: time::Duration = time::Duration::hours(24);
/// The window of the status's `*_7d` figures and the report's `last_7d`.
pub const WEEK: time::Duration = time::Duration::days(7);

/// Where a window of `length` ending at `now` starts. A window reaching before the calendar
/// starts covers everything.
pub fn since(now: Ts, length: time::Duration) -> Ts {
    Ts(now
        .get()
        .checked_sub(length)
        .unwrap_or(time::PrimitiveDateTime::MIN.assume_utc()))
}

/// The Unix day number of an instant (UTC days, as `Catalog::storage_by_day` keys them).
pub fn unix_day(t: Ts) -> i64 {
    t.get().unix_timestamp().div_euclid(86_400)
}

/// A figure of one UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Day<T> {
    /// The Unix day number (`unix_day`).
    pub day: i64,
    pub value: T,
}

/// The `n` UTC days that end with `now`'s, as Unix day numbers.
pub fn last_days(now: Ts, n: i64) -> std::ops::RangeInclusive<i64> {
    let today = unix_day(now);
    today - (n - 1)..=today
}

/// Which items a listing returns: one job's or every job's, of one status (runs) or kind
/// (backups) or of all, at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter<K> {
    pub job_id: Option<String>,
    pub only: Option<K>,
    pub limit: usize,
}

impl<K: PartialEq> Filter<K> {
    /// Everything, at most `limit`.
    pub fn all(limit: usize) -> Filter<K> {
        Filter {
            job_id: None,
            only: None,
            limit,
        }
    }

    /// The first page of the `items` it admits (`of` gives an item's job id and status or
    /// kind), newest first by `newest`.
    fn page<'a, T, O: Ord>(
        &self,
        items: impl Iterator<Item = &'a T>,
        of: impl Fn(&T) -> (&str, &K),
        newest: impl Fn(&'a T) -> O,
    ) -> Page<&'a T> {
        let mut out: Vec<&T> = items
            .filter(|t| {
                let (job_id, class) = of(t);
                self.job_id.as_ref().is_none_or(|j| j == job_id)
                    && self.only.as_ref().is_none_or(|k| k == class)
            })
            .collect();
        out.sort_by_key(|t| std::cmp::Reverse(newest(t)));
        Page::first(out, self.limit)
    }
}

/// One page of a listing, newest first, and how many items matched the filter in all.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: usize,
}

impl<T> Page<T> {
    /// The first `limit` of `sorted`, and their number before the cut.
    fn first(mut sorted: Vec<T>, limit: usize) -> Page<T> {
        let total = sorted.len();
        sorted.truncate(limit);
        Page {
            items: sorted,
            total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_start_a_length_before_now_or_at_the_calendar_start() {
        let now = Ts::from_unix_nanos(1_774_699_200_000_000_000);
        assert_eq!(
            since(now, DAY),
            Ts::from_unix_nanos(1_774_612_800_000_000_000)
        );
        let huge = time::Duration::days(365 * 100_000);
        assert_eq!(
            since(now, huge).get(),
            time::PrimitiveDateTime::MIN.assume_utc()
        );
    }

    #[test]
    fn unix_days_start_at_midnight_utc() {
        // 2026-03-28T00:00:00Z is day 20_540; a second earlier is the day before.
        let midnight = 1_774_656_000;
        assert_eq!(
            unix_day(Ts::from_unix_nanos(midnight * 1_000_000_000)),
            20_540
        );
        assert_eq!(
            unix_day(Ts::from_unix_nanos((midnight - 1) * 1_000_000_000)),
            20_539
        );
        assert_eq!(unix_day(Ts::from_unix_nanos(-1)), -1);
    }
}
