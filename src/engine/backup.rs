//! One backup run: scan the sources, dump the databases, write the archive (all content for a
//! full backup; for an incremental only files whose stat changed, the rest as references to the
//! backup holding their bytes, plus deletions), then publish it crash-safely.
//!
//! Change detection for an incremental: a file is read again unless the base's index has it as
//! a file with the same size, mtime (ns) and mode AND the base's sidecar has the same inode and
//! ctime. Without a sidecar, the index alone decides. Database dumps are always taken whole.
//!
//! Publication: `<id>.bka.partial` and `<id>.manifest.partial` are written and fsynced, renamed
//! (manifest first, so an archive never lacks its sidecar), the directory is fsynced, and only
//! then is the outcome returned for the caller to record.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::cell::Cell;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read};
use std::path::Path;

use super::dump::{self, Scratch};
use super::layout::{self, io_err, Layout};
use super::manifest::{self, Stat};
use super::perf::{Perf, Phase, TimedWrite, Volume};
use super::sources::{ItemKind, Selected};
use super::EngineError;
use crate::archive::{
    ArchiveError, ArchiveWriter, Codec, EntryKind, IndexEntry, Location, WriterOptions,
};
use crate::config::Config;
use crate::domain::base::newest_base;
use crate::events::{
    BackupConfig, BackupKind, BackupMode, BackupRecord, JobSpec, RunPerf, RunWarning, Ts,
};
use crate::progress::ProgressHandle;
use crate::service::Service;

/// A published backup: the record for the `backup_recorded` event and the run's figures.
#[derive(Debug, Clone)]
pub struct BackupDone {
    pub record: BackupRecord,
    /// Files and dumps in the backup's manifest.
    pub files: u64,
    pub note: Option<String>,
    /// Entries skipped or changed while read, each with its path and why: the scan's first,
    /// then the files that changed while read.
    pub warnings: Vec<RunWarning>,
    /// Where the run's time went and what it moved (`engine::perf`).
    pub perf: RunPerf,
}

/// The archive's output: buffered, its writes timed.
type Out<'a> = BufWriter<TimedWrite<'a, File>>;

/// The base an incremental compares against.
struct Base {
    id: String,
    entries: HashMap<String, IndexEntry>,
    sidecar: Option<HashMap<String, Stat>>,
}

