//! The plugin guide (`docs/writing-a-plugin.md`, the `hoard::guide` module) followed step by
//! step as an outside crate would: `hoard::` paths only, hoard-testkit for the suites.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, PoisonError};

use hoard::evict::{Janitor, Limits, WorkerConfig};
use hoard::{
    CacheBuilder, Codec, CodecId, Digest, EntryInfo, Error, ErrorKind, Housekeeping, Namespace,
    Result, Store, StoreExt,
};
use hoard_testkit::InMemory;

/// Step 1: a store, frames in a map behind a lock.
#[derive(Debug, Default)]
struct Shelf {
    frames: Mutex<BTreeMap<(Namespace, Digest), Vec<u8>>>,
}

impl Shelf {
    fn frames(&self) -> std::sync::MutexGuard<'_, BTreeMap<(Namespace, Digest), Vec<u8>>> {
        self.frames.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Store for Shelf {
    fn get(&self, ns: &Namespace, digest: &Digest, limit: u64) -> Result<Option<Vec<u8>>> {
        match self.frames().get(&(ns.clone(), *digest)) {
            Some(f) if f.len() as u64 > limit => Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "entry {ns}/{digest} is {} bytes, above the {limit}-byte limit",
                    f.len()
                ),
            )),
            found => Ok(found.cloned()),
        }
    }

    fn put(&self, ns: &Namespace, digest: &Digest, frame: &[u8]) -> Result<()> {
        self.frames().insert((ns.clone(), *digest), frame.to_vec());
        Ok(())
    }

    fn remove(&self, ns: &Namespace, digest: &Digest) -> Result<bool> {
        Ok(self.frames().remove(&(ns.clone(), *digest)).is_some())
    }

    fn list(&self, visit: &mut dyn FnMut(EntryInfo) -> ControlFlow<()>) -> Result<()> {
        let all: Vec<EntryInfo> = self
            .frames()
            .iter()
            .map(|((ns, d), f)| EntryInfo::new(ns.clone(), *d, f.len() as u64, None, None))
            .collect();
        for info in all {
            if visit(info).is_break() {
                break;
            }
        }
        Ok(())
    }
}

/// Step 3: a codec with a plugin id (the guide's 0xfff0, for examples and tests only).
#[derive(Debug)]
struct Reverse;

impl Codec for Reverse {
    fn id(&self) -> CodecId {
        CodecId::plugin(0xfff0).expect("0xfff0 is in the plugin range")
    }
    fn level(&self) -> i32 {
        0
    }
    fn encode(&self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        out.extend(input.iter().rev());
        Ok(())
    }
    fn decode(&self, input: &[u8], decoded_len: usize, out: &mut Vec<u8>) -> Result<()> {
        if input.len() != decoded_len {
            return Err(Error::corrupt(format!(
                "reversed payload of {} bytes where {decoded_len} were declared",
                input.len()
            )));
        }
        out.extend(input.iter().rev());
        Ok(())
    }
}

#[test]
fn a_store_passes_its_suite_and_serves_a_cache() {
    hoard_testkit::store::run_all(Shelf::default);
    let cache = CacheBuilder::with_store(Shelf::default())
        .build()
        .expect("build");
    let key = cache.key(b"some input");
    assert!(cache.put(&key, b"an expensive result"));
    assert_eq!(
        cache.get(&key).as_deref(),
        Some(&b"an expensive result"[..])
    );
}

#[test]
fn a_housekeeping_store_runs_the_worker() {
    hoard_testkit::housekeeping::run_all(InMemory::new);
    let store = Arc::new(InMemory::new());
    let mut config = WorkerConfig::new();
    config.limits = Limits::new(10, u64::MAX);
    let cache = CacheBuilder::with_maintained_store(Arc::clone(&store))
        .namespace("app")
        .worker(config.clone())
        .build()
        .expect("build");
    let worker = cache
        .worker()
        .expect("the builder runs the worker on the store");
    for i in 0..20u32 {
        assert!(cache.put(&cache.key(i.to_le_bytes()), b"value"));
    }
    let housekeeping: Arc<dyn Housekeeping> = store.clone();
    let report = Janitor::new(housekeeping, config)
        .cleanup_now()
        .expect("cleanup");
    assert_eq!(report.entries_after, 7);
    assert_eq!(store.entries().expect("list").len(), 7);
    let hits = (0..20u32)
        .filter(|i| cache.get(&cache.key(i.to_le_bytes())).is_some())
        .count();
    assert_eq!(hits, 7);
    worker.sync();
    assert_eq!(worker.stats().counts.hits, 7, "the hits reached the worker");
}

#[test]
fn a_plugin_codec_passes_its_suite_and_writes_entries_its_readers_can_read() {
    hoard_testkit::codec::run_all(&Reverse);
    let store = Arc::new(InMemory::new());
    let writer = CacheBuilder::with_store(Arc::clone(&store))
        .codec(Reverse)
        .build()
        .expect("build");
    let key = writer.key(b"input");
    assert!(writer.put(&key, b"payload"));
    assert_eq!(writer.get(&key).as_deref(), Some(&b"payload"[..]));
    // A reader that registers the codec as a decoder reads the entry too.
    let reader = CacheBuilder::with_store(Arc::clone(&store))
        .decoder(Reverse)
        .build()
        .expect("build a reader");
    assert_eq!(reader.get(&key).as_deref(), Some(&b"payload"[..]));
}
