//! The explicit operations and the accounting behind cleanups.

use std::sync::Arc;
use std::time::Duration;

use hoard_codec::Zstd;
use hoard_core::frame::{self, Frame};
use hoard_core::{Codec, CodecId, HasherId, Housekeeping, Key, LockTarget, StateName, Store};
use hoard_evict::{Codecs, Limits, Recompressed, WorkerConfig};

use crate::{digest, now, ns, setup, state};

const BIG: u64 = 1 << 40;

pub(crate) fn zstd_frame(id: u8, level: i32, created_ms: u64) -> Vec<u8> {
    zstd_frame_of(id, u64::from(id), level, created_ms)
}

/// A frame of entry `id` holding the artifact of `seed`.
fn zstd_frame_of(id: u8, seed: u64, level: i32, created_ms: u64) -> Vec<u8> {
    let data = hoard_testkit::artifact(20_000, seed);
    let codec = Zstd::new(level).expect("level");
    frame::encode(
        &Key::new(HasherId::Sha256, digest(id)),
        &codec,
        &data,
        created_ms,
    )
    .expect("encode")
}

pub(crate) fn level_of(bytes: &[u8]) -> i32 {
    Frame::parse(bytes).expect("valid frame").header().level
}

#[test]
fn a_cleanup_under_the_limits_reuses_unchanged_buckets() {
    let (_clock, store, janitor) = setup(WorkerConfig::new().limits(Limits::new(1000, BIG)));
    for id in 0..=255u8 {
        store.put_with_times(&ns("n"), &digest(id), &[0; 10], Some(now()), Some(now()));
    }
    let first = janitor.cleanup_now().expect("cleanup");
    assert_eq!((first.buckets, first.buckets_scanned), (16, 16));
    assert_eq!((first.entries_after, first.bytes_after), (256, 2560));
    let scans = store.counts().scans;
    let second = janitor.cleanup_now().expect("cleanup");
    assert_eq!(second.buckets_scanned, 0, "{second:?}");
    assert_eq!(store.counts().scans, scans);
    assert_eq!(second.entries_after, 256);
    // One bucket changes: only it is scanned again.
    store.put_with_times(&ns("n"), &digest(0x31), &[0; 99], Some(now()), Some(now()));
    let third = janitor.cleanup_now().expect("cleanup");
    assert_eq!(third.buckets_scanned, 1, "{third:?}");
    assert_eq!(
        (third.entries_after, third.bytes_after),
        (256, 2560 - 10 + 99)
    );
}

#[test]
fn the_accounting_is_rebuilt_after_the_reconcile_interval() {
    let config = WorkerConfig::new()
        .limits(Limits::new(1000, BIG))
        .reconcile_interval(Duration::from_secs(3600));
    let (clock, store, janitor) = setup(config);
    for id in [0x00, 0x10, 0x20] {
        store.put_with_times(&ns("n"), &digest(id), &[0; 10], Some(now()), Some(now()));
    }
    janitor.cleanup_now().expect("cleanup");
    assert_eq!(janitor.cleanup_now().expect("cleanup").buckets_scanned, 0);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(janitor.cleanup_now().expect("cleanup").buckets_scanned, 3);
}

#[test]
fn a_store_without_stamps_is_scanned_every_time_and_still_counted_right() {
    let clock = Arc::new(hoard_evict::ManualClock::new(now()));
    let store = Arc::new(crate::store_on(&clock).without_stamps());
    let janitor = hoard_evict::Janitor::new(
        store.clone(),
        WorkerConfig::new().limits(Limits::new(10, BIG)),
    )
    .with_clock(clock);
    for id in 0..12u8 {
        store.put_with_times(
            &ns("n"),
            &digest(id * 16),
            &[0; 10],
            Some(now()),
            Some(now()),
        );
    }
    let r = janitor.cleanup_now().expect("cleanup");
    assert_eq!((r.buckets_scanned >= 12, r.entries_after), (true, 7));
    let r = janitor.cleanup_now().expect("cleanup");
    assert_eq!((r.buckets_scanned, r.evicted, r.entries_after), (7, 0, 7));
}

