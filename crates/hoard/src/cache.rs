//! [`Cache`] and [`CacheBuilder`]: the verified default path, with best-effort semantics.

use std::fmt;
use std::hash::Hash;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hoard_core::read::{self, Decoders, Disposition, Expected, Rejected};
use hoard_core::{
    Codec, CodecId, Digest, EntryInfo, Error, ErrorKind, Housekeeping, Key, KeyHasher, Namespace,
    Result, Store, VerifiedFrame, VerifiedView,
    frame::{self, FrameOptions},
};
use hoard_evict::{Adaptive, Clock, Codecs, CounterSource, Janitor, Worker, WorkerConfig};
use hoard_fs::{Durability, FrameBytes, FsOptions, FsStore};
use hoard_key::{HashBridge, KeyBuilder};

use crate::mapped::{MAP_FROM, Mapped};
use crate::serial::Serialization;
use crate::stats::{Counters, Stats};

/// The default maximum decoded size of one entry: 1 GiB.
pub const DEFAULT_MAX_ENTRY_SIZE: u64 = 1 << 30;

/// The namespace used when none is configured.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The compression level of the default zstd codec (wasmtime's baseline level).
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

/// Builds a [`Cache`]; every setting has a default, so `CacheBuilder::new(dir).build()` works.
///
/// | setting | default |
/// |---|---|
/// | store | [`FsStore`] at the given directory |
/// | key hasher | SHA-256 |
/// | codec | zstd level 3 (feature `zstd`), identity without it |
/// | namespace | `default` |
/// | durability | [`Durability::None`] |
/// | maximum entry size | 1 GiB decoded |
/// | serialization of `get_data` | postcard |
/// | eviction worker | on, with [`WorkerConfig::default`], for the filesystem store it opens and for a store given with [`with_maintained_store`](Self::with_maintained_store) |
/// | threads per large entry | one per available core |
/// | single-flight wait | 10 s ([`DEFAULT_SINGLE_FLIGHT_WAIT`](crate::DEFAULT_SINGLE_FLIGHT_WAIT)) |
/// | authentication (MAC keys) | none: entries unsigned ([`auth_key_file`](Self::auth_key_file)) |
pub struct CacheBuilder {
    location: Location,
    hasher: Option<Arc<dyn KeyHasher>>,
    codec: Option<Arc<dyn Codec>>,
    extra_decoders: Vec<Arc<dyn Codec>>,
    namespace: NamespaceChoice,
    max_entry_size: u64,
    fs_options: FsOptions,
    serialization: Serialization,
    worker: Option<WorkerConfig>,
    worker_clock: Option<Arc<dyn Clock>>,
    threads: usize,
    adaptive: Option<Adaptive>,
    pub(crate) single_flight_wait: std::time::Duration,
    auth: Option<Auth>,
    #[cfg(feature = "remote")]
    pub(crate) remote: Option<crate::tier::RemoteSettings>,
    #[cfg(feature = "remote")]
    pub(crate) remote_clock: Option<Arc<dyn hoard_remote::Clock>>,
}

enum Location {
    Dir(PathBuf),
    Store(Arc<dyn Store>),
    /// A store that offers [`Housekeeping`]: the worker runs on it.
    Maintained(Arc<dyn Housekeeping>),
}

/// Where an authenticated cache's MAC keys come from.
#[derive(Debug)]
enum Auth {
    /// A key file, read when the cache is built.
    File(PathBuf),
    /// Keys given in code (their `Debug` shows key ids only).
    Keys(frame::MacKeys),
}

enum NamespaceChoice {
    Exact(String),
    Label(Vec<u8>),
}

