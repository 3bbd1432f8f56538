//! The keys of the `[cache]` table: one entry each, with how to parse it, how to write its
//! value, and the comment a new configuration file carries for it.
//!
//! This table is the single list of keys: the parser, the unknown-key suggestions and the
//! default file all read it, so a key cannot be parsed but missing from the file or the
//! other way round.

use std::path::PathBuf;

use hoard_core::{CodecId, HasherId};
use hoard_fs::Durability;
use toml::de::DeValue;

use super::units::{self, COUNT_FORM, DURATION_FORM, PERCENT_FORM, SIZE_FORM};
use super::{
    CacheConfig, Percent, check_codec, check_directory, check_hasher, check_level,
    check_max_entry_size, check_namespace, check_queue_size, check_threads,
};

/// Why a value was refused; the parser adds the key, the value as written and the location.
#[derive(Debug)]
pub(crate) enum Reason {
    /// The value has the wrong TOML type: the types allowed, and the form of the value when
    /// there is more to say.
    Type {
        kind: &'static str,
        form: Option<String>,
    },
    /// The value has the right type but is not allowed: why, and the allowed form when `why`
    /// does not already say what is allowed.
    Invalid {
        why: String,
        expected: Option<String>,
    },
}

impl Reason {
    /// The message for key `key` (as the reader wrote it, table prefix included) whose
    /// value `value` reads `shown` in the text.
    pub(crate) fn message(self, key: &str, value: &DeValue<'_>, shown: &str) -> String {
        match self {
            Reason::Type { kind, form } => format!(
                "key `{key}` must be {kind}, found {} {shown}{}",
                value.type_str(),
                form.map(|f| format!("; expected {f}")).unwrap_or_default()
            ),
            Reason::Invalid { why, expected } => format!(
                "key `{key}` has invalid value {shown}: {why}{}",
                expected
                    .map(|e| format!("; expected {e}"))
                    .unwrap_or_default()
            ),
        }
    }
}

type Parse = fn(&mut CacheConfig, &DeValue<'_>) -> Result<(), Reason>;
type Render = fn(&CacheConfig) -> String;

/// One key of the `[cache]` table.
pub(crate) struct Key {
    pub(crate) name: &'static str,
    /// The comment above the key in a new configuration file, one line per element.
    help: &'static [&'static str],
    pub(crate) parse: Parse,
    render: Render,
}

