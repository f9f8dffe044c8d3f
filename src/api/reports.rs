//! `reports`, `reports/{report_id}` and `reports/{report_id}.html`: the daily reports the catalog
//! keeps, served from their files. Only ids the catalog knows reach the filesystem, through the
//! location recorded in their event, so no request path is ever joined onto the data directory.

use super::error::ApiError;
use super::input::{param, query, ranged};
use super::{json, json_bytes, ApiContext, BASE};
use crate::projections::Report;
use crate::queries;
use serde_json::{json, Value};
use std::io::ErrorKind;
use std::path::PathBuf;
use tide::{Request, Response};

pub const DEFAULT_LIMIT: u64 = 100;
pub const MAX_LIMIT: u64 = 1000;

/// The longest report id accepted (ours are `report-yyyymmddThhmmssZ[-n]`).
const MAX_ID: usize = 100;

pub async fn list(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let mut limit = DEFAULT_LIMIT;
    for (_, v) in query(&req, &["limit"])? {
        limit = ranged("limit", &v, 1, MAX_LIMIT)?;
    }
    let reports: Vec<Value> = req.state().service.read(|s| {
        queries::reports::list(s, limit as usize)
            .items
            .into_iter()
            .map(report_json)
            .collect()
    });
    Ok(json(200, &json!({ "reports": reports })))
}

/// The report's JSON, as the report job wrote it.
pub async fn detail(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let id = param(&req, "report_id")?;
    let path = located(&req, &id)?;
    let bytes = read(path, &id).await?;
    Ok(json_bytes(200, std::sync::Arc::new(bytes)))
}

/// The report's self-contained HTML page.
pub async fn page(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let raw = param(&req, "report_id")?;
    // The router sends `{report_id}.html` here with the suffix still on the parameter.
    let id = raw.strip_suffix(".html").unwrap_or(&raw).to_string();
    let path = located(&req, &id)?.with_extension("html");
    let bytes = read(path, &id).await?;
    let mut body = tide::Body::from_bytes(bytes);
    body.set_mime(tide::http::mime::HTML);
    let mut res = Response::new(200);
    res.set_body(body);
    Ok(res)
}

fn report_json(r: &Report) -> Value {
    json!({
        "id": r.id,
        "created_at": r.created_at,
        "expires_at": r.expires_at,
        "bytes": r.bytes,
        "links": {
            "json": format!("{BASE}/reports/{}", r.id),
            "html": format!("{BASE}/reports/{}.html", r.id),
        },
    })
}

/// A plausible id: letters, digits, `-` and `_` only, so nothing like `../x` or `a/b` gets
/// past here even before the catalog look-up.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn no_report(id: &str) -> ApiError {
    ApiError::not_found("report_id", format!("no report {id:?}"))
}

/// The JSON file of a report the catalog knows.
fn located(req: &Request<ApiContext>, id: &str) -> Result<PathBuf, ApiError> {
    if !valid_id(id) {
        return Err(no_report(id));
    }
    let ctx = req.state();
    let location = ctx
        .service
        .read(|s| s.catalog.reports.get(id).map(|r| r.location.clone()))
        .ok_or_else(|| no_report(id))?;
    Ok(ctx.config.data_dir.join(location))
}

async fn read(path: PathBuf, id: &str) -> Result<Vec<u8>, ApiError> {
    let shown = path.display().to_string();
    match smol::unblock(move || std::fs::read(path)).await {
        Ok(bytes) => Ok(bytes),
        // Recorded but gone (removed by hand, or a cleanup between the look-up and the read).
        Err(e) if e.kind() == ErrorKind::NotFound => Err(ApiError::not_found(
            "report_id",
            format!("report {id:?} is recorded but its file {shown} is missing"),
        )),
        Err(e) => Err(ApiError::internal(format!("reading {shown}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_that_could_leave_the_reports_directory_are_refused() {
        for bad in [
            "",
            "../x",
            "a/b",
            "..",
            "x.json",
            "a\\b",
            "%2e%2e",
            &"a".repeat(101),
        ] {
            assert!(!super::valid_id(bad), "{bad:?}");
        }
        for good in ["report-20260328T120000Z", "report-20260328T120000Z-2"] {
            assert!(super::valid_id(good), "{good}");
        }
    }
}
