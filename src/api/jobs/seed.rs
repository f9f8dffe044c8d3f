//! The seed's JSON shapes for triggers and backup configs, to and from the persisted types (the
//! rules they must satisfy are the domain's: `domain::job`).
//!
//! The REST API accepts the seed's bodies verbatim; this module is where their loose JSON
//! (`"hour": 2` or `"hour": "*/4"`, `"hours": 4`) becomes the strict persisted types, with every
//! refusal naming the JSON path of the offending field (`trigger_config.hour`,
//! `backup_config.options.foo`). Unknown keys are refused rather than ignored, so a typo never
//! silently turns into a default. A JSON `null` counts as "not given".
//!
//! Shapes:
//! - `"trigger_type": "cron"`, `"trigger_config": {"minute", "hour", "day", "day_of_week"}`: each
//!   an integer or a string in the field syntax (`*`, `*/n`, `a-b`, `a,b,c`, `a-b/n`), numbered as
//!   in the seed (day_of_week 0 = Sunday … 6 = Saturday). The zone is not part of the trigger:
//!   `timezone` is a job-level field.
//! - `"trigger_type": "interval"`, `"trigger_config": {"days", "hours", "minutes", "seconds",
//!   "start_date"}`: non-negative integers summed into one period, and an optional RFC 3339 start.
//! - `"backup_config": {"type": "database" | "files" | "full", "mode": "full" | "incremental",
//!   "description", "options": {"include_database", "include_files", "include_config",
//!   "sources": [names], "compression", "level"}}`.

use crate::domain::job::{validate_backup_config, validate_trigger, CODECS, CRON_FIELDS};
use crate::domain::selection::SOURCES_FIELD;
use crate::domain::Rejection;
use crate::events::{BackupConfig, BackupMode, BackupType, Trigger, Ts};
use serde_json::{Map, Value};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

/// The seed's `trigger_type` and `trigger_config` as a validated [`Trigger`].
pub fn trigger_from_seed(trigger_type: &str, config: &Value) -> Result<Trigger, Rejection> {
    if !matches!(trigger_type, "cron" | "interval") {
        return Err(Rejection::invalid(
            "trigger_type",
            format!("{trigger_type:?} is not a trigger type: use \"cron\" or \"interval\""),
        ));
    }
    let obj = config.as_object().ok_or_else(|| {
        Rejection::invalid("trigger_config", "trigger_config must be a JSON object")
    })?;
    let trigger = if trigger_type == "cron" {
        cron_from_seed(obj)?
    } else {
        interval_from_seed(obj)?
    };
    validate_trigger(&trigger)?;
    Ok(trigger)
}

fn cron_from_seed(obj: &Map<String, Value>) -> Result<Trigger, Rejection> {
    // Slots in CRON_FIELDS order: minute, hour, day, day_of_week.
    let mut fields: [Option<String>; 4] = Default::default();
    for (key, value) in obj {
        let path = format!("trigger_config.{key}");
        let Some(i) = CRON_FIELDS.iter().position(|(name, _, _)| name == key) else {
            let why = if key == "timezone" {
                "timezone is a field of the job, not of trigger_config".to_string()
            } else {
                format!("unknown field {key:?}: expected minute, hour, day, day_of_week")
            };
            return Err(Rejection::invalid(&path, why));
        };
        let (_, lo, hi) = CRON_FIELDS[i];
        fields[i] = match value {
            Value::Null => None,
            Value::String(text) => Some(text.clone()),
            Value::Number(n) => {
                let Some(v) = n.as_i64().or_else(|| n.as_u64().map(|_| i64::MAX)) else {
                    return Err(Rejection::invalid(&path, format!("{n} is not an integer")));
                };
                if v < i64::from(lo) || v > i64::from(hi) {
                    return Err(Rejection::invalid(
                        &path,
                        format!("{n} is outside {lo}..={hi}"),
                    ));
                }
                Some(v.to_string())
            }
            _ => {
                return Err(Rejection::invalid(
                    &path,
                    "must be an integer or a string such as \"*/15\", \"1-5\" or \"1,3,5\"",
                ))
            }
        };
    }
    let [minute, hour, day, day_of_week] = fields;
    // An empty config is refused by validate_trigger, with the field `trigger_config`.
    Ok(Trigger::Cron {
        minute,
        hour,
        day,
        day_of_week,
    })
}

