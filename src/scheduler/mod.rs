//! The timer loop on smol: sleep until the earliest next fire or until the log changes (no
//! polling), fire due slots through commands, and run started runs through the executor.
//!
//! WHEN a run starts is decided here (pure `plan`); WHAT a run does is the executor's business.
//! A run is started by its `run_started` event, whoever appended it (the loop or the API), and
//! reports back only through a `FinishRun` command.

mod admit;
mod limits;
mod load;
mod plan;
mod priority;

pub use limits::{overdue, run_timeout, Overdue};
pub use load::{load_per_core, loadavg_path, LOADAVG_ENV};
pub use plan::{job_zone, next_run_time, plan, slot_run_id, Plan, ON_TIME};

use crate::config::Config;
use crate::decide::{Command, RunOutcome};
use crate::events::{JobAction, JobSpec, Ts};
use crate::progress::{Progress, ProgressHandle, StopCause};
use crate::projections::RunStatus;
use crate::service::{Meta, Service};
use chrono_tz::Tz;
use smol::future::FutureExt;
use smol::Task;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// What a run does. Called on the blocking pool; must not panic (a panic is recorded as failed).
pub trait RunExecutor: Send + Sync + 'static {
    fn run(&self, job: &JobSpec, run_id: &str, progress: &ProgressHandle) -> RunOutcome;
}

pub struct Scheduler {
    service: Service,
    zone: Tz,
    executor: Arc<dyn RunExecutor>,
    progress: Progress,
    running: HashMap<String, Task<()>>,
    /// Concurrency and time limits; `None` = neither (tests that drive the loop by hand).
    config: Option<Arc<Config>>,
    /// Where the load for `[scheduler] defer_while_load_above` is read (`loadavg_path`).
    loadavg: std::path::PathBuf,
}

impl Scheduler {
    pub fn new(
        service: Service,
        zone: Tz,
        executor: Arc<dyn RunExecutor>,
        progress: Progress,
    ) -> Self {
        Scheduler {
            service,
            zone,
            executor,
            progress,
            running: HashMap::new(),
            config: None,
            loadavg: loadavg_path(),
        }
    }

    /// Read the load from this file (the format of `/proc/loadavg`) instead.
    pub fn with_loadavg(mut self, path: std::path::PathBuf) -> Self {
        self.loadavg = path;
        self
    }

    /// Apply the configuration's `max_concurrent_runs` and run timeouts.
    pub fn with_config(mut self, config: Arc<Config>) -> Self {
        self.config = Some(config);
        self
    }

    fn max_running(&self) -> usize {
        self.config
            .as_ref()
            .map_or(usize::MAX, |c| c.max_concurrent_runs)
    }

    /// Run until `shutdown` fires; then wait up to `grace` for runs in flight and record the
    /// rest as interrupted.
    pub async fn run(mut self, shutdown: smol::channel::Receiver<()>, grace: Duration) {
        log::info!(target: "scheduler", "timer loop started (zone {})", self.zone);
        loop {
            let position = self.service.position();
            let wake_at = self.tick().await;
            let clock = self.service.clock().clone();
            let moved = clock.moved();
            let sleep = async {
                match wake_at {
                    Some(at) => {
                        let wait = at.get() - clock.now();
                        let wait = Duration::try_from(wait).unwrap_or(Duration::ZERO);
                        smol::Timer::after(wait).await;
                    }
                    None => std::future::pending::<()>().await,
                }
                Wake::Timer
            };
            let log_moved = async {
                self.service.wait_beyond(position).await;
                Wake::Log
            };
            let clock_moved = async {
                match moved {
                    Some(listener) => listener.await,
                    None => std::future::pending::<()>().await,
                }
                Wake::Clock
            };
            let stop = async {
                let _ = shutdown.recv().await;
                Wake::Stop
            };
            if let Wake::Stop = sleep.or(log_moved).or(clock_moved).or(stop).await {
                break;
            }
        }
        self.shutdown(grace).await;
    }