impl fmt::Debug for CacheBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("CacheBuilder");
        match &self.location {
            Location::Dir(p) => d.field("dir", p),
            Location::Store(s) => d.field("store", s),
            Location::Maintained(s) => d.field("maintained_store", s),
        };
        d.field("hasher", &self.hasher)
            .field("codec", &self.codec)
            .field("max_entry_size", &self.max_entry_size)
            .field("fs_options", &self.fs_options)
            .field("serialization", &self.serialization)
            .field("worker", &self.worker)
            .field("threads", &self.threads)
            .field("adaptive", &self.adaptive)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl CacheBuilder {
    /// A builder for a cache in the directory `dir` (created on [`build`](Self::build)).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self::at(Location::Dir(dir.into()))
    }

    /// A builder for a cache on any [`Store`]: a plugin's backend, or a wrapped `FsStore`.
    ///
    /// The cache runs no eviction worker on it (nothing is evicted, recompressed or swept):
    /// a plain `Store` offers no way to do so. For a store that also implements
    /// [`Housekeeping`], use [`with_maintained_store`](Self::with_maintained_store).
    pub fn with_store(store: impl Store) -> Self {
        Self::at(Location::Store(Arc::new(store)))
    }

    /// A builder for a cache on a store that implements [`Housekeeping`]: the cache runs the
    /// eviction worker on it exactly as on the filesystem store [`new`](Self::new) opens
    /// (limits, last-use times, recompression, lifetime counters in its state blobs), unless
    /// [`without_worker`](Self::without_worker) says otherwise. With a remote tier (feature
    /// `remote`, `CacheBuilder::remote`), this store is the tier's local part: the worker
    /// maintains it and it keeps the tier's lifetime counters.
    ///
    /// A separate entry point, not a run-time check in [`with_store`](Self::with_store): a
    /// `dyn Store` cannot be asked whether it also implements `Housekeeping`. Pass an
    /// `Arc<S>` to keep a handle on the store (`Arc<S>` implements both traits).
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// use hoard::CacheBuilder;
    /// use hoard_testkit::InMemory;
    ///
    /// let store = Arc::new(InMemory::new());
    /// let cache = CacheBuilder::with_maintained_store(Arc::clone(&store)).build()?;
    /// assert!(cache.worker().is_some());
    /// let key = cache.key("example");
    /// assert!(cache.put(&key, b"value"));
    /// assert_eq!(store.keys().len(), 1);
    /// # Ok::<(), hoard::Error>(())
    /// ```
    pub fn with_maintained_store(store: impl Housekeeping) -> Self {
        Self::at(Location::Maintained(Arc::new(store)))
    }

    fn at(location: Location) -> Self {
        Self {
            location,
            hasher: None,
            codec: None,
            extra_decoders: Vec::new(),
            namespace: NamespaceChoice::Exact(DEFAULT_NAMESPACE.to_owned()),
            max_entry_size: DEFAULT_MAX_ENTRY_SIZE,
            fs_options: FsOptions::default(),
            serialization: Serialization::default(),
            worker: Some(WorkerConfig::default()),
            worker_clock: None,
            threads: 0,
            adaptive: None,
            single_flight_wait: crate::flight::DEFAULT_SINGLE_FLIGHT_WAIT,
            auth: None,
            #[cfg(feature = "remote")]
            remote: None,
            #[cfg(feature = "remote")]
            remote_clock: None,
        }
    }

    /// The namespace: 1 to 100 characters of `[A-Za-z0-9._-]`, not starting with `.`
    /// (wasmtime uses `<compiler>-<version>`). Checked by [`build`](Self::build).
    #[must_use]
    pub fn namespace(mut self, name: impl Into<String>) -> Self {
        self.namespace = NamespaceChoice::Exact(name.into());
        self
    }

    /// A namespace from an arbitrary label: used as is when it is a valid namespace name,
    /// otherwise replaced by `h-` and 32 hex digits of its SHA-256, so that any label is safe.
    #[must_use]
    pub fn namespace_label(mut self, label: impl AsRef<[u8]>) -> Self {
        self.namespace = NamespaceChoice::Label(label.as_ref().to_vec());
        self
    }

    /// The key hasher (default SHA-256).
    #[must_use]
    pub fn hasher(mut self, hasher: impl KeyHasher) -> Self {
        self.hasher = Some(Arc::new(hasher));
        self
    }

    /// The codec new entries are written with (default zstd level 3 when the `zstd` feature
    /// is on, identity otherwise). Entries written with any built-in codec stay readable.
    #[must_use]
    pub fn codec(mut self, codec: impl Codec) -> Self {
        self.codec = Some(Arc::new(codec));
        self
    }

    /// A shared codec (the same as [`codec`](Self::codec) for a codec already in an `Arc`).
    #[must_use]
    pub fn codec_arc(mut self, codec: Arc<dyn Codec>) -> Self {
        self.codec = Some(codec);
        self
    }

    /// Another codec entries may have been written with (a plugin codec used earlier, say).
    /// The built-in codecs compiled in are always available for reading. Like the write
    /// codec, it is checked by [`build`](Self::build): two codecs given for one id must read
    /// each other's output.
    #[must_use]
    pub fn decoder(mut self, codec: impl Codec) -> Self {
        self.extra_decoders.push(Arc::new(codec));
        self
    }

    /// Fsync policy of the filesystem store (default [`Durability::None`]); ignored for a
    /// store given with [`with_store`](Self::with_store) or
    /// [`with_maintained_store`](Self::with_maintained_store).
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> Self {
        self.fs_options = self.fs_options.durability(durability);
        self
    }

    /// Share the cache directory with its group (see [`FsOptions::group_shared`]).
    #[must_use]
    pub fn group_shared(mut self, shared: bool) -> Self {
        self.fs_options = self.fs_options.group_shared(shared);
        self
    }

    /// The largest decoded entry that is stored or read back (default 1 GiB). Larger values
    /// are computed and returned but not cached; a stored frame declaring more is a miss.
    #[must_use]
    pub fn max_entry_size(mut self, bytes: u64) -> Self {
        self.max_entry_size = bytes;
        self
    }

    /// How [`Cache::get_data`] serializes values (default postcard).
    #[must_use]
    pub fn serialization(mut self, serialization: Serialization) -> Self {
        self.serialization = serialization;
        self
    }

    /// Runs the eviction worker with `config` (the default is [`WorkerConfig::default`]:
    /// wasmtime-cache's limits and intervals). The worker is started for the filesystem
    /// store the builder opens itself ([`new`](Self::new)) and for a store given with
    /// [`with_maintained_store`](Self::with_maintained_store); a store given with
    /// [`with_store`](Self::with_store) gets none. Its maximum recompressed entry size is
    /// the cache's [`max_entry_size`](Self::max_entry_size).
    #[must_use]
    pub fn worker(mut self, config: WorkerConfig) -> Self {
        self.worker = Some(config);
        self
    }

    /// No eviction worker: nothing is evicted, recompressed or swept in the background
    /// (the cache grows without bound unless something else cleans it).
    #[must_use]
    pub fn without_worker(mut self) -> Self {
        self.worker = None;
        self
    }

    /// The clock the eviction worker reads (default: the system clock). For tests and
    /// simulations, with [`ManualClock`](hoard_evict::ManualClock).
    #[must_use]
    pub fn worker_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.worker_clock = Some(clock);
        self
    }

    /// Makes the cache authenticated with the MAC keys in the key file at `path` (format and
    /// checks: [`read_auth_key_file`](crate::read_auth_key_file)), read by
    /// [`build`](Self::build), which fails when the file is missing, malformed, not the
    /// user's or readable by others.
    ///
    /// Every entry written is signed with the first key (a keyed BLAKE3 MAC in the frame, see
    /// [`frame`]), and only entries whose MAC verifies under one of the keys are served:
    /// an entry without a MAC, signed with another key or tampered with is a miss counted in
    /// [`Stats::unauthenticated_entries`], left in place (the cache's own put of the key
    /// replaces it), and never backfilled from a remote tier. Recompression and the adaptive
    /// format re-sign what they rewrite and leave what they cannot vouch for. Without keys
    /// nothing changes: entries are the bytes they always were, and signed entries of
    /// others are served unchecked (their MAC cannot be checked without the key).
    #[must_use]
    pub fn auth_key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.auth = Some(Auth::File(path.into()));
        self
    }

    /// [`auth_key_file`](Self::auth_key_file) with the keys given in code: the first signs,
    /// every one is accepted.
    #[must_use]
    pub fn auth_keys(mut self, keys: frame::MacKeys) -> Self {
        self.auth = Some(Auth::Keys(keys));
        self
    }

    /// How many threads encode and decode one large entry: 0 (the default) for one per
    /// available core (`std::thread::available_parallelism`), 1 for the caller's thread only.
    ///
    /// Values above 512 KiB (unless the codec is identity) are stored as chunks that encode
    /// and decode independently (see [`frame::chunk_len_for`]); a put or a hit spreads them
    /// over up to this many threads, scoped to the call. The setting changes only speed: the
    /// bytes stored are the same for every thread count, and entries written with any
    /// setting read with any other. The eviction worker recompresses on its own thread.
    #[must_use]
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// The adaptive format (opt-in; `codec = "adaptive"` in a configuration): puts write the
    /// fast format (the value stored as it is) so that a miss never waits for zstd, and the eviction worker makes entries that stay idle cold (zstd at
    /// [`Adaptive::cold_level`], 19 by default: smaller, and as fast to decode as level 3)
    /// and entries used again hot (the fast format), keeping the fast entries within
    /// [`Adaptive::hot_budget_percent`] of the size limit. See [`Adaptive`] for the rules.
    ///
    /// Replaces the write codec ([`codec`](Self::codec)) with the fast one and turns the
    /// policy on in the worker's configuration (whichever [`worker`](Self::worker) call
    /// comes first or last); without a worker, entries simply stay in the fast format.
    /// Every hoard build with the `zstd` feature reads every entry of an adaptive cache.
    /// [`build`](Self::build) fails with [`ErrorKind::Config`] without the `zstd` feature.
    #[must_use]
    pub fn adaptive(mut self, policy: Adaptive) -> Self {
        self.adaptive = Some(policy);
        self
    }

    /// Opens the store and returns the cache.
    ///
    /// Fails with a clear error for an invalid namespace, a zero maximum entry size, a
    /// directory that cannot be created or is insecure (see [`FsStore::open_with`]), or a
    /// codec or key hasher that is given explicitly and fails its checks
    /// ([`ErrorKind::Config`], naming the id and the fault):
    /// - an id no frame can record (a plugin's must lie in `0x8000..=0xFFFF`);
    /// - a round trip of a small sample: a codec that cannot decode its own output exactly
    ///   (with [`Codec::decode`] and [`Codec::decode_into`]), a hasher whose digest of the
    ///   same bytes changes with how they are split into updates or forked;
    /// - one format per id: a codec or hasher claiming a built-in id must read and write
    ///   that built-in's format (zstd at another level does; a plugin reusing the id does
    ///   not), and two codecs given for one id ([`codec`](Self::codec) and
    ///   [`decoder`](Self::decoder)) must read each other's output.
    ///
    /// Callers that must never fail can fall back to computing without a cache.
    pub fn build(self) -> Result<Cache> {
        let namespace = match &self.namespace {
            NamespaceChoice::Exact(name) => Namespace::new(name)?,
            NamespaceChoice::Label(label) => namespace_for_label(label),
        };
        if self.max_entry_size == 0 {
            return Err(Error::new(
                ErrorKind::Config,
                "max entry size must be at least 1 byte",
            ));
        }
        let mut mappable = None;
        let (store, keeper): (Arc<dyn Store>, Option<Arc<dyn Housekeeping>>) = match self.location {
            Location::Dir(dir) => {
                let fs = Arc::new(FsStore::open_with(dir, self.fs_options)?);
                // Only a private cache's entries are ever mapped (see `FsStore::map_frame`).
                if !self.fs_options.group_shared {
                    mappable = Some(Arc::clone(&fs));
                }
                (Arc::clone(&fs) as Arc<dyn Store>, Some(fs))
            }
            Location::Store(store) => (store, None),
            Location::Maintained(keeper) => (Arc::clone(&keeper) as Arc<dyn Store>, Some(keeper)),
        };
        let builtin = hoard_codec::builtin();
        let given: Vec<Arc<dyn Codec>> = self
            .codec
            .iter()
            .chain(&self.extra_decoders)
            .cloned()
            .collect();
        crate::validate::check_codecs(&given, &builtin)?;
        if let Some(hasher) = &self.hasher {
            crate::validate::check_hasher(hasher.as_ref())?;
        }
        if self.adaptive.is_some() {
            crate::config::check_adaptive().map_err(|why| {
                Error::new(
                    ErrorKind::Config,
                    format!("cannot use the adaptive format: {why}"),
                )
            })?;
        }
        let codec = match (self.adaptive, self.codec) {
            (Some(_), _) => fast_codec(),
            (None, Some(codec)) => codec,
            (None, None) => default_codec()?,
        };
        let mut decoders = Decoders::new().with(Arc::clone(&codec));
        for extra in self.extra_decoders {
            decoders.add(extra);
        }
        decoders.extend(&builtin);
        let frame_options = FrameOptions::new().with_threads(resolve_threads(self.threads));
        let frame_options = match self.auth {
            None => frame_options,
            Some(Auth::Keys(keys)) => frame_options.with_mac_keys(keys),
            Some(Auth::File(path)) => {
                frame_options.with_mac_keys(crate::auth::read_auth_key_file(&path)?)
            }
        };
        let decoders = decoders.with_options(frame_options.clone());
        // The tier backfills only what these decoders can read.
        #[cfg(feature = "remote")]
        let (store, mut remote) = match self.remote {
            Some(settings) => {
                let tier = settings.open(
                    store,
                    keeper.clone(),
                    self.remote_clock,
                    decoders.clone(),
                    self.max_entry_size,
                )?;
                (Arc::clone(&tier.store), Some(tier))
            }
            None => (store, None),
        };
        #[cfg(feature = "remote")]
        let counter_sources: Vec<_> = remote.iter().map(|t| t.counter_source()).collect();
        #[cfg(not(feature = "remote"))]
        let counter_sources = Vec::new();
        let hasher = self
            .hasher
            .unwrap_or_else(|| Arc::new(hoard_key::Sha256) as Arc<dyn KeyHasher>);
        let flight = keeper
            .clone()
            .and_then(|k| crate::flight::Flight::new(k, self.single_flight_wait));
        #[cfg(feature = "remote")]
        let flight = flight.map(|f| {
            f.with_lease(
                remote
                    .as_ref()
                    .and_then(|t| t.fleet_lease(&namespace, self.max_entry_size)),
            )
        });
        let worker = match (keeper.clone(), self.worker) {
            (Some(keeper), Some(config)) => start_worker(
                keeper,
                match self.adaptive {
                    Some(policy) => config.adaptive(policy),
                    None => config,
                }
                .max_entry_size(self.max_entry_size),
                self.worker_clock,
                codec.as_ref(),
                &decoders,
                &namespace,
                counter_sources,
            ),
            _ => None,
        };
        // Without a worker, the remote tier keeps its lifetime counters with a janitor of
        // its own.
        #[cfg(feature = "remote")]
        if worker.is_none()
            && let (Some(tier), Some(keeper)) = (remote.as_mut(), keeper)
        {
            tier.keep_counters_in(keeper);
        }
        let prefix = |domain: &str| key_prefix(hasher.as_ref(), domain, &namespace);
        Ok(Cache {
            inner: Arc::new(Inner {
                bytes_prefix: prefix("hoard.bytes"),
                fields_prefix: prefix("hoard.fields"),
                hash_prefix: prefix("hoard.hash"),
                data_prefix: prefix(self.serialization.key_domain()),
                store,
                mappable,
                hasher,
                codec,
                decoders,
                frame_options,
                namespace,
                max_entry_size: self.max_entry_size,
                serialization: self.serialization,
                counters: Counters::default(),
                worker,
                flight,
                #[cfg(feature = "remote")]
                remote,
            }),
        })
    }
}