#[test]
fn garbage_accounting_and_markers_are_treated_as_absent() {
    let (_clock, store, janitor) = setup(WorkerConfig::new().limits(Limits::new(10, BIG)));
    for id in 0..11u8 {
        store.put_with_times(&ns("n"), &digest(id), &[0; 10], Some(now()), Some(now()));
    }
    store.set_state(&state("accounting"), b"hoardst1 but not really");
    store.set_state(&state("cleanup-marker"), &[0xff; 40]);
    let r = janitor.cleanup_if_due().expect("cleanup").expect("due");
    assert_eq!((r.entries_before, r.entries_after), (11, 7));
}

#[test]
fn stale_temp_files_are_swept_after_the_task_timeout_only() {
    let config = WorkerConfig::new()
        .limits(Limits::new(1000, BIG))
        .task_timeout(Duration::from_secs(30 * 60));
    let (clock, store, janitor) = setup(config);
    store.put_with_times(&ns("n"), &digest(1), &[0; 10], Some(now()), Some(now()));
    store.put_temp(
        &ns("n"),
        &digest(1),
        7,
        &[1; 10],
        now() - Duration::from_secs(10 * 60),
    );
    store.put_temp(
        &ns("n"),
        &digest(0x20),
        8,
        &[1; 10],
        now() + Duration::from_secs(100 * 86_400),
    );
    let r = janitor.cleanup_now().expect("cleanup");
    // The temp from far in the future is garbage; the young one is a put in progress.
    assert_eq!((r.temps_swept, store.temp_count()), (1, 1));
    assert_eq!(r.entries_after, 1, "temps are not entries");
    clock.advance(Duration::from_secs(19 * 60));
    assert_eq!(janitor.cleanup_now().expect("cleanup").temps_swept, 0);
    clock.advance(Duration::from_secs(2 * 60));
    // The bucket's stamp did not change, but its temp came due: it is rescanned.
    let r = janitor.cleanup_now().expect("cleanup");
    assert_eq!((r.temps_swept, store.temp_count()), (1, 0));
    assert!(store.entry(&ns("n"), &digest(1)).is_some());
    assert_eq!(janitor.stats().temps_swept, 2);
}

/// Mirrors wasmtime-cache's `test_on_get_recompress_lock`: a lock `30m - 1s` old is
/// valid, one exactly `optimizing-compression-task-timeout` (30m) old is expired
/// (`is_fs_lock_expired`: `elapsed >= threshold`). hoard's temp files are its locks'
/// counterpart: a put or a recompression in progress.
#[test]
fn a_temp_file_exactly_the_task_timeout_old_is_stale() {
    let timeout = Duration::from_secs(30 * 60);
    let config = WorkerConfig::new()
        .limits(Limits::new(1000, BIG))
        .task_timeout(timeout);
    let (clock, store, janitor) = setup(config);
    store.put_temp(&ns("n"), &digest(1), 7, &[1; 10], now());
    clock.advance(timeout - Duration::from_secs(1));
    let r = janitor.cleanup_now().expect("cleanup");
    assert_eq!((r.temps_swept, store.temp_count()), (0, 1));
    clock.advance(Duration::from_secs(1));
    let r = janitor.cleanup_now().expect("cleanup");
    assert_eq!((r.temps_swept, store.temp_count()), (1, 0));
    // The explicit evictions sweep by the same rule.
    let at = now() + timeout + Duration::from_secs(30 * 60);
    clock.set(at);
    store.put_temp(&ns("n"), &digest(2), 8, &[1; 10], at - timeout);
    let r = janitor
        .evict_older_than(Duration::from_secs(86_400 * 365))
        .expect("evict");
    assert_eq!((r.temps_swept, store.temp_count()), (1, 0));
}

