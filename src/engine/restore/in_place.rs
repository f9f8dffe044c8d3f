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
use std::ffi::{CStr, CString};
use std::fs::{File, FileTimes, Permissions};
use std::io::{self, BufWriter, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::overwrite::{decide, Action, Kind, Meta};
use super::{open_backup, resolve_paths, select, LostEntry};
use crate::archive::{ArchiveReader, EntryKind, IndexEntry, Location, Mtime};
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
) -> Result<(ArchiveReader<File>, Vec<usize>), EngineError> {
    check_in_place_paths(paths)?;
    let layout = Layout::new(&config.data_dir);
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
    let layout = Layout::new(&config.data_dir);
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
    let mut parents: FxHashMap<String, Option<ArchiveReader<File>>> = FxHashMap::default();
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

/// A file's write failed: its content (the archive) or the live tree.
enum Failed {
    Content(crate::archive::ArchiveError),
    Live(io::Error),
}

/// Where a walk to a path's parent ended.
enum Walk {
    /// The parent, open, and the path's last component.
    Parent(OwnedFd, CString),
    /// A parent does not exist (only when not creating): everything below it would be created.
    Missing,
    /// A parent is a symlink or not a directory: the path is not written, for this reason.
    Unsafe(String),
}

type Created<'a> = (&'a dyn Fn(&str) -> u32, &'a mut Vec<String>);

/// Opens the parent of `orig` from `/`, one component at a time, never following a link. With
/// `create`, missing parents are made (with the mode it gives) and named in its list.
fn walk(orig: &str, mut create: Option<Created<'_>>) -> io::Result<Walk> {
    let rel = orig.trim_start_matches('/');
    let mut parts: Vec<&str> = rel.split('/').collect();
    let last = parts.pop().unwrap_or_default();
    let mut dir = open_dir_at(None, c"/")?;
    let mut prefix = String::new();
    for part in parts {
        prefix.push('/');
        prefix.push_str(part);
        let name = cstr(part)?;
        dir = match open_dir_at(Some(&dir), &name) {
            Ok(next) => next,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => match create.as_mut() {
                Some((mode_of, made)) => {
                    mkdir_at(&dir, &name, mode_of(&prefix))?;
                    made.push(prefix.clone());
                    open_dir_at(Some(&dir), &name)?
                }
                None => return Ok(Walk::Missing),
            },
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
                let what = match lstat_at(&dir, &name)? {
                    Some(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
                        "is a symlink in the live tree (the backup has a directory there); not followed"
                    }
                    _ => "is not a directory in the live tree (the backup has one there)",
                };
                return Ok(Walk::Unsafe(format!("{prefix} {what}")));
            }
            Err(e) => return Err(e),
        };
    }
    Ok(Walk::Parent(dir, cstr(last)?))
}

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL in a path"))
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `openat(dir, name, O_DIRECTORY | O_NOFOLLOW)`; `dir` `None` = an absolute `name`.
fn open_dir_at(dir: Option<&OwnedFd>, name: &CStr) -> io::Result<OwnedFd> {
    let at = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: a valid C string and descriptor; the returned descriptor is owned once checked.
    let fd = unsafe { libc::openat(at, name.as_ptr(), flags) };
    check(fd)?;
    // SAFETY: fd is a fresh, open descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn lstat_at(dir: &OwnedFd, name: &CStr) -> io::Result<Option<libc::stat>> {
    // SAFETY: stat is plain data; fstatat fills it or fails.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor, C string and out pointer.
    let rc = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    match check(rc) {
        Ok(()) => Ok(Some(st)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

fn lstat_meta(dir: &OwnedFd, name: &CStr) -> io::Result<Option<Meta>> {
    let Some(st) = lstat_at(dir, name)? else {
        return Ok(None);
    };
    let kind = match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => Kind::File,
        libc::S_IFDIR => Kind::Dir,
        libc::S_IFLNK => Kind::Symlink(read_link_at(dir, name)?),
        _ => Kind::Other,
    };
    Ok(Some(Meta {
        kind,
        size: st.st_size as u64,
        mtime: Mtime::new(st.st_mtime, st.st_mtime_nsec as u32),
        mode: st.st_mode & 0o7777,
    }))
}

fn read_link_at(dir: &OwnedFd, name: &CStr) -> io::Result<String> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: the buffer is as long as said.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn mkdir_at(dir: &OwnedFd, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: valid descriptor and C string.
    check(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode as libc::mode_t) })
}

