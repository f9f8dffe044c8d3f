//! Pure planning for the timer loop: given the state and now, which slots run, which are missed
//! or skipped, and when to wake next. No clock reads, no I/O.

use crate::decide::Command;
use crate::domain::trigger::{jitter, next_fire, slots_between};
use crate::events::{JobSpec, RunReason, Ts};
use crate::projections::{Job, State};
use chrono_tz::Tz;
use time::Duration;

/// A slot run within this long of its time counts as on time (`scheduled`), later as `catch_up`.
pub const ON_TIME: Duration = Duration::seconds(60);
/// At most this many missed slots are listed per job and wake-up; the rest are counted in the log
/// line only (years of a minutely job must not build a giant event).
pub const MAX_LISTED_MISSED: usize = 10_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub commands: Vec<Command>,
    /// The earliest instant something becomes due; `None` = nothing is scheduled.
    pub wake_at: Option<Ts>,
}

/// The zone a job's cron fields are read in.
pub fn job_zone(spec: &JobSpec, default: Tz) -> Tz {
    spec.timezone
        .as_deref()
        .and_then(|z| z.parse().ok())
        .unwrap_or(default)
}

/// Slots up to here are settled: run, skipped, missed, or before the job (re)started counting.
/// Creating, updating and resuming a job start its count afresh (resume: no catch-up).
fn baseline(job: &Job) -> Ts {
    match job.last_slot {
        Some(slot) if slot > job.updated_at => slot,
        _ => job.updated_at,
    }
}

/// When the job fires next (jitter included), as the API shows it: `None` when paused.
pub fn next_run_time(job: &Job, default_zone: Tz, now: Ts) -> Option<Ts> {
    if job.paused {
        return None;
    }
    let zone = job_zone(&job.spec, default_zone);
    let from = baseline(job).max(now);
    let slot = next_fire(&job.spec.trigger, zone, job.created_at, from)?;
    Some(with_jitter(&job.spec, slot))
}

fn with_jitter(spec: &JobSpec, slot: Ts) -> Ts {
    Ts(slot.get() + jitter(&spec.id, slot, spec.jitter_secs))
}

/// The run id of a scheduled slot: the (job, slot) key itself, so it can never run twice.
pub fn slot_run_id(job_id: &str, slot: Ts) -> String {
    format!("{job_id}@{}", slot.rfc3339())
}

pub fn plan(state: &State, default_zone: Tz, now: Ts) -> Plan {
    let mut plan = Plan {
        commands: Vec::new(),
        wake_at: None,
    };
    if !state.schedule.scheduler_running {
        return plan;
    }
    for job in state.schedule.jobs.values().filter(|j| !j.paused) {
        let spec = &job.spec;
        let zone = job_zone(spec, default_zone);
        let from = baseline(job);
        let due = slots_between(
            &spec.trigger,
            zone,
            job.created_at,
            from,
            now,
            MAX_LISTED_MISSED,
        );
        let Some(&newest) = due.newest.last() else {
            plan.wake(next_run_time(job, default_zone, now));
            continue;
        };
        let fires_at = with_jitter(spec, newest);
        if due.total == 1 && fires_at > now {
            // on time, but its jitter has not elapsed yet
            plan.wake(Some(fires_at));
            continue;
        }
        let older: Vec<Ts> = due.newest[..due.newest.len() - 1].to_vec();
        if due.total > due.newest.len() as u64 {
            log::warn!(
                "job {}: {} missed slots are not listed individually",
                spec.id,
                due.total - due.newest.len() as u64
            );
        }
        let late = now.get() - newest.get();
        let within_grace = spec
            .misfire_grace_secs
            .is_none_or(|g| late <= Duration::seconds(i64::try_from(g).unwrap_or(i64::MAX)));
        if job.running.is_some() {
            if !older.is_empty() {
                plan.commands.push(Command::RecordMissed {
                    job_id: spec.id.clone(),
                    slots: older,
                });
            }
            plan.commands.push(Command::SkipSlot {
                job_id: spec.id.clone(),
                slot: newest,
            });
        } else if within_grace {
            if !older.is_empty() {
                plan.commands.push(Command::RecordMissed {
                    job_id: spec.id.clone(),
                    slots: older,
                });
            }
            plan.commands.push(Command::StartRun {
                run_id: slot_run_id(&spec.id, newest),
                job_id: spec.id.clone(),
                slot: Some(newest),
                reason: if due.total == 1 && late <= ON_TIME {
                    RunReason::Scheduled
                } else {
                    RunReason::CatchUp
                },
            });
        } else {
            plan.commands.push(Command::RecordMissed {
                job_id: spec.id.clone(),
                slots: due.newest.clone(),
            });
        }
        // after these settle, the next slot is the one after `newest`
        let next = next_fire(&spec.trigger, zone, job.created_at, newest.max(now))
            .map(|s| with_jitter(spec, s));
        plan.wake(next);
    }
    plan
}

impl Plan {
    fn wake(&mut self, at: Option<Ts>) {
        if let Some(at) = at {
            self.wake_at = Some(self.wake_at.map_or(at, |w| w.min(at)));
        }
    }
}