#[test]
fn scheduled_cleanups_follow_the_marker_and_the_lock() {
    let config = WorkerConfig::new()
        .limits(Limits::new(1000, BIG))
        .cleanup_interval(Duration::from_secs(3600));
    let (clock, store, janitor) = setup(config);
    assert!(janitor.cleanup_if_due().expect("cleanup").is_some());
    assert!(janitor.cleanup_if_due().expect("cleanup").is_none());
    clock.advance(Duration::from_secs(3599));
    assert!(janitor.cleanup_if_due().expect("cleanup").is_none());
    clock.advance(Duration::from_secs(1));
    // Due, but another process holds the cleanup lock.
    let name = StateName::new("cleanup").expect("valid");
    let held = store
        .lock(LockTarget::Named(&name), false)
        .expect("lock")
        .expect("free");
    assert!(janitor.cleanup_if_due().expect("cleanup").is_none());
    drop(held);
    assert!(janitor.cleanup_if_due().expect("cleanup").is_some());
    // A marker from the far future (a wrong clock elsewhere) does not block cleanups.
    clock.set(now() - Duration::from_secs(10 * 86_400));
    assert!(janitor.cleanup_if_due().expect("cleanup").is_some());
    // One within the allowed drift does.
    clock.advance(Duration::from_secs(60));
    clock.set(now() - Duration::from_secs(10 * 86_400) - Duration::from_secs(3600));
    assert!(janitor.cleanup_if_due().expect("cleanup").is_none());
    assert_eq!(janitor.stats().cleanups, 3);
}

#[test]
fn evicting_by_age_spares_recent_entries() {
    let (_clock, store, janitor) = setup(WorkerConfig::new());
    let ago = |s: u64| Some(now() - Duration::from_secs(s));
    store.put_with_times(&ns("n"), &digest(1), &[0; 10], ago(7200), ago(7200));
    store.put_with_times(&ns("n"), &digest(2), &[0; 10], ago(7200), ago(60));
    store.put_with_times(&ns("m"), &digest(3), &[0; 10], ago(1800), ago(1800));
    store.put_with_times(
        &ns("m"),
        &digest(4),
        &[0; 10],
        Some(now() + Duration::from_secs(30 * 86_400)),
        None,
    );
    store.put_temp(
        &ns("m"),
        &digest(5),
        1,
        &[1; 10],
        now() - Duration::from_secs(86_400),
    );
    let r = janitor
        .evict_older_than(Duration::from_secs(3600))
        .expect("evict");
    assert_eq!((r.evicted, r.evicted_bytes, r.temps_swept), (2, 20, 1));
    let left: Vec<u8> = store.keys().iter().map(|(_, d)| d.as_bytes()[0]).collect();
    assert_eq!(left, [3, 2]);
}

#[test]
fn evicting_a_namespace_leaves_the_others() {
    let (_clock, store, janitor) = setup(WorkerConfig::new());
    for id in 0..40u8 {
        let space = if id % 4 == 0 { "gone-1.0" } else { "kept-1.0" };
        store.put_with_times(
            &ns(space),
            &digest(id * 6),
            &[0; 10],
            Some(now()),
            Some(now()),
        );
    }
    let r = janitor.evict_namespace(&ns("gone-1.0")).expect("evict");
    assert_eq!(r.evicted, 10);
    assert!(
        store
            .keys()
            .iter()
            .all(|(space, _)| space.as_str() == "kept-1.0")
    );
    let survey = janitor.survey().expect("survey");
    assert_eq!((survey.entries, survey.bytes), (30, 300));
    assert_eq!(survey.namespaces.len(), 1);
    assert_eq!(janitor.stats().evictions, 10);
}

