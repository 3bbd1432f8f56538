//! The unit syntax of configuration files, for tools that take the same values on their
//! command line (the `hoard` command's `gc --max-size 512Mi`, `evict --older-than 30d`).
//!
//! The syntax is [`CacheConfig`](crate::CacheConfig)'s (see its "Units" section): a whole
//! decimal number, optional blanks, then a unit; units are case-sensitive. Parsing and
//! rendering share the configuration loader's code, so a value means the same thing in a
//! file and on a command line, and every rendered value parses back to itself.

use std::time::Duration;

use hoard_core::{Error, ErrorKind, Result};

use crate::config::units;

fn refused(what: &str, text: &str, why: String, form: &str) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        format!("invalid {what} {text:?}: {why}; expected {form}"),
    )
}

/// A size in bytes: a bare number, `K`, `M`, `G`, `T`, `P` (powers of 1000) or `Ki`, `Mi`,
/// `Gi`, `Ti`, `Pi` (powers of 1024): `"512Mi"` is 536,870,912.
///
/// Fails with [`ErrorKind::InvalidInput`] naming the value, why it was refused and the form
/// expected.
pub fn parse_size(text: &str) -> Result<u64> {
    units::parse_size(text).map_err(|why| refused("size", text, why, units::SIZE_FORM))
}

/// A count: a bare number or `K`, `M`, `G`, `T`, `P` (powers of 1000): `"64K"` is 64,000.
///
/// Fails as [`parse_size`] does.
pub fn parse_count(text: &str) -> Result<u64> {
    units::parse_count(text).map_err(|why| refused("count", text, why, units::COUNT_FORM))
}

/// A duration in whole seconds with a required unit, `s`, `m`, `h` or `d`: `"30d"`.
///
/// Fails as [`parse_size`] does.
pub fn parse_duration(text: &str) -> Result<Duration> {
    units::parse_duration(text).map_err(|why| refused("duration", text, why, units::DURATION_FORM))
}

/// `bytes` in the unit that gives the shortest exact number (`536870912` → `"512Mi"`).
pub fn render_size(bytes: u64) -> String {
    units::render_size(bytes)
}

/// `count` with the largest decimal unit that holds it exactly (`2000000` → `"2M"`).
pub fn render_count(count: u64) -> String {
    units::render_count(count)
}

/// `duration` in the largest unit that holds it exactly, sub-second parts dropped
/// (`3600 s` → `"1h"`).
pub fn render_duration(duration: Duration) -> String {
    units::render_duration(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_and_errors_name_the_value_and_the_form() {
        assert_eq!(parse_size("512Mi").ok(), Some(512 << 20));
        assert_eq!(parse_count("64K").ok(), Some(64_000));
        assert_eq!(
            parse_duration("30d").ok(),
            Some(Duration::from_secs(30 * 86_400))
        );
        let e = parse_size("12QB").expect_err("unknown unit");
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(
            e.message()
                .starts_with("invalid size \"12QB\": unknown unit"),
            "{e}"
        );
        assert!(e.message().contains("e.g. \"512Mi\""), "{e}");
        let e = parse_duration("60").expect_err("no unit");
        assert!(e.message().contains("the unit is missing"), "{e}");
        assert_eq!(render_size(512 << 20), "512Mi");
        assert_eq!(render_count(2_000_000), "2M");
        assert_eq!(render_duration(Duration::from_secs(3600)), "1h");
    }
}
