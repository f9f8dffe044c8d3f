//! A backup run into the deduplicated repository (`[repository] enabled = true`,
//! schema/repository.md): the same sources as an archive backup, every file and dump cut into
//! chunks of which only those the repository lacks are stored, and a complete snapshot written
//! and recorded (`snapshot_recorded`) after the packs it uses (`pack_written`).
//!
//! Full reads and hashes every file. Incremental takes over the chunk list of each file whose
//! size, mtime and mode are those of the job's newest snapshot (if every chunk is still where
//! the lookup finds it), and reads the rest; its snapshot is complete all the same (no parent).

use rustc_hash::FxHashMap as HashMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use super::backup::{compression, BackupDone};
use super::dump::{self, Scratch};
use super::layout::{self, io_err, Layout};
use super::perf::{Perf, Phase, Volume};
use super::read_ahead::{self, Ahead, ReadAhead};
use super::sources::{ItemKind, Selected};
use super::EngineError;
use crate::archive::{ArchiveError, EntryKind, Mtime};
use crate::config::Config;
use crate::decide::Command;
use crate::domain::base::newest_base;
use crate::events::{
    BackupConfig, BackupKind, BackupMode, BackupRecord, JobSpec, PackRecord, RunWarning, Ts,
};
use crate::progress::ProgressHandle;
use crate::repository::hashed::HintBuf;
use crate::repository::{self, RepoError, SnapEntry, Snapshot, Stored, Writer};
use crate::service::Service;

