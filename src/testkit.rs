//! Builders the unit tests of the pure rules share: a fixed instant, a job spec, backup and
//! verification events, and a state replayed from events. Test-only.

use crate::events::{BackupKind, BackupRecord, Envelope, Event, JobAction, JobSpec, Trigger, Ts};
use crate::projections::State;

/// `secs` after a fixed instant (2026-05-28T20:26:40Z), so no test depends on today's date.
pub fn ts(secs: i64) -> Ts {
    Ts::from_unix_nanos((1_780_000_000 + secs) * 1_000_000_000)
}

/// An hourly job named after its id.
pub fn job_spec(id: &str, action: JobAction) -> JobSpec {
    JobSpec {
        id: id.into(),
        name: id.into(),
        trigger: Trigger::Interval {
            seconds: 3600,
            start_at: None,
        },
        action,
        misfire_grace_secs: None,
        timezone: None,
        jitter_secs: 0,
    }
}

/// `backup_recorded` of a 1-byte backup of `job_id` made at `ts(at)`.
pub fn recorded(id: &str, job_id: &str, kind: BackupKind, parent: Option<&str>, at: i64) -> Event {
    Event::BackupRecorded {
        backup: BackupRecord {
            id: id.into(),
            job_id: job_id.into(),
            run_id: format!("run-{id}"),
            kind,
            parent: parent.map(Into::into),
            location: format!("backups/{id}.bka"),
            bytes: 1,
            entries: 1,
            checksum: 1,
            compression: "zstd".into(),
            created_at: ts(at),
        },
    }
}

pub fn verified(id: &str, ok: bool, detail: Option<&str>) -> Event {
    Event::BackupVerified {
        backup_id: id.into(),
        ok,
        detail: detail.map(Into::into),
    }
}

/// The state after `events`, each recorded at `at` by actor `test`, positions from 1.
pub fn replay_at(events: impl IntoIterator<Item = Event>, at: Ts) -> State {
    let envs: Vec<Envelope> = events
        .into_iter()
        .enumerate()
        .map(|(i, payload)| Envelope {
            position: i as u64 + 1,
            recorded_at: at,
            actor: "test".into(),
            correlation: None,
            payload,
        })
        .collect();
    State::replay(&envs)
}
