//! The bodies of the maintenance presets: retention cleanup, the weekly archive, the health check
//! and the daily report. Each reads the state, does its I/O, and reports what it did through
//! commands correlated with its run, so the log says which run deleted, archived or checked what.

use std::path::Path;

use super::layout::{self, Layout};
use super::EngineError;
use crate::config::Config;
use crate::decide::{Command, RunOutcome};
use crate::domain::retention;
use crate::error::ErrorKind;
use crate::events::{BackupKind, Ts};
use crate::progress::ProgressHandle;
use crate::service::{Meta, Service, ServiceError};

/// What a maintenance body did: the run's figures and its note.
pub struct Done {
    pub bytes: u64,
    pub files: u64,
    pub note: String,
}

impl From<Result<Done, EngineError>> for RunOutcome {
    fn from(result: Result<Done, EngineError>) -> RunOutcome {
        match result {
            Ok(done) => RunOutcome::Succeeded {
                backup: None,
                bytes: done.bytes,
                files: done.files,
                note: Some(done.note),
                // Maintenance reads no sources: nothing to skip.
                warnings: Vec::new(),
                perf: None,
            },
            Err(e) => e.into_outcome(),
        }
    }
}

/// Runs one command for the run `run_id`, under the run's own actor (`run_meta`).
pub(super) fn record(
    service: &Service,
    run_id: &str,
    command: Command,
) -> Result<(), ServiceError> {
    smol::block_on(service.execute(command, run_meta(service, run_id))).map(drop)
}

/// What the engine records for a run is caused by whoever started it: the run's actor (the
/// token of an API request, `scheduler` for a slot), correlated with the run.
pub(super) fn run_meta(service: &Service, run_id: &str) -> Meta {
    let actor = service.read(|s| s.schedule.runs.get(run_id).map(|r| r.actor.clone()));
    Meta {
        actor: actor.unwrap_or_else(|| "scheduler".into()),
        correlation: Some(run_id.into()),
        idempotency_key: None,
    }
}

/// Deletes what the retention plan deletes now: each deletion is first recorded (decide checks it
/// against the plan again), then its files are removed. A crash between the two leaves files of a
/// deleted backup, which the next cleanup removes (`leftovers`).
pub fn cleanup(
    config: &Config,
    service: &Service,
    run_id: &str,
    progress: &ProgressHandle,
) -> Result<Done, EngineError> {
    let layout = Layout::of(config);
    let archives = layout.archives_dir();
    let now: Ts = service.clock().now().into();
    let plan = service.read(|s| retention::plan_for(s, now));
    progress.update(|p| p.phase = "deleting expired backups".into());

    let (mut backups, mut reports, mut freed, mut skipped) = (0u64, 0u64, 0u64, Vec::new());
    for d in &plan.backups {
        let location = service.read(|s| {
            s.catalog
                .backups
                .get(&d.id)
                .map(|b| b.record.location.clone())
        });
        let command = Command::DeleteBackup {
            backup_id: d.id.clone(),
            rule: d.rule.into(),
        };
        // The state may have moved since the plan (a verification, another deletion): decide
        // has the last word, and a refused deletion is reported, not forced.
        if let Err(e) = record(service, run_id, command) {
            skipped.push(format!("{}: {e}", d.id));
            continue;
        }
        super::snapshot_backup::crash(crate::failpoint::CLEANUP_BEFORE_REMOVE)?;
        remove_backup_files(&layout, &d.id, location.as_deref())?;
        backups += 1;
        freed += d.bytes;
    }
    for d in &plan.reports {
        let location = service.read(|s| s.catalog.reports.get(&d.id).map(|r| r.location.clone()));
        let command = Command::DeleteReport {
            report_id: d.id.clone(),
            rule: d.rule.into(),
        };
        if let Err(e) = record(service, run_id, command) {
            skipped.push(format!("{}: {e}", d.id));
            continue;
        }
        if let Some(location) = location {
            let json = layout.resolve(&location);
            remove(&json.with_extension("html"))?;
            remove(&json)?;
        }
        reports += 1;
        freed += d.bytes;
    }
    let leftovers = leftovers(service, &layout.backups_dir())? + leftovers(service, &archives)?;
    let (orphans, young) = orphans(config, service)?;
    for dir in [
        layout.backups_dir(),
        archives,
        config.data_dir.join("reports"),
    ] {
        if dir.is_dir() {
            layout::fsync_dir(&dir)?;
        }
    }

    // Prune after the deletions, so the packs only they referenced go in the same run.
    let pruned = super::prune::prune(config, service, run_id, progress)?;
    let kept = plan.kept.len();
    let mut note = format!(
        "deleted {backups} backup(s) and {reports} report(s), {freed} bytes; kept {kept} backup(s)"
    );
    freed += pruned.freed;
    let prune_note = pruned.note();
    if !prune_note.is_empty() {
        note.push_str(&format!("; {prune_note}"));
    }
    if leftovers > 0 {
        note.push_str(&format!(
            "; removed {leftovers} leftover file(s) of earlier deletions"
        ));
    }
    if !orphans.is_empty() {
        note.push_str(&format!(
            "; removed {} archive file(s) no event names, older than {} s: {}",
            orphans.len(),
            config.health.unrecorded_grace_secs,
            orphans.join(", ")
        ));
    }
    if !young.is_empty() {
        note.push_str(&format!(
            "; kept {} archive file(s) no event names, younger than {} s (a run may still record them): {}",
            young.len(),
            config.health.unrecorded_grace_secs,
            young.join(", ")
        ));
    }
    if !skipped.is_empty() {
        note.push_str(&format!("; not deleted: {}", skipped.join("; ")));
    }
    if let Some(why) = plan.refused {
        return Err(EngineError::Refused {
            reason: format!("{why} ({note})"),
        });
    }
    Ok(Done {
        bytes: freed,
        files: backups + reports,
        note,
    })
}

