//! The backup engine: what a run does (backup), plus restore, verify and boot reconciliation.
//!
//! The engine does slow I/O on the caller's (blocking) thread and never appends events: a run
//! returns a `RunOutcome` that the scheduler turns into events; restore and verify return
//! summaries (see `verify_command` for recording a verification). It reads the state only to
//! find an incremental's base and a backup's archive.
//!
//! - `sources`: walking `files` / `config` sources (exclude globs), the archive path layout
//! - `dump`: database dumps (sqlite, postgresql, mysql, command) streamed into the archive
//! - `manifest`: the sidecar of stat facts an incremental compares against
//! - `backup`: full and incremental backups, crash-safe publication
//! - `restore`, `verify`: by backup id, through the chain of parents
//! - `reconcile`: what boot cleans up and reports
//! - `layout`: data-directory paths, backup ids, fsync helpers
//! - `maintenance`: retention cleanup, weekly archive, health check, daily report

mod backup;
mod consolidate;
pub mod dump;
pub mod health;
pub mod layout;
pub mod maintenance;
mod manifest;
mod reconcile;
pub mod report;
mod restore;
pub mod sources;
mod verify;

pub use backup::{backup, BackupDone};
pub use consolidate::{consolidate, ConsolidateDone};
pub use reconcile::{reconcile, ReconcileReport};
pub use restore::{restore, RestoreSummary, RestoredDump};
pub use verify::{verify, verify_command, VerifySummary};

use std::path::PathBuf;
use std::sync::Arc;

use crate::archive::ArchiveError;
use crate::config::Config;
use crate::decide::RunOutcome;
use crate::events::{JobAction, JobSpec};
use crate::progress::ProgressHandle;
use crate::scheduler::RunExecutor;
use crate::service::Service;

/// Everything the engine can fail with; each names what and where.
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
    },
    #[error("database {name:?}: {reason}")]
    Dump { name: String, reason: String },
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
    #[error("restore target {} is not empty (use --force to restore into it anyway)", path.display())]
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
    #[error("{reason}")]
    Refused { reason: String },
    #[error("{} archive(s) failed: {}{}", failed.len(), failed.join("; "),
        if written.is_empty() { String::new() } else { format!(" (written: {})", written.join(", ")) })]
    ArchivesFailed {
        failed: Vec<String>,
        written: Vec<String>,
    },
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
        match &job.action {
            JobAction::Backup(cfg) => {
                match backup(&self.config, &self.service, job, cfg, run_id, progress) {
                    Ok(done) => RunOutcome::Succeeded {
                        bytes: done.record.bytes,
                        files: done.files,
                        note: done.note,
                        backup: Some(done.record),
                    },
                    Err(e) => RunOutcome::Failed {
                        error: e.to_string(),
                    },
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
        }
    }
}
