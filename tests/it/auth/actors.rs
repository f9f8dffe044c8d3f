//! "Every event a request causes records the actor `api:<token name>`", for the requests whose
//! events are recorded after the answer or by other hands: a run requested through the API (its
//! start, and its outcome recorded by the timer loop's executor), one that waited in the queue
//! (started by the loop when a place freed), one that failed, one cancelled by another token;
//! and a restore, a forget and a verify. In process, on a manual clock: a scheduled run stays
//! the scheduler's while requested runs queued around it keep their requester.

use super::{call, create, finished};
use crate::support::{start_time, wait_for_state, Served as Server};
use backupd::clock::ManualClock;
use backupd::config::Config;
use backupd::decide::{Command, RunOutcome};
use backupd::events::{JobAction, JobSpec, RunReason, Trigger};
use backupd::progress::{Progress, ProgressHandle};
use backupd::projections::{RunStatus, DEFAULT_POLICY};
use backupd::scheduler::{RunExecutor, Scheduler};
use backupd::service::{Meta, Service};
use backupd::store::EventStore;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The run lifecycle's event types (what the timer loop records for a run it executes).
const LIFECYCLE: &[&str] = &[
    "run_queued",
    "run_started",
    "run_started_v2",
    "run_succeeded",
    "run_succeeded_v2",
    "run_succeeded_v3",
    "run_failed",
    "run_failed_v2",
    "run_cancelled",
];

/// (type, actor) of each lifecycle event of run `run_id`, in log order.
fn lifecycle(events: &[Value], run_id: &str) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| {
            e["data"]["run_id"] == run_id && LIFECYCLE.contains(&e["type"].as_str().unwrap())
        })
        .map(|e| {
            let kind = e["type"].as_str().unwrap();
            // the versions of one event are one step of the lifecycle
            let step = kind.trim_end_matches("_v2").trim_end_matches("_v3");
            (step.to_string(), e["actor"].as_str().unwrap().to_string())
        })
        .collect()
}

fn steps(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, a)| (k.to_string(), a.to_string()))
        .collect()
}