/// Every key, in the order of the ancestor's documentation, then hoard's own.
pub(crate) const KEYS: &[Key] = &[
    Key {
        name: "enabled",
        help: &[
            "Legacy switch of wasmtime's cache, accepted for old files. With `false`,",
            "Cache::from_config refuses to open a cache.",
        ],
        parse: |c, v| {
            c.enabled = boolean(v)?;
            Ok(())
        },
        render: |c| c.enabled.to_string(),
    },
    Key {
        name: "directory",
        help: &[
            "Where the cache lives: an absolute path, created when the cache is opened.",
            "Default: $HOARD_CACHE_DIR if set, else the platform cache directory (shown).",
        ],
        parse: |c, v| {
            let dir = PathBuf::from(string(v, "an absolute path")?);
            refused(check_directory(&dir))?;
            c.directory = Some(dir);
            Ok(())
        },
        render: |c| match c.cache_dir() {
            Ok(dir) => quoted(&dir.display().to_string()),
            Err(_) => quoted("/absolute/path/to/cache"),
        },
    },
    Key {
        name: "worker-event-queue-size",
        help: &[
            "Hit and insert events queued for the eviction worker; more are dropped.",
            "A count: a number, or with K, M, G, T, P (powers of 1000). At most 1048576.",
        ],
        parse: |c, v| {
            c.worker_event_queue_size = count(v)?;
            refused(check_queue_size(c.worker_event_queue_size))?;
            Ok(())
        },
        render: |c| quoted(&units::render_count(c.worker_event_queue_size)),
    },
    Key {
        name: "baseline-compression-level",
        help: &["zstd level of new entries (when codec = \"zstd\"), -131072 to 22."],
        parse: |c, v| {
            c.baseline_compression_level = level(v)?;
            refused(check_level(c.baseline_compression_level))?;
            Ok(())
        },
        render: |c| c.baseline_compression_level.to_string(),
    },
    Key {
        name: "optimized-compression-level",
        help: &["zstd level the worker recompresses popular entries at; not below the baseline."],
        parse: |c, v| {
            c.optimized_compression_level = level(v)?;
            refused(check_level(c.optimized_compression_level))?;
            Ok(())
        },
        render: |c| c.optimized_compression_level.to_string(),
    },
    Key {
        name: "optimized-compression-usage-counter-threshold",
        help: &["Uses after which an entry is recompressed at the optimized level (a count)."],
        parse: |c, v| {
            c.optimized_compression_usage_counter_threshold = count(v)?;
            Ok(())
        },
        render: |c| {
            quoted(&units::render_count(
                c.optimized_compression_usage_counter_threshold,
            ))
        },
    },
    Key {
        name: "cleanup-interval",
        help: &["Least time between two cleanups: a duration with s, m, h or d."],
        parse: |c, v| {
            c.cleanup_interval = duration(v)?;
            Ok(())
        },
        render: |c| quoted(&units::render_duration(c.cleanup_interval)),
    },
    Key {
        name: "optimizing-compression-task-timeout",
        help: &["After this long, a recompression task or a temporary file counts as abandoned."],
        parse: |c, v| {
            c.optimizing_compression_task_timeout = duration(v)?;
            Ok(())
        },
        render: |c| {
            quoted(&units::render_duration(
                c.optimizing_compression_task_timeout,
            ))
        },
    },
    Key {
        name: "allowed-clock-drift-for-files-from-future",
        help: &["How far in the future a file's time may be before it counts as wrong."],
        parse: |c, v| {
            c.allowed_clock_drift_for_files_from_future = duration(v)?;
            Ok(())
        },
        render: |c| {
            quoted(&units::render_duration(
                c.allowed_clock_drift_for_files_from_future,
            ))
        },
    },
    Key {
        name: "file-count-soft-limit",
        help: &["Number of entries above which a cleanup deletes some (a count)."],
        parse: |c, v| {
            c.file_count_soft_limit = count(v)?;
            Ok(())
        },
        render: |c| quoted(&units::render_count(c.file_count_soft_limit)),
    },
    Key {
        name: "files-total-size-soft-limit",
        help: &[
            "Total size of entries above which a cleanup deletes some: a size in bytes,",
            "with K, M, G, T, P (powers of 1000) or Ki, Mi, Gi, Ti, Pi (powers of 1024).",
        ],
        parse: |c, v| {
            c.files_total_size_soft_limit = size(v)?;
            Ok(())
        },
        render: |c| quoted(&units::render_size(c.files_total_size_soft_limit)),
    },
    Key {
        name: "file-count-limit-percent-if-deleting",
        help: &["A cleanup deletes entries down to this share of file-count-soft-limit."],
        parse: |c, v| {
            c.file_count_limit_percent_if_deleting = percent(v)?;
            Ok(())
        },
        render: |c| quoted(&c.file_count_limit_percent_if_deleting.to_string()),
    },
    Key {
        name: "files-total-size-limit-percent-if-deleting",
        help: &["A cleanup deletes entries down to this share of files-total-size-soft-limit."],
        parse: |c, v| {
            c.files_total_size_limit_percent_if_deleting = percent(v)?;
            Ok(())
        },
        render: |c| quoted(&c.files_total_size_limit_percent_if_deleting.to_string()),
    },
    Key {
        name: "codec",
        help: &[
            "hoard: how new entries are compressed: \"zstd\" (at baseline-compression-level),",
            "\"lz4\" (cargo feature lz4), \"identity\" (none), or \"adaptive\": puts write a",
            "fast format (stored as is) and the worker makes idle entries",
            "cold (zstd at adaptive-cold-level) and used ones fast again (see adaptive-*).",
            "Entries written with any codec compiled in stay readable.",
        ],
        parse: |c, v| {
            match choice(v, CODECS, "codec")? {
                CodecChoice::Adaptive => {
                    refused(super::check_adaptive())?;
                    c.adaptive = true;
                    c.codec = super::fast_codec_id();
                }
                CodecChoice::Id(id) => {
                    refused(check_codec(id))?;
                    c.adaptive = false;
                    c.codec = id;
                }
            }
            Ok(())
        },
        render: |c| {
            if c.adaptive {
                quoted("adaptive")
            } else {
                quoted(&c.codec.name())
            }
        },
    },
    Key {
        name: "adaptive-cold-after",
        help: &[
            "hoard, codec = \"adaptive\": an entry not used for this long is made cold (a",
            "duration).",
        ],
        parse: |c, v| {
            c.adaptive_policy.cold_after = duration(v)?;
            Ok(())
        },
        render: |c| quoted(&units::render_duration(c.adaptive_policy.cold_after)),
    },
    Key {
        name: "adaptive-hot-uses",
        help: &[
            "hoard, codec = \"adaptive\": uses since it was made cold that make an entry hot",
            "(stored fast again), counted across processes (a count of at least 1).",
        ],
        parse: |c, v| {
            let n = count(v)?;
            refused(if n == 0 {
                Err("an entry needs at least one use to become hot".to_owned())
            } else {
                Ok(())
            })?;
            c.adaptive_policy.hot_uses = n;
            Ok(())
        },
        render: |c| quoted(&units::render_count(c.adaptive_policy.hot_uses)),
    },
    Key {
        name: "adaptive-hot-budget",
        help: &[
            "hoard, codec = \"adaptive\": most of files-total-size-soft-limit the entries",
            "stored fast may take; beyond it the least recently used are made cold early.",
        ],
        parse: |c, v| {
            c.adaptive_policy.hot_budget_percent = percent(v)?.get();
            Ok(())
        },
        render: |c| quoted(&format!("{}%", c.adaptive_policy.hot_budget_percent)),
    },
    Key {
        name: "adaptive-cold-level",
        help: &[
            "hoard, codec = \"adaptive\": zstd level of cold entries (zstd decodes 19 about",
            "as fast as 3), -131072 to 22.",
        ],
        parse: |c, v| {
            c.adaptive_policy.cold_level = level(v)?;
            refused(check_level(c.adaptive_policy.cold_level))?;
            Ok(())
        },
        render: |c| c.adaptive_policy.cold_level.to_string(),
    },
    Key {
        name: "key-hasher",
        help: &[
            "hoard: hash function of keys: \"sha256\" or \"blake3\" (cargo feature blake3).",
            "Changing it turns every existing entry into a miss.",
        ],
        parse: |c, v| {
            c.key_hasher = choice(v, HASHERS, "key hasher")?;
            refused(check_hasher(c.key_hasher))?;
            Ok(())
        },
        render: |c| quoted(&c.key_hasher.name()),
    },
    Key {
        name: "durability",
        help: &[
            "hoard: fsync policy of writes: \"none\", \"data\" (the entry) or \"full\" (and its",
            "directory: a write that returned survives a power cut).",
        ],
        parse: |c, v| {
            c.durability = choice(v, DURABILITIES, "durability")?;
            Ok(())
        },
        render: |c| quoted(c.durability.as_str()),
    },
    Key {
        name: "max-entry-size",
        help: &["hoard: largest entry stored or read back (a size); larger values are not cached."],
        parse: |c, v| {
            c.max_entry_size = size(v)?;
            refused(check_max_entry_size(c.max_entry_size))?;
            Ok(())
        },
        render: |c| quoted(&units::render_size(c.max_entry_size)),
    },
    Key {
        name: "group-shared",
        help: &["hoard: share the cache directory with its group (modes 2770 and 0640)."],
        parse: |c, v| {
            c.group_shared = boolean(v)?;
            Ok(())
        },
        render: |c| c.group_shared.to_string(),
    },
    Key {
        name: "namespace",
        help: &[
            "hoard: entries of different namespaces never meet: 1 to 100 characters of",
            "A-Z a-z 0-9 . _ - not starting with a dot (wasmtime uses <compiler>-<version>).",
        ],
        parse: |c, v| {
            let name = string(v, "a namespace name")?;
            refused(check_namespace(name))?;
            c.namespace = name.to_owned();
            Ok(())
        },
        render: |c| quoted(&c.namespace),
    },
    Key {
        name: "threads",
        help: &[
            "hoard: threads that encode and decode one large entry (values above 512 KiB are",
            "stored as chunks); 0 means one per available core, 1 the caller's thread only.",
            "Only speed changes: entries are the same bytes whatever the setting.",
        ],
        parse: |c, v| {
            let n = count(v)?;
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            refused(check_threads(n))?;
            c.threads = n;
            Ok(())
        },
        render: |c| c.threads.to_string(),
    },
    Key {
        name: "single-flight-wait",
        help: &[
            "hoard: how long a miss waits for another process computing the same key before",
            "computing it too (a duration; \"0s\": never wait, every miss computes).",
        ],
        parse: |c, v| {
            c.single_flight_wait = duration(v)?;
            Ok(())
        },
        render: |c| quoted(&units::render_duration(c.single_flight_wait)),
    },
    Key {
        name: "auth-key-file",
        help: &[
            "hoard: an authenticated cache: entries are signed with the first key of this file",
            "(one key of 64 hex digits a line, mode 0600) and only entries signed by one of",
            "its keys are served. Default: none (the path shown is an example).",
        ],
        parse: |c, v| {
            let file = PathBuf::from(string(v, "an absolute path")?);
            refused(check_directory(&file))?;
            c.auth_key_file = Some(file);
            Ok(())
        },
        render: |c| match &c.auth_key_file {
            Some(file) => quoted(&file.display().to_string()),
            None => quoted(EXAMPLE_KEY_FILE),
        },
    },
];

