//! The rules on fixed timestamps. Expected sets are written out by hand from a calendar, never
//! computed with the code under test.

use super::*;

/// 2025-01-01T00:00:00Z.
const YEAR_START: i64 = 1_735_689_600;
const HOUR: i64 = 3_600;
const DAY: i64 = 24 * HOUR;

fn at(secs: i64) -> Ts {
    Ts::from_unix_nanos(secs * 1_000_000_000)
}

/// Ids are the RFC 3339 instants, so a kept set reads as a list of times.
fn hourly_year() -> Vec<(String, Ts)> {
    (0..365 * 24)
        .map(|h| {
            let t = at(YEAR_START + h * HOUR);
            (t.rfc3339(), t)
        })
        .collect()
}

fn run(rules: &KeepRules, points: &[(String, Ts)]) -> BTreeMap<String, Vec<String>> {
    let refs: Vec<(&str, Ts)> = points.iter().map(|(id, t)| (id.as_str(), *t)).collect();
    kept(rules, &refs)
        .into_iter()
        .map(|(id, why)| (id.to_string(), why))
        .collect()
}

fn ids(kept: &BTreeMap<String, Vec<String>>) -> Vec<&str> {
    kept.keys().map(String::as_str).collect()
}

#[test]
fn a_year_of_hourly_backups_under_daily_7_weekly_4_monthly_12() {
    let rules = KeepRules {
        daily: Some(7),
        weekly: Some(4),
        monthly: Some(12),
        ..KeepRules::default()
    };
    let got = run(&rules, &hourly_year());
    // daily: the last hour of 25..31 December; weekly (ISO weeks, Monday to Sunday): Wed 31 Dec
    // is in 2026-W01, Sun 28 Dec ends 2025-W52, then Sun 21 and Sun 14 Dec; monthly: the last
    // hour of every month of 2025 (exactly 12 months: no count left for the oldest).
    let want = [
        "2025-01-31T23:00:00Z",
        "2025-02-28T23:00:00Z",
        "2025-03-31T23:00:00Z",
        "2025-04-30T23:00:00Z",
        "2025-05-31T23:00:00Z",
        "2025-06-30T23:00:00Z",
        "2025-07-31T23:00:00Z",
        "2025-08-31T23:00:00Z",
        "2025-09-30T23:00:00Z",
        "2025-10-31T23:00:00Z",
        "2025-11-30T23:00:00Z",
        "2025-12-14T23:00:00Z",
        "2025-12-21T23:00:00Z",
        "2025-12-25T23:00:00Z",
        "2025-12-26T23:00:00Z",
        "2025-12-27T23:00:00Z",
        "2025-12-28T23:00:00Z",
        "2025-12-29T23:00:00Z",
        "2025-12-30T23:00:00Z",
        "2025-12-31T23:00:00Z",
    ];
    assert_eq!(ids(&got), want);
    assert_eq!(
        got["2025-12-31T23:00:00Z"],
        [
            "keep.daily 2025-12-31",
            "keep.weekly 2026-W01",
            "keep.monthly 2025-12"
        ]
    );
    assert_eq!(
        got["2025-12-28T23:00:00Z"],
        ["keep.daily 2025-12-28", "keep.weekly 2025-W52"]
    );
    assert_eq!(got["2025-12-21T23:00:00Z"], ["keep.weekly 2025-W51"]);
    assert_eq!(got["2025-12-25T23:00:00Z"], ["keep.daily 2025-12-25"]);
    assert_eq!(got["2025-02-28T23:00:00Z"], ["keep.monthly 2025-02"]);
}

#[test]
fn counts_left_over_keep_the_oldest_backup_too() {
    // 13 months asked, 12 have backups: the oldest backup is kept as well (restic >= 0.17).
    let rules = KeepRules {
        monthly: Some(13),
        yearly: Some(3),
        ..KeepRules::default()
    };
    let got = run(&rules, &hourly_year());
    assert_eq!(got.len(), 13);
    assert_eq!(
        got["2025-01-01T00:00:00Z"],
        ["keep.monthly oldest", "keep.yearly oldest"]
    );
    assert_eq!(
        got["2025-12-31T23:00:00Z"],
        ["keep.monthly 2025-12", "keep.yearly 2025"]
    );
    assert_eq!(got["2025-01-31T23:00:00Z"], ["keep.monthly 2025-01"]);
}

