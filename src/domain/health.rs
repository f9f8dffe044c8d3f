//! The health check's rules: what the state and the gathered facts say about each concern, as
//! `ok` / `warning` / `critical` checks with a reason that carries the figures. Pure: the engine
//! gathers the facts (disk, log probe, archive index, sources) and records the result.

use crate::events::{BackupKind, HealthCheck, HealthStatus, Ts};
use crate::projections::{RunStatus, State};

/// The names of the checks, in the order `evaluate` returns them (stable: clients key on them).
pub const CHECK_NAMES: [&str; 7] = [
    "scheduler",
    "last_full_age",
    "failures_24h",
    "disk_space",
    "event_log",
    "newest_backup_index",
    "sources",
];

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// Where each check turns from ok to warning to critical.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// The newest good full backup older than this (seconds) is a warning …
    pub full_age_warning_secs: i64,
    /// … and older than this critical.
    pub full_age_critical_secs: i64,
    /// Failed or interrupted runs in the last 24 h from which on it is a warning …
    pub failures_warning: usize,
    /// … and critical.
    pub failures_critical: usize,
    /// Used share of the backup volume, in percent, from which on it is a warning …
    pub disk_used_warning_pct: u64,
    /// … and critical.
    pub disk_used_critical_pct: u64,
    /// Days until the volume is full at the recent growth rate below which it is a warning …
    pub days_until_full_warning: f64,
    /// … and critical.
    pub days_until_full_critical: f64,
    /// How many days back the growth rate looks.
    pub growth_window_days: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            full_age_warning_secs: 26 * HOUR,
            full_age_critical_secs: 50 * HOUR,
            failures_warning: 1,
            failures_critical: 3,
            disk_used_warning_pct: 85,
            disk_used_critical_pct: 95,
            days_until_full_warning: 7.0,
            days_until_full_critical: 2.0,
            growth_window_days: 7,
        }
    }
}

/// The backup volume as `statvfs` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disk {
    pub total_bytes: u64,
    /// What the service may still write (`f_bavail`, not the root reserve).
    pub free_bytes: u64,
}

/// One configured source and whether it can be reached now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFact {
    /// The database name, or the path of a `files` / `config` source.
    pub name: String,
    /// `files`, `config`, `sqlite`, `postgresql`, `mysql`, `command`.
    pub kind: String,
    /// `Ok(what was checked)` or `Err(what is wrong)`.
    pub result: Result<String, String>,
}

/// What the engine found out by I/O; `evaluate` judges it.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// The volume holding `backups/`, or why `statvfs` failed.
    pub disk: Result<Disk, String>,
    /// `Ok(what was checked)` or why the log or the data directory cannot be written.
    pub event_log: Result<String, String>,
    /// The newest backup's id and whether its index checksum matches the catalog; `None`: no
    /// backups.
    pub newest_index: Option<(String, Result<String, String>)>,
    pub sources: Vec<SourceFact>,
}

/// One check per concern, in `CHECK_NAMES` order; the run's status is the worst of them.
pub fn evaluate(state: &State, facts: &Facts, now: Ts, t: &Thresholds) -> Vec<HealthCheck> {
    vec![
        scheduler(state),
        last_full_age(state, now, t),
        failures_24h(state, now, t),
        disk_space(state, facts, now, t),
        event_log(facts),
        newest_backup_index(facts),
        sources(facts),
    ]
}

/// The first check with the worst status (`None` for no checks): the run note names it.
pub fn worst(checks: &[HealthCheck]) -> Option<&HealthCheck> {
    // max_by_key keeps the last of equals; the first worst check reads better in a summary.
    checks.iter().rev().max_by_key(|c| c.status)
}

pub fn status_name(s: HealthStatus) -> &'static str {
    match s {
        HealthStatus::Ok => "ok",
        HealthStatus::Warning => "warning",
        HealthStatus::Critical => "critical",
    }
}

fn check(name: &str, status: HealthStatus, reason: impl Into<String>) -> HealthCheck {
    HealthCheck {
        name: name.into(),
        status,
        reason: reason.into(),
    }
}

fn scheduler(state: &State) -> HealthCheck {
    if state.schedule.scheduler_running {
        return check(
            "scheduler",
            HealthStatus::Ok,
            "scheduler running: due jobs fire on their own",
        );
    }
    let reason = match &state.schedule.stopped {
        Some(s) => format!(
            "scheduler stopped at {} by {}: {}; no job fires until it is started again",
            s.at, s.actor, s.reason
        ),
        // A log from before the projection kept the stop (it is always set by the event).
        None => "scheduler stopped; no job fires until it is started again".to_string(),
    };
    check("scheduler", HealthStatus::Critical, reason)
}