#[test]
fn recompressing_everything_rewrites_each_entry_once() {
    let (_clock, store, janitor) = setup(WorkerConfig::new());
    let janitor =
        janitor.with_codecs(Codecs::new().decoder(Arc::new(Zstd::new(3).expect("level"))));
    for id in [1u8, 2, 0x40] {
        store
            .put(&ns("n"), &digest(id), &zstd_frame(id, 3, 1000))
            .expect("put");
    }
    store
        .put(&ns("n"), &digest(9), b"not a frame at all")
        .expect("put garbage");
    let target = Zstd::new(19).expect("level");
    let r = janitor.recompress_all(&target, None).expect("recompress");
    assert_eq!((r.recompressed, r.corrupt), (3, 1), "{r:?}");
    assert!(r.bytes_after < r.bytes_before, "{r:?}");
    for id in [1u8, 2, 0x40] {
        let stored = store
            .entry(&ns("n"), &digest(id))
            .expect("still there")
            .bytes;
        assert_eq!(level_of(&stored), 19);
        let f = Frame::parse(&stored).expect("valid");
        assert_eq!(f.header().created_unix_ms, 1000, "creation time is kept");
        assert_eq!(
            f.decode(&target).expect("decodes"),
            hoard_testkit::artifact(20_000, u64::from(id))
        );
    }
    assert!(
        store.entry(&ns("n"), &digest(9)).is_none(),
        "garbage removed"
    );
    let again = janitor.recompress_all(&target, None).expect("recompress");
    assert_eq!((again.recompressed, again.skipped), (0, 3));
    assert_eq!(janitor.stats().corrupt, 1);
}

/// A large entry as a hoard before chunked frames wrote it: one zstd frame of the whole
/// value, in a version-1 header.
fn whole_zstd_frame(id: u8, data: &[u8]) -> Vec<u8> {
    let mut payload = Vec::new();
    hoard_core::Codec::encode(&Zstd::new(3).expect("level"), data, &mut payload).expect("encode");
    let mut bytes = vec![0u8; frame::HEADER_LEN];
    bytes[..8].copy_from_slice(&frame::MAGIC);
    bytes[8..10].copy_from_slice(&1u16.to_le_bytes());
    bytes[10..12].copy_from_slice(&(frame::HEADER_LEN as u16).to_le_bytes());
    bytes[12..14].copy_from_slice(&HasherId::Sha256.to_u16().to_le_bytes());
    bytes[14..16].copy_from_slice(&hoard_core::CodecId::Zstd.to_u16().to_le_bytes());
    bytes[16..20].copy_from_slice(&3i32.to_le_bytes());
    bytes[24..32].copy_from_slice(&(data.len() as u64).to_le_bytes());
    bytes[32..40].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes[48..80].copy_from_slice(digest(id).as_bytes());
    bytes.extend_from_slice(&payload);
    hoard_testkit::reseal(bytes, |_| {})
}

#[test]
fn recompression_reads_whole_and_chunked_entries_and_writes_chunked_ones() {
    let (_clock, store, janitor) = setup(WorkerConfig::new());
    let janitor =
        janitor.with_codecs(Codecs::new().decoder(Arc::new(Zstd::new(3).expect("level"))));
    let data = hoard_testkit::artifact(1 << 20, 77);
    let whole = whole_zstd_frame(1, &data);
    assert_eq!(Frame::parse(&whole).expect("valid").header().version, 1);
    store.put(&ns("n"), &digest(1), &whole).expect("put");
    let chunked = frame::encode(
        &Key::new(HasherId::Sha256, digest(2)),
        &Zstd::new(3).expect("level"),
        &data,
        0,
    )
    .expect("encode");
    store.put(&ns("n"), &digest(2), &chunked).expect("put");
    let target = Zstd::new(9).expect("level");
    let r = janitor.recompress_all(&target, None).expect("recompress");
    assert_eq!((r.recompressed, r.corrupt), (2, 0), "{r:?}");
    for id in [1u8, 2] {
        let stored = store.entry(&ns("n"), &digest(id)).expect("there").bytes;
        let f = Frame::parse(&stored).expect("valid");
        assert_eq!((f.header().version, f.header().level), (2, 9));
        assert_eq!(f.header().chunks.as_ref().map(|c| c.count()), Some(4));
        assert_eq!(f.decode(&target).expect("decodes"), data);
    }
}

