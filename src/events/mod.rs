//! The event vocabulary: every persisted type of the log lives here (see `schema/events.md`).
//!
//! Rules, because bincode is not self-describing: variants are never reordered and new ones go at
//! the end; a released variant's fields never change (add `FooV2` and upcast on read); every
//! envelope carries the schema version it was written with. `codec` enforces the framing.

mod codec;
mod examples;
mod job;
mod token;
mod ts;

pub use codec::{
    decode, decode_record, encode, encode_linked, hash_of, hex, DecodeError, EncodeError, Hash,
    Record, CHAINED_VERSION, GENESIS, MAX_EVENT_BYTES, SCHEMA_VERSION,
};
#[doc(hidden)]
pub use examples::examples;
pub use job::{
    BackupConfig, BackupConfigV1, BackupConfigV2, BackupMode, BackupType, Hooks, JobAction,
    JobSpec, KeepRules, Trigger, VerifySample,
};
pub use token::{Scope, TokenHash};
pub use ts::Ts;

use serde::{Deserialize, Serialize};

/// One entry of the log: where it sits, when and by whom it was recorded, and what happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Global position, gapless, starting at 1.
    pub position: u64,
    pub recorded_at: Ts,
    /// `api:<token name>`, `scheduler`, `system`, `cli`.
    pub actor: String,
    /// The run id where there is one, so a run's events can be followed.
    pub correlation: Option<String>,
    pub payload: Event,
}

