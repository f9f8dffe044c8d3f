//! Projections: pure folds of the log into what the service knows (schedule, catalog, stats).
//!
//! `State::apply` is `evolve`: total (an event that refers to something unknown is ignored, never
//! a panic) and pure (no clock, no files, no environment). The state at position N is the fold
//! of events 1..=N, which is what replay and `backupd state --at N` compute.

mod catalog;
mod schedule;
mod stats;

pub use catalog::{
    ArchiveOrigin, Backup, Catalog, Report, StoragePoint, Verification, DEFAULT_POLICY,
};
pub use schedule::{Job, Outcomes, Run, RunStatus, Schedule, SchedulerStop};
pub use stats::{JobStats, Stats};

use crate::events::{Envelope, Event, HealthCheck, HealthStatus, RetentionPolicy, Ts};
use serde::{Deserialize, Serialize};

/// Bump whenever `State`'s shape or any `apply` changes: snapshots tagged with another version
/// are dropped and the log is replayed instead.
pub const PROJECTION_VERSION: u32 = 2;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The position of the last event folded in (0 = empty log).
    pub position: u64,
    pub schedule: Schedule,
    pub catalog: Catalog,
    pub stats: Stats,
    /// The latest recorded health check.
    pub health: Option<HealthRecord>,
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
