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
//! - `"backup_config"`: in `backup_config.rs` (re-exported here).

pub use super::backup_config::{backup_config_from_seed, backup_config_to_seed};
use crate::domain::job::validate_trigger;
use crate::domain::trigger::cron_fields;
use crate::domain::trigger::field::{split_line, FIELDS};
use crate::domain::Rejection;
use crate::events::{Trigger, Ts};
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

#[cfg(test)]
mod trigger_tests;