/// What happened. Append-only: new variants go at the END (the position is the bincode tag).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    // ---- schema version 1 ----
    /// The service opened the log and replayed it (one per process start).
    ServiceBooted {
        version: String,
        pid: u32,
    },
    /// The six preset jobs, installed once on first start; ordinary jobs afterwards.
    PresetsInstalled {
        jobs: Vec<JobSpec>,
    },
    JobCreated {
        job: JobSpec,
    },
    /// The whole new spec, not a patch, so a reader never needs the history to know the job.
    JobUpdated {
        job: JobSpec,
    },
    JobDeleted {
        job_id: String,
    },
    JobPaused {
        job_id: String,
    },
    JobResumed {
        job_id: String,
    },
    SchedulerStarted,
    SchedulerStopped {
        reason: String,
    },
    /// Recorded before a run does anything: (job, slot) is the key that prevents a second run.
    RunStarted {
        run_id: String,
        job_id: String,
        slot: Option<Ts>,
        reason: RunReason,
    },
    RunSucceeded {
        run_id: String,
        backup_id: Option<String>,
        bytes: u64,
        files: u64,
        duration_ms: u64,
        note: Option<String>,
    },
    RunFailed {
        run_id: String,
        error: String,
        duration_ms: u64,
    },
    /// The run had no outcome when the process stopped (crash, kill, shutdown timeout).
    RunInterrupted {
        run_id: String,
        reason: String,
    },
    /// A slot came due while the job's previous run was still going (no overlap).
    RunSkipped {
        job_id: String,
        slot: Ts,
        running_run_id: String,
    },
    /// Slots that passed without a run (downtime, stopped scheduler, misfire grace exceeded).
    SlotsMissed {
        job_id: String,
        slots: Vec<Ts>,
    },
    /// The retention policy in force from here on (recorded when the configuration changes it),
    /// so replay knows why a backup expired without reading the config.
    RetentionPolicySet {
        policy: RetentionPolicy,
    },
    BackupRecorded {
        backup: BackupRecord,
    },
    BackupVerified {
        backup_id: String,
        ok: bool,
        detail: Option<String>,
    },
    /// A backup's files were removed; `rule` names the retention rule that allowed it.
    BackupDeleted {
        backup_id: String,
        rule: String,
        bytes: u64,
    },
    HealthChecked {
        status: HealthStatus,
        checks: Vec<HealthCheck>,
    },
    ReportGenerated {
        report_id: String,
        location: String,
        bytes: u64,
    },
    // ---- schema version 2 ----
    /// The weekly archive `backup_id` (recorded just before) holds the state of `source_id`,
    /// merged from `merged` (the chain, newest first): what the archive is a copy of, for audit.
    BackupArchived {
        backup_id: String,
        source_id: String,
        merged: Vec<String>,
    },
    /// A report's files were removed; `rule` names the retention rule that allowed it.
    ReportDeleted {
        report_id: String,
        rule: String,
        bytes: u64,
    },
    // ---- schema version 3 ----
    /// A run's failure with its kind (`run_failed` carries only the text; it still decodes, and
    /// its kind is unknown).
    RunFailedV2 {
        run_id: String,
        error: String,
        kind: FailureKind,
        duration_ms: u64,
    },
    // ---- schema version 4 ----
    /// A run that came due (or was asked for) while `max_concurrent_runs` runs were going: it
    /// waits, holding its job (one instance per job), and starts with a `run_started` (same run
    /// id) when a place frees, in the order queued. `mode_override` as in `run_started_v2`.
    RunQueued {
        run_id: String,
        job_id: String,
        slot: Option<Ts>,
        reason: RunReason,
        mode_override: Option<BackupMode>,
    },
    /// `run_started` with the mode an operator forced for this one run (`POST .../run` with
    /// `{"mode": "full"}`): a fact of the run worth keeping, not a change of the job.
    RunStartedV2 {
        run_id: String,
        job_id: String,
        slot: Option<Ts>,
        reason: RunReason,
        mode_override: Option<BackupMode>,
    },
    /// The run (running or queued) was stopped before its end: by an operator (`by` names the
    /// actor) or by its timeout (`by` is `None`, the reason says so). Its child processes were
    /// killed and its partial files removed.
    RunCancelled {
        run_id: String,
        reason: String,
        by: Option<String>,
        duration_ms: u64,
    },
    /// `run_succeeded` of a run that had warnings: entries it skipped (a FIFO, a socket, a
    /// device, unreadable) or that changed while read, each with its path and why. At most
    /// `MAX_RUN_WARNINGS` are kept, the first in scan order; `warnings_total` is the true count.
    /// A run without warnings still records `run_succeeded`.
    RunSucceededV2 {
        run_id: String,
        backup_id: Option<String>,
        bytes: u64,
        files: u64,
        duration_ms: u64,
        note: Option<String>,
        warnings_total: u64,
        warnings: Vec<RunWarning>,
    },
    /// The catalog was rebuilt from the archives themselves (`backupd recover`) after the log was
    /// lost: the `backups` `backup_recorded` events just before it, in the same append, are what
    /// the archives told (run id `recovered`); runs, job changes and verifications before the
    /// loss are unknown. `skipped`: each archive left out, as `file: why`.
    CatalogRecovered {
        backups: u32,
        skipped: Vec<String>,
        note: String,
    },
    /// An operator forgot one backup (`DELETE backups/{id}`; the actor is in the header): its
    /// files were removed after this was recorded. `reason` is the operator's, if given. A
    /// variant of its own because `backup_deleted`'s `rule` names a rule, not a free text.
    BackupForgotten {
        backup_id: String,
        reason: Option<String>,
        bytes: u64,
    },
    // ---- schema version 5 ----
    /// A restore began (`POST backups/{id}/restore`, not a dry run): who asked is the envelope's
    /// actor; what is `backup_id` with `paths` as given (original paths, empty = everything) or,
    /// for a database restore, `database` (the source); where is `target`. Recorded only once
    /// the request was checked: a refused request records nothing.
    RestoreStarted {
        run_id: String,
        backup_id: String,
        paths: Vec<String>,
        database: Option<String>,
        target: RestoreTarget,
    },
    /// How a restore ended: files and bytes written, files kept (in place, by `overwrite`, or
    /// skipped for a named reason), and the time from `restore_started`.
    RestoreFinished {
        run_id: String,
        outcome: RestoreOutcome,
        files: u64,
        bytes: u64,
        kept: u64,
        duration_ms: u64,
    },
    /// An API token was created (`backupd token create`, `POST tokens`). Only the SHA-256 of its
    /// secret is kept: the secret itself was shown once and is recorded nowhere. `expires_at`
    /// `None` = never.
    TokenCreated {
        name: String,
        scopes: Vec<Scope>,
        expires_at: Option<Ts>,
        hash: TokenHash,
    },
    /// A token was revoked: from this event on it opens nothing.
    TokenRevoked {
        name: String,
    },
    /// A notification reached its channel (`[[notify]]` `name`): `kind` says what it was about
    /// (`run_failed`, `recovered`, `run_warnings`, `health_changed`, `daily_report`,
    /// `overdue`, `digest`, `test`), `subject` its first line, `run_id` the run it is about, if
    /// one; `attempt` counts from 1. Nothing secret: no address, no body.
    NotificationSent {
        channel: String,
        kind: String,
        subject: String,
        run_id: Option<String>,
        attempt: u32,
    },
    /// One delivery attempt failed (`reason`: the SMTP or HTTP error); `will_retry` says whether
    /// the queue tries again (with backoff) or gave up on this message.
    NotificationFailed {
        channel: String,
        kind: String,
        reason: String,
        attempt: u32,
        will_retry: bool,
    },
    /// A due slot of `job_id` waits because the machine is busy: the 1-minute load average per
    /// core (`load`) was above `[scheduler] defer_while_load_above` (`threshold`). Recorded once,
    /// when the deferral begins (`since`), not on every re-check; the run's own start event
    /// follows when the load drops or `max_defer` after `since`, whichever comes first.
    RunDeferred {
        job_id: String,
        slot: Ts,
        load: f64,
        threshold: f64,
        since: Ts,
    },
    // ---- schema version 6 ----
    /// `run_succeeded_v2` with the run's phase timings and volumes (`perf`): every backup run
    /// that measured them records this (with or without warnings); runs that did not (maintenance
    /// jobs) keep `run_succeeded` / `run_succeeded_v2`.
    RunSucceededV3 {
        run_id: String,
        backup_id: Option<String>,
        bytes: u64,
        files: u64,
        duration_ms: u64,
        note: Option<String>,
        warnings_total: u64,
        warnings: Vec<RunWarning>,
        perf: RunPerf,
    },
    /// A pack of the deduplicated repository was written and synced, before any snapshot
    /// references it: its chunks may be reused from here on (see schema/repository.md).
    PackWritten {
        pack: PackRecord,
    },
    /// A backup stored as a snapshot of the repository: the catalog record (its `location` is the
    /// snapshot index file) and which chunks of which packs it references.
    SnapshotRecorded {
        backup: BackupRecord,
        snapshot: SnapshotRefs,
    },
    /// Prune: these packs are deleted; recorded before any file is removed (a restart removes
    /// the files of a recorded deletion that are still there). Accepted only while no backup run
    /// is in flight, so no backup can reference a chunk of a deleted pack (schema/repository.md).
    PacksDeleted {
        packs: Vec<String>,
        reason: String,
        bytes: u64,
    },
    /// Repack: the live chunks of `from` were copied into `into` (whose `pack_written` came
    /// first); every snapshot's references move from `from` to `into` by chunk id. The `from`
    /// packs are then deleted by a `packs_deleted`.
    PacksRepacked {
        from: Vec<String>,
        into: Vec<String>,
        bytes_freed: u64,
    },
    /// An object of the data directory (`key`: its path relative to it) is on the remote
    /// (`[[remotes]]` `name`) in full: `bytes` uploaded on attempt `attempt` (from 1; 0 = found
    /// there already by the sweeper, with the same size, after a crash before this was recorded).
    ObjectReplicated {
        remote: String,
        key: String,
        bytes: u64,
        attempt: u32,
    },
    /// One upload attempt failed (`reason`: the remote's error, naming no credential);
    /// `will_retry` says whether the queue tries again soon (with backoff) or gave up for now (it
    /// tries a given-up object once an hour, and at every start: schema/remote.md).
    ReplicationFailed {
        remote: String,
        key: String,
        reason: String,
        attempt: u32,
        will_retry: bool,
    },
    /// The remote copy of `key` is deleted because the local one was (`reason`: which event
    /// deleted it); recorded BEFORE the delete, so a crash in between leaves a recorded deletion
    /// the sweeper finishes at the next start.
    RemoteObjectDeleted {
        remote: String,
        key: String,
        reason: String,
    },
    /// The log's positions `first..=last` were written to the remote (`[[remotes]]` `remote`)
    /// as the immutable segment object `key` (`log/<first:020>-<last:020>.seg`, schema/remote.md).
    /// This event is itself in the log: the next shipment carries it.
    LogShipped {
        remote: String,
        first: u64,
        last: u64,
        key: String,
    },
}

