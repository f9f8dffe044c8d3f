//! `backups`, `backups/unrecorded`, `backups/{backup_id}` (GET, DELETE = forget) and its `verify` and `restore`: the catalog and the backup's
//! JSON, and the engine's slow work run on the blocking pool, its errors mapped to 4xx where the
//! client is at fault.

use super::error::ApiError;
use super::input::{json_body, kind, meta, object, param, query, ranged};
use super::{json, ApiContext};
use crate::archive::ArchiveError;
use crate::decide::Command;
use crate::engine::{self, EngineError, RestoreOptions};
use crate::error::Front;
use crate::events::{BackupKind, Event};
use crate::projections::{Backup, Catalog, State};
use crate::queries::backups::{self, BackupFilter};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::PathBuf;
use tide::{Request, Response};

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 1000;

/// The fields `POST backups/{backup_id}/restore` accepts.
pub const RESTORE_FIELDS: &[&str] = &["target", "paths", "force", "skip_damaged", "dry_run"];

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
            .map(|b| backup_json(&s.catalog, b))
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
            .map(|b| backup_json(&s.catalog, b))
    });
    backup.map(|b| json(200, &b)).ok_or_else(|| no_backup(&id))
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
    let ctx = req.state();
    let state = catalog_state(ctx, &id)?;
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

/// An optional boolean field of a body (absent or null = false).
fn flag(body: &Map<String, Value>, name: &str) -> Result<bool, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(ApiError::invalid(
            name,
            format!("{name} must be a boolean, not {}", kind(other)),
        )),
    }
}

/// Restores the whole backup, or the entries at and below `paths`, into `target` on the server.
/// With `skip_damaged`, damage is not a failure: a 200 with `complete: false` and `damaged`
/// listing each file not restored and why.
pub async fn restore(mut req: Request<ApiContext>) -> Result<Response, ApiError> {
    let id = param(&req, "backup_id")?;
    let body = object(json_body(&mut req).await?, false)?;
    if super::restore_db::wanted(&body) {
        return super::restore_db::restore(req.state(), id, &body).await;
    }
    let (target, paths, opts, dry_run) = restore_request(&body)?;
    let ctx = req.state();
    let state = catalog_state(ctx, &id)?;
    let config = ctx.config.clone();
    if dry_run {
        let plan = smol::unblock(move || {
            engine::plan_restore(&config, &state, &id, &target, &paths, opts.force)
                .map_err(restore_error)
        })
        .await?;
        let body = serde_json::to_value(&plan).map_err(ApiError::internal)?;
        return Ok(json(200, &body));
    }
    let summary = smol::unblock(move || {
        engine::restore_with(&config, &state, &id, &target, &paths, &opts).map_err(restore_error)
    })
    .await?;
    log::info!(
        "API: restored backup {} into {}: {} files, {} bytes",
        summary.backup_id,
        summary.target.display(),
        summary.files,
        summary.bytes
    );
    if !summary.complete {
        log::warn!(
            "API: restore of backup {} into {} is incomplete: {} damaged file(s) not restored: {}",
            summary.backup_id,
            summary.target.display(),
            summary.damaged.len(),
            summary
                .damaged
                .iter()
                .map(|d| format!("{} ({})", d.path, d.reason))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    let body = serde_json::to_value(&summary).map_err(ApiError::internal)?;
    Ok(json(200, &body))
}

/// The restore body: an absolute `target`, optional `paths` (original paths, `db:<source name>`,
/// or archive paths), optional `force`, `skip_damaged` and `dry_run` (the last returned apart:
/// a dry run answers with a plan, not a summary). The target's and paths' rules are the engine's (`engine::check_target`,
/// `check_paths`), the same the offline `restore` applies.
fn restore_request(
    body: &Map<String, Value>,
) -> Result<(PathBuf, Vec<String>, RestoreOptions, bool), ApiError> {
    if let Some(k) = body.keys().find(|k| !RESTORE_FIELDS.contains(&k.as_str())) {
        return Err(ApiError::unknown_field(k, RESTORE_FIELDS));
    }
    let target = match body.get("target") {
        None | Some(Value::Null) => {
            return Err(ApiError::invalid(
                "target",
                "target is required: an absolute directory on the server",
            ))
        }
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(ApiError::invalid(
                "target",
                format!("target must be a string, not {}", kind(other)),
            ))
        }
    };
    let target = PathBuf::from(&target);
    engine::check_target(&target).map_err(restore_error)?;
    let paths = match body.get("paths") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) if !s.trim_matches('/').is_empty() => Ok(s.clone()),
                other => Err(ApiError::invalid(
                    &format!("paths[{i}]"),
                    format!(
                        "each path must be a non-empty path, not {}",
                        match other {
                            Value::String(_) => "an empty string",
                            other => kind(other),
                        }
                    ),
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(ApiError::invalid(
                "paths",
                format!("paths must be an array of strings, not {}", kind(other)),
            ))
        }
    };
    engine::check_paths(&paths).map_err(restore_error)?;
    let opts = RestoreOptions {
        force: flag(body, "force")?,
        skip_damaged: flag(body, "skip_damaged")?,
    };
    Ok((target, paths, opts, flag(body, "dry_run")?))
}

/// What verify and restore read, owned so it can go to the blocking pool: the catalog (the only
/// part of the state they use). 404 when the backup is unknown.
pub(super) fn catalog_state(ctx: &ApiContext, id: &str) -> Result<State, ApiError> {
    ctx.service
        .read(|s| {
            s.catalog.backups.contains_key(id).then(|| State {
                catalog: s.catalog.clone(),
                ..State::default()
            })
        })
        .ok_or_else(|| no_backup(id))
}

