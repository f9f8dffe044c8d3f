//! Extraction into a target directory: selection, path safety, creating entries in a safe
//! order, and restoring modes and mtimes (directories last, after their contents).
//!
//! What keeps every write inside the target is that nothing is ever written *through* a link:
//! parents are created from the archive's own entries and must be real directories, files are
//! written under a temporary name opened with `O_EXCL | O_NOFOLLOW` and renamed into place (a
//! rename replaces a link, it never follows it), symlinks are created last and verbatim, and
//! directories get their modes through `O_NOFOLLOW | O_DIRECTORY` handles. A symlink is data: its
//! target (absolute, dangling, pointing outside) is recreated exactly as it was backed up.
//! A file whose content fails its checksum never appears under its real name, and runs of zero
//! blocks become holes, so a sparse file comes back sparse.
//!
//! A damaged frame ends the extraction with an error naming the frame and the entry it cut
//! short; with `skip_damaged` the entries with bytes in it (and any whose content fails its
//! checksum) are listed in `ExtractSummary::damaged` instead and everything else is extracted.

use std::collections::HashSet;
use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::{ErrorKind, Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::error::ArchiveError;
use super::format::{EntryKind, IndexEntry, Location};
use super::path;
use super::reader::{stream_entries, ArchiveReader, Piece, Via};

/// Told after each file or stream is written (renamed into place): the files and streams, and
/// their content bytes, this extraction has written so far.
pub type OnFile<'a> = &'a dyn Fn(u64, u64);

/// Choices for `extract_with`.
#[derive(Clone, Copy, Default)]
pub struct ExtractOptions<'a> {
    /// Skip files whose bytes live in a parent backup instead of failing with `EntryInParent`
    /// (the restore of an incremental chain fetches those from the parent archives).
    pub skip_parent_refs: bool,
    /// Extract everything readable: a file or stream whose frame is damaged or whose content
    /// fails its checksum is listed in `damaged` (and not created) instead of ending the
    /// extraction.
    pub skip_damaged: bool,
    /// Live progress: an archive's share of a restore is written in one call, which can take
    /// minutes, and a caller showing progress needs to hear of each file as it lands.
    pub on_file: Option<OnFile<'a>>,
}

impl std::fmt::Debug for ExtractOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtractOptions")
            .field("skip_parent_refs", &self.skip_parent_refs)
            .field("skip_damaged", &self.skip_damaged)
            .field("on_file", &self.on_file.is_some())
            .finish()
    }
}

/// An entry `extract` could not restore, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedEntry {
    pub path: String,
    pub reason: String,
}

/// What `extract` created.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExtractSummary {
    pub files: u64,
    pub streams: u64,
    pub dirs: u64,
    pub symlinks: u64,
    /// Content bytes written.
    pub bytes: u64,
    pub skipped_parent_refs: u64,
    /// Deletion records are part of the manifest, not something to create.
    pub skipped_deletions: u64,
    /// With `skip_damaged`: the files and streams not restored, in body order.
    pub damaged: Vec<DamagedEntry>,
}

fn unsafe_path(path: &str, reason: &'static str) -> ArchiveError {
    ArchiveError::UnsafePath {
        path: path.to_string(),
        reason,
    }
}

/// Picks the entries matching the selection: an exact path, or everything below a directory.
/// Public so a caller can check a selection before anything is written.
///
/// Linear in the total length of the paths: a restore through a chain selects thousands of
/// paths from a parent archive, and a pairwise scan was quadratic there.
pub fn select_entries(
    entries: &[IndexEntry],
    select: &[String],
) -> Result<Vec<usize>, ArchiveError> {
    if select.is_empty() {
        return Ok((0..entries.len()).collect());
    }
    let wanted: std::collections::HashSet<&str> =
        select.iter().map(|s| s.trim_end_matches('/')).collect();
    let mut matched = std::collections::HashSet::new();
    let mut chosen = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        // the path itself, then each ancestor directory ("a/b/c" → "a/b" → "a"); every
        // selection that covers the entry counts as matched
        let mut hit = false;
        for p in std::iter::once(e.path.as_str())
            .chain(e.path.match_indices('/').rev().map(|(at, _)| &e.path[..at]))
        {
            if wanted.contains(p) {
                matched.insert(p);
                hit = true;
            }
        }
        if hit {
            chosen.push(i);
        }
    }
    if let Some(missing) = select
        .iter()
        .map(|s| s.trim_end_matches('/'))
        .find(|s| !matched.contains(s))
    {
        return Err(ArchiveError::NotFound {
            path: missing.to_string(),
        });
    }
    Ok(chosen)
}

