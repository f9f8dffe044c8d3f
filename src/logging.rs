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
