//! `POST backups/{backup_id}/restore`: a backup's files into a target directory or back in place
//! (this file), or a database source's dump into a database (`restore_db`, picked by the body's
//! `database`). Every restore but a dry run is a run (`restore_started`, `restore_finished`); the
//! engine's slow work runs on the blocking pool and its errors map to 4xx where the client is at
//! fault.

use super::backups::catalog_state;
use super::error::ApiError;
use super::input::{flag, json_body, kind, meta, object, param};
use super::{json, ApiContext};
use crate::archive::ArchiveError;
use crate::decide::{Command, RestoreDone};
use crate::engine::{self, EngineError, InPlaceOptions, RestoreOptions};
use crate::error::Front;
use crate::events::{Overwrite, RestoreOutcome, RestoreTarget};
use crate::service::Meta;
use serde_json::{json, Map, Value};
use std::io::ErrorKind;
use std::path::PathBuf;
use tide::{Request, Response};

/// The fields `POST backups/{backup_id}/restore` accepts.
pub const RESTORE_FIELDS: &[&str] = &[
    "target",
    "paths",
    "force",
    "skip_damaged",
    "dry_run",
    "in_place",
    "overwrite",
];

/// Restores the whole backup, or the entries at and below `paths`, into `target` on the server,
/// or with `in_place` back to the original paths (`overwrite` decides for files that are there).
/// With `skip_damaged`, damage is not a failure: a 200 with `complete: false` and `damaged`
/// listing each file not restored and why.
///
/// A restore is a run (`restore_started`, `restore_finished`: who, what, where, outcome, files,
/// bytes, duration), listed in `GET runs` with live progress while it works; the answer names it
/// (`run_id`). A request refused before any work (a bad body, an unknown backup or path, an
/// occupied target, in place switched off) is a 4xx and records nothing; a dry run records
/// nothing either. The route needs a token with the `restore` scope.
pub async fn restore(mut req: Request<ApiContext>) -> Result<Response, ApiError> {
    let id = param(&req, "backup_id")?;
    let mut meta = meta(&req)?;
    let body = object(json_body(&mut req).await?, false)?;
    if super::restore_db::wanted(&body) {
        return super::restore_db::restore(req.state(), id, &body, meta).await;
    }
    let ask = restore_request(&body)?;
    let ctx = req.state();
    if ask.in_place.is_some() && !ctx.config.restore_in_place {
        return Err(ApiError::new(
            403,
            "in_place_disabled",
            "in-place restores are off on this server: the configuration key \
             `[restore] in_place` must be true",
        )
        .with_field("in_place"));
    }
    let state = catalog_state(ctx, &id)?;
    // Only into the allowed directories (`[restore] allowed_targets`), once the backup is known.
    if let Some(target) = &ask.target {
        let roots = &ctx.config.allowed_targets();
        if !engine::targets::allowed(target, roots) {
            let message = engine::targets::refusal("target", target, roots);
            return Err(ApiError::new(403, "target_not_allowed", message).with_field("target"));
        }
    }
    let config = ctx.config.clone();
    // Every check a restore makes before it writes (the dry run's): a refusal is the client's,
    // and no run is recorded for it.
    let plan = {
        let (config, state, id, ask) = (config.clone(), state.clone(), id.clone(), ask.clone());
        smol::unblock(move || -> Result<Value, ApiError> {
            let plan = match (&ask.target, ask.in_place) {
                (_, Some(overwrite)) => serde_json::to_value(
                    engine::plan_in_place(&config, &state, &id, &ask.paths, overwrite)
                        .map_err(restore_error)?,
                ),
                (Some(target), None) => serde_json::to_value(
                    engine::plan_restore(&config, &state, &id, target, &ask.paths, ask.opts.force)
                        .map_err(restore_error)?,
                ),
                (None, None) => unreachable!("restore_request requires one of them"),
            };
            plan.map_err(ApiError::internal)
        })
        .await?
    };
    if ask.dry_run {
        return Ok(json(200, &plan));
    }
    let run_id = restore_run_id(ctx, &mut meta);
    let target = match (&ask.target, ask.in_place) {
        (_, Some(overwrite)) => RestoreTarget::InPlace { overwrite },
        (Some(t), None) => RestoreTarget::Directory {
            path: t.display().to_string(),
        },
        (None, None) => unreachable!("restore_request requires one of them"),
    };
    let start = Command::StartRestore {
        run_id: run_id.clone(),
        backup_id: id.clone(),
        paths: ask.paths.clone(),
        database: None,
        target,
    };
    ctx.execute(start, meta.clone()).await?;
    let handle = ctx.progress.begin(&run_id);
    let work = {
        let id = id.clone();
        smol::unblock(move || -> Result<Done, EngineError> {
            let done = match (&ask.target, ask.in_place) {
                (_, Some(overwrite)) => {
                    let opts = InPlaceOptions {
                        overwrite,
                        skip_damaged: ask.opts.skip_damaged,
                    };
                    Done::InPlace(engine::restore_in_place(
                        &config,
                        &state,
                        &id,
                        &ask.paths,
                        &opts,
                        Some(&handle),
                    )?)
                }
                (Some(target), None) => Done::Target(engine::restore_tracked(
                    &config,
                    &state,
                    &id,
                    target,
                    &ask.paths,
                    &ask.opts,
                    Some(&handle),
                )?),
                (None, None) => unreachable!("restore_request requires one of them"),
            };
            drop(handle);
            Ok(done)
        })
        .await
    };
    let finished = match &work {
        Ok(done) => done.record(),
        Err(e) => RestoreDone {
            outcome: RestoreOutcome::Failed {
                error: e.message_for(Front::Api),
                kind: e.kind().into(),
            },
            files: 0,
            bytes: 0,
            kept: 0,
        },
    };
    let finish = Command::FinishRestore {
        run_id: run_id.clone(),
        done: finished,
    };
    ctx.execute(finish, meta).await?;
    let done = work.map_err(|e| {
        log::warn!("API: restore {run_id} of backup {id} failed: {e}");
        restore_error(e)
    })?;
    done.log(&run_id);
    let mut body = match &done {
        Done::Target(s) => serde_json::to_value(s),
        Done::InPlace(s) => serde_json::to_value(s),
    }
    .map_err(ApiError::internal)?;
    body["run_id"] = json!(run_id);
    Ok(json(200, &body))
}

