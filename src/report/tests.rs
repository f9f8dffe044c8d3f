//! `build` over a hand-made log and `html` over what it builds.

use super::html::{runs_chart, storage_chart};
use super::*;
use crate::events::{
    BackupKind, BackupRecord, Envelope, Event, HealthCheck, HealthStatus, JobAction, JobSpec,
    RunReason, Trigger,
};
use crate::projections::Outcomes;

/// 2026-03-28T12:00:00Z.
const NOW: i64 = 1_774_699_200;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;
const EVIL: &str = "<script>alert('x')</script>";

fn ts(secs: i64) -> Ts {
    Ts::from_unix_nanos(secs * 1_000_000_000)
}

struct Log {
    state: State,
}

impl Log {
    fn new() -> Log {
        let mut log = Log {
            state: State::default(),
        };
        log.at(NOW - 30 * DAY, Event::SchedulerStarted);
        for (id, name) in [("nightly", EVIL), ("weekly", "Weekly")] {
            log.at(
                NOW - 30 * DAY,
                Event::JobCreated {
                    job: JobSpec {
                        id: id.into(),
                        name: name.into(),
                        trigger: Trigger::Interval {
                            seconds: 6 * HOUR as u64,
                            start_at: None,
                        },
                        action: JobAction::Report,
                        misfire_grace_secs: None,
                        timezone: None,
                        jitter_secs: 0,
                    },
                },
            );
        }
        log
    }

    fn at(&mut self, secs: i64, payload: Event) {
        let position = self.state.position + 1;
        self.state.apply(&Envelope {
            position,
            recorded_at: ts(secs),
            actor: "test".into(),
            correlation: None,
            payload,
        });
    }

    fn start(&mut self, run: &str, job: &str, secs: i64) {
        self.at(
            secs,
            Event::RunStarted {
                run_id: run.into(),
                job_id: job.into(),
                slot: None,
                reason: RunReason::Manual,
            },
        );
    }

    /// A run of `job` that finished at `end` after `ms`: `Ok(bytes)` or `Err(error)`.
    fn run(&mut self, run: &str, job: &str, end: i64, ms: u64, outcome: Result<u64, &str>) {
        self.start(run, job, end - 1);
        let payload = match outcome {
            Ok(bytes) => Event::RunSucceeded {
                run_id: run.into(),
                backup_id: None,
                bytes,
                files: 1,
                duration_ms: ms,
                note: None,
            },
            Err(error) => Event::RunFailed {
                run_id: run.into(),
                error: error.into(),
                duration_ms: ms,
            },
        };
        self.at(end, payload);
    }

    fn backup(&mut self, id: &str, kind: BackupKind, bytes: u64, secs: i64) {
        self.at(
            secs,
            Event::BackupRecorded {
                backup: BackupRecord {
                    id: id.into(),
                    job_id: "nightly".into(),
                    run_id: format!("run-{id}"),
                    kind,
                    parent: None,
                    location: format!("backups/{id}.bka"),
                    bytes,
                    entries: 1,
                    checksum: 0,
                    compression: "zstd".into(),
                    created_at: ts(secs),
                },
            },
        );
    }
}

fn sample() -> State {
    let mut log = Log::new();
    log.backup("b-old", BackupKind::Full, 1_000, NOW - 10 * DAY);
    log.backup("b-new", BackupKind::Incremental, 500, NOW - 2 * DAY);
    for i in 0..12 {
        log.backup(&format!("b-{i:02}"), BackupKind::Full, i, NOW - 2 * DAY);
    }
    log.run("r-8d", "nightly", NOW - 8 * DAY, 9_000, Ok(7));
    // exactly 7 days and exactly 24 hours old: outside those windows (they are (now - d, now])
    log.run("r-7d", "nightly", NOW - 7 * DAY, 9_000, Ok(7));
    log.run("r-24h", "weekly", NOW - DAY, 2_000, Ok(50));
    log.start("r-int", "nightly", NOW - 3 * DAY);
    log.at(
        NOW - 3 * DAY + 5,
        Event::RunInterrupted {
            run_id: "r-int".into(),
            reason: "process stopped".into(),
        },
    );
    log.run("r-fail", "nightly", NOW - 2 * HOUR, 3_000, Err(EVIL));
    log.run("r-ok", "nightly", NOW - HOUR, 1_000, Ok(100));
    // just inside the 24 h window
    log.run("r-edge", "weekly", NOW - DAY + 1, 4_000, Ok(1));
    // still running: no outcome, in no figure
    log.start("r-running", "weekly", NOW - 60);
    log.at(
        NOW - 30 * 60,
        Event::HealthChecked {
            status: HealthStatus::Warning,
            checks: vec![HealthCheck {
                name: "disk".into(),
                status: HealthStatus::Warning,
                reason: format!("12% free {EVIL}"),
            }],
        },
    );
    log.state
}

