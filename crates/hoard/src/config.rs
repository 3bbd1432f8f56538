//! [`CacheConfig`]: every setting of a cache with its default, loadable from the TOML files of
//! wasmtime's cache, plus the bridge to [`CacheBuilder`].
//!
//! Submodules: `units` (the unit syntax), `keys` (the table of `[cache]` keys: parsing,
//! documentation and the default file), `parse` (TOML with line numbers in errors), `locate`
//! (default locations, environment overrides, config file checks and creation).

mod keys;
mod locate;
mod parse;
mod remote;
pub(crate) mod units;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hoard_core::{
    Codec, CodecId, Error, ErrorKind, HasherId, NAMESPACE_MAX_LEN, Namespace, Result,
};
use hoard_fs::Durability;

use crate::cache::{Cache, CacheBuilder, DEFAULT_MAX_ENTRY_SIZE, DEFAULT_NAMESPACE};

/// The largest `worker-event-queue-size`: a bounded queue may allocate its capacity up front,
/// and past a million pending events the worker is hopelessly behind anyway.
const MAX_WORKER_EVENT_QUEUE_SIZE: u64 = 1 << 20;

/// The compression levels zstd 1.5 accepts (`ZSTD_minCLevel()..=ZSTD_maxCLevel()`). The zstd
/// codec checks again against the library actually linked when the cache is built.
const ZSTD_LEVELS: std::ops::RangeInclusive<i32> = -131_072..=22;

/// The most `threads` a configuration may ask for: more would only be a typo.
const MAX_THREADS: usize = 1024;