/// Runs one backup of `job` as run `run_id`. Blocking.
pub fn backup(
    config: &Config,
    service: &Service,
    job: &JobSpec,
    cfg: &BackupConfig,
    run_id: &str,
    progress: &ProgressHandle,
) -> Result<BackupDone, EngineError> {
    if config.repository.enabled {
        return super::snapshot_backup::backup(config, service, job, cfg, run_id, progress);
    }
    let now = service.clock().now();
    let layout = Layout::of(config);
    let id = layout::backup_id(&job.id, now, run_id);
    let (codec, level) = compression(config, cfg)?;
    let selected = Selected::of(config, cfg, &job.id)?;
    let mut notes = Vec::new();

    let base = match cfg.mode {
        BackupMode::Full => None,
        BackupMode::Incremental => match find_base(service, &layout, &job.id, cfg) {
            Ok(base) => Some(base),
            Err(why) => {
                notes.push(format!("no usable base ({why}): took a full backup"));
                None
            }
        },
    };

    let perf = Perf::new();
    progress.update(|p| p.phase = "scanning".into());
    let scanning = perf.span(Phase::Scan);
    let (mut scan, dump_names) = selected.scan(&config.data_dir)?;
    let databases = &selected.databases;

    // Which files are read (changed or new); the rest become references.
    let unchanged: Vec<bool> = scan
        .items
        .iter()
        .map(|i| match (&i.kind, &base) {
            (ItemKind::File(stat), Some(b)) => is_unchanged(b, &i.name, i.meta, stat),
            _ => false,
        })
        .collect();
    let files_total = scan.files().count() as u64;
    let bytes_total: u64 = scan
        .items
        .iter()
        .zip(&unchanged)
        .filter_map(|(i, &u)| match &i.kind {
            ItemKind::File(s) if !u => Some(s.size),
            _ => None,
        })
        .sum();
    drop(scanning);
    perf.count(Volume::FilesExamined, files_total);

    let backups_dir = layout.backups_dir();
    fs::create_dir_all(&backups_dir)
        .map_err(io_err(format!("creating {}", backups_dir.display())))?;
    let archive_path = layout.archive(&id);
    let manifest_path = layout.manifest(&id);
    let guard = layout::Partials(vec![
        layout::partial(&archive_path),
        layout::partial(&manifest_path),
    ]);
    let out = File::create_new(&guard.0[0])
        .map_err(io_err(format!("creating {}", guard.0[0].display())))?;
    let seal = layout.seal().map_err(archive_err(&guard.0[0]))?;
    // From here to the writer's finish, what is neither reading nor writing is compression.
    let stage = perf.stage();
    let mut w = ArchiveWriter::with_seal(
        BufWriter::with_capacity(1 << 20, perf.writer(out)),
        WriterOptions {
            codec,
            level,
            ..WriterOptions::default()
        },
        seal.as_ref(),
    )
    .map_err(archive_err(&guard.0[0]))?;

    // Dumps first: a failing dump fails the run before any file is read.
    let scratch = if databases.is_empty() {
        None
    } else {
        Some(Scratch::create(layout.tmp_dir().join(&id))?)
    };
    for (src, name) in databases.iter().zip(&dump_names) {
        progress.update(|p| {
            p.phase = format!("dumping database {}", src.name);
            p.bytes_done = 0;
        });
        let dir = scratch.as_ref().map_or(Path::new(""), |s| s.0.as_path());
        dump::dump(src, dir, progress.cancel(), &mut |r| {
            w.add_stream(name, perf.reader(Progressing::new(r, progress)))
        })?;
    }
    drop(scratch);

    progress.update(|p| {
        p.phase = "writing".into();
        p.bytes_done = 0;
        p.bytes_total = Some(bytes_total);
        p.files_done = 0;
        p.files_total = Some(files_total);
    });
    let mut sidecar: Vec<(&str, Stat)> = Vec::with_capacity(files_total as usize);
    let mut present: HashSet<&str> =
        HashSet::with_capacity_and_hasher(scan.items.len(), Default::default());
    let (mut changed, mut files_done) = (0u64, 0u64);
    let mut skipped = std::mem::take(&mut scan.skipped);
    for (item, &same) in scan.items.iter().zip(&unchanged) {
        // A cancelled run stops between files (and `Progressing` between chunks); returning an
        // error drops `guard`, which removes the partial files.
        cancelled(progress)?;
        let added = match &item.kind {
            ItemKind::Dir => w.add_dir(&item.name, &item.meta),
            ItemKind::Symlink(target) => w.add_symlink(&item.name, &item.meta, target),
            ItemKind::File(stat) => {
                files_done += 1;
                progress.update(|p| p.files_done = files_done);
                if same {
                    let b = base.as_ref().expect("unchanged implies a base");
                    let e = &b.entries[&item.name];
                    sidecar.push((&item.name, *stat));
                    w.add_parent_ref(e.in_parent(&b.id))
                } else {
                    match store_file(
                        &mut w,
                        &item.name,
                        &item.fs_path,
                        item.meta,
                        progress,
                        &perf,
                    ) {
                        Ok(Stored::Yes { warning }) => {
                            changed += 1;
                            sidecar.push((&item.name, *stat));
                            if let Some(why) = warning {
                                skipped.push(warned(&item.fs_path, why));
                            }
                            Ok(())
                        }
                        Ok(Stored::Vanished) => continue,
                        Ok(Stored::Unreadable(why)) => {
                            skipped.push(warned(&item.fs_path, why));
                            continue;
                        }
                        Err(e) => Err(e),
                    }
                }
            }
        };
        added.map_err(archive_err(&guard.0[0]))?;
        present.insert(&item.name);
    }
    for name in &dump_names {
        present.insert(name);
    }
    let mut deleted = 0u64;
    if let Some(b) = &base {
        let mut gone: Vec<&String> = b
            .entries
            .iter()
            .filter(|(p, e)| e.kind != EntryKind::Deletion && !present.contains(p.as_str()))
            .map(|(p, _)| p)
            .collect();
        gone.sort();
        for p in gone {
            w.add_deletion(p).map_err(archive_err(&guard.0[0]))?;
            deleted += 1;
        }
    }

    // The last point of no return: a read cut short by a cancel skipped its file, and what was
    // cancelled must not be published as a success.
    cancelled(progress)?;
    progress.update(|p| p.phase = "syncing".into());
    let (out, summary) = w.finish().map_err(archive_err(&guard.0[0]))?;
    let out = out
        .into_inner()
        .map_err(|e| e.into_error())
        .map_err(io_err(format!("writing {}", guard.0[0].display())))?
        .into_inner();
    perf.end_stage(Phase::Compress, stage);
    let writing = perf.span(Phase::Write);
    out.sync_all()
        .map_err(io_err(format!("syncing {}", guard.0[0].display())))?;
    drop(out);
    manifest::write(&guard.0[1], sidecar.iter().copied())?;
    layout::publish(&guard.0[1], &manifest_path)?;
    layout::publish(&guard.0[0], &archive_path)?;
    layout::fsync_dir(&backups_dir)?;
    guard.disarm();
    drop(writing);
    // Everything in a `.bka` archive is new to storage (no chunk is shared with another backup).
    perf.count(Volume::BytesStored, summary.bytes_written);
    perf.count(Volume::BytesNew, summary.bytes_written);
    perf.count(Volume::FilesChanged, changed);

    let stored_files = sidecar.len() as u64 + dump_names.len() as u64;
    if let Some(b) = &base {
        notes.push(format!(
            "incremental on {}: {changed} of {} files changed or new, {deleted} deleted",
            b.id,
            sidecar.len()
        ));
    }
    if !skipped.is_empty() {
        let first: Vec<String> = skipped
            .iter()
            .take(3)
            .map(|w| format!("{}: {}", w.path, w.reason))
            .collect();
        notes.push(format!(
            "{} warning(s) (entries skipped or changed while read), e.g. {}",
            skipped.len(),
            first.join("; ")
        ));
    }
    Ok(BackupDone {
        record: BackupRecord {
            id: id.clone(),
            job_id: job.id.clone(),
            run_id: run_id.to_string(),
            kind: if base.is_some() {
                BackupKind::Incremental
            } else {
                BackupKind::Full
            },
            parent: base.as_ref().map(|b| b.id.clone()),
            location: Layout::archive_location(&id),
            bytes: summary.bytes_written,
            entries: summary.entries,
            checksum: summary.index_crc32,
            compression: codec.name().to_string(),
            created_at: Ts::from(now),
        },
        files: stored_files,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
        warnings: skipped,
        perf: perf.finish(),
    })
}

