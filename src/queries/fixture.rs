//! Test fixtures shared by the query tests and the renderers' tests: a `State` folded from
//! events at offsets from a fixed instant, and the events those tests need.

use crate::events::{
    BackupConfig, BackupKind, BackupMode, BackupRecord, BackupType, Envelope, Event, HealthCheck,
    HealthStatus, JobAction, JobSpec, RunReason, Trigger, Ts,
};
use crate::projections::State;

/// 2026-03-28T12:00:00Z.
pub const T0: i64 = 1_774_699_200;
pub const HOUR: i64 = 3_600;
pub const DAY: i64 = 86_400;

/// `secs` after T0.
pub fn at(secs: i64) -> Ts {
    Ts::from_unix_nanos((T0 + secs) * 1_000_000_000)
}

/// An hourly files backup job.
pub fn spec(id: &str) -> JobSpec {
    JobSpec {
        id: id.into(),
        name: id.into(),
        trigger: Trigger::Interval {
            seconds: 3600,
            start_at: None,
        },
        action: JobAction::Backup(BackupConfig::new(BackupType::Files, BackupMode::Full)),
        misfire_grace_secs: None,
        timezone: None,
        jitter_secs: 0,
    }
}

pub fn created(id: &str) -> Event {
    Event::JobCreated { job: spec(id) }
}

pub fn paused(id: &str) -> Event {
    Event::JobPaused { job_id: id.into() }
}

pub fn deleted(id: &str) -> Event {
    Event::JobDeleted { job_id: id.into() }
}

pub fn record(id: &str, job_id: &str, kind: BackupKind, bytes: u64, created: Ts) -> BackupRecord {
    BackupRecord {
        id: id.into(),
        job_id: job_id.into(),
        run_id: format!("{job_id}@1"),
        kind,
        parent: None,
        location: format!("backups/{id}.bak"),
        bytes,
        entries: 3,
        checksum: 0,
        compression: "zstd".into(),
        created_at: created,
    }
}

/// A backup of `job_id` recorded `secs` after T0 (pass the same `secs` to `apply`).
pub fn backup(id: &str, job_id: &str, kind: BackupKind, bytes: u64, secs: i64) -> Event {
    Event::BackupRecorded {
        backup: record(id, job_id, kind, bytes, at(secs)),
    }
}

pub fn started(run_id: &str, job_id: &str) -> Event {
    Event::RunStarted {
        run_id: run_id.into(),
        job_id: job_id.into(),
        slot: None,
        reason: RunReason::Manual,
    }
}

/// A success that recorded backup `b-{run_id}`.
pub fn succeeded(run_id: &str, bytes: u64, duration_ms: u64) -> Event {
    Event::RunSucceeded {
        run_id: run_id.into(),
        backup_id: Some(format!("b-{run_id}")),
        bytes,
        files: 3,
        duration_ms,
        note: None,
    }
}

/// A success after 1 s with `n` warnings (`run_succeeded_v2`), all of them kept.
pub fn succeeded_with_warnings(run_id: &str, n: u64) -> Event {
    Event::RunSucceededV2 {
        run_id: run_id.into(),
        backup_id: Some(format!("b-{run_id}")),
        bytes: 10,
        files: 3,
        duration_ms: 1000,
        note: None,
        warnings_total: n,
        warnings: (0..n)
            .map(|i| crate::events::RunWarning {
                path: format!("/srv/pipe{i}"),
                reason: "skipped: a FIFO".into(),
            })
            .collect(),
    }
}

/// A failure after 500 ms.
pub fn failed(run_id: &str) -> Event {
    Event::RunFailed {
        run_id: run_id.into(),
        error: "disk full".into(),
        duration_ms: 500,
    }
}

pub fn interrupted(run_id: &str) -> Event {
    Event::RunInterrupted {
        run_id: run_id.into(),
        reason: "process stopped".into(),
    }
}

/// Folds the events in at the given offsets from T0, positions 1, 2, ...
pub fn state(events: Vec<(i64, Event)>) -> State {
    let mut state = State::default();
    apply(&mut state, events);
    state
}

/// Folds more events into `state`, positions continuing from its own.
pub fn apply(state: &mut State, events: Vec<(i64, Event)>) {
    for (secs, payload) in events {
        state.apply(&Envelope {
            position: state.position + 1,
            recorded_at: at(secs),
            actor: "test".into(),
            correlation: None,
            payload,
        });
    }
}

/// Runs of a job `j` (created at T0) that finish at the given offsets from T0, a second after
/// they start; even ones succeed writing 10 bytes in 1 s, odd ones fail after 0.5 s.
pub fn finishing_at(offsets: &[i64]) -> State {
    let mut events = vec![(0, created("j"))];
    for (i, &secs) in offsets.iter().enumerate() {
        let run = format!("j@{i}");
        events.push((secs - 1, started(&run, "j")));
        events.push((
            secs,
            if i % 2 == 0 {
                succeeded(&run, 10, 1000)
            } else {
                failed(&run)
            },
        ));
    }
    state(events)
}

/// A health check whose verdict is its worst check's.
pub fn health_checked(checks: &[(&str, HealthStatus)]) -> Event {
    Event::HealthChecked {
        status: checks.iter().map(|c| c.1).max().unwrap_or(HealthStatus::Ok),
        checks: checks
            .iter()
            .map(|&(name, status)| HealthCheck {
                name: name.into(),
                status,
                reason: "r".into(),
            })
            .collect(),
    }
}

pub fn report_generated(id: &str, bytes: u64) -> Event {
    Event::ReportGenerated {
        report_id: id.into(),
        location: format!("reports/{id}.json"),
        bytes,
    }
}