/// Runs one backup of `job` into the repository as run `run_id`. Blocking.
pub fn backup(
    config: &Config,
    service: &Service,
    job: &JobSpec,
    cfg: &BackupConfig,
    run_id: &str,
    progress: &ProgressHandle,
) -> Result<BackupDone, EngineError> {
    let now = service.clock().now();
    let layout = Layout::of(config);
    let id = layout::backup_id(&job.id, now, run_id);
    let (codec, level) = compression(config, cfg)?;
    let selected = Selected::of(config, cfg, &job.id)?;
    let mut notes = Vec::new();

    // Where chunks are: the service's repository projection, copied (about 90 bytes a chunk)
    // so the state's lock is not held while this run records its own packs. A prune cannot
    // delete a pack under it: `packs_deleted` is refused while a backup run is in flight.
    let lookup = service.read(|s| s.repository.clone());

    // The job's newest snapshot: an incremental takes over the chunk lists of unchanged files;
    // a full reads and hashes every file, but a file of the same size is first hashed range by
    // range as that snapshot cut it, which spares cutting it again when nothing changed
    // (`hash_stream`'s hint). A full without one only cuts every file.
    let newest = parent_snapshot(service, &layout, &job.id, cfg, &lookup);
    let (parent, hints_from) = match (cfg.mode, newest) {
        (BackupMode::Full, newest) => (None, newest.ok()),
        (BackupMode::Incremental, Ok(p)) => (Some(p), None),
        (BackupMode::Incremental, Err(why)) => {
            notes.push(format!(
                "no snapshot to compare with ({why}): read every file"
            ));
            (None, None)
        }
    };

    let perf = Perf::new();
    let scanning = perf.span(Phase::Scan);
    progress.update(|p| p.phase = "scanning".into());
    let (mut scan, dump_names) = selected.scan(&config.data_dir)?;
    drop(scanning);
    let databases = &selected.databases;
    // Dumping, reading, chunking, hashing and compressing interleave in the repository writer:
    // the stage's wall time is `compress`, less the pack writes timed inside it (as an
    // archive backup's stage holds its dumps too).
    let stage = perf.stage();

    let snaps = config.data_dir.join(repository::SNAPSHOTS);
    fs::create_dir_all(&snaps).map_err(io_err(format!("creating {}", snaps.display())))?;
    let snap_path = config.data_dir.join(repository::snapshot_location(&id));
    let guard = layout::Partials(vec![layout::partial(&snap_path)]);
    let seal = layout.seal().map_err(|source| EngineError::Archive {
        context: "sealing the repository".into(),
        source,
    })?;
    let meta = super::maintenance::run_meta(service, run_id);
    let on_pack = |p: &PackRecord| -> Result<(), RepoError> {
        let cmd = Command::RecordPack {
            run_id: run_id.to_string(),
            pack: p.clone(),
        };
        smol::block_on(service.execute(cmd, meta.clone()))
            .map(drop)
            .map_err(|e| RepoError::Other(format!("recording pack {}: {e}", p.id)))
    };
    let mut w = Writer::new(
        &config.data_dir,
        layout.key(),
        seal,
        &lookup,
        codec,
        level,
        run_id,
        Box::new(on_pack),
    )
    .map_err(repo_err)?;

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
        let mut failed: Option<RepoError> = None;
        let mut stored: Option<Stored> = None;
        let res = dump::dump(src, dir, progress.cancel(), &mut |r| match w
            .put(Counting { inner: r, progress })
        {
            Ok(Ok(s)) => {
                stored = Some(s);
                Ok(())
            }
            Ok(Err(e)) => {
                let msg = e.to_string();
                failed = Some(e);
                Err(ArchiveError::Io {
                    context: format!("storing dump {name}"),
                    source: io::Error::other(msg),
                })
            }
            Err(e) => Err(ArchiveError::Io {
                context: format!("reading dump {name}"),
                source: e,
            }),
        });
        if let Some(e) = failed {
            return Err(repo_err(e));
        }
        res?;
        let s = stored.ok_or_else(|| EngineError::Internal {
            reason: format!("dump {name} produced no stream"),
        })?;
        w.add_entry(SnapEntry {
            path: name.clone(),
            kind: EntryKind::Stream,
            mode: 0o600,
            mtime: Mtime::now(),
            size: s.size,
            crc32: s.crc32,
            chunks: s.chunks,
        });
    }
    drop(scratch);

    let files_total = scan.files().count() as u64;
    perf.count(Volume::FilesExamined, files_total);
    let mut bytes_read = 0u64;
    progress.update(|p| {
        p.phase = "writing".into();
        p.bytes_done = 0;
        p.bytes_total = Some(scan.files().map(|(_, s)| s.size).sum());
        p.files_done = 0;
        p.files_total = Some(files_total);
    });
    let (mut read, mut reused, mut files_done, mut stored_files) = (0u64, 0u64, 0u64, 0u64);
    let mut skipped = std::mem::take(&mut scan.skipped);
    // Per item, the parent's entry of a file whose size, mtime and mode are unchanged (an
    // incremental reuses its chunk list); every other file is hashed ahead on worker threads.
    let unchanged: Vec<Option<&SnapEntry>> = scan
        .items
        .iter()
        .map(|item| {
            let (ItemKind::File(stat), Some((snap, by_path))) = (&item.kind, &parent) else {
                return None;
            };
            let e = &snap.entries[*by_path.get(item.name.as_str())?];
            let same = e.kind == EntryKind::File
                && e.size == stat.size
                && e.mtime == item.meta.mtime
                && e.mode == item.meta.mode;
            same.then_some(e)
        })
        .collect();
    let mut ahead_of = vec![None; scan.items.len()];
    let mut paths: Vec<&Path> = Vec::new();
    let mut hints: Vec<Option<HintBuf>> = Vec::new();
    let previous = parent.as_ref().or(hints_from.as_ref());
    for (i, item) in scan.items.iter().enumerate() {
        let ItemKind::File(stat) = &item.kind else {
            continue;
        };
        if unchanged[i].is_none() {
            ahead_of[i] = Some(paths.len());
            paths.push(&item.fs_path);
            hints.push(previous.and_then(|(snap, by_path)| {
                let e = &snap.entries[*by_path.get(item.name.as_str())?];
                (e.kind == EntryKind::File && e.size == stat.size && e.size > 0).then(|| {
                    e.chunks
                        .iter()
                        .map(|&k| (snap.chunks[k as usize].id, snap.chunks[k as usize].raw_len))
                        .collect()
                })
            }));
        }
    }
    let key = w.chunk_key().clone();
    let shared = read_ahead::Shared::new(&key, &lookup, progress);
    std::thread::scope(|s| -> Result<(), EngineError> {
        let mut ahead = ReadAhead::start(s, &shared, &paths, &hints);
        for (i, item) in scan.items.iter().enumerate() {
            cancelled(progress)?;
            let entry = |kind, size, crc32, chunks| SnapEntry {
                path: item.name.clone(),
                kind,
                mode: item.meta.mode,
                mtime: item.meta.mtime,
                size,
                crc32,
                chunks,
            };
            match &item.kind {
                ItemKind::Dir => w.add_entry(entry(EntryKind::Dir, 0, 0, vec![])),
                ItemKind::Symlink(target) => w.add_entry(entry(
                    EntryKind::Symlink {
                        target: target.clone(),
                    },
                    0,
                    0,
                    vec![],
                )),
                ItemKind::File(_) => {
                    files_done += 1;
                    progress.update(|p| p.files_done = files_done);
                    if let (Some(e), Some((snap, _))) = (unchanged[i], &parent) {
                        if let Some(list) = w.reuse_list(snap, &e.chunks) {
                            reused += 1;
                            stored_files += 1;
                            w.add_entry(entry(EntryKind::File, e.size, e.crc32, list));
                            continue;
                        }
                    }
                    let got = match ahead_of[i].map(|j| ahead.take(j)) {
                        Some(Ahead::Hashed(h)) => FileRead::Yes {
                            stored: w.put_hashed(h).map_err(repo_err)?,
                            warning: None,
                        },
                        // Not hashed ahead, or the chunks of an unchanged file are gone.
                        Some(Ahead::Yourself) | None => put_file(&mut w, &item.fs_path, progress)?,
                    };
                    match got {
                        FileRead::Yes { stored, warning } => {
                            read += 1;
                            bytes_read += stored.size;
                            stored_files += 1;
                            if let Some(why) = warning {
                                skipped.push(warned(&item.fs_path, why));
                            }
                            w.add_entry(entry(
                                EntryKind::File,
                                stored.size,
                                stored.crc32,
                                stored.chunks,
                            ));
                        }
                        FileRead::Vanished => {}
                        FileRead::Unreadable(why) => skipped.push(warned(&item.fs_path, why)),
                    }
                }
            }
        }
        Ok(())
    })?;

    cancelled(progress)?;
    perf.end_stage(Phase::Compress, stage);
    progress.update(|p| p.phase = "syncing".into());
    let done = perf.time(Phase::Write, || w.finish(&guard.0[0]).map_err(repo_err))?;
    layout::publish(&guard.0[0], &snap_path)?;
    layout::fsync_dir(&snaps)?;
    guard.disarm();
    crash(crate::failpoint::SNAPSHOT_BEFORE_RECORD)?;

    let kind = if parent.is_some() {
        BackupKind::Incremental
    } else {
        BackupKind::Full
    };
    let record = BackupRecord {
        id: id.clone(),
        job_id: job.id.clone(),
        run_id: run_id.to_string(),
        kind,
        parent: None,
        location: repository::snapshot_location(&id),
        // What this backup added to the disk: its new chunks and its snapshot file.
        bytes: done.refs.new_bytes + done.snap_bytes,
        entries: done.entries,
        checksum: done.checksum,
        compression: codec.name().to_string(),
        created_at: Ts::from(now),
    };
    let cmd = Command::RecordSnapshot {
        run_id: run_id.to_string(),
        backup: record.clone(),
        snapshot: done.refs.clone(),
    };
    if let Err(e) = smol::block_on(service.execute(cmd, meta)) {
        // Not recorded (the run was cancelled meanwhile, say): the file must not outlive it.
        layout::remove_quietly(&snap_path);
        return Err(EngineError::Record {
            context: format!("recording snapshot {id}"),
            source: Box::new(e),
        });
    }

    notes.push(format!(
        "snapshot: {} of {} bytes new ({} new chunks of {}){}",
        done.refs.new_bytes,
        done.refs.logical_bytes,
        done.refs.new_chunks,
        done.refs.chunks,
        match &parent {
            Some(_) => format!("; {reused} files unchanged, {read} read"),
            None => String::new(),
        }
    ));
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
    perf.count(Volume::BytesRead, bytes_read);
    perf.count(Volume::FilesChanged, read);
    // Stored: what the snapshot's chunks take in their packs (shared ones included); new: what
    // this run added. Their ratio is what deduplication saved.
    let shared: u64 = done
        .refs
        .packs
        .iter()
        .filter_map(|r| Some((lookup.pack(&r.pack)?, &r.frames)))
        .map(|(pack, frames)| {
            pack.frames
                .iter()
                .enumerate()
                .filter(|(i, _)| frames.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0))
                .map(|(_, c)| u64::from(c.stored_len))
                .sum::<u64>()
        })
        .sum();
    perf.count(Volume::BytesStored, shared + done.refs.new_bytes);
    perf.count(Volume::BytesNew, done.refs.new_bytes);
    Ok(BackupDone {
        perf: perf.finish(),
        record,
        files: stored_files + dump_names.len() as u64,
        note: Some(notes.join("; ")),
        warnings: skipped,
    })
}