#[test]
fn recompressing_one_entry_upgrades_only_and_respects_its_lock() {
    let (_clock, store, janitor) = setup(WorkerConfig::new());
    let janitor = janitor.with_codecs(
        Codecs::new()
            .decoder(Arc::new(Zstd::new(3).expect("level")))
            .optimized(Arc::new(Zstd::new(19).expect("level"))),
    );
    store
        .put(&ns("n"), &digest(1), &zstd_frame(1, 3, 5))
        .expect("put");
    store
        .put(&ns("n"), &digest(2), &zstd_frame(2, 19, 5))
        .expect("put");
    store
        .put(&ns("n"), &digest(3), &zstd_frame(3, 3, 5))
        .expect("put");
    assert!(matches!(
        janitor
            .recompress(&ns("n"), &digest(1))
            .expect("recompress"),
        Recompressed::Done { .. }
    ));
    assert_eq!(
        janitor
            .recompress(&ns("n"), &digest(2))
            .expect("recompress"),
        Recompressed::Skipped
    );
    let held = store
        .lock(LockTarget::Entry(&ns("n"), &digest(3)), false)
        .expect("lock")
        .expect("free");
    assert_eq!(
        janitor
            .recompress(&ns("n"), &digest(3))
            .expect("recompress"),
        Recompressed::Busy,
        "locked: worth another try"
    );
    drop(held);
    assert_eq!(
        janitor
            .recompress(&ns("n"), &digest(4))
            .expect("recompress"),
        Recompressed::Skipped,
        "a missing entry"
    );
    let level = |id| level_of(&store.entry(&ns("n"), &digest(id)).expect("there").bytes);
    assert_eq!((level(1), level(2), level(3)), (19, 19, 3));
}

#[test]
fn a_frame_of_another_key_is_corrupt_for_recompression() {
    let (_clock, store, janitor) = setup(WorkerConfig::new());
    let janitor =
        janitor.with_codecs(Codecs::new().optimized(Arc::new(Zstd::new(19).expect("level"))));
    // Digest 2's name holds digest 1's (valid) frame.
    store
        .put(&ns("n"), &digest(2), &zstd_frame(1, 3, 5))
        .expect("put");
    assert_eq!(
        janitor
            .recompress(&ns("n"), &digest(2))
            .expect("recompress"),
        Recompressed::Corrupt
    );
    assert!(store.entry(&ns("n"), &digest(2)).is_none());
}

/// Another program's codec under zstd's id: its payloads are not zstd.
#[derive(Debug)]
struct NotZstd;

impl Codec for NotZstd {
    fn id(&self) -> CodecId {
        CodecId::Zstd
    }
    fn level(&self) -> i32 {
        1
    }
    fn encode(&self, input: &[u8], out: &mut Vec<u8>) -> hoard_core::Result<()> {
        out.extend(input.iter().map(|b| b ^ 0x5a));
        Ok(())
    }
    fn decode(&self, input: &[u8], _: usize, out: &mut Vec<u8>) -> hoard_core::Result<()> {
        out.extend(input.iter().map(|b| b ^ 0x5a));
        Ok(())
    }
}

