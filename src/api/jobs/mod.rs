//! `scheduler/jobs` and `scheduler/jobs/{job_id}[/pause|/resume|/run]`: the seed's job endpoints;
//! the job's JSON (`json`), the create and update bodies (`body`) and the seed's trigger and
//! backup config shapes (`seed`) beside them.

mod backup_config;
mod body;
mod json;
mod preview;
pub mod seed;

pub use preview::preview;

use super::error::ApiError;
use super::input::{json_body, meta, object, param};
use super::{json, json_bytes, ApiContext, BASE};
use crate::auth::{grants, Caller, Scope};
use crate::decide::Command;
use crate::domain::patch::trigger_kind;
use crate::domain::selection::check_selection;
use crate::domain::Rejection;
use crate::events::{BackupMode, Event, Hooks, RunReason, Ts};
use crate::scheduler::next_run_time;
use body::{create_spec, slug, update_patch};
use json::job_json;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use tide::{Request, Response};

pub async fn list(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let ctx = req.state();
    let now = ctx.now();
    if let Some(body) = ctx.jobs_cache.get(ctx.service.position(), now) {
        return Ok(json_bytes(200, body));
    }
    let (position, valid_until, body) = ctx.service.read(|s| {
        let mut valid_until: Option<Ts> = None;
        let jobs: Vec<Value> = s
            .schedule
            .jobs
            .values()
            .map(|j| {
                // The list changes with the log or when a job's next slot passes; the slot is
                // the shown time less its jitter at most.
                if let Some(next) = next_run_time(j, ctx.zone, now) {
                    let slot = Ts(next.get() - time::Duration::seconds(j.spec.jitter_secs.into()));
                    valid_until = Some(valid_until.map_or(slot, |v| v.min(slot)));
                }
                job_json(s, j, ctx.zone, now)
            })
            .collect();
        let body = serde_json::to_vec(&serde_json::json!({ "jobs": jobs })).unwrap_or_default();
        (s.position, valid_until, Arc::new(body))
    });
    ctx.jobs_cache.put(position, now, valid_until, body.clone());
    Ok(json_bytes(200, body))
}

/// The last `GET scheduler/jobs` body, reused while the log has not moved and no job's next slot
/// has passed: the list is the most polled route, and computing every next run each time is
/// most of its cost.
#[derive(Clone, Default)]
pub struct ListCache {
    last: Arc<Mutex<Option<Cached>>>,
}

struct Cached {
    position: u64,
    /// A clock set back (the manual clock of tests) may show earlier slots: not reused then.
    computed_at: Ts,
    /// `None`: no job is scheduled, only the log can change the list.
    valid_until: Option<Ts>,
    body: Arc<Vec<u8>>,
}

impl ListCache {
    fn get(&self, position: u64, now: Ts) -> Option<Arc<Vec<u8>>> {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        last.as_ref()
            .filter(|c| {
                c.position == position
                    && c.computed_at <= now
                    && c.valid_until.is_none_or(|t| now < t)
            })
            .map(|c| c.body.clone())
    }

    fn put(&self, position: u64, now: Ts, valid_until: Option<Ts>, body: Arc<Vec<u8>>) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(Cached {
            position,
            computed_at: now,
            valid_until,
            body,
        });
    }
}

pub async fn create(mut req: Request<ApiContext>) -> Result<Response, ApiError> {
    let body = object(json_body(&mut req).await?, false)?;
    let ctx = req.state();
    let spec = create_spec(&body, ctx.default_misfire_grace, |name| ctx.fresh_id(name))?;
    if spec
        .action
        .backup_config()
        .is_some_and(|cfg| cfg.hooks != Hooks::default())
    {
        hooks_need_admin(&req)?;
    }
    // A backup of nothing is refused here, where the configured sources are known (they do
    // not change while the service runs); an update is checked inside `decide`.
    if let Some(cfg) = spec.action.backup_config() {
        check_selection(&cfg, &ctx.config.source_catalog())?;
    }
    let events = ctx.execute(Command::CreateJob(spec), meta(&req)?).await?;
    // A retry with the same Idempotency-Key returns the first attempt's events, whose id may
    // differ from the one just derived.
    let id = events
        .iter()
        .find_map(|e| match &e.payload {
            Event::JobCreated { job } => Some(job.id.clone()),
            _ => None,
        })
        .ok_or_else(ApiError::key_reused)?;
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
    let if_version = if_match(&req)?;
    let (kind, hooks) = ctx
        .service
        .read(|s| {
            s.schedule.jobs.get(&id).map(|j| {
                let hooks = j.spec.action.backup_config().map(|c| c.hooks.clone());
                (trigger_kind(&j.spec.trigger), hooks.unwrap_or_default())
            })
        })
        .ok_or_else(|| no_job(&id))?;
    let patch = update_patch(&id, kind, &body)?;
    // Hooks sent back as the job has them (a client that PUTs what it GOT) change nothing and
    // need no more than `manage`. Should an admin change them between this read and the
    // decision, this PUT restores hooks an admin set before: never a command of its own.
    if patch.hooks.as_ref().is_some_and(|h| *h != hooks) {
        hooks_need_admin(&req)?;
    }
    let command = Command::UpdateJob {
        job_id: id.clone(),
        patch,
        if_version,
        sources: Some(ctx.config.source_catalog()),
    };
    ctx.execute(command, meta(&req)?).await?;
    job_response(ctx, &id, 200)
}

