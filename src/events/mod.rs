//! The event vocabulary: every persisted type of the log lives here (see `schema/events.md`).
//!
//! Rules, because bincode is not self-describing: variants are never reordered and new ones go at
//! the end; a released variant's fields never change (add `FooV2` and upcast on read); every
//! envelope carries the schema version it was written with. `codec` enforces the framing.

mod codec;
mod examples;
mod ts;

pub use codec::{
    decode, decode_record, encode, encode_linked, hash_of, hex, DecodeError, EncodeError, Hash,
    Record, CHAINED_VERSION, GENESIS, MAX_EVENT_BYTES, SCHEMA_VERSION,
};
#[doc(hidden)]
pub use examples::examples;
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

/// A job as operators define it. Persisted inside job events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    pub id: String,
    pub name: String,
    pub trigger: Trigger,
    pub action: JobAction,
    /// Seconds after a missed slot within which one catch-up run still happens; `None` = always.
    pub misfire_grace_secs: Option<u64>,
    /// IANA zone the cron fields are read in; `None` = the scheduler's zone.
    pub timezone: Option<String>,
    /// Random delay of up to this many seconds added to each fire (0 = none).
    pub jitter_secs: u32,
}

/// When a job fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// Seed fields as written by the client (`"5"`, `"*/15"`, `"1-5"`, `"1,3"`); `None` = not given.
    Cron {
        minute: Option<String>,
        hour: Option<String>,
        day: Option<String>,
        day_of_week: Option<String>,
    },
    /// A fixed elapsed-time grid from `start_at` (default: the job's creation + one period).
    Interval { seconds: u64, start_at: Option<Ts> },
    /// The five fields of a cron line as written (`None` = not given), month included, and
    /// names such as `mon-fri` (schema v4). A trigger with a `month` or given as a `cron` line
    /// is stored this way; one without stays a `Cron`, so older logs and new ones read alike.
    CronV2 {
        minute: Option<String>,
        hour: Option<String>,
        day: Option<String>,
        month: Option<String>,
        day_of_week: Option<String>,
    },
}

/// What a job does when it fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobAction {
    /// The backup config of schema versions 1-3. Still decoded; the projection upcasts it to
    /// `Backup` (`JobSpec::upcast`), and nothing writes it any more.
    #[serde(rename = "backup")]
    BackupV1(BackupConfigV1),
    /// Delete expired backups under the retention policy.
    Cleanup,
    /// Weekly self-contained archive of the newest restorable state.
    Archive,
    HealthCheck,
    Report,
    // ---- schema version 4 ----
    /// The seed's `backup_config` with its description and a choice of named sources (versions
    /// 4). Still decoded; upcast to `Backup` like `BackupV1`, and nothing writes it any more.
    #[serde(rename = "backup_v2")]
    BackupV2(BackupConfigV2),
    // ---- schema version 5 ----
    /// The current backup config: version 4's with the job's `keep` rules. The variant keeps the
    /// plain name `Backup` because it is the one every reader matches on.
    #[serde(rename = "backup_v3")]
    Backup(BackupConfig),
    // ---- schema version 7 ----
    /// Reads a rotating sample of what the backups need: a share of the repository's frames
    /// (round = the week number, so a 5 % share covers every frame in 20 weeks, as restic's
    /// `--read-data-subset n/20`) and the same share of the archive backups.
    VerifySample(VerifySample),
}

/// The share a `VerifySample` job reads each time, in per mille of the frames (and archives).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifySample {
    pub per_mille: u16,
}

impl JobAction {
    /// The backup config of a backup job in the current shape (an old one upcast); `None` for
    /// maintenance jobs.
    pub fn backup_config(&self) -> Option<std::borrow::Cow<'_, BackupConfig>> {
        match self {
            JobAction::Backup(cfg) => Some(std::borrow::Cow::Borrowed(cfg)),
            JobAction::BackupV1(old) => Some(std::borrow::Cow::Owned(old.clone().into())),
            JobAction::BackupV2(old) => Some(std::borrow::Cow::Owned(old.clone().into())),
            _ => None,
        }
    }
}

impl JobSpec {
    /// The spec in the current shape: a v1 backup config becomes a `BackupConfig` with no
    /// description and no named sources, a v2 one without keep rules (what they meant). The
    /// projection holds only this shape.
    pub fn upcast(mut self) -> JobSpec {
        match self.action {
            JobAction::BackupV1(old) => self.action = JobAction::Backup(old.into()),
            JobAction::BackupV2(old) => self.action = JobAction::Backup(old.into()),
            _ => {}
        }
        self
    }
}

/// The `backup_config` of schema versions 1-3 (frozen: its fields are the bincode layout).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupConfigV1 {
    pub backup_type: BackupType,
    pub mode: BackupMode,
    pub include_database: Option<bool>,
    pub include_files: Option<bool>,
    pub include_config: Option<bool>,
    pub compression: Option<String>,
    pub level: Option<i32>,
}

/// The `backup_config` of schema version 4 (frozen: its fields are the bincode layout).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupConfigV2 {
    pub backup_type: BackupType,
    pub mode: BackupMode,
    pub description: Option<String>,
    pub include_database: Option<bool>,
    pub include_files: Option<bool>,
    pub include_config: Option<bool>,
    pub sources: Option<Vec<String>>,
    pub compression: Option<String>,
    pub level: Option<i32>,
    pub timeout_secs: Option<u64>,
    pub hooks: Hooks,
}

