//! The weekly archive's body: one backup's state (its index is the complete manifest) merged
//! with the bytes its chain holds into a single self-contained archive at the archive codec,
//! verified, and published crash-safely under `archives/`.
//!
//! Bytes move holder by holder: the entries one archive holds are extracted in batches into the
//! run's scratch directory (one front-to-back pass over that archive's frames per batch) and
//! streamed from there into the writer, so memory is bounded by frames, never by a file, and
//! scratch disk by the batch size. `read_entry` per entry would stream too, but it decodes a
//! whole frame for every small file in it: a frame of a thousand files decoded a thousand times.
//!
//! Verification reads the synced `.partial` back from disk before the rename, so a run that dies
//! or fails before the archive is proven leaves only a partial (which `reconcile` removes), never
//! an unproven `.bka`.

use rustc_hash::FxHashMap as HashMap;
use std::fs::{self, File};
use std::io::BufWriter;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::dump::Scratch;
use super::layout::{self, io_err, Layout};
use super::EngineError;
use crate::archive::{
    ArchiveError, ArchiveReader, ArchiveWriter, Codec, EntryKind, EntryMeta, ExtractOptions, Index,
    IndexEntry, Location, WriterOptions,
};
use crate::config::Config;
use crate::events::{BackupKind, BackupRecord, Ts};
use crate::progress::ProgressHandle;
use crate::service::Service;

/// A published, verified weekly archive: the record for the `backup_recorded` event and what
/// went into it.
#[derive(Debug, Clone)]
pub struct ConsolidateDone {
    pub record: BackupRecord,
    /// The backup whose state was merged.
    pub source_id: String,
    /// The chain that supplied bytes, newest first: the source, ..., its full.
    pub merged: Vec<String>,
    /// Files and dumps in the archive.
    pub files: u64,
}

/// Content extracted to scratch per pass: bounds the scratch disk a merge needs.
const BATCH_BYTES: u64 = 256 << 20;
/// Entries per pass: bounds the scratch directory in inodes; each pass matches its selection
/// against the whole holder index, so passes must not be too many either.
const BATCH_ENTRIES: usize = 1 << 16;