fn rename_at(dir: &OwnedFd, from: &CStr, to: &CStr) -> io::Result<()> {
    let d = dir.as_raw_fd();
    // SAFETY: valid descriptor and C strings.
    check(unsafe { libc::renameat(d, from.as_ptr(), d, to.as_ptr()) })
}

fn unlink_at(dir: &OwnedFd, name: &CStr) {
    // SAFETY: valid descriptor and C string; a failure leaves a temporary file, nothing worse.
    unsafe {
        libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0);
    }
}

/// A temporary name in the same directory, never an existing one (`O_EXCL` checks that).
fn temp_name() -> CString {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    CString::new(format!(".backupd-restore.{}.{n}.tmp", std::process::id()))
        .expect("no NUL in a formatted name")
}

fn sync_dir(dir: &OwnedFd) -> io::Result<()> {
    // SAFETY: valid descriptor.
    check(unsafe { libc::fsync(dir.as_raw_fd()) })
}

fn write_file(
    reader: &mut ArchiveReader<File>,
    e: &IndexEntry,
    dir: &OwnedFd,
    name: &CStr,
) -> Result<(), Failed> {
    let tmp = temp_name();
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: valid descriptor and C string; the result is checked before it is owned.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), tmp.as_ptr(), flags, 0o600 as libc::c_uint) };
    check(fd).map_err(Failed::Live)?;
    // SAFETY: fd is a fresh, open descriptor nobody else owns.
    let mut file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let result = (|| {
        let mut out = BufWriter::with_capacity(1 << 16, &mut file);
        reader
            .read_entry(&e.path, &mut out)
            .map_err(Failed::Content)?;
        out.flush().map_err(Failed::Live)?;
        drop(out);
        file.set_permissions(Permissions::from_mode(e.mode & 0o7777))
            .map_err(Failed::Live)?;
        if let Some(t) = e.mtime.to_system_time() {
            file.set_times(FileTimes::new().set_modified(t))
                .map_err(Failed::Live)?;
        }
        file.sync_all().map_err(Failed::Live)?;
        rename_at(dir, &tmp, name).map_err(Failed::Live)?;
        sync_dir(dir).map_err(Failed::Live)
    })();
    if result.is_err() {
        unlink_at(dir, &tmp);
    }
    result
}

fn timespecs(mtime: Mtime) -> [libc::timespec; 2] {
    [
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        libc::timespec {
            tv_sec: mtime.secs as libc::time_t,
            tv_nsec: mtime.nanos as libc::c_long,
        },
    ]
}

fn write_symlink(dir: &OwnedFd, name: &CStr, target: &str, mtime: Mtime) -> io::Result<()> {
    let tmp = temp_name();
    let target = cstr(target)?;
    // SAFETY: valid descriptor and C strings.
    check(unsafe { libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), tmp.as_ptr()) })?;
    let times = timespecs(mtime);
    let result = (|| {
        // SAFETY: valid descriptor, C string and two timespecs; the link itself, not followed.
        check(unsafe {
            libc::utimensat(
                dir.as_raw_fd(),
                tmp.as_ptr(),
                times.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })?;
        rename_at(dir, &tmp, name)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        unlink_at(dir, &tmp);
    }
    result
}

/// The mode of the regular file `name`, through a handle that does not follow a link.
fn set_mode_at(dir: &OwnedFd, name: &CStr, mode: u32) -> io::Result<()> {
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
    // SAFETY: valid descriptor and C string; checked before it is owned.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) };
    check(fd)?;
    // SAFETY: a fresh descriptor nobody else owns.
    let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    file.set_permissions(Permissions::from_mode(mode))
}

fn set_dir_meta(dir: &OwnedFd, name: &CStr, mode: u32, mtime: Mtime) -> io::Result<()> {
    let d = File::from(open_dir_at(Some(dir), name)?);
    d.set_permissions(Permissions::from_mode(mode))?;
    if let Some(t) = mtime.to_system_time() {
        d.set_times(FileTimes::new().set_modified(t))?;
    }
    Ok(())
}
