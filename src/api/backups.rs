//! `backups`, `backups/unrecorded`, `backups/{backup_id}` (GET, DELETE = forget) and its
//! `verify` (its `restore` is `restore.rs`): the catalog and the backup's JSON, and the engine's
//! slow work run on the blocking pool, its errors mapped to 4xx where the client is at fault.

use super::error::ApiError;
use super::input::{flag, json_body, kind, meta, object, param, query, ranged};
use super::{json, ApiContext};
use crate::decide::Command;
use crate::engine::{self, EngineError};
use crate::events::{BackupKind, Event};
use crate::projections::{Backup, Catalog, State};
use crate::queries::backups::{self, BackupFilter};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use tide::{Request, Response};

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 1000;

pub async fn list(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let mut filter = BackupFilter::all(DEFAULT_LIMIT as usize);
    for (k, v) in query(&req, &["job_id", "kind", "limit"])? {
        match k.as_str() {
            "job_id" => filter.job_id = Some(v),
            "kind" => {
                let names: Vec<&str> = BackupKind::ALL.iter().map(|k| k.as_str()).collect();
                filter.only = Some(
                    *BackupKind::ALL
                        .iter()
                        .find(|k| k.as_str() == v)
                        .ok_or_else(|| {
                            ApiError::invalid(
                                "kind",
                                format!("{v:?} is not one of {}", names.join(", ")),
                            )
                        })?,
                );
            }
            _ => filter.limit = ranged("limit", &v, 1, MAX_LIMIT)? as usize,
        }
    }
    let backups: Vec<Value> = req.state().service.read(|s| {
        backups::list(s, &filter)
            .items
            .into_iter()
            .map(|b| offsite(s, backup_json(&s.catalog, b)))
            .collect()
    });
    Ok(json(200, &json!({ "backups": backups })))
}

/// The archive files no event names (`unrecorded_archives` in health): each with its size, its
/// age and whether the next cleanup removes it (older than `health.unrecorded_grace`).
pub async fn unrecorded(req: Request<ApiContext>) -> Result<Response, ApiError> {
    query(&req, &[])?;
    let ctx = req.state();
    let (config, service) = (ctx.config.clone(), ctx.service.clone());
    let grace = config.health.unrecorded_grace_secs;
    let found =
        smol::unblock(move || service.read(|s| engine::unrecorded_archives(&config.data_dir, s)))
            .await
            .map_err(|e| ApiError::internal(format!("listing the archives: {e}")))?;
    let archives: Vec<Value> = found
        .into_iter()
        .map(|u| {
            json!({
                "path": u.path,
                "bytes": u.bytes,
                "age_secs": u.age_secs,
                "removed_by_next_cleanup": i64::try_from(u.age_secs).unwrap_or(i64::MAX) >= grace,
            })
        })
        .collect();
    Ok(json(
        200,
        &json!({ "archives": archives, "grace_secs": grace }),
    ))
}

pub async fn detail(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let id = param(&req, "backup_id")?;
    let backup = req.state().service.read(|s| {
        s.catalog
            .backups
            .get(&id)
            .map(|b| offsite(s, backup_json(&s.catalog, b)))
    });
    backup.map(|b| json(200, &b)).ok_or_else(|| no_backup(&id))
}

/// `offsite`: the remotes that hold everything the backup needs (its file; a snapshot's packs).
fn offsite(s: &crate::projections::State, mut b: Value) -> Value {
    if let Some(id) = b["id"].as_str() {
        b["offsite"] = json!(s.offsite.on_remotes(id));
    }
    b
}

/// A backup of the catalog as the API shows it. `size` is the archive's bytes, `checksum` the
/// CRC32 of its index in hex, `chain` the ids a restore reads, from this one back to its full base.
pub fn backup_json(catalog: &Catalog, backup: &Backup) -> Value {
    let r = &backup.record;
    let chain: Vec<&str> = catalog
        .chain(&r.id)
        .iter()
        .map(|b| b.record.id.as_str())
        .collect();
    json!({
        "id": r.id,
        "job_id": r.job_id,
        "run_id": r.run_id,
        "kind": r.kind.as_str(),
        "parent": r.parent,
        "location": r.location,
        "size": r.bytes,
        "entries": r.entries,
        "checksum": format!("{:08x}", r.checksum),
        "compression": r.compression,
        "created_at": r.created_at,
        "expires_at": backup.expires_at,
        "last_verified": backup.last_verified,
        "chain": chain,
    })
}