/// Merges backup `source_id` and its chain into the archive `archives/<id>.bka` of job
/// `archive_job_id`, run `run_id`. Blocking. Returns only after the archive verified; the caller
/// records it.
pub fn consolidate(
    config: &Config,
    service: &Service,
    archive_job_id: &str,
    run_id: &str,
    source_id: &str,
    progress: &ProgressHandle,
) -> Result<ConsolidateDone, EngineError> {
    let now = service.clock().now();
    let layout = Layout::of(config);
    // One run archives several sources in the same second: the source is part of what makes
    // the id unique.
    let id = layout::backup_id(archive_job_id, now, &format!("{run_id} {source_id}"));
    let codec: Codec =
        config
            .archive_codec
            .parse()
            .map_err(|e: ArchiveError| EngineError::Compression {
                reason: e.to_string(),
            })?;
    let level = config.archive_level;

    // Cloned out: the state is not held across slow I/O.
    let chain: Vec<BackupRecord> = service.read(|s| {
        s.catalog
            .chain(source_id)
            .into_iter()
            .map(|b| b.record.clone())
            .collect()
    });
    if chain.is_empty() {
        return Err(EngineError::UnknownBackup {
            id: source_id.to_string(),
        });
    }

    progress.update(|p| p.phase = "reading the index".into());
    let source = open_archive(service, &layout, &chain[0])?;
    let manifest: Vec<IndexEntry> = source.index().entries.clone();
    let mut source = Some(source);
    let fail = |holder: usize, path: &str, reason: String| {
        if holder == 0 {
            EngineError::DamagedEntry {
                id: source_id.to_string(),
                path: path.to_string(),
                reason,
            }
        } else {
            EngineError::BrokenChain {
                id: source_id.to_string(),
                path: path.to_string(),
                parent: chain[holder].id.clone(),
                reason,
            }
        }
    };

    // Which backup of the chain holds each file's bytes (0 is the source itself).
    let mut by_holder: Vec<Vec<usize>> = vec![Vec::new(); chain.len()];
    let (mut files_total, mut bytes_total) = (0u64, 0u64);
    for (i, e) in manifest.iter().enumerate() {
        if !e.kind.has_content() {
            continue;
        }
        let holder = match &e.location {
            Location::Here { .. } => 0,
            Location::Parent { backup } => {
                chain.iter().position(|b| b.id == *backup).ok_or_else(|| {
                    EngineError::BrokenChain {
                        id: source_id.to_string(),
                        path: e.path.clone(),
                        parent: backup.clone(),
                        reason: "is not in its chain in the catalog".into(),
                    }
                })?
            }
            Location::None => {
                return Err(fail(0, &e.path, "a file without a location".into()));
            }
        };
        by_holder[holder].push(i);
        files_total += 1;
        bytes_total += e.size;
    }

    let archives_dir = layout.archives_dir();
    fs::create_dir_all(&archives_dir)
        .map_err(io_err(format!("creating {}", archives_dir.display())))?;
    let dest = layout.consolidated(&id);
    let partial = layout::partial(&dest);
    let guard = layout::Partials(vec![partial.clone()]);
    let out =
        File::create_new(&partial).map_err(io_err(format!("creating {}", partial.display())))?;
    let seal = layout.seal().map_err(write_err(&partial))?;
    let mut w = ArchiveWriter::with_seal(
        BufWriter::with_capacity(1 << 20, out),
        WriterOptions {
            codec,
            level,
            ..WriterOptions::default()
        },
        seal.as_ref(),
    )
    .map_err(write_err(&partial))?;
    let scratch = Scratch::create(layout.tmp_dir().join(&id))?;

    for e in &manifest {
        let meta = EntryMeta::new(e.mode, e.mtime);
        match &e.kind {
            EntryKind::Dir => w.add_dir(&e.path, &meta),
            EntryKind::Symlink { target } => w.add_symlink(&e.path, &meta, target),
            // The archive is the state, not a delta: what is gone is simply absent.
            EntryKind::Deletion | EntryKind::File | EntryKind::Stream => Ok(()),
        }
        .map_err(write_err(&partial))?;
    }

    progress.update(|p| {
        p.phase = "merging".into();
        p.bytes_done = 0;
        p.bytes_total = Some(bytes_total);
        p.files_done = 0;
        p.files_total = Some(files_total);
    });
    let mut batch_no = 0u64;
    for (h, ids) in by_holder.iter().enumerate() {
        if ids.is_empty() {
            continue;
        }
        let holder = &chain[h];
        let reused = if h == 0 { source.take() } else { None };
        let mut reader = match reused {
            Some(r) => r,
            None => open_archive(service, &layout, holder)
                .map_err(|e| fail(h, &manifest[ids[0]].path, format!("cannot be read: {e}")))?,
        };
        // The holder must hold exactly the bytes the manifest names (as verify checks), and
        // its body offsets give the order that reads each frame once.
        let mut todo: Vec<(u64, usize)> = Vec::with_capacity(ids.len());
        {
            let held: HashMap<&str, &IndexEntry> = reader
                .index()
                .entries
                .iter()
                .map(|e| (e.path.as_str(), e))
                .collect();
            for &i in ids {
                let e = &manifest[i];
                let p = held
                    .get(e.path.as_str())
                    .ok_or_else(|| fail(h, &e.path, "has no such entry".into()))?;
                match p.location {
                    Location::Here { offset }
                        if p.kind.has_content() && p.size == e.size && p.crc32 == e.crc32 =>
                    {
                        todo.push((offset, i))
                    }
                    _ => {
                        return Err(fail(
                            h,
                            &e.path,
                            "does not hold these bytes (size, checksum or location differ)".into(),
                        ))
                    }
                }
            }
        }
        todo.sort_unstable();

        for batch in batches(&todo, &manifest) {
            batch_no += 1;
            let dir = scratch.0.join(batch_no.to_string());
            let names: Vec<String> = batch
                .iter()
                .map(|&(_, i)| manifest[i].path.clone())
                .collect();
            progress.update(|p| p.phase = format!("merging: reading backup {}", holder.id));
            reader
                .extract_with(&dir, &names, &ExtractOptions::default())
                .map_err(|e| {
                    let path = culprit(&e, reader.index(), batch, &manifest);
                    fail(h, path, format!("cannot be read: {e}"))
                })?;
            progress.update(|p| p.phase = "merging: writing".into());
            for &(_, i) in batch {
                let e = &manifest[i];
                add_extracted(&mut w, e, &dir.join(&e.path), &partial)?;
                let got = w.entries().last().map(|a| (a.size, a.crc32));
                if got != Some((e.size, e.crc32)) {
                    return Err(fail(
                        h,
                        &e.path,
                        "gave bytes that differ from the manifest (size or checksum)".into(),
                    ));
                }
                progress.update(|p| {
                    p.files_done += 1;
                    p.bytes_done += e.size;
                });
            }
            fs::remove_dir_all(&dir).map_err(io_err(format!("removing {}", dir.display())))?;
        }
    }
    drop(scratch);

    progress.update(|p| p.phase = "syncing".into());
    let (out, summary) = w.finish().map_err(write_err(&partial))?;
    let out = out
        .into_inner()
        .map_err(|e| e.into_error())
        .map_err(io_err(format!("writing {}", partial.display())))?;
    out.sync_all()
        .map_err(io_err(format!("syncing {}", partial.display())))?;
    drop(out);

    progress.update(|p| p.phase = "verifying".into());
    check_written(&layout, &partial, &id, &manifest, files_total)?;

    layout::publish(&partial, &dest)?;
    layout::fsync_dir(&archives_dir)?;
    guard.disarm();

    Ok(ConsolidateDone {
        record: BackupRecord {
            id: id.clone(),
            job_id: archive_job_id.to_string(),
            run_id: run_id.to_string(),
            kind: BackupKind::Archive,
            parent: None,
            location: Layout::consolidated_location(&id),
            bytes: summary.bytes_written,
            entries: summary.entries,
            checksum: summary.index_crc32,
            compression: codec.name().to_string(),
            created_at: Ts::from(now),
        },
        source_id: source_id.to_string(),
        merged: chain.into_iter().map(|b| b.id).collect(),
        files: files_total,
    })
}

