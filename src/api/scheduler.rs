//! `scheduler/status`, `scheduler/start`, `scheduler/stop`: the scheduler as a whole (the status
//! carries the monitoring figures of `metrics::figures` as `stats`).

use super::dto::status_json;
use super::error::ApiError;
use super::input::meta;
use super::metrics::figures;
use super::{json, ApiContext};
use crate::decide::Command;
use tide::{Request, Response};

pub async fn status(req: Request<ApiContext>) -> Result<Response, ApiError> {
    Ok(json(200, &req.state().status()))
}

pub async fn start(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let ctx = req.state();
    ctx.execute(Command::StartScheduler, meta(&req)?).await?;
    Ok(json(200, &ctx.status()))
}

pub async fn stop(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let ctx = req.state();
    let command = Command::StopScheduler {
        reason: "api".into(),
    };
    ctx.execute(command, meta(&req)?).await?;
    Ok(json(200, &ctx.status()))
}

impl ApiContext {
    fn status(&self) -> serde_json::Value {
        let now = self.now();
        self.service.read(|s| {
            let mut status = status_json(s, self.zone, now);
            // `figures` is a plain struct of numbers and options: it always serialises.
            status["stats"] = serde_json::to_value(figures(s, now)).unwrap_or_default();
            status
        })
    }
}
