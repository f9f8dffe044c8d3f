//! The timer loop with the manual clock: catch-up after downtime, skipped slots, restarts
//! mid-slot, pause/resume, and an interval grid that does not drift.

use crate::support::{settle, start_time, wait_for_state};
use backupd::clock::{Clock, ManualClock};
use backupd::decide::{Command, RunOutcome};
use backupd::events::{Event, JobAction, JobSpec, RunReason, Trigger, Ts};
use backupd::progress::{Progress, ProgressHandle};
use backupd::projections::{RunStatus, State, DEFAULT_POLICY};
use backupd::scheduler::{next_run_time, RunExecutor, Scheduler};
use backupd::service::{Meta, Service};
use backupd::store::EventStore;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;
use time::Duration;

/// An executor the test drives: each run announces itself, then waits for a release (or not).
struct Gate {
    started: Mutex<mpsc::Sender<String>>,
    release: Mutex<mpsc::Receiver<()>>,
    hold: bool,
}

impl RunExecutor for Gate {
    fn run(&self, _job: &JobSpec, run_id: &str, progress: &ProgressHandle) -> RunOutcome {
        progress.update(|p| p.phase = "working".into());
        let _ = self.started.lock().unwrap().send(run_id.to_string());
        if self.hold {
            let _ = self.release.lock().unwrap().recv();
        }
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
    stop: smol::channel::Sender<()>,
    loop_thread: Option<std::thread::JoinHandle<()>>,
    started: mpsc::Receiver<String>,
    release: mpsc::Sender<()>,
}

const ZONE: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

fn boot(dir: &Path, clock: Arc<ManualClock>, hold: bool) -> Harness {
    let store = EventStore::open(&dir.join("events.redb")).unwrap();
    let (service, _) = Service::open(store, clock.clone(), 0).unwrap();
    smol::block_on(service.execute(
        Command::Boot {
            version: "t".into(),
            pid: 1,
            presets: vec![],
            retention: DEFAULT_POLICY,
            autostart: true,
        },
        Meta::actor("system"),
    ))
    .unwrap();
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let gate = Gate {
        started: Mutex::new(started_tx),
        release: Mutex::new(release_rx),
        hold,
    };
    let (stop, stop_rx) = smol::channel::bounded(1);
    let scheduler = Scheduler::new(service.clone(), ZONE, Arc::new(gate), Progress::default());
    let loop_thread = std::thread::spawn(move || {
        smol::block_on(scheduler.run(stop_rx, StdDuration::from_millis(200)))
    });
    Harness {
        service,
        stop,
        loop_thread: Some(loop_thread),
        started,
        release,
    }
}

impl Harness {
    fn command(&self, c: Command) {
        smol::block_on(self.service.execute(c, Meta::actor("test"))).unwrap();
    }

    /// Wait (bounded) until the projections satisfy `pred`.
    fn wait_until(&self, what: &str, pred: impl Fn(&State) -> bool) {
        wait_for_state(&self.service, StdDuration::from_secs(10), what, pred)
    }

    /// Let the loop see the state as it is and settle (no events for a while).
    fn settle(&self) {
        settle(&self.service, StdDuration::from_millis(150))
    }

    fn events(&self) -> Vec<Event> {
        self.service
            .store()
            .read_blocking(0, usize::MAX)
            .unwrap()
            .into_iter()
            .map(|e| e.payload)
            .collect()
    }

