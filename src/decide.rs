//! Commands and the pure decision function: `decide(state, command, now) -> events | rejection`.
//!
//! Every business rule lives here. No clock, no I/O: `now` is an argument, so a decision can be
//! tested as given-events / when-command / then-events.

use crate::domain::{job, Rejection};
use crate::events::{BackupRecord, Event, JobSpec, RetentionPolicy, RunReason, Ts};
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
    DeleteJob { job_id: String },
    PauseJob { job_id: String },
    ResumeJob { job_id: String },
    StartScheduler,
    StopScheduler { reason: String },
    StartRun {
        run_id: String,
        job_id: String,
        slot: Option<Ts>,
        reason: RunReason,
    },
    FinishRun { run_id: String, outcome: RunOutcome },
    SkipSlot { job_id: String, slot: Ts },
    RecordMissed { job_id: String, slots: Vec<Ts> },
    VerifyBackup {
        backup_id: String,
        ok: bool,
        detail: Option<String>,
    },
    DeleteBackup {
        backup_id: String,
        rule: String,
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
    Failed { error: String },
    Interrupted { reason: String },
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
            existing(state, job_id)?;
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
                        format!("slot {slot} of job {job_id:?} was already settled (up to {settled})"),
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
                RunOutcome::Failed { error } => vec![Event::RunFailed {
                    run_id: run_id.clone(),
                    error: error.clone(),
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
