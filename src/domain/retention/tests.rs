//! Table tests on fixed timestamps and the retention invariants as a property test.

use super::*;
use crate::events::{BackupRecord, Envelope, Event};
use proptest::prelude::*;

const DAY: i64 = 86_400;
const T0: i64 = 1_780_000_000;

fn ts(secs: i64) -> Ts {
    Ts::from_unix_nanos((T0 + secs) * 1_000_000_000)
}

#[derive(Debug, Clone)]
struct Given {
    events: Vec<Event>,
    at: Vec<Ts>,
}

impl Given {
    fn new() -> Self {
        Given {
            events: Vec::new(),
            at: Vec::new(),
        }
    }

    fn push(&mut self, at: Ts, e: Event) -> &mut Self {
        self.events.push(e);
        self.at.push(at);
        self
    }

    fn policy(&mut self, full: Option<i64>, inc: Option<i64>, archive: Option<i64>) -> &mut Self {
        let d = |x: Option<i64>| x.map(|d| (d * DAY) as u64);
        self.push(
            ts(-DAY),
            Event::RetentionPolicySet {
                policy: RetentionPolicy {
                    full_secs: d(full),
                    incremental_secs: d(inc),
                    archive_secs: d(archive),
                    report_secs: Some(90 * DAY as u64),
                },
            },
        )
    }

    fn backup(
        &mut self,
        id: &str,
        job: &str,
        kind: BackupKind,
        parent: Option<&str>,
        day: i64,
    ) -> &mut Self {
        self.backup_at(id, job, kind, parent, day * DAY)
    }

    fn backup_at(
        &mut self,
        id: &str,
        job: &str,
        kind: BackupKind,
        parent: Option<&str>,
        secs: i64,
    ) -> &mut Self {
        self.push(
            ts(secs),
            Event::BackupRecorded {
                backup: BackupRecord {
                    id: id.into(),
                    job_id: job.into(),
                    run_id: format!("run-{id}"),
                    kind,
                    parent: parent.map(Into::into),
                    location: format!("backups/{id}.bka"),
                    bytes: 100,
                    entries: 1,
                    checksum: 0,
                    compression: "zstd".into(),
                    created_at: ts(secs),
                },
            },
        )
    }

    fn bad(&mut self, id: &str, day: i64) -> &mut Self {
        self.push(
            ts(day * DAY),
            Event::BackupVerified {
                backup_id: id.into(),
                ok: false,
                detail: Some("crc mismatch".into()),
            },
        )
    }

    fn report(&mut self, id: &str, day: i64) -> &mut Self {
        self.push(
            ts(day * DAY),
            Event::ReportGenerated {
                report_id: id.into(),
                location: format!("reports/{id}.json"),
                bytes: 10,
            },
        )
    }

    fn catalog(&self) -> Catalog {
        let mut c = Catalog::default();
        for (i, (e, at)) in self.events.iter().zip(&self.at).enumerate() {
            c.apply(&Envelope {
                position: i as u64 + 1,
                recorded_at: *at,
                actor: "test".into(),
                correlation: None,
                payload: e.clone(),
            });
        }
        c
    }

    fn plan_at_day(&self, day: i64) -> Plan {
        plan(&self.catalog(), ts(day * DAY))
    }
}

fn ids(d: &[Deletion]) -> Vec<&str> {
    d.iter().map(|d| d.id.as_str()).collect()
}

use BackupKind::{Archive, Full, Incremental};

#[test]
fn expired_chains_go_dependants_first_and_young_chains_stay() {
    let mut g = Given::new();
    g.backup("A", "daily", Full, None, 0)
        .backup("A1", "inc", Incremental, Some("A"), 1)
        .backup("A2", "inc", Incremental, Some("A1"), 2)
        .backup("B", "daily", Full, None, 35)
        .backup("B1", "inc", Incremental, Some("B"), 36)
        .backup("B2", "inc", Incremental, Some("B1"), 38);
    let p = g.plan_at_day(40);
    assert_eq!(ids(&p.backups), ["A2", "A1", "A"]);
    assert_eq!(p.backups[0].rule, "retention.incremental");
    assert_eq!(p.backups[2].rule, "retention.full");
    assert_eq!(p.backups[2].expired_at, ts(30 * DAY));
    assert_eq!(p.bytes, 300);
    assert_eq!(p.refused, None);
    assert_eq!(p.kept.len(), 3);
}

