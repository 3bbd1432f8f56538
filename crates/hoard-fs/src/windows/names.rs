//! How a namespace is spelled as a directory name on Windows.
//!
//! Windows file systems compare names without case, and Win32 path handling gives some
//! names another meaning (`con`, `nul`, `com1`, ... with or without an extension name the
//! devices; a trailing `.` is dropped). Namespaces are case-sensitive (`[A-Za-z0-9._-]`), so
//! `Isolation` and `isolation` must not share a directory. On Windows a namespace's
//! directory is therefore its name with every uppercase letter `X` written `~x`, and a `~`
//! appended when the result would be a device name or end with `.`: lowercase namespaces
//! that are not device names (`wasmtime-1.0`) keep their Unix spelling. `~` is not in the
//! namespace alphabet, so the spelling is one-to-one, and a listing accepts only names
//! spelled exactly so.

use std::borrow::Cow;

use hoard_core::Namespace;

/// Device names that Win32 resolves in any directory, with or without an extension.
const DEVICES: [&str; 4] = ["con", "prn", "aux", "nul"];

fn is_device_name(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name);
    if DEVICES.contains(&stem) {
        return true;
    }
    // com0-com9 and lpt0-lpt9.
    stem.len() == 4
        && (stem.starts_with("com") || stem.starts_with("lpt"))
        && stem.as_bytes()[3].is_ascii_digit()
}

/// The directory name of `ns` on Windows.
pub(crate) fn namespace_dir(ns: &Namespace) -> Cow<'_, str> {
    let name = ns.as_str();
    if !name.bytes().any(|b| b.is_ascii_uppercase())
        && !is_device_name(name)
        && !name.ends_with('.')
    {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() * 2 + 1);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('~');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    if is_device_name(&out) || out.ends_with('.') {
        out.push('~');
    }
    Cow::Owned(out)
}

/// The namespace whose directory is named `dir`; `None` for any name not spelled exactly
/// as [`namespace_dir`] spells one.
pub(crate) fn parse_namespace_dir(dir: &str) -> Option<Namespace> {
    let body = dir.strip_suffix('~').unwrap_or(dir);
    let mut name = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            name.push(
                chars
                    .next()
                    .filter(char::is_ascii_lowercase)?
                    .to_ascii_uppercase(),
            );
        } else {
            name.push(c);
        }
    }
    let ns = Namespace::new(&name).ok()?;
    (namespace_dir(&ns) == dir).then_some(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_get_distinct_case_free_names_that_round_trip() {
        let cases = [
            ("wasmtime-1.0", "wasmtime-1.0"),
            ("Isolation", "~isolation"),
            ("isolation", "isolation"),
            ("nul", "nul~"),
            ("NUL", "~n~u~l"),
            ("con.txt", "con.txt~"),
            ("com1", "com1~"),
            ("com", "com"),
            ("a.", "a.~"),
        ];
        let mut seen = std::collections::HashSet::new();
        for (name, dir) in cases {
            let ns = Namespace::new(name).expect("valid");
            assert_eq!(namespace_dir(&ns), dir, "{name}");
            assert_eq!(parse_namespace_dir(dir), Some(ns), "{dir}");
            assert!(seen.insert(dir.to_lowercase()), "{dir} collides");
        }
        for foreign in [
            "Isolation",
            "nul",
            "~",
            "a~",
            "~~a",
            "x~1",
            "a.",
            ".hidden",
            "",
        ] {
            assert_eq!(parse_namespace_dir(foreign), None, "{foreign}");
        }
    }
}
