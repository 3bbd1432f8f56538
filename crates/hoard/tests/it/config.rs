//! `CacheConfig`: every key and unit form of the TOML file, the errors, the file checks, the
//! default file and locations, and the bridge to a cache.

#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hoard::{
    Cache, CacheBuilder, CacheConfig, CodecId, Durability, Error, ErrorKind, HasherId, Percent,
    StoreExt, write_default_config,
};
use proptest::prelude::*;

/// Every key of the `[cache]` table, written out here so that a key dropped from the code
/// fails these tests.
const KEYS: [&str; 21] = [
    "enabled",
    "directory",
    "worker-event-queue-size",
    "baseline-compression-level",
    "optimized-compression-level",
    "optimized-compression-usage-counter-threshold",
    "cleanup-interval",
    "optimizing-compression-task-timeout",
    "allowed-clock-drift-for-files-from-future",
    "file-count-soft-limit",
    "files-total-size-soft-limit",
    "file-count-limit-percent-if-deleting",
    "files-total-size-limit-percent-if-deleting",
    "codec",
    "key-hasher",
    "durability",
    "max-entry-size",
    "group-shared",
    "namespace",
    "threads",
    "auth-key-file",
];

const DURATION_KEYS: [&str; 3] = [
    "cleanup-interval",
    "optimizing-compression-task-timeout",
    "allowed-clock-drift-for-files-from-future",
];
const COUNT_KEYS: [&str; 3] = [
    "worker-event-queue-size",
    "optimized-compression-usage-counter-threshold",
    "file-count-soft-limit",
];
const SIZE_KEYS: [&str; 2] = ["files-total-size-soft-limit", "max-entry-size"];
const PERCENT_KEYS: [&str; 2] = [
    "file-count-limit-percent-if-deleting",
    "files-total-size-limit-percent-if-deleting",
];

/// Parses `key = value` (a TOML literal) on line 2 of a document.
/// What makes `/x` an absolute path here: a drive on Windows (`C:/x`), nothing on Unix.
const ABS: &str = if cfg!(windows) { "C:" } else { "" };

fn with(key: &str, value: &str) -> hoard::Result<CacheConfig> {
    CacheConfig::from_toml_str(&format!("[cache]\n{key} = {value}\n"), None)
}

fn accepted(key: &str, value: &str) -> CacheConfig {
    with(key, value).unwrap_or_else(|e| panic!("{key} = {value} was refused: {e}"))
}

fn refused(key: &str, value: &str) -> Error {
    let err = with(key, value).expect_err(&format!("{key} = {value} must be refused"));
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    err
}

fn duration_of(c: &CacheConfig, key: &str) -> Duration {
    match key {
        "cleanup-interval" => c.cleanup_interval,
        "optimizing-compression-task-timeout" => c.optimizing_compression_task_timeout,
        "allowed-clock-drift-for-files-from-future" => c.allowed_clock_drift_for_files_from_future,
        _ => unreachable!("not a duration key: {key}"),
    }
}

fn number_of(c: &CacheConfig, key: &str) -> u64 {
    match key {
        "worker-event-queue-size" => c.worker_event_queue_size,
        "optimized-compression-usage-counter-threshold" => {
            c.optimized_compression_usage_counter_threshold
        }
        "file-count-soft-limit" => c.file_count_soft_limit,
        "files-total-size-soft-limit" => c.files_total_size_soft_limit,
        "max-entry-size" => c.max_entry_size,
        _ => unreachable!("not a count or size key: {key}"),
    }
}

fn percent_of(c: &CacheConfig, key: &str) -> u8 {
    match key {
        "file-count-limit-percent-if-deleting" => c.file_count_limit_percent_if_deleting.get(),
        "files-total-size-limit-percent-if-deleting" => {
            c.files_total_size_limit_percent_if_deleting.get()
        }
        _ => unreachable!("not a percent key: {key}"),
    }
}

#[test]
fn defaults_are_the_ancestors_and_hoards() {
    let c = CacheConfig::default();
    assert!(c.enabled);
    assert_eq!(c.directory, None);
    assert_eq!(c.worker_event_queue_size, 16);
    assert_eq!(c.baseline_compression_level, 3);
    assert_eq!(c.optimized_compression_level, 20);
    assert_eq!(c.optimized_compression_usage_counter_threshold, 256);
    assert_eq!(c.cleanup_interval, Duration::from_secs(3600));
    assert_eq!(
        c.optimizing_compression_task_timeout,
        Duration::from_secs(1800)
    );
    assert_eq!(
        c.allowed_clock_drift_for_files_from_future,
        Duration::from_secs(86_400)
    );
    assert_eq!(c.file_count_soft_limit, 65_536);
    assert_eq!(c.files_total_size_soft_limit, 512 * 1024 * 1024);
    assert_eq!(
        c.file_count_limit_percent_if_deleting,
        Percent::new(70).expect("70")
    );
    assert_eq!(c.files_total_size_limit_percent_if_deleting.get(), 70);
    let codec = if cfg!(feature = "zstd") {
        CodecId::Zstd
    } else {
        CodecId::Identity
    };
    assert_eq!(c.codec, codec);
    assert_eq!(c.key_hasher, HasherId::Sha256);
    assert_eq!(c.durability, Durability::None);
    assert_eq!(c.max_entry_size, hoard::DEFAULT_MAX_ENTRY_SIZE);
    assert!(!c.group_shared);
    assert_eq!(c.namespace, "default");
    c.validate().expect("the defaults are valid");

    for text in ["", "[cache]", "# only a comment\n[cache]\n\n", "cache = {}"] {
        assert_eq!(
            CacheConfig::from_toml_str(text, None).expect(text),
            c,
            "{text:?}"
        );
    }
}

#[test]
fn every_duration_form_parses_to_its_value() {
    let max_days = u64::MAX / 86_400;
    let cases: Vec<(String, u64)> = vec![
        ("\"0s\"".into(), 0),
        ("\"1s\"".into(), 1),
        ("\"90s\"".into(), 90),
        ("\"0m\"".into(), 0),
        ("\"2m\"".into(), 120),
        ("\"3h\"".into(), 3 * 3600),
        ("\"4d\"".into(), 4 * 86_400),
        ("\" 5 m \"".into(), 300),
        ("\"007h\"".into(), 7 * 3600),
        (format!("\"{}s\"", u64::MAX), u64::MAX),
        (format!("\"{max_days}d\""), max_days * 86_400),
    ];
    for key in DURATION_KEYS {
        for (value, secs) in &cases {
            let got = duration_of(&accepted(key, value), key);
            assert_eq!(got, Duration::from_secs(*secs), "{key} = {value}");
        }
    }
}

#[test]
fn every_count_form_parses_to_its_value() {
    let cases: &[(&str, u64)] = &[
        ("\"0\"", 0),
        ("\"7\"", 7),
        ("\"1K\"", 1_000),
        ("\"2M\"", 2_000_000),
        ("\"3G\"", 3_000_000_000),
        ("\"4T\"", 4_000_000_000_000),
        ("\"5P\"", 5_000_000_000_000_000),
        ("\" 12 K \"", 12_000),
        ("\"18446744073709551615\"", u64::MAX),
        ("\"18446P\"", 18_446_000_000_000_000_000),
        ("65536", 65_536),
        ("0", 0),
        ("9223372036854775807", i64::MAX as u64),
    ];
    for key in COUNT_KEYS {
        for &(value, expected) in cases {
            if key == "worker-event-queue-size" && expected > 1 << 20 {
                continue;
            }
            assert_eq!(
                number_of(&accepted(key, value), key),
                expected,
                "{key} = {value}"
            );
        }
    }
}

