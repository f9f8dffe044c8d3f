//! The backup engine: what a run does (backup), plus restore, verify and boot reconciliation.
//!
//! The engine does slow I/O on the caller's (blocking) thread and never appends events: a run
//! returns a `RunOutcome` that the scheduler turns into events; restore and verify return
//! summaries (see `verify_command` for recording a verification). It reads the state only to
//! find an incremental's base and a backup's archive.
//!
//! - `sources`: walking `files` / `config` sources (exclude globs), the archive path layout
//! - `dump`: database dumps (sqlite, postgresql, mysql, command) streamed into the archive
//! - `hooks`: a backup job's `before`, `after` and `on_failure` programs around the backup
//! - `manifest`: the sidecar of stat facts an incremental compares against
//! - `backup`: full and incremental backups, crash-safe publication
//! - `snapshot_backup`: the same into the deduplicated repository (`[repository] enabled`)
//! - `restore`, `verify`: by backup id, through the chain of parents
//! - `load`: a dump of a backup loaded into a database (psql, mariadb, an SQLite file)
//! - `reconcile`: what boot cleans up and reports
//! - `layout`: data-directory paths, backup ids, fsync helpers
//! - `perf`: a run's phase timings and volumes, filled by each backup path
//! - `maintenance`: retention cleanup, weekly archive, health check, daily report

mod backup;
pub mod browse;
mod consolidate;
pub mod dump;
pub mod health;
pub mod hooks;
pub mod layout;
mod load;
pub mod maintenance;
mod manifest;
pub mod paths;
pub mod perf;
pub mod prune;
mod read_ahead;
mod reconcile;
pub mod recover;
pub mod report;
mod restore;
pub mod sample;
mod snapshot_backup;
pub mod sources;
pub mod targets;
mod verify;

pub use backup::{backup, BackupDone};
pub use consolidate::{consolidate, ConsolidateDone};
pub use load::{load, load_tracked, LoadError, LoadRequest, LoadSummary};
pub use reconcile::{reconcile, unrecorded_archives, ReconcileReport, Unrecorded};
pub use restore::{
    check_in_place_paths, check_paths, check_request, check_target, plan_in_place, plan_restore,
    restore, restore_in_place, restore_tracked, restore_with, InPlaceOptions, InPlacePlan,
    InPlaceSummary, Kept, LostEntry, PlannedInPlace, RestoreOptions, RestorePlan, RestoreSummary,
    RestoredDump,
};
pub use verify::{verify, verify_command, verify_commands, VerifySummary};

use std::path::PathBuf;
use std::sync::Arc;

use crate::archive::ArchiveError;
use crate::config::Config;
use crate::decide::RunOutcome;
use crate::error::{ErrorKind, Front};
use crate::events::{JobAction, JobSpec};
use crate::progress::ProgressHandle;
use crate::scheduler::RunExecutor;
use crate::service::{Service, ServiceError};

