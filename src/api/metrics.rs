//! `GET /metrics` in the Prometheus text format 0.0.4, and the monitoring figures of `scheduler/status`.
//!
//! Both are pure functions of the projected `State` and `now` (the service clock, read by the
//! handler), so a scrape shows exactly what the log says at that position and tests need no clock.

use super::error::ApiError;
use super::ApiContext;
use crate::events::{BackupKind, HealthStatus, Ts};
use crate::projections::{Outcomes, RunStatus, State};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt::{Display, Write};
use tide::{Request, Response};

/// What Prometheus expects for the text format; scrapers pick the parser by this header.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The window of `backupd_run_success_ratio_24h` and the status's `*_24h` figures.
pub const DAY: time::Duration = time::Duration::hours(24);
pub const WEEK: time::Duration = time::Duration::days(7);

/// The outcomes `backupd_runs_total` counts, in the order they are written.
const OUTCOMES: [&str; 5] = ["succeeded", "failed", "interrupted", "skipped", "missed"];

pub async fn serve(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let ctx = req.state();
    let now = ctx.now();
    let text = ctx.service.read(|s| render(s, now));
    let mut res = Response::new(200);
    res.set_body(tide::Body::from_string(text));
    // After the body: setting a body sets its own (parameterless) text/plain type.
    res.insert_header("Content-Type", CONTENT_TYPE);
    Ok(res)
}

