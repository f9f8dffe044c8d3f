//! The scheduler's status: whether it runs, its jobs, what fires next, the run counts since the
//! log began, and the monitoring figures (`stats` of `GET scheduler/status`).

use super::{backups, runs, DAY, WEEK};
use crate::events::Ts;
use crate::projections::{JobStats, Outcomes, RunStatus, State};
use crate::scheduler::next_run_time;
use chrono_tz::Tz;
use serde::Serialize;

/// Everything `GET scheduler/status` shows but the zone's name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    pub running: bool,
    pub jobs: JobCounts,
    /// The soonest next run of any job; `None` while the scheduler is stopped.
    pub next_run: Option<Ts>,
    pub event_position: u64,
    /// Run counts, durations and bytes since the log began, deleted jobs' included.
    pub runs: JobStats,
    /// Runs started and not yet finished.
    pub runs_in_flight: usize,
    /// Live backups and their bytes.
    pub backups: usize,
    pub backup_bytes: u64,
    pub figures: Figures,
    /// The deduplicated repository's logical, stored and prunable bytes.
    pub repository: crate::projections::Figures,
    /// Why the log cannot be written (the last commit failed; none has gone through since):
    /// nothing the scheduler starts can be recorded. Filled in by the caller, which holds the
    /// store; the state cannot know it.
    pub record_error: Option<String>,
}

/// `repack_below` is `[repository] repack_below`: what a prune would free depends on it.
pub fn status(state: &State, zone: Tz, now: Ts, repack_below: f64) -> Status {
    let total = &state.stats.total;
    Status {
        running: state.schedule.scheduler_running,
        jobs: job_counts(state),
        next_run: upcoming(state, zone, now).iter().map(|u| u.at).min(),
        event_position: state.position,
        runs: total.clone(),
        runs_in_flight: state.schedule.runs_in_flight().count(),
        backups: state.catalog.backups.len(),
        backup_bytes: state.catalog.total_bytes(),
        figures: figures(state, now),
        repository: super::repository::figures(state, repack_below),
        record_error: None,
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct JobCounts {
    pub total: usize,
    pub paused: usize,
}

impl JobCounts {
    pub fn active(&self) -> usize {
        self.total - self.paused
    }
}

pub fn job_counts(state: &State) -> JobCounts {
    let jobs = &state.schedule.jobs;
    JobCounts {
        total: jobs.len(),
        paused: jobs.values().filter(|j| j.paused).count(),
    }
}

/// When a job fires next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Upcoming {
    pub job_id: String,
    pub name: String,
    pub at: Ts,
}

/// Each job's next run as `GET scheduler/jobs` shows it, in job id order; nothing while the
/// scheduler is stopped (nothing fires then).
pub fn upcoming(state: &State, zone: Tz, now: Ts) -> Vec<Upcoming> {
    if !state.schedule.scheduler_running {
        return Vec::new();
    }
    state
        .schedule
        .jobs
        .values()
        .filter_map(|j| {
            next_run_time(j, zone, now).map(|at| Upcoming {
                job_id: j.spec.id.clone(),
                name: j.spec.name.clone(),
                at,
            })
        })
        .collect()
}

/// Bytes of the live backups by kind, and their sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StorageBytes {
    pub full: u64,
    pub incremental: u64,
    pub archive: u64,
    pub total: u64,
}

/// The monitoring figures of `GET scheduler/status` (its `stats` object).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    pub success_rate_24h: Option<f64>,
    pub success_rate_7d: Option<f64>,
    /// Over every finished run in the log; the same as the status's older `success_rate`.
    pub success_rate_all: Option<f64>,
    pub runs_24h: Outcomes,
    /// Bytes of the newest run that recorded a backup (even if retention deleted it since).
    pub last_backup_bytes: Option<u64>,
    /// Mean over runs that report a duration (succeeded and failed; an interrupted run has
    /// none), rounded to the nearest millisecond.
    pub average_duration_ms: Option<u64>,
    pub storage_bytes: StorageBytes,
    /// Live backups.
    pub backups: usize,
}