/// Every setting of a cache, with its default: what a `[cache]` table in a TOML file holds.
///
/// A configuration file is never required: `CacheConfig::default()` is the defaults, its
/// fields can be set in code, and [`Cache::from_config`] / [`CacheBuilder::from_config`] turn
/// it into a cache. The TOML syntax is that of wasmtime's cache (wasmtime-cache, hoard's
/// ancestor): every key of its `[cache]` table is accepted with the same units and defaults,
/// and hoard's own keys sit alongside.
///
/// | key (field) | default | kind |
/// |---|---|---|
/// | [`enabled`](Self::enabled) | `true` | bool (legacy) |
/// | [`directory`](Self::directory) | platform cache dir | absolute path |
/// | [`worker-event-queue-size`](Self::worker_event_queue_size) | `"16"` | count |
/// | [`baseline-compression-level`](Self::baseline_compression_level) | `3` | zstd level |
/// | [`optimized-compression-level`](Self::optimized_compression_level) | `20` | zstd level |
/// | [`optimized-compression-usage-counter-threshold`](Self::optimized_compression_usage_counter_threshold) | `"256"` | count |
/// | [`cleanup-interval`](Self::cleanup_interval) | `"1h"` | duration |
/// | [`optimizing-compression-task-timeout`](Self::optimizing_compression_task_timeout) | `"30m"` | duration |
/// | [`allowed-clock-drift-for-files-from-future`](Self::allowed_clock_drift_for_files_from_future) | `"1d"` | duration |
/// | [`file-count-soft-limit`](Self::file_count_soft_limit) | `"65536"` | count |
/// | [`files-total-size-soft-limit`](Self::files_total_size_soft_limit) | `"512Mi"` | size |
/// | [`file-count-limit-percent-if-deleting`](Self::file_count_limit_percent_if_deleting) | `"70%"` | percentage |
/// | [`files-total-size-limit-percent-if-deleting`](Self::files_total_size_limit_percent_if_deleting) | `"70%"` | percentage |
/// | [`codec`](Self::codec) (and [`adaptive`](Self::adaptive)) | `"zstd"` | `zstd`, `lz4`, `identity`, `adaptive` |
/// | [`adaptive-cold-after`](Self::adaptive_policy) | `"1h"` | duration |
/// | [`adaptive-hot-uses`](Self::adaptive_policy) | `"8"` | count, at least 1 |
/// | [`adaptive-hot-budget`](Self::adaptive_policy) | `"20%"` | percentage |
/// | [`adaptive-cold-level`](Self::adaptive_policy) | `19` | zstd level |
/// | [`key-hasher`](Self::key_hasher) | `"sha256"` | `sha256`, `blake3` |
/// | [`durability`](Self::durability) | `"none"` | `none`, `data`, `full` |
/// | [`max-entry-size`](Self::max_entry_size) | `"1Gi"` | size |
/// | [`group-shared`](Self::group_shared) | `false` | bool |
/// | [`namespace`](Self::namespace) | `"default"` | namespace name |
/// | [`threads`](Self::threads) | `0` (one per core) | count, at most 1024 |
/// | [`single-flight-wait`](Self::single_flight_wait) | `"10s"` | duration (`"0s"`: off) |
/// | [`auth-key-file`](Self::auth_key_file) | none (entries unsigned) | absolute path |
///
/// # Units
/// Values with units are TOML strings, as in the ancestor: a whole decimal number, optional
/// blanks, then the unit; blanks around the value are ignored; units are case-sensitive.
/// - **duration**: `s`, `m`, `h`, `d` (`"90s"`, `"30m"`); the unit is required.
/// - **count**: a bare number or `K`, `M`, `G`, `T`, `P`, powers of 1000 (`"64K"` = 64,000).
/// - **size** (bytes): a bare number, `K`..`P` (powers of 1000), or `Ki`, `Mi`, `Gi`, `Ti`,
///   `Pi` (powers of 1024): `"1K"` = 1,000 but `"1Ki"` = 1,024.
/// - **percentage**: `"0%"` to `"100%"`; the `%` is required.
///
/// Counts and sizes may also be plain TOML integers (`file-count-soft-limit = 65536`), which
/// the ancestor refused. A value whose number or product does not fit in 64 bits is refused.
///
/// # Validation
/// Loading checks every value and reports the first problem as an [`ErrorKind::Config`] error
/// that names the key, the bad value and what is allowed, with the line and column (and the
/// file, as [`Error::path`]) it came from. Unknown keys are errors, with a suggestion when one
/// is close; so are wrong types. Loading never creates a directory: opening the cache does.
///
/// # The worker's settings
/// The eviction worker's keys (queue size, optimized level, usage threshold, cleanup interval,
/// soft limits, percentages, task timeout, clock drift) are parsed, checked and kept here as
/// typed fields; [`CacheBuilder::from_config`] hands them to the worker through
/// `WorkerConfig::from(&CacheConfig)` (see [`crate::evict::WorkerConfig`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheConfig {
    /// Whether caching is on. Key `enabled`, a bool; default `true`.
    ///
    /// The ancestor's legacy switch: wasmtime-cache once required `enabled = true` and later
    /// dropped the key, which broke existing files; hoard accepts it. With `false`,
    /// [`Cache::from_config`] refuses with an [`ErrorKind::Config`] error, so a program that
    /// falls back to computing without a cache when the cache cannot be built does just that.
    pub enabled: bool,

    /// Where the cache lives. Key `directory`, an absolute path; default `None`, which means
    /// [`CacheConfig::default_cache_dir`]: `$HOARD_CACHE_DIR` if set, else the platform cache
    /// directory (`$XDG_CACHE_HOME/hoard`, usually `~/.cache/hoard`, on Linux).
    ///
    /// Same key and rule (absolute) as the ancestor, whose default was its own platform
    /// directory. A relative path, including one starting with `~` (not expanded), is refused.
    /// The directory is created when the cache is opened, never when the file is loaded.
    pub directory: Option<PathBuf>,

    /// How many distinct entries' hit events can wait for the eviction worker; repeated hits
    /// of a waiting entry are coalesced, and a hit beyond the capacity is dropped (and
    /// counted). Key `worker-event-queue-size`, a count; default 16; at most 1,048,576. The
    /// worker's table holds at least 4,096 entries whatever this says (see
    /// [`WorkerConfig::event_capacity`](crate::evict::WorkerConfig::event_capacity)).
    ///
    /// Same key and syntax as the ancestor, which warned below 3 and counted single events
    /// in a queue; hoard also caps it, since the table is allocated up front.
    pub worker_event_queue_size: u64,

    /// The zstd level new entries are written at. Key `baseline-compression-level`, an
    /// integer from -131072 to 22 (negative levels are zstd's fast modes; 0 means zstd's
    /// default, 3); default 3.
    ///
    /// This is also hoard's codec level: it applies when [`codec`](Self::codec) is zstd and
    /// is ignored for `lz4` and `identity`, which have no levels. Same key, meaning and
    /// default as the ancestor, whose range was 0 to 21.
    pub baseline_compression_level: i32,

    /// The zstd level the eviction worker recompresses frequently used entries at. Key
    /// `optimized-compression-level`, an integer in the same range as the baseline and not
    /// below it; default 20.
    ///
    /// Same key, meaning, default and rule (not below the baseline) as the ancestor.
    pub optimized_compression_level: i32,

    /// How many uses make an entry worth recompressing at the optimized level. Key
    /// `optimized-compression-usage-counter-threshold`, a count; default 256.
    ///
    /// Same key, syntax and default as the ancestor.
    pub optimized_compression_usage_counter_threshold: u64,

    /// The least time between two cleanups of the cache by the eviction worker. Key
    /// `cleanup-interval`, a duration; default 1 hour (`"1h"`).
    ///
    /// Same key, syntax and default as the ancestor. Durations may be as long as `u64::MAX`
    /// seconds: readers should use checked arithmetic with `SystemTime`.
    pub cleanup_interval: Duration,

    /// How long a recompression task may hold its claim on an entry before another worker
    /// may take it over; also the age after which a stale temporary file may be swept. Key
    /// `optimizing-compression-task-timeout`, a duration; default 30 minutes (`"30m"`).
    ///
    /// Same key, syntax and default as the ancestor.
    pub optimizing_compression_task_timeout: Duration,

    /// How far in the future a file's time may lie before it counts as wrong (clock drift
    /// across machines sharing a cache, time zones of network file systems). Key
    /// `allowed-clock-drift-for-files-from-future`, a duration; default 1 day (`"1d"`).
    ///
    /// Same key, syntax and default as the ancestor.
    pub allowed_clock_drift_for_files_from_future: Duration,

    /// The number of entries above which a cleanup deletes entries. Key
    /// `file-count-soft-limit`, a count; default 65,536.
    ///
    /// Same key, syntax and default as the ancestor (which counted files; hoard counts
    /// entries and not its bookkeeping).
    pub file_count_soft_limit: u64,

    /// The total size of entries, in bytes, above which a cleanup deletes entries. Key
    /// `files-total-size-soft-limit`, a size; default 512 MiB (`"512Mi"`).
    ///
    /// Same key, syntax and default as the ancestor: the sum of file sizes, not of disk
    /// blocks.
    pub files_total_size_soft_limit: u64,

    /// When the entry count is over its soft limit, a cleanup deletes entries until the
    /// count is at most this share of [`file_count_soft_limit`](Self::file_count_soft_limit).
    /// Key `file-count-limit-percent-if-deleting`, a percentage; default 70%.
    ///
    /// Same key, syntax and default as the ancestor.
    pub file_count_limit_percent_if_deleting: Percent,

    /// When the total size is over its soft limit, a cleanup deletes entries until it is at
    /// most this share of [`files_total_size_soft_limit`](Self::files_total_size_soft_limit).
    /// Key `files-total-size-limit-percent-if-deleting`, a percentage; default 70%.
    ///
    /// Same key, syntax and default as the ancestor.
    pub files_total_size_limit_percent_if_deleting: Percent,

    /// The codec new entries are written with. Key `codec`: `"zstd"` (feature `zstd`, at
    /// [`baseline_compression_level`](Self::baseline_compression_level)), `"lz4"` (feature
    /// `lz4`) or `"identity"` (no compression); default `"zstd"` when the `zstd` feature is
    /// compiled in, `"identity"` otherwise.
    ///
    /// hoard's own key (the ancestor always used zstd). Entries written with any built-in
    /// codec compiled in stay readable whatever this says. Naming a codec whose feature is not
    /// compiled in is an error that names the feature.
    ///
    /// `codec = "adaptive"` sets [`adaptive`](Self::adaptive) and this field to the fast
    /// format (the value stored as it is); it needs the `zstd` feature.
    pub codec: CodecId,

    /// The adaptive format (opt-in). Key `codec = "adaptive"`; default `false`.
    ///
    /// hoard's own setting: puts write the fast format [`codec`](Self::codec) names, and the
    /// eviction worker converts idle entries to zstd at a high level and entries used again
    /// back to the fast format, within a disk budget, by
    /// [`adaptive_policy`](Self::adaptive_policy). See [`CacheBuilder::adaptive`].
    pub adaptive: bool,

    /// The adaptive format's policy (used when [`adaptive`](Self::adaptive) is on). Keys
    /// `adaptive-cold-after` (a duration; default 1 hour), `adaptive-hot-uses` (a count of
    /// at least 1; default 8), `adaptive-hot-budget` (a percentage of
    /// [`files_total_size_soft_limit`](Self::files_total_size_soft_limit); default 20%),
    /// `adaptive-cold-level` (a zstd level; default 19). See [`crate::evict::Adaptive`].
    pub adaptive_policy: crate::evict::Adaptive,

    /// The hash function that turns inputs into keys. Key `key-hasher`: `"sha256"` or
    /// `"blake3"` (feature `blake3`); default `"sha256"`.
    ///
    /// hoard's own key (the ancestor always used SHA-256). Changing it changes every key, so
    /// existing entries become misses (never wrong hits).
    pub key_hasher: HasherId,

    /// How hard a put works to survive a power cut. Key `durability`: `"none"` (no fsync),
    /// `"data"` (fsync the entry) or `"full"` (also the directory); default `"none"`.
    ///
    /// hoard's own key (the ancestor never synced). See [`Durability`].
    pub durability: Durability,

    /// The largest decoded entry that is stored or read back, in bytes. Key
    /// `max-entry-size`, a size of at least 1 byte; default 1 GiB (`"1Gi"`).
    ///
    /// hoard's own key (the ancestor had no cap). Larger values are computed and returned but
    /// not cached. See [`CacheBuilder::max_entry_size`].
    pub max_entry_size: u64,

    /// Share the cache directory with its group. Key `group-shared`, a bool; default `false`.
    ///
    /// hoard's own key. See [`FsOptions::group_shared`](hoard_fs::FsOptions::group_shared).
    pub group_shared: bool,

    /// The namespace entries are stored under (wasmtime uses `<compiler>-<version>`). Key
    /// `namespace`: 1 to 100 characters of `[A-Za-z0-9._-]`, not starting with `.`; default
    /// `"default"`.
    ///
    /// hoard's own key (the ancestor derived its directory from the compiler version). See
    /// [`CacheBuilder::namespace`].
    pub namespace: String,

    /// How many threads encode and decode one large entry. Key `threads`, a count from 0 to
    /// 1024; default 0, one per available core.
    ///
    /// hoard's own key (the ancestor compressed on the caller's thread). Values above
    /// 512 KiB are stored as independent chunks, which a put or a hit spreads over this many
    /// threads; 1 keeps every operation on the caller's thread. Only speed changes: entries
    /// are the same bytes whatever the setting. See [`CacheBuilder::threads`].
    pub threads: usize,

    /// How long a miss about to be computed waits for another process or thread computing
    /// the same key. Key `single-flight-wait`, a duration; default `"10s"`; `"0s"` turns
    /// single-flight off.
    ///
    /// hoard's own key. See [`CacheBuilder::single_flight_wait`].
    pub single_flight_wait: Duration,

    /// The MAC key file of an authenticated cache. Key `auth-key-file`, an absolute path;
    /// default none (entries are not signed, and signed ones are served unchecked).
    ///
    /// hoard's own key. The file is read when the cache is built, with the configuration
    /// file's ownership check and a stricter mode (readable by its owner only); its format
    /// and what a key changes: [`CacheBuilder::auth_key_file`],
    /// [`read_auth_key_file`](crate::read_auth_key_file).
    pub auth_key_file: Option<PathBuf>,

    /// The remote tier (feature `remote`): table `[cache.remote]`; default `None` (local
    /// only). See [`CacheBuilder::remote`] and the keys in hoard's README.
    #[cfg(feature = "remote")]
    pub remote: Option<crate::RemoteSettings>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            directory: None,
            worker_event_queue_size: 16,
            baseline_compression_level: crate::cache::DEFAULT_ZSTD_LEVEL,
            optimized_compression_level: 20,
            optimized_compression_usage_counter_threshold: 256,
            cleanup_interval: Duration::from_secs(60 * 60),
            optimizing_compression_task_timeout: Duration::from_secs(30 * 60),
            allowed_clock_drift_for_files_from_future: Duration::from_secs(24 * 60 * 60),
            file_count_soft_limit: 65_536,
            files_total_size_soft_limit: 512 << 20,
            file_count_limit_percent_if_deleting: Percent(70),
            files_total_size_limit_percent_if_deleting: Percent(70),
            codec: if cfg!(feature = "zstd") {
                CodecId::Zstd
            } else {
                CodecId::Identity
            },
            adaptive: false,
            adaptive_policy: crate::evict::Adaptive::default(),
            key_hasher: HasherId::Sha256,
            durability: Durability::None,
            max_entry_size: DEFAULT_MAX_ENTRY_SIZE,
            group_shared: false,
            namespace: DEFAULT_NAMESPACE.to_owned(),
            threads: 0,
            single_flight_wait: crate::DEFAULT_SINGLE_FLIGHT_WAIT,
            auth_key_file: None,
            #[cfg(feature = "remote")]
            remote: None,
        }
    }
}