fn last_full_age(state: &State, now: Ts, t: &Thresholds) -> HealthCheck {
    // A full whose verification failed is not a good full: it cannot be the base of a restore.
    let newest = state
        .catalog
        .backups
        .values()
        .filter(|b| b.record.kind == BackupKind::Full)
        .filter(|b| b.is_good())
        .max_by_key(|b| (b.record.created_at, &b.record.id));
    let Some(b) = newest else {
        return check(
            "last_full_age",
            HealthStatus::Warning,
            "no full backup yet: nothing can be restored",
        );
    };
    let age = (now.get() - b.record.created_at.get()).whole_seconds();
    let (status, limit) = if age > t.full_age_critical_secs {
        (
            HealthStatus::Critical,
            format!("critical beyond {}", hours(t.full_age_critical_secs)),
        )
    } else if age > t.full_age_warning_secs {
        (
            HealthStatus::Warning,
            format!("warning beyond {}", hours(t.full_age_warning_secs)),
        )
    } else {
        (
            HealthStatus::Ok,
            format!("warning beyond {}", hours(t.full_age_warning_secs)),
        )
    };
    check(
        "last_full_age",
        status,
        format!(
            "last good full backup {} is {} old (made {}): {limit}",
            b.record.id,
            hours(age),
            b.record.created_at
        ),
    )
}

fn failures_24h(state: &State, now: Ts, t: &Thresholds) -> HealthCheck {
    let since = now.get() - time::Duration::seconds(DAY);
    let mut failed: Vec<_> = state
        .schedule
        .runs
        .values()
        .filter(|r| matches!(r.status, RunStatus::Failed | RunStatus::Interrupted))
        .filter(|r| {
            r.finished_at
                .is_some_and(|f| f.get() >= since && f.get() <= now.get())
        })
        .collect();
    failed.sort_by_key(|r| std::cmp::Reverse(r.finished_at));
    let n = failed.len();
    let status = if n >= t.failures_critical {
        HealthStatus::Critical
    } else if n >= t.failures_warning {
        HealthStatus::Warning
    } else {
        HealthStatus::Ok
    };
    if n == 0 {
        return check(
            "failures_24h",
            status,
            "no failed or interrupted runs in the last 24 h",
        );
    }
    let listed: Vec<String> = failed
        .iter()
        .take(3)
        .map(|r| {
            let what = if r.status == RunStatus::Interrupted {
                "interrupted"
            } else {
                "failed"
            };
            format!(
                "{} (job {}) {what} at {}: {}",
                r.run_id,
                r.job_id,
                r.finished_at.map(|f| f.to_string()).unwrap_or_default(),
                r.error.as_deref().unwrap_or("no error recorded")
            )
        })
        .collect();
    let more = if n > 3 {
        format!("; and {} more", n - 3)
    } else {
        String::new()
    };
    check(
        "failures_24h",
        status,
        format!(
            "{n} failed or interrupted run(s) in the last 24 h (warning from {}, critical from {}): {}{more}",
            t.failures_warning,
            t.failures_critical,
            listed.join("; ")
        ),
    )
}

fn disk_space(state: &State, facts: &Facts, now: Ts, t: &Thresholds) -> HealthCheck {
    let disk = match &facts.disk {
        Ok(d) if d.total_bytes > 0 => *d,
        Ok(_) => {
            return check(
                "disk_space",
                HealthStatus::Critical,
                "the backup volume reports a size of 0 bytes",
            )
        }
        Err(e) => {
            return check(
                "disk_space",
                HealthStatus::Critical,
                format!("free space of the backup volume unknown: {e}"),
            )
        }
    };
    let used = disk.total_bytes.saturating_sub(disk.free_bytes);
    // Integer comparison so that exactly 95 % is critical whatever the float rounding says.
    let at_least = |pct: u64| u128::from(used) * 100 >= u128::from(disk.total_bytes) * pct as u128;
    let pct = used as f64 * 100.0 / disk.total_bytes as f64;
    let (fill_status, fill_limit) = if at_least(t.disk_used_critical_pct) {
        (
            HealthStatus::Critical,
            format!("critical at ≥ {} %", t.disk_used_critical_pct),
        )
    } else if at_least(t.disk_used_warning_pct) {
        (
            HealthStatus::Warning,
            format!("warning at ≥ {} %", t.disk_used_warning_pct),
        )
    } else {
        (
            HealthStatus::Ok,
            format!("warning at ≥ {} %", t.disk_used_warning_pct),
        )
    };
    let fill = format!(
        "backup volume {:.1} % full ({} free of {}): {fill_limit}",
        // One decimal must not round 94.96 up to a "95.0" that reads as critical.
        (pct * 10.0).floor() / 10.0,
        bytes(disk.free_bytes),
        bytes(disk.total_bytes)
    );
    let (growth_status, growth) = match growth_per_day(state, now, t.growth_window_days) {
        None => (
            HealthStatus::Ok,
            format!(
                "backups not growing over the last {} days",
                t.growth_window_days
            ),
        ),
        Some(rate) => {
            let days = disk.free_bytes as f64 / rate;
            let status = if days < t.days_until_full_critical {
                HealthStatus::Critical
            } else if days < t.days_until_full_warning {
                HealthStatus::Warning
            } else {
                HealthStatus::Ok
            };
            (
                status,
                format!(
                    "at {}/day growth over the last {} days the volume is full in {} days \
                     (warning under {}, critical under {})",
                    bytes(rate as u64),
                    t.growth_window_days,
                    day_count(days),
                    t.days_until_full_warning,
                    t.days_until_full_critical
                ),
            )
        }
    };
    check(
        "disk_space",
        fill_status.max(growth_status),
        format!("{fill}; {growth}"),
    )
}

