use super::*;
use crate::events::{BackupRecord, Envelope, Event, RunReason};

/// 2026-05-28T…: a fixed instant the tests count from.
const T0: i64 = 1_780_000_000;

fn ts(secs: i64) -> Ts {
    Ts::from_unix_nanos(secs * 1_000_000_000)
}

fn now() -> Ts {
    ts(T0)
}

fn facts() -> Facts {
    Facts {
        disk: Ok(Disk {
            total_bytes: 1 << 30,
            free_bytes: 1 << 29,
        }),
        event_log: Ok("probe written".into()),
        newest_index: None,
        sources: vec![SourceFact {
            name: "demo".into(),
            kind: "sqlite".into(),
            result: Ok("readable".into()),
        }],
        unrecorded: Ok(vec![]),
        channels: vec![],
        remotes: vec![],
    }
}

struct Log {
    state: State,
    position: u64,
}

impl Log {
    fn new() -> Log {
        Log {
            state: State::default(),
            position: 0,
        }
    }

    fn at(&mut self, secs: i64, actor: &str, correlation: Option<&str>, payload: Event) {
        self.position += 1;
        self.state.apply(&Envelope {
            position: self.position,
            recorded_at: ts(secs),
            actor: actor.into(),
            correlation: correlation.map(String::from),
            payload,
        });
    }

    fn backup(&mut self, id: &str, kind: BackupKind, secs: i64, bytes: u64) {
        self.at(
            secs,
            "scheduler",
            None,
            Event::BackupRecorded {
                backup: BackupRecord {
                    id: id.into(),
                    job_id: "daily_full".into(),
                    run_id: format!("run-{id}"),
                    kind,
                    parent: None,
                    location: format!("backups/{id}.bka"),
                    bytes,
                    entries: 1,
                    checksum: 7,
                    compression: "zstd".into(),
                    created_at: ts(secs),
                },
            },
        );
    }

    fn failed_run(&mut self, id: &str, started: i64, finished: i64) {
        self.at(
            started,
            "scheduler",
            Some(id),
            Event::RunStarted {
                run_id: id.into(),
                job_id: "daily_full".into(),
                slot: None,
                reason: RunReason::Manual,
            },
        );
        self.at(
            finished,
            "scheduler",
            Some(id),
            Event::RunFailed {
                run_id: id.into(),
                error: "pg_dump exited with status 1".into(),
                duration_ms: 10,
            },
        );
    }
}

fn named<'a>(checks: &'a [HealthCheck], name: &str) -> &'a HealthCheck {
    checks.iter().find(|c| c.name == name).unwrap()
}

fn run(log: &Log, facts: &Facts) -> Vec<HealthCheck> {
    evaluate(&log.state, facts, now(), &Thresholds::default())
}

#[test]
fn one_check_per_item_in_a_stable_order() {
    let checks = run(&Log::new(), &facts());
    let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, CHECK_NAMES);
}

#[test]
fn scheduler_running_then_stopped_with_when_who_and_why() {
    let mut log = Log::new();
    log.at(T0 - 100, "system", None, Event::SchedulerStarted);
    assert_eq!(
        named(&run(&log, &facts()), "scheduler").status,
        HealthStatus::Ok
    );

    log.at(
        T0 - 50,
        "api:anonymous",
        None,
        Event::SchedulerStopped {
            reason: "api".into(),
        },
    );
    // The projection keeps when, by whom and why; a start clears it.
    let f = facts();
    let c = run(&log, &f);
    let c = named(&c, "scheduler");
    assert_eq!(c.status, HealthStatus::Critical);
    assert_eq!(
        c.reason,
        format!(
            "scheduler stopped at {} by api:anonymous: api; no job fires until it is started again",
            ts(T0 - 50)
        )
    );
    log.at(T0 - 10, "api:anonymous", None, Event::SchedulerStarted);
    assert_eq!(
        named(&run(&log, &facts()), "scheduler").status,
        HealthStatus::Ok
    );
}

