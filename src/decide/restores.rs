//! The restore run rules: a restore of a recorded backup starts once under a fresh run id and
//! ends once, its duration counted from its start. Restore runs hold no job: the one-run-per-job
//! and queue rules of `runs` and `queue` do not apply to them.

use super::{backup, found, taken};
use crate::domain::Rejection;
use crate::events::{Event, RestoreOutcome, RestoreTarget, Ts};
use crate::projections::{RunKind, RunStatus, State};

pub(super) fn start(
    state: &State,
    run_id: &str,
    backup_id: &str,
    paths: &[String],
    database: Option<&str>,
    target: &RestoreTarget,
) -> Result<Vec<Event>, Rejection> {
    if state.schedule.runs.contains_key(run_id) {
        return Err(taken("run_id", "run", run_id));
    }
    backup(state, backup_id)?;
    Ok(vec![Event::RestoreStarted {
        run_id: run_id.to_string(),
        backup_id: backup_id.to_string(),
        paths: paths.to_vec(),
        database: database.map(str::to_string),
        target: target.clone(),
    }])
}

/// What a restore did, as the shell measured it.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoreDone {
    pub outcome: RestoreOutcome,
    pub files: u64,
    pub bytes: u64,
    pub kept: u64,
}

pub(super) fn finish(
    state: &State,
    run_id: &str,
    done: &RestoreDone,
    now: Ts,
) -> Result<Vec<Event>, Rejection> {
    let run = found(&state.schedule.runs, "run_id", "run", run_id)?;
    if run.kind != RunKind::Restore {
        return Err(Rejection::conflict(
            "run_id",
            format!("run {run_id:?} is not a restore"),
        ));
    }
    if run.status != RunStatus::Running {
        return Err(Rejection::conflict(
            "run_id",
            format!("run {run_id:?} already finished"),
        ));
    }
    Ok(vec![Event::RestoreFinished {
        run_id: run_id.to_string(),
        outcome: done.outcome.clone(),
        files: done.files,
        bytes: done.bytes,
        kept: done.kept,
        duration_ms: run.started_at.millis_until(now),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::{decide, Command};
    use crate::events::{Envelope, FailureKind, Overwrite};
    use crate::projections::State;

    fn apply(state: &mut State, at: i64, events: Vec<Event>) {
        for payload in events {
            let env = Envelope {
                position: state.position + 1,
                recorded_at: Ts::from_unix_nanos(at * 1_000_000_000),
                actor: "api:ops".into(),
                correlation: None,
                payload,
            };
            state.apply(&env);
        }
    }

    fn with_backup() -> State {
        let mut s = State::default();
        let record = crate::events::BackupRecord {
            id: "b1".into(),
            job_id: "j".into(),
            run_id: "j@1".into(),
            kind: crate::events::BackupKind::Full,
            parent: None,
            location: "full/b1.bak".into(),
            bytes: 10,
            entries: 1,
            checksum: 0,
            compression: "zstd".into(),
            created_at: Ts::from_unix_nanos(0),
        };
        apply(&mut s, 0, vec![Event::BackupRecorded { backup: record }]);
        s
    }

    fn start_cmd(run_id: &str, backup_id: &str) -> Command {
        Command::StartRestore {
            run_id: run_id.into(),
            backup_id: backup_id.into(),
            paths: vec!["/srv/app".into()],
            database: None,
            target: RestoreTarget::InPlace {
                overwrite: Overwrite::IfNewer,
            },
        }
    }

    #[test]
    fn a_restore_starts_once_and_finishes_once_with_its_duration() {
        let mut s = with_backup();
        let now = |secs: i64| Ts::from_unix_nanos(secs * 1_000_000_000);
        let started = decide(&s, &start_cmd("r1", "b1"), now(10)).unwrap();
        apply(&mut s, 10, started);
        let run = &s.schedule.runs["r1"];
        assert_eq!(
            (
                run.kind,
                run.status,
                run.actor.as_str(),
                run.job_id.as_str()
            ),
            (RunKind::Restore, RunStatus::Running, "api:ops", "")
        );
        // the same id again is taken; an unknown backup is not found
        assert_eq!(
            decide(&s, &start_cmd("r1", "b1"), now(11))
                .unwrap_err()
                .field
                .as_deref(),
            Some("run_id")
        );
        assert_eq!(
            decide(&s, &start_cmd("r2", "nope"), now(11))
                .unwrap_err()
                .field
                .as_deref(),
            Some("backup_id")
        );
        let done = RestoreDone {
            outcome: RestoreOutcome::Failed {
                error: "frame 3 is damaged".into(),
                kind: FailureKind::Integrity,
            },
            files: 2,
            bytes: 20,
            kept: 1,
        };
        let finish = Command::FinishRestore {
            run_id: "r1".into(),
            done: done.clone(),
        };
        let events = decide(&s, &finish, now(13)).unwrap();
        assert!(matches!(
            &events[..],
            [Event::RestoreFinished {
                duration_ms: 3000,
                files: 2,
                bytes: 20,
                kept: 1,
                ..
            }]
        ));
        apply(&mut s, 13, events);
        let run = &s.schedule.runs["r1"];
        assert_eq!(run.status, RunStatus::Failed);
        assert_eq!(run.error.as_deref(), Some("frame 3 is damaged"));
        assert_eq!(run.restore.as_ref().unwrap().outcome, Some(done.outcome));
        // once only
        assert!(decide(&s, &finish, now(14)).is_err());
        // restore runs are no job's: no per-job stats, no backup run figure
        assert!(s.stats.per_job.is_empty());
        assert_eq!(s.stats.total.failed, 0);
    }

    #[test]
    fn a_restore_left_running_is_interrupted_at_boot_and_counted_nowhere() {
        let mut s = with_backup();
        let started = decide(&s, &start_cmd("r1", "b1"), Ts::from_unix_nanos(0)).unwrap();
        apply(&mut s, 10, started);
        let boot = Command::Boot {
            version: "t".into(),
            pid: 1,
            presets: vec![],
            retention: s.retention(),
            autostart: false,
        };
        let events = decide(&s, &boot, Ts::from_unix_nanos(0)).unwrap();
        assert!(events
            .iter()
            .any(|e| matches!(e, Event::RunInterrupted { run_id, .. } if run_id == "r1")));
        apply(&mut s, 20, events);
        assert_eq!(s.schedule.runs["r1"].status, RunStatus::Interrupted);
        assert_eq!(s.stats.total.interrupted, 0);
        // a backup run's finish does not apply to a restore run
        let finish = Command::FinishRun {
            run_id: "r1".into(),
            outcome: crate::decide::RunOutcome::Interrupted { reason: "x".into() },
        };
        assert!(decide(&s, &finish, Ts::from_unix_nanos(0)).is_err());
    }
}
