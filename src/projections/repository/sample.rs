//! Which pack frames a verify reads: every frame the chosen snapshots reference, each once
//! however many of them share it, in a fixed order (pack id, frame); and a rotating sample of
//! that list (`verify --sample 5%`): round `r` takes the `r`-th window of the list, wrapping, so
//! successive rounds read everything (20 rounds of 5%) before reading any frame twice — as
//! restic's `--read-data-subset n/t`.

use std::collections::BTreeMap;

use super::{bit, Repository};

/// Frames of one pack to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackFrames {
    pub pack: String,
    pub location: String,
    /// Frame numbers, ascending, with their chunk ids (the entry names in the pack).
    pub frames: Vec<(u32, [u8; 32])>,
}

impl Repository {
    /// Every frame the snapshots `backups` reference (all live snapshots when `None`), each
    /// once, ordered by pack id then frame. Unknown ids and deleted packs are skipped (the
    /// snapshot reader reports a chunk it cannot find).
    pub fn frames_needed(&self, backups: Option<&[String]>) -> Vec<PackFrames> {
        let mut by_pack: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
        let snapshots: Vec<_> = match backups {
            None => self.snapshots.values().collect(),
            Some(ids) => ids.iter().filter_map(|id| self.snapshots.get(id)).collect(),
        };
        for snap in snapshots {
            for (p, bitmap) in &snap.refs {
                let acc = by_pack.entry(&self.packs[*p as usize].id).or_default();
                if acc.len() < bitmap.len() {
                    acc.resize(bitmap.len(), 0);
                }
                for (a, b) in acc.iter_mut().zip(bitmap) {
                    *a |= b;
                }
            }
        }
        by_pack
            .into_iter()
            .filter_map(|(id, bits)| {
                let pack = self.pack(id)?;
                let frames: Vec<(u32, [u8; 32])> = pack
                    .frames
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| bit(&bits, *i))
                    .map(|(i, f)| (i as u32, self.ids[f.chunk as usize]))
                    .collect();
                (!frames.is_empty()).then(|| PackFrames {
                    pack: pack.id.clone(),
                    location: pack.location.clone(),
                    frames,
                })
            })
            .collect()
    }
}

/// The `round`-th rotating sample of `share` (0 < share <= 1) of `all`: a window of
/// ceil(share × n) frames starting at round × window, wrapping round the end. Empty packs are
/// left out of the result.
pub fn sample(all: &[PackFrames], share: f64, round: u64) -> Vec<PackFrames> {
    let n: usize = all.iter().map(|p| p.frames.len()).sum();
    if n == 0 || share >= 1.0 {
        return all.to_vec();
    }
    let window = ((n as f64 * share.max(0.0)).ceil() as usize).clamp(1, n);
    let start = ((round % n as u64) as usize * window) % n;
    let chosen = |k: usize| {
        // Position k is chosen when it lies in [start, start + window) modulo n.
        (k + n - start) % n < window
    };
    let mut k = 0;
    let mut out = Vec::new();
    for p in all {
        let frames: Vec<(u32, [u8; 32])> = p
            .frames
            .iter()
            .filter(|_| {
                let keep = chosen(k);
                k += 1;
                keep
            })
            .copied()
            .collect();
        if !frames.is_empty() {
            out.push(PackFrames {
                frames,
                ..p.clone()
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::{env, id, pack, snapshot};
    use super::*;
    use crate::events::Event;
    use std::collections::BTreeSet;

    fn repo() -> Repository {
        let mut r = Repository::default();
        let events = vec![
            pack("pb", "r1", &[id(1), id(2), id(3)]),
            pack("pa", "r2", &[id(4), id(5)]),
            snapshot("x", &[("pb", &[0, 2]), ("pa", &[1])]),
            snapshot("y", &[("pb", &[2]), ("pa", &[0, 1])]),
            snapshot("z", &[("pb", &[1])]),
        ];
        for (i, e) in events.into_iter().enumerate() {
            r.apply(&env(i as u64 + 1, e));
        }
        r
    }

    #[test]
    fn shared_frames_are_read_once_in_pack_order() {
        let r = repo();
        let both = r.frames_needed(Some(&["x".into(), "y".into(), "nope".into()]));
        let listed: Vec<(&str, Vec<u32>)> = both
            .iter()
            .map(|p| (p.pack.as_str(), p.frames.iter().map(|f| f.0).collect()))
            .collect();
        assert_eq!(listed, [("pa", vec![0, 1]), ("pb", vec![0, 2])]);
        assert_eq!(both[1].frames[1].1, id(3));
        let all: usize = r.frames_needed(None).iter().map(|p| p.frames.len()).sum();
        assert_eq!(all, 5);
        // A deleted pack has nothing left to read.
        let mut r = r;
        r.apply(&env(
            9,
            Event::PacksDeleted {
                packs: vec!["pa".into()],
                reason: "t".into(),
                bytes: 0,
            },
        ));
        assert!(r.frames_needed(None).iter().all(|p| p.pack != "pa"));
    }

    #[test]
    fn successive_rounds_cover_every_frame_before_repeating() {
        let r = repo();
        let all = r.frames_needed(None);
        let key = |p: &PackFrames| -> Vec<(String, u32)> {
            p.frames.iter().map(|f| (p.pack.clone(), f.0)).collect()
        };
        // 5 frames at 40%: windows of 2, so rounds 0, 1, 2 cover all five.
        let mut seen = BTreeSet::new();
        for round in 0..3 {
            let s = sample(&all, 0.4, round);
            let frames: Vec<_> = s.iter().flat_map(key).collect();
            assert_eq!(frames.len(), 2, "round {round}");
            seen.extend(frames);
        }
        assert_eq!(seen.len(), 5);
        // Every share takes at least one frame, and a full share everything.
        assert_eq!(
            sample(&all, 0.0001, 7)
                .iter()
                .map(|p| p.frames.len())
                .sum::<usize>(),
            1
        );
        assert_eq!(sample(&all, 1.0, 3), all);
        assert!(sample(&[], 0.05, 0).is_empty());
    }

    #[test]
    fn a_five_percent_sample_covers_a_large_list_in_twenty_rounds() {
        let all = vec![PackFrames {
            pack: "p".into(),
            location: "l".into(),
            frames: (0..1000u32).map(|i| (i, id(i))).collect(),
        }];
        let mut seen = BTreeSet::new();
        for round in 0..20 {
            let s = sample(&all, 0.05, round);
            assert_eq!(s[0].frames.len(), 50);
            seen.extend(s[0].frames.iter().map(|f| f.0));
        }
        assert_eq!(seen.len(), 1000);
    }
}
