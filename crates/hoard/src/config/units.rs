//! The unit syntax of wasmtime-cache values: durations, counts, sizes and percentages.
//!
//! A value is a whole decimal number, optional blanks, then a unit (`"30m"`, `"512 Mi"`,
//! `"70%"`). Blanks around the whole value are ignored and units are case-sensitive, as in the
//! ancestor. Unlike the ancestor, a multiplication that overflows is an error for every kind
//! (its durations wrapped or panicked). Parsers return the reason for a rejection as a phrase
//! that the caller completes with the key, the value and where it came from.

use std::time::Duration;

/// What a duration looks like, for error messages.
pub(crate) const DURATION_FORM: &str = "a whole number followed by s, m, h or d, e.g. \"30m\"";
/// What a count looks like, for error messages.
pub(crate) const COUNT_FORM: &str =
    "a whole number, optionally followed by K, M, G, T or P (powers of 1000), e.g. \"64K\"";
/// What a size looks like, for error messages.
pub(crate) const SIZE_FORM: &str = "a whole number of bytes, optionally followed by K, M, G, T, P \
     (powers of 1000) or Ki, Mi, Gi, Ti, Pi (powers of 1024), e.g. \"512Mi\"";
/// What a percentage looks like, for error messages.
pub(crate) const PERCENT_FORM: &str = "a whole number from 0 to 100 followed by %, e.g. \"70%\"";

const DURATION_UNITS: &[(&str, u64)] = &[("s", 1), ("m", 60), ("h", 60 * 60), ("d", 24 * 60 * 60)];

const COUNT_UNITS: &[(&str, u64)] = &[
    ("", 1),
    ("K", 1_000),
    ("M", 1_000_000),
    ("G", 1_000_000_000),
    ("T", 1_000_000_000_000),
    ("P", 1_000_000_000_000_000),
];

const SIZE_UNITS: &[(&str, u64)] = &[
    ("", 1),
    ("K", 1_000),
    ("Ki", 1 << 10),
    ("M", 1_000_000),
    ("Mi", 1 << 20),
    ("G", 1_000_000_000),
    ("Gi", 1 << 30),
    ("T", 1_000_000_000_000),
    ("Ti", 1 << 40),
    ("P", 1_000_000_000_000_000),
    ("Pi", 1 << 50),
];

/// Splits `text` into its number and its unit (blanks between them allowed).
fn split(text: &str) -> Result<(u64, &str), String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("the value is empty".to_owned());
    }
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, rest) = text.split_at(digits_end);
    if digits.is_empty() {
        return Err(if text.starts_with(['-', '+']) {
            "a sign is not allowed".to_owned()
        } else {
            "it does not start with a whole number".to_owned()
        });
    }
    if rest.starts_with(['.', ',', '_']) {
        return Err("only whole numbers without separators are allowed".to_owned());
    }
    let number = digits
        .parse::<u64>()
        .map_err(|_| format!("the number is larger than {}", u64::MAX))?;
    Ok((number, rest.trim_start()))
}

fn scale(text: &str, units: &[(&str, u64)], what: &str) -> Result<u64, String> {
    let (number, unit) = split(text)?;
    let Some(&(_, factor)) = units.iter().find(|(name, _)| *name == unit) else {
        // No list of units here: callers end every message with the allowed form.
        return Err(if unit.is_empty() {
            "the unit is missing".to_owned()
        } else {
            format!("unknown unit {unit:?}")
        });
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("the {what} overflows: the largest is {}", u64::MAX))
}

/// A duration in whole seconds: `s`, `m`, `h` or `d`; a bare number is refused because the
/// ancestor refuses it (is `60` seconds or minutes?).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    scale(text, DURATION_UNITS, "duration in seconds").map(Duration::from_secs)
}

/// A count: a bare number, or `K`, `M`, `G`, `T`, `P` (powers of 1000).
pub(crate) fn parse_count(text: &str) -> Result<u64, String> {
    scale(text, COUNT_UNITS, "count")
}

