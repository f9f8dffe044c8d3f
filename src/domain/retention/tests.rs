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

    fn verify(&mut self, id: &str, ok: bool, secs: i64) -> &mut Self {
        self.push(
            ts(secs),
            Event::BackupVerified {
                backup_id: id.into(),
                ok,
                detail: (!ok).then(|| "crc mismatch".into()),
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
        plan(&self.catalog(), &KeepByJob::new(), ts(day * DAY))
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
    let p = plan(&g.catalog(), &KeepByJob::new(), ts(33 * DAY - 1));
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
    let p = plan(&g.catalog(), &KeepByJob::new(), ts(90 * DAY));
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
    let p = plan(&g.catalog(), &KeepByJob::new(), ts(4));
    assert!(p.backups.is_empty());
    assert_eq!(p.why_kept("I1"), Some("expired, but \"I2\" depends on it"));
    let p = plan(&g.catalog(), &KeepByJob::new(), ts(5));
    assert_eq!(ids(&p.backups), ["I3", "I2", "I1"]);
}

/// One backup as the generator made it: the reference model reads these, never the catalog.
#[derive(Debug, Clone)]
struct Made {
    id: String,
    job: u8,
    kind: BackupKind,
    parent: Option<String>,
    /// Seconds after `T0`: its `created_at`.
    at: i64,
    /// Its verifications in order (`true` = passed).
    verdicts: Vec<bool>,
}

/// A generated case: the events for the code under test, and the same facts in plain terms for
/// the model. `policy` is the one in force at the end, in seconds (`None` = forever), in the
/// order full, incremental, archive, report.
#[derive(Debug, Clone)]
struct Case {
    given: Given,
    made: Vec<Made>,
    reports: Vec<(String, i64)>,
    policy: [Option<i64>; 4],
    now: i64,
}

/// What the retention rules say, written out the long way from the rules themselves
/// (`schema/config.md` `[retention]`, and the rules at the top of `retention.rs`):
/// - a backup expires `limit` seconds after it was made, where the limit is its kind's
///   (full / incremental / archive; `None` = never); expiry is inclusive at the instant;
/// - a backup that has not expired is kept; so is the newest full of every job that was not
///   verified bad (its last verification decides; never verified counts as good);
/// - every backup a kept backup is built on (its parent, the parent's parent, …) is kept;
/// - everything else is deleted, unless that is every backup: then nothing is;
/// - a report expires under the report limit; nothing depends on it.
///
/// Returns (deleted backup ids, refused, deleted report ids).
fn model(case: &Case) -> (BTreeSet<String>, bool, BTreeSet<String>) {
    let [full, inc, arch, rep] = case.policy;
    let limit = |kind| match kind {
        Full => full,
        Incremental => inc,
        Archive => arch,
    };
    let expired = |m: &Made| limit(m.kind).is_some_and(|l| m.at + l <= case.now);

    let mut keep: BTreeSet<String> = case
        .made
        .iter()
        .filter(|m| !expired(m))
        .map(|m| m.id.clone())
        .collect();
    let jobs: BTreeSet<u8> = case.made.iter().map(|m| m.job).collect();
    for job in jobs {
        let newest_good_full = case
            .made
            .iter()
            .filter(|m| m.job == job && m.kind == Full && m.verdicts.last() != Some(&false))
            .max_by_key(|m| m.at);
        if let Some(m) = newest_good_full {
            keep.insert(m.id.clone());
        }
    }
    // Until nothing changes: the parent of anything kept is kept.
    loop {
        let parents: Vec<String> = case
            .made
            .iter()
            .filter(|m| keep.contains(&m.id))
            .filter_map(|m| m.parent.clone())
            .filter(|p| !keep.contains(p))
            .collect();
        if parents.is_empty() {
            break;
        }
        keep.extend(parents);
    }
    let mut deleted: BTreeSet<String> = case
        .made
        .iter()
        .filter(|m| !keep.contains(&m.id))
        .map(|m| m.id.clone())
        .collect();
    let refused = !case.made.is_empty() && deleted.len() == case.made.len();
    if refused {
        deleted.clear();
    }
    let reports = case
        .reports
        .iter()
        .filter(|(_, at)| rep.is_some_and(|l| at + l <= case.now))
        .map(|(id, _)| id.clone())
        .collect();
    (deleted, refused, reports)
}

/// Days (or `None`) to a policy field in seconds.
fn days(d: Option<i64>) -> Option<i64> {
    d.map(|d| d * DAY)
}

type PolicyDays = (Option<i64>, Option<i64>, Option<i64>, Option<i64>);

/// Records a policy given in days; returns it in seconds, as the model reads it.
fn set_policy(g: &mut Given, at: i64, (f, i, a, r): PolicyDays) -> [Option<i64>; 4] {
    let secs = [days(f), days(i), days(a), days(r)];
    let field = |k: usize| secs[k].map(|s| s as u64);
    g.push(
        ts(at),
        Event::RetentionPolicySet {
            policy: RetentionPolicy {
                full_secs: field(0),
                incremental_secs: field(1),
                archive_secs: field(2),
                report_secs: field(3),
            },
        },
    );
    secs
}

/// A random catalog: per job a sequence of fulls and incrementals (an incremental's parent is the
/// job's previous backup), some archives, fulls verified good or bad (sometimes twice), reports;
/// a random policy, sometimes replaced halfway through by another; a random now.
fn arb_case() -> impl Strategy<Value = Case> {
    let step = (
        0u8..3,
        0u8..4,
        1i64..5 * DAY,
        proptest::collection::vec(any::<bool>(), 0..3),
    );
    let policy = (
        proptest::option::of(1i64..40),
        proptest::option::of(1i64..10),
        proptest::option::of(1i64..60),
        proptest::option::of(1i64..120),
    );
    (
        proptest::collection::vec(step, 0..40),
        policy.clone(),
        proptest::option::of((policy, any::<proptest::sample::Index>())),
        proptest::collection::vec(0i64..100, 0..5),
        0i64..150,
    )
        .prop_map(|(steps, first, second, report_days, now_day)| {
            let mut g = Given::new();
            let mut policy = set_policy(&mut g, -DAY, first);
            let switch_at = second.map(|(p, at)| (p, at.index(steps.len() + 1)));
            let mut made: Vec<Made> = Vec::new();
            let mut last: BTreeMap<u8, String> = BTreeMap::new();
            let mut t = 0;
            for (i, (job, what, gap, verdicts)) in steps.into_iter().enumerate() {
                t += gap;
                if let Some((p, _)) = switch_at.filter(|(_, at)| *at == i) {
                    policy = set_policy(&mut g, t - 1, p);
                }
                let id = format!("b{i}");
                let job_id = format!("job{job}");
                let (kind, parent) = match what {
                    0 => (Full, None),
                    1 | 2 => match last.get(&job) {
                        Some(p) => (Incremental, Some(p.clone())),
                        None => (Full, None),
                    },
                    _ => (Archive, None),
                };
                g.backup_at(&id, &job_id, kind, parent.as_deref(), t);
                // Verdicts on fulls only: they decide which full is "the newest good" one.
                let verdicts = if kind == Full { verdicts } else { vec![] };
                for ok in &verdicts {
                    g.verify(&id, *ok, t + 1);
                }
                if kind != Archive {
                    last.insert(job, id.clone());
                }
                made.push(Made {
                    id,
                    job,
                    kind,
                    parent,
                    at: t,
                    verdicts,
                });
            }
            if let Some((p, at)) = switch_at {
                if at == made.len() {
                    policy = set_policy(&mut g, t + 1, p);
                }
            }
            let mut reports = Vec::new();
            for (i, day) in report_days.into_iter().enumerate() {
                let id = format!("r{i}");
                g.report(&id, day);
                reports.push((id, day * DAY));
            }
            Case {
                given: g,
                made,
                reports,
                policy,
                now: now_day * DAY,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn never_a_base_of_a_kept_backup_never_the_newest_good_full_never_everything(
        case in arb_case()
    ) {
        let catalog = case.given.catalog();
        let now = ts(case.now);
        let p = plan(&catalog, &KeepByJob::new(), now);
        let deleted: BTreeSet<&str> = p.backups.iter().map(|d| d.id.as_str()).collect();
        let kept: Vec<&str> = catalog.backups.keys().map(String::as_str).filter(|id| !deleted.contains(id)).collect();

        // The plan does what the reference model of the rules says, exactly.
        let (want_deleted, want_refused, want_reports) = model(&case);
        let got: BTreeSet<String> = deleted.iter().map(|s| s.to_string()).collect();
        prop_assert_eq!(&got, &want_deleted, "deleted backups");
        prop_assert_eq!(p.refused.is_some(), want_refused, "refused");
        let got_reports: BTreeSet<String> = p.reports.iter().map(|d| d.id.clone()).collect();
        prop_assert_eq!(&got_reports, &want_reports, "deleted reports");
        let kept_ids: BTreeSet<&str> = p.kept.iter().map(|k| k.id.as_str()).collect();
        prop_assert_eq!(kept_ids, kept.iter().copied().collect::<BTreeSet<_>>());
        let bytes: u64 = p.backups.iter().chain(&p.reports).map(|d| d.bytes).sum();
        prop_assert_eq!(p.bytes, bytes);

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

/// The model itself, on a case worked by hand: if it were wrong the property test would compare
/// the plan with nonsense.
#[test]
fn the_reference_model_on_a_hand_worked_case() {
    let made = |id: &str, job, kind, parent: Option<&str>, at_day: i64, verdicts: Vec<bool>| Made {
        id: id.into(),
        job,
        kind,
        parent: parent.map(Into::into),
        at: at_day * DAY,
        verdicts,
    };
    let case = Case {
        given: Given::new(),
        made: vec![
            made("F1", 0, Full, None, 0, vec![]),
            made("I1", 0, Incremental, Some("F1"), 1, vec![]),
            made("F2", 0, Full, None, 10, vec![true, false]),
            made("F3", 1, Full, None, 2, vec![false, true]),
            made("A", 2, Archive, None, 0, vec![]),
            made("I2", 1, Incremental, Some("F3"), 60, vec![]),
        ],
        reports: vec![("R".into(), 0), ("S".into(), 50 * DAY)],
        policy: [Some(30 * DAY), Some(7 * DAY), None, Some(90 * DAY)],
        now: 100 * DAY,
    };
    // F1 is job 0's newest good full (F2 was verified bad last); I1 expired and nothing builds
    // on it; F3 is job 1's newest good full; I2 expired; A is kept forever; R expired at day 90.
    let (deleted, refused, reports) = model(&case);
    assert_eq!(deleted, ["F2", "I1", "I2"].map(String::from).into());
    assert!(!refused);
    assert_eq!(reports, ["R".to_string()].into());
}

fn keep_of(job: &str, rules: KeepRules) -> KeepByJob {
    [(job.to_string(), rules)].into()
}

#[test]
fn keep_rules_replace_the_ages_of_their_jobs_backups_only() {
    let mut g = Given::new();
    // Job k: a full a day for 5 days (young under the 30 d age rule). Job a: ages as before.
    for d in 0..5 {
        g.backup(&format!("K{d}"), "k", Full, None, d);
    }
    g.backup("A0", "a", Full, None, 0)
        .backup("A1", "a", Full, None, 1)
        .backup("W", "k", Archive, None, 2);
    let keep = keep_of(
        "k",
        KeepRules {
            last: Some(2),
            ..KeepRules::default()
        },
    );
    let p = plan(&g.catalog(), &keep, ts(5 * DAY));
    // K0..K2 are not expired, but no keep rule keeps them; job a's fulls and job k's archive
    // are young under their ages.
    assert_eq!(ids(&p.backups), ["K2", "K1", "K0"]);
    assert!(p.backups.iter().all(|d| d.rule == RULE_KEEP));
    assert_eq!(p.backups[0].expired_at, ts(5 * DAY));
    assert!(p.backups[0].reason.contains("no keep rule of job \"k\""));
    assert_eq!(p.why_kept("K4"), Some("kept by keep.last 1"));
    assert_eq!(p.why_kept("K3"), Some("kept by keep.last 2"));
    let k4 = p.kept.iter().find(|k| k.id == "K4").unwrap();
    assert_eq!(
        (k4.rules.clone(), k4.expires_at),
        (vec!["keep.last 1".into()], None)
    );
    assert!(p.why_kept("A0").unwrap().starts_with("not expired"));
    assert!(p.why_kept("W").unwrap().contains("retention.archive"));
    assert!(p.allows("K0", RULE_KEEP));
    assert!(!p.allows("K0", "retention.full"));
    // Past the age of 30 days nothing changes for job k: ages do not apply to it.
    let later = plan(&g.catalog(), &keep, ts(40 * DAY));
    assert_eq!(ids(&later.backups), ["K2", "K1", "K0", "A0"]);
}

#[test]
fn a_backup_kept_by_a_rule_keeps_its_bases_and_says_so() {
    let mut g = Given::new();
    g.backup("F", "k", Full, None, 0)
        .backup_at("I1", "k", Incremental, Some("F"), DAY)
        .backup_at("I2", "k", Incremental, Some("I1"), 2 * DAY)
        .backup_at("I3", "k", Incremental, Some("I2"), 2 * DAY + 60)
        .backup("G", "k", Full, None, 3)
        .backup_at("J1", "k", Incremental, Some("G"), 3 * DAY + 60);
    let keep = keep_of(
        "k",
        KeepRules {
            daily: Some(2),
            ..KeepRules::default()
        },
    );
    let p = plan(&g.catalog(), &keep, ts(4 * DAY));
    // daily 2: J1 (day 3), I3 (day 2; I2 shares its day). I3 reads through I2, I1, F; G is
    // J1's base and the newest good full.
    assert_eq!(ids(&p.backups), Vec::<&str>::new());
    let day2 = ts(2 * DAY).get().date().to_string();
    let day3 = ts(3 * DAY).get().date().to_string();
    assert_eq!(
        p.why_kept("I3"),
        Some(format!("kept by keep.daily {day2}").as_str())
    );
    assert_eq!(
        p.why_kept("I2"),
        Some(format!("base of \"I3\" (kept by keep.daily {day2})").as_str())
    );
    assert_eq!(
        p.why_kept("F"),
        Some(format!("base of \"I1\" (kept by keep.daily {day2})").as_str())
    );
    // G is J1's base too, but first the newest good full: the first reason found is shown.
    assert_eq!(
        p.why_kept("J1"),
        Some(format!("kept by keep.daily {day3}").as_str())
    );
    assert_eq!(
        p.why_kept("G"),
        Some("the newest good full backup of job \"k\"")
    );
    assert!(p
        .kept
        .iter()
        .find(|k| k.id == "I2")
        .unwrap()
        .rules
        .is_empty());

    // A daily backup later, I3's day falls out of the two newest: the whole old chain goes,
    // dependants first, under retention.keep.
    g.backup("H", "k", Full, None, 5);
    let p = plan(&g.catalog(), &keep, ts(6 * DAY));
    assert_eq!(ids(&p.backups), ["I3", "I2", "I1", "F"]);
}

#[test]
fn keep_rules_never_delete_the_newest_good_full_nor_a_base_of_another_job() {
    let mut g = Given::new();
    // Job k keeps only its newest backup, a full verified bad; its older full is the newest
    // good one. Job a's incremental builds on k's oldest full.
    g.backup("K0", "k", Full, None, 0)
        .backup("K1", "k", Full, None, 1)
        .backup("K2", "k", Full, None, 2)
        .bad("K2", 3)
        .backup_at("A1", "a", Incremental, Some("K0"), 3 * DAY);
    let keep = keep_of(
        "k",
        KeepRules {
            last: Some(1),
            ..KeepRules::default()
        },
    );
    let p = plan(&g.catalog(), &keep, ts(4 * DAY));
    assert_eq!(ids(&p.backups), Vec::<&str>::new());
    assert_eq!(p.why_kept("K2"), Some("kept by keep.last 1"));
    assert_eq!(
        p.why_kept("K1"),
        Some("the newest good full backup of job \"k\"")
    );
    assert!(p
        .why_kept("K0")
        .unwrap()
        .starts_with("base of \"A1\" (not expired: retention.incremental keeps it until"));
    // Once A1 expires (7 d), K0 goes under retention.keep and A1 under its age.
    let p = plan(&g.catalog(), &keep, ts(11 * DAY));
    assert_eq!(ids(&p.backups), ["A1", "K0"]);
    assert_eq!(p.backups[1].rule, RULE_KEEP);
    assert_eq!(p.backups[0].rule, "retention.incremental");
}

#[test]
fn keep_rules_that_keep_nothing_still_never_delete_everything() {
    let mut g = Given::new();
    g.backup("K0", "k", Full, None, 0)
        .bad("K0", 1)
        .backup("K1", "k", Full, None, 2)
        .bad("K1", 3);
    let keep = keep_of(
        "k",
        KeepRules {
            daily: Some(0),
            ..KeepRules::default()
        },
    );
    let p = plan(&g.catalog(), &keep, ts(4 * DAY));
    assert!(p.backups.is_empty());
    assert!(p.refused.as_deref().unwrap().contains("every backup (2)"));
}

/// A catalog of `arb_case` and keep rules for some of its jobs.
fn arb_keep_case() -> impl Strategy<Value = (Case, KeepByJob)> {
    let count = proptest::option::of(0u32..6);
    let rules = (
        count.clone(),
        count.clone(),
        count.clone(),
        count.clone(),
        (
            count.clone(),
            count,
            proptest::option::of(1u64..20 * DAY as u64),
        ),
    )
        .prop_map(
            |(last, hourly, daily, weekly, (monthly, yearly, within_secs))| KeepRules {
                last,
                hourly,
                daily,
                weekly,
                monthly,
                yearly,
                within_secs,
            },
        );
    (
        arb_case(),
        proptest::collection::vec(proptest::option::of(rules), 3),
    )
        .prop_map(|(case, rules)| {
            let keep = rules
                .into_iter()
                .enumerate()
                .filter_map(|(job, r)| Some((format!("job{job}"), r?)))
                .collect();
            (case, keep)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    /// The safety rules stand under any keep rules: never a base of a kept backup, never the
    /// newest good full of a job, never everything; a backup of a job with keep rules is kept
    /// when a rule keeps it (and says which) and otherwise deleted only under retention.keep;
    /// every other backup only when expired under its age rule.
    #[test]
    fn the_safety_rules_stand_under_keep_rules((case, keep) in arb_keep_case()) {
        let catalog = case.given.catalog();
        let now = ts(case.now);
        let p = plan(&catalog, &keep, now);
        let deleted: BTreeSet<&str> = p.backups.iter().map(|d| d.id.as_str()).collect();
        let kept: Vec<&str> = catalog.backups.keys().map(String::as_str).filter(|id| !deleted.contains(id)).collect();
        for k in &kept {
            for base in bases_of(&catalog, k) {
                prop_assert!(!deleted.contains(base), "{base} deleted but kept {k} depends on it");
            }
        }
        for b in newest_good_fulls(&catalog).values() {
            prop_assert!(!deleted.contains(b.record.id.as_str()));
        }
        prop_assert!(catalog.backups.is_empty() || !kept.is_empty());
        prop_assert_eq!(p.kept.len() + p.backups.len(), catalog.backups.len());
        for (job, rules) in &keep {
            let points: Vec<(&str, Ts)> = catalog.backups.values()
                .filter(|b| &b.record.job_id == job && b.record.kind != Archive)
                .map(|b| (b.record.id.as_str(), b.record.created_at))
                .collect();
            for (id, why) in crate::domain::keep::kept(rules, &points) {
                let k = p.kept.iter().find(|k| k.id == id);
                prop_assert!(k.is_some(), "{id} is kept by {why:?} but deleted");
                prop_assert_eq!(&k.unwrap().rules, &why);
            }
        }
        for (i, d) in p.backups.iter().enumerate() {
            let b = &catalog.backups[&d.id];
            if b.record.kind != Archive && keep.contains_key(&b.record.job_id) {
                prop_assert_eq!(d.rule, RULE_KEEP);
            } else {
                prop_assert!(b.expires_at.is_some_and(|e| e <= now));
                prop_assert_eq!(d.rule, rule(b.record.kind));
            }
            for later in &p.backups[i + 1..] {
                let parent = catalog.backups[&later.id].record.parent.as_deref();
                prop_assert_ne!(parent, Some(d.id.as_str()));
            }
        }
        // Without keep rules for any job the plan is the age plan.
        if keep.is_empty() {
            prop_assert_eq!(p, plan(&catalog, &KeepByJob::new(), now));
        }
    }
}
