//! What the repository projection derives on demand: which frames of each pack some live
//! snapshot needs (the OR of their bitmaps), and from that the storage figures and the packs a
//! prune may delete or repack. Computed when asked rather than kept up to date: a prune, a
//! scrape or a report asks seldom, and a fold that only records facts cannot drift.

use serde::{Deserialize, Serialize};

use super::{bit, PackNo, Repository};

/// One pack that is not deleted, with what live snapshots need of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackLiveness {
    pub pack: PackNo,
    pub id: String,
    pub run_id: String,
    pub bytes: u64,
    pub frames: u32,
    /// Bit i = frame i is referenced by at least one live snapshot.
    pub live: Vec<u8>,
    pub live_frames: u32,
    /// Stored bytes of the live frames.
    pub live_bytes: u64,
    /// Stored bytes of all frames (the pack's `bytes` less its header, index and trailer).
    pub frame_bytes: u64,
}

impl PackLiveness {
    /// The share of the pack's frame bytes that live snapshots need (1.0 for an empty pack, so
    /// a pack without frames is never "sparse").
    pub fn live_share(&self) -> f64 {
        if self.frame_bytes == 0 {
            return 1.0;
        }
        self.live_bytes as f64 / self.frame_bytes as f64
    }
}

/// The repository's storage figures (API, `/metrics`, the report).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    /// Content bytes of the live snapshots, each counted whole (what they would take undeduplicated
    /// and uncompressed).
    pub logical_bytes: u64,
    /// Bytes of the pack files that exist: after dedup and compression.
    pub stored_bytes: u64,
    /// What a prune now would free: unreferenced packs whole, sparse packs' dead frames.
    pub prunable_bytes: u64,
    pub packs: u64,
    pub chunks: u64,
    pub snapshots: u64,
}

/// What a prune would do, by the rules alone (decide adds the refusal while runs are in flight).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Candidates {
    /// Packs no live snapshot references: deleted whole.
    pub delete: Vec<PackLiveness>,
    /// Packs whose live share is below the threshold: their live frames are copied into a new
    /// pack, then they are deleted.
    pub repack: Vec<PackLiveness>,
}

impl Candidates {
    /// Bytes the prune frees: deleted packs whole, repacked packs less what is copied.
    pub fn freed_bytes(&self) -> u64 {
        let deleted: u64 = self.delete.iter().map(|p| p.bytes).sum();
        let repacked: u64 = self
            .repack
            .iter()
            .map(|p| p.bytes.saturating_sub(p.live_bytes))
            .sum();
        deleted + repacked
    }
}

impl Repository {
    /// Every pack not deleted, with the frames live snapshots need.
    pub fn liveness(&self) -> Vec<PackLiveness> {
        let mut live: Vec<Vec<u8>> = vec![Vec::new(); self.packs.len()];
        for snap in self.snapshots.values() {
            for (p, bitmap) in &snap.refs {
                let acc = &mut live[*p as usize];
                if acc.len() < bitmap.len() {
                    acc.resize(bitmap.len(), 0);
                }
                for (a, b) in acc.iter_mut().zip(bitmap) {
                    *a |= b;
                }
            }
        }
        self.packs
            .iter()
            .zip(live)
            .enumerate()
            .filter(|(_, (pack, _))| !pack.deleted)
            .map(|(p, (pack, live))| {
                let (mut live_frames, mut live_bytes, mut frame_bytes) = (0, 0, 0);
                for (i, f) in pack.frames.iter().enumerate() {
                    frame_bytes += u64::from(f.stored_len);
                    if bit(&live, i) {
                        live_frames += 1;
                        live_bytes += u64::from(f.stored_len);
                    }
                }
                PackLiveness {
                    pack: p as PackNo,
                    id: pack.id.clone(),
                    run_id: pack.run_id.clone(),
                    bytes: pack.bytes,
                    frames: pack.frames.len() as u32,
                    live,
                    live_frames,
                    live_bytes,
                    frame_bytes,
                }
            })
            .collect()
    }

    /// The packs a prune deletes and repacks: unreferenced ones, and those whose live share is
    /// below `repack_below`; never a pack of a run `in_flight` says is still going (its
    /// snapshot is not recorded yet, so its chunks look unreferenced).
    pub fn prune_candidates(
        &self,
        in_flight: impl Fn(&str) -> bool,
        repack_below: f64,
    ) -> Candidates {
        let mut c = Candidates::default();
        for p in self.liveness() {
            if in_flight(&p.run_id) {
                continue;
            }
            if p.live_frames == 0 {
                c.delete.push(p);
            } else if p.live_share() < repack_below {
                c.repack.push(p);
            }
        }
        c
    }

    pub fn figures(&self, in_flight: impl Fn(&str) -> bool, repack_below: f64) -> Figures {
        let packs = self.packs.iter().filter(|p| !p.deleted);
        Figures {
            logical_bytes: self.snapshots.values().map(|s| s.logical_bytes).sum(),
            stored_bytes: packs.clone().map(|p| p.bytes).sum(),
            prunable_bytes: self.prune_candidates(in_flight, repack_below).freed_bytes(),
            packs: packs.count() as u64,
            chunks: self.chunk_count(),
            snapshots: self.snapshots.len() as u64,
        }
    }
}
