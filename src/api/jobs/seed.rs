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
//! - `"trigger_type": "cron"`, `"trigger_config": {"minute", "hour", "day", "month",
//!   "day_of_week"}`: each an integer or a string in the field syntax (`*`, `*/n`, `a-b`, `a,b,c`,
//!   `a-b/n`), numbered as in the seed (day_of_week 0 = Sunday … 6 = Saturday); month and
//!   day_of_week also by name (`jan`..`dec`, `sun`..`sat`: `"mon-fri"`). Or `{"cron": "30 2 * *
//!   mon-fri"}`: the five fields as one line (minute hour day month day_of_week), alone. Both come
//!   back as fields. The zone is not part of the trigger: `timezone` is a job-level field.
//! - `"trigger_type": "interval"`, `"trigger_config": {"days", "hours", "minutes", "seconds",
//!   "start_date"}`: non-negative integers summed into one period, and an optional RFC 3339 start
//!   within what the scheduler supports (1970 to the end of 2261).
//! - `"backup_config": {"type": "database" | "files" | "full", "options": {"include_database",
//!   "include_files", "include_config", "compression", "level"}}`.

use crate::domain::job::{validate_backup_config, validate_trigger, CODECS};
use crate::domain::trigger::cron_fields;
use crate::domain::trigger::field::{split_line, FIELDS};
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
    // Slots in line order: minute, hour, day, month, day_of_week.
    let mut fields: [Option<String>; 5] = Default::default();
    let mut line = None;
    for (key, value) in obj {
        let path = format!("trigger_config.{key}");
        if key == "cron" {
            line = match value {
                Value::Null => None,
                Value::String(text) => Some(text.clone()),
                _ => {
                    return Err(Rejection::invalid(
                        &path,
                        "must be a cron line such as \"30 2 * * mon-fri\"",
                    ))
                }
            };
            continue;
        }
        let Some(i) = FIELDS.iter().position(|f| f.name == key) else {
            let why = if key == "timezone" {
                "timezone is a field of the job, not of trigger_config".to_string()
            } else {
                format!(
                    "unknown field {key:?}: expected minute, hour, day, month, day_of_week or cron"
                )
            };
            return Err(Rejection::invalid(&path, why));
        };
        let (lo, hi) = (FIELDS[i].lo, FIELDS[i].hi);
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
    if let Some(line) = line {
        // The line is the whole trigger: a field beside it would be ambiguous.
        if let Some((_, f)) = fields.iter().zip(FIELDS).find(|(v, _)| v.is_some()) {
            return Err(Rejection::invalid(
                &format!("trigger_config.{}", f.name),
                format!(
                    "{} cannot be combined with cron: give the cron line or the fields",
                    f.name
                ),
            ));
        }
        let parts =
            split_line(&line).map_err(|why| Rejection::invalid("trigger_config.cron", why))?;
        for (text, f) in parts.iter().zip(FIELDS) {
            f.parse(text).map_err(|why| {
                Rejection::invalid("trigger_config.cron", format!("{} {text:?}: {why}", f.name))
            })?;
        }
        let [minute, hour, day, month, day_of_week] = parts.map(Some);
        return Ok(Trigger::CronV2 {
            minute,
            hour,
            day,
            month,
            day_of_week,
        });
    }
    let [minute, hour, day, month, day_of_week] = fields;
    // An empty config is refused by validate_trigger, with the field `trigger_config`. Without a
    // month the trigger is the four-field `Cron` it always was.
    Ok(match month {
        None => Trigger::Cron {
            minute,
            hour,
            day,
            day_of_week,
        },
        Some(_) => Trigger::CronV2 {
            minute,
            hour,
            day,
            month,
            day_of_week,
        },
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
        Trigger::Cron { .. } | Trigger::CronV2 { .. } => {
            let fields = cron_fields(trigger).unwrap_or_default();
            for (f, value) in FIELDS.iter().zip(fields) {
                if let Some(text) = value {
                    // Only a canonical number becomes an integer: "01" or " 1" stays the string
                    // the client wrote, so the round trip gives back the same trigger (found by
                    // the trigger_parse fuzz target).
                    let json = match text.parse::<u32>() {
                        Ok(n) if n.to_string() == text => Value::from(n),
                        _ => Value::from(text),
                    };
                    out.insert(f.name.to_string(), json);
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

/// The seed's `backup_config` as a [`BackupConfig`]; `mode` (full or incremental) comes from
/// the job, not from this object. Options not given stay `None`, so what `type` implies is
/// decided when the backup runs and the configured default codec applies.
pub fn backup_config_from_seed(value: &Value, mode: BackupMode) -> Result<BackupConfig, Rejection> {
    let obj = value.as_object().ok_or_else(|| {
        Rejection::invalid("backup_config", "backup_config must be a JSON object")
    })?;
    let mut backup_type = None;
    let mut cfg = BackupConfig::new(BackupType::Full, mode);
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
                    format!("unknown field {key:?}: expected type, options"),
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
                         include_config, compression, level"
                    ),
                ))
            }
        }
    }
    Ok(())
}

/// A [`BackupConfig`] back in the seed's shape. Only the options the client gave are written,
/// so a round trip keeps "explicit" apart from "implied by type"; `options` is always present.
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
    let mut out = Map::new();
    out.insert("type".to_string(), Value::from(type_name(cfg.backup_type)));
    out.insert("options".to_string(), Value::Object(options));
    Value::Object(out)
}

#[cfg(test)]
mod trigger_tests;

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
            backup_type: t,
            mode: BackupMode::Full,
            include_database: db,
            include_files: files,
            include_config: conf,
            compression: None,
            level: None,
        }
    }

    #[test]
    fn backup_configs_accepted_and_back() {
        let seed = json!({"type": "full", "options": {"include_database": true, "include_files": true,
            "include_config": false, "compression": "gzip", "level": 6}});
        let got = backup_config_from_seed(&seed, BackupMode::Incremental).unwrap();
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
            json!({"type": "database", "options": {}})
        );
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
            (json!({"type": "full", "mode": "full"}), "backup_config.mode"),
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