    fn stop(mut self) -> Service {
        let _ = self.stop.try_send(());
        if let Some(t) = self.loop_thread.take() {
            t.join().unwrap();
        }
        self.service.clone()
    }
}

fn job(id: &str, trigger: Trigger) -> JobSpec {
    JobSpec {
        id: id.into(),
        name: id.into(),
        trigger,
        action: JobAction::HealthCheck,
        misfire_grace_secs: Some(3600),
        timezone: None,
        jitter_secs: 0,
    }
}

fn hourly() -> Trigger {
    Trigger::Cron {
        minute: Some("0".into()),
        hour: None,
        day: None,
        day_of_week: None,
    }
}

fn every(seconds: u64) -> Trigger {
    Trigger::Interval {
        seconds,
        start_at: None,
    }
}

fn runs_of(s: &State, job: &str) -> usize {
    s.schedule.runs.values().filter(|r| r.job_id == job).count()
}

#[test]
fn three_days_down_give_one_catch_up_run_and_the_missed_slots() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(start_time()));
    let h = boot(dir.path(), clock.clone(), false);
    h.command(Command::CreateJob(job("hourly", hourly())));
    // 12:00Z start; the first slot is 13:00Z
    clock.set(start_time() + Duration::minutes(60));
    h.wait_until("the 13:00 run", |s| {
        s.schedule
            .runs
            .values()
            .any(|r| r.status == RunStatus::Succeeded)
    });
    drop(h.stop());

    // down for three days (and 30 minutes)
    clock.set(start_time() + Duration::days(3) + Duration::minutes(90));
    let h = boot(dir.path(), clock.clone(), false);
    h.wait_until("the catch-up run", |s| runs_of(s, "hourly") == 2);
    h.settle();
    let events = h.events();
    let catch_ups: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::RunStarted { reason, slot, .. } => Some((*reason, *slot)),
            _ => None,
        })
        .collect();
    let newest = Ts::from(start_time() + Duration::days(3) + Duration::minutes(60));
    assert_eq!(
        catch_ups,
        vec![
            (
                RunReason::Scheduled,
                Some(Ts::from(start_time() + Duration::minutes(60)))
            ),
            (RunReason::CatchUp, Some(newest)),
        ]
    );
    let missed: Vec<Ts> = events
        .iter()
        .flat_map(|e| match e {
            Event::SlotsMissed { slots, .. } => slots.clone(),
            _ => vec![],
        })
        .collect();
    // slots 14:00 day 0 .. 12:00 day 3 (the 13:00 of day 3 ran as the catch-up)
    assert_eq!(missed.len(), 71);
    assert_eq!(missed[0], Ts::from(start_time() + Duration::minutes(120)));
    assert_eq!(missed[70], Ts::from(start_time() + Duration::days(3)));
    assert_eq!(h.service.read(|s| s.stats.total.missed), 71);
    drop(h.stop());
}

#[test]
fn a_slot_due_while_the_job_runs_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(start_time()));
    let h = boot(dir.path(), clock.clone(), true);
    h.command(Command::CreateJob(job("minutely", every(60))));
    clock.advance(Duration::seconds(60));
    let first = h.started.recv_timeout(StdDuration::from_secs(10)).unwrap();
    // the run holds; its progress is visible while it runs
    clock.advance(Duration::seconds(60));
    h.wait_until("the skipped slot", |s| s.stats.total.skipped == 1);
    h.release.send(()).unwrap();
    h.wait_until("the first run's outcome", |s| {
        s.schedule.runs[&first].status == RunStatus::Succeeded
    });
    clock.advance(Duration::seconds(60));
    let second = h.started.recv_timeout(StdDuration::from_secs(10)).unwrap();
    assert_ne!(first, second);
    h.release.send(()).unwrap();
    h.wait_until("the second run's outcome", |s| {
        s.schedule.runs[&second].status == RunStatus::Succeeded
    });
    let skipped: Vec<_> = h
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::RunSkipped {
                slot,
                running_run_id,
                ..
            } => Some((slot, running_run_id)),
            _ => None,
        })
        .collect();
    assert_eq!(
        skipped,
        vec![(Ts::from(start_time() + Duration::seconds(120)), first)]
    );
    drop(h.stop());
}

