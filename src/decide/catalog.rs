//! The catalog's rules: verifying and deleting backups (never a base something depends on, and
//! under a retention rule only when the plan agrees), recording weekly archives.

use super::{backup, taken};
use crate::domain::{retention, Rejection};
use crate::error::Front;
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
        let plan = retention::plan_for(state, now);
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

/// Forgets `backup_id` and, with `cascade`, every backup built on it (dependants first, so no
/// event ever leaves a kept backup without its base). The words for the overrides are the
/// API's: only the API sends this command.
pub(super) fn forget_backup(
    state: &State,
    backup_id: &str,
    reason: Option<&str>,
    cascade: bool,
    force: bool,
) -> Result<Vec<Event>, Rejection> {
    let target = backup(state, backup_id)?;
    let chain = dependants(state, backup_id);
    if !chain.is_empty() && !cascade {
        return Err(Rejection::conflict(
            "cascade",
            format!(
                "backup {backup_id:?} is the base of {}; forget those first, or send {} to \
                 forget them with it",
                quoted(&chain),
                Front::Api.flag("cascade")
            ),
        ));
    }
    let newest = retention::newest_good_fulls(&state.catalog);
    let guarded: Vec<&str> = std::iter::once(backup_id)
        .chain(chain.iter().map(String::as_str))
        .filter(|id| newest.values().any(|b| b.record.id == *id))
        .collect();
    if let (Some(id), false) = (guarded.first(), force) {
        let job = &state.catalog.backups[*id].record.job_id;
        return Err(Rejection::conflict(
            "force",
            format!(
                "backup {id:?} is the newest good full backup of job {job:?}; send {} to \
                 forget it anyway",
                Front::Api.flag("force")
            ),
        ));
    }
    let forget = |b: &crate::projections::Backup| Event::BackupForgotten {
        backup_id: b.record.id.clone(),
        reason: reason.map(Into::into),
        bytes: b.record.bytes,
    };
    let mut events: Vec<Event> = chain
        .iter()
        .map(|id| forget(&state.catalog.backups[id]))
        .collect();
    events.push(forget(target));
    Ok(events)
}

/// Every kept backup that builds on `backup_id`, directly or through others, ordered so each
/// comes before its own base (deepest first).
fn dependants(state: &State, backup_id: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut frontier = vec![backup_id.to_string()];
    while let Some(base) = frontier.pop() {
        for b in state.catalog.backups.values() {
            if b.record.parent.as_deref() == Some(base.as_str()) && !found.contains(&b.record.id) {
                found.push(b.record.id.clone());
                frontier.push(b.record.id.clone());
            }
        }
    }
    // Found base-first (each after its parent): reversed, each dependant precedes its base.
    found.reverse();
    found
}

fn quoted(ids: &[String]) -> String {
    ids.iter()
        .map(|id| format!("{id:?}"))
        .collect::<Vec<_>>()
        .join(", ")
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
    fn forgetting_cascades_dependants_first_and_guards_the_newest_full() {
        let state = given(vec![
            Event::BackupRecorded {
                backup: record("f1", BackupKind::Full, None),
            },
            Event::BackupRecorded {
                backup: record("i1", BackupKind::Incremental, Some("f1")),
            },
            Event::BackupRecorded {
                backup: record("i2", BackupKind::Incremental, Some("i1")),
            },
        ]);
        let forget = |id: &str, cascade, force| Command::ForgetBackup {
            backup_id: id.into(),
            reason: Some("why".into()),
            cascade,
            force,
        };
        let gone = |id: &str| Event::BackupForgotten {
            backup_id: id.into(),
            reason: Some("why".into()),
            bytes: 10,
        };
        let refused = decide(&state, &forget("i1", false, false), t(0)).unwrap_err();
        assert_eq!(refused.field.as_deref(), Some("cascade"));
        assert!(refused.message.contains("\"i2\""), "{}", refused.message);
        assert_eq!(
            decide(&state, &forget("i1", true, false), t(0)).unwrap(),
            [gone("i2"), gone("i1")]
        );
        // f1 is the job's newest good full: cascading onto it needs force too.
        let full = decide(&state, &forget("f1", true, false), t(0)).unwrap_err();
        assert_eq!(full.field.as_deref(), Some("force"));
        assert_eq!(
            decide(&state, &forget("f1", true, true), t(0)).unwrap(),
            [gone("i2"), gone("i1"), gone("f1")]
        );
        assert_eq!(
            code(decide(&state, &forget("nope", true, true), t(0))),
            RejectionCode::NotFound
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
