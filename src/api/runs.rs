//! `runs` and `runs/{run_id}`: what ran, when, how it ended, and live progress while it runs.

use super::error::ApiError;
use super::input::{meta, param, query, ranged};
use super::{json, ApiContext};
use crate::decide::Command;
use crate::events::{RestoreOutcome, RestoreTarget};
use crate::progress::{RunProgress, StopCause};
use crate::projections::{Run, RunKind, RunStatus, State};
use crate::queries::runs::{list_of as runs, status_name, status_named, RunFilter, STATUSES};
use serde_json::{json, Value};
use tide::{Request, Response};

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 1000;

pub async fn list(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let mut filter = RunFilter::all(DEFAULT_LIMIT as usize);
    let mut only_kind = None;
    for (k, v) in query(&req, &["job_id", "status", "kind", "limit"])? {
        match k.as_str() {
            "job_id" => filter.job_id = Some(v),
            "kind" => {
                only_kind = Some(
                    RunKind::ALL
                        .into_iter()
                        .find(|k| k.as_str() == v)
                        .ok_or_else(|| {
                            ApiError::invalid(
                                "kind",
                                format!("{v:?} is not one of backup, restore"),
                            )
                        })?,
                )
            }
            "status" => {
                filter.only = Some(status_named(&v).ok_or_else(|| {
                    let names: Vec<&str> = STATUSES.into_iter().map(status_name).collect();
                    ApiError::invalid(
                        "status",
                        format!("{v:?} is not one of {}", names.join(", ")),
                    )
                })?)
            }
            _ => filter.limit = ranged("limit", &v, 1, MAX_LIMIT)? as usize,
        }
    }
    let ctx = req.state();
    let runs: Vec<Value> = ctx.service.read(|s| {
        runs(s, &filter, only_kind)
            .items
            .into_iter()
            .map(|r| named(s, run_json(r, ctx.progress.get(&r.run_id))))
            .collect()
    });
    Ok(json(200, &json!({ "runs": runs })))
}

pub async fn detail(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let run_id = param(&req, "run_id")?;
    let ctx = req.state();
    let run = ctx.service.read(|s| {
        s.schedule
            .runs
            .get(&run_id)
            .map(|r| named(s, run_json(r, ctx.progress.get(&r.run_id))))
    });
    match run {
        Some(run) => Ok(json(200, &run)),
        None => Err(ApiError::not_found("run_id", format!("no run {run_id:?}"))),
    }
}

/// How long a cancel waits for the run's executor to stop and record it; past it the answer is
/// 202 (told to stop, not yet ended): a run is never recorded cancelled while it still works.
const CANCEL_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// `POST runs/{run_id}/cancel`: a queued run is cancelled at once; a running one is told to stop
/// (its tools' process groups are killed, its partial files removed as it unwinds) and answered
/// once its executor recorded `run_cancelled`. 409 for a run that already ended.
pub async fn cancel(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let run_id = param(&req, "run_id")?;
    let mut meta = meta(&req)?;
    meta.correlation = Some(run_id.clone());
    let ctx = req.state();
    let by = meta.actor.clone();
    let reason = format!("cancelled by {by}");
    let status = ctx
        .service
        .read(|s| s.schedule.runs.get(&run_id).map(|r| r.status));
    let show = |code: u16| {
        ctx.service
            .read(|s| {
                s.schedule
                    .runs
                    .get(&run_id)
                    .map(|r| run_json(r, ctx.progress.get(&r.run_id)))
            })
            .map(|r| json(code, &r))
            .ok_or_else(|| ApiError::not_found("run_id", format!("no run {run_id:?}")))
    };
    if status.is_none() {
        return Err(ApiError::not_found("run_id", format!("no run {run_id:?}")));
    }
    let kind = ctx
        .service
        .read(|s| s.schedule.runs.get(&run_id).map(|r| r.kind));
    if kind == Some(RunKind::Restore) {
        // A restore replaces files as it goes: stopping it half way leaves a mix no one asked
        // for. It has no stop switch; it ends on its own.
        return Err(ApiError::new(
            409,
            "conflict",
            format!("run {run_id:?} is a restore; a restore cannot be cancelled"),
        )
        .with_field("run_id"));
    }
    if status == Some(RunStatus::Running) {
        let cause = StopCause::Cancelled {
            reason: reason.clone(),
            by: Some(by.clone()),
        };
        if ctx.progress.stop(&run_id, cause) {
            // Its executor records the outcome once it has unwound.
            return if wait_for_outcome(ctx, &run_id).await {
                show(200)
            } else {
                show(202)
            };
        }
        // No executor here (yet): the stop waits for one that may still begin, and the
        // cancellation is recorded now.
    }
    // Queued, running without an executor, or ended (`decide` refuses: 409).
    let command = Command::CancelRun {
        run_id: run_id.clone(),
        reason,
        by: Some(by),
    };
    ctx.execute(command, meta).await?;
    show(200)
}

