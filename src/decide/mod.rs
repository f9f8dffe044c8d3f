//! Commands and the pure decision function: `decide(state, command, now) -> events | rejection`.
//!
//! Every business rule lives here. No clock, no I/O: `now` is an argument, so a decision can be
//! tested as given-events / when-command / then-events.
//!
//! `decide` only dispatches: the rules live with the aggregate they guard, one file each —
//! `scheduler` (boot, start/stop), `jobs`, `runs`, `queue` (the run queue and cancellation), `defer` (runs waiting for a quiet machine),
//! `catalog` (backups, archives), `records` (health checks, reports), `tokens` (API tokens) and `snapshots` (the repository's records of a backup run). A new capability is a
//! new file here and one line in the dispatch.

mod catalog;
mod defer;
#[cfg(test)]
mod fixture;
mod jobs;
mod logship;
mod offsite;
pub mod prune;
mod queue;
mod records;
mod recover;
mod restores;
mod runs;
mod scheduler;
mod snapshots;
mod tokens;

pub use defer::{should_defer, Defer};
pub use offsite::Replication;
pub use restores::RestoreDone;

use std::collections::BTreeMap;

use crate::domain::patch::JobPatch;
use crate::domain::selection::SourceCatalog;
use crate::domain::Rejection;
use crate::error::ErrorKind;
use crate::events::{
    BackupMode, BackupRecord, Event, HealthCheck, JobSpec, RestoreTarget, RetentionPolicy, RunPerf,
    RunReason, RunWarning, Scope, TokenHash, Ts,
};
use crate::events::{PackRecord, SnapshotRefs};

use crate::projections::{Backup, Job, State};
pub use tokens::MAX_NAME_LEN as MAX_TOKEN_NAME_LEN;

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
    /// The fields a client gave, merged into the job as it is when decided. `if_version`: only
    /// if the job is still at that version (`If-Match`). `sources`: the configured sources, to
    /// refuse a new backup_config that selects nothing (`None` skips that check).
    UpdateJob {
        job_id: String,
        patch: JobPatch,
        if_version: Option<u64>,
        sources: Option<SourceCatalog>,
    },
    DeleteJob {
        job_id: String,
        if_version: Option<u64>,
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
    /// Start a run, or queue it when `max_running` runs are going or others already wait (so
    /// runs start in the order they came due). `mode` forces a backup's mode for this run.
    RequestRun {
        run_id: String,
        job_id: String,
        slot: Option<Ts>,
        reason: RunReason,
        mode: Option<BackupMode>,
        max_running: usize,
    },
    /// A due slot waits for a quiet machine: recorded once per slot (`run_deferred`).
    DeferRun {
        job_id: String,
        slot: Ts,
        load: f64,
        threshold: f64,
    },
    /// Start queued runs, first queued first, while fewer than `max_running` run.
    AdmitQueued {
        max_running: usize,
    },
    /// Stop a queued run now; a running one's executor is stopped by the caller and this records
    /// it (or the executor's `Cancelled` outcome does). `by` is the actor; `None` = its timeout.
    CancelRun {
        run_id: String,
        reason: String,
        by: Option<String>,
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
    /// An operator forgets one backup. Refused while kept backups depend on it unless `cascade`
    /// (then they are forgotten first, dependants first), and for a job's newest good full
    /// unless `force`.
    ForgetBackup {
        backup_id: String,
        reason: Option<String>,
        cascade: bool,
        force: bool,
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
    /// `backupd recover`: the backups read from the archives (parents first) and the archives
    /// left out (`file: why`), recorded with a `catalog_recovered` event into a log without a
    /// catalog.
    RecoverCatalog {
        backups: Vec<BackupRecord>,
        skipped: Vec<String>,
        note: String,
    },
    /// A checked restore request begins: a restore run (no job) under a fresh `run_id`.
    StartRestore {
        run_id: String,
        backup_id: String,
        paths: Vec<String>,
        database: Option<String>,
        target: RestoreTarget,
    },
    /// The restore run's outcome, once.
    FinishRestore {
        run_id: String,
        done: RestoreDone,
    },
    /// An API token: the shell made the secret and sends only its SHA-256.
    CreateToken {
        name: String,
        scopes: Vec<Scope>,
        expires_at: Option<Ts>,
        hash: TokenHash,
    },
    RevokeToken {
        name: String,
    },
    /// One delivery attempt of a notification and its outcome (the notifier's queue).
    RecordDelivery {
        channel: String,
        kind: String,
        attempt: u32,
        outcome: Delivery,
    },
    /// A backup run wrote and synced a pack of the repository (before anything references it).
    RecordPack {
        run_id: String,
        pack: PackRecord,
    },
    /// A backup run's snapshot, recorded before its `FinishRun` (which then does not record the
    /// backup again).
    RecordSnapshot {
        run_id: String,
        backup: BackupRecord,
        snapshot: SnapshotRefs,
    },
    /// Prune: delete packs no live snapshot needs (`packs_deleted`); `reason` says why.
    DeletePacks {
        packs: Vec<String>,
        reason: String,
    },
    /// Prune: the new packs `into` (written, synced, not yet recorded) hold the live chunks of
    /// `from`: record them, move the references, delete `from`.
    RepackPacks {
        from: Vec<String>,
        into: Vec<crate::events::PackRecord>,
    },
    /// The log's positions `first..=last` are on `remote` as the segment `key`.
    RecordLogShipped {
        remote: String,
        first: u64,
        last: u64,
        key: String,
    },
    /// One step of the replication queue: an upload's outcome, or a remote copy about to be
    /// deleted.
    RecordReplication {
        remote: String,
        key: String,
        outcome: Replication,
    },
}

/// How a notification's delivery attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    Sent {
        subject: String,
        run_id: Option<String>,
    },
    Failed {
        reason: String,
        will_retry: bool,
    },
}

