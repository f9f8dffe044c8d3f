//! The daily report, pure: `build` folds the state into figures, `html` draws them as one
//! self-contained page. Reading the clock and writing files is the engine's part (`engine::report`).
//!
//! Windows are half-open, `(now - length, now]`: a run that finished exactly 24 hours before
//! `now` belongs to yesterday's report, not to today's, so consecutive daily reports never count
//! a run twice.

mod html;
mod model;

pub use html::html;
pub use model::{
    BackupLine, DayRuns, Failure, JobDurations, JobRuns, NextRun, Report, Storage, StorageDay,
    Window,
};

use crate::events::Ts;
use crate::projections::{Outcomes, Run, RunStatus, State, StoragePoint};
use crate::scheduler::next_run_time;
use chrono_tz::Tz;
use std::collections::BTreeMap;
use time::{Date, Duration};

/// How many of the largest backups are listed.
pub const LARGEST: usize = 10;
/// Days of the runs-per-day chart, today included.
pub const RUN_DAYS: i64 = 14;
/// Days of the storage chart, today included.
pub const STORAGE_DAYS: i64 = 90;

/// The report `id` on `state` as of `now`. `next_runs` come from the scheduler's planning
/// (`next_runs`), passed in so this stays a function of its arguments.
pub fn build(state: &State, now: Ts, id: &str, next_runs: Vec<NextRun>) -> Report {
    let day_ago = Ts(now.get() - Duration::days(1));
    let week_ago = Ts(now.get() - Duration::days(7));
    let finished: Vec<&Run> = state
        .schedule
        .runs
        .values()
        .filter(|r| r.finished_at.is_some_and(|t| t <= now))
        .collect();
    let name = |job_id: &str| {
        state
            .schedule
            .jobs
            .get(job_id)
            .map_or_else(|| job_id.to_string(), |j| j.spec.name.clone())
    };

    let mut per_job: BTreeMap<&str, (Outcomes, Outcomes)> = state
        .schedule
        .jobs
        .keys()
        .map(|id| (id.as_str(), Default::default()))
        .collect();
    let mut durations: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let mut failures = Vec::new();
    for r in finished.iter().filter(|r| r.finished_in(week_ago, now)) {
        let entry = per_job.entry(r.job_id.as_str()).or_default();
        entry.1.count(r.status);
        if r.finished_in(day_ago, now) {
            entry.0.count(r.status);
        }
        match r.status {
            RunStatus::Succeeded | RunStatus::Failed => durations
                .entry(r.job_id.as_str())
                .or_default()
                .push(r.duration_ms.unwrap_or(0)),
            // An interruption's "duration" is how long until the process stopped: no figure.
            RunStatus::Interrupted | RunStatus::Running => {}
        }
        if matches!(r.status, RunStatus::Failed | RunStatus::Interrupted) {
            failures.push(Failure {
                run_id: r.run_id.clone(),
                job_id: r.job_id.clone(),
                name: name(&r.job_id),
                status: status_name(r.status).into(),
                at: r.finished_at.unwrap_or(now),
                error: r.error.clone().unwrap_or_default(),
            });
        }
    }
    failures.sort_by(|a, b| (b.at, &b.run_id).cmp(&(a.at, &a.run_id)));

    let mut largest: Vec<BackupLine> = state
        .catalog
        .backups
        .values()
        .map(|b| BackupLine {
            id: b.record.id.clone(),
            job_id: b.record.job_id.clone(),
            kind: b.record.kind,
            bytes: b.record.bytes,
            created_at: b.record.created_at,
        })
        .collect();
    largest.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.id.cmp(&b.id)));
    largest.truncate(LARGEST);

    let mut next_runs = next_runs;
    next_runs.sort_by(|a, b| (a.at, &a.job_id).cmp(&(b.at, &b.job_id)));

    Report {
        id: id.to_string(),
        generated_at: now,
        scheduler_running: state.schedule.scheduler_running,
        last_24h: window(&finished, day_ago, now),
        last_7d: window(&finished, week_ago, now),
        runs_per_job: per_job
            .into_iter()
            .map(|(job_id, (day, week))| JobRuns {
                job_id: job_id.to_string(),
                name: name(job_id),
                last_24h: day,
                last_7d: week,
            })
            .collect(),
        durations: durations
            .into_iter()
            .map(|(job_id, mut ms)| {
                ms.sort_unstable();
                let n = ms.len() as u64;
                // Nearest rank: the smallest value with at least 95 % of the values at or below it.
                let rank = (95 * n).div_ceil(100).max(1) as usize;
                JobDurations {
                    job_id: job_id.to_string(),
                    name: name(job_id),
                    runs: n,
                    avg_ms: ms.iter().sum::<u64>() / n.max(1),
                    max_ms: ms.last().copied().unwrap_or(0),
                    p95_ms: ms[rank - 1],
                }
            })
            .collect(),
        largest_backups: largest,
        storage: storage(state.catalog.storage_point()),
        failures,
        next_runs,
        health: state.health.clone(),
        runs_per_day: runs_per_day(&finished, now),
        storage_over_time: storage_over_time(state, now),
    }
}