#[test]
fn a_restart_in_the_middle_of_a_slot_does_not_run_it_twice() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(start_time()));
    let slot = Ts::from(start_time() + Duration::seconds(600));
    {
        // the process records the slot's run and dies before anything else reaches the log
        let store = EventStore::open(&dir.path().join("events.redb")).unwrap();
        let (service, _) = Service::open(store, clock.clone(), 0).unwrap();
        let run = |c| smol::block_on(service.execute(c, Meta::actor("scheduler"))).unwrap();
        run(Command::StartScheduler);
        run(Command::CreateJob(job("slow", every(600))));
        clock.set(slot.get());
        run(Command::StartRun {
            run_id: backupd::scheduler::slot_run_id("slow", slot),
            job_id: "slow".into(),
            slot: Some(slot),
            reason: RunReason::Scheduled,
        });
    }
    clock.advance(Duration::seconds(30));
    let h = boot(dir.path(), clock.clone(), false);
    h.settle();
    let run_id = backupd::scheduler::slot_run_id("slow", slot);
    let (status, runs) = h
        .service
        .read(|s| (s.schedule.runs[&run_id].status, runs_of(s, "slow")));
    assert_eq!(
        status,
        RunStatus::Interrupted,
        "boot settles the run without outcome"
    );
    assert_eq!(runs, 1, "the slot must not run again after the restart");
    assert!(h.started.try_recv().is_err(), "nothing was executed");
    clock.advance(Duration::seconds(600));
    h.wait_until("the next slot", |s| runs_of(s, "slow") == 2);
    drop(h.stop());
}

#[test]
fn pause_and_resume_do_not_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(start_time()));
    let h = boot(dir.path(), clock.clone(), false);
    h.command(Command::CreateJob(job("p", every(60))));
    h.command(Command::PauseJob { job_id: "p".into() });
    assert_eq!(
        h.service
            .read(|s| next_run_time(&s.schedule.jobs["p"], ZONE, Ts::from(clock.now()))),
        None
    );
    clock.advance(Duration::minutes(10));
    h.settle();
    h.command(Command::ResumeJob { job_id: "p".into() });
    h.settle();
    assert_eq!(
        h.service.read(|s| runs_of(s, "p")),
        0,
        "no catch-up after resume"
    );
    assert_eq!(h.service.read(|s| s.stats.total.missed), 0);
    // the grid slot after the resume fires
    let next = h
        .service
        .read(|s| next_run_time(&s.schedule.jobs["p"], ZONE, Ts::from(clock.now())))
        .unwrap();
    assert_eq!(next, Ts::from(start_time() + Duration::minutes(11)));
    clock.set(next.get());
    h.wait_until("the first run after resume", |s| runs_of(s, "p") == 1);
    drop(h.stop());
}

#[test]
fn an_interval_grid_does_not_drift_across_restarts_and_a_stopped_scheduler_fires_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(start_time()));
    let h = boot(dir.path(), clock.clone(), false);
    h.command(Command::CreateJob(job("grid", every(7 * 60))));
    clock.set(start_time() + Duration::minutes(7) + Duration::seconds(3));
    h.wait_until("the first slot", |s| runs_of(s, "grid") == 1);
    drop(h.stop());

    // restart at an odd moment: the next slot stays on the grid (created + 7 min × k)
    clock.set(start_time() + Duration::minutes(12) + Duration::seconds(31));
    let h = boot(dir.path(), clock.clone(), false);
    h.settle();
    let next = h
        .service
        .read(|s| next_run_time(&s.schedule.jobs["grid"], ZONE, Ts::from(clock.now())));
    assert_eq!(next, Some(Ts::from(start_time() + Duration::minutes(14))));
    let slots: Vec<_> = h.service.read(|s| {
        s.schedule
            .runs
            .values()
            .filter_map(|r| r.slot)
            .collect::<Vec<_>>()
    });
    assert_eq!(slots, vec![Ts::from(start_time() + Duration::minutes(7))]);

    h.command(Command::StopScheduler {
        reason: "test".into(),
    });
    clock.set(start_time() + Duration::minutes(14));
    h.settle();
    assert_eq!(
        h.service.read(|s| runs_of(s, "grid")),
        1,
        "stopped: nothing fires"
    );
    h.command(Command::StartScheduler);
    h.wait_until("the slot missed while stopped, caught up", |s| {
        runs_of(s, "grid") == 2
    });
    drop(h.stop());
}
