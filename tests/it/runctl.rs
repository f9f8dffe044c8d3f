//! Run control against the real binary: a hung dump cancelled at its timeout with its processes
//! gone, a big backup cancelled mid-write leaving no partial file, a forced mode, the queue behind
//! `max_concurrent_runs` (never more running than allowed, replayed from the log), and the
//! shutdown killing what still runs.

mod clocked;

use crate::support::{incompressible_file, pid_in, running, Served};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

/// Every `*.partial` below `dir`.
fn partials(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().map(Result::unwrap) {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                todo.push(p);
            } else if p.to_string_lossy().ends_with(".partial") {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

/// A job backing up the database sources only, on a daily interval (so only `run` starts it).
fn database_job(id: &str) -> Value {
    json!({"job_id": id, "name": id, "trigger_type": "interval",
           "trigger_config": {"hours": 24}, "backup_config": {"type": "database"}})
}

fn create(server: &Served, job: Value) {
    let (code, body) = server.send("POST", "/scheduler/jobs", Some(job));
    assert_eq!(code, 201, "{body}");
}

fn start(server: &Served, job: &str, body: Option<Value>) -> Value {
    let (code, run) = server.send("POST", &format!("/scheduler/jobs/{job}/run"), body);
    assert_eq!(code, 202, "{run}");
    run
}

fn run_path(run_id: &str) -> String {
    format!("/runs/{}", run_id.replace('@', "%40"))
}

fn cancel(server: &Served, run_id: &str) -> (u16, Value) {
    server.send("POST", &format!("{}/cancel", run_path(run_id)), None)
}

/// Waits until the run's live progress satisfies `ready`.
fn until_progress(server: &Served, run_id: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let run = server.get(&run_path(run_id));
        if run["status"] == "running" && ready(&run["progress"]) {
            return run;
        }
        assert!(
            run["status"] == "running" || run["status"] == "queued",
            "{run}"
        );
        assert!(Instant::now() < deadline, "progress never got there: {run}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The whole log, page by page.
fn events(server: &Served) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = server.get(&format!("/events?after={after}&limit=1000"));
        let items = page["events"].as_array().unwrap().clone();
        if items.is_empty() {
            return out;
        }
        after = page["next_after"].as_u64().unwrap();
        out.extend(items);
    }
}

fn backup_kind(server: &Served, run: &Value) -> String {
    let id = run["backup_id"].as_str().unwrap_or_else(|| panic!("{run}"));
    server.get(&format!("/backups/{id}"))["kind"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_hung_dump_is_cancelled_at_its_timeout_and_its_processes_are_gone() {
    let scratch = tempfile::tempdir().unwrap();
    let (shell, sleeper) = (scratch.path().join("shell"), scratch.path().join("sleeper"));
    // The shell is the dump tool; the backgrounded sleep is its child, which only a kill of
    // the whole process group reaches.
    let script = format!(
        "echo $$ > {}; sleep 600 & echo $! > {}; wait",
        shell.display(),
        sleeper.display()
    );
    let server = Served::with_config(&format!(
        "[scheduler]\nrun_timeout = 2\n\n[[sources.database]]\nname = \"hang\"\n\
         kind = \"command\"\ncommand = [\"sh\", \"-c\", {script:?}]\n"
    ));
    create(&server, database_job("hang"));
    let started = start(&server, "hang", None);
    let run_id = started["run_id"].as_str().unwrap();
    let (shell, sleeper) = (pid_in(&shell), pid_in(&sleeper));
    assert!(running(shell) && running(sleeper));
    let run = server.finished_within(run_id, Duration::from_secs(30));
    assert_eq!(run["status"], "cancelled", "{run}");
    assert_eq!(run["error"], "timed out after 2 s", "{run}");
    assert_eq!(run["cancelled_by"], Value::Null, "{run}");
    assert!(run["duration_ms"].as_u64().unwrap() >= 2000, "{run}");
    assert!(!running(shell), "the dump tool {shell} still runs");
    assert!(
        !running(sleeper),
        "the dump tool's child {sleeper} still runs"
    );
    assert_eq!(partials(server.data_dir()), Vec::<String>::new());
    let recorded: Vec<Value> = events(&server)
        .into_iter()
        .filter(|e| e["type"] == "run_cancelled")
        .collect();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["data"]["reason"], "timed out after 2 s");
    assert_eq!(recorded[0]["data"]["by"], Value::Null);
}

#[test]
fn cancelling_a_big_backup_leaves_no_partial_file_and_the_next_run_succeeds() {
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("big");
    std::fs::create_dir(&src).unwrap();
    // 300 MB zstd cannot shrink.
    incompressible_file(&src.join("blob"), 300 << 20, 0);
    let server = Served::with_config(&format!(
        "[compression]\ndefault = \"zstd\"\nlevel = 19\n\n[[sources.files]]\npath = {src:?}\n"
    ));
    create(
        &server,
        json!({"job_id": "big", "name": "big", "trigger_type": "interval",
               "trigger_config": {"hours": 24}, "backup_config": {"type": "files"}}),
    );
    let started = start(&server, "big", None);
    let run_id = started["run_id"].as_str().unwrap();
    let writing = until_progress(&server, run_id, |p| {
        p["bytes_done"].as_u64().unwrap_or(0) > 0
    });
    // the partial archive exists while it writes: the check below is not vacuous
    assert_eq!(partials(server.data_dir()).len(), 1, "{writing}");
    let (code, run) = cancel(&server, run_id);
    assert_eq!(code, 200, "{run}");
    assert_eq!(run["status"], "cancelled", "{run}");
    assert_eq!(run["error"], "cancelled by api:anonymous", "{run}");
    assert_eq!(run["cancelled_by"], "api:anonymous", "{run}");
    assert_eq!(partials(server.data_dir()), Vec::<String>::new());
    assert_eq!(server.get("/backups")["backups"], json!([]));
    // an ended run is not cancelled twice; an unknown one is not found
    let (code, again) = cancel(&server, run_id);
    assert_eq!((code, &again["error"]["field"]), (409, &json!("run_id")));
    let (code, unknown) = cancel(&server, "big@manual-1");
    assert_eq!((code, &unknown["error"]["field"]), (404, &json!("run_id")));

    // level 19 was for the slow write above; the same job at the default level succeeds
    let data = server.data_dir().to_path_buf();
    let config = scratch.path().join("fast.toml");
    std::fs::write(&config, format!("[[sources.files]]\npath = {src:?}\n")).unwrap();
    // (the holder of the data directory: dropping it would delete the directory)
    let _holder = server.stop();
    let server = Served::with_config_file(&config, &data);
    let next = server.run("big");
    assert_eq!(next["status"], "succeeded", "{next}");
    assert!(next["bytes"].as_u64().unwrap() > 300 << 20, "{next}");
    assert_eq!(partials(server.data_dir()), Vec::<String>::new());
}

#[test]
fn a_forced_mode_runs_once_and_a_queued_run_can_be_cancelled() {
    let scratch = tempfile::tempdir().unwrap();
    let files = scratch.path().join("files");
    std::fs::create_dir(&files).unwrap();
    std::fs::write(files.join("a"), b"a").unwrap();
    // The dump holds the only place while HOLD exists.
    let hold = scratch.path().join("HOLD");
    let script = format!(
        "if [ -e {0} ]; then sleep 600; fi; echo dump",
        hold.display()
    );
    let server = Served::with_config(&format!(
        "[scheduler]\nmax_concurrent_runs = 1\n\n[[sources.files]]\npath = {files:?}\n\n\
         [[sources.database]]\nname = \"db\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", {script:?}]\n"
    ));
    create(&server, database_job("holder"));

    // a body that is not a mode is refused, naming the field
    for (body, field) in [
        (json!({"mode": "weekly"}), "mode"),
        (json!({"mode": 1}), "mode"),
        (json!({"mood": "full"}), "mood"),
    ] {
        let (code, err) = server.send(
            "POST",
            "/scheduler/jobs/incremental_backup/run",
            Some(body.clone()),
        );
        assert_eq!(
            (code, &err["error"]["field"]),
            (400, &json!(field)),
            "{body}: {err}"
        );
    }

    let first = server.run("incremental_backup");
    assert_eq!(first["status"], "succeeded", "{first}");
    assert_eq!(backup_kind(&server, &first), "full"); // no base yet

    std::fs::write(&hold, b"").unwrap();
    let holder = start(&server, "holder", None);
    assert_eq!(holder["status"], "running");
    let forced = start(&server, "incremental_backup", Some(json!({"mode": "full"})));
    assert_eq!(forced["status"], "queued", "{forced}");
    let forced_id = forced["run_id"].as_str().unwrap();
    let job = server.get("/scheduler/jobs/incremental_backup");
    assert_eq!(job["queued"], forced_id, "{job}");
    assert_eq!(job["last_run"]["status"], "queued", "{job}");
    let queued = server.get("/runs?status=queued")["runs"].clone();
    assert_eq!(queued.as_array().unwrap().len(), 1, "{queued}");
    assert_eq!(queued[0]["mode_override"], "full");
    // one instance per job: a queued run holds it
    let (code, busy) = server.send("POST", "/scheduler/jobs/incremental_backup/run", None);
    assert_eq!(code, 409, "{busy}");

    // cancelling the holder frees the place: the queued run starts, forced to full
    std::fs::remove_file(&hold).unwrap();
    let (code, cancelled) = cancel(&server, holder["run_id"].as_str().unwrap());
    assert_eq!((code, &cancelled["status"]), (200, &json!("cancelled")));
    let ran = server.finished(forced_id);
    assert_eq!(ran["status"], "succeeded", "{ran}");
    assert_eq!(ran["mode_override"], "full");
    assert_eq!(backup_kind(&server, &ran), "full");
    // the job's own mode again on the next run
    let own = server.run("incremental_backup");
    assert_eq!(backup_kind(&server, &own), "incremental");

    // a queued run cancelled never starts
    std::fs::write(&hold, b"").unwrap();
    let holder = start(&server, "holder", None);
    let waiting = start(&server, "incremental_backup", None);
    assert_eq!(waiting["status"], "queued", "{waiting}");
    let waiting_id = waiting["run_id"].as_str().unwrap();
    let (code, run) = cancel(&server, waiting_id);
    assert_eq!(code, 200, "{run}");
    assert_eq!(
        (&run["status"], &run["cancelled_by"]),
        (&json!("cancelled"), &json!("api:anonymous"))
    );
    assert_eq!(cancel(&server, waiting_id).0, 409);
    std::fs::remove_file(&hold).unwrap();
    assert_eq!(cancel(&server, holder["run_id"].as_str().unwrap()).0, 200);

    let log = events(&server);
    let of = |id: &str| -> Vec<(String, Value)> {
        log.iter()
            .filter(|e| e["correlation"] == id || e["data"]["run_id"] == id)
            .map(|e| (e["type"].as_str().unwrap().to_string(), e["data"].clone()))
            .collect()
    };
    let forced_log = of(forced_id);
    let types: Vec<&str> = forced_log.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        types,
        [
            "run_queued",
            "run_started_v2",
            "backup_recorded",
            "run_succeeded_v3"
        ]
    );
    assert_eq!(forced_log[0].1["mode_override"], "full");
    assert_eq!(forced_log[1].1["mode_override"], "full");
    let types: Vec<String> = of(waiting_id).into_iter().map(|(t, _)| t).collect();
    assert_eq!(types, ["run_queued", "run_cancelled"]);
}

/// The peak of runs going at once, replaying the log: a started run counts until its outcome.
fn peak_running(log: &[Value]) -> (usize, usize) {
    let mut running: BTreeSet<String> = BTreeSet::new();
    let (mut peak, mut queued) = (0, 0);
    for e in log {
        let id = e["data"]["run_id"].as_str().unwrap_or_default().to_string();
        match e["type"].as_str().unwrap() {
            "run_started" | "run_started_v2" => {
                assert!(running.insert(id), "{e}");
            }
            "run_succeeded" | "run_succeeded_v2" | "run_succeeded_v3" | "run_failed"
            | "run_failed_v2" | "run_interrupted" | "run_cancelled" => {
                running.remove(&id);
            }
            "run_queued" => queued += 1,
            _ => {}
        }
        peak = peak.max(running.len());
    }
    (peak, queued)
}

#[test]
fn fifty_runs_at_once_never_run_more_than_two_and_start_in_queue_order() {
    let server = Served::with_config(
        "[scheduler]\nmax_concurrent_runs = 2\n\n[[sources.database]]\nname = \"db\"\n\
         kind = \"command\"\ncommand = [\"sh\", \"-c\", \"sleep 0.2; echo dump\"]\n",
    );
    let ids: Vec<String> = (0..50).map(|i| format!("j{i:02}")).collect();
    for id in &ids {
        create(&server, database_job(id));
    }
    let runs: Vec<String> = ids
        .iter()
        .map(|id| {
            start(&server, id, None)["run_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for run_id in &runs {
        let run = server.finished_within(run_id, Duration::from_secs(120));
        assert_eq!(run["status"], "succeeded", "{run}");
    }
    let log = events(&server);
    let (peak, queued) = peak_running(&log);
    assert_eq!(
        peak, 2,
        "never more than 2 running, and the limit was reached"
    );
    assert!(queued >= 40, "{queued} queued");
    // queued runs start in the order they were queued
    let order = |kind: &str| -> Vec<String> {
        log.iter()
            .filter(|e| e["type"] == kind)
            .map(|e| e["data"]["run_id"].as_str().unwrap().to_string())
            .collect()
    };
    let queued_order = order("run_queued");
    let started: BTreeMap<String, usize> = order("run_started")
        .into_iter()
        .enumerate()
        .map(|(i, id)| (id, i))
        .collect();
    let starts: Vec<usize> = queued_order.iter().map(|id| started[id]).collect();
    assert!(starts.windows(2).all(|w| w[0] < w[1]), "{starts:?}");
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let peak_rss = status.lines().find(|l| l.starts_with("VmHWM")).unwrap();
    eprintln!("50 runs, max_concurrent_runs = 2: service peak RSS {peak_rss}");
}

#[test]
fn shutdown_kills_the_dump_tools_of_runs_still_going() {
    let scratch = tempfile::tempdir().unwrap();
    let (shell, sleeper) = (scratch.path().join("shell"), scratch.path().join("sleeper"));
    let script = format!(
        "echo $$ > {}; sleep 600 & echo $! > {}; wait",
        shell.display(),
        sleeper.display()
    );
    let config = scratch.path().join("backupd.toml");
    std::fs::write(
        &config,
        format!(
            "[scheduler]\nrun_timeout = 0\n\n[[sources.database]]\nname = \"hang\"\n\
             kind = \"command\"\ncommand = [\"sh\", \"-c\", {script:?}]\n"
        ),
    )
    .unwrap();
    let data = scratch.path().join("data");
    let server = Served::with_config_file(&config, &data);
    create(&server, database_job("hang"));
    let run_id = start(&server, "hang", None)["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (shell, sleeper) = (pid_in(&shell), pid_in(&sleeper));
    // SIGTERM: after its grace the service stops the run, kills the group, exits 0
    drop(server.stop());
    assert!(
        !running(shell),
        "the dump tool {shell} outlived the service"
    );
    assert!(
        !running(sleeper),
        "the dump tool's child {sleeper} outlived the service"
    );
    let server = Served::with_config_file(&config, &data);
    let run = server.get(&run_path(&run_id));
    assert_eq!(run["status"], "interrupted", "{run}");
    // recorded by the stopping service itself, not settled by the next boot
    assert_eq!(run["error"], "shutdown: still running after 30 s", "{run}");
    assert_eq!(partials(server.data_dir()), Vec::<String>::new());
}