#[test]
fn every_size_form_parses_to_its_value() {
    let cases: &[(&str, u64)] = &[
        ("\"0\"", 0),
        ("\"1\"", 1),
        ("\"1K\"", 1_000),
        ("\"1Ki\"", 1_024),
        ("\"2M\"", 2_000_000),
        ("\"2Mi\"", 2 << 20),
        ("\"3G\"", 3_000_000_000),
        ("\"3Gi\"", 3 << 30),
        ("\"4T\"", 4_000_000_000_000),
        ("\"4Ti\"", 4 << 40),
        ("\"5P\"", 5_000_000_000_000_000),
        ("\"5Pi\"", 5 << 50),
        ("\"512 Mi\"", 512 << 20),
        ("\"16383Pi\"", 16_383 << 50),
        ("\"18446744073709551615\"", u64::MAX),
        ("4096", 4096),
    ];
    for key in SIZE_KEYS {
        for &(value, expected) in cases {
            if key == "max-entry-size" && expected == 0 {
                continue;
            }
            assert_eq!(
                number_of(&accepted(key, value), key),
                expected,
                "{key} = {value}"
            );
        }
    }
    // The decimal and binary prefixes differ, and the difference is kept.
    let k = number_of(&accepted("max-entry-size", "\"1K\""), "max-entry-size");
    let ki = number_of(&accepted("max-entry-size", "\"1Ki\""), "max-entry-size");
    assert_eq!((k, ki), (1000, 1024));
}

#[test]
fn every_percent_form_parses_to_its_value() {
    for key in PERCENT_KEYS {
        for (value, expected) in [
            ("\"0%\"", 0),
            ("\"1%\"", 1),
            ("\"70%\"", 70),
            ("\"100%\"", 100),
            ("\" 42 % \"", 42),
        ] {
            assert_eq!(
                percent_of(&accepted(key, value), key),
                expected,
                "{key} = {value}"
            );
        }
    }
}

#[test]
fn the_other_keys_parse_to_their_values() {
    assert!(!accepted("enabled", "false").enabled);
    assert!(accepted("enabled", "true").enabled);
    assert!(accepted("group-shared", "true").group_shared);
    assert_eq!(
        accepted("directory", &format!("\"{ABS}/var/cache/hoard\""))
            .directory
            .as_deref(),
        Some(Path::new(&format!("{ABS}/var/cache/hoard")))
    );
    assert_eq!(
        accepted("directory", &format!("'{ABS}/with spaces/and \"quotes\"'"))
            .directory
            .as_deref(),
        Some(Path::new(&format!("{ABS}/with spaces/and \"quotes\"")))
    );
    for level in [-131_072, -5, 0, 3, 19, 20] {
        let c = accepted("baseline-compression-level", &level.to_string());
        assert_eq!(c.baseline_compression_level, level);
    }
    for level in [3, 20, 22] {
        let c = accepted("optimized-compression-level", &level.to_string());
        assert_eq!(c.optimized_compression_level, level);
    }
    assert_eq!(accepted("codec", "\"identity\"").codec, CodecId::Identity);
    #[cfg(feature = "zstd")]
    assert_eq!(accepted("codec", "\"zstd\"").codec, CodecId::Zstd);
    #[cfg(feature = "lz4")]
    assert_eq!(accepted("codec", "\"lz4\"").codec, CodecId::Lz4);
    assert_eq!(
        accepted("key-hasher", "\"sha256\"").key_hasher,
        HasherId::Sha256
    );
    #[cfg(feature = "blake3")]
    assert_eq!(
        accepted("key-hasher", "\"blake3\"").key_hasher,
        HasherId::Blake3
    );
    assert_eq!(
        accepted("durability", "\"none\"").durability,
        Durability::None
    );
    assert_eq!(
        accepted("durability", "\"data\"").durability,
        Durability::Data
    );
    assert_eq!(
        accepted("durability", "\"full\"").durability,
        Durability::Full
    );
    assert_eq!(
        accepted("namespace", "\"cranelift-0.120\"").namespace,
        "cranelift-0.120"
    );
    assert_eq!(accepted("threads", "0").threads, 0);
    assert_eq!(accepted("threads", "4").threads, 4);
    assert_eq!(accepted("threads", "\"16\"").threads, 16);
    assert_eq!(accepted("threads", "1024").threads, 1024);
}

#[test]
fn an_ancestor_file_with_every_key_loads() {
    let text = r#"
        # As wasmtime's documentation writes them.
        [cache]
        enabled = true
        directory = "ABS/nfs-share/wasmtime-cache/"
        worker-event-queue-size = "16"
        baseline-compression-level = 3
        optimized-compression-level = 20
        optimized-compression-usage-counter-threshold = "256"
        cleanup-interval = "30m"
        optimizing-compression-task-timeout = "30m"
        allowed-clock-drift-for-files-from-future = "1d"
        file-count-soft-limit = "65536"
        files-total-size-soft-limit = "1Gi"
        file-count-limit-percent-if-deleting = "70%"
        files-total-size-limit-percent-if-deleting = "70%"
    "#;
    let text = text.replace("ABS", ABS);
    let c = CacheConfig::from_toml_str(&text, None).expect("an ancestor file loads");
    assert_eq!(
        c.directory.as_deref(),
        Some(Path::new(&format!("{ABS}/nfs-share/wasmtime-cache/")))
    );
    assert_eq!(c.cleanup_interval, Duration::from_secs(1800));
    assert_eq!(c.files_total_size_soft_limit, 1 << 30);
    let mut expected = CacheConfig::default();
    expected.directory = c.directory.clone();
    expected.cleanup_interval = c.cleanup_interval;
    expected.files_total_size_soft_limit = 1 << 30;
    assert_eq!(c, expected);
}

/// Asserts that refusing `key = value` names the key, shows the value as written, says
/// what is wrong (`why`) and where.
fn assert_refusal(key: &str, value: &str, why: &str) {
    let err = refused(key, value);
    let msg = err.message();
    assert!(
        msg.contains(&format!("`{key}`")),
        "{key} = {value}: no key in {msg:?}"
    );
    assert!(
        msg.contains(value.trim()),
        "{key} = {value}: no value in {msg:?}"
    );
    assert!(msg.contains(why), "{key} = {value}: {why:?} not in {msg:?}");
    let column = key.chars().count() + 4;
    assert!(
        msg.contains(&format!("(line 2, column {column})")),
        "{key} = {value}: no location in {msg:?}"
    );
    assert_eq!(err.path(), None, "no file, no path");
}

