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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{Codec, EntryKind, Mtime, Seal};
    use crate::events::PackRecord;
    use crate::repository::{snapshot_location, MemoryLookup, NoChunks, SnapEntry, Writer};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    /// A pack's other copy held in memory, counting the bytes read from it.
    struct Copy(Vec<u8>, Arc<AtomicU64>);

    impl OtherCopy for Copy {
        fn describe(&self) -> String {
            "memory".into()
        }
        fn size(&self) -> std::io::Result<u64> {
            Ok(self.0.len() as u64)
        }
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
            let at = offset as usize;
            let src = self.0.get(at..at + buf.len()).ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "past the end")
            })?;
            buf.copy_from_slice(src);
            self.1.fetch_add(buf.len() as u64, Ordering::Relaxed);
            Ok(())
        }
    }

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
            let location = packs[0].location.clone();
            let path = dir.join(&location);
            let original = std::fs::read(&path).unwrap();
            let fetched = Arc::new(AtomicU64::new(0));
            let copy = |_: &str| -> Option<Box<dyn OtherCopy>> {
                Some(Box::new(Copy(original.clone(), fetched.clone())))
            };
            let read = |r: &mut ArchiveReader<File>, what: &str| {
                let mut out = Vec::new();
                r.read_entry(what, &mut out).map(|_| out)
            };

            let mut damaged = original.clone();
            damaged[original.len() / 3] ^= 1;
            std::fs::write(&path, &damaged).unwrap();
            let mut r = open_snapshot(dir, &snap, key.as_ref(), &NoChunks).unwrap();
            assert!(read(&mut r, "big").is_err(), "damaged without another copy");
            let mut r = open_snapshot_with(dir, &snap, key.as_ref(), &NoChunks, &copy).unwrap();
            assert!(read(&mut r, "big").unwrap() == big);
            assert!(fetched.swap(0, Ordering::Relaxed) < original.len() as u64 / 2);

            std::fs::remove_file(&path).unwrap();
            let mut r = open_snapshot_with(dir, &snap, key.as_ref(), &NoChunks, &copy).unwrap();
            assert_eq!(read(&mut r, "small").unwrap(), b"hello");
            let got = fetched.load(Ordering::Relaxed);
            assert!(got < 64 << 10, "{got} of {} bytes", original.len());
            assert!(!path.exists(), "nothing written back");
        }
    }
}