/// A problem with one setting, before it is placed in a file (or not).
#[derive(Debug)]
pub(crate) struct Problem {
    /// The key at fault.
    pub(crate) key: &'static str,
    /// Another key involved, whose location serves when `key` was not in the file.
    pub(crate) other: Option<&'static str>,
    pub(crate) message: String,
}

impl Problem {
    fn new(key: &'static str, message: String) -> Self {
        Self {
            key,
            other: None,
            message,
        }
    }
}

impl CacheConfig {
    /// The environment variable naming the configuration file [`load_default`] reads
    /// (instead of the platform location).
    ///
    /// [`load_default`]: Self::load_default
    pub const CONFIG_ENV: &str = "HOARD_CONFIG";

    /// The environment variable naming the cache directory used when `directory` is not set
    /// (instead of the platform location).
    pub const CACHE_DIR_ENV: &str = "HOARD_CACHE_DIR";

    /// The `[cache.remote]` table of this configuration, as TOML (feature `remote`), or
    /// `None` without a remote. It holds no credentials: configurations never do.
    #[cfg(feature = "remote")]
    pub fn remote_toml(&self) -> Option<String> {
        self.remote.as_ref().map(remote::render)
    }

    /// Parses the TOML text of a configuration file; `origin` is the file it came from, if
    /// any, and is attached to errors.
    ///
    /// Keys are read from the `[cache]` table; a missing table or key means the default.
    /// Any other top-level key, unknown key, wrong type or invalid value is an
    /// [`ErrorKind::Config`] error naming the key, the value, what is allowed, and the line
    /// and column. Reads no environment variable and touches no file.
    pub fn from_toml_str(text: &str, origin: Option<&Path>) -> Result<Self> {
        parse::parse(text, origin)
    }

