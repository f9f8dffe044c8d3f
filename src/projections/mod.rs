//! Projections: pure folds of the log into what the service knows (schedule, catalog, stats).
//!
//! `State::apply` is `evolve`: total (an event that refers to something unknown is ignored, never
//! a panic) and pure (no clock, no files, no environment). The state at position N is the fold
//! of events 1..=N, which is what replay and `backupd state --at N` compute.

mod catalog;
mod notifications;
pub mod offsite;
mod repository;
mod schedule;
mod stats;
mod tokens;

pub use catalog::{
    ArchiveOrigin, Backup, Catalog, Report, StoragePoint, Verification, DEFAULT_POLICY,
};
pub use notifications::{Attempt, ChannelState, Notifications};
pub use repository::sample::{sample as sample_frames, PackFrames};
pub use repository::{
    bit as repository_bit, Candidates, ChunkLoc, Figures, PackLiveness, Repository,
    DEFAULT_REPACK_BELOW,
};
pub use schedule::{Job, Outcomes, RestoreRun, Run, RunKind, RunStatus, Schedule, SchedulerStop};
pub use stats::{JobStats, Stats};
pub use tokens::{Token, Tokens};

use crate::events::{Envelope, Event, HealthCheck, HealthStatus, RetentionPolicy, Ts};
use serde::{Deserialize, Serialize};

/// Bump whenever `State`'s shape or any `apply` changes: snapshots tagged with another version
/// are dropped and the log is replayed instead.
pub const PROJECTION_VERSION: u32 = 16;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The position of the last event folded in (0 = empty log).
    pub position: u64,
    pub schedule: Schedule,
    pub catalog: Catalog,
    pub stats: Stats,
    /// The latest recorded health check.
    pub health: Option<HealthRecord>,
    /// The API tokens (schema v5).
    pub tokens: Tokens,
    /// The notification deliveries (schema v5).
    pub notifications: Notifications,
    /// The deduplicated repository: chunks, packs, what live snapshots reference (schema v6).
    pub repository: Repository,
    /// Off-site copies: what is on which remote (schema v6).
    pub offsite: offsite::Offsite,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthRecord {
    pub at: Ts,
    /// The run that checked (the health check job), if any.
    pub run_id: Option<String>,
    pub status: HealthStatus,
    pub checks: Vec<HealthCheck>,
}

impl State {
    /// evolve: fold one event in. Events must arrive in position order.
    pub fn apply(&mut self, envelope: &Envelope) {
        // Stats look a run's job up in the schedule before the schedule moves on.
        self.stats.apply(envelope, &self.schedule);
        self.catalog.apply(envelope);
        self.schedule.apply(envelope);
        self.tokens.apply(envelope);
        self.notifications.apply(envelope);
        self.repository.apply(envelope);
        self.offsite.apply(envelope);
        if let Event::HealthChecked { status, checks } = &envelope.payload {
            self.health = Some(HealthRecord {
                at: envelope.recorded_at,
                run_id: envelope.correlation.clone(),
                status: *status,
                checks: checks.clone(),
            });
        }
        self.position = envelope.position;
    }

    pub fn retention(&self) -> RetentionPolicy {
        self.catalog.policy
    }

    /// The whole fold from nothing: what replay means.
    pub fn replay<'a>(events: impl IntoIterator<Item = &'a Envelope>) -> State {
        let mut state = State::default();
        for e in events {
            state.apply(e);
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::events::{FailureKind, JobAction, JobSpec, RunReason, Trigger};

    fn env(position: u64, payload: Event) -> Envelope {
        Envelope {
            position,
            recorded_at: Ts::from_unix_nanos(position as i64 * 1_000_000_000),
            actor: "scheduler".into(),
            correlation: None,
            payload,
        }
    }

    fn started(run_id: &str) -> Event {
        Event::RunStarted {
            run_id: run_id.into(),
            job_id: "j".into(),
            slot: None,
            reason: RunReason::Manual,
        }
    }

    /// Both failure variants fail the run and count as failures; only the new one has a kind,
    /// and a run's first outcome stays its outcome.
    #[test]
    fn failed_runs_keep_their_kind_when_the_log_has_one() {
        let job = JobSpec {
            id: "j".into(),
            name: "j".into(),
            trigger: Trigger::Interval {
                seconds: 60,
                start_at: None,
            },
            action: JobAction::Report,
            misfire_grace_secs: None,
            timezone: None,
            jitter_secs: 0,
        };
        let events = [
            Event::JobCreated { job },
            started("old"),
            Event::RunFailed {
                run_id: "old".into(),
                error: "pg_dump exited with 1".into(),
                duration_ms: 5,
            },
            started("new"),
            Event::RunFailedV2 {
                run_id: "new".into(),
                error: "disk full".into(),
                kind: FailureKind::Transient,
                duration_ms: 7,
            },
            Event::RunFailedV2 {
                run_id: "old".into(),
                error: "a second outcome".into(),
                kind: FailureKind::Integrity,
                duration_ms: 9,
            },
        ];
        let log: Vec<Envelope> = events
            .into_iter()
            .enumerate()
            .map(|(i, e)| env(i as u64 + 1, e))
            .collect();
        let state = State::replay(&log);
        let run = |id: &str| &state.schedule.runs[id];
        assert_eq!(run("old").status, RunStatus::Failed);
        assert_eq!(run("old").error.as_deref(), Some("pg_dump exited with 1"));
        assert_eq!(run("old").error_kind, None);
        assert_eq!(run("new").status, RunStatus::Failed);
        assert_eq!(run("new").error.as_deref(), Some("disk full"));
        assert_eq!(run("new").error_kind, Some(ErrorKind::Transient));
        assert_eq!(run("new").duration_ms, Some(7));
        assert_eq!(state.stats.total.failed, 2);
        assert_eq!(state.stats.per_job["j"].failed, 2);
        assert_eq!(state.stats.total.total_duration_ms, 12);
        assert_eq!(state.stats.total.last_failure_at, Some(log[4].recorded_at));
        assert_eq!(state.schedule.jobs["j"].running, None);
    }
}