/// The whole exposition. Families are always announced (HELP and TYPE), even without samples,
/// so a dashboard sees the metric exists before the first run.
pub fn render(state: &State, now: Ts) -> String {
    let mut out = Exposition::default();
    let stats = &state.stats;
    let sched = &state.schedule;
    // Jobs that exist get their counters at 0 from the start (so `increase()` sees the first
    // run), and deleted jobs keep theirs: that history happened.
    let jobs: BTreeSet<&str> = stats
        .per_job
        .keys()
        .chain(sched.jobs.keys())
        .map(String::as_str)
        .collect();
    let none = Default::default();
    let job_stats = |job: &str| stats.per_job.get(job).unwrap_or(&none);

    out.family(
        "backupd_runs_total",
        "counter",
        "Runs of a job by outcome since the log began; deleted jobs keep their series.",
    );
    for job in &jobs {
        let s = job_stats(job);
        let counts = [s.succeeded, s.failed, s.interrupted, s.skipped, s.missed];
        for (outcome, n) in OUTCOMES.iter().zip(counts) {
            out.sample(
                "backupd_runs_total",
                &[("job", job), ("outcome", outcome)],
                n,
            );
        }
    }

    out.family(
        "backupd_run_last_duration_seconds",
        "gauge",
        "Duration of the job's last succeeded or failed run.",
    );
    for job in &jobs {
        if let Some(ms) = job_stats(job).last_duration_ms {
            out.sample(
                "backupd_run_last_duration_seconds",
                &[("job", job)],
                ms as f64 / 1000.0,
            );
        }
    }

    out.family(
        "backupd_backup_last_size_bytes",
        "gauge",
        "Bytes written by the job's last succeeded run.",
    );
    for job in &jobs {
        if let Some(bytes) = job_stats(job).last_bytes {
            out.sample("backupd_backup_last_size_bytes", &[("job", job)], bytes);
        }
    }

    out.family(
        "backupd_run_last_success_timestamp_seconds",
        "gauge",
        "When the job's last run succeeded (Unix time); absent for jobs that never succeeded.",
    );
    for job in &jobs {
        if let Some(at) = job_stats(job).last_success_at {
            out.sample(
                "backupd_run_last_success_timestamp_seconds",
                &[("job", job)],
                unix_seconds(at),
            );
        }
    }

    out.family(
        "backupd_run_success_ratio_24h",
        "gauge",
        "Succeeded over finished runs among runs that finished in the 24 h before the scrape; \
         absent (not NaN) when none finished.",
    );
    if let Some(ratio) = finished_within(state, DAY, now).success_rate() {
        out.sample("backupd_run_success_ratio_24h", &[], ratio);
    }

    out.family(
        "backupd_runs_in_progress",
        "gauge",
        "Runs started and not yet finished.",
    );
    out.sample(
        "backupd_runs_in_progress",
        &[],
        sched.runs_in_flight().count(),
    );

    out.family(
        "backupd_storage_bytes",
        "gauge",
        "Bytes of the live backups by kind.",
    );
    for kind in BackupKind::ALL {
        let bytes = state.catalog.bytes_by_kind.get(&kind).copied().unwrap_or(0);
        out.sample("backupd_storage_bytes", &[("kind", kind.as_str())], bytes);
    }

    out.family("backupd_backups", "gauge", "Live backups by kind.");
    for kind in BackupKind::ALL {
        let n = state
            .catalog
            .backups
            .values()
            .filter(|b| b.record.kind == kind)
            .count();
        out.sample("backupd_backups", &[("kind", kind.as_str())], n);
    }

    out.family(
        "backupd_backups_deleted_total",
        "counter",
        "Backups whose files were deleted (retention or by request).",
    );
    out.sample(
        "backupd_backups_deleted_total",
        &[],
        state.catalog.deleted_count,
    );
    out.family(
        "backupd_backups_deleted_bytes_total",
        "counter",
        "Bytes of the backups whose files were deleted.",
    );
    out.sample(
        "backupd_backups_deleted_bytes_total",
        &[],
        state.catalog.deleted_bytes,
    );

    out.family(
        "backupd_event_log_position",
        "gauge",
        "Position of the newest event in the log (0 = empty log).",
    );
    out.sample("backupd_event_log_position", &[], state.position);

    out.family(
        "backupd_scheduler_running",
        "gauge",
        "1 when the scheduler fires jobs, 0 when it is stopped.",
    );
    out.sample(
        "backupd_scheduler_running",
        &[],
        u8::from(sched.scheduler_running),
    );

    out.family("backupd_jobs", "gauge", "Jobs by state.");
    let paused = sched.jobs.values().filter(|j| j.paused).count();
    out.sample(
        "backupd_jobs",
        &[("state", "active")],
        sched.jobs.len() - paused,
    );
    out.sample("backupd_jobs", &[("state", "paused")], paused);

    out.family(
        "backupd_report_storage_bytes",
        "gauge",
        "Bytes of the kept daily reports (JSON and HTML).",
    );
    out.sample(
        "backupd_report_storage_bytes",
        &[],
        state.catalog.report_bytes,
    );

    // Severity as a number so alerts can say `>= 2`; absent before the first health check.
    out.family(
        "backupd_health_status",
        "gauge",
        "The latest health check: 0 ok, 1 warning, 2 critical; absent before the first check.",
    );
    out.family(
        "backupd_health_check_status",
        "gauge",
        "Each check of the latest health check: 0 ok, 1 warning, 2 critical.",
    );
    out.family(
        "backupd_health_checked_timestamp_seconds",
        "gauge",
        "When the latest health check was recorded (Unix time).",
    );
    if let Some(h) = &state.health {
        let level = |s: HealthStatus| s as u8;
        out.sample("backupd_health_status", &[], level(h.status));
        for c in &h.checks {
            out.sample(
                "backupd_health_check_status",
                &[("check", c.name.as_str())],
                level(c.status),
            );
        }
        out.sample(
            "backupd_health_checked_timestamp_seconds",
            &[],
            unix_seconds(h.at),
        );
    }

    out.text
}

/// Runs that finished in `(now - window, now]`, deleted jobs' runs included. A run finished
/// exactly `window` ago is out, as in a Prometheus range; one "finished" after `now` (a clock
/// set back) is not counted yet.
pub fn finished_within(state: &State, window: time::Duration, now: Ts) -> Outcomes {
    // A window reaching before the calendar starts covers every run.
    let since = now
        .get()
        .checked_sub(window)
        .unwrap_or(time::PrimitiveDateTime::MIN.assume_utc());
    let mut out = Outcomes::default();
    for run in state.schedule.runs.values() {
        if run.finished_in(Ts(since), now) {
            out.count(run.status);
        }
    }
    out
}

