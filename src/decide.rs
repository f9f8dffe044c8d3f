//! Commands and the pure decision function: `decide(state, command, now) -> events | rejection`.
//!
//! Every business rule lives here. No clock, no I/O: `now` is an argument, so a decision can be
//! tested as given-events / when-command / then-events.

use crate::domain::retention;
use crate::domain::{job, Rejection};
use crate::error::ErrorKind;
use crate::events::{
    BackupKind, BackupRecord, Event, HealthCheck, JobSpec, RetentionPolicy, RunReason, Ts,
};
use crate::projections::{Backup, Job, RunStatus, State};

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// The process opened the log: record it, install presets once, settle runs left without an
    /// outcome, and record the retention policy if the configuration changed it.
    Boot {
        version: String,
        pid: u32,
        presets: Vec<JobSpec>,
        retention: RetentionPolicy,
        autostart: bool,
    },
    CreateJob(JobSpec),
    UpdateJob(JobSpec),
    DeleteJob {
        job_id: String,
    },
    PauseJob {
        job_id: String,
    },
    ResumeJob {
        job_id: String,
    },
    StartScheduler,
    StopScheduler {
        reason: String,
    },
    StartRun {
        run_id: String,
        job_id: String,
        slot: Option<Ts>,
        reason: RunReason,
    },
    FinishRun {
        run_id: String,
        outcome: RunOutcome,
    },
    SkipSlot {
        job_id: String,
        slot: Ts,
    },
    RecordMissed {
        job_id: String,
        slots: Vec<Ts>,
    },
    VerifyBackup {
        backup_id: String,
        ok: bool,
        detail: Option<String>,
    },
    /// `rule` is a retention rule (`retention.full`, …: allowed only if the retention plan at `now`
    /// deletes the backup under that rule) or another named reason (an operator's deletion).
    DeleteBackup {
        backup_id: String,
        rule: String,
    },
    /// Only under the report rule, once the report expired.
    DeleteReport {
        report_id: String,
        rule: String,
    },
    /// A weekly archive was written and verified: record it and what it is a copy of.
    RecordArchive {
        backup: BackupRecord,
        source_id: String,
        merged: Vec<String>,
    },
    /// The health check's results; the status is the worst of them.
    RecordHealth {
        checks: Vec<HealthCheck>,
    },
    RecordReport {
        report_id: String,
        location: String,
        bytes: u64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    Succeeded {
        backup: Option<BackupRecord>,
        bytes: u64,
        files: u64,
        note: Option<String>,
    },
    Failed {
        error: String,
        /// Recorded with the failure (`run_failed_v2`), so retries, health and notifications
        /// can tell a passing fault from damage or a refusal.
        kind: ErrorKind,
    },
    Interrupted {
        reason: String,
    },
}