/// Checks every checksum of the backup and its parent references, and records the result
/// (`backup_verified`). A damaged backup is a 200 with `ok: false`: the request itself worked.
pub async fn verify(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let id = param(&req, "backup_id")?;
    let meta = meta(&req)?;
    let (mut share, mut round, mut remote) = (None, None, None);
    for (k, v) in query(&req, &["sample", "round", "remote"])? {
        match k.as_str() {
            "sample" => {
                share = Some(
                    engine::sample::parse_share(&v).map_err(|m| ApiError::invalid("sample", m))?,
                )
            }
            "remote" => remote = Some(v),
            _ => round = Some(ranged("round", &v, 0, u64::MAX)?),
        }
    }
    let ctx = req.state();
    // `?remote=NAME`: the remote copy instead, read in place (all of it) and not recorded.
    if let Some(remote) = remote {
        if share.is_some() || round.is_some() {
            let field = if share.is_some() { "sample" } else { "round" };
            return Err(ApiError::invalid(
                field,
                "a remote copy is checked whole: sample and round go without remote",
            ));
        }
        return super::verify_remote::verify(ctx, &id, &remote).await;
    }
    let state = catalog_state(ctx, &id)?;
    if let Some(share) = share {
        return verify_sample(ctx, id, meta, &state, share, round).await;
    }
    if round.is_some() {
        return Err(ApiError::invalid("round", "round goes with sample"));
    }
    let config = ctx.config.clone();
    let checked = id.clone();
    let result = smol::unblock(move || engine::verify(&config, &state, &checked)).await;
    if let Err(EngineError::UnknownBackup { id: missing }) = &result {
        // Deleted between the look-up and the check.
        if missing == &id {
            return Err(no_backup(&id));
        }
    }
    // The verified backup's record first (its event answers the request), then a damaged
    // base's own (keyed apart, so a retried request writes neither twice).
    let mut commands = engine::verify_commands(&id, &result).into_iter();
    let first = commands
        .next()
        .ok_or_else(|| ApiError::internal("no verify command"))?;
    let events = ctx.execute(first, meta.clone()).await?;
    for command in commands {
        let mut base_meta = meta.clone();
        base_meta.idempotency_key = meta.idempotency_key.as_ref().map(|k| format!("{k}:base"));
        ctx.execute(command, base_meta).await?;
    }
    let verified_at = events
        .iter()
        .find_map(|e| match &e.payload {
            Event::BackupVerified { backup_id, .. } if backup_id == &id => Some(e.recorded_at),
            _ => None,
        })
        .ok_or_else(ApiError::key_reused)?;
    let body = match result {
        Ok(summary) => json!({
            "backup_id": id,
            "ok": true,
            "verified_at": verified_at,
            "summary": summary,
        }),
        Err(e) => json!({
            "backup_id": id,
            "ok": false,
            "verified_at": verified_at,
            "error": e.to_string(),
        }),
    };
    Ok(json(200, &body))
}

/// `POST backups/{id}/verify?sample=5%`: reads round `round` (default: the UTC day number) of a
/// rotating share of the repository frames the snapshot needs, and records the result.
async fn verify_sample(
    ctx: &ApiContext,
    id: String,
    meta: crate::service::Meta,
    state: &State,
    share: f64,
    round: Option<u64>,
) -> Result<Response, ApiError> {
    if state.repository.snapshot(&id).is_none() {
        return Err(ApiError::invalid(
            "sample",
            format!("backup {id:?} is an archive: sample applies to repository snapshots"),
        ));
    }
    let round = round.unwrap_or_else(|| (ctx.now().get().unix_timestamp() / 86_400) as u64);
    let config = ctx.config.clone();
    let repo = state.repository.clone();
    let ids = vec![id.clone()];
    let result = smol::unblock(move || {
        engine::sample::verify_frames(&config, &repo, Some(&ids), share, round)
    })
    .await;
    let (ok, detail) = match &result {
        Ok(sum) => (sum.damaged.is_empty(), format!("sample: {sum}")),
        Err(e) => (false, format!("sample: {e}")),
    };
    let command = Command::VerifyBackup {
        backup_id: id.clone(),
        ok,
        detail: Some(detail.clone()),
    };
    let events = ctx.execute(command, meta).await?;
    let verified_at = events
        .iter()
        .find_map(|e| match &e.payload {
            Event::BackupVerified { backup_id, .. } if backup_id == &id => Some(e.recorded_at),
            _ => None,
        })
        .ok_or_else(ApiError::key_reused)?;
    let mut body = json!({
        "backup_id": id,
        "ok": ok,
        "verified_at": verified_at,
    });
    match result {
        Ok(sum) => body["sample"] = serde_json::to_value(sum).unwrap_or_default(),
        Err(e) => body["error"] = json!(e.to_string()),
    }
    if !ok && body.get("error").is_none() {
        body["error"] = json!(detail);
    }
    Ok(json(200, &body))
}

