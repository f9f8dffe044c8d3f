//! `whoami` and `state?position=N`: what the dashboard needs beyond the resources themselves.
//!
//! `whoami` tells a token its own name and scopes (listing tokens needs `admin`), so a client
//! can hide the controls it may not use. `state` is the audit view's "the state at this event":
//! the schedule and catalog folded from events `1..=N` (what `backupd state --at N` computes),
//! summarised, next to the same summary of the state now, so a client can show the two side by
//! side. The fold streams the log (memory does not grow with it) on a blocking thread.

use super::access::actor;
use super::error::ApiError;
use super::input::{query, ranged};
use super::jobs::seed::trigger_to_seed;
use super::{json, ApiContext};
use crate::auth::Caller;
use crate::events::{BackupKind, Scope};
use crate::projections::{RunStatus, State};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use tide::{Request, Response};

/// `GET whoami`: the caller's token name and scopes (`anonymous` with every scope while the API
/// needs no token).
pub async fn whoami(req: Request<ApiContext>) -> Result<Response, ApiError> {
    query(&req, &[])?;
    let ctx = req.state();
    let caller = req.ext::<Caller>().cloned().unwrap_or(Caller::Anonymous);
    let body = match &caller {
        Caller::Anonymous => json!({
            "name": null,
            "anonymous": true,
            "actor": actor(&req),
            "scopes": Scope::ALL,
            "expires_at": null,
        }),
        Caller::Token(name) => {
            let token = ctx.service.read(|s| s.tokens.by_name.get(name).cloned());
            // Admin grants every scope: the list says what the token may do, not only what it
            // was given, so a client needs no rule of its own.
            let scopes: Vec<Scope> = match &token {
                Some(t) if t.scopes.contains(&Scope::Admin) => Scope::ALL.to_vec(),
                Some(t) => t.scopes.clone(),
                None => Vec::new(),
            };
            json!({
                "name": name,
                "anonymous": false,
                "actor": actor(&req),
                "scopes": scopes,
                "expires_at": token.and_then(|t| t.expires_at),
            })
        }
    };
    Ok(json(200, &body))
}

/// `GET state?position=N`: the state as of position N (0 = the empty log) and now; without
/// `position`, now only.
pub async fn at_position(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let mut position = None;
    for (k, v) in query(&req, &["position"])? {
        if k == "position" {
            position = Some(ranged("position", &v, 0, u64::MAX)?);
        }
    }
    let ctx = req.state();
    let (now_summary, last) = ctx.service.read(|s| (summary(s), s.position));
    // Without a position only the state now: no fold (the dashboard's overview asks this).
    let Some(position) = position else {
        return Ok(json(
            200,
            &json!({ "last_position": last, "now": now_summary }),
        ));
    };
    if position > last {
        return Err(ApiError::invalid(
            "position",
            format!("the log ends at position {last}; there is no position {position}"),
        ));
    }
    let store = ctx.service.store().clone();
    let (state, recorded_at) = smol::unblock(move || {
        let mut state = State::default();
        let mut recorded_at = None;
        store
            .scan_blocking(0, |env| {
                if env.position > position {
                    return false;
                }
                recorded_at = Some(env.recorded_at);
                state.apply(&env);
                true
            })
            .map(|()| (state, recorded_at))
    })
    .await
    .map_err(ApiError::internal)?;
    Ok(json(
        200,
        &json!({
            "position": position,
            "recorded_at": recorded_at,
            "last_position": last,
            "at": summary(&state),
            "now": now_summary,
        }),
    ))
}

/// How many days of storage history a summary carries.
const STORAGE_DAYS: usize = 60;

/// The schedule and catalog in short: enough to compare two positions field by field.
fn summary(s: &State) -> Value {
    let jobs: Vec<Value> = s
        .schedule
        .jobs
        .values()
        .map(|j| {
            let (trigger_type, trigger_config) = trigger_to_seed(&j.spec.trigger);
            json!({
                "id": j.spec.id,
                "name": j.spec.name,
                "version": j.version,
                "paused": j.paused,
                "trigger_type": trigger_type,
                "trigger_config": trigger_config,
                "running": j.running,
                "last_run_id": j.last_run_id,
            })
        })
        .collect();
    let mut runs: BTreeMap<&str, u64> = BTreeMap::new();
    for r in s.schedule.runs.values() {
        *runs.entry(status_key(r.status)).or_default() += 1;
    }
    let backups: Vec<Value> = s
        .catalog
        .backups
        .values()
        .map(|b| {
            json!({
                "id": b.record.id,
                "job_id": b.record.job_id,
                "kind": b.record.kind,
                "bytes": b.record.bytes,
                "created_at": b.record.created_at,
            })
        })
        .collect();
    let bytes_by_kind: BTreeMap<BackupKind, u64> = s.catalog.bytes_by_kind.clone();
    // The storage chart: the last days on which storage changed (UTC days, oldest first).
    let storage: Vec<Value> = s
        .catalog
        .storage_by_day
        .iter()
        .rev()
        .take(STORAGE_DAYS)
        .rev()
        .map(|(day, p)| {
            json!({
                "day": day,
                "full": p.full,
                "incremental": p.incremental,
                "archive": p.archive,
                "reports": p.reports,
            })
        })
        .collect();
    json!({
        "position": s.position,
        "storage_by_day": storage,
        "scheduler_running": s.schedule.scheduler_running,
        "stopped": s.schedule.stopped,
        "jobs": jobs,
        "runs": runs,
        "backups": backups,
        "bytes_by_kind": bytes_by_kind,
        "deleted_backups": s.catalog.deleted_count,
        "reports": s.catalog.reports.len(),
        "tokens": s.tokens.by_name.keys().collect::<Vec<_>>(),
    })
}

fn status_key(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "running",
        RunStatus::Succeeded => "succeeded",
        RunStatus::Failed => "failed",
        RunStatus::Interrupted => "interrupted",
        RunStatus::Queued => "queued",
        RunStatus::Cancelled => "cancelled",
    }
}
