//! The schedule projection: jobs, pause state, scheduler on/off, runs and what is in flight.

use crate::error::ErrorKind;
use crate::events::{
    BackupMode, Envelope, Event, JobSpec, RestoreOutcome, RestoreTarget, RunPerf, RunReason,
    RunWarning, Ts,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub scheduler_running: bool,
    /// When, by whom and why the scheduler was last stopped; `None` while it runs.
    pub stopped: Option<SchedulerStop>,
    /// Every preset id ever installed (a deleted preset stays here, so it is never installed
    /// again; one a newer version added is not, so the next boot installs it).
    pub presets_installed: std::collections::BTreeSet<String>,
    pub boots: u64,
    pub jobs: BTreeMap<String, Job>,
    pub runs: BTreeMap<String, Run>,
    /// Queued runs, first queued first: they start in this order when a place frees.
    pub queue: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedulerStop {
    pub at: Ts,
    pub actor: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Always in the current shape (`JobSpec::upcast`): old backup configs are upcast on apply.
    pub spec: JobSpec,
    /// How many changes were applied to the job (created, updated, paused, resumed): the
    /// `ETag` / `If-Match` of the API.
    pub version: u64,
    pub preset: bool,
    pub paused: bool,
    pub created_at: Ts,
    pub updated_at: Ts,
    /// The newest slot that was run, skipped or recorded missed: slots up to here are settled.
    pub last_slot: Option<Ts>,
    pub last_run_id: Option<String>,
    /// The run in flight, if any (one instance per job).
    pub running: Option<String>,
    /// The run waiting for a place (`max_concurrent_runs`); it holds the job like a running one.
    pub queued: Option<String>,
    /// The latest `run_deferred`: (slot, since). Cleared when a run of the job starts; a change
    /// to the job (update, pause, resume) ends it too (see `deferred_since`). One wait spans
    /// slots: those that come due meanwhile are missed as usual and the wait keeps its `since`,
    /// so `max_defer` bounds it however short the job's interval.
    pub deferral: Option<(Ts, Ts)>,
}

impl Job {
    /// Since when the job's due run has been waiting for a quiet machine, if it still is.
    pub fn deferred_since(&self) -> Option<Ts> {
        let (_, since) = self.deferral?;
        let waiting = since >= self.updated_at && self.running.is_none() && self.queued.is_none();
        waiting.then_some(since)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Interrupted,
    /// Waiting for a place among `max_concurrent_runs`.
    Queued,
    /// Stopped before its end by an operator or its timeout.
    Cancelled,
}

impl RunStatus {
    /// Has the run no outcome yet (queued or running)?
    pub fn is_open(self) -> bool {
        matches!(self, RunStatus::Running | RunStatus::Queued)
    }
}

/// What a run does: a job's backup (or maintenance) run, or a restore. Restore runs have no job
/// (`job_id` is empty): the scheduler, the queue and the per-job figures never see them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    #[default]
    Backup,
    Restore,
}

impl RunKind {
    pub const ALL: [RunKind; 2] = [RunKind::Backup, RunKind::Restore];

    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Backup => "backup",
            RunKind::Restore => "restore",
        }
    }
}

