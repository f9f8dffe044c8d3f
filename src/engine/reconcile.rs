//! Boot reconciliation of the data directory with the log (runs without an outcome are settled
//! by `Command::Boot`): leftover `*.partial` files, sidecars without their archive and run
//! scratch directories are removed (in `backups/`, the weekly `archives/`, `reports/` and the
//! repository's `tmp/` and `snapshots/`);
//! archives without a `backup_recorded` event and recorded backups whose archive is gone are
//! reported, never deleted (an operator decides).

use std::collections::HashSet;
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
    let layout = Layout::of(config);
    let mut report = ReconcileReport::default();
    let recorded = recorded(&layout, state);
    scan_dir(&layout.backups_dir(), true, &mut report)?;
    scan_dir(&layout.archives_dir(), false, &mut report)?;
    // Reports have no archives: only their interrupted `.partial` writes are cleaned up.
    let reports = config.data_dir.join(super::report::REPORTS_DIR);
    scan_dir(&reports, false, &mut report)?;
    // The repository's packs and snapshots being written when a run was interrupted: a pack is
    // published (renamed out of `tmp/`) before `pack_written`, a snapshot before
    // `snapshot_recorded`, so a `.partial` is never anything a record names.
    scan_dir(
        &config.data_dir.join(crate::repository::TMP),
        false,
        &mut report,
    )?;
    scan_dir(
        &config.data_dir.join(crate::repository::SNAPSHOTS),
        false,
        &mut report,
    )?;
    report.unrecorded = unrecorded_in(&layout, &recorded)?;
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

/// An archive file no event names (a crash between its rename and its record, or a file put
/// there by hand): health and the API list it, and cleanup removes it once older than the grace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unrecorded {
    /// Relative to the data directory (`backups/<id>.bka`, `archives/<id>.bka`).
    pub path: String,
    pub bytes: u64,
    /// Seconds since its last modification (0 for a time in the future).
    pub age_secs: u64,
}

/// The archives in `backups/` and `archives/` that no recorded backup names, by path. Read-only:
/// the one scan boot's reconcile, health, the API and cleanup share.
pub fn unrecorded_archives(data_dir: &Path, state: &State) -> Result<Vec<Unrecorded>, EngineError> {
    let layout = Layout::new(data_dir);
    let now = std::time::SystemTime::now();
    unrecorded_in(&layout, &recorded(&layout, state))?
        .into_iter()
        .map(|path| {
            let meta =
                fs::metadata(&path).map_err(io_err(format!("reading {}", path.display())))?;
            let age = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .map_or(0, |d| d.as_secs());
            Ok(Unrecorded {
                path: path
                    .strip_prefix(data_dir)
                    .unwrap_or(&path)
                    .display()
                    .to_string(),
                bytes: meta.len(),
                age_secs: age,
            })
        })
        .collect()
}

fn recorded(layout: &Layout, state: &State) -> HashSet<PathBuf> {
    state
        .catalog
        .backups
        .values()
        .map(|b| layout.resolve(&b.record.location))
        .collect()
}

fn unrecorded_in(
    layout: &Layout,
    recorded: &HashSet<PathBuf>,
) -> Result<Vec<PathBuf>, EngineError> {
    let mut out = Vec::new();
    for dir in [layout.backups_dir(), layout.archives_dir()] {
        out.extend(
            archives_in(&dir)?
                .into_iter()
                .filter(|p| !recorded.contains(p)),
        );
    }
    Ok(out)
}

/// The finished archives (`*.bka`) in `dir`, sorted; a missing directory has none.
pub fn archives_in(dir: &Path) -> Result<Vec<PathBuf>, EngineError> {
    Ok(list(dir)?
        .into_iter()
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some(ARCHIVE_EXT))
        .collect())
}

/// Every entry of `dir`, sorted; a missing directory is empty.
fn list(dir: &Path) -> Result<Vec<PathBuf>, EngineError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
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
    Ok(names)
}

/// Removes the `.partial` files (and, where archives have sidecars, lone sidecars) in `dir`.
/// A missing directory has nothing to reconcile.
fn scan_dir(dir: &Path, sidecars: bool, report: &mut ReconcileReport) -> Result<(), EngineError> {
    let names = list(dir)?;
    let removed_before = report.removed.len();
    for path in names {
        let ext = path.extension().and_then(|e| e.to_str());
        if ext == Some(PARTIAL_EXT) {
            fs::remove_file(&path).map_err(io_err(format!("removing {}", path.display())))?;
            report.removed.push(path);
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
