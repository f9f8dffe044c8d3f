//! Run control: runs wait in a queue behind `max_concurrent_runs` and start in the order queued;
//! a queued or running run can be cancelled; a run may carry a forced backup mode.

use super::{found, runs::start};
use crate::domain::Rejection;
use crate::events::{BackupMode, Event, RunReason, Ts};
use crate::projections::State;

/// `start`'s rules; then the run starts if fewer than `max_running` run and none waits before
/// it, else it is queued.
pub(super) fn request(
    state: &State,
    run_id: &str,
    job_id: &str,
    slot: Option<Ts>,
    reason: RunReason,
    mode_override: Option<BackupMode>,
    max_running: usize,
) -> Result<Vec<Event>, Rejection> {
    start(state, run_id, job_id, slot, reason)?;
    let running = state.schedule.runs_in_flight().count();
    let (run_id, job_id) = (run_id.to_string(), job_id.to_string());
    Ok(vec![
        if running >= max_running || !state.schedule.queue.is_empty() {
            Event::RunQueued {
                run_id,
                job_id,
                slot,
                reason,
                mode_override,
            }
        } else {
            started(run_id, job_id, slot, reason, mode_override)
        },
    ])
}

/// `run_started`, or `run_started_v2` when a mode was forced: v1 readers keep reading the runs
/// that have none.
fn started(
    run_id: String,
    job_id: String,
    slot: Option<Ts>,
    reason: RunReason,
    mode_override: Option<BackupMode>,
) -> Event {
    match mode_override {
        None => Event::RunStarted {
            run_id,
            job_id,
            slot,
            reason,
        },
        Some(_) => Event::RunStartedV2 {
            run_id,
            job_id,
            slot,
            reason,
            mode_override,
        },
    }
}

/// Queued runs start, first queued first, while fewer than `max_running` run. A queued run whose
/// job was deleted meanwhile is cancelled instead (there is nothing left to run).
pub(super) fn admit(state: &State, max_running: usize) -> Vec<Event> {
    let mut free = max_running.saturating_sub(state.schedule.runs_in_flight().count());
    let mut events = Vec::new();
    for run in state.schedule.runs_queued() {
        // (a job deleted and created again under its id is another job: `queued` tells)
        let holds = |j: &crate::projections::Job| j.queued.as_deref() == Some(run.run_id.as_str());
        if !state.schedule.jobs.get(&run.job_id).is_some_and(holds) {
            events.push(Event::RunCancelled {
                run_id: run.run_id.clone(),
                reason: format!("its job {:?} was deleted while it was queued", run.job_id),
                by: None,
                duration_ms: 0,
            });
            continue;
        }
        if free == 0 {
            break;
        }
        free -= 1;
        events.push(started(
            run.run_id.clone(),
            run.job_id.clone(),
            run.slot,
            run.reason,
            run.mode_override,
        ));
    }
    events
}

