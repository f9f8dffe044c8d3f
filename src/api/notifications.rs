//! `notifications`: every delivery attempt (`notification_sent`, `notification_failed`), newest
//! first and paged; `notify/test?channel=`: a test message sent now through one channel.

use super::error::ApiError;
use super::input::{query, ranged};
use super::{json, ApiContext};
use crate::projections::Attempt;
use serde_json::{json, Value};
use tide::{Request, Response};

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 1000;

/// `GET notifications?channel=&limit=&before=`: `before` is a position (exclusive), the
/// answer's `next_before` continues the listing (null at its end).
pub async fn list(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let (mut limit, mut before, mut channel) = (DEFAULT_LIMIT as usize, u64::MAX, None);
    for (k, v) in query(&req, &["channel", "limit", "before"])? {
        match k.as_str() {
            "channel" => channel = Some(v),
            "before" => before = ranged("before", &v, 1, u64::MAX)?,
            _ => limit = ranged("limit", &v, 1, MAX_LIMIT)? as usize,
        }
    }
    let (items, more) = req.state().service.read(|s| {
        let mut matching = s
            .notifications
            .attempts
            .iter()
            .rev()
            .filter(|a| a.position < before)
            .filter(|a| channel.as_deref().is_none_or(|c| a.channel == c));
        let items: Vec<Value> = matching.by_ref().take(limit).map(attempt_json).collect();
        (items, matching.next().is_some())
    });
    let next_before = if more {
        items.last().map(|a| a["position"].clone())
    } else {
        None
    };
    Ok(json(
        200,
        &json!({ "notifications": items, "next_before": next_before }),
    ))
}

fn attempt_json(a: &Attempt) -> Value {
    json!({
        "position": a.position,
        "at": a.at.rfc3339(),
        "channel": a.channel,
        "kind": a.kind,
        "outcome": if a.sent { "sent" } else { "failed" },
        "attempt": a.attempt,
        "subject": a.subject,
        "run_id": a.run_id,
        "reason": a.reason,
        "will_retry": a.will_retry,
    })
}

/// `POST notify/test?channel=NAME`: one attempt now, recorded like any delivery; 200 with its
/// outcome either way (a channel that is down is an answer, not a server error); 404 for a
/// channel the configuration does not name.
pub async fn test(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let mut name = None;
    for (_, v) in query(&req, &["channel"])? {
        name = Some(v);
    }
    let Some(name) = name else {
        return Err(ApiError::invalid("channel", "channel is required"));
    };
    let ctx = req.state();
    let Some(channel) = ctx.config.notify.iter().find(|c| c.name == name) else {
        let names: Vec<&str> = ctx.config.notify.iter().map(|c| c.name.as_str()).collect();
        return Err(ApiError::not_found(
            "channel",
            format!(
                "no notification channel {name:?} (configured: {})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ),
        ));
    };
    // The address the client reached the API by: the configured bind may be port 0 or 0.0.0.0.
    let link = req.url().origin().ascii_serialization();
    let outcome = crate::notify::send_test(&ctx.service, channel, &link).await;
    Ok(json(
        200,
        &json!({
            "channel": channel.name,
            "delivered": outcome.delivered,
            "subject": outcome.subject,
            "reason": outcome.reason,
        }),
    ))
}