/// Removes a deleted backup's archive (at its recorded `location`, if known) and its manifest;
/// call it only once the deletion is recorded. Files already gone are fine: a crash after the
/// record leaves them to `leftovers`, and a retried removal finds nothing.
pub fn remove_backup_files(
    layout: &Layout,
    backup_id: &str,
    location: Option<&str>,
) -> Result<(), EngineError> {
    if let Some(location) = location {
        remove(&layout.resolve(location))?;
    }
    remove(&layout.manifest(backup_id))
}

fn remove(path: &Path) -> Result<(), EngineError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(EngineError::Io {
            context: format!("removing {}", path.display()),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Archive files no event names (a crash between an archive's rename and its record): each one
/// older than `health.unrecorded_grace` is removed (with its sidecar), younger ones are kept
/// for a run that may still record them. Removed rather than adopted: such a file's run never
/// recorded it, so nothing says it was complete and verified when written (`backupd recover`
/// is the way to bring archives back into a lost catalog). Returns (removed, kept) paths.
fn orphans(config: &Config, service: &Service) -> Result<(Vec<String>, Vec<String>), EngineError> {
    let found = service.read(|s| super::unrecorded_archives(&config.data_dir, s))?;
    let grace = u64::try_from(config.health.unrecorded_grace_secs).unwrap_or(0);
    let (mut removed, mut kept) = (Vec::new(), Vec::new());
    for u in found {
        if u.age_secs < grace {
            kept.push(u.path);
            continue;
        }
        let path = config.data_dir.join(&u.path);
        remove(&path)?;
        remove(&path.with_extension(layout::MANIFEST_EXT))?;
        removed.push(u.path);
    }
    Ok((removed, kept))
}

/// Files in `dir` of backups the log says were deleted.
fn leftovers(service: &Service, dir: &Path) -> Result<u64, EngineError> {
    let Ok(dir) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = name
            .strip_suffix(".bka")
            .or_else(|| name.strip_suffix(".manifest"))
        else {
            continue;
        };
        if service.read(|s| s.catalog.deleted_ids.contains(id)) {
            remove(&entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The weekly archive: each job's newest restorable state as one self-contained archive
/// (`consolidate` writes and verifies it), recorded with what it is a copy of. One job's broken
/// chain does not stop the others; the run fails if any failed, naming each.
pub fn archive(
    config: &Config,
    service: &Service,
    job_id: &str,
    run_id: &str,
    progress: &ProgressHandle,
) -> Result<Done, EngineError> {
    let sources = archive_sources(service);
    let (mut made, mut bytes, mut files, mut failed) = (Vec::new(), 0, 0, Vec::new());
    let mut kind: Option<ErrorKind> = None;
    let mut fail = |text: String, k: ErrorKind| {
        kind = Some(kind.map_or(k, |seen| seen.combine(k)));
        failed.push(text);
    };
    for source in &sources {
        match super::consolidate(config, service, job_id, run_id, source, progress) {
            Ok(done) => {
                let command = Command::RecordArchive {
                    backup: done.record.clone(),
                    source_id: done.source_id,
                    merged: done.merged,
                };
                if let Err(e) = record(service, run_id, command) {
                    // Not recorded means not in the catalog: the file must not linger unnamed.
                    layout::remove_quietly(&Layout::of(config).resolve(&done.record.location));
                    fail(format!("{source}: {e}"), e.kind());
                    continue;
                }
                bytes += done.record.bytes;
                files += done.files;
                made.push(format!("{} of {source}", done.record.id));
            }
            Err(e) => fail(e.to_string(), e.kind()),
        }
    }
    if let Some(kind) = kind {
        return Err(EngineError::ArchivesFailed {
            failed,
            written: made,
            kind,
        });
    }
    let note = if made.is_empty() {
        "nothing to archive: no backup is newer than the last archive of its sources".to_string()
    } else {
        format!("archived {}", made.join(", "))
    };
    Ok(Done { bytes, files, note })
}

/// The backups the weekly archive copies: the newest backup (full or incremental, not verified
/// bad) of each set of sources — jobs backing up the same things share chains, so the preset
/// incremental's newest backup already holds the nightly full's state — unless it was archived.
pub fn archive_sources(service: &Service) -> Vec<String> {
    use std::collections::{BTreeMap, BTreeSet};
    service.read(|s| {
        let archived: BTreeSet<&str> = s
            .catalog
            .archives
            .values()
            .map(|o| o.source_id.as_str())
            .collect();
        // A deleted job's backups form a group of their own.
        let group = |job_id: &str| match crate::domain::base::job_sources(s, job_id) {
            Some(sources) => (None, Some(sources)),
            None => (Some(job_id.to_string()), None),
        };
        let mut newest: BTreeMap<_, &crate::projections::Backup> = BTreeMap::new();
        for b in s.catalog.backups.values() {
            if b.record.kind == BackupKind::Archive || !b.is_good() {
                continue;
            }
            let slot = newest.entry(group(&b.record.job_id)).or_insert(b);
            if (b.record.created_at, &b.record.id) > (slot.record.created_at, &slot.record.id) {
                *slot = b;
            }
        }
        newest
            .values()
            .map(|b| b.record.id.clone())
            .filter(|id| !archived.contains(id.as_str()))
            .collect()
    })
}
