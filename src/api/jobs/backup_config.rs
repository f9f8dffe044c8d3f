//! The seed's `backup_config` to and from the persisted [`BackupConfig`] (the rules it must
//! satisfy are the domain's: `domain::job`, `domain::selection`):
//! `{"type": "database" | "files" | "full", "mode": "full" | "incremental", "description",
//! "options": {"include_database", "include_files", "include_config", "sources": [names],
//! "compression", "level"}, "keep": {"last", "hourly", "daily", "weekly", "monthly", "yearly":
//! counts, "within": "30d"}}`. Unknown keys are refused by their JSON path; `null` is "not
//! given" (for `keep`: the age rules of `[retention]`).

use crate::domain::duration;
use crate::domain::job::{validate_backup_config, CODECS};
use crate::domain::selection::SOURCES_FIELD;
use crate::domain::Rejection;
use crate::events::{BackupConfig, BackupMode, BackupType, KeepRules};
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
            "keep" => cfg.keep = keep_from_seed(value)?,
            _ => {
                return Err(Rejection::invalid(
                    &format!("backup_config.{key}"),
                    format!(
                        "unknown field {key:?}: expected type, mode, description, options, keep"
                    ),
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

/// The keys of `keep` with a count, in the order they are shown.
const KEEP_COUNTS: [&str; 6] = ["last", "hourly", "daily", "weekly", "monthly", "yearly"];

fn count_slot<'a>(rules: &'a mut KeepRules, key: &str) -> Option<&'a mut Option<u32>> {
    match key {
        "last" => Some(&mut rules.last),
        "hourly" => Some(&mut rules.hourly),
        "daily" => Some(&mut rules.daily),
        "weekly" => Some(&mut rules.weekly),
        "monthly" => Some(&mut rules.monthly),
        "yearly" => Some(&mut rules.yearly),
        _ => None,
    }
}

/// `keep`: restic's rules (`domain::keep`), or `null` for the age rules. Every key is optional
/// but one must be given: an empty object would silently mean "the safety rules only".
fn keep_from_seed(value: &Value) -> Result<Option<KeepRules>, Rejection> {
    let obj = match value {
        Value::Null => return Ok(None),
        Value::Object(obj) => obj,
        _ => {
            return Err(Rejection::invalid(
                "backup_config.keep",
                "keep must be a JSON object of rules, or null for the retention ages",
            ))
        }
    };
    let mut rules = KeepRules::default();
    let mut given = false;
    for (key, value) in obj {
        let path = format!("backup_config.keep.{key}");
        if let Some(slot) = count_slot(&mut rules, key) {
            *slot = match value {
                Value::Null => None,
                Value::Number(n) => Some(
                    n.as_u64()
                        .and_then(|c| u32::try_from(c).ok())
                        .ok_or_else(|| {
                            Rejection::invalid(
                                &path,
                                format!("{n} is not a count (0 to 4294967295)"),
                            )
                        })?,
                ),
                _ => return Err(Rejection::invalid(&path, "must be a non-negative integer")),
            };
        } else if key == "within" {
            rules.within_secs = match value {
                Value::Null => None,
                Value::String(text) => match duration::parse(text) {
                    Ok(Some(secs)) => Some(secs),
                    Ok(None) => return Err(Rejection::invalid(
                        &path,
                        "within needs a duration like \"30d\"; to keep everything, leave keep out",
                    )),
                    Err(e) => return Err(Rejection::invalid(&path, e)),
                },
                _ => {
                    return Err(Rejection::invalid(
                        &path,
                        "must be a duration like \"90s\", \"12h\" or \"7d\"",
                    ))
                }
            };
        } else {
            return Err(Rejection::invalid(
                &path,
                format!(
                    "unknown field {key:?}: expected last, hourly, daily, weekly, monthly, \
                     yearly, within"
                ),
            ));
        }
        given |= !value.is_null();
    }
    if !given {
        return Err(Rejection::invalid(
            "backup_config.keep",
            "keep needs at least one rule",
        ));
    }
    Ok(Some(rules))
}

/// Keep rules back in the seed's shape: only the rules given.
fn keep_to_seed(rules: &KeepRules) -> Value {
    let mut out = Map::new();
    let mut copy = *rules;
    for key in KEEP_COUNTS {
        if let Some(Some(n)) = count_slot(&mut copy, key).map(|slot| *slot) {
            out.insert(key.to_string(), Value::from(n));
        }
    }
    if let Some(secs) = rules.within_secs {
        out.insert(
            "within".to_string(),
            Value::from(duration::format(Some(secs))),
        );
    }
    Value::Object(out)
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
/// so a round trip keeps "explicit" apart from "implied by type"; `mode`, `options` and `keep`
/// (`null`: the age rules) are always present, `description` when there is one.
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
    out.insert(
        "keep".to_string(),
        cfg.keep.as_ref().map_or(Value::Null, keep_to_seed),
    );
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
        let mut back = seed.clone();
        back["keep"] = Value::Null;
        assert_eq!(backup_config_to_seed(&got), back);

        let bare = json!({"type": "database"});
        let got = backup_config_from_seed(&bare, BackupMode::Full).unwrap();
        assert_eq!(got, config(BackupType::Database, None, None, None));
        assert_eq!(
            backup_config_to_seed(&got),
            json!({"type": "database", "mode": "full", "options": {}, "keep": null})
        );
        // The specification's example, with its description and a choice of sources.
        let spec = json!({"type": "database", "description": "自定义数据库备份",
            "options": {"include_database": true, "include_files": false, "sources": ["app"]}});
        let got = backup_config_from_seed(&spec, BackupMode::Full).unwrap();
        assert_eq!(got.description.as_deref(), Some("自定义数据库备份"));
        assert_eq!(got.sources, Some(vec!["app".to_string()]));
        let mut back = spec.clone();
        back["mode"] = json!("full");
        back["keep"] = Value::Null;
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
            (json!({"type": "full", "keep": {}}), "backup_config.keep"),
            (json!({"type": "full", "keep": {"daily": null}}), "backup_config.keep"),
            (json!({"type": "full", "keep": 7}), "backup_config.keep"),
            (json!({"type": "full", "keep": [7]}), "backup_config.keep"),
            (json!({"type": "full", "keep": {"daly": 7}}), "backup_config.keep.daly"),
            (json!({"type": "full", "keep": {"daily": -1}}), "backup_config.keep.daily"),
            (json!({"type": "full", "keep": {"weekly": 1.5}}), "backup_config.keep.weekly"),
            (json!({"type": "full", "keep": {"monthly": "12"}}), "backup_config.keep.monthly"),
            (json!({"type": "full", "keep": {"last": 4294967296u64}}), "backup_config.keep.last"),
            (json!({"type": "full", "keep": {"within": 30}}), "backup_config.keep.within"),
            (json!({"type": "full", "keep": {"within": "30x"}}), "backup_config.keep.within"),
            (json!({"type": "full", "keep": {"within": "0d"}}), "backup_config.keep.within"),
            (json!({"type": "full", "keep": {"within": "forever"}}), "backup_config.keep.within"),
            (json!({"type": "full", "keep": {"yearly": 2, "hourly": true}}), "backup_config.keep.hourly"),
        ];
        for (value, field) in table {
            let err =
                backup_config_from_seed(&value, BackupMode::Full).expect_err(&value.to_string());
            assert_eq!(err.field.as_deref(), Some(field), "{value}: {err:?}");
        }
    }

    #[test]
    fn keep_rules_accepted_and_back() {
        let seed = json!({"type": "files", "keep": {"last": 3, "daily": 7, "weekly": 4, "monthly": 12, "yearly": 2, "hourly": 24, "within": "30d"}});
        let got = backup_config_from_seed(&seed, BackupMode::Full).unwrap();
        assert_eq!(
            got.keep,
            Some(KeepRules {
                last: Some(3),
                hourly: Some(24),
                daily: Some(7),
                weekly: Some(4),
                monthly: Some(12),
                yearly: Some(2),
                within_secs: Some(30 * 86_400),
            })
        );
        let back = backup_config_to_seed(&got);
        assert_eq!(back["keep"], seed["keep"]);
        // Only what was given comes back; null keys are "not given"; a zero count is a count.
        let some = json!({"type": "files", "keep": {"daily": 7, "weekly": null, "last": 0, "within": "36h"}});
        let got = backup_config_from_seed(&some, BackupMode::Full).unwrap();
        assert_eq!(
            backup_config_to_seed(&got)["keep"],
            json!({"daily": 7, "last": 0, "within": "36h"})
        );
        // null: the age rules.
        let none = json!({"type": "files", "keep": null});
        assert_eq!(
            backup_config_from_seed(&none, BackupMode::Full)
                .unwrap()
                .keep,
            None
        );
        let err = backup_config_from_seed(&json!({"type": "files", "keep": {}}), BackupMode::Full)
            .unwrap_err();
        assert_eq!(err.message, "keep needs at least one rule");
    }
}