/// The path the default file shows, commented out, for `auth-key-file`: an absolute path on
/// the platform it is written on, so that the uncommented line loads.
#[cfg(not(windows))]
pub(crate) const EXAMPLE_KEY_FILE: &str = "/absolute/path/to/hoard.key";
/// The path the default file shows, commented out, for `auth-key-file`: an absolute path on
/// the platform it is written on, so that the uncommented line loads.
#[cfg(windows)]
pub(crate) const EXAMPLE_KEY_FILE: &str = r"C:\absolute\path\to\hoard.key";

/// A value of the `codec` key: a codec, or the adaptive format (which writes with one).
#[derive(Clone, Copy)]
enum CodecChoice {
    Id(CodecId),
    Adaptive,
}

const CODECS: &[(&str, CodecChoice)] = &[
    ("zstd", CodecChoice::Id(CodecId::Zstd)),
    ("lz4", CodecChoice::Id(CodecId::Lz4)),
    ("identity", CodecChoice::Id(CodecId::Identity)),
    ("adaptive", CodecChoice::Adaptive),
];

const HASHERS: &[(&str, HasherId)] = &[("sha256", HasherId::Sha256), ("blake3", HasherId::Blake3)];

const DURABILITIES: &[(&str, Durability)] = &[
    ("none", Durability::None),
    ("data", Durability::Data),
    ("full", Durability::Full),
];

