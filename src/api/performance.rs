//! `GET reports/performance?days=30&job=`: the performance analysis (`queries::performance`)
//! over the last `days` days, of every backup job or one, with the data directory's free space
//! read here (statvfs) for the days until full.

use super::error::ApiError;
use super::input::{query, ranged};
use super::{json, ApiContext};
use crate::engine::perf::volume;
use crate::queries::performance::{performance, DEFAULT_DAYS, MAX_DAYS};
use tide::{Request, Response};

pub async fn get(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let mut days = DEFAULT_DAYS;
    let mut job: Option<String> = None;
    for (k, v) in query(&req, &["days", "job"])? {
        match k.as_str() {
            "days" => days = ranged("days", &v, 1, u64::from(MAX_DAYS))? as u32,
            _ if v.is_empty() => job = None,
            _ => job = Some(v),
        }
    }
    let ctx = req.state();
    let now = ctx.now();
    let space = volume(&ctx.config);
    let report = ctx.service.read(|s| {
        // A job the log never knew is a typo, not an empty analysis; a deleted job's runs remain.
        if let Some(id) = &job {
            let known = s.schedule.jobs.contains_key(id)
                || s.schedule.runs.values().any(|r| &r.job_id == id);
            if !known {
                return Err(ApiError::not_found("job", format!("no job {id:?}")));
            }
        }
        Ok(performance(s, now, days, job.as_deref(), space))
    })?;
    Ok(json(200, &serde_json::json!(report)))
}