/// The newest snapshot of the same things (`newest_base`), read, with its entries by path.
fn parent_snapshot(
    service: &Service,
    layout: &Layout,
    job_id: &str,
    cfg: &BackupConfig,
    lookup: &dyn repository::ChunkLookup,
) -> Result<(Snapshot, HashMap<String, usize>), String> {
    let now: Ts = service.clock().now().into();
    let rec = service.read(|s| newest_base(s, job_id, &cfg.selection(), now))?;
    if !repository::is_snapshot_location(&rec.location) {
        return Err(format!("the newest backup {} is an archive", rec.id));
    }
    let snap = repository::load_snapshot(
        &layout.data_dir,
        &layout.resolve(&rec.location),
        layout.key(),
        lookup,
    )
    .map_err(|e| format!("snapshot {}: {e}", rec.id))?;
    let by_path = snap
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.path.clone(), i))
        .collect();
    Ok((snap, by_path))
}

enum FileRead {
    Yes {
        stored: Stored,
        warning: Option<String>,
    },
    Vanished,
    Unreadable(String),
}

/// Reads one file into the repository. A file that changes while read (size or mtime differ
/// at the end, or another number of bytes came) is read again, three reads in all; the last
/// read is kept with a warning. Chunks of a dropped read stay in the pack unreferenced.
fn put_file(
    w: &mut Writer<'_>,
    path: &Path,
    progress: &ProgressHandle,
) -> Result<FileRead, EngineError> {
    const READS: usize = 3;
    let mut changes: Vec<String> = Vec::new();
    loop {
        let f = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(FileRead::Vanished),
            Err(e) => return Ok(FileRead::Unreadable(e.to_string())),
        };
        let before = match f.metadata() {
            Ok(m) => m,
            Err(e) => return Ok(FileRead::Unreadable(e.to_string())),
        };
        let stored = match w.put_parallel(Counting {
            inner: &f,
            progress,
        }) {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(repo_err(e)),
            Err(_) if progress.cancel().is_stopped() => return Err(EngineError::Cancelled),
            Err(e) => return Ok(FileRead::Unreadable(e.to_string())),
        };
        let after = f.metadata().ok();
        let changed = match &after {
            a if same_while_read(&before, stored.size, a.as_ref()) => None,
            _ => Some(format!(
                "size {} when opened, {} bytes read, size {} at the end",
                before.len(),
                stored.size,
                after.as_ref().map_or(0, |a| a.len())
            )),
        };
        match changed {
            None if changes.is_empty() => {
                return Ok(FileRead::Yes {
                    stored,
                    warning: None,
                })
            }
            None => {
                return Ok(FileRead::Yes {
                    stored,
                    warning: Some(format!(
                        "changed while read ({}); read again",
                        changes.join("; ")
                    )),
                })
            }
            Some(why) if changes.len() + 1 < READS => changes.push(why),
            Some(why) => {
                changes.push(why);
                return Ok(FileRead::Yes {
                    stored,
                    warning: Some(format!(
                        "changed while read ({}): stored as read the last time, possibly \
                         inconsistent (changed during backup)",
                        changes.join("; ")
                    )),
                });
            }
        }
    }
}

