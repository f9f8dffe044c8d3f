use super::*;
use crate::events::{BackupKind, BackupRecord, PackChunk, PackRefs, Ts};

pub(crate) fn id(n: u32) -> [u8; 32] {
    let mut id = [0u8; 32];
    id[..4].copy_from_slice(&n.to_le_bytes());
    id[31] = 0xa5;
    id
}

pub(crate) fn env(position: u64, payload: Event) -> Envelope {
    Envelope {
        position,
        recorded_at: Ts::from_unix_nanos(position as i64 * 1_000_000_000),
        actor: "scheduler".into(),
        correlation: None,
        payload,
    }
}

/// A pack `name` of run `run` holding `chunks` (100 stored bytes each, 100 bytes of overhead).
pub(crate) fn pack(name: &str, run: &str, chunks: &[[u8; 32]]) -> Event {
    Event::PackWritten {
        pack: PackRecord {
            id: name.into(),
            run_id: run.into(),
            location: format!("repository/packs/{name}.pack"),
            bytes: 100 + 100 * chunks.len() as u64,
            chunks: chunks
                .iter()
                .map(|&id| PackChunk {
                    id,
                    raw_len: 200,
                    stored_len: 100,
                })
                .collect(),
        },
    }
}

pub(crate) fn snapshot(backup: &str, refs: &[(&str, &[usize])]) -> Event {
    Event::SnapshotRecorded {
        backup: BackupRecord {
            id: backup.into(),
            job_id: "j".into(),
            run_id: format!("run-{backup}"),
            kind: BackupKind::Full,
            parent: None,
            location: format!("repository/snapshots/{backup}.snap"),
            bytes: 0,
            entries: 1,
            checksum: 0,
            compression: "zstd".into(),
            created_at: Ts::from_unix_nanos(0),
        },
        snapshot: SnapshotRefs {
            packs: refs
                .iter()
                .map(|(p, frames)| {
                    let mut bitmap = Vec::new();
                    for &f in *frames {
                        set_bit(&mut bitmap, f);
                    }
                    PackRefs {
                        pack: (*p).into(),
                        frames: bitmap,
                    }
                })
                .collect(),
            logical_bytes: 1000,
            new_bytes: 0,
            new_chunks: 0,
            chunks: 0,
        },
    }
}

fn fold(events: Vec<Event>) -> Repository {
    let mut repo = Repository::default();
    for (i, e) in events.into_iter().enumerate() {
        repo.apply(&env(i as u64 + 1, e));
    }
    repo
}

fn deleted(backup: &str) -> Event {
    Event::BackupDeleted {
        backup_id: backup.into(),
        rule: "retention.full".into(),
        bytes: 0,
    }
}

#[test]
fn a_chunk_is_found_in_the_first_pack_that_wrote_it() {
    let repo = fold(vec![
        pack("p1", "r1", &[id(1), id(2)]),
        pack("p2", "r2", &[id(2), id(3)]),
    ]);
    assert_eq!(repo.locate(&id(2)).unwrap().pack, "p1");
    assert_eq!(repo.locate(&id(2)).unwrap().frame, 1);
    let loc = repo.locate(&id(3)).unwrap();
    assert_eq!((loc.pack.as_str(), loc.frame, loc.raw_len), ("p2", 1, 200));
    assert_eq!(loc.location, "repository/packs/p2.pack");
    assert_eq!(repo.locate(&id(4)), None);
    assert_eq!(repo.chunk_count(), 3);
}