impl CacheBuilder {
    /// Like [`build`](Self::build), but never fails: when the cache cannot be opened (an
    /// insecure, missing or unwritable directory, an invalid setting), the error is logged
    /// and the cache returned stores nothing. Every `get` is then a miss and every `put` is
    /// refused and counted in [`Stats::errors`], so [`Cache::get_or_compute`] and
    /// [`Cache::get_data`] still return every computed value: caching is an optimisation
    /// a program should not stop for.
    pub fn build_or_uncached(self) -> Cache {
        let namespace = match &self.namespace {
            NamespaceChoice::Exact(name) => {
                Namespace::new(name).unwrap_or_else(|_| namespace_for_label(name.as_bytes()))
            }
            NamespaceChoice::Label(label) => namespace_for_label(label),
        };
        // The fallback must build: a codec or hasher that failed its checks is replaced by
        // the default (the fallback stores nothing, so no entry depends on it).
        let hasher = self
            .hasher
            .clone()
            .filter(|h| crate::validate::check_hasher(h.as_ref()).is_ok());
        let codec = self.codec.clone().filter(|c| {
            crate::validate::check_codecs(&[Arc::clone(c)], &hoard_codec::builtin()).is_ok()
        });
        let serialization = self.serialization;
        let max_entry_size = self.max_entry_size.max(1);
        match self.build() {
            Ok(cache) => cache,
            Err(reason) => {
                tracing::warn!(error = %reason, "caching disabled: the cache cannot be opened");
                let mut b = CacheBuilder::with_store(Uncached { reason })
                    .namespace(namespace.as_str())
                    .serialization(serialization)
                    .max_entry_size(max_entry_size);
                b.hasher = hasher;
                b.codec = codec;
                b.build()
                    .expect("a valid namespace and size on a store without I/O always build")
            }
        }
    }
}

