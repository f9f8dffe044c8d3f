//! The values of every `/metrics` family, computed once per scrape; `api::metrics` only writes
//! them in the Prometheus text format.

use super::backups::{self, KindFigures};
use super::status::{job_counts, JobCounts};
use super::{runs, DAY};
use crate::events::Ts;
use crate::projections::{HealthRecord, JobStats, State};
use serde::Serialize;
use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// Every job that exists or ever ran, by id: deleted jobs keep their series (that history
    /// happened), and new ones are at 0 from the start (so `increase()` sees the first run).
    pub jobs: Vec<JobSeries>,
    /// Over the runs that finished in the 24 h before the scrape; `None` when none finished.
    pub success_ratio_24h: Option<f64>,
    pub runs_in_progress: usize,
    /// Live backups and their bytes, every kind.
    pub kinds: Vec<KindFigures>,
    /// Backups whose files were deleted (retention or by request), and their bytes.
    pub deleted_backups: u64,
    pub deleted_bytes: u64,
    pub event_position: u64,
    pub scheduler_running: bool,
    pub jobs_by_state: JobCounts,
    /// Bytes of the kept daily reports (JSON and HTML).
    pub report_bytes: u64,
    /// The latest health check; `None` before the first one.
    pub health: Option<HealthRecord>,
    /// The deduplicated repository's figures.
    pub repository: crate::projections::Figures,
}

/// One job's series: its counts since the log began, its last run's duration and bytes, its
/// last success.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobSeries {
    pub job_id: String,
    pub stats: JobStats,
}

impl JobSeries {
    /// The outcomes `backupd_runs_total` counts, by their label, in the order they are written.
    pub fn by_outcome(&self) -> [(&'static str, u64); 6] {
        let s = &self.stats;
        [
            ("succeeded", s.succeeded),
            ("failed", s.failed),
            ("interrupted", s.interrupted),
            ("cancelled", s.cancelled),
            ("skipped", s.skipped),
            ("missed", s.missed),
        ]
    }
}

/// The figures with the default `repack_below` (tests; the API passes the configured one).
pub fn metrics(state: &State, now: Ts) -> Metrics {
    metrics_with(state, now, crate::projections::DEFAULT_REPACK_BELOW)
}

pub fn metrics_with(state: &State, now: Ts, repack_below: f64) -> Metrics {
    let stats = &state.stats;
    let ids: BTreeSet<&String> = stats
        .per_job
        .keys()
        .chain(state.schedule.jobs.keys())
        .collect();
    let jobs = ids
        .into_iter()
        .map(|id| JobSeries {
            job_id: id.clone(),
            stats: stats.per_job.get(id).cloned().unwrap_or_default(),
        })
        .collect();
    let catalog = &state.catalog;
    Metrics {
        jobs,
        success_ratio_24h: runs::finished_within(state, DAY, now).success_rate(),
        runs_in_progress: state.schedule.runs_in_flight().count(),
        kinds: backups::by_kind(state),
        deleted_backups: catalog.deleted_count,
        deleted_bytes: catalog.deleted_bytes,
        event_position: state.position,
        scheduler_running: state.schedule.scheduler_running,
        jobs_by_state: job_counts(state),
        report_bytes: backups::storage(state).reports,
        health: state.health.clone(),
        repository: super::repository::figures(state, repack_below),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{BackupKind, Event, HealthStatus};
    // Explicitly, over the glob's: the fixture's DAY is in seconds.
    use crate::queries::fixture::DAY;
    use crate::queries::fixture::*;

    #[test]
    fn every_family_from_one_log() {
        let s = state(vec![
            (0, created("gone")),
            (0, created("nightly")),
            (0, created("resting")),
            (0, Event::SchedulerStarted),
            (1, paused("resting")),
            (10, started("gone@1", "gone")),
            (20, failed("gone@1")),
            (30, deleted("gone")),
            (100, started("nightly@1", "nightly")),
            (101, backup("b1", "nightly", BackupKind::Full, 2048, 101)),
            (102, succeeded("nightly@1", 2048, 1500)),
            (200, started("nightly@2", "nightly")),
            (
                201,
                backup("b2", "nightly", BackupKind::Incremental, 10, 201),
            ),
            (
                300,
                Event::BackupDeleted {
                    backup_id: "b2".into(),
                    rule: "expired".into(),
                    bytes: 10,
                },
            ),
            (400, report_generated("r1", 4096)),
            (
                500,
                health_checked(&[("disk_space", HealthStatus::Warning)]),
            ),
        ]);
        let m = metrics(&s, at(600));
        let series: Vec<(&str, [(&str, u64); 6])> = m
            .jobs
            .iter()
            .map(|j| (j.job_id.as_str(), j.by_outcome()))
            .collect();
        let counts = |ok, failed| {
            [
                ("succeeded", ok),
                ("failed", failed),
                ("interrupted", 0),
                ("cancelled", 0),
                ("skipped", 0),
                ("missed", 0),
            ]
        };
        assert_eq!(
            series,
            [
                ("gone", counts(0, 1)),
                ("nightly", counts(1, 0)),
                ("resting", counts(0, 0)),
            ]
        );
        assert_eq!(m.jobs[0].stats.started, 1);
        assert_eq!(m.jobs[1].stats.started, 2);
        let last = |i: usize| {
            let j = &m.jobs[i].stats;
            (j.last_duration_ms, j.last_bytes, j.last_success_at)
        };
        assert_eq!(last(0), (Some(500), None, None));
        assert_eq!(last(1), (Some(1500), Some(2048), Some(at(102))));
        assert_eq!(last(2), (None, None, None));
        // gone@1 failed, nightly@1 succeeded; nightly@2 still runs.
        assert_eq!(m.success_ratio_24h, Some(0.5));
        assert_eq!(m.runs_in_progress, 1);
        let k = |kind, backups, bytes| KindFigures {
            kind,
            backups,
            bytes,
        };
        assert_eq!(
            m.kinds,
            [
                k(BackupKind::Full, 1, 2048),
                k(BackupKind::Incremental, 0, 0),
                k(BackupKind::Archive, 0, 0)
            ]
        );
        assert_eq!((m.deleted_backups, m.deleted_bytes), (1, 10));
        assert_eq!(m.event_position, 16);
        assert!(m.scheduler_running);
        assert_eq!(
            m.jobs_by_state,
            JobCounts {
                total: 2,
                paused: 1
            }
        );
        assert_eq!(m.report_bytes, 4096);
        let h = m.health.unwrap();
        assert_eq!(
            (h.status, h.at, h.checks.len()),
            (HealthStatus::Warning, at(500), 1)
        );
        // A day later nothing finished in the window: no ratio rather than a made-up one.
        assert_eq!(metrics(&s, at(600 + DAY)).success_ratio_24h, None);
    }

    #[test]
    fn an_empty_log_has_no_series_and_every_kind_at_zero() {
        let m = metrics(&State::default(), at(0));
        assert!(m.jobs.is_empty() && m.health.is_none());
        assert_eq!(m.success_ratio_24h, None);
        assert_eq!(m.kinds.len(), 3);
        assert!(m.kinds.iter().all(|k| k.backups == 0 && k.bytes == 0));
        assert_eq!((m.event_position, m.scheduler_running), (0, false));
    }
}
