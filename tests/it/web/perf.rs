//! The dashboard's Performance page (`web/perf.js`, loaded on its first visit) over
//! `GET reports/performance`, and a run's page with its phases: a month of seeded runs of a
//! backup job with one planted slowdown, then two real runs; Chromium at both widths.

use super::{browse, get, playwright, run_as, screenshots, serve, source};
use crate::support::Served;
use backupd::events::{Event, RunPerf, RunReason, Ts};
use backupd::store::{EventStore, Expected, NewEvent};
use serde_json::Value;

/// The seeded runs: started this many days ago, taking this many ms; the last one is planted
/// far over 1.5 × the median of the six before it.
const SEEDED: [(i64, u64); 7] = [
    (20, 3000),
    (18, 3100),
    (16, 2900),
    (14, 3000),
    (12, 3200),
    (10, 3000),
    (3, 20_000),
];

/// A finished backup run of `job` recorded in the log: started `days_ago`, with phases that
/// make it disk-bound (read is half its time).
fn seeded(job: &str, i: usize, days_ago: i64, ms: u64) -> Vec<NewEvent> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64;
    let start = now - days_ago * 86_400_000_000_000;
    let run_id = format!("{job}@seeded-{i}");
    let ev = |at: i64, payload| NewEvent {
        recorded_at: Ts::from_unix_nanos(at),
        actor: "scheduler".into(),
        correlation: Some(run_id.clone()),
        payload,
    };
    let bytes_read = 50_000_000 + i as u64 * 1_000_000;
    let perf = RunPerf {
        scan_ms: ms / 10,
        read_ms: ms / 2,
        compress_ms: ms / 5,
        write_ms: ms / 10,
        verify_ms: ms / 10,
        bytes_read,
        bytes_stored: bytes_read / 2,
        bytes_new: bytes_read / 4,
        files_examined: 100,
        files_changed: 10,
        ..Default::default()
    };
    vec![
        ev(
            start,
            Event::RunStarted {
                run_id: run_id.clone(),
                job_id: job.into(),
                slot: None,
                reason: RunReason::Manual,
            },
        ),
        ev(
            start + ms as i64 * 1_000_000,
            Event::RunSucceededV3 {
                run_id: run_id.clone(),
                backup_id: None,
                bytes: perf.bytes_stored,
                files: 10,
                duration_ms: ms,
                note: None,
                warnings_total: 0,
                warnings: vec![],
                perf,
            },
        ),
    ]
}

fn ids(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|r| r[key].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_performance_page_and_a_runs_phases() {
    playwright();
    let job = "daily_full_backup";
    let tmp = tempfile::tempdir().unwrap();
    let src = source(tmp.path());
    let (server, admin, viewer) = serve(tmp.path(), &src);
    // The first start installed the preset jobs; the seeded month is written while it is stopped.
    assert_eq!(
        get(&server, &admin, &format!("/scheduler/jobs/{job}"))["id"],
        job
    );
    let data = server.data_dir().to_path_buf();
    server.stop();
    let store = EventStore::open(&data.join("events.redb")).unwrap();
    let events = SEEDED
        .iter()
        .enumerate()
        .flat_map(|(i, (days, ms))| seeded(job, i, *days, *ms))
        .collect();
    store.append_blocking(events, Expected::Any, None).unwrap();
    drop(store);
    let server = Served::with_config_file(&tmp.path().join("backupd.toml"), &data);
    let mut real = Vec::new();
    for _ in 0..2 {
        let run = run_as(&server, &admin, job);
        assert_eq!(run["status"], "succeeded", "{run}");
        // A real backup measures its phases: read at least the 3 MB file.
        assert!(
            run["perf"]["bytes_read"].as_u64().unwrap() >= 3_000_000,
            "{run}"
        );
        real.push(run["run_id"].as_str().unwrap().to_string());
    }

    // What the page must show, as the API answers it.
    let planted = format!("{job}@seeded-6");
    let month = get(
        &server,
        &viewer,
        &format!("/reports/performance?days=30&job={job}"),
    );
    let j = &month["jobs"][0];
    assert_eq!(j["job_id"], job, "{month}");
    assert_eq!(j["runs"].as_array().unwrap().len(), 9, "{j}");
    // The planted run is a regression; the real runs (well under 1.5 × 3 s) are not.
    assert_eq!(ids(&j["regressions"], "run_id"), [planted.as_str()], "{j}");
    let week = get(
        &server,
        &viewer,
        &format!("/reports/performance?days=7&job={job}"),
    );
    assert_eq!(
        week["jobs"][0]["runs"].as_array().unwrap().len(),
        3,
        "{week}"
    );
    let zone = get(&server, &viewer, "/scheduler/status")["timezone"]
        .as_str()
        .unwrap()
        .to_string();

    let found = browse(&[
        ("MODE", "perf".into()),
        ("BASE", server.root.clone()),
        ("READER", viewer),
        ("JOB", job.into()),
        ("REGRESSION", planted.clone()),
        ("REAL_RUN", real[1].clone()),
        ("ZONE", zone),
    ]);
    eprintln!("performance findings: {found}");
    assert_eq!(found["outside_requests"], serde_json::json!([]));
    for width in ["1280", "390"] {
        let f = &found[width];
        // Not on the overview; fetched once the page is opened.
        assert_eq!(f["perf_js_on_overview"], false, "{f}");
        // One point per run on each chart, the planted one drawn as the regression; a week
        // holds the planted run and the two real ones.
        assert_eq!(
            f["points"],
            serde_json::json!({"throughput": 9, "duration": 9}),
            "{f}"
        );
        assert_eq!(
            f["flagged"],
            serde_json::json!([planted.clone(), planted.clone()]),
            "{f}"
        );
        assert_eq!(f["week_points"], 3, "{f}");
        assert_eq!(
            f["regressions"],
            serde_json::json!([planted.clone()]),
            "{f}"
        );
        // The planted run's page: six phases, read the slowest.
        assert_eq!(f["planted_phases"], 6, "{f}");
        assert_eq!(f["planted_slowest"], "read", "{f}");
        for page in ["performance", "run"] {
            let shot = screenshots().join(format!("{page}-{width}.png"));
            assert!(shot.metadata().is_ok_and(|m| m.len() > 1000), "{shot:?}");
        }
    }
}
