//! Boot reconciliation of the data directory with the log (runs without an outcome are settled
//! by `Command::Boot`): leftover `*.partial` files, sidecars without their archive and run
//! scratch directories are removed (in `backups/`, the weekly `archives/` and `reports/`);
//! archives without a `backup_recorded` event and recorded backups whose archive is gone are
//! reported, never deleted (an operator decides).

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::layout::{fsync_dir, io_err, Layout, ARCHIVE_EXT, MANIFEST_EXT, PARTIAL_EXT};
use super::EngineError;
use crate::config::Config;
use crate::projections::State;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReconcileReport {
    /// `.partial` files, lone sidecars and scratch directories of interrupted runs, now removed.
    pub removed: Vec<PathBuf>,
    /// Archives in `backups/` or `archives/` that no `backup_recorded` event names (kept).
    pub unrecorded: Vec<PathBuf>,
    /// Backups in the catalog whose archive file is missing.
    pub missing: Vec<String>,
}

impl ReconcileReport {
    pub fn is_clean(&self) -> bool {
        self.removed.is_empty() && self.unrecorded.is_empty() && self.missing.is_empty()
    }
}

pub fn reconcile(config: &Config, state: &State) -> Result<ReconcileReport, EngineError> {
    let layout = Layout::new(&config.data_dir);
    let mut report = ReconcileReport::default();
    let recorded: std::collections::HashSet<PathBuf> = state
        .catalog
        .backups
        .values()
        .map(|b| layout.resolve(&b.record.location))
        .collect();
    scan_dir(&layout.backups_dir(), true, &recorded, &mut report)?;
    scan_dir(&layout.archives_dir(), false, &recorded, &mut report)?;
    // Reports have no archives: only their interrupted `.partial` writes are cleaned up.
    let reports = config.data_dir.join(super::report::REPORTS_DIR);
    scan_dir(&reports, false, &recorded, &mut report)?;
    let tmp = layout.tmp_dir();
    if let Ok(rd) = fs::read_dir(&tmp) {
        for e in rd.flatten() {
            let p = e.path();
            fs::remove_dir_all(&p).map_err(io_err(format!("removing {}", p.display())))?;
            report.removed.push(p);
        }
    }
    for b in state.catalog.backups.values() {
        if !layout.resolve(&b.record.location).exists() {
            report.missing.push(b.record.id.clone());
        }
    }
    Ok(report)
}

/// Removes the `.partial` files (and, where archives have sidecars, lone sidecars) in `dir` and
/// reports its unrecorded archives. A missing directory has nothing to reconcile.
fn scan_dir(
    dir: &Path,
    sidecars: bool,
    recorded: &std::collections::HashSet<PathBuf>,
    report: &mut ReconcileReport,
) -> Result<(), EngineError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(EngineError::Io {
                context: format!("listing {}", dir.display()),
                source: e,
            })
        }
    };
    let mut names: Vec<PathBuf> = rd
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io_err(format!("listing {}", dir.display())))?;
    names.sort();
    let removed_before = report.removed.len();
    for path in names {
        let ext = path.extension().and_then(|e| e.to_str());
        if ext == Some(PARTIAL_EXT) {
            fs::remove_file(&path).map_err(io_err(format!("removing {}", path.display())))?;
            report.removed.push(path);
        } else if ext == Some(ARCHIVE_EXT) && !recorded.contains(&path) {
            report.unrecorded.push(path);
        } else if sidecars
            && ext == Some(MANIFEST_EXT)
            && !path.with_extension(ARCHIVE_EXT).exists()
        {
            // The sidecar is renamed before its archive: alone, it is a publish that
            // never finished, and useless without the archive.
            fs::remove_file(&path).map_err(io_err(format!("removing {}", path.display())))?;
            report.removed.push(path);
        }
    }
    if report.removed.len() > removed_before {
        fsync_dir(dir)?;
    }
    Ok(())
}
