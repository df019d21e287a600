//! Signed timestamps, in the formats a definition names.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::definitions::compiled::TimestampFormat;

/// A signed timestamp in the definition's format. `Auto` (for senders that mix them): Unix
/// milliseconds when all digits and at least 10^11 (10^11 seconds is year
/// 5138, 10^11 ms is 1973), other all-digit values Unix seconds, else RFC 3339.
pub fn parse_timestamp(format: TimestampFormat, value: &[u8]) -> Option<SystemTime> {
    let text = std::str::from_utf8(value).ok()?;
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    match format {
        TimestampFormat::Unix if digits => {
            UNIX_EPOCH.checked_add(Duration::from_secs(text.parse().ok()?))
        }
        TimestampFormat::UnixMs if digits => {
            UNIX_EPOCH.checked_add(Duration::from_millis(text.parse().ok()?))
        }
        TimestampFormat::Auto if digits => {
            let n: u64 = text.parse().ok()?;
            UNIX_EPOCH.checked_add(if n >= 100_000_000_000 {
                Duration::from_millis(n)
            } else {
                Duration::from_secs(n)
            })
        }
        TimestampFormat::Auto | TimestampFormat::Rfc3339 => parse_rfc3339(text),
        TimestampFormat::Unix | TimestampFormat::UnixMs => None,
    }
}

fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let parsed = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    // Seconds and nanoseconds apart: u64 nanoseconds end in the year 2554.
    let nanos = parsed.unix_timestamp_nanos();
    let magnitude = nanos.unsigned_abs();
    let offset = Duration::new(
        u64::try_from(magnitude / 1_000_000_000).ok()?,
        (magnitude % 1_000_000_000) as u32,
    );
    if nanos >= 0 {
        UNIX_EPOCH.checked_add(offset)
    } else {
        UNIX_EPOCH.checked_sub(offset)
    }
}