const INTERVAL_UNITS: [(&str, u64); 4] = [
    ("days", 86_400),
    ("hours", 3_600),
    ("minutes", 60),
    ("seconds", 1),
];

fn interval_from_seed(obj: &Map<String, Value>) -> Result<Trigger, Rejection> {
    let mut seconds: u64 = 0;
    let mut start_at = None;
    for (key, value) in obj {
        let path = format!("trigger_config.{key}");
        if key == "start_date" {
            start_at = match value {
                Value::Null => None,
                Value::String(text) => Some(
                    OffsetDateTime::parse(text, &Rfc3339)
                        .map(Ts::from)
                        .map_err(|_| {
                            Rejection::invalid(
                                &path,
                                format!("{text:?} is not an RFC 3339 time with offset"),
                            )
                        })?,
                ),
                _ => return Err(Rejection::invalid(&path, "must be an RFC 3339 string")),
            };
            continue;
        }
        let Some((_, unit)) = INTERVAL_UNITS.iter().find(|(name, _)| name == key) else {
            return Err(Rejection::invalid(
                &path,
                format!(
                    "unknown field {key:?}: expected days, hours, minutes, seconds, start_date"
                ),
            ));
        };
        let count = match value {
            Value::Null => 0,
            Value::Number(n) => n.as_u64().ok_or_else(|| {
                Rejection::invalid(&path, format!("{n} is not a non-negative integer"))
            })?,
            _ => return Err(Rejection::invalid(&path, "must be a non-negative integer")),
        };
        seconds = count
            .checked_mul(*unit)
            .and_then(|s| s.checked_add(seconds))
            .ok_or_else(|| Rejection::invalid(&path, "interval is too long"))?;
    }
    if seconds == 0 {
        return Err(Rejection::invalid(
            "trigger_config",
            "an interval needs at least one of days, hours, minutes, seconds above zero",
        ));
    }
    Ok(Trigger::Interval { seconds, start_at })
}

