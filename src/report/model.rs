//! The report's JSON shape: what `GET reports/{id}` returns and what the HTML page is drawn from.

use crate::events::{BackupKind, Ts};
use crate::projections::{HealthRecord, Outcomes};
pub use crate::queries::runs::Warned;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub id: String,
    pub generated_at: Ts,
    /// Whether the scheduler was running: when it is stopped nothing fires, so `next_runs` is empty.
    pub scheduler_running: bool,
    pub last_24h: Window,
    pub last_7d: Window,
    /// Every job that exists or ran in the last 7 days, by id.
    pub runs_per_job: Vec<JobRuns>,
    /// Succeeded and failed runs finished in the last 7 days, per job.
    pub durations: Vec<JobDurations>,
    /// The largest live backups, largest first (at most `LARGEST`).
    pub largest_backups: Vec<BackupLine>,
    pub storage: Storage,
    /// Failed and interrupted runs finished in the last 7 days, newest first.
    pub failures: Vec<Failure>,
    /// Soonest first.
    pub next_runs: Vec<NextRun>,
    pub health: Option<HealthRecord>,
    /// The last `RUN_DAYS` UTC days, oldest first, today last.
    pub runs_per_day: Vec<DayRuns>,
    /// Storage at the end of each of the last `STORAGE_DAYS` UTC days, oldest first (days
    /// without a change carry the previous day's figures).
    pub storage_over_time: Vec<StorageDay>,
    /// Off-site copies per remote that has recorded any outcome (`[[remotes]]`); empty without.
    #[serde(default)]
    pub remotes: Vec<RemoteLine>,
}

/// One remote's figures (`projections::offsite`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteLine {
    pub name: String,
    pub pending_objects: u64,
    pub pending_bytes: u64,
    /// When the oldest backup not wholly on the remote was recorded; `None`: all off-site.
    pub oldest_pending_backup: Option<Ts>,
    pub last_success: Option<Ts>,
    /// The latest failed attempt's reason, while no success followed it.
    pub last_failure: Option<String>,
}

/// Runs that finished in `(from, to]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub from: Ts,
    pub to: Ts,
    pub finished: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub interrupted: u64,
    /// succeeded / finished; `null` when nothing finished.
    pub success_rate: Option<f64>,
    /// Bytes written by the runs that succeeded.
    pub bytes_written: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRuns {
    pub job_id: String,
    /// The job's name; its id when the job was deleted.
    pub name: String,
    /// The job's `backup_config.description`, if it has one (absent in older reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub last_24h: Outcomes,
    pub last_7d: Outcomes,
    /// Succeeded runs with warnings (entries skipped or changed while read) and how many
    /// warnings they had, in the last 24 h and 7 d (absent in older reports).
    #[serde(default)]
    pub warnings_24h: Warned,
    #[serde(default)]
    pub warnings_7d: Warned,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobDurations {
    pub job_id: String,
    pub name: String,
    pub runs: u64,
    pub avg_ms: u64,
    pub max_ms: u64,
    /// Nearest-rank 95th percentile.
    pub p95_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupLine {
    pub id: String,
    pub job_id: String,
    pub kind: BackupKind,
    pub bytes: u64,
    pub created_at: Ts,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Storage {
    pub full: u64,
    pub incremental: u64,
    pub archive: u64,
    pub reports: u64,
    pub total: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub run_id: String,
    pub job_id: String,
    pub name: String,
    /// `failed` or `interrupted`.
    pub status: String,
    pub at: Ts,
    pub error: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NextRun {
    pub job_id: String,
    pub name: String,
    pub at: Ts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayRuns {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub succeeded: u64,
    pub failed: u64,
    pub interrupted: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StorageDay {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub storage: Storage,
}