/// A queued or running run ends as cancelled; any other is a conflict (it already ended).
pub(super) fn cancel(
    state: &State,
    run_id: &str,
    reason: &str,
    by: &Option<String>,
    now: Ts,
) -> Result<Vec<Event>, Rejection> {
    let run = found(&state.schedule.runs, "run_id", "run", run_id)?;
    if !run.status.is_open() {
        return Err(Rejection::conflict(
            "run_id",
            format!("run {run_id:?} is not running: it already ended"),
        ));
    }
    Ok(vec![Event::RunCancelled {
        run_id: run_id.to_string(),
        reason: reason.to_string(),
        by: by.clone(),
        duration_ms: run.started_at.millis_until(now),
    }])
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use crate::decide::{decide, Command, RunOutcome};
    use crate::domain::job::RejectionCode;
    use crate::events::{BackupMode, Event, RunReason};
    use crate::projections::{RunStatus, State};

    fn request(run: &str, job: &str, mode: Option<BackupMode>) -> Command {
        Command::RequestRun {
            run_id: run.into(),
            job_id: job.into(),
            slot: None,
            reason: RunReason::Manual,
            mode,
            max_running: 1,
        }
    }

    /// Jobs `a`, `b`, `c`; `ra` runs on `a`, `rb` waits on `b`.
    fn one_running_one_queued() -> Vec<Event> {
        vec![
            Event::JobCreated { job: job("a") },
            Event::JobCreated { job: job("b") },
            Event::JobCreated { job: job("c") },
            started("ra", "a", None),
            Event::RunQueued {
                run_id: "rb".into(),
                job_id: "b".into(),
                slot: None,
                reason: RunReason::Manual,
                mode_override: Some(BackupMode::Full),
            },
        ]
    }

    #[test]
    fn a_run_beyond_the_limit_waits_and_starts_in_queue_order() {
        let idle = given(vec![Event::JobCreated { job: job("c") }]);
        assert_eq!(
            decide(&idle, &request("rc", "c", Some(BackupMode::Full)), t(9)).unwrap(),
            vec![Event::RunStartedV2 {
                run_id: "rc".into(),
                job_id: "c".into(),
                slot: None,
                reason: RunReason::Manual,
                mode_override: Some(BackupMode::Full),
            }]
        );
        let busy = given(one_running_one_queued());
        let queued = decide(&busy, &request("rc", "c", None), t(9)).unwrap();
        assert!(matches!(queued.as_slice(), [Event::RunQueued { run_id, .. }] if run_id == "rc"));
        // with room for two, `rc` still waits behind `rb`, queued earlier
        let two = Command::RequestRun {
            run_id: "rc".into(),
            job_id: "c".into(),
            slot: None,
            reason: RunReason::Manual,
            mode: None,
            max_running: 2,
        };
        assert!(matches!(
            decide(&busy, &two, t(9)).unwrap().as_slice(),
            [Event::RunQueued { .. }]
        ));
        // a queued run holds its job like a running one
        assert_eq!(
            code(decide(&busy, &request("rb2", "b", None), t(9))),
            RejectionCode::Conflict
        );
        // nothing is admitted while the one place is taken; once `ra` ended, `rb` starts with
        // its forced mode
        let admit = Command::AdmitQueued { max_running: 1 };
        assert_eq!(decide(&busy, &admit, t(9)).unwrap(), vec![]);
        let mut events = one_running_one_queued();
        events.push(Event::RunSucceeded {
            run_id: "ra".into(),
            backup_id: None,
            bytes: 0,
            files: 0,
            duration_ms: 1,
            note: None,
        });
        let freed = given(events.clone());
        let admitted = decide(&freed, &admit, t(9)).unwrap();
        assert_eq!(
            admitted,
            vec![Event::RunStartedV2 {
                run_id: "rb".into(),
                job_id: "b".into(),
                slot: None,
                reason: RunReason::Manual,
                mode_override: Some(BackupMode::Full),
            }]
        );
        events.extend(admitted);
        let after = given(events);
        assert_eq!(after.schedule.runs["rb"].status, RunStatus::Running);
        assert_eq!(after.schedule.jobs["b"].running.as_deref(), Some("rb"));
        assert_eq!(after.schedule.jobs["b"].queued, None);
        assert!(after.schedule.queue.is_empty());
        assert_eq!(after.stats.per_job["b"].started, 1);
    }

    #[test]
    fn queued_and_running_runs_cancel_and_ended_ones_do_not() {
        let state = given(one_running_one_queued());
        let cancel = |run: &str| Command::CancelRun {
            run_id: run.into(),
            reason: "cancelled by api:x".into(),
            by: Some("api:x".into()),
        };
        // `rb` was queued at t(4): its duration counts from there
        let events = decide(&state, &cancel("rb"), t(6)).unwrap();
        assert_eq!(
            events,
            vec![Event::RunCancelled {
                run_id: "rb".into(),
                reason: "cancelled by api:x".into(),
                by: Some("api:x".into()),
                duration_ms: 2000,
            }]
        );
        assert!(matches!(
            decide(&state, &cancel("ra"), t(6)).unwrap().as_slice(),
            [Event::RunCancelled {
                duration_ms: 3000,
                ..
            }]
        ));
        assert_eq!(
            code(decide(&state, &cancel("zz"), t(6))),
            RejectionCode::NotFound
        );
        let mut log = one_running_one_queued();
        log.extend(events);
        let after = given(log.clone());
        let rb = &after.schedule.runs["rb"];
        assert_eq!(rb.status, RunStatus::Cancelled);
        assert_eq!(rb.cancelled_by.as_deref(), Some("api:x"));
        assert_eq!(after.schedule.jobs["b"].queued, None);
        assert!(after.schedule.queue.is_empty());
        assert_eq!(after.stats.total.cancelled, 1);
        assert_eq!(
            code(decide(&after, &cancel("rb"), t(7))),
            RejectionCode::Conflict
        );
        // an executor's cancelled outcome is recorded the same way; by none for a timeout
        let timed_out = Command::FinishRun {
            run_id: "ra".into(),
            outcome: RunOutcome::Cancelled {
                reason: "timed out after 5 s".into(),
                by: None,
            },
        };
        assert_eq!(
            decide(&after, &timed_out, t(8)).unwrap(),
            vec![Event::RunCancelled {
                run_id: "ra".into(),
                reason: "timed out after 5 s".into(),
                by: None,
                duration_ms: 5000,
            }]
        );
    }

    #[test]
    fn a_boot_settles_queued_runs_like_running_ones() {
        let state = given(one_running_one_queued());
        let boot = Command::Boot {
            version: "t".into(),
            pid: 1,
            presets: vec![],
            retention: crate::projections::DEFAULT_POLICY,
            autostart: false,
        };
        let events = decide(&state, &boot, t(9)).unwrap();
        let interrupted: Vec<&str> = events
            .iter()
            .filter_map(|e| match e {
                Event::RunInterrupted { run_id, .. } => Some(run_id.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(interrupted, ["ra", "rb"]);
        let mut log = one_running_one_queued();
        log.extend(events);
        let after: State = given(log);
        assert!(after.schedule.queue.is_empty());
        assert_eq!(after.schedule.jobs["b"].queued, None);
    }

    #[test]
    fn a_queued_run_whose_job_was_deleted_is_cancelled_not_started() {
        let mut log = one_running_one_queued();
        log.push(Event::JobDeleted { job_id: "b".into() });
        // created again under the same id: another job, which the old run must not take
        log.push(Event::JobCreated { job: job("b") });
        let state = given(log);
        let events = decide(&state, &Command::AdmitQueued { max_running: 5 }, t(9)).unwrap();
        assert!(
            matches!(events.as_slice(), [Event::RunCancelled { run_id, by: None, .. }] if run_id == "rb"),
            "{events:?}"
        );
    }
}