/// Bytes of the live backups by kind, and their sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StorageBytes {
    pub full: u64,
    pub incremental: u64,
    pub archive: u64,
    pub total: u64,
}

/// The monitoring figures of `GET scheduler/status` (its `stats` object).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    pub success_rate_24h: Option<f64>,
    pub success_rate_7d: Option<f64>,
    /// Over every finished run in the log; the same as the status's older `success_rate`.
    pub success_rate_all: Option<f64>,
    pub runs_24h: Outcomes,
    /// Bytes of the newest run that recorded a backup (even if retention deleted it since).
    pub last_backup_bytes: Option<u64>,
    /// Mean over runs that report a duration (succeeded and failed; an interrupted run has none).
    pub average_duration_ms: Option<u64>,
    pub storage_bytes: StorageBytes,
    /// Live backups.
    pub backups: usize,
}

pub fn figures(state: &State, now: Ts) -> Figures {
    let total = &state.stats.total;
    let timed = total.succeeded + total.failed;
    let bytes = |kind| state.catalog.bytes_by_kind.get(&kind).copied().unwrap_or(0);
    let runs_24h = finished_within(state, DAY, now);
    Figures {
        success_rate_24h: runs_24h.success_rate(),
        success_rate_7d: finished_within(state, WEEK, now).success_rate(),
        success_rate_all: total.success_rate(),
        runs_24h,
        last_backup_bytes: state
            .schedule
            .runs
            .values()
            .filter(|r| r.status == RunStatus::Succeeded && r.backup_id.is_some())
            .max_by_key(|r| (r.finished_at, r.started_at))
            .map(|r| r.bytes),
        average_duration_ms: (timed > 0)
            .then(|| (total.total_duration_ms as f64 / timed as f64).round() as u64),
        storage_bytes: StorageBytes {
            full: bytes(BackupKind::Full),
            incremental: bytes(BackupKind::Incremental),
            archive: bytes(BackupKind::Archive),
            total: state.catalog.total_bytes(),
        },
        backups: state.catalog.backups.len(),
    }
}

fn unix_seconds(at: Ts) -> f64 {
    // Milliseconds keep the printed value short and exact enough for any alert.
    (at.get().unix_timestamp_nanos() / 1_000_000) as f64 / 1000.0
}

#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        // Writing to a String cannot fail.
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", escape_label(v));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }
}