/// The store of a cache that could not be opened: holds nothing, refuses every put.
#[derive(Debug)]
struct Uncached {
    reason: Error,
}

impl Store for Uncached {
    fn get(&self, _: &Namespace, _: &Digest, _: u64) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }

    fn put(&self, ns: &Namespace, digest: &Digest, _: &[u8]) -> Result<()> {
        Err(Error::new(
            ErrorKind::NotSupportedByStore,
            format!(
                "not caching {digest} in namespace {ns}: the cache could not be opened ({})",
                self.reason
            ),
        ))
    }

    fn remove(&self, _: &Namespace, _: &Digest) -> Result<bool> {
        Ok(false)
    }

    fn list(&self, _: &mut dyn FnMut(EntryInfo) -> std::ops::ControlFlow<()>) -> Result<()> {
        Ok(())
    }
}

/// The thread count [`CacheBuilder::threads`] means: 0 is one per available core.
fn resolve_threads(threads: usize) -> usize {
    if threads != 0 {
        return threads;
    }
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Starts the eviction worker; a failure is logged and the cache runs without one (best
/// effort, like every store failure).
fn start_worker(
    keeper: Arc<dyn Housekeeping>,
    config: WorkerConfig,
    clock: Option<Arc<dyn Clock>>,
    codec: &dyn Codec,
    decoders: &Decoders,
    namespace: &Namespace,
    counter_sources: Vec<Arc<dyn CounterSource>>,
) -> Option<Worker> {
    let mut codecs = Codecs::new().decoders(decoders);
    if let Some(policy) = config.adaptive {
        match adaptive_codecs(policy.cold_level) {
            Ok((fast, cold)) => codecs = codecs.adaptive(fast, cold),
            Err(e) => tracing::warn!(error = %e, "entries will not be converted"),
        }
    } else if let Some(optimized) = optimized_codec(codec, config.optimized_level) {
        codecs = codecs.optimized(optimized);
    }
    let mut janitor = Janitor::new(keeper, config).with_codecs(codecs);
    for source in counter_sources {
        janitor = janitor.with_counter_source(source);
    }
    if let Some(clock) = clock {
        janitor = janitor.with_clock(clock);
    }
    match Worker::start(janitor, namespace.clone()) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "running without the eviction worker");
            None
        }
    }
}

