//! `GET scheduler/jobs/{job_id}/preview?count=N`: the job's next fire times, for the dashboard's
//! trigger editor.
//!
//! The times are what the scheduler would fire at from now (its slots with the job's jitter, in
//! the job's zone, RFC 3339 with offset), so the first equals the job's `next_run_time` while it
//! is active. A paused job and a stopped scheduler still preview: the answer says which
//! (`paused`, `scheduler_running`), and nothing fires until both allow it.

use super::no_job;
use crate::api::error::ApiError;
use crate::api::input::{param, query, ranged};
use crate::api::zoned::time_in;
use crate::api::{json, ApiContext};
use crate::domain::trigger::{jitter, next_fire};
use crate::events::Ts;
use crate::scheduler::job_zone;
use serde_json::json;
use tide::{Request, Response};

/// The most fire times one preview lists.
pub const MAX_COUNT: u64 = 100;
const DEFAULT_COUNT: u64 = 5;

pub async fn preview(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let id = param(&req, "job_id")?;
    let mut count = DEFAULT_COUNT;
    for (name, value) in query(&req, &["count"])? {
        count = ranged(&name, &value, 1, MAX_COUNT)?;
    }
    let ctx = req.state();
    let now = ctx.now();
    let body = ctx
        .service
        .read(|s| {
            let job = s.schedule.jobs.get(&id)?;
            let zone = job_zone(&job.spec, ctx.zone);
            let mut times = Vec::new();
            let mut at = now;
            while times.len() < count as usize {
                // None: the trigger's slots run past what the scheduler supports (2262).
                let Some(slot) = next_fire(&job.spec.trigger, zone, job.created_at, at) else {
                    break;
                };
                let fires = Ts(slot.get() + jitter(&job.spec.id, slot, job.spec.jitter_secs));
                times.push(time_in(fires, zone));
                at = slot;
            }
            Some(json!({
                "job_id": job.spec.id,
                "timezone": zone.name(),
                "paused": job.paused,
                "scheduler_running": s.schedule.scheduler_running,
                "fire_times": times,
            }))
        })
        .ok_or_else(|| no_job(&id))?;
    Ok(json(200, &body))
}
