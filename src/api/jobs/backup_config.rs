//! The seed's `backup_config` to and from the persisted [`BackupConfig`] (the rules it must
//! satisfy are the domain's: `domain::job`, `domain::selection`):
//! `{"type": "database" | "files" | "full", "mode": "full" | "incremental", "description",
//! "options": {"include_database", "include_files", "include_config", "sources": [names],
//! "compression", "level"}}`. Unknown keys are refused by their JSON path; `null` is "not given".

use crate::domain::job::{validate_backup_config, CODECS};
use crate::domain::selection::SOURCES_FIELD;
use crate::domain::Rejection;
use crate::events::{BackupConfig, BackupMode, BackupType};
use serde_json::{Map, Value};

fn type_name(t: BackupType) -> &'static str {
    match t {
        BackupType::Database => "database",
        BackupType::Files => "files",
        BackupType::Full => "full",
    }
}

/// The seed's `backup_config` as a [`BackupConfig`]. `mode` (`"full"` or `"incremental"`) is
/// `default_mode` when not given. Options not given stay `None`, so what `type` implies is
/// decided when the backup runs and the configured default codec applies.
pub fn backup_config_from_seed(
    value: &Value,
    default_mode: BackupMode,
) -> Result<BackupConfig, Rejection> {
    let obj = value.as_object().ok_or_else(|| {
        Rejection::invalid("backup_config", "backup_config must be a JSON object")
    })?;
    let mut backup_type = None;
    let mut cfg = BackupConfig::new(BackupType::Full, default_mode);
    for (key, value) in obj {
        match key.as_str() {
            "type" => {
                backup_type = Some(
                    [BackupType::Database, BackupType::Files, BackupType::Full]
                        .into_iter()
                        .find(|t| value.as_str() == Some(type_name(*t)))
                        .ok_or_else(|| {
                            Rejection::invalid(
                                "backup_config.type",
                                format!("{value} is not one of \"database\", \"files\", \"full\""),
                            )
                        })?,
                )
            }
            "mode" => {
                cfg.mode = match value {
                    Value::Null => default_mode,
                    Value::String(m) if m == "full" => BackupMode::Full,
                    Value::String(m) if m == "incremental" => BackupMode::Incremental,
                    _ => {
                        return Err(Rejection::invalid(
                            "backup_config.mode",
                            format!("{value} is not one of \"full\", \"incremental\""),
                        ))
                    }
                }
            }
            "description" => {
                cfg.description = match value {
                    Value::Null => None,
                    Value::String(text) => Some(text.clone()),
                    _ => {
                        return Err(Rejection::invalid(
                            "backup_config.description",
                            "description must be a string",
                        ))
                    }
                }
            }
            "options" => match value {
                Value::Null => {}
                Value::Object(options) => options_from_seed(options, &mut cfg)?,
                _ => {
                    return Err(Rejection::invalid(
                        "backup_config.options",
                        "options must be a JSON object",
                    ))
                }
            },
            _ => {
                return Err(Rejection::invalid(
                    &format!("backup_config.{key}"),
                    format!("unknown field {key:?}: expected type, mode, description, options"),
                ))
            }
        }
    }
    cfg.backup_type = backup_type.ok_or_else(|| {
        Rejection::invalid(
            "backup_config.type",
            "type is required: \"database\", \"files\" or \"full\"",
        )
    })?;
    validate_backup_config(&cfg)?;
    Ok(cfg)
}

/// `options.sources`: a list of configured source names, or `null` for "by category".
fn sources_from_seed(value: &Value) -> Result<Option<Vec<String>>, Rejection> {
    let bad = || {
        Rejection::invalid(
            SOURCES_FIELD,
            "sources must be a list of configured source names (GET /api/backup/sources)",
        )
    };
    match value {
        Value::Null => Ok(None),
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(bad))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        _ => Err(bad()),
    }
}