/// The codec popular entries are recompressed with: the cache's own codec at the optimized
/// level, when it has levels (zstd) and that level is valid.
#[cfg(feature = "zstd")]
fn optimized_codec(codec: &dyn Codec, level: i32) -> Option<Arc<dyn Codec>> {
    if codec.id() != hoard_core::CodecId::Zstd {
        return None;
    }
    match hoard_codec::Zstd::new(level) {
        Ok(z) => Some(Arc::new(z)),
        Err(e) => {
            tracing::warn!(error = %e, "popular entries will not be recompressed");
            None
        }
    }
}

#[cfg(not(feature = "zstd"))]
fn optimized_codec(_codec: &dyn Codec, _level: i32) -> Option<Arc<dyn Codec>> {
    None
}

/// The adaptive format's fast codec: identity (stored), whatever features are built. A hot
/// entry is then read at the speed of the file itself (no decoder: its payload is read
/// straight into the returned buffer, or mapped by `get_mapped`), a put costs a write, and
/// every build of hoard reads it; LZ4, the other candidate, decodes at a quarter of the page
/// cache's speed here and is not built into every hoard.
pub(crate) fn fast_codec() -> Arc<dyn Codec> {
    Arc::new(hoard_codec::Identity)
}

/// The adaptive format's fast and cold codecs.
#[cfg(feature = "zstd")]
fn adaptive_codecs(cold_level: i32) -> Result<(Arc<dyn Codec>, Arc<dyn Codec>)> {
    Ok((fast_codec(), Arc::new(hoard_codec::Zstd::new(cold_level)?)))
}

#[cfg(not(feature = "zstd"))]
fn adaptive_codecs(_cold_level: i32) -> Result<(Arc<dyn Codec>, Arc<dyn Codec>)> {
    Err(Error::new(
        ErrorKind::Config,
        "the adaptive format needs the zstd feature",
    ))
}

#[cfg(feature = "zstd")]
fn default_codec() -> Result<Arc<dyn Codec>> {
    Ok(Arc::new(hoard_codec::Zstd::new(DEFAULT_ZSTD_LEVEL)?))
}

#[cfg(not(feature = "zstd"))]
fn default_codec() -> Result<Arc<dyn Codec>> {
    Ok(Arc::new(hoard_codec::Identity))
}

fn namespace_for_label(label: &[u8]) -> Namespace {
    if let Some(ns) = std::str::from_utf8(label)
        .ok()
        .and_then(|s| Namespace::new(s).ok())
    {
        return ns;
    }
    let mut b = KeyBuilder::new(&hoard_key::Sha256, "hoard.namespace-label");
    b.bytes(label);
    let hex = b.finish().digest().to_hex();
    Namespace::new(&format!("h-{}", &hex[..32])).expect("h- and hex digits form a valid namespace")
}

/// A cache of computed artifacts: keys in, verified bytes out.
///
/// Cheap to clone and share between threads. The plain methods ([`get`](Self::get),
/// [`put`](Self::put), [`get_or_compute`](Self::get_or_compute), [`get_data`](Self::get_data))
/// never fail: a store or codec failure is logged with `tracing`, counted in
/// [`stats`](Self::stats), and treated as a miss, so the caller always gets its value. The
/// `try_` methods return the error instead, for tools that must report it.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    /// The cache's own directory when it is private: what `get_mapped` may map.
    mappable: Option<Arc<FsStore>>,
    hasher: Arc<dyn KeyHasher>,
    codec: Arc<dyn Codec>,
    decoders: Decoders,
    /// How puts encode (threads); `decoders` holds the same for reads.
    frame_options: FrameOptions,
    namespace: Namespace,
    max_entry_size: u64,
    serialization: Serialization,
    bytes_prefix: KeyBuilder,
    fields_prefix: KeyBuilder,
    hash_prefix: KeyBuilder,
    data_prefix: KeyBuilder,
    counters: Counters,
    /// Dropped (stopped and joined) with the last clone of the cache.
    worker: Option<Worker>,
    /// Single-flight locks (`flight.rs`), on a housekept store.
    flight: Option<crate::flight::Flight>,
    /// The remote tier, when one is configured.
    #[cfg(feature = "remote")]
    pub(crate) remote: Option<crate::tier::Tier>,
}