/// Opens a recorded backup's archive, by the location in its record.
fn open_archive(
    service: &Service,
    layout: &Layout,
    rec: &BackupRecord,
) -> Result<ArchiveReader<File>, EngineError> {
    let path = layout.resolve(&rec.location);
    if crate::repository::is_snapshot_location(&rec.location) {
        // The projection finds chunks a prune repacked; opening reads only the snapshot and
        // its packs' indexes, so holding the state meanwhile is brief.
        return service
            .read(|s| super::restore::open_snapshot_backup(layout, &rec.id, &path, &s.repository));
    }
    let f = File::open(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            EngineError::MissingArchive {
                id: rec.id.clone(),
                path: path.clone(),
            }
        } else {
            EngineError::Io {
                context: format!("opening {}", path.display()),
                source: e,
            }
        }
    })?;
    layout
        .open_reader(f)
        .map_err(|source| EngineError::Archive {
            context: format!("backup {} ({})", rec.id, path.display()),
            source,
        })
}

/// Splits `(offset, manifest index)` pairs, in body order, into passes of bounded size; a file
/// larger than the bound is a pass of its own.
fn batches<'a>(
    todo: &'a [(u64, usize)],
    manifest: &'a [IndexEntry],
) -> impl Iterator<Item = &'a [(u64, usize)]> + 'a {
    let mut rest = todo;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut bytes = 0u64;
        let mut n = 0usize;
        while n < rest.len() && n < BATCH_ENTRIES {
            let size = manifest[rest[n].1].size;
            if n > 0 && bytes + size > BATCH_BYTES {
                break;
            }
            bytes += size;
            n += 1;
        }
        let (batch, tail) = rest.split_at(n);
        rest = tail;
        Some(batch)
    })
}

