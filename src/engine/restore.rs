//! Restore by backup id: the chosen backup's index is the complete manifest; bytes held by
//! parent backups are fetched from their archives. Path safety (absolute paths, `..`, escaping
//! links) is the archive extractor's job and is relied on here; what a caller may ask for (the
//! target and the selected paths) is checked here, once, for the API and the offline command
//! alike (`check_request`).
//!
//! With `skip_damaged`, a file whose frame is damaged (or whose parent archive cannot be read)
//! is named in `damaged` and everything else is restored; `complete` says whether anything was
//! lost.
//!
//! Order matters for metadata: files from parent archives are written first, then the chosen
//! archive is extracted, which sets directory modes and mtimes last (writing into a directory
//! changes its mtime).

use std::collections::BTreeMap;
use std::fs::{self, File, FileTimes};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use super::dump::load_hint;
use super::layout::{io_err, Layout};
use super::paths::{archive_candidates, original, DB_PREFIX};
use super::EngineError;
use crate::archive::{self, ArchiveError, EntryKind, ExtractOptions, IndexEntry, Location};
use crate::config::Config;
use crate::progress::ProgressHandle;
use crate::projections::State;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RestoreSummary {
    pub backup_id: String,
    pub target: PathBuf,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub bytes: u64,
    /// Parent backups whose archives supplied bytes.
    pub parents_used: Vec<String>,
    /// Database dumps restored as files, each with the command that loads it.
    pub dumps: Vec<RestoredDump>,
    /// Everything selected was restored (always, unless `skip_damaged` passed over damage).
    pub complete: bool,
    /// With `skip_damaged`: the files not restored (archive paths) and why.
    pub damaged: Vec<LostEntry>,
}

/// A file a restore with `skip_damaged` could not restore.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LostEntry {
    pub path: String,
    pub reason: String,
}

/// How a restore treats an occupied target and damaged content.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreOptions {
    /// Restore into a non-empty target (files at restored paths are replaced).
    pub force: bool,
    /// Restore everything readable and list what is not, instead of failing at the first
    /// damaged frame.
    pub skip_damaged: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestoredDump {
    pub path: PathBuf,
    pub load_with: String,
}

/// Restores backup `backup_id` (all of it, or the entries at and below `paths`) into `target`.
/// A target that exists and is not empty is refused unless `force`.
pub fn restore(
    config: &Config,
    state: &State,
    backup_id: &str,
    target: &Path,
    paths: &[String],
    force: bool,
) -> Result<RestoreSummary, EngineError> {
    let opts = RestoreOptions {
        force,
        skip_damaged: false,
    };
    restore_with(config, state, backup_id, target, paths, &opts)
}

/// `restore` with every option; the target and paths are checked first (`check_request`).
pub fn restore_with(
    config: &Config,
    state: &State,
    backup_id: &str,
    target: &Path,
    paths: &[String],
    opts: &RestoreOptions,
) -> Result<RestoreSummary, EngineError> {
    restore_tracked(config, state, backup_id, target, paths, opts, None)
}