/// Everything the engine can fail with; each names what and where, and `kind()` says which kind
/// of failure it is.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{context}: {source}")]
    Archive {
        context: String,
        #[source]
        source: ArchiveError,
    },
    #[error("source {source_path}: {reason}")]
    Source {
        source_path: PathBuf,
        reason: String,
        /// From the I/O error that made the source unusable; `Config` for a bad pattern or name.
        kind: ErrorKind,
    },
    /// The database source, as configured, cannot be dumped (bad name, URL, path, command).
    #[error("database {name:?}: {reason}")]
    Dump { name: String, reason: String },
    /// Dumping a well-formed source failed: the tool exited non-zero, or starting or waiting
    /// for it failed. The kind is read from the tool's message or the I/O error.
    #[error("database {name:?}: {reason}")]
    DumpFailed {
        name: String,
        reason: String,
        kind: ErrorKind,
    },
    #[error("database {name:?}: the dump tool {tool} is not installed (not found in PATH)")]
    ToolMissing { name: String, tool: String },
    #[error("no backup {id:?} in the catalog")]
    UnknownBackup { id: String },
    #[error("backup {id:?}: its archive {} is missing", path.display())]
    MissingArchive { id: String, path: PathBuf },
    #[error("backup {id:?}: {path:?} refers to {parent:?}, which {reason}")]
    BrokenChain {
        id: String,
        path: String,
        parent: String,
        reason: String,
    },
    /// A backup in the chain a restore needs (not the verified one itself) is damaged: the
    /// verified backup cannot be restored through it.
    #[error(
        "backup {id:?} cannot be restored: the backup it builds on, {base:?}, is damaged: {reason}"
    )]
    DamagedBase {
        id: String,
        base: String,
        reason: String,
    },
    /// A restore the caller may not ask for: a bad target or selected path (`field` names it).
    #[error("{reason}")]
    RestoreRequest { field: String, reason: String },
    /// Worded for the command line; the API asks `message_for(Front::Api)`.
    #[error("{}", not_empty(path, Front::Cli))]
    TargetNotEmpty { path: PathBuf },
    #[error("backup {id:?} has no entry {path:?}")]
    NotInBackup { id: String, path: String },
    /// Content a backup's own archive (or a freshly written one) fails to give back intact.
    #[error("backup {id:?}: entry {path:?} cannot be read back: {reason}")]
    DamagedEntry {
        id: String,
        path: String,
        reason: String,
    },
    #[error("invalid compression setting: {reason}")]
    Compression { reason: String },
    /// A rule said no (a retention policy that would delete everything).
    #[error("{reason}")]
    Refused { reason: String },
    /// Recording what was done failed: the service refused the command or the log failed.
    #[error("{context}: {source}")]
    Record {
        context: String,
        // Boxed: the log's errors are large, and every engine result carries this enum.
        #[source]
        source: Box<ServiceError>,
    },
    /// The run was told to stop (cancel, timeout, shutdown); the scheduler records the cause.
    #[error("the run was cancelled")]
    Cancelled,
    /// Something that cannot fail did (a report that does not serialise).
    #[error("{reason}")]
    Internal { reason: String },
    #[error("{} archive(s) failed: {}{}", failed.len(), failed.join("; "),
        if written.is_empty() { String::new() } else { format!(" (written: {})", written.join(", ")) })]
    ArchivesFailed {
        failed: Vec<String>,
        written: Vec<String>,
        /// Every failure's kind combined (`ErrorKind::combine`).
        kind: ErrorKind,
    },
    /// The job's options select no configured source (the configuration changed since the job
    /// was accepted): a run that would back up nothing fails instead of "succeeding" empty.
    #[error("job {job_id:?} selects no configured source: nothing to back up (see GET /api/backup/sources)")]
    NothingSelected { job_id: String },
    /// A verify read stored data back and some of it is damaged or gone (each named).
    #[error("damaged: {}", damaged.join("; "))]
    Damaged { damaged: Vec<String> },
}

/// The one wording of a non-empty restore target; `front` names its own override.
fn not_empty(path: &std::path::Path, front: Front) -> String {
    format!(
        "restore target {} is not empty (use {} to restore into it anyway)",
        path.display(),
        front.flag("force")
    )
}