/// What only a restore run has (`restore_started`, `restore_finished`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreRun {
    /// As asked (original paths); empty = everything.
    pub paths: Vec<String>,
    pub database: Option<String>,
    pub target: RestoreTarget,
    /// `None` while it runs, or when it was interrupted (the run's status says so).
    pub outcome: Option<RestoreOutcome>,
    pub kept: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub run_id: String,
    /// Empty for a restore run.
    pub job_id: String,
    pub kind: RunKind,
    /// Who started it (the start event's actor).
    pub actor: String,
    /// A restore run's request and outcome; `None` for backup runs.
    pub restore: Option<RestoreRun>,
    pub slot: Option<Ts>,
    pub reason: RunReason,
    pub status: RunStatus,
    pub started_at: Ts,
    pub finished_at: Option<Ts>,
    pub duration_ms: Option<u64>,
    pub backup_id: Option<String>,
    pub bytes: u64,
    pub files: u64,
    pub error: Option<String>,
    /// A failed run's kind; `None` while it has not failed, and for failures recorded as
    /// `run_failed` (before kinds were recorded: their kind is unknown, not guessed from the text).
    pub error_kind: Option<ErrorKind>,
    pub note: Option<String>,
    /// The mode forced for this run (`run_started_v2`, `run_queued`); `None` = the job's own.
    pub mode_override: Option<BackupMode>,
    /// Who cancelled it (`run_cancelled.by`); `None` for a timeout or another outcome.
    pub cancelled_by: Option<String>,
    /// Entries a succeeded run skipped or read while they changed (`run_succeeded_v2`): the
    /// true count, and the first `MAX_RUN_WARNINGS` of them.
    pub warnings_total: u64,
    pub warnings: Vec<RunWarning>,
    /// Phase timings and volumes of a backup run that measured them (`run_succeeded_v3`).
    #[serde(default)]
    pub perf: Option<RunPerf>,
}

impl Run {
    /// A restore run as `restore_started` opens it.
    fn restore(run_id: &str, actor: &str, at: Ts) -> Run {
        Run {
            run_id: run_id.to_string(),
            job_id: String::new(),
            kind: RunKind::Restore,
            actor: actor.to_string(),
            restore: None,
            slot: None,
            reason: RunReason::Manual,
            status: RunStatus::Running,
            started_at: at,
            finished_at: None,
            duration_ms: None,
            backup_id: None,
            bytes: 0,
            files: 0,
            error: None,
            error_kind: None,
            note: None,
            mode_override: None,
            cancelled_by: None,
            warnings_total: 0,
            warnings: Vec::new(),
            perf: None,
        }
    }

    /// Did the run finish in `(from, to]`? Half-open, so consecutive windows never count a run
    /// twice.
    pub fn finished_in(&self, from: Ts, to: Ts) -> bool {
        self.finished_at.is_some_and(|t| t > from && t <= to)
    }
}

/// Finished runs by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcomes {
    pub succeeded: u64,
    pub failed: u64,
    pub interrupted: u64,
    pub cancelled: u64,
}

impl Outcomes {
    pub fn count(&mut self, status: RunStatus) {
        match status {
            RunStatus::Succeeded => self.succeeded += 1,
            RunStatus::Failed => self.failed += 1,
            RunStatus::Interrupted => self.interrupted += 1,
            RunStatus::Cancelled => self.cancelled += 1,
            RunStatus::Running | RunStatus::Queued => {}
        }
    }

    pub fn finished(&self) -> u64 {
        self.succeeded + self.failed + self.interrupted + self.cancelled
    }

    /// Succeeded over finished; `None` when nothing finished (a rate of no runs is undefined,
    /// and 1 or 0 would both lie to an alert).
    pub fn success_rate(&self) -> Option<f64> {
        let finished = self.finished();
        (finished > 0).then(|| self.succeeded as f64 / finished as f64)
    }
}