/// A new restore run's id, made the correlation of the events the request records.
pub(super) fn restore_run_id(ctx: &ApiContext, meta: &mut Meta) -> String {
    let nanos = ctx.now().unix_nanos().unwrap_or_default();
    let run_id = format!("restore-{nanos}");
    meta.correlation = Some(run_id.clone());
    // Two records of one run; a retried key would answer the start's record for the finish.
    meta.idempotency_key = None;
    run_id
}

/// A finished restore's summary, of either kind.
enum Done {
    Target(engine::RestoreSummary),
    InPlace(engine::InPlaceSummary),
}

impl Done {
    /// What the run's `restore_finished` records.
    fn record(&self) -> RestoreDone {
        let (files, bytes, kept, damaged) = match self {
            Done::Target(s) => (s.files, s.bytes, 0, s.damaged.len()),
            Done::InPlace(s) => (
                s.files + s.symlinks,
                s.bytes,
                s.kept.len() as u64,
                s.damaged.len(),
            ),
        };
        let outcome = match damaged {
            0 => RestoreOutcome::Succeeded,
            n => RestoreOutcome::Incomplete { damaged: n as u64 },
        };
        RestoreDone {
            outcome,
            files,
            bytes,
            kept,
        }
    }

    fn log(&self, run_id: &str) {
        let (id, to, files, bytes, damaged) = match self {
            Done::Target(s) => (
                &s.backup_id,
                s.target.display().to_string(),
                s.files,
                s.bytes,
                &s.damaged,
            ),
            Done::InPlace(s) => (
                &s.backup_id,
                format!(
                    "place (overwrite {}, {} kept)",
                    s.overwrite.as_str(),
                    s.kept.len()
                ),
                s.files,
                s.bytes,
                &s.damaged,
            ),
        };
        log::info!(
            "API: restore {run_id}: restored backup {id} into {to}: {files} files, {bytes} bytes"
        );
        if !damaged.is_empty() {
            log::warn!(
                "API: restore {run_id} of backup {id} into {to} is incomplete: {} damaged file(s) not restored: {}",
                damaged.len(),
                damaged
                    .iter()
                    .map(|d| format!("{} ({})", d.path, d.reason))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
    }
}

/// A restore body, read and checked.
#[derive(Debug, Clone)]
struct RestoreAsk {
    /// `None` with `in_place`.
    target: Option<PathBuf>,
    paths: Vec<String>,
    opts: RestoreOptions,
    dry_run: bool,
    /// `Some(overwrite)` for an in-place restore (`if-newer` unless the body says).
    in_place: Option<Overwrite>,
}

/// The restore body: an absolute `target` or `in_place: true` (one of them), optional `paths`
/// (original paths, `db:<source name>`, or archive paths; in place: no `db:`), optional `force`
/// (target only), `overwrite` (in place only), `skip_damaged` and `dry_run`. The target's and
/// paths' rules are the engine's (`engine::check_target`, `check_paths`, `check_in_place_paths`),
/// the same the offline `restore` applies.
fn restore_request(body: &Map<String, Value>) -> Result<RestoreAsk, ApiError> {
    if let Some(k) = body.keys().find(|k| !RESTORE_FIELDS.contains(&k.as_str())) {
        return Err(ApiError::unknown_field(k, RESTORE_FIELDS));
    }
    let in_place = flag(body, "in_place")?;
    let target = match body.get("target") {
        None | Some(Value::Null) if in_place => None,
        None | Some(Value::Null) => {
            return Err(ApiError::invalid(
                "target",
                "target is required: an absolute directory on the server (or in_place: true)",
            ))
        }
        Some(_) if in_place => {
            return Err(ApiError::invalid(
                "target",
                "target and in_place exclude each other: in place writes to the original paths",
            ))
        }
        Some(Value::String(s)) => Some(PathBuf::from(s)),
        Some(other) => {
            return Err(ApiError::invalid(
                "target",
                format!("target must be a string, not {}", kind(other)),
            ))
        }
    };
    if let Some(target) = &target {
        engine::check_target(target).map_err(restore_error)?;
    }
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
    if in_place {
        engine::check_in_place_paths(&paths).map_err(restore_error)?;
    } else {
        engine::check_paths(&paths).map_err(restore_error)?;
    }
    let opts = RestoreOptions {
        force: flag(body, "force")?,
        skip_damaged: flag(body, "skip_damaged")?,
    };
    if in_place && opts.force {
        return Err(ApiError::invalid(
            "force",
            "force is for a non-empty target; in place, overwrite decides",
        ));
    }
    let overwrite = match body.get("overwrite") {
        None | Some(Value::Null) => None,
        Some(_) if !in_place => {
            return Err(ApiError::invalid(
                "overwrite",
                "overwrite applies to in_place restores only",
            ))
        }
        Some(Value::String(s)) => Some(Overwrite::named(s).ok_or_else(|| {
            let names: Vec<&str> = Overwrite::ALL.iter().map(|o| o.as_str()).collect();
            ApiError::invalid(
                "overwrite",
                format!("{s:?} is not one of {}", names.join(", ")),
            )
        })?),
        Some(other) => {
            return Err(ApiError::invalid(
                "overwrite",
                format!("overwrite must be a string, not {}", kind(other)),
            ))
        }
    };
    Ok(RestoreAsk {
        target,
        paths,
        opts,
        dry_run: flag(body, "dry_run")?,
        in_place: in_place.then(|| overwrite.unwrap_or(Overwrite::IfNewer)),
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::input::obj;

    #[test]
    fn restore_bodies_are_read_field_by_field() {
        let ask = restore_request(&obj(
            json!({"target": "/tmp/r", "paths": ["files/a"], "force": true}),
        ))
        .unwrap();
        assert_eq!(
            (
                ask.target,
                ask.paths,
                ask.opts.force,
                ask.opts.skip_damaged,
                ask.dry_run,
                ask.in_place
            ),
            (
                Some(PathBuf::from("/tmp/r")),
                vec!["files/a".to_string()],
                true,
                false,
                false,
                None
            )
        );
        let ask = restore_request(&obj(json!({"target": "/tmp/r"}))).unwrap();
        assert!(ask.paths.is_empty() && !ask.opts.force && !ask.opts.skip_damaged);
        let ask = restore_request(&obj(json!({"target": "/tmp/r", "skip_damaged": true}))).unwrap();
        assert!(ask.opts.skip_damaged && !ask.opts.force);
        let ask = restore_request(&obj(
            json!({"target": "/tmp/r", "paths": ["/srv/a", "db:app"], "dry_run": true}),
        ))
        .unwrap();
        assert!(ask.dry_run);
        assert_eq!(ask.paths, ["/srv/a", "db:app"]);
        // in place: if-newer unless the body says; no target
        let ask = restore_request(&obj(json!({"in_place": true, "paths": ["/srv/a"]}))).unwrap();
        assert_eq!((ask.target, ask.in_place), (None, Some(Overwrite::IfNewer)));
        for o in Overwrite::ALL {
            let ask = restore_request(&obj(
                json!({"in_place": true, "paths": ["/srv/a"], "overwrite": o.as_str()}),
            ))
            .unwrap();
            assert_eq!(ask.in_place, Some(o));
        }
        let ask = restore_request(&obj(json!({"in_place": false, "target": "/t"}))).unwrap();
        assert_eq!(ask.in_place, None);
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
                json!({"target": "/t", "overwrite": "always"}),
                "validation",
                "overwrite",
            ),
            (json!({"target": "/t", "mode": 1}), "unknown_field", "mode"),
            (
                json!({"in_place": true, "target": "/t"}),
                "validation",
                "target",
            ),
            (
                json!({"in_place": true, "paths": ["db:main"]}),
                "validation",
                "paths[0]",
            ),
            (
                json!({"in_place": true, "paths": ["/srv/a", "databases/x.sql"]}),
                "validation",
                "paths[1]",
            ),
            (
                json!({"in_place": true, "overwrite": "sometimes"}),
                "validation",
                "overwrite",
            ),
            (
                json!({"in_place": true, "overwrite": 1}),
                "validation",
                "overwrite",
            ),
            (json!({"in_place": "yes"}), "validation", "in_place"),
            (
                json!({"in_place": true, "force": true}),
                "validation",
                "force",
            ),
            (json!({"in_place": false}), "validation", "target"),
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
