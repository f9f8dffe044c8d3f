//! `GET scheduler/preview?trigger_type=&trigger_config=&timezone=&count=`: the next fire times of
//! a trigger that is not saved yet, for the dashboard's job form (the five times shown as the
//! operator types). The trigger is parsed exactly as a job's create body parses it, so a trigger
//! refused here is refused there, with the same field; `jobs/{job_id}/preview` is the saved
//! job's (with its jitter). An interval counts from now, as it would for a job created now.

use super::error::ApiError;
use super::input::{query, ranged};
use super::jobs::seed::trigger_from_seed;
use super::zoned::time_in;
use super::{json, ApiContext};
use crate::domain::trigger::next_fire;
use chrono_tz::Tz;
use serde_json::{json, Value};
use tide::{Request, Response};

const DEFAULT_COUNT: u64 = 5;
const MAX_COUNT: u64 = 100;

pub async fn preview(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let (mut trigger_type, mut config, mut zone, mut count) = (None, None, None, DEFAULT_COUNT);
    for (k, v) in query(
        &req,
        &["trigger_type", "trigger_config", "timezone", "count"],
    )? {
        match k.as_str() {
            "trigger_type" => trigger_type = Some(v),
            "trigger_config" => {
                let parsed: Value = serde_json::from_str(&v).map_err(|e| {
                    ApiError::invalid("trigger_config", format!("not a JSON object: {e}"))
                })?;
                config = Some(parsed);
            }
            "timezone" => {
                let tz: Tz = v.parse().map_err(|_| {
                    ApiError::invalid("timezone", format!("{v:?} is not an IANA time zone"))
                })?;
                zone = Some(tz);
            }
            _ => count = ranged("count", &v, 1, MAX_COUNT)?,
        }
    }
    let trigger_type = trigger_type
        .ok_or_else(|| ApiError::invalid("trigger_type", "trigger_type is required"))?;
    let config =
        config.ok_or_else(|| ApiError::invalid("trigger_config", "trigger_config is required"))?;
    let trigger = trigger_from_seed(&trigger_type, &config)?;
    let ctx = req.state();
    let zone = zone.unwrap_or(ctx.zone);
    let now = ctx.now();
    let mut times = Vec::new();
    let mut at = now;
    while times.len() < count as usize {
        // None: no further slot (past what the scheduler supports).
        let Some(slot) = next_fire(&trigger, zone, now, at) else {
            break;
        };
        times.push(time_in(slot, zone));
        at = slot;
    }
    Ok(json(
        200,
        &json!({ "timezone": zone.name(), "fire_times": times }),
    ))
}