    /// Reads and parses the configuration file at `path`.
    ///
    /// The file must be a regular file (symlinks to one are followed) owned by the current
    /// user and writable by nobody else: a file that others can edit could redirect the cache
    /// or weaken it, so it is refused with [`ErrorKind::Insecure`]. A missing file is an
    /// [`ErrorKind::Io`] error.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        match locate::read_config_file(path)? {
            Some(text) => parse::parse(&text, Some(path)),
            None => Err(locate::not_found(path)),
        }
    }

    /// Loads the configuration from its default location: the file named by
    /// `$HOARD_CONFIG` if that is set (it must exist), else the platform location
    /// ([`default_config_path`](Self::default_config_path)), where a missing file means the
    /// defaults, as in the ancestor. With no home directory and no `$HOARD_CONFIG`, the
    /// defaults.
    pub fn load_default() -> Result<Self> {
        if let Some(path) = locate::env_path(Self::CONFIG_ENV) {
            return Self::load(path);
        }
        let Some(path) = locate::platform_config_path() else {
            return Ok(Self::default());
        };
        match locate::read_config_file(&path)? {
            Some(text) => parse::parse(&text, Some(&path)),
            None => Ok(Self::default()),
        }
    }

    /// Where [`load_default`](Self::load_default) looks for the configuration file:
    /// `$HOARD_CONFIG` if set and not empty, else the platform configuration directory's
    /// `hoard/config.toml` (`$XDG_CONFIG_HOME/hoard/config.toml`, usually
    /// `~/.config/hoard/config.toml`, on Linux).
    ///
    /// Fails with [`ErrorKind::Config`] when neither the variable nor a home directory is
    /// available.
    pub fn default_config_path() -> Result<PathBuf> {
        locate::env_path(Self::CONFIG_ENV)
            .or_else(locate::platform_config_path)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Config,
                    format!(
                        "cannot find the configuration file: no home directory; set {}",
                        Self::CONFIG_ENV
                    ),
                )
            })
    }

    /// The cache directory used when `directory` is not set: `$HOARD_CACHE_DIR` if set and
    /// not empty (it must be absolute), else the platform cache directory's `hoard`
    /// (`$XDG_CACHE_HOME/hoard`, usually `~/.cache/hoard`, on Linux).
    ///
    /// Fails with [`ErrorKind::Config`] for a relative `$HOARD_CACHE_DIR`, or when neither
    /// the variable nor a home directory is available. Creates nothing.
    pub fn default_cache_dir() -> Result<PathBuf> {
        if let Some(dir) = locate::env_path(Self::CACHE_DIR_ENV) {
            if !dir.is_absolute() {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!(
                        "environment variable {} must be an absolute path, found {:?}",
                        Self::CACHE_DIR_ENV,
                        dir.display().to_string()
                    ),
                ));
            }
            return Ok(dir);
        }
        locate::platform_cache_dir().ok_or_else(|| {
            Error::new(
                ErrorKind::Config,
                format!(
                    "cannot find a default cache directory: no home directory; set `directory` \
                     in [cache] or {}",
                    Self::CACHE_DIR_ENV
                ),
            )
        })
    }

    /// The directory the cache lives in: [`directory`](Self::directory) if set, else
    /// [`default_cache_dir`](Self::default_cache_dir).
    pub fn cache_dir(&self) -> Result<PathBuf> {
        match &self.directory {
            Some(dir) => Ok(dir.clone()),
            None => Self::default_cache_dir(),
        }
    }

    /// Checks every setting as loading does: for a configuration built or changed in code.
    ///
    /// Fails with an [`ErrorKind::Config`] error that names the key, the value and what is
    /// allowed. [`Cache::from_config`] and [`CacheBuilder::from_config`] call it.
    pub fn validate(&self) -> Result<()> {
        self.check()
            .map_err(|p| Error::new(ErrorKind::Config, p.message))
    }

    /// The checks of [`validate`](Self::validate), keeping the key for the loader to locate.
    pub(crate) fn check(&self) -> std::result::Result<(), Problem> {
        fn field(
            key: &'static str,
            shown: impl fmt::Debug,
            checked: std::result::Result<(), String>,
        ) -> std::result::Result<(), Problem> {
            checked.map_err(|why| {
                Problem::new(
                    key,
                    format!("key `{key}` has invalid value {shown:?}: {why}"),
                )
            })
        }
        if let Some(dir) = &self.directory {
            field("directory", dir.display().to_string(), check_directory(dir))?;
        }
        if let Some(file) = &self.auth_key_file {
            field(
                "auth-key-file",
                file.display().to_string(),
                check_directory(file),
            )?;
        }
        let queue = self.worker_event_queue_size;
        field("worker-event-queue-size", queue, check_queue_size(queue))?;
        let baseline = self.baseline_compression_level;
        field(
            "baseline-compression-level",
            baseline,
            check_level(baseline),
        )?;
        let optimized = self.optimized_compression_level;
        field(
            "optimized-compression-level",
            optimized,
            check_level(optimized),
        )?;
        if optimized < baseline {
            return Err(Problem {
                key: "optimized-compression-level",
                other: Some("baseline-compression-level"),
                message: format!(
                    "key `optimized-compression-level` = {optimized} is below \
                     `baseline-compression-level` = {baseline}: the optimized level must be at \
                     least the baseline level"
                ),
            });
        }
        let max = self.max_entry_size;
        field("max-entry-size", max, check_max_entry_size(max))?;
        field(
            "namespace",
            &self.namespace,
            check_namespace(&self.namespace),
        )?;
        field("codec", self.codec.name(), check_codec(self.codec))?;
        if self.adaptive {
            field("codec", "adaptive", check_adaptive())?;
            let cold = self.adaptive_policy.cold_level;
            field("adaptive-cold-level", cold, check_level(cold))?;
            if self.adaptive_policy.hot_uses == 0 {
                return Err(Problem::new(
                    "adaptive-hot-uses",
                    "key `adaptive-hot-uses` has invalid value 0: an entry needs at least one \
                     use to become hot"
                        .to_owned(),
                ));
            }
        }
        field("threads", self.threads, check_threads(self.threads))?;
        field(
            "key-hasher",
            self.key_hasher.name(),
            check_hasher(self.key_hasher),
        )?;
        Ok(())
    }
}

