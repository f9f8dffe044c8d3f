//! Which backup an incremental builds on: jobs that back up the same things share chains, and
//! a chain too old to extend is not a base. Pure functions of the state and `now`.

use super::selection::Selection;
use crate::events::{BackupKind, BackupRecord, Ts};
use crate::projections::State;

/// What a backup job backs up (database, files, config), as its current spec says; `None` for
/// maintenance jobs and deleted jobs.
pub fn job_sources(state: &State, job_id: &str) -> Option<Selection> {
    let cfg = state
        .schedule
        .jobs
        .get(job_id)?
        .spec
        .action
        .backup_config()?;
    Some(cfg.selection())
}

/// The newest backup of the same things: this job's own, or another backup job's with the same
/// includes (so the preset incremental builds on the nightly full, and each full starts a new
/// chain). Archives are never bases. If that backup, or any backup its restore needs, failed its
/// last verification, there is no base: an incremental on it could not be restored, and falling
/// back to an older link would only extend a chain already known to be damaged, so the run takes
/// a new full and its note names the damaged backup. A chain whose full is older than
/// the incremental retention is not extended: an incremental on it would keep the whole chain
/// alive (retention keeps every base of a kept backup), so the run takes a new full instead.
///
/// `Err` says why there is no base, for the run's note.
pub fn newest_base(
    state: &State,
    job_id: &str,
    selection: &Selection,
    now: Ts,
) -> Result<BackupRecord, String> {
    let same_things =
        |other: &str| other == job_id || job_sources(state, other).as_ref() == Some(selection);
    let newest = state
        .catalog
        .backups
        .values()
        .filter(|b| b.record.kind != BackupKind::Archive)
        .filter(|b| same_things(&b.record.job_id))
        .max_by(|a, b| {
            (a.record.created_at, &a.record.id).cmp(&(b.record.created_at, &b.record.id))
        })
        .ok_or("no earlier backup of the same sources")?;
    let chain = state.catalog.chain(&newest.record.id);
    if let Some(bad) = chain.iter().find(|b| !b.is_good()) {
        let detail = bad
            .last_verified
            .as_ref()
            .and_then(|v| v.detail.as_deref())
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        let whose = if bad.record.id == newest.record.id {
            format!(
                "the newest backup {} failed its last verification",
                bad.record.id
            )
        } else {
            format!(
                "the newest backup {} builds on {}, which failed its last verification",
                newest.record.id, bad.record.id
            )
        };
        return Err(format!("{whose}{detail}"));
    }
    let root = chain
        .last()
        .map(|b| b.record.clone())
        .unwrap_or_else(|| newest.record.clone());
    if let Some(secs) = state.catalog.policy.incremental_secs {
        let age = i64::try_from(secs).ok().map(time::Duration::seconds);
        let limit = age.and_then(|age| root.created_at.get().checked_add(age));
        if limit.is_some_and(|limit| limit <= now.get()) {
            return Err(format!(
                "the chain's full backup {} ({}) is older than retention.incremental",
                root.id, root.created_at
            ));
        }
    }
    Ok(newest.record.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{BackupConfig, BackupMode, BackupType, Event, JobAction};
    use crate::projections::DEFAULT_POLICY;
    use crate::testkit::{self, job_spec, recorded, replay_at, ts};

    const DAY: i64 = 86_400;
    const FULL: Selection = Selection::Categories(true, true, true);
    /// (case, now, events, the base's id or a piece of why there is none)
    type Case = (
        &'static str,
        i64,
        Vec<Event>,
        Result<&'static str, &'static str>,
    );

    fn job(id: &str, action: JobAction) -> Event {
        Event::JobCreated {
            job: job_spec(id, action),
        }
    }

    fn backs_up(t: BackupType) -> JobAction {
        JobAction::Backup(BackupConfig::new(t, BackupMode::Incremental))
    }

    fn backup(id: &str, job_id: &str, kind: BackupKind, parent: Option<&str>, at: i64) -> Event {
        recorded(id, job_id, kind, parent, at)
    }

    fn verified(id: &str, ok: bool) -> Event {
        testkit::verified(id, ok, None)
    }

    /// Jobs `inc` and `nightly` back up everything, `db` only the database, `health` nothing;
    /// then `events`.
    fn state(events: Vec<Event>) -> State {
        let jobs = vec![
            job("inc", backs_up(BackupType::Full)),
            job("nightly", backs_up(BackupType::Full)),
            job("db", backs_up(BackupType::Database)),
            job("health", JobAction::HealthCheck),
        ];
        replay_at(jobs.into_iter().chain(events), ts(0))
    }

    #[test]
    fn job_sources_of_backup_maintenance_and_missing_jobs() {
        let s = state(vec![]);
        assert_eq!(job_sources(&s, "inc"), Some(FULL));
        assert_eq!(
            job_sources(&s, "db"),
            Some(Selection::Categories(true, false, false))
        );
        assert_eq!(job_sources(&s, "health"), None);
        assert_eq!(job_sources(&s, "nope"), None);
    }

    #[test]
    fn which_backup_an_incremental_of_job_inc_builds_on() {
        let own = |id, at| backup(id, "inc", BackupKind::Full, None, at);
        let full = |id, job, at| backup(id, job, BackupKind::Full, None, at);
        let inc = |id, parent, at| backup(id, "inc", BackupKind::Incremental, Some(parent), at);
        let archive = |id, at| backup(id, "inc", BackupKind::Archive, None, at);
        let deleted_job = vec![
            job("gone", backs_up(BackupType::Full)),
            full("g1", "gone", 20),
            Event::JobDeleted {
                job_id: "gone".into(),
            },
        ];
        let chain = vec![own("f1", 0), inc("i1", "f1", 6 * DAY)];
        let mut forever = DEFAULT_POLICY;
        forever.incremental_secs = None;
        let keep_incrementals = Event::RetentionPolicySet { policy: forever };
        #[rustfmt::skip]
        let table: Vec<Case> = vec![
            ("nothing yet", DAY, vec![], Err("no earlier backup")),
            ("the job's own", DAY, vec![own("o1", 10)], Ok("o1")),
            ("the newest of its chain", DAY, vec![own("o1", 10), inc("o2", "o1", 20)], Ok("o2")),
            ("another job's, same includes", DAY, vec![own("o1", 10), full("n1", "nightly", 20)], Ok("n1")),
            ("never another job's, other includes", DAY, vec![own("o1", 10), full("d1", "db", 20)], Ok("o1")),
            ("only other includes: none", DAY, vec![full("d1", "db", 20)], Err("no earlier backup")),
            ("never an archive", DAY, vec![own("o1", 10), archive("w1", 20)], Ok("o1")),
            ("never one verified bad: a new full", DAY, vec![own("o1", 10), own("o2", 20), verified("o2", false)], Err("newest backup o2 failed")),
            ("never on a chain with a base verified bad", DAY, vec![own("f1", 0), inc("i1", "f1", 10), verified("f1", false)], Err("i1 builds on f1, which failed")),
            ("a base verified bad, then good again", DAY, vec![own("f1", 0), inc("i1", "f1", 10), verified("f1", false), verified("f1", true)], Ok("i1")),
            ("an older chain's damage does not matter", DAY, vec![own("f1", 0), verified("f1", false), own("f2", 10)], Ok("f2")),
            ("one verified good", DAY, vec![own("o1", 10), own("o2", 20), verified("o2", true)], Ok("o2")),
            ("never a deleted job's", DAY, [deleted_job, vec![own("o1", 10)]].concat(), Ok("o1")),
            ("a chain younger than retention.incremental", 7 * DAY - 1, chain.clone(), Ok("i1")),
            ("a chain as old as retention.incremental: none", 7 * DAY, chain, Err("full backup f1")),
            ("incrementals kept forever: no age limit", 1000 * DAY, vec![keep_incrementals, own("f1", 0)], Ok("f1")),
        ];
        for (case, now, events, want) in table {
            let got = newest_base(&state(events), "inc", &FULL, ts(now));
            match (got, want) {
                (Ok(b), Ok(id)) => assert_eq!(b.id, id, "{case}"),
                (Err(why), Err(part)) => assert!(why.contains(part), "{case}: {why}"),
                (got, want) => panic!("{case}: got {got:?}, want {want:?}"),
            }
        }
    }
}
