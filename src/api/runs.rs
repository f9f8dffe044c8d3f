//! `runs` and `runs/{run_id}`: what ran, when, how it ended, and live progress while it runs.

use super::dto::{run_json, RUN_STATUSES};
use super::error::ApiError;
use super::input::{param, query, ranged};
use super::{json, ApiContext};
use serde_json::Value;
use tide::{Request, Response};

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 1000;

pub async fn list(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let mut job_id = None;
    let mut status = None;
    let mut limit = DEFAULT_LIMIT;
    for (k, v) in query(&req, &["job_id", "status", "limit"])? {
        match k.as_str() {
            "job_id" => job_id = Some(v),
            "status" => {
                if !RUN_STATUSES.contains(&v.as_str()) {
                    return Err(ApiError::invalid(
                        "status",
                        format!("{v:?} is not one of {}", RUN_STATUSES.join(", ")),
                    ));
                }
                status = Some(v)
            }
            _ => limit = ranged("limit", &v, 1, MAX_LIMIT)?,
        }
    }
    let ctx = req.state();
    let runs: Vec<Value> = ctx.service.read(|s| {
        let mut runs: Vec<_> = s
            .schedule
            .runs
            .values()
            .filter(|r| job_id.as_ref().is_none_or(|j| &r.job_id == j))
            .filter(|r| {
                status
                    .as_deref()
                    .is_none_or(|st| super::dto::status_name(r.status) == st)
            })
            .collect();
        // Newest first; the run id breaks ties of runs started in the same instant.
        runs.sort_by(|a, b| (b.started_at, &b.run_id).cmp(&(a.started_at, &a.run_id)));
        runs.into_iter()
            .take(limit as usize)
            .map(|r| run_json(r, ctx.progress.get(&r.run_id)))
            .collect()
    });
    Ok(json(200, &serde_json::json!({ "runs": runs })))
}

pub async fn detail(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let run_id = param(&req, "run_id")?;
    let ctx = req.state();
    let run = ctx.service.read(|s| {
        s.schedule
            .runs
            .get(&run_id)
            .map(|r| run_json(r, ctx.progress.get(&r.run_id)))
    });
    match run {
        Some(run) => Ok(json(200, &run)),
        None => Err(ApiError::not_found("run_id", format!("no run {run_id:?}"))),
    }
}
