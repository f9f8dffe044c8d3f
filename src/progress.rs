//! Live state of running runs: their progress and their stop switch. Ephemeral, in memory, never
//! events (the outcome is the event).
//!
//! The stop switch (`Cancel`) is how an operator's cancel, a run's timeout and the shutdown reach
//! a run on the blocking pool: the engine checks it between files and chunks, and the process
//! groups of the dump tools it started are killed the moment it is thrown (a tool blocked in a
//! read would never look at a flag).

use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunProgress {
    /// What the run is doing now, e.g. "scanning", "writing", "verifying".
    pub phase: String,
    pub bytes_done: u64,
    pub bytes_total: Option<u64>,
    pub files_done: u64,
    pub files_total: Option<u64>,
}

/// Why a run was told to stop: the outcome it is recorded with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopCause {
    /// `run_cancelled`: an operator (`by`) or the run's timeout (`by` = `None`).
    Cancelled { reason: String, by: Option<String> },
    /// `run_interrupted`: the service is stopping.
    Shutdown { reason: String },
}

/// A run's stop switch; cheap to clone, shared by the executor and whoever stops the run.
#[derive(Clone, Default)]
pub struct Cancel(Arc<CancelInner>);

#[derive(Default)]
struct CancelInner {
    stopped: AtomicBool,
    cause: Mutex<Option<StopCause>>,
    /// Process groups of the tools the run has running now (their leaders' pids).
    groups: Mutex<Vec<u32>>,
}

impl Cancel {
    pub fn is_stopped(&self) -> bool {
        self.0.stopped.load(Ordering::SeqCst)
    }

    /// The first cause given; `None` while the run may go on.
    pub fn cause(&self) -> Option<StopCause> {
        lock(&self.0.cause).clone()
    }

    /// Throw the switch: the first cause wins, and every registered process group is killed.
    /// Returns whether this call threw it.
    pub fn stop(&self, cause: StopCause) -> bool {
        let first = {
            let mut slot = lock(&self.0.cause);
            let first = slot.is_none();
            if first {
                *slot = Some(cause);
            }
            first
        };
        self.0.stopped.store(true, Ordering::SeqCst);
        for &group in lock(&self.0.groups).iter() {
            kill_group(group);
        }
        first
    }

    /// `Err` once stopped: for the engine's checks between files and chunks. Not
    /// `ErrorKind::Interrupted`, which readers retry.
    pub fn check(&self) -> std::io::Result<()> {
        if self.is_stopped() {
            Err(std::io::Error::other("the run was cancelled"))
        } else {
            Ok(())
        }
    }

    /// Register the process group `pgid` (a child started with `process_group(0)`) until the
    /// guard is dropped; if the run is already stopped, the group is killed at once.
    pub fn watch_group(&self, pgid: u32) -> GroupWatch {
        lock(&self.0.groups).push(pgid);
        // After the push: a `stop` racing with this either sees the group or set the flag first.
        if self.is_stopped() {
            kill_group(pgid);
        }
        GroupWatch {
            cancel: self.clone(),
            pgid,
        }
    }
}

/// A registered process group; unregistered on drop (the caller has reaped its leader).
pub struct GroupWatch {
    cancel: Cancel,
    pgid: u32,
}

impl GroupWatch {
    /// Kill the whole group now (the tool and everything it spawned).
    pub fn kill(&self) {
        kill_group(self.pgid);
    }
}

impl Drop for GroupWatch {
    fn drop(&mut self) {
        lock(&self.cancel.0.groups).retain(|g| *g != self.pgid);
    }
}

/// SIGKILL to the process group: a dump tool's own children (a shell's `sleep`, a pipeline) go
/// with it, so nothing is orphaned. Errors (the group is gone already) are of no interest.
fn kill_group(pgid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    // Never 0 or 1 (our own group, init): only groups we created are registered.
    if pgid > 1 {
        // SAFETY: killpg only sends a signal; it touches no memory of ours.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
    }
}

struct Entry {
    progress: RunProgress,
    cancel: Cancel,
}

