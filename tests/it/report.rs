//! The daily report through the real binary: a backup run, the `daily_report` preset run now,
//! the report listed and served as JSON and HTML, and the HTML rendered by a real browser
//! (headless chromium, no network: the page is self-contained) to show the charts draw.

use crate::support::Served;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";

#[test]
fn the_daily_report_lists_the_runs_and_backups_as_json_and_as_a_page_with_charts() {
    let server = Served::demo();
    let (status, job) = server.send(
        "POST",
        "/scheduler/jobs",
        Some(json!({
            "job_id": "report_files",
            "name": "Uploads <script>alert(1) & \"more\"",
            "trigger_type": "interval",
            "trigger_config": {"hours": 24},
            "backup_config": {"type": "files"}
        })),
    );
    assert_eq!(status, 201, "{job}");
    let backup_run = server.run("report_files");
    assert_eq!(backup_run["status"], "succeeded", "{backup_run}");
    let backup_id = backup_run["backup_id"].as_str().unwrap().to_string();

    // Whatever it finds (a test machine's disk may warrant a warning), it records a health.
    let health_run = server.run("health_check");
    assert_ne!(health_run["status"], "interrupted", "{health_run}");

    let report_run = server.run("daily_report");
    assert_eq!(report_run["status"], "succeeded", "{report_run}");
    // A preset could fire during the test (the hourly health check): no exact totals here.
    let note = report_run["note"].as_str().unwrap();
    assert!(note.contains(" runs in 24 h, success "), "{note}");

    // the list
    let list = server.get("/reports");
    let reports = list["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 1, "{list}");
    let r = &reports[0];
    let id = r["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("report-") && id.ends_with('Z'), "{id}");
    assert!(note.starts_with(&format!("report {id}:")), "{note}");
    assert_eq!(r["links"]["json"], format!("/api/backup/reports/{id}"));
    assert_eq!(r["links"]["html"], format!("/api/backup/reports/{id}.html"));
    assert!(
        r["expires_at"].is_string(),
        "the demo config keeps reports 90 d: {r}"
    );
    let json_file = server.data_dir().join(format!("reports/{id}.json"));
    let html_file = server.data_dir().join(format!("reports/{id}.html"));
    let on_disk =
        std::fs::metadata(&json_file).unwrap().len() + std::fs::metadata(&html_file).unwrap().len();
    assert_eq!(r["bytes"].as_u64().unwrap(), on_disk);
    let leftovers: Vec<_> = std::fs::read_dir(server.data_dir().join("reports"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // the JSON: the backup run and its backup
    let report = server.get(&format!("/reports/{id}"));
    assert_eq!(report["id"], id.as_str());
    assert!(
        report["last_24h"]["succeeded"].as_u64() >= Some(1),
        "{report}"
    );
    let per_job = report["runs_per_job"].as_array().unwrap();
    let files_job = per_job
        .iter()
        .find(|j| j["job_id"] == "report_files")
        .unwrap_or_else(|| panic!("{per_job:?}"));
    assert_eq!(files_job["last_24h"]["succeeded"], 1);
    assert_eq!(report["largest_backups"][0]["id"], backup_id.as_str());
    assert!(report["storage"]["full"].as_u64() >= backup_run["bytes"].as_u64());
    assert!(
        !report["next_runs"].as_array().unwrap().is_empty(),
        "{report}"
    );
    assert!(report["health"]["status"].is_string(), "{report}");
    assert!(!report["health"]["checks"].as_array().unwrap().is_empty());
    assert_eq!(report["runs_per_day"].as_array().unwrap().len(), 14);
    assert_eq!(report["storage_over_time"].as_array().unwrap().len(), 90);

    // the page
    let (status, content_type, page) = server.exchange("GET", &format!("/reports/{id}.html"), None);
    assert_eq!(status, 200, "{page}");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(content_type.contains("utf-8"), "{content_type}");
    assert!(page.contains("<svg") && !page.contains("<script"), "{page}");
    assert!(page.contains("Uploads &lt;script&gt;"));

    // unknown and hostile ids: JSON 404s, nothing read outside the catalog
    for bad in [
        "report-19700101T000000Z",
        "%2E%2E%2Fevents.redb",
        "..%2F..%2Fetc%2Fpasswd",
        "report-19700101T000000Z.html",
        "%2E%2E.html",
        "x.json",
    ] {
        let (status, body) = server.send("GET", &format!("/reports/{bad}"), None);
        assert_eq!(status, 404, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "not_found", "{bad}: {body}");
    }
    let (status, body) = server.send("POST", &format!("/reports/{id}.html"), None);
    assert_eq!(status, 405, "{body}");
    let (status, body) = server.send("GET", "/reports?limit=0", None);
    assert_eq!((status, &body["error"]["field"]), (400, &json!("limit")));

    screenshot_shows_the_charts(&page);
    server.stop();
}

/// Renders `page` and a blank page with headless chromium and compares them.
fn screenshot_shows_the_charts(page: &str) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: this test renders the report in a real browser \
         (install it: apt-get install -y chromium)"
    );
    let dir = tempfile::tempdir().unwrap();
    let report_html = dir.path().join("report.html");
    let blank_html = dir.path().join("blank.html");
    std::fs::write(&report_html, page).unwrap();
    std::fs::write(
        &blank_html,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body></body></html>",
    )
    .unwrap();

    let shot = chromium(dir.path(), &report_html, "report.png");
    let blank = chromium(dir.path(), &blank_html, "blank.png");
    let (w, h) = png_size(&shot);
    assert_eq!((w, h), (1200, 1600), "the screenshot's size");
    assert_eq!(png_size(&blank), (1200, 1600));
    let (shot_len, blank_len) = (
        std::fs::metadata(&shot).unwrap().len(),
        std::fs::metadata(&blank).unwrap().len(),
    );
    assert!(
        shot_len > 10 * blank_len && shot_len > 30_000,
        "the report's screenshot ({shot_len} bytes) is hardly more than a blank page's ({blank_len})"
    );
    // For a person to look at: the newest screenshot of a run.
    let _ = std::fs::copy(&shot, std::env::temp_dir().join("report-shot.png"));

    // What the browser built: both charts with their titles and marks.
    let dom = run_chromium(dir.path(), &["--dump-dom".to_string()], &report_html);
    for needle in [
        "<title id=\"runs-title\">Runs per day</title>",
        "<title id=\"storage-title\">Storage over time</title>",
        "<polygon",
        "<rect",
    ] {
        assert!(dom.contains(needle), "the rendered DOM has no {needle:?}");
    }
}

/// Takes a 1200x1600 screenshot of `html` into `dir/name`.
fn chromium(dir: &Path, html: &Path, name: &str) -> PathBuf {
    let png = dir.join(name);
    run_chromium(
        dir,
        &[
            "--window-size=1200,1600".to_string(),
            format!("--screenshot={}", png.display()),
        ],
        html,
    );
    assert!(png.exists(), "chromium wrote no {}", png.display());
    png
}

/// Runs headless chromium with no network features and a fresh profile on `file://html`;
/// its stdout. Killed after two minutes.
pub(crate) fn run_chromium(dir: &Path, extra: &[String], html: &Path) -> String {
    let profile = tempfile::tempdir_in(dir).unwrap();
    let log = profile.path().with_extension("log");
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", html.display()))
        .stdout(Stdio::piped())
        // a file, not a pipe: chromium's chatter must not fill a pipe nobody reads
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {CHROMIUM}: {e}"));
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        std::io::Read::read_to_string(&mut { stdout }, &mut out).unwrap();
        out
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within two minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = reader.join().unwrap();
    if !status.success() {
        let err = std::fs::read_to_string(&log).unwrap_or_default();
        panic!("chromium exited with {status}: {err}");
    }
    out
}

/// Width and height from a PNG's signature and IHDR chunk (the first, by the format's rule).
pub(crate) fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.len() > 33,
        "{} is too short for a PNG",
        path.display()
    );
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "not a PNG: {}",
        path.display()
    );
    assert_eq!(
        &bytes[12..16],
        b"IHDR",
        "no IHDR first in {}",
        path.display()
    );
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

