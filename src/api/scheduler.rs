//! `scheduler/status`, `scheduler/start`, `scheduler/stop`: the scheduler as a whole, shown as
//! `queries::status` computes it (its monitoring figures as `stats`).

use super::error::ApiError;
use super::input::meta;
use super::zoned::time_in;
use super::{json, ApiContext};
use crate::decide::Command;
use crate::queries::{self, status::Status};
use chrono_tz::Tz;
use serde_json::{json, Value};
use tide::{Request, Response};

pub async fn status(req: Request<ApiContext>) -> Result<Response, ApiError> {
    Ok(json(200, &req.state().status()))
}

pub async fn start(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let ctx = req.state();
    ctx.execute(Command::StartScheduler, meta(&req)?).await?;
    Ok(json(200, &ctx.status()))
}

pub async fn stop(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let ctx = req.state();
    let command = Command::StopScheduler {
        reason: "api".into(),
    };
    ctx.execute(command, meta(&req)?).await?;
    Ok(json(200, &ctx.status()))
}

impl ApiContext {
    fn status(&self) -> Value {
        let now = self.now();
        let mut st = self.service.read(|s| {
            queries::status::status(s, self.zone, now, self.config.repository.repack_below)
        });
        st.record_error = self.service.store().write_failure().map(|f| f.message);
        status_json(&st, self.zone)
    }
}

/// `GET scheduler/status`: whether it runs, what comes next, the counts, and the monitoring
/// figures as `stats`.
pub fn status_json(st: &Status, zone: Tz) -> Value {
    json!({
        "running": st.running,
        "jobs": st.jobs.total,
        "paused_jobs": st.jobs.paused,
        "next_run_time": st.next_run.map(|t| time_in(t, zone)),
        "event_position": st.event_position,
        "can_record": st.record_error.is_none(),
        "record_error": st.record_error,
        "timezone": zone.name(),
        "success_rate": st.figures.success_rate_all,
        "runs": {
            "total": st.runs.started,
            "running": st.runs_in_flight,
            "succeeded": st.runs.succeeded,
            "failed": st.runs.failed,
            "interrupted": st.runs.interrupted,
            "skipped": st.runs.skipped,
            "missed": st.runs.missed,
        },
        "bytes_written": st.runs.bytes_written,
        "storage": {
            "backups": st.backups,
            "bytes": st.backup_bytes,
            // A plain struct of numbers: it always serialises.
            "repository": serde_json::to_value(st.repository).unwrap_or_default(),
        },
        // A plain struct of numbers and options: it always serialises.
        "stats": serde_json::to_value(&st.figures).unwrap_or_default(),
    })
}