/// One pack file of the repository (`pack_written`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackRecord {
    /// 64 hex digits: the BLAKE3 hash of the pack file's bytes.
    pub id: String,
    /// The run that wrote it (a pack of a run still in flight is never pruned).
    pub run_id: String,
    /// Path relative to the data directory.
    pub location: String,
    /// Size of the pack file.
    pub bytes: u64,
    /// Its chunks in frame order: frame `i` holds `chunks[i]`.
    pub chunks: Vec<PackChunk>,
}

/// One chunk in a pack: its keyed BLAKE3 id and its sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackChunk {
    pub id: [u8; 32],
    pub raw_len: u32,
    /// Bytes of its frame in the pack (frame header and seal tag included).
    pub stored_len: u32,
}

/// What a snapshot references, per pack: which frames (a bitmap, bit `i` = frame `i`, LSB
/// first), so liveness is known per chunk without reading the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRefs {
    pub packs: Vec<PackRefs>,
    /// Content bytes of the backup (every file and stream in full).
    pub logical_bytes: u64,
    /// Stored bytes of the chunks this backup was the first to write.
    pub new_bytes: u64,
    pub new_chunks: u64,
    /// Distinct chunks referenced.
    pub chunks: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackRefs {
    pub pack: String,
    pub frames: Vec<u8>,
}

