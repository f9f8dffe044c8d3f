//! The run rules: one run per job at a time, each slot run at most once, outcomes recorded once,
//! skipped and missed slots settled.

use super::{existing, found, taken, RunOutcome};
use crate::domain::Rejection;
use crate::error::ErrorKind;
use crate::events::{Event, RunReason, Ts, MAX_RUN_WARNINGS};
use crate::projections::{RunKind, RunStatus, State};

pub(super) fn start(
    state: &State,
    run_id: &str,
    job_id: &str,
    slot: Option<Ts>,
    reason: RunReason,
) -> Result<Vec<Event>, Rejection> {
    let job = existing(state, job_id)?;
    if let Some(running) = &job.running {
        return Err(Rejection::conflict(
            "job_id",
            format!("job {job_id:?} is already running (run {running})"),
        ));
    }
    if let Some(queued) = &job.queued {
        return Err(Rejection::conflict(
            "job_id",
            format!("job {job_id:?} already has a queued run ({queued})"),
        ));
    }
    if state.schedule.runs.contains_key(run_id) {
        return Err(taken("run_id", "run", run_id));
    }
    if let (Some(slot), Some(settled)) = (slot, job.last_slot) {
        if slot <= settled {
            return Err(Rejection::conflict(
                "slot",
                format!("slot {slot} of job {job_id:?} was already settled (up to {settled})"),
            ));
        }
    }
    Ok(vec![Event::RunStarted {
        run_id: run_id.to_string(),
        job_id: job_id.to_string(),
        slot,
        reason,
    }])
}

/// The run's outcome, with its duration from the start's recording to `now`; a success records
/// its backup first.
pub(super) fn finish(
    state: &State,
    run_id: &str,
    outcome: &RunOutcome,
    now: Ts,
) -> Result<Vec<Event>, Rejection> {
    let run = found(&state.schedule.runs, "run_id", "run", run_id)?;
    if run.kind != RunKind::Backup {
        return Err(Rejection::conflict(
            "run_id",
            format!("run {run_id:?} is a restore; it ends with its own outcome"),
        ));
    }
    if run.status != RunStatus::Running {
        return Err(Rejection::conflict(
            "run_id",
            format!("run {run_id:?} already finished"),
        ));
    }
    let duration_ms = run.started_at.millis_until(now);
    Ok(match outcome {
        RunOutcome::Succeeded {
            backup,
            bytes,
            files,
            note,
            warnings,
            perf,
        } => {
            let mut events = Vec::new();
            // A cleanup may delete the base while an incremental is written on it (only if the
            // base expired meanwhile): recording it would leave a chain that cannot restore, so
            // the run fails and says so instead.
            let lost_base = backup.as_ref().and_then(|b| {
                b.parent
                    .as_ref()
                    .filter(|p| !state.catalog.backups.contains_key(p.as_str()))
                    .map(|p| (b, p))
            });
            if let Some((b, parent)) = lost_base {
                return Ok(vec![Event::RunFailedV2 {
                    run_id: run_id.to_string(),
                    error: format!(
                        "its base {parent:?} was deleted while the run wrote on it: \
                         {} is not recorded (boot reports it as unrecorded)",
                        b.location
                    ),
                    // Nothing kept is damaged, and the next run picks another base (or takes a
                    // full): running it again succeeds.
                    kind: ErrorKind::Transient.into(),
                    duration_ms,
                }]);
            }
            // A snapshot backup was recorded by its run already (`RecordSnapshot`).
            let recorded = backup
                .as_ref()
                .and_then(|b| state.catalog.backups.get(&b.id));
            let own_snapshot = recorded.is_some_and(|r| {
                r.record.run_id == run_id
                    && crate::repository::is_snapshot_location(&r.record.location)
            });
            if let Some(b) = backup.as_ref().filter(|_| !own_snapshot) {
                if state.catalog.backups.contains_key(&b.id) {
                    return Err(taken("backup_id", "backup", &b.id));
                }
                events.push(Event::BackupRecorded { backup: b.clone() });
            }
            let backup_id = backup.as_ref().map(|b| b.id.clone());
            // A clean run keeps the old variant, so readers that know only it see nothing new;
            // a run with warnings says which (the first `MAX_RUN_WARNINGS`) and how many.
            // A run that measured its phases records them (`run_succeeded_v3`), warnings or not.
            events.push(if let Some(perf) = perf {
                Event::RunSucceededV3 {
                    run_id: run_id.to_string(),
                    backup_id,
                    bytes: *bytes,
                    files: *files,
                    duration_ms,
                    note: note.clone(),
                    warnings_total: warnings.len() as u64,
                    warnings: warnings.iter().take(MAX_RUN_WARNINGS).cloned().collect(),
                    perf: *perf,
                }
            } else if warnings.is_empty() {
                Event::RunSucceeded {
                    run_id: run_id.to_string(),
                    backup_id,
                    bytes: *bytes,
                    files: *files,
                    duration_ms,
                    note: note.clone(),
                }
            } else {
                Event::RunSucceededV2 {
                    run_id: run_id.to_string(),
                    backup_id,
                    bytes: *bytes,
                    files: *files,
                    duration_ms,
                    note: note.clone(),
                    warnings_total: warnings.len() as u64,
                    warnings: warnings.iter().take(MAX_RUN_WARNINGS).cloned().collect(),
                }
            });
            events
        }
        RunOutcome::Failed { error, kind } => vec![Event::RunFailedV2 {
            run_id: run_id.to_string(),
            error: error.clone(),
            kind: (*kind).into(),
            duration_ms,
        }],
        RunOutcome::Interrupted { reason } => vec![Event::RunInterrupted {
            run_id: run_id.to_string(),
            reason: reason.clone(),
        }],
        RunOutcome::Cancelled { reason, by } => vec![Event::RunCancelled {
            run_id: run_id.to_string(),
            reason: reason.clone(),
            by: by.clone(),
            duration_ms,
        }],
    })
}