// The checks of single values, shared by the loader (which shows the value as written) and
// `validate` (which shows the value held). Each returns why a value is refused.

pub(crate) fn check_directory(dir: &Path) -> std::result::Result<(), String> {
    if dir.as_os_str().as_encoded_bytes().contains(&0) {
        return Err("a path cannot contain NUL".to_owned());
    }
    if !dir.is_absolute() {
        let hint = if dir.as_os_str().as_encoded_bytes().starts_with(b"~") {
            " (`~` is not expanded)"
        } else {
            ""
        };
        return Err(format!("it must be an absolute path{hint}"));
    }
    Ok(())
}

pub(crate) fn check_queue_size(size: u64) -> std::result::Result<(), String> {
    if size > MAX_WORKER_EVENT_QUEUE_SIZE {
        return Err(format!(
            "the largest queue is {MAX_WORKER_EVENT_QUEUE_SIZE} events"
        ));
    }
    Ok(())
}

pub(crate) fn check_level(level: i32) -> std::result::Result<(), String> {
    if !ZSTD_LEVELS.contains(&level) {
        return Err(format!(
            "zstd levels go from {} to {}",
            ZSTD_LEVELS.start(),
            ZSTD_LEVELS.end()
        ));
    }
    Ok(())
}

pub(crate) fn check_max_entry_size(bytes: u64) -> std::result::Result<(), String> {
    if bytes == 0 {
        return Err("the smallest is 1 byte".to_owned());
    }
    Ok(())
}