/// Where a restore writes (`restore_started.target`). New kinds go at the end (bincode tag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestoreTarget {
    /// Into this directory on the server (archive layout below it).
    Directory { path: String },
    /// Back to the original paths; files there are replaced as `overwrite` says.
    InPlace { overwrite: Overwrite },
    /// Into this database.
    Database { name: String },
}

/// When an in-place restore replaces a file that exists (as restic's `--overwrite`). A file
/// identical to the backup's (size, mtime, mode) is never rewritten. New modes go at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overwrite {
    Always,
    /// When size or mtime differ (a mode-only difference gets the mode back, no rewrite).
    IfChanged,
    /// Unless the existing file is newer than the backup's copy: a file changed after the
    /// backup is kept.
    IfNewer,
    Never,
}

impl Overwrite {
    pub const ALL: [Overwrite; 4] = [
        Overwrite::Always,
        Overwrite::IfChanged,
        Overwrite::IfNewer,
        Overwrite::Never,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Overwrite::Always => "always",
            Overwrite::IfChanged => "if-changed",
            Overwrite::IfNewer => "if-newer",
            Overwrite::Never => "never",
        }
    }

    pub fn named(name: &str) -> Option<Overwrite> {
        Self::ALL.into_iter().find(|o| o.as_str() == name)
    }
}

/// How a restore ended (`restore_finished.outcome`). New kinds go at the end (bincode tag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestoreOutcome {
    Succeeded,
    /// Finished with `skip_damaged`, `damaged` files not restored.
    Incomplete {
        damaged: u64,
    },
    Failed {
        error: String,
        kind: FailureKind,
    },
}

