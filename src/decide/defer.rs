//! Backups when the system is quiet: a due slot waits while the machine is busy
//! (`[scheduler] defer_while_load_above`), and starts anyway `max_defer` after it began waiting.
//!
//! The shell reads the load and asks `should_defer`; a deferral is recorded once, when it
//! begins (`run_deferred`), so a busy hour re-checked every minute is one event, not sixty.

use crate::domain::Rejection;
use crate::events::{Event, Ts};
use crate::projections::State;
use time::Duration;

/// What a due slot does now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Defer {
    Start,
    /// Wait; look again at the latest at `until` (when `max_defer` runs out).
    Wait {
        until: Ts,
    },
}

/// `load`: the 1-minute load average per core, `None` when it cannot be read — then the run
/// starts (an unreadable load must not hold backups back). `since`: when this slot began
/// waiting, `None` if it has not yet.
pub fn should_defer(
    now: Ts,
    load: Option<f64>,
    threshold: f64,
    max_defer_secs: u64,
    since: Option<Ts>,
) -> Defer {
    let began = since.unwrap_or(now);
    let max = Duration::seconds(i64::try_from(max_defer_secs).unwrap_or(i64::MAX / 2));
    let until = Ts(began.get() + max);
    match load {
        Some(load) if load > threshold && now < until => Defer::Wait { until },
        _ => Defer::Start,
    }
}

/// Record that `job_id`'s due `slot` waits, unless the job already waits (for this slot or an
/// earlier one: one wait spans slots, see `Job::deferral`).
pub(super) fn defer_run(
    state: &State,
    job_id: &str,
    slot: Ts,
    load: f64,
    threshold: f64,
    now: Ts,
) -> Result<Vec<Event>, Rejection> {
    let Some(job) = state.schedule.jobs.get(job_id) else {
        return Ok(vec![]);
    };
    if job.deferred_since().is_some() || job.running.is_some() || job.queued.is_some() {
        return Ok(vec![]);
    }
    Ok(vec![Event::RunDeferred {
        job_id: job_id.to_string(),
        slot,
        load,
        threshold,
        since: now,
    }])
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::*;
    use crate::decide::{decide, Command};

    const HOUR: u64 = 3600;

    #[test]
    fn busy_waits_quiet_starts_and_max_defer_ends_the_wait() {
        assert_eq!(
            should_defer(t(10), Some(1.5), 0.8, HOUR, None),
            Defer::Wait { until: t(3610) }
        );
        assert_eq!(
            should_defer(t(600), Some(1.5), 0.8, HOUR, Some(t(10))),
            Defer::Wait { until: t(3610) }
        );
        assert_eq!(
            should_defer(t(600), Some(0.5), 0.8, HOUR, Some(t(10))),
            Defer::Start
        );
        assert_eq!(
            should_defer(t(3610), Some(9.0), 0.8, HOUR, Some(t(10))),
            Defer::Start
        );
        // at the threshold is not above it
        assert_eq!(
            should_defer(t(10), Some(0.8), 0.8, HOUR, None),
            Defer::Start
        );
        assert_eq!(should_defer(t(10), None, 0.8, HOUR, None), Defer::Start);
    }

    fn defer_cmd(slot: Ts, load: f64) -> Command {
        Command::DeferRun {
            job_id: "a".into(),
            slot,
            load,
            threshold: 0.8,
        }
    }

    #[test]
    fn a_deferral_is_recorded_once_per_slot() {
        let state = given(vec![Event::JobCreated { job: job("a") }]);
        let first = decide(&state, &defer_cmd(t(60), 1.2), t(61)).unwrap();
        assert_eq!(
            first,
            vec![Event::RunDeferred {
                job_id: "a".into(),
                slot: t(60),
                load: 1.2,
                threshold: 0.8,
                since: t(61),
            }]
        );
        let mut events = vec![Event::JobCreated { job: job("a") }];
        events.extend(first);
        let state = given(events.clone());
        assert_eq!(state.schedule.jobs["a"].deferred_since(), Some(t(61)));
        assert!(decide(&state, &defer_cmd(t(60), 2.0), t(90))
            .unwrap()
            .is_empty());
        // the next slot came due while it still waits: the same wait
        assert!(decide(&state, &defer_cmd(t(120), 2.0), t(121))
            .unwrap()
            .is_empty());
        // the slot started: no longer deferred; the next slot's deferral is a new one
        events.push(started("a@60", "a", Some(t(60))));
        let state = given(events.clone());
        assert_eq!(state.schedule.jobs["a"].deferred_since(), None);
        // not while that run goes
        assert!(decide(&state, &defer_cmd(t(120), 1.1), t(121))
            .unwrap()
            .is_empty());
        events.push(Event::RunInterrupted {
            run_id: "a@60".into(),
            reason: "test".into(),
        });
        let state = given(events);
        assert_eq!(
            decide(&state, &defer_cmd(t(120), 1.1), t(121))
                .unwrap()
                .len(),
            1
        );
    }
}