/// Streams one extracted file into the writer with the source manifest's metadata.
fn add_extracted(
    w: &mut ArchiveWriter<BufWriter<File>>,
    e: &IndexEntry,
    scratch_file: &Path,
    partial: &Path,
) -> Result<(), EngineError> {
    // Extraction gave the copy the entry's mode; one without read permission must not stop us
    // reading our own scratch copy.
    fs::set_permissions(scratch_file, fs::Permissions::from_mode(0o600))
        .map_err(io_err(format!("opening {}", scratch_file.display())))?;
    let f =
        File::open(scratch_file).map_err(io_err(format!("opening {}", scratch_file.display())))?;
    let meta = EntryMeta::new(e.mode, e.mtime);
    match e.kind {
        EntryKind::Stream => w.add_stream_with(&e.path, &meta, f),
        _ => w.add_file(&e.path, &meta, f),
    }
    .map_err(write_err(partial))
}

/// The entry a read error is about: named by the error, or the first of `batch` whose bytes lie
/// in the failing frame, or else the batch's first (extraction stops at the first failure).
fn culprit<'a>(
    err: &'a ArchiveError,
    index: &Index,
    batch: &[(u64, usize)],
    manifest: &'a [IndexEntry],
) -> &'a str {
    let first = &manifest[batch[0].1].path;
    let frame = match err {
        ArchiveError::EntryChecksum { path } => return path,
        ArchiveError::FrameChecksum { frame, .. } | ArchiveError::Decompress { frame, .. } => {
            *frame
        }
        _ => return first,
    };
    let Some((start, end)) = frame_range(index, frame) else {
        return first;
    };
    batch
        .iter()
        .map(|&(offset, i)| (offset, &manifest[i]))
        .find(|(offset, e)| *offset < end && offset + e.size.max(1) > start)
        .map_or(first, |(_, e)| &e.path)
}

/// The uncompressed body range `[start, end)` of frame `frame`.
fn frame_range(index: &Index, frame: u64) -> Option<(u64, u64)> {
    let i = usize::try_from(frame).ok()?;
    let start: u64 = index
        .frames
        .get(..i)?
        .iter()
        .map(|f| u64::from(f.raw_len))
        .sum();
    let len = u64::from(index.frames.get(i)?.raw_len);
    Some((start, start + len))
}