fn next() -> Vec<NextRun> {
    vec![
        NextRun {
            job_id: "weekly".into(),
            name: "Weekly".into(),
            at: ts(NOW + 2 * HOUR),
        },
        NextRun {
            job_id: "nightly".into(),
            name: EVIL.into(),
            at: ts(NOW + HOUR),
        },
    ]
}

#[test]
fn windows_are_half_open_and_count_exactly_the_runs_finished_in_them() {
    let r = build(&sample(), ts(NOW), "report-x", next(), 0.5);
    assert_eq!(r.id, "report-x");
    assert_eq!(r.generated_at, ts(NOW));
    let w = &r.last_24h;
    assert_eq!((w.from, w.to), (ts(NOW - DAY), ts(NOW)));
    assert_eq!(
        (w.finished, w.succeeded, w.failed, w.interrupted),
        (3, 2, 1, 0)
    );
    assert_eq!(w.bytes_written, 101);
    assert!((w.success_rate.unwrap() - 2.0 / 3.0).abs() < 1e-12);
    let w = &r.last_7d;
    assert_eq!(
        (w.finished, w.succeeded, w.failed, w.interrupted),
        (5, 3, 1, 1)
    );
    assert_eq!(w.bytes_written, 151);
    assert_eq!(w.success_rate, Some(0.6));
}

#[test]
fn per_job_figures_failures_and_next_runs() {
    let r = build(&sample(), ts(NOW), "report-x", next(), 0.5);
    let jobs: Vec<_> = r
        .runs_per_job
        .iter()
        .map(|j| (j.job_id.as_str(), j.last_24h, j.last_7d))
        .collect();
    let o = |succeeded, failed, interrupted| Outcomes {
        cancelled: 0,
        succeeded,
        failed,
        interrupted,
    };
    assert_eq!(
        jobs,
        [
            ("nightly", o(1, 1, 0), o(1, 1, 1)),
            ("weekly", o(1, 0, 0), o(2, 0, 0)),
        ]
    );
    assert_eq!(r.runs_per_job[0].name, EVIL);

    let d: Vec<_> = r
        .durations
        .iter()
        .map(|d| (d.job_id.as_str(), d.runs, d.avg_ms, d.p95_ms, d.max_ms))
        .collect();
    assert_eq!(
        d,
        [
            ("nightly", 2, 2_000, 3_000, 3_000),
            ("weekly", 2, 3_000, 4_000, 4_000)
        ]
    );

    let f: Vec<_> = r
        .failures
        .iter()
        .map(|f| (f.run_id.as_str(), f.status.as_str(), f.at, f.error.as_str()))
        .collect();
    assert_eq!(
        f,
        [
            ("r-fail", "failed", ts(NOW - 2 * HOUR), EVIL),
            (
                "r-int",
                "interrupted",
                ts(NOW - 3 * DAY + 5),
                "process stopped"
            ),
        ]
    );
    // soonest first
    let n: Vec<_> = r.next_runs.iter().map(|n| n.job_id.as_str()).collect();
    assert_eq!(n, ["nightly", "weekly"]);
    let h = r.health.as_ref().unwrap();
    assert_eq!((h.status, h.at), (HealthStatus::Warning, ts(NOW - 30 * 60)));
}