impl Schedule {
    pub fn apply(&mut self, env: &Envelope) {
        let at = env.recorded_at;
        match &env.payload {
            Event::ServiceBooted { .. } => self.boots += 1,
            Event::PresetsInstalled { jobs } => {
                for spec in jobs {
                    self.presets_installed.insert(spec.id.clone());
                    self.insert_job(spec.clone().upcast(), true, at);
                }
            }
            Event::JobCreated { job } => self.insert_job(job.clone().upcast(), false, at),
            Event::JobUpdated { job } => {
                if let Some(j) = self.jobs.get_mut(&job.id) {
                    j.spec = job.clone().upcast();
                    j.updated_at = at;
                    j.version += 1;
                }
            }
            Event::JobDeleted { job_id } => {
                self.jobs.remove(job_id);
            }
            Event::JobPaused { job_id } => self.set_paused(job_id, true, at),
            Event::JobResumed { job_id } => self.set_paused(job_id, false, at),
            Event::SchedulerStarted => {
                self.scheduler_running = true;
                self.stopped = None;
            }
            Event::SchedulerStopped { reason } => {
                self.scheduler_running = false;
                self.stopped = Some(SchedulerStop {
                    at,
                    actor: env.actor.clone(),
                    reason: reason.clone(),
                });
            }
            Event::RunStarted {
                run_id,
                job_id,
                slot,
                reason,
            } => self.start(
                &env.actor,
                run_id,
                job_id,
                *slot,
                *reason,
                None,
                at,
                RunStatus::Running,
            ),
            Event::RunStartedV2 {
                run_id,
                job_id,
                slot,
                reason,
                mode_override,
            } => self.start(
                &env.actor,
                run_id,
                job_id,
                *slot,
                *reason,
                *mode_override,
                at,
                RunStatus::Running,
            ),
            Event::RunQueued {
                run_id,
                job_id,
                slot,
                reason,
                mode_override,
            } => self.start(
                &env.actor,
                run_id,
                job_id,
                *slot,
                *reason,
                *mode_override,
                at,
                RunStatus::Queued,
            ),
            Event::RunCancelled {
                run_id,
                reason,
                by,
                duration_ms,
            } => self.finish(run_id, at, RunStatus::Cancelled, *duration_ms, |run| {
                run.error = Some(reason.clone());
                run.cancelled_by = by.clone();
            }),
            Event::RunSucceeded {
                run_id,
                backup_id,
                bytes,
                files,
                duration_ms,
                note,
            } => self.finish(run_id, at, RunStatus::Succeeded, *duration_ms, |run| {
                run.backup_id = backup_id.clone();
                run.bytes = *bytes;
                run.files = *files;
                run.note = note.clone();
            }),
            Event::RunSucceededV2 {
                run_id,
                backup_id,
                bytes,
                files,
                duration_ms,
                note,
                warnings_total,
                warnings,
            } => self.finish(run_id, at, RunStatus::Succeeded, *duration_ms, |run| {
                run.backup_id = backup_id.clone();
                run.bytes = *bytes;
                run.files = *files;
                run.note = note.clone();
                run.warnings_total = *warnings_total;
                run.warnings = warnings.clone();
            }),
            Event::RunSucceededV3 {
                run_id,
                backup_id,
                bytes,
                files,
                duration_ms,
                note,
                warnings_total,
                warnings,
                perf,
            } => self.finish(run_id, at, RunStatus::Succeeded, *duration_ms, |run| {
                run.backup_id = backup_id.clone();
                run.bytes = *bytes;
                run.files = *files;
                run.note = note.clone();
                run.warnings_total = *warnings_total;
                run.warnings = warnings.clone();
                run.perf = Some(*perf);
            }),
            Event::RunFailed {
                run_id,
                error,
                duration_ms,
            } => self.finish(run_id, at, RunStatus::Failed, *duration_ms, |run| {
                run.error = Some(error.clone())
            }),
            Event::RunFailedV2 {
                run_id,
                error,
                kind,
                duration_ms,
            } => self.finish(run_id, at, RunStatus::Failed, *duration_ms, |run| {
                run.error = Some(error.clone());
                run.error_kind = Some((*kind).into());
            }),
            Event::RunInterrupted { run_id, reason } => {
                let duration = self
                    .runs
                    .get(run_id)
                    .map(|r| r.started_at.millis_until(at))
                    .unwrap_or(0);
                self.finish(run_id, at, RunStatus::Interrupted, duration, |run| {
                    run.error = Some(reason.clone())
                })
            }
            Event::RunSkipped { job_id, slot, .. } => self.settle_slot(job_id, *slot),
            Event::SlotsMissed { job_id, slots } => {
                if let Some(newest) = slots.iter().max() {
                    self.settle_slot(job_id, *newest);
                }
            }
            Event::RetentionPolicySet { .. }
            | Event::BackupRecorded { .. }
            | Event::BackupVerified { .. }
            | Event::BackupDeleted { .. }
            | Event::HealthChecked { .. }
            | Event::ReportGenerated { .. }
            | Event::BackupArchived { .. }
            | Event::ReportDeleted { .. }
            | Event::CatalogRecovered { .. }
            | Event::BackupForgotten { .. }
            | Event::TokenCreated { .. }
            | Event::TokenRevoked { .. }
            | Event::NotificationSent { .. }
            | Event::NotificationFailed { .. }
            | Event::PackWritten { .. }
            | Event::SnapshotRecorded { .. }
            | Event::PacksDeleted { .. }
            | Event::PacksRepacked { .. }
            | Event::ObjectReplicated { .. }
            | Event::ReplicationFailed { .. }
            | Event::RemoteObjectDeleted { .. }
            | Event::LogShipped { .. } => {}
            Event::RunDeferred {
                job_id,
                slot,
                since,
                ..
            } => {
                if let Some(job) = self.jobs.get_mut(job_id) {
                    job.deferral = Some((*slot, *since));
                }
            }
            Event::RestoreStarted {
                run_id,
                backup_id,
                paths,
                database,
                target,
            } => {
                let mut run = Run::restore(run_id, &env.actor, at);
                run.backup_id = Some(backup_id.clone());
                run.restore = Some(RestoreRun {
                    paths: paths.clone(),
                    database: database.clone(),
                    target: target.clone(),
                    outcome: None,
                    kept: 0,
                });
                self.runs.insert(run_id.clone(), run);
            }
            Event::RestoreFinished {
                run_id,
                outcome,
                files,
                bytes,
                kept,
                duration_ms,
            } => {
                let status = match outcome {
                    RestoreOutcome::Failed { .. } => RunStatus::Failed,
                    // An incomplete restore ended as asked (`skip_damaged`); the outcome says what
                    // is missing, as a backup run's warnings do.
                    RestoreOutcome::Succeeded | RestoreOutcome::Incomplete { .. } => {
                        RunStatus::Succeeded
                    }
                };
                self.finish(run_id, at, status, *duration_ms, |run| {
                    run.files = *files;
                    run.bytes = *bytes;
                    if let RestoreOutcome::Failed { error, kind } = outcome {
                        run.error = Some(error.clone());
                        run.error_kind = Some((*kind).into());
                    }
                    if let Some(r) = run.restore.as_mut() {
                        r.outcome = Some(outcome.clone());
                        r.kept = *kept;
                    }
                })
            }
        }
    }