#[test]
fn the_events_of_requested_runs_restores_forgets_and_verifies_name_the_token() {
    let scratch = tempfile::tempdir().unwrap();
    let (src, restores) = (scratch.path().join("src"), scratch.path().join("restores"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&restores).unwrap();
    std::fs::write(src.join("a.txt"), "actors\n").unwrap();
    // One place: a second run waits in the queue until the first ends.
    let server = Server::with_config(&format!(
        "[scheduler]\nmax_concurrent_runs = 1\n\n\
         [restore]\nallowed_targets = [{restores:?}]\n\n\
         [[sources.files]]\npath = {src:?}\n\n\
         [[sources.database]]\nname = \"sleeper\"\nkind = \"command\"\n\
         command = [\"sleep\", \"600\"]\n\n\
         [[sources.database]]\nname = \"broken\"\nkind = \"command\"\ncommand = [\"false\"]\n"
    ));
    let admin = create(&server, None, "root", &["admin"]);
    let ci = create(&server, Some(&admin), "ci", &["operate"]);
    let pager = create(&server, Some(&admin), "pager", &["operate"]);
    let keeper = create(&server, Some(&admin), "keeper", &["manage"]);
    let restorer = create(&server, Some(&admin), "restorer", &["restore"]);
    let daily = |id: &str, backup: Value| {
        json!({"job_id": id, "name": id, "trigger_type": "interval",
               "trigger_config": {"hours": 24}, "backup_config": backup})
    };
    let db = |source: &str| json!({"type": "database", "options": {"sources": [source]}});
    for job in [
        daily("files", json!({"type": "files"})),
        daily("sleeper", db("sleeper")),
        daily("broken", db("broken")),
    ] {
        let (status, answer) = call(&server, Some(&keeper), "POST", "/scheduler/jobs", Some(job));
        assert_eq!(status, 201, "{answer}");
    }
    let run = |token: &str, job: &str| {
        let (status, run) = call(
            &server,
            Some(token),
            "POST",
            &format!("/scheduler/jobs/{job}/run"),
            None,
        );
        assert_eq!(status, 202, "{run}");
        (
            run["run_id"].as_str().unwrap().to_string(),
            run["status"].as_str().unwrap().to_string(),
        )
    };

    // A run started at once, and one that fails.
    let (first, status) = run(&ci, "files");
    assert_eq!(status, "running");
    let first = finished(&server, &admin, &first);
    assert_eq!(first["status"], "succeeded", "{first}");
    let (broken, _) = run(&ci, "broken");
    let broken = finished(&server, &admin, &broken);
    assert_eq!(broken["status"], "failed", "{broken}");
    // A run that waits behind another token's, which a third token cancels: the loop starts
    // the waiting one, as its requester.
    let (sleeping, status) = run(&pager, "sleeper");
    assert_eq!(status, "running");
    let (queued, status) = run(&ci, "files");
    assert_eq!(status, "queued");
    let cancel = format!("/runs/{}/cancel", sleeping.replace('@', "%40"));
    let (status, cancelled) = call(&server, Some(&ci), "POST", &cancel, None);
    assert_eq!(
        (status, &cancelled["status"]),
        (200, &json!("cancelled")),
        "{cancelled}"
    );
    let queued = finished(&server, &admin, &queued);
    assert_eq!(queued["status"], "succeeded", "{queued}");

    // A restore, a verify and a forget, each by its own token.
    let backup = first["backup_id"].as_str().unwrap();
    let body = json!({"target": restores.join("one")});
    let (status, restored) = call(
        &server,
        Some(&restorer),
        "POST",
        &format!("/backups/{backup}/restore"),
        Some(body),
    );
    assert_eq!(status, 200, "{restored}");
    let (status, verified) = call(
        &server,
        Some(&ci),
        "POST",
        &format!("/backups/{backup}/verify"),
        None,
    );
    assert_eq!((status, &verified["ok"]), (200, &json!(true)), "{verified}");
    let later = queued["backup_id"].as_str().unwrap();
    let (status, forgotten) = call(
        &server,
        Some(&keeper),
        "DELETE",
        &format!("/backups/{later}"),
        Some(json!({"force": true})),
    );
    assert_eq!(status, 200, "{forgotten}");

    let (status, page) = call(&server, Some(&admin), "GET", "/events?limit=1000", None);
    assert_eq!(status, 200);
    let events = page["events"].as_array().unwrap().clone();
    let id = |r: &Value| r["run_id"].as_str().unwrap().to_string();
    assert_eq!(
        lifecycle(&events, &id(&first)),
        steps(&[("run_started", "api:ci"), ("run_succeeded", "api:ci")])
    );
    assert_eq!(
        lifecycle(&events, &id(&broken)),
        steps(&[("run_started", "api:ci"), ("run_failed", "api:ci")])
    );
    // cancelled by ci while it ran: the cancellation is ci's, the start pager's
    assert_eq!(
        lifecycle(&events, &sleeping),
        steps(&[("run_started", "api:pager"), ("run_cancelled", "api:ci")])
    );
    assert_eq!(
        lifecycle(&events, &id(&queued)),
        steps(&[
            ("run_queued", "api:ci"),
            ("run_started", "api:ci"),
            ("run_succeeded", "api:ci"),
        ])
    );
    // The backups a requested run records are its requester's too.
    let recorded: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "backup_recorded")
        .collect();
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    assert!(
        recorded.iter().all(|e| e["actor"] == "api:ci"),
        "{recorded:?}"
    );
    let actors = |kind: &str| -> Vec<&str> {
        events
            .iter()
            .filter(|e| e["type"] == kind)
            .map(|e| e["actor"].as_str().unwrap())
            .collect()
    };
    assert_eq!(actors("restore_started"), ["api:restorer"]);
    assert_eq!(actors("restore_finished"), ["api:restorer"]);
    assert_eq!(actors("backup_verified"), ["api:ci"]);
    assert_eq!(actors("backup_forgotten"), ["api:keeper"]);
    assert_eq!(actors("job_created"), ["api:keeper"; 3]);
    // No event of this test's requests is the scheduler's: the loop recorded the runs' steps
    // under their requesters (the presets' boot events are `system`'s).
    let requested: Vec<String> = [&first, &broken, &queued]
        .iter()
        .map(|r| id(r))
        .chain([sleeping])
        .collect();
    for e in &events {
        if requested.iter().any(|r| e["data"]["run_id"] == r.as_str()) {
            assert!(e["actor"].as_str().unwrap().starts_with("api:"), "{e}");
        }
    }
    drop(server.stop());
}

/// Holds every run until released; then each succeeds at once.
#[derive(Default)]
struct Gate {
    open: AtomicBool,
}

impl RunExecutor for Gate {
    fn run(&self, _job: &JobSpec, _run_id: &str, _progress: &ProgressHandle) -> RunOutcome {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !self.open.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        RunOutcome::Succeeded {
            backup: None,
            bytes: 0,
            files: 0,
            note: None,
            warnings: Vec::new(),
            perf: None,
        }
    }
}