pub fn decide(state: &State, command: &Command, now: Ts) -> Result<Vec<Event>, Rejection> {
    let sched = &state.schedule;
    match command {
        Command::Boot {
            version,
            pid,
            presets,
            retention,
            autostart,
        } => {
            let mut events = vec![Event::ServiceBooted {
                version: version.clone(),
                pid: *pid,
            }];
            for run in sched.runs_in_flight() {
                events.push(Event::RunInterrupted {
                    run_id: run.run_id.clone(),
                    reason: "the service stopped before the run had an outcome".into(),
                });
            }
            if !sched.presets_installed {
                events.push(Event::PresetsInstalled {
                    jobs: presets.clone(),
                });
            }
            if state.retention() != *retention {
                events.push(Event::RetentionPolicySet { policy: *retention });
            }
            if *autostart && !sched.scheduler_running {
                events.push(Event::SchedulerStarted);
            }
            Ok(events)
        }
        Command::CreateJob(spec) => {
            job::validate(spec)?;
            if sched.jobs.contains_key(&spec.id) {
                return Err(Rejection::conflict(
                    "id",
                    format!("a job with id {:?} already exists", spec.id),
                ));
            }
            Ok(vec![Event::JobCreated { job: spec.clone() }])
        }
        Command::UpdateJob(spec) => {
            job::validate(spec)?;
            let current = existing(state, &spec.id)?;
            if current.spec == *spec {
                return Ok(vec![]);
            }
            Ok(vec![Event::JobUpdated { job: spec.clone() }])
        }
        Command::DeleteJob { job_id } => {
            let job = existing(state, job_id)?;
            // A run keeps its job until it has an outcome, so boot can always settle it.
            if let Some(running) = &job.running {
                return Err(Rejection::conflict(
                    "job_id",
                    format!(
                        "job {job_id:?} is running (run {running}); delete it when the run ends"
                    ),
                ));
            }
            Ok(vec![Event::JobDeleted {
                job_id: job_id.clone(),
            }])
        }
        Command::PauseJob { job_id } => {
            let job = existing(state, job_id)?;
            Ok(if job.paused {
                vec![]
            } else {
                vec![Event::JobPaused {
                    job_id: job_id.clone(),
                }]
            })
        }
        Command::ResumeJob { job_id } => {
            let job = existing(state, job_id)?;
            Ok(if job.paused {
                vec![Event::JobResumed {
                    job_id: job_id.clone(),
                }]
            } else {
                vec![]
            })
        }
        Command::StartScheduler => Ok(if sched.scheduler_running {
            vec![]
        } else {
            vec![Event::SchedulerStarted]
        }),
        Command::StopScheduler { reason } => Ok(if sched.scheduler_running {
            vec![Event::SchedulerStopped {
                reason: reason.clone(),
            }]
        } else {
            vec![]
        }),
        Command::StartRun {
            run_id,
            job_id,
            slot,
            reason,
        } => {
            let job = existing(state, job_id)?;
            if let Some(running) = &job.running {
                return Err(Rejection::conflict(
                    "job_id",
                    format!("job {job_id:?} is already running (run {running})"),
                ));
            }
            if sched.runs.contains_key(run_id) {
                return Err(Rejection::conflict(
                    "run_id",
                    format!("run id {run_id:?} is taken"),
                ));
            }
            if let (Some(slot), Some(settled)) = (slot, job.last_slot) {
                if *slot <= settled {
                    return Err(Rejection::conflict(
                        "slot",
                        format!(
                            "slot {slot} of job {job_id:?} was already settled (up to {settled})"
                        ),
                    ));
                }
            }
            Ok(vec![Event::RunStarted {
                run_id: run_id.clone(),
                job_id: job_id.clone(),
                slot: *slot,
                reason: *reason,
            }])
        }
        Command::FinishRun { run_id, outcome } => {
            let run = sched
                .runs
                .get(run_id)
                .ok_or_else(|| Rejection::not_found("run_id", format!("no run {run_id:?}")))?;
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
                } => {
                    let mut events = Vec::new();
                    // A cleanup may delete the base while an incremental is written on it (only
                    // if the base expired meanwhile): recording it would leave a chain that
                    // cannot restore, so the run fails and says so instead.
                    let lost_base = backup.as_ref().and_then(|b| {
                        b.parent
                            .as_ref()
                            .filter(|p| !state.catalog.backups.contains_key(p.as_str()))
                            .map(|p| (b, p))
                    });
                    if let Some((b, parent)) = lost_base {
                        return Ok(vec![Event::RunFailedV2 {
                            run_id: run_id.clone(),
                            error: format!(
                                "its base {parent:?} was deleted while the run wrote on it: \
                                 {} is not recorded (boot reports it as unrecorded)",
                                b.location
                            ),
                            // Nothing kept is damaged, and the next run picks another base
                            // (or takes a full): running it again succeeds.
                            kind: ErrorKind::Transient.into(),
                            duration_ms,
                        }]);
                    }
                    if let Some(b) = backup {
                        if state.catalog.backups.contains_key(&b.id) {
                            return Err(Rejection::conflict(
                                "backup_id",
                                format!("backup id {:?} is taken", b.id),
                            ));
                        }
                        events.push(Event::BackupRecorded { backup: b.clone() });
                    }
                    events.push(Event::RunSucceeded {
                        run_id: run_id.clone(),
                        backup_id: backup.as_ref().map(|b| b.id.clone()),
                        bytes: *bytes,
                        files: *files,
                        duration_ms,
                        note: note.clone(),
                    });
                    events
                }
                RunOutcome::Failed { error, kind } => vec![Event::RunFailedV2 {
                    run_id: run_id.clone(),
                    error: error.clone(),
                    kind: (*kind).into(),
                    duration_ms,
                }],
                RunOutcome::Interrupted { reason } => vec![Event::RunInterrupted {
                    run_id: run_id.clone(),
                    reason: reason.clone(),
                }],
            })
        }
        Command::SkipSlot { job_id, slot } => {
            let job = existing(state, job_id)?;
            let Some(running) = &job.running else {
                return Err(Rejection::conflict(
                    "job_id",
                    format!("job {job_id:?} is not running: its slot should run, not be skipped"),
                ));
            };
            Ok(vec![Event::RunSkipped {
                job_id: job_id.clone(),
                slot: *slot,
                running_run_id: running.clone(),
            }])
        }
        Command::RecordMissed { job_id, slots } => {
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
                    job_id: job_id.clone(),
                    slots: fresh,
                }]
            })
        }
        Command::VerifyBackup {
            backup_id,
            ok,
            detail,
        } => {
            backup(state, backup_id)?;
            Ok(vec![Event::BackupVerified {
                backup_id: backup_id.clone(),
                ok: *ok,
                detail: detail.clone(),
            }])
        }
        Command::DeleteBackup { backup_id, rule } => {
            let b = backup(state, backup_id)?;
            if rule.starts_with("retention.") {
                let plan = retention::plan(&state.catalog, now);
                if !plan.allows(backup_id, rule) {
                    let why = plan
                        .why_kept(backup_id)
                        .unwrap_or("it does not expire under it");
                    return Err(Rejection::conflict(
                        "backup_id",
                        format!("{rule} does not delete backup {backup_id:?} now: {why}"),
                    ));
                }
            }
            let dependant = state
                .catalog
                .backups
                .values()
                .find(|o| o.record.parent.as_deref() == Some(backup_id.as_str()));
            if let Some(child) = dependant {
                return Err(Rejection::conflict(
                    "backup_id",
                    format!(
                        "backup {backup_id:?} is the base of {:?}; delete that first",
                        child.record.id
                    ),
                ));
            }
            Ok(vec![Event::BackupDeleted {
                backup_id: backup_id.clone(),
                rule: rule.clone(),
                bytes: b.record.bytes,
            }])
        }
        Command::DeleteReport { report_id, rule } => {
            let r = state.catalog.reports.get(report_id).ok_or_else(|| {
                Rejection::not_found("report_id", format!("no report {report_id:?}"))
            })?;
            if !retention::plan(&state.catalog, now).allows(report_id, rule) {
                return Err(Rejection::conflict(
                    "report_id",
                    format!("{rule} does not delete report {report_id:?} now"),
                ));
            }
            Ok(vec![Event::ReportDeleted {
                report_id: report_id.clone(),
                rule: rule.clone(),
                bytes: r.bytes,
            }])
        }
        Command::RecordArchive {
            backup,
            source_id,
            merged,
        } => {
            if backup.kind != BackupKind::Archive || backup.parent.is_some() {
                return Err(Rejection::invalid(
                    "backup.kind",
                    "an archive is self-contained: kind archive, no parent",
                ));
            }
            if state.catalog.backups.contains_key(&backup.id) {
                return Err(Rejection::conflict(
                    "backup_id",
                    format!("backup id {:?} is taken", backup.id),
                ));
            }
            // The source may have been deleted while the archive was written: the archive is a
            // complete copy, so it is recorded anyway.
            Ok(vec![
                Event::BackupRecorded {
                    backup: backup.clone(),
                },
                Event::BackupArchived {
                    backup_id: backup.id.clone(),
                    source_id: source_id.clone(),
                    merged: merged.clone(),
                },
            ])
        }
        Command::RecordHealth { checks } => {
            let status = checks.iter().map(|c| c.status).max().ok_or_else(|| {
                Rejection::invalid("checks", "a health check records at least one check")
            })?;
            Ok(vec![Event::HealthChecked {
                status,
                checks: checks.clone(),
            }])
        }
        Command::RecordReport {
            report_id,
            location,
            bytes,
        } => {
            if state.catalog.reports.contains_key(report_id) {
                return Err(Rejection::conflict(
                    "report_id",
                    format!("report id {report_id:?} is taken"),
                ));
            }
            Ok(vec![Event::ReportGenerated {
                report_id: report_id.clone(),
                location: location.clone(),
                bytes: *bytes,
            }])
        }
    }
}

