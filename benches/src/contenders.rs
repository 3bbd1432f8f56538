//! Everything the harness measures, behind one interface: hoard in several configurations
//! (one on the plugin store `hoard-sqlite`), its peers (wasmtime's cache, cacache) and the plain-file floor.

use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hoard::{Cache, CacheBuilder, Durability, Housekeeping};
use hoard_sqlite::SqliteStore;

/// One cache under test. Ids name entries; `put` stores a value (the miss path), `get` reads
/// it back (the hit path).
pub trait Contender {
    /// The name in reports.
    fn name(&self) -> &str;
    /// Stores `data` as entry `id`.
    fn put(&mut self, id: u64, data: &[u8]) -> io::Result<()>;
    /// Reads entry `id`; `None` on a miss.
    fn get(&mut self, id: u64) -> io::Result<Option<Vec<u8>>>;
    /// Reads entry `id` as the harness times it: the bytes in whatever the contender hands
    /// out (a memory-mapped guard, say). [`get`](Self::get), boxed, by default.
    fn get_view(&mut self, id: u64) -> io::Result<Option<View>> {
        Ok(self.get(id)?.map(|v| Box::new(v) as View))
    }
    /// The directory holding the contender's files (for disk use).
    fn dir(&self) -> &Path;
    /// What the contender's files hold besides the values' bytes: what its disk figure and
    /// compression ratio include, for the report.
    fn disk_note(&self) -> String;
    /// Brings the contender's files to rest before their size is measured: a database
    /// moves its journal into its file. Nothing by default.
    fn settle(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What a timed get hands out: anything that derefs to the value's bytes.
pub type View = Box<dyn std::ops::Deref<Target = [u8]>>;

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// The floor: a known path per entry, `fs::read` to get, temp file + write + rename to put.
/// No key hashing, no compression, no checks.
pub struct PlainFile {
    dir: PathBuf,
}

impl PlainFile {
    /// A plain-file store in `dir` (created).
    pub fn new(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }
}

impl Contender for PlainFile {
    fn name(&self) -> &str {
        "plain-file"
    }
    fn put(&mut self, id: u64, data: &[u8]) -> io::Result<()> {
        let temp = self.dir.join(format!("{id}.tmp"));
        let mut f = File::create(&temp)?;
        f.write_all(data)?;
        drop(f);
        #[expect(
            clippy::disallowed_methods,
            reason = "the plain-file floor is what hoard is measured against"
        )]
        std::fs::rename(&temp, self.dir.join(id.to_string()))
    }
    fn get(&mut self, id: u64) -> io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.dir.join(id.to_string())) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
    fn dir(&self) -> &Path {
        &self.dir
    }
    fn disk_note(&self) -> String {
        "one file per entry, the value as is: nothing else (ratio 1.00)".to_owned()
    }
}

/// The naive compressed cache: plain files, zstd-3 with reused contexts and the bulk API
/// (the performance targets' "naive zstd-3 bulk"). hoard's default must stay within 1.2x of
/// its hits.
pub struct NaiveZstd {
    files: PlainFile,
    compressor: zstd::bulk::Compressor<'static>,
    decompressor: zstd::bulk::Decompressor<'static>,
    lens: std::collections::HashMap<u64, usize>,
}

impl NaiveZstd {
    /// A naive zstd store at `level` in `dir`.
    pub fn new(dir: &Path, level: i32) -> io::Result<Self> {
        Ok(Self {
            files: PlainFile::new(dir)?,
            compressor: zstd::bulk::Compressor::new(level)?,
            decompressor: zstd::bulk::Decompressor::new()?,
            lens: std::collections::HashMap::new(),
        })
    }
}

impl Contender for NaiveZstd {
    fn name(&self) -> &str {
        "naive-zstd-3"
    }
    fn put(&mut self, id: u64, data: &[u8]) -> io::Result<()> {
        let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(data.len()));
        self.compressor.compress_to_buffer(data, &mut out)?;
        self.lens.insert(id, data.len());
        self.files.put(id, &out)
    }
    fn get(&mut self, id: u64) -> io::Result<Option<Vec<u8>>> {
        let Some(stored) = self.files.get(id)? else {
            return Ok(None);
        };
        let len = self.lens.get(&id).copied().unwrap_or(0);
        let mut out = Vec::with_capacity(len);
        self.decompressor.decompress_to_buffer(&stored, &mut out)?;
        Ok(Some(out))
    }
    fn dir(&self) -> &Path {
        self.files.dir()
    }
    fn disk_note(&self) -> String {
        "one zstd-3 frame per entry, nothing else (the decoded lengths stay in memory)".to_owned()
    }
}