fn warned(path: &Path, reason: String) -> RunWarning {
    RunWarning {
        path: path.display().to_string(),
        reason,
    }
}

/// The job's codec and level: explicit options win over the configured default; a codec given
/// without a level uses that codec's default level.
pub(super) fn compression(
    config: &Config,
    cfg: &BackupConfig,
) -> Result<(Codec, i32), EngineError> {
    let bad = |e: ArchiveError| EngineError::Compression {
        reason: e.to_string(),
    };
    match &cfg.compression {
        Some(name) => {
            let codec: Codec = name.parse().map_err(bad)?;
            Ok((codec, cfg.level.unwrap_or(codec.default_level())))
        }
        None => Ok((config.codec.parse().map_err(bad)?, config.level)),
    }
}

/// The base an incremental builds on, with its index and sidecar (see `newest_base`).
fn find_base(
    service: &Service,
    layout: &Layout,
    job_id: &str,
    cfg: &BackupConfig,
) -> Result<Base, String> {
    let now: Ts = service.clock().now().into();
    let newest = service.read(|s| newest_base(s, job_id, &cfg.selection(), now));
    let rec = newest?;
    if crate::repository::is_snapshot_location(&rec.location) {
        return Err(format!(
            "the newest backup {} is a repository snapshot",
            rec.id
        ));
    }
    let path = layout.resolve(&rec.location);
    let f = File::open(&path).map_err(|e| format!("base {}: {e}", rec.id))?;
    let reader = layout
        .open_reader(f)
        .map_err(|e| format!("base {}: {e}", rec.id))?;
    let entries = reader
        .index()
        .entries
        .iter()
        .map(|e| (e.path.clone(), e.clone()))
        .collect();
    Ok(Base {
        sidecar: manifest::read(&layout.manifest(&rec.id)),
        id: rec.id,
        entries,
    })
}

