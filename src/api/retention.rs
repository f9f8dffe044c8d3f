//! `retention/preview`: what the next cleanup would delete now and why everything else stays —
//! the same pure plan the cleanup job and `decide` use, so the preview cannot disagree with them.

use super::error::ApiError;
use super::input::query;
use super::{json, ApiContext};
use crate::domain::{duration, retention};
use serde_json::json;
use tide::{Request, Response};

pub async fn preview(req: Request<ApiContext>) -> Result<Response, ApiError> {
    query(&req, &[])?;
    let now = req.state().now();
    let plan = req.state().service.read(|s| retention::plan_for(s, now));
    let p = plan.policy;
    let mut body = serde_json::to_value(&plan).map_err(|e| ApiError::internal(e.to_string()))?;
    body["policy"] = json!({
        "full": duration::format(p.full_secs),
        "incremental": duration::format(p.incremental_secs),
        "archive": duration::format(p.archive_secs),
        "report": duration::format(p.report_secs),
    });
    Ok(json(200, &body))
}
