//! Live progress of running runs: ephemeral, in memory, never events (the outcome is the event).

use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunProgress {
    /// What the run is doing now, e.g. "scanning", "writing", "verifying".
    pub phase: String,
    pub bytes_done: u64,
    pub bytes_total: Option<u64>,
    pub files_done: u64,
    pub files_total: Option<u64>,
}

/// The registry the executor writes and the API reads; cheap to clone.
#[derive(Clone, Default)]
pub struct Progress {
    runs: Arc<Mutex<HashMap<String, RunProgress>>>,
}

impl Progress {
    pub fn get(&self, run_id: &str) -> Option<RunProgress> {
        self.lock().get(run_id).cloned()
    }

    /// Register a run; its entry disappears when the handle is dropped.
    pub fn begin(&self, run_id: &str) -> ProgressHandle {
        self.lock()
            .insert(run_id.to_string(), RunProgress::default());
        ProgressHandle {
            run_id: run_id.to_string(),
            progress: self.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, RunProgress>> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running run's pen for its progress.
pub struct ProgressHandle {
    run_id: String,
    progress: Progress,
}

impl ProgressHandle {
    pub fn update(&self, f: impl FnOnce(&mut RunProgress)) {
        if let Some(p) = self.progress.lock().get_mut(&self.run_id) {
            f(p);
        }
    }
}

impl Drop for ProgressHandle {
    fn drop(&mut self) {
        self.progress.lock().remove(&self.run_id);
    }
}