#[test]
fn bad_values_are_refused_with_key_value_reason_and_allowed_forms() {
    let max_days = u64::MAX / 86_400;
    let cases: Vec<(&str, String, &str)> = vec![
        // Overflow, at the number and at the multiplication.
        (
            "file-count-soft-limit",
            "\"18446744073709551616\"".into(),
            "larger than 18446744073709551615",
        ),
        ("file-count-soft-limit", "\"18447P\"".into(), "overflows"),
        (
            "files-total-size-soft-limit",
            "\"16384Pi\"".into(),
            "overflows",
        ),
        (
            "cleanup-interval",
            format!("\"{}d\"", max_days + 1),
            "overflows",
        ),
        (
            "cleanup-interval",
            "\"18446744073709551616s\"".into(),
            "larger than",
        ),
        // Percentages.
        (
            "file-count-limit-percent-if-deleting",
            "\"101%\"".into(),
            "101% is over 100%",
        ),
        (
            "files-total-size-limit-percent-if-deleting",
            "\"1000%\"".into(),
            "over 100%",
        ),
        (
            "file-count-limit-percent-if-deleting",
            "\"70\"".into(),
            "the % sign is missing",
        ),
        (
            "file-count-limit-percent-if-deleting",
            "70".into(),
            "with a % sign",
        ),
        (
            "file-count-limit-percent-if-deleting",
            "\"-1%\"".into(),
            "a sign is not allowed",
        ),
        // Missing and unknown units.
        ("cleanup-interval", "\"60\"".into(), "the unit is missing"),
        (
            "cleanup-interval",
            "60".into(),
            "a duration is a string with a unit",
        ),
        ("cleanup-interval", "\"1w\"".into(), "unknown unit \"w\""),
        ("cleanup-interval", "\"1H\"".into(), "unknown unit \"H\""),
        ("cleanup-interval", "\"1ms\"".into(), "unknown unit \"ms\""),
        (
            "file-count-soft-limit",
            "\"1Ki\"".into(),
            "unknown unit \"Ki\"",
        ),
        (
            "file-count-soft-limit",
            "\"1k\"".into(),
            "unknown unit \"k\"",
        ),
        (
            "files-total-size-soft-limit",
            "\"1KiB\"".into(),
            "unknown unit \"KiB\"",
        ),
        (
            "files-total-size-soft-limit",
            "\"1.5Gi\"".into(),
            "only whole numbers",
        ),
        (
            "files-total-size-soft-limit",
            "\"Gi\"".into(),
            "does not start with a whole number",
        ),
        (
            "files-total-size-soft-limit",
            "\"\"".into(),
            "the value is empty",
        ),
        ("files-total-size-soft-limit", "-1".into(), "it is negative"),
        // Ranges.
        (
            "worker-event-queue-size",
            "\"2M\"".into(),
            "the largest queue is 1048576 events",
        ),
        ("max-entry-size", "\"0\"".into(), "the smallest is 1 byte"),
        (
            "baseline-compression-level",
            "23".into(),
            "zstd levels go from -131072 to 22",
        ),
        (
            "optimized-compression-level",
            "-131073".into(),
            "zstd levels go from -131072 to 22",
        ),
        (
            "baseline-compression-level",
            "3000000000".into(),
            "out of range",
        ),
        // Paths and names.
        (
            "directory",
            "\"cache\"".into(),
            "it must be an absolute path",
        ),
        ("directory", "\"~/cache\"".into(), "`~` is not expanded"),
        ("directory", "\"\"".into(), "it must be an absolute path"),
        (
            "namespace",
            "\"../up\"".into(),
            "it starts with '.'; a namespace is 1 to 100 characters",
        ),
        ("namespace", "\"a b\"".into(), "' ' is not allowed"),
        ("namespace", "\"\"".into(), "it is empty"),
        (
            "threads",
            "1025".into(),
            "at most 1024 threads; 0 means one per available core",
        ),
        ("threads", "\"2K\"".into(), "at most 1024 threads"),
        ("threads", "-1".into(), "it is negative"),
        ("threads", "true".into(), "must be a string or an integer"),
        (
            "codec",
            "\"gzip\"".into(),
            "expected one of \"zstd\", \"lz4\", \"identity\"",
        ),
        ("codec", "\"ztsd\"".into(), "did you mean \"zstd\"?"),
        (
            "key-hasher",
            "\"md5\"".into(),
            "expected one of \"sha256\", \"blake3\"",
        ),
        (
            "durability",
            "\"fsync\"".into(),
            "expected one of \"none\", \"data\", \"full\"",
        ),
        // Wrong types.
        (
            "enabled",
            "\"yes\"".into(),
            "must be true or false, found string \"yes\"",
        ),
        (
            "group-shared",
            "1".into(),
            "must be true or false, found integer",
        ),
        (
            "baseline-compression-level",
            "\"3\"".into(),
            "must be an integer, found string \"3\"; expected an integer from -131072 to 22",
        ),
        ("baseline-compression-level", "3.0".into(), "found float"),
        ("cleanup-interval", "true".into(), "must be a string"),
        (
            "files-total-size-soft-limit",
            "1.5".into(),
            "must be a string or an integer, found float 1.5; expected a whole number of bytes",
        ),
        ("file-count-soft-limit", "[1]".into(), "found array"),
        (
            "directory",
            "[\"/a\"]".into(),
            "must be a string, found array [\"/a\"]; expected an absolute path",
        ),
        ("namespace", "{ a = 1 }".into(), "found table"),
        ("codec", "1979-05-27".into(), "found datetime"),
    ];
    for (key, value, why) in &cases {
        assert_refusal(key, value, why);
    }
    // Every message also says what is allowed.
    let msg = refused("cleanup-interval", "\"1w\"").to_string();
    assert!(
        msg.contains("expected a whole number followed by s, m, h or d"),
        "{msg}"
    );
    let msg = refused("files-total-size-soft-limit", "\"1KiB\"").to_string();
    assert!(msg.contains("Ki, Mi, Gi, Ti, Pi (powers of 1024)"), "{msg}");
}

#[test]
fn optimized_level_below_baseline_names_both_keys_where_they_are() {
    let text = "[cache]\nbaseline-compression-level = 10\noptimized-compression-level = 5\n";
    let msg = CacheConfig::from_toml_str(text, None)
        .expect_err("5 < 10")
        .to_string();
    assert!(msg.contains("`optimized-compression-level` = 5"), "{msg}");
    assert!(msg.contains("`baseline-compression-level` = 10"), "{msg}");
    assert!(
        msg.contains("(line 3, column 31)"),
        "points at the optimized level: {msg}"
    );

    // Only the baseline is in the file: the message points at it.
    let text = "[cache]\nbaseline-compression-level = 21\n";
    let msg = CacheConfig::from_toml_str(text, None)
        .expect_err("20 < 21")
        .to_string();
    assert!(
        msg.contains("`optimized-compression-level` = 20 is below"),
        "{msg}"
    );
    assert!(msg.contains("(line 2, column 30)"), "{msg}");

    accepted("baseline-compression-level", "20");
}