#[test]
fn largest_backups_storage_and_the_daily_series() {
    let r = build(&sample(), ts(NOW), "report-x", next(), 0.5);
    let ids: Vec<_> = r.largest_backups.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(
        ids,
        ["b-old", "b-new", "b-11", "b-10", "b-09", "b-08", "b-07", "b-06", "b-05", "b-04"]
    );
    let total_small: u64 = (0..12).sum();
    assert_eq!(
        r.storage,
        Storage {
            full: 1_000 + total_small,
            incremental: 500,
            archive: 0,
            reports: 0,
            total: 1_500 + total_small,
        }
    );

    assert_eq!(r.runs_per_day.len(), RUN_DAYS as usize);
    let today = r.runs_per_day.last().unwrap();
    assert_eq!(today.day, "2026-03-28");
    assert_eq!(
        (today.succeeded, today.failed, today.interrupted),
        (1, 1, 0)
    );
    let day = |name: &str| r.runs_per_day.iter().find(|d| d.day == name).unwrap();
    // r-24h at 12:00:00 and r-edge at 12:00:01 on the 27th
    assert_eq!(day("2026-03-27").succeeded, 2);
    assert_eq!(day("2026-03-25").interrupted, 1);
    assert_eq!(
        (day("2026-03-21").succeeded, day("2026-03-20").succeeded),
        (1, 1)
    );
    assert_eq!(r.runs_per_day[0].day, "2026-03-15");

    let s = &r.storage_over_time;
    assert_eq!(s.len(), STORAGE_DAYS as usize);
    assert_eq!(s.last().unwrap().day, "2026-03-28");
    assert_eq!(s.last().unwrap().storage, r.storage);
    let at = |name: &str| s.iter().find(|d| d.day == name).unwrap().storage.total;
    assert_eq!(at("2026-03-17"), 0);
    assert_eq!(at("2026-03-18"), 1_000);
    // no change on the days between: carried forward
    assert_eq!(at("2026-03-22"), 1_000);
    assert_eq!(at("2026-03-26"), 1_500 + total_small);
}

#[test]
fn storage_from_before_the_chart_is_carried_into_its_first_day() {
    let mut log = Log::new();
    log.backup("ancient", BackupKind::Archive, 77, NOW - 200 * DAY);
    let r = build(&log.state, ts(NOW), "r", Vec::new(), 0.5);
    assert!(r.storage_over_time.iter().all(|d| d.storage.total == 77));
    assert_eq!(r.storage.archive, 77);
}

#[test]
fn an_empty_state_gives_null_rates_and_a_sensible_page() {
    let r = build(&State::default(), ts(NOW), "report-empty", Vec::new(), 0.5);
    assert_eq!(r.last_24h.success_rate, None);
    assert_eq!(r.last_7d.finished, 0);
    assert!(r.runs_per_job.is_empty() && r.failures.is_empty() && r.durations.is_empty());
    let page = html(&r);
    // runs, storage, throughput, duration
    assert_eq!(page.matches("<svg").count(), 4);
    assert!(page.contains("no runs finished in this period"));
    assert!(page.contains("no measured runs in this period"));
    assert!(page.contains("nothing stored in this period"));
    assert!(page.contains("The scheduler is stopped"));
    assert!(!page.contains("NaN"), "{page}");
}

#[test]
fn the_report_round_trips_through_json() {
    let r = build(&sample(), ts(NOW), "report-x", next(), 0.5);
    let text = serde_json::to_string(&r).unwrap();
    assert_eq!(serde_json::from_str::<Report>(&text).unwrap(), r);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["generated_at"], "2026-03-28T12:00:00Z");
    assert_eq!(v["last_7d"]["success_rate"], 0.6);
}

#[test]
fn html_escapes_the_data_and_references_nothing_outside() {
    let page = html(&build(&sample(), ts(NOW), "report-x", next(), 0.5));
    assert!(!page.contains("<script"), "unescaped script in the page");
    assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    for outside in [
        "http://", "https://", "src=", "href=", "url(", "@import", "//cdn",
    ] {
        assert!(!page.contains(outside), "the page refers to {outside:?}");
    }
    assert!(page.starts_with("<!DOCTYPE html>"));
    // both charts, with their accessible titles, axes and data
    assert!(page.contains("<title id=\"runs-title\">Runs per day</title>"));
    assert!(page.contains("<title id=\"storage-title\">Storage over time</title>"));
    assert!(page.matches("<polygon").count() >= 2);
    assert!(page.contains("2026-03-28: 1 failed"));
    assert!(page.contains("day (UTC)"));
}

