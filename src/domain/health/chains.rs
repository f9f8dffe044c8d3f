//! The `damaged_chains` check: which backups cannot be restored because a backup their restore
//! needs (themselves or a base in their chain) failed its last verification.

use std::collections::BTreeMap;

use super::check;
use crate::events::{HealthCheck, HealthStatus};
use crate::projections::{Backup, State};

/// How many damaged links, and backups per link, the reason lists before counting the rest.
const LISTED: usize = 5;

/// Ok when no backup depends on a damaged one. Critical when a job's newest backup is among the
/// unrestorable (its latest restore point is lost); a warning when every such job has a newer
/// backup that restores (a new full was taken, the damaged chain only waits for retention).
pub(super) fn damaged_chains(state: &State) -> HealthCheck {
    let catalog = &state.catalog;
    // damaged link id → the backups it makes unrestorable (itself included), oldest first
    let mut by_link: BTreeMap<&str, (&Backup, Vec<&Backup>)> = BTreeMap::new();
    for b in catalog.backups.values() {
        // The oldest bad link is the cause: a backup whose verification failed only because
        // of its base is listed as lost through that base.
        let chain = catalog.chain(&b.record.id);
        if let Some(bad) = chain.into_iter().rev().find(|l| !l.is_good()) {
            by_link
                .entry(bad.record.id.as_str())
                .or_insert_with(|| (bad, Vec::new()))
                .1
                .push(b);
        }
    }
    if by_link.is_empty() {
        return check(
            "damaged_chains",
            HealthStatus::Ok,
            "no backup depends on one that failed its last verification",
        );
    }
    let newest_of_job = |job: &str| {
        catalog
            .backups
            .values()
            .filter(|b| b.record.job_id == job)
            .max_by_key(|b| (b.record.created_at, &b.record.id))
            .map(|b| b.record.id.as_str())
    };
    let mut latest_lost = Vec::new();
    let mut lines = Vec::new();
    let total: usize = by_link.values().map(|(_, lost)| lost.len()).sum();
    for (link, (bad, lost)) in &mut by_link {
        lost.sort_by_key(|b| (b.record.created_at, &b.record.id));
        for b in lost.iter() {
            if newest_of_job(&b.record.job_id) == Some(b.record.id.as_str()) {
                latest_lost.push(format!("{} (job {})", b.record.id, b.record.job_id));
            }
        }
        let why = bad
            .last_verified
            .as_ref()
            .map(|v| {
                format!(
                    "verified bad at {}{}",
                    v.at,
                    v.detail
                        .as_deref()
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default()
                )
            })
            .unwrap_or_default();
        let ids: Vec<&str> = lost
            .iter()
            .take(LISTED)
            .map(|b| b.record.id.as_str())
            .collect();
        let more = lost.len().saturating_sub(LISTED);
        lines.push(format!(
            "{link} is damaged ({why}), so these cannot be restored: {}{}",
            ids.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
    }
    let links = lines.len();
    lines.truncate(LISTED);
    let more_links = links.saturating_sub(LISTED);
    let (status, verdict) = if latest_lost.is_empty() {
        (
            HealthStatus::Warning,
            "each affected job has a newer backup that restores".to_string(),
        )
    } else {
        (
            HealthStatus::Critical,
            format!("latest restore point lost: {}", latest_lost.join(", ")),
        )
    };
    check(
        "damaged_chains",
        status,
        format!(
            "{total} backup(s) unrestorable through {links} damaged backup(s); {verdict}: {}{}",
            lines.join("; "),
            if more_links > 0 {
                format!("; and {more_links} more damaged")
            } else {
                String::new()
            }
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{BackupKind, Event};
    use crate::testkit::{self, recorded, replay_at, ts};

    fn backup(id: &str, parent: Option<&str>, at: i64) -> Event {
        let kind = if parent.is_some() {
            BackupKind::Incremental
        } else {
            BackupKind::Full
        };
        recorded(id, "job", kind, parent, at)
    }

    fn verified(id: &str, ok: bool) -> Event {
        let detail = if ok {
            "ok"
        } else {
            "frame 0: checksum mismatch"
        };
        testkit::verified(id, ok, Some(detail))
    }

    fn state(events: Vec<Event>) -> State {
        replay_at(events, ts(100))
    }

    #[test]
    fn a_damaged_base_names_every_backup_it_makes_unrestorable() {
        let chain = || {
            vec![
                backup("f1", None, 0),
                backup("i1", Some("f1"), 10),
                backup("i2", Some("i1"), 20),
            ]
        };
        let c = damaged_chains(&state(chain()));
        assert_eq!(c.status, HealthStatus::Ok, "{}", c.reason);

        // The full is bad: the whole chain is lost, the job's latest restore point with it.
        let c = damaged_chains(&state([chain(), vec![verified("f1", false)]].concat()));
        assert_eq!(c.status, HealthStatus::Critical, "{}", c.reason);
        assert!(
            c.reason
                .contains("3 backup(s) unrestorable through 1 damaged backup(s)")
                && c.reason.contains("f1 is damaged (verified bad at")
                && c.reason.contains(
                    "frame 0: checksum mismatch), so these cannot be restored: f1, i1, i2"
                )
                && c.reason.contains("latest restore point lost: i2 (job job)"),
            "{}",
            c.reason
        );

        // The incremental marked bad too (its verification failed through the full): the full
        // is still named as the cause of both.
        let c = damaged_chains(&state(
            [chain(), vec![verified("i2", false), verified("f1", false)]].concat(),
        ));
        assert!(
            c.reason.contains("through 1 damaged backup(s)")
                && c.reason.contains("restored: f1, i1, i2"),
            "{}",
            c.reason
        );

        // Only the middle link: the full still restores.
        let c = damaged_chains(&state([chain(), vec![verified("i1", false)]].concat()));
        assert!(
            c.reason.contains("cannot be restored: i1, i2"),
            "{}",
            c.reason
        );

        // A newer full that restores: a warning, the old chain only waits for retention.
        let c = damaged_chains(&state(
            [chain(), vec![verified("f1", false), backup("f2", None, 30)]].concat(),
        ));
        assert_eq!(c.status, HealthStatus::Warning, "{}", c.reason);

        // Verified good again (repaired from a copy): nothing is damaged.
        let c = damaged_chains(&state(
            [chain(), vec![verified("f1", false), verified("f1", true)]].concat(),
        ));
        assert_eq!(c.status, HealthStatus::Ok, "{}", c.reason);
    }
}