/// Makes sure every directory from the root down to `comps` exists as a real directory (not a
/// symlink, which could point anywhere), creating missing ones. `known` remembers directories
/// already checked or created during this extraction, so deep trees of small files do not pay
/// one `lstat` per ancestor per file (symlinks are only created after all files).
fn ensure_dirs(
    root: &Path,
    comps: &[&str],
    entry: &str,
    known: &mut HashSet<PathBuf>,
) -> Result<(), ArchiveError> {
    let mut p = root.to_path_buf();
    for c in comps {
        p.push(c);
        if known.contains(&p) {
            continue;
        }
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => {
                return Err(unsafe_path(
                    entry,
                    "a parent directory is a symlink in the target",
                ))
            }
            Ok(_) => {
                return Err(unsafe_path(
                    entry,
                    "a parent directory is a file in the target",
                ))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                fs::DirBuilder::new()
                    .mode(0o755)
                    .create(&p)
                    .map_err(ArchiveError::io(format!(
                        "creating directory {}",
                        p.display()
                    )))?;
            }
            Err(e) => {
                return Err(ArchiveError::Io {
                    context: format!("inspecting {}", p.display()),
                    source: e,
                })
            }
        }
        known.insert(p.clone());
    }
    Ok(())
}

/// A file is renamed over whatever non-directory is at its path; a directory there is an error.
fn refuse_dir_in_the_way(dest: &Path) -> Result<(), ArchiveError> {
    match fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => Err(ArchiveError::Io {
            context: format!("creating {}", dest.display()),
            source: std::io::Error::new(ErrorKind::AlreadyExists, "a directory is in the way"),
        }),
        _ => Ok(()),
    }
}

/// Clears the way for a new symlink: an existing file or symlink at the destination is removed
/// (`symlink()` would not replace it), an existing directory is an error.
fn clear_dest(dest: &Path) -> Result<(), ArchiveError> {
    refuse_dir_in_the_way(dest)?;
    match fs::remove_file(dest) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(ArchiveError::Io {
            context: format!("replacing {}", dest.display()),
            source: e,
        }),
        _ => Ok(()),
    }
}

fn set_times(f: &File, e: &IndexEntry, dest: &Path) -> Result<(), ArchiveError> {
    if let Some(t) = e.mtime.to_system_time() {
        f.set_times(FileTimes::new().set_modified(t))
            .map_err(ArchiveError::io(format!(
                "setting mtime of {}",
                dest.display()
            )))?;
    }
    Ok(())
}

/// The file being written while its frames stream past, under a temporary name beside `dest`.
struct Open {
    id: usize,
    file: File,
    temp: PathBuf,
    dest: PathBuf,
    hasher: crc32fast::Hasher,
    /// Logical length written so far (holes included) and where the file's cursor is.
    len: u64,
    cursor: u64,
}

/// Blocks of this many zero bytes are left as holes rather than written.
const HOLE_BLOCK: usize = 4096;