#[test]
fn charts_with_zero_or_one_point_draw_without_dividing_by_zero() {
    for chart in [storage_chart(&[]), runs_chart(&[])] {
        assert!(chart.starts_with("<svg") && chart.ends_with("</svg>"));
        assert!(!chart.contains("NaN"), "{chart}");
    }
    let one = StorageDay {
        day: "2026-03-28".into(),
        storage: Storage {
            full: 10,
            total: 10,
            ..Storage::default()
        },
    };
    let chart = storage_chart(&[one]);
    assert!(
        chart.contains("<polygon") && !chart.contains("NaN"),
        "{chart}"
    );
    let chart = runs_chart(&[DayRuns {
        day: "2026-03-28".into(),
        succeeded: 1,
        failed: 0,
        interrupted: 0,
    }]);
    assert!(chart.contains("<rect") && !chart.contains("NaN"), "{chart}");
    assert!(chart.contains("03-28"));
}

#[test]
fn the_storage_chart_starts_just_before_the_first_stored_day() {
    let page = html(&build(&sample(), ts(NOW), "report-x", next(), 0.5));
    // 2026-03-17 is the last empty day before the first backup; the days before it are left out
    assert!(
        page.contains("each UTC day from 2026-03-17 to 2026-03-28"),
        "{page}"
    );
    let empty = html(&build(&State::default(), ts(NOW), "e", Vec::new(), 0.5));
    assert!(empty.contains("from 2026-03-22 to 2026-03-28"), "{empty}");
}