/// `restore_with`, telling `progress` the files and bytes written as each file lands (the
/// extractor calls back per file, parents' archives first, then the chosen one).
pub fn restore_tracked(
    config: &Config,
    state: &State,
    backup_id: &str,
    target: &Path,
    paths: &[String],
    opts: &RestoreOptions,
    progress: Option<&ProgressHandle>,
) -> Result<RestoreSummary, EngineError> {
    check_request(config, target, paths)?;
    let layout = Layout::of(config);
    if !opts.force && !is_empty_or_missing(target)? {
        return Err(EngineError::TargetNotEmpty {
            path: target.to_path_buf(),
        });
    }
    let mut reader = open_backup(&layout, state, backup_id)?;
    let entries = &reader.index().entries;
    let paths = &resolve_paths(entries, paths, backup_id)?;
    let chosen = select(entries, paths, backup_id)?;
    let tell = |files: u64, bytes: u64| {
        if let Some(p) = progress {
            p.update(|p| {
                p.phase = "restoring".into();
                p.files_done = files;
                p.bytes_done = bytes;
            });
        }
    };
    if let Some(p) = progress {
        p.update(|p| {
            let content = chosen
                .iter()
                .map(|&i| &entries[i])
                .filter(|e| e.kind.has_content());
            p.files_total = Some(content.clone().count() as u64);
            p.bytes_total = Some(content.map(|e| e.size).sum());
        });
    }

    // Bytes in parents, grouped by the backup that holds them.
    let mut from_parents: BTreeMap<String, Vec<&IndexEntry>> = BTreeMap::new();
    for e in chosen.iter().map(|&i| &entries[i]) {
        if let (true, Location::Parent { backup }) = (e.kind.has_content(), &e.location) {
            from_parents.entry(backup.clone()).or_default().push(e);
        }
    }
    let mut sum = RestoreSummary {
        backup_id: backup_id.to_string(),
        target: target.to_path_buf(),
        ..RestoreSummary::default()
    };
    let extract_opts = ExtractOptions {
        skip_damaged: opts.skip_damaged,
        ..ExtractOptions::default()
    };
    for (parent, wanted) in &from_parents {
        let mut pr = match open_backup(&layout, state, parent) {
            Ok(pr) => pr,
            Err(e) if opts.skip_damaged => {
                let reason = format!("parent backup {parent} cannot be read: {e}");
                sum.damaged.extend(wanted.iter().map(|w| LostEntry {
                    path: w.path.clone(),
                    reason: reason.clone(),
                }));
                continue;
            }
            Err(e) => {
                return Err(EngineError::BrokenChain {
                    id: backup_id.to_string(),
                    path: wanted[0].path.clone(),
                    parent: parent.clone(),
                    reason: format!("cannot be read: {e}"),
                })
            }
        };
        let names: Vec<String> = wanted.iter().map(|e| e.path.clone()).collect();
        let (files_before, bytes_before) = (sum.files, sum.bytes);
        let on_file = |files: u64, bytes: u64| tell(files_before + files, bytes_before + bytes);
        let got = pr
            .extract_with(
                target,
                &names,
                &ExtractOptions {
                    on_file: progress.map(|_| &on_file as archive::OnFile),
                    ..extract_opts
                },
            )
            .map_err(|source| EngineError::Archive {
                context: format!("restoring from parent backup {parent}"),
                source,
            })?;
        sum.files += got.files + got.streams;
        sum.bytes += got.bytes;
        let lost: std::collections::HashSet<&str> =
            got.damaged.iter().map(|d| d.path.as_str()).collect();
        // The manifest of the chosen backup is authoritative for metadata. An unchanged file has
        // the same mode and mtime in both manifests (that is what unchanged means), so only the
        // others are touched again: a second open per file doubled the restore's metadata work.
        let held: rustc_hash::FxHashMap<&str, &IndexEntry> = pr
            .index()
            .entries
            .iter()
            .map(|p| (p.path.as_str(), p))
            .collect();
        for e in wanted.iter().filter(|e| !lost.contains(e.path.as_str())) {
            let same = held
                .get(e.path.as_str())
                .is_some_and(|p| p.mode == e.mode && p.mtime == e.mtime);
            if !same {
                set_meta(&target.join(&e.path), e)?;
            }
        }
        sum.parents_used.push(parent.clone());
        tell(sum.files, sum.bytes);
        sum.damaged.extend(got.damaged.iter().map(|d| LostEntry {
            path: d.path.clone(),
            reason: d.reason.clone(),
        }));
    }

    let selection: Vec<String> = paths.to_vec();
    let (files_before, bytes_before) = (sum.files, sum.bytes);
    let on_file = |files: u64, bytes: u64| tell(files_before + files, bytes_before + bytes);
    let got = reader
        .extract_with(
            target,
            &selection,
            &ExtractOptions {
                skip_parent_refs: true,
                on_file: progress.map(|_| &on_file as archive::OnFile),
                ..extract_opts
            },
        )
        .map_err(|source| EngineError::Archive {
            context: format!("restoring backup {backup_id}"),
            source,
        })?;
    sum.files += got.files + got.streams;
    sum.dirs += got.dirs;
    sum.symlinks += got.symlinks;
    sum.bytes += got.bytes;
    sum.damaged
        .extend(got.damaged.into_iter().map(|d| LostEntry {
            path: d.path,
            reason: d.reason,
        }));
    sum.complete = sum.damaged.is_empty();
    tell(sum.files, sum.bytes);
    let lost: std::collections::HashSet<&str> =
        sum.damaged.iter().map(|d| d.path.as_str()).collect();

    for e in chosen.iter().map(|&i| &reader.index().entries[i]) {
        if e.kind == EntryKind::Stream && !lost.contains(e.path.as_str()) {
            let path = target.join(&e.path);
            if let Some(load_with) = load_hint(&e.path, &path, &config.databases) {
                sum.dumps.push(RestoredDump { path, load_with });
            }
        }
    }
    Ok(sum)
}

