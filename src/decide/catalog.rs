//! The catalog's rules: verifying and deleting backups (never a base something depends on, and
//! under a retention rule only when the plan agrees), recording weekly archives.

use super::{backup, taken};
use crate::domain::{retention, Rejection};
use crate::events::{BackupKind, BackupRecord, Event, Ts};
use crate::projections::State;

pub(super) fn verify_backup(
    state: &State,
    backup_id: &str,
    ok: bool,
    detail: Option<&str>,
) -> Result<Vec<Event>, Rejection> {
    backup(state, backup_id)?;
    Ok(vec![Event::BackupVerified {
        backup_id: backup_id.to_string(),
        ok,
        detail: detail.map(Into::into),
    }])
}

pub(super) fn delete_backup(
    state: &State,
    backup_id: &str,
    rule: &str,
    now: Ts,
) -> Result<Vec<Event>, Rejection> {
    let b = backup(state, backup_id)?;
    if rule.starts_with("retention.") {
        let plan = retention::plan(&state.catalog, now);
        if !plan.allows(backup_id, rule) {
            let why = plan
                .why_kept(backup_id)
                .unwrap_or("it does not expire under it");
            return Err(Rejection::conflict(
                "backup_id",
                format!("{rule} does not delete backup {backup_id:?} now: {why}"),
            ));
        }
    }
    let dependant = state
        .catalog
        .backups
        .values()
        .find(|o| o.record.parent.as_deref() == Some(backup_id));
    if let Some(child) = dependant {
        return Err(Rejection::conflict(
            "backup_id",
            format!(
                "backup {backup_id:?} is the base of {:?}; delete that first",
                child.record.id
            ),
        ));
    }
    Ok(vec![Event::BackupDeleted {
        backup_id: backup_id.to_string(),
        rule: rule.to_string(),
        bytes: b.record.bytes,
    }])
}

pub(super) fn record_archive(
    state: &State,
    archive: &BackupRecord,
    source_id: &str,
    merged: &[String],
) -> Result<Vec<Event>, Rejection> {
    if archive.kind != BackupKind::Archive || archive.parent.is_some() {
        return Err(Rejection::invalid(
            "backup.kind",
            "an archive is self-contained: kind archive, no parent",
        ));
    }
    if state.catalog.backups.contains_key(&archive.id) {
        return Err(taken("backup_id", "backup", &archive.id));
    }
    // The source may have been deleted while the archive was written: the archive is a
    // complete copy, so it is recorded anyway.
    Ok(vec![
        Event::BackupRecorded {
            backup: archive.clone(),
        },
        Event::BackupArchived {
            backup_id: archive.id.clone(),
            source_id: source_id.to_string(),
            merged: merged.to_vec(),
        },
    ])
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use crate::decide::{decide, Command};
    use crate::domain::job::RejectionCode;
    use crate::events::{BackupKind, Event};
    use crate::projections::DEFAULT_POLICY;

    #[test]
    fn a_base_is_not_deleted_while_an_incremental_needs_it() {
        let state = given(vec![
            Event::BackupRecorded {
                backup: record("full", BackupKind::Full, None),
            },
            Event::BackupRecorded {
                backup: record("inc", BackupKind::Incremental, Some("full")),
            },
        ]);
        let del = |id: &str| Command::DeleteBackup {
            backup_id: id.into(),
            rule: "test".into(),
        };
        assert_eq!(
            code(decide(&state, &del("full"), t(0))),
            RejectionCode::Conflict
        );
        assert_eq!(
            decide(&state, &del("inc"), t(0)).unwrap(),
            vec![Event::BackupDeleted {
                backup_id: "inc".into(),
                rule: "test".into(),
                bytes: 10
            }]
        );
    }

    #[test]
    fn retention_deletions_need_the_plan_to_agree() {
        let mut policy = DEFAULT_POLICY;
        policy.incremental_secs = Some(60);
        let state = given(vec![
            Event::RetentionPolicySet { policy },
            Event::BackupRecorded {
                backup: record("full", BackupKind::Full, None),
            },
            Event::BackupRecorded {
                backup: record("inc", BackupKind::Incremental, Some("full")),
            },
        ]);
        let del = |id: &str, rule: &str| Command::DeleteBackup {
            backup_id: id.into(),
            rule: rule.into(),
        };
        // Not expired yet (created at t(0), 60 s), then expired; the wrong rule never.
        let early = decide(&state, &del("inc", "retention.incremental"), t(59)).unwrap_err();
        assert_eq!(early.code, RejectionCode::Conflict);
        assert!(early.message.contains("not expired"), "{}", early.message);
        assert_eq!(
            decide(&state, &del("inc", "retention.incremental"), t(60)).unwrap(),
            vec![Event::BackupDeleted {
                backup_id: "inc".into(),
                rule: "retention.incremental".into(),
                bytes: 10
            }]
        );
        assert_eq!(
            code(decide(&state, &del("inc", "retention.full"), t(60))),
            RejectionCode::Conflict
        );
        // The newest good full stays whatever its age.
        let full = decide(&state, &del("full", "retention.full"), t(90 * 86_400)).unwrap_err();
        assert!(
            full.message.contains("newest good full"),
            "{}",
            full.message
        );
    }

    #[test]
    fn archives_are_recorded_with_their_source() {
        let empty = given(vec![]);
        let mut archive = record("w1", BackupKind::Archive, None);
        archive.job_id = "weekly_archive".into();
        let cmd = Command::RecordArchive {
            backup: archive.clone(),
            source_id: "inc".into(),
            merged: vec!["inc".into(), "full".into()],
        };
        assert_eq!(
            decide(&empty, &cmd, t(0)).unwrap(),
            vec![
                Event::BackupRecorded {
                    backup: archive.clone()
                },
                Event::BackupArchived {
                    backup_id: "w1".into(),
                    source_id: "inc".into(),
                    merged: vec!["inc".into(), "full".into()]
                }
            ]
        );
        let not_archive = Command::RecordArchive {
            backup: record("w2", BackupKind::Full, None),
            source_id: "inc".into(),
            merged: vec![],
        };
        assert_eq!(
            code(decide(&empty, &not_archive, t(0))),
            RejectionCode::Validation
        );
    }
}
