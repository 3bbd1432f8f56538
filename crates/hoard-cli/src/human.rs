//! Text-mode rendering for people: sizes (`1.2 GiB`), counts (`65,536`), ages (`3 days`),
//! dates (`2025-06-01 12:34:56 UTC`) and the bars of the stats histogram. JSON output never
//! goes through here: it carries exact integers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `bytes` in binary units: `0 B`, `512 B`, `1.0 KiB`, `1.2 GiB`.
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    // Precision beyond one decimal is noise for a person reading a summary.
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1023.95 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `bytes` signed, for savings that may be negative: `-3.0 KiB`.
pub(crate) fn signed_size(bytes: i128) -> String {
    let magnitude = u64::try_from(bytes.unsigned_abs()).unwrap_or(u64::MAX);
    if bytes < 0 {
        format!("-{}", size(magnitude))
    } else {
        size(magnitude)
    }
}

/// `n` with thousands separators: `65,536`.
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n` and `noun`, pluralised with an `s`: `1 entry` needs its own word, so both forms are
/// given.
pub(crate) fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", count(n), if n == 1 { one } else { many })
}

/// A duration for people, in its largest sensible unit, rounded down: `45 seconds`,
/// `3 minutes`, `5 hours`, `3 days`, `2 years`.
pub(crate) fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (n, one, many) = match secs {
        // A whole number of days (`--older-than 1d`) reads best as days.
        s if s >= 86_400 && s.is_multiple_of(86_400) && s < 63_072_000 => {
            (s / 86_400, "day", "days")
        }
        0..60 => (secs, "second", "seconds"),
        60..3_600 => (secs / 60, "minute", "minutes"),
        // Up to two days in hours: "36 hours" says more than "1 day".
        3_600..172_800 => (secs / 3_600, "hour", "hours"),
        // Up to two years in days: caches are trimmed by days, not months.
        172_800..63_072_000 => (secs / 86_400, "day", "days"),
        _ => (secs / 31_536_000, "year", "years"),
    };
    plural(n, one, many)
}

/// How long ago `then` was, seen from `now`: `3 days ago`, `in 2 hours` for a time in the
/// future (clock skew between machines sharing a cache), `never` for no time.
pub(crate) fn ago(then: Option<SystemTime>, now: SystemTime) -> String {
    let Some(then) = then else {
        return "never".to_owned();
    };
    match now.duration_since(then) {
        Ok(d) if d < Duration::from_secs(1) => "just now".to_owned(),
        Ok(d) => format!("{} ago", duration(d)),
        Err(e) => format!("in {}", duration(e.duration())),
    }
}

/// A time as `2025-06-01 12:34:56 UTC` (proleptic Gregorian calendar, UTC: no time zone
/// database is needed, and every machine prints the same text).
pub(crate) fn date(t: SystemTime) -> String {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    };
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// The calendar date of day `z` counted from 1970-01-01, by Howard Hinnant's public-domain
/// `civil_from_days` method (eras of 400 years, March-based years).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are in range by construction (1..=31, 1..=12).
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

/// A horizontal bar `width` cells wide, filled to `part / whole` with eighth-cell precision.
pub(crate) fn bar(part: u64, whole: u64, width: usize) -> String {
    const EIGHTHS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let cells = width as u128 * 8;
    let filled = if whole == 0 {
        0
    } else {
        (u128::from(part.min(whole)) * cells).div_ceil(u128::from(whole))
    };
    // `filled <= cells`, which came from a usize.
    let filled = usize::try_from(filled).unwrap_or(width * 8);
    let mut out = "█".repeat(filled / 8);
    if filled % 8 != 0 {
        out.push(EIGHTHS[filled % 8]);
    }
    let drawn = out.chars().count();
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(drawn)));
    out
}

/// A ratio such as a compression ratio, `3.7x`, or `-` when there is nothing to divide.
pub(crate) fn ratio(numerator: u64, denominator: u64) -> String {
    if denominator == 0 {
        return "-".to_owned();
    }
    let r = numerator as f64 / denominator as f64;
    format!("{r:.2}x")
}

/// `part` as a percentage of `whole`, one decimal: `59.3%`.
pub(crate) fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".to_owned();
    }
    let p = part as f64 * 100.0 / whole as f64;
    format!("{p:.1}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_binary_units_with_one_decimal() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1024), "1.0 KiB");
        assert_eq!(size(1_288_490_189), "1.2 GiB");
        assert_eq!(size(1024 * 1024 - 1), "1.0 MiB");
        assert_eq!(size(u64::MAX), "16.0 EiB");
        assert_eq!(signed_size(-3072), "-3.0 KiB");
    }

    #[test]
    fn counts_and_durations_read_naturally() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(65_536), "65,536");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(plural(1, "entry", "entries"), "1 entry");
        assert_eq!(plural(1000, "entry", "entries"), "1,000 entries");
        let d = |s| duration(Duration::from_secs(s));
        assert_eq!(d(1), "1 second");
        assert_eq!(d(59), "59 seconds");
        assert_eq!(d(3 * 60), "3 minutes");
        assert_eq!(d(36 * 3600), "36 hours");
        assert_eq!(d(86_400), "1 day");
        assert_eq!(d(3 * 86_400), "3 days");
        assert_eq!(d(800 * 86_400), "2 years");
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            ago(Some(now - Duration::from_secs(7200)), now),
            "2 hours ago"
        );
        assert_eq!(
            ago(Some(now + Duration::from_secs(120)), now),
            "in 2 minutes"
        );
        assert_eq!(ago(Some(now), now), "just now");
        assert_eq!(ago(None, now), "never");
    }

    #[test]
    fn dates_are_utc_calendar_dates() {
        let at = |s| date(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(at(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(at(1_748_781_296), "2025-06-01 12:34:56 UTC");
        assert_eq!(
            date(UNIX_EPOCH - Duration::from_secs(86_400)),
            "1969-12-31 00:00:00 UTC"
        );
    }

    #[test]
    fn bars_fill_in_eighths() {
        assert_eq!(bar(0, 10, 4), "    ");
        assert_eq!(bar(10, 10, 4), "████");
        assert_eq!(bar(5, 10, 4), "██  ");
        assert_eq!(bar(1, 32, 4), "▏   ");
        assert_eq!(bar(1, 0, 3), "   ");
        assert_eq!(bar(u64::MAX, u64::MAX, 2), "██");
        assert_eq!(ratio(370, 100), "3.70x");
        assert_eq!(percent(1, 3), "33.3%");
    }
}