impl Open {
    /// Appends `data`: whole `HOLE_BLOCK`s of zeros, aligned to the file's offsets, are left as
    /// holes; each run of other bytes is one write. (Writing block by block cost a system call
    /// per 4 KiB, and blocks not aligned to the file made the kernel zero every page twice.)
    fn write(&mut self, data: &[u8]) -> Result<(), ArchiveError> {
        self.hasher.update(data);
        let start = self.len;
        // Where the bytes still to be written begin in `data`.
        let mut run: Option<usize> = None;
        let mut i = 0;
        while i < data.len() {
            let into_block = ((start + i as u64) % HOLE_BLOCK as u64) as usize;
            let end = (i + HOLE_BLOCK - into_block).min(data.len());
            let block = &data[i..end];
            let hole = block.len() == HOLE_BLOCK && is_zero(block);
            match (hole, run) {
                (true, Some(r)) => {
                    self.put(start + r as u64, &data[r..i])?;
                    run = None;
                }
                (false, None) => run = Some(i),
                _ => {}
            }
            i = end;
        }
        if let Some(r) = run {
            self.put(start + r as u64, &data[r..])?;
        }
        self.len = start + data.len() as u64;
        Ok(())
    }

    fn put(&mut self, at: u64, bytes: &[u8]) -> Result<(), ArchiveError> {
        if self.cursor != at {
            self.file
                .seek(std::io::SeekFrom::Start(at))
                .map_err(ArchiveError::io(format!(
                    "seeking in {}",
                    self.temp.display()
                )))?;
        }
        self.file
            .write_all(bytes)
            .map_err(ArchiveError::io(format!("writing {}", self.temp.display())))?;
        self.cursor = at + bytes.len() as u64;
        Ok(())
    }

    /// Drops the unfinished file: nothing of it stays in the target.
    fn discard(self) {
        drop(self.file);
        let _ = fs::remove_file(&self.temp);
    }
}

fn is_zero(block: &[u8]) -> bool {
    let words = block.chunks_exact(8);
    let rest = words.remainder();
    words.into_iter().all(|w| w == [0u8; 8]) && rest.iter().all(|&b| b == 0)
}

/// The temporary name a file is written under before it is renamed into place: short (the real
/// name may already be at the length limit) and unique per entry and process.
fn temp_name(dest: &Path, id: usize) -> PathBuf {
    dest.with_file_name(format!(".bkpd-restore-{}-{id}.tmp", std::process::id()))
}

impl<R: Read + Seek> ArchiveReader<R> {
    /// Extracts everything (`select` empty) or the selected paths (a directory includes what is
    /// below it) into `target`. Every selected path is checked before anything is written.
    pub fn extract(
        &mut self,
        target: &Path,
        select: &[String],
    ) -> Result<ExtractSummary, ArchiveError> {
        self.extract_with(target, select, &ExtractOptions::default())
    }

