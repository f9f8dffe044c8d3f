//! Backups when the system is quiet (`[scheduler] defer_while_load_above`, `max_defer`, `nice`,
//! `ioprio_idle`): the timer loop with the manual clock and a load file written by the test.
//! A due run waits while the load is high (one `run_deferred`), starts when it drops, and starts
//! anyway at `max_defer`; the run's thread is niced and in the idle I/O class.

use crate::support::{settle, start_time, wait_for_state};
use backupd::clock::ManualClock;
use backupd::config::Config;
use backupd::decide::{Command, RunOutcome};
use backupd::events::{Event, JobAction, JobSpec, RunReason, Trigger, Ts};
use backupd::progress::{Progress, ProgressHandle};
use backupd::projections::{State, DEFAULT_POLICY};
use backupd::scheduler::{RunExecutor, Scheduler};
use backupd::service::{Meta, Service};
use backupd::store::EventStore;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;
use time::Duration;

/// Records each run with the niceness and I/O class of the thread it ran on.
#[derive(Default)]
struct Probe {
    seen: Mutex<Vec<(String, i32, i64)>>,
}

impl RunExecutor for Probe {
    fn run(&self, _job: &JobSpec, run_id: &str, _progress: &ProgressHandle) -> RunOutcome {
        // SAFETY: syscalls about the calling thread itself.
        let tid = unsafe { libc::gettid() };
        let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t) };
        let ioprio =
            unsafe { libc::syscall(libc::SYS_ioprio_get, 1 as libc::c_long, tid as libc::c_long) };
        self.seen
            .lock()
            .unwrap()
            .push((run_id.to_string(), nice, ioprio >> 13));
        RunOutcome::Succeeded {
            backup: None,
            bytes: 1,
            files: 1,
            note: None,
            warnings: Vec::new(),
            perf: None,
        }
    }
}

struct Harness {
    service: Service,
    clock: Arc<ManualClock>,
    probe: Arc<Probe>,
    load: PathBuf,
    stop: smol::channel::Sender<()>,
    loop_thread: Option<std::thread::JoinHandle<()>>,
}

const CONFIG: &str = r#"
[scheduler]
defer_while_load_above = 0.8
max_defer = "10m"
nice = 10
ioprio_idle = true
"#;

fn boot(dir: &Path, jobs: &[&str]) -> Harness {
    let config = Arc::new(Config::parse(CONFIG).unwrap());
    let clock = Arc::new(ManualClock::new(start_time()));
    let store = EventStore::open(&dir.join("events.redb")).unwrap();
    let (service, _) = Service::open(store, clock.clone(), 0).unwrap();
    let load = dir.join("loadavg");
    let mut h = Harness {
        service: service.clone(),
        clock,
        probe: Arc::new(Probe::default()),
        load: load.clone(),
        stop: smol::channel::bounded(1).0,
        loop_thread: None,
    };
    h.set_load("0.00 0.00 0.00 1/100 4242");
    h.command(Command::Boot {
        version: "t".into(),
        pid: 1,
        presets: vec![],
        retention: DEFAULT_POLICY,
        autostart: true,
    });
    for id in jobs {
        h.command(Command::CreateJob(hourly(id)));
    }
    let (stop, stop_rx) = smol::channel::bounded(1);
    h.stop = stop;
    let scheduler = Scheduler::new(
        service,
        chrono_tz::UTC,
        h.probe.clone(),
        Progress::default(),
    )
    .with_config(config)
    .with_loadavg(load);
    let loop_thread = std::thread::spawn(move || {
        smol::block_on(scheduler.run(stop_rx, StdDuration::from_millis(200)))
    });
    h.loop_thread = Some(loop_thread);
    h
}

fn hourly(id: &str) -> JobSpec {
    JobSpec {
        id: id.into(),
        name: id.into(),
        trigger: Trigger::Cron {
            minute: Some("0".into()),
            hour: None,
            day: None,
            day_of_week: None,
        },
        action: JobAction::HealthCheck,
        misfire_grace_secs: Some(3600),
        timezone: None,
        jitter_secs: 0,
    }
}

impl Harness {
    fn command(&self, c: Command) {
        smol::block_on(self.service.execute(c, Meta::actor("test"))).unwrap();
    }