/// A size in bytes: a bare number, decimal `K`..`P` or binary `Ki`..`Pi` multiples.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    scale(text, SIZE_UNITS, "size in bytes")
}

/// A percentage `0%` to `100%`; the `%` is required, as in the ancestor.
pub(crate) fn parse_percent(text: &str) -> Result<u8, String> {
    let (number, unit) = split(text)?;
    match unit {
        "%" => {}
        "" => return Err("the % sign is missing".to_owned()),
        other => return Err(format!("unknown unit {other:?}")),
    }
    match u8::try_from(number) {
        Ok(p) if p <= 100 => Ok(p),
        _ => Err(format!("{number}% is over 100%")),
    }
}

/// The shortest spelling of `value` with the units of `units` (the number with the fewest
/// digits; ties go to the unit listed first); `bare` is the unit of a plain number.
fn render(value: u64, units: &[(&str, u64)], bare: &str) -> String {
    let mut best = (value, bare);
    for &(name, factor) in units {
        if value.is_multiple_of(factor) && value / factor < best.0 {
            best = (value / factor, name);
        }
    }
    format!("{}{}", best.0, best.1)
}

/// `duration` in the largest unit that holds it exactly (sub-second parts are dropped: the
/// syntax has none).
pub(crate) fn render_duration(duration: Duration) -> String {
    render(duration.as_secs(), DURATION_UNITS, "s")
}

/// `count` with the largest decimal unit that holds it exactly.
pub(crate) fn render_count(count: u64) -> String {
    render(count, COUNT_UNITS, "")
}