#[test]
fn an_expired_base_of_a_kept_incremental_stays() {
    let mut g = Given::new();
    g.backup("F", "daily", Full, None, 0)
        .backup("N", "daily", Full, None, 1)
        .backup("I1", "inc", Incremental, Some("F"), 25)
        .backup("I2", "inc", Incremental, Some("I1"), 26);
    // Day 33: F expired (day 30), I1 expired (day 32), I2 not (day 33 + 1 s).
    let p = plan(&g.catalog(), ts(33 * DAY - 1));
    assert_eq!(ids(&p.backups), Vec::<&str>::new());
    assert_eq!(p.why_kept("F"), Some("expired, but \"I1\" depends on it"));
    assert_eq!(p.why_kept("I1"), Some("expired, but \"I2\" depends on it"));
    // Once I2 expires the whole chain goes, except the newest full (N, a different chain).
    let p = g.plan_at_day(34);
    assert_eq!(ids(&p.backups), ["I2", "I1", "F"]);
    assert_eq!(
        p.why_kept("N"),
        Some("the newest good full backup of job \"daily\"")
    );
}

#[test]
fn the_newest_good_full_of_each_job_is_never_deleted() {
    let mut g = Given::new();
    g.backup("F1", "a", Full, None, 0)
        .backup("F2", "a", Full, None, 10)
        .bad("F2", 11)
        .backup("G1", "b", Full, None, 1)
        .backup("G2", "b", Full, None, 2);
    let p = g.plan_at_day(100);
    // F2 is newer but verified bad: F1 is job a's newest good full.
    assert_eq!(ids(&p.backups), ["F2", "G1"]);
    assert!(p.why_kept("F1").unwrap().contains("newest good full"));
    assert!(p.why_kept("G2").unwrap().contains("\"b\""));
}

#[test]
fn a_plan_that_deletes_every_backup_is_refused() {
    let mut g = Given::new();
    g.policy(Some(1), Some(1), Some(1))
        .backup("X", "weekly", Archive, None, 0)
        .backup("Y", "weekly", Archive, None, 1)
        .report("R", 0);
    let p = g.plan_at_day(5);
    assert!(p.backups.is_empty());
    assert!(p.refused.as_deref().unwrap().contains("every backup (2)"));
    assert!(p.why_kept("X").unwrap().contains("refused"));
    // Reports are not backups: their rule still applies.
    let p = g.plan_at_day(91);
    assert_eq!(ids(&p.reports), ["R"]);
    assert_eq!(p.reports[0].rule, RULE_REPORT);

    // Only bad fulls: nothing is "good", so everything expired would go: refused as well.
    let mut g = Given::new();
    g.backup("F", "a", Full, None, 0).bad("F", 1);
    assert!(g.plan_at_day(31).refused.is_some());
    assert!(g.plan_at_day(29).refused.is_none());
}

#[test]
fn archives_are_kept_forever_by_default_and_reports_after_ninety_days() {
    let mut g = Given::new();
    g.backup("F", "daily", Full, None, 0)
        .backup("W", "weekly", Archive, None, 0)
        .report("R1", 0)
        .report("R2", 5);
    let p = g.plan_at_day(1000);
    assert!(p.backups.is_empty());
    assert_eq!(p.why_kept("W"), Some("retention.archive keeps it forever"));
    assert_eq!(ids(&p.reports), ["R1", "R2"]);
    let p = plan(&g.catalog(), ts(90 * DAY));
    assert_eq!(
        ids(&p.reports),
        ["R1"],
        "expiry is inclusive at the instant"
    );
    assert!(p.allows("R1", RULE_REPORT));
    assert!(!p.allows("R1", "retention.full"));
    assert!(!p.allows("R2", RULE_REPORT));
}