/// The registry the executor writes and the API reads; cheap to clone.
#[derive(Clone, Default)]
pub struct Progress {
    runs: Arc<Mutex<HashMap<String, Entry>>>,
    /// Stops asked for runs whose executor has not begun yet: `begin` picks them up.
    pending: Arc<Mutex<HashMap<String, Cancel>>>,
}

impl Progress {
    pub fn get(&self, run_id: &str) -> Option<RunProgress> {
        self.lock().get(run_id).map(|e| e.progress.clone())
    }

    /// Register a run; its entry disappears when the handle is dropped.
    pub fn begin(&self, run_id: &str) -> ProgressHandle {
        let cancel = lock(&self.pending).remove(run_id).unwrap_or_default();
        self.lock().insert(
            run_id.to_string(),
            Entry {
                progress: RunProgress::default(),
                cancel: cancel.clone(),
            },
        );
        ProgressHandle {
            run_id: run_id.to_string(),
            progress: self.clone(),
            cancel,
        }
    }

    /// Tell a run to stop. Returns `true` if its executor runs here (it records the outcome);
    /// `false` if not, in which case the stop waits for an executor that may still begin.
    pub fn stop(&self, run_id: &str, cause: StopCause) -> bool {
        let live = self.lock().get(run_id).map(|e| e.cancel.clone());
        match live {
            Some(cancel) => {
                cancel.stop(cause);
                true
            }
            None => {
                let cancel = Cancel::default();
                cancel.stop(cause);
                lock(&self.pending).insert(run_id.to_string(), cancel);
                false
            }
        }
    }

    /// Has the run been told to stop?
    pub fn stopping(&self, run_id: &str) -> bool {
        self.lock()
            .get(run_id)
            .is_some_and(|e| e.cancel.is_stopped())
    }

    /// Stop every run that has an executor here (shutdown): their tools' groups are killed now.
    pub fn stop_all(&self, cause: StopCause) -> usize {
        let all: Vec<Cancel> = self.lock().values().map(|e| e.cancel.clone()).collect();
        for cancel in &all {
            cancel.stop(cause.clone());
        }
        all.len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        lock(&self.runs)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running run's pen for its progress, and its stop switch.
pub struct ProgressHandle {
    run_id: String,
    progress: Progress,
    cancel: Cancel,
}

impl ProgressHandle {
    pub fn update(&self, f: impl FnOnce(&mut RunProgress)) {
        if let Some(e) = self.progress.lock().get_mut(&self.run_id) {
            f(&mut e.progress);
        }
    }

    pub fn cancel(&self) -> &Cancel {
        &self.cancel
    }
}

impl Drop for ProgressHandle {
    fn drop(&mut self) {
        self.progress.lock().remove(&self.run_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_operator() -> StopCause {
        StopCause::Cancelled {
            reason: "no".into(),
            by: Some("api:anonymous".into()),
        }
    }

    #[test]
    fn the_first_cause_wins_and_checks_fail_from_then_on() {
        let progress = Progress::default();
        let h = progress.begin("r");
        assert!(h.cancel().check().is_ok());
        assert!(progress.stop("r", by_operator()));
        assert!(progress.stopping("r"));
        assert!(!h.cancel().stop(StopCause::Shutdown { reason: "x".into() }));
        assert_eq!(h.cancel().cause(), Some(by_operator()));
        assert!(h.cancel().check().is_err());
    }

    #[test]
    fn a_stop_before_the_executor_begins_is_kept_for_it() {
        let progress = Progress::default();
        assert!(!progress.stop("r", by_operator()));
        let h = progress.begin("r");
        assert!(h.cancel().is_stopped());
        // only once: a later run of another id starts clean
        assert!(!progress.begin("s").cancel().is_stopped());
    }

    #[test]
    fn stopping_kills_the_registered_process_group() {
        use std::os::unix::process::CommandExt;
        let progress = Progress::default();
        let h = progress.begin("r");
        let mut child = std::process::Command::new("sleep")
            .arg("600")
            .process_group(0)
            .spawn()
            .unwrap();
        let _watch = h.cancel().watch_group(child.id());
        progress.stop("r", by_operator());
        let status = child.wait().unwrap();
        assert!(!status.success(), "{status}");
    }
}
