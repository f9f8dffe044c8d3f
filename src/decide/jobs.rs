//! The job rules: create, update, delete, pause, resume.

use super::{existing, if_changes};
use crate::domain::patch::JobPatch;
use crate::domain::selection::{check_selection, SourceCatalog};
use crate::domain::{job, Rejection};
use crate::events::{Event, JobSpec};
use crate::projections::{Job, State};

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

/// The patch applied to the job as it is now, then validated whole. An update that changes
/// nothing records nothing.
pub(super) fn update(
    state: &State,
    job_id: &str,
    patch: &JobPatch,
    if_version: Option<u64>,
    sources: Option<&SourceCatalog>,
) -> Result<Vec<Event>, Rejection> {
    let current = existing(state, job_id)?;
    still_at(current, if_version)?;
    let spec = patch.apply(&current.spec)?;
    job::validate(&spec)?;
    if let (Some(catalog), Some(_)) = (sources, &patch.backup) {
        if let Some(cfg) = spec.action.backup_config() {
            check_selection(&cfg, catalog)?;
        }
    }
    if current.spec == spec {
        return Ok(vec![]);
    }
    Ok(vec![Event::JobUpdated { job: spec }])
}

/// `If-Match`: the client's version must be the job's current one, or the change it computed
/// from what it read may undo another's.
fn still_at(job: &Job, if_version: Option<u64>) -> Result<(), Rejection> {
    match if_version {
        Some(v) if v != job.version => Err(Rejection::stale(
            "If-Match",
            format!(
                "job {:?} is at version {}, not {v}: read it again and retry",
                job.spec.id, job.version
            ),
        )),
        _ => Ok(()),
    }
}

pub(super) fn delete(
    state: &State,
    job_id: &str,
    if_version: Option<u64>,
) -> Result<Vec<Event>, Rejection> {
    let job = existing(state, job_id)?;
    still_at(job, if_version)?;
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
    use crate::domain::patch::JobPatch;
    use crate::events::{Event, JobSpec};

    fn update(spec: &JobSpec, if_version: Option<u64>) -> Command {
        Command::UpdateJob {
            job_id: spec.id.clone(),
            patch: JobPatch::whole(spec),
            if_version,
            sources: None,
        }
    }

    fn only_name(name: &str, if_version: Option<u64>) -> Command {
        Command::UpdateJob {
            job_id: "a".into(),
            patch: JobPatch {
                name: Some(name.into()),
                ..JobPatch::default()
            },
            if_version,
            sources: None,
        }
    }

    #[test]
    fn updates_merge_into_the_current_job_and_if_match_guards_them() {
        // Two patches decided one after the other each keep the other's change.
        let mut moved = job("a");
        moved.jitter_secs = 7;
        let state = given(vec![
            Event::JobCreated { job: job("a") },
            Event::JobUpdated { job: moved },
        ]);
        let events = decide(&state, &only_name("renamed", None), t(0)).unwrap();
        let Event::JobUpdated { job: got } = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!((got.name.as_str(), got.jitter_secs), ("renamed", 7));
        // version = changes applied: created, updated
        assert_eq!(state.schedule.jobs["a"].version, 2);
        assert!(decide(&state, &only_name("x", Some(2)), t(0)).is_ok());
        let stale = decide(&state, &only_name("x", Some(1)), t(0)).unwrap_err();
        assert_eq!(
            (stale.code, stale.field.as_deref()),
            (RejectionCode::PreconditionFailed, Some("If-Match"))
        );
        let delete = |v| Command::DeleteJob {
            job_id: "a".into(),
            if_version: Some(v),
        };
        assert_eq!(
            code(decide(&state, &delete(1), t(0))),
            RejectionCode::PreconditionFailed
        );
        assert!(decide(&state, &delete(2), t(0)).is_ok());
    }

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
            decide(&with_a, &update(&job("a"), None), t(0)).unwrap(),
            vec![]
        );
        let mut renamed = job("a");
        renamed.name = "renamed".into();
        assert_eq!(
            decide(&with_a, &update(&renamed, None), t(0)).unwrap(),
            vec![Event::JobUpdated { job: renamed }]
        );
    }

    #[test]
    fn a_running_job_is_not_deleted() {
        let running = given(vec![
            Event::JobCreated { job: job("a") },
            started("r1", "a", Some(t(60))),
        ]);
        let delete = Command::DeleteJob {
            job_id: "a".into(),
            if_version: None,
        };
        assert_eq!(
            code(decide(&running, &delete, t(61))),
            RejectionCode::Conflict
        );
    }
}