#[test]
fn unknown_keys_are_refused_with_a_suggestion() {
    let cases = [
        ("cleanup_interval", "did you mean `cleanup-interval`?"),
        (
            "files-total-size-soft-limt",
            "did you mean `files-total-size-soft-limit`?",
        ),
        ("hasher", "did you mean `key-hasher`?"),
        (
            "compression-level",
            "did you mean `baseline-compression-level`?",
        ),
        ("max-size", "did you mean `max-entry-size`?"),
        (
            "colour",
            "the keys are enabled, directory, worker-event-queue-size",
        ),
    ];
    for (key, hint) in cases {
        let msg = refused(key, "1").to_string();
        assert!(
            msg.contains(&format!("unknown key `{key}` in [cache]")),
            "{msg}"
        );
        assert!(msg.contains(hint), "{key}: {hint:?} not in {msg:?}");
        assert!(msg.contains("(line 2, column 1)"), "{msg}");
    }
    let msg = CacheConfig::from_toml_str("[cahce]\ndirectory = \"/x\"\n", None)
        .expect_err("typo in the table")
        .to_string();
    assert!(msg.contains("unknown top-level key `cahce`"), "{msg}");
    assert!(msg.contains("did you mean `cache`?"), "{msg}");
    let msg = CacheConfig::from_toml_str("[cache]\n[cache.extra]\nx = 1\n", None)
        .expect_err("nested table")
        .to_string();
    assert!(msg.contains("unknown key `extra` in [cache]"), "{msg}");
    let msg = CacheConfig::from_toml_str("directory = \"/x\"\n", None)
        .expect_err("key outside [cache]")
        .to_string();
    assert!(msg.contains("unknown top-level key `directory`"), "{msg}");
    for text in ["cache = 5", "[[cache]]\nenabled = true"] {
        let msg = CacheConfig::from_toml_str(text, None)
            .expect_err(text)
            .to_string();
        assert!(
            msg.contains("key `cache` must be a table ([cache])"),
            "{msg}"
        );
    }
}

#[test]
fn toml_syntax_errors_give_their_line() {
    let text = "[cache]\ncleanup-interval = \"1h\"\nfile-count-soft-limit = \"64K\n";
    let err = CacheConfig::from_toml_str(text, None).expect_err("unterminated string");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        err.message()
            .starts_with("the configuration is not valid TOML"),
        "{err}"
    );
    assert!(err.message().contains("(line 3, column"), "{err}");
    let err = CacheConfig::from_toml_str("[cache]\nenabled = true\nenabled = false\n", None)
        .expect_err("duplicate key");
    assert!(
        err.message()
            .contains("duplicate key `enabled` (line 3, column 1)"),
        "{err}"
    );
}

/// Writes a test fixture (hoard's own code never writes files outside `hoard-fs`).
fn write_file(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("create fixture");
    f.write_all(bytes).expect("write fixture");
}

fn config_file(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("config.toml");
    write_file(&path, text.as_bytes());
    #[cfg(unix)]
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    path
}

#[test]
fn errors_from_a_file_carry_its_path_and_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = config_file(
        dir.path(),
        "# hoard\n\n[cache]\nfiles-total-size-soft-limit = \"1 Gib\"\n",
    );
    let err = CacheConfig::load(&path).expect_err("bad unit");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_eq!(err.path(), Some(path.as_path()));
    let shown = err.to_string();
    assert!(
        shown.contains("key `files-total-size-soft-limit` has invalid value \"1 Gib\""),
        "{shown}"
    );
    assert!(shown.contains("unknown unit \"Gib\""), "{shown}");
    assert!(shown.contains("(line 4, column 31)"), "{shown}");
    assert!(shown.ends_with(&format!(": {}", path.display())), "{shown}");

    let err = CacheConfig::from_toml_str("[cache]\nnope = 1", Some(Path::new("/etc/x.toml")))
        .expect_err("unknown key");
    assert_eq!(err.path(), Some(Path::new("/etc/x.toml")));
}

#[test]
fn a_missing_file_is_an_io_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = CacheConfig::load(dir.path().join("absent.toml")).expect_err("missing");
    assert_eq!(err.kind(), ErrorKind::Io);
    assert_eq!(
        err.io_source().map(std::io::Error::kind),
        Some(std::io::ErrorKind::NotFound)
    );
}

// Modes have no Windows meaning: there the owner and ACL of the file are not checked.
#[cfg(unix)]
#[test]
fn config_files_others_can_write_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = config_file(dir.path(), "[cache]\nnamespace = \"mine\"\n");
    for mode in [0o644, 0o600, 0o400, 0o640] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let c = CacheConfig::load(&path).unwrap_or_else(|e| panic!("mode {mode:o}: {e}"));
        assert_eq!(c.namespace, "mine");
    }
    for mode in [0o664, 0o646, 0o666, 0o620, 0o602] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let err = CacheConfig::load(&path).expect_err("writable by others");
        assert_eq!(err.kind(), ErrorKind::Insecure, "mode {mode:o}: {err}");
        let shown = err.to_string();
        assert!(shown.contains(&format!("mode {mode:04o}")), "{shown}");
        assert!(shown.contains("chmod go-w"), "{shown}");
        assert_eq!(err.path(), Some(path.as_path()));
    }
}

// Owners are uids, checked on Unix only (see ARCHITECTURE.md, "Windows").
#[cfg(unix)]
#[test]
fn config_files_owned_by_another_user_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = config_file(dir.path(), "[cache]\n");
    if !rustix::process::geteuid().is_root() {
        println!("not root: the test that a file owned by another user is refused did not run");
        return;
    }
    std::os::unix::fs::chown(&path, Some(65534), None).expect("chown to nobody");
    let err = CacheConfig::load(&path).expect_err("owned by nobody");
    assert_eq!(err.kind(), ErrorKind::Insecure);
    assert!(
        err.to_string()
            .contains("owned by another user (uid 65534, not 0)"),
        "{err}"
    );
}

#[test]
fn only_regular_files_are_read_and_symlinks_to_them_are_followed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let real = config_file(dir.path(), "[cache]\nnamespace = \"linked\"\n");
    let link = dir.path().join("link.toml");
    if crate::plant_link(&real, &link) {
        assert_eq!(
            CacheConfig::load(&link)
                .expect("through a symlink")
                .namespace,
            "linked"
        );
    }

    let err = CacheConfig::load(dir.path()).expect_err("a directory");
    // Windows refuses to open a directory as a file (access denied) before any check.
    let why = if cfg!(windows) {
        "cannot open configuration file"
    } else {
        "not a regular file"
    };
    assert!(err.to_string().contains(why), "{err}");

    // A FIFO must be refused at once, not block the loader until someone writes to it.
    // (Unix only: Windows has no FIFO in the file system, its named pipes live in `\\.\pipe\`.)
    #[cfg(unix)]
    {
        let fifo = dir.path().join("fifo.toml");
        let status = Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("run mkfifo");
        assert!(status.success());
        let err = CacheConfig::load(&fifo).expect_err("a fifo");
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }

    let err = {
        let path = dir.path().join("binary.toml");
        write_file(&path, b"[cache]\nnamespace = \"\xff\"\n");
        #[cfg(unix)]
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        CacheConfig::load(&path).expect_err("not utf-8")
    };
    assert!(
        err.to_string().contains("not UTF-8 (byte 21 is invalid)"),
        "{err}"
    );
}