/// The seed's `backup_config` (schema version 5), with explicit options kept apart from what
/// `type` implies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupConfig {
    pub backup_type: BackupType,
    pub mode: BackupMode,
    /// The seed's `backup_config.description`, shown wherever the job is named.
    pub description: Option<String>,
    pub include_database: Option<bool>,
    pub include_files: Option<bool>,
    pub include_config: Option<bool>,
    /// Configured source names (`options.sources`): exactly these are backed up, and the
    /// `include_*` categories are not consulted. `None` = the categories decide.
    pub sources: Option<Vec<String>>,
    /// `zstd`, `xz`, `gzip` or `none`; `None` = the configured default.
    pub compression: Option<String>,
    pub level: Option<i32>,
    /// The job's `timeout` in seconds: `None` = the configured `scheduler.run_timeout`, `Some(0)`
    /// = none. Here rather than on `JobSpec` (a released type): only backups have one.
    pub timeout_secs: Option<u64>,
    /// Programs run around the backup (`engine::hooks`).
    pub hooks: Hooks,
    /// Which of the job's backups retention keeps (`domain::keep`); `None` = the age rules of
    /// the `[retention]` policy. Here for the same reason as `timeout_secs`.
    pub keep: Option<KeepRules>,
}

/// A backup job's retention in restic's and borg's vocabulary (schema version 5; frozen: its
/// fields are the bincode layout). `None` = the rule is not used. A backup is kept if any rule
/// keeps it (`domain::keep`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeepRules {
    /// The newest N backups.
    pub last: Option<u32>,
    /// The newest backup of each of the N newest hours (UTC) that have one.
    pub hourly: Option<u32>,
    pub daily: Option<u32>,
    /// ISO weeks.
    pub weekly: Option<u32>,
    pub monthly: Option<u32>,
    pub yearly: Option<u32>,
    /// Every backup made less than this many seconds before the job's newest one.
    pub within_secs: Option<u64>,
}

/// A backup job's hooks, each an argv (the program first; `None` = no hook).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hooks {
    /// Runs before the backup; its failure fails the run and no backup is taken.
    pub before: Option<Vec<String>>,
    /// Runs after a backup was published; its failure is noted on the (successful) run.
    pub after: Option<Vec<String>>,
    /// Runs after a failed run; its own failure is only logged and noted.
    pub on_failure: Option<Vec<String>>,
}

impl BackupConfig {
    /// Only what `type` and the mode say; every option left to its default.
    pub fn new(backup_type: BackupType, mode: BackupMode) -> Self {
        BackupConfig {
            backup_type,
            mode,
            description: None,
            include_database: None,
            include_files: None,
            include_config: None,
            sources: None,
            compression: None,
            level: None,
            timeout_secs: None,
            hooks: Hooks::default(),
            keep: None,
        }
    }
}

impl From<BackupConfigV2> for BackupConfig {
    fn from(old: BackupConfigV2) -> BackupConfig {
        BackupConfig {
            backup_type: old.backup_type,
            mode: old.mode,
            description: old.description,
            include_database: old.include_database,
            include_files: old.include_files,
            include_config: old.include_config,
            sources: old.sources,
            compression: old.compression,
            level: old.level,
            timeout_secs: old.timeout_secs,
            hooks: old.hooks,
            keep: None,
        }
    }
}

impl From<BackupConfigV1> for BackupConfig {
    fn from(old: BackupConfigV1) -> BackupConfig {
        BackupConfig {
            backup_type: old.backup_type,
            mode: old.mode,
            description: None,
            include_database: old.include_database,
            include_files: old.include_files,
            include_config: old.include_config,
            sources: None,
            compression: old.compression,
            level: old.level,
            timeout_secs: None,
            hooks: Hooks::default(),
            keep: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupType {
    Database,
    Files,
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupMode {
    Full,
    Incremental,
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

/// What an API token may do (schema v5). Persisted in `token_created`: new scopes go at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Every GET and `/metrics`.
    Read,
    /// Run, cancel, pause, resume, verify; start and stop the scheduler.
    Operate,
    /// Create, change and delete jobs; forget backups.
    Manage,
    /// Restore a backup; download a backup's file contents.
    Restore,
    /// Tokens; and every other scope.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Read,
        Scope::Operate,
        Scope::Manage,
        Scope::Restore,
        Scope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Operate => "operate",
            Scope::Manage => "manage",
            Scope::Restore => "restore",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// SHA-256 of a token's secret (schema v5): 32 raw bytes in the log, lowercase hex in JSON.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenHash(pub [u8; 32]);

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenHash({})", hex(&self.0))
    }
}

impl Serialize for TokenHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&hex(&self.0))
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for TokenHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        if !d.is_human_readable() {
            return <[u8; 32]>::deserialize(d).map(TokenHash);
        }
        let text = String::deserialize(d)?;
        let bad = || D::Error::custom(format!("token hash {text:?} is not 64 hex digits"));
        if text.len() != 64 || !text.is_ascii() {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(TokenHash(out))
    }
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