impl EngineError {
    /// The message as `front` shows it: overrides named as that front end's parameters.
    pub fn message_for(&self, front: Front) -> String {
        match self {
            EngineError::TargetNotEmpty { path } => not_empty(path, front),
            other => other.to_string(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::Io { source, .. } => ErrorKind::of_io(source),
            EngineError::Archive { source, .. } => source.kind(),
            EngineError::Source { kind, .. }
            | EngineError::DumpFailed { kind, .. }
            | EngineError::ArchivesFailed { kind, .. } => *kind,
            // A missing tool and a bad codec or level are fixed in the configuration.
            EngineError::Dump { .. }
            | EngineError::ToolMissing { .. }
            | EngineError::Compression { .. }
            | EngineError::NothingSelected { .. } => ErrorKind::Config,
            // The caller named a backup or a path that is not there: its input, like an unknown
            // source. (A backup the catalog has but the disk lacks is `MissingArchive`.)
            EngineError::UnknownBackup { .. }
            | EngineError::NotInBackup { .. }
            | EngineError::RestoreRequest { .. } => ErrorKind::Config,
            // The catalog says the file exists, or a chain says a parent holds the bytes, and
            // the disk disagrees: stored data is gone or damaged.
            EngineError::MissingArchive { .. }
            | EngineError::BrokenChain { .. }
            | EngineError::DamagedBase { .. }
            | EngineError::DamagedEntry { .. }
            | EngineError::Damaged { .. } => ErrorKind::Integrity,
            EngineError::TargetNotEmpty { .. } | EngineError::Refused { .. } => ErrorKind::Refused,
            EngineError::Record { source, .. } => source.kind(),
            // Nothing is wrong with the data or the setup: running it again may succeed.
            EngineError::Cancelled => ErrorKind::Transient,
            EngineError::Internal { .. } => ErrorKind::Internal,
        }
    }

    /// How a run that ended in this error finishes.
    pub fn into_outcome(self) -> RunOutcome {
        RunOutcome::Failed {
            kind: self.kind(),
            error: self.to_string(),
        }
    }
}

/// The run executor the scheduler calls: backups now; maintenance jobs in issue 4.
pub struct Engine {
    config: Arc<Config>,
    service: Service,
}

impl Engine {
    pub fn new(config: Arc<Config>, service: Service) -> Engine {
        Engine { config, service }
    }
}

impl RunExecutor for Engine {
    fn run(&self, job: &JobSpec, run_id: &str, progress: &ProgressHandle) -> RunOutcome {
        self.run_job(job, run_id, progress)
    }
}

impl Engine {
    fn run_job(&self, job: &JobSpec, run_id: &str, progress: &ProgressHandle) -> RunOutcome {
        if let Some(cfg) = job.action.backup_config() {
            let cancel = progress.cancel();
            return hooks::around(&cfg.hooks, &job.id, run_id, cancel, || {
                match backup(&self.config, &self.service, job, &cfg, run_id, progress) {
                    Ok(done) => RunOutcome::Succeeded {
                        bytes: done.record.bytes,
                        files: done.files,
                        note: done.note,
                        warnings: done.warnings,
                        perf: Some(done.perf),
                        backup: Some(done.record),
                    },
                    Err(e) => e.into_outcome(),
                }
            });
        }
        match &job.action {
            // Taken above: every backup action has a backup config.
            JobAction::Backup(_) | JobAction::BackupV1(_) | JobAction::BackupV2(_) => {
                RunOutcome::Failed {
                    error: "a backup job without a backup config".into(),
                    kind: ErrorKind::Internal,
                }
            }
            JobAction::Cleanup => {
                maintenance::cleanup(&self.config, &self.service, run_id, progress).into()
            }
            JobAction::Archive => {
                maintenance::archive(&self.config, &self.service, &job.id, run_id, progress).into()
            }
            JobAction::HealthCheck => {
                health::check(&self.config, &self.service, run_id, progress).into()
            }
            JobAction::Report => {
                report::generate(&self.config, &self.service, run_id, progress).into()
            }
            JobAction::VerifySample(v) => {
                let share = f64::from(v.per_mille) / 1000.0;
                sample::job(&self.config, &self.service, run_id, share, progress).into()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Rejection;
    use crate::store::StoreError;
    use ErrorKind::*;

    #[test]
    fn every_variant_has_its_kind() {
        let s = || String::from("x");
        let io = |code| EngineError::Io {
            context: s(),
            source: std::io::Error::from_raw_os_error(code),
        };
        let archive = |source| EngineError::Archive {
            context: s(),
            source,
        };
        let source = |kind| EngineError::Source {
            source_path: "/src".into(),
            reason: s(),
            kind,
        };
        // I/O errors by `ErrorKind::of_io` (its own table covers them).
        let cases = [
            (io(libc::ENOSPC), Transient),
            (io(libc::EACCES), Refused),
            (
                archive(ArchiveError::EntryChecksum { path: s() }),
                Integrity,
            ),
            (
                archive(ArchiveError::Io {
                    context: s(),
                    source: std::io::ErrorKind::TimedOut.into(),
                }),
                Transient,
            ),
            (source(Config), Config),
            (source(Refused), Refused),
            (EngineError::Damaged { damaged: vec![s()] }, Integrity),
            (
                EngineError::Dump {
                    name: s(),
                    reason: s(),
                },
                Config,
            ),
            (
                EngineError::DumpFailed {
                    name: s(),
                    reason: s(),
                    kind: Transient,
                },
                Transient,
            ),
            (
                EngineError::ToolMissing {
                    name: s(),
                    tool: s(),
                },
                Config,
            ),
            (EngineError::UnknownBackup { id: s() }, Config),
            (
                EngineError::MissingArchive {
                    id: s(),
                    path: "/a".into(),
                },
                Integrity,
            ),
            (
                EngineError::BrokenChain {
                    id: s(),
                    path: s(),
                    parent: s(),
                    reason: s(),
                },
                Integrity,
            ),
            (EngineError::TargetNotEmpty { path: "/t".into() }, Refused),
            (EngineError::NotInBackup { id: s(), path: s() }, Config),
            (
                EngineError::DamagedEntry {
                    id: s(),
                    path: s(),
                    reason: s(),
                },
                Integrity,
            ),
            (EngineError::Compression { reason: s() }, Config),
            (EngineError::Refused { reason: s() }, Refused),
            (
                EngineError::Record {
                    context: s(),
                    source: Box::new(ServiceError::Store(StoreError::Closed)),
                },
                Transient,
            ),
            (
                EngineError::Record {
                    context: s(),
                    source: Box::new(Rejection::conflict("report_id", "taken").into()),
                },
                Refused,
            ),
            (EngineError::Cancelled, Transient),
            (EngineError::Internal { reason: s() }, Internal),
            (
                EngineError::ArchivesFailed {
                    failed: vec![s()],
                    written: vec![],
                    kind: Integrity,
                },
                Integrity,
            ),
        ];
        for (e, kind) in cases {
            assert_eq!(e.kind(), kind, "{e}");
        }
    }

    #[test]
    fn a_failed_run_keeps_the_message_and_the_kind() {
        let e = EngineError::TargetNotEmpty { path: "/t".into() };
        let text = e.to_string();
        assert_eq!(
            e.into_outcome(),
            RunOutcome::Failed {
                error: text,
                kind: Refused,
            }
        );
    }
}
