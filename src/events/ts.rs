//! The timestamp type of persisted events: i64 Unix nanoseconds in bincode, RFC 3339 in JSON.

use serde::{de::Error as _, ser::Error as _, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

/// A UTC instant. Stored as a fixed integer so the encoding never depends on how the `time`
/// crate happens to serialise its types.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ts(pub OffsetDateTime);

impl Ts {
    pub fn get(self) -> OffsetDateTime {
        self.0
    }

    /// Unix nanoseconds; `None` outside ±292 years of 1970, which no clock of ours produces.
    pub fn unix_nanos(self) -> Option<i64> {
        i64::try_from(self.0.unix_timestamp_nanos()).ok()
    }

    pub fn from_unix_nanos(nanos: i64) -> Self {
        // Every i64 of nanoseconds is inside OffsetDateTime's range, so this cannot fail.
        Ts(OffsetDateTime::from_unix_timestamp_nanos(nanos as i128)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH))
    }

    /// Whole milliseconds from `self` to `later`; 0 if `later` is earlier.
    pub fn millis_until(self, later: Ts) -> u64 {
        u64::try_from((later.0 - self.0).whole_milliseconds()).unwrap_or(0)
    }

    pub fn rfc3339(self) -> String {
        self.0
            .to_offset(time::UtcOffset::UTC)
            .format(&Rfc3339)
            .unwrap_or_else(|_| self.0.to_string())
    }
}

impl From<OffsetDateTime> for Ts {
    fn from(t: OffsetDateTime) -> Self {
        Ts(t.to_offset(time::UtcOffset::UTC))
    }
}

impl fmt::Debug for Ts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

impl fmt::Display for Ts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

impl Serialize for Ts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.rfc3339())
        } else {
            let nanos = self
                .unix_nanos()
                .ok_or_else(|| S::Error::custom("timestamp outside the i64 nanosecond range"))?;
            s.serialize_i64(nanos)
        }
    }
}

impl<'de> Deserialize<'de> for Ts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            OffsetDateTime::parse(&text, &Rfc3339)
                .map(Ts::from)
                .map_err(|e| D::Error::custom(format!("bad RFC 3339 time {text:?}: {e}")))
        } else {
            i64::deserialize(d).map(Ts::from_unix_nanos)
        }
    }
}