/// The key named `name`, if there is one.
pub(crate) fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// A TOML basic string holding `s`, escaped as needed.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

pub(crate) fn type_error(kind: &'static str, form: Option<&str>) -> Reason {
    Reason::Type {
        kind,
        form: form.map(str::to_owned),
    }
}

pub(crate) fn invalid(why: String, expected: &str) -> Reason {
    Reason::Invalid {
        why,
        expected: Some(expected.to_owned()),
    }
}

/// A value refused by one of the checks `validate` also runs; `why` says what is allowed.
fn refused(checked: Result<(), String>) -> Result<(), Reason> {
    checked.map_err(|why| Reason::Invalid {
        why,
        expected: None,
    })
}

pub(crate) fn boolean(v: &DeValue<'_>) -> Result<bool, Reason> {
    v.as_bool().ok_or_else(|| type_error("true or false", None))
}

pub(crate) fn string<'v>(v: &'v DeValue<'_>, what: &str) -> Result<&'v str, Reason> {
    v.as_str().ok_or_else(|| type_error("a string", Some(what)))
}

/// A TOML integer as a 128-bit value (every TOML integer fits).
fn integer(v: &DeValue<'_>) -> Option<Result<i128, String>> {
    let i = v.as_integer()?;
    Some(
        i128::from_str_radix(i.as_str(), i.radix())
            .map_err(|_| format!("the integer {} cannot be read", i.as_str())),
    )
}

