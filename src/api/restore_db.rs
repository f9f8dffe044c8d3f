//! `POST backups/{backup_id}/restore` with `database`: the backup's dump of that source loaded
//! into a database (`engine::load`) instead of files written under a target. The body's
//! `database` picks this branch; `target`, `paths` and `skip_damaged` belong to file restores
//! and are refused with it.

use super::backups::catalog_state;
use super::error::ApiError;
use super::input::{flag, kind};
use super::restore::restore_error;
use super::{json, ApiContext};
use crate::decide::{Command, RestoreDone};
use crate::engine::{self, LoadError, LoadRequest};
use crate::error::Front;
use crate::events::{RestoreOutcome, RestoreTarget};
use crate::progress::Cancel;
use crate::service::Meta;
use serde_json::{json, Map, Value};
use tide::Response;

/// The fields a database restore accepts.
pub const DATABASE_FIELDS: &[&str] = &["database", "into", "live", "force", "dry_run"];

/// File-restore fields, named when sent with `database`.
const FILE_ONLY: &[&str] = &["target", "paths", "skip_damaged"];

/// Is this body a database restore?
pub fn wanted(body: &Map<String, Value>) -> bool {
    body.contains_key("database")
}

/// Loads the dump and answers with what was loaded where (`LoadSummary`) and the run's id.
///
/// Like a file restore it is a run (`restore_started` with `database` and the database loaded
/// into, `restore_finished`): every check is made first, as a dry run, so a refusal (4xx) records
/// nothing; then the run is recorded around the load, its failure included.
pub async fn restore(
    ctx: &ApiContext,
    id: String,
    body: &Map<String, Value>,
    mut meta: Meta,
) -> Result<Response, ApiError> {
    let req = load_request(body)?;
    let state = catalog_state(ctx, &id)?;
    let config = ctx.config.clone();
    let checked = {
        let (config, state, id) = (config.clone(), state.clone(), id.clone());
        let dry = LoadRequest {
            dry_run: true,
            ..req.clone()
        };
        smol::unblock(move || {
            engine::load(&config, &state, &id, &dry, &Cancel::default()).map_err(load_error)
        })
        .await?
    };
    // An SQLite dump is written as a file: only into the allowed directories.
    if checked.kind == "sqlite" {
        let roots = &ctx.config.allowed_targets();
        let into = std::path::Path::new(&checked.into);
        if !engine::targets::allowed(into, roots) {
            let message = engine::targets::refusal("into", into, roots);
            return Err(ApiError::new(403, "target_not_allowed", message).with_field("into"));
        }
    }
    if req.dry_run {
        let body = serde_json::to_value(&checked).map_err(ApiError::internal)?;
        return Ok(json(200, &body));
    }
    let run_id = super::restore::restore_run_id(ctx, &mut meta);
    let start = Command::StartRestore {
        run_id: run_id.clone(),
        backup_id: id.clone(),
        paths: Vec::new(),
        database: Some(req.source.clone()),
        target: RestoreTarget::Database {
            name: checked.into.clone(),
        },
    };
    ctx.execute(start, meta.clone()).await?;
    let handle = ctx.progress.begin(&run_id);
    let loaded = {
        let id = id.clone();
        smol::unblock(move || {
            let r = engine::load_tracked(&config, &state, &id, &req, &handle);
            drop(handle);
            r
        })
        .await
    };
    let done = match &loaded {
        Ok(s) => RestoreDone {
            outcome: RestoreOutcome::Succeeded,
            files: 1,
            bytes: s.bytes,
            kept: 0,
        },
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
        done,
    };
    ctx.execute(finish, meta).await?;
    let summary = loaded.map_err(|e| {
        log::warn!("API: restore {run_id} (database) of backup {id} failed: {e}");
        load_error(e)
    })?;
    log::info!(
        "API: restore {run_id} loaded the dump of database {} of backup {} into {} ({}): {} bytes in {} ms",
        summary.database,
        summary.backup_id,
        summary.into,
        summary.tool,
        summary.bytes,
        summary.duration_ms
    );
    let mut body = serde_json::to_value(&summary).map_err(ApiError::internal)?;
    body["run_id"] = json!(run_id);
    Ok(json(200, &body))
}