/// The fields `DELETE backups/{backup_id}` accepts (all optional; no body = none).
pub const FORGET_FIELDS: &[&str] = &["reason", "cascade", "force"];

/// Forgets one backup (and with `cascade` those built on it): each is recorded
/// (`backup_forgotten`, the request's actor, its reason), then its files are removed, as
/// retention cleanup does. The rules (dependants, the newest good full) are decide's.
pub async fn forget(mut req: Request<ApiContext>) -> Result<Response, ApiError> {
    let id = param(&req, "backup_id")?;
    let meta = meta(&req)?;
    let body = object(json_body(&mut req).await?, true)?;
    if let Some(k) = body.keys().find(|k| !FORGET_FIELDS.contains(&k.as_str())) {
        return Err(ApiError::unknown_field(k, FORGET_FIELDS));
    }
    let reason = match body.get("reason") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(ApiError::invalid(
                "reason",
                format!("reason must be a string, not {}", kind(other)),
            ))
        }
    };
    let (cascade, force) = (flag(&body, "cascade")?, flag(&body, "force")?);
    let ctx = req.state();
    // Where each file is, read before the record removes the backups from the catalog; every
    // backup's, since which ones go is decide's to say.
    let locations: BTreeMap<String, String> = ctx.service.read(|s| {
        s.catalog
            .backups
            .values()
            .map(|b| (b.record.id.clone(), b.record.location.clone()))
            .collect()
    });
    let command = Command::ForgetBackup {
        backup_id: id,
        reason,
        cascade,
        force,
    };
    let events = ctx.execute(command, meta).await?;
    let forgotten: Vec<(String, u64)> = events
        .iter()
        .filter_map(|e| match &e.payload {
            Event::BackupForgotten {
                backup_id, bytes, ..
            } => Some((backup_id.clone(), *bytes)),
            _ => None,
        })
        .collect();
    let layout = engine::layout::Layout::new(&ctx.config.data_dir);
    let files: Vec<(String, Option<String>)> = forgotten
        .iter()
        .map(|(id, _)| (id.clone(), locations.get(id).cloned()))
        .collect();
    // Recorded first: a crash before the files go leaves them to the next cleanup (`leftovers`).
    smol::unblock(move || {
        files.iter().try_for_each(|(id, location)| {
            engine::maintenance::remove_backup_files(&layout, id, location.as_deref())
        })
    })
    .await
    .map_err(|e| ApiError::failed(e.kind(), e))?;
    let total: u64 = forgotten.iter().map(|(_, b)| b).sum();
    let deleted: Vec<Value> = forgotten
        .iter()
        .map(|(id, bytes)| json!({"backup_id": id, "bytes": bytes}))
        .collect();
    Ok(json(200, &json!({"deleted": deleted, "bytes": total})))
}

/// What verify, restore and browsing read, owned so it can go to the blocking pool: the catalog
/// (the only part of the state they use). 404 when the backup is unknown.
pub(super) fn catalog_state(ctx: &ApiContext, id: &str) -> Result<State, ApiError> {
    ctx.service
        .read(|s| {
            // The repository too: a snapshot whose pack a prune repacked finds its chunks
            // through it.
            s.catalog.backups.contains_key(id).then(|| State {
                catalog: s.catalog.clone(),
                repository: s.repository.clone(),
                ..State::default()
            })
        })
        .ok_or_else(|| no_backup(id))
}

/// 404 naming `backup_id`.
pub(super) fn no_backup(id: &str) -> ApiError {
    ApiError::not_found("backup_id", format!("no backup {id:?}"))
}