    /// One pass: settle due slots, start queued and due runs while places are free, stop runs
    /// past their time limit, start executors for runs that have none. Returns when to wake.
    pub async fn tick(&mut self) -> Option<Ts> {
        let now = Ts::from(self.service.clock().now());
        let plan = self.service.read(|s| plan(s, self.zone, now));
        let max_running = self.max_running();
        // Misses and skips first (a start settles its job's older slots), then the queue, then
        // the new starts in due order: queued runs came due before them.
        let (mut starts, settle): (Vec<Command>, Vec<Command>) = plan
            .commands
            .into_iter()
            .partition(|c| matches!(c, Command::StartRun { .. }));
        starts.sort_by_key(|c| match c {
            Command::StartRun { slot, job_id, .. } => (*slot, job_id.clone()),
            _ => (None, String::new()),
        });
        let (starts, defers, defer_wake) = self.hold_while_busy(starts, now);
        self.execute_all(settle.into_iter().chain(defers)).await;
        // Queued runs before new starts: they came due first.
        self.admit_queued(max_running).await;
        let starts = starts.into_iter().map(|c| match c {
            Command::StartRun {
                run_id,
                job_id,
                slot,
                reason,
            } => Command::RequestRun {
                run_id,
                job_id,
                slot,
                reason,
                mode: None,
                max_running,
            },
            other => other,
        });
        self.execute_all(starts).await;
        self.start_executors();
        let deadline = self.stop_overdue(now).await;
        [plan.wake_at, deadline, defer_wake]
            .into_iter()
            .flatten()
            .min()
    }

    /// The loop's own commands, as `scheduler`; a refused one is logged and the next pass plans
    /// again.
    async fn execute_all(&self, commands: impl IntoIterator<Item = Command>) {
        for command in commands {
            let meta = Meta {
                actor: "scheduler".into(),
                correlation: match &command {
                    Command::RequestRun { run_id, .. } => Some(run_id.clone()),
                    _ => None,
                },
                idempotency_key: None,
            };
            if let Err(e) = self.service.execute(command.clone(), meta).await {
                // The API may have changed the job between planning and now; the next pass
                // plans again from the new state.
                match &command {
                    // Each run that could not start is named (a full disk fails every one).
                    Command::RequestRun { run_id, .. } => {
                        log::error!(target: "scheduler", "run {run_id} could not start: {e}")
                    }
                    _ => log::warn!(target: "scheduler", "{command:?} not applied: {e}"),
                }
            }
        }
    }

    /// Queued runs start while places are free, one command each, recorded under the actor
    /// that queued the run (`admit`): a run requested through the API starts as its token.
    async fn admit_queued(&self, max_running: usize) {
        // Each admission starts or cancels the queue's head, so this many passes empty it.
        let queued = self.service.read(|s| s.schedule.queue.len());
        for _ in 0..queued {
            let Some(next) = self.service.read(|s| admit::next(s, max_running)) else {
                return;
            };
            let meta = Meta {
                actor: next.actor,
                correlation: Some(next.run_id.clone()),
                idempotency_key: None,
            };
            let command = Command::AdmitQueued {
                max_running: next.max_running,
            };
            match self.service.execute(command, meta).await {
                Ok(events) if !events.is_empty() => {}
                Ok(_) => return,
                Err(e) => {
                    log::warn!(target: "scheduler", "queued run {} not admitted: {e}", next.run_id);
                    return;
                }
            }
        }
    }