#[test]
fn a_scheduled_run_stays_the_schedulers_between_requested_ones() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(start_time()));
    let store = EventStore::open(&dir.path().join("events.redb")).unwrap();
    let (service, _) = Service::open(store, clock.clone(), 0).unwrap();
    let execute = |c: Command, actor: &str| {
        smol::block_on(service.execute(c, Meta::actor(actor))).unwrap();
    };
    let boot = Command::Boot {
        version: "t".into(),
        pid: 1,
        presets: vec![],
        retention: DEFAULT_POLICY,
        autostart: true,
    };
    execute(boot, "system");
    let job = |id: &str, seconds: u64| JobSpec {
        id: id.into(),
        name: id.into(),
        trigger: Trigger::Interval {
            seconds,
            start_at: None,
        },
        action: JobAction::HealthCheck,
        misfire_grace_secs: Some(3600),
        timezone: None,
        jitter_secs: 0,
    };
    execute(Command::CreateJob(job("slot", 60)), "api:ops");
    execute(Command::CreateJob(job("a", 86_400)), "api:ops");
    execute(Command::CreateJob(job("b", 86_400)), "api:ops");
    let gate = Arc::new(Gate::default());
    let config = Arc::new(Config::parse("[scheduler]\nmax_concurrent_runs = 1\n").unwrap());
    let scheduler = Scheduler::new(
        service.clone(),
        chrono_tz::UTC,
        gate.clone(),
        Progress::default(),
    )
    .with_config(config);
    let (stop, stop_rx) = smol::channel::bounded(1);
    let thread = std::thread::spawn(move || {
        smol::block_on(scheduler.run(stop_rx, Duration::from_millis(200)))
    });
    // What `POST .../run` executes, as the token `ci`.
    let request = |run_id: &str, job_id: &str| {
        let c = Command::RequestRun {
            run_id: run_id.into(),
            job_id: job_id.into(),
            slot: None,
            reason: RunReason::Manual,
            mode: None,
            max_running: 1,
        };
        smol::block_on(service.execute(c, Meta::actor("api:ci"))).unwrap();
    };
    let wait = |what: &str, pred: &dyn Fn(&backupd::projections::State) -> bool| {
        wait_for_state(&service, Duration::from_secs(30), what, pred)
    };
    // `ra` holds the one place; the slot of `slot` comes due and waits, then `rb` behind it.
    request("ra", "a");
    wait("ra runs", &|s| {
        s.schedule
            .runs
            .get("ra")
            .is_some_and(|r| r.status == RunStatus::Running)
    });
    clock.advance(time::Duration::seconds(61));
    wait("the slot queued", &|s| s.schedule.queue.len() == 1);
    request("rb", "b");
    gate.open.store(true, Ordering::SeqCst);
    wait("all three ran", &|s| s.stats.total.succeeded == 3);
    let _ = stop.try_send(());
    thread.join().unwrap();

    let log = service.store().read_blocking(0, usize::MAX).unwrap();
    let runs: Vec<(String, String, String)> = log
        .iter()
        .filter_map(|e| {
            use backupd::events::Event as E;
            let run_id = match &e.payload {
                E::RunQueued { run_id, .. }
                | E::RunStarted { run_id, .. }
                | E::RunStartedV2 { run_id, .. }
                | E::RunSucceeded { run_id, .. }
                | E::RunSucceededV2 { run_id, .. }
                | E::RunSucceededV3 { run_id, .. }
                | E::RunFailed { run_id, .. }
                | E::RunFailedV2 { run_id, .. }
                | E::RunCancelled { run_id, .. } => run_id.clone(),
                _ => return None,
            };
            let step = e
                .payload
                .name()
                .trim_end_matches("_v2")
                .trim_end_matches("_v3");
            Some((run_id, step.to_string(), e.actor.clone()))
        })
        .collect();
    let slot = service.read(|s| s.schedule.jobs["slot"].last_run_id.clone().unwrap());
    let of = |id: &str| -> Vec<(String, String)> {
        runs.iter()
            .filter(|(r, _, _)| r == id)
            .map(|(_, k, a)| (k.clone(), a.clone()))
            .collect()
    };
    assert_eq!(
        of("ra"),
        steps(&[("run_started", "api:ci"), ("run_succeeded", "api:ci")])
    );
    assert_eq!(
        of(&slot),
        steps(&[
            ("run_queued", "scheduler"),
            ("run_started", "scheduler"),
            ("run_succeeded", "scheduler")
        ])
    );
    assert_eq!(
        of("rb"),
        steps(&[
            ("run_queued", "api:ci"),
            ("run_started", "api:ci"),
            ("run_succeeded", "api:ci")
        ])
    );
}

/// What the engine records in the middle of a requested run (a repository backup's packs and
/// snapshot; a maintenance run's verifications) is its requester's too.
#[test]
fn what_a_requested_run_records_midway_names_the_token() {
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a.txt"), "midway\n".repeat(1000)).unwrap();
    let server = Server::with_config(&format!(
        "[repository]\nenabled = true\n\n[[sources.files]]\npath = {src:?}\n"
    ));
    let admin = create(&server, None, "root", &["admin"]);
    let ci = create(&server, Some(&admin), "ci", &["operate"]);
    for job in ["daily_full_backup", "weekly_archive", "weekly_verify"] {
        let (status, run) = call(
            &server,
            Some(&ci),
            "POST",
            &format!("/scheduler/jobs/{job}/run"),
            None,
        );
        assert_eq!(status, 202, "{run}");
        let run = finished(&server, &admin, run["run_id"].as_str().unwrap());
        assert_eq!(run["status"], "succeeded", "{job}: {run}");
    }
    let (_, page) = call(&server, Some(&admin), "GET", "/events?limit=1000", None);
    let events = page["events"].as_array().unwrap();
    for kind in ["pack_written", "snapshot_recorded", "backup_verified"] {
        let actors: Vec<&str> = events
            .iter()
            .filter(|e| e["type"] == kind)
            .map(|e| e["actor"].as_str().unwrap())
            .collect();
        assert!(!actors.is_empty(), "no {kind}");
        assert!(actors.iter().all(|a| *a == "api:ci"), "{kind}: {actors:?}");
    }
}