#[test]
fn a_verified_frame_that_does_not_decode_is_left_in_place_by_recompression() {
    let (_clock, store, janitor) = setup(WorkerConfig::new());
    let janitor = janitor.with_codecs(
        Codecs::new()
            .decoder(Arc::new(Zstd::new(3).expect("level")))
            .optimized(Arc::new(Zstd::new(19).expect("level"))),
    );
    let foreign = frame::encode(
        &Key::new(HasherId::Sha256, digest(3)),
        &NotZstd,
        &hoard_testkit::artifact(2_000, 3),
        5,
    )
    .expect("encode");
    store.put(&ns("n"), &digest(3), &foreign).expect("put");
    assert_eq!(
        janitor
            .recompress(&ns("n"), &digest(3))
            .expect("recompress"),
        Recompressed::Skipped
    );
    let r = janitor
        .recompress_all(&Zstd::new(19).expect("level"), None)
        .expect("recompress");
    assert_eq!((r.recompressed, r.corrupt, r.skipped), (0, 0, 1), "{r:?}");
    assert_eq!(
        store.entry(&ns("n"), &digest(3)).map(|e| e.bytes),
        Some(foreign),
        "left exactly as it was"
    );
    assert_eq!(janitor.stats().corrupt, 0);
}

/// A codec that runs `meddle` before each encode: a put (or removal) by someone else in the
/// moment between a recompression's read and its replacement, placed there exactly.
pub(crate) struct Meddling {
    inner: Zstd,
    meddle: Box<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for Meddling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meddling")
            .field("inner", &self.inner)
            .finish()
    }
}

impl Codec for Meddling {
    fn id(&self) -> CodecId {
        self.inner.id()
    }
    fn level(&self) -> i32 {
        self.inner.level()
    }
    fn encode(&self, input: &[u8], out: &mut Vec<u8>) -> hoard_core::Result<()> {
        (self.meddle)();
        self.inner.encode(input, out)
    }
    fn decode(&self, input: &[u8], len: usize, out: &mut Vec<u8>) -> hoard_core::Result<()> {
        self.inner.decode(input, len, out)
    }
}

pub(crate) fn meddling(level: i32, meddle: impl Fn() + Send + Sync + 'static) -> Meddling {
    Meddling {
        inner: Zstd::new(level).expect("level"),
        meddle: Box::new(meddle),
    }
}

#[test]
fn a_put_during_a_recompression_wins() {
    let (_clock, store, janitor) = setup(WorkerConfig::new());
    let janitor =
        janitor.with_codecs(Codecs::new().decoder(Arc::new(Zstd::new(3).expect("level"))));
    let newer = zstd_frame_of(1, 7, 3, 2000);
    store
        .put(&ns("n"), &digest(1), &zstd_frame(1, 3, 1000))
        .expect("put");
    let (s, b) = (store.clone(), newer.clone());
    let target = meddling(19, move || {
        s.put(&ns("n"), &digest(1), &b).expect("the newer put");
    });
    let r = janitor.recompress_all(&target, None).expect("recompress");
    assert_eq!((r.recompressed, r.skipped), (0, 1), "{r:?}");
    let stored = store.entry(&ns("n"), &digest(1)).expect("there").bytes;
    assert!(stored == newer, "the newer put was rolled back");
    assert_eq!(store.counts().replaced_items, 0);
    assert_eq!(janitor.stats().recompressions, 0);
}

#[test]
fn a_put_during_the_workers_recompression_wins() {
    let (_clock, store, janitor) = setup(WorkerConfig::new());
    let newer = zstd_frame_of(1, 7, 3, 2000);
    let (s, b) = (store.clone(), newer.clone());
    let janitor = janitor.with_codecs(
        Codecs::new()
            .decoder(Arc::new(Zstd::new(3).expect("level")))
            .optimized(Arc::new(meddling(19, move || {
                s.put(&ns("n"), &digest(1), &b).expect("the newer put");
            }))),
    );
    store
        .put(&ns("n"), &digest(1), &zstd_frame(1, 3, 1000))
        .expect("put");
    assert_eq!(
        janitor
            .recompress(&ns("n"), &digest(1))
            .expect("recompress"),
        Recompressed::Busy,
        "the entry changed: worth another try"
    );
    let stored = store.entry(&ns("n"), &digest(1)).expect("there").bytes;
    assert!(stored == newer, "the newer put was rolled back");
    // Without meddling, the same entry is recompressed.
    let plain = janitor.with_codecs(
        Codecs::new()
            .decoder(Arc::new(Zstd::new(3).expect("level")))
            .optimized(Arc::new(Zstd::new(19).expect("level"))),
    );
    assert!(matches!(
        plain.recompress(&ns("n"), &digest(1)).expect("recompress"),
        Recompressed::Done { .. }
    ));
    let stored = store.entry(&ns("n"), &digest(1)).expect("there").bytes;
    assert_eq!(level_of(&stored), 19);
    assert_eq!(
        Frame::parse(&stored)
            .expect("valid")
            .header()
            .created_unix_ms,
        2000,
        "the newer put's frame was the one recompressed"
    );
}

