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
//! - `"backup_config"`: in `backup_config.rs` (re-exported here).

pub use super::backup_config::{backup_config_from_seed, backup_config_to_seed};
use crate::domain::job::{validate_trigger, CRON_FIELDS};
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
