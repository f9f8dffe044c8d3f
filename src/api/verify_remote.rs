//! `POST /backups/{backup_id}/verify?remote=NAME`: the copy of a backup on a remote, every
//! checksum read in place by ranged GETs (`remote::ranged`). Not recorded as `backup_verified`:
//! that event is about the local copy, which this does not read.

use super::backups::catalog_state;
use super::error::ApiError;
use super::{json, ApiContext};
use serde_json::json;
use std::sync::Arc;
use tide::Response;

pub(super) async fn verify(ctx: &ApiContext, id: &str, remote: &str) -> Result<Response, ApiError> {
    let state = catalog_state(ctx, id)?;
    let Some(cfg) = ctx
        .config
        .remotes
        .iter()
        .find(|r| r.name == remote)
        .cloned()
    else {
        return Err(ApiError::not_found(
            "remote",
            format!("no [[remotes]] entry named {remote:?}"),
        ));
    };
    let location = state.catalog.backups[id].record.location.clone();
    let key = ctx.config.master_key().cloned();
    let backup = id.to_string();
    let checked = smol::unblock(move || {
        let store: Arc<dyn crate::remote::ObjectStore> =
            Arc::from(crate::remote::open(&cfg).map_err(|e| e.to_string())?);
        let mut done =
            crate::remote::ranged::verify_remote(store, &[(backup, location)], key.as_ref());
        Ok::<_, String>(done.remove(0))
    })
    .await;
    let body = match checked {
        Ok(v) => match v.result {
            Ok(summary) => json!({
                "backup_id": id, "remote": remote, "ok": true, "location": v.location,
                "summary": {
                    "entries": summary.entries, "files": summary.files,
                    "frames": summary.frames, "content_bytes": summary.content_bytes,
                    "archive_bytes": summary.archive_bytes,
                },
                "ranged_gets": v.gets, "bytes_read": v.fetched,
            }),
            Err(error) => json!({
                "backup_id": id, "remote": remote, "ok": false, "location": v.location,
                "error": error, "ranged_gets": v.gets, "bytes_read": v.fetched,
            }),
        },
        Err(error) => json!({"backup_id": id, "remote": remote, "ok": false, "error": error}),
    };
    Ok(json(200, &body))
}