pub(crate) fn check_threads(threads: usize) -> std::result::Result<(), String> {
    if threads > MAX_THREADS {
        return Err(format!(
            "at most {MAX_THREADS} threads; 0 means one per available core"
        ));
    }
    Ok(())
}

pub(crate) fn check_namespace(name: &str) -> std::result::Result<(), String> {
    Namespace::new(name).map(drop).map_err(|e| {
        // The key and value are already in the message: keep only the reason.
        let why = e
            .message()
            .split_once(": ")
            .map_or(e.message(), |(_, why)| why);
        format!(
            "{why}; a namespace is 1 to {NAMESPACE_MAX_LEN} characters of A-Z, a-z, 0-9, '.', \
             '_' and '-', not starting with '.'"
        )
    })
}

/// The built-in codecs this build includes, by configuration name.
fn compiled_codecs() -> Vec<&'static str> {
    let mut names = Vec::new();
    if cfg!(feature = "zstd") {
        names.push("zstd");
    }
    if cfg!(feature = "lz4") {
        names.push("lz4");
    }
    names.push("identity");
    names
}

/// The adaptive format's cold format is zstd.
pub(crate) fn check_adaptive() -> std::result::Result<(), String> {
    if cfg!(feature = "zstd") {
        Ok(())
    } else {
        Err(format!(
            "the adaptive format stores cold entries with zstd: {}",
            needs_feature("zstd", &compiled_codecs())
        ))
    }
}