    /// Restore runs that have started and have no outcome yet (a scan: they hold no job).
    pub fn restores_open(&self) -> impl Iterator<Item = &Run> {
        self.runs
            .values()
            .filter(|r| r.kind == RunKind::Restore && r.status.is_open())
    }

    /// Runs that have started and have no outcome yet.
    pub fn runs_in_flight(&self) -> impl Iterator<Item = &Run> {
        self.jobs
            .values()
            .filter_map(|j| j.running.as_ref())
            .filter_map(|id| self.runs.get(id))
    }

    /// Runs waiting for a place, first queued first.
    pub fn runs_queued(&self) -> impl Iterator<Item = &Run> {
        self.queue.iter().filter_map(|id| self.runs.get(id))
    }

    /// A run that is queued or running (or started while its job was deleted): no outcome yet.
    #[allow(clippy::too_many_arguments)]
    fn start(
        &mut self,
        actor: &str,
        run_id: &str,
        job_id: &str,
        slot: Option<Ts>,
        reason: RunReason,
        mode_override: Option<BackupMode>,
        at: Ts,
        status: RunStatus,
    ) {
        let queued = status == RunStatus::Queued;
        if let Some(job) = self.jobs.get_mut(job_id) {
            job.deferral = None;
            if queued {
                job.queued = Some(run_id.to_string());
            } else {
                job.running = Some(run_id.to_string());
                if job.queued.as_deref() == Some(run_id) {
                    job.queued = None;
                }
            }
            job.last_run_id = Some(run_id.to_string());
            if slot.is_some() && slot > job.last_slot {
                job.last_slot = slot;
            }
        }
        if queued {
            self.queue.push(run_id.to_string());
        } else {
            self.queue.retain(|q| q != run_id);
        }
        self.runs.insert(
            run_id.to_string(),
            Run {
                run_id: run_id.to_string(),
                job_id: job_id.to_string(),
                kind: RunKind::Backup,
                actor: actor.to_string(),
                restore: None,
                slot,
                reason,
                status,
                // A queued run's start is when it leaves the queue (the duration counts from it).
                started_at: at,
                finished_at: None,
                duration_ms: None,
                backup_id: None,
                bytes: 0,
                files: 0,
                error: None,
                error_kind: None,
                note: None,
                mode_override,
                cancelled_by: None,
                warnings_total: 0,
                warnings: Vec::new(),
                perf: None,
            },
        );
    }