#[test]
fn an_entry_removed_during_a_recompression_stays_removed() {
    let (_clock, store, janitor) = setup(WorkerConfig::new());
    let janitor =
        janitor.with_codecs(Codecs::new().decoder(Arc::new(Zstd::new(3).expect("level"))));
    store
        .put(&ns("n"), &digest(1), &zstd_frame(1, 3, 1000))
        .expect("put");
    let s = store.clone();
    let target = meddling(19, move || {
        s.remove(&ns("n"), &digest(1)).expect("remove");
    });
    let r = janitor.recompress_all(&target, None).expect("recompress");
    assert_eq!((r.recompressed, r.skipped), (0, 1), "{r:?}");
    assert!(store.entry(&ns("n"), &digest(1)).is_none(), "brought back");
}

#[test]
fn an_authenticated_cache_re_signs_what_it_recompresses_and_skips_what_it_cannot_vouch_for() {
    use hoard_core::frame::{FrameOptions, MacKeys};
    use hoard_core::read::Decoders;
    let keys = MacKeys::new([[0x42; 32]]).expect("a key");
    let signed = FrameOptions::new().with_mac_keys(keys.clone());
    let (_clock, store, janitor) = setup(WorkerConfig::new());
    // The keys come with the cache's registry, as the facade passes them.
    let decoders = Decoders::new()
        .with(Arc::new(Zstd::new(3).expect("level")))
        .with_options(signed.clone());
    let janitor = janitor.with_codecs(Codecs::new().decoders(&decoders));
    let data = hoard_testkit::artifact(20_000, 5);
    let base = Zstd::new(3).expect("level");
    let key = |id| Key::new(HasherId::Sha256, digest(id));
    let good = frame::encode_with(&key(1), &base, &data, 1000, &signed).expect("encode");
    let unsigned = zstd_frame(2, 3, 1000);
    let other = MacKeys::new([[0x43; 32]]).expect("a key");
    let foreign = frame::encode_with(
        &key(3),
        &base,
        &data,
        1000,
        &FrameOptions::new().with_mac_keys(other),
    )
    .expect("encode");
    for (id, bytes) in [(1u8, &good), (2, &unsigned), (3, &foreign)] {
        store.put(&ns("n"), &digest(id), bytes).expect("put");
    }
    let target = Zstd::new(19).expect("level");
    let r = janitor.recompress_all(&target, None).expect("recompress");
    assert_eq!((r.recompressed, r.skipped, r.corrupt), (1, 2, 0), "{r:?}");
    let rewritten = store.entry(&ns("n"), &digest(1)).expect("there").bytes;
    let f = Frame::parse(&rewritten).expect("valid");
    assert_eq!(f.header().level, 19);
    let mac = f.header().mac.as_ref().expect("still signed");
    assert_eq!(mac.key_id, keys.signing_key_id());
    let view = hoard_core::VerifiedView::check(&rewritten, hoard_core::Expected::Key(&key(1)), BIG)
        .expect("verifies");
    assert_eq!(view.decode_with(&decoders).expect("authentic"), data);
    // The unsigned and the foreign entries are left exactly as they were.
    assert_eq!(
        store.entry(&ns("n"), &digest(2)).expect("there").bytes,
        unsigned
    );
    assert_eq!(
        store.entry(&ns("n"), &digest(3)).expect("there").bytes,
        foreign
    );
}