/// A slot that came due while the job runs is recorded as skipped; only then.
pub(super) fn skip_slot(state: &State, job_id: &str, slot: Ts) -> Result<Vec<Event>, Rejection> {
    let job = existing(state, job_id)?;
    let Some(running) = &job.running else {
        return Err(Rejection::conflict(
            "job_id",
            format!("job {job_id:?} is not running: its slot should run, not be skipped"),
        ));
    };
    Ok(vec![Event::RunSkipped {
        job_id: job_id.to_string(),
        slot,
        running_run_id: running.clone(),
    }])
}

/// Missed slots not yet settled; nothing if all were.
pub(super) fn record_missed(
    state: &State,
    job_id: &str,
    slots: &[Ts],
) -> Result<Vec<Event>, Rejection> {
    let job = existing(state, job_id)?;
    let fresh: Vec<Ts> = slots
        .iter()
        .copied()
        .filter(|s| job.last_slot.is_none_or(|settled| *s > settled))
        .collect();
    Ok(if fresh.is_empty() {
        vec![]
    } else {
        vec![Event::SlotsMissed {
            job_id: job_id.to_string(),
            slots: fresh,
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use crate::decide::{decide, Command, RunOutcome};
    use crate::domain::job::RejectionCode;
    use crate::error::ErrorKind;
    use crate::events::{BackupKind, BackupRecord, Event, FailureKind, RunReason, RunWarning};
    use crate::projections::State;

    #[test]
    fn one_run_per_job_and_slot() {
        let start_r2 = |slot, reason| Command::StartRun {
            run_id: "r2".into(),
            job_id: "a".into(),
            slot: Some(slot),
            reason,
        };
        let r1_runs = vec![
            Event::JobCreated { job: job("a") },
            started("r1", "a", Some(t(60))),
        ];
        let running = given(r1_runs.clone());
        // (that the running job cannot be deleted meanwhile is a job rule: see `jobs`)
        let again = start_r2(t(120), RunReason::Manual);
        assert_eq!(
            code(decide(&running, &again, t(61))),
            RejectionCode::Conflict
        );
        let skip = Command::SkipSlot {
            job_id: "a".into(),
            slot: t(120),
        };
        assert_eq!(
            decide(&running, &skip, t(120)).unwrap(),
            vec![Event::RunSkipped {
                job_id: "a".into(),
                slot: t(120),
                running_run_id: "r1".into()
            }]
        );
        // after it finishes, the settled slot cannot run a second time (restart mid-slot)
        let finished = given(
            r1_runs
                .into_iter()
                .chain([Event::RunFailed {
                    run_id: "r1".into(),
                    error: "x".into(),
                    duration_ms: 1,
                }])
                .collect(),
        );
        let same_slot = start_r2(t(60), RunReason::Scheduled);
        assert_eq!(
            code(decide(&finished, &same_slot, t(70))),
            RejectionCode::Conflict
        );
        // a later slot runs; an idle job's slot is not skipped
        assert_eq!(
            decide(&finished, &start_r2(t(120), RunReason::Scheduled), t(120)).unwrap(),
            vec![started("r2", "a", Some(t(120)))]
        );
        assert_eq!(
            code(decide(&finished, &skip, t(120))),
            RejectionCode::Conflict
        );
        // missed slots already settled are not recorded twice
        let missed = Command::RecordMissed {
            job_id: "a".into(),
            slots: vec![t(0), t(60), t(120)],
        };
        assert_eq!(
            decide(&finished, &missed, t(200)).unwrap(),
            vec![Event::SlotsMissed {
                job_id: "a".into(),
                slots: vec![t(120)]
            }]
        );
    }

    /// Job `a` with run `r1` in flight since t(1) (its event's recorded_at).
    fn r1_running() -> State {
        given(vec![
            Event::JobCreated { job: job("a") },
            started("r1", "a", None),
        ])
    }

    /// `r1` succeeded with `backup`: 10 bytes in 1 file.
    fn r1_succeeded(backup: BackupRecord) -> Command {
        Command::FinishRun {
            run_id: "r1".into(),
            outcome: RunOutcome::Succeeded {
                backup: Some(backup),
                bytes: 10,
                files: 1,
                note: None,
                warnings: Vec::new(),
                perf: None,
            },
        }
    }

    #[test]
    fn a_failed_run_records_its_error_and_kind() {
        let kinds = [
            (ErrorKind::Transient, FailureKind::Transient),
            (ErrorKind::Integrity, FailureKind::Integrity),
            (ErrorKind::Refused, FailureKind::Refused),
            (ErrorKind::Config, FailureKind::Config),
            (ErrorKind::Internal, FailureKind::Internal),
        ];
        for (kind, recorded) in kinds {
            let finish = Command::FinishRun {
                run_id: "r1".into(),
                outcome: RunOutcome::Failed {
                    error: "pg_dump exited with 1".into(),
                    kind,
                },
            };
            assert_eq!(
                decide(&r1_running(), &finish, t(4)).unwrap(),
                vec![Event::RunFailedV2 {
                    run_id: "r1".into(),
                    error: "pg_dump exited with 1".into(),
                    kind: recorded,
                    duration_ms: 3000,
                }]
            );
        }
    }

    #[test]
    fn finishing_a_run_records_its_backup_and_duration() {
        let state = r1_running();
        let finish = r1_succeeded(record("b1", BackupKind::Full, None));
        let events = decide(&state, &finish, t(4)).unwrap();
        assert_eq!(
            events,
            vec![
                Event::BackupRecorded {
                    backup: record("b1", BackupKind::Full, None)
                },
                Event::RunSucceeded {
                    run_id: "r1".into(),
                    backup_id: Some("b1".into()),
                    bytes: 10,
                    files: 1,
                    duration_ms: 3000,
                    note: None
                }
            ]
        );
        let unknown = Command::FinishRun {
            run_id: "zz".into(),
            outcome: RunOutcome::Failed {
                error: "e".into(),
                kind: ErrorKind::Internal,
            },
        };
        assert_eq!(
            code(decide(&state, &unknown, t(4))),
            RejectionCode::NotFound
        );
        // an outcome is recorded once
        let finished = given(vec![
            Event::JobCreated { job: job("a") },
            started("r1", "a", None),
            events[1].clone(),
        ]);
        assert_eq!(
            code(decide(&finished, &finish, t(5))),
            RejectionCode::Conflict
        );
    }

    #[test]
    fn an_incremental_whose_base_was_deleted_meanwhile_fails_instead_of_recording() {
        let finish = r1_succeeded(record("inc", BackupKind::Incremental, Some("gone")));
        match decide(&r1_running(), &finish, t(4)).unwrap().as_slice() {
            [Event::RunFailedV2 {
                error,
                kind: FailureKind::Transient,
                duration_ms: 3000,
                ..
            }] => {
                assert!(error.contains("\"gone\" was deleted"), "{error}")
            }
            other => panic!("{other:?}"),
        }
    }

    /// Given run `r1` in flight, when it succeeds with `n` warnings, then the events.
    fn finished_with_warnings(n: usize) -> Vec<Event> {
        let warnings = (0..n)
            .map(|i| RunWarning {
                path: format!("/srv/f{i:03}"),
                reason: "skipped: a FIFO".into(),
            })
            .collect();
        let finish = Command::FinishRun {
            run_id: "r1".into(),
            outcome: RunOutcome::Succeeded {
                backup: Some(record("b1", BackupKind::Full, None)),
                bytes: 10,
                files: 1,
                note: Some("n".into()),
                warnings,
                perf: None,
            },
        };
        decide(&r1_running(), &finish, t(4)).unwrap()
    }

    #[test]
    fn a_run_that_measured_its_phases_records_run_succeeded_v3_which_replays_like_v2() {
        let perf = crate::events::RunPerf {
            scan_ms: 5,
            read_ms: 900,
            compress_ms: 400,
            write_ms: 300,
            bytes_read: 10_000,
            bytes_stored: 10,
            bytes_new: 10,
            files_examined: 3,
            files_changed: 1,
            ..Default::default()
        };
        let finish = |warnings: Vec<RunWarning>| Command::FinishRun {
            run_id: "r1".into(),
            outcome: RunOutcome::Succeeded {
                backup: Some(record("b1", BackupKind::Full, None)),
                bytes: 10,
                files: 1,
                note: None,
                warnings,
                perf: Some(perf),
            },
        };
        // without warnings too: the phases are what it records
        let clean = decide(&r1_running(), &finish(vec![]), t(4)).unwrap();
        assert!(
            matches!(&clean[1], Event::RunSucceededV3 { perf: p, warnings_total: 0, .. } if *p == perf),
            "{:?}",
            clean[1]
        );
        let warned = vec![RunWarning {
            path: "/srv/p".into(),
            reason: "skipped: a FIFO".into(),
        }];
        let events = decide(&r1_running(), &finish(warned), t(4)).unwrap();
        let Event::RunSucceededV3 {
            warnings_total,
            duration_ms,
            ..
        } = &events[1]
        else {
            panic!("{:?}", events[1]);
        };
        assert_eq!((*warnings_total, *duration_ms), (1, 3000));
        // replayed: the run as a v2 success would be, with its perf; the job's figures count it
        let state = given(vec![
            Event::JobCreated { job: job("a") },
            started("r1", "a", None),
            events[0].clone(),
            events[1].clone(),
        ]);
        let run = &state.schedule.runs["r1"];
        assert_eq!(run.status, crate::projections::RunStatus::Succeeded);
        assert_eq!((run.bytes, run.duration_ms), (10, Some(3000)));
        assert_eq!(run.backup_id.as_deref(), Some("b1"));
        assert_eq!((run.warnings_total, run.perf), (1, Some(perf)));
        let stats = &state.stats.per_job["a"];
        assert_eq!((stats.succeeded, stats.runs_with_warnings), (1, 1));
        assert_eq!(stats.last_duration_ms, Some(3000));
    }

    #[test]
    fn a_run_with_warnings_succeeds_and_names_them_in_run_succeeded_v2() {
        let events = finished_with_warnings(2);
        assert_eq!(
            events[1],
            Event::RunSucceededV2 {
                run_id: "r1".into(),
                backup_id: Some("b1".into()),
                bytes: 10,
                files: 1,
                duration_ms: 3000,
                note: Some("n".into()),
                warnings_total: 2,
                warnings: vec![
                    RunWarning {
                        path: "/srv/f000".into(),
                        reason: "skipped: a FIFO".into()
                    },
                    RunWarning {
                        path: "/srv/f001".into(),
                        reason: "skipped: a FIFO".into()
                    },
                ],
            }
        );
        assert!(matches!(events[0], Event::BackupRecorded { .. }));
        // and the projection keeps them
        let state = given(vec![
            Event::JobCreated { job: job("a") },
            started("r1", "a", None),
            events[0].clone(),
            events[1].clone(),
        ]);
        let run = &state.schedule.runs["r1"];
        assert_eq!(run.status, crate::projections::RunStatus::Succeeded);
        assert_eq!((run.warnings_total, run.warnings.len()), (2, 2));
        assert_eq!(state.stats.per_job["a"].runs_with_warnings, 1);
        assert_eq!(state.stats.per_job["a"].warnings, 2);
    }

    #[test]
    fn a_run_keeps_the_first_hundred_warnings_and_their_true_count() {
        let events = finished_with_warnings(150);
        let Event::RunSucceededV2 {
            warnings_total,
            warnings,
            ..
        } = &events[1]
        else {
            panic!("{:?}", events[1]);
        };
        assert_eq!((*warnings_total, warnings.len()), (150, 100));
        assert_eq!(warnings[0].path, "/srv/f000");
        assert_eq!(warnings[99].path, "/srv/f099");
    }
}
