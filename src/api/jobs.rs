//! `scheduler/jobs` and `scheduler/jobs/{job_id}[/pause|/resume|/run]`: the seed's job endpoints.

use super::dto::{create_spec, job_json, slug, update_spec};
use super::error::ApiError;
use super::input::{json_body, meta, object, param};
use super::{json, ApiContext, BASE};
use crate::decide::Command;
use crate::events::{Event, RunReason};
use serde_json::Value;
use tide::{Request, Response};

pub async fn list(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let ctx = req.state();
    let now = ctx.now();
    let jobs: Vec<Value> = ctx.service.read(|s| {
        s.schedule
            .jobs
            .values()
            .map(|j| job_json(s, j, ctx.zone, now))
            .collect()
    });
    Ok(json(200, &serde_json::json!({ "jobs": jobs })))
}

pub async fn create(mut req: Request<ApiContext>) -> Result<Response, ApiError> {
    let body = object(json_body(&mut req).await?, false)?;
    let ctx = req.state();
    let spec = create_spec(&body, ctx.default_misfire_grace, |name| ctx.fresh_id(name))?;
    let events = ctx.execute(Command::CreateJob(spec), meta(&req)?).await?;
    // A retry with the same Idempotency-Key returns the first attempt's events, whose id may
    // differ from the one just derived.
    let id = events
        .iter()
        .find_map(|e| match &e.payload {
            Event::JobCreated { job } => Some(job.id.clone()),
            _ => None,
        })
        .ok_or_else(key_reused)?;
    let mut res = job_response(ctx, &id, 201)?;
    res.insert_header("Location", format!("{BASE}/scheduler/jobs/{id}"));
    Ok(res)
}

pub async fn detail(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let id = param(&req, "job_id")?;
    job_response(req.state(), &id, 200)
}

pub async fn update(mut req: Request<ApiContext>) -> Result<Response, ApiError> {
    let id = param(&req, "job_id")?;
    let body = object(json_body(&mut req).await?, true)?;
    let ctx = req.state();
    let current = ctx
        .service
        .read(|s| s.schedule.jobs.get(&id).map(|j| j.spec.clone()))
        .ok_or_else(|| no_job(&id))?;
    let spec = update_spec(&current, &body)?;
    ctx.execute(Command::UpdateJob(spec), meta(&req)?).await?;
    job_response(ctx, &id, 200)
}

pub async fn delete(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let id = param(&req, "job_id")?;
    let command = Command::DeleteJob { job_id: id };
    req.state().execute(command, meta(&req)?).await?;
    Ok(Response::new(204))
}

pub async fn pause(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let id = param(&req, "job_id")?;
    let ctx = req.state();
    let command = Command::PauseJob { job_id: id.clone() };
    ctx.execute(command, meta(&req)?).await?;
    job_response(ctx, &id, 200)
}

pub async fn resume(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let id = param(&req, "job_id")?;
    let ctx = req.state();
    let command = Command::ResumeJob { job_id: id.clone() };
    ctx.execute(command, meta(&req)?).await?;
    job_response(ctx, &id, 200)
}

/// Run now: the `run_started` event is the request; the timer loop sees it and starts the
/// executor, so the answer is 202 with the run id to follow in `runs/{run_id}`.
pub async fn run(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let id = param(&req, "job_id")?;
    let ctx = req.state();
    let nanos = ctx.now().unix_nanos().unwrap_or_default();
    let run_id = format!("{id}@manual-{nanos}");
    let command = Command::StartRun {
        run_id: run_id.clone(),
        job_id: id.clone(),
        slot: None,
        reason: RunReason::Manual,
    };
    // The run id is the correlation, so the run's events can be followed.
    let mut meta = meta(&req)?;
    meta.correlation = Some(run_id.clone());
    let events = ctx.execute(command, meta).await?;
    // A retry with the same Idempotency-Key gets the first attempt's run back.
    let (run_id, started_at) = events
        .iter()
        .find_map(|e| match &e.payload {
            Event::RunStarted { run_id, .. } => Some((run_id.clone(), e.recorded_at)),
            _ => None,
        })
        .ok_or_else(key_reused)?;
    let mut res = json(
        202,
        &serde_json::json!({
            "run_id": run_id,
            "job_id": id,
            "status": "running",
            "started_at": started_at,
        }),
    );
    res.insert_header("Location", format!("{BASE}/runs/{run_id}"));
    Ok(res)
}

/// A create or run always records its event, so a result without it is the first result of some
/// other request that used the same Idempotency-Key.
fn key_reused() -> ApiError {
    ApiError::new(
        409,
        "conflict",
        "this Idempotency-Key was first used for a different request",
    )
    .with_field("Idempotency-Key")
}

fn no_job(id: &str) -> ApiError {
    ApiError::not_found("job_id", format!("no job {id:?}"))
}

fn job_response(ctx: &ApiContext, id: &str, status: u16) -> Result<Response, ApiError> {
    let now = ctx.now();
    ctx.service
        .read(|s| {
            s.schedule
                .jobs
                .get(id)
                .map(|j| json(status, &job_json(s, j, ctx.zone, now)))
        })
        .ok_or_else(|| no_job(id))
}

impl ApiContext {
    /// An id for a job the client did not name: its name's slug and a short suffix from the
    /// clock, bumped until no job has it.
    fn fresh_id(&self, name: &str) -> String {
        let base = slug(name);
        let seed = self.now().unix_nanos().unwrap_or_default() as u64;
        self.service.read(|s| {
            (0u64..)
                .map(|i| format!("{base}-{:06x}", (seed / 1000).wrapping_add(i) & 0xff_ffff))
                .find(|id| !s.schedule.jobs.contains_key(id))
                .unwrap_or(base)
        })
    }
}