#[test]
fn liveness_is_the_union_of_live_snapshots_and_deletion_of_a_backup_frees_its_frames() {
    let mut repo = fold(vec![
        pack("p1", "r1", &[id(1), id(2), id(3), id(4)]),
        pack("p2", "r2", &[id(5)]),
        snapshot("a", &[("p1", &[0, 1])]),
        snapshot("b", &[("p1", &[1]), ("p2", &[0])]),
    ]);
    let live = repo.liveness();
    assert_eq!(live[0].live_frames, 2);
    assert_eq!(live[0].live_bytes, 200);
    assert_eq!(live[0].live_share(), 0.5);
    assert_eq!(live[1].live_frames, 1);
    let none = |_: &str| false;
    assert_eq!(repo.prune_candidates(none, 0.5), Candidates::default());
    // Only 1 of p1's 4 frames stays live: a repack candidate; p2 is unreferenced.
    repo.apply(&env(10, deleted("b")));
    let c = repo.prune_candidates(none, 0.5);
    assert_eq!(c.delete.iter().map(|p| &p.id).collect::<Vec<_>>(), ["p2"]);
    assert!(c.repack.is_empty(), "a and its two frames keep half of p1");
    repo.apply(&env(11, snapshot("c", &[("p2", &[0])])));
    repo.apply(&env(12, deleted("a")));
    let c = repo.prune_candidates(none, 0.5);
    assert_eq!(c.delete.iter().map(|p| &p.id).collect::<Vec<_>>(), ["p1"]);
    // A run still in flight keeps its packs however unreferenced they look.
    let c = repo.prune_candidates(|run| run == "r1", 0.5);
    assert!(c.delete.is_empty());
    let f = repo.figures(none, 0.5);
    assert_eq!(f.stored_bytes, 500 + 200);
    assert_eq!(f.prunable_bytes, 500);
    assert_eq!(
        (f.packs, f.chunks, f.snapshots, f.logical_bytes),
        (2, 5, 1, 1000)
    );
}

#[test]
fn a_repack_moves_references_by_chunk_and_the_deletion_drops_only_dead_chunks() {
    let mut repo = fold(vec![
        pack("p1", "r1", &[id(1), id(2), id(3), id(4)]),
        snapshot("a", &[("p1", &[2])]),
        pack("p9", "prune", &[id(3)]),
        Event::PacksRepacked {
            from: vec!["p1".into()],
            into: vec!["p9".into()],
            bytes_freed: 300,
        },
    ]);
    assert_eq!(repo.snapshot("a").unwrap().refs, vec![(1, vec![1])]);
    assert_eq!(repo.locate(&id(3)).unwrap().pack, "p9");
    assert_eq!(repo.locate(&id(1)).unwrap().pack, "p1");
    let c = repo.prune_candidates(|_| false, 0.5);
    assert_eq!(c.delete.iter().map(|p| &p.id).collect::<Vec<_>>(), ["p1"]);
    repo.apply(&env(
        9,
        Event::PacksDeleted {
            packs: vec!["p1".into()],
            reason: "repacked".into(),
            bytes: 500,
        },
    ));
    assert_eq!(repo.locate(&id(1)), None);
    assert_eq!(repo.locate(&id(3)).unwrap().pack, "p9");
    assert_eq!(repo.chunk_count(), 1);
    assert!(repo.pack("p1").is_none());
    // A freed number is reused, and the new chunk is found under its own id.
    repo.apply(&env(10, pack("p10", "r3", &[id(7), id(1)])));
    assert_eq!(repo.locate(&id(1)).unwrap().pack, "p10");
    assert_eq!(repo.locate(&id(7)).unwrap().frame, 0);
    assert_eq!(repo.chunk_count(), 3);
    assert!(
        repo.ids.len() <= 4,
        "numbers were reused: {}",
        repo.ids.len()
    );
}

#[test]
fn ids_sharing_their_first_eight_bytes_are_told_apart() {
    let mut twin = id(1);
    twin[20] = 0x77;
    let mut repo = fold(vec![
        pack("p1", "r1", &[id(1), twin]),
        pack("p2", "r2", &[id(2)]),
    ]);
    assert_eq!(repo.locate(&twin).unwrap().frame, 1);
    assert_eq!(repo.locate(&id(1)).unwrap().frame, 0);
    assert_eq!(repo.chunk_count(), 3);
    // Deleting the indexed one promotes its twin from the overflow.
    repo.apply(&env(
        5,
        Event::PacksDeleted {
            packs: vec!["p1".into()],
            reason: "unreferenced".into(),
            bytes: 300,
        },
    ));
    assert_eq!(repo.locate(&twin), None);
    assert_eq!(repo.locate(&id(1)), None);
    repo.apply(&env(6, pack("p3", "r3", &[twin])));
    assert_eq!(repo.locate(&twin).unwrap().pack, "p3");
    assert_eq!(repo.locate(&id(1)), None);
}

