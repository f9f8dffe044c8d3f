//! Trigger arithmetic: the next fire time of a cron or interval trigger, in the job's zone.
//!
//! Pure: no clock reads, no I/O. The caller passes the job's zone (its own `timezone` or the
//! scheduler's default), its creation time and the instant to search from.
//!
//! Cron triggers are evaluated here on the local wall clock of the zone, with the seed's fields
//! parsed by [`field::Field::parse`], rather than through the `cron` crate, because
//! `cron` 0.17 breaks both DST rules of the design: it silently skips a local time that falls in a
//! spring-forward gap (`LocalResult::None => continue`) and fires a repeated autumn time twice
//! (its iterator yields both the earlier and the later instant of an ambiguous time). The crate is
//! kept as a cross-check in the tests for zones without DST.
//!
//! The rules:
//! - Defaults for fields not given (as the design maps them to the crate's six fields): minute
//!   `0`; hour `*` if the minute is given, else `0`; day `*`; month `*`; day_of_week `*`. A
//!   `cron` line gives all five, so nothing is defaulted there; the same DST rules apply.
//! - `day` and `day_of_week` are ANDed when both are given (`day 13` + `day_of_week 5` is only
//!   Friday the 13th), unlike Vixie cron, which ORs them. `cron` 0.17 ANDs them too.
//! - A local time that occurs twice (autumn fold) fires once, at its earliest instant.
//! - A local time that does not exist (spring gap) fires at the first instant after the gap, so a
//!   backup is never silently skipped; several such times collapse into that one slot.
//! - Interval triggers are a fixed grid `start + k * period` in elapsed time (UTC arithmetic, no
//!   DST), `start` being `start_at` or `created_at + period`, so the answer never depends on when
//!   the question is asked: restarts do not move the grid.

pub mod field;

use crate::domain::Rejection;
use crate::events::{Trigger, Ts};
use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use std::collections::VecDeque;

/// The slots of a time window: the newest few and how many there were in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slots {
    /// At most `cap` slots, the newest of the window, oldest first.
    pub newest: Vec<Ts>,
    /// Every slot in the window, including those not in `newest`.
    pub total: u64,
}

/// The first slot strictly after `after`.
///
/// `None` for a trigger that `job::validate_trigger` refuses, or when the slot lies beyond what
/// `Ts` holds (the year 2262).
pub fn next_fire(trigger: &Trigger, zone: Tz, created_at: Ts, after: Ts) -> Option<Ts> {
    match trigger {
        Trigger::Cron { .. } | Trigger::CronV2 { .. } => {
            let spec = CronSpec::compile(trigger)?;
            spec.next_after(zone, to_chrono(after)?)
                .and_then(from_chrono)
        }
        Trigger::Interval { seconds, start_at } => {
            let grid = Grid::new(*seconds, *start_at, created_at)?;
            grid.at(grid.first_index_after(nanos(after)))
        }
    }
}

/// Every slot in `(after, upto]`: the newest `cap` of them (oldest first) and the total count.
///
/// Intervals are counted by arithmetic. Cron slots are walked one by one with the same search
/// as [`next_fire`] (under a microsecond each: five years of an hourly job, 43,819 slots, take
/// a few hundredths of a second in a debug build), while memory stays at `cap` slots.
pub fn slots_between(
    trigger: &Trigger,
    zone: Tz,
    created_at: Ts,
    after: Ts,
    upto: Ts,
    cap: usize,
) -> Slots {
    let empty = Slots {
        newest: Vec::new(),
        total: 0,
    };
    if upto <= after {
        return empty;
    }
    match trigger {
        Trigger::Cron { .. } | Trigger::CronV2 { .. } => {
            let (Some(spec), Some(mut at), Some(upto)) = (
                CronSpec::compile(trigger),
                to_chrono(after),
                to_chrono(upto),
            ) else {
                return empty;
            };
            let mut newest = VecDeque::with_capacity(cap.min(1024));
            let mut total = 0u64;
            while let Some(next) = spec.next_after(zone, at) {
                let Some(slot) = from_chrono(next).filter(|_| next <= upto) else {
                    break;
                };
                total += 1;
                if cap > 0 {
                    if newest.len() == cap {
                        newest.pop_front();
                    }
                    newest.push_back(slot);
                }
                at = next;
            }
            Slots {
                newest: newest.into(),
                total,
            }
        }
        Trigger::Interval { seconds, start_at } => {
            let Some(grid) = Grid::new(*seconds, *start_at, created_at) else {
                return empty;
            };
            let first = grid.first_index_after(nanos(after));
            let upto = nanos(upto);
            if upto < grid.start {
                return empty;
            }
            let last = (upto - grid.start) / grid.period;
            if last < first {
                return empty;
            }
            let total = last - first + 1;
            let keep = total.min(cap as i128);
            let newest = (last - keep + 1..=last).map_while(|k| grid.at(k)).collect();
            Slots {
                newest,
                total: u64::try_from(total).unwrap_or(u64::MAX),
            }
        }
    }
}