fn is_unchanged(base: &Base, name: &str, meta: crate::archive::EntryMeta, stat: &Stat) -> bool {
    let Some(e) = base.entries.get(name) else {
        return false;
    };
    let index_same = e.kind == EntryKind::File
        && e.location != Location::None
        && e.size == stat.size
        && e.mtime == meta.mtime
        && e.mode == meta.mode;
    let sidecar_same = match &base.sidecar {
        Some(s) => s
            .get(name)
            .is_some_and(|old| old.ino == stat.ino && old.ctime == stat.ctime),
        None => true,
    };
    index_same && sidecar_same
}

enum Stored {
    /// In the archive; `warning` when it changed while it was read (see `store_file`).
    Yes { warning: Option<String> },
    /// Removed since the scan: not part of this backup.
    Vanished,
    /// Could not be opened or read; reported in the note, the run goes on.
    Unreadable(String),
}

/// Streams one file into the archive. A source error (the file went away, could not be read)
/// skips the file; an archive error (the output failed) fails the run.
///
/// A file that changes while it is read (its size or mtime at the end differ from when it was
/// opened, or fewer or more bytes came than it had) is read again, up to `READS` times in all:
/// a torn copy is dropped from the archive (the writer records no entry for a reader that
/// fails). A second read is not always enough: one `ftruncate` sets the size before the mtime,
/// so a read that starts between the two sees the change finish under it. If the last read
/// changes too, that copy is kept and the warning says it may be inconsistent; if not, the
/// warning says it was read again (and what the reads in between saw).
fn store_file(
    w: &mut ArchiveWriter<Out<'_>>,
    name: &str,
    path: &Path,
    meta: crate::archive::EntryMeta,
    progress: &ProgressHandle,
    perf: &Perf,
) -> Result<Stored, ArchiveError> {
    const READS: usize = 3;
    let mut changes: Vec<String> = Vec::new();
    loop {
        let f = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Stored::Vanished),
            Err(e) => return Ok(Stored::Unreadable(e.to_string())),
        };
        let before = match f.metadata() {
            Ok(m) => m,
            Err(e) => return Ok(Stored::Unreadable(e.to_string())),
        };
        let read_failed = Cell::new(None);
        let changed = Cell::new(None);
        let last_try = changes.len() + 1 == READS;
        let reader = Noting {
            inner: Progressing::new(
                Watching {
                    file: &f,
                    before: &before,
                    read: 0,
                    abort: !last_try,
                    changed: &changed,
                },
                progress,
            ),
            failed: &read_failed,
        };
        match w.add_file(name, &meta, perf.reader(reader)) {
            Ok(()) => {
                return Ok(Stored::Yes {
                    warning: reread_warning(&changes, changed.take()),
                });
            }
            Err(e) => match (changed.take(), read_failed.take()) {
                (Some(why), _) if !last_try => changes.push(why),
                (_, Some(why)) => return Ok(Stored::Unreadable(why)),
                (_, None) => return Err(e),
            },
        }
    }
}

/// The warning of a file read more than once: what the first read saw, then each read again;
/// `last` is what the kept (last) read saw, if that changed too.
fn reread_warning(changes: &[String], last: Option<String>) -> Option<String> {
    let (first, between) = changes.split_first()?;
    let mut w = format!("changed while read ({first}); read again");
    for again in between {
        w.push_str(&format!(" and it changed again ({again}); read again"));
    }
    if let Some(again) = last {
        w.push_str(&format!(
            " and it changed again ({again}): stored as read the last time, possibly \
             inconsistent (changed during backup)"
        ));
    }
    Some(w)
}

