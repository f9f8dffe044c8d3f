//! Runs: the listing with its filters; outcomes, bytes, durations and failures of the runs that
//! finished in a window, overall and per job; finished runs per UTC day.
//!
//! The listing holds restore runs too (`kind`); every figure here (outcomes, success rates,
//! durations, failures, per day) is of backup runs only: a restore is an operator's act, not a
//! job's health, and a failed restore must not page anyone about backups.

use super::{last_days, since, unix_day, Day, Filter, Page};
use crate::events::Ts;
use crate::projections::{Outcomes, Run, RunKind, RunStatus, State};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Every run status, in the order the API lists them.
pub const STATUSES: [RunStatus; 6] = [
    RunStatus::Running,
    RunStatus::Succeeded,
    RunStatus::Failed,
    RunStatus::Interrupted,
    RunStatus::Queued,
    RunStatus::Cancelled,
];

/// A status's name in the API, the listing filter and the report.
pub fn status_name(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "running",
        RunStatus::Succeeded => "succeeded",
        RunStatus::Failed => "failed",
        RunStatus::Interrupted => "interrupted",
        RunStatus::Queued => "queued",
        RunStatus::Cancelled => "cancelled",
    }
}

/// The status called `name`, if any.
pub fn status_named(name: &str) -> Option<RunStatus> {
    STATUSES.into_iter().find(|s| status_name(*s) == name)
}

/// Which runs `list` returns: `only` is a status.
pub type RunFilter = Filter<RunStatus>;

/// Matching runs, newest started first; the run id breaks ties of runs started in the same instant.
pub fn list<'a>(state: &'a State, filter: &RunFilter) -> Page<&'a Run> {
    list_of(state, filter, None)
}

/// `list` of one kind of run (`None` = both).
pub fn list_of<'a>(state: &'a State, filter: &RunFilter, kind: Option<RunKind>) -> Page<&'a Run> {
    filter.page(
        state
            .schedule
            .runs
            .values()
            .filter(move |r| kind.is_none_or(|k| r.kind == k)),
        |r| (&r.job_id, &r.status),
        |r| (r.started_at, &r.run_id),
    )
}

/// The runs that finished in a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Finished {
    pub outcomes: Outcomes,
    /// Bytes written by the runs that succeeded.
    pub bytes_written: u64,
}

/// Runs that finished in `(from, to]`, deleted jobs' runs included.
pub fn finished_in(state: &State, from: Ts, to: Ts) -> Finished {
    let mut out = Finished::default();
    for r in finished_runs(state, from, to) {
        out.outcomes.count(r.status);
        if r.status == RunStatus::Succeeded {
            out.bytes_written += r.bytes;
        }
    }
    out
}

/// Runs that finished in `(now - window, now]`. A run finished exactly `window` ago is out, as
/// in a Prometheus range.
pub fn finished_within(state: &State, window: time::Duration, now: Ts) -> Outcomes {
    finished_in(state, since(now, window), now).outcomes
}

/// `finished_in` per job id, for the jobs that had a run finish in the window.
pub fn finished_by_job(state: &State, from: Ts, to: Ts) -> BTreeMap<String, Outcomes> {
    let mut out: BTreeMap<String, Outcomes> = BTreeMap::new();
    for r in finished_runs(state, from, to) {
        out.entry(r.job_id.clone()).or_default().count(r.status);
    }
    out
}

/// Succeeded runs that had warnings (entries skipped or changed while read), and their
/// warnings in all (each run's `warnings_total`, not only the ones it kept).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warned {
    pub runs: u64,
    pub warnings: u64,
}

/// `Warned` per job id over the runs that finished in `(from, to]`, for the jobs that had any.
pub fn warned_by_job(state: &State, from: Ts, to: Ts) -> BTreeMap<String, Warned> {
    let mut out: BTreeMap<String, Warned> = BTreeMap::new();
    for r in finished_runs(state, from, to).filter(|r| r.warnings_total > 0) {
        let w = out.entry(r.job_id.clone()).or_default();
        w.runs += 1;
        w.warnings += r.warnings_total;
    }
    out
}

/// How long a job's runs took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Durations {
    pub runs: u64,
    /// Mean, rounded down.
    pub avg_ms: u64,
    pub max_ms: u64,
    /// Nearest rank: the smallest value with at least 95 % of the values at or below it.
    pub p95_ms: u64,
}

/// Durations of the succeeded and failed runs that finished in `(from, to]`, per job id. An
/// interruption's "duration" is how long until the process stopped: it is no figure.
pub fn durations_by_job(state: &State, from: Ts, to: Ts) -> BTreeMap<String, Durations> {
    let mut by_job: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for r in finished_runs(state, from, to) {
        if matches!(r.status, RunStatus::Succeeded | RunStatus::Failed) {
            by_job
                .entry(r.job_id.as_str())
                .or_default()
                .push(r.duration_ms.unwrap_or(0));
        }
    }
    by_job
        .into_iter()
        .map(|(job_id, mut ms)| {
            ms.sort_unstable();
            let n = ms.len() as u64;
            let rank = (95 * n).div_ceil(100).max(1) as usize;
            let d = Durations {
                runs: n,
                avg_ms: ms.iter().sum::<u64>() / n.max(1),
                max_ms: ms.last().copied().unwrap_or(0),
                p95_ms: ms[rank - 1],
            };
            (job_id.to_string(), d)
        })
        .collect()
}