/// Reads the written archive back from disk: every frame and entry checksum, and every entry
/// as the source's manifest has it, held here.
fn check_written(
    layout: &Layout,
    path: &Path,
    id: &str,
    manifest: &[IndexEntry],
    files: u64,
) -> Result<(), EngineError> {
    let archive_err = |source| EngineError::Archive {
        context: format!("verifying the written archive {}", path.display()),
        source,
    };
    let damaged = |entry: &str, reason: String| EngineError::DamagedEntry {
        id: id.to_string(),
        path: entry.to_string(),
        reason,
    };
    let f = File::open(path).map_err(io_err(format!("opening {}", path.display())))?;
    let mut r = layout.open_reader(f).map_err(archive_err)?;
    match r.verify() {
        Ok(s) if s.parent_refs == 0 && s.deletions == 0 && s.files + s.streams == files => {}
        Ok(s) => {
            return Err(damaged(
                "",
                format!("the written archive is not the merged state: {s}"),
            ))
        }
        Err(ArchiveError::EntryChecksum { path }) => {
            return Err(damaged(&path, "content checksum mismatch".into()))
        }
        Err(
            e
            @ (ArchiveError::FrameChecksum { frame, .. } | ArchiveError::Decompress { frame, .. }),
        ) => {
            let entry = frame_range(r.index(), frame)
                .and_then(|(start, end)| {
                    r.index().entries.iter().find(|e| match e.location {
                        Location::Here { offset } => offset < end && offset + e.size.max(1) > start,
                        _ => false,
                    })
                })
                .map_or(String::new(), |e| e.path.clone());
            return Err(damaged(&entry, e.to_string()));
        }
        Err(e) => return Err(archive_err(e)),
    }
    let want: HashMap<&str, &IndexEntry> = manifest
        .iter()
        .filter(|e| e.kind != EntryKind::Deletion)
        .map(|e| (e.path.as_str(), e))
        .collect();
    if r.index().entries.len() != want.len() {
        return Err(damaged(
            "",
            format!(
                "the written archive has {} entries, the source's state {}",
                r.index().entries.len(),
                want.len()
            ),
        ));
    }
    for got in &r.index().entries {
        let same = want.get(got.path.as_str()).is_some_and(|m| {
            m.kind == got.kind
                && m.mode == got.mode
                && m.mtime == got.mtime
                && m.size == got.size
                && m.crc32 == got.crc32
                && matches!(
                    (&got.location, m.kind.has_content()),
                    (Location::Here { .. }, true) | (Location::None, false)
                )
        });
        if !same {
            return Err(damaged(
                &got.path,
                "differs from the source's manifest in the written archive".into(),
            ));
        }
    }
    Ok(())
}

fn write_err(path: &Path) -> impl FnOnce(ArchiveError) -> EngineError + '_ {
    move |source| EngineError::Archive {
        context: format!("writing {}", path.display()),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::Mtime;

    fn file(size: u64) -> IndexEntry {
        IndexEntry {
            path: format!("f{size}"),
            kind: EntryKind::File,
            mode: 0o644,
            mtime: Mtime::default(),
            size,
            crc32: 0,
            location: Location::Here { offset: 0 },
        }
    }

    #[test]
    fn passes_are_bounded_and_a_big_file_is_a_pass_of_its_own() {
        let manifest = vec![
            file(BATCH_BYTES / 2),
            file(BATCH_BYTES / 2),
            file(1),
            file(BATCH_BYTES * 3),
            file(0),
        ];
        let todo: Vec<(u64, usize)> = (0..manifest.len()).map(|i| (i as u64, i)).collect();
        let sizes: Vec<Vec<usize>> = batches(&todo, &manifest)
            .map(|b| b.iter().map(|&(_, i)| i).collect())
            .collect();
        assert_eq!(sizes, vec![vec![0, 1], vec![2], vec![3], vec![4]]);
        assert_eq!(batches(&[], &manifest).count(), 0);
        let many = vec![file(0); BATCH_ENTRIES + 1];
        let todo: Vec<(u64, usize)> = (0..many.len()).map(|i| (0, i)).collect();
        let lens: Vec<usize> = batches(&todo, &many).map(<[_]>::len).collect();
        assert_eq!(lens, vec![BATCH_ENTRIES, 1]);
    }

    #[test]
    fn frame_ranges_follow_the_raw_lengths() {
        let frame = |raw_len| crate::archive::FrameInfo {
            offset: 0,
            stored_len: 1,
            raw_len,
        };
        let index = Index {
            codec: Codec::Zstd,
            level: 3,
            flags: 0,
            version: 1,
            entries: vec![],
            frames: vec![frame(10), frame(5)],
        };
        assert_eq!(frame_range(&index, 0), Some((0, 10)));
        assert_eq!(frame_range(&index, 1), Some((10, 15)));
        assert_eq!(frame_range(&index, 2), None);
        assert_eq!(frame_range(&index, u64::MAX), None);
    }
}
