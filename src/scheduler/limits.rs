//! How many runs go at once and how long one may take. Pure: the loop asks, these answer from the
//! configuration and the state.

use crate::config::Config;
use crate::events::{JobAction, JobSpec, Ts};
use crate::projections::State;
use std::time::Duration;

/// The one place a run's time limit is read: a backup's own `timeout` (0 = none), else
/// `scheduler.run_timeout`; maintenance jobs (cleanup, archive, health, report) none — their
/// length follows the catalog, not a tool that can hang.
pub fn run_timeout(config: &Config, job: &JobSpec) -> Option<Duration> {
    match &job.action {
        JobAction::Backup(_) | JobAction::BackupV1(_) | JobAction::BackupV2(_) => {
            // A v1 config (upcast) has no timeout of its own: the configured one.
            match job.action.backup_config().and_then(|cfg| cfg.timeout_secs) {
                Some(0) => None,
                Some(secs) => Some(Duration::from_secs(secs)),
                None => config.run_timeout_secs.map(Duration::from_secs),
            }
        }
        JobAction::Cleanup
        | JobAction::Archive
        | JobAction::HealthCheck
        | JobAction::Report
        | JobAction::VerifySample(_) => None,
    }
}

/// A running run past its time limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overdue {
    pub run_id: String,
    pub limit: Duration,
}

impl Overdue {
    /// The reason its `run_cancelled` records.
    pub fn reason(&self) -> String {
        format!("timed out after {} s", self.limit.as_secs())
    }
}

/// Running runs past their limit at `now`, and the earliest deadline still ahead. Runs for which
/// `stopping` holds are being stopped already: neither listed nor waited for (a deadline in the
/// past would wake the loop at once, for ever).
pub fn overdue(
    state: &State,
    config: &Config,
    now: Ts,
    stopping: impl Fn(&str) -> bool,
) -> (Vec<Overdue>, Option<Ts>) {
    let mut due = Vec::new();
    let mut next: Option<Ts> = None;
    for run in state.schedule.runs_in_flight() {
        let Some(job) = state.schedule.jobs.get(&run.job_id) else {
            continue;
        };
        let Some(limit) = run_timeout(config, &job.spec) else {
            continue;
        };
        if stopping(&run.run_id) {
            continue;
        }
        let deadline =
            Ts(run.started_at.get()
                + time::Duration::try_from(limit).unwrap_or(time::Duration::MAX));
        if deadline <= now {
            due.push(Overdue {
                run_id: run.run_id.clone(),
                limit,
            });
        } else {
            next = Some(next.map_or(deadline, |n| n.min(deadline)));
        }
    }
    (due, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{BackupConfig, BackupMode, BackupType, Event};
    use crate::testkit::{job_spec as job, replay_at, ts as at};

    #[test]
    fn backups_time_out_and_maintenance_does_not() {
        let config = Config::parse("[scheduler]\nrun_timeout = 10").unwrap();
        let backup = JobAction::Backup(BackupConfig::new(BackupType::Files, BackupMode::Full));
        let events = [
            Event::JobCreated {
                job: job("b", backup),
            },
            Event::JobCreated {
                job: job("c", JobAction::Cleanup),
            },
            Event::RunStarted {
                run_id: "b1".into(),
                job_id: "b".into(),
                slot: None,
                reason: crate::events::RunReason::Manual,
            },
            Event::RunStarted {
                run_id: "c1".into(),
                job_id: "c".into(),
                slot: None,
                reason: crate::events::RunReason::Manual,
            },
        ];
        let state = replay_at(events, at(0));
        assert_eq!(
            overdue(&state, &config, at(9), |_| false),
            (vec![], Some(at(10)))
        );
        let (due, next) = overdue(&state, &config, at(10), |_| false);
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].run_id.as_str(), next), ("b1", None));
        assert_eq!(due[0].reason(), "timed out after 10 s");
        // once being stopped, it is neither due again nor a reason to wake
        assert_eq!(
            overdue(&state, &config, at(10), |r| r == "b1"),
            (vec![], None)
        );
        let none = Config::parse("[scheduler]\nrun_timeout = 0").unwrap();
        assert_eq!(
            overdue(&state, &none, at(99_999), |_| false),
            (vec![], None)
        );
    }

    #[test]
    fn a_jobs_own_timeout_wins_over_the_configured_one() {
        let config = Config::parse("[scheduler]\nrun_timeout = 3600").unwrap();
        let with = |timeout_secs| {
            let cfg = BackupConfig {
                timeout_secs,
                ..BackupConfig::new(BackupType::Files, BackupMode::Full)
            };
            run_timeout(&config, &job("b", JobAction::Backup(cfg)))
        };
        assert_eq!(with(None), Some(Duration::from_secs(3600)));
        assert_eq!(with(Some(2)), Some(Duration::from_secs(2)));
        assert_eq!(with(Some(0)), None);
        let none = Config::parse("[scheduler]\nrun_timeout = 0").unwrap();
        let cfg = BackupConfig {
            timeout_secs: Some(5),
            ..BackupConfig::new(BackupType::Files, BackupMode::Full)
        };
        assert_eq!(
            run_timeout(&none, &job("b", JobAction::Backup(cfg))),
            Some(Duration::from_secs(5))
        );
    }
}
