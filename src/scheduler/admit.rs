//! Who a run's events name. The actor lives in the envelope (`Meta`), one per command, so a run
//! requested through the API keeps its requester (`api:<token name>`) only if every command of
//! its lifecycle is executed under that actor: its start out of the queue (one `AdmitQueued` per
//! run, under the actor that queued it) and its outcome (under the actor that started it, unless
//! a cancellation names someone else). Scheduled runs stay `scheduler`.

use crate::decide::RunOutcome;
use crate::projections::State;

/// The next `AdmitQueued` to execute: its limit and the actor its events are recorded under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// The `max_running` of the command: one place more than run now, so it starts one run.
    pub max_running: usize,
    pub actor: String,
    /// The queued run it concerns (the command's correlation).
    pub run_id: String,
}

/// The admission of the first queued run, or `None` when nothing is queued or no place is
/// free. A head whose job was deleted (or recreated) meanwhile is cancelled, by the scheduler,
/// with a limit that starts nothing: `admit` cancels it and stops at the next live run, which the
/// next admission starts under its own requester.
pub fn next(state: &State, max_running: usize) -> Option<Admission> {
    let schedule = &state.schedule;
    let head = schedule.runs_queued().next()?;
    let running = schedule.runs_in_flight().count();
    let live = schedule
        .jobs
        .get(&head.job_id)
        .is_some_and(|j| j.queued.as_deref() == Some(head.run_id.as_str()));
    let (max_running, actor) = if !live {
        (running, "scheduler".to_string())
    } else if running < max_running {
        (running + 1, head.actor.clone())
    } else {
        return None;
    };
    Some(Admission {
        max_running,
        actor,
        run_id: head.run_id.clone(),
    })
}

/// The actor of a run's outcome: whoever cancelled it (`by`); the scheduler for a timeout (a
/// cancellation that names nobody); otherwise whoever started the run (`started_by`, the start
/// event's actor: the token of an API request, `scheduler` for a slot).
pub fn outcome_actor(started_by: &str, outcome: &RunOutcome) -> String {
    match outcome {
        RunOutcome::Cancelled { by: Some(by), .. } => by.clone(),
        RunOutcome::Cancelled { by: None, .. } => "scheduler".into(),
        _ => started_by.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::events::{Envelope, Event, JobAction, JobSpec, RunReason, Trigger, Ts};

    fn job(id: &str) -> Event {
        Event::JobCreated {
            job: JobSpec {
                id: id.into(),
                name: id.into(),
                trigger: Trigger::Interval {
                    seconds: 3600,
                    start_at: None,
                },
                action: JobAction::HealthCheck,
                misfire_grace_secs: None,
                timezone: None,
                jitter_secs: 0,
            },
        }
    }

    fn queued(run: &str, job: &str) -> Event {
        Event::RunQueued {
            run_id: run.into(),
            job_id: job.into(),
            slot: None,
            reason: RunReason::Manual,
            mode_override: None,
        }
    }

    fn started(run: &str, job: &str) -> Event {
        Event::RunStarted {
            run_id: run.into(),
            job_id: job.into(),
            slot: None,
            reason: RunReason::Manual,
        }
    }

    /// The state after `events`, each recorded by its actor.
    fn given(events: Vec<(&str, Event)>) -> State {
        let envs: Vec<Envelope> = events
            .into_iter()
            .enumerate()
            .map(|(i, (actor, payload))| Envelope {
                position: i as u64 + 1,
                recorded_at: Ts::from_unix_nanos(1_790_000_000_000_000_000),
                actor: actor.into(),
                correlation: None,
                payload,
            })
            .collect();
        State::replay(&envs)
    }

    fn admission(max_running: usize, actor: &str, run_id: &str) -> Option<Admission> {
        Some(Admission {
            max_running,
            actor: actor.into(),
            run_id: run_id.into(),
        })
    }

    #[test]
    fn each_queued_run_starts_under_the_actor_that_queued_it() {
        let busy = given(vec![
            ("t", job("a")),
            ("t", job("b")),
            ("t", job("c")),
            ("scheduler", started("ra", "a")),
            ("api:ci", queued("rb", "b")),
            ("scheduler", queued("rc", "c")),
        ]);
        // one place, taken: nothing to admit; two places: `rb` starts as its requester
        assert_eq!(next(&busy, 1), None);
        assert_eq!(next(&busy, 2), admission(2, "api:ci", "rb"));
        assert_eq!(next(&busy, 5), admission(2, "api:ci", "rb"));
        let mut events = vec![
            ("t", job("a")),
            ("t", job("b")),
            ("t", job("c")),
            ("scheduler", started("ra", "a")),
            ("api:ci", queued("rb", "b")),
            ("scheduler", queued("rc", "c")),
            ("api:ci", started("rb", "b")),
        ];
        assert_eq!(
            next(&given(events.clone()), 3),
            admission(3, "scheduler", "rc")
        );
        // nothing queued: nothing to do
        events.push(("scheduler", started("rc", "c")));
        assert_eq!(next(&given(events), 9), None);
        assert_eq!(next(&given(vec![("t", job("a"))]), 1), None);
    }

    #[test]
    fn a_queued_run_of_a_deleted_job_is_the_schedulers_to_cancel_without_a_place() {
        let state = given(vec![
            ("t", job("a")),
            ("t", job("b")),
            ("scheduler", started("ra", "a")),
            ("api:ci", queued("rb", "b")),
            ("api:ops", Event::JobDeleted { job_id: "b".into() }),
        ]);
        // even with no place free: the cancellation takes none
        assert_eq!(next(&state, 1), admission(1, "scheduler", "rb"));
        assert_eq!(next(&state, 4), admission(1, "scheduler", "rb"));
    }

    #[test]
    fn an_outcome_names_who_stopped_the_run_or_who_started_it() {
        let failed = RunOutcome::Failed {
            error: "x".into(),
            kind: ErrorKind::Transient,
        };
        assert_eq!(outcome_actor("api:ci", &failed), "api:ci");
        assert_eq!(outcome_actor("scheduler", &failed), "scheduler");
        let interrupted = RunOutcome::Interrupted { reason: "x".into() };
        assert_eq!(outcome_actor("api:ci", &interrupted), "api:ci");
        let cancelled = |by: Option<&str>| RunOutcome::Cancelled {
            reason: "x".into(),
            by: by.map(Into::into),
        };
        assert_eq!(
            outcome_actor("api:ci", &cancelled(Some("api:ops"))),
            "api:ops"
        );
        assert_eq!(outcome_actor("api:ci", &cancelled(None)), "scheduler");
    }
}
