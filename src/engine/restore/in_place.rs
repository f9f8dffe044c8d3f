//! Restore back to the original paths (`in_place`): every selected file, link and directory of
//! the backup's `files` and `config` sources is written where it was backed up from, as
//! `overwrite` decides for what is there now (`overwrite::decide`).
//!
//! Safety, relative to the live tree: nothing is ever written through a link. Each parent of a
//! path is opened from `/` one component at a time with `O_NOFOLLOW | O_DIRECTORY`, and every
//! write happens relative to that handle (`openat`, `renameat`); sources are backed up by their
//! canonical paths, so a parent that is a symlink now was not one in the backup, and the path is
//! kept with that reason instead of written. A file is written under a temporary name in its own
//! directory, synced, given its mode and mtime, and renamed over the old one: a reader sees the
//! old file or the new one, never half of it.
//!
//! Directories are created when missing and never removed or replaced; a directory this restore
//! created or wrote into gets the backup's mode and mtime at the end, deepest first. Files that
//! are not in the backup are left alone.

use std::collections::BTreeSet;
use std::io;

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::live::{
    lstat_meta, mkdir_at, set_dir_meta, set_mode_at, walk, write_file, write_symlink, Failed, Walk,
};
use super::overwrite::{decide, Action, Kind, Meta};
use super::{open_backup, resolve_paths, select, BackupReader, LostEntry};
use crate::archive::{EntryKind, IndexEntry, Location};
use crate::config::Config;
use crate::engine::layout::Layout;
use crate::engine::paths::{original, DB_PREFIX};
use crate::engine::EngineError;
use crate::events::Overwrite;
use crate::progress::ProgressHandle;
use crate::projections::State;

/// How an in-place restore treats what is there and damaged content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InPlaceOptions {
    pub overwrite: Overwrite,
    pub skip_damaged: bool,
}

impl Default for InPlaceOptions {
    /// `if-newer`: a file changed after the backup is kept unless the caller says otherwise.
    fn default() -> Self {
        InPlaceOptions {
            overwrite: Overwrite::IfNewer,
            skip_damaged: false,
        }
    }
}

/// A path an in-place restore left as it is, and why (original paths).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kept {
    pub path: String,
    pub reason: String,
}

/// What an in-place restore did. Every path is an original path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InPlaceSummary {
    pub backup_id: String,
    pub in_place: bool,
    pub overwrite: Overwrite,
    /// Written (created or replaced): files, directories created, links, content bytes.
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub bytes: u64,
    pub created: u64,
    /// Replaced, or given their mode back (`set_mode`).
    pub replaced: u64,
    /// Identical already (and existing directories).
    pub unchanged: u64,
    pub kept: Vec<Kept>,
    pub complete: bool,
    pub damaged: Vec<LostEntry>,
    /// Parent backups whose archives supplied bytes.
    pub parents_used: Vec<String>,
}

/// One path of an in-place dry run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedInPlace {
    pub path: String,
    /// `file`, `dir` or `symlink`.
    pub kind: &'static str,
    pub size: u64,
    /// `create`, `replace`, `set_mode`, `unchanged` or `keep`.
    pub action: &'static str,
    /// Why a `keep`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What an in-place restore would do; nothing is written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InPlacePlan {
    pub backup_id: String,
    pub in_place: bool,
    pub dry_run: bool,
    pub overwrite: Overwrite,
    pub entries: Vec<PlannedInPlace>,
    /// What would be written (created or replaced).
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub bytes: u64,
    pub kept: u64,
}

fn refused(field: String, reason: String) -> EngineError {
    EngineError::RestoreRequest { field, reason }
}