pub fn figures(state: &State, now: Ts) -> Figures {
    let total = &state.stats.total;
    let timed = total.succeeded + total.failed;
    let stored = backups::storage(state);
    let runs_24h = runs::finished_within(state, DAY, now);
    Figures {
        success_rate_24h: runs_24h.success_rate(),
        success_rate_7d: runs::finished_within(state, WEEK, now).success_rate(),
        success_rate_all: total.success_rate(),
        runs_24h,
        last_backup_bytes: state
            .schedule
            .runs
            .values()
            .filter(|r| r.status == RunStatus::Succeeded && r.backup_id.is_some())
            .max_by_key(|r| (r.finished_at, r.started_at))
            .map(|r| r.bytes),
        average_duration_ms: (timed > 0)
            .then(|| (total.total_duration_ms as f64 / timed as f64).round() as u64),
        storage_bytes: StorageBytes {
            full: stored.full,
            incremental: stored.incremental,
            archive: stored.archive,
            total: state.catalog.total_bytes(),
        },
        backups: state.catalog.backups.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{BackupKind, Event, JobAction, Trigger};
    // Explicitly, over the glob's: the fixture's DAY is in seconds.
    use crate::queries::fixture::DAY;
    use crate::queries::fixture::*;

    #[test]
    fn figures_sum_storage_and_window_the_rates() {
        let mut s = finishing_at(&[10, 2 * DAY, 2 * DAY + 10]);
        apply(
            &mut s,
            vec![
                (3 * DAY, backup("f", "j", BackupKind::Full, 100, 5)),
                (
                    3 * DAY + 1,
                    backup("i", "j", BackupKind::Incremental, 20, 5),
                ),
                (3 * DAY + 2, backup("a", "j", BackupKind::Archive, 3, 5)),
            ],
        );
        let f = figures(&s, at(2 * DAY + 60));
        // finished: j@0 ok at 10 s (out of 24 h, in 7 d), j@1 failed, j@2 ok
        assert_eq!(
            f.runs_24h,
            Outcomes {
                succeeded: 1,
                failed: 1,
                interrupted: 0,
                cancelled: 0,
            }
        );
        assert_eq!(f.success_rate_24h, Some(0.5));
        assert_eq!(f.success_rate_7d, Some(2.0 / 3.0));
        assert_eq!(f.success_rate_all, Some(2.0 / 3.0));
        assert_eq!(f.last_backup_bytes, Some(10));
        // (1000 + 500 + 1000) / 3
        assert_eq!(f.average_duration_ms, Some(833));
        assert_eq!(
            f.storage_bytes,
            StorageBytes {
                full: 100,
                incremental: 20,
                archive: 3,
                total: 123
            }
        );
        assert_eq!(f.backups, 3);
        let empty = figures(&State::default(), at(0));
        assert_eq!(
            (
                empty.success_rate_24h,
                empty.success_rate_all,
                empty.last_backup_bytes,
                empty.average_duration_ms
            ),
            (None, None, None, None)
        );
        let json = serde_json::to_value(&empty).unwrap();
        assert!(json["success_rate_7d"].is_null());
        assert_eq!(json["storage_bytes"]["total"], 0);
    }

    #[test]
    fn the_average_duration_rounds_to_the_nearest_millisecond() {
        // 1000 + 500 = 1500 over 2 runs: 750 exactly; add a 1001 ms success: 2501 / 3 = 833.67.
        let mut s = finishing_at(&[10, 20]);
        assert_eq!(figures(&s, at(30)).average_duration_ms, Some(750));
        apply(
            &mut s,
            vec![(40, started("j@9", "j")), (41, succeeded("j@9", 1, 1001))],
        );
        assert_eq!(figures(&s, at(50)).average_duration_ms, Some(834));
    }

    #[test]
    fn the_status_counts_jobs_runs_and_storage() {
        let mut s = state(vec![
            (0, Event::SchedulerStarted),
            (0, created("a")),
            (0, created("b")),
            (1, paused("b")),
            (10, started("a@1", "a")),
            (11, succeeded("a@1", 64, 1000)),
            (20, started("a@2", "a")),
            (21, failed("a@2")),
            (30, started("a@3", "a")),
            (40, backup("f", "a", BackupKind::Full, 64, 40)),
            (
                50,
                Event::RunSkipped {
                    job_id: "a".into(),
                    slot: at(50),
                    running_run_id: "a@3".into(),
                },
            ),
        ]);
        let st = status(&s, chrono_tz::UTC, at(60), 0.5);
        assert!(st.running);
        assert_eq!(
            st.jobs,
            JobCounts {
                total: 2,
                paused: 1
            }
        );
        assert_eq!(st.jobs.active(), 1);
        assert_eq!(st.event_position, 11);
        assert_eq!(st.figures.success_rate_all, Some(0.5));
        let r = &st.runs;
        let counts = [
            r.started,
            r.succeeded,
            r.failed,
            r.interrupted,
            r.skipped,
            r.missed,
        ];
        assert_eq!(counts, [3, 1, 1, 0, 1, 0]);
        assert_eq!(st.runs_in_flight, 1);
        assert_eq!(
            (st.runs.bytes_written, st.backups, st.backup_bytes),
            (64, 1, 64)
        );
        assert_eq!(st.figures, figures(&s, at(60)));
        // Job a is created at T0 and runs hourly; b is paused: the soonest is a's T0 + 1 h.
        assert_eq!(st.next_run, Some(at(HOUR)));
        apply(
            &mut s,
            vec![(
                70,
                Event::SchedulerStopped {
                    reason: "api".into(),
                },
            )],
        );
        let stopped = status(&s, chrono_tz::UTC, at(80), 0.5);
        assert_eq!((stopped.running, stopped.next_run), (false, None));
    }

    #[test]
    fn upcoming_lists_each_scheduled_job_while_the_scheduler_runs() {
        let mut daily = spec("daily");
        daily.name = "Daily".into();
        daily.trigger = Trigger::Cron {
            minute: Some("30".into()),
            hour: Some("2".into()),
            day: None,
            day_of_week: None,
        };
        daily.action = JobAction::Cleanup;
        let mut s = state(vec![
            (0, created("hourly")),
            (0, Event::JobCreated { job: daily }),
        ]);
        assert!(upcoming(&s, chrono_tz::UTC, at(0)).is_empty());
        apply(&mut s, vec![(0, Event::SchedulerStarted)]);
        // T0 is 2026-03-28T12:00Z: the next 02:30 UTC is the 29th's, 14 h 30 min later.
        assert_eq!(
            upcoming(&s, chrono_tz::UTC, at(60)),
            [
                Upcoming {
                    job_id: "daily".into(),
                    name: "Daily".into(),
                    at: at(14 * HOUR + 30 * 60),
                },
                Upcoming {
                    job_id: "hourly".into(),
                    name: "hourly".into(),
                    at: at(HOUR),
                },
            ]
        );
    }
}
