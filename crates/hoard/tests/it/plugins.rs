//! Plugin stores and codecs through the facade: a `Store + Housekeeping` of the testkit's
//! (`InMemory`) gets the eviction worker as the filesystem store does; `build` refuses
//! codecs and hashers that fail its checks.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use hoard::evict::{Limits, ManualClock, WorkerConfig};
use hoard::{
    Cache, CacheBuilder, Codec, CodecId, Error, ErrorKind, HashState, HasherId, Key, KeyHasher,
    Store,
};
use hoard_testkit::InMemory;

const BIG: u64 = 1 << 40;

/// A cache on `store` whose worker runs rounds on `sync` only and reads `clock`.
fn maintained(store: &Arc<InMemory>, limits: Limits, clock: &Arc<ManualClock>) -> Cache {
    CacheBuilder::with_maintained_store(Arc::clone(store))
        .worker(
            WorkerConfig::new()
                .limits(limits)
                .low_priority(false)
                .flush_period(Duration::from_secs(3600)),
        )
        .worker_clock(clock.clone())
        .build()
        .expect("cache on a maintained store")
}

#[test]
fn a_store_with_housekeeping_gets_the_worker_a_plain_store_does_not() {
    let store = Arc::new(InMemory::new());
    let with = CacheBuilder::with_maintained_store(Arc::clone(&store))
        .build()
        .expect("cache");
    assert!(with.worker().is_some());
    let without = CacheBuilder::with_maintained_store(Arc::clone(&store))
        .without_worker()
        .build()
        .expect("cache");
    assert!(without.worker().is_none());
    let plain = CacheBuilder::with_store(Arc::clone(&store))
        .build()
        .expect("cache");
    assert!(plain.worker().is_none(), "with_store stays as it was");
}

#[test]
fn the_worker_evicts_a_maintained_store_under_its_limits() {
    let store = Arc::new(InMemory::new());
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let cache = maintained(&store, Limits::new(20, BIG), &clock);
    let keys: Vec<Key> = (0..60).map(|i| cache.key(format!("entry {i}"))).collect();
    for k in &keys {
        assert!(cache.put(k, b"value"));
    }
    assert_eq!(store.keys().len(), 60);
    clock.advance(Duration::from_secs(60));
    let worker = cache.worker().expect("worker");
    worker.sync();
    let left = store.keys().len();
    assert!(left <= 20, "{left} entries left over a limit of 20");
    assert!(left > 0, "the cleanup keeps entries up to its target");
    let s = worker.stats();
    assert_eq!((s.inserts, s.cleanups, s.errors), (60, 1, 0));
}

#[test]
fn sync_merges_the_counters_into_the_maintained_store() {
    let store = Arc::new(InMemory::new());
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let cache = maintained(&store, Limits::new(BIG, BIG), &clock);
    let key = cache.key("counted");
    assert!(cache.put(&key, b"value"));
    assert!(cache.get(&key).is_some());
    assert!(cache.get(&cache.key("absent")).is_none());
    let worker = cache.worker().expect("worker");
    worker.sync();
    let shared = worker
        .janitor()
        .shared_stats()
        .expect("readable")
        .expect("merged by sync");
    assert_eq!((shared.inserts, shared.hits, shared.misses), (1, 1, 1));
    // A second cache on the same store adds to the same totals.
    let other = maintained(&store, Limits::new(BIG, BIG), &clock);
    assert!(other.get(&key).is_some());
    let w = other.worker().expect("worker");
    w.sync();
    let shared = w
        .janitor()
        .shared_stats()
        .expect("readable")
        .expect("merged");
    assert_eq!((shared.inserts, shared.hits, shared.misses), (1, 2, 1));
}

/// With a remote tier, the maintained store is the tier's local part: the worker runs on it
/// and it keeps the tier's lifetime counters. The remote is a port nobody listens on: every
/// remote operation fails and is counted, the local part serves on.
#[cfg(feature = "remote")]
#[test]
fn a_tier_whose_local_part_is_maintained_runs_the_worker() {
    use hoard::remote::RemoteConfig;
    use hoard::{RemoteSettings, remote_lifetime_stats};

    let store = Arc::new(InMemory::new());
    let remote = RemoteConfig::parse("redis://127.0.0.1:1/")
        .expect("url")
        .timeout(Duration::from_millis(200))
        .expect("timeout");
    let cache = CacheBuilder::with_maintained_store(Arc::clone(&store))
        .remote(RemoteSettings::new(remote))
        .build()
        .expect("cache with a remote tier");
    let worker = cache.worker().expect("the worker runs on the local part");
    let key = cache.key("tiered");
    assert!(cache.put(&key, b"value"));
    assert!(cache.get(&key).is_some());
    assert_eq!(store.keys().len(), 1);
    worker.sync();
    drop(cache);
    let lifetime = remote_lifetime_stats(store.as_ref())
        .expect("readable")
        .expect("the tier's counters are kept in the local part");
    assert_eq!(lifetime.counters["tier.local_hits"], 1);
}

