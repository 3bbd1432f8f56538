//! How a namespace is spelled as a directory name.
//!
//! Namespaces are case-sensitive (`[A-Za-z0-9._-]`), so `Isolation` and `isolation` must not
//! share a directory. Linux's file systems compare names byte for byte, and there a
//! namespace's directory is the namespace itself. Windows file systems, and macOS's by default
//! (APFS and HFS+ are created case-insensitive unless asked otherwise), compare names without
//! case, so there a namespace's directory is its *case-free* spelling: every uppercase
//! letter `X` written `~x`, and a `~` appended when the result would be a Windows device name
//! (`con`, `nul`, `com1`, ... with or without an extension, which Win32 resolves in any
//! directory) or end with `.` (which Win32 drops). Lowercase namespaces that are not device
//! names (`wasmtime-1.0`) keep their Linux spelling. `~` is not in the namespace alphabet, so
//! the spelling is one-to-one, and a listing accepts only names spelled exactly so. macOS
//! takes the Windows spelling whole (device names and trailing dots included, harmless there)
//! so that both case-insensitive platforms share one rule and one layout.

use std::borrow::Cow;

use hoard_core::Namespace;

/// Whether namespaces take their case-free spelling here: where file systems compare names
/// without case (by default).
const CASE_FREE: bool = cfg!(any(windows, target_os = "macos"));

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

/// The directory name of `ns` on this platform: its case-free spelling on Windows and
/// macOS, the namespace itself elsewhere.
pub(crate) fn namespace_dir(ns: &Namespace) -> Cow<'_, str> {
    if CASE_FREE {
        case_free_dir(ns)
    } else {
        Cow::Borrowed(ns.as_str())
    }
}

/// The namespace whose directory is named `dir` on this platform; `None` for any name not
/// spelled exactly as [`namespace_dir`] spells one.
pub(crate) fn parse_namespace_dir(dir: &str) -> Option<Namespace> {
    if CASE_FREE {
        parse_case_free_dir(dir)
    } else {
        Namespace::new(dir).ok()
    }
}

/// The case-free directory name of `ns` (see the module docs).
fn case_free_dir(ns: &Namespace) -> Cow<'_, str> {
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

/// The namespace whose case-free directory name is `dir`; `None` for any name not spelled
/// exactly as [`case_free_dir`] spells one.
fn parse_case_free_dir(dir: &str) -> Option<Namespace> {
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
    (case_free_dir(&ns) == dir).then_some(ns)
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
            assert_eq!(case_free_dir(&ns), dir, "{name}");
            assert_eq!(parse_case_free_dir(dir), Some(ns), "{dir}");
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
            assert_eq!(parse_case_free_dir(foreign), None, "{foreign}");
        }
    }

    /// Every namespace over a small alphabet with both cases: no two case-free spellings are
    /// equal without case, so no two namespaces share a directory on a case-insensitive
    /// file system, and each spelling parses back to its namespace.
    #[test]
    fn no_two_namespaces_alias_without_case() {
        let alphabet = ['a', 'A', 'n', 'N', 'u', 'U', 'l', 'L', '.', '~'];
        let mut seen = std::collections::HashMap::new();
        let mut names = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = names
                .iter()
                .flat_map(|n| alphabet.iter().map(move |c| format!("{n}{c}")))
                .collect();
            names.extend(longer);
        }
        names.sort();
        names.dedup();
        let mut checked = 0;
        for name in &names {
            let Ok(ns) = Namespace::new(name) else {
                continue;
            };
            let dir = case_free_dir(&ns);
            assert_eq!(parse_case_free_dir(&dir).as_ref(), Some(&ns), "{dir}");
            if let Some(other) = seen.insert(dir.to_lowercase(), name.clone()) {
                panic!("{other:?} and {name:?} share the directory {dir:?}");
            }
            checked += 1;
        }
        assert!(checked > 1000, "{checked}");
    }

    /// The platform's spelling: case-free on Windows and macOS, the Linux layout unchanged.
    #[test]
    fn the_platform_spelling() {
        let ns = Namespace::new("Isolation").expect("valid");
        let expected = if CASE_FREE { "~isolation" } else { "Isolation" };
        assert_eq!(namespace_dir(&ns), expected);
        assert_eq!(parse_namespace_dir(expected), Some(ns));
        let plain = Namespace::new("wasmtime-1.0").expect("valid");
        assert_eq!(namespace_dir(&plain), "wasmtime-1.0");
    }
}
