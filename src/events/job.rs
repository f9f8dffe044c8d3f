//! What a job is, as the job events carry it (`presets_installed`, `job_created`, `job_updated`):
//! its spec, trigger and action, and the backup configs of every schema version (the older ones
//! frozen, upcast on apply). Bincode layouts: schema/events.md.

use serde::{Deserialize, Serialize};

use super::Ts;

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
