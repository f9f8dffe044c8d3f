//! `GET health/history?days=N`: every health check recorded in the last N days (default 7, at
//! most 90), oldest first, each with every check's status and reason, for the dashboard's
//! history. The projection keeps only the latest check, so this reads the `health_checked`
//! events from the log itself (a streaming scan: memory grows with the checks returned, not
//! with the log).

use super::error::ApiError;
use super::input::{query, ranged};
use super::{json, ApiContext};
use crate::events::{Event, Ts};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use tide::{Request, Response};

pub const DEFAULT_DAYS: u64 = 7;
/// An hourly check over 90 days is about 2,200 entries: a page the browser draws at once.
pub const MAX_DAYS: u64 = 90;

pub async fn list(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let mut days = DEFAULT_DAYS;
    for (_, v) in query(&req, &["days"])? {
        days = ranged("days", &v, 1, MAX_DAYS)?;
    }
    let ctx = req.state();
    let now = ctx.now();
    let since = Ts(now.get() - time::Duration::days(days as i64));
    let store = ctx.service.store().clone();
    let runs = smol::unblock(move || {
        let mut runs = Vec::new();
        store
            .scan_blocking(0, |env| {
                if let Event::HealthChecked { status, checks } = env.payload {
                    if env.recorded_at >= since {
                        runs.push((
                            env.position,
                            env.recorded_at,
                            env.correlation,
                            status,
                            checks,
                        ));
                    }
                }
                true
            })
            .map(|()| runs)
    })
    .await
    .map_err(ApiError::internal)?;
    // Every check name seen in the window, so a check added later still gets its own row.
    let names: BTreeSet<&str> = runs
        .iter()
        .flat_map(|r| r.4.iter().map(|c| c.name.as_str()))
        .collect();
    let checks: Vec<Value> = runs
        .iter()
        .map(|(position, at, run_id, status, checks)| {
            json!({
                "position": position,
                "checked_at": at,
                "run_id": run_id,
                "status": status,
                "checks": checks,
            })
        })
        .collect();
    Ok(json(
        200,
        &json!({
            "days": days,
            "since": since,
            "names": names,
            "checks": checks,
        }),
    ))
}