/// Failed, interrupted and cancelled runs that finished in `(from, to]`, newest first (the run id
/// breaks ties): each ended without its backup.
pub fn failures(state: &State, from: Ts, to: Ts) -> Vec<&Run> {
    let mut out: Vec<&Run> = finished_runs(state, from, to)
        .filter(|r| {
            matches!(
                r.status,
                RunStatus::Failed | RunStatus::Interrupted | RunStatus::Cancelled
            )
        })
        .collect();
    out.sort_by(|a, b| (b.finished_at, &b.run_id).cmp(&(a.finished_at, &a.run_id)));
    out
}

/// Runs finished on each of the `days` UTC days up to `now`'s, oldest first, today last (only
/// what finished by `now`).
pub fn per_day(state: &State, now: Ts, days: i64) -> Vec<Day<Outcomes>> {
    let span = last_days(now, days);
    let first = *span.start();
    let mut out: Vec<Day<Outcomes>> = span
        .clone()
        .map(|day| Day {
            day,
            value: Outcomes::default(),
        })
        .collect();
    for r in backup_runs(state) {
        let Some(at) = r.finished_at.filter(|t| *t <= now) else {
            continue;
        };
        let d = unix_day(at);
        if span.contains(&d) {
            out[(d - first) as usize].value.count(r.status);
        }
    }
    out
}

fn finished_runs(state: &State, from: Ts, to: Ts) -> impl Iterator<Item = &Run> {
    backup_runs(state).filter(move |r| r.finished_in(from, to))
}

