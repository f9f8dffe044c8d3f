//! Where a chunk lives: the trait the backup (dedup) and the snapshot reader (relocating a chunk
//! whose pack was repacked) ask, and a small in-memory fold of the pack events that implements
//! it. The service's repository projection implements the same trait.

use rustc_hash::FxHashMap as HashMap;

use crate::events::{Event, PackRecord};

/// A chunk's place: its pack (id and path relative to the data directory), its frame there,
/// and its sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkLoc {
    /// 64 hex digits.
    pub pack: String,
    /// Path of the pack file relative to the data directory.
    pub location: String,
    pub frame: u32,
    pub raw_len: u32,
    /// The frame's bytes in the pack, header and seal tag included.
    pub stored_len: u32,
}

/// Finds a chunk by id among the live packs (those written and not deleted).
pub trait ChunkLookup {
    fn locate(&self, id: &[u8; 32]) -> Option<ChunkLoc>;
}

/// No chunk anywhere: a first backup, or a reader that relies on its snapshot's own hints.
pub struct NoChunks;

impl ChunkLookup for NoChunks {
    fn locate(&self, _: &[u8; 32]) -> Option<ChunkLoc> {
        None
    }
}

/// `pack_written` folded, `packs_deleted` taking packs away: chunk id → (pack, frame).
/// About 32 + 8 + 8 bytes per chunk plus the packs (a stand-in for the projection).
#[derive(Debug, Default)]
pub struct MemoryLookup {
    packs: Vec<Option<PackRecord>>,
    by_id: HashMap<String, usize>,
    chunks: HashMap<[u8; 32], (u32, u32)>,
}

impl MemoryLookup {
    pub fn apply(&mut self, e: &Event) {
        match e {
            Event::PackWritten { pack } => self.add(pack.clone()),
            Event::PacksDeleted { packs, .. } => {
                for id in packs {
                    if let Some(&i) = self.by_id.get(id) {
                        self.packs[i] = None;
                    }
                }
                // A chunk of a deleted pack is gone unless a later pack holds it too.
                let live = &self.packs;
                self.chunks
                    .retain(|_, (p, _)| live.get(*p as usize).is_some_and(Option::is_some));
            }
            _ => {}
        }
    }

    pub fn add(&mut self, pack: PackRecord) {
        let i = self.packs.len();
        for (f, c) in pack.chunks.iter().enumerate() {
            // A repack's new pack comes later and takes over its chunks.
            self.chunks.insert(c.id, (i as u32, f as u32));
        }
        self.by_id.insert(pack.id.clone(), i);
        self.packs.push(Some(pack));
    }

    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }
}

impl ChunkLookup for MemoryLookup {
    fn locate(&self, id: &[u8; 32]) -> Option<ChunkLoc> {
        let &(p, f) = self.chunks.get(id)?;
        let pack = self.packs.get(p as usize)?.as_ref()?;
        let c = pack.chunks.get(f as usize)?;
        Some(ChunkLoc {
            pack: pack.id.clone(),
            location: pack.location.clone(),
            frame: f,
            raw_len: c.raw_len,
            stored_len: c.stored_len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::PackChunk;

    fn pack(id: &str, chunks: &[u8]) -> PackRecord {
        PackRecord {
            id: id.into(),
            run_id: "r".into(),
            location: format!("repository/packs/{id}.pack"),
            bytes: 1,
            chunks: chunks
                .iter()
                .map(|&c| PackChunk {
                    id: [c; 32],
                    raw_len: u32::from(c),
                    stored_len: 1,
                })
                .collect(),
        }
    }

    #[test]
    fn chunks_are_found_until_their_pack_is_deleted() {
        let mut l = MemoryLookup::default();
        l.apply(&Event::PackWritten {
            pack: pack("a", &[1, 2]),
        });
        l.apply(&Event::PackWritten {
            pack: pack("b", &[2, 3]),
        });
        assert_eq!(l.locate(&[1; 32]).unwrap().frame, 0);
        let two = l.locate(&[2; 32]).unwrap();
        assert_eq!((two.pack.as_str(), two.frame), ("b", 0));
        l.apply(&Event::PacksDeleted {
            packs: vec!["b".into()],
            reason: "t".into(),
            bytes: 1,
        });
        assert!(l.locate(&[2; 32]).is_none());
        assert!(l.locate(&[3; 32]).is_none());
        assert!(l.locate(&[1; 32]).is_some());
        assert_eq!(l.chunk_count(), 1);
    }
}
