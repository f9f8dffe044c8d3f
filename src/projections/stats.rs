//! The stats projection: per-job and overall run counts, success rate, durations and sizes.

use super::Schedule;
use crate::events::{Envelope, Event, Ts};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub total: JobStats,
    /// Kept after a job is deleted: its history still happened.
    pub per_job: BTreeMap<String, JobStats>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobStats {
    pub started: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub interrupted: u64,
    pub cancelled: u64,
    pub skipped: u64,
    pub missed: u64,
    pub total_duration_ms: u64,
    pub last_duration_ms: Option<u64>,
    pub max_duration_ms: u64,
    pub bytes_written: u64,
    pub last_bytes: Option<u64>,
    pub last_success_at: Option<Ts>,
    pub last_failure_at: Option<Ts>,
    /// Succeeded runs that had warnings (`run_succeeded_v2`), and their warnings in all.
    pub runs_with_warnings: u64,
    pub warnings: u64,
}

impl JobStats {
    /// Succeeded over finished runs; `None` before any run finished.
    pub fn success_rate(&self) -> Option<f64> {
        super::Outcomes {
            succeeded: self.succeeded,
            failed: self.failed,
            interrupted: self.interrupted,
            cancelled: self.cancelled,
        }
        .success_rate()
    }

    fn record(&mut self, event: &Event, at: Ts) {
        match event {
            Event::RunStarted { .. } | Event::RunStartedV2 { .. } => self.started += 1,
            Event::RunSucceeded {
                bytes, duration_ms, ..
            } => self.success(*bytes, *duration_ms, at),
            Event::RunSucceededV2 {
                bytes,
                duration_ms,
                warnings_total,
                ..
            }
            | Event::RunSucceededV3 {
                bytes,
                duration_ms,
                warnings_total,
                ..
            } => {
                self.success(*bytes, *duration_ms, at);
                self.runs_with_warnings += u64::from(*warnings_total > 0);
                self.warnings += warnings_total;
            }
            Event::RunFailed { duration_ms, .. } | Event::RunFailedV2 { duration_ms, .. } => {
                self.failed += 1;
                self.last_failure_at = Some(at);
                self.duration(*duration_ms);
            }
            Event::RunInterrupted { .. } => {
                self.interrupted += 1;
                self.last_failure_at = Some(at);
            }
            Event::RunCancelled { duration_ms, .. } => {
                self.cancelled += 1;
                self.duration(*duration_ms);
            }
            Event::RunSkipped { .. } => self.skipped += 1,
            Event::SlotsMissed { slots, .. } => self.missed += slots.len() as u64,
            _ => {}
        }
    }

    fn success(&mut self, bytes: u64, duration_ms: u64, at: Ts) {
        self.succeeded += 1;
        self.bytes_written += bytes;
        self.last_bytes = Some(bytes);
        self.last_success_at = Some(at);
        self.duration(duration_ms);
    }

    fn duration(&mut self, ms: u64) {
        self.total_duration_ms += ms;
        self.last_duration_ms = Some(ms);
        self.max_duration_ms = self.max_duration_ms.max(ms);
    }
}

impl Stats {
    pub fn apply(&mut self, env: &Envelope, schedule: &Schedule) {
        let job_id = match &env.payload {
            Event::RunStarted { job_id, .. }
            | Event::RunStartedV2 { job_id, .. }
            | Event::RunSkipped { job_id, .. }
            | Event::SlotsMissed { job_id, .. } => Some(job_id.as_str()),
            Event::RunSucceeded { run_id, .. }
            | Event::RunSucceededV2 { run_id, .. }
            | Event::RunSucceededV3 { run_id, .. }
            | Event::RunFailed { run_id, .. }
            | Event::RunFailedV2 { run_id, .. }
            | Event::RunInterrupted { run_id, .. }
            | Event::RunCancelled { run_id, .. } => schedule
                .runs
                .get(run_id)
                // An outcome counts once: a second outcome for the same run is ignored. A
                // restore run (interrupted at boot) is no job's run.
                .filter(|r| r.status.is_open() && r.kind == super::RunKind::Backup)
                .map(|r| r.job_id.as_str()),
            _ => None,
        };
        let Some(job_id) = job_id else { return };
        self.total.record(&env.payload, env.recorded_at);
        self.per_job
            .entry(job_id.to_string())
            .or_default()
            .record(&env.payload, env.recorded_at);
    }
}
