//! Performance analysis (issue 17 items 4 and 5): a backup run records its phase timings and
//! volumes (`run_succeeded_v3.perf`), seen in the run JSON and the event log of the real binary;
//! `GET reports/performance` refuses bad windows naming the field; and over a manual-clock month
//! of real backups with slowdowns planted on chosen days (a `before` hook that sleeps while a
//! marker file exists) exactly those runs are flagged as regressions, in the API and in the daily
//! report, whose new charts a real browser draws (`perf/month.rs`).

mod month;

use crate::support::{Rng, Served};
use serde_json::Value;
use std::fs;

/// The phases of a `perf` object, in `RunPerf`'s order.
pub const PHASES: [&str; 6] = [
    "scan_ms",
    "read_ms",
    "compress_ms",
    "write_ms",
    "upload_ms",
    "verify_ms",
];

pub fn field(v: &Value, name: &str) -> u64 {
    v[name]
        .as_u64()
        .unwrap_or_else(|| panic!("{name} is not a count: {v}"))
}

#[test]
fn a_backup_run_records_its_phases_and_volumes_in_the_run_and_the_event_log() {
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    // 1 MiB that does not compress and 4 MiB that does: stored < read.
    let mut rng = Rng(7);
    let noise: Vec<u8> = (0..1 << 20).map(|_| rng.next() as u8).collect();
    fs::write(src.join("noise.bin"), &noise).unwrap();
    let text = "backupd measures where a run's time goes\n".repeat((4 << 20) / 41);
    fs::write(src.join("sub/text.txt"), &text).unwrap();
    fs::write(src.join("empty"), "").unwrap();
    let source_bytes = (noise.len() + text.len()) as u64;

    let server = Served::with_config(&format!("[[sources.files]]\npath = {src:?}\n"));
    let run = server.run("daily_full_backup");
    assert_eq!(run["status"], "succeeded", "{run}");
    let perf = &run["perf"];
    assert!(perf.is_object(), "{run}");
    assert_eq!(field(perf, "bytes_read"), source_bytes, "{perf}");
    assert_eq!(field(perf, "files_examined"), 3, "{perf}");
    assert_eq!(field(perf, "files_changed"), 3, "{perf}");
    // the archive file is what the run stored, all of it new
    let stored = field(perf, "bytes_stored");
    assert_eq!(stored, field(&run, "bytes"), "{run}");
    assert_eq!(field(perf, "bytes_new"), stored);
    assert!(
        stored < source_bytes && stored > noise.len() as u64,
        "{perf}"
    );
    // phases are parts of the run: together no longer than it
    let phases: u64 = PHASES.iter().map(|p| field(perf, p)).sum();
    let duration = field(&run, "duration_ms");
    assert!(
        phases <= duration,
        "phases {phases} ms > run {duration} ms: {perf}"
    );
    // no remote storage, and a backup run does not read itself back
    assert_eq!((field(perf, "upload_ms"), field(perf, "verify_ms")), (0, 0));

    // The log's outcome carries the same figures.
    let run_id = run["run_id"].as_str().unwrap();
    let events = server.get("/events?after=0&limit=1000");
    let outcome: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["data"]["run_id"] == run_id && e["type"] != "run_started")
        .collect();
    assert_eq!(outcome.len(), 1, "{outcome:?}");
    assert_eq!(outcome[0]["type"], "run_succeeded_v3");
    assert_eq!(&outcome[0]["data"]["perf"], perf);
    assert_eq!(outcome[0]["data"]["warnings_total"], 0);

    // The analysis shows the run with its throughput, and the volume it read.
    let p = server.get("/reports/performance?job=daily_full_backup");
    assert_eq!(p["days"], 30);
    let jobs = p["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "{p}");
    let job = &jobs[0];
    assert_eq!(job["measured_runs"], 1);
    assert_eq!(&job["runs"][0]["perf"], perf);
    let mbs = job["runs"][0]["throughput_mb_s"].as_f64().unwrap();
    let expected = source_bytes as f64 / 1e6 / (duration as f64 / 1000.0);
    assert!(
        (mbs - expected).abs() < 1e-6 * expected,
        "{mbs} vs {expected}"
    );
    assert!(
        job["slowest_phase"].is_string() && job["bound"].is_string(),
        "{job}"
    );
    assert!(job["compression_ratio"].as_f64().unwrap() > 1.0, "{job}");
    assert_eq!(job["dedup_ratio"], 1.0);
    assert!(field(&p["volume"], "free_bytes") > 0, "{p}");
    assert_eq!(job["regressions"], serde_json::json!([]));
    // every backup job without `job`
    let all = server.get("/reports/performance?days=366");
    let listed = all["jobs"].as_array().unwrap();
    assert!(
        listed
            .iter()
            .any(|j| j["job_id"] == "daily_full_backup" && j["runs"] == job["runs"]),
        "{all}"
    );
}

#[test]
fn bad_performance_windows_are_refused_naming_the_field() {
    let server = Served::demo();
    for (query, status, field) in [
        ("days=0", 400, "days"),
        ("days=367", 400, "days"),
        ("days=-1", 400, "days"),
        ("days=week", 400, "days"),
        ("dayz=3", 400, "dayz"),
        ("job=no_such_job", 404, "job"),
    ] {
        let (code, body) = server.send("GET", &format!("/reports/performance?{query}"), None);
        assert_eq!(code, status, "{query}: {body}");
        let e = &body["error"];
        assert_eq!(e["field"], field, "{query}: {body}");
        assert!(e["code"].is_string() && e["message"].is_string(), "{body}");
    }
    let (code, body) = server.send("GET", "/reports/performance?days=1&job=", None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["days"], 1);
}
