//! A snapshot opened as an archive reader over its packs: the index is the snapshot's entries
//! (content `here` in a virtual body of their chunks, in order), frame `i` of that body is one
//! chunk's frame in its pack. Each chunk is looked for where the snapshot saw it (its hint);
//! a pack that is gone (repacked) is replaced by where the chunk lookup finds the chunk now.
//! A pack missing here, or whose index is damaged, is read from another copy (a remote's,
//! frame by frame); a local frame that fails its checks is read from that copy too.

use std::fs::File;
use std::path::Path;

use rustc_hash::FxHashMap as HashMap;

use super::lookup::ChunkLookup;
use super::pack::pack_location;
use super::snapshot;
use super::RepoError;
use crate::archive::{ArchiveReader, Location, OtherCopy, PackFile, PackFrames};
use crate::keys::{hex, MasterKey};

/// Opens the snapshot at `snap_path` (absolute) of the repository in `data_dir`.
pub fn open_snapshot(
    data_dir: &Path,
    snap_path: &Path,
    key: Option<&MasterKey>,
    lookup: &dyn ChunkLookup,
) -> Result<ArchiveReader<File>, RepoError> {
    open_snapshot_with(data_dir, snap_path, key, lookup, &|_| None)
}

/// Another copy of the pack at a location (relative to the data directory), or `None`.
/// Called for every pack a snapshot opens, so it must do no I/O until the copy is read.
pub type OtherCopies<'a> = dyn Fn(&str) -> Option<Box<dyn OtherCopy>> + 'a;

/// `open_snapshot`, with `other_copy(location)` for each pack: a pack that is not in the data
/// directory (or whose header or index is damaged) is read from that copy before its chunks
/// count as lost, and a local frame that fails its checks is read from it (the engine gives a
/// remote's copy, read by ranged GETs, only the frames needed; this folder knows nothing of
/// remotes). What is read there is checked as a local pack is: its index against the chunk
/// ids, every frame by its checksum (and seal).
pub fn open_snapshot_with(
    data_dir: &Path,
    snap_path: &Path,
    key: Option<&MasterKey>,
    lookup: &dyn ChunkLookup,
    other_copy: &OtherCopies,
) -> Result<ArchiveReader<File>, RepoError> {
    let (snap, container) = snapshot::read(snap_path, key)?;
    let crc = container.index_crc32();
    let file = container.into_inner();
    let file_len = file
        .metadata()
        .map_err(RepoError::io(format!("reading {}", snap_path.display())))?
        .len();

    let mut packs = Packs {
        data_dir,
        key,
        other_copy,
        open: Vec::new(),
        by_location: HashMap::default(),
    };
    // Where each distinct chunk is: (pack, frame), checked against the pack's own index.
    let mut place: Vec<(u32, u32)> = Vec::with_capacity(snap.chunks.len());
    let mut missing: Vec<String> = Vec::new();
    for c in &snap.chunks {
        let name = hex(&c.id);
        let hint = pack_location(&hex(&snap.packs[c.pack as usize]));
        let found = match packs.get(&hint)? {
            Some(p) => Some((p, c.frame)),
            None => match lookup.locate(&c.id) {
                Some(loc) => packs.get(&loc.location)?.map(|p| (p, loc.frame)),
                None => None,
            },
        };
        let Some((p, f)) = found else {
            // Lost, not fatal: reading it fails like a damaged frame, so a restore with
            // `skip_damaged` loses only the entries that use it, and verify names it.
            place.push((PackFrames::MISSING, missing.len() as u32));
            missing.push(format!(
                "chunk {name}: pack {hint} is gone and no other pack holds it"
            ));
            continue;
        };
        let e = packs.open[p as usize].index().entries.get(f as usize);
        let holds = e.is_some_and(|e| {
            e.path == name
                && e.size == u64::from(c.raw_len)
                && matches!(e.location, Location::Here { .. })
        });
        if !holds {
            place.push((PackFrames::MISSING, missing.len() as u32));
            missing.push(format!(
                "chunk {name}: frame {f} of its pack holds another chunk"
            ));
            continue;
        }
        place.push((p, f));
    }
    let mut entries = Vec::with_capacity(snap.entries.len());
    let mut map = Vec::new();
    let mut raw_lens = Vec::new();
    let mut offset = 0u64;
    for e in &snap.entries {
        entries.push(e.index_entry(offset));
        for &k in &e.chunks {
            map.push(place[k as usize]);
            raw_lens.push(snap.chunks[k as usize].raw_len);
        }
        offset += e.size;
    }
    ArchiveReader::over_packs(
        file, file_len, crc, entries, packs.open, map, &raw_lens, missing,
    )
    .map_err(RepoError::archive(snap_path))
}

/// The packs a snapshot needs, each opened once.
struct Packs<'a> {
    data_dir: &'a Path,
    key: Option<&'a MasterKey>,
    other_copy: &'a OtherCopies<'a>,
    open: Vec<ArchiveReader<PackFile>>,
    by_location: HashMap<String, u32>,
}

impl Packs<'_> {
    /// The pack at `location` (relative to the data directory), `None` if it is not there.
    fn get(&mut self, location: &str) -> Result<Option<u32>, RepoError> {
        if let Some(&i) = self.by_location.get(location) {
            return Ok(Some(i));
        }
        let path = self.data_dir.join(location);
        let r = match File::open(&path) {
            Ok(f) => {
                let local = PackFile::local(f, &path, (self.other_copy)(location));
                match ArchiveReader::open_with(local, self.key) {
                    Ok(r) => r,
                    Err(e) => match self.other(location)? {
                        Some(r) => {
                            log::warn!("{}: {e}; its other copy is read instead", path.display());
                            r
                        }
                        None => return Err(RepoError::archive(&path)(e)),
                    },
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match self.other(location)? {
                Some(r) => r,
                None => return Ok(None),
            },
            Err(e) => return Err(RepoError::io(format!("opening {}", path.display()))(e)),
        };
        let i = self.open.len() as u32;
        self.open.push(r);
        self.by_location.insert(location.to_string(), i);
        Ok(Some(i))
    }

    /// The pack's other copy opened as a pack, `None` when there is none or it cannot be
    /// reached (then the pack is missing, as without one).
    fn other(&self, location: &str) -> Result<Option<ArchiveReader<PackFile>>, RepoError> {
        let Some(copy) = (self.other_copy)(location) else {
            return Ok(None);
        };
        if let Err(e) = copy.size() {
            log::warn!("{location}: no copy of it at {}: {e}", copy.describe());
            return Ok(None);
        }
        let what = format!("{location} at {}", copy.describe());
        ArchiveReader::open_with(PackFile::other(copy), self.key)
            .map(Some)
            .map_err(RepoError::archive(Path::new(&what)))
    }
}