/// A plugin codec: every byte XORed with `mask`, under any id (the tests give it wrong ones).
#[derive(Debug)]
struct Xor {
    id: CodecId,
    mask: u8,
    /// Bytes decode drops at the end (a codec that decodes short).
    short: usize,
}

impl Xor {
    fn new(id: CodecId, mask: u8) -> Self {
        Self { id, mask, short: 0 }
    }

    fn plugin(value: u16, mask: u8) -> Self {
        Self::new(CodecId::plugin(value).expect("a plugin id"), mask)
    }
}

impl Codec for Xor {
    fn id(&self) -> CodecId {
        self.id
    }

    fn level(&self) -> i32 {
        0
    }

    fn encode(&self, input: &[u8], out: &mut Vec<u8>) -> hoard::Result<()> {
        out.extend(input.iter().map(|b| b ^ self.mask));
        Ok(())
    }

    fn decode(&self, input: &[u8], decoded_len: usize, out: &mut Vec<u8>) -> hoard::Result<()> {
        if input.len() != decoded_len {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!(
                    "xor payload of {} bytes, {decoded_len} declared",
                    input.len()
                ),
            ));
        }
        let keep = input.len().saturating_sub(self.short);
        out.extend(input[..keep].iter().map(|b| b ^ self.mask));
        Ok(())
    }
}

/// A hasher: SHA-256 of the input, under any id, optionally salted by a call counter (a
/// hasher that is not deterministic).
#[derive(Debug)]
struct Salted {
    id: HasherId,
    calls: Option<Arc<AtomicU64>>,
}

impl KeyHasher for Salted {
    fn id(&self) -> HasherId {
        self.id
    }

    fn begin(&self) -> Box<dyn HashState> {
        let mut state = hoard::Sha256.begin();
        state.update(b"salted");
        if let Some(calls) = &self.calls {
            state.update(&calls.fetch_add(1, Ordering::Relaxed).to_le_bytes());
        }
        state
    }
}

fn build_error(builder: CacheBuilder) -> Error {
    builder.build().expect_err("the builder refuses it")
}

fn config_error(builder: CacheBuilder, words: &[&str]) {
    let err = build_error(builder);
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    let text = err.to_string();
    for w in words {
        assert!(text.contains(w), "{text:?} does not say {w:?}");
    }
}

fn in_memory() -> CacheBuilder {
    CacheBuilder::with_store(InMemory::new())
}

#[test]
fn build_accepts_sound_codecs_and_hashers() {
    in_memory()
        .codec(Xor::plugin(0x8001, 0x5a))
        .decoder(Xor::plugin(0x8001, 0x5a))
        .decoder(Xor::plugin(0x8002, 0x33))
        .decoder(hoard::Identity)
        .hasher(Salted {
            id: HasherId::plugin(0x8001).expect("plugin id"),
            calls: None,
        })
        .build()
        .expect("sound plugins build");
    #[cfg(feature = "zstd")]
    in_memory()
        .codec(hoard::Zstd::new(19).expect("level"))
        .decoder(hoard::Zstd::new(1).expect("level"))
        .build()
        .expect("zstd at any level is the built-in zstd format");
}

#[test]
fn build_refuses_a_codec_that_decodes_short() {
    let mut short = Xor::plugin(0x8001, 0x5a);
    short.short = 1;
    config_error(
        in_memory().codec(short),
        &["plugin-0x8001", "round-trip", "4095 bytes where 4096"],
    );
}

#[test]
fn build_refuses_a_plugin_codec_reusing_a_built_in_id() {
    config_error(
        in_memory().codec(Xor::new(CodecId::Identity, 0x5a)),
        &[
            "identity",
            "claims the id of the built-in",
            "0x8000..=0xffff",
        ],
    );
    config_error(
        in_memory().decoder(Xor::new(CodecId::Zstd, 0x5a)),
        &["zstd", "claims the id of the built-in"],
    );
}

#[test]
fn build_refuses_two_different_codecs_with_one_id() {
    config_error(
        in_memory()
            .codec(Xor::plugin(0x8001, 0x5a))
            .decoder(Xor::plugin(0x8001, 0x33)),
        &["two different codecs claim id plugin-0x8001"],
    );
    config_error(
        in_memory()
            .decoder(Xor::plugin(0x9000, 0x5a))
            .decoder(Xor::plugin(0x9000, 0x33)),
        &["plugin-0x9000"],
    );
}

