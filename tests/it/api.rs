//! The REST API through real HTTP against the real binary: the seed's flow, the audit trail of
//! every change, a table of bad requests, and the route table against `schema/openapi.yaml`.

use crate::support::{bin, reply as read, repo, Served as Server};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn rfc3339(v: &Value) -> OffsetDateTime {
    let text = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// The seed's custom job, as its README sends it.
fn seed_job() -> Value {
    json!({
        "job_id": "custom_backup",
        "name": "Custom Backup",
        "trigger_type": "cron",
        "trigger_config": {"hour": 1, "minute": 30},
        "backup_config": {"type": "database", "options": {"compression": "gzip"}}
    })
}

#[test]
fn the_seed_flow_over_http_is_audited_in_the_log() {
    let server = Server::demo();

    let status = server.get("/scheduler/status");
    assert_eq!(status["running"], true);
    assert_eq!(status["jobs"], 7);
    assert_eq!(status["timezone"], "Asia/Shanghai");
    assert!(status["success_rate"].is_null());
    rfc3339(&status["next_run_time"]);

    let jobs = server.get("/scheduler/jobs")["jobs"]
        .as_array()
        .unwrap()
        .clone();
    let ids: BTreeSet<_> = jobs.iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        BTreeSet::from([
            "cleanup_expired",
            "daily_full_backup",
            "daily_report",
            "health_check",
            "incremental_backup",
            "weekly_archive",
            "weekly_verify"
        ])
    );
    for job in &jobs {
        assert_eq!(job["preset"], true);
        let next = rfc3339(&job["next_run_time"]);
        assert!(next > OffsetDateTime::now_utc(), "{job}");
    }
    let daily = jobs
        .iter()
        .find(|j| j["id"] == "daily_full_backup")
        .unwrap();
    assert!(daily["next_run_time"]
        .as_str()
        .unwrap()
        .ends_with("T02:00:00+08:00"));
    assert_eq!(daily["backup_config"]["type"], "full");
    let cleanup = jobs.iter().find(|j| j["id"] == "cleanup_expired").unwrap();
    assert_eq!(
        (&cleanup["action"], &cleanup["backup_config"]),
        (&json!("cleanup"), &Value::Null)
    );

    // create: 201, the job's id and its next run in the scheduler's zone
    let (code, job) = server.send("POST", "/scheduler/jobs", Some(seed_job()));
    assert_eq!(code, 201, "{job}");
    assert_eq!(job["id"], "custom_backup");
    let first = job["next_run_time"].as_str().unwrap().to_string();
    assert!(first.ends_with("T01:30:00+08:00"), "{first}");
    assert_eq!(job["backup_config"]["options"]["compression"], "gzip");
    assert_eq!(job["misfire_grace_time"], 3600);
    assert!(job["last_run"].is_null());
    let (code, dup) = server.send("POST", "/scheduler/jobs", Some(seed_job()));
    assert_eq!((code, &dup["error"]["code"]), (409, &json!("conflict")));
    assert_eq!(dup["error"]["field"], "id");

    // without an id, one is made from the name
    let (code, named) = server.send(
        "POST",
        "/scheduler/jobs",
        Some(
            json!({"name": "Uploads every 90 min", "trigger_type": "interval",
                    "trigger_config": {"hours": 1, "minutes": 30}, "misfire_grace_time": null}),
        ),
    );
    assert_eq!(code, 201, "{named}");
    assert!(named["id"]
        .as_str()
        .unwrap()
        .starts_with("uploads_every_90_min-"));
    assert!(named["misfire_grace_time"].is_null());
    assert_eq!(named["trigger_config"], json!({"hours": 1, "minutes": 30}));

    // modify: a new trigger moves next_run_time; the rest stays
    let (code, moved) = server.send(
        "PUT",
        "/scheduler/jobs/custom_backup",
        Some(json!({"trigger_type": "cron", "trigger_config": {"hour": 5, "minute": 15}})),
    );
    assert_eq!(code, 200, "{moved}");
    let second = moved["next_run_time"].as_str().unwrap();
    assert!(second.ends_with("T05:15:00+08:00"), "{second}");
    assert_ne!(second, first);
    assert_eq!(moved["name"], "Custom Backup");
    assert_eq!(moved["backup_config"]["type"], "database");

    // pause → null; the detail agrees; an update keeps the pause; resume brings it back
    // (with a body no handler reads: the next request on the connection must still be served)
    let (code, paused) = server.send(
        "POST",
        "/scheduler/jobs/custom_backup/pause",
        Some(json!({})),
    );
    assert_eq!(code, 200);
    assert_eq!(
        (&paused["paused"], &paused["next_run_time"]),
        (&json!(true), &Value::Null)
    );
    assert!(server.get("/scheduler/jobs/custom_backup")["next_run_time"].is_null());
    let (_, renamed) = server.send(
        "PUT",
        "/scheduler/jobs/custom_backup",
        Some(json!({"name": "Custom Backup (renamed)"})),
    );
    assert_eq!(renamed["paused"], true);
    let (code, resumed) = server.send("POST", "/scheduler/jobs/custom_backup/resume", None);
    assert_eq!(code, 200);
    assert_eq!(resumed["paused"], false);
    assert!(resumed["next_run_time"]
        .as_str()
        .unwrap()
        .ends_with("T05:15:00+08:00"));

    // run now: 202 with a run id that GET runs shows, and the engine runs it
    let (code, run) = server.send("POST", "/scheduler/jobs/custom_backup/run", None);
    assert_eq!(code, 202, "{run}");
    let run_id = run["run_id"].as_str().unwrap().to_string();
    assert!(run_id.starts_with("custom_backup@manual-"), "{run_id}");
    let listed = server.get("/runs?job_id=custom_backup");
    assert!(
        listed["runs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["run_id"] == run_id.as_str()),
        "{listed}"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let finished = loop {
        let r = server.get(&format!("/runs/{}", run_id.replace('@', "%40")));
        if r["status"] != "running" {
            break r;
        }
        assert!(Instant::now() < deadline, "run never finished: {r}");
        std::thread::sleep(Duration::from_millis(50));
    };
    // the engine backs up the demo database (fixtures/demo-data, relative to the repository)
    assert_eq!(finished["status"], "succeeded", "{finished}");
    assert!(finished["backup_id"].is_string(), "{finished}");
    assert!(finished["bytes"].as_u64().unwrap() > 0);
    assert!(finished.get("progress").is_none());
    let job = server.get("/scheduler/jobs/custom_backup");
    assert_eq!(job["last_run"]["run_id"], run_id.as_str());
    assert_eq!(job["last_run"]["status"], "succeeded");
    let ok = server.get("/runs?status=succeeded&limit=1");
    assert_eq!(ok["runs"][0]["run_id"], run_id.as_str());
    let status = server.get("/scheduler/status");
    assert!(status["runs"]["succeeded"].as_u64().unwrap() >= 1);
    assert!(status["storage"]["backups"].as_u64().unwrap() >= 1);
    assert!(status["storage"]["bytes"].as_u64().unwrap() > 0);
    assert!(status["success_rate"].is_number());

    // delete: 204, then 404
    let (code, body) = server.send("DELETE", "/scheduler/jobs/custom_backup", None);
    assert_eq!((code, body), (204, Value::Null));
    let (code, body) = server.send("GET", "/scheduler/jobs/custom_backup", None);
    assert_eq!((code, &body["error"]["code"]), (404, &json!("not_found")));
    let (code, _) = server.send("DELETE", "/scheduler/jobs/custom_backup", None);
    assert_eq!(code, 404);

    // stop and start
    let (code, stopped) = server.send("POST", "/scheduler/stop", None);
    assert_eq!((code, &stopped["running"]), (200, &json!(false)));
    assert!(stopped["next_run_time"].is_null());
    assert_eq!(server.get("/scheduler/status")["running"], false);
    let (code, started) = server.send("POST", "/scheduler/start", None);
    assert_eq!((code, &started["running"]), (200, &json!(true)));

    // every change is in the log, with the API's actor and a time
    let page = server.get("/events?limit=1000");
    let events = page["events"].as_array().unwrap();
    assert_eq!(page["last_position"], events.last().unwrap()["position"]);
    let by_api: Vec<&str> = events
        .iter()
        .filter(|e| e["actor"] == "api:anonymous")
        .map(|e| {
            rfc3339(&e["recorded_at"]);
            e["type"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        by_api,
        [
            "job_created",
            "job_created",
            "job_updated",
            "job_paused",
            "job_updated",
            "job_resumed",
            // the run the request started, its outcome recorded under its requester
            "run_started",
            "backup_recorded",
            "run_succeeded_v3",
            "job_deleted",
            "scheduler_stopped",
            "scheduler_started"
        ]
    );
    let run_started = events.iter().find(|e| e["type"] == "run_started").unwrap();
    assert_eq!(run_started["data"]["reason"], "manual");
    assert_eq!(run_started["correlation"], run_id.as_str());
    let paged = server.get("/events?after=1&limit=2");
    let positions: Vec<u64> = paged["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["position"].as_u64().unwrap())
        .collect();
    assert_eq!((positions, &paged["next_after"]), (vec![2, 3], &json!(3)));

    let created_at = events
        .iter()
        .find(|e| e["type"] == "job_created" && e["data"]["job"]["id"] == "custom_backup")
        .unwrap()["position"]
        .as_u64()
        .unwrap();

    // and the offline reader sees the same trail after an orderly stop
    let data = server.stop();
    // the run went to the tasks log, the change requests to the scheduler log
    let tasks = std::fs::read_to_string(data.path().join("logs/backup_tasks.log")).unwrap();
    assert!(tasks.contains(&run_id), "{tasks}");
    let main_log = std::fs::read_to_string(data.path().join("logs/backup_scheduler.log")).unwrap();
    assert!(main_log.contains("API: DELETE /api/backup/scheduler/jobs/custom_backup -> 204"));
    // `state --at N` shows the job list as it was: the custom job existed then, not at the end
    let jobs_at = |at: Option<u64>| {
        let mut cmd = bin();
        cmd.args(["state", "--data-dir"]).arg(data.path());
        if let Some(n) = at {
            cmd.args(["--at", &n.to_string()]);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success());
        let state: Value = serde_json::from_slice(&out.stdout).unwrap();
        state["schedule"]["jobs"]
            .as_object()
            .unwrap()
            .contains_key("custom_backup")
    };
    assert!(jobs_at(Some(created_at)));
    assert!(!jobs_at(Some(created_at - 1)));
    assert!(!jobs_at(None));
    let out = bin()
        .args(["events", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let offline = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        offline
            .lines()
            .filter(|l| l.contains("\"api:anonymous\""))
            .count(),
        by_api.len()
    );
}

/// (what, method, path, content type, body, status, error code, error field)
type BadRequest<'a> = (
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    Vec<u8>,
    u16,
    &'a str,
    Option<&'a str>,
);

#[test]
fn bad_requests_get_a_4xx_json_error_and_the_server_keeps_serving() {
    let server = Server::demo();
    let job = |patch: Value| {
        let mut body = json!({"name": "t", "trigger_type": "cron", "trigger_config": {"hour": 1}});
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        serde_json::to_vec(&body).unwrap()
    };
    let cron = |config: Value| job(json!({"trigger_config": config}));
    let big = {
        let mut b = br#"{"name": ""#.to_vec();
        b.resize(2 * 1024 * 1024, b'a');
        b.extend_from_slice(br#"", "trigger_type": "cron", "trigger_config": {"hour": 1}}"#);
        b
    };
    let json_ct = Some("application/json");
    #[rustfmt::skip]
    let table: Vec<BadRequest> = vec![
        ("malformed JSON", "POST", "/scheduler/jobs", json_ct, b"{\"name\": ".to_vec(), 400, "malformed_json", None),
        ("not an object", "POST", "/scheduler/jobs", json_ct, b"[1, 2]".to_vec(), 400, "malformed_json", None),
        ("no body", "POST", "/scheduler/jobs", json_ct, vec![], 400, "malformed_json", None),
        ("unknown trigger_type", "POST", "/scheduler/jobs", json_ct, job(json!({"trigger_type": "date"})), 400, "validation", Some("trigger_type")),
        ("hour 24", "POST", "/scheduler/jobs", json_ct, cron(json!({"hour": 24})), 400, "validation", Some("trigger_config.hour")),
        ("minute -1", "POST", "/scheduler/jobs", json_ct, cron(json!({"minute": -1})), 400, "validation", Some("trigger_config.minute")),
        ("day 0", "POST", "/scheduler/jobs", json_ct, cron(json!({"day": 0})), 400, "validation", Some("trigger_config.day")),
        ("day 32", "POST", "/scheduler/jobs", json_ct, cron(json!({"day": 32})), 400, "validation", Some("trigger_config.day")),
        ("day_of_week 7", "POST", "/scheduler/jobs", json_ct, cron(json!({"day_of_week": 7})), 400, "validation", Some("trigger_config.day_of_week")),
        ("empty cron", "POST", "/scheduler/jobs", json_ct, cron(json!({})), 400, "validation", Some("trigger_config")),
        ("all-zero interval", "POST", "/scheduler/jobs", json_ct, job(json!({"trigger_type": "interval", "trigger_config": {"hours": 0, "minutes": 0}})), 400, "validation", Some("trigger_config")),
        ("missing name", "POST", "/scheduler/jobs", json_ct, job(json!({"name": null})), 400, "validation", Some("name")),
        ("empty name", "POST", "/scheduler/jobs", json_ct, job(json!({"name": "  "})), 400, "validation", Some("name")),
        ("over-long name", "POST", "/scheduler/jobs", json_ct, job(json!({"name": "n".repeat(201)})), 400, "validation", Some("name")),
        ("name with /", "POST", "/scheduler/jobs", json_ct, job(json!({"name": "a/b"})), 400, "validation", Some("name")),
        ("name not a string", "POST", "/scheduler/jobs", json_ct, job(json!({"name": 7})), 400, "validation", Some("name")),
        ("unknown field", "POST", "/scheduler/jobs", json_ct, job(json!({"colour": "red"})), 400, "unknown_field", Some("colour")),
        ("unknown trigger field", "POST", "/scheduler/jobs", json_ct, cron(json!({"hour": 1, "second": 0})), 400, "validation", Some("trigger_config.second")),
        ("unknown backup option", "POST", "/scheduler/jobs", json_ct, job(json!({"backup_config": {"type": "full", "options": {"turbo": true}}})), 400, "validation", Some("backup_config.options.turbo")),
        ("bad id", "POST", "/scheduler/jobs", json_ct, job(json!({"id": "no spaces"})), 400, "validation", Some("id")),
        ("bad zone", "POST", "/scheduler/jobs", json_ct, job(json!({"timezone": "Mars/Olympus"})), 400, "validation", Some("timezone")),
        ("negative jitter", "POST", "/scheduler/jobs", json_ct, job(json!({"jitter": -5})), 400, "validation", Some("jitter")),
        ("2 MiB body", "POST", "/scheduler/jobs", json_ct, big, 413, "payload_too_large", None),
        ("text body", "POST", "/scheduler/jobs", Some("text/plain"), job(json!({})), 415, "unsupported_media_type", Some("Content-Type")),
        ("form body", "PUT", "/scheduler/jobs/daily_full_backup", Some("application/x-www-form-urlencoded"), b"name=x".to_vec(), 415, "unsupported_media_type", Some("Content-Type")),
        ("no content type", "POST", "/scheduler/jobs", None, job(json!({})), 415, "unsupported_media_type", Some("Content-Type")),
        ("PUT unknown field", "PUT", "/scheduler/jobs/daily_full_backup", json_ct, br#"{"hour": 3}"#.to_vec(), 400, "unknown_field", Some("hour")),
        ("PUT hour 24", "PUT", "/scheduler/jobs/daily_full_backup", json_ct, br#"{"trigger_config": {"hour": 24}}"#.to_vec(), 400, "validation", Some("trigger_config.hour")),
        ("PUT other id", "PUT", "/scheduler/jobs/daily_full_backup", json_ct, br#"{"id": "x"}"#.to_vec(), 400, "validation", Some("id")),
        ("backup_config on cleanup", "PUT", "/scheduler/jobs/cleanup_expired", json_ct, br#"{"backup_config": {"type": "full"}}"#.to_vec(), 400, "validation", Some("backup_config")),
        ("PUT unknown job", "PUT", "/scheduler/jobs/nope", json_ct, br#"{"name": "x"}"#.to_vec(), 404, "not_found", Some("job_id")),
        ("unknown job", "GET", "/scheduler/jobs/nope", None, vec![], 404, "not_found", Some("job_id")),
        ("pause unknown job", "POST", "/scheduler/jobs/nope/pause", None, vec![], 404, "not_found", Some("job_id")),
        ("run unknown job", "POST", "/scheduler/jobs/nope/run", None, vec![], 404, "not_found", Some("job_id")),
        ("unknown run", "GET", "/runs/nope", None, vec![], 404, "not_found", Some("run_id")),
        ("unknown route", "GET", "/nope", None, vec![], 404, "not_found", None),
        ("wrong method", "DELETE", "/scheduler/status", None, vec![], 405, "method_not_allowed", None),
        ("bad run status", "GET", "/runs?status=done", None, vec![], 400, "validation", Some("status")),
        ("run limit 0", "GET", "/runs?limit=0", None, vec![], 400, "validation", Some("limit")),
        ("unknown query", "GET", "/runs?limt=5", None, vec![], 400, "unknown_field", Some("limt")),
        ("event limit too big", "GET", "/events?limit=5000", None, vec![], 400, "validation", Some("limit")),
        ("event after not a number", "GET", "/events?after=x", None, vec![], 400, "validation", Some("after")),
    ];
    for (what, method, path, ct, body, status, code, field) in table {
        let (got, err) = server.raw(method, path, ct, &body);
        assert_eq!(got, status, "{what}: {err}");
        assert_eq!(err["error"]["code"], code, "{what}: {err}");
        assert_eq!(err["error"]["field"].as_str(), field, "{what}: {err}");
        assert!(
            !err["error"]["message"].as_str().unwrap().is_empty(),
            "{what}"
        );
        // still serving, and nothing was created by the refused request
        assert_eq!(server.get("/scheduler/status")["jobs"], 7, "after {what}");
    }
    let (_, wrong) = server.raw("PUT", "/scheduler/start", None, b"");
    assert_eq!(wrong["error"]["code"], "method_not_allowed");
    // nothing above was recorded (the timer loop may have written, the API must not have)
    let events = server.get("/events?limit=1000")["events"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        events.iter().all(|e| e["actor"] != "api:anonymous"),
        "{events:?}"
    );
}

#[test]
fn wrong_method_names_the_allowed_ones() {
    let server = Server::demo();
    let resp = server
        .request("PATCH", "/scheduler/jobs/daily_full_backup")
        .call();
    let Err(ureq::Error::Status(405, resp)) = resp else {
        panic!("expected 405, got {resp:?}");
    };
    assert_eq!(resp.header("Allow"), Some("GET, PUT, DELETE"));
}

mod spec;

/// An executor that reports progress and holds its run until the test releases it.
struct Held {
    release: std::sync::Mutex<mpsc::Receiver<()>>,
}

impl backupd::scheduler::RunExecutor for Held {
    fn run(
        &self,
        _job: &backupd::events::JobSpec,
        _run_id: &str,
        progress: &backupd::progress::ProgressHandle,
    ) -> backupd::decide::RunOutcome {
        progress.update(|p| {
            p.phase = "writing".into();
            p.bytes_done = 42;
        });
        let _ = self
            .release
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(30));
        backupd::decide::RunOutcome::Succeeded {
            backup: None,
            bytes: 42,
            files: 1,
            note: None,
            warnings: Vec::new(),
            perf: None,
        }
    }
}

/// In process (the binary's engine finishes at once): a run that is still going shows its live
/// progress, refuses a second run-now and its job's deletion with 409, and settles when released.
#[test]
fn a_running_job_shows_progress_and_refuses_run_now_with_409() {
    use backupd::api::{self, ApiContext};
    use backupd::progress::Progress;
    use backupd::scheduler::Scheduler;
    use backupd::service::Meta;
    use smol::future::FutureExt;

    let dir = tempfile::tempdir().unwrap();
    let (service, clock) = crate::support::open_service(dir.path(), 0);
    smol::block_on(service.execute(
        backupd::decide::Command::Boot {
            version: "test".into(),
            pid: 1,
            presets: backupd::domain::presets::presets(),
            retention: backupd::projections::DEFAULT_POLICY,
            autostart: true,
        },
        Meta::actor("system"),
    ))
    .unwrap();
    let zone = chrono_tz::Europe::Berlin;
    let progress = Progress::default();
    let (release, held) = mpsc::channel();
    let (stop_tx, stop_rx) = smol::channel::bounded::<()>(1);
    let scheduler = Scheduler::new(
        service.clone(),
        zone,
        std::sync::Arc::new(Held {
            release: std::sync::Mutex::new(held),
        }),
        progress.clone(),
    );
    let server = api::bind(
        ApiContext::new(
            service.clone(),
            progress,
            zone,
            std::sync::Arc::new(backupd::config::Config {
                misfire_grace_secs: Some(3600),
                ..backupd::config::Config::default()
            }),
        ),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let base = format!("http://{}{}", server.local_addr(), api::BASE);
    let (api_stop, api_stopped) = smol::channel::bounded::<()>(1);
    let serving = std::thread::spawn(move || {
        smol::block_on(async {
            let sched = smol::spawn(scheduler.run(stop_rx, Duration::from_secs(5)));
            let _ = server
                .run()
                .or(async {
                    let _ = api_stopped.recv().await;
                    Ok(())
                })
                .await;
            let _ = stop_tx.send(()).await;
            sched.await;
        })
    });
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(20))
        .build();
    let call =
        |method: &str, path: &str| read(agent.request(method, &format!("{base}{path}")).call());

    let (code, run) = call("POST", "/scheduler/jobs/health_check/run");
    assert_eq!(code, 202, "{run}");
    let run_id = run["run_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    let live = loop {
        let (_, r) = call("GET", &format!("/runs/{run_id}"));
        if r["progress"]["phase"] == "writing" {
            break r;
        }
        assert!(Instant::now() < deadline, "no live progress: {r}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        (&live["status"], &live["progress"]["bytes_done"]),
        (&json!("running"), &json!(42))
    );
    let (_, job) = call("GET", "/scheduler/jobs/health_check");
    assert_eq!(job["running"], run_id.as_str());
    assert_eq!(job["last_run"]["status"], "running");
    assert_eq!(call("GET", "/scheduler/status").1["runs"]["running"], 1);

    let (code, again) = call("POST", "/scheduler/jobs/health_check/run");
    assert_eq!(
        (code, &again["error"]["code"]),
        (409, &json!("conflict")),
        "{again}"
    );
    assert_eq!(again["error"]["field"], "job_id");
    let (code, del) = call("DELETE", "/scheduler/jobs/health_check");
    assert_eq!(code, 409, "{del}");

    release.send(()).unwrap();
    let done = loop {
        let (_, r) = call("GET", &format!("/runs/{run_id}"));
        if r["status"] != "running" {
            break r;
        }
        assert!(Instant::now() < deadline, "the run never settled: {r}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(done["status"], "succeeded");
    assert!(done.get("progress").is_none(), "{done}");
    let status = call("GET", "/scheduler/status").1;
    assert_eq!(
        (&status["success_rate"], &status["bytes_written"]),
        (&json!(1.0), &json!(42))
    );

    // A stopped scheduler plans nothing (issue 11, item 11): every job's next run is null, and
    // stays null an hour later, when the log has not moved (the cached list is not reused with
    // times it no longer shows).
    let next = |body: Value| {
        body["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"] == "health_check")
            .map(|j| j["next_run_time"].clone())
            .unwrap()
    };
    assert!(rfc3339(&next(call("GET", "/scheduler/jobs").1)) > OffsetDateTime::UNIX_EPOCH);
    assert_eq!(call("POST", "/scheduler/stop").0, 200);
    let all_null = |body: Value| {
        body["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["next_run_time"].is_null())
    };
    assert!(all_null(call("GET", "/scheduler/jobs").1));
    clock.advance(time::Duration::hours(1));
    assert!(all_null(call("GET", "/scheduler/jobs").1));

    api_stop.send_blocking(()).unwrap();
    serving.join().unwrap();
}

#[test]
fn retries_with_the_same_idempotency_key_record_once() {
    let server = Server::demo();
    let post = |path: &str, key: &str, body: Option<Value>| {
        let req = server.request("POST", path).set("Idempotency-Key", key);
        read(match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        })
    };
    // no id given: the retry must answer with the id the first attempt derived
    let body =
        json!({"name": "Retried", "trigger_type": "interval", "trigger_config": {"hours": 2}});
    let (c1, first) = post("/scheduler/jobs", "create-1", Some(body.clone()));
    let (c2, again) = post("/scheduler/jobs", "create-1", Some(body));
    assert_eq!((c1, c2), (201, 201), "{first} {again}");
    assert_eq!(first["id"], again["id"]);
    let (c1, run1) = post("/scheduler/jobs/health_check/run", "run-1", None);
    let (c2, run2) = post("/scheduler/jobs/health_check/run", "run-1", None);
    assert_eq!((c1, c2), (202, 202));
    assert_eq!(run1["run_id"], run2["run_id"]);
    // a key reused for another kind of request is refused, and a malformed one too
    let (code, err) = post("/scheduler/jobs/daily_report/run", "create-1", None);
    assert_eq!(
        (code, &err["error"]["field"]),
        (409, &json!("Idempotency-Key"))
    );
    let (code, err) = post("/scheduler/stop", &"k".repeat(200), None);
    assert_eq!(
        (code, &err["error"]["field"]),
        (400, &json!("Idempotency-Key"))
    );

    let events = server.get("/events?limit=1000")["events"]
        .as_array()
        .unwrap()
        .clone();
    let count = |t: &str| {
        events
            .iter()
            .filter(|e| e["type"] == t && e["actor"] == "api:anonymous")
            .count()
    };
    assert_eq!((count("job_created"), count("run_started")), (1, 1));
    assert_eq!(server.get("/scheduler/status")["running"], true);
}

/// The regular files below `root`, by path relative to it, with their content.
fn files_below(root: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// The backup events of the log, in order.
fn verified_events(server: &Server) -> Vec<Value> {
    server.get("/events?limit=1000")["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "backup_verified")
        .cloned()
        .collect()
}

/// (what, method, path, JSON body, status, error code, error field)
type CatalogMistake<'a> = (
    &'a str,
    &'a str,
    String,
    Option<Value>,
    u16,
    &'a str,
    Option<&'a str>,
);

/// A backup made by a run through the API: listed, shown, verified (recorded), restored whole and
/// in part, refused into a non-empty target unless forced; then its archive is damaged on disk
/// and verify reports (and records) that.
#[test]
fn a_backup_is_listed_verified_and_restored_over_http() {
    use backupd::engine::sources::root_name;
    let server = Server::demo();
    let (code, run) = server.send("POST", "/scheduler/jobs/daily_full_backup/run", None);
    assert_eq!(code, 202, "{run}");
    let run_id = run["run_id"].as_str().unwrap().to_string();
    let run = server.finished(&run_id);
    assert_eq!(run["status"], "succeeded", "{run}");
    let id = run["backup_id"].as_str().unwrap().to_string();

    // the catalog
    let list = server.get("/backups");
    let backups = list["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 1, "{list}");
    let b = &backups[0];
    assert_eq!(b["id"], id.as_str());
    assert_eq!(
        (&b["job_id"], &b["run_id"], &b["kind"], &b["parent"]),
        (
            &json!("daily_full_backup"),
            &json!(run_id),
            &json!("full"),
            &Value::Null
        )
    );
    assert_eq!(b["chain"], json!([id]));
    assert_eq!(b["compression"], "zstd");
    assert!(b["last_verified"].is_null());
    assert!(b["entries"].as_u64().unwrap() >= 3, "{b}");
    let checksum = b["checksum"].as_str().unwrap();
    assert!(
        checksum.len() == 8 && checksum.bytes().all(|c| c.is_ascii_hexdigit()),
        "{checksum}"
    );
    let archive = server.data_dir().join(b["location"].as_str().unwrap());
    assert_eq!(
        b["size"].as_u64().unwrap(),
        std::fs::metadata(&archive).unwrap().len()
    );
    // the demo config keeps full backups 30 days
    assert_eq!(
        rfc3339(&b["expires_at"]) - rfc3339(&b["created_at"]),
        time::Duration::days(30)
    );
    assert_eq!(server.get(&format!("/backups/{id}")), *b);
    let count = |query: &str| {
        server.get(&format!("/backups{query}"))["backups"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count("?job_id=daily_full_backup&kind=full&limit=1"), 1);
    assert_eq!(count("?job_id=incremental_backup"), 0);
    assert_eq!(count("?kind=incremental"), 0);

    // verify: ok, recorded, shown as the last verification
    let (code, verified) = server.send("POST", &format!("/backups/{id}/verify"), None);
    assert_eq!((code, &verified["ok"]), (200, &json!(true)), "{verified}");
    assert_eq!(verified["summary"]["entries"], b["entries"]);
    let events = verified_events(&server);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["actor"], "api:anonymous");
    assert_eq!(
        (&events[0]["data"]["backup_id"], &events[0]["data"]["ok"]),
        (&json!(id), &json!(true))
    );
    let shown = server.get(&format!("/backups/{id}"));
    assert_eq!(shown["last_verified"]["ok"], true);
    assert_eq!(shown["last_verified"]["at"], verified["verified_at"]);
    // a retry with the same Idempotency-Key checks again but records once
    let keyed = || {
        read(
            server
                .request("POST", &format!("/backups/{id}/verify"))
                .set("Idempotency-Key", "verify-1")
                .call(),
        )
    };
    let (first, again) = (keyed(), keyed());
    assert_eq!((first.0, again.0), (200, 200));
    assert_eq!(first.1["verified_at"], again.1["verified_at"]);
    assert_eq!(verified_events(&server).len(), 2);

    // restore into a fresh directory: the demo files, byte for byte, and the dump with its hint
    let scratch = tempfile::tempdir().unwrap();
    let target = scratch.path().join("restored");
    let restore = |target: &std::path::Path, extra: Value| {
        let mut body = json!({"target": target});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        server.send("POST", &format!("/backups/{id}/restore"), Some(body))
    };
    let (code, sum) = restore(&target, json!({}));
    assert_eq!(code, 200, "{sum}");
    assert_eq!(sum["backup_id"], id.as_str());
    assert!(sum["files"].as_u64().unwrap() >= 3, "{sum}");
    let dumps = sum["dumps"].as_array().unwrap();
    assert_eq!(dumps.len(), 1, "{sum}");
    assert!(!dumps[0]["load_with"].as_str().unwrap().is_empty());
    assert!(std::path::Path::new(dumps[0]["path"].as_str().unwrap()).is_file());
    let demo = repo().join("fixtures/demo-data");
    let landed = |group: &str, source: &str| {
        let canonical = std::fs::canonicalize(demo.join(source)).unwrap();
        target.join(root_name(group, &canonical).unwrap())
    };
    for (group, source) in [("files", "uploads"), ("config", "etc")] {
        let original = files_below(&demo.join(source));
        assert!(!original.is_empty());
        assert_eq!(files_below(&landed(group, source)), original, "{source}");
    }

    // again into the same directory: refused, unless forced
    let (code, err) = restore(&target, json!({}));
    assert_eq!(
        (code, &err["error"]["code"], &err["error"]["field"]),
        (409, &json!("target_not_empty"), &json!("target")),
        "{err}"
    );
    let (code, sum) = restore(&target, json!({"force": true}));
    assert_eq!(code, 200, "{sum}");

    // one path: only what is at and below it
    let uploads = root_name(
        "files",
        &std::fs::canonicalize(demo.join("uploads")).unwrap(),
    )
    .unwrap();
    let part = scratch.path().join("part");
    let (code, sum) = restore(&part, json!({"paths": [uploads]}));
    assert_eq!(code, 200, "{sum}");
    assert_eq!(
        files_below(&part).keys().cloned().collect::<Vec<_>>(),
        [format!("{uploads}/readme.txt")]
    );

    // the incremental job builds on the newest backup of the same sources (the daily full), its
    // second run on its first; newest first, the chain leads back to the full
    let run_inc = || {
        let (code, run) = server.send("POST", "/scheduler/jobs/incremental_backup/run", None);
        assert_eq!(code, 202, "{run}");
        let run = server.finished(run["run_id"].as_str().unwrap());
        assert_eq!(run["status"], "succeeded", "{run}");
        run
    };
    let base_run = run_inc();
    assert!(
        base_run["note"]
            .as_str()
            .unwrap()
            .contains(&format!("incremental on {id}")),
        "{base_run}"
    );
    let base = base_run["backup_id"].as_str().unwrap().to_string();
    let inc_run = run_inc();
    let inc = inc_run["backup_id"].as_str().unwrap();
    let listed = server.get("/backups");
    let ids: Vec<&str> = listed["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [inc, base.as_str(), id.as_str()]);
    let shown = server.get(&format!("/backups/{inc}"));
    assert_eq!(
        (&shown["kind"], &shown["parent"], &shown["chain"]),
        (&json!("incremental"), &json!(base), &json!([inc, base, id]))
    );
    assert_eq!(count("?kind=incremental"), 2);
    assert_eq!(count("?job_id=incremental_backup"), 2);
    assert_eq!(count("?job_id=incremental_backup&limit=1"), 1);
    assert_eq!(count("?job_id=daily_full_backup"), 1);
    let from_inc = scratch.path().join("from-inc");
    let (code, sum) = server.send(
        "POST",
        &format!("/backups/{inc}/restore"),
        Some(json!({"target": from_inc})),
    );
    assert_eq!(code, 200, "{sum}");
    assert_eq!(sum["backup_id"], inc);
    // the demo files did not change: their bytes come from the full at the chain's root
    assert_eq!(sum["parents_used"], json!([id]), "{sum}");
    let canonical = std::fs::canonicalize(demo.join("uploads")).unwrap();
    assert_eq!(
        files_below(&from_inc.join(root_name("files", &canonical).unwrap())),
        files_below(&demo.join("uploads"))
    );

    // the client's mistakes: 4xx naming what was wrong, nothing written
    let elsewhere = scratch.path().join("untouched");
    let a_file = scratch.path().join("a-file");
    std::fs::write(&a_file, b"x").unwrap();
    let in_data = server.data_dir().join("restored");
    let fresh = json!({"target": elsewhere});
    #[rustfmt::skip]
    let table: Vec<CatalogMistake> = vec![
        ("unknown backup", "GET", "/backups/nope".into(), None, 404, "not_found", Some("backup_id")),
        ("verify unknown", "POST", "/backups/nope/verify".into(), None, 404, "not_found", Some("backup_id")),
        ("restore unknown", "POST", "/backups/nope/restore".into(), Some(fresh.clone()), 404, "not_found", Some("backup_id")),
        ("path not in backup", "POST", format!("/backups/{id}/restore"), Some(json!({"target": elsewhere, "paths": ["files/nope"]})), 404, "not_found", Some("paths")),
        ("relative target", "POST", format!("/backups/{id}/restore"), Some(json!({"target": "relative/dir"})), 400, "validation", Some("target")),
        ("no target", "POST", format!("/backups/{id}/restore"), Some(json!({"force": true})), 400, "validation", Some("target")),
        ("force not a bool", "POST", format!("/backups/{id}/restore"), Some(json!({"target": elsewhere, "force": "yes"})), 400, "validation", Some("force")),
        ("unknown field", "POST", format!("/backups/{id}/restore"), Some(json!({"target": elsewhere, "clobber": true})), 400, "unknown_field", Some("clobber")),
        ("overwrite with a target", "POST", format!("/backups/{id}/restore"), Some(json!({"target": elsewhere, "overwrite": "always"})), 400, "validation", Some("overwrite")),
        ("no body", "POST", format!("/backups/{id}/restore"), None, 400, "malformed_json", None),
        ("target is a file", "POST", format!("/backups/{id}/restore"), Some(json!({"target": a_file})), 400, "target_not_writable", Some("target")),
        ("target in the data dir", "POST", format!("/backups/{id}/restore"), Some(json!({"target": in_data})), 400, "validation", Some("target")),
        ("target with ..", "POST", format!("/backups/{id}/restore"), Some(json!({"target": scratch.path().join("x/../y")})), 400, "validation", Some("target")),
        ("bad kind", "GET", "/backups?kind=daily".into(), None, 400, "validation", Some("kind")),
        ("limit 0", "GET", "/backups?limit=0".into(), None, 400, "validation", Some("limit")),
        ("unknown query", "GET", "/backups?job=x".into(), None, 400, "unknown_field", Some("job")),
    ];
    for (what, method, path, body, status, code, field) in table {
        let (got, err) = server.send(method, &path, body);
        assert_eq!(got, status, "{what}: {err}");
        assert_eq!(err["error"]["code"], code, "{what}: {err}");
        assert_eq!(err["error"]["field"].as_str(), field, "{what}: {err}");
    }
    assert!(!elsewhere.exists() && !in_data.exists());
    assert_eq!(verified_events(&server).len(), 2);

    // damage the archive: verify answers ok false and records it; a restore is a server fault
    let mut bytes = std::fs::read(&archive).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&archive, bytes).unwrap();
    let (code, damaged) = server.send("POST", &format!("/backups/{id}/verify"), None);
    assert_eq!((code, &damaged["ok"]), (200, &json!(false)), "{damaged}");
    let error = damaged["error"].as_str().unwrap();
    assert!(!error.is_empty());
    let events = verified_events(&server);
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(
        (&events[2]["data"]["ok"], &events[2]["data"]["detail"]),
        (&json!(false), &json!(error))
    );
    assert_eq!(
        server.get(&format!("/backups/{id}"))["last_verified"]["ok"],
        false
    );
    let (code, err) = restore(&scratch.path().join("from-damaged"), json!({}));
    assert_eq!(
        (code, &err["error"]["code"]),
        (500, &json!("backup_damaged")),
        "{err}"
    );
}
