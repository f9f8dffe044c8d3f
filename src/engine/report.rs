//! The daily report job: builds the report from the state (pure, `crate::report`), writes its
//! JSON and HTML crash-safe under `reports/`, then records it (`report_generated`) so retention
//! keeps it under the report rule.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::layout::{self, io_err};
use super::maintenance::{self, Done};
use super::EngineError;
use crate::config::Config;
use crate::decide::Command;
use crate::events::Ts;
use crate::progress::ProgressHandle;
use crate::report;
use crate::service::Service;

/// The directory below the data directory that holds the reports.
pub const REPORTS_DIR: &str = "reports";

/// `report-<UTC yyyymmddThhmmssZ>`: sortable by time, like backup ids.
pub fn report_id(at: Ts) -> String {
    let t = at.get().to_offset(time::UtcOffset::UTC);
    format!(
        "report-{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Where report `id` keeps its JSON, relative to the data directory (the recorded location);
/// the HTML sits beside it with the extension `html`.
pub fn json_location(id: &str) -> String {
    format!("{REPORTS_DIR}/{id}.json")
}

pub fn generate(
    config: &Config,
    service: &Service,
    run_id: &str,
    progress: &ProgressHandle,
) -> Result<Done, EngineError> {
    let now: Ts = service.clock().now().into();
    let dir = config.data_dir.join(REPORTS_DIR);
    fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
    progress.update(|p| p.phase = "building the report".into());
    let report = service.read(|s| {
        // Two reports in one second (run now twice), or files an earlier crash left without
        // an event: the next free suffix.
        let base = report_id(now);
        let taken = |id: &str| {
            s.catalog.reports.contains_key(id) || dir.join(format!("{id}.json")).exists()
        };
        let mut id = base.clone();
        let mut n = 1;
        while taken(&id) {
            n += 1;
            id = format!("{base}-{n}");
        }
        let next = report::next_runs(s, config.timezone, now);
        report::build(s, now, &id, next, config.repository.repack_below)
    });
    // The performance section's days until full need the volume's free space: I/O, so here.
    let report = report.with_volume(super::perf::volume(config));
    let json = serde_json::to_vec_pretty(&report).map_err(|e| EngineError::Internal {
        reason: format!("report {}: could not serialise it: {e}", report.id),
    })?;
    let html = report::html(&report);

    progress.update(|p| {
        p.phase = "writing the report".into();
        p.bytes_total = Some((json.len() + html.len()) as u64);
    });
    let location = json_location(&report.id);
    let json_path = config.data_dir.join(&location);
    let html_path = json_path.with_extension("html");
    let written = write_synced(&html_path, html.as_bytes())
        .and_then(|()| write_synced(&json_path, &json))
        .and_then(|()| layout::fsync_dir(&dir));
    if let Err(e) = written {
        layout::remove_quietly(&layout::partial(&html_path));
        layout::remove_quietly(&layout::partial(&json_path));
        layout::remove_quietly(&html_path);
        return Err(e);
    }
    let bytes = (json.len() + html.len()) as u64;
    progress.update(|p| p.bytes_done = bytes);

    let command = Command::RecordReport {
        report_id: report.id.clone(),
        location,
        bytes,
    };
    if let Err(e) = maintenance::record(service, run_id, command) {
        // Unrecorded files would never expire: take them back.
        layout::remove_quietly(&json_path);
        layout::remove_quietly(&html_path);
        return Err(EngineError::Record {
            context: format!("report {}: could not record it", report.id),
            source: Box::new(e),
        });
    }

    let w = &report.last_24h;
    let rate = match w.success_rate {
        Some(r) => format!("success {:.1} %", r * 100.0),
        None => "no success rate".into(),
    };
    Ok(Done {
        bytes,
        files: 2,
        note: format!(
            "report {}: {} runs in 24 h, {rate}; {} failure(s) in 7 d",
            report.id,
            w.finished,
            report.failures.len()
        ),
    })
}

/// Writes `bytes` to `path.partial`, syncs it and renames it into place. The caller syncs the
/// directory once after the last rename.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), EngineError> {
    let partial: PathBuf = layout::partial(path);
    let mut file =
        File::create(&partial).map_err(io_err(format!("creating {}", partial.display())))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io_err(format!("writing {}", partial.display())))?;
    drop(file);
    layout::publish(&partial, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_utc_and_sortable() {
        let at = Ts::from_unix_nanos(1_774_699_200_000_000_000);
        assert_eq!(report_id(at), "report-20260328T120000Z");
        assert_eq!(
            json_location("report-20260328T120000Z"),
            "reports/report-20260328T120000Z.json"
        );
    }
}