/// The codec the adaptive format writes (and makes hot entries with): the builder's
/// (`cache::fast_codec`), so that configuration and builder cannot disagree.
pub(crate) fn fast_codec_id() -> CodecId {
    crate::cache::fast_codec().id()
}

pub(crate) fn check_codec(id: CodecId) -> std::result::Result<(), String> {
    let feature = match id {
        CodecId::Identity => return Ok(()),
        CodecId::Zstd if cfg!(feature = "zstd") => return Ok(()),
        CodecId::Lz4 if cfg!(feature = "lz4") => return Ok(()),
        CodecId::Zstd => "zstd",
        CodecId::Lz4 => "lz4",
        _ => return Err(not_built_in("CacheBuilder::codec")),
    };
    Err(needs_feature(feature, &compiled_codecs()))
}

pub(crate) fn check_hasher(id: HasherId) -> std::result::Result<(), String> {
    let feature = match id {
        HasherId::Sha256 => return Ok(()),
        HasherId::Blake3 if cfg!(feature = "blake3") => return Ok(()),
        HasherId::Blake3 => "blake3",
        _ => return Err(not_built_in("CacheBuilder::hasher")),
    };
    Err(needs_feature(feature, &["sha256"]))
}

fn needs_feature(feature: &str, available: &[&str]) -> String {
    let available: Vec<String> = available.iter().map(|n| format!("{n:?}")).collect();
    format!(
        "it needs the cargo feature `{feature}` of hoard, which this build does not include; \
         enable the feature or choose one of {}",
        available.join(", ")
    )
}

fn not_built_in(setter: &str) -> String {
    format!("plugins cannot be named in a configuration; set them in code with `{setter}`")
}

/// A percentage from 0 to 100, such as the `*-percent-if-deleting` settings.
///
/// Written `"70%"` in configuration files (the `%` is required); [`Display`](fmt::Display)
/// prints the same form and [`FromStr`] parses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Percent(u8);

impl Percent {
    /// 0%.
    pub const ZERO: Self = Self(0);
    /// 100%.
    pub const FULL: Self = Self(100);

    /// `value` percent, or `None` above 100.
    pub const fn new(value: u8) -> Option<Self> {
        if value <= 100 {
            Some(Self(value))
        } else {
            None
        }
    }