/// Bytes per day the stored backups and reports grew over the last `window` days; `None` when
/// they did not grow. Storage as of the window's start is the last day point at or before it
/// (0 before the first point); the growth is spread over the days since then, at least one.
pub fn growth_per_day(state: &State, now: Ts, window: i64) -> Option<f64> {
    let days = &state.catalog.storage_by_day;
    let today = now.get().unix_timestamp().div_euclid(DAY);
    let start = today - window;
    let (base_day, base) = match days.range(..=start).next_back() {
        Some((_, p)) => (start, p.total()),
        None => (*days.keys().next()?, 0),
    };
    let current = days.range(..=today).next_back()?.1.total();
    let grown = current.checked_sub(base).filter(|g| *g > 0)?;
    let elapsed = (today - base_day).max(1);
    Some(grown as f64 / elapsed as f64)
}

fn event_log(facts: &Facts) -> HealthCheck {
    match &facts.event_log {
        Ok(what) => check("event_log", HealthStatus::Ok, what.clone()),
        Err(e) => check(
            "event_log",
            HealthStatus::Critical,
            format!("event log not writable: {e}; nothing can be recorded"),
        ),
    }
}

fn newest_backup_index(facts: &Facts) -> HealthCheck {
    match &facts.newest_index {
        None => check(
            "newest_backup_index",
            HealthStatus::Ok,
            "no backups yet: no index to check",
        ),
        Some((id, Ok(what))) => check(
            "newest_backup_index",
            HealthStatus::Ok,
            format!("newest backup {id}: {what}"),
        ),
        Some((id, Err(e))) => check(
            "newest_backup_index",
            HealthStatus::Critical,
            format!("newest backup {id}: {e}"),
        ),
    }
}

fn sources(facts: &Facts) -> HealthCheck {
    if facts.sources.is_empty() {
        return check(
            "sources",
            HealthStatus::Warning,
            "no sources configured: backups have nothing to save",
        );
    }
    let bad: Vec<String> = facts
        .sources
        .iter()
        .filter_map(|s| {
            s.result
                .as_ref()
                .err()
                .map(|e| format!("{} ({}): {e}", s.name, s.kind))
        })
        .collect();
    let n = facts.sources.len();
    if bad.is_empty() {
        let names: Vec<String> = facts
            .sources
            .iter()
            .map(|s| format!("{} ({})", s.name, s.kind))
            .collect();
        return check(
            "sources",
            HealthStatus::Ok,
            format!("all {n} source(s) reachable: {}", names.join(", ")),
        );
    }
    // A backup that includes an unreachable source fails: critical, whichever source it is.
    check(
        "sources",
        HealthStatus::Critical,
        format!(
            "{} of {n} source(s) unreachable: {}",
            bad.len(),
            bad.join("; ")
        ),
    )
}

/// `1.5 GiB`, `40.0 MiB`, `512 B`: binary units, one decimal.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// `3.2`, rounded down so that 6.99 days never reads as the 7 where the warning starts; past
/// ten years the figure says nothing more.
fn day_count(days: f64) -> String {
    if days > 3650.0 {
        "more than 3650".into()
    } else {
        format!("{:.1}", (days * 10.0).floor() / 10.0)
    }
}

/// `26.0 h` (an age or a limit in seconds).
fn hours(secs: i64) -> String {
    format!("{:.1} h", secs as f64 / HOUR as f64)
}

#[cfg(test)]
mod tests {
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
}