fn existing<'a>(state: &'a State, job_id: &str) -> Result<&'a Job, Rejection> {
    state
        .schedule
        .jobs
        .get(job_id)
        .ok_or_else(|| Rejection::not_found("job_id", format!("no job {job_id:?}")))
}

fn backup<'a>(state: &'a State, backup_id: &str) -> Result<&'a Backup, Rejection> {
    state
        .catalog
        .backups
        .get(backup_id)
        .ok_or_else(|| Rejection::not_found("backup_id", format!("no backup {backup_id:?}")))
}

#[cfg(test)]
mod tests {
    //! given events / when command / then events.
    use super::*;
    use crate::domain::job::RejectionCode;
    use crate::domain::presets::presets;
    use crate::events::{
        BackupKind, BackupRecord, Envelope, Event, FailureKind, HealthStatus, JobAction,
        RetentionPolicy, Trigger,
    };
    use crate::projections::DEFAULT_POLICY;

    fn t(secs: i64) -> Ts {
        Ts::from_unix_nanos(1_790_000_000_000_000_000 + secs * 1_000_000_000)
    }

    fn given(events: Vec<Event>) -> State {
        let envs: Vec<Envelope> = events
            .into_iter()
            .enumerate()
            .map(|(i, payload)| Envelope {
                position: i as u64 + 1,
                recorded_at: t(i as i64),
                actor: "test".into(),
                correlation: None,
                payload,
            })
            .collect();
        State::replay(&envs)
    }

