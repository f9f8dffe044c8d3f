//! The log files of the seed: `logs/backup_scheduler.log` (service, scheduler, API) and
//! `logs/backup_tasks.log` (runs), each size-capped with rotation, plus stderr.

use crate::config::Config;
use flexi_logger::writers::FileLogWriter;
use flexi_logger::{Cleanup, Criterion, Duplicate, FileSpec, Logger, LoggerHandle, Naming};

/// Log target for run lines: they go to the tasks log and to the main log.
pub const TASKS: &str = "{tasks,_Default}";

fn rotation(config: &Config) -> (Criterion, Naming, Cleanup) {
    (
        Criterion::Size(config.log_max_bytes),
        // Write to <name>.log itself; rotated files get a timestamp infix.
        Naming::TimestampsCustomFormat {
            current_infix: Some(""),
            format: "r%Y-%m-%d_%H-%M-%S",
        },
        Cleanup::KeepLogFiles(config.log_keep_files),
    )
}

fn file(config: &Config, basename: &str) -> FileSpec {
    FileSpec::default()
        .directory(config.logs_dir())
        .basename(basename)
        .suppress_timestamp()
}

pub fn start(config: &Config) -> Result<LoggerHandle, flexi_logger::FlexiLoggerError> {
    let (criterion, naming, cleanup) = rotation(config);
    let tasks = FileLogWriter::builder(file(config, "backup_tasks"))
        .append()
        .rotate(criterion, naming, cleanup)
        .format(flexi_logger::detailed_format)
        .try_build()?;
    let (criterion, naming, cleanup) = rotation(config);
    Logger::try_with_str(&config.log_level)?
        .log_to_file(file(config, "backup_scheduler"))
        .append()
        .rotate(criterion, naming, cleanup)
        .duplicate_to_stderr(Duplicate::Info)
        .format_for_files(flexi_logger::detailed_format)
        .add_writer("tasks", Box::new(tasks))
        .start()
}

/// The tasks log's line for a finished run: job, run id, mode, backup id, bytes, files, duration
/// and note on success; the error and its kind on failure, at WARN for a passing fault and an
/// interruption, at ERROR for the rest.
pub fn run_finished(
    job: &crate::events::JobSpec,
    run_id: &str,
    outcome: &crate::decide::RunOutcome,
    duration_ms: u128,
) {
    use crate::decide::RunOutcome;
    use crate::error::ErrorKind;
    let who = format!("run {run_id} of job {} ({:?})", job.id, job.name);
    // What the job asked for; a success says what was taken (an incremental without a base
    // takes a full, and its note says why).
    let asked = match job.action.backup_config().map(|c| c.mode) {
        Some(crate::events::BackupMode::Full) => "full",
        Some(crate::events::BackupMode::Incremental) => "incremental",
        None => "-",
    };
    match outcome {
        RunOutcome::Succeeded {
            backup,
            bytes,
            files,
            note,
            warnings,
            ..
        } => {
            let mode = backup.as_ref().map_or(asked, |b| b.kind.as_str());
            let id = backup.as_ref().map_or("-", |b| b.id.as_str());
            let note = note.as_deref().unwrap_or("-");
            let done = format!("{who} succeeded: mode {mode}, backup {id}, {bytes} bytes, {files} files, {duration_ms} ms");
            if warnings.is_empty() {
                log::info!(target: TASKS, "{done}; note: {note}");
            } else {
                // Succeeded, but not everything is in it: WARN, so a log filter on the level
                // finds it, with the count and the first few.
                log::warn!(target: TASKS, "{done}, {} warning(s): {}; note: {note}", warnings.len(), first_warnings(warnings));
            }
        }
        RunOutcome::Failed { error, kind } => {
            let level = match kind {
                ErrorKind::Transient => log::Level::Warn,
                _ => log::Level::Error,
            };
            log::log!(target: TASKS, level, "{who} failed: mode {asked}, after {duration_ms} ms ({kind}): {error}");
        }
        RunOutcome::Interrupted { reason } => {
            log::warn!(target: TASKS, "{who} interrupted: mode {asked}, after {duration_ms} ms: {reason}");
        }
        RunOutcome::Cancelled { reason, by } => {
            let by = by.as_deref().unwrap_or("the scheduler");
            log::warn!(target: TASKS, "{who} cancelled by {by}: mode {asked}, after {duration_ms} ms: {reason}");
        }
    }
}

/// How many of a run's warnings its log line names.
const LOGGED_WARNINGS: usize = 3;

/// `path: reason` of the first `LOGGED_WARNINGS`, then how many more.
fn first_warnings(warnings: &[crate::events::RunWarning]) -> String {
    let mut out: Vec<String> = warnings
        .iter()
        .take(LOGGED_WARNINGS)
        .map(|w| format!("{}: {}", w.path, w.reason))
        .collect();
    if warnings.len() > LOGGED_WARNINGS {
        out.push(format!("and {} more", warnings.len() - LOGGED_WARNINGS));
    }
    out.join("; ")
}
