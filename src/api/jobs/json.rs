//! A job as the API shows it (`GET scheduler/jobs`, `scheduler/jobs/{job_id}` and the answers
//! of the job commands): the seed's fields, the schedule and the last run.

use super::seed::{backup_config_to_seed, trigger_to_seed};
use crate::api::zoned::time_in;
use crate::events::{BackupMode, Hooks, JobAction, Ts};
use crate::projections::{Job, State};
use crate::queries::runs::status_name;
use crate::scheduler::{job_zone, next_run_time};
use chrono_tz::Tz;
use serde_json::{json, Value};

/// What kind of work the job does, as its `action` field names it.
pub fn action_name(action: &JobAction) -> &'static str {
    match action {
        JobAction::Backup(_) | JobAction::BackupV1(_) | JobAction::BackupV2(_) => "backup",
        JobAction::Cleanup => "cleanup",
        JobAction::Archive => "archive",
        JobAction::HealthCheck => "health_check",
        JobAction::Report => "report",
        JobAction::VerifySample(_) => "verify_sample",
    }
}

/// A backup job's hooks as the body gives them: each argv or `null`.
fn hooks_json(hooks: &Hooks) -> Value {
    json!({"before": hooks.before, "after": hooks.after, "on_failure": hooks.on_failure})
}

/// A job as the API shows it.
pub fn job_json(state: &State, job: &Job, zone: Tz, now: Ts) -> Value {
    let spec = &job.spec;
    let (trigger_type, trigger_config) = trigger_to_seed(&spec.trigger);
    let job_zone = job_zone(spec, zone);
    let cfg = spec.action.backup_config();
    let (backup_config, backup_mode) = match &cfg {
        Some(cfg) => (
            backup_config_to_seed(cfg),
            json!(match cfg.mode {
                BackupMode::Full => "full",
                BackupMode::Incremental => "incremental",
            }),
        ),
        None => (Value::Null, Value::Null),
    };
    // A stopped scheduler runs nothing: no job has a next run, as the status says.
    let next_run = if state.schedule.scheduler_running {
        next_run_time(job, zone, now).map(|t| time_in(t, job_zone))
    } else {
        None
    };
    let last_run = job
        .last_run_id
        .as_ref()
        .and_then(|id| state.schedule.runs.get(id))
        .map(|r| {
            json!({
                "run_id": r.run_id,
                "status": status_name(r.status),
                "reason": r.reason,
                "started_at": r.started_at,
                "finished_at": r.finished_at,
                "duration_ms": r.duration_ms,
                "error": r.error,
            })
        });
    json!({
        "id": spec.id,
        "name": spec.name,
        "description": cfg.as_ref().and_then(|c| c.description.clone()),
        "version": job.version,
        "preset": job.preset,
        "trigger_type": trigger_type,
        "trigger_config": trigger_config,
        "action": action_name(&spec.action),
        "backup_config": backup_config,
        "backup_mode": backup_mode,
        "timezone": job_zone.name(),
        "paused": job.paused,
        "next_run_time": next_run,
        "misfire_grace_time": spec.misfire_grace_secs,
        "jitter": spec.jitter_secs,
        // Backups only: null = the configured scheduler.run_timeout, 0 = none.
        "timeout": cfg.as_ref().and_then(|c| c.timeout_secs),
        "hooks": cfg.as_ref().map(|c| hooks_json(&c.hooks)),
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "last_run": last_run,
        "running": job.running,
        "queued": job.queued,
        // Waiting for a quiet machine (`[scheduler] defer_while_load_above`) since then.
        "deferred_since": job.deferred_since(),
    })
}