#[test]
fn last_full_age_table() {
    let table: &[(i64, HealthStatus)] = &[
        (0, HealthStatus::Ok),
        (26 * HOUR, HealthStatus::Ok),
        (26 * HOUR + 1, HealthStatus::Warning),
        (50 * HOUR, HealthStatus::Warning),
        (50 * HOUR + 1, HealthStatus::Critical),
        (30 * DAY, HealthStatus::Critical),
    ];
    for &(age, want) in table {
        let mut log = Log::new();
        log.backup("full-a", BackupKind::Full, T0 - age, 10);
        // Newer incrementals and archives do not count as a full.
        log.backup("inc-a", BackupKind::Incremental, T0, 10);
        log.backup("arc-a", BackupKind::Archive, T0, 10);
        let c = run(&log, &facts());
        let c = named(&c, "last_full_age");
        assert_eq!(c.status, want, "age {age}: {}", c.reason);
        assert!(c.reason.contains("full-a"), "{}", c.reason);
        assert!(c.reason.contains(&hours(age)), "{}", c.reason);
    }
}

#[test]
fn no_full_yet_is_a_warning_and_a_failed_verification_is_not_good() {
    let c = run(&Log::new(), &facts());
    let c = named(&c, "last_full_age");
    assert_eq!(c.status, HealthStatus::Warning);
    assert!(c.reason.starts_with("no full backup yet"), "{}", c.reason);

    let mut log = Log::new();
    log.backup("full-old", BackupKind::Full, T0 - 40 * HOUR, 10);
    log.backup("full-new", BackupKind::Full, T0 - HOUR, 10);
    log.at(
        T0 - 10,
        "api:anonymous",
        None,
        Event::BackupVerified {
            backup_id: "full-new".into(),
            ok: false,
            detail: Some("entry checksum".into()),
        },
    );
    let c = run(&log, &facts());
    let c = named(&c, "last_full_age");
    assert_eq!(c.status, HealthStatus::Warning, "{}", c.reason);
    assert!(c.reason.contains("full-old"), "{}", c.reason);
}

#[test]
fn failures_24h_table() {
    // (finished seconds before now, …) → status
    let table: &[(&[i64], HealthStatus)] = &[
        (&[], HealthStatus::Ok),
        (&[DAY + 1], HealthStatus::Ok),
        (&[DAY], HealthStatus::Warning),
        (&[10], HealthStatus::Warning),
        (&[10, 20], HealthStatus::Warning),
        (&[10, 20, DAY], HealthStatus::Critical),
        (&[10, 20, DAY + 1], HealthStatus::Warning),
        (&[1, 2, 3, 4, 5], HealthStatus::Critical),
    ];
    for (ago, want) in table {
        let mut log = Log::new();
        for (i, a) in ago.iter().enumerate() {
            log.failed_run(&format!("run-{i}"), T0 - a - 5, T0 - a);
        }
        let c = run(&log, &facts());
        let c = named(&c, "failures_24h");
        assert_eq!(c.status, *want, "{ago:?}: {}", c.reason);
        if *want != HealthStatus::Ok {
            assert!(c.reason.contains("pg_dump exited"), "{}", c.reason);
        }
    }
    let mut log = Log::new();
    for i in 0..5 {
        log.failed_run(&format!("run-{i}"), T0 - 100 - i, T0 - 50 - i);
    }
    let c = run(&log, &facts());
    let reason = &named(&c, "failures_24h").reason;
    assert!(
        reason.starts_with("5 failed or interrupted run(s)"),
        "{reason}"
    );
    assert!(reason.ends_with("; and 2 more"), "{reason}");
}

fn disk(total: u64, free: u64) -> Facts {
    let mut f = facts();
    f.disk = Ok(Disk {
        total_bytes: total,
        free_bytes: free,
    });
    f
}