/// Whether the run had an outcome within `CANCEL_WAIT`; woken by the log, not by polling.
async fn wait_for_outcome(ctx: &ApiContext, run_id: &str) -> bool {
    use smol::future::FutureExt;
    let ended = async {
        loop {
            let position = ctx.service.position();
            let open = ctx.service.read(|s| {
                s.schedule
                    .runs
                    .get(run_id)
                    .is_some_and(|r| r.status.is_open())
            });
            if !open {
                return true;
            }
            ctx.service.wait_beyond(position).await;
        }
    };
    ended
        .or(async {
            smol::Timer::after(CANCEL_WAIT).await;
            false
        })
        .await
}

/// A run as the API shows it: the projection's fields, plus live progress while it runs.
/// A run names its job as the job list does: `job_name`, and `job_description` (the backup
/// config's); both null once the job is deleted.
fn named(state: &State, mut run: Value) -> Value {
    let job = run["job_id"]
        .as_str()
        .and_then(|id| state.schedule.jobs.get(id));
    run["job_name"] = json!(job.map(|j| &j.spec.name));
    run["job_description"] = json!(job
        .and_then(|j| j.spec.action.backup_config())
        .and_then(|c| c.description.clone()));
    // The remotes that hold all its backup needs (`[[remotes]]`): when it is off-site.
    if let Some(id) = run["backup_id"].as_str() {
        run["offsite"] = json!(state.offsite.on_remotes(id));
    }
    run
}

pub fn run_json(run: &Run, progress: Option<RunProgress>) -> Value {
    let mut out = json!({
        "run_id": run.run_id,
        "job_id": run.job_id,
        "status": status_name(run.status),
        "reason": run.reason,
        "slot": run.slot,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_ms": run.duration_ms,
        "backup_id": run.backup_id,
        "bytes": run.bytes,
        "files": run.files,
        "error": run.error,
        "error_kind": run.error_kind,
        "note": run.note,
        "mode_override": run.mode_override,
        "cancelled_by": run.cancelled_by,
        // A succeeded run can still have left entries out: how many, and the first of them.
        "warnings_total": run.warnings_total,
        "warnings": run.warnings,
    });
    out["kind"] = json!(run.kind.as_str());
    out["actor"] = json!(run.actor);
    if let Some(r) = &run.restore {
        // A restore has no job; what it restored, where to and how it ended instead.
        out["job_id"] = Value::Null;
        out["paths"] = json!(r.paths);
        out["database"] = json!(r.database);
        let (target, in_place, overwrite) = match &r.target {
            RestoreTarget::Directory { path } => (json!(path), false, None),
            RestoreTarget::InPlace { overwrite } => (Value::Null, true, Some(overwrite.as_str())),
            RestoreTarget::Database { name } => (json!(name), false, None),
        };
        out["target"] = target;
        out["in_place"] = json!(in_place);
        out["overwrite"] = json!(overwrite);
        let (outcome, damaged) = match &r.outcome {
            None => (None, 0),
            Some(RestoreOutcome::Succeeded) => (Some("succeeded"), 0),
            Some(RestoreOutcome::Incomplete { damaged }) => (Some("incomplete"), *damaged),
            Some(RestoreOutcome::Failed { .. }) => (Some("failed"), 0),
        };
        out["outcome"] = json!(outcome);
        out["damaged"] = json!(damaged);
        out["kept"] = json!(r.kept);
    }
    if run.status == RunStatus::Running {
        out["progress"] = json!(progress);
    }
    out
}
