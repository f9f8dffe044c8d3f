//! `GET /metrics` through real HTTP against the real binary, read by a real Prometheus text-format
//! parser and checked against what the JSON API says about the same log.

use crate::support::Served;
use prometheus_parse::{LineInfo, Scrape, Value as Sample};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

/// The newest position, paging through the whole log as a client would.
fn newest_event(server: &Served) -> u64 {
    let mut after = 0;
    loop {
        let page = server.get(&format!("/events?after={after}&limit=1000"));
        match page["events"].as_array().unwrap().last() {
            Some(e) => after = e["position"].as_u64().unwrap(),
            None => return after,
        }
    }
}

/// A scrape as a set of lines and as parsed families.
struct Metrics {
    text: String,
    scrape: Scrape,
}

impl Metrics {
    fn value(&self, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found: Vec<_> = self
            .scrape
            .samples
            .iter()
            .filter(|s| {
                s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v))
            })
            .collect();
        assert!(found.len() <= 1, "{metric}{labels:?} twice:\n{}", self.text);
        found.first().map(|s| match s.value {
            Sample::Counter(v) | Sample::Gauge(v) => v,
            ref other => panic!("{metric}: untyped or unexpected {other:?}"),
        })
    }

    fn sum(&self, metric: &str) -> f64 {
        self.sum_where(metric, |_| true)
    }

    fn sum_where(&self, metric: &str, keep: impl Fn(&prometheus_parse::Sample) -> bool) -> f64 {
        self.scrape
            .samples
            .iter()
            .filter(|s| s.metric == metric && keep(s))
            .map(|s| match s.value {
                Sample::Counter(v) | Sample::Gauge(v) => v,
                _ => f64::NAN,
            })
            .sum()
    }
}