// One outcome per run, moved a couple of times: the size of the largest variant costs nothing,
// and boxing `perf` would only make every backup path allocate.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    Succeeded {
        backup: Option<BackupRecord>,
        bytes: u64,
        files: u64,
        note: Option<String>,
        /// Entries skipped or changed while read, every one (`finish` keeps the first
        /// `MAX_RUN_WARNINGS` and the count); empty for maintenance runs.
        warnings: Vec<RunWarning>,
        /// The run's phase timings and volumes; recorded as `run_succeeded_v3` when given (backup
        /// runs), `None` for runs that measure none (maintenance).
        perf: Option<RunPerf>,
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
    /// Stopped before its end (an operator or the timeout); `by` as in `CancelRun`.
    Cancelled {
        reason: String,
        by: Option<String>,
    },
}

pub fn decide(state: &State, command: &Command, now: Ts) -> Result<Vec<Event>, Rejection> {
    use Command as C;
    match command {
        C::Boot {
            version,
            pid,
            presets,
            retention,
            autostart,
        } => scheduler::boot(state, version, *pid, presets, *retention, *autostart),
        C::CreateJob(spec) => jobs::create(state, spec),
        C::UpdateJob {
            job_id,
            patch,
            if_version,
            sources,
        } => jobs::update(state, job_id, patch, *if_version, sources.as_ref()),
        C::DeleteJob { job_id, if_version } => jobs::delete(state, job_id, *if_version),
        C::PauseJob { job_id } => jobs::pause(state, job_id),
        C::ResumeJob { job_id } => jobs::resume(state, job_id),
        C::StartScheduler => scheduler::start(state),
        C::StopScheduler { reason } => scheduler::stop(state, reason),
        C::StartRun {
            run_id,
            job_id,
            slot,
            reason,
        } => runs::start(state, run_id, job_id, *slot, *reason),
        C::FinishRun { run_id, outcome } => runs::finish(state, run_id, outcome, now),
        C::RequestRun {
            run_id,
            job_id,
            slot,
            reason,
            mode,
            max_running,
        } => queue::request(state, run_id, job_id, *slot, *reason, *mode, *max_running),
        C::DeferRun {
            job_id,
            slot,
            load,
            threshold,
        } => defer::defer_run(state, job_id, *slot, *load, *threshold, now),
        C::AdmitQueued { max_running } => Ok(queue::admit(state, *max_running)),
        C::CancelRun { run_id, reason, by } => queue::cancel(state, run_id, reason, by, now),
        C::SkipSlot { job_id, slot } => runs::skip_slot(state, job_id, *slot),
        C::RecordMissed { job_id, slots } => runs::record_missed(state, job_id, slots),
        C::VerifyBackup {
            backup_id,
            ok,
            detail,
        } => catalog::verify_backup(state, backup_id, *ok, detail.as_deref()),
        C::DeleteBackup { backup_id, rule } => catalog::delete_backup(state, backup_id, rule, now),
        C::ForgetBackup {
            backup_id,
            reason,
            cascade,
            force,
        } => catalog::forget_backup(state, backup_id, reason.as_deref(), *cascade, *force),
        C::DeleteReport { report_id, rule } => records::delete_report(state, report_id, rule, now),
        C::RecordArchive {
            backup,
            source_id,
            merged,
        } => catalog::record_archive(state, backup, source_id, merged),
        C::RecordHealth { checks } => records::health(checks),
        C::RecordReport {
            report_id,
            location,
            bytes,
        } => records::report(state, report_id, location, *bytes),
        C::RecoverCatalog {
            backups,
            skipped,
            note,
        } => recover::recover(state, backups, skipped, note),
        C::StartRestore {
            run_id,
            backup_id,
            paths,
            database,
            target,
        } => restores::start(state, run_id, backup_id, paths, database.as_deref(), target),
        C::FinishRestore { run_id, done } => restores::finish(state, run_id, done, now),
        C::CreateToken {
            name,
            scopes,
            expires_at,
            hash,
        } => tokens::create(state, name, scopes, *expires_at, *hash, now),
        C::RevokeToken { name } => tokens::revoke(state, name),
        C::RecordDelivery {
            channel,
            kind,
            attempt,
            outcome,
        } => records::delivery(channel, kind, *attempt, outcome),
        C::RecordPack { run_id, pack } => snapshots::record_pack(state, run_id, pack),
        C::RecordSnapshot {
            run_id,
            backup,
            snapshot,
        } => snapshots::record_snapshot(state, run_id, backup, snapshot),
        C::DeletePacks { packs, reason } => prune::delete_packs(state, packs, reason),
        C::RepackPacks { from, into } => prune::repack(state, from, into),
        C::RecordLogShipped {
            remote,
            first,
            last,
            key,
        } => logship::shipped(state, remote, *first, *last, key),
        C::RecordReplication {
            remote,
            key,
            outcome,
        } => offsite::record(state, remote, key, outcome),
    }
}

