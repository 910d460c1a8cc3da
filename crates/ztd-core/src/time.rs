//! Time as a value. The domain never reads the clock: callers pass `Timestamp`s in.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The longest RFC 3339 text of a [`Timestamp`] (`YYYY-MM-DDTHH:MM:SS.fffZ`).
pub const RFC3339_MAX: usize = 24;
/// What a timestamp outside RFC 3339's range is written as (Graph's "never").
const NEVER_TEXT: &str = "0001-01-01T00:00:00Z";

/// Milliseconds since the Unix epoch, UTC. Stored as a 64-bit integer on both databases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Graph's value for "never" (`0001-01-01T00:00:00Z`).
    pub const NEVER: Timestamp = Timestamp(-62_135_596_800_000);

    pub fn from_unix_millis(millis: i64) -> Self {
        Self(millis)
    }

    pub fn as_unix_millis(self) -> i64 {
        self.0
    }

    pub fn plus_millis(self, millis: i64) -> Self {
        Self(self.0.saturating_add(millis))
    }

    /// RFC 3339 in UTC with a `Z` suffix, the form Graph emits.
    pub fn to_rfc3339(self) -> String {
        self.rfc3339_in(&mut [0; RFC3339_MAX]).to_owned()
    }

    /// [`Timestamp::to_rfc3339`] written into `buf`: serialisers write thousands of timestamps a page,
    /// and this allocates nothing. The calendar comes from `time`; the digits are written here because
    /// `time`'s general formatter cost more than the rest of a device's serialisation.
    pub fn rfc3339_in(self, buf: &mut [u8; RFC3339_MAX]) -> &str {
        let nanos = i128::from(self.0) * 1_000_000;
        let Ok(at) = OffsetDateTime::from_unix_timestamp_nanos(nanos) else {
            return NEVER_TEXT;
        };
        let (year, month, day) = at.to_calendar_date();
        let (hour, minute, second, milli) = at.to_hms_milli();
        // RFC 3339 has four-digit years only.
        let Ok(year) = u16::try_from(year) else {
            return NEVER_TEXT;
        };
        if year > 9999 {
            return NEVER_TEXT;
        }
        let mut len = 0;
        let mut put = |value: u32, digits: u32, sep: Option<u8>| {
            for i in (0..digits).rev() {
                // Each digit is below 10, so the cast cannot truncate.
                buf[len] = b'0' + (value / 10u32.pow(i) % 10) as u8;
                len += 1;
            }
            if let Some(sep) = sep {
                buf[len] = sep;
                len += 1;
            }
        };
        put(u32::from(year), 4, Some(b'-'));
        put(u32::from(u8::from(month)), 2, Some(b'-'));
        put(u32::from(day), 2, Some(b'T'));
        put(u32::from(hour), 2, Some(b':'));
        put(u32::from(minute), 2, Some(b':'));
        if milli == 0 {
            put(u32::from(second), 2, Some(b'Z'));
        } else {
            put(u32::from(second), 2, Some(b'.'));
            // Milliseconds without trailing zeros, as `time` (and Graph) write them.
            let (mut fraction, mut digits) = (u32::from(milli), 3);
            while fraction % 10 == 0 {
                fraction /= 10;
                digits -= 1;
            }
            put(fraction, digits, Some(b'Z'));
        }
        std::str::from_utf8(&buf[..len]).unwrap_or(NEVER_TEXT)
    }

    /// RFC 3339 truncated to whole seconds (`2022-09-13T15:14:02Z`), as device-side files carry it.
    pub fn to_rfc3339_seconds(self) -> String {
        Timestamp(self.0 - self.0.rem_euclid(1000)).to_rfc3339()
    }

    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let at = OffsetDateTime::parse(text, &Rfc3339).ok()?;
        i64::try_from(at.unix_timestamp_nanos() / 1_000_000)
            .ok()
            .map(Self)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.rfc3339_in(&mut [0; RFC3339_MAX]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        let at = Timestamp(1_700_000_000_123);
        assert_eq!(at.to_rfc3339(), "2023-11-14T22:13:20.123Z");
        assert_eq!(Timestamp::parse_rfc3339(&at.to_rfc3339()), Some(at));
        assert_eq!(at.to_rfc3339_seconds(), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn timestamps_outside_rfc3339_read_as_never() {
        for out_of_range in [i64::MAX, i64::MIN, 253_402_300_800_000] {
            assert_eq!(Timestamp(out_of_range).to_rfc3339(), "0001-01-01T00:00:00Z");
        }
        assert_eq!(
            Timestamp(253_402_300_799_999).to_string(),
            "9999-12-31T23:59:59.999Z"
        );
    }

    #[test]
    fn rfc3339_matches_the_time_crate_for_every_shape() {
        for millis in [
            0,
            1,
            10,
            100,
            120,
            999,
            1_700_000_000_000,
            1_700_000_000_050,
            -1,
            -62_135_596_800_000,
            253_402_300_799_999,
            951_782_400_000, // 2000-02-29
        ] {
            let expected =
                OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
                    .unwrap()
                    .format(&Rfc3339)
                    .unwrap();
            assert_eq!(Timestamp(millis).to_rfc3339(), expected, "{millis}");
        }
    }

    #[test]
    fn never_is_graphs_minimum_date() {
        assert_eq!(Timestamp::NEVER.to_rfc3339(), "0001-01-01T00:00:00Z");
    }
}