/// A [`Trigger`] back in the seed's shape: `("cron" | "interval", trigger_config)`.
///
/// Cron fields that are a plain number come back as JSON integers, the others as the string
/// the client wrote. An interval is split into days/hours/minutes/seconds without the zero
/// parts (but never empty), so `trigger_from_seed` of the result gives the same trigger.
pub fn trigger_to_seed(trigger: &Trigger) -> (&'static str, Value) {
    let mut out = Map::new();
    match trigger {
        Trigger::Cron {
            minute,
            hour,
            day,
            day_of_week,
        } => {
            for ((name, _, _), value) in CRON_FIELDS.iter().zip([minute, hour, day, day_of_week]) {
                if let Some(text) = value {
                    // Only a canonical number becomes an integer: "01" or " 1" stays the string
                    // the client wrote, so the round trip gives back the same trigger (found by
                    // the trigger_parse fuzz target).
                    let json = match text.parse::<u32>() {
                        Ok(n) if n.to_string() == *text => Value::from(n),
                        _ => Value::from(text.as_str()),
                    };
                    out.insert((*name).to_string(), json);
                }
            }
            ("cron", Value::Object(out))
        }
        Trigger::Interval { seconds, start_at } => {
            let mut rest = *seconds;
            for (name, unit) in INTERVAL_UNITS {
                let count = rest / unit;
                rest %= unit;
                if count > 0 {
                    out.insert(name.to_string(), Value::from(count));
                }
            }
            if out.is_empty() {
                out.insert("seconds".to_string(), Value::from(0));
            }
            if let Some(start) = start_at {
                out.insert("start_date".to_string(), Value::from(start.rfc3339()));
            }
            ("interval", Value::Object(out))
        }
    }
}

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

    fn cron(m: Option<&str>, h: Option<&str>, d: Option<&str>, w: Option<&str>) -> Trigger {
        Trigger::Cron {
            minute: m.map(Into::into),
            hour: h.map(Into::into),
            day: d.map(Into::into),
            day_of_week: w.map(Into::into),
        }
    }

    fn start(text: &str) -> Option<Ts> {
        Some(Ts::from(OffsetDateTime::parse(text, &Rfc3339).unwrap()))
    }

    #[test]
    fn triggers_accepted() {
        #[rustfmt::skip]
        let table: Vec<(&str, Value, Trigger)> = vec![
            ("cron", json!({"hour": 2, "minute": 0}), cron(Some("0"), Some("2"), None, None)),
            ("cron", json!({"minute": "*/15"}), cron(Some("*/15"), None, None, None)),
            ("cron", json!({"hour": "1-5", "day_of_week": "1,3,5"}), cron(None, Some("1-5"), None, Some("1,3,5"))),
            ("cron", json!({"day": 13, "day_of_week": 5}), cron(None, None, Some("13"), Some("5"))),
            ("cron", json!({"minute": "10-20/5", "hour": null}), cron(Some("10-20/5"), None, None, None)),
            ("cron", json!({"day_of_week": 0, "hour": 23, "minute": 59, "day": 31}), cron(Some("59"), Some("23"), Some("31"), Some("0"))),
            ("interval", json!({"hours": 4}), Trigger::Interval { seconds: 14_400, start_at: None }),
            ("interval", json!({"days": 1, "hours": 2, "minutes": 3, "seconds": 4}), Trigger::Interval { seconds: 93_784, start_at: None }),
            ("interval", json!({"minutes": 30, "hours": 0}), Trigger::Interval { seconds: 1_800, start_at: None }),
            ("interval", json!({"hours": 1, "start_date": "2026-01-01T02:00:00+02:00"}),
                Trigger::Interval { seconds: 3_600, start_at: start("2026-01-01T00:00:00Z") }),
        ];
        for (kind, config, want) in table {
            assert_eq!(
                trigger_from_seed(kind, &config),
                Ok(want),
                "{kind} {config}"
            );
        }
    }

    #[test]
    fn triggers_refused_with_their_field() {
        #[rustfmt::skip]
        let table: Vec<(&str, Value, &str)> = vec![
            ("date", json!({"hours": 1}), "trigger_type"),
            ("Cron", json!({"hour": 1}), "trigger_type"),
            ("cron", json!({"hour": 24}), "trigger_config.hour"),
            ("cron", json!({"minute": -1}), "trigger_config.minute"),
            ("cron", json!({"minute": 60}), "trigger_config.minute"),
            ("cron", json!({"day": 0}), "trigger_config.day"),
            ("cron", json!({"day": 32}), "trigger_config.day"),
            ("cron", json!({"day_of_week": 7}), "trigger_config.day_of_week"),
            ("cron", json!({"day_of_week": "7"}), "trigger_config.day_of_week"),
            ("cron", json!({"hour": "24"}), "trigger_config.hour"),
            ("cron", json!({"minute": "*/0"}), "trigger_config.minute"),
            ("cron", json!({"hour": "5-1"}), "trigger_config.hour"),
            ("cron", json!({"hour": 2.5}), "trigger_config.hour"),
            ("cron", json!({"hour": 18446744073709551615u64}), "trigger_config.hour"),
            ("cron", json!({"hour": true}), "trigger_config.hour"),
            ("cron", json!({"hour": 2, "second": 0}), "trigger_config.second"),
            ("cron", json!({"hour": 2, "timezone": "Europe/Berlin"}), "trigger_config.timezone"),
            ("cron", json!({}), "trigger_config"),
            ("cron", json!({"hour": null}), "trigger_config"),
            ("cron", json!("0 2 * * *"), "trigger_config"),
            ("interval", json!({}), "trigger_config"),
            ("interval", json!({"hours": 0, "minutes": 0}), "trigger_config"),
            ("interval", json!({"hours": -1}), "trigger_config.hours"),
            ("interval", json!({"hours": 1.5}), "trigger_config.hours"),
            ("interval", json!({"hours": "4"}), "trigger_config.hours"),
            ("interval", json!({"weeks": 1}), "trigger_config.weeks"),
            ("interval", json!({"days": 18446744073709551615u64}), "trigger_config.days"),
            ("interval", json!({"days": 36501}), "trigger_config"),
            ("interval", json!({"hours": 1, "start_date": "2026-01-01 00:00:00"}), "trigger_config.start_date"),
            ("interval", json!({"hours": 1, "start_date": 0}), "trigger_config.start_date"),
            ("interval", json!([4]), "trigger_config"),
        ];
        for (kind, config, field) in table {
            let err = trigger_from_seed(kind, &config).expect_err(&format!("{kind} {config}"));
            assert_eq!(
                err.field.as_deref(),
                Some(field),
                "{kind} {config}: {err:?}"
            );
            assert_eq!(err.code, crate::domain::job::RejectionCode::Validation);
            assert!(!err.message.is_empty());
        }
    }

    #[test]
    fn triggers_back_to_the_seed() {
        #[rustfmt::skip]
        let table: Vec<(Trigger, &str, Value)> = vec![
            (cron(Some("0"), Some("2"), None, None), "cron", json!({"minute": 0, "hour": 2})),
            (cron(Some("*/15"), None, Some("1-7"), Some("5")), "cron", json!({"minute": "*/15", "day": "1-7", "day_of_week": 5})),
            // not canonical numbers: kept as written (the fuzzer's round-trip find)
            (cron(None, None, Some("01"), None), "cron", json!({"day": "01"})),
            (Trigger::Interval { seconds: 14_400, start_at: None }, "interval", json!({"hours": 4})),
            (Trigger::Interval { seconds: 93_784, start_at: None }, "interval", json!({"days": 1, "hours": 2, "minutes": 3, "seconds": 4})),
            (Trigger::Interval { seconds: 86_400 + 30, start_at: start("2026-01-01T00:00:00Z") }, "interval",
                json!({"days": 1, "seconds": 30, "start_date": "2026-01-01T00:00:00Z"})),
        ];
        for (trigger, kind, config) in table {
            let (got_kind, got) = trigger_to_seed(&trigger);
            assert_eq!((got_kind, &got), (kind, &config), "{trigger:?}");
            assert_eq!(trigger_from_seed(got_kind, &got), Ok(trigger), "round trip");
        }
        // A zero interval cannot be persisted, but its shape still has a key.
        let zero = Trigger::Interval {
            seconds: 0,
            start_at: None,
        };
        assert_eq!(trigger_to_seed(&zero).1, json!({"seconds": 0}));
    }

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

    proptest::proptest! {
        /// Every persistable trigger survives the trip through the seed's JSON unchanged.
        #[test]
        fn triggers_round_trip_through_the_seed(
            fields in proptest::array::uniform4(proptest::option::of(proptest::sample::select(
                vec!["0", "5", "23", "*", "*/15", "1-5", "1,3,5", "2-6/2"],
            ))),
            seconds in 1u64..100 * 365 * 86_400,
            start_s in proptest::option::of(0i64..4_000_000_000),
        ) {
            let [m, h, d, w] = fields;
            let cron = cron(m, h, d, w);
            if crate::domain::job::validate_trigger(&cron).is_ok() {
                let (kind, json) = trigger_to_seed(&cron);
                proptest::prop_assert_eq!(trigger_from_seed(kind, &json), Ok(cron));
            }
            let start_at = start_s.map(|s| Ts::from_unix_nanos(s * 1_000_000_000));
            let interval = Trigger::Interval { seconds, start_at };
            let (kind, json) = trigger_to_seed(&interval);
            proptest::prop_assert_eq!(trigger_from_seed(kind, &json), Ok(interval));
        }
    }
}