#[test]
fn metrics_agree_with_the_api_after_a_real_backup() {
    let client = Served::demo();

    // a files backup of the demo config's small uploads directory
    let (code, job) = client.send(
        "POST",
        "/scheduler/jobs",
        Some(json!({
            "job_id": "metrics_files",
            "name": "Metrics files",
            "trigger_type": "cron",
            "trigger_config": {"hour": 1, "minute": 30},
            "backup_config": {"type": "files"}
        })),
    );
    assert_eq!(code, 201, "{job}");
    let (code, run) = client.send("POST", "/scheduler/jobs/metrics_files/run", None);
    assert_eq!(code, 202, "{run}");
    let finished = client.finished_within(run["run_id"].as_str().unwrap(), Duration::from_secs(30));
    assert_eq!(finished["status"], "succeeded", "{finished}");

    // Scrape and read the API between two equal log positions, so a preset firing meanwhile
    // cannot make the two disagree.
    let (metrics, backups, status, position) = (0..5)
        .find_map(|_| {
            let before = newest_event(&client);
            let resp = ureq::get(&format!("{}/metrics", client.root))
                .call()
                .unwrap();
            assert_eq!(resp.status(), 200);
            assert_eq!(
                resp.header("Content-Type"),
                Some("text/plain; version=0.0.4; charset=utf-8")
            );
            let text = resp.into_string().unwrap();
            let backups = client.get("/backups?limit=1000");
            let status = client.get("/scheduler/status");
            let after = newest_event(&client);
            (before == after).then(|| {
                let lines = text.lines().map(|l| Ok(l.to_string()));
                let scrape = Scrape::parse(lines).unwrap();
                (Metrics { text, scrape }, backups, status, after)
            })
        })
        .expect("the log never held still for a scrape");
    let text = &metrics.text;

    // every family announced with HELP and TYPE, every sample in an announced family
    let (mut helped, mut typed, mut sampled) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for line in text.lines() {
        match LineInfo::parse(line) {
            LineInfo::Doc { metric_name, .. } => assert!(helped.insert(metric_name), "{line}"),
            LineInfo::Type { metric_name, .. } => assert!(typed.insert(metric_name), "{line}"),
            LineInfo::Sample { metric_name, .. } => {
                sampled.insert(metric_name.to_string());
            }
            LineInfo::Empty | LineInfo::Ignored => panic!("not a metric line: {line:?}"),
        }
    }
    let helped: BTreeSet<String> = helped.into_iter().map(str::to_string).collect();
    assert_eq!(helped, typed, "HELP without TYPE or the reverse:\n{text}");
    assert!(
        sampled.is_subset(&typed),
        "a sample without HELP/TYPE:\n{text}"
    );
    assert!(sampled.iter().all(|m| m.starts_with("backupd_")));
    assert!(!text
        .lines()
        .any(|l| !l.starts_with('#') && l.contains("NaN")));

    let job = [("job", "metrics_files")];
    let outcome = |o| [("job", "metrics_files"), ("outcome", o)];
    assert_eq!(
        metrics.value("backupd_runs_total", &outcome("succeeded")),
        Some(1.0)
    );
    assert_eq!(
        metrics.value("backupd_runs_total", &outcome("failed")),
        Some(0.0)
    );
    // a clean run: no warnings, and the counters are there at 0
    assert_eq!(
        (&finished["warnings_total"], &finished["warnings"]),
        (&json!(0), &json!([])),
        "{finished}"
    );
    for family in [
        "backupd_run_warnings_total",
        "backupd_runs_with_warnings_total",
    ] {
        assert_eq!(metrics.value(family, &job), Some(0.0), "{family}");
    }
    let run_bytes = finished["bytes"].as_u64().unwrap();
    assert!(run_bytes > 0);
    assert_eq!(
        metrics.value("backupd_backup_last_size_bytes", &job),
        Some(run_bytes as f64)
    );
    assert!(metrics
        .value("backupd_run_last_success_timestamp_seconds", &job)
        .is_some_and(|t| t > 1.7e9));
    assert!(metrics
        .value("backupd_run_last_duration_seconds", &job)
        .is_some_and(|d| d >= 0.0));

    // storage by kind = the backups the API lists
    let listed = backups["backups"].as_array().unwrap();
    assert!(listed.iter().any(|b| b["run_id"] == finished["run_id"]));
    for kind in ["full", "incremental", "archive"] {
        let of_kind: Vec<_> = listed.iter().filter(|b| b["kind"] == kind).collect();
        let bytes: u64 = of_kind.iter().map(|b| b["size"].as_u64().unwrap()).sum();
        let kind = [("kind", kind)];
        assert_eq!(
            metrics.value("backupd_storage_bytes", &kind),
            Some(bytes as f64)
        );
        assert_eq!(
            metrics.value("backupd_backups", &kind),
            Some(of_kind.len() as f64)
        );
    }
    assert_eq!(
        metrics.value("backupd_event_log_position", &[]),
        Some(position as f64)
    );

    // the status's figures say the same
    let stats = &status["stats"];
    assert_eq!(status["event_position"], position);
    assert_eq!(
        metrics.value("backupd_scheduler_running", &[]),
        Some(if status["running"] == true { 1.0 } else { 0.0 })
    );
    assert_eq!(
        metrics.sum("backupd_jobs"),
        status["jobs"].as_f64().unwrap()
    );
    assert_eq!(
        metrics.value("backupd_jobs", &[("state", "paused")]),
        status["paused_jobs"].as_f64()
    );
    for kind in ["full", "incremental", "archive"] {
        assert_eq!(
            metrics.value("backupd_storage_bytes", &[("kind", kind)]),
            stats["storage_bytes"][kind].as_f64(),
            "{stats}"
        );
    }
    assert_eq!(
        stats["storage_bytes"]["total"].as_f64(),
        Some(metrics.sum("backupd_storage_bytes"))
    );
    assert_eq!(
        stats["backups"].as_f64(),
        Some(metrics.sum("backupd_backups"))
    );
    // a fresh log: every run finished within the last day
    assert_eq!(
        stats["runs_24h"]["succeeded"].as_f64(),
        Some(metrics.sum_where("backupd_runs_total", |s| {
            s.labels.get("outcome") == Some("succeeded")
        }))
    );
    assert_eq!(
        stats["success_rate_24h"].as_f64(),
        metrics.value("backupd_run_success_ratio_24h", &[])
    );
    assert_eq!(stats["success_rate_24h"], stats["success_rate_all"]);
    assert_eq!(stats["success_rate_7d"], stats["success_rate_all"]);
    assert_eq!(stats["success_rate_all"], status["success_rate"]);
    assert_eq!(stats["last_backup_bytes"], run_bytes);
    assert!(stats["average_duration_ms"].is_u64(), "{stats}");

    // an error at the root is JSON too, and says what is served there
    let (code, err) = {
        let url = format!("{}/metrics", client.root);
        match ureq::post(&url).call() {
            Err(ureq::Error::Status(code, resp)) => {
                assert_eq!(resp.header("Allow"), Some("GET"));
                (code, resp.into_json::<Value>().unwrap())
            }
            other => panic!("POST /metrics: {other:?}"),
        }
    };
    assert_eq!(
        (code, &err["error"]["code"]),
        (405, &json!("method_not_allowed"))
    );

    client.stop();
}