/// The builder every hoard contender of a run starts from (the side-by-side configurations
/// and the trace replay), so that the run's settings reach them all: an entry-size cap
/// above the largest value, and `threads` (the harness's `--threads`), the threads a chunked
/// entry is encoded and decoded on.
pub fn hoard_builder(dir: &Path, threads: usize) -> CacheBuilder {
    run_settings(Cache::builder(dir), threads)
}

/// [`hoard_builder`] for a cache on a plugin's store: the same run settings on
/// `CacheBuilder::with_maintained_store(store)`, so the eviction worker runs on it as it
/// does on the default `FsStore`.
pub fn hoard_builder_on(store: impl Housekeeping, threads: usize) -> CacheBuilder {
    run_settings(CacheBuilder::with_maintained_store(store), threads)
}

fn run_settings(builder: CacheBuilder, threads: usize) -> CacheBuilder {
    builder.max_entry_size(1 << 30).threads(threads)
}

/// What a hoard contender on `FsStore` holds besides the values (its disk note).
const FS_NOTE: &str = "one frame per entry: a 96-byte header (key digest, lengths, codec, \
    XXH3-128) before the payload, 4,096 bytes for identity payloads of 16 KiB and more \
    (page-aligned); plus the shard directories and whatever the eviction worker's state/ \
    files (usage, counters, accounting, cleanup marker, flock files) grew by during the puts";

/// What `hoard-sqlite` holds besides the values (its disk note).
const SQLITE_NOTE: &str = "one row per entry in one SQLite database: the frame (96-byte \
    header, zstd-3 payload) as a blob, namespace, digest, version and two times, the \
    primary-key index and page slack, measured after a checkpoint has moved the write-ahead \
    log into the database file; no directory or block per entry";

/// hoard through its bytes API: `put` / `get` with a key hashed from the id, every read
/// verified.
pub struct Hoard {
    name: String,
    dir: PathBuf,
    cache: Cache,
    note: &'static str,
    /// Timed gets go through `Cache::get_mapped` (the zero-copy guard) instead of `get`.
    mapped: bool,
    /// The SQLite store, checkpointed before its disk use is measured.
    sqlite: Option<Arc<SqliteStore>>,
}

impl Hoard {
    /// hoard in `dir`, configured by `configure` from [`hoard_builder`].
    pub fn new(
        name: &str,
        dir: &Path,
        threads: usize,
        configure: impl FnOnce(CacheBuilder) -> CacheBuilder,
    ) -> io::Result<Self> {
        let cache = configure(hoard_builder(dir, threads))
            .build()
            .map_err(other)?;
        Ok(Self {
            name: name.to_owned(),
            dir: dir.to_path_buf(),
            cache,
            note: FS_NOTE,
            mapped: false,
            sqlite: None,
        })
    }