/// What a restore would write, from a dry run: nothing is written.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RestorePlan {
    pub backup_id: String,
    pub target: PathBuf,
    pub dry_run: bool,
    /// Each entry that would be written, in the archive's order.
    pub entries: Vec<PlannedEntry>,
    /// Files and database dumps.
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub bytes: u64,
}

/// One entry a restore would write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedEntry {
    /// The original path (`/…`, or `db:<source name>` for a dump).
    pub path: String,
    /// Where it would land under the target.
    pub lands_at: PathBuf,
    pub size: u64,
    /// `file`, `dir`, `symlink` or `stream` (a database dump).
    pub kind: &'static str,
}

/// A dry run of `restore_with`: the same checks (request, occupied target unless `force`,
/// unknown paths), then the list of what would be written; nothing is written and the target
/// may not exist yet.
pub fn plan_restore(
    config: &Config,
    state: &State,
    backup_id: &str,
    target: &Path,
    paths: &[String],
    force: bool,
) -> Result<RestorePlan, EngineError> {
    check_request(config, target, paths)?;
    let layout = Layout::of(config);
    if !force && !is_empty_or_missing(target)? {
        return Err(EngineError::TargetNotEmpty {
            path: target.to_path_buf(),
        });
    }
    let reader = open_backup(&layout, state, backup_id)?;
    let entries = &reader.index().entries;
    let paths = resolve_paths(entries, paths, backup_id)?;
    let mut plan = RestorePlan {
        backup_id: backup_id.to_string(),
        target: target.to_path_buf(),
        dry_run: true,
        ..RestorePlan::default()
    };
    for e in select(entries, &paths, backup_id)?
        .into_iter()
        .map(|i| &entries[i])
    {
        match e.kind {
            EntryKind::Deletion => continue,
            EntryKind::File | EntryKind::Stream => {
                plan.files += 1;
                plan.bytes += e.size;
            }
            EntryKind::Dir => plan.dirs += 1,
            EntryKind::Symlink { .. } => plan.symlinks += 1,
        }
        plan.entries.push(PlannedEntry {
            path: original(&e.path).unwrap_or_else(|| e.path.clone()),
            lands_at: target.join(&e.path),
            size: e.size,
            kind: e.kind.name(),
        });
    }
    Ok(plan)
}

/// Is `p` an original path (`/…` or `db:<name>`) rather than an archive path?
fn is_original(p: &str) -> bool {
    p.starts_with('/') || p.starts_with(DB_PREFIX)
}

/// The archive paths the requested paths name. An original path resolves against the backup's
/// index: a directory or file to whichever of its candidates (`files/…`, `config/…`) holds
/// entries, `db:<name>` to that source's dump. Any other path is an archive path, kept as it is
/// (the API's first form). An original path that names nothing is `NotInBackup`, by the path
/// the caller gave.
pub fn resolve_paths(
    entries: &[IndexEntry],
    paths: &[String],
    id: &str,
) -> Result<Vec<String>, EngineError> {
    let mut out = Vec::with_capacity(paths.len());
    for p in paths {
        if !is_original(p) {
            out.push(p.clone());
            continue;
        }
        let before = out.len();
        if p.starts_with(DB_PREFIX) {
            out.extend(
                entries
                    .iter()
                    .filter(|e| e.path.starts_with("databases/"))
                    .filter(|e| original(&e.path).as_deref() == Some(p.as_str()))
                    .map(|e| e.path.clone()),
            );
        } else {
            for c in archive_candidates(p).unwrap_or_default() {
                let holds = entries.iter().any(|e| {
                    e.path
                        .strip_prefix(c.as_str())
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
                });
                if holds {
                    out.push(c);
                }
            }
        }
        if out.len() == before {
            return Err(EngineError::NotInBackup {
                id: id.to_string(),
                path: p.clone(),
            });
        }
    }
    Ok(out)
}

/// A restore request the caller may not make: the field it names (`target`, `paths[i]`) and why.
fn refused(field: String, reason: String) -> EngineError {
    EngineError::RestoreRequest { field, reason }
}

/// The target's form: absolute, no `.` or `..` component (checked on the text: `Path` drops
/// inner `.` components silently), no NUL. Pure; the API checks a body with it before work.
pub fn check_target(target: &Path) -> Result<(), EngineError> {
    let bytes = target.as_os_str().as_encoded_bytes();
    let dots = bytes.split(|&b| b == b'/').any(|c| c == b"." || c == b"..");
    let plain = target
        .components()
        .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if !target.is_absolute() || dots || !plain || bytes.contains(&0) {
        return Err(refused(
            "target".into(),
            format!(
                "target must be an absolute path without `.` or `..`, not {:?}",
                target.display()
            ),
        ));
    }
    Ok(())
}