#[cfg(feature = "remote")]
impl Drop for Inner {
    fn drop(&mut self) {
        // Before the worker stops: its last merge then counts the queued write-backs.
        if let Some(tier) = &self.remote {
            tier.close();
        }
    }
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("store", &self.inner.store)
            .field("namespace", &self.inner.namespace)
            .field("hasher", &self.inner.hasher.id())
            .field("codec", &self.inner.codec.id())
            .field("level", &self.inner.codec.level())
            .field("worker", &self.inner.worker.is_some())
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// Opens a cache in `dir` with every default (see [`CacheBuilder`]).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        CacheBuilder::new(dir).build()
    }

    /// A builder for a cache in `dir`.
    pub fn builder(dir: impl Into<PathBuf>) -> CacheBuilder {
        CacheBuilder::new(dir)
    }

    /// The namespace entries are stored under.
    pub fn namespace(&self) -> &Namespace {
        &self.inner.namespace
    }

    /// The store behind the cache.
    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    /// The codec new entries are written with.
    pub fn codec(&self) -> &dyn Codec {
        self.inner.codec.as_ref()
    }

    /// The key hasher.
    pub fn hasher(&self) -> &dyn KeyHasher {
        self.inner.hasher.as_ref()
    }

    /// The maximum decoded entry size.
    pub fn max_entry_size(&self) -> u64 {
        self.inner.max_entry_size
    }

    /// The MAC keys of an authenticated cache ([`CacheBuilder::auth_key_file`]): what its
    /// puts sign with and its reads check. `None` without a key.
    pub fn mac_keys(&self) -> Option<&frame::MacKeys> {
        self.inner.frame_options.mac_keys()
    }

    /// The eviction worker, if one runs: its counters ([`Worker::stats`]), [`Worker::sync`],
    /// and the explicit maintenance operations ([`Worker::janitor`]).
    pub fn worker(&self) -> Option<&Worker> {
        self.inner.worker.as_ref()
    }

    /// The key for an arbitrary byte string in this cache's namespace (what the `hoard`
    /// command uses for its `KEY` argument).
    pub fn key(&self, input: impl AsRef<[u8]>) -> Key {
        let mut b = self.inner.bytes_prefix.fork();
        b.bytes(input.as_ref());
        b.finish()
    }

    /// A [`KeyBuilder`] already holding this cache's namespace, for keys made of several
    /// fields with a stable, portable encoding.
    pub fn key_builder(&self) -> KeyBuilder {
        self.inner.fields_prefix.fork()
    }

    /// The key of a `T: Hash` value, as wasmtime's cache keys its states.
    ///
    /// `std::hash::Hash` output is not guaranteed stable across Rust versions, platforms or
    /// crate versions, so such keys may change when any of those do (a miss, never a wrong
    /// hit). Use [`key_builder`](Self::key_builder) for keys that must stay portable.
    pub fn key_of<T: Hash + ?Sized>(&self, value: &T) -> Key {
        bridged_key(self.inner.hash_prefix.fork(), value)
    }

    /// Reads and verifies the entry for `key`; `None` on a miss or any failure.
    pub fn get(&self, key: &Key) -> Option<Vec<u8>> {
        self.try_get(key).unwrap_or(None)
    }

    /// Reads and verifies the entry for `key`, reporting failures.
    ///
    /// An entry that fails verification (damaged, truncated, another key's, not a regular
    /// file) is removed and reported as [`ErrorKind::Corrupt`] (or [`ErrorKind::Insecure`] for
    /// a symlink); an entry from a newer hoard or in a codec not compiled in is
    /// [`ErrorKind::Unsupported`] and left alone. An entry that verifies but does not decode
    /// with the codec registered for its id (another program's codec under the same id)
    /// returns the codec's error, is left alone and is counted in
    /// [`Stats::undecodable_entries`]. A bad entry that cannot be removed (behind
    /// a symlinked directory, through which nothing is removed, or in a cache this process
    /// cannot write) stays, and the failed removal is counted in [`Stats::errors`]. Every
    /// outcome is counted.
    pub fn try_get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        self.counted(key, self.lookup(key))
    }

    /// The verified value for `key` without a copy where possible; `None` on a miss or any
    /// failure (counted and handled as by [`get`](Self::get)).
    ///
    /// A stored (identity) entry of more than 1 MiB in a private cache directory (not
    /// [`group_shared`](CacheBuilder::group_shared)) is memory-mapped: the guard derefs to
    /// the file's pages, checked (checksum, key, size cap) before it is returned, and no
    /// byte of the value is copied. Anything else is read and decoded as by `get` and
    /// returned in the same guard: compressed entries, smaller ones (reading them costs
    /// less than mapping), entries of a group-shared cache (other users' files, which hoard
    /// cannot vouch will never be truncated under the map, see [`FsStore::map_frame`]), and
    /// entries of any other store.
    ///
    /// The bytes never change while the guard lives: a later put of the same key renames a
    /// new file over the name and a removal unlinks it, both leaving the mapped file as it
    /// was until the guard is dropped. Holding guards keeps removed entries' disk space in
    /// use until then.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let cache = hoard::CacheBuilder::new(dir.path()).codec(hoard::Identity).build()?;
    /// let key = cache.key("module");
    /// let value = vec![7u8; 2 << 20];
    /// cache.put(&key, &value);
    /// let hit = cache.get_mapped(&key).expect("a hit");
    /// assert_eq!(&hit[..], &value[..]);
    /// assert_eq!(hit.is_mapped(), cfg!(unix)); // Windows reads: see `FsStore::map_frame`
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_mapped(&self, key: &Key) -> Option<Mapped> {
        self.try_get_mapped(key).unwrap_or(None)
    }

    /// [`get_mapped`](Self::get_mapped), reporting failures as
    /// [`try_get`](Self::try_get) does.
    pub fn try_get_mapped(&self, key: &Key) -> Result<Option<Mapped>> {
        self.counted(key, self.lookup_mapped(key))
    }

    /// Counts the outcome of a lookup, reports a hit to the worker, and handles a bad entry
    /// (see [`try_get`](Self::try_get)).
    fn counted<T>(&self, key: &Key, found: Result<Option<T>, Rejected>) -> Result<Option<T>> {
        let c = &self.inner.counters;
        match found {
            Ok(Some(value)) => {
                Counters::bump(&c.hits);
                if let Some(w) = &self.inner.worker {
                    w.record_hit(key.digest());
                }
                Ok(Some(value))
            }
            Ok(None) => {
                Counters::bump(&c.misses);
                if let Some(w) = &self.inner.worker {
                    w.record_miss();
                }
                Ok(None)
            }
            Err(rejected) => {
                Counters::bump(&c.misses);
                if let Some(w) = &self.inner.worker {
                    w.record_miss();
                }
                self.note_bad_read(key, &rejected);
                Err(rejected.into_error())
            }
        }
    }

    fn lookup_mapped(&self, key: &Key) -> Result<Option<Mapped>, Rejected> {
        let inner = &*self.inner;
        let Some(fs) = &inner.mappable else {
            return Ok(self.lookup(key)?.map(Mapped::owned));
        };
        let expected = Expected::Key(key);
        let cap = inner.max_entry_size;
        let found = fs.map_frame(
            &inner.namespace,
            key.digest(),
            frame::max_frame_len(cap),
            MAP_FROM,
        )?;
        match found {
            None => {
                // Not in the directory: the remote tier behind it may have it.
                #[cfg(feature = "remote")]
                if inner.remote.is_some() {
                    return Ok(self.lookup(key)?.map(Mapped::owned));
                }
                Ok(None)
            }
            Some(FrameBytes::Read(stored)) => {
                let found = VerifiedFrame::check_stored(stored, expected, cap)?;
                Ok(Some(Mapped::owned(found.into_value(&inner.decoders)?)))
            }
            Some(FrameBytes::Mapped(map)) => {
                let view = VerifiedView::check(&map, expected, cap)?;
                // The mapped value is never decoded: its MAC is checked here.
                if let Some(keys) = inner.frame_options.mac_keys() {
                    view.authenticate(keys)?;
                }
                let header = view.header();
                if header.codec == CodecId::Identity
                    && inner.decoders.get(CodecId::Identity).is_some()
                {
                    let offset = header.payload_offset;
                    return Ok(Some(Mapped::from_map(map, offset)));
                }
                Ok(Some(Mapped::owned(view.decode_with(&inner.decoders)?)))
            }
        }
    }

    fn lookup(&self, key: &Key) -> Result<Option<Vec<u8>>, Rejected> {
        let inner = &*self.inner;
        let found = read::read_entry(
            inner.store.as_ref(),
            &inner.namespace,
            Expected::Key(key),
            inner.max_entry_size,
        )?;
        found
            .map(|found| found.into_value(&inner.decoders))
            .transpose()
    }

    fn note_bad_read(&self, key: &Key, rejected: &Rejected) {
        let inner = &*self.inner;
        let c = &inner.counters;
        let err = rejected.error();
        match rejected.disposition() {
            Disposition::Corrupt => {
                Counters::bump(&c.corrupt);
                if let Some(w) = &inner.worker {
                    w.record_corrupt();
                }
                tracing::warn!(%key, namespace = %inner.namespace, error = %err, "removing a cache entry that failed verification");
                match inner.store.remove(&inner.namespace, key.digest()) {
                    Ok(_) => {}
                    Err(e) => {
                        Counters::bump(&c.errors);
                        tracing::warn!(%key, error = %e, "cannot remove a bad cache entry; it stays in place");
                    }
                }
            }
            Disposition::Skip => {
                tracing::debug!(%key, error = %err, "cache entry skipped");
            }
            Disposition::Unauthenticated => {
                Counters::bump(&c.unauthenticated_entries);
                tracing::warn!(%key, namespace = %inner.namespace, error = %err, "a cache entry is not signed by this cache's key; not serving it, leaving it in place");
            }
            Disposition::Undecodable => {
                Counters::bump(&c.undecodable_entries);
                let codec = rejected.header().map(|h| h.codec);
                tracing::warn!(%key, namespace = %inner.namespace, ?codec, error = %err, "a cache entry verified but does not decode with the codec registered for its id (another program's codec under the same id?); leaving it in place");
            }
            _ => {
                Counters::bump(&c.errors);
                tracing::warn!(%key, error = %err, "cache read failed");
            }
        }
    }

    /// Stores `data` under `key`; `false` if it was not stored (failure or too large),
    /// which is logged and counted.
    pub fn put(&self, key: &Key, data: &[u8]) -> bool {
        match self.try_put(key, data) {
            Ok(()) => true,
            Err(err) => {
                let c = &self.inner.counters;
                if err.kind() == ErrorKind::TooLarge {
                    Counters::bump(&c.oversized);
                    tracing::debug!(%key, error = %err, "value not cached");
                } else if err.kind() == ErrorKind::NotSupportedByStore {
                    // A store that never takes puts (an uncached fallback) was reported once
                    // when it was built; one warning per put would drown the log.
                    Counters::bump(&c.errors);
                    tracing::debug!(%key, error = %err, "value not cached");
                } else {
                    Counters::bump(&c.errors);
                    tracing::warn!(%key, error = %err, "cache write failed");
                }
                false
            }
        }
    }

    /// Stores `data` under `key`, reporting failures.
    pub fn try_put(&self, key: &Key, data: &[u8]) -> Result<()> {
        let inner = &*self.inner;
        if data.len() as u64 > inner.max_entry_size {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "value for key {key} is {} bytes, above the {}-byte max entry size",
                    data.len(),
                    inner.max_entry_size
                ),
            ));
        }
        let bytes = frame::encode_with(
            key,
            inner.codec.as_ref(),
            data,
            unix_ms_now(),
            &inner.frame_options,
        )?;
        inner.store.put(&inner.namespace, key.digest(), &bytes)?;
        Counters::bump(&inner.counters.inserts);
        if let Some(w) = &inner.worker {
            w.record_put(key.digest());
        }
        Ok(())
    }

    /// Removes the entry for `key`; `false` if there was none or removal failed (logged).
    pub fn remove(&self, key: &Key) -> bool {
        self.try_remove(key).unwrap_or_else(|err| {
            Counters::bump(&self.inner.counters.errors);
            tracing::warn!(%key, error = %err, "cache remove failed");
            false
        })
    }

    /// Removes the entry for `key`, reporting failures; `Ok(true)` if there was one.
    pub fn try_remove(&self, key: &Key) -> Result<bool> {
        self.inner.store.remove(&self.inner.namespace, key.digest())
    }

    /// The cached bytes for `key`, or `compute()`'s, which are then cached.
    ///
    /// Single-flight: on a miss, the computation runs under the key's lock (see
    /// [`single_flight`](Self::single_flight)), so processes and threads that miss the key at
    /// the same time compute it once and the others read the stored value.
    pub fn get_or_compute(&self, key: &Key, compute: impl FnOnce() -> Vec<u8>) -> Vec<u8> {
        if let Some(hit) = self.get(key) {
            return hit;
        }
        let turn = self.single_flight(key);
        if let Some(hit) = self.after_wait(&turn, key) {
            return hit;
        }
        let value = compute();
        self.put(key, &value);
        value
    }

    /// Like [`get_or_compute`](Self::get_or_compute) for a fallible computation: an error is
    /// returned as is and nothing is cached.
    pub fn get_or_try_compute<E>(
        &self,
        key: &Key,
        compute: impl FnOnce() -> std::result::Result<Vec<u8>, E>,
    ) -> std::result::Result<Vec<u8>, E> {
        if let Some(hit) = self.get(key) {
            return Ok(hit);
        }
        let turn = self.single_flight(key);
        if let Some(hit) = self.after_wait(&turn, key) {
            return Ok(hit);
        }
        let value = compute()?;
        self.put(key, &value);
        Ok(value)
    }

    /// wasmtime's `get_data`: the value for `state`, from the cache or from `compute(&state)`,
    /// serialized with the configured [`Serialization`] (postcard by default).
    ///
    /// `compute` is a function pointer, not a closure, so it cannot capture anything that is
    /// not part of the key. A cached value that no longer deserializes (the type changed) is
    /// recomputed and overwritten. The key is [`key_of`](Self::key_of)-style: see its caveat.
    /// A miss is computed once across processes, as in
    /// [`get_or_compute`](Self::get_or_compute).
    ///
    /// The key is the state alone (and the cache's namespace): two producers whose states
    /// hash alike share entries. wasmtime keys every entry by its compiler as well
    /// (`ModuleCacheEntry::new(compiler, cache)`); a program that caches what a compiler
    /// produced should do the same with [`ModuleCacheEntry`](crate::ModuleCacheEntry), whose
    /// `get_data` has this shape and is keyed by compiler name and version too, so that a
    /// compiler upgrade is a miss instead of the old compiler's output.
    pub fn get_data<T, U, E>(
        &self,
        state: T,
        compute: fn(&T) -> std::result::Result<U, E>,
    ) -> std::result::Result<U, E>
    where
        T: Hash,
        U: serde::Serialize + serde::de::DeserializeOwned,
    {
        let key = bridged_key(self.inner.data_prefix.fork(), &state);
        self.data_at(&key, state, compute)
    }

    /// wasmtime's `get_data_raw`: like [`get_data`](Self::get_data) with caller-provided
    /// serialization. `serialize` returning `None` skips caching; `deserialize` returning
    /// `None` is a miss and the value is recomputed.
    ///
    /// Keyed by the state alone, like `get_data`: for a compiler's output use
    /// [`ModuleCacheEntry::get_data_raw`](crate::ModuleCacheEntry::get_data_raw).
    pub fn get_data_raw<T, U, E>(
        &self,
        state: T,
        compute: fn(&T) -> std::result::Result<U, E>,
        serialize: fn(&T, &U) -> Option<Vec<u8>>,
        deserialize: fn(&T, Vec<u8>) -> Option<U>,
    ) -> std::result::Result<U, E>
    where
        T: Hash,
    {
        let key = self.key_of(&state);
        self.data_raw_at(&key, state, compute, serialize, deserialize)
    }

    /// `get_data` at a key the caller made from `state` (the facade's or an entry handle's).
    pub(crate) fn data_at<T, U, E>(
        &self,
        key: &Key,
        state: T,
        compute: fn(&T) -> std::result::Result<U, E>,
    ) -> std::result::Result<U, E>
    where
        U: serde::Serialize + serde::de::DeserializeOwned,
    {
        let serialization = self.inner.serialization;
        if let Some(bytes) = self.get(key) {
            if let Some(value) = serialization.deserialize(&bytes) {
                return Ok(value);
            }
            Counters::bump(&self.inner.counters.undecodable);
            tracing::debug!(%key, "cached value no longer deserializes; recomputing");
        }
        let turn = self.single_flight(key);
        if let Some(value) = self
            .after_wait(&turn, key)
            .and_then(|bytes| serialization.deserialize(&bytes))
        {
            return Ok(value);
        }
        let value = compute(&state)?;
        match serialization.serialize(&value) {
            Some(bytes) => {
                self.put(key, &bytes);
            }
            None => tracing::debug!(%key, "value does not serialize; not cached"),
        }
        Ok(value)
    }

    /// `get_data_raw` at a key the caller made from `state`.
    pub(crate) fn data_raw_at<T, U, E>(
        &self,
        key: &Key,
        state: T,
        compute: fn(&T) -> std::result::Result<U, E>,
        serialize: fn(&T, &U) -> Option<Vec<u8>>,
        deserialize: fn(&T, Vec<u8>) -> Option<U>,
    ) -> std::result::Result<U, E> {
        if let Some(bytes) = self.get(key) {
            if let Some(value) = deserialize(&state, bytes) {
                return Ok(value);
            }
            Counters::bump(&self.inner.counters.undecodable);
        }
        let turn = self.single_flight(key);
        if let Some(value) = self
            .after_wait(&turn, key)
            .and_then(|bytes| deserialize(&state, bytes))
        {
            return Ok(value);
        }
        let value = compute(&state)?;
        if let Some(bytes) = serialize(&state, &value) {
            self.put(key, &bytes);
        }
        Ok(value)
    }

    /// A key builder in `domain` holding this cache's namespace, for a new kind of key.
    pub(crate) fn prefix(&self, domain: &str) -> KeyBuilder {
        key_prefix(self.inner.hasher.as_ref(), domain, &self.inner.namespace)
    }

    /// How `get_data` serializes values.
    pub(crate) fn serialization(&self) -> Serialization {
        self.inner.serialization
    }

    /// The open remote tier, if any.
    #[cfg(feature = "remote")]
    pub(crate) fn remote_tier(&self) -> Option<&crate::tier::Tier> {
        self.inner.remote.as_ref()
    }

    /// The single-flight locks (if any) and the counters their waits are counted in.
    pub(crate) fn flight_parts(&self) -> (Option<&crate::flight::Flight>, &Counters) {
        (self.inner.flight.as_ref(), &self.inner.counters)
    }

    /// A snapshot of this process's counters for this cache.
    pub fn stats(&self) -> Stats {
        self.inner.counters.snapshot()
    }
}

/// The start of every key: the domain, then the namespace as a field.
fn key_prefix(hasher: &dyn KeyHasher, domain: &str, namespace: &Namespace) -> KeyBuilder {
    let mut b = KeyBuilder::new(hasher, domain);
    b.str(namespace.as_str());
    b
}

/// The key of `state`'s `Hash` output after `prefix`.
pub(crate) fn bridged_key<T: Hash + ?Sized>(prefix: KeyBuilder, state: &T) -> Key {
    let mut bridge = HashBridge::new(prefix);
    state.hash(&mut bridge);
    bridge.into_key()
}

fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
