//! Honest outcomes, through the real binary: a file truncated while the backup reads it is read
//! again and named in the run, and a FIFO is named as skipped with why: each a structured warning
//! `{path, reason}` of a run that still succeeds, seen in the run JSON, the event log, the tasks
//! log, `/metrics` and the daily report.

use std::fs;
use std::time::{Duration, Instant};

use prometheus_parse::{Scrape, Value as Sample};
use serde_json::{json, Value};

use crate::support::Served;

#[test]
fn a_file_truncated_mid_read_is_read_again_and_named_with_skipped_entries() {
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("src");
    fs::create_dir_all(&src).unwrap();
    // Sparse: cheap to make, and slow enough to compress at xz -9 that the read is still going
    // when the test sees the first progress.
    let big = src.join("big");
    let size: u64 = 512 << 20;
    fs::File::create(&big).unwrap().set_len(size).unwrap();
    fs::write(src.join("small"), "small").unwrap();
    let fifo = src.join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());

    let server = Served::with_config(&format!(
        "[[sources.files]]\npath = {src:?}\n[compression]\ndefault = \"xz\"\nlevel = 9\n"
    ));
    let (code, run) = server.send("POST", "/scheduler/jobs/daily_full_backup/run", None);
    assert_eq!(code, 202, "{run}");
    let run_id = run["run_id"].as_str().unwrap().to_string();
    let path = format!("/runs/{}", run_id.replace('@', "%40"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = server.get(&path);
        assert_eq!(
            r["status"], "running",
            "the read finished before the test could cut it: {r}"
        );
        if r["progress"]["bytes_done"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "no progress: {r}");
        std::thread::sleep(Duration::from_millis(5));
    }
    let cut: u64 = 1 << 20;
    fs::OpenOptions::new()
        .write(true)
        .open(&big)
        .unwrap()
        .set_len(cut)
        .unwrap();

    let done = server.finished(&run_id);
    assert_eq!(done["status"], "succeeded", "{done}");
    let note = done["note"].as_str().unwrap_or_default();
    let real = fs::canonicalize(&src).unwrap();
    assert!(
        note.contains(&format!(
            "{}: changed while read (size {size} when opened, ",
            real.join("big").display()
        )) && note.contains(&format!("size {cut} at the end); read again")),
        "{done}"
    );
    assert!(
        note.contains(&format!("{}: skipped: a FIFO", real.join("pipe").display())),
        "{done}"
    );
    assert!(note.contains("2 warning(s)"), "{done}");

    // The run record: each entry with its path and why, the scan's skips first, and the count.
    assert_eq!(done["warnings_total"], 2, "{done}");
    let warnings = done["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 2, "{done}");
    assert_eq!(
        warnings[0],
        json!({"path": real.join("pipe").display().to_string(), "reason": "skipped: a FIFO"})
    );
    assert_eq!(warnings[1]["path"], real.join("big").display().to_string());
    let reason = warnings[1]["reason"].as_str().unwrap();
    // The first read sees the cut; a later read may still see the truncation finish (its
    // mtime lands after its size) and is read once more, but the kept read is a clean one.
    assert!(
        reason.starts_with(&format!("changed while read (size {size} when opened, "))
            && reason.contains(&format!("size {cut} at the end); read again"))
            && reason.ends_with("; read again"),
        "{reason}"
    );
    run_succeeded_v2_is_in_the_log(&server, &run_id, &done);
    the_tasks_log_warns(&server, &run_id, &real.join("pipe"));
    metrics_count_the_warnings(&server);
    the_report_counts_the_warnings(&server);

    // What was stored is the file as read the second time, whole.
    let id = done["backup_id"].as_str().unwrap();
    let target = scratch.path().join("restore");
    let (code, sum) = server.send(
        "POST",
        &format!("/backups/{id}/restore"),
        Some(serde_json::json!({ "target": target })),
    );
    assert_eq!(code, 200, "{sum}");
    let restored = crate::engine::restored_root(&target, &src).join("big");
    assert_eq!(fs::metadata(&restored).unwrap().len(), cut);
}

/// The log has the outcome as `run_succeeded_v3` (v2's fields and `perf`) with the same warnings,
/// and no `run_succeeded`.
fn run_succeeded_v2_is_in_the_log(server: &Served, run_id: &str, run: &Value) {
    let mut after = 0;
    let mut outcomes = Vec::new();
    loop {
        let page = server.get(&format!("/events?after={after}&limit=1000"));
        let events = page["events"].as_array().unwrap();
        let Some(last) = events.last() else { break };
        after = last["position"].as_u64().unwrap();
        outcomes.extend(
            events
                .iter()
                .filter(|e| e["data"]["run_id"] == run_id && e["type"] != "run_started")
                .cloned(),
        );
    }
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    let event = &outcomes[0];
    // A backup run records its phase timings too: `run_succeeded_v3`, `run_succeeded_v2`'s fields
    // and `perf`.
    assert_eq!(event["type"], "run_succeeded_v3", "{event}");
    assert_eq!(event["data"]["warnings_total"], 2);
    assert_eq!(event["data"]["warnings"], run["warnings"]);
    assert_eq!(event["data"]["backup_id"], run["backup_id"]);
}

/// The tasks log's line for the run is a WARN naming the count and the first warnings.
fn the_tasks_log_warns(server: &Served, run_id: &str, pipe: &std::path::Path) {
    let log = fs::read_to_string(server.data_dir().join("logs/backup_tasks.log")).unwrap();
    let line = log
        .lines()
        .find(|l| {
            l.contains(&format!("run {run_id} of job daily_full_backup")) && l.contains("succeeded")
        })
        .unwrap_or_else(|| panic!("no line for {run_id} in:\n{log}"));
    for part in [
        " WARN ".to_string(),
        ", 2 warning(s): ".to_string(),
        format!("{}: skipped: a FIFO; ", pipe.display()),
        "changed while read (".to_string(),
    ] {
        assert!(line.contains(&part), "{part:?} missing from {line}");
    }
}

/// `/metrics`, read by a real parser: the job's warnings and its runs that had them.
fn metrics_count_the_warnings(server: &Served) {
    let text = ureq::get(&format!("{}/metrics", server.root))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let value = |metric: &str| {
        let found: Vec<f64> = scrape
            .samples
            .iter()
            .filter(|s| s.metric == metric && s.labels.get("job") == Some("daily_full_backup"))
            .map(|s| match s.value {
                Sample::Counter(v) => v,
                ref other => panic!("{metric} is no counter: {other:?}"),
            })
            .collect();
        assert_eq!(found.len(), 1, "{metric}:\n{text}");
        found[0]
    };
    assert_eq!(value("backupd_run_warnings_total"), 2.0, "{text}");
    assert_eq!(value("backupd_runs_with_warnings_total"), 1.0, "{text}");
    // a run with warnings is a success
    let succeeded = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "backupd_runs_total"
                && s.labels.get("job") == Some("daily_full_backup")
                && s.labels.get("outcome") == Some("succeeded")
        })
        .map(|s| s.value.clone());
    assert_eq!(succeeded, Some(Sample::Counter(1.0)), "{text}");
}

/// The daily report: per job, the runs with warnings and their count, in the JSON and the page.
fn the_report_counts_the_warnings(server: &Served) {
    let report_run = server.run("daily_report");
    assert_eq!(report_run["status"], "succeeded", "{report_run}");
    let list = server.get("/reports");
    let id = list["reports"][0]["id"].as_str().unwrap().to_string();
    let report = server.get(&format!("/reports/{id}"));
    let job = report["runs_per_job"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job_id"] == "daily_full_backup")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(
        job["warnings_24h"],
        json!({"runs": 1, "warnings": 2}),
        "{job}"
    );
    assert_eq!(
        job["warnings_7d"],
        json!({"runs": 1, "warnings": 2}),
        "{job}"
    );
    assert_eq!(job["last_24h"]["succeeded"], 1, "{job}");
    let (code, _, page) = server.exchange("GET", &format!("/reports/{id}.html"), None);
    assert_eq!(code, 200);
    assert!(page.contains("<td class=\"n\">2 in 1 run</td>"), "{page}");
}