#[test]
fn disk_fill_table() {
    let gib = 1u64 << 30;
    // used share → status: the thresholds are inclusive (≥ 85 %, ≥ 95 %)
    let table: &[(u64, u64, HealthStatus, &str)] = &[
        (1000, 1000, HealthStatus::Ok, "0.0 % full"),
        (1000, 151, HealthStatus::Ok, "84.9 % full"),
        (1000, 150, HealthStatus::Warning, "85.0 % full"),
        (1000, 51, HealthStatus::Warning, "94.9 % full"),
        (1000, 50, HealthStatus::Critical, "95.0 % full"),
        (1000, 0, HealthStatus::Critical, "100.0 % full"),
        // 94.99 % must not read as 95.0 %
        (10_000, 501, HealthStatus::Warning, "94.9 % full"),
    ];
    for &(total, free, want, text) in table {
        let c = run(&Log::new(), &disk(total, free));
        let c = named(&c, "disk_space");
        assert_eq!(c.status, want, "{total}/{free}: {}", c.reason);
        assert!(c.reason.contains(text), "{}", c.reason);
        assert!(c.reason.contains("not growing"), "{}", c.reason);
    }
    let c = run(&Log::new(), &disk(gib, 40 << 20));
    assert_eq!(
        named(&c, "disk_space").reason,
        "backup volume 96.0 % full (40.0 MiB free of 1.0 GiB): critical at ≥ 95 %; \
         backups not growing over the last 7 days"
    );
}

#[test]
fn disk_unknown_is_critical() {
    let mut f = facts();
    f.disk = Err("statvfs: permission denied".into());
    let c = run(&Log::new(), &f);
    let c = named(&c, "disk_space");
    assert_eq!(c.status, HealthStatus::Critical);
    assert!(c.reason.contains("permission denied"));
}

#[test]
fn growth_rate_and_days_until_full_table() {
    let mib = 1u64 << 20;
    // Storage grew by 7 × 12 MiB over the week: 12 MiB/day.
    let mut log = Log::new();
    log.backup("a", BackupKind::Full, T0 - 10 * DAY, 100 * mib);
    log.backup("b", BackupKind::Full, T0 - 3 * DAY, 84 * mib);
    let rate = growth_per_day(&log.state, now(), 7).unwrap();
    assert_eq!(rate, (12 * mib) as f64);

    // free bytes → status at 12 MiB/day: < 7 days warning, < 2 days critical
    let table: &[(u64, HealthStatus, &str)] = &[
        (100 * 12 * mib, HealthStatus::Ok, "full in 100.0 days"),
        (7 * 12 * mib, HealthStatus::Ok, "full in 7.0 days"),
        (7 * 12 * mib - 1, HealthStatus::Warning, "full in 6.9 days"),
        (39 * mib, HealthStatus::Warning, "full in 3.2 days"),
        (2 * 12 * mib, HealthStatus::Warning, "full in 2.0 days"),
        (2 * 12 * mib - 1, HealthStatus::Critical, "full in 1.9 days"),
    ];
    for &(free, want, text) in table {
        // An almost empty volume, so the fill share stays ok and the growth decides.
        let c = run(&log, &disk(free + 1, free));
        let c = named(&c, "disk_space");
        assert_eq!(c.status, want, "{free}: {}", c.reason);
        assert!(
            c.reason
                .contains("at 12.0 MiB/day growth over the last 7 days"),
            "{}",
            c.reason
        );
        assert!(c.reason.contains(text), "{text}: {}", c.reason);
    }
    let c = run(&log, &disk(1 << 50, 1 << 40));
    assert!(
        named(&c, "disk_space")
            .reason
            .contains("full in more than 3650 days"),
        "{c:?}"
    );
}