/// The five cron fields of a trigger in line order (minute hour day month day_of_week), `None`
/// where not given; `None` for an interval. A four-field `Cron` has no month.
pub fn cron_fields(trigger: &Trigger) -> Option<[Option<&str>; 5]> {
    match trigger {
        Trigger::Cron {
            minute,
            hour,
            day,
            day_of_week,
        } => Some([
            minute.as_deref(),
            hour.as_deref(),
            day.as_deref(),
            None,
            day_of_week.as_deref(),
        ]),
        Trigger::CronV2 {
            minute,
            hour,
            day,
            month,
            day_of_week,
        } => Some([
            minute.as_deref(),
            hour.as_deref(),
            day.as_deref(),
            month.as_deref(),
            day_of_week.as_deref(),
        ]),
        Trigger::Interval { .. } => None,
    }
}

/// The earliest instant the scheduler handles: the Unix epoch.
pub const MIN_UNIX_SECS: i64 = 0;
/// The end of what it handles: 2262-01-01T00:00:00Z (exclusive). Event timestamps are Unix
/// nanoseconds in an i64, which end on 2262-04-11; a time past that cannot be recorded, so a
/// `start_date` of 2300 was a 500 when its `job_created` failed to encode.
pub const MAX_UNIX_SECS: i64 = 9_214_646_400;

/// A client's date/time `field`, refused (400 naming it) outside what the scheduler supports.
pub fn check_time(field: &str, t: Ts) -> Result<(), Rejection> {
    let secs = t.0.unix_timestamp();
    if (MIN_UNIX_SECS..MAX_UNIX_SECS).contains(&secs) {
        Ok(())
    } else {
        Err(Rejection::invalid(
            field,
            format!(
                "{t} is outside the supported range 1970-01-01T00:00:00Z to 2261-12-31T23:59:59Z"
            ),
        ))
    }
}

/// Validation of the cron fields (in line order): at least one given, each in its syntax, and
/// a combination that can fire at all (`day 30` in February never does).
pub fn validate_cron(fields: [Option<&str>; 5]) -> Result<(), Rejection> {
    if fields.iter().all(|f| f.is_none()) {
        return Err(Rejection::invalid(
            "trigger_config",
            "a cron trigger needs at least one of minute, hour, day, month, day_of_week",
        ));
    }
    let mut parsed: [Option<Vec<u32>>; 5] = Default::default();
    for ((value, f), slot) in fields.into_iter().zip(field::FIELDS).zip(&mut parsed) {
        if let Some(text) = value {
            *slot =
                Some(f.parse(text).map_err(|why| {
                    Rejection::invalid(&format!("trigger_config.{}", f.name), why)
                })?);
        }
    }
    if let (Some(days), Some(months)) = (&parsed[2], &parsed[3]) {
        // The longest each month gets (February 29 in leap years).
        const LONGEST: [u32; 13] = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        let first_day = days.first().copied().unwrap_or(1);
        if months.iter().all(|&m| LONGEST[m as usize] < first_day) {
            return Err(Rejection::invalid(
                "trigger_config.day",
                format!("no month selected has a day {first_day}: the trigger would never fire"),
            ));
        }
    }
    Ok(())
}

/// A deterministic delay in `[0, max_secs]` (millisecond steps) for one slot of one job.
///
/// Derived from a stable hash of the job id and the slot, so a restarted scheduler computes the
/// same fire time for the same slot, and jobs sharing a slot spread out. FNV-1a is written out
/// here because std's `DefaultHasher` may change between Rust releases.
pub fn jitter(job_id: &str, slot: Ts, max_secs: u32) -> time::Duration {
    if max_secs == 0 {
        return time::Duration::ZERO;
    }
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    let slot_nanos = slot.0.unix_timestamp_nanos();
    // The 0xff separator keeps ("ab", t) and ("a", t') from hashing the same bytes.
    for b in job_id.bytes().chain([0xff]).chain(slot_nanos.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    // FNV's low bits mix poorly; a final avalanche (MurmurHash3's fmix64) evens out the modulo.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    let millis = h % (u64::from(max_secs) * 1000 + 1);
    time::Duration::milliseconds(millis as i64)
}

/// The interval grid in Unix nanoseconds.
struct Grid {
    start: i128,
    period: i128,
}

impl Grid {
    fn new(seconds: u64, start_at: Option<Ts>, created_at: Ts) -> Option<Grid> {
        if seconds == 0 {
            return None;
        }
        let period = i128::from(seconds) * 1_000_000_000;
        let start = match start_at {
            Some(s) => nanos(s),
            None => nanos(created_at) + period,
        };
        Some(Grid { start, period })
    }

    /// Index of the first grid point strictly after `t` (0 if `t` is before the start).
    fn first_index_after(&self, t: i128) -> i128 {
        if t < self.start {
            0
        } else {
            (t - self.start) / self.period + 1
        }
    }

    fn at(&self, k: i128) -> Option<Ts> {
        let t = self.start.checked_add(k.checked_mul(self.period)?)?;
        i64::try_from(t).ok().map(Ts::from_unix_nanos)
    }
}

fn nanos(t: Ts) -> i128 {
    t.0.unix_timestamp_nanos()
}

fn to_chrono(t: Ts) -> Option<DateTime<Utc>> {
    let n = nanos(t);
    let secs = i64::try_from(n.div_euclid(1_000_000_000)).ok()?;
    DateTime::from_timestamp(secs, n.rem_euclid(1_000_000_000) as u32)
}

/// `None` outside the ±292 years around 1970 that `Ts` holds; no clock of ours gets there.
fn from_chrono(t: DateTime<Utc>) -> Option<Ts> {
    let n = i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos());
    i64::try_from(n).ok().map(Ts::from_unix_nanos)
}