/// A count or size: a string with units, or a non-negative TOML integer.
fn unsigned(
    v: &DeValue<'_>,
    parse: fn(&str) -> Result<u64, String>,
    form: &str,
) -> Result<u64, Reason> {
    if let Some(s) = v.as_str() {
        return parse(s).map_err(|why| invalid(why, form));
    }
    match integer(v) {
        Some(Ok(n)) => u64::try_from(n).map_err(|_| {
            let why = if n < 0 {
                "it is negative".to_owned()
            } else {
                format!("the number is larger than {}", u64::MAX)
            };
            invalid(why, form)
        }),
        Some(Err(why)) => Err(invalid(why, form)),
        None => Err(type_error("a string or an integer", Some(form))),
    }
}

pub(crate) fn count(v: &DeValue<'_>) -> Result<u64, Reason> {
    unsigned(v, units::parse_count, COUNT_FORM)
}

pub(crate) fn size(v: &DeValue<'_>) -> Result<u64, Reason> {
    unsigned(v, units::parse_size, SIZE_FORM)
}

pub(crate) fn duration(v: &DeValue<'_>) -> Result<std::time::Duration, Reason> {
    if let Some(s) = v.as_str() {
        return units::parse_duration(s).map_err(|why| invalid(why, DURATION_FORM));
    }
    if v.is_integer() {
        // The ancestor refuses bare numbers too: seconds or minutes?
        return Err(invalid(
            "a duration is a string with a unit".to_owned(),
            DURATION_FORM,
        ));
    }
    Err(type_error("a string", Some(DURATION_FORM)))
}

fn percent(v: &DeValue<'_>) -> Result<Percent, Reason> {
    if let Some(s) = v.as_str() {
        return units::parse_percent(s)
            .map(Percent)
            .map_err(|why| invalid(why, PERCENT_FORM));
    }
    if v.is_integer() {
        return Err(invalid(
            "a percentage is a string with a % sign".to_owned(),
            PERCENT_FORM,
        ));
    }
    Err(type_error("a string", Some(PERCENT_FORM)))
}

fn level(v: &DeValue<'_>) -> Result<i32, Reason> {
    const FORM: &str = "an integer from -131072 to 22";
    match integer(v) {
        Some(Ok(n)) => i32::try_from(n).map_err(|_| invalid("it is out of range".to_owned(), FORM)),
        Some(Err(why)) => Err(invalid(why, FORM)),
        None => Err(type_error("an integer", Some(FORM))),
    }
}

pub(crate) fn choice<T: Copy>(
    v: &DeValue<'_>,
    options: &[(&str, T)],
    what: &str,
) -> Result<T, Reason> {
    let names: Vec<String> = options.iter().map(|(n, _)| format!("{n:?}")).collect();
    let expected = format!("one of {}", names.join(", "));
    let s = v
        .as_str()
        .ok_or_else(|| type_error("a string", Some(&expected)))?;
    if let Some((_, value)) = options.iter().find(|(n, _)| *n == s) {
        return Ok(*value);
    }
    let hint = suggest(s, options.iter().map(|(n, _)| *n))
        .map(|n| format!(" (did you mean {n:?}?)"))
        .unwrap_or_default();
    Err(invalid(format!("unknown {what}{hint}"), &expected))
}