/// The body: `database` (a source name, required), optional `into` (a database name; for
/// SQLite an absolute file path), `live`, `force` and `dry_run`.
fn load_request(body: &Map<String, Value>) -> Result<LoadRequest, ApiError> {
    for k in body.keys() {
        if FILE_ONLY.contains(&k.as_str()) {
            return Err(ApiError::invalid(
                k,
                format!(
                    "{k} is for restoring files and cannot be combined with database, which \
                     loads the dump into a database (name it with into); to get the dump as a \
                     file, restore with target and paths [\"db:<source>\"] instead"
                ),
            ));
        }
        if !DATABASE_FIELDS.contains(&k.as_str()) {
            return Err(ApiError::unknown_field(k, DATABASE_FIELDS));
        }
    }
    let source = match body.get("database") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        other => {
            return Err(ApiError::invalid(
                "database",
                format!(
                    "database must be the name of a database source, not {}",
                    match other {
                        Some(Value::String(_)) => "an empty string",
                        Some(v) => kind(v),
                        None => "nothing",
                    }
                ),
            ))
        }
    };
    let into = match body.get("into") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(ApiError::invalid(
                "into",
                format!("into must be a string, not {}", kind(other)),
            ))
        }
    };
    Ok(LoadRequest {
        source,
        into,
        live: flag(body, "live")?,
        force: flag(body, "force")?,
        dry_run: flag(body, "dry_run")?,
    })
}

/// The client's fault is a 4xx naming its field; a loader that failed is its kind's status
/// (`status_for`) with code `load_failed` and the tool's stderr tail.
fn load_error(e: LoadError) -> ApiError {
    let (message, kind) = (e.message_for(Front::Api), e.kind());
    match e {
        LoadError::Engine(e) => restore_error(e),
        LoadError::NotInBackup { .. } => ApiError::not_found("database", message),
        LoadError::NoLoader { .. } => {
            ApiError::new(422, "no_loader", message).with_field("database")
        }
        LoadError::Live { .. } => {
            ApiError::of_kind(kind, "live_database", message).with_field("live")
        }
        LoadError::Exists { .. } => {
            ApiError::of_kind(kind, "target_exists", message).with_field("into")
        }
        LoadError::Into { .. } => ApiError::invalid("into", message),
        LoadError::Failed { kind, .. } => ApiError::of_kind(kind, "load_failed", message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::input::obj;
    use serde_json::json;

    #[test]
    fn database_bodies_are_read_field_by_field() {
        let req = load_request(&obj(json!({"database": "app", "into": "app_copy"}))).unwrap();
        assert_eq!(
            req,
            LoadRequest {
                source: "app".into(),
                into: Some("app_copy".into()),
                ..LoadRequest::default()
            }
        );
        let req = load_request(&obj(
            json!({"database": "app", "live": true, "force": true, "dry_run": true}),
        ))
        .unwrap();
        assert!(req.live && req.force && req.dry_run && req.into.is_none());
        let cases = [
            (
                json!({"database": "app", "target": "/t"}),
                "validation",
                "target",
            ),
            (
                json!({"database": "app", "paths": ["db:app"]}),
                "validation",
                "paths",
            ),
            (
                json!({"database": "app", "skip_damaged": true}),
                "validation",
                "skip_damaged",
            ),
            (json!({"database": ""}), "validation", "database"),
            (json!({"database": 5}), "validation", "database"),
            (json!({"database": null}), "validation", "database"),
            (json!({"database": "app", "into": 1}), "validation", "into"),
            (
                json!({"database": "app", "live": "yes"}),
                "validation",
                "live",
            ),
            (
                json!({"database": "app", "onto": "x"}),
                "unknown_field",
                "onto",
            ),
        ];
        for (body, code, field) in cases {
            let e = load_request(&obj(body.clone())).unwrap_err();
            assert_eq!(
                (e.status, e.code, e.field.as_deref()),
                (400, code, Some(field)),
                "{body}"
            );
        }
    }

    #[test]
    fn load_errors_map_to_statuses() {
        let cases = [
            (
                LoadError::NotInBackup {
                    backup_id: "b".into(),
                    source_name: "app".into(),
                },
                404,
                Some("database"),
            ),
            (
                LoadError::NoLoader {
                    source_name: "c".into(),
                    reason: "x".into(),
                },
                422,
                Some("database"),
            ),
            (
                LoadError::Live {
                    source_name: "app".into(),
                    database: "test".into(),
                },
                409,
                Some("live"),
            ),
            (LoadError::Exists { path: "/r".into() }, 409, Some("into")),
            (
                LoadError::Failed {
                    source_name: "app".into(),
                    into: "x".into(),
                    reason: "psql exited with 2: could not connect".into(),
                    kind: crate::error::ErrorKind::Transient,
                },
                503,
                None,
            ),
            (
                LoadError::Engine(engine::EngineError::UnknownBackup { id: "b".into() }),
                404,
                Some("backup_id"),
            ),
        ];
        for (e, status, field) in cases {
            let shown = e.to_string();
            let a = load_error(e);
            assert_eq!((a.status, a.field.as_deref()), (status, field), "{shown}");
        }
        let live = load_error(LoadError::Live {
            source_name: "app".into(),
            database: "test".into(),
        });
        assert!(live.message.contains("\"live\": true"), "{}", live.message);
    }
}