fn options_from_seed(
    options: &Map<String, Value>,
    cfg: &mut BackupConfig,
) -> Result<(), Rejection> {
    for (key, value) in options {
        let path = format!("backup_config.options.{key}");
        let flag = |slot: &mut Option<bool>| -> Result<(), Rejection> {
            *slot = match value {
                Value::Null => None,
                Value::Bool(b) => Some(*b),
                _ => return Err(Rejection::invalid(&path, "must be true or false")),
            };
            Ok(())
        };
        match key.as_str() {
            "include_database" => flag(&mut cfg.include_database)?,
            "include_files" => flag(&mut cfg.include_files)?,
            "include_config" => flag(&mut cfg.include_config)?,
            "sources" => cfg.sources = sources_from_seed(value)?,
            "compression" => {
                cfg.compression = match value {
                    Value::Null => None,
                    Value::String(codec) if CODECS.contains(&codec.as_str()) => Some(codec.clone()),
                    _ => {
                        return Err(Rejection::invalid(
                            &path,
                            format!("{value} is not one of \"zstd\", \"xz\", \"gzip\", \"none\""),
                        ))
                    }
                }
            }
            "level" => {
                cfg.level =
                    match value {
                        Value::Null => None,
                        Value::Number(n) => {
                            Some(n.as_i64().and_then(|v| i32::try_from(v).ok()).ok_or_else(
                                || Rejection::invalid(&path, format!("{n} is not a valid level")),
                            )?)
                        }
                        _ => return Err(Rejection::invalid(&path, "must be an integer")),
                    }
            }
            _ => {
                return Err(Rejection::invalid(
                    &path,
                    format!(
                        "unknown field {key:?}: expected include_database, include_files, \
                         include_config, sources, compression, level"
                    ),
                ))
            }
        }
    }
    Ok(())
}

