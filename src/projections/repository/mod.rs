//! The repository projection: which chunk lives in which pack frame, which packs exist, and which
//! frames each live snapshot references, folded from `pack_written`, `snapshot_recorded`,
//! `packs_repacked`, `packs_deleted` and the deletion of snapshot backups. Prune and verify read
//! this, never the repository's files (schema/repository.md).
//!
//! Memory: 32 (id) + 8 (location) + 12 (its frame in the pack) + ~20 (the index slot) = ~72
//! bytes per chunk, 89 measured with the vectors' and the hash table's growth slack: a million
//! chunks (~1 TB of unique data at ~1 MiB a chunk) take ~90 MB (`tests::memory_per_chunk`). Past that the index would move to a redb table keyed by chunk id (the
//! projection snapshot keeps the rest), which no installation here comes near.

mod derived;
pub mod sample;
#[cfg(test)]
pub(crate) mod tests;

pub use derived::{Candidates, Figures, PackLiveness};

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::events::{Envelope, Event, PackRecord, SnapshotRefs};
pub use crate::repository::ChunkLoc;
use crate::repository::ChunkLookup;

/// `[repository] repack_below`'s default: prune repacks packs less than half live (by bytes).
pub const DEFAULT_REPACK_BELOW: f64 = 0.5;

/// A chunk's number: its index in `Repository::ids` (numbers of deleted chunks are reused).
type ChunkNo = u32;
/// A pack's number: its index in `Repository::packs` (never reused: a deleted pack stays, empty).
type PackNo = u32;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "Stored")]
pub struct Repository {
    /// Chunk ids by number.
    ids: Vec<[u8; 32]>,
    /// Where each chunk is read from: (pack, frame). A chunk stored twice (two runs that wrote it
    /// at once, or a repack in progress) is read from its first copy until a repack moves it.
    loc: Vec<(PackNo, u32)>,
    /// Numbers freed by deleted packs, reused by the next new chunks.
    free: Vec<ChunkNo>,
    /// Chunk id → number, keyed by the id's first 8 bytes (ids are keyed BLAKE3 hashes, so the
    /// prefix is as good as a hash); a prefix shared by two ids sends the second to `overflow`.
    /// Rebuilt from `ids` when a snapshot is loaded.
    #[serde(skip)]
    index: HashMap<u64, ChunkNo>,
    #[serde(skip)]
    overflow: HashMap<[u8; 32], ChunkNo>,
    pub(crate) packs: Vec<Pack>,
    #[serde(skip)]
    pack_no: HashMap<String, PackNo>,
    /// Live snapshots by backup id.
    pub(crate) snapshots: BTreeMap<String, Snapshot>,
}

/// One pack file; a deleted one keeps its record but no frames.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pack {
    pub id: String,
    pub location: String,
    pub bytes: u64,
    pub run_id: String,
    pub deleted: bool,
    /// Frame `i` holds `frames[i]`.
    pub frames: Vec<Frame>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    pub chunk: ChunkNo,
    pub raw_len: u32,
    pub stored_len: u32,
}

/// What one live snapshot references.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// (pack, bitmap of frames: bit i = frame i, LSB first), one entry per pack.
    pub refs: Vec<(PackNo, Vec<u8>)>,
    pub logical_bytes: u64,
    pub chunks: u64,
}

/// The serialised form: everything but the indexes, which `from` rebuilds.
#[derive(Deserialize)]
struct Stored {
    ids: Vec<[u8; 32]>,
    loc: Vec<(PackNo, u32)>,
    free: Vec<ChunkNo>,
    packs: Vec<Pack>,
    snapshots: BTreeMap<String, Snapshot>,
}

impl From<Stored> for Repository {
    fn from(s: Stored) -> Repository {
        let mut repo = Repository {
            ids: s.ids,
            loc: s.loc,
            free: s.free,
            packs: s.packs,
            snapshots: s.snapshots,
            ..Repository::default()
        };
        repo.reindex();
        repo
    }
}

/// Equal when the folded facts are: the indexes are derived (and which of two ids sharing a
/// prefix sits in `overflow` depends on the order they were linked in).
impl PartialEq for Repository {
    fn eq(&self, other: &Self) -> bool {
        self.ids == other.ids
            && self.loc == other.loc
            && self.free == other.free
            && self.packs == other.packs
            && self.snapshots == other.snapshots
    }
}

fn prefix(id: &[u8; 32]) -> u64 {
    u64::from_le_bytes(id[..8].try_into().expect("8 bytes"))
}

pub fn bit(bitmap: &[u8], i: usize) -> bool {
    bitmap.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0)
}

pub(crate) fn set_bit(bitmap: &mut Vec<u8>, i: usize) {
    if bitmap.len() <= i / 8 {
        bitmap.resize(i / 8 + 1, 0);
    }
    bitmap[i / 8] |= 1 << (i % 8);
}

