use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::decide::fixture::{code, given, job, started};
use crate::domain::job::RejectionCode;
use crate::events::{BackupKind, BackupRecord, Envelope, PackChunk, PackRefs, SnapshotRefs, Ts};
use crate::projections::repository_bit;

fn id(n: u32) -> [u8; 32] {
    let mut id = [0u8; 32];
    id[..4].copy_from_slice(&n.to_le_bytes());
    id
}

fn pack_record(name: &str, run: &str, chunks: &[[u8; 32]]) -> PackRecord {
    PackRecord {
        id: name.into(),
        run_id: run.into(),
        location: format!("repository/packs/{name}.pack"),
        bytes: 100 + 100 * chunks.len() as u64,
        chunks: chunks
            .iter()
            .map(|&id| PackChunk {
                id,
                raw_len: 150,
                stored_len: 100,
            })
            .collect(),
    }
}

fn bitmap(frames: &[usize]) -> Vec<u8> {
    let mut b = vec![0u8; frames.iter().max().map_or(0, |m| m / 8 + 1)];
    for &f in frames {
        b[f / 8] |= 1 << (f % 8);
    }
    b
}

fn snapshot(backup: &str, refs: &[(&str, &[usize])]) -> Event {
    Event::SnapshotRecorded {
        backup: BackupRecord {
            id: backup.into(),
            job_id: "b".into(),
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
                .map(|(p, f)| PackRefs {
                    pack: (*p).into(),
                    frames: bitmap(f),
                })
                .collect(),
            logical_bytes: 1,
            new_bytes: 0,
            new_chunks: 0,
            chunks: 0,
        },
    }
}

fn backup_job() -> Event {
    let mut spec = job("b");
    spec.action = JobAction::Archive;
    Event::JobCreated { job: spec }
}

fn gone(backup: &str) -> Event {
    Event::BackupDeleted {
        backup_id: backup.into(),
        rule: "retention.full".into(),
        bytes: 0,
    }
}

#[test]
fn an_unreferenced_pack_is_deleted_and_a_referenced_one_refused() {
    let state = given(vec![
        Event::PackWritten {
            pack: pack_record("p1", "r1", &[id(1), id(2)]),
        },
        Event::PackWritten {
            pack: pack_record("p2", "r1", &[id(3)]),
        },
        snapshot("a", &[("p1", &[1])]),
    ]);
    let events = delete_packs(&state, &["p2".into()], "unreferenced").unwrap();
    assert_eq!(
        events,
        vec![Event::PacksDeleted {
            packs: vec!["p2".into()],
            reason: "unreferenced".into(),
            bytes: 200
        }]
    );
    assert_eq!(
        code(delete_packs(&state, &["p1".into()], "x")),
        RejectionCode::Conflict
    );
    assert_eq!(
        code(delete_packs(&state, &["p7".into()], "x")),
        RejectionCode::NotFound
    );
    let twice = delete_packs(&state, &["p2".into(), "p2".into()], "x");
    assert_eq!(code(twice), RejectionCode::Validation);
    let planned = plan(&state, 0.5);
    assert_eq!(
        planned.delete.iter().map(|p| &p.id).collect::<Vec<_>>(),
        ["p2"]
    );
    assert!(planned.repack.is_empty(), "p1 is half live, not under half");
}

#[test]
fn prune_is_refused_while_a_run_that_may_use_packs_is_in_flight_and_names_it() {
    let mut cleanup = job("c");
    cleanup.action = JobAction::Cleanup;
    let base = vec![
        backup_job(),
        Event::JobCreated { job: cleanup },
        Event::PackWritten {
            pack: pack_record("p1", "r0", &[id(1)]),
        },
        started("rc", "c", None),
    ];
    // The cleanup run that prunes does not block itself.
    let state = given(base.clone());
    assert!(blocking_runs(&state).is_empty());
    assert!(delete_packs(&state, &["p1".into()], "unreferenced").is_ok());
    let mut running = base;
    running.push(started("rb", "b", None));
    let state = given(running);
    let refused = delete_packs(&state, &["p1".into()], "unreferenced").unwrap_err();
    assert_eq!(refused.code, RejectionCode::Conflict);
    assert_eq!(refused.field.as_deref(), Some("runs"));
    assert!(refused.message.contains("rb"), "{}", refused.message);
    let into = [pack_record("p9", "rc", &[id(1)])];
    assert_eq!(
        code(repack(&state, &["p1".into()], &into)),
        RejectionCode::Conflict
    );
}

