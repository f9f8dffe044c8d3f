//! The scheduler's side of run control on the manual clock, in process: due slots beyond
//! `max_concurrent_runs` queue and start as places free; a run's timeout follows the service's
//! clock (no real waiting for it).

use crate::support::{start_time, wait_for_state};
use backupd::clock::ManualClock;
use backupd::config::Config;
use backupd::decide::{Command, RunOutcome};
use backupd::events::{
    BackupConfig, BackupMode, BackupType, Event, JobAction, JobSpec, RunReason, Trigger,
};
use backupd::progress::{Progress, ProgressHandle};
use backupd::projections::{RunStatus, State, DEFAULT_POLICY};
use backupd::scheduler::{RunExecutor, Scheduler};
use backupd::service::{Meta, Service};
use backupd::store::EventStore;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Counts the runs executing at once; each takes `work`, or, with `until_stopped`, runs until
/// told to stop.
#[derive(Default)]
struct Counting {
    now: AtomicUsize,
    peak: AtomicUsize,
    until_stopped: bool,
}

impl RunExecutor for Counting {
    fn run(&self, _job: &JobSpec, _run_id: &str, progress: &ProgressHandle) -> RunOutcome {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(n, Ordering::SeqCst);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        if self.until_stopped {
            while !progress.cancel().is_stopped() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.now.fetch_sub(1, Ordering::SeqCst);
        if progress.cancel().is_stopped() {
            // what a stopped engine returns: an error, which the scheduler records as the stop
            RunOutcome::Failed {
                error: "the run was cancelled".into(),
                kind: backupd::error::ErrorKind::Transient,
            }
        } else {
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
}

struct Loop {
    service: Service,
    clock: Arc<ManualClock>,
    stop: smol::channel::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Loop {
    fn start(dir: &std::path::Path, config: &str, executor: Arc<Counting>) -> Loop {
        let clock = Arc::new(ManualClock::new(start_time()));
        let store = EventStore::open(&dir.join("events.redb")).unwrap();
        let (service, _) = Service::open(store, clock.clone(), 0).unwrap();
        let boot = Command::Boot {
            version: "t".into(),
            pid: 1,
            presets: vec![],
            retention: DEFAULT_POLICY,
            autostart: true,
        };
        smol::block_on(service.execute(boot, Meta::actor("system"))).unwrap();
        let config = Arc::new(Config::parse(config).unwrap());
        let scheduler = Scheduler::new(
            service.clone(),
            chrono_tz::UTC,
            executor,
            Progress::default(),
        )
        .with_config(config);
        let (stop, stop_rx) = smol::channel::bounded(1);
        let thread = std::thread::spawn(move || {
            smol::block_on(scheduler.run(stop_rx, Duration::from_millis(200)))
        });
        Loop {
            service,
            clock,
            stop,
            thread: Some(thread),
        }
    }

    fn command(&self, c: Command) {
        smol::block_on(self.service.execute(c, Meta::actor("test"))).unwrap();
    }

    fn wait_until(&self, what: &str, pred: impl Fn(&State) -> bool) {
        wait_for_state(&self.service, Duration::from_secs(30), what, pred)
    }

    fn events(&self) -> Vec<Event> {
        let log = self.service.store().read_blocking(0, usize::MAX).unwrap();
        log.into_iter().map(|e| e.payload).collect()
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = self.stop.try_send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn job(id: &str, action: JobAction) -> JobSpec {
    JobSpec {
        id: id.into(),
        name: id.into(),
        trigger: Trigger::Interval {
            seconds: 60,
            start_at: None,
        },
        action,
        misfire_grace_secs: Some(3600),
        timezone: None,
        jitter_secs: 0,
    }
}

#[test]
fn fifty_due_slots_queue_behind_two_places_and_all_run() {
    let dir = tempfile::tempdir().unwrap();
    let executor = Arc::new(Counting::default());
    let l = Loop::start(
        dir.path(),
        "[scheduler]\nmax_concurrent_runs = 2\n",
        executor.clone(),
    );
    for i in 0..50 {
        l.command(Command::CreateJob(job(
            &format!("j{i:02}"),
            JobAction::HealthCheck,
        )));
    }
    // every job's first slot comes due in the same instant
    l.clock.advance(time::Duration::seconds(61));
    l.wait_until("50 runs succeeded", |s| s.stats.total.succeeded == 50);
    assert_eq!(executor.peak.load(Ordering::SeqCst), 2);
    let log = l.events();
    let mut running = BTreeSet::new();
    let (mut peak, mut queued) = (0, 0);
    for e in &log {
        match e {
            Event::RunStarted { run_id, reason, .. } => {
                assert_eq!(*reason, RunReason::Scheduled);
                running.insert(run_id.clone());
            }
            Event::RunSucceeded { run_id, .. } => {
                running.remove(run_id);
            }
            Event::RunQueued { .. } => queued += 1,
            _ => {}
        }
        peak = peak.max(running.len());
    }
    assert_eq!((peak, queued), (2, 48));
}

#[test]
fn a_backup_run_is_cancelled_when_the_service_clock_passes_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let executor = Arc::new(Counting {
        until_stopped: true,
        ..Counting::default()
    });
    let l = Loop::start(dir.path(), "[scheduler]\nrun_timeout = 600\n", executor);
    let backup = JobAction::Backup(BackupConfig::new(BackupType::Files, BackupMode::Full));
    l.command(Command::CreateJob(job("b", backup)));
    l.command(Command::RequestRun {
        run_id: "r".into(),
        job_id: "b".into(),
        slot: None,
        reason: RunReason::Manual,
        mode: None,
        max_running: 2,
    });
    l.wait_until("r runs", |s| {
        s.schedule.runs["r"].status == RunStatus::Running
    });
    // a second short of the limit (the job's own slot at +60 s is skipped: it still runs)
    l.clock.advance(time::Duration::seconds(599));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        l.service.read(|s| s.schedule.runs["r"].status),
        RunStatus::Running
    );
    l.clock.advance(time::Duration::seconds(1));
    l.wait_until("r cancelled", |s| {
        s.schedule.runs["r"].status == RunStatus::Cancelled
    });
    let r = l.service.read(|s| s.schedule.runs["r"].clone());
    assert_eq!(r.error.as_deref(), Some("timed out after 600 s"));
    assert_eq!((r.cancelled_by, r.duration_ms), (None, Some(600_000)));
}
