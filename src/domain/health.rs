//! The health check's rules: what the state and the gathered facts say about each concern, as
//! `ok` / `warning` / `critical` checks with a reason that carries the figures. Pure: the engine
//! gathers the facts (disk, log probe, archive index, sources) and records the result.

use crate::events::{BackupKind, HealthCheck, HealthStatus, Ts};
use crate::projections::{RunStatus, State};

/// The names of the checks, in the order `evaluate` returns them (stable: clients key on them).
pub const CHECK_NAMES: [&str; 11] = [
    "scheduler",
    "last_full_age",
    "failures_24h",
    "disk_space",
    "event_log",
    "newest_backup_index",
    "sources",
    "damaged_chains",
    "unrecorded_archives",
    "notifications",
    "remotes",
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
    /// How old an archive file no event names must be before cleanup removes it (a younger one
    /// may be a run's archive between its rename and its record).
    pub unrecorded_grace_secs: i64,
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
            unrecorded_grace_secs: HOUR,
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
    /// The archive files no event names (paths relative to the data directory), or why the
    /// data directory could not be listed.
    pub unrecorded: Result<Vec<String>, String>,
    /// The configured notification channels' names (`[[notify]]`).
    pub channels: Vec<String>,
    /// The configured remotes and their probes (`[[remotes]]`).
    pub remotes: Vec<RemoteFact>,
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
        chains::damaged_chains(state),
        unrecorded::unrecorded_archives(&facts.unrecorded, t.unrecorded_grace_secs),
        notify::notifications(state, &facts.channels),
        remotes::remotes(state, &facts.remotes, now),
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

mod chains;
mod notify;
mod remotes;
pub use remotes::RemoteFact;
#[cfg(test)]
mod tests;
mod unrecorded;
