//! xs:dateTime text for key lifetimes (TS 24.109 BootstrappingInfo), from a Unix time the
//! caller supplies: this crate reads no clock.

/// Format seconds since the Unix epoch as `YYYY-MM-DDThh:mm:ssZ` (UTC). Times past the last
/// second of [`YEARS`] are written as that second (a lifetime "forever" stays parseable).
#[must_use]
pub fn format_utc(unix_secs: u64) -> String {
    let unix_secs = unix_secs.min(LAST_SECOND);
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// The years a key lifetime may name (xs:dateTime with four-digit years, from the epoch on):
/// anything else is refused rather than computed with numbers that could overflow.
pub const YEARS: std::ops::RangeInclusive<i64> = 1970..=9999;

/// Parse `YYYY-MM-DDThh:mm:ssZ` (optionally with fractional seconds) back to Unix seconds.
/// `None` for anything else, including years outside [`YEARS`]; never panics.
#[must_use]
pub fn parse_utc(text: &str) -> Option<u64> {
    let t = text.strip_suffix('Z')?;
    let (date, time) = t.split_once('T')?;
    let mut d = date.split('-');
    let (y, m, day): (i64, u32, u32) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let time = time.split('.').next()?;
    let mut h = time.split(':');
    let (hh, mm, ss): (u64, u64, u64) = (
        h.next()?.parse().ok()?,
        h.next()?.parse().ok()?,
        h.next()?.parse().ok()?,
    );
    if !YEARS.contains(&y)
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&day)
        || hh > 23
        || mm > 59
        || ss > 60
        || d.next().is_some()
    {
        return None;
    }
    let days = u64::try_from(days_from_civil(y, m, day)).ok()?;
    days.checked_mul(86_400)?
        .checked_add(hh * 3600 + mm * 60 + ss)
}

/// 9999-12-31T23:59:59Z.
const LAST_SECOND: u64 = 253_402_300_799;

// Howard Hinnant's days-from-civil algorithms (public domain description), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_795_514_400), "2026-11-24T10:00:00Z");
        assert_eq!(parse_utc("2026-11-24T10:00:00Z"), Some(1_795_514_400));
        assert_eq!(parse_utc("2026-11-24T10:00:00.250Z"), Some(1_795_514_400));
        assert_eq!(parse_utc("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_utc("yesterday"), None);
        for t in [0u64, 86_399, 1_000_000_000, 4_102_444_800, LAST_SECOND] {
            assert_eq!(parse_utc(&format_utc(t)), Some(t));
        }
        assert_eq!(format_utc(LAST_SECOND), "9999-12-31T23:59:59Z");
        assert_eq!(format_utc(u64::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(parse_utc("9223372036854775807-01-01T00:00:00Z"), None);
        assert_eq!(parse_utc("-9223372036854775808-01-01T00:00:00Z"), None);
        assert_eq!(parse_utc("1969-12-31T23:59:59Z"), None);
    }
}