#[test]
fn the_packs_of_a_run_still_in_flight_are_never_planned_for_deletion() {
    let mut cleanup = job("c");
    cleanup.action = JobAction::Cleanup;
    // A run of a job the log no longer has (deleted meanwhile) still counts while open.
    let state = given(vec![
        Event::JobCreated { job: cleanup },
        started("rc", "c", None),
        Event::PackWritten {
            pack: pack_record("p1", "rc", &[id(1)]),
        },
    ]);
    assert!(plan(&state, 0.5).delete.is_empty());
    assert_eq!(
        code(delete_packs(&state, &["p1".into()], "x")),
        RejectionCode::Conflict
    );
}

#[test]
fn a_repack_records_the_new_pack_moves_references_and_deletes_the_old() {
    let state = given(vec![
        Event::PackWritten {
            pack: pack_record("p1", "r1", &[id(1), id(2), id(3), id(4)]),
        },
        snapshot("a", &[("p1", &[3])]),
    ]);
    let planned = plan(&state, 0.5);
    assert_eq!(
        planned.repack.iter().map(|p| &p.id).collect::<Vec<_>>(),
        ["p1"]
    );
    assert_eq!(planned.freed_bytes(), 500 - 100);
    let missing = [pack_record("p9", "rc", &[id(2)])];
    assert_eq!(
        code(repack(&state, &["p1".into()], &missing)),
        RejectionCode::Conflict
    );
    let into = [pack_record("p9", "rc", &[id(4)])];
    let events = repack(&state, &["p1".into()], &into).unwrap();
    assert_eq!(events.len(), 3);
    assert!(matches!(
        &events[1],
        Event::PacksRepacked {
            bytes_freed: 300,
            ..
        }
    ));
    let mut after = state.clone();
    for (i, e) in events.into_iter().enumerate() {
        after.apply(&Envelope {
            position: 100 + i as u64,
            recorded_at: Ts::from_unix_nanos(0),
            actor: "scheduler".into(),
            correlation: None,
            payload: e,
        });
    }
    assert_eq!(after.repository.locate(&id(4)).unwrap().pack, "p9");
    assert_eq!(after.repository.locate(&id(1)), None);
    assert_eq!(plan(&after, 0.5), Candidates::default());
    // The same new pack twice is refused: its id exists now.
    assert_eq!(
        code(repack(&after, &["p9".into()], &into)),
        RejectionCode::Conflict
    );
}

/// One step of the model: a backup of a set of chunks (written as a run; `prune_midway` tries a
/// prune while it is in flight), the deletion of a live backup, or a prune.
#[derive(Debug, Clone)]
enum Op {
    Backup {
        chunks: BTreeSet<u32>,
        prune_midway: bool,
    },
    Delete(usize),
    Prune {
        repack_below: f64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (proptest::collection::btree_set(0u32..40, 1..12), any::<bool>())
            .prop_map(|(chunks, prune_midway)| Op::Backup { chunks, prune_midway }),
        2 => (0usize..8).prop_map(Op::Delete),
        2 => prop_oneof![Just(0.0), Just(0.5), Just(0.9)].prop_map(|repack_below| Op::Prune { repack_below }),
    ]
}

struct Model {
    state: State,
    /// Each live backup's chunks, as the backup stored them.
    expected: BTreeMap<String, BTreeSet<[u8; 32]>>,
    n: u32,
    log: Vec<Envelope>,
}

impl Model {
    fn apply(&mut self, events: Vec<Event>) {
        for payload in events {
            let position = self.state.position + 1;
            let envelope = Envelope {
                position,
                recorded_at: Ts::from_unix_nanos(position as i64),
                actor: "test".into(),
                correlation: None,
                payload,
            };
            self.state.apply(&envelope);
            self.log.push(envelope);
        }
    }

    fn fresh(&mut self, what: &str) -> String {
        self.n += 1;
        format!("{what}{}", self.n)
    }

    fn backup(&mut self, chunks: &BTreeSet<u32>, prune_midway: bool) {
        let run = self.fresh("run");
        let backup = self.fresh("backup");
        self.apply(vec![started(&run, "b", None)]);
        let ids: Vec<[u8; 32]> = chunks.iter().map(|&c| id(c)).collect();
        let new: Vec<[u8; 32]> = ids
            .iter()
            .copied()
            .filter(|c| self.state.repository.locate(c).is_none())
            .collect();
        if !new.is_empty() {
            let pack = self.fresh("pack");
            self.apply(vec![Event::PackWritten {
                pack: pack_record(&pack, &run, &new),
            }]);
        }
        if prune_midway {
            let planned = plan(&self.state, 0.5);
            let names: Vec<String> = planned.delete.iter().map(|p| p.id.clone()).collect();
            if !names.is_empty() {
                let refused = delete_packs(&self.state, &names, "unreferenced").unwrap_err();
                assert_eq!(refused.field.as_deref(), Some("runs"));
            }
        }
        let mut refs: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for c in &ids {
            let loc = self
                .state
                .repository
                .locate(c)
                .expect("a chunk just stored or found");
            refs.entry(loc.pack).or_default().push(loc.frame as usize);
        }
        let refs: Vec<(&str, &[usize])> = refs
            .iter()
            .map(|(p, f)| (p.as_str(), f.as_slice()))
            .collect();
        self.apply(vec![
            snapshot(&backup, &refs),
            Event::RunSucceeded {
                run_id: run,
                backup_id: Some(backup.clone()),
                bytes: 0,
                files: 0,
                duration_ms: 0,
                note: None,
            },
        ]);
        self.expected.insert(backup, ids.into_iter().collect());
    }