/// The runs every figure counts: restore runs are listed, never counted.
fn backup_runs(state: &State) -> impl Iterator<Item = &Run> {
    state
        .schedule
        .runs
        .values()
        .filter(|r| r.kind == RunKind::Backup)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queries::fixture::*;
    use crate::queries::DAY as ONE_DAY;

    fn o(succeeded: u64, failed: u64, interrupted: u64) -> Outcomes {
        Outcomes {
            cancelled: 0,
            succeeded,
            failed,
            interrupted,
        }
    }

    #[test]
    fn the_24h_window_ends_exactly_a_day_before_now() {
        let now = at(2 * DAY);
        // Runs 0 and 2 succeed, 1 and 3 fail.
        let s = finishing_at(&[DAY - 1, DAY + 1, DAY, 2 * DAY]);
        // DAY - 1 (24 h + 1 s ago) and DAY (exactly 24 h ago) are out.
        assert_eq!(finished_within(&s, ONE_DAY, now), o(0, 2, 0));
        // One second earlier, run 2 (finished then exactly 24 h - 1 s ago) is in, and run 3
        // (finished after `earlier`) is not counted yet.
        assert_eq!(finished_within(&s, ONE_DAY, at(2 * DAY - 1)), o(1, 1, 0));
        assert_eq!(finished_within(&s, ONE_DAY, at(4 * DAY)), o(0, 0, 0));
        // A window longer than the calendar takes everything that finished by now.
        let forever = time::Duration::days(365 * 100_000);
        assert_eq!(finished_within(&s, forever, now), o(2, 2, 0));
    }

    /// Two jobs; a@3 and b@3 start in the same instant and still run.
    fn sample() -> State {
        state(vec![
            (0, created("a")),
            (0, created("b")),
            (9, started("a@1", "a")),
            (10, succeeded("a@1", 100, 1000)),
            (19, started("a@2", "a")),
            (20, failed("a@2")),
            (29, started("b@1", "b")),
            (30, succeeded("b@1", 7, 3000)),
            (39, started("b@2", "b")),
            (40, interrupted("b@2")),
            (49, started("a@3", "a")),
            (49, started("b@3", "b")),
        ])
    }

    #[test]
    fn windows_count_outcomes_and_the_bytes_of_successes() {
        let s = sample();
        let all = finished_in(&s, at(0), at(100));
        assert_eq!(all.outcomes, o(2, 1, 1));
        assert_eq!(all.bytes_written, 107);
        // (10, 30]: a@2, b@1
        let mid = finished_in(&s, at(10), at(30));
        assert_eq!((mid.outcomes, mid.bytes_written), (o(1, 1, 0), 7));
        let by_job = finished_by_job(&s, at(0), at(100));
        assert_eq!(by_job.len(), 2);
        assert_eq!(by_job["a"], o(1, 1, 0));
        assert_eq!(by_job["b"], o(1, 0, 1));
        assert!(finished_by_job(&s, at(40), at(100)).is_empty());
    }

    #[test]
    fn warnings_per_job_count_the_runs_that_had_them_and_their_totals() {
        let mut s = sample();
        apply(
            &mut s,
            vec![
                (50, started("c@1", "c")),
                (60, succeeded_with_warnings("c@1", 3)),
                (61, started("c@2", "c")),
                (70, succeeded_with_warnings("c@2", 150)),
            ],
        );
        let w = warned_by_job(&s, at(0), at(100));
        assert_eq!(w.len(), 1, "a and b had none: {w:?}");
        assert_eq!(
            w["c"],
            Warned {
                runs: 2,
                warnings: 153
            }
        );
        // half-open like every window: c@1 finished at 60 is out of (60, 100]
        assert_eq!(
            warned_by_job(&s, at(60), at(100))["c"],
            Warned {
                runs: 1,
                warnings: 150
            }
        );
    }

    #[test]
    fn durations_leave_out_interruptions_and_take_the_nearest_rank() {
        let mut events = vec![(0, created("a")), (0, created("b"))];
        // a: 1..=20 s, finishing at 100..=119; b: one interrupted run only.
        for i in 1..=20 {
            let run = format!("a@{i}");
            events.push((98 + i, started(&run, "a")));
            events.push((99 + i, succeeded(&run, 1, i as u64 * 1000)));
        }
        events.push((200, started("b@1", "b")));
        events.push((201, interrupted("b@1")));
        events.push((210, started("a@fail", "a")));
        events.push((211, failed("a@fail")));
        let s = state(events);
        let d = durations_by_job(&s, at(0), at(300));
        assert_eq!(d.keys().collect::<Vec<_>>(), ["a"]);
        // 21 values: 0.5 s and 1..=20 s; 95 % of 21 is 19.95, so rank 20 = 19 s.
        assert_eq!(
            d["a"],
            Durations {
                runs: 21,
                avg_ms: (210_000 + 500) / 21,
                max_ms: 20_000,
                p95_ms: 19_000,
            }
        );
        // One run: every figure is that run.
        let one = durations_by_job(&s, at(105), at(106));
        assert_eq!(
            one["a"],
            Durations {
                runs: 1,
                avg_ms: 7000,
                max_ms: 7000,
                p95_ms: 7000
            }
        );
    }

    #[test]
    fn failures_are_failed_and_interrupted_runs_newest_first() {
        let s = sample();
        let ids = |from, to| -> Vec<String> {
            failures(&s, at(from), at(to))
                .iter()
                .map(|r| r.run_id.clone())
                .collect()
        };
        assert_eq!(ids(0, 100), ["b@2", "a@2"]);
        assert_eq!(ids(20, 100), ["b@2"]);
        assert!(ids(40, 100).is_empty());
    }

    #[test]
    fn listing_filters_sorts_newest_first_and_counts_before_the_limit() {
        let s = sample();
        let ids = |job_id: Option<&str>, only, limit| {
            let filter = RunFilter {
                job_id: job_id.map(Into::into),
                only,
                limit,
            };
            let page = list(&s, &filter);
            let ids: Vec<&str> = page.items.iter().map(|r| r.run_id.as_str()).collect();
            (ids.join(" "), page.total)
        };
        // Same start: the larger run id first.
        assert_eq!(ids(None, None, 10), ("b@3 a@3 b@2 b@1 a@2 a@1".into(), 6));
        assert_eq!(ids(None, None, 1), ("b@3".into(), 6));
        assert_eq!(ids(Some("a"), None, 10), ("a@3 a@2 a@1".into(), 3));
        assert_eq!(
            ids(None, Some(RunStatus::Running), 10),
            ("b@3 a@3".into(), 2)
        );
        assert_eq!(
            ids(Some("a"), Some(RunStatus::Failed), 10),
            ("a@2".into(), 1)
        );
        assert_eq!(ids(Some("b"), Some(RunStatus::Failed), 10), ("".into(), 0));
        assert_eq!(list(&s, &RunFilter::all(50)).total, 6);
    }

    #[test]
    fn status_names_round_trip() {
        for s in STATUSES {
            assert_eq!(status_named(status_name(s)), Some(s));
        }
        assert_eq!(status_name(RunStatus::Interrupted), "interrupted");
        assert_eq!(status_named("Running"), None);
    }

    #[test]
    fn runs_per_day_fill_every_day_and_ignore_runs_after_now() {
        // T0 is 12:00 UTC on day 20_540.
        let s = state(vec![
            (-4 * DAY, created("a")),
            (-3 * DAY, started("a@old", "a")),
            (-3 * DAY + 1, succeeded("a@old", 1, 1)),
            (-DAY, started("a@1", "a")),
            (-DAY + 1, failed("a@1")),
            (-HOUR, started("a@2", "a")),
            (-HOUR + 1, succeeded("a@2", 1, 1)),
            (-30, started("a@3", "a")),
            (-29, interrupted("a@3")),
            (10, started("a@late", "a")),
            (11, succeeded("a@late", 1, 1)),
        ]);
        let days = per_day(&s, at(0), 3);
        assert_eq!(
            days,
            [
                Day {
                    day: 20_538,
                    value: o(0, 0, 0)
                },
                Day {
                    day: 20_539,
                    value: o(0, 1, 0)
                },
                Day {
                    day: 20_540,
                    value: o(1, 0, 1)
                },
            ]
        );
    }
}