/// The sample written as the report job writes a report (its JSON and its page), read back and
/// checked: the JSON parses as the same report and the page has every section in order.
/// `REPORT_SAMPLE=/tmp/x.html cargo test --lib report::tests::write_sample` keeps the page to
/// look at.
#[test]
fn write_sample() {
    let report = build(&sample(), ts(NOW), "report-x", next(), 0.5);
    let dir = tempfile::tempdir().unwrap();
    let page_path = std::env::var_os("REPORT_SAMPLE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("report-x.html"));
    let json_path = dir.path().join("report-x.json");
    std::fs::write(&page_path, html(&report)).unwrap();
    std::fs::write(&json_path, serde_json::to_vec_pretty(&report).unwrap()).unwrap();

    let back: Report = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    assert_eq!(back, report, "the written JSON is not the same report");

    let page = std::fs::read_to_string(&page_path).unwrap();
    assert_eq!(
        page,
        html(&back),
        "the page of the read-back report differs"
    );
    // A real page with both charts, not an empty shell, and not runaway either.
    assert!(
        (8_000..200_000).contains(&page.len()),
        "page of {} bytes",
        page.len()
    );
    assert!(page.starts_with("<!DOCTYPE html>") && page.ends_with("</main></body></html>\n"));
    assert!(page.contains("<h1>Backup report</h1>"));
    let mut from = 0;
    for section in [
        "Runs per day (UTC)",
        "Storage over time",
        "Storage by kind",
        "Runs per job",
        "Durations, last 7 d",
        "Failures, last 7 d",
        "Largest backups",
        "Next runs",
        "Latest health check",
        "Performance, last 30 d",
        "Regressions",
    ] {
        let heading = format!("<h2>{section}</h2>");
        let at = page[from..]
            .find(&heading)
            .unwrap_or_else(|| panic!("no section {section:?} after byte {from}"));
        from += at + heading.len();
    }
    assert_eq!(page.matches("<svg").count(), 4);
    // The sample's own data made it onto the page: the jobs (one name escaped), the largest
    // backup, the health check.
    assert!(page.contains("Weekly"));
    assert!(page.contains("&lt;script&gt;"));
    for b in &report.largest_backups {
        assert!(page.contains(&b.id), "largest backup {} missing", b.id);
    }
    assert!(report.health.is_some() && !page.contains("No health check has run yet."));
}

#[test]
fn a_jobs_description_is_shown_beside_its_name() {
    use crate::events::{BackupConfig, BackupMode, BackupType};
    let mut log = Log::new();
    let mut cfg = BackupConfig::new(BackupType::Database, BackupMode::Full);
    cfg.description = Some(format!("自定义数据库备份 {EVIL}"));
    log.at(
        NOW - DAY,
        Event::JobCreated {
            job: JobSpec {
                id: "custom_backup".into(),
                name: "custom_backup".into(),
                trigger: Trigger::Interval {
                    seconds: DAY as u64,
                    start_at: None,
                },
                action: JobAction::Backup(cfg),
                misfire_grace_secs: None,
                timezone: None,
                jitter_secs: 0,
            },
        },
    );
    let r = build(&log.state, ts(NOW), "report-x", vec![], 0.5);
    let line = r
        .runs_per_job
        .iter()
        .find(|j| j.job_id == "custom_backup")
        .unwrap();
    assert_eq!(
        line.description.as_deref(),
        Some(format!("自定义数据库备份 {EVIL}").as_str())
    );
    let page = super::html::html(&r);
    assert!(
        page.contains("自定义数据库备份 &lt;script&gt;"),
        "escaped, beside the name"
    );
    assert!(r.runs_per_job.iter().any(|j| j.description.is_none()));
}

#[test]
fn runs_with_warnings_are_counted_per_job_and_shown() {
    let mut log = Log::new();
    // weekly: one run with 150 warnings 2 days ago, one with 3 an hour ago, one clean
    for (run, end, total) in [("w-2d", NOW - 2 * DAY, 150), ("w-1h", NOW - HOUR, 3)] {
        log.start(run, "weekly", end - 1);
        log.at(
            end,
            Event::RunSucceededV2 {
                run_id: run.into(),
                backup_id: None,
                bytes: 1,
                files: 1,
                duration_ms: 1_000,
                note: None,
                warnings_total: total,
                warnings: vec![crate::events::RunWarning {
                    path: "/srv/pipe".into(),
                    reason: "skipped: a FIFO".into(),
                }],
            },
        );
    }
    log.run("w-ok", "weekly", NOW - 2 * HOUR, 1_000, Ok(1));
    log.run("n-ok", "nightly", NOW - 2 * HOUR, 1_000, Ok(1));
    let r = build(&log.state, ts(NOW), "report-x", next(), 0.5);
    let figures: Vec<_> = r
        .runs_per_job
        .iter()
        .map(|j| (j.job_id.as_str(), j.warnings_24h, j.warnings_7d))
        .collect();
    let w = |runs, warnings| Warned { runs, warnings };
    assert_eq!(
        figures,
        [
            ("nightly", w(0, 0), w(0, 0)),
            ("weekly", w(1, 3), w(2, 153))
        ]
    );
    // runs with warnings still succeeded
    assert_eq!(r.runs_per_job[1].last_7d.succeeded, 3);
    let page = html(&r);
    assert!(page.contains("<th class=\"n\">7 d warnings</th>"), "{page}");
    assert!(
        page.contains("<td class=\"n\">3 in 1 run</td><td class=\"n\">153 in 2 runs</td>"),
        "{page}"
    );
    // the JSON is additive: a report written before the figure still reads (as none)
    let mut v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["runs_per_job"][1]["warnings_7d"]["warnings"], 153);
    for job in v["runs_per_job"].as_array_mut().unwrap() {
        let job = job.as_object_mut().unwrap();
        job.remove("warnings_24h");
        job.remove("warnings_7d");
    }
    let old: Report = serde_json::from_value(v).unwrap();
    assert_eq!(old.runs_per_job[1].warnings_7d, Warned::default());
}

/// `nightly` ran daily for 20 days with phase timings, one run three times as slow as usual.
fn measured() -> State {
    let mut log = Log::new();
    for i in 0..20i64 {
        let run = format!("m{i:02}");
        let end = NOW - (20 - i) * DAY + HOUR;
        let ms = if i == 12 { 3000 } else { 1000 };
        log.start(&run, "nightly", end - 1);
        log.at(
            end,
            Event::RunSucceededV3 {
                run_id: run.clone(),
                backup_id: None,
                bytes: 500_000,
                files: 4,
                duration_ms: ms,
                note: None,
                warnings_total: 0,
                warnings: vec![],
                perf: crate::events::RunPerf {
                    scan_ms: 10,
                    read_ms: ms / 2,
                    compress_ms: ms / 5,
                    write_ms: ms / 10,
                    bytes_read: 2_000_000,
                    bytes_stored: 500_000,
                    bytes_new: 500_000,
                    files_examined: 4,
                    files_changed: 4,
                    ..Default::default()
                },
            },
        );
    }
    log.state
}