/// The `# key = value` lines of a default file, uncommented.
fn uncommented(text: &str) -> String {
    text.lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest) if KEYS.iter().any(|k| rest.starts_with(&format!("{k} = "))) => rest,
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_default_file_lists_every_key_and_loads_back_as_the_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("new").join("dirs").join("config.toml");
    write_default_config(&path).expect("write the default file");
    let text = std::fs::read_to_string(&path).expect("read it back");
    for key in KEYS {
        let listed = text
            .lines()
            .filter(|l| l.starts_with(&format!("# {key} = ")))
            .count();
        assert_eq!(listed, 1, "{key} is listed {listed} times");
    }
    #[cfg(unix)]
    {
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode & 0o022, 0, "mode {mode:o}");
    }

    // As written (every value commented out) and with every value uncommented, the file
    // loads as the defaults: the values it shows are the defaults, in valid syntax.
    assert_eq!(
        CacheConfig::load(&path).expect("load as written"),
        CacheConfig::default()
    );
    let all = uncommented(&text);
    assert_ne!(all, text);
    let loaded = CacheConfig::from_toml_str(&all, None).expect("load uncommented");
    let mut expected = CacheConfig::default();
    expected.directory = Some(
        CacheConfig::default_cache_dir()
            .unwrap_or_else(|_| PathBuf::from("/absolute/path/to/cache")),
    );
    expected.auth_key_file = Some(PathBuf::from(if cfg!(windows) {
        r"C:\absolute\path\to\hoard.key"
    } else {
        "/absolute/path/to/hoard.key"
    }));
    assert_eq!(loaded, expected);

    // It never replaces a file, its own included.
    write_file(&path, b"[cache]\nnamespace = \"kept\"\n");
    let err = write_default_config(&path).expect_err("exists");
    assert_eq!(err.kind(), ErrorKind::Io);
    assert_eq!(
        err.io_source().map(std::io::Error::kind),
        Some(std::io::ErrorKind::AlreadyExists)
    );
    assert!(err.to_string().contains("refusing to overwrite"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        "[cache]\nnamespace = \"kept\"\n"
    );
    let dangling = dir.path().join("dangling.toml");
    if crate::plant_link(dir.path().join("nowhere"), &dangling) {
        write_default_config(&dangling).expect_err("a dangling symlink is not followed");
        assert!(!dir.path().join("nowhere").exists());
    }
}

#[test]
fn a_config_opens_a_cache_with_its_settings_and_loading_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("not").join("yet");
    let text = format!(
        "[cache]\ndirectory = '{}'\nnamespace = \"ns-1\"\ncodec = \"identity\"\n\
         max-entry-size = \"1Ki\"\ndurability = \"full\"\n",
        root.display()
    );
    let config = CacheConfig::from_toml_str(&text, None).expect("parse");
    assert!(
        !root.exists() && !dir.path().join("not").exists(),
        "loading creates nothing"
    );
    let builder = CacheBuilder::from_config(&config).expect("builder");
    assert!(!root.exists(), "a builder creates nothing");
    drop(builder);

    let cache = Cache::from_config(&config).expect("open");
    assert!(
        root.join("CACHEDIR.TAG").exists(),
        "opening creates the directory"
    );
    assert_eq!(cache.namespace().as_str(), "ns-1");
    assert_eq!(cache.codec().id(), CodecId::Identity);
    assert_eq!(cache.hasher().id(), HasherId::Sha256);
    assert_eq!(cache.max_entry_size(), 1024);
    let key = cache.key(b"small");
    assert!(cache.put(&key, &[7; 1024]));
    let found = cache
        .store()
        .get_verified(cache.namespace(), &key, u64::MAX)
        .expect("read")
        .expect("stored");
    assert_eq!(found.header().codec, CodecId::Identity);
    assert!(
        !cache.put(&cache.key(b"large"), &[7; 1025]),
        "over max-entry-size"
    );
}

#[cfg(feature = "zstd")]
#[test]
fn the_baseline_level_is_the_zstd_level_of_new_entries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = CacheConfig::default();
    config.directory = Some(dir.path().join("c"));
    config.baseline_compression_level = 7;
    let cache = Cache::from_config(&config).expect("open");
    assert_eq!(
        (cache.codec().id(), cache.codec().level()),
        (CodecId::Zstd, 7)
    );
    let key = cache.key(b"k");
    cache.put(&key, &[1; 4096]);
    let found = cache
        .store()
        .get_verified(cache.namespace(), &key, u64::MAX)
        .expect("read")
        .expect("stored");
    assert_eq!(found.header().level, 7);
}

#[test]
fn codecs_and_hashers_need_their_cargo_features() {
    let lz4 = with("codec", "\"lz4\"");
    if cfg!(feature = "lz4") {
        assert_eq!(lz4.expect("lz4 compiled in").codec, CodecId::Lz4);
    } else {
        let msg = lz4.expect_err("lz4 not compiled in").to_string();
        assert!(
            msg.contains("key `codec` has invalid value \"lz4\": it needs the cargo feature `lz4`"),
            "{msg}"
        );
        assert!(msg.contains("(line 2, column 9)"), "{msg}");
    }
    let blake3 = with("key-hasher", "\"blake3\"");
    if cfg!(feature = "blake3") {
        assert_eq!(
            blake3.expect("blake3 compiled in").key_hasher,
            HasherId::Blake3
        );
    } else {
        let msg = blake3.expect_err("blake3 not compiled in").to_string();
        assert!(
            msg.contains(
                "key `key-hasher` has invalid value \"blake3\": it needs the cargo feature `blake3`"
            ),
            "{msg}"
        );
    }
    let zstd = with("codec", "\"zstd\"");
    if cfg!(feature = "zstd") {
        zstd.expect("zstd compiled in");
    } else {
        assert!(
            zstd.expect_err("zstd")
                .to_string()
                .contains("cargo feature `zstd`")
        );
    }

    // Plugins are chosen in code, never by name in a file.
    let mut c = CacheConfig::default();
    c.codec = CodecId::plugin(0x8001).expect("plugin id");
    let msg = c.validate().expect_err("plugin codec").to_string();
    assert!(
        msg.contains("key `codec` has invalid value \"plugin-0x8001\": plugins cannot be named"),
        "{msg}"
    );
    let mut c = CacheConfig::default();
    c.key_hasher = HasherId::plugin(0x8001).expect("plugin id");
    assert!(
        c.validate()
            .expect_err("plugin hasher")
            .to_string()
            .contains("`key-hasher`")
    );
}

#[test]
fn validate_checks_settings_made_in_code() {
    let ok = CacheConfig::default();
    ok.validate().expect("defaults");
    type Change = fn(&mut CacheConfig);
    let cases: Vec<(Change, &str)> = vec![
        (
            |c| c.optimized_compression_level = 2,
            "`optimized-compression-level` = 2 is below",
        ),
        (
            |c| c.baseline_compression_level = 99,
            "`baseline-compression-level` has invalid value 99",
        ),
        (
            |c| c.directory = Some(PathBuf::from("rel")),
            "`directory` has invalid value \"rel\"",
        ),
        (
            |c| c.max_entry_size = 0,
            "`max-entry-size` has invalid value 0",
        ),
        (
            |c| c.namespace = "a/b".into(),
            "`namespace` has invalid value \"a/b\": '/' is not allowed",
        ),
        (
            |c| c.worker_event_queue_size = u64::MAX,
            "`worker-event-queue-size`",
        ),
    ];
    for (change, expected) in cases {
        let mut c = CacheConfig::default();
        change(&mut c);
        let err = c.validate().expect_err(expected);
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(
            err.to_string().contains(expected),
            "{expected:?} not in {err}"
        );
        assert!(
            CacheBuilder::from_config(&c).is_err(),
            "the builder validates too"
        );
    }
}