#[test]
fn seconds_policies_work_like_days() {
    let mut g = Given::new();
    g.push(
        ts(-10),
        Event::RetentionPolicySet {
            policy: RetentionPolicy {
                full_secs: Some(30 * DAY as u64),
                incremental_secs: Some(2),
                archive_secs: None,
                report_secs: None,
            },
        },
    );
    g.backup_at("F", "j", Full, None, 0)
        .backup_at("I1", "j", Incremental, Some("F"), 1)
        .backup_at("I2", "j", Incremental, Some("I1"), 2)
        .backup_at("I3", "j", Incremental, Some("I2"), 3);
    // At 4 s I1 and I2 are expired, but I3 (until 5 s) reads through them.
    let p = plan(&g.catalog(), ts(4));
    assert!(p.backups.is_empty());
    assert_eq!(p.why_kept("I1"), Some("expired, but \"I2\" depends on it"));
    let p = plan(&g.catalog(), ts(5));
    assert_eq!(ids(&p.backups), ["I3", "I2", "I1"]);
}

/// A random catalog: per job a sequence of fulls and incrementals (an incremental's parent is the
/// job's previous backup), some archives, some fulls verified bad; a random policy and a random now.
fn arb_case() -> impl Strategy<Value = (Given, i64)> {
    let step = (0u8..3, 0u8..4, 1i64..5 * DAY, any::<bool>());
    (
        proptest::collection::vec(step, 0..40),
        proptest::option::of(1i64..40),
        proptest::option::of(1i64..10),
        proptest::option::of(1i64..60),
        0i64..120,
    )
        .prop_map(|(steps, full, inc, arch, now_day)| {
            let mut g = Given::new();
            g.policy(full, inc, arch);
            let mut last: BTreeMap<u8, String> = BTreeMap::new();
            let mut t = 0;
            for (i, (job, what, gap, bad)) in steps.into_iter().enumerate() {
                t += gap;
                let id = format!("b{i}");
                let job_id = format!("job{job}");
                match what {
                    0 => {
                        g.backup_at(&id, &job_id, Full, None, t);
                        if bad {
                            g.bad(&id, t / DAY + 1);
                        }
                    }
                    1 | 2 => {
                        let parent = last.get(&job).cloned();
                        let kind = if parent.is_some() { Incremental } else { Full };
                        g.backup_at(&id, &job_id, kind, parent.as_deref(), t);
                    }
                    _ => {
                        g.backup_at(&id, &job_id, Archive, None, t);
                        continue;
                    }
                }
                last.insert(job, id);
            }
            (g, now_day)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn never_a_base_of_a_kept_backup_never_the_newest_good_full_never_everything(
        (g, now_day) in arb_case()
    ) {
        let catalog = g.catalog();
        let now = ts(now_day * DAY);
        let p = plan(&catalog, now);
        let deleted: BTreeSet<&str> = p.backups.iter().map(|d| d.id.as_str()).collect();
        let kept: Vec<&str> = catalog.backups.keys().map(String::as_str).filter(|id| !deleted.contains(id)).collect();
        // Never a backup a kept one depends on.
        for k in &kept {
            for base in bases_of(&catalog, k) {
                prop_assert!(!deleted.contains(base), "{base} deleted but kept {k} depends on it");
            }
        }
        // Never the newest good full of a job.
        for b in newest_good_fulls(&catalog).values() {
            prop_assert!(!deleted.contains(b.record.id.as_str()));
        }
        // Never everything.
        prop_assert!(catalog.backups.is_empty() || !kept.is_empty());
        // Only what is expired, each under its kind's rule; the order deletes dependants first.
        for (i, d) in p.backups.iter().enumerate() {
            let b = &catalog.backups[&d.id];
            prop_assert!(b.expires_at.is_some_and(|e| e <= now));
            prop_assert_eq!(d.rule, rule(b.record.kind));
            // When d goes, nothing still stored (deleted later or kept) has it as its parent.
            for later in &p.backups[i + 1..] {
                let parent = catalog.backups[&later.id].record.parent.as_deref();
                prop_assert_ne!(parent, Some(d.id.as_str()));
            }
        }
        // Every backup is either deleted or kept with a reason.
        prop_assert_eq!(p.kept.len() + p.backups.len(), catalog.backups.len());
    }
}