#[test]
fn the_performance_section_charts_throughput_and_duration_and_rings_the_regression() {
    let r = build(&measured(), ts(NOW), "report-perf", next(), 0.5);
    let p = r.performance.as_ref().unwrap();
    assert_eq!(p.days, PERF_DAYS);
    let nightly = p.jobs.iter().find(|j| j.job_id == "nightly").unwrap();
    assert_eq!(nightly.runs.len(), 20);
    let flagged: Vec<&str> = nightly
        .regressions
        .iter()
        .map(|g| g.run_id.as_str())
        .collect();
    assert_eq!(flagged, ["m12"]);
    assert_eq!(nightly.slowest_phase.as_deref(), Some("read"));
    // the JSON report carries the section, and reads back the same
    let text = serde_json::to_string(&r).unwrap();
    assert_eq!(serde_json::from_str::<Report>(&text).unwrap(), r);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["performance"]["jobs"][0]["regressions"][0]["run_id"],
        "m12"
    );
    // an older report without it still reads
    let mut old = v.clone();
    old.as_object_mut().unwrap().remove("performance");
    let old: Report = serde_json::from_value(old).unwrap();
    assert_eq!(old.performance, None);

    let page = html(&r);
    assert!(page.contains("<title id=\"throughput-title\">Throughput</title>"));
    assert!(page.contains("<title id=\"duration-title\">Run duration</title>"));
    // 2 MB in 1 s, and the slow run's tooltip and its red ring (one ring: one regression)
    assert!(page.contains("m00: 2.00 MB/s"), "{page}");
    assert!(page.contains("m12: 3000 ms, a regression"));
    assert_eq!(page.matches("class=\"regression\"").count(), 1);
    assert!(page.contains("read (disk bound)"));
    assert!(page.contains("<h2>Regressions</h2>"));
    assert!(!page.contains("NaN") && !page.contains("inf"), "{page}");
    // the volume, given after the build, gives the days until full
    let r = r.with_volume(Some(crate::queries::performance::VolumeSpace {
        free_bytes: 1 << 30,
        total_bytes: 1 << 31,
    }));
    let p = r.performance.as_ref().unwrap();
    let nightly = p.jobs.iter().find(|j| j.job_id == "nightly").unwrap();
    assert!(nightly.storage.days_until_full.unwrap() > 0.0);
    let page = html(&r);
    // the job's days until full, read as days or years, never a raw number
    let days = nightly.storage.days_until_full.unwrap();
    let shown = if days > 3650.0 {
        "over 10 years".to_string()
    } else {
        format!("about {days:.0} days")
    };
    assert!(page.contains(&format!(">{shown}</td>")), "{shown}: {page}");
    assert!(!page.contains(" days days"));
}

/// The repository's figures appear once it holds a pack, with what a prune would free; an
/// installation without one shows no empty table.
#[test]
fn the_repository_figures_appear_once_it_holds_a_pack() {
    let r = build(&State::default(), ts(NOW), "e", Vec::new(), 0.5);
    assert_eq!(r.repository, None);
    assert!(!html(&r).contains("<h2>Repository</h2>"));
    let mut state = State::default();
    state.apply(&Envelope {
        position: 1,
        recorded_at: ts(NOW - HOUR),
        actor: "t".into(),
        correlation: None,
        payload: Event::PackWritten {
            pack: crate::events::PackRecord {
                id: "p".into(),
                run_id: "gone".into(),
                location: "repository/packs/p.pack".into(),
                bytes: 4096,
                chunks: Vec::new(),
            },
        },
    });
    let r = build(&state, ts(NOW), "r", Vec::new(), 0.5);
    let figures = r.repository.expect("a pack is held");
    assert_eq!(
        (figures.stored_bytes, figures.prunable_bytes, figures.packs),
        (4096, 4096, 1)
    );
    let page = html(&r);
    assert!(page.contains("<h2>Repository</h2>"), "{page}");
    assert!(page.contains("<td>a prune would free</td><td class=\"n\">4096</td>"));
    let json = serde_json::to_string(&r).unwrap();
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
}
