//! The repository's records from a backup run (schema/repository.md): each pack once it is
//! written and synced (`pack_written`), then the snapshot that references it
//! (`snapshot_recorded`), both only from a backup run still running, so a pack is always
//! recorded before anything uses it and a run that ended cannot add to the catalog.

use super::{found, taken};
use crate::domain::Rejection;
use crate::events::{BackupRecord, Event, PackRecord, SnapshotRefs};
use crate::projections::{RunKind, RunStatus, State};
use crate::repository::{is_snapshot_location, pack_location};

fn running_backup(state: &State, run_id: &str) -> Result<(), Rejection> {
    let run = found(&state.schedule.runs, "run_id", "run", run_id)?;
    if run.kind != RunKind::Backup || run.status != RunStatus::Running {
        return Err(Rejection::conflict(
            "run_id",
            format!("run {run_id:?} is not a running backup run"),
        ));
    }
    Ok(())
}

pub(super) fn record_pack(
    state: &State,
    run_id: &str,
    pack: &PackRecord,
) -> Result<Vec<Event>, Rejection> {
    running_backup(state, run_id)?;
    let hex64 = pack.id.len() == 64 && pack.id.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex64 || pack.location != pack_location(&pack.id) {
        return Err(Rejection::invalid(
            "pack",
            format!(
                "pack {:?} at {:?} is not a pack id and its path",
                pack.id, pack.location
            ),
        ));
    }
    if pack.run_id != run_id || pack.chunks.is_empty() {
        return Err(Rejection::invalid(
            "pack",
            format!("pack {} is not a non-empty pack of run {run_id:?}", pack.id),
        ));
    }
    Ok(vec![Event::PackWritten { pack: pack.clone() }])
}

pub(super) fn record_snapshot(
    state: &State,
    run_id: &str,
    backup: &BackupRecord,
    snapshot: &SnapshotRefs,
) -> Result<Vec<Event>, Rejection> {
    running_backup(state, run_id)?;
    if state.catalog.backups.contains_key(&backup.id) {
        return Err(taken("backup_id", "backup", &backup.id));
    }
    // A snapshot is complete: it depends on no other backup.
    if backup.run_id != run_id || backup.parent.is_some() || !is_snapshot_location(&backup.location)
    {
        return Err(Rejection::invalid(
            "backup",
            format!(
                "backup {:?} is not a snapshot of run {run_id:?} without a parent",
                backup.id
            ),
        ));
    }
    Ok(vec![Event::SnapshotRecorded {
        backup: backup.clone(),
        snapshot: snapshot.clone(),
    }])
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::super::{decide, Command, RunOutcome};
    use crate::domain::job::RejectionCode;
    use crate::events::{BackupKind, PackChunk};

    fn pack(run: &str) -> PackRecord {
        let id = "ab".repeat(32);
        PackRecord {
            location: pack_location(&id),
            id,
            run_id: run.into(),
            bytes: 100,
            chunks: vec![PackChunk {
                id: [1; 32],
                raw_len: 10,
                stored_len: 30,
            }],
        }
    }

    fn snap_record() -> BackupRecord {
        let mut b = record("s1", BackupKind::Full, None);
        b.run_id = "r1".into();
        b.location = crate::repository::snapshot_location("s1");
        b
    }

    use super::*;

    #[test]
    fn packs_and_snapshots_are_recorded_only_from_a_running_backup_run() {
        let state = given(vec![
            Event::JobCreated { job: job("a") },
            started("r1", "a", None),
        ]);
        let rec = Command::RecordPack {
            run_id: "r1".into(),
            pack: pack("r1"),
        };
        assert_eq!(
            decide(&state, &rec, t(2)).unwrap(),
            vec![Event::PackWritten { pack: pack("r1") }]
        );
        let mut bad = pack("r1");
        bad.location = "elsewhere".into();
        let e = decide(
            &state,
            &Command::RecordPack {
                run_id: "r1".into(),
                pack: bad,
            },
            t(2),
        );
        assert_eq!(e.unwrap_err().code, RejectionCode::Validation);
        let snap = Command::RecordSnapshot {
            run_id: "r1".into(),
            backup: snap_record(),
            snapshot: SnapshotRefs {
                packs: vec![],
                logical_bytes: 0,
                new_bytes: 0,
                new_chunks: 0,
                chunks: 0,
            },
        };
        let events = decide(&state, &snap, t(3)).unwrap();
        assert!(matches!(events[..], [Event::SnapshotRecorded { .. }]));
        let mut with_parent = snap.clone();
        if let Command::RecordSnapshot { backup, .. } = &mut with_parent {
            backup.parent = Some("x".into());
        }
        assert!(decide(&state, &with_parent, t(3)).is_err());

        // Then the run's success does not record the backup a second time.
        let mut all = vec![
            Event::JobCreated { job: job("a") },
            started("r1", "a", None),
        ];
        all.extend(events);
        let state = given(all);
        let finish = Command::FinishRun {
            run_id: "r1".into(),
            outcome: RunOutcome::Succeeded {
                backup: Some(snap_record()),
                bytes: 1,
                files: 1,
                note: None,
                warnings: vec![],
                perf: None,
            },
        };
        let done = decide(&state, &finish, t(4)).unwrap();
        assert!(matches!(done[..], [Event::RunSucceeded { .. }]), "{done:?}");
        assert_eq!(
            decide(&state, &snap, t(4)).unwrap_err().code,
            RejectionCode::Conflict
        );

        // A finished run records nothing more.
        let ended = given(vec![
            Event::JobCreated { job: job("a") },
            started("r1", "a", None),
            done[0].clone(),
        ]);
        assert_eq!(
            decide(&ended, &rec, t(5)).unwrap_err().code,
            RejectionCode::Conflict
        );
        let none = decide(
            &ended,
            &Command::RecordPack {
                run_id: "zz".into(),
                pack: pack("zz"),
            },
            t(5),
        );
        assert_eq!(none.unwrap_err().code, RejectionCode::NotFound);
    }
}