    fn job(id: &str) -> JobSpec {
        JobSpec {
            id: id.into(),
            name: format!("job {id}"),
            trigger: Trigger::Interval {
                seconds: 60,
                start_at: None,
            },
            action: JobAction::HealthCheck,
            misfire_grace_secs: Some(3600),
            timezone: None,
            jitter_secs: 0,
        }
    }

    fn started(run: &str, job: &str, slot: Option<Ts>) -> Event {
        Event::RunStarted {
            run_id: run.into(),
            job_id: job.into(),
            slot,
            reason: RunReason::Scheduled,
        }
    }

    fn record(id: &str, kind: BackupKind, parent: Option<&str>) -> BackupRecord {
        BackupRecord {
            id: id.into(),
            job_id: "a".into(),
            run_id: "r".into(),
            kind,
            parent: parent.map(Into::into),
            location: format!("backups/{id}.bka"),
            bytes: 10,
            entries: 1,
            checksum: 1,
            compression: "zstd".into(),
            created_at: t(0),
        }
    }

    fn boot(retention: RetentionPolicy) -> Command {
        Command::Boot {
            version: "test".into(),
            pid: 1,
            presets: presets(),
            retention,
            autostart: true,
        }
    }

    fn code(r: Result<Vec<Event>, Rejection>) -> RejectionCode {
        r.expect_err("expected a rejection").code
    }

    #[test]
    fn first_boot_installs_presets_and_starts_the_scheduler() {
        let events = decide(&given(vec![]), &boot(DEFAULT_POLICY), t(0)).unwrap();
        let names: Vec<_> = events.iter().map(Event::name).collect();
        assert_eq!(
            names,
            ["service_booted", "presets_installed", "scheduler_started"]
        );
    }

    #[test]
    fn later_boots_do_not_reinstall_presets_and_interrupt_open_runs() {
        let state = given(vec![
            Event::PresetsInstalled { jobs: presets() },
            Event::JobDeleted {
                job_id: "weekly_archive".into(),
            },
            started("r1", "health_check", Some(t(0))),
            Event::SchedulerStopped {
                reason: "api".into(),
            },
        ]);
        let mut policy = DEFAULT_POLICY;
        policy.incremental_secs = Some(2);
        let events = decide(&state, &boot(policy), t(10)).unwrap();
        assert_eq!(
            events,
            vec![
                Event::ServiceBooted {
                    version: "test".into(),
                    pid: 1
                },
                Event::RunInterrupted {
                    run_id: "r1".into(),
                    reason: "the service stopped before the run had an outcome".into()
                },
                Event::RetentionPolicySet { policy },
                Event::SchedulerStarted,
            ]
        );
        // the deleted preset stays deleted
        let mut after = state.clone();
        for (i, e) in events.into_iter().enumerate() {
            after.apply(&Envelope {
                position: 10 + i as u64,
                recorded_at: t(10),
                actor: "system".into(),
                correlation: None,
                payload: e,
            });
        }
        assert!(!after.schedule.jobs.contains_key("weekly_archive"));
        assert!(after.schedule.jobs["health_check"].running.is_none());
    }

