//! The timer loop on smol: sleep until the earliest next fire or until the log changes (no
//! polling), fire due slots through commands, and run started runs through the executor.
//!
//! WHEN a run starts is decided here (pure `plan`); WHAT a run does is the executor's business.
//! A run is started by its `run_started` event, whoever appended it (the loop or the API), and
//! reports back only through a `FinishRun` command.

mod plan;

pub use plan::{job_zone, next_run_time, plan, slot_run_id, Plan, ON_TIME};

use crate::decide::{Command, RunOutcome};
use crate::events::{JobSpec, Ts};
use crate::progress::{Progress, ProgressHandle};
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
        }
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

    /// One pass: settle due slots, start executors for runs that have none. Returns when to wake.
    pub async fn tick(&mut self) -> Option<Ts> {
        let now = Ts::from(self.service.clock().now());
        let plan = self.service.read(|s| plan(s, self.zone, now));
        for command in plan.commands {
            let meta = Meta {
                actor: "scheduler".into(),
                correlation: match &command {
                    Command::StartRun { run_id, .. } => Some(run_id.clone()),
                    _ => None,
                },
                idempotency_key: None,
            };
            if let Err(e) = self.service.execute(command.clone(), meta).await {
                // The API may have changed the job between planning and now; the next pass
                // plans again from the new state.
                match &command {
                    // Each run that could not start is named (a full disk fails every one).
                    Command::StartRun { run_id, .. } => {
                        log::error!(target: "scheduler", "run {run_id} could not start: {e}")
                    }
                    _ => log::warn!(target: "scheduler", "{command:?} not applied: {e}"),
                }
            }
        }
        self.start_executors();
        plan.wake_at
    }

    fn start_executors(&mut self) {
        let in_flight: Vec<(String, JobSpec)> = self.service.read(|s| {
            s.schedule
                .runs_in_flight()
                .filter_map(|r| {
                    let job = s.schedule.jobs.get(&r.job_id)?;
                    Some((r.run_id.clone(), job.spec.clone()))
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
                self.service.clone(),
                self.executor.clone(),
                self.progress.clone(),
                run_id.clone(),
                spec,
            ));
            self.running.insert(run_id, task);
        }
    }

    async fn shutdown(mut self, grace: Duration) {
        let open = self.running.len();
        log::info!(target: "scheduler", "timer loop stopping; {open} runs in flight");
        let deadline = smol::Timer::after(grace);
        let all = async {
            for (_, task) in self.running.drain() {
                task.await;
            }
            true
        };
        let finished = all
            .or(async {
                deadline.await;
                false
            })
            .await;
        if !finished {
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
                        reason: format!("shutdown: still running after {} s", grace.as_secs()),
                    },
                };
                if let Err(e) = self.service.execute(command, Meta::actor("system")).await {
                    log::warn!(target: "scheduler", "run {run_id} not marked interrupted: {e}");
                }
            }
        }
    }
}

enum Wake {
    Timer,
    Log,
    Clock,
    Stop,
}

async fn execute(
    service: Service,
    executor: Arc<dyn RunExecutor>,
    progress: Progress,
    run_id: String,
    spec: JobSpec,
) {
    let handle = progress.begin(&run_id);
    let id = run_id.clone();
    let outcome = smol::unblock(move || {
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
    let summary = match &outcome {
        RunOutcome::Succeeded { .. } => "succeeded".to_string(),
        RunOutcome::Failed { error, kind } => format!("failed ({kind}): {error}"),
        RunOutcome::Interrupted { reason } => format!("interrupted: {reason}"),
    };
    log::info!(target: crate::logging::TASKS, "run {run_id} {summary}");
    let meta = Meta {
        actor: "scheduler".into(),
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