impl Repository {
    pub fn apply(&mut self, envelope: &Envelope) {
        match &envelope.payload {
            Event::PackWritten { pack } => self.pack_written(pack),
            Event::SnapshotRecorded { backup, snapshot } => {
                self.snapshot_recorded(&backup.id, snapshot)
            }
            Event::PacksRepacked { from, into, .. } => self.repacked(from, into),
            Event::PacksDeleted { packs, .. } => {
                for id in packs {
                    self.pack_deleted(id);
                }
            }
            // A deleted or forgotten snapshot backup references nothing any more; an archive
            // backup is not in `snapshots`, so this is a no-op for it.
            Event::BackupDeleted { backup_id, .. } | Event::BackupForgotten { backup_id, .. } => {
                self.snapshots.remove(backup_id);
            }
            _ => {}
        }
    }

    /// The chunk's number, if the repository holds it.
    fn find(&self, id: &[u8; 32]) -> Option<ChunkNo> {
        match self.index.get(&prefix(id)) {
            Some(&n) if &self.ids[n as usize] == id => Some(n),
            Some(_) => self.overflow.get(id).copied(),
            None => None,
        }
    }

    fn insert(&mut self, id: [u8; 32], at: (PackNo, u32)) -> ChunkNo {
        let n = match self.free.pop() {
            Some(n) => {
                self.ids[n as usize] = id;
                self.loc[n as usize] = at;
                n
            }
            None => {
                self.ids.push(id);
                self.loc.push(at);
                (self.ids.len() - 1) as ChunkNo
            }
        };
        self.link(n);
        n
    }

