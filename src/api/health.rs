//! `GET health`: the latest recorded health check, or, before the first one was recorded and
//! while the log cannot be written, the checks run live (not recorded: a read must not write to
//! the log).

use super::error::ApiError;
use super::input::query;
use super::{json, ApiContext};
use crate::domain::health::evaluate;
use crate::engine::health::gather;
use crate::events::{HealthCheck, HealthStatus, Ts};
use serde_json::{json, Value};
use tide::{Request, Response};

pub async fn get(req: Request<ApiContext>) -> Result<Response, ApiError> {
    query(&req, &[])?;
    let ctx = req.state();
    let now = ctx.now();
    let recorded = ctx.service.read(|s| s.health.clone());
    // While the log cannot be written no check can be recorded: the last recorded one would
    // say all is well, so the checks run live instead.
    let writable = ctx.service.store().write_failure().is_none();
    if let Some(h) = recorded.filter(|_| writable) {
        return Ok(json(
            200,
            &body(h.status, h.at, h.run_id, &h.checks, now, true),
        ));
    }
    let (config, service) = (ctx.config.clone(), ctx.service.clone());
    let checks = smol::unblock(move || {
        let facts = gather(&config, &service);
        service.read(|s| evaluate(s, &facts, now, &config.health))
    })
    .await;
    let status = checks
        .iter()
        .map(|c| c.status)
        .max()
        .unwrap_or(HealthStatus::Ok);
    Ok(json(200, &body(status, now, None, &checks, now, false)))
}

fn body(
    status: HealthStatus,
    at: Ts,
    run_id: Option<String>,
    checks: &[HealthCheck],
    now: Ts,
    recorded: bool,
) -> Value {
    json!({
        "status": status,
        "checked_at": at,
        "run_id": run_id,
        "age_seconds": at.millis_until(now) / 1000,
        "recorded": recorded,
        "checks": checks,
    })
}