    fn prune(&mut self, repack_below: f64) {
        let planned = plan(&self.state, repack_below);
        if !planned.repack.is_empty() {
            let repo = &self.state.repository;
            let mut live = Vec::new();
            for p in &planned.repack {
                let pack = repo.pack(&p.id).unwrap();
                for (i, f) in pack.frames.iter().enumerate() {
                    if repository_bit(&p.live, i) {
                        live.push(repo.chunk_id(f.chunk));
                    }
                }
            }
            let from: Vec<String> = planned.repack.iter().map(|p| p.id.clone()).collect();
            let into = pack_record(&self.fresh("pack"), "prune", &live);
            let events = repack(&self.state, &from, &[into]).expect("a planned repack");
            self.apply(events);
        }
        if !planned.delete.is_empty() {
            let names: Vec<String> = planned.delete.iter().map(|p| p.id.clone()).collect();
            let events = delete_packs(&self.state, &names, "unreferenced").expect("planned");
            self.apply(events);
        }
        // After a prune nothing is left that no live snapshot needs, nor anything sparse.
        let again = plan(&self.state, repack_below);
        assert!(again.delete.is_empty(), "{again:?}");
        for p in self.state.repository.liveness() {
            assert!(p.live_frames > 0, "pack {} kept with no live frame", p.id);
        }
    }

    /// Every live snapshot resolves, through packs that exist, to exactly its chunks.
    fn check(&self) {
        let repo = &self.state.repository;
        assert_eq!(
            repo.snapshot_ids().collect::<Vec<_>>(),
            self.expected.keys().map(String::as_str).collect::<Vec<_>>()
        );
        for (backup, chunks) in &self.expected {
            let snap = repo.snapshot(backup).unwrap();
            let mut found = BTreeSet::new();
            for (p, bits) in &snap.refs {
                let id = repo.pack_id(*p);
                let pack = repo
                    .pack(id)
                    .unwrap_or_else(|| panic!("{backup} references deleted {id}"));
                for i in 0..bits.len() * 8 {
                    if repository_bit(bits, i) {
                        found.insert(repo.chunk_id(pack.frames[i].chunk));
                    }
                }
            }
            assert_eq!(&found, chunks, "{backup}");
            for c in chunks {
                assert!(
                    repo.locate(c).is_some(),
                    "a live chunk is found for the next backup"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Random backups, deletions and prunes: no live snapshot ever references a deleted pack or
    /// loses a chunk, and after a prune no pack is kept that no live snapshot needs.
    #[test]
    fn prune_keeps_every_live_snapshot_whole(ops in proptest::collection::vec(op(), 1..40)) {
        let mut m = Model { state: State::default(), expected: BTreeMap::new(), n: 0, log: Vec::new() };
        m.apply(vec![backup_job()]);
        for op in ops {
            match op {
                Op::Backup { chunks, prune_midway } => m.backup(&chunks, prune_midway),
                Op::Delete(i) => {
                    if let Some(b) = m.expected.keys().nth(i).cloned() {
                        m.expected.remove(&b);
                        m.apply(vec![gone(&b)]);
                    }
                }
                Op::Prune { repack_below } => m.prune(repack_below),
            }
            m.check();
        }
        // Replay of the whole log, and a projection snapshot's round trip, equal the live fold.
        let replayed = State::replay(&m.log);
        prop_assert_eq!(&replayed.repository, &m.state.repository);
        let config = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(&m.state.repository, config).unwrap();
        let (back, _): (crate::projections::Repository, _) =
            bincode::serde::decode_from_slice(&bytes, config).unwrap();
        prop_assert_eq!(&back, &m.state.repository);
        for c in 0..40 {
            prop_assert_eq!(back.locate(&id(c)), m.state.repository.locate(&id(c)));
        }
    }
}
