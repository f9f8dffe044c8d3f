//! `GET sources`: the configured sources a job can choose by name (`backup_config.options.sources`).
//! Names, kinds and paths only: a database URL or command may hold credentials and is never shown.

use super::error::ApiError;
use super::{json, ApiContext};
use serde_json::json;
use tide::{Request, Response};

pub async fn list(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let sources = req.state().config.sources();
    Ok(json(200, &json!({ "sources": sources })))
}