    pub fn extract_with(
        &mut self,
        target: &Path,
        select: &[String],
        opts: &ExtractOptions,
    ) -> Result<ExtractSummary, ArchiveError> {
        let entries = &self.index.entries;
        let chosen = select_entries(entries, select)?;
        let mut sum = ExtractSummary::default();
        let (mut dirs, mut content, mut links) = (Vec::new(), Vec::new(), Vec::new());
        for &id in &chosen {
            let e = &entries[id];
            if e.kind == EntryKind::Deletion {
                sum.skipped_deletions += 1;
                continue;
            }
            path::components(&e.path).map_err(|r| unsafe_path(&e.path, r))?;
            match (&e.kind, &e.location) {
                (EntryKind::Dir, _) => dirs.push(id),
                (EntryKind::Symlink { .. }, _) => links.push(id),
                (_, Location::Parent { backup }) => {
                    if !opts.skip_parent_refs {
                        return Err(ArchiveError::EntryInParent {
                            path: e.path.clone(),
                            backup: backup.clone(),
                        });
                    }
                    sum.skipped_parent_refs += 1;
                }
                _ => content.push(id),
            }
        }
        fs::create_dir_all(target)
            .map_err(ArchiveError::io(format!("creating {}", target.display())))?;

        let mut known = HashSet::new();
        // Directory entries are created in index order, interleaved with the files (each one
        // just before the first file that follows it in the index), the way tar does, rather
        // than thousands of mkdirs up front, which ext4 tends to spread over block groups.
        let mut next_dir = 0usize;
        let mut make_dirs_before = |limit: usize, known: &mut HashSet<PathBuf>| {
            while next_dir < dirs.len() && dirs[next_dir] < limit {
                let e = &entries[dirs[next_dir]];
                let comps = path::components(&e.path).map_err(|r| unsafe_path(&e.path, r))?;
                ensure_dirs(target, &comps, &e.path, known)?;
                next_dir += 1;
            }
            Ok::<(), ArchiveError>(())
        };

        // Files and streams in body order, so frames are read once, front to back.
        let wanted = self.frames_for(&content);
        let mut open: Option<Open> = None;
        let skip_damaged = opts.skip_damaged;
        // Both the sink and `finish` add to it.
        let damaged = std::cell::RefCell::new(Vec::<DamagedEntry>::new());
        // How many of `content` (in body order) are done: the next one is where a damaged
        // frame cuts in, which the strict error names.
        let mut done = 0usize;
        let mut finish = |o: Open, e: &IndexEntry| -> Result<(), ArchiveError> {
            if o.hasher.clone().finalize() != e.crc32 {
                o.discard();
                let err = ArchiveError::EntryChecksum {
                    path: e.path.clone(),
                };
                if skip_damaged {
                    damaged.borrow_mut().push(DamagedEntry {
                        path: e.path.clone(),
                        reason: err.to_string(),
                    });
                    return Ok(());
                }
                return Err(err);
            }
            let done = (|| {
                // Trailing holes: the length is set, not written.
                o.file
                    .set_len(o.len)
                    .map_err(ArchiveError::io(format!("sizing {}", o.temp.display())))?;
                o.file
                    .set_permissions(fs::Permissions::from_mode(e.mode))
                    .map_err(ArchiveError::io(format!(
                        "setting mode of {}",
                        o.dest.display()
                    )))?;
                set_times(&o.file, e, &o.dest)?;
                refuse_dir_in_the_way(&o.dest)?;
                // Replaces a file or a link at `dest` (never following it).
                fs::rename(&o.temp, &o.dest).map_err(ArchiveError::io(format!(
                    "renaming into {}",
                    o.dest.display()
                )))
            })();
            if let Err(err) = done {
                o.discard();
                return Err(err);
            }
            if e.kind == EntryKind::Stream {
                sum.streams += 1;
            } else {
                sum.files += 1;
            }
            sum.bytes += e.size;
            if let Some(tell) = opts.on_file {
                tell(sum.files + sum.streams, sum.bytes);
            }
            Ok(())
        };
        let mut create = |id: usize| -> Result<Open, ArchiveError> {
            make_dirs_before(id, &mut known)?;
            let e = &entries[id];
            let comps = path::components(&e.path).map_err(|r| unsafe_path(&e.path, r))?;
            ensure_dirs(target, &comps[..comps.len() - 1], &e.path, &mut known)?;
            let dest = target.join(&e.path);
            let temp = temp_name(&dest, id);
            // A leftover of an interrupted restore by this name is ours to replace.
            let _ = fs::remove_file(&temp);
            // Owner-only until the content is complete and checked; the real mode comes last.
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&temp)
                .map_err(ArchiveError::io(format!("creating {}", temp.display())))?;
            Ok(Open {
                id,
                file,
                temp,
                dest,
                hasher: crc32fast::Hasher::new(),
                len: 0,
                cursor: 0,
            })
        };
        let streamed = stream_entries(
            &mut self.r,
            &self.index,
            Via::of(self.sealing.as_ref(), self.packs.as_deref()),
            &self.frame_starts,
            self.threads,
            &content,
            &wanted,
            skip_damaged,
            |id, piece| {
                if let Piece::Lost(why) = piece {
                    // Half written or not begun: nothing of it stays, and it is named.
                    if let Some(o) = open.take() {
                        o.discard();
                    }
                    damaged.borrow_mut().push(DamagedEntry {
                        path: entries[id].path.clone(),
                        reason: why.to_string(),
                    });
                    done += 1;
                    return Ok(());
                }
                if open.as_ref().is_none_or(|o| o.id != id) {
                    if let Some(stale) = open.take() {
                        stale.discard();
                    }
                    open = Some(create(id)?);
                }
                let Some(o) = open.as_mut() else {
                    return Err(ArchiveError::invalid("no open file"));
                };
                match piece {
                    Piece::Data(d) => o.write(d),
                    _ => {
                        done += 1;
                        match open.take() {
                            Some(o) => finish(o, &entries[id]),
                            None => Ok(()),
                        }
                    }
                }
            },
        );
        if let Err(e) = streamed {
            // A damaged frame mid-file: the half-written file never takes its real name.
            if let Some(o) = open.take() {
                o.discard();
            }
            return Err(match (&e, content.get(done)) {
                (
                    ArchiveError::FrameChecksum { .. }
                    | ArchiveError::Decompress { .. }
                    | ArchiveError::BadIndex { .. },
                    Some(&id),
                ) => ArchiveError::EntryDamaged {
                    path: entries[id].path.clone(),
                    source: Box::new(e),
                },
                _ => e,
            });
        }
        sum.damaged = damaged.into_inner();