/// Hooks run any program, as the service's user, with its access to every source and backup:
/// setting or changing them is the `admin` scope's, though the routes that carry them need only
/// `manage`. A caller the guard let in without a token (loopback while no token is live) holds
/// every scope; a request the guard never saw holds none.
fn hooks_need_admin(req: &Request<ApiContext>) -> Result<(), ApiError> {
    let admin = match req.ext::<Caller>() {
        Some(Caller::Anonymous) => true,
        Some(Caller::Token(name)) => req.state().service.read(|s| {
            s.tokens
                .by_name
                .get(name)
                .is_some_and(|t| grants(&t.scopes, Scope::Admin))
        }),
        None => false,
    };
    if admin {
        return Ok(());
    }
    Err(ApiError::new(
        403,
        "forbidden",
        "setting or changing a job's hooks needs the \"admin\" scope: a hook runs any program \
         as the service's user (send the job without `hooks`, or with the hooks it has)",
    )
    .with_field("hooks"))
}

/// `If-Match: "<version>"` (also `W/"<version>"`); `*` or no header: unconditional. A tag that
/// is not a version can match no job: 412.
fn if_match(req: &Request<ApiContext>) -> Result<Option<u64>, ApiError> {
    let Some(value) = req
        .header("If-Match")
        .map(|v| v.last().as_str().trim().to_string())
    else {
        return Ok(None);
    };
    if value == "*" {
        return Ok(None);
    }
    let tag = value.strip_prefix("W/").unwrap_or(&value);
    tag.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|t| t.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::from(Rejection::stale(
                "If-Match",
                format!("If-Match {value:?} is not a job version (send the ETag, like \"3\")"),
            ))
        })
}

pub async fn delete(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let id = param(&req, "job_id")?;
    let command = Command::DeleteJob {
        job_id: id,
        if_version: if_match(&req)?,
    };
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
/// `POST .../run`: start the job now, or queue it behind `max_concurrent_runs`. An optional body
/// `{"mode": "full" | "incremental"}` forces a backup's mode for this run only (recorded in
/// `run_started_v2` / `run_queued`); no body, or an empty one, runs the job as it is.
pub async fn run(mut req: Request<ApiContext>) -> Result<Response, ApiError> {
    let id = param(&req, "job_id")?;
    let body = object(json_body(&mut req).await?, true)?;
    let mut mode = None;
    for (k, v) in &body {
        match k.as_str() {
            "mode" => {
                mode = Some(match v.as_str() {
                    Some("full") => BackupMode::Full,
                    Some("incremental") => BackupMode::Incremental,
                    _ => {
                        return Err(ApiError::invalid(
                            "mode",
                            format!("mode must be \"full\" or \"incremental\", not {v}"),
                        ))
                    }
                })
            }
            other => return Err(ApiError::unknown_field(other, &["mode"])),
        }
    }
    let ctx = req.state();
    let nanos = ctx.now().unix_nanos().unwrap_or_default();
    let run_id = format!("{id}@manual-{nanos}");
    let command = Command::RequestRun {
        run_id: run_id.clone(),
        job_id: id.clone(),
        slot: None,
        reason: RunReason::Manual,
        mode,
        max_running: ctx.config.max_concurrent_runs,
    };
    // The run id is the correlation, so the run's events can be followed.
    let mut meta = meta(&req)?;
    meta.correlation = Some(run_id.clone());
    let events = ctx.execute(command, meta).await?;
    // A retry with the same Idempotency-Key gets the first attempt's run back.
    let (run_id, started_at, status) = events
        .iter()
        .find_map(|e| match &e.payload {
            Event::RunStarted { run_id, .. } | Event::RunStartedV2 { run_id, .. } => {
                Some((run_id.clone(), e.recorded_at, "running"))
            }
            Event::RunQueued { run_id, .. } => Some((run_id.clone(), e.recorded_at, "queued")),
            _ => None,
        })
        .ok_or_else(ApiError::key_reused)?;
    let mut res = json(
        202,
        &serde_json::json!({
            "run_id": run_id,
            "job_id": id,
            "status": status,
            "started_at": started_at,
        }),
    );
    res.insert_header("Location", format!("{BASE}/runs/{run_id}"));
    Ok(res)
}

fn no_job(id: &str) -> ApiError {
    ApiError::not_found("job_id", format!("no job {id:?}"))
}

fn job_response(ctx: &ApiContext, id: &str, status: u16) -> Result<Response, ApiError> {
    let now = ctx.now();
    ctx.service
        .read(|s| {
            s.schedule.jobs.get(id).map(|j| {
                let mut res = json(status, &job_json(s, j, ctx.zone, now));
                // The version `If-Match` takes back.
                res.insert_header("ETag", format!("\"{}\"", j.version));
                res
            })
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