    /// The number of percent, 0 to 100.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// This share of `total`, rounded down; never overflows.
    pub const fn of(self, total: u64) -> u64 {
        // The quotient is at most `total`, so it fits in a u64.
        (total as u128 * self.0 as u128 / 100) as u64
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

impl FromStr for Percent {
    type Err = Error;

    /// Parses `"70%"` (blanks allowed around and before the `%`).
    fn from_str(s: &str) -> Result<Self> {
        units::parse_percent(s).map(Self).map_err(|why| {
            Error::new(
                ErrorKind::Config,
                format!(
                    "invalid percentage {s:?}: {why}; expected {}",
                    units::PERCENT_FORM
                ),
            )
        })
    }
}

/// Writes a new configuration file at `path` that lists every key of [`CacheConfig`] with a
/// comment and its default value, commented out (so that later versions' defaults apply
/// until a line is uncommented), and that loads back as the defaults.
///
/// Refuses to overwrite anything already at `path` (an [`ErrorKind::Io`] error whose source
/// is [`std::io::ErrorKind::AlreadyExists`]). Missing parent directories are created with
/// mode `0700`; the file is created with mode `0644` (less with a stricter umask), so that
/// [`CacheConfig::load`] accepts it. Use [`CacheConfig::default_config_path`] for the usual
/// location.
pub fn write_default_config(path: impl AsRef<Path>) -> Result<()> {
    locate::create_config_file(path.as_ref(), &keys::default_file())
}

impl CacheBuilder {
    /// A builder with every setting of `config`: directory (or the default cache
    /// directory), namespace, key hasher, codec and level, durability, group sharing,
    /// maximum entry size, threads and the eviction worker's settings. Further setters may then
    /// override any of them.
    ///
    /// Fails with [`ErrorKind::Config`] if `config` does not [`validate`](CacheConfig::validate)
    /// or no cache directory can be determined. Ignores [`CacheConfig::enabled`]: calling
    /// this asks for a cache (see [`Cache::from_config`]). Creates nothing.
    pub fn from_config(config: &CacheConfig) -> Result<Self> {
        config.validate()?;
        let builder = CacheBuilder::new(config.cache_dir()?)
            .namespace(config.namespace.clone())
            .durability(config.durability)
            .group_shared(config.group_shared)
            .max_entry_size(config.max_entry_size)
            .threads(config.threads)
            .single_flight_wait(config.single_flight_wait)
            .codec_arc(codec_for(config)?)
            .worker(hoard_evict::WorkerConfig::from(config));
        let builder = match &config.auth_key_file {
            Some(file) => builder.auth_key_file(file),
            None => builder,
        };
        let builder = if config.adaptive {
            builder.adaptive(config.adaptive_policy)
        } else {
            builder
        };
        #[cfg(feature = "remote")]
        let builder = match &config.remote {
            Some(remote) => builder.remote(remote.clone()),
            None => builder,
        };
        with_hasher(builder, config.key_hasher)
    }
}

impl Cache {
    /// Opens the cache `config` describes (creating its directory if needed).
    ///
    /// Fails with [`ErrorKind::Config`] if caching is disabled (`enabled = false`) or the
    /// configuration is invalid, and otherwise as [`CacheBuilder::build`] does. Callers that
    /// must never fail can fall back to computing without a cache.
    pub fn from_config(config: &CacheConfig) -> Result<Self> {
        if !config.enabled {
            return Err(Error::new(
                ErrorKind::Config,
                "caching is disabled by `enabled = false` in [cache]",
            ));
        }
        CacheBuilder::from_config(config)?.build()
    }
}

fn codec_for(config: &CacheConfig) -> Result<Arc<dyn Codec>> {
    match config.codec {
        #[cfg(feature = "zstd")]
        CodecId::Zstd => Ok(Arc::new(hoard_codec::Zstd::new(
            config.baseline_compression_level,
        )?)),
        #[cfg(feature = "lz4")]
        CodecId::Lz4 => Ok(Arc::new(hoard_codec::Lz4)),
        CodecId::Identity => Ok(Arc::new(hoard_codec::Identity)),
        other => Err(Error::new(
            ErrorKind::Config,
            format!("codec {other} is not compiled in"),
        )),
    }
}

fn with_hasher(builder: CacheBuilder, id: HasherId) -> Result<CacheBuilder> {
    match id {
        HasherId::Sha256 => Ok(builder.hasher(hoard_key::Sha256)),
        #[cfg(feature = "blake3")]
        HasherId::Blake3 => Ok(builder.hasher(hoard_key::Blake3)),
        other => Err(Error::new(
            ErrorKind::Config,
            format!("key hasher {other} is not compiled in"),
        )),
    }
}