#[test]
fn the_legacy_enabled_key_is_accepted_and_false_refuses_a_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "[cache]\nenabled = false\ndirectory = '{}'\n",
        dir.path().join("c").display()
    );
    let config = CacheConfig::from_toml_str(&text, None).expect("parse");
    assert!(!config.enabled);
    let err = Cache::from_config(&config).expect_err("disabled");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("`enabled = false`"), "{err}");
    assert!(!dir.path().join("c").exists());
    // Asking for a builder is asking for a cache.
    CacheBuilder::from_config(&config)
        .expect("builder")
        .build()
        .expect("cache");
}

#[test]
fn percent_is_a_checked_share() {
    assert_eq!(Percent::new(101), None);
    assert_eq!(Percent::new(100), Some(Percent::FULL));
    assert_eq!(Percent::ZERO.get(), 0);
    let p: Percent = " 70 %".parse().expect("parse");
    assert_eq!(p.to_string(), "70%");
    assert_eq!(p.of(1000), 700);
    assert_eq!(Percent::FULL.of(u64::MAX), u64::MAX);
    assert_eq!(p.of(u64::MAX), (u128::from(u64::MAX) * 70 / 100) as u64);
    let err = "101%".parse::<Percent>().expect_err("over 100");
    assert!(
        err.to_string()
            .contains("invalid percentage \"101%\": 101% is over 100%"),
        "{err}"
    );
}

// ---- Default locations and environment overrides, in child processes ----

const CHILD_ENV: &str = "HOARD_IT_CONFIG_CHILD";

/// Entry point of the child processes of `default_locations_follow_xdg_and_the_environment`:
/// prints what the default-location functions return, and does nothing unless that test set
/// the environment variable.
#[test]
fn config_child_entry() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let show = |r: hoard::Result<String>| r.unwrap_or_else(|e| format!("error: {e}"));
    let path = show(CacheConfig::default_config_path().map(|p| p.display().to_string()));
    let dir = show(CacheConfig::default_cache_dir().map(|p| p.display().to_string()));
    let loaded = show(CacheConfig::load_default().and_then(|c| {
        let dir = c.cache_dir()?;
        Ok(format!("{} {}", c.namespace, dir.display()))
    }));
    println!("HOARD-IT config_path={path}");
    println!("HOARD-IT cache_dir={dir}");
    println!("HOARD-IT loaded={loaded}");
}