/// A [`BackupConfig`] back in the seed's shape. Only the options the client gave are written,
/// so a round trip keeps "explicit" apart from "implied by type"; `mode` and `options` are
/// always present, `description` when there is one.
pub fn backup_config_to_seed(cfg: &BackupConfig) -> Value {
    let mut options = Map::new();
    for (name, flag) in [
        ("include_database", cfg.include_database),
        ("include_files", cfg.include_files),
        ("include_config", cfg.include_config),
    ] {
        if let Some(b) = flag {
            options.insert(name.to_string(), Value::from(b));
        }
    }
    if let Some(codec) = &cfg.compression {
        options.insert("compression".to_string(), Value::from(codec.as_str()));
    }
    if let Some(level) = cfg.level {
        options.insert("level".to_string(), Value::from(level));
    }
    if let Some(names) = &cfg.sources {
        options.insert("sources".to_string(), Value::from(names.clone()));
    }
    let mut out = Map::new();
    out.insert("type".to_string(), Value::from(type_name(cfg.backup_type)));
    out.insert(
        "mode".to_string(),
        Value::from(match cfg.mode {
            BackupMode::Full => "full",
            BackupMode::Incremental => "incremental",
        }),
    );
    if let Some(text) = &cfg.description {
        out.insert("description".to_string(), Value::from(text.as_str()));
    }
    out.insert("options".to_string(), Value::Object(options));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(
        t: BackupType,
        db: Option<bool>,
        files: Option<bool>,
        conf: Option<bool>,
    ) -> BackupConfig {
        BackupConfig {
            include_database: db,
            include_files: files,
            include_config: conf,
            ..BackupConfig::new(t, BackupMode::Full)
        }
    }

    #[test]
    fn backup_configs_accepted_and_back() {
        let seed = json!({"type": "full", "mode": "incremental", "options": {"include_database": true, "include_files": true,
            "include_config": false, "compression": "gzip", "level": 6}});
        let got = backup_config_from_seed(&seed, BackupMode::Full).unwrap();
        let mut want = config(BackupType::Full, Some(true), Some(true), Some(false));
        want.mode = BackupMode::Incremental;
        want.compression = Some("gzip".into());
        want.level = Some(6);
        assert_eq!(got, want);
        assert_eq!(backup_config_to_seed(&got), seed);

        let bare = json!({"type": "database"});
        let got = backup_config_from_seed(&bare, BackupMode::Full).unwrap();
        assert_eq!(got, config(BackupType::Database, None, None, None));
        assert_eq!(
            backup_config_to_seed(&got),
            json!({"type": "database", "mode": "full", "options": {}})
        );
        // The specification's example, with its description and a choice of sources.
        let spec = json!({"type": "database", "description": "自定义数据库备份",
            "options": {"include_database": true, "include_files": false, "sources": ["app"]}});
        let got = backup_config_from_seed(&spec, BackupMode::Full).unwrap();
        assert_eq!(got.description.as_deref(), Some("自定义数据库备份"));
        assert_eq!(got.sources, Some(vec!["app".to_string()]));
        let mut back = spec.clone();
        back["mode"] = json!("full");
        assert_eq!(backup_config_to_seed(&got), back);
        let nulls = json!({"type": "files", "options": {"include_files": null, "level": null}});
        assert_eq!(
            backup_config_from_seed(&nulls, BackupMode::Full),
            Ok(config(BackupType::Files, None, None, None))
        );
        // A level without a codec is refused: the default codec's scale is not known here.
        let bare = json!({"type": "files", "options": {"level": 19}});
        assert_eq!(
            backup_config_from_seed(&bare, BackupMode::Full)
                .unwrap_err()
                .field
                .as_deref(),
            Some("backup_config.options.level")
        );
    }

    #[test]
    fn backup_configs_refused_with_their_field() {
        #[rustfmt::skip]
        let table: Vec<(Value, &str)> = vec![
            (json!({}), "backup_config.type"),
            (json!({"options": {}}), "backup_config.type"),
            (json!({"type": "everything"}), "backup_config.type"),
            (json!({"type": 1}), "backup_config.type"),
            (json!({"type": "full", "mode": "differential"}), "backup_config.mode"),
            (json!({"type": "full", "mode": 1}), "backup_config.mode"),
            (json!({"type": "full", "description": 1}), "backup_config.description"),
            (json!({"type": "full", "comment": "x"}), "backup_config.comment"),
            (json!({"type": "full", "options": {"sources": "app"}}), "backup_config.options.sources"),
            (json!({"type": "full", "options": {"sources": [1]}}), "backup_config.options.sources"),
            (json!({"type": "full", "options": {"sources": [""]}}), "backup_config.options.sources"),
            (json!({"type": "full", "options": {"foo": 1}}), "backup_config.options.foo"),
            (json!({"type": "full", "options": []}), "backup_config.options"),
            (json!({"type": "full", "options": {"include_database": "yes"}}), "backup_config.options.include_database"),
            (json!({"type": "full", "options": {"include_config": 1}}), "backup_config.options.include_config"),
            (json!({"type": "full", "options": {"compression": "lz4"}}), "backup_config.options.compression"),
            (json!({"type": "full", "options": {"compression": 3}}), "backup_config.options.compression"),
            (json!({"type": "full", "options": {"level": "high"}}), "backup_config.options.level"),
            (json!({"type": "full", "options": {"level": 4294967296u64}}), "backup_config.options.level"),
            (json!({"type": "full", "options": {"compression": "gzip", "level": 0}}), "backup_config.options.level"),
            (json!({"type": "full", "options": {"compression": "xz", "level": 10}}), "backup_config.options.level"),
            (json!({"type": "full", "options": {"level": 20}}), "backup_config.options.level"),
            (json!("full"), "backup_config"),
        ];
        for (value, field) in table {
            let err =
                backup_config_from_seed(&value, BackupMode::Full).expect_err(&value.to_string());
            assert_eq!(err.field.as_deref(), Some(field), "{value}: {err:?}");
        }
    }
}