/// The candidate the user most likely meant by `input`, if one is close enough: the same
/// words with `_` or other case, a small edit distance, or a name that contains it.
pub(crate) fn suggest<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str> + Clone,
) -> Option<&'a str> {
    // Long inputs are not typos, and the distance is quadratic.
    if input.chars().count() > 100 {
        return None;
    }
    let normal = input.trim().to_lowercase().replace(['_', ' '], "-");
    let mut best: Option<(usize, &str)> = None;
    for c in candidates.clone() {
        let d = edit_distance(&normal, c);
        if d <= (c.len() / 4).max(2) && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    if let Some((_, c)) = best {
        return Some(c);
    }
    if normal.len() < 3 {
        return None;
    }
    let words: Vec<&str> = normal.split('-').filter(|w| !w.is_empty()).collect();
    candidates.into_iter().find(|c| {
        c.starts_with(&normal)
            || (normal.len() >= 4 && c.contains(&normal))
            || (words.len() >= 2 && words.iter().all(|w| c.split('-').any(|cw| cw == *w)))
    })
}

/// Levenshtein distance between `a` and `b`, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    // `row[j]` is the distance between the prefix of `a` seen so far and `b[..j]`.
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// The text of a new configuration file: every key with its comment and its default,
/// commented out.
pub(crate) fn default_file() -> String {
    let defaults = CacheConfig::default();
    let mut out = format!(
        "# hoard cache configuration (written by hoard {}).\n\
         #\n\
         # Every setting is optional. Each commented-out line shows the default, which applies\n\
         # while the line stays commented out; uncomment a line to change its value. Keys and\n\
         # units are those of wasmtime's cache (wasmtime-cache); hoard's own keys come last.\n\
         #\n\
         # Units: durations s, m, h, d (\"30m\"); counts K, M, G, T, P, powers of 1000 (\"64K\");\n\
         # sizes in bytes with K..P or Ki, Mi, Gi, Ti, Pi, powers of 1024 (\"512Mi\");\n\
         # percentages \"0%\" to \"100%\".\n\
         \n\
         [cache]\n",
        env!("CARGO_PKG_VERSION")
    );
    for key in KEYS {
        out.push('\n');
        for line in key.help {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
        out.push_str(&format!("# {} = {}\n", key.name, (key.render)(&defaults)));
    }
    out.push_str(&super::remote::default_section());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_kebab_case() {
        for (i, k) in KEYS.iter().enumerate() {
            assert!(
                k.name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{}",
                k.name
            );
            assert!(
                KEYS[..i].iter().all(|o| o.name != k.name),
                "{} twice",
                k.name
            );
            assert!(!k.help.is_empty(), "{} has no comment", k.name);
        }
    }

    #[test]
    fn suggestions_catch_common_slips() {
        let names = || KEYS.iter().map(|k| k.name);
        assert_eq!(
            suggest("cleanup_interval", names()),
            Some("cleanup-interval")
        );
        assert_eq!(
            suggest("Cleanup-Interval", names()),
            Some("cleanup-interval")
        );
        assert_eq!(
            suggest("cleanup-intervall", names()),
            Some("cleanup-interval")
        );
        assert_eq!(suggest("directroy", names()), Some("directory"));
        assert_eq!(suggest("dir", names()), Some("directory"));
        assert_eq!(suggest("hasher", names()), Some("key-hasher"));
        assert_eq!(
            suggest("level", names()),
            Some("baseline-compression-level")
        );
        assert_eq!(suggest("max-size", names()), Some("max-entry-size"));
        assert_eq!(
            suggest("size-limit", names()),
            Some("files-total-size-soft-limit")
        );
        assert_eq!(suggest("colour", names()), None);
        assert_eq!(suggest("x", names()), None);
        assert_eq!(suggest("ztsd", ["zstd", "lz4", "identity"]), Some("zstd"));
    }

    #[test]
    fn edit_distance_is_levenshtein() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("flaw", "lawn"), 2);
        assert_eq!(edit_distance("été", "ete"), 2);
    }
}