    #[test]
    fn job_lifecycle_rules() {
        let empty = given(vec![]);
        assert_eq!(
            decide(&empty, &Command::CreateJob(job("a")), t(0)).unwrap(),
            vec![Event::JobCreated { job: job("a") }]
        );
        let with_a = given(vec![Event::JobCreated { job: job("a") }]);
        assert_eq!(
            code(decide(&with_a, &Command::CreateJob(job("a")), t(0))),
            RejectionCode::Conflict
        );
        let missing = Command::PauseJob {
            job_id: "nope".into(),
        };
        assert_eq!(
            code(decide(&with_a, &missing, t(0))),
            RejectionCode::NotFound
        );
        let mut bad = job("b");
        bad.name = "a/b".into();
        let r = decide(&with_a, &Command::CreateJob(bad), t(0)).unwrap_err();
        assert_eq!(
            (r.code, r.field.as_deref()),
            (RejectionCode::Validation, Some("name"))
        );
        // pausing twice records once; resume of a running job is a no-op
        let paused = given(vec![
            Event::JobCreated { job: job("a") },
            Event::JobPaused { job_id: "a".into() },
        ]);
        let pause = Command::PauseJob { job_id: "a".into() };
        assert_eq!(decide(&paused, &pause, t(0)).unwrap(), vec![]);
        let resume = Command::ResumeJob { job_id: "a".into() };
        assert_eq!(decide(&with_a, &resume, t(0)).unwrap(), vec![]);
        // an update that changes nothing records nothing; a real one records the new spec
        assert_eq!(
            decide(&with_a, &Command::UpdateJob(job("a")), t(0)).unwrap(),
            vec![]
        );
        let mut renamed = job("a");
        renamed.name = "renamed".into();
        assert_eq!(
            decide(&with_a, &Command::UpdateJob(renamed.clone()), t(0)).unwrap(),
            vec![Event::JobUpdated { job: renamed }]
        );
    }

