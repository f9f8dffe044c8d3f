//! Months, day names and cron lines: fire times against hand-computed UTC instants, with the
//! same DST rules as the fields (Berlin: CET +1, CEST +2 from 2026-03-29 01:00Z to 2026-10-25
//! 01:00Z).

use super::*;
use chrono_tz::{Europe, UTC};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn ts(text: &str) -> Ts {
    Ts::from(OffsetDateTime::parse(text, &Rfc3339).unwrap())
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

/// A `cron` line as the seed parsing stores it: all five fields given.
fn line(text: &str) -> Trigger {
    let parts = field::split_line(text).unwrap();
    v2([0, 1, 2, 3, 4].map(|i| Some(parts[i].as_str())))
}

fn fires(trigger: &Trigger, zone: Tz, after: &str, n: usize) -> Vec<String> {
    let mut at = ts(after);
    let created = ts("2026-01-01T00:00:00Z");
    (0..n)
        .map(|_| {
            at = next_fire(trigger, zone, created, at).expect("a next fire time");
            at.rfc3339()
        })
        .collect()
}

#[test]
fn months_and_names_select_the_right_days() {
    #[rustfmt::skip]
    let table: &[(Trigger, Tz, &str, &[&str])] = &[
        // 2026-03-27 is a Friday: mon-fri by name, the same as 1-5.
        (line("0 9 * * mon-fri"), UTC, "2026-03-27T10:00:00Z", &["2026-03-30T09:00:00Z", "2026-03-31T09:00:00Z", "2026-04-01T09:00:00Z"]),
        (line("0 9 * * SAT,sun"), UTC, "2026-03-27T10:00:00Z", &["2026-03-28T09:00:00Z", "2026-03-29T09:00:00Z", "2026-04-04T09:00:00Z"]),
        // The 1st of January and July, at 04:00.
        (line("0 4 1 jan,jul *"), UTC, "2026-03-01T00:00:00Z", &["2026-07-01T04:00:00Z", "2027-01-01T04:00:00Z", "2027-07-01T04:00:00Z"]),
        // Quarterly by step: months 1, 4, 7, 10.
        (v2([None, Some("3"), Some("15"), Some("*/3"), None]), UTC, "2026-02-01T00:00:00Z", &["2026-04-15T03:00:00Z", "2026-07-15T03:00:00Z", "2026-10-15T03:00:00Z", "2027-01-15T03:00:00Z"]),
        // Month alone: midnight every day of that month (the usual defaults for the rest).
        (v2([None, None, None, Some("feb"), None]), UTC, "2026-02-27T12:00:00Z", &["2026-02-28T00:00:00Z", "2027-02-01T00:00:00Z"]),
        // February 29th only in leap years.
        (line("0 0 29 2 *"), UTC, "2026-01-01T00:00:00Z", &["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"]),
        // A line's DST: 02:30 in the Berlin spring gap fires at 03:00 CEST; in the fold, once.
        (line("30 2 * mar *"), Europe::Berlin, "2026-03-28T12:00:00Z", &["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"]),
        (line("30 2 25 oct sun"), Europe::Berlin, "2026-10-24T12:00:00Z", &["2026-10-25T00:30:00Z", "2037-10-25T00:30:00Z"]),
    ];
    for (trigger, zone, after, want) in table {
        assert_eq!(
            &fires(trigger, *zone, after, want.len()),
            want,
            "{trigger:?} in {zone} after {after}"
        );
    }
}

#[test]
fn a_line_and_the_same_fields_fire_alike() {
    // The line gives every field; the fields default minute 0 and day/month/day_of_week `*`.
    let fields = Trigger::Cron {
        minute: Some("30".into()),
        hour: Some("2".into()),
        day: None,
        day_of_week: Some("1-5".into()),
    };
    assert_eq!(
        fires(
            &line("30 2 * * mon-fri"),
            Europe::Berlin,
            "2026-03-20T00:00:00Z",
            20
        ),
        fires(&fields, Europe::Berlin, "2026-03-20T00:00:00Z", 20)
    );
}

#[test]
fn validation_refuses_what_never_fires_and_times_out_of_range() {
    use crate::domain::job::validate_trigger;
    let field = |t: &Trigger| validate_trigger(t).err().and_then(|e| e.field);
    assert_eq!(
        field(&line("0 0 30 feb *")),
        Some("trigger_config.day".into())
    );
    assert_eq!(
        field(&line("0 0 31 apr,jun *")),
        Some("trigger_config.day".into())
    );
    assert_eq!(field(&line("0 0 31 apr,jul *")), None);
    assert_eq!(field(&line("0 0 29 feb *")), None);
    assert_eq!(
        field(&line("0 0 * 13 *")),
        Some("trigger_config.month".into())
    );
    let interval = |start: &str| Trigger::Interval {
        seconds: 60,
        start_at: Some(ts(start)),
    };
    assert_eq!(
        field(&interval("2300-01-01T00:00:00Z")),
        Some("trigger_config.start_date".into())
    );
    assert_eq!(field(&interval("2261-12-31T23:59:59Z")), None);
}
