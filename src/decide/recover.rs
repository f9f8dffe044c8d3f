//! Recovering the catalog from the archives (`backupd recover`): the backups the archives told
//! of, recorded in one append with the `catalog_recovered` event that says so. Only into a log
//! that knows no backup (recovery replaces a lost log; it never merges into a live one), and
//! only as a chain: each incremental after its parent, kinds as the format allows.

use std::collections::BTreeSet;

use crate::domain::Rejection;
use crate::events::{BackupKind, BackupRecord, Event};
use crate::projections::State;

pub(super) fn recover(
    state: &State,
    backups: &[BackupRecord],
    skipped: &[String],
    note: &str,
) -> Result<Vec<Event>, Rejection> {
    if !state.catalog.backups.is_empty() || !state.catalog.deleted_ids.is_empty() {
        return Err(Rejection::conflict(
            "backups",
            "the log already has a catalog: recovery only rebuilds a lost one",
        ));
    }
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut events = Vec::with_capacity(backups.len() + 1);
    for b in backups {
        match (b.kind, &b.parent) {
            (BackupKind::Incremental, Some(p)) if !seen.contains(p.as_str()) => {
                return Err(Rejection::invalid(
                    "backups",
                    format!("incremental {:?} comes before its parent {p:?}", b.id),
                ))
            }
            (BackupKind::Incremental, Some(_)) | (BackupKind::Full | BackupKind::Archive, None) => {
            }
            _ => {
                return Err(Rejection::invalid(
                    "backups",
                    format!(
                        "backup {:?}: an incremental has a parent, a full or an archive none",
                        b.id
                    ),
                ))
            }
        }
        if !seen.insert(&b.id) {
            return Err(super::taken("backup_id", "backup", &b.id));
        }
        events.push(Event::BackupRecorded { backup: b.clone() });
    }
    events.push(Event::CatalogRecovered {
        backups: u32::try_from(backups.len()).unwrap_or(u32::MAX),
        skipped: skipped.to_vec(),
        note: note.to_string(),
    });
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use crate::decide::{decide, Command};
    use crate::domain::job::RejectionCode;
    use crate::events::{BackupKind, Event};

    fn cmd(backups: Vec<crate::events::BackupRecord>) -> Command {
        Command::RecoverCatalog {
            backups,
            skipped: vec!["backups/x.bka: damaged".into()],
            note: "n".into(),
        }
    }

    #[test]
    fn records_the_chain_and_the_recovery_in_one_append() {
        let full = record("full", BackupKind::Full, None);
        let inc = record("inc", BackupKind::Incremental, Some("full"));
        let events = decide(&given(vec![]), &cmd(vec![full.clone(), inc.clone()]), t(0)).unwrap();
        assert_eq!(
            events,
            vec![
                Event::BackupRecorded { backup: full },
                Event::BackupRecorded { backup: inc },
                Event::CatalogRecovered {
                    backups: 2,
                    skipped: vec!["backups/x.bka: damaged".into()],
                    note: "n".into()
                }
            ]
        );
    }

    #[test]
    fn refuses_children_first_bad_kinds_and_a_live_catalog() {
        let full = record("full", BackupKind::Full, None);
        let inc = record("inc", BackupKind::Incremental, Some("full"));
        let empty = given(vec![]);
        let code_of = |c| code(decide(&empty, &c, t(0)));
        assert_eq!(
            code_of(cmd(vec![inc.clone(), full.clone()])),
            RejectionCode::Validation
        );
        assert_eq!(
            code_of(cmd(vec![record("i", BackupKind::Incremental, None)])),
            RejectionCode::Validation
        );
        assert_eq!(
            code_of(cmd(vec![record("a", BackupKind::Archive, Some("full"))])),
            RejectionCode::Validation
        );
        assert_eq!(
            code_of(cmd(vec![full.clone(), full.clone()])),
            RejectionCode::Conflict
        );
        let live = given(vec![Event::BackupRecorded {
            backup: full.clone(),
        }]);
        assert_eq!(
            code(decide(&live, &cmd(vec![inc]), t(0))),
            RejectionCode::Conflict
        );
    }
}
