//! Test fixtures shared by the decision tests: a clock, a state built from events, and small
//! jobs, runs and backup records.

use crate::domain::job::RejectionCode;
use crate::domain::Rejection;
use crate::events::{
    BackupKind, BackupRecord, Envelope, Event, JobAction, JobSpec, RunReason, Trigger, Ts,
};
use crate::projections::State;

/// `secs` seconds after a fixed instant.
pub fn t(secs: i64) -> Ts {
    Ts::from_unix_nanos(1_790_000_000_000_000_000 + secs * 1_000_000_000)
}

/// The state after `events`, the i-th recorded at `t(i)` (so the first at `t(0)`).
pub fn given(events: Vec<Event>) -> State {
    let envs: Vec<Envelope> = events
        .into_iter()
        .enumerate()
        .map(|(i, payload)| Envelope {
            position: i as u64 + 1,
            recorded_at: t(i as i64),
            actor: "test".into(),
            correlation: None,
            payload,
        })
        .collect();
    State::replay(&envs)
}

pub fn job(id: &str) -> JobSpec {
    JobSpec {
        id: id.into(),
        name: format!("job {id}"),
        trigger: Trigger::Interval {
            seconds: 60,
            start_at: None,
        },
        action: JobAction::HealthCheck,
        misfire_grace_secs: Some(3600),
        timezone: None,
        jitter_secs: 0,
    }
}

pub fn started(run: &str, job: &str, slot: Option<Ts>) -> Event {
    Event::RunStarted {
        run_id: run.into(),
        job_id: job.into(),
        slot,
        reason: RunReason::Scheduled,
    }
}

/// A backup of job `a`, 10 bytes, created at `t(0)`.
pub fn record(id: &str, kind: BackupKind, parent: Option<&str>) -> BackupRecord {
    BackupRecord {
        id: id.into(),
        job_id: "a".into(),
        run_id: "r".into(),
        kind,
        parent: parent.map(Into::into),
        location: format!("backups/{id}.bka"),
        bytes: 10,
        entries: 1,
        checksum: 1,
        compression: "zstd".into(),
        created_at: t(0),
    }
}

pub fn code(r: Result<Vec<Event>, Rejection>) -> RejectionCode {
    r.expect_err("expected a rejection").code
}