    #[test]
    fn one_run_per_job_and_slot() {
        let running = given(vec![
            Event::JobCreated { job: job("a") },
            started("r1", "a", Some(t(60))),
        ]);
        let delete = Command::DeleteJob { job_id: "a".into() };
        assert_eq!(
            code(decide(&running, &delete, t(61))),
            RejectionCode::Conflict
        );
        let again = Command::StartRun {
            run_id: "r2".into(),
            job_id: "a".into(),
            slot: Some(t(120)),
            reason: RunReason::Manual,
        };
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
        let finished = given(vec![
            Event::JobCreated { job: job("a") },
            started("r1", "a", Some(t(60))),
            Event::RunFailed {
                run_id: "r1".into(),
                error: "x".into(),
                duration_ms: 1,
            },
        ]);
        let same_slot = Command::StartRun {
            run_id: "r2".into(),
            job_id: "a".into(),
            slot: Some(t(60)),
            reason: RunReason::Scheduled,
        };
        assert_eq!(
            code(decide(&finished, &same_slot, t(70))),
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

    #[test]
    fn a_failed_run_records_its_error_and_kind() {
        let state = given(vec![
            Event::JobCreated { job: job("a") },
            started("r1", "a", None),
        ]);
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
                decide(&state, &finish, t(4)).unwrap(),
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
        let state = given(vec![
            Event::JobCreated { job: job("a") },
            started("r1", "a", None),
        ]);
        // the run started at t(1) (its event's recorded_at)
        let finish = Command::FinishRun {
            run_id: "r1".into(),
            outcome: RunOutcome::Succeeded {
                backup: Some(record("b1", BackupKind::Full, None)),
                bytes: 10,
                files: 1,
                note: None,
            },
        };
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
    }

    #[test]
    fn a_base_is_not_deleted_while_an_incremental_needs_it() {
        let state = given(vec![
            Event::BackupRecorded {
                backup: record("full", BackupKind::Full, None),
            },
            Event::BackupRecorded {
                backup: record("inc", BackupKind::Incremental, Some("full")),
            },
        ]);
        let del = |id: &str| Command::DeleteBackup {
            backup_id: id.into(),
            rule: "test".into(),
        };
        assert_eq!(
            code(decide(&state, &del("full"), t(0))),
            RejectionCode::Conflict
        );
        assert_eq!(
            decide(&state, &del("inc"), t(0)).unwrap(),
            vec![Event::BackupDeleted {
                backup_id: "inc".into(),
                rule: "test".into(),
                bytes: 10
            }]
        );
    }

    #[test]
    fn retention_deletions_need_the_plan_to_agree() {
        let mut policy = DEFAULT_POLICY;
        policy.incremental_secs = Some(60);
        let state = given(vec![
            Event::RetentionPolicySet { policy },
            Event::BackupRecorded {
                backup: record("full", BackupKind::Full, None),
            },
            Event::BackupRecorded {
                backup: record("inc", BackupKind::Incremental, Some("full")),
            },
        ]);
        let del = |id: &str, rule: &str| Command::DeleteBackup {
            backup_id: id.into(),
            rule: rule.into(),
        };
        // Not expired yet (created at t(0), 60 s), then expired; the wrong rule never.
        let early = decide(&state, &del("inc", "retention.incremental"), t(59)).unwrap_err();
        assert_eq!(early.code, RejectionCode::Conflict);
        assert!(early.message.contains("not expired"), "{}", early.message);
        assert_eq!(
            decide(&state, &del("inc", "retention.incremental"), t(60)).unwrap(),
            vec![Event::BackupDeleted {
                backup_id: "inc".into(),
                rule: "retention.incremental".into(),
                bytes: 10
            }]
        );
        assert_eq!(
            code(decide(&state, &del("inc", "retention.full"), t(60))),
            RejectionCode::Conflict
        );
        // The newest good full stays whatever its age.
        let full = decide(&state, &del("full", "retention.full"), t(90 * 86_400)).unwrap_err();
        assert!(
            full.message.contains("newest good full"),
            "{}",
            full.message
        );
    }

    #[test]
    fn maintenance_results_are_recorded() {
        let ok = |name: &str, status| HealthCheck {
            name: name.into(),
            status,
            reason: "r".into(),
        };
        let checks = vec![
            ok("scheduler", HealthStatus::Ok),
            ok("disk_space", HealthStatus::Critical),
            ok("sources", HealthStatus::Warning),
        ];
        let empty = given(vec![]);
        assert_eq!(
            decide(
                &empty,
                &Command::RecordHealth {
                    checks: checks.clone()
                },
                t(0)
            )
            .unwrap(),
            vec![Event::HealthChecked {
                status: HealthStatus::Critical,
                checks
            }]
        );
        let none = Command::RecordHealth { checks: vec![] };
        assert_eq!(code(decide(&empty, &none, t(0))), RejectionCode::Validation);

        let mut archive = record("w1", BackupKind::Archive, None);
        archive.job_id = "weekly_archive".into();
        let cmd = Command::RecordArchive {
            backup: archive.clone(),
            source_id: "inc".into(),
            merged: vec!["inc".into(), "full".into()],
        };
        assert_eq!(
            decide(&empty, &cmd, t(0)).unwrap(),
            vec![
                Event::BackupRecorded {
                    backup: archive.clone()
                },
                Event::BackupArchived {
                    backup_id: "w1".into(),
                    source_id: "inc".into(),
                    merged: vec!["inc".into(), "full".into()]
                }
            ]
        );
        let not_archive = Command::RecordArchive {
            backup: record("w2", BackupKind::Full, None),
            source_id: "inc".into(),
            merged: vec![],
        };
        assert_eq!(
            code(decide(&empty, &not_archive, t(0))),
            RejectionCode::Validation
        );

        let report = Command::RecordReport {
            report_id: "rep".into(),
            location: "reports/rep.json".into(),
            bytes: 5,
        };
        let events = decide(&empty, &report, t(0)).unwrap();
        let with_report = given(events);
        assert_eq!(
            code(decide(&with_report, &report, t(1))),
            RejectionCode::Conflict
        );
        let del = Command::DeleteReport {
            report_id: "rep".into(),
            rule: "retention.report".into(),
        };
        // recorded at t(0); the seed keeps reports 90 days
        assert_eq!(
            code(decide(&with_report, &del, t(90 * 86_400 - 1))),
            RejectionCode::Conflict
        );
        assert_eq!(
            decide(&with_report, &del, t(90 * 86_400)).unwrap(),
            vec![Event::ReportDeleted {
                report_id: "rep".into(),
                rule: "retention.report".into(),
                bytes: 5
            }]
        );
    }

    #[test]
    fn an_incremental_whose_base_was_deleted_meanwhile_fails_instead_of_recording() {
        let state = given(vec![
            Event::JobCreated { job: job("a") },
            started("r1", "a", None),
        ]);
        let finish = Command::FinishRun {
            run_id: "r1".into(),
            outcome: RunOutcome::Succeeded {
                backup: Some(record("inc", BackupKind::Incremental, Some("gone"))),
                bytes: 10,
                files: 1,
                note: None,
            },
        };
        match decide(&state, &finish, t(4)).unwrap().as_slice() {
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
}