    /// hoard's defaults on `hoard-sqlite`'s `SqliteStore` (one database file in `dir`,
    /// created) through `CacheBuilder::with_maintained_store`, with the eviction worker: how a
    /// plugin store enters the harness.
    pub fn sqlite(dir: &Path, threads: usize) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let store = Arc::new(SqliteStore::open(dir.join("hoard.sqlite")).map_err(other)?);
        let cache = hoard_builder_on(Arc::clone(&store), threads)
            .build()
            .map_err(other)?;
        Ok(Self {
            name: "hoard-sqlite".to_owned(),
            dir: dir.to_path_buf(),
            cache,
            note: SQLITE_NOTE,
            mapped: false,
            sqlite: Some(store),
        })
    }

    /// The default configuration: SHA-256, zstd-3, `FsStore`, no fsync.
    pub fn default_config(dir: &Path, threads: usize) -> io::Result<Self> {
        Self::new("hoard", dir, threads, |b| b)
    }

    /// Every configuration the harness compares, each given `threads`.
    pub fn variants(root: &Path, threads: usize) -> io::Result<Vec<Self>> {
        Ok(vec![
            Self::default_config(&root.join("hoard"), threads)?,
            Self::new("hoard-blake3", &root.join("hoard-blake3"), threads, |b| {
                b.hasher(hoard::Blake3)
            })?,
            Self::new("hoard-lz4", &root.join("hoard-lz4"), threads, |b| {
                b.codec(hoard::Lz4)
            })?,
            Self::new(
                "hoard-identity",
                &root.join("hoard-identity"),
                threads,
                |b| b.codec(hoard::Identity),
            )?,
            Self::identity_mapped(&root.join("hoard-identity-mapped"), threads)?,
            Self::new("hoard-durable", &root.join("hoard-durable"), threads, |b| {
                b.durability(Durability::Full)
            })?,
            Self::sqlite(&root.join("hoard-sqlite"), threads)?,
            Self::new(
                "hoard-adaptive",
                &root.join("hoard-adaptive"),
                threads,
                |b| b.adaptive(hoard::evict::Adaptive::new()),
            )?,
        ])
    }

    /// Identity (stored) entries read with `Cache::get_mapped`: values of more than 1 MiB
    /// come back as a verified memory map, smaller ones as with `get`.
    pub fn identity_mapped(dir: &Path, threads: usize) -> io::Result<Self> {
        let mut h = Self::new("hoard-identity-mapped", dir, threads, |b| {
            b.codec(hoard::Identity)
        })?;
        h.mapped = true;
        Ok(h)
    }

    /// The cache behind the contender.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }
}

impl Contender for Hoard {
    fn name(&self) -> &str {
        &self.name
    }
    fn put(&mut self, id: u64, data: &[u8]) -> io::Result<()> {
        let key = self.cache.key(id.to_le_bytes());
        self.cache.try_put(&key, data).map_err(other)
    }
    fn get(&mut self, id: u64) -> io::Result<Option<Vec<u8>>> {
        let key = self.cache.key(id.to_le_bytes());
        self.cache.try_get(&key).map_err(other)
    }
    fn get_view(&mut self, id: u64) -> io::Result<Option<View>> {
        if !self.mapped {
            return Ok(self.get(id)?.map(|v| Box::new(v) as View));
        }
        let key = self.cache.key(id.to_le_bytes());
        let found = self.cache.try_get_mapped(&key).map_err(other)?;
        Ok(found.map(|m| Box::new(m) as View))
    }
    fn dir(&self) -> &Path {
        &self.dir
    }
    fn disk_note(&self) -> String {
        self.note.to_owned()
    }
    fn settle(&mut self) -> io::Result<()> {
        match &self.sqlite {
            Some(store) => store.checkpoint().map_err(other),
            None => Ok(()),
        }
    }
}

/// What wasmtime's cache keys on: the id (the value rides along so that the `fn` pointer
/// compute can return it without capturing anything).
struct WasmtimeState<'a> {
    id: u64,
    value: Option<&'a [u8]>,
}

impl Hash for WasmtimeState<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

fn wasmtime_compute(state: &WasmtimeState<'_>) -> Result<Vec<u8>, ()> {
    state.value.map(<[u8]>::to_vec).ok_or(())
}

#[expect(
    clippy::ptr_arg,
    reason = "wasmtime's serializer receives `&U`, and U is Vec<u8>"
)]
fn wasmtime_serialize(_: &WasmtimeState<'_>, value: &Vec<u8>) -> Option<Vec<u8>> {
    Some(value.clone())
}

fn wasmtime_deserialize(_: &WasmtimeState<'_>, bytes: Vec<u8>) -> Option<Vec<u8>> {
    Some(bytes)
}

/// wasmtime's `wasmtime-cache` (published as `wasmtime-internal-cache`), with its worker,
/// through `get_data_raw` and pass-through (de)serialization, so that only the cache is
/// measured.
pub struct Wasmtime {
    dir: PathBuf,
    cache: wasmtime_internal_cache::Cache,
}