/// How many warnings a run record keeps (`run_succeeded_v2.warnings`); the total is kept apart.
/// A scan gives up on a path once it is too long to open (about 4 KiB), so 100 of them stay far
/// below `MAX_EVENT_BYTES` however many entries a run could not back up.
pub const MAX_RUN_WARNINGS: usize = 100;

impl Event {
    /// Every variant name, in tag order. `schema/events.md` must list each one (a test checks).
    pub const NAMES: &'static [&'static str] = &[
        "service_booted",
        "presets_installed",
        "job_created",
        "job_updated",
        "job_deleted",
        "job_paused",
        "job_resumed",
        "scheduler_started",
        "scheduler_stopped",
        "run_started",
        "run_succeeded",
        "run_failed",
        "run_interrupted",
        "run_skipped",
        "slots_missed",
        "retention_policy_set",
        "backup_recorded",
        "backup_verified",
        "backup_deleted",
        "health_checked",
        "report_generated",
        "backup_archived",
        "report_deleted",
        "run_failed_v2",
        "run_queued",
        "run_started_v2",
        "run_cancelled",
        "run_succeeded_v2",
        "catalog_recovered",
        "backup_forgotten",
        "restore_started",
        "restore_finished",
        "token_created",
        "token_revoked",
        "notification_sent",
        "notification_failed",
        "run_deferred",
        "run_succeeded_v3",
        "pack_written",
        "snapshot_recorded",
        "packs_deleted",
        "packs_repacked",
        "object_replicated",
        "replication_failed",
        "remote_object_deleted",
        "log_shipped",
    ];

    /// The variant's name as in `NAMES` and the JSON output.
    pub fn name(&self) -> &'static str {
        let index = match self {
            Event::ServiceBooted { .. } => 0,
            Event::PresetsInstalled { .. } => 1,
            Event::JobCreated { .. } => 2,
            Event::JobUpdated { .. } => 3,
            Event::JobDeleted { .. } => 4,
            Event::JobPaused { .. } => 5,
            Event::JobResumed { .. } => 6,
            Event::SchedulerStarted => 7,
            Event::SchedulerStopped { .. } => 8,
            Event::RunStarted { .. } => 9,
            Event::RunSucceeded { .. } => 10,
            Event::RunFailed { .. } => 11,
            Event::RunInterrupted { .. } => 12,
            Event::RunSkipped { .. } => 13,
            Event::SlotsMissed { .. } => 14,
            Event::RetentionPolicySet { .. } => 15,
            Event::BackupRecorded { .. } => 16,
            Event::BackupVerified { .. } => 17,
            Event::BackupDeleted { .. } => 18,
            Event::HealthChecked { .. } => 19,
            Event::ReportGenerated { .. } => 20,
            Event::BackupArchived { .. } => 21,
            Event::ReportDeleted { .. } => 22,
            Event::RunFailedV2 { .. } => 23,
            Event::RunQueued { .. } => 24,
            Event::RunStartedV2 { .. } => 25,
            Event::RunCancelled { .. } => 26,
            Event::RunSucceededV2 { .. } => 27,
            Event::CatalogRecovered { .. } => 28,
            Event::BackupForgotten { .. } => 29,
            Event::RestoreStarted { .. } => 30,
            Event::RestoreFinished { .. } => 31,
            Event::TokenCreated { .. } => 32,
            Event::TokenRevoked { .. } => 33,
            Event::NotificationSent { .. } => 34,
            Event::NotificationFailed { .. } => 35,
            Event::RunDeferred { .. } => 36,
            Event::RunSucceededV3 { .. } => 37,
            Event::PackWritten { .. } => 38,
            Event::SnapshotRecorded { .. } => 39,
            Event::PacksDeleted { .. } => 40,
            Event::PacksRepacked { .. } => 41,
            Event::ObjectReplicated { .. } => 42,
            Event::ReplicationFailed { .. } => 43,
            Event::RemoteObjectDeleted { .. } => 44,
            Event::LogShipped { .. } => 45,
        };
        Self::NAMES[index]
    }
}