        make_dirs_before(usize::MAX, &mut known)?;
        sum.dirs = dirs.len() as u64;

        // Symlinks after all files, so nothing is ever written through one of them.
        for &id in &links {
            let e = &entries[id];
            let EntryKind::Symlink {
                target: link_target,
            } = &e.kind
            else {
                continue;
            };
            let comps = path::components(&e.path).map_err(|r| unsafe_path(&e.path, r))?;
            ensure_dirs(target, &comps[..comps.len() - 1], &e.path, &mut known)?;
            let dest = target.join(&e.path);
            clear_dest(&dest)?;
            std::os::unix::fs::symlink(link_target, &dest).map_err(ArchiveError::io(format!(
                "creating symlink {}",
                dest.display()
            )))?;
            sum.symlinks += 1;
        }

        // Directory modes and mtimes last and deepest first: creating entries inside a
        // directory changes its mtime, and a read-only mode would stop us creating them.
        dirs.sort_by_key(|&id| std::cmp::Reverse(entries[id].path.matches('/').count()));
        for &id in &dirs {
            let e = &entries[id];
            let dest = target.join(&e.path);
            let d = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_DIRECTORY)
                .open(&dest)
                .map_err(ArchiveError::io(format!("opening {}", dest.display())))?;
            set_times(&d, e, &dest)?;
            d.set_permissions(fs::Permissions::from_mode(e.mode))
                .map_err(ArchiveError::io(format!(
                    "setting mode of {}",
                    dest.display()
                )))?;
        }
        Ok(sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// Pieces arriving at any offsets make the same file; a block of zeros aligned to the file
    /// and inside one piece (pieces are frames: MiBs) is a hole.
    #[test]
    fn pieces_at_any_offset_write_the_same_file_with_aligned_holes() {
        let dir = tempfile::tempdir().unwrap();
        let mut data = vec![7u8; 3 * HOLE_BLOCK + 100];
        data.extend(vec![0u8; 64 * HOLE_BLOCK]);
        data.extend(vec![9u8; 5000]);
        for cut in [1usize, 777, 4096, 4097, 65_539, 1 << 20] {
            let temp = dir.path().join(format!("t{cut}"));
            let mut o = Open {
                id: 0,
                file: File::create(&temp).unwrap(),
                temp: temp.clone(),
                dest: temp.clone(),
                hasher: crc32fast::Hasher::new(),
                len: 0,
                cursor: 0,
            };
            for piece in data.chunks(cut) {
                o.write(piece).unwrap();
            }
            o.file.set_len(o.len).unwrap();
            assert!(fs::read(&temp).unwrap() == data, "cut {cut}");
            if cut >= 65_539 {
                // Most of the 64 zero blocks are holes (a piece's edges are written).
                let allocated = fs::metadata(&temp).unwrap().blocks() * 512;
                assert!(
                    allocated < 32 * HOLE_BLOCK as u64,
                    "cut {cut}: {allocated} allocated"
                );
            }
        }
    }
}