/// Reads a file and notices at its end whether it changed while read: its size or mtime now
/// differ from `before`, or the bytes read differ from its size then. With `abort` a change is
/// a read error (so the writer drops the entry), else it is only noted in `changed`.
struct Watching<'a> {
    file: &'a File,
    before: &'a fs::Metadata,
    read: u64,
    abort: bool,
    changed: &'a Cell<Option<String>>,
}

impl Read for Watching<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (&*self.file).read(buf)?;
        self.read += n as u64;
        if n > 0 || buf.is_empty() {
            return Ok(n);
        }
        let now = self.file.metadata()?;
        let mtime = |m: &fs::Metadata| m.modified().ok();
        let why = if now.len() != self.before.len() || self.read != self.before.len() {
            Some(format!(
                "size {} when opened, {} bytes read, size {} at the end",
                self.before.len(),
                self.read,
                now.len()
            ))
        } else if mtime(&now) != mtime(self.before) {
            Some("modified while read, same size".to_string())
        } else {
            None
        };
        if let Some(why) = why {
            self.changed.set(Some(why.clone()));
            if self.abort {
                return Err(io::Error::other(format!("changed while read: {why}")));
            }
        }
        Ok(0)
    }
}

/// Remembers whether an error came from the source (as opposed to the archive output).
struct Noting<'a, R> {
    inner: R,
    failed: &'a Cell<Option<String>>,
}

impl<R: Read> Read for Noting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            self.failed.set(Some(e.to_string()));
        })
    }
}

/// Reports bytes read to the run's progress every few MiB.
struct Progressing<'a, R> {
    inner: R,
    progress: &'a ProgressHandle,
    unreported: u64,
}

impl<'a, R> Progressing<'a, R> {
    fn new(inner: R, progress: &'a ProgressHandle) -> Self {
        Progressing {
            inner,
            progress,
            unreported: 0,
        }
    }

    fn flush(&mut self) {
        let n = std::mem::take(&mut self.unreported);
        if n > 0 {
            self.progress.update(|p| p.bytes_done += n);
        }
    }
}

impl<R: Read> Read for Progressing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.progress.cancel().check()?;
        let n = self.inner.read(buf)?;
        self.unreported += n as u64;
        if n == 0 || self.unreported >= 4 << 20 {
            self.flush();
        }
        Ok(n)
    }
}

impl<R> Drop for Progressing<'_, R> {
    fn drop(&mut self) {
        let n = std::mem::take(&mut self.unreported);
        if n > 0 {
            self.progress.update(|p| p.bytes_done += n);
        }
    }
}

/// `Err(Cancelled)` once the run was told to stop.
fn cancelled(progress: &ProgressHandle) -> Result<(), EngineError> {
    if progress.cancel().is_stopped() {
        Err(EngineError::Cancelled)
    } else {
        Ok(())
    }
}

fn archive_err(path: &Path) -> impl FnOnce(ArchiveError) -> EngineError + '_ {
    move |source| EngineError::Archive {
        context: format!("writing {}", path.display()),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::reread_warning;

    #[test]
    fn a_reread_warning_names_every_read_that_changed() {
        assert_eq!(reread_warning(&[], None), None);
        assert_eq!(
            reread_warning(&["a".into()], None).unwrap(),
            "changed while read (a); read again"
        );
        assert_eq!(
            reread_warning(&["a".into(), "b".into()], None).unwrap(),
            "changed while read (a); read again and it changed again (b); read again"
        );
        let kept_torn = reread_warning(&["a".into(), "b".into()], Some("c".into())).unwrap();
        assert!(
            kept_torn.ends_with(
                "(b); read again and it changed again (c): stored as read the last time, \
                 possibly inconsistent (changed during backup)"
            ),
            "{kept_torn}"
        );
    }
}