    /// Split due slot starts into those that start now and `DeferRun`s for those that wait for
    /// a quiet machine (`[scheduler] defer_while_load_above`), with when to look again: within
    /// `DEFER_RECHECK`, or when the earliest wait reaches `max_defer`.
    fn hold_while_busy(
        &self,
        starts: Vec<Command>,
        now: Ts,
    ) -> (Vec<Command>, Vec<Command>, Option<Ts>) {
        let Some(rule) = self.config.as_ref().and_then(|c| c.defer) else {
            return (starts, vec![], None);
        };
        let mut load = None;
        let (mut go, mut defers, mut wake) = (Vec::new(), Vec::new(), None::<Ts>);
        for command in starts {
            let Command::StartRun {
                job_id,
                slot: Some(slot),
                ..
            } = &command
            else {
                go.push(command);
                continue;
            };
            let since = self
                .service
                .read(|s| s.schedule.jobs.get(job_id)?.deferred_since());
            // read once per pass, and only when a slot is due
            let seen = *load.get_or_insert_with(|| load_per_core(&self.loadavg));
            match crate::decide::should_defer(now, seen, rule.threshold, rule.max_defer_secs, since)
            {
                crate::decide::Defer::Start => {
                    if since.is_some() {
                        log::info!(target: "scheduler", "job {job_id}: deferred run starts (load {seen:?})");
                    }
                    go.push(command)
                }
                crate::decide::Defer::Wait { until } => {
                    let recheck = Ts(now.get() + DEFER_RECHECK).min(until);
                    wake = Some(wake.map_or(recheck, |w| w.min(recheck)));
                    defers.push(Command::DeferRun {
                        job_id: job_id.clone(),
                        slot: *slot,
                        load: seen.unwrap_or_default(),
                        threshold: rule.threshold,
                    });
                }
            }
        }
        (go, defers, wake)
    }

    /// Cancel running runs past their time limit; returns the next deadline.
    async fn stop_overdue(&mut self, now: Ts) -> Option<Ts> {
        let config = self.config.clone()?;
        let progress = self.progress.clone();
        let (due, next) = self
            .service
            .read(|s| overdue(s, &config, now, |run_id| progress.stopping(run_id)));
        for o in due {
            let reason = o.reason();
            log::warn!(target: crate::logging::TASKS, "run {}: {reason}; cancelling it", o.run_id);
            let cause = StopCause::Cancelled {
                reason: reason.clone(),
                by: None,
            };
            if self.progress.stop(&o.run_id, cause) {
                // its executor records the outcome once it has unwound
                continue;
            }
            let command = Command::CancelRun {
                run_id: o.run_id.clone(),
                reason,
                by: None,
            };
            if let Err(e) = self
                .service
                .execute(command, Meta::actor("scheduler"))
                .await
            {
                log::warn!(target: "scheduler", "run {} not cancelled: {e}", o.run_id);
            }
        }
        next
    }

    fn start_executors(&mut self) {
        let in_flight: Vec<(String, JobSpec)> = self.service.read(|s| {
            s.schedule
                .runs_in_flight()
                .filter_map(|r| {
                    let job = s.schedule.jobs.get(&r.job_id)?;
                    let mut spec = job.spec.clone();
                    // A mode forced for this run (`run_started_v2`) applies to it alone.
                    if let (Some(mode), JobAction::Backup(cfg)) =
                        (r.mode_override, &mut spec.action)
                    {
                        cfg.mode = mode;
                    }
                    Some((r.run_id.clone(), spec))
                })
                .collect()
        });
        self.running.retain(|_, task| !task.is_finished());
        for (run_id, spec) in in_flight {
            if self.running.contains_key(&run_id) {
                continue;
            }
            log::info!(target: crate::logging::TASKS, "run {run_id} of job {} started", spec.id);
            let task = smol::spawn(execute(
                self.config.as_deref().and_then(priority::Priority::of),
                self.service.clone(),
                self.executor.clone(),
                self.progress.clone(),
                run_id.clone(),
                spec,
            ));
            self.running.insert(run_id, task);
        }
    }

    /// Wait up to `grace` for runs in flight; then stop the rest (their tools' process groups
    /// are killed: nothing is orphaned when the process exits), give them a few seconds to
    /// unwind and record themselves interrupted, and record what is still open as interrupted.
    async fn shutdown(mut self, grace: Duration) {
        let open = self.running.len();
        log::info!(target: "scheduler", "timer loop stopping; {open} runs in flight");
        let mut tasks: Vec<Task<()>> = self.running.drain().map(|(_, t)| t).collect();
        if !finish_within(&mut tasks, grace).await {
            let reason = format!("shutdown: still running after {} s", grace.as_secs());
            let stopped = self.progress.stop_all(StopCause::Shutdown {
                reason: reason.clone(),
            });
            log::warn!(target: "scheduler", "stopping {stopped} runs: {reason}");
            finish_within(&mut tasks, UNWIND).await;
            let open: Vec<String> = self.service.read(|s| {
                s.schedule
                    .runs_in_flight()
                    .map(|r| r.run_id.clone())
                    .collect()
            });
            for run_id in open {
                let command = Command::FinishRun {
                    run_id: run_id.clone(),
                    outcome: RunOutcome::Interrupted {
                        reason: reason.clone(),
                    },
                };
                if let Err(e) = self.service.execute(command, Meta::actor("system")).await {
                    log::warn!(target: "scheduler", "run {run_id} not marked interrupted: {e}");
                }
            }
        }
    }
}