/// `bytes` with the decimal or binary unit that gives the shortest number.
pub(crate) fn render_size(bytes: u64) -> String {
    render(bytes, SIZE_UNITS, "")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn every_unit_of_every_kind() {
        let d = |s| parse_duration(s).map(|d| d.as_secs());
        assert_eq!(d("0s"), Ok(0));
        assert_eq!(d("90s"), Ok(90));
        assert_eq!(d("30m"), Ok(1800));
        assert_eq!(d("1h"), Ok(3600));
        assert_eq!(d("1d"), Ok(86_400));
        assert_eq!(parse_count("7"), Ok(7));
        assert_eq!(parse_count("2K"), Ok(2_000));
        assert_eq!(parse_count("2M"), Ok(2_000_000));
        assert_eq!(parse_count("2G"), Ok(2_000_000_000));
        assert_eq!(parse_count("2T"), Ok(2_000_000_000_000));
        assert_eq!(parse_count("2P"), Ok(2_000_000_000_000_000));
        assert_eq!(parse_size("1K"), Ok(1000));
        assert_eq!(parse_size("1Ki"), Ok(1024));
        assert_eq!(parse_size("3Mi"), Ok(3 << 20));
        assert_eq!(parse_size("3Gi"), Ok(3 << 30));
        assert_eq!(parse_size("3Ti"), Ok(3 << 40));
        assert_eq!(parse_size("3Pi"), Ok(3 << 50));
        assert_eq!(parse_percent("0%"), Ok(0));
        assert_eq!(parse_percent("100%"), Ok(100));
    }

    #[test]
    fn blanks_around_and_inside_are_accepted_like_the_ancestor() {
        assert_eq!(parse_size("  512 Mi "), Ok(512 << 20));
        assert_eq!(parse_percent("\t70 %"), Ok(70));
        assert_eq!(parse_duration(" 1 h").map(|d| d.as_secs()), Ok(3600));
    }

    #[test]
    fn rejections_say_why() {
        let why = |r: Result<u64, String>| r.expect_err("rejected");
        assert!(why(parse_count("")).contains("empty"));
        assert!(why(parse_count("-1")).contains("sign"));
        assert!(why(parse_count("K")).contains("whole number"));
        assert!(why(parse_size("1.5Gi")).contains("whole numbers"));
        assert!(why(parse_size("1_000")).contains("separators"));
        assert!(why(parse_size("1kb")).contains("unknown unit \"kb\""));
        assert!(why(parse_count("1Ki")).contains("unknown unit \"Ki\""));
        assert!(why(parse_count("18446744073709551616")).contains("larger than"));
        assert!(why(parse_size("16384Pi")).contains("overflows"));
        let d = parse_duration("60").expect_err("no unit");
        assert!(d.contains("missing"), "{d}");
        assert!(parse_duration("1w").expect_err("weeks").contains("\"w\""));
        assert!(parse_percent("70").expect_err("no %").contains("% sign"));
        assert!(
            parse_percent("101%")
                .expect_err("101")
                .contains("over 100%")
        );
        assert!(
            parse_percent("256%")
                .expect_err("256")
                .contains("over 100%")
        );
        assert!(
            parse_percent("5%%")
                .expect_err("%%")
                .contains("unknown unit")
        );
    }

    #[test]
    fn largest_values_are_exact_and_one_more_overflows() {
        assert_eq!(parse_size("16383Pi"), Ok(16383 << 50));
        assert_eq!(parse_count("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_count("18446P"), Ok(18_446_000_000_000_000_000));
        assert!(parse_count("18447P").is_err());
        let max_days = u64::MAX / 86_400;
        assert_eq!(
            parse_duration(&format!("{max_days}d")).map(|d| d.as_secs()),
            Ok(max_days * 86_400)
        );
        assert!(parse_duration(&format!("{}d", max_days + 1)).is_err());
        assert_eq!(
            parse_duration(&format!("{}s", u64::MAX)).map(|d| d.as_secs()),
            Ok(u64::MAX)
        );
    }

    #[test]
    fn renders_are_short() {
        assert_eq!(render_size(512 << 20), "512Mi");
        assert_eq!(render_size(1000), "1K");
        assert_eq!(render_size(1 << 30), "1Gi");
        assert_eq!(render_size(0), "0");
        assert_eq!(render_size(1023), "1023");
        assert_eq!(render_count(65_536), "65536");
        assert_eq!(render_count(2_000_000), "2M");
        assert_eq!(render_duration(Duration::from_secs(3600)), "1h");
        assert_eq!(render_duration(Duration::from_secs(1800)), "30m");
        assert_eq!(render_duration(Duration::from_secs(86_400)), "1d");
        assert_eq!(render_duration(Duration::from_secs(0)), "0s");
        assert_eq!(render_duration(Duration::from_secs(61)), "61s");
    }

    proptest! {
        #[test]
        fn every_size_renders_and_parses_back(v in any::<u64>()) {
            prop_assert_eq!(parse_size(&render_size(v)), Ok(v));
        }

        #[test]
        fn every_count_renders_and_parses_back(v in any::<u64>()) {
            prop_assert_eq!(parse_count(&render_count(v)), Ok(v));
        }

        #[test]
        fn every_duration_renders_and_parses_back(v in any::<u64>()) {
            prop_assert_eq!(
                parse_duration(&render_duration(Duration::from_secs(v))),
                Ok(Duration::from_secs(v))
            );
        }

        #[test]
        fn every_number_with_every_unit_is_exact_or_refused(
            n in any::<u64>(),
            unit in prop::sample::select(SIZE_UNITS),
        ) {
            let got = parse_size(&format!("{n}{}", unit.0));
            match n.checked_mul(unit.1) {
                Some(v) => prop_assert_eq!(got, Ok(v)),
                None => prop_assert!(got.is_err()),
            }
        }

        #[test]
        fn no_input_panics(s in ".*") {
            let _ = parse_duration(&s);
            let _ = parse_count(&s);
            let _ = parse_size(&s);
            let _ = parse_percent(&s);
        }
    }
}