/// A restore's failure: the client's fault (unknown backup or path, a non-empty or unwritable
/// target) is a 4xx; a damaged or missing archive is the server's (500 `backup_damaged`).
pub(super) fn restore_error(e: EngineError) -> ApiError {
    let message = e.message_for(Front::Api);
    let target_fault = |source: &std::io::Error| {
        matches!(
            source.kind(),
            ErrorKind::PermissionDenied | ErrorKind::NotADirectory | ErrorKind::ReadOnlyFilesystem
        )
    };
    match &e {
        EngineError::RestoreRequest { field, reason } => ApiError::invalid(field, reason.clone()),
        EngineError::UnknownBackup { .. } => ApiError::not_found("backup_id", message),
        EngineError::NotInBackup { .. } => ApiError::not_found("paths", message),
        EngineError::TargetNotEmpty { .. } => {
            ApiError::of_kind(e.kind(), "target_not_empty", message).with_field("target")
        }
        // The request's own target, whatever the I/O error's kind: answered like a bad field.
        EngineError::Io { source, .. }
        | EngineError::Archive {
            source: ArchiveError::Io { source, .. },
            ..
        } if target_fault(source) => {
            ApiError::new(400, "target_not_writable", message).with_field("target")
        }
        EngineError::Archive {
            source: ArchiveError::UnsafePath { .. },
            ..
        } => ApiError::of_kind(e.kind(), "unsafe_path", message),
        _ if e.kind() == crate::error::ErrorKind::Integrity => {
            ApiError::of_kind(e.kind(), "backup_damaged", message)
        }
        _ => ApiError::failed(e.kind(), message),
    }
}

fn no_backup(id: &str) -> ApiError {
    ApiError::not_found("backup_id", format!("no backup {id:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::input::obj;

    #[test]
    fn restore_bodies_are_read_field_by_field() {
        let (target, paths, opts, dry) = restore_request(&obj(
            json!({"target": "/tmp/r", "paths": ["files/a"], "force": true}),
        ))
        .unwrap();
        assert_eq!(
            (target, paths, opts.force, opts.skip_damaged, dry),
            (
                PathBuf::from("/tmp/r"),
                vec!["files/a".to_string()],
                true,
                false,
                false
            )
        );
        let (_, paths, opts, _) = restore_request(&obj(json!({"target": "/tmp/r"}))).unwrap();
        assert!(paths.is_empty() && !opts.force && !opts.skip_damaged);
        let (_, _, opts, _) =
            restore_request(&obj(json!({"target": "/tmp/r", "skip_damaged": true}))).unwrap();
        assert!(opts.skip_damaged && !opts.force);
        let (_, paths, _, dry) = restore_request(&obj(
            json!({"target": "/tmp/r", "paths": ["/srv/a", "db:app"], "dry_run": true}),
        ))
        .unwrap();
        assert!(dry);
        assert_eq!(paths, ["/srv/a", "db:app"]);
        let cases = [
            (json!({}), "validation", "target"),
            (json!({"target": "rel/dir"}), "validation", "target"),
            (json!({"target": 5}), "validation", "target"),
            (json!({"target": "/a\u{0}b"}), "validation", "target"),
            (json!({"target": "/srv/x/../y"}), "validation", "target"),
            (json!({"target": "/srv/./y"}), "validation", "target"),
            (
                json!({"target": "/t", "paths": ["files/./a"]}),
                "validation",
                "paths[0]",
            ),
            (
                json!({"target": "/t", "skip_damaged": 1}),
                "validation",
                "skip_damaged",
            ),
            (json!({"target": "/t", "paths": "x"}), "validation", "paths"),
            (
                json!({"target": "/t", "paths": [""]}),
                "validation",
                "paths[0]",
            ),
            (
                json!({"target": "/t", "paths": ["a", 1]}),
                "validation",
                "paths[1]",
            ),
            (
                json!({"target": "/t", "force": "yes"}),
                "validation",
                "force",
            ),
            (
                json!({"target": "/t", "overwrite": true}),
                "unknown_field",
                "overwrite",
            ),
        ];
        for (body, code, field) in cases {
            let e = restore_request(&obj(body.clone())).unwrap_err();
            assert_eq!(
                (e.status, e.code, e.field.as_deref()),
                (400, code, Some(field)),
                "{body}"
            );
        }
    }

    #[test]
    fn engine_errors_map_to_statuses() {
        let io = |kind: ErrorKind| EngineError::Io {
            context: "x".into(),
            source: std::io::Error::from(kind),
        };
        let cases = [
            (EngineError::UnknownBackup { id: "b".into() }, 404),
            (
                EngineError::NotInBackup {
                    id: "b".into(),
                    path: "p".into(),
                },
                404,
            ),
            (EngineError::TargetNotEmpty { path: "/t".into() }, 409),
            (io(ErrorKind::PermissionDenied), 400),
            (
                EngineError::MissingArchive {
                    id: "b".into(),
                    path: "/d/b".into(),
                },
                500,
            ),
            (io(ErrorKind::Other), 500),
            (
                EngineError::BrokenChain {
                    id: "b".into(),
                    path: "p".into(),
                    parent: "a".into(),
                    reason: "is gone".into(),
                },
                500,
            ),
            (io(ErrorKind::StorageFull), 503),
        ];
        for (e, status) in cases {
            let shown = e.to_string();
            assert_eq!(restore_error(e).status, status, "{shown}");
        }
    }
}