/// How often a waiting run looks at the load again (the 1-minute average moves no faster).
const DEFER_RECHECK: time::Duration = time::Duration::seconds(30);

/// How long stopped runs get to unwind (remove their partial files, record their outcome).
const UNWIND: Duration = Duration::from_secs(5);

/// Await `tasks` (each popped once done) until all are done (`true`) or `limit` passed.
async fn finish_within(tasks: &mut Vec<Task<()>>, limit: Duration) -> bool {
    let all = async {
        while let Some(task) = tasks.last_mut() {
            task.await;
            tasks.pop();
        }
        true
    };
    all.or(async {
        smol::Timer::after(limit).await;
        false
    })
    .await
}

enum Wake {
    Timer,
    Log,
    Clock,
    Stop,
}

async fn execute(
    priority: Option<priority::Priority>,
    service: Service,
    executor: Arc<dyn RunExecutor>,
    progress: Progress,
    run_id: String,
    spec: JobSpec,
) {
    let handle = progress.begin(&run_id);
    // Cancelled (or timed out) between the plan and here: its outcome is already recorded.
    // Who started it is who its outcome names (`admit::outcome_actor`).
    let started_by = service.read(|s| {
        s.schedule
            .runs
            .get(&run_id)
            .filter(|r| r.status == RunStatus::Running)
            .map(|r| r.actor.clone())
    });
    let Some(started_by) = started_by else {
        return;
    };
    let cancel = handle.cancel().clone();
    let id = run_id.clone();
    let job = spec.clone();
    let started = std::time::Instant::now();
    let outcome = priority::run_blocking(priority, move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            executor.run(&spec, &id, &handle)
        }));
        result.unwrap_or_else(|panic| RunOutcome::Failed {
            error: format!(
                "the run panicked: {}",
                panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default()
            ),
            // A panic is a bug by definition.
            kind: crate::error::ErrorKind::Internal,
        })
    })
    .await;
    // A stopped run ends as the stop says, whatever error the stop made it fail with; one that
    // published its backup before it noticed succeeded, and is recorded so.
    let outcome = match (cancel.cause(), outcome) {
        (_, done @ RunOutcome::Succeeded { .. }) | (None, done) => done,
        (Some(StopCause::Cancelled { reason, by }), _) => RunOutcome::Cancelled { reason, by },
        (Some(StopCause::Shutdown { reason }), _) => RunOutcome::Interrupted { reason },
    };
    // One line per run in the tasks log, after a stop has had its say on the outcome.
    crate::logging::run_finished(&job, &run_id, &outcome, started.elapsed().as_millis());
    let meta = Meta {
        actor: admit::outcome_actor(&started_by, &outcome),
        correlation: Some(run_id.clone()),
        idempotency_key: None,
    };
    let command = Command::FinishRun {
        run_id: run_id.clone(),
        outcome,
    };
    // A log that cannot be written now (a full disk) may be writable soon: the outcome is kept
    // and tried again, so the run does not stay "running" once space is freed.
    let mut wait = std::time::Duration::from_millis(200);
    while let Err(e) = service.execute(command.clone(), meta.clone()).await {
        log::error!(target: crate::logging::TASKS, "outcome of run {run_id} not recorded: {e}");
        if e.kind() != crate::error::ErrorKind::Transient {
            return;
        }
        smol::Timer::after(wait).await;
        wait = (wait * 2).min(std::time::Duration::from_secs(5));
    }
}
