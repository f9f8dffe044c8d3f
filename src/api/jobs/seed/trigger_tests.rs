//! The seed's trigger JSON: accepted shapes, refusals naming their field, and the round trip
//! back to the seed (the `trigger_parse` fuzz target checks the same round trip).

use super::*;
use serde_json::json;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

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

fn v2(fields: [Option<&str>; 5]) -> Trigger {
    let [minute, hour, day, month, day_of_week] = fields.map(|f| f.map(String::from));
    Trigger::CronV2 {
        minute,
        hour,
        day,
        month,
        day_of_week,
    }
}

#[test]
fn months_names_and_cron_lines() {
    #[rustfmt::skip]
    let table: Vec<(Value, Trigger)> = vec![
        (json!({"hour": 2, "month": 6}), v2([None, Some("2"), None, Some("6"), None])),
        (json!({"hour": 2, "month": "jun-aug"}), v2([None, Some("2"), None, Some("jun-aug"), None])),
        (json!({"hour": 2, "month": null}), cron(None, Some("2"), None, None)),
        (json!({"hour": 2, "day_of_week": "mon-fri"}), cron(None, Some("2"), None, Some("mon-fri"))),
        (json!({"hour": 2, "day_of_week": "SAT,sun"}), cron(None, Some("2"), None, Some("SAT,sun"))),
        (json!({"cron": "30 2 * * mon-fri"}), v2([Some("30"), Some("2"), Some("*"), Some("*"), Some("mon-fri")])),
        (json!({"cron": "0 4 1 jan,jul *", "hour": null}), v2([Some("0"), Some("4"), Some("1"), Some("jan,jul"), Some("*")])),
    ];
    for (config, want) in table {
        let got = trigger_from_seed("cron", &config);
        assert_eq!(got, Ok(want), "{config}");
        let (kind, back) = trigger_to_seed(got.as_ref().unwrap());
        assert_eq!(
            trigger_from_seed(kind, &back),
            got,
            "round trip of {config}"
        );
    }
    assert_eq!(
        trigger_to_seed(&trigger_from_seed("cron", &json!({"cron": "30 2 * * mon-fri"})).unwrap())
            .1,
        json!({"minute": 30, "hour": 2, "day": "*", "month": "*", "day_of_week": "mon-fri"})
    );
    #[rustfmt::skip]
    let refused: Vec<(Value, &str)> = vec![
        (json!({"month": 0}), "trigger_config.month"),
        (json!({"month": 13}), "trigger_config.month"),
        (json!({"month": "mon"}), "trigger_config.month"),
        (json!({"day_of_week": "fri-mon"}), "trigger_config.day_of_week"),
        (json!({"day_of_week": "7"}), "trigger_config.day_of_week"),
        (json!({"day": 30, "month": "feb"}), "trigger_config.day"),
        (json!({"day": "31", "month": "4,6,9,11"}), "trigger_config.day"),
        (json!({"cron": "30 2 * * mon-fri", "hour": 3}), "trigger_config.hour"),
        (json!({"day_of_week": 1, "cron": "30 2 * * *"}), "trigger_config.day_of_week"),
        (json!({"cron": "30 2 * *"}), "trigger_config.cron"),
        (json!({"cron": "0 30 2 * * *"}), "trigger_config.cron"),
        (json!({"cron": "60 2 * * *"}), "trigger_config.cron"),
        (json!({"cron": "0 2 * * 7"}), "trigger_config.cron"),
        (json!({"cron": "0 2 30 feb *"}), "trigger_config.day"),
        (json!({"cron": 5}), "trigger_config.cron"),
        (json!({"cron": null}), "trigger_config"),
        (json!({"hour": 2, "start_date": "2300-01-01T00:00:00Z"}), "trigger_config.start_date"),
    ];
    for (config, field) in refused {
        let err = trigger_from_seed("cron", &config).expect_err(&config.to_string());
        assert_eq!(err.field.as_deref(), Some(field), "{config}: {err:?}");
    }
    for start in [
        "2300-01-01T00:00:00Z",
        "2262-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
    ] {
        let config = json!({"hours": 1, "start_date": start});
        let err = trigger_from_seed("interval", &config).expect_err(start);
        assert_eq!(
            err.field.as_deref(),
            Some("trigger_config.start_date"),
            "{start}"
        );
    }
    let last = json!({"hours": 1, "start_date": "2261-12-31T23:59:59Z"});
    assert!(trigger_from_seed("interval", &last).is_ok());
}

proptest::proptest! {
    /// Every persistable trigger survives the trip through the seed's JSON unchanged.
    #[test]
    fn triggers_round_trip_through_the_seed(
        fields in proptest::array::uniform4(proptest::option::of(proptest::sample::select(
            vec!["0", "5", "23", "*", "*/15", "1-5", "1,3,5", "2-6/2"],
        ))),
        month in proptest::sample::select(vec!["1", "12", "*", "jan-mar", "Feb", "*/2"]),
        seconds in 1u64..100 * 365 * 86_400,
        start_s in proptest::option::of(0i64..4_000_000_000),
    ) {
        let [m, h, d, w] = fields;
        let cron = cron(m, h, d, w);
        if crate::domain::job::validate_trigger(&cron).is_ok() {
            let (kind, json) = trigger_to_seed(&cron);
            proptest::prop_assert_eq!(trigger_from_seed(kind, &json), Ok(cron));
        }
        let with_month = v2([m, h, d, Some(month), w]);
        if crate::domain::job::validate_trigger(&with_month).is_ok() {
            let (kind, json) = trigger_to_seed(&with_month);
            proptest::prop_assert_eq!(trigger_from_seed(kind, &json), Ok(with_month));
        }
        let start_at = start_s.map(|s| Ts::from_unix_nanos(s * 1_000_000_000));
        let interval = Trigger::Interval { seconds, start_at };
        let (kind, json) = trigger_to_seed(&interval);
        proptest::prop_assert_eq!(trigger_from_seed(kind, &json), Ok(interval));
    }
}
