//! `GET /metrics`: the values of `queries::metrics` written in the Prometheus text format 0.0.4.
//!
//! A pure function of the projected `State` and `now` (the service clock, read by the handler),
//! so a scrape shows exactly what the log says at that position and tests need no clock.

use super::error::ApiError;
use super::ApiContext;
use crate::events::{HealthStatus, Ts};
use crate::projections::State;
use crate::queries::metrics::{metrics, Metrics};
use std::fmt::{Display, Write};
use tide::{Request, Response};

/// What Prometheus expects for the text format; scrapers pick the parser by this header.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn serve(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let ctx = req.state();
    let now = ctx.now();
    let remotes: Vec<String> = ctx.config.remotes.iter().map(|r| r.name.clone()).collect();
    let text = ctx
        .service
        .read(|s| render(s, now) + &render_remotes(s, &remotes, now));
    let mut res = Response::new(200);
    res.set_body(tide::Body::from_string(text));
    // After the body: setting a body sets its own (parameterless) text/plain type.
    res.insert_header("Content-Type", CONTENT_TYPE);
    Ok(res)
}

/// The whole exposition. Families are always announced (HELP and TYPE), even without samples,
/// so a dashboard sees the metric exists before the first run.
pub fn render(state: &State, now: Ts) -> String {
    write(&metrics(state, now))
}

