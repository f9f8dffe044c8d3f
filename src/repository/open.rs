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
use super::snapshot::{self, SnapBody, SnapChunk, Snapshot};
use super::tree::{decode_tree, Group, SnapFile};
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
    let (body, container) = snapshot::read(snap_path, key)?;
    let crc = container.index_crc32();
    let file = container.into_inner();
    let file_len = file
        .metadata()
        .map_err(RepoError::io(format!("reading {}", snap_path.display())))?
        .len();

    let mut packs = Packs::new(data_dir, key, other_copy);
    let snap = match body {
        SnapBody::V1(snap) => snap,
        SnapBody::V2(f) => expand(&f, &mut packs, lookup, snap_path)?,
    };
    // Where each distinct chunk is: (pack, frame), checked against the pack's own index.
    let mut place: Vec<(u32, u32)> = Vec::with_capacity(snap.chunks.len());
    let mut missing: Vec<String> = Vec::new();
    for c in &snap.chunks {
        match packs.place(c, &snap.packs, lookup)? {
            Ok(at) => place.push(at),
            Err(why) => {
                // Lost, not fatal: reading it fails like a damaged frame, so a restore with
                // `skip_damaged` loses only the entries that use it, and verify names it.
                place.push((PackFrames::MISSING, missing.len() as u32));
                missing.push(why);
            }
        }
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

/// Reads a snapshot of either version whole (its entries, and every chunk they use with where
/// the snapshot or the lookup says it is), for what compares with it: an incremental's parent.
pub fn load_snapshot(
    data_dir: &Path,
    snap_path: &Path,
    key: Option<&MasterKey>,
    lookup: &dyn ChunkLookup,
) -> Result<Snapshot, RepoError> {
    match snapshot::read(snap_path, key)?.0 {
        SnapBody::V1(snap) => Ok(snap),
        SnapBody::V2(f) => expand(
            &f,
            &mut Packs::new(data_dir, key, &|_| None),
            lookup,
            snap_path,
        ),
    }
}

/// A version-2 snapshot as version 1 holds it: its trees read from the packs and decoded in
/// order; the chunk table holds the data chunks (where the lookup finds each, or nowhere), then
/// the trees (`Snapshot::trees`, where the file says).
fn expand(
    f: &SnapFile,
    packs: &mut Packs,
    lookup: &dyn ChunkLookup,
    snap_path: &Path,
) -> Result<Snapshot, RepoError> {
    let mut entries = Vec::new();
    let mut table = Vec::new();
    let mut index = HashMap::default();
    let mut trees = Vec::new();
    let corrupt = |what: String| RepoError::Corrupt(format!("{}: {what}", snap_path.display()));
    for (i, g) in f.groups.iter().enumerate() {
        let read;
        let bytes = match g {
            Group::Inline(b) => b.as_slice(),
            Group::Chunk(c) => {
                let (p, frame) = packs
                    .place(c, &f.packs, lookup)?
                    .map_err(|why| corrupt(format!("group {i}: tree {why}")))?;
                let mut buf = Vec::with_capacity(c.raw_len as usize);
                let pack = &mut packs.open[p as usize];
                let name = pack.index().entries[frame as usize].path.clone();
                pack.read_entry(&name, &mut buf)
                    .map_err(|e| corrupt(format!("group {i}: tree chunk {name}: {e}")))?;
                trees.push(*c);
                read = buf;
                read.as_slice()
            }
        };
        decode_tree(bytes, &mut entries, &mut table, &mut index)
            .map_err(|e| corrupt(format!("group {i}: {e}")))?;
    }
    if entries.len() as u64 != f.entry_count {
        return Err(corrupt(format!(
            "{} entries in the groups, the snapshot says {}",
            entries.len(),
            f.entry_count
        )));
    }
    let mut seen = rustc_hash::FxHashSet::default();
    for e in &entries {
        if !seen.insert(e.path.as_str()) {
            return Err(corrupt(format!("duplicate path {:?}", e.path)));
        }
    }
    let mut snap = Snapshot {
        entries,
        ..Snapshot::default()
    };
    let mut slots: HashMap<[u8; 32], u32> = HashMap::default();
    let mut slot = |snap: &mut Snapshot, pack: [u8; 32]| {
        *slots.entry(pack).or_insert_with(|| {
            snap.packs.push(pack);
            snap.packs.len() as u32 - 1
        })
    };
    for (id, raw_len) in table {
        let at = lookup.locate(&id).and_then(|loc| {
            let pack: [u8; 32] = crate::keys::hex_decode(&loc.pack)?.try_into().ok()?;
            Some((pack, loc.frame))
        });
        let (pack, frame) = match at {
            Some((pack, frame)) => (slot(&mut snap, pack), frame),
            // Nowhere: reading it fails naming it (see `place`).
            None => (u32::MAX, 0),
        };
        snap.chunks.push(SnapChunk {
            id,
            raw_len,
            pack,
            frame,
        });
    }
    for c in trees {
        let pack = slot(&mut snap, f.packs[c.pack as usize]);
        snap.trees.push(snap.chunks.len() as u32);
        snap.chunks.push(SnapChunk { pack, ..c });
    }
    Ok(snap)
}

/// The packs a snapshot needs, each opened once.
struct Packs<'a> {
    data_dir: &'a Path,
    key: Option<&'a MasterKey>,
    other_copy: &'a OtherCopies<'a>,
    open: Vec<ArchiveReader<PackFile>>,
    by_location: HashMap<String, u32>,
}