#[test]
fn hourly_counts_hours_that_have_backups_and_gaps_use_up_nothing() {
    // Backups at 10:05, 10:40, 12:10, 15:00, 15:59 on one day: four distinct hours.
    let points: Vec<(String, Ts)> = [1005, 1040, 1210, 1500, 1559]
        .iter()
        .map(|hm| {
            let (h, m) = (hm / 100, hm % 100);
            (format!("b{hm}"), at(YEAR_START + h * HOUR + m * 60))
        })
        .collect();
    let rules = KeepRules {
        hourly: Some(3),
        ..KeepRules::default()
    };
    let got = run(&rules, &points);
    // Newest of 15h (15:59), of 12h (12:10), of 10h (10:40): 10:05 shares its hour.
    assert_eq!(ids(&got), ["b1040", "b1210", "b1559"]);
    assert_eq!(got["b1559"], ["keep.hourly 2025-01-01 15:00"]);
    assert_eq!(got["b1040"], ["keep.hourly 2025-01-01 10:00"]);
}

#[test]
fn last_keeps_the_newest_n_whatever_their_times() {
    let points: Vec<(String, Ts)> = (0..6)
        .map(|i| (format!("b{i}"), at(YEAR_START + i * 7 * DAY)))
        .collect();
    let rules = KeepRules {
        last: Some(3),
        ..KeepRules::default()
    };
    let got = run(&rules, &points);
    assert_eq!(ids(&got), ["b3", "b4", "b5"]);
    assert_eq!(got["b5"], ["keep.last 1"]);
    assert_eq!(got["b3"], ["keep.last 3"]);
    // More asked than there are: all of them, and nothing else happens.
    let all = run(
        &KeepRules {
            last: Some(100),
            ..KeepRules::default()
        },
        &points,
    );
    assert_eq!(all.len(), 6);
    // The order given does not matter.
    let mut reversed = points.clone();
    reversed.reverse();
    assert_eq!(run(&rules, &reversed), got);
}

#[test]
fn within_counts_back_from_the_newest_backup_not_from_now() {
    // Daily backups on 1..=10 January; within 3d of the newest (10 Jan 00:00): strictly after
    // 7 Jan 00:00, so 8, 9, 10.
    let points: Vec<(String, Ts)> = (0..10)
        .map(|d| (format!("jan{:02}", d + 1), at(YEAR_START + d * DAY)))
        .collect();
    let rules = KeepRules {
        within_secs: Some(3 * DAY as u64),
        ..KeepRules::default()
    };
    let got = run(&rules, &points);
    assert_eq!(ids(&got), ["jan08", "jan09", "jan10"]);
    assert_eq!(got["jan08"], ["keep.within 3d"]);
    // One second more and 7 January is inside.
    let rules = KeepRules {
        within_secs: Some(3 * DAY as u64 + 1),
        ..KeepRules::default()
    };
    assert_eq!(
        ids(&run(&rules, &points)),
        ["jan07", "jan08", "jan09", "jan10"]
    );
}

#[test]
fn rules_combine_as_a_union_each_counting_on_its_own() {
    // Two backups a day (06:00 and 18:00) for 20 days from Wed 1 Jan 2025.
    let points: Vec<(String, Ts)> = (0..20)
        .flat_map(|d| {
            [6, 18].map(|h| {
                (
                    format!("d{:02}h{h:02}", d + 1),
                    at(YEAR_START + d * DAY + h * HOUR),
                )
            })
        })
        .collect();
    let rules = KeepRules {
        last: Some(3),
        daily: Some(2),
        weekly: Some(2),
        within_secs: Some(12 * HOUR as u64),
        ..KeepRules::default()
    };
    let got = run(&rules, &points);
    // last 3: 20th 18h, 20th 06h, 19th 18h. daily 2: 20th 18h, 19th 18h (not "the next two
    // the last rule did not already take"). weekly 2: Mon 20 Jan is 2025-W04 (20th 18h), the
    // week before ends Sun 19 Jan (19th 18h). within 12h of 20th 18:00: strictly after 20th
    // 06:00, so only the newest. Union: three backups.
    assert_eq!(ids(&got), ["d19h18", "d20h06", "d20h18"]);
    assert_eq!(
        got["d20h18"],
        [
            "keep.last 1",
            "keep.daily 2025-01-20",
            "keep.weekly 2025-W04",
            "keep.within 12h"
        ]
    );
    assert_eq!(got["d20h06"], ["keep.last 2"]);
    assert_eq!(
        got["d19h18"],
        [
            "keep.last 3",
            "keep.daily 2025-01-19",
            "keep.weekly 2025-W03"
        ]
    );
}

#[test]
fn no_backups_keep_nothing_and_zero_counts_keep_nothing() {
    assert!(run(&KeepRules::default(), &[]).is_empty());
    let rules = KeepRules {
        daily: Some(0),
        last: Some(0),
        ..KeepRules::default()
    };
    assert!(run(&rules, &hourly_year()[..48]).is_empty());
    assert!(!is_empty(&rules));
    assert!(is_empty(&KeepRules::default()));
}
