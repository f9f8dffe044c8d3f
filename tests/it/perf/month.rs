//! A month of daily backups on the manual clock, in process (the binary has no manual clock):
//! the real engine backs up real files into a real data directory and redb log, the test plays
//! the scheduler's part (`run_started`, the executor, the outcome command). The clock jumps a day
//! between runs and, during a run, moves by the real time the run took, so a run's recorded
//! duration is its real one. The source grows every day; on the planted days the job's `before`
//! hook finds a marker file and sleeps four times as long as usual. The analysis must flag
//! exactly those runs, through the real API router, and the daily report (run as its job) must
//! show them, its charts drawn by headless chromium.

use super::{field, PHASES};
use crate::report::{png_size, run_chromium, CHROMIUM};
use crate::support::{open_service, repo, serve_api_with};
use backupd::clock::{Clock, ManualClock};
use backupd::config::{Config, FilesSource};
use backupd::decide::{Command, RunOutcome};
use backupd::engine::Engine;
use backupd::events::{
    BackupConfig, BackupMode, BackupType, JobAction, JobSpec, RunReason, Trigger,
};
use backupd::progress::Progress;
use backupd::scheduler::RunExecutor;
use backupd::service::{Meta, Service};
use serde_json::Value;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

const DAYS: i64 = 30;
/// The days whose run is slowed down (each has at least 5 runs before it).
const SLOW_DAYS: [i64; 3] = [7, 15, 24];
/// The hook's sleep on a usual day and on a planted one, in seconds. A usual run is flagged only
/// if it takes half its median longer (some 300 ms on a busy machine), a planted one is 4x.
const USUAL: &str = "0.6";
const SLOW: &str = "2.5";
/// The source grows by this much a day.
const GROWTH: usize = 200_000;

struct Month {
    service: Service,
    clock: Arc<ManualClock>,
    engine: Engine,
}

impl Month {
    fn command(&self, c: Command) {
        smol::block_on(self.service.execute(c, Meta::actor("test"))).unwrap();
    }

    /// One run of `job` now, as the scheduler runs it; the clock follows the real time it takes.
    fn run(&self, job: &JobSpec, run_id: &str) -> RunOutcome {
        self.command(Command::StartRun {
            run_id: run_id.into(),
            job_id: job.id.clone(),
            slot: None,
            reason: RunReason::Manual,
        });
        let progress = Progress::default();
        let handle = progress.begin(run_id);
        let took = Instant::now();
        let outcome = self.engine.run(job, run_id, &handle);
        drop(handle);
        self.clock
            .advance(time::Duration::try_from(took.elapsed()).unwrap());
        self.command(Command::FinishRun {
            run_id: run_id.into(),
            outcome: outcome.clone(),
        });
        outcome
    }
}

fn job(id: &str, action: JobAction) -> JobSpec {
    JobSpec {
        id: id.into(),
        name: id.into(),
        trigger: Trigger::Interval {
            seconds: 86_400,
            start_at: None,
        },
        action,
        misfire_grace_secs: None,
        timezone: None,
        jitter_secs: 0,
    }
}