/// The job a command names, or `not_found` on `job_id`.
fn existing<'a>(state: &'a State, job_id: &str) -> Result<&'a Job, Rejection> {
    found(&state.schedule.jobs, "job_id", "job", job_id)
}

/// The backup a command names, or `not_found` on `backup_id`.
fn backup<'a>(state: &'a State, backup_id: &str) -> Result<&'a Backup, Rejection> {
    found(&state.catalog.backups, "backup_id", "backup", backup_id)
}

/// `items[id]`, or `not_found` on `field`: "no job \"x\"".
fn found<'a, T>(
    items: &'a BTreeMap<String, T>,
    field: &str,
    what: &str,
    id: &str,
) -> Result<&'a T, Rejection> {
    items
        .get(id)
        .ok_or_else(|| Rejection::not_found(field, format!("no {what} {id:?}")))
}

/// Ids are never reused (events refer to them for ever): a `conflict` on `field`.
fn taken(field: &str, what: &str, id: &str) -> Rejection {
    Rejection::conflict(field, format!("{what} id {id:?} is taken"))
}

/// A command that would change nothing (pause a paused job, start a running scheduler) records
/// nothing, so sending it twice is harmless.
fn if_changes(changes: bool, event: impl FnOnce() -> Event) -> Vec<Event> {
    if changes {
        vec![event()]
    } else {
        vec![]
    }
}