/// Whether a file read `read` bytes and its metadata before and after say it did not change
/// while read.
pub(super) fn same_while_read(
    before: &fs::Metadata,
    read: u64,
    after: Option<&fs::Metadata>,
) -> bool {
    after.is_some_and(|a| {
        a.len() == before.len()
            && read == before.len()
            && a.modified().ok() == before.modified().ok()
    })
}

/// Tells the run's progress the bytes read and stops at a cancel.
pub(super) struct Counting<'a, R> {
    pub inner: R,
    pub progress: &'a ProgressHandle,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.progress.cancel().check()?;
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.progress.update(|p| p.bytes_done += n as u64);
        }
        Ok(n)
    }
}

fn warned(path: &Path, reason: String) -> RunWarning {
    RunWarning {
        path: path.display().to_string(),
        reason,
    }
}

fn cancelled(progress: &ProgressHandle) -> Result<(), EngineError> {
    if progress.cancel().is_stopped() {
        Err(EngineError::Cancelled)
    } else {
        Ok(())
    }
}

/// A repository failure as the engine reports it (its kind kept: damage is integrity).
pub(super) fn repo_err(e: RepoError) -> EngineError {
    match e {
        RepoError::Io { context, source } => EngineError::Io { context, source },
        RepoError::Archive { context, source } => EngineError::Archive { context, source },
        RepoError::Other(reason) => EngineError::Internal { reason },
        other => EngineError::Archive {
            context: "the repository".into(),
            source: ArchiveError::BadIndex {
                reason: other.to_string(),
            },
        },
    }
}

/// A crash point (`failpoint`) as the engine reports it.
pub(super) fn crash(point: &'static str) -> Result<(), EngineError> {
    crate::failpoint::hit(point).map_err(|reason| EngineError::Internal { reason })
}