#[test]
fn a_snapshot_of_the_projection_rebuilds_its_indexes() {
    let mut twin = id(1);
    twin[9] = 1;
    let repo = fold(vec![
        pack("p1", "r1", &[id(1), id(2), twin]),
        snapshot("a", &[("p1", &[0, 2])]),
        Event::PacksDeleted {
            packs: vec!["p0".into()],
            reason: "unknown pack: ignored".into(),
            bytes: 0,
        },
    ]);
    let config = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec(&repo, config).unwrap();
    let (back, _): (Repository, _) = bincode::serde::decode_from_slice(&bytes, config).unwrap();
    assert_eq!(back, repo);
    assert_eq!(back.locate(&twin), repo.locate(&twin));
    assert_eq!(back.pack("p1").unwrap().frames.len(), 3);
    assert!(
        serde_json::to_string(&repo).is_ok(),
        "`backupd state` prints it as JSON"
    );
}

/// The bound the doc comment states: a million chunks in packs of 32 stay near 100 MB.
#[test]
fn memory_per_chunk() {
    let mut repo = Repository::default();
    let per_pack = 32u32;
    for p in 0..(1_000_000 / per_pack) {
        let chunks: Vec<[u8; 32]> = (0..per_pack)
            .map(|i| random_id(u64::from(p * per_pack + i)))
            .collect();
        repo.apply(&env(
            u64::from(p) + 1,
            pack(&format!("{p:064x}"), "r", &chunks),
        ));
    }
    let bytes = repo.heap_bytes();
    let per_chunk = bytes / 1_000_000;
    eprintln!("repository projection: {bytes} bytes for 1M chunks, {per_chunk} a chunk");
    assert!(
        per_chunk >= 52,
        "the estimate counts ids, locations and frames: {per_chunk}"
    );
    assert!(
        bytes < 120 << 20,
        "{bytes} bytes for a million chunks ({per_chunk} a chunk)"
    );
}

/// A well-spread id (splitmix64 of `n`), like the keyed BLAKE3 ids the repository uses.
pub(crate) fn random_id(n: u64) -> [u8; 32] {
    let mut id = [0u8; 32];
    let mut x = n;
    for word in id.chunks_mut(8) {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        word.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    id
}

/// A pack's id is its bytes' hash: the same chunks stored again after their pack was deleted
/// make a pack of the same id, which lives again (found by the property test in
/// tests/it/crash.rs: a later backup's snapshot pointed into a "deleted" pack).
#[test]
fn a_deleted_pack_written_again_lives_again() {
    let mut repo = fold(vec![
        pack("p1", "r1", &[id(1), id(2)]),
        snapshot("a", &[("p1", &[0, 1])]),
        deleted("a"),
        Event::PacksDeleted {
            packs: vec!["p1".into()],
            reason: "unreferenced".into(),
            bytes: 300,
        },
    ]);
    assert_eq!(repo.locate(&id(1)), None);
    repo.apply(&env(10, pack("p1", "r2", &[id(1), id(2)])));
    repo.apply(&env(11, snapshot("b", &[("p1", &[0, 1])])));
    let loc = repo.locate(&id(2)).unwrap();
    assert_eq!((loc.pack.as_str(), loc.frame), ("p1", 1));
    assert!(repo.pack("p1").is_some_and(|p| p.run_id == "r2"));
    let none = |_: &str| false;
    assert_eq!(repo.liveness()[0].live_frames, 2);
    assert_eq!(repo.prune_candidates(none, 0.5), Candidates::default());
    assert_eq!(repo.figures(none, 0.5).packs, 1);
    // Written again while live: nothing changes.
    let before = repo.clone();
    repo.apply(&env(12, pack("p1", "r3", &[id(1), id(2)])));
    assert_eq!(repo, before);
}