fn write(m: &Metrics) -> String {
    let mut out = Exposition::default();

    out.family(
        "backupd_runs_total",
        "counter",
        "Runs of a job by outcome since the log began; deleted jobs keep their series.",
    );
    for job in &m.jobs {
        for (outcome, n) in job.by_outcome() {
            out.sample(
                "backupd_runs_total",
                &[("job", &job.job_id), ("outcome", outcome)],
                n,
            );
        }
    }

    out.family(
        "backupd_run_warnings_total",
        "counter",
        "Entries that succeeded runs of a job skipped or read while they changed (the runs' \
         warnings_total) since the log began.",
    );
    for job in &m.jobs {
        out.sample(
            "backupd_run_warnings_total",
            &[("job", &job.job_id)],
            job.stats.warnings,
        );
    }
    out.family(
        "backupd_runs_with_warnings_total",
        "counter",
        "Succeeded runs of a job that had warnings, since the log began.",
    );
    for job in &m.jobs {
        out.sample(
            "backupd_runs_with_warnings_total",
            &[("job", &job.job_id)],
            job.stats.runs_with_warnings,
        );
    }

    out.family(
        "backupd_run_last_duration_seconds",
        "gauge",
        "Duration of the job's last succeeded or failed run.",
    );
    for job in &m.jobs {
        if let Some(ms) = job.stats.last_duration_ms {
            out.sample(
                "backupd_run_last_duration_seconds",
                &[("job", &job.job_id)],
                ms as f64 / 1000.0,
            );
        }
    }

    out.family(
        "backupd_backup_last_size_bytes",
        "gauge",
        "Bytes written by the job's last succeeded run.",
    );
    for job in &m.jobs {
        if let Some(bytes) = job.stats.last_bytes {
            out.sample(
                "backupd_backup_last_size_bytes",
                &[("job", &job.job_id)],
                bytes,
            );
        }
    }

    out.family(
        "backupd_run_last_success_timestamp_seconds",
        "gauge",
        "When the job's last run succeeded (Unix time); absent for jobs that never succeeded.",
    );
    for job in &m.jobs {
        if let Some(at) = job.stats.last_success_at {
            out.sample(
                "backupd_run_last_success_timestamp_seconds",
                &[("job", &job.job_id)],
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
    if let Some(ratio) = m.success_ratio_24h {
        out.sample("backupd_run_success_ratio_24h", &[], ratio);
    }

    out.family(
        "backupd_runs_in_progress",
        "gauge",
        "Runs started and not yet finished.",
    );
    out.sample("backupd_runs_in_progress", &[], m.runs_in_progress);

    out.family(
        "backupd_storage_bytes",
        "gauge",
        "Bytes of the live backups by kind.",
    );
    for k in &m.kinds {
        out.sample(
            "backupd_storage_bytes",
            &[("kind", k.kind.as_str())],
            k.bytes,
        );
    }

    out.family("backupd_backups", "gauge", "Live backups by kind.");
    for k in &m.kinds {
        out.sample("backupd_backups", &[("kind", k.kind.as_str())], k.backups);
    }

    out.family(
        "backupd_backups_deleted_total",
        "counter",
        "Backups whose files were deleted (retention or by request).",
    );
    out.sample("backupd_backups_deleted_total", &[], m.deleted_backups);
    out.family(
        "backupd_backups_deleted_bytes_total",
        "counter",
        "Bytes of the backups whose files were deleted.",
    );
    out.sample("backupd_backups_deleted_bytes_total", &[], m.deleted_bytes);

    out.family(
        "backupd_event_log_position",
        "gauge",
        "Position of the newest event in the log (0 = empty log).",
    );
    out.sample("backupd_event_log_position", &[], m.event_position);

    out.family(
        "backupd_scheduler_running",
        "gauge",
        "1 when the scheduler fires jobs, 0 when it is stopped.",
    );
    out.sample(
        "backupd_scheduler_running",
        &[],
        u8::from(m.scheduler_running),
    );

    out.family("backupd_jobs", "gauge", "Jobs by state.");
    out.sample(
        "backupd_jobs",
        &[("state", "active")],
        m.jobs_by_state.active(),
    );
    out.sample(
        "backupd_jobs",
        &[("state", "paused")],
        m.jobs_by_state.paused,
    );

    out.family(
        "backupd_report_storage_bytes",
        "gauge",
        "Bytes of the kept daily reports (JSON and HTML).",
    );
    out.sample("backupd_report_storage_bytes", &[], m.report_bytes);

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
    if let Some(h) = &m.health {
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

/// The `[[remotes]]` families, one series per configured remote; announced only when remotes
/// are configured (a service without any has nothing to say about them).
pub fn render_remotes(state: &State, remotes: &[String], now: Ts) -> String {
    let mut out = Exposition::default();
    if remotes.is_empty() {
        return out.text;
    }
    let figures: Vec<(&str, crate::projections::offsite::Pending)> = remotes
        .iter()
        .map(|r| (r.as_str(), state.offsite.figures(r)))
        .collect();
    let each =
        |out: &mut Exposition,
         name: &str,
         kind: &str,
         help: &str,
         v: &dyn Fn(&crate::projections::offsite::Pending, &str) -> Option<f64>| {
            out.family(name, kind, help);
            for (r, p) in &figures {
                if let Some(x) = v(p, r) {
                    out.sample(name, &[("remote", r)], x);
                }
            }
        };
    each(
        &mut out,
        "backupd_remote_up",
        "gauge",
        "1 unless the remote's latest upload attempt failed (cleared by the next success).",
        &|p, _| Some(if p.last_failure.is_some() { 0.0 } else { 1.0 }),
    );
    each(
        &mut out,
        "backupd_remote_pending_objects",
        "gauge",
        "Objects recorded locally and not yet on the remote.",
        &|p, _| Some(p.objects as f64),
    );
    each(
        &mut out,
        "backupd_remote_pending_bytes",
        "gauge",
        "Bytes of the objects not yet on the remote.",
        &|p, _| Some(p.bytes as f64),
    );
    each(
        &mut out,
        "backupd_remote_oldest_pending_backup_age_seconds",
        "gauge",
        "Age of the oldest backup not wholly on the remote; 0 when every backup is off-site.",
        &|p, _| {
            Some(
                p.oldest_backup
                    .map(|t| (t.millis_until(now) / 1000) as f64)
                    .unwrap_or(0.0),
            )
        },
    );
    each(
        &mut out,
        "backupd_remote_replicated_objects",
        "gauge",
        "Objects on the remote as recorded.",
        &|_, r| {
            Some(
                state
                    .offsite
                    .remotes
                    .get(r)
                    .map_or(0, |x| x.replicated.len()) as f64,
            )
        },
    );
    each(
        &mut out,
        "backupd_remote_replicated_bytes",
        "gauge",
        "Bytes on the remote as recorded.",
        &|_, r| {
            Some(
                state
                    .offsite
                    .remotes
                    .get(r)
                    .map_or(0, |x| x.replicated.values().sum::<u64>()) as f64,
            )
        },
    );
    each(
        &mut out,
        "backupd_remote_failures_total",
        "counter",
        "Failed upload attempts since the log began.",
        &|_, r| Some(state.offsite.remotes.get(r).map_or(0, |x| x.failures) as f64),
    );
    each(
        &mut out,
        "backupd_remote_last_success_timestamp_seconds",
        "gauge",
        "When the latest upload to the remote was recorded (Unix time); absent before the first.",
        &|p, _| p.last_success.map(unix_seconds),
    );
    out.text
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
    use crate::events::{BackupKind, Event};
    use crate::queries::fixture::*;

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
backupd_runs_total{job=\"nightly\",outcome=\"cancelled\"} 0
backupd_runs_total{job=\"nightly\",outcome=\"skipped\"} 0
backupd_runs_total{job=\"nightly\",outcome=\"missed\"} 0
# HELP backupd_run_warnings_total Entries that succeeded runs of a job skipped or read while they changed (the runs' warnings_total) since the log began.
# TYPE backupd_run_warnings_total counter
backupd_run_warnings_total{job=\"nightly\"} 0
# HELP backupd_runs_with_warnings_total Succeeded runs of a job that had warnings, since the log began.
# TYPE backupd_runs_with_warnings_total counter
backupd_runs_with_warnings_total{job=\"nightly\"} 0
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
        let s = state(vec![
            (
                10,
                health_checked(&[
                    ("scheduler", HealthStatus::Ok),
                    ("disk_space", HealthStatus::Critical),
                ]),
            ),
            (20, report_generated("r1", 4096)),
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

    /// The window itself is tested with `queries::runs::finished_within`; here, what the
    /// exposition makes of it.
    #[test]
    fn the_24h_window_ends_exactly_a_day_before_now() {
        let now = at(2 * DAY);
        // Runs 0 and 2 succeed, 1 and 3 fail; DAY - 1 and DAY are out of the window.
        let s = finishing_at(&[DAY - 1, DAY + 1, DAY, 2 * DAY]);
        assert!(render(&s, now).contains("\nbackupd_run_success_ratio_24h 0\n"));
        // One second earlier, run 2 is in and run 3 is not yet.
        let earlier = at(2 * DAY - 1);
        assert!(render(&s, earlier).contains("\nbackupd_run_success_ratio_24h 0.5\n"));
        // A day later nothing is in the window: the sample goes, not NaN.
        let text = render(&s, at(4 * DAY));
        assert!(!text.contains("\nbackupd_run_success_ratio_24h "));
    }

    #[test]
    fn warnings_are_counted_per_job_and_runs_with_them_still_succeed() {
        let s = state(vec![
            (0, Event::JobCreated { job: spec("files") }),
            (10, started("files@1", "files")),
            (20, succeeded_with_warnings("files@1", 150)),
            (30, started("files@2", "files")),
            (40, succeeded("files@2", 10, 1000)),
            (50, started("files@3", "files")),
            (60, succeeded_with_warnings("files@3", 2)),
        ]);
        let text = render(&s, at(70));
        for line in [
            "backupd_run_warnings_total{job=\"files\"} 152",
            "backupd_runs_with_warnings_total{job=\"files\"} 2",
            "backupd_runs_total{job=\"files\",outcome=\"succeeded\"} 3",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }
}