impl<'a> Packs<'a> {
    fn new(
        data_dir: &'a Path,
        key: Option<&'a MasterKey>,
        other_copy: &'a OtherCopies<'a>,
    ) -> Packs<'a> {
        Packs {
            data_dir,
            key,
            other_copy,
            open: Vec::new(),
            by_location: HashMap::default(),
        }
    }

    /// Where chunk `c` is read: (pack, frame) where its hint (into `pack_ids`) says, else where
    /// the lookup finds it, checked against that pack's index; `Err(why)` when it is nowhere.
    fn place(
        &mut self,
        c: &SnapChunk,
        pack_ids: &[[u8; 32]],
        lookup: &dyn ChunkLookup,
    ) -> Result<Result<(u32, u32), String>, RepoError> {
        let name = hex(&c.id);
        let hint = pack_ids
            .get(c.pack as usize)
            .map(|p| pack_location(&hex(p)));
        let at_hint = match &hint {
            Some(h) => self.get(h)?.map(|p| (p, c.frame)),
            None => None,
        };
        let found = match at_hint {
            Some(found) => Some(found),
            None => match lookup.locate(&c.id) {
                Some(loc) => self.get(&loc.location)?.map(|p| (p, loc.frame)),
                None => None,
            },
        };
        let Some((p, f)) = found else {
            return Ok(Err(match hint {
                Some(h) => format!("chunk {name}: pack {h} is gone and no other pack holds it"),
                None => format!("chunk {name}: no pack holds it"),
            }));
        };
        let e = self.open[p as usize].index().entries.get(f as usize);
        let holds = e.is_some_and(|e| {
            e.path == name
                && e.size == u64::from(c.raw_len)
                && matches!(e.location, Location::Here { .. })
        });
        if !holds {
            return Ok(Err(format!(
                "chunk {name}: frame {f} of its pack holds another chunk"
            )));
        }
        Ok(Ok((p, f)))
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::InMemory;
    use crate::archive::{Codec, EntryKind, Mtime, Seal};
    use crate::events::PackRecord;
    use crate::repository::{snapshot_location, MemoryLookup, SnapEntry, Writer};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    /// Sealed and not: a flipped byte in a local pack's frame reads from the other copy (and
    /// fails without one); a missing pack reads from the other copy only the frames wanted.
    #[test]
    fn damaged_and_missing_packs_read_from_the_other_copy() {
        for key in [None, Some(MasterKey::from_bytes([9; 32]))] {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path();
            let mut x = 7u64;
            let big: Vec<u8> = (0..6 << 20)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let packs = std::cell::RefCell::new(Vec::new());
            let lookup = MemoryLookup::default();
            let mut w = Writer::new(
                dir,
                key.as_ref(),
                key.as_ref().map(|k| Seal::new(k.clone())),
                &lookup,
                Codec::Zstd,
                3,
                "one",
                Box::new(|p: &PackRecord| {
                    packs.borrow_mut().push(p.clone());
                    Ok(())
                }),
            )
            .unwrap();
            for (path, data) in [("big", &big[..]), ("small", b"hello".as_slice())] {
                let s = w.put(data).unwrap().unwrap();
                w.add_entry(SnapEntry {
                    path: path.into(),
                    kind: EntryKind::File,
                    mode: 0o640,
                    mtime: Mtime::new(1_700_000_000, 0),
                    size: s.size,
                    crc32: s.crc32,
                    chunks: s.chunks.clone(),
                });
            }
            std::fs::create_dir_all(dir.join(crate::repository::SNAPSHOTS)).unwrap();
            let snap = dir.join(snapshot_location("one"));
            w.finish(&snap).unwrap();
            let packs = packs.into_inner();
            assert_eq!(packs.len(), 1);
            let mut found = MemoryLookup::default();
            found.add(packs[0].clone());
            let location = packs[0].location.clone();
            let path = dir.join(&location);
            let original = std::fs::read(&path).unwrap();
            let fetched = Arc::new(AtomicU64::new(0));
            let copy = |_: &str| -> Option<Box<dyn OtherCopy>> {
                Some(Box::new(InMemory(original.clone(), fetched.clone())))
            };
            let read = |r: &mut ArchiveReader<File>, what: &str| {
                let mut out = Vec::new();
                r.read_entry(what, &mut out).map(|_| out)
            };

            let mut damaged = original.clone();
            damaged[original.len() / 3] ^= 1;
            std::fs::write(&path, &damaged).unwrap();
            let mut r = open_snapshot(dir, &snap, key.as_ref(), &found).unwrap();
            assert!(read(&mut r, "big").is_err(), "damaged without another copy");
            let mut r = open_snapshot_with(dir, &snap, key.as_ref(), &found, &copy).unwrap();
            assert!(read(&mut r, "big").unwrap() == big);
            assert!(fetched.swap(0, Ordering::Relaxed) < original.len() as u64 / 2);

            std::fs::remove_file(&path).unwrap();
            let mut r = open_snapshot_with(dir, &snap, key.as_ref(), &found, &copy).unwrap();
            assert_eq!(read(&mut r, "small").unwrap(), b"hello");
            let got = fetched.load(Ordering::Relaxed);
            assert!(got < 64 << 10, "{got} of {} bytes", original.len());
            assert!(!path.exists(), "nothing written back");
        }
    }
}