    fn insert_job(&mut self, spec: JobSpec, preset: bool, at: Ts) {
        self.jobs.insert(
            spec.id.clone(),
            Job {
                spec,
                version: 1,
                preset,
                paused: false,
                created_at: at,
                updated_at: at,
                last_slot: None,
                last_run_id: None,
                running: None,
                queued: None,
                deferral: None,
            },
        );
    }

    fn set_paused(&mut self, job_id: &str, paused: bool, at: Ts) {
        if let Some(j) = self.jobs.get_mut(job_id) {
            j.paused = paused;
            j.updated_at = at;
            j.version += 1;
        }
    }

    fn settle_slot(&mut self, job_id: &str, slot: Ts) {
        if let Some(j) = self.jobs.get_mut(job_id) {
            if Some(slot) > j.last_slot {
                j.last_slot = Some(slot);
            }
        }
    }

    fn finish(
        &mut self,
        run_id: &str,
        at: Ts,
        status: RunStatus,
        duration_ms: u64,
        fill: impl FnOnce(&mut Run),
    ) {
        let Some(run) = self.runs.get_mut(run_id) else {
            return;
        };
        if !run.status.is_open() {
            return;
        }
        run.status = status;
        run.finished_at = Some(at);
        run.duration_ms = Some(duration_ms);
        fill(run);
        if let Some(job) = self.jobs.get_mut(&run.job_id) {
            if job.running.as_deref() == Some(run_id) {
                job.running = None;
            }
            if job.queued.as_deref() == Some(run_id) {
                job.queued = None;
            }
        }
        self.queue.retain(|q| q != run_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{BackupConfig, BackupConfigV1, BackupMode, BackupType, JobAction, Trigger};

    #[test]
    fn old_backup_configs_are_upcast_and_every_change_counts_as_a_version() {
        let old = BackupConfigV1 {
            backup_type: BackupType::Files,
            mode: BackupMode::Incremental,
            include_database: None,
            include_files: Some(true),
            include_config: None,
            compression: Some("gzip".into()),
            level: None,
        };
        let spec = JobSpec {
            id: "j".into(),
            name: "J".into(),
            trigger: Trigger::Interval {
                seconds: 60,
                start_at: None,
            },
            action: JobAction::BackupV1(old),
            misfire_grace_secs: None,
            timezone: None,
            jitter_secs: 0,
        };
        let mut schedule = Schedule::default();
        let env = |position, payload| Envelope {
            position,
            recorded_at: Ts::from_unix_nanos(0),
            actor: "t".into(),
            correlation: None,
            payload,
        };
        schedule.apply(&env(1, Event::JobCreated { job: spec.clone() }));
        let want = BackupConfig {
            include_files: Some(true),
            compression: Some("gzip".into()),
            ..BackupConfig::new(BackupType::Files, BackupMode::Incremental)
        };
        assert_eq!(schedule.jobs["j"].spec.action, JobAction::Backup(want));
        assert_eq!(schedule.jobs["j"].version, 1);
        schedule.apply(&env(2, Event::JobPaused { job_id: "j".into() }));
        schedule.apply(&env(3, Event::JobUpdated { job: spec }));
        assert_eq!(schedule.jobs["j"].version, 3);
        assert!(matches!(
            schedule.jobs["j"].spec.action,
            JobAction::Backup(_)
        ));
    }
}