#[test]
fn growth_window_edges() {
    let mib = 1u64 << 20;
    // Nothing stored: not growing.
    assert_eq!(growth_per_day(&State::default(), now(), 7), None);
    // Shrinking (a deletion after the window start): not growing.
    let mut log = Log::new();
    log.backup("a", BackupKind::Full, T0 - 10 * DAY, 100 * mib);
    log.at(
        T0 - DAY,
        "scheduler",
        None,
        Event::BackupDeleted {
            backup_id: "a".into(),
            rule: "expired".into(),
            bytes: 100 * mib,
        },
    );
    assert_eq!(growth_per_day(&log.state, now(), 7), None);
    // A service younger than the window: growth since its first day, from nothing.
    let mut log = Log::new();
    log.backup("a", BackupKind::Full, T0 - 2 * DAY, 20 * mib);
    assert_eq!(
        growth_per_day(&log.state, now(), 7),
        Some((10 * mib) as f64)
    );
    // Everything today: spread over one day.
    let mut log = Log::new();
    log.backup("a", BackupKind::Full, T0, 5 * mib);
    assert_eq!(growth_per_day(&log.state, now(), 7), Some((5 * mib) as f64));
    // Growth only before the window: not growing now.
    let mut log = Log::new();
    log.backup("a", BackupKind::Full, T0 - 20 * DAY, 5 * mib);
    assert_eq!(growth_per_day(&log.state, now(), 7), None);
}

#[test]
fn event_log_index_and_sources() {
    let mut f = facts();
    f.event_log = Err("creating tmp/probe: read-only file system".into());
    f.newest_index = Some(("bk-1".into(), Err("index CRC32 0x1 ≠ 0x2".into())));
    f.sources = vec![
        SourceFact {
            name: "/srv/uploads".into(),
            kind: "files".into(),
            result: Err("does not exist".into()),
        },
        SourceFact {
            name: "main".into(),
            kind: "postgresql".into(),
            result: Err("127.0.0.1:1 refused the connection".into()),
        },
        SourceFact {
            name: "demo".into(),
            kind: "sqlite".into(),
            result: Ok("readable".into()),
        },
    ];
    let c = run(&Log::new(), &f);
    let e = named(&c, "event_log");
    assert_eq!(e.status, HealthStatus::Critical);
    assert!(e.reason.contains("read-only"), "{}", e.reason);
    let i = named(&c, "newest_backup_index");
    assert_eq!(i.status, HealthStatus::Critical);
    assert!(i.reason.starts_with("newest backup bk-1: "), "{}", i.reason);
    let s = named(&c, "sources");
    assert_eq!(s.status, HealthStatus::Critical);
    assert_eq!(
        s.reason,
        "2 of 3 source(s) unreachable: /srv/uploads (files): does not exist; \
         main (postgresql): 127.0.0.1:1 refused the connection"
    );

    let c = run(&Log::new(), &facts());
    assert_eq!(named(&c, "event_log").status, HealthStatus::Ok);
    assert_eq!(named(&c, "newest_backup_index").status, HealthStatus::Ok);
    let s = named(&c, "sources");
    assert_eq!(s.status, HealthStatus::Ok);
    assert_eq!(s.reason, "all 1 source(s) reachable: demo (sqlite)");

    let mut f = facts();
    f.sources.clear();
    assert_eq!(
        named(&run(&Log::new(), &f), "sources").status,
        HealthStatus::Warning
    );
}

#[test]
fn worst_is_the_first_of_the_highest_status() {
    let checks = vec![
        check("a", HealthStatus::Warning, "w1"),
        check("b", HealthStatus::Critical, "c1"),
        check("c", HealthStatus::Critical, "c2"),
        check("d", HealthStatus::Ok, "o"),
    ];
    assert_eq!(worst(&checks).unwrap().reason, "c1");
    assert!(worst(&[]).is_none());
    assert_eq!(bytes(512), "512 B");
    assert_eq!(bytes(1536), "1.5 KiB");
    assert_eq!(bytes(40 << 20), "40.0 MiB");
}
