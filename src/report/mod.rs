//! The daily report, pure: `build` gathers the figures `queries` computes from the state into
//! the report's shape, `html` draws them as one self-contained page. Reading the clock and
//! writing files is the engine's part (`engine::report`).
//!
//! Windows are half-open, `(now - length, now]`: a run that finished exactly 24 hours before
//! `now` belongs to yesterday's report, not to today's, so consecutive daily reports never count
//! a run twice.

mod html;
mod model;

pub use html::html;
pub use model::{
    BackupLine, DayRuns, Failure, JobDurations, JobRuns, NextRun, RemoteLine, Report, Storage,
    StorageDay, Warned, Window,
};

use crate::events::Ts;
use crate::projections::{State, StoragePoint};
use crate::queries::{backups, runs, since, status, Day, DAY, WEEK};
use chrono_tz::Tz;
use time::Date;

/// How many of the largest backups are listed.
pub const LARGEST: usize = 10;
/// Days of the runs-per-day chart, today included.
pub const RUN_DAYS: i64 = 14;
/// Days of the storage chart, today included.
pub const STORAGE_DAYS: i64 = 90;

/// The report `id` on `state` as of `now`. `next_runs` come from the scheduler's planning
/// (`next_runs`), passed in so this stays a function of its arguments. Every figure is a
/// `queries` function's, the same that the status, `/metrics` and the dashboard show.
pub fn build(state: &State, now: Ts, id: &str, next_runs: Vec<NextRun>) -> Report {
    let (day_ago, week_ago) = (since(now, DAY), since(now, WEEK));
    let name = |job_id: &str| {
        state
            .schedule
            .jobs
            .get(job_id)
            .map_or_else(|| job_id.to_string(), |j| j.spec.name.clone())
    };

    // Every job that exists, and every job that ran in the week.
    let day = runs::finished_by_job(state, day_ago, now);
    let mut week = runs::finished_by_job(state, week_ago, now);
    for id in state.schedule.jobs.keys() {
        week.entry(id.clone()).or_default();
    }
    let warned_day = runs::warned_by_job(state, day_ago, now);
    let warned_week = runs::warned_by_job(state, week_ago, now);
    let runs_per_job = week
        .into_iter()
        .map(|(job_id, last_7d)| JobRuns {
            name: name(&job_id),
            description: state
                .schedule
                .jobs
                .get(&job_id)
                .and_then(|j| j.spec.action.backup_config()?.description.clone()),
            last_24h: day.get(&job_id).copied().unwrap_or_default(),
            last_7d,
            warnings_24h: warned_day.get(&job_id).copied().unwrap_or_default(),
            warnings_7d: warned_week.get(&job_id).copied().unwrap_or_default(),
            job_id,
        })
        .collect();

    let durations = runs::durations_by_job(state, week_ago, now)
        .into_iter()
        .map(|(job_id, d)| JobDurations {
            name: name(&job_id),
            job_id,
            runs: d.runs,
            avg_ms: d.avg_ms,
            max_ms: d.max_ms,
            p95_ms: d.p95_ms,
        })
        .collect();

    let failures = runs::failures(state, week_ago, now)
        .into_iter()
        .map(|r| Failure {
            run_id: r.run_id.clone(),
            job_id: r.job_id.clone(),
            name: name(&r.job_id),
            status: runs::status_name(r.status).into(),
            at: r.finished_at.unwrap_or(now),
            error: r.error.clone().unwrap_or_default(),
        })
        .collect();

    let largest_backups = backups::largest(state, LARGEST)
        .into_iter()
        .map(|b| BackupLine {
            id: b.record.id.clone(),
            job_id: b.record.job_id.clone(),
            kind: b.record.kind,
            bytes: b.record.bytes,
            created_at: b.record.created_at,
        })
        .collect();

    let mut next_runs = next_runs;
    next_runs.sort_by(|a, b| (a.at, &a.job_id).cmp(&(b.at, &b.job_id)));

    let remotes = state
        .offsite
        .remotes
        .keys()
        .map(|name| {
            let p = state.offsite.figures(name);
            RemoteLine {
                name: name.clone(),
                pending_objects: p.objects,
                pending_bytes: p.bytes,
                oldest_pending_backup: p.oldest_backup,
                last_success: p.last_success,
                last_failure: p.last_failure.map(|f| f.reason),
            }
        })
        .collect();

    Report {
        id: id.to_string(),
        generated_at: now,
        scheduler_running: state.schedule.scheduler_running,
        last_24h: window(state, day_ago, now),
        last_7d: window(state, week_ago, now),
        runs_per_job,
        durations,
        largest_backups,
        storage: storage(backups::storage(state)),
        failures,
        next_runs,
        health: state.health.clone(),
        runs_per_day: runs::per_day(state, now, RUN_DAYS)
            .into_iter()
            .map(|Day { day, value: o }| DayRuns {
                day: day_name(day),
                succeeded: o.succeeded,
                failed: o.failed,
                interrupted: o.interrupted,
            })
            .collect(),
        storage_over_time: backups::storage_per_day(state, now, STORAGE_DAYS)
            .into_iter()
            .map(|Day { day, value: p }| StorageDay {
                day: day_name(day),
                storage: storage(p),
            })
            .collect(),
        remotes,
    }
}

/// When each job fires next, as `GET scheduler/jobs` shows it; nothing while the scheduler is
/// stopped (nothing fires then).
pub fn next_runs(state: &State, zone: Tz, now: Ts) -> Vec<NextRun> {
    status::upcoming(state, zone, now)
        .into_iter()
        .map(|u| NextRun {
            job_id: u.job_id,
            name: u.name,
            at: u.at,
        })
        .collect()
}

fn window(state: &State, from: Ts, to: Ts) -> Window {
    let runs::Finished {
        outcomes: o,
        bytes_written,
    } = runs::finished_in(state, from, to);
    Window {
        from,
        to,
        finished: o.finished(),
        succeeded: o.succeeded,
        failed: o.failed,
        interrupted: o.interrupted,
        success_rate: o.success_rate(),
        bytes_written,
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

/// `YYYY-MM-DD` of a Unix day number (`queries::unix_day`).
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

#[cfg(test)]
mod tests;