/// When each job fires next, as `GET scheduler/jobs` shows it; nothing while the scheduler is
/// stopped (nothing fires then).
pub fn next_runs(state: &State, zone: Tz, now: Ts) -> Vec<NextRun> {
    if !state.schedule.scheduler_running {
        return Vec::new();
    }
    state
        .schedule
        .jobs
        .values()
        .filter_map(|j| {
            next_run_time(j, zone, now).map(|at| NextRun {
                job_id: j.spec.id.clone(),
                name: j.spec.name.clone(),
                at,
            })
        })
        .collect()
}

fn status_name(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "running",
        RunStatus::Succeeded => "succeeded",
        RunStatus::Failed => "failed",
        RunStatus::Interrupted => "interrupted",
    }
}

fn window(finished: &[&Run], from: Ts, to: Ts) -> Window {
    let mut o = Outcomes::default();
    let mut bytes = 0;
    for r in finished.iter().filter(|r| r.finished_in(from, to)) {
        o.count(r.status);
        if r.status == RunStatus::Succeeded {
            bytes += r.bytes;
        }
    }
    Window {
        from,
        to,
        finished: o.finished(),
        succeeded: o.succeeded,
        failed: o.failed,
        interrupted: o.interrupted,
        success_rate: o.success_rate(),
        bytes_written: bytes,
    }
}

fn storage(p: StoragePoint) -> Storage {
    Storage {
        full: p.full,
        incremental: p.incremental,
        archive: p.archive,
        reports: p.reports,
        total: p.total(),
    }
}

/// The Unix day number of an instant (as `Catalog::storage_by_day` keys it).
fn unix_day(t: Ts) -> i64 {
    t.get().unix_timestamp().div_euclid(86_400)
}

fn day_name(day: i64) -> String {
    let date = Date::from_julian_day(UNIX_EPOCH_JULIAN + day as i32)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH.date());
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// The Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN: i32 = 2_440_588;

fn runs_per_day(finished: &[&Run], now: Ts) -> Vec<DayRuns> {
    let today = unix_day(now);
    let first = today - (RUN_DAYS - 1);
    let mut days: Vec<DayRuns> = (first..=today)
        .map(|d| DayRuns {
            day: day_name(d),
            succeeded: 0,
            failed: 0,
            interrupted: 0,
        })
        .collect();
    for r in finished {
        let Some(at) = r.finished_at else { continue };
        let d = unix_day(at);
        if !(first..=today).contains(&d) {
            continue;
        }
        let slot = &mut days[(d - first) as usize];
        match r.status {
            RunStatus::Succeeded => slot.succeeded += 1,
            RunStatus::Failed => slot.failed += 1,
            RunStatus::Interrupted => slot.interrupted += 1,
            RunStatus::Running => {}
        }
    }
    days
}

fn storage_over_time(state: &State, now: Ts) -> Vec<StorageDay> {
    let today = unix_day(now);
    let first = today - (STORAGE_DAYS - 1);
    let by_day = &state.catalog.storage_by_day;
    // What was stored when the chart starts: the last change before its first day.
    let mut current = by_day
        .range(..first)
        .next_back()
        .map(|(_, p)| *p)
        .unwrap_or_default();
    (first..=today)
        .map(|d| {
            if let Some(p) = by_day.get(&d) {
                current = *p;
            }
            StorageDay {
                day: day_name(d),
                storage: storage(current),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
