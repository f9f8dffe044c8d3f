//! Projections: pure folds of the log into what the service knows (schedule, catalog, stats).
//!
//! `State::apply` is `evolve`: total (an event that refers to something unknown is ignored, never
//! a panic) and pure (no clock, no files, no environment). The state at position N is the fold
//! of events 1..=N, which is what replay and `backupd state --at N` compute.

mod catalog;
mod schedule;
mod stats;

pub use catalog::{Backup, Catalog, Verification, DEFAULT_POLICY};
pub use schedule::{Job, Run, RunStatus, Schedule};
pub use stats::{JobStats, Stats};

use crate::events::{Envelope, RetentionPolicy};
use serde::{Deserialize, Serialize};

/// Bump whenever `State`'s shape or any `apply` changes: snapshots tagged with another version
/// are dropped and the log is replayed instead.
pub const PROJECTION_VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The position of the last event folded in (0 = empty log).
    pub position: u64,
    pub schedule: Schedule,
    pub catalog: Catalog,
    pub stats: Stats,
}

impl State {
    /// evolve: fold one event in. Events must arrive in position order.
    pub fn apply(&mut self, envelope: &Envelope) {
        // Stats look a run's job up in the schedule before the schedule moves on.
        self.stats.apply(envelope, &self.schedule);
        self.catalog.apply(envelope);
        self.schedule.apply(envelope);
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