/// How far ahead a cron search looks. Any valid day/day_of_week pair recurs within a few years;
/// this bounds the search for the pathological rest.
const MAX_SEARCH_DAYS: u32 = 366 * 30;

/// A cron trigger with its fields expanded: sorted minute and hour lists, bit sets of days.
#[derive(Debug)]
struct CronSpec {
    minutes: Vec<u32>,
    hours: Vec<u32>,
    /// Bit `d` set: day of month `d` (1..=31) matches.
    days: u32,
    /// Bit `m` set: month `m` (1..=12) matches.
    months: u32,
    /// Bit `w` set: weekday `w` (0 = Sunday … 6 = Saturday) matches.
    weekdays: u32,
}

impl CronSpec {
    fn compile(trigger: &Trigger) -> Option<CronSpec> {
        let [minute, hour, day, month, day_of_week] = cron_fields(trigger)?;
        // Same rule as validation: an empty cron is refused, not read as "daily at midnight".
        if [minute, hour, day, month, day_of_week]
            .iter()
            .all(|f| f.is_none())
        {
            return None;
        }
        let minute_text = minute.unwrap_or("0");
        let hour_text = match (hour, minute) {
            (Some(h), _) => h,
            (None, Some(_)) => "*",
            (None, None) => "0",
        };
        let bits = |v: Vec<u32>| v.into_iter().fold(0u32, |acc, x| acc | 1 << x);
        Some(CronSpec {
            minutes: field::MINUTE.parse(minute_text).ok()?,
            hours: field::HOUR.parse(hour_text).ok()?,
            days: bits(field::DAY.parse(day.unwrap_or("*")).ok()?),
            months: bits(field::MONTH.parse(month.unwrap_or("*")).ok()?),
            weekdays: bits(field::DAY_OF_WEEK.parse(day_of_week.unwrap_or("*")).ok()?),
        })
    }

    fn matches_date(&self, date: NaiveDate) -> bool {
        self.days & (1 << date.day()) != 0
            && self.months & (1 << date.month()) != 0
            && self.weekdays & (1 << date.weekday().num_days_from_sunday()) != 0
    }

    /// The first slot strictly after `after`.
    ///
    /// Local candidate times are walked in increasing order and each is mapped to an instant
    /// (earliest of a fold, end of a gap). That mapping never decreases, and every local time
    /// at or before `after`'s own local time maps to an instant at or before `after`, so the
    /// first candidate past that local time whose instant is past `after` is the answer.
    fn next_after(&self, zone: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&zone).naive_local();
        let mut date = local.date();
        for _ in 0..MAX_SEARCH_DAYS {
            if self.matches_date(date) {
                let first_hour = if date == local.date() {
                    local.hour()
                } else {
                    0
                };
                for &h in self.hours.iter().filter(|&&h| h >= first_hour) {
                    for &m in &self.minutes {
                        let candidate = date.and_hms_opt(h, m, 0)?;
                        if candidate <= local {
                            continue;
                        }
                        let at = resolve(zone, candidate)?;
                        // Only false when `after` is in the second pass of a fold: the
                        // repeated local times map to their first pass, already gone.
                        if at > after {
                            return Some(at);
                        }
                    }
                }
            }
            date = date.succ_opt()?;
        }
        None
    }
}

/// The instant a local wall-clock time fires at: itself if it exists once, the earliest of a
/// repeated time, and the end of the gap for a time that was skipped.
fn resolve(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(earliest, _) => Some(earliest.with_timezone(&Utc)),
        LocalResult::None => {
            // Zones have moved their clocks on whole minutes since the days of local mean
            // time, so the first local minute that exists again is the end of the gap. The
            // longest gap on record is a day (Samoa, 2011-12-30).
            let mut probe = local;
            for _ in 0..=24 * 60 {
                probe = probe.checked_add_signed(chrono::TimeDelta::minutes(1))?;
                if let Some(t) = zone.from_local_datetime(&probe).earliest() {
                    return Some(t.with_timezone(&Utc));
                }
            }
            None
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod line_tests;