#[test]
fn the_performance_report_over_a_manual_clock_month_with_planted_slowdowns_flags_exactly_those_runs(
) {
    let scratch = tempfile::tempdir().unwrap();
    let (data, src) = (scratch.path().join("data"), scratch.path().join("src"));
    fs::create_dir_all(&data).unwrap();
    fs::create_dir_all(&src).unwrap();
    fs::write(
        src.join("base.txt"),
        "the part that never changes\n".repeat(1000),
    )
    .unwrap();
    let marker = scratch.path().join("slow-today");
    let (service, clock) = open_service(&data, 0);
    let config = Arc::new(Config {
        data_dir: data.clone(),
        files: vec![FilesSource {
            name: String::new(),
            path: src.clone(),
            exclude: vec![],
        }],
        ..Config::default()
    });
    let month = Month {
        engine: Engine::new(config.clone(), service.clone()),
        service,
        clock,
    };
    let mut cfg = BackupConfig::new(BackupType::Files, BackupMode::Full);
    cfg.hooks.before = Some(vec![
        "sh".into(),
        "-c".into(),
        format!(
            "if [ -e {m} ]; then sleep {SLOW}; else sleep {USUAL}; fi",
            m = marker.display()
        ),
    ]);
    let nightly = job("nightly", JobAction::Backup(cfg));
    month.command(Command::CreateJob(nightly.clone()));
    let report_job = job("report", JobAction::Report);
    month.command(Command::CreateJob(report_job.clone()));

    let began = Instant::now();
    let t0 = month.clock.now();
    let mut grow = fs::File::create(src.join("grow.log")).unwrap();
    let mut expected = Vec::new();
    for day in 0..DAYS {
        month.clock.set(t0 + time::Duration::days(day));
        grow.write_all(&vec![b'a' + (day % 26) as u8; GROWTH])
            .unwrap();
        grow.sync_all().unwrap();
        let slow = SLOW_DAYS.contains(&day);
        if slow {
            fs::write(&marker, "").unwrap();
        }
        let run_id = format!("nightly-day{day:02}");
        let outcome = month.run(&nightly, &run_id);
        assert!(
            matches!(outcome, RunOutcome::Succeeded { perf: Some(_), .. }),
            "{outcome:?}"
        );
        if slow {
            fs::remove_file(&marker).unwrap();
            expected.push(run_id);
        }
    }
    let outcome = month.run(&report_job, "report-run");
    assert!(
        matches!(outcome, RunOutcome::Succeeded { .. }),
        "{outcome:?}"
    );
    eprintln!("a month of runs in {:?}", began.elapsed());

    let api = serve_api_with(&month.service, (*config).clone());
    let p = api.get("/reports/performance?days=30&job=nightly");
    let nightly_perf = &p["jobs"][0];
    assert_eq!(nightly_perf["job_id"], "nightly", "{p}");
    let runs = nightly_perf["runs"].as_array().unwrap();
    assert_eq!(runs.len(), DAYS as usize);
    assert_eq!(nightly_perf["measured_runs"], DAYS);
    let flagged: Vec<&str> = nightly_perf["regressions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    let durations: Vec<u64> = runs.iter().map(|r| field(r, "duration_ms")).collect();
    assert_eq!(flagged, expected, "durations: {durations:?}");
    for r in nightly_perf["regressions"].as_array().unwrap() {
        assert!(r["ratio"].as_f64().unwrap() > 1.5, "{r}");
        assert!(field(r, "earlier_runs") >= 5, "{r}");
    }
    each_run_is_plausible(runs);
    // The source grew by GROWTH a day; every run read all of it (full backups).
    let per_day = nightly_perf["trend"]["bytes_read_per_day"]
        .as_f64()
        .unwrap();
    assert!(
        (per_day - GROWTH as f64).abs() < 0.01 * GROWTH as f64,
        "{per_day}"
    );
    // Storage grows, the volume's free space is known: a number of days until it is full.
    assert!(
        nightly_perf["storage"]["growth_bytes_per_day"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(nightly_perf["storage"]["days_until_full"].as_f64().unwrap() > 0.0);
    // the window: the usual run is the median, a planted one the 95th percentile
    assert!(
        field(&nightly_perf["window"], "median_ms") < 2000,
        "{nightly_perf}"
    );
    assert!(
        field(&nightly_perf["window"], "p95_ms") >= 2500,
        "{nightly_perf}"
    );

    // The daily report, made by its job at the end of the month, has the same regressions.
    let reports = api.get("/reports");
    let id = reports["reports"][0]["id"].as_str().unwrap().to_string();
    let report = api.get(&format!("/reports/{id}"));
    let section = &report["performance"]["jobs"];
    let in_report = section
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job_id"] == "nightly")
        .unwrap();
    assert_eq!(in_report["regressions"], nightly_perf["regressions"]);
    let page = ureq::get(&format!("{}/reports/{id}.html", api.base))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    for needle in [
        "<title id=\"throughput-title\">Throughput</title>",
        "<title id=\"duration-title\">Run duration</title>",
        "<h2>Regressions</h2>",
    ] {
        assert!(page.contains(needle), "the report has no {needle:?}");
    }
    for run_id in &expected {
        assert!(
            page.contains(&format!("{run_id}: ")),
            "{run_id} is not charted"
        );
    }
    screenshot_shows_the_new_charts(&page, expected.len());
}

/// Each run's figures: the source as it was that day read whole, phases within the duration.
fn each_run_is_plausible(runs: &[Value]) {
    let base = 28 * 1000;
    for (day, r) in runs.iter().enumerate() {
        let perf = &r["perf"];
        assert_eq!(
            field(perf, "bytes_read"),
            (base + GROWTH * (day + 1)) as u64,
            "{r}"
        );
        assert_eq!(
            (field(perf, "files_examined"), field(perf, "files_changed")),
            (2, 2)
        );
        let phases: u64 = PHASES.iter().map(|p| field(perf, p)).sum();
        assert!(phases <= field(r, "duration_ms"), "{r}");
        // the hook's sleep is in the duration, in no phase
        assert!(field(r, "duration_ms") >= 600, "{r}");
        assert!(r["throughput_mb_s"].as_f64().unwrap() > 0.0, "{r}");
        assert_eq!(field(perf, "bytes_new"), field(perf, "bytes_stored"));
    }
}

/// The report page in headless chromium, tall enough for the performance section: the
/// screenshot is kept under `target/perf-screenshots/`, and the DOM the browser built has both
/// new charts with their lines and one red ring per regression.
fn screenshot_shows_the_new_charts(page: &str, regressions: usize) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: this test renders the report in a real browser \
         (install it: apt-get install -y chromium)"
    );
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("report.html");
    fs::write(&html, page).unwrap();
    let png = dir.path().join("report.png");
    run_chromium(
        dir.path(),
        &[
            "--window-size=1200,5000".to_string(),
            format!("--screenshot={}", png.display()),
        ],
        &html,
    );
    assert_eq!(png_size(&png), (1200, 5000));
    assert!(
        fs::metadata(&png).unwrap().len() > 50_000,
        "a blank screenshot?"
    );
    let shots = repo().join("target/perf-screenshots");
    fs::create_dir_all(&shots).unwrap();
    fs::copy(&png, shots.join("report-performance.png")).unwrap();

    let dom = run_chromium(dir.path(), &["--dump-dom".to_string()], &html);
    for needle in [
        "<title id=\"throughput-title\">Throughput</title>",
        "<title id=\"duration-title\">Run duration</title>",
        "<polyline",
    ] {
        assert!(dom.contains(needle), "the rendered DOM has no {needle:?}");
    }
    assert_eq!(
        dom.matches("class=\"regression\"").count(),
        regressions,
        "one ring per regression"
    );
}