    fn link(&mut self, n: ChunkNo) {
        let id = self.ids[n as usize];
        match self.index.entry(prefix(&id)) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(n);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.overflow.insert(id, n);
            }
        }
    }

    fn unlink(&mut self, n: ChunkNo) {
        let id = self.ids[n as usize];
        if self.index.get(&prefix(&id)) == Some(&n) {
            self.index.remove(&prefix(&id));
            // Promote an overflowed id with the same prefix so lookups still find it.
            let heir = self
                .overflow
                .iter()
                .find(|(other, _)| prefix(other) == prefix(&id))
                .map(|(other, &m)| (*other, m));
            if let Some((other, m)) = heir {
                self.overflow.remove(&other);
                self.index.insert(prefix(&other), m);
            }
        } else {
            self.overflow.remove(&id);
        }
        self.free.push(n);
    }

    fn reindex(&mut self) {
        self.index.clear();
        self.overflow.clear();
        self.pack_no = self
            .packs
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.clone(), i as PackNo))
            .collect();
        let free: std::collections::HashSet<ChunkNo> = self.free.iter().copied().collect();
        for n in 0..self.ids.len() as ChunkNo {
            if !free.contains(&n) {
                self.link(n);
            }
        }
    }

    fn pack_written(&mut self, record: &PackRecord) {
        // A pack's id is its bytes' hash: a backup that stores again exactly the chunks of a
        // deleted pack (the same files after the only backup of them was forgotten and pruned)
        // writes the same id. That pack lives again, with its chunks; ignoring it would leave
        // the new snapshot pointing into a pack the projection calls deleted, and the next
        // prune would sweep its file as a leftover.
        let revived = match self.pack_no.get(&record.id) {
            Some(&p) if self.packs[p as usize].deleted => Some(p),
            Some(_) => return,
            None => None,
        };
        let p = revived.unwrap_or(self.packs.len() as PackNo);
        let mut frames = Vec::with_capacity(record.chunks.len());
        for (i, c) in record.chunks.iter().enumerate() {
            let chunk = match self.find(&c.id) {
                Some(n) => n,
                None => self.insert(c.id, (p, i as u32)),
            };
            frames.push(Frame {
                chunk,
                raw_len: c.raw_len,
                stored_len: c.stored_len,
            });
        }
        let pack = Pack {
            id: record.id.clone(),
            location: record.location.clone(),
            bytes: record.bytes,
            run_id: record.run_id.clone(),
            deleted: false,
            frames,
        };
        match revived {
            Some(p) => self.packs[p as usize] = pack,
            None => {
                self.packs.push(pack);
                self.pack_no.insert(record.id.clone(), p);
            }
        }
    }

    fn snapshot_recorded(&mut self, backup_id: &str, refs: &SnapshotRefs) {
        // References to a pack the log never wrote cannot be resolved; they are dropped (evolve
        // is total) and verify reports the snapshot's missing chunks.
        let resolved = refs
            .packs
            .iter()
            .filter_map(|r| Some((*self.pack_no.get(&r.pack)?, r.frames.clone())))
            .collect();
        self.snapshots
            .entry(backup_id.to_string())
            .or_insert(Snapshot {
                refs: resolved,
                logical_bytes: refs.logical_bytes,
                chunks: refs.chunks,
            });
    }

    fn repacked(&mut self, from: &[String], into: &[String]) {
        let from: Vec<PackNo> = from
            .iter()
            .filter_map(|id| self.pack_no.get(id).copied())
            .collect();
        let into: Vec<PackNo> = into
            .iter()
            .filter_map(|id| self.pack_no.get(id).copied())
            .collect();
        // Where each copied chunk now is.
        let mut moved: HashMap<ChunkNo, (PackNo, u32)> = HashMap::new();
        for &p in &into {
            for (i, f) in self.packs[p as usize].frames.iter().enumerate() {
                moved.entry(f.chunk).or_insert((p, i as u32));
            }
        }
        for snap in self.snapshots.values_mut() {
            let mut added: BTreeMap<PackNo, Vec<u8>> = BTreeMap::new();
            snap.refs.retain(|(p, bitmap)| {
                if !from.contains(p) {
                    return true;
                }
                for (i, f) in self.packs[*p as usize].frames.iter().enumerate() {
                    if !bit(bitmap, i) {
                        continue;
                    }
                    // A live chunk the repack did not copy keeps its old reference (the
                    // deletion that follows would break it: decide never plans such a repack).
                    let Some(&(q, j)) = moved.get(&f.chunk) else {
                        return true;
                    };
                    set_bit(added.entry(q).or_default(), j as usize);
                }
                false
            });
            for (q, bits) in added {
                match snap.refs.iter_mut().find(|(p, _)| *p == q) {
                    Some((_, bitmap)) => {
                        for (k, b) in bits.iter().enumerate() {
                            if bitmap.len() <= k {
                                bitmap.resize(k + 1, 0);
                            }
                            bitmap[k] |= b;
                        }
                    }
                    None => snap.refs.push((q, bits)),
                }
            }
        }
        for (&n, &at) in &moved {
            if from.contains(&self.loc[n as usize].0) {
                self.loc[n as usize] = at;
            }
        }
    }

    fn pack_deleted(&mut self, id: &str) {
        let Some(&p) = self.pack_no.get(id) else {
            return;
        };
        if self.packs[p as usize].deleted {
            return;
        }
        let frames = std::mem::take(&mut self.packs[p as usize].frames);
        self.packs[p as usize].deleted = true;
        for (i, f) in frames.iter().enumerate() {
            if self.loc[f.chunk as usize] != (p, i as u32) {
                continue;
            }
            // A second copy in another pack (two runs stored the chunk at once) is not looked
            // for: snapshots reference it by pack and frame, so nothing breaks; the next backup
            // that needs the chunk only stores it again.
            self.unlink(f.chunk);
        }
    }

    /// Where the repository holds chunk `id`, if it does (a deleted pack's chunks are gone).
    pub fn locate(&self, id: &[u8; 32]) -> Option<ChunkLoc> {
        let n = self.find(id)?;
        let (p, frame) = self.loc[n as usize];
        let pack = &self.packs[p as usize];
        let f = pack.frames.get(frame as usize)?;
        Some(ChunkLoc {
            pack: pack.id.clone(),
            location: pack.location.clone(),
            frame,
            raw_len: f.raw_len,
            stored_len: f.stored_len,
        })
    }

    /// Every pack the log named, deleted ones too (their files may still need removing).
    pub fn all_packs(&self) -> &[Pack] {
        &self.packs
    }

    /// Packs not deleted, by id.
    pub fn pack(&self, id: &str) -> Option<&Pack> {
        let p = *self.pack_no.get(id)?;
        Some(&self.packs[p as usize]).filter(|p| !p.deleted)
    }

    pub fn chunk_id(&self, n: ChunkNo) -> [u8; 32] {
        self.ids[n as usize]
    }

    /// Live (not deleted) chunks.
    pub fn chunk_count(&self) -> u64 {
        (self.ids.len() - self.free.len()) as u64
    }

    pub fn snapshot(&self, backup_id: &str) -> Option<&Snapshot> {
        self.snapshots.get(backup_id)
    }

    pub fn snapshot_ids(&self) -> impl Iterator<Item = &str> {
        self.snapshots.keys().map(String::as_str)
    }

    /// The id of pack number `p` (a snapshot's references are by number).
    pub fn pack_id(&self, p: PackNo) -> &str {
        &self.packs[p as usize].id
    }

    /// Bytes the projection's vectors and tables hold (allocated capacity), for the memory bound.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let table = |cap: usize, entry: usize| cap * (entry + 1);
        self.ids.capacity() * 32
            + self.loc.capacity() * size_of::<(PackNo, u32)>()
            + self.free.capacity() * 4
            + table(self.index.capacity(), size_of::<(u64, ChunkNo)>())
            + table(self.overflow.capacity(), size_of::<([u8; 32], ChunkNo)>())
            + self
                .packs
                .iter()
                .map(|p| p.frames.capacity() * size_of::<Frame>() + p.id.len() + p.location.len())
                .sum::<usize>()
    }
}

/// What a backup asks to reuse a chunk, and a snapshot reader to find one a repack moved.
impl ChunkLookup for Repository {
    fn locate(&self, id: &[u8; 32]) -> Option<ChunkLoc> {
        Repository::locate(self, id)
    }
}