    /// Replaces the load file whole (a temporary name, then a rename): the loop reads it on its
    /// own thread, and a file caught between truncate and write is unreadable, which starts the
    /// run by design.
    fn set_load(&self, text: &str) {
        let tmp = self.load.with_extension("tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &self.load).unwrap();
    }

    /// `minutes` (and `secs`) after 13:00, the first slot after the jobs were created at 12:00.
    fn at(&self, minutes: i64, secs: i64) -> Ts {
        let t = start_time()
            + Duration::hours(1)
            + Duration::minutes(minutes)
            + Duration::seconds(secs);
        self.clock.set(t);
        Ts::from(t)
    }

    fn wait_until(&self, what: &str, pred: impl Fn(&State) -> bool) {
        wait_for_state(&self.service, StdDuration::from_secs(10), what, pred)
    }

    /// Let the loop look at the state and the load, until no event comes for a while.
    fn settle(&self) {
        settle(&self.service, StdDuration::from_millis(300))
    }

    /// The events after the boot: (name, job or run, recorded at).
    fn events(&self) -> Vec<(Event, Ts)> {
        self.service
            .store()
            .read_blocking(0, usize::MAX)
            .unwrap()
            .into_iter()
            .map(|e| (e.payload, e.recorded_at))
            .filter(|(e, _)| matches!(e, Event::RunDeferred { .. } | Event::RunStarted { .. }))
            .collect()
    }

    fn deferred_since(&self, job: &str) -> Option<Ts> {
        self.service.read(|s| s.schedule.jobs[job].deferred_since())
    }

    fn runs(&self) -> usize {
        self.service.read(|s| s.schedule.runs.len())
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.stop.try_send(());
        if let Some(t) = self.loop_thread.take() {
            t.join().unwrap();
        }
    }
}

fn cpus() -> f64 {
    std::thread::available_parallelism().map_or(1, |n| n.get()) as f64
}

fn deferred(job: &str, slot: Ts, load: f64, since: Ts) -> Event {
    Event::RunDeferred {
        job_id: job.into(),
        slot,
        load,
        threshold: 0.8,
        since,
    }
}

#[test]
fn a_run_deferred_while_the_load_is_high_starts_when_it_drops() {
    let dir = tempfile::tempdir().unwrap();
    let h = boot(dir.path(), &["nightly", "hourly_db"]);
    // 100 / cores is far above 0.8 per core on any machine this runs on
    h.set_load("100.00 90.00 80.00 7/300 4242\n");
    let slot = h.at(0, 0);
    h.wait_until("both deferred", |s| {
        s.schedule
            .jobs
            .values()
            .all(|j| j.deferred_since().is_some())
    });
    // re-checks while busy record nothing more and start nothing
    h.at(2, 0);
    h.settle();
    h.at(4, 30);
    h.settle();
    assert_eq!(h.runs(), 0, "nothing may start while the load is high");
    assert_eq!(h.deferred_since("nightly"), Some(slot));
    let events = h.events();
    let load = 100.0 / cpus();
    assert_eq!(
        events,
        vec![
            (deferred("hourly_db", slot, load, slot), slot),
            (deferred("nightly", slot, load, slot), slot),
        ]
    );

    // the load drops: both start at the next look, well before max_defer
    h.set_load("0.20 1.50 2.00 1/300 4242\n");
    let quiet = h.at(5, 0);
    h.wait_until("both started", |s| s.schedule.runs.len() == 2);
    h.settle();
    let started: Vec<(String, Option<Ts>, RunReason, Ts)> = h.service.read(|s| {
        s.schedule
            .runs
            .values()
            .map(|r| (r.job_id.clone(), r.slot, r.reason, r.started_at))
            .collect()
    });
    for (job, run_slot, reason, at) in &started {
        assert_eq!(*run_slot, Some(slot), "{job}");
        assert_eq!(*at, quiet, "{job} started when the load dropped");
        assert_eq!(*reason, RunReason::CatchUp, "{job}: five minutes late");
    }
    assert_eq!(h.deferred_since("nightly"), None);
    assert_eq!(h.deferred_since("hourly_db"), None);
    assert_eq!(h.events().len(), 4, "two deferrals, then two starts");
    assert!(h.events()[2..]
        .iter()
        .all(|(e, at)| e.name() == "run_started" && *at == quiet));

    // runs ran niced (10) and in the idle I/O class (3)
    let seen = h.probe.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    for (run, nice, class) in seen {
        assert_eq!((nice, class), (10, 3), "{run}");
    }
}

#[test]
fn a_run_waits_at_most_max_defer_while_the_load_stays_high() {
    let dir = tempfile::tempdir().unwrap();
    let h = boot(dir.path(), &["nightly", "weekly"]);
    h.set_load("3.00 3.00 3.00 9/300 4242\n");
    // The timer loop may see the slot due at 0:00 or only once the clock says 0:20: the
    // deferral begins at whichever it was, and max_defer counts from there.
    let due = h.at(0, 0);
    let later = h.at(0, 20);
    h.wait_until("both deferred", |s| {
        s.schedule
            .jobs
            .values()
            .all(|j| j.deferred_since().is_some())
    });
    h.set_load("250.00 200.00 100.00 9/300 4242\n");
    h.at(9, 59);
    h.settle();
    assert_eq!(h.runs(), 0, "still within max_defer (10m) of {due:?}");
    // max_defer after the deferral began: they start, however busy the machine is
    let limit = h.at(10, 20);
    h.wait_until("both started", |s| s.schedule.runs.len() == 2);
    h.settle();
    let events = h.events();
    let names: Vec<&str> = events.iter().map(|(e, _)| e.name()).collect();
    assert_eq!(
        names,
        ["run_deferred", "run_deferred", "run_started", "run_started"]
    );
    for (e, at) in &events[..2] {
        match e {
            Event::RunDeferred { load, since: s, .. } => {
                assert!(
                    *load == 3.0 / cpus() && (*s == due || *s == later) && *at == *s,
                    "{e:?}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(events[2..].iter().all(|(_, at)| *at == limit));
    assert_eq!(h.probe.seen.lock().unwrap().len(), 2);
}

/// The real binary, real clock: the health check every 2 s waits while the load file says busy
/// (one `run_deferred` however many slots pass), shows `deferred_since`, and runs once it drops.
#[test]
fn the_served_binary_defers_while_busy_and_runs_when_quiet() {
    use crate::support::{Opts, Served};
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let load = dir.path().join("loadavg");
    std::fs::write(&load, "400.00 300.00 200.00 9/300 4242\n").unwrap();
    let opts = Opts {
        env: vec![(
            backupd::scheduler::LOADAVG_ENV.to_string(),
            load.display().to_string(),
        )],
        ..Opts::default()
    };
    let server = Served::with_opts(CONFIG, &opts);
    let (status, body) = server.send(
        "PUT",
        "/scheduler/jobs/health_check",
        Some(json!({"trigger_type": "interval", "trigger_config": {"seconds": 2}})),
    );
    assert_eq!(status, 200, "{body}");
    let types = |server: &Served| -> Vec<(String, serde_json::Value)> {
        server.get("/events?after=0&limit=1000")["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "run_deferred" || e["type"] == "run_started")
            .map(|e| (e["type"].as_str().unwrap().to_string(), e["data"].clone()))
            .collect()
    };
    let deadline = std::time::Instant::now() + StdDuration::from_secs(20);
    while types(&server).is_empty() {
        assert!(std::time::Instant::now() < deadline, "no run_deferred");
        std::thread::sleep(StdDuration::from_millis(200));
    }
    // several slots pass while busy: still one deferral, no run
    std::thread::sleep(StdDuration::from_secs(5));
    let seen = types(&server);
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (kind, data) = &seen[0];
    assert_eq!(kind, "run_deferred");
    assert_eq!(data["job_id"], "health_check");
    assert_eq!(data["threshold"], 0.8);
    assert_eq!(data["load"].as_f64().unwrap(), 400.0 / cpus());
    let job = server.get("/scheduler/jobs/health_check");
    assert_eq!(job["deferred_since"], data["since"], "{job}");

    std::fs::write(&load, "0.05 0.10 0.20 1/300 4242\n").unwrap();
    let deadline = std::time::Instant::now() + StdDuration::from_secs(20);
    while !types(&server).iter().any(|(k, _)| k == "run_started") {
        assert!(
            std::time::Instant::now() < deadline,
            "the quiet machine ran nothing"
        );
        std::thread::sleep(StdDuration::from_millis(200));
    }
    let job = server.get("/scheduler/jobs/health_check");
    assert_eq!(job["deferred_since"], serde_json::Value::Null, "{job}");
    server.stop();
}
