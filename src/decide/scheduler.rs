//! The scheduler's rules: what a boot records, and starting/stopping the scheduler.

use super::if_changes;
use crate::domain::Rejection;
use crate::events::{Event, JobSpec, RetentionPolicy};
use crate::projections::State;

/// Record the boot, settle runs left without an outcome, install each preset once, record a changed
/// retention policy, and start the scheduler if configured to.
pub(super) fn boot(
    state: &State,
    version: &str,
    pid: u32,
    presets: &[JobSpec],
    retention: RetentionPolicy,
    autostart: bool,
) -> Result<Vec<Event>, Rejection> {
    let sched = &state.schedule;
    let mut events = vec![Event::ServiceBooted {
        version: version.to_string(),
        pid,
    }];
    // A queued run waited in a process that is gone: it is settled like a running one.
    // A restore run has no job; it is settled the same way.
    for run in sched
        .runs_in_flight()
        .chain(sched.runs_queued())
        .chain(sched.restores_open())
    {
        events.push(Event::RunInterrupted {
            run_id: run.run_id.clone(),
            reason: "the service stopped before the run had an outcome".into(),
        });
    }
    // Presets never installed: all of them on the first boot, later the ones a newer version
    // added (unless a job of that id exists).
    let new: Vec<JobSpec> = presets
        .iter()
        .filter(|p| !sched.presets_installed.contains(&p.id) && !sched.jobs.contains_key(&p.id))
        .cloned()
        .collect();
    if !new.is_empty() {
        events.push(Event::PresetsInstalled { jobs: new });
    }
    if state.retention() != retention {
        events.push(Event::RetentionPolicySet { policy: retention });
    }
    if autostart && !sched.scheduler_running {
        events.push(Event::SchedulerStarted);
    }
    Ok(events)
}

pub(super) fn start(state: &State) -> Result<Vec<Event>, Rejection> {
    Ok(if_changes(!state.schedule.scheduler_running, || {
        Event::SchedulerStarted
    }))
}

pub(super) fn stop(state: &State, reason: &str) -> Result<Vec<Event>, Rejection> {
    Ok(if_changes(state.schedule.scheduler_running, || {
        Event::SchedulerStopped {
            reason: reason.to_string(),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use crate::decide::{decide, Command};
    use crate::domain::presets::presets;
    use crate::events::{Envelope, Event, RetentionPolicy};
    use crate::projections::DEFAULT_POLICY;

    fn boot(retention: RetentionPolicy) -> Command {
        Command::Boot {
            version: "test".into(),
            pid: 1,
            presets: presets(),
            retention,
            autostart: true,
        }
    }

    #[test]
    fn first_boot_installs_presets_and_starts_the_scheduler() {
        let events = decide(&given(vec![]), &boot(DEFAULT_POLICY), t(0)).unwrap();
        let names: Vec<_> = events.iter().map(Event::name).collect();
        assert_eq!(
            names,
            ["service_booted", "presets_installed", "scheduler_started"]
        );
    }

    #[test]
    fn later_boots_do_not_reinstall_presets_and_interrupt_open_runs() {
        let state = given(vec![
            Event::PresetsInstalled { jobs: presets() },
            Event::JobDeleted {
                job_id: "weekly_archive".into(),
            },
            started("r1", "health_check", Some(t(0))),
            Event::SchedulerStopped {
                reason: "api".into(),
            },
        ]);
        let mut policy = DEFAULT_POLICY;
        policy.incremental_secs = Some(2);
        let events = decide(&state, &boot(policy), t(10)).unwrap();
        assert_eq!(
            events,
            vec![
                Event::ServiceBooted {
                    version: "test".into(),
                    pid: 1
                },
                Event::RunInterrupted {
                    run_id: "r1".into(),
                    reason: "the service stopped before the run had an outcome".into()
                },
                Event::RetentionPolicySet { policy },
                Event::SchedulerStarted,
            ]
        );
        // the deleted preset stays deleted
        let mut after = state.clone();
        for (i, e) in events.into_iter().enumerate() {
            after.apply(&Envelope {
                position: 10 + i as u64,
                recorded_at: t(10),
                actor: "system".into(),
                correlation: None,
                payload: e,
            });
        }
        assert!(!after.schedule.jobs.contains_key("weekly_archive"));
        assert!(after.schedule.jobs["health_check"].running.is_none());
    }

    #[test]
    fn a_boot_installs_only_the_presets_a_newer_version_added() {
        // Installed by a version with the seed's six; the operator made a job named like the
        // second new one, which is left alone.
        let mut old = presets();
        let verify = old.remove(old.iter().position(|p| p.id == "weekly_verify").unwrap());
        let mut mine = verify.clone();
        mine.id = "daily_digest".into();
        let mut new_presets = presets();
        let mut taken = mine.clone();
        taken.name = "a preset of a later version".into();
        new_presets.push(taken);
        let state = given(vec![
            Event::PresetsInstalled { jobs: old },
            Event::JobCreated { job: mine },
        ]);
        let cmd = Command::Boot {
            version: "test".into(),
            pid: 1,
            presets: new_presets,
            retention: DEFAULT_POLICY,
            autostart: false,
        };
        let events = decide(&state, &cmd, t(10)).unwrap();
        assert_eq!(
            events,
            vec![
                Event::ServiceBooted {
                    version: "test".into(),
                    pid: 1
                },
                Event::PresetsInstalled { jobs: vec![verify] },
            ]
        );
    }
}