/// The three escapes the text format defines for label values.
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{
        BackupConfig, BackupMode, BackupRecord, BackupType, Envelope, Event, HealthCheck,
        JobAction, JobSpec, RunReason, Trigger,
    };

    /// 2026-03-28T12:00:00Z.
    const T0: i64 = 1_774_699_200;

    fn at(secs: i64) -> Ts {
        Ts::from_unix_nanos((T0 + secs) * 1_000_000_000)
    }

    fn spec(id: &str) -> JobSpec {
        JobSpec {
            id: id.into(),
            name: id.into(),
            trigger: Trigger::Interval {
                seconds: 3600,
                start_at: None,
            },
            action: JobAction::Backup(BackupConfig::new(BackupType::Files, BackupMode::Full)),
            misfire_grace_secs: None,
            timezone: None,
            jitter_secs: 0,
        }
    }

    fn record(id: &str, job_id: &str, kind: BackupKind, bytes: u64, created: Ts) -> BackupRecord {
        BackupRecord {
            id: id.into(),
            job_id: job_id.into(),
            run_id: format!("{job_id}@1"),
            kind,
            parent: None,
            location: format!("backups/{id}.bak"),
            bytes,
            entries: 3,
            checksum: 0,
            compression: "zstd".into(),
            created_at: created,
        }
    }

    /// Folds the events in at the given offsets from T0, positions 1, 2, ...
    fn state(events: Vec<(i64, Event)>) -> State {
        let mut state = State::default();
        for (i, (secs, payload)) in events.into_iter().enumerate() {
            state.apply(&Envelope {
                position: i as u64 + 1,
                recorded_at: at(secs),
                actor: "test".into(),
                correlation: None,
                payload,
            });
        }
        state
    }

    fn started(run_id: &str, job_id: &str) -> Event {
        Event::RunStarted {
            run_id: run_id.into(),
            job_id: job_id.into(),
            slot: None,
            reason: RunReason::Manual,
        }
    }

    fn succeeded(run_id: &str, bytes: u64, duration_ms: u64) -> Event {
        Event::RunSucceeded {
            run_id: run_id.into(),
            backup_id: Some(format!("b-{run_id}")),
            bytes,
            files: 3,
            duration_ms,
            note: None,
        }
    }

    fn failed(run_id: &str) -> Event {
        Event::RunFailed {
            run_id: run_id.into(),
            error: "disk full".into(),
            duration_ms: 500,
        }
    }

    #[test]
    fn one_job_renders_exactly() {
        let s = state(vec![
            (0, Event::SchedulerStarted),
            (
                0,
                Event::JobCreated {
                    job: spec("nightly"),
                },
            ),
            (3600, started("nightly@1", "nightly")),
            (
                3601,
                Event::BackupRecorded {
                    backup: record("b1", "nightly", BackupKind::Full, 2048, at(3601)),
                },
            ),
            (3602, succeeded("nightly@1", 2048, 1500)),
        ]);
        let want = "\
# HELP backupd_runs_total Runs of a job by outcome since the log began; deleted jobs keep their series.
# TYPE backupd_runs_total counter
backupd_runs_total{job=\"nightly\",outcome=\"succeeded\"} 1
backupd_runs_total{job=\"nightly\",outcome=\"failed\"} 0
backupd_runs_total{job=\"nightly\",outcome=\"interrupted\"} 0
backupd_runs_total{job=\"nightly\",outcome=\"skipped\"} 0
backupd_runs_total{job=\"nightly\",outcome=\"missed\"} 0
# HELP backupd_run_last_duration_seconds Duration of the job's last succeeded or failed run.
# TYPE backupd_run_last_duration_seconds gauge
backupd_run_last_duration_seconds{job=\"nightly\"} 1.5
# HELP backupd_backup_last_size_bytes Bytes written by the job's last succeeded run.
# TYPE backupd_backup_last_size_bytes gauge
backupd_backup_last_size_bytes{job=\"nightly\"} 2048
# HELP backupd_run_last_success_timestamp_seconds When the job's last run succeeded (Unix time); absent for jobs that never succeeded.
# TYPE backupd_run_last_success_timestamp_seconds gauge
backupd_run_last_success_timestamp_seconds{job=\"nightly\"} 1774702802
# HELP backupd_run_success_ratio_24h Succeeded over finished runs among runs that finished in the 24 h before the scrape; absent (not NaN) when none finished.
# TYPE backupd_run_success_ratio_24h gauge
backupd_run_success_ratio_24h 1
# HELP backupd_runs_in_progress Runs started and not yet finished.
# TYPE backupd_runs_in_progress gauge
backupd_runs_in_progress 0
# HELP backupd_storage_bytes Bytes of the live backups by kind.
# TYPE backupd_storage_bytes gauge
backupd_storage_bytes{kind=\"full\"} 2048
backupd_storage_bytes{kind=\"incremental\"} 0
backupd_storage_bytes{kind=\"archive\"} 0
# HELP backupd_backups Live backups by kind.
# TYPE backupd_backups gauge
backupd_backups{kind=\"full\"} 1
backupd_backups{kind=\"incremental\"} 0
backupd_backups{kind=\"archive\"} 0
# HELP backupd_backups_deleted_total Backups whose files were deleted (retention or by request).
# TYPE backupd_backups_deleted_total counter
backupd_backups_deleted_total 0
# HELP backupd_backups_deleted_bytes_total Bytes of the backups whose files were deleted.
# TYPE backupd_backups_deleted_bytes_total counter
backupd_backups_deleted_bytes_total 0
# HELP backupd_event_log_position Position of the newest event in the log (0 = empty log).
# TYPE backupd_event_log_position gauge
backupd_event_log_position 5
# HELP backupd_scheduler_running 1 when the scheduler fires jobs, 0 when it is stopped.
# TYPE backupd_scheduler_running gauge
backupd_scheduler_running 1
# HELP backupd_jobs Jobs by state.
# TYPE backupd_jobs gauge
backupd_jobs{state=\"active\"} 1
backupd_jobs{state=\"paused\"} 0
# HELP backupd_report_storage_bytes Bytes of the kept daily reports (JSON and HTML).
# TYPE backupd_report_storage_bytes gauge
backupd_report_storage_bytes 0
# HELP backupd_health_status The latest health check: 0 ok, 1 warning, 2 critical; absent before the first check.
# TYPE backupd_health_status gauge
# HELP backupd_health_check_status Each check of the latest health check: 0 ok, 1 warning, 2 critical.
# TYPE backupd_health_check_status gauge
# HELP backupd_health_checked_timestamp_seconds When the latest health check was recorded (Unix time).
# TYPE backupd_health_checked_timestamp_seconds gauge
";
        assert_eq!(render(&s, at(7200)), want);
    }

    #[test]
    fn an_empty_log_announces_every_family_and_omits_the_undefined_ratio() {
        let text = render(&State::default(), at(0));
        assert!(text.contains("# TYPE backupd_run_success_ratio_24h gauge\n"));
        assert!(!text.contains("\nbackupd_run_success_ratio_24h "));
        assert!(!text
            .lines()
            .any(|l| !l.starts_with('#') && l.contains("NaN")));
        assert!(text.contains("\nbackupd_event_log_position 0\n"));
        assert!(text.contains("\nbackupd_scheduler_running 0\n"));
    }

    #[test]
    fn the_latest_health_check_and_report_storage_are_exported() {
        let check = |name: &str, status| HealthCheck {
            name: name.into(),
            status,
            reason: "r".into(),
        };
        let s = state(vec![
            (
                10,
                Event::HealthChecked {
                    status: HealthStatus::Critical,
                    checks: vec![
                        check("scheduler", HealthStatus::Ok),
                        check("disk_space", HealthStatus::Critical),
                    ],
                },
            ),
            (
                20,
                Event::ReportGenerated {
                    report_id: "r1".into(),
                    location: "reports/r1.json".into(),
                    bytes: 4096,
                },
            ),
        ]);
        let text = render(&s, at(30));
        for line in [
            "backupd_health_status 2",
            "backupd_health_check_status{check=\"scheduler\"} 0",
            "backupd_health_check_status{check=\"disk_space\"} 2",
            "backupd_health_checked_timestamp_seconds 1774699210",
            "backupd_report_storage_bytes 4096",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("two\nlines"), "two\\nlines");
        assert_eq!(escape_label("plain_job-1"), "plain_job-1");
        let mut out = Exposition::default();
        out.sample("m", &[("job", "q\"\\\n")], 1);
        assert_eq!(out.text, "m{job=\"q\\\"\\\\\\n\"} 1\n");
    }

    #[test]
    fn a_deleted_job_keeps_its_series_and_a_paused_one_counts_as_paused() {
        let s = state(vec![
            (0, Event::JobCreated { job: spec("gone") }),
            (
                0,
                Event::JobCreated {
                    job: spec("resting"),
                },
            ),
            (
                1,
                Event::JobPaused {
                    job_id: "resting".into(),
                },
            ),
            (10, started("gone@1", "gone")),
            (20, failed("gone@1")),
            (
                30,
                Event::JobDeleted {
                    job_id: "gone".into(),
                },
            ),
        ]);
        let text = render(&s, at(60));
        assert!(text.contains("backupd_runs_total{job=\"gone\",outcome=\"failed\"} 1\n"));
        assert!(text.contains("backupd_run_last_duration_seconds{job=\"gone\"} 0.5\n"));
        assert!(text.contains("backupd_runs_total{job=\"resting\",outcome=\"succeeded\"} 0\n"));
        assert!(!text.contains("backupd_run_last_success_timestamp_seconds{"));
        assert!(text.contains("backupd_jobs{state=\"active\"} 0\n"));
        assert!(text.contains("backupd_jobs{state=\"paused\"} 1\n"));
        assert!(text.contains("\nbackupd_run_success_ratio_24h 0\n"));
    }

    /// Runs of one job that finish at the given offsets from T0; odd ones fail.
    fn finishing_at(offsets: &[i64]) -> State {
        let mut events = vec![(0, Event::JobCreated { job: spec("j") })];
        for (i, &secs) in offsets.iter().enumerate() {
            let run = format!("j@{i}");
            events.push((secs - 1, started(&run, "j")));
            events.push((
                secs,
                if i % 2 == 0 {
                    succeeded(&run, 10, 1000)
                } else {
                    failed(&run)
                },
            ));
        }
        state(events)
    }

    #[test]
    fn the_24h_window_ends_exactly_a_day_before_now() {
        let day = 86_400;
        let now = at(2 * day);
        // Runs 0 and 2 succeed, 1 and 3 fail.
        let s = finishing_at(&[day - 1, day + 1, day, 2 * day]);
        // day - 1 (24 h + 1 s ago) and day (exactly 24 h ago) are out.
        assert_eq!(
            finished_within(&s, DAY, now),
            Outcomes {
                succeeded: 0,
                failed: 2,
                interrupted: 0
            }
        );
        assert!(render(&s, now).contains("\nbackupd_run_success_ratio_24h 0\n"));
        // One second earlier, run 2 (finished then exactly 24 h - 1 s ago) is in.
        let earlier = at(2 * day - 1);
        assert_eq!(finished_within(&s, DAY, earlier).succeeded, 1);
        // 2 * day finished after `earlier`: not yet counted.
        assert_eq!(finished_within(&s, DAY, earlier).failed, 1);
        assert!(render(&s, earlier).contains("\nbackupd_run_success_ratio_24h 0.5\n"));
        // A day later nothing is in the window: the sample goes, not NaN.
        let text = render(&s, at(4 * day));
        assert!(!text.contains("\nbackupd_run_success_ratio_24h "));
    }

    #[test]
    fn figures_sum_storage_and_window_the_rates() {
        let day = 86_400;
        let mut s = finishing_at(&[10, 2 * day, 2 * day + 10]);
        let b = |id, kind, bytes| Event::BackupRecorded {
            backup: record(id, "j", kind, bytes, at(5)),
        };
        for (i, e) in [
            b("f", BackupKind::Full, 100),
            b("i", BackupKind::Incremental, 20),
            b("a", BackupKind::Archive, 3),
        ]
        .into_iter()
        .enumerate()
        {
            s.apply(&Envelope {
                position: s.position + 1,
                recorded_at: at(3 * day + i as i64),
                actor: "test".into(),
                correlation: None,
                payload: e,
            });
        }
        let f = figures(&s, at(2 * day + 60));
        // finished: j@0 ok at 10 s (out of 24 h, in 7 d), j@1 failed, j@2 ok
        assert_eq!(
            f.runs_24h,
            Outcomes {
                succeeded: 1,
                failed: 1,
                interrupted: 0
            }
        );
        assert_eq!(f.success_rate_24h, Some(0.5));
        assert_eq!(f.success_rate_7d, Some(2.0 / 3.0));
        assert_eq!(f.success_rate_all, Some(2.0 / 3.0));
        assert_eq!(f.last_backup_bytes, Some(10));
        // (1000 + 500 + 1000) / 3
        assert_eq!(f.average_duration_ms, Some(833));
        assert_eq!(
            f.storage_bytes,
            StorageBytes {
                full: 100,
                incremental: 20,
                archive: 3,
                total: 123
            }
        );
        assert_eq!(f.backups, 3);
        let empty = figures(&State::default(), at(0));
        assert_eq!(
            (
                empty.success_rate_24h,
                empty.success_rate_all,
                empty.last_backup_bytes,
                empty.average_duration_ms
            ),
            (None, None, None, None)
        );
        let json = serde_json::to_value(&empty).unwrap();
        assert!(json["success_rate_7d"].is_null());
        assert_eq!(json["storage_bytes"]["total"], 0);
    }
}