/// The paths an in-place restore may be asked for: those `check_paths` allows, but no database
/// dump (`db:` is a database restore's) and no archive path outside `files/` and `config/`.
/// Pure; the API checks a body with it before any work.
pub fn check_in_place_paths(paths: &[String]) -> Result<(), EngineError> {
    super::check_paths(paths)?;
    for (i, p) in paths.iter().enumerate() {
        if p.starts_with(DB_PREFIX) {
            return Err(refused(
                format!("paths[{i}]"),
                format!(
                    "{p:?} is a database dump: in place restores files and configuration only \
                     (restore the dump into a target directory)"
                ),
            ));
        }
        let in_group = ["files", "config"].iter().any(|g| {
            p.strip_prefix(g)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
        if !p.starts_with('/') && !in_group {
            return Err(refused(
                format!("paths[{i}]"),
                format!("{p:?} is not under files/ or config/: in place restores only those"),
            ));
        }
    }
    Ok(())
}

/// The backup's archive and the indices of the entries the paths select (files, directories
/// and links of `files` and `config` sources; everything of them when `paths` is empty).
fn prepare(
    config: &Config,
    state: &State,
    backup_id: &str,
    paths: &[String],
) -> Result<(BackupReader, Vec<usize>), EngineError> {
    check_in_place_paths(paths)?;
    let layout = Layout::of(config);
    let reader = open_backup(&layout, state, backup_id)?;
    let entries = &reader.index().entries;
    let resolved = if paths.is_empty() {
        ["files", "config"]
            .iter()
            .filter(|g| {
                entries.iter().any(|e| {
                    e.path
                        .strip_prefix(**g)
                        .is_some_and(|r| r.is_empty() || r.starts_with('/'))
                })
            })
            .map(|g| g.to_string())
            .collect()
    } else {
        resolve_paths(entries, paths, backup_id)?
    };
    if resolved.is_empty() {
        return Err(refused(
            "paths".into(),
            format!("backup {backup_id} holds no files or configuration to restore in place"),
        ));
    }
    let chosen = select(entries, &resolved, backup_id)?
        .into_iter()
        .filter(|&i| {
            let e = &entries[i];
            matches!(
                e.kind,
                EntryKind::File | EntryKind::Dir | EntryKind::Symlink { .. }
            ) && original(&e.path).is_some_and(|o| o != "/")
        })
        .collect();
    Ok((reader, chosen))
}

fn wanted(e: &IndexEntry) -> Meta {
    Meta {
        kind: match &e.kind {
            EntryKind::Dir => Kind::Dir,
            EntryKind::Symlink { target } => Kind::Symlink(target.clone()),
            _ => Kind::File,
        },
        size: e.size,
        mtime: e.mtime,
        mode: e.mode & 0o7777,
    }
}

/// A dry run of `restore_in_place`: the same checks, then what would happen to each path.
pub fn plan_in_place(
    config: &Config,
    state: &State,
    backup_id: &str,
    paths: &[String],
    overwrite: Overwrite,
) -> Result<InPlacePlan, EngineError> {
    let (reader, chosen) = prepare(config, state, backup_id, paths)?;
    let entries = &reader.index().entries;
    let mut plan = InPlacePlan {
        backup_id: backup_id.to_string(),
        in_place: true,
        dry_run: true,
        overwrite,
        entries: Vec::new(),
        files: 0,
        dirs: 0,
        symlinks: 0,
        bytes: 0,
        kept: 0,
    };
    for e in chosen.iter().map(|&i| &entries[i]) {
        let orig = original(&e.path).unwrap_or_default();
        let want = wanted(e);
        let (action, reason) = match walk(&orig, None).map_err(live_err(&orig))? {
            Walk::Unsafe(why) => (Action::Keep(super::overwrite::KeepWhy::Exists), Some(why)),
            Walk::Missing => (Action::Create, None),
            Walk::Parent(dir, name) => {
                let have = lstat_meta(&dir, &name).map_err(live_err(&orig))?;
                let a = decide(overwrite, &want, have.as_ref());
                let reason = match a {
                    Action::Keep(why) => Some(why.reason().to_string()),
                    _ => None,
                };
                (a, reason)
            }
        };
        match action {
            Action::Create | Action::Replace => match want.kind {
                Kind::Dir => plan.dirs += 1,
                Kind::Symlink(_) => plan.symlinks += 1,
                _ => {
                    plan.files += 1;
                    plan.bytes += e.size;
                }
            },
            Action::Keep(_) => plan.kept += 1,
            Action::SetMode | Action::Unchanged => {}
        }
        plan.entries.push(PlannedInPlace {
            path: orig,
            kind: e.kind.name(),
            size: e.size,
            action: action.name(),
            reason,
        });
    }
    Ok(plan)
}

/// Restores the selected paths of backup `backup_id` to their original places (see the module
/// docs). `progress` is told files and bytes as they are written.
pub fn restore_in_place(
    config: &Config,
    state: &State,
    backup_id: &str,
    paths: &[String],
    opts: &InPlaceOptions,
    progress: Option<&ProgressHandle>,
) -> Result<InPlaceSummary, EngineError> {
    let (mut reader, chosen) = prepare(config, state, backup_id, paths)?;
    let layout = Layout::of(config);
    let entries = reader.index().entries.clone();
    // Directory entries by original path: a missing parent is created with the backup's mode.
    let dir_modes: FxHashMap<String, u32> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::Dir)
        .filter_map(|e| Some((original(&e.path)?, e.mode & 0o7777)))
        .collect();
    let mode_of = |p: &str| dir_modes.get(p).copied().unwrap_or(0o755);
    if let Some(p) = progress {
        p.update(|p| {
            p.phase = "restoring".into();
            p.files_total = Some(chosen.len() as u64);
            p.bytes_total = Some(chosen.iter().map(|&i| entries[i].size).sum());
        });
    }
    let mut sum = InPlaceSummary {
        backup_id: backup_id.to_string(),
        in_place: true,
        overwrite: opts.overwrite,
        files: 0,
        dirs: 0,
        symlinks: 0,
        bytes: 0,
        created: 0,
        replaced: 0,
        unchanged: 0,
        kept: Vec::new(),
        complete: true,
        damaged: Vec::new(),
        parents_used: Vec::new(),
    };
    let mut parents: FxHashMap<String, Option<BackupReader>> = FxHashMap::default();
    // Directories whose mode and mtime are the backup's again at the end: created, or written in.
    let mut touched: BTreeSet<String> = BTreeSet::new();
    let tell = |done: usize, bytes: u64| {
        if let Some(p) = progress {
            p.update(|p| {
                p.files_done = done as u64;
                p.bytes_done = bytes;
            });
        }
    };
    for (done, e) in chosen.iter().map(|&i| &entries[i]).enumerate() {
        // Entries looked at so far (kept and unchanged ones too), and the bytes written.
        tell(done, sum.bytes);
        let orig = original(&e.path).unwrap_or_default();
        let mut created_parents = Vec::new();
        let walked =
            walk(&orig, Some((&mode_of, &mut created_parents))).map_err(live_err(&orig))?;
        for d in created_parents {
            touched.insert(parent_of(&d).to_string());
            touched.insert(d);
        }
        let (dir, name) = match walked {
            Walk::Parent(dir, name) => (dir, name),
            Walk::Unsafe(reason) => {
                sum.kept.push(Kept { path: orig, reason });
                continue;
            }
            Walk::Missing => unreachable!("a walk that creates finds nothing missing"),
        };
        let want = wanted(e);
        let have = lstat_meta(&dir, &name).map_err(live_err(&orig))?;
        let action = decide(opts.overwrite, &want, have.as_ref());
        match action {
            Action::Unchanged => {
                sum.unchanged += 1;
                continue;
            }
            Action::Keep(why) => {
                sum.kept.push(Kept {
                    path: orig,
                    reason: why.reason().to_string(),
                });
                continue;
            }
            Action::SetMode => {
                set_mode_at(&dir, &name, want.mode).map_err(live_err(&orig))?;
                sum.replaced += 1;
                continue;
            }
            Action::Create | Action::Replace => {}
        }
        match &want.kind {
            Kind::Dir => {
                mkdir_at(&dir, &name, 0o700).map_err(live_err(&orig))?;
                touched.insert(orig.clone());
                sum.dirs += 1;
            }
            Kind::Symlink(target) => {
                write_symlink(&dir, &name, target, e.mtime).map_err(live_err(&orig))?;
                sum.symlinks += 1;
            }
            _ => {
                let source = match &e.location {
                    Location::Parent { backup } => {
                        let slot = parents.entry(backup.clone()).or_insert_with(|| {
                            open_backup(&layout, state, backup)
                                .map_err(|err| {
                                    log::warn!("parent backup {backup} cannot be read: {err}")
                                })
                                .ok()
                        });
                        match slot.as_mut() {
                            Some(r) => {
                                if !sum.parents_used.contains(backup) {
                                    sum.parents_used.push(backup.clone());
                                }
                                r
                            }
                            None if opts.skip_damaged => {
                                sum.damaged.push(LostEntry {
                                    path: orig,
                                    reason: format!("parent backup {backup} cannot be read"),
                                });
                                continue;
                            }
                            None => {
                                return Err(EngineError::BrokenChain {
                                    id: backup_id.to_string(),
                                    path: e.path.clone(),
                                    parent: backup.clone(),
                                    reason: "cannot be read".into(),
                                })
                            }
                        }
                    }
                    _ => &mut reader,
                };
                match write_file(source, e, &dir, &name) {
                    Ok(()) => {
                        sum.files += 1;
                        sum.bytes += e.size;
                    }
                    Err(Failed::Content(err))
                        if opts.skip_damaged
                            && err.kind() == crate::error::ErrorKind::Integrity =>
                    {
                        sum.damaged.push(LostEntry {
                            path: orig,
                            reason: err.to_string(),
                        });
                        continue;
                    }
                    Err(Failed::Content(source)) => {
                        return Err(EngineError::Archive {
                            context: format!("restoring {orig} from backup {backup_id}"),
                            source,
                        })
                    }
                    Err(Failed::Live(err)) => return Err(live_err(&orig)(err)),
                }
            }
        };
        match action {
            Action::Create => sum.created += 1,
            _ => sum.replaced += 1,
        }
        touched.insert(parent_of(&orig).to_string());
    }
    tell(chosen.len(), sum.bytes);
    // Deepest first: setting a directory's metadata does not touch its parent's mtime.
    for e in chosen.iter().rev().map(|&i| &entries[i]) {
        let orig = original(&e.path).unwrap_or_default();
        if e.kind != EntryKind::Dir || !touched.contains(&orig) {
            continue;
        }
        if let Walk::Parent(dir, name) = walk(&orig, None).map_err(live_err(&orig))? {
            set_dir_meta(&dir, &name, e.mode & 0o7777, e.mtime).map_err(live_err(&orig))?;
        }
    }
    sum.complete = sum.damaged.is_empty();
    Ok(sum)
}

fn parent_of(orig: &str) -> &str {
    match orig.rfind('/') {
        Some(0) | None => "/",
        Some(at) => &orig[..at],
    }
}

fn live_err(orig: &str) -> impl Fn(io::Error) -> EngineError + '_ {
    move |source| EngineError::Io {
        context: format!("restoring {orig} in place"),
        source,
    }
}