/// Each selected path is an original path (absolute, or `db:<source name>`; see `paths`) or
/// an archive path as `schema/archive.md` allows them (relative, no `.`/`..`/empty
/// components, no NUL; one trailing `/` is allowed). Pure.
pub fn check_paths(paths: &[String]) -> Result<(), EngineError> {
    for (i, p) in paths.iter().enumerate() {
        if let Some(name) = p.strip_prefix(DB_PREFIX) {
            if name.is_empty() || name.contains(['/', '\0']) {
                return Err(refused(
                    format!("paths[{i}]"),
                    format!("{p:?} is not db:<source name>"),
                ));
            }
            continue;
        }
        if p.starts_with('/') {
            if archive_candidates(p).is_none() || p.contains('\0') {
                return Err(refused(
                    format!("paths[{i}]"),
                    format!("{p:?} is not an absolute path without empty, `.` or `..` components"),
                ));
            }
            continue;
        }
        let trimmed = p.strip_suffix('/').unwrap_or(p);
        archive::path::components(trimmed).map_err(|why| {
            refused(
                format!("paths[{i}]"),
                format!("{p:?} is not an archive path ({why})"),
            )
        })?;
    }
    Ok(())
}

/// Everything a restore checks before it reads or writes anything: the target's form, that
/// it is not the data directory or inside it (links resolved: a restore there would mix files
/// into the service's own archives), and the selected paths.
pub fn check_request(config: &Config, target: &Path, paths: &[String]) -> Result<(), EngineError> {
    check_target(target)?;
    // `<data_dir>/restores` is the one place inside it a restore may go (the default allowed
    // target of API restores, as of SQLite loads).
    let restores = config.data_dir.join("restores");
    if inside(target, &config.data_dir) && !super::targets::within(target, &restores) {
        return Err(refused(
            "target".into(),
            format!(
                "{} is inside the data directory; restore somewhere else (or under its restores/)",
                target.display()
            ),
        ));
    }
    check_paths(paths)
}

/// Is `target` the data directory or below it, links resolved? `target` is absolute without
/// `..` (checked before), so its missing tail can be appended as is.
fn inside(target: &Path, data_dir: &Path) -> bool {
    let Ok(data) = std::fs::canonicalize(data_dir) else {
        return false;
    };
    let mut existing = target;
    let mut tail = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            return tail
                .iter()
                .rev()
                .fold(real, |p: PathBuf, name| p.join(name))
                .starts_with(&data);
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                tail.push(name);
                existing = parent;
            }
            _ => return false,
        }
    }
}

/// The extractor's own selection rule, checked up front so a wrong `--path` fails before
/// anything is written.
fn select(entries: &[IndexEntry], paths: &[String], id: &str) -> Result<Vec<usize>, EngineError> {
    archive::select_entries(entries, paths).map_err(|e| match e {
        ArchiveError::NotFound { path } => EngineError::NotInBackup {
            id: id.to_string(),
            path,
        },
        source => EngineError::Archive {
            context: format!("selecting paths in backup {id}"),
            source,
        },
    })
}

fn is_empty_or_missing(target: &Path) -> Result<bool, EngineError> {
    match fs::read_dir(target) {
        Ok(mut rd) => Ok(rd.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(EngineError::Io {
            context: format!("inspecting restore target {}", target.display()),
            source: e,
        }),
    }
}

fn set_meta(dest: &Path, e: &IndexEntry) -> Result<(), EngineError> {
    let f = File::options()
        .write(true)
        .open(dest)
        .or_else(|_| File::open(dest))
        .map_err(io_err(format!("opening {}", dest.display())))?;
    f.set_permissions(fs::Permissions::from_mode(e.mode))
        .map_err(io_err(format!("setting mode of {}", dest.display())))?;
    if let Some(t) = e.mtime.to_system_time() {
        f.set_times(FileTimes::new().set_modified(t))
            .map_err(io_err(format!("setting mtime of {}", dest.display())))?;
    }
    Ok(())
}

mod in_place;
mod live;
mod open;
pub mod overwrite;

pub(crate) use open::{open_backup, open_snapshot_backup, BackupReader};

pub use in_place::{
    check_in_place_paths, plan_in_place, restore_in_place, InPlaceOptions, InPlacePlan,
    InPlaceSummary, Kept, PlannedInPlace,
};

#[cfg(test)]
mod tests;