/// Two reports in the same second get distinct ids, each with both files and its event; a
/// crash's leftover file with the next id is stepped over, not overwritten.
#[test]
fn reports_made_in_the_same_second_get_distinct_ids_and_never_overwrite_a_file() {
    use backupd::clock::Clock;
    use backupd::engine::report::{generate, report_id};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("reports")).unwrap();
    let (service, clock) = crate::support::open_service(&data, 0);
    let config = backupd::config::Config {
        data_dir: data.clone(),
        ..Default::default()
    };
    let progress = backupd::progress::Progress::default();
    let base = report_id(clock.now().into());
    let first = generate(&config, &service, "run-1", &progress.begin("run-1")).unwrap();
    assert!(
        first
            .note
            .starts_with(&format!("report {base}: 0 runs in 24 h")),
        "{}",
        first.note
    );
    // an unrecorded file where the second id would go (a crash after the write)
    std::fs::write(data.join(format!("reports/{base}-2.json")), b"left over").unwrap();
    generate(&config, &service, "run-2", &progress.begin("run-2")).unwrap();
    let ids: Vec<String> = service.read(|s| s.catalog.reports.keys().cloned().collect());
    assert_eq!(ids, [base.clone(), format!("{base}-3")]);
    for id in &ids {
        for ext in ["json", "html"] {
            assert!(
                data.join(format!("reports/{id}.{ext}")).is_file(),
                "{id}.{ext}"
            );
        }
        let text = std::fs::read_to_string(data.join(format!("reports/{id}.json"))).unwrap();
        let report: backupd::report::Report = serde_json::from_str(&text).unwrap();
        assert_eq!(&report.id, id);
    }
    assert_eq!(
        std::fs::read(data.join(format!("reports/{base}-2.json"))).unwrap(),
        b"left over"
    );
    // the first report is in the second one's storage
    let second: backupd::report::Report = serde_json::from_str(
        &std::fs::read_to_string(data.join(format!("reports/{base}-3.json"))).unwrap(),
    )
    .unwrap();
    let first_bytes = service.read(|s| s.catalog.reports[&base].bytes);
    assert_eq!(second.storage.reports, first_bytes);
    assert_eq!(first.bytes, first_bytes);
}