/// Why a run started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunReason {
    Scheduled,
    /// The one coalesced run after downtime for the newest missed slot.
    CatchUp,
    /// `POST .../run`.
    Manual,
}

/// What kind of failure ended a run, as the log keeps it: the persisted twin of
/// `crate::error::ErrorKind` (its rules say which is which). Its own type so that the runtime enum
/// can change while this one's variant order, the bincode tag, never does: new kinds go at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    Transient,
    Integrity,
    Refused,
    Config,
    Internal,
}

impl From<crate::error::ErrorKind> for FailureKind {
    fn from(kind: crate::error::ErrorKind) -> FailureKind {
        use crate::error::ErrorKind as K;
        match kind {
            K::Transient => FailureKind::Transient,
            K::Integrity => FailureKind::Integrity,
            K::Refused => FailureKind::Refused,
            K::Config => FailureKind::Config,
            K::Internal => FailureKind::Internal,
        }
    }
}

impl From<FailureKind> for crate::error::ErrorKind {
    fn from(kind: FailureKind) -> crate::error::ErrorKind {
        use crate::error::ErrorKind as K;
        match kind {
            FailureKind::Transient => K::Transient,
            FailureKind::Integrity => K::Integrity,
            FailureKind::Refused => K::Refused,
            FailureKind::Config => K::Config,
            FailureKind::Internal => K::Internal,
        }
    }
}

/// Retention durations in seconds; `None` = kept forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    pub full_secs: Option<u64>,
    pub incremental_secs: Option<u64>,
    pub archive_secs: Option<u64>,
    pub report_secs: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupKind {
    Full,
    Incremental,
    Archive,
}

impl BackupKind {
    pub const ALL: [BackupKind; 3] = [
        BackupKind::Full,
        BackupKind::Incremental,
        BackupKind::Archive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BackupKind::Full => "full",
            BackupKind::Incremental => "incremental",
            BackupKind::Archive => "archive",
        }
    }
}

/// A backup file in the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupRecord {
    pub id: String,
    pub job_id: String,
    pub run_id: String,
    pub kind: BackupKind,
    /// The backup this one depends on (an incremental's base; `None` for full and archive).
    pub parent: Option<String>,
    /// Path relative to the data directory.
    pub location: String,
    pub bytes: u64,
    pub entries: u64,
    /// CRC32 of the archive's index.
    pub checksum: u32,
    pub compression: String,
    pub created_at: Ts,
}

/// One entry a run left out or could not read consistently (`run_succeeded_v2`): its path on
/// the host (lossy where it is not UTF-8) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunWarning {
    pub path: String,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Ok,
    Warning,
    Critical,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub name: String,
    pub status: HealthStatus,
    pub reason: String,
}

/// Where a backup run's time went and how much it moved (`run_succeeded_v3.perf`; the meaning of
/// each phase, and how compression on worker threads is measured, is in schema/events.md).
/// Phases a path does not have are 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunPerf {
    pub scan_ms: u64,
    pub read_ms: u64,
    pub compress_ms: u64,
    pub write_ms: u64,
    pub upload_ms: u64,
    pub verify_ms: u64,
    pub bytes_read: u64,
    pub bytes_stored: u64,
    pub bytes_new: u64,
    pub files_examined: u64,
    pub files_changed: u64,
}

impl Envelope {
    /// The JSON shape of the CLI and the API: `{position, recorded_at, actor, correlation, type, data}`.
    pub fn to_json(&self) -> serde_json::Value {
        // Externally tagged payloads serialise as {"name": {...}} (or "name" for unit variants).
        let data = match serde_json::to_value(&self.payload) {
            Ok(serde_json::Value::Object(map)) => map.into_iter().next().map(|(_, v)| v),
            _ => None,
        };
        serde_json::json!({
            "position": self.position,
            "recorded_at": self.recorded_at,
            "actor": self.actor,
            "correlation": self.correlation,
            "type": self.payload.name(),
            "data": data.unwrap_or(serde_json::Value::Null),
        })
    }
}

#[cfg(test)]
mod tests;
