//! What the answers share: instants shown in a zone's offset.

use crate::events::Ts;
use chrono::{Offset, TimeZone};
use chrono_tz::Tz;
use time::format_description::well_known::Rfc3339;
use time::UtcOffset;

/// An instant shown in a zone's offset, e.g. `2026-03-29T02:00:00+08:00`: a seed client reads
/// the local time it asked for, and the offset keeps the instant exact.
pub fn time_in(ts: Ts, zone: Tz) -> String {
    let at = ts.get();
    let offset = chrono::DateTime::from_timestamp(at.unix_timestamp(), 0)
        .map(|utc| zone.offset_from_utc_datetime(&utc.naive_utc()).fix())
        .and_then(|fixed| UtcOffset::from_whole_seconds(fixed.local_minus_utc()).ok())
        .unwrap_or(UtcOffset::UTC);
    at.to_offset(offset)
        .format(&Rfc3339)
        .unwrap_or_else(|_| ts.rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_show_the_zone_offset() {
        let t = Ts::from_unix_nanos(1_774_749_600_000_000_000); // 2026-03-29T02:00:00Z
        assert_eq!(
            time_in(t, chrono_tz::Asia::Shanghai),
            "2026-03-29T10:00:00+08:00"
        );
        assert_eq!(
            time_in(t, chrono_tz::Europe::Berlin),
            "2026-03-29T04:00:00+02:00"
        );
        assert_eq!(time_in(t, chrono_tz::UTC), "2026-03-29T02:00:00Z");
    }
}