impl Wasmtime {
    /// wasmtime's cache with default settings in `dir`.
    pub fn new(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut config = wasmtime_internal_cache::CacheConfig::new();
        config.with_directory(dir);
        let cache = wasmtime_internal_cache::Cache::new(config).map_err(other)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            cache,
        })
    }

    fn entry(&self) -> wasmtime_internal_cache::ModuleCacheEntry<'_> {
        wasmtime_internal_cache::ModuleCacheEntry::new("hoard-bench", Some(&self.cache))
    }
}

impl Contender for Wasmtime {
    fn name(&self) -> &str {
        "wasmtime-cache"
    }
    fn put(&mut self, id: u64, data: &[u8]) -> io::Result<()> {
        let state = WasmtimeState {
            id,
            value: Some(data),
        };
        self.entry()
            .get_data_raw(
                &state,
                wasmtime_compute,
                wasmtime_serialize,
                wasmtime_deserialize,
            )
            .map(drop)
            .map_err(|()| other("wasmtime-cache did not compute"))
    }
    fn get(&mut self, id: u64) -> io::Result<Option<Vec<u8>>> {
        let state = WasmtimeState { id, value: None };
        // A miss calls compute, which has no value to give: that is the `None`.
        Ok(self
            .entry()
            .get_data_raw(
                &state,
                wasmtime_compute,
                wasmtime_serialize,
                wasmtime_deserialize,
            )
            .ok())
    }
    fn dir(&self) -> &Path {
        &self.dir
    }
    fn disk_note(&self) -> String {
        "one zstd-3 file per entry (zstd's streaming format, default level) plus a \
         `<entry>.stats` TOML file per entry (about 40 bytes, a file-system block of its own) \
         that the worker thread writes after the put: counted if written before the figure \
         is taken, absent where the worker's 16-event queue dropped the update; and one \
         `.cleanup.wip-<pid>` lock file"
            .to_owned()
    }
}

/// cacache's synchronous API, keyed by the id's decimal string.
pub struct Cacache {
    dir: PathBuf,
}

impl Cacache {
    /// A cacache store in `dir`.
    pub fn new(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }
}

impl Contender for Cacache {
    fn name(&self) -> &str {
        "cacache"
    }
    fn put(&mut self, id: u64, data: &[u8]) -> io::Result<()> {
        cacache::write_sync(&self.dir, id.to_string(), data)
            .map(drop)
            .map_err(other)
    }
    fn get(&mut self, id: u64) -> io::Result<Option<Vec<u8>>> {
        match cacache::read_sync(&self.dir, id.to_string()) {
            Ok(v) => Ok(Some(v)),
            Err(cacache::Error::EntryNotFound(..)) => Ok(None),
            Err(e) => Err(other(e)),
        }
    }
    fn dir(&self) -> &Path {
        &self.dir
    }
    fn disk_note(&self) -> String {
        "no compression: each value once in a content-addressed store (content-v2/sha256/..: \
         one file per distinct value, so identical values are stored once) plus an index \
         bucket per key (index-v5/..: a JSON line of about 200 bytes with the key, integrity \
         hash, size and time, appended on every write)"
            .to_owned()
    }
}

/// Every contender of a standard run, each in its own directory below `root`: the floor
/// first, then the naive baseline, hoard's configurations (given `threads`) and the peers.
pub fn all(root: &Path, threads: usize) -> io::Result<Vec<Box<dyn Contender>>> {
    let mut out: Vec<Box<dyn Contender>> = vec![
        Box::new(PlainFile::new(&root.join("plain-file"))?),
        Box::new(NaiveZstd::new(&root.join("naive-zstd-3"), 3)?),
    ];
    for h in Hoard::variants(root, threads)? {
        out.push(Box::new(h));
    }
    out.push(Box::new(Wasmtime::new(&root.join("wasmtime-cache"))?));
    out.push(Box::new(Cacache::new(&root.join("cacache"))?));
    Ok(out)
}

/// Space a directory tree takes: (sum of file sizes, bytes of allocated blocks), without
/// following symlinks.
pub fn disk_use(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let (mut size, mut blocks) = (0, 0);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (0, 0);
    };
    for e in entries.flatten() {
        let Ok(m) = e.path().symlink_metadata() else {
            continue;
        };
        blocks += m.blocks() * 512;
        if m.is_dir() {
            let (s, b) = disk_use(&e.path());
            size += s;
            blocks += b;
        } else {
            size += m.len();
        }
    }
    (size, blocks)
}
