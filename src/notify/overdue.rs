//! The dead-man's switch: a job that has not succeeded within its `alert_after`. The scheduler
//! itself may be what broke, so this is judged from the clock and the last success, not from a
//! run's outcome. Pure: the state, the limits and `now` are arguments.

use super::watch::Notice;
use super::Kind;
use crate::events::Ts;
use crate::projections::State;
use std::collections::BTreeMap;

/// Remembers, per job, the success (or creation) an alert was already sent for, so a job is
/// alerted once per silence, not at every tick.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeadMan {
    alerted: BTreeMap<String, Ts>,
}

impl DeadMan {
    /// The jobs overdue at `now` that were not alerted yet for this silence. `limit` gives a
    /// job's `alert_after` in seconds (`None` = not watched). Paused jobs are not watched.
    pub fn check(
        &mut self,
        state: &State,
        limit: impl Fn(&str) -> Option<u64>,
        now: Ts,
    ) -> Vec<Notice> {
        let mut out = vec![];
        for (id, job) in &state.schedule.jobs {
            let Some(secs) = limit(id) else { continue };
            if job.paused {
                continue;
            }
            let last_success = state.stats.per_job.get(id).and_then(|s| s.last_success_at);
            let since = last_success.unwrap_or(job.created_at);
            if now.get() - since.get() < time::Duration::seconds(secs as i64) {
                continue;
            }
            if self.alerted.get(id) == Some(&since) {
                continue;
            }
            self.alerted.insert(id.clone(), since);
            let name = &job.spec.name;
            let what = match last_success {
                Some(at) => format!("last succeeded at {}", at.rfc3339()),
                None => format!(
                    "has never succeeded since it was created at {}",
                    since.rfc3339()
                ),
            };
            out.push(Notice {
                kind: Kind::Overdue,
                at: now,
                job_id: Some(id.clone()),
                run_id: job.last_run_id.clone(),
                subject: format!("backupd: {name} has not succeeded for {}", human(secs)),
                lines: vec![
                    format!(
                        "Job {name} ({id}) {what}: longer ago than its alert_after ({}).",
                        human(secs)
                    ),
                    format!("When: {}", now.rfc3339()),
                    "The scheduler may be stopped, or the job's runs failing or hanging."
                        .to_string(),
                ],
                report: None,
            });
        }
        out
    }
}

fn human(secs: u64) -> String {
    if secs.is_multiple_of(86_400) {
        format!("{}d", secs / 86_400)
    } else if secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else if secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Envelope, Event, JobAction, JobSpec, RunReason, Trigger};

    fn t(secs: i64) -> Ts {
        Ts::from_unix_nanos(1_790_000_000_000_000_000 + secs * 1_000_000_000)
    }

    fn state(events: Vec<(i64, Event)>) -> State {
        let envs: Vec<Envelope> = events
            .into_iter()
            .enumerate()
            .map(|(i, (at, payload))| Envelope {
                position: i as u64 + 1,
                recorded_at: t(at),
                actor: "test".into(),
                correlation: None,
                payload,
            })
            .collect();
        State::replay(&envs)
    }

    fn created(id: &str) -> Event {
        Event::JobCreated {
            job: JobSpec {
                id: id.into(),
                name: format!("{id} files"),
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

    #[test]
    fn a_job_silent_past_alert_after_is_alerted_once_per_silence() {
        // given job a created at 0 and succeeding at 100, job b never succeeding
        let mut events = vec![(0, created("a")), (0, created("b"))];
        events.push((
            90,
            Event::RunStarted {
                run_id: "r1".into(),
                job_id: "a".into(),
                slot: None,
                reason: RunReason::Manual,
            },
        ));
        events.push((
            100,
            Event::RunSucceeded {
                run_id: "r1".into(),
                backup_id: None,
                bytes: 0,
                files: 0,
                duration_ms: 1,
                note: None,
            },
        ));
        let s = state(events.clone());
        let mut dm = DeadMan::default();
        let limit = |job: &str| if job == "a" { Some(3600) } else { Some(7200) };
        // when the clock is before both limits: nothing
        assert!(dm.check(&s, limit, t(3699)).is_empty());
        // then a is overdue at 3700 (an hour after its success), b not yet
        let first = dm.check(&s, limit, t(3700));
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].job_id.as_deref(), Some("a"));
        assert_eq!(
            first[0].subject,
            "backupd: a files has not succeeded for 1h"
        );
        // and not again for the same silence
        assert!(dm.check(&s, limit, t(3800)).is_empty());
        // b, never successful, counts from its creation
        let b = dm.check(&s, limit, t(7200));
        assert_eq!(b.len(), 1);
        assert!(
            b[0].lines[0].contains("never succeeded"),
            "{:?}",
            b[0].lines
        );
        // a new success starts a new silence
        events.push((
            8000,
            Event::RunStarted {
                run_id: "r2".into(),
                job_id: "a".into(),
                slot: None,
                reason: RunReason::Manual,
            },
        ));
        events.push((
            8001,
            Event::RunSucceeded {
                run_id: "r2".into(),
                backup_id: None,
                bytes: 0,
                files: 0,
                duration_ms: 1,
                note: None,
            },
        ));
        let s = state(events);
        assert!(dm.check(&s, limit, t(8002)).is_empty());
        assert_eq!(dm.check(&s, limit, t(8001 + 3600)).len(), 1);
        // unwatched jobs are never alerted
        assert!(DeadMan::default()
            .check(&s, |_| None, t(1_000_000))
            .is_empty());
    }
}