/// Runs the child with exactly the given environment variables among those that matter.
fn child(vars: &[(&str, &Path)]) -> std::collections::BTreeMap<String, String> {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args(["config::config_child_entry", "--exact", "--nocapture"])
        .env(CHILD_ENV, "1");
    for var in [
        "HOME",
        "XDG_CONFIG_HOME",
        "XDG_CACHE_HOME",
        "USERPROFILE",
        "APPDATA",
        "LOCALAPPDATA",
        "HOARD_CONFIG",
        "HOARD_CACHE_DIR",
    ] {
        cmd.env_remove(var);
    }
    for (name, value) in vars {
        cmd.env(name, value);
    }
    let out = cmd.output().expect("run child");
    assert!(
        out.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("HOARD-IT "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

// Unix locations; Windows has its own test below.
#[cfg(unix)]
#[test]
fn default_locations_follow_xdg_and_the_environment() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let home = tmp.path().join("home");
    let p = |s: &str| tmp.path().join(s).display().to_string();

    // Plain XDG defaults under $HOME, no file: the defaults.
    let r = child(&[("HOME", &home)]);
    assert_eq!(r["config_path"], p("home/.config/hoard/config.toml"));
    assert_eq!(r["cache_dir"], p("home/.cache/hoard"));
    assert_eq!(r["loaded"], format!("default {}", p("home/.cache/hoard")));

    // $XDG_*_HOME move both; a file at the default path is read.
    let xdg_config = tmp.path().join("xdg-config");
    let xdg_cache = tmp.path().join("xdg-cache");
    std::fs::create_dir_all(xdg_config.join("hoard")).expect("mkdir");
    config_file(
        &xdg_config.join("hoard"),
        "[cache]\nnamespace = \"from-xdg\"\n",
    );
    let r = child(&[
        ("HOME", &home),
        ("XDG_CONFIG_HOME", &xdg_config),
        ("XDG_CACHE_HOME", &xdg_cache),
    ]);
    assert_eq!(r["config_path"], p("xdg-config/hoard/config.toml"));
    assert_eq!(r["cache_dir"], p("xdg-cache/hoard"));
    assert_eq!(r["loaded"], format!("from-xdg {}", p("xdg-cache/hoard")));

    let env_cache = hoard_variables_override(
        tmp.path(),
        &[("HOME", &home), ("XDG_CONFIG_HOME", &xdg_config)],
    );

    // Loading creates no directory anywhere.
    assert!(!home.exists() && !xdg_cache.exists() && !env_cache.exists());
}

/// On Windows the configuration lives in the roaming application data (`%APPDATA%`) and the
/// cache in the local one (`%LOCALAPPDATA%`), the known folders etcetera's Windows strategy
/// reads; the XDG variables change nothing there.
#[cfg(windows)]
#[test]
fn default_locations_follow_the_known_folders_and_the_environment() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let profile = tmp.path().join("profile");
    let roaming = tmp.path().join("roaming");
    let local = tmp.path().join("local");
    let config_path = roaming.join("hoard").join("config.toml");
    let cache_dir = local.join("hoard");

    // No file: the defaults, in the known folders.
    let r = child(&[
        ("USERPROFILE", &profile),
        ("APPDATA", &roaming),
        ("LOCALAPPDATA", &local),
    ]);
    assert_eq!(r["config_path"], config_path.display().to_string());
    assert_eq!(r["cache_dir"], cache_dir.display().to_string());
    assert_eq!(r["loaded"], format!("default {}", cache_dir.display()));

    // A file at the default path is read; XDG variables are not Windows'.
    std::fs::create_dir_all(roaming.join("hoard")).expect("mkdir");
    config_file(
        &roaming.join("hoard"),
        "[cache]\nnamespace = \"from-appdata\"\n",
    );
    let xdg = tmp.path().join("xdg");
    let r = child(&[
        ("USERPROFILE", &profile),
        ("APPDATA", &roaming),
        ("LOCALAPPDATA", &local),
        ("XDG_CONFIG_HOME", &xdg),
        ("XDG_CACHE_HOME", &xdg),
    ]);
    assert_eq!(r["config_path"], config_path.display().to_string());
    assert_eq!(r["cache_dir"], cache_dir.display().to_string());
    assert_eq!(r["loaded"], format!("from-appdata {}", cache_dir.display()));

    let env_cache = hoard_variables_override(
        tmp.path(),
        &[("USERPROFILE", &profile), ("APPDATA", &roaming)],
    );

    // Loading creates no directory anywhere.
    assert!(!profile.exists() && !local.exists() && !xdg.exists() && !env_cache.exists());
}

/// `$HOARD_CONFIG` and `$HOARD_CACHE_DIR` over the platform's locations (`platform`, whose
/// configuration directory holds a file of its own): the same rules on every platform.
/// Returns the cache directory `$HOARD_CACHE_DIR` named, which nothing may create.
fn hoard_variables_override(tmp: &Path, platform: &[(&str, &Path)]) -> PathBuf {
    let p = |s: &str| tmp.join(s).display().to_string();
    let with = |extra: &[(&'static str, &Path)]| {
        let mut vars = platform.to_vec();
        vars.extend_from_slice(extra);
        child(&vars)
    };

    // $HOARD_CONFIG and $HOARD_CACHE_DIR override the platform locations.
    let other = tmp.join("other");
    std::fs::create_dir_all(&other).expect("mkdir");
    config_file(&other, "[cache]\nnamespace = \"from-env\"\n");
    let env_cache = tmp.join("env-cache");
    let r = with(&[
        ("HOARD_CONFIG", &other.join("config.toml")),
        ("HOARD_CACHE_DIR", &env_cache),
    ]);
    assert_eq!(
        r["config_path"],
        other.join("config.toml").display().to_string()
    );
    assert_eq!(r["cache_dir"], p("env-cache"));
    assert_eq!(r["loaded"], format!("from-env {}", p("env-cache")));

    // A `directory` in the file wins over $HOARD_CACHE_DIR, which only replaces the default.
    let pinned = tmp.join("pinned");
    std::fs::create_dir_all(&pinned).expect("mkdir");
    let text = format!("[cache]\ndirectory = '{}'\n", p("from-file"));
    config_file(&pinned, &text);
    let r = child(&[
        ("HOARD_CONFIG", &pinned.join("config.toml")),
        ("HOARD_CACHE_DIR", &env_cache),
    ]);
    assert_eq!(r["loaded"], format!("default {}", p("from-file")));

    // A $HOARD_CONFIG that names no file is an error, not the defaults.
    let r = with(&[("HOARD_CONFIG", &tmp.join("missing.toml"))]);
    assert!(
        r["loaded"].starts_with("error: configuration file not found"),
        "{r:?}"
    );

    // A relative $HOARD_CACHE_DIR is refused by name.
    let r = with(&[("HOARD_CACHE_DIR", Path::new("relative/dir"))]);
    assert!(
        r["cache_dir"].contains("HOARD_CACHE_DIR must be an absolute path, found \"relative/dir\""),
        "{r:?}"
    );
    env_cache
}

// ---- Property tests ----

/// TOML-looking fragments, to reach deeper than random text does.
const FRAGMENTS: &[&str] = &[
    "[cache]",
    "[[cache]]",
    "[cache.x]",
    "\n",
    " ",
    "=",
    " = ",
    "\"",
    "'",
    "'''",
    "\"\"\"",
    "#",
    "[",
    "]",
    "{",
    "}",
    ",",
    ".",
    "\\",
    "\\u0000",
    "-",
    "+",
    "%",
    "1",
    "0",
    "18446744073709551616",
    "1e9",
    "nan",
    "inf",
    "true",
    "0x1F",
    "1979-05-27",
    "directory",
    "cleanup-interval",
    "files-total-size-soft-limit",
    "codec",
    "namespace",
    "baseline-compression-level",
    "1h",
    "512Mi",
    "70%",
    "101%",
    "K",
    "Ki",
    "é",
    "\u{feff}",
    "\r\n",
    "\t",
];

/// Values that are valid for `key` (compatible with every other key's valid values: levels
/// keep baseline <= 10 <= optimized).
fn valid_value(key: &'static str) -> BoxedStrategy<toml::Value> {
    use toml::Value;
    let s = |st: BoxedStrategy<String>| st.prop_map(Value::String).boxed();
    let with_unit = |max: u64, units: &'static [&'static str]| {
        (
            0..=max,
            prop::sample::select(units),
            prop::sample::select(&["", " "][..]),
        )
            .prop_map(|(n, u, blank)| format!("{blank}{n}{blank}{u}"))
            .boxed()
    };
    match key {
        "enabled" | "group-shared" => any::<bool>().prop_map(Value::Boolean).boxed(),
        "directory" | "auth-key-file" => s(proptest::string::string_regex(&format!(
            "{ABS}/[a-z0-9/ ._-]{{0,20}}"
        ))
        .expect("a valid regex")
        .boxed()),
        "worker-event-queue-size" => s(with_unit(1000, &["", "K"])),
        "baseline-compression-level" => (-131_072i64..=10).prop_map(Value::Integer).boxed(),
        "optimized-compression-level" => (10i64..=22).prop_map(Value::Integer).boxed(),
        k if COUNT_KEYS.contains(&k) => prop_oneof![
            s(with_unit(1_000_000, &["", "K", "M", "G", "T"])),
            (0i64..=i64::MAX).prop_map(Value::Integer),
        ]
        .boxed(),
        k if DURATION_KEYS.contains(&k) => s(with_unit(1_000_000, &["s", "m", "h", "d"])),
        k if SIZE_KEYS.contains(&k) => s(with_unit(
            1000,
            &["K", "Ki", "M", "Mi", "G", "Gi", "T", "Ti", "P", "Pi"],
        )
        .prop_filter("max-entry-size is at least 1", |v| {
            !v.trim().starts_with('0')
        })
        .boxed()),
        k if PERCENT_KEYS.contains(&k) => s((0..=100u8).prop_map(|p| format!("{p}%")).boxed()),
        "codec" => {
            let mut codecs = vec!["identity"];
            if cfg!(feature = "zstd") {
                codecs.push("zstd");
            }
            if cfg!(feature = "lz4") {
                codecs.push("lz4");
            }
            s(prop::sample::select(codecs).prop_map(str::to_owned).boxed())
        }
        "key-hasher" => {
            let mut hashers = vec!["sha256"];
            if cfg!(feature = "blake3") {
                hashers.push("blake3");
            }
            s(prop::sample::select(hashers)
                .prop_map(str::to_owned)
                .boxed())
        }
        "durability" => s(prop::sample::select(&["none", "data", "full"][..])
            .prop_map(str::to_owned)
            .boxed()),
        "namespace" => s("[A-Za-z0-9_-][A-Za-z0-9._-]{0,30}".boxed()),
        "threads" => prop_oneof![
            (0i64..=1024).prop_map(Value::Integer),
            s((0..=1024u32).prop_map(|n| n.to_string()).boxed()),
        ]
        .boxed(),
        other => unreachable!("no generator for {other}"),
    }
}

/// Any TOML value, leaning towards strings that look like this file's values.
fn any_value() -> BoxedStrategy<toml::Value> {
    use toml::Value;
    let unit_like = (
        any::<u64>(),
        prop::sample::select(
            &[
                "", "s", "m", "h", "d", "K", "Ki", "Mi", "Pi", "%", "%%", "x", " ", "1",
            ][..],
        ),
        prop::sample::select(&["", " ", "-", "+", "."][..]),
    )
        .prop_map(|(n, u, pre)| format!("{pre}{n}{u}"));
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::Boolean),
        any::<i64>().prop_map(Value::Integer),
        any::<f64>().prop_map(Value::Float),
        unit_like.prop_map(Value::String),
        ".{0,20}".prop_map(Value::String),
        prop::sample::select(
            &[
                "zstd", "lz4", "identity", "blake3", "sha256", "none", "full", "/abs", "rel",
                "~/x", ""
            ][..]
        )
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z-]{1,8}", inner, 0..3)
                .prop_map(|m| Value::Table(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// A generated document: per key of [`KEYS`], nothing or `(is_suspect, value)`; unknown
/// keys; a stray top-level key; a `cache` that is not a table.
type Document = (
    Vec<Option<(bool, toml::Value)>>,
    Vec<(String, toml::Value)>,
    Option<(String, toml::Value)>,
    Option<toml::Value>,
);

/// A document: for each key, nothing, a valid value, or any value (a suspect); unknown keys
/// (suspects); maybe a stray top-level key or a `cache` that is not a table (suspects).
fn document() -> impl Strategy<Value = Document> {
    let per_key: Vec<_> = KEYS
        .iter()
        .map(|&k| {
            prop::option::of(prop_oneof![
                3 => valid_value(k).prop_map(|v| (false, v)),
                1 => any_value().prop_map(|v| (true, v)),
            ])
        })
        .collect();
    let unknown =
        prop::collection::vec((prop_oneof!["[a-z_-]{1,24}", ".{1,10}"], any_value()), 0..2);
    let top = prop::option::weighted(
        0.1,
        (
            "[a-z]{1,8}".prop_filter("not cache", |k| k != "cache"),
            any_value(),
        ),
    );
    let not_a_table = prop::option::weighted(
        0.05,
        any_value().prop_filter("not a table", |v| !v.is_table()),
    );
    (per_key, unknown, top, not_a_table)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(
        text in prop_oneof![
            any::<String>(),
            prop::collection::vec(prop::sample::select(FRAGMENTS), 0..40).prop_map(|f| f.concat()),
        ]
    ) {
        if let Err(err) = CacheConfig::from_toml_str(&text, None) {
            prop_assert_eq!(err.kind(), ErrorKind::Config);
            prop_assert!(!err.message().is_empty());
        }
    }

    #[test]
    fn every_rejection_names_the_offending_key((keys, unknown, top, not_a_table) in document()) {
        let mut table = toml::Table::new();
        let mut suspects: Vec<String> = Vec::new();
        for (key, entry) in KEYS.iter().zip(keys) {
            if let Some((suspect, value)) = entry {
                if suspect {
                    suspects.push((*key).to_owned());
                }
                table.insert((*key).to_owned(), value);
            }
        }
        for (key, value) in unknown {
            suspects.push(key.clone());
            table.insert(key, value);
        }
        let mut doc = toml::Table::new();
        match not_a_table {
            Some(value) => {
                suspects.push("cache".to_owned());
                doc.insert("cache".to_owned(), value);
            }
            None => {
                doc.insert("cache".to_owned(), toml::Value::Table(table));
            }
        }
        if let Some((key, value)) = top {
            suspects.push(key.clone());
            doc.insert(key, value);
        }
        let Ok(text) = toml::to_string(&doc) else {
            return Err(TestCaseError::reject("not representable as TOML"));
        };
        match CacheConfig::from_toml_str(&text, None) {
            Ok(_) => {}
            Err(err) => {
                prop_assert_eq!(err.kind(), ErrorKind::Config);
                let msg = err.message();
                // Values from the valid generators are never refused.
                prop_assert!(!suspects.is_empty(), "valid values refused: {msg}\n{text}");
                prop_assert!(
                    suspects.iter().any(|k| msg.contains(&format!("`{}`", k.escape_debug()))),
                    "{msg:?} names none of {suspects:?} in\n{text}"
                );
            }
        }
    }
}

#[test]
fn the_adaptive_format_is_a_codec_value_with_its_own_keys() {
    let text = "[cache]\ncodec = \"adaptive\"\nadaptive-cold-after = \"2h\"\n\
                adaptive-hot-uses = \"5\"\nadaptive-hot-budget = \"30%\"\n\
                adaptive-cold-level = 17\n";
    let parsed = CacheConfig::from_toml_str(text, None);
    if !cfg!(feature = "zstd") {
        let err = parsed.expect_err("the cold format is zstd");
        assert!(err.to_string().contains("`zstd`"), "{err}");
        return;
    }
    let config = parsed.expect("parse");
    assert!(config.adaptive);
    assert_eq!(
        config.codec,
        CodecId::Identity,
        "puts write the fast format"
    );
    let p = config.adaptive_policy;
    assert_eq!(
        (p.cold_after, p.hot_uses, p.hot_budget_percent, p.cold_level),
        (Duration::from_secs(7200), 5, 30, 17)
    );
    let w = hoard::evict::WorkerConfig::from(&config);
    assert_eq!(w.adaptive, Some(p));
    // Another codec afterwards turns it off; the keys alone do not turn it on.
    let off = CacheConfig::from_toml_str(
        "[cache]\ncodec = \"adaptive\"\ncodec = \"identity\"\n",
        None,
    );
    assert!(off.is_err(), "a duplicate key is refused");
    assert!(!accepted("adaptive-hot-uses", "\"3\"").adaptive);
    refused("adaptive-hot-uses", "\"0\"");
    refused("adaptive-cold-level", "23");
    refused("adaptive-hot-budget", "\"101%\"");
    // The default file lists the keys, and "adaptive" among the codecs.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.toml");
    hoard::write_default_config(&path).expect("write");
    let text = std::fs::read_to_string(&path).expect("read");
    for key in [
        "adaptive-cold-after = \"1h\"",
        "adaptive-hot-uses = \"8\"",
        "adaptive-hot-budget = \"20%\"",
        "adaptive-cold-level = 19",
        "\"adaptive\"",
    ] {
        assert!(text.contains(key), "{key} missing from\n{text}");
    }
}

#[cfg(feature = "zstd")]
#[test]
fn a_config_with_the_adaptive_format_opens_a_cache_that_writes_fast() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "[cache]\ndirectory = '{}'\ncodec = \"adaptive\"\n",
        dir.path().join("c").display()
    );
    let config = CacheConfig::from_toml_str(&text, None).expect("parse");
    let cache = Cache::from_config(&config).expect("open");
    let key = cache.key(b"k");
    assert!(cache.put(&key, &hoard_testkit::artifact(100_000, 1)));
    let found = cache
        .store()
        .get_verified(cache.namespace(), &key, u64::MAX)
        .expect("read")
        .expect("stored");
    assert_eq!(found.header().codec, config.codec);
    assert_ne!(found.header().codec, CodecId::Zstd);
    assert_eq!(
        cache.get(&key).as_deref(),
        Some(&hoard_testkit::artifact(100_000, 1)[..])
    );
}
