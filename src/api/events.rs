//! `events?after=N&limit=M`: the audit log, page by page, in the CLI's JSON shape.

use super::error::ApiError;
use super::input::{query, ranged};
use super::{json, ApiContext};
use serde_json::Value;
use tide::{Request, Response};

pub const DEFAULT_LIMIT: u64 = 100;
pub const MAX_LIMIT: u64 = 1000;

pub async fn list(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let mut after = 0;
    let mut limit = DEFAULT_LIMIT;
    for (k, v) in query(&req, &["after", "limit"])? {
        match k.as_str() {
            "after" => after = ranged("after", &v, 0, u64::MAX)?,
            _ => limit = ranged("limit", &v, 1, MAX_LIMIT)?,
        }
    }
    let ctx = req.state();
    let head = ctx.service.position();
    let events = ctx
        .service
        .store()
        .read(after, limit as usize)
        .await
        .map_err(ApiError::internal)?;
    // The cursor for the next page: the last event returned, or where the client already was.
    let next_after = events.last().map(|e| e.position).unwrap_or(after);
    let events: Vec<Value> = events.iter().map(|e| e.to_json()).collect();
    Ok(json(
        200,
        &serde_json::json!({
            "events": events,
            "next_after": next_after,
            "last_position": head.max(next_after),
        }),
    ))
}