#[test]
fn build_refuses_a_nondeterministic_or_impostor_hasher() {
    config_error(
        in_memory().hasher(Salted {
            id: HasherId::plugin(0x8001).expect("plugin id"),
            calls: Some(Arc::new(AtomicU64::new(0))),
        }),
        &["key hasher plugin-0x8001", "differ"],
    );
    config_error(
        in_memory().hasher(Salted {
            id: HasherId::Sha256,
            calls: None,
        }),
        &["key hasher sha256", "claims the id of the built-in"],
    );
}

#[test]
fn build_or_uncached_survives_a_refused_codec() {
    let mut short = Xor::plugin(0x8001, 0x5a);
    short.short = 1;
    let cache = in_memory().codec(short).build_or_uncached();
    let key = cache.key("k");
    assert!(!cache.put(&key, b"value"));
    assert!(cache.get(&key).is_none());
}

/// A plugin codec with a 4-byte length prefix: it refuses payloads without one (`Xor`'s).
#[derive(Debug)]
struct Prefixed(CodecId);

impl Codec for Prefixed {
    fn id(&self) -> CodecId {
        self.0
    }

    fn level(&self) -> i32 {
        0
    }

    fn encode(&self, input: &[u8], out: &mut Vec<u8>) -> hoard::Result<()> {
        out.extend_from_slice(&(input.len() as u32).to_le_bytes());
        out.extend_from_slice(input);
        Ok(())
    }

    fn decode(&self, input: &[u8], decoded_len: usize, out: &mut Vec<u8>) -> hoard::Result<()> {
        match input.split_first_chunk::<4>() {
            Some((len, body))
                if u32::from_le_bytes(*len) as usize == decoded_len
                    && body.len() == decoded_len =>
            {
                out.extend_from_slice(body);
                Ok(())
            }
            _ => Err(Error::new(
                ErrorKind::Corrupt,
                "payload without its length prefix",
            )),
        }
    }
}

#[cfg(feature = "zstd")]
#[test]
fn entries_of_a_plugin_reusing_a_built_in_id_are_undecodable_and_kept() {
    let store = Arc::new(InMemory::new());
    let cache = CacheBuilder::with_maintained_store(Arc::clone(&store))
        .build()
        .expect("a default cache");
    // Written as another program would, with a plugin codec under zstd's id (`build`
    // refuses such a codec, so the frames are made by hand).
    let impostor = Prefixed(CodecId::Zstd);
    let keys: Vec<Key> = (0..3).map(|i| cache.key(format!("foreign {i}"))).collect();
    for (i, k) in keys.iter().enumerate() {
        let bytes =
            hoard::frame::encode(k, &impostor, format!("value {i}").as_bytes(), 0).expect("encode");
        store
            .put(cache.namespace(), k.digest(), &bytes)
            .expect("put");
    }
    for k in &keys {
        assert!(cache.get(k).is_none(), "not decodable here: a miss");
        let err = cache.try_get(k).expect_err("the codec's error");
        assert_eq!(err.kind(), ErrorKind::Corrupt);
    }
    let s = cache.stats();
    assert_eq!(
        (s.undecodable_entries, s.corrupt, s.hits),
        (6, 0, 0),
        "{s:?}"
    );
    assert_eq!(store.keys().len(), 3, "nothing deleted");
    let worker = cache.worker().expect("worker");
    worker.sync();
    assert_eq!(worker.stats().corrupt, 0);
    assert_eq!(
        store.keys().len(),
        3,
        "nothing deleted by the worker either"
    );
}

#[test]
fn caches_that_disagree_on_a_plugin_id_do_not_destroy_each_others_data() {
    let store = Arc::new(InMemory::new());
    let a = CacheBuilder::with_store(Arc::clone(&store))
        .codec(Xor::plugin(0x8001, 0x5a))
        .build()
        .expect("cache a");
    let b = CacheBuilder::with_store(Arc::clone(&store))
        .codec(Prefixed(CodecId::plugin(0x8001).expect("plugin id")))
        .build()
        .expect("cache b");
    let (ka, kb) = (a.key("a's"), b.key("b's"));
    assert!(a.put(&ka, b"written by a"));
    assert!(b.put(&kb, b"written by b"));
    // Each reads the other's entry: a miss, counted, and nothing removed.
    assert!(b.get(&ka).is_none());
    assert!(a.get(&kb).is_none());
    assert_eq!((a.stats().undecodable_entries, a.stats().corrupt), (1, 0));
    assert_eq!((b.stats().undecodable_entries, b.stats().corrupt), (1, 0));
    assert_eq!(store.keys().len(), 2);
    assert_eq!(a.get(&ka).as_deref(), Some(&b"written by a"[..]));
    assert_eq!(b.get(&kb).as_deref(), Some(&b"written by b"[..]));
}
