//! The job rules: create, update, delete, pause, resume.

use super::{existing, if_changes};
use crate::domain::{job, Rejection};
use crate::events::{Event, JobSpec};
use crate::projections::State;

pub(super) fn create(state: &State, spec: &JobSpec) -> Result<Vec<Event>, Rejection> {
    job::validate(spec)?;
    if state.schedule.jobs.contains_key(&spec.id) {
        return Err(Rejection::conflict(
            "id",
            format!("a job with id {:?} already exists", spec.id),
        ));
    }
    Ok(vec![Event::JobCreated { job: spec.clone() }])
}

/// An update that changes nothing records nothing.
pub(super) fn update(state: &State, spec: &JobSpec) -> Result<Vec<Event>, Rejection> {
    job::validate(spec)?;
    let current = existing(state, &spec.id)?;
    if current.spec == *spec {
        return Ok(vec![]);
    }
    Ok(vec![Event::JobUpdated { job: spec.clone() }])
}

pub(super) fn delete(state: &State, job_id: &str) -> Result<Vec<Event>, Rejection> {
    let job = existing(state, job_id)?;
    // A run keeps its job until it has an outcome, so boot can always settle it.
    if let Some(running) = &job.running {
        return Err(Rejection::conflict(
            "job_id",
            format!("job {job_id:?} is running (run {running}); delete it when the run ends"),
        ));
    }
    Ok(vec![Event::JobDeleted {
        job_id: job_id.to_string(),
    }])
}

pub(super) fn pause(state: &State, job_id: &str) -> Result<Vec<Event>, Rejection> {
    let job = existing(state, job_id)?;
    Ok(if_changes(!job.paused, || Event::JobPaused {
        job_id: job_id.to_string(),
    }))
}

pub(super) fn resume(state: &State, job_id: &str) -> Result<Vec<Event>, Rejection> {
    let job = existing(state, job_id)?;
    Ok(if_changes(job.paused, || Event::JobResumed {
        job_id: job_id.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use crate::decide::{decide, Command};
    use crate::domain::job::RejectionCode;
    use crate::events::Event;

    #[test]
    fn job_lifecycle_rules() {
        let empty = given(vec![]);
        assert_eq!(
            decide(&empty, &Command::CreateJob(job("a")), t(0)).unwrap(),
            vec![Event::JobCreated { job: job("a") }]
        );
        let with_a = given(vec![Event::JobCreated { job: job("a") }]);
        assert_eq!(
            code(decide(&with_a, &Command::CreateJob(job("a")), t(0))),
            RejectionCode::Conflict
        );
        let missing = Command::PauseJob {
            job_id: "nope".into(),
        };
        assert_eq!(
            code(decide(&with_a, &missing, t(0))),
            RejectionCode::NotFound
        );
        let mut bad = job("b");
        bad.name = "a/b".into();
        let r = decide(&with_a, &Command::CreateJob(bad), t(0)).unwrap_err();
        assert_eq!(
            (r.code, r.field.as_deref()),
            (RejectionCode::Validation, Some("name"))
        );
        // pausing twice records once; resume of a running job is a no-op
        let paused = given(vec![
            Event::JobCreated { job: job("a") },
            Event::JobPaused { job_id: "a".into() },
        ]);
        let pause = Command::PauseJob { job_id: "a".into() };
        assert_eq!(decide(&paused, &pause, t(0)).unwrap(), vec![]);
        let resume = Command::ResumeJob { job_id: "a".into() };
        assert_eq!(decide(&with_a, &resume, t(0)).unwrap(), vec![]);
        // an update that changes nothing records nothing; a real one records the new spec
        assert_eq!(
            decide(&with_a, &Command::UpdateJob(job("a")), t(0)).unwrap(),
            vec![]
        );
        let mut renamed = job("a");
        renamed.name = "renamed".into();
        assert_eq!(
            decide(&with_a, &Command::UpdateJob(renamed.clone()), t(0)).unwrap(),
            vec![Event::JobUpdated { job: renamed }]
        );
    }

    #[test]
    fn a_running_job_is_not_deleted() {
        let running = given(vec![
            Event::JobCreated { job: job("a") },
            started("r1", "a", Some(t(60))),
        ]);
        let delete = Command::DeleteJob { job_id: "a".into() };
        assert_eq!(
            code(decide(&running, &delete, t(61))),
            RejectionCode::Conflict
        );
    }
}
