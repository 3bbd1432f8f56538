//! `RemoteStore` and `TieredStore` against real servers: the conformance suite per backend,
//! item limits, damaged values, a dead and a hung server, the tier in front.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hoard_core::{Digest, ErrorKind, Key, Namespace, Store, StoreExt, frame};
use hoard_fs::FsStore;
use hoard_remote::{
    Backend, Credentials, MEMCACHED_DEFAULT_MAX_ITEM, ManualClock, RemoteAccess, RemoteConfig,
    RemoteStore, TieredStore, WritePolicy,
};
use hoard_testkit::servers::{self, Kind, Server};

/// A prefix no other store of this test process uses, so that each store starts empty.
fn fresh_prefix() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "t{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub(crate) fn config(server: &Server) -> RemoteConfig {
    let prefix = fresh_prefix();
    let c = RemoteConfig::parse(&server.url(&prefix)).expect("test step");
    let c = match server.kind() {
        // moto checks no signature, but refuses anonymous requests to a private bucket.
        Kind::S3 => c
            .endpoint(&server.endpoint())
            .expect("test step")
            .credentials(Credentials::new("hoard-test", "hoard-test")),
        _ => c.prefix(&prefix).expect("test step"),
    };
    c.timeout(Duration::from_secs(5)).expect("test step")
}

fn store(server: &Server) -> RemoteStore {
    RemoteStore::open(config(server)).expect("test step")
}

fn ns() -> Namespace {
    Namespace::new("remote-test").expect("test step")
}

fn framed(tag: u8, len: usize) -> (Key, Vec<u8>) {
    let key = Key::new(hoard_core::HasherId::Sha256, Digest::from_bytes([tag; 32]));
    let data = hoard_testkit::noise(len, u64::from(tag));
    let f = frame::encode(&key, &hoard_codec::Identity, &data, 1).expect("test step");
    (key, f)
}

#[test]
fn redis_passes_the_store_conformance_suite() {
    let server = Server::start(Kind::Redis);
    hoard_testkit::store::run_all(|| store(&server));
}

#[test]
fn memcached_passes_the_store_conformance_suite() {
    let server = Server::start(Kind::Memcached);
    hoard_testkit::store::run_all_with_item_limit(|| store(&server), MEMCACHED_DEFAULT_MAX_ITEM);
}

#[test]
fn s3_passes_the_store_conformance_suite() {
    let server = Server::start(Kind::S3);
    hoard_testkit::store::run_all(|| store(&server));
}

/// Writes `bytes` under the backend key `key` with OpenDAL itself, behind hoard's back.
pub(crate) fn raw_write(store: &RemoteStore, key: &str, bytes: &[u8]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("test step");
    rt.block_on(store.operator().write(key, bytes.to_vec()))
        .expect("test step");
}

#[test]
fn s3_lists_only_its_own_names_under_its_prefix() {
    let server = Server::start(Kind::S3);
    let s = store(&server);
    let (key, f) = framed(1, 1000);
    s.put(&ns(), key.digest(), &f).expect("test step");
    // Foreign objects beside and under the prefix are not entries.
    let prefix = s.config().get_prefix().to_owned();
    for junk in [
        format!("{prefix}/remote-test/zz/{}", key.digest().to_hex()),
        format!("{prefix}/remote-test/{}", key.digest().to_hex()),
        format!("{prefix}/notes.txt"),
        format!("{prefix}-other/remote-test/01/{}", key.digest().to_hex()),
    ] {
        raw_write(&s, &junk, b"x");
    }
    let entries = s.entries().expect("test step");
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].digest, *key.digest());
    assert_eq!(entries[0].stored_len, f.len() as u64);
    assert!(entries[0].modified.is_some());
}

#[test]
fn memcached_skips_frames_over_its_item_limit_and_stores_the_largest_that_fits() {
    let server = Server::start(Kind::Memcached);
    let s = store(&server);
    let limit = usize::try_from(MEMCACHED_DEFAULT_MAX_ITEM).expect("test step");
    let fits = vec![7u8; limit];
    let too_big = vec![7u8; limit + 1];
    let d = Digest::from_bytes([9; 32]);
    s.put(&ns(), &d, &fits).expect("test step");
    assert_eq!(
        s.get(&ns(), &d, u64::MAX).expect("test step").as_deref(),
        Some(&fits[..])
    );
    let e = s
        .put(&ns(), &Digest::from_bytes([8; 32]), &too_big)
        .expect_err("must fail");
    assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
    assert!(e.message().contains("item limit"), "{e}");
    let stats = s.stats();
    assert_eq!(
        (stats.puts, stats.skipped_too_large, stats.put_failures),
        (1, 1, 0)
    );
    assert!(!s.is_bypassed(), "a skipped put is not a remote failure");
}

/// A value changed in Redis behind hoard's back is caught by the frame check, whoever reads.
#[test]
fn a_value_damaged_in_redis_is_not_served() {
    let server = Server::start(Kind::Redis);
    let remote = Arc::new(store(&server));
    let (key, f) = framed(3, 4096);
    remote.put(&ns(), key.digest(), &f).expect("test step");
    let object = remote.object_key(&ns(), key.digest());
    let mut damaged = f.clone();
    damaged[2000] ^= 0x10;
    assert_eq!(
        servers::redis_command(server.port(), &[b"SET", object.as_bytes(), &damaged]),
        b"+OK\r\n"
    );
    let e = remote
        .get_verified(&ns(), &key, 1 << 20)
        .expect_err("must fail");
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");

    // Through a tier: a miss, counted, not copied locally, removed from the remote.
    let dir = tempfile::tempdir().expect("test step");
    let local = Arc::new(FsStore::open(dir.path().join("c")).expect("test step"));
    let tier = TieredStore::new(
        local.clone(),
        remote.clone(),
        WritePolicy::Through,
        RemoteAccess::ReadWrite,
    )
    .expect("test step");
    assert_eq!(
        tier.get(&ns(), key.digest(), 1 << 20).expect("test step"),
        None
    );
    assert_eq!(tier.stats().remote_rejected, 1);
    assert_eq!(
        local.get(&ns(), key.digest(), 1 << 20).expect("test step"),
        None
    );
    let raw = servers::redis_command(server.port(), &[b"EXISTS", object.as_bytes()]);
    assert_eq!(raw, b":0\r\n", "the damaged value is removed from redis");

    // Another key's valid frame under this key's name is rejected the same way.
    let (other, other_frame) = framed(4, 100);
    remote
        .put(&ns(), other.digest(), &other_frame)
        .expect("test step");
    servers::redis_command(server.port(), &[b"SET", object.as_bytes(), &other_frame]);
    assert_eq!(
        tier.get(&ns(), key.digest(), 1 << 20).expect("test step"),
        None
    );
    assert_eq!(tier.stats().remote_rejected, 2);
}

#[test]
fn a_value_damaged_in_s3_is_not_served() {
    let server = Server::start(Kind::S3);
    let remote = Arc::new(store(&server));
    let (key, f) = framed(5, 3000);
    remote.put(&ns(), key.digest(), &f).expect("test step");
    let object = remote.object_key(&ns(), key.digest());
    for (what, bytes) in [
        ("flipped", {
            let mut d = f.clone();
            d[100] ^= 1;
            d
        }),
        ("truncated", f[..f.len() - 1].to_vec()),
        ("empty", Vec::new()),
    ] {
        raw_write(&remote, &object, &bytes);
        let dir = tempfile::tempdir().expect("test step");
        let local = Arc::new(FsStore::open(dir.path().join("c")).expect("test step"));
        let tier = TieredStore::new(
            local,
            remote.clone(),
            WritePolicy::LocalOnly,
            RemoteAccess::ReadOnly,
        )
        .expect("test step");
        assert_eq!(
            tier.get(&ns(), key.digest(), 1 << 20).expect("test step"),
            None,
            "{what}"
        );
        assert_eq!(tier.stats().remote_rejected, 1, "{what}");
        assert!(
            !remote.is_bypassed(),
            "{what}: damage is not a remote failure"
        );
    }
}

#[test]
fn the_tier_backfills_writes_through_and_keeps_read_only_remotes_untouched() {
    let server = Server::start(Kind::Redis);
    let remote = Arc::new(store(&server));
    let dirs = [
        tempfile::tempdir().expect("test step"),
        tempfile::tempdir().expect("test step"),
    ];
    let local = |i: usize| {
        Arc::new(FsStore::open(dirs[i].path().join("c")).expect("test step")) as Arc<dyn Store>
    };
    let a = TieredStore::new(
        local(0),
        remote.clone(),
        WritePolicy::Through,
        RemoteAccess::ReadWrite,
    )
    .expect("test step");
    let b = TieredStore::new(
        local(1),
        remote.clone(),
        WritePolicy::Through,
        RemoteAccess::ReadOnly,
    )
    .expect("test step");
    let (key, f) = framed(6, 10_000);
    a.put(&ns(), key.digest(), &f).expect("test step");
    assert_eq!(
        b.get(&ns(), key.digest(), 1 << 20)
            .expect("test step")
            .as_deref(),
        Some(&f[..])
    );
    assert_eq!((b.stats().remote_hits, b.stats().backfills), (1, 1));
    assert_eq!(
        b.get(&ns(), key.digest(), 1 << 20)
            .expect("test step")
            .as_deref(),
        Some(&f[..])
    );
    assert_eq!(b.stats().local_hits, 1, "the second get is served locally");

    // The read-only tier stores locally only, and never removes remotely.
    let (k2, f2) = framed(7, 100);
    b.put(&ns(), k2.digest(), &f2).expect("test step");
    assert_eq!(
        remote.get(&ns(), k2.digest(), 1 << 20).expect("test step"),
        None
    );
    assert!(b.remove(&ns(), key.digest()).expect("test step"));
    assert!(
        remote
            .get(&ns(), key.digest(), 1 << 20)
            .expect("test step")
            .is_some()
    );
    assert_eq!(b.stats().remote_writes, 0);
}

#[test]
fn write_back_writes_in_the_background_and_counts_what_it_drops() {
    let server = Server::start(Kind::Redis);
    let remote = Arc::new(store(&server));
    let dir = tempfile::tempdir().expect("test step");
    let local = Arc::new(FsStore::open(dir.path().join("c")).expect("test step"));
    let tier = TieredStore::new(
        local,
        remote.clone(),
        WritePolicy::Back { queue: 4 },
        RemoteAccess::ReadWrite,
    )
    .expect("test step");
    let mut written = Vec::new();
    for tag in 0..200u8 {
        let (key, f) = framed(tag, 2000);
        tier.put(&ns(), key.digest(), &f).expect("test step");
        written.push((key, f));
    }
    tier.flush();
    let stats = tier.stats();
    assert_eq!(stats.queued + stats.dropped, 200, "{stats:?}");
    assert_eq!(stats.remote_writes, stats.queued, "{stats:?}");
    let remote_has = written
        .iter()
        .filter(|(k, _)| {
            remote
                .get(&ns(), k.digest(), 1 << 20)
                .expect("test step")
                .is_some()
        })
        .count() as u64;
    assert_eq!(remote_has, stats.queued);
    // Dropping the tier writes what is still queued.
    let (key, f) = framed(250, 100);
    tier.put(&ns(), key.digest(), &f).expect("test step");
    let queued = tier.stats().queued > stats.queued;
    drop(tier);
    assert_eq!(
        remote
            .get(&ns(), key.digest(), 1 << 20)
            .expect("test step")
            .is_some(),
        queued
    );
}

/// A remote on a manual clock (the breaker's cool-downs pass when the test says so), holding
/// the 500-byte entry `framed(tag, 500)`, which it returns too.
fn on_clock(
    server: &Server,
    timeout: Duration,
    tag: u8,
) -> (RemoteStore, Arc<ManualClock>, Key, Vec<u8>) {
    let clock = Arc::new(ManualClock::new());
    let remote = RemoteStore::open(
        config(server)
            .timeout(timeout)
            .expect("test step")
            .cooldown(COOLDOWN),
    )
    .expect("test step")
    .with_clock(clock.clone());
    let (key, f) = framed(tag, 500);
    remote.put(&ns(), key.digest(), &f).expect("test step");
    (remote, clock, key, f)
}

/// The cool-down of the outage tests: long, since only the manual clock passes it.
const COOLDOWN: Duration = Duration::from_secs(30);

/// Gets `key` through a remote that is down until the breaker has bypassed `bypassed` gets
/// in a row, each at once; returns the slowest.
fn bypassed_gets(remote: &RemoteStore, key: &Key, bypassed: u64) -> Duration {
    let before = remote.stats().bypassed;
    let mut slowest = Duration::ZERO;
    for _ in 0..bypassed {
        let t = Instant::now();
        assert!(remote.get(&ns(), key.digest(), 1 << 20).is_err());
        slowest = slowest.max(t.elapsed());
    }
    assert_eq!(
        remote.stats().bypassed - before,
        bypassed,
        "{:?}",
        remote.stats()
    );
    slowest
}

/// Twenty gets of `key` in a row are bypassed, none waiting as long as `timeout`.
fn bypassed_at_once(remote: &RemoteStore, key: &Key, timeout: Duration) {
    let slowest = bypassed_gets(remote, key, 20);
    assert!(
        slowest < timeout,
        "a bypassed get waits for nothing: {slowest:?}"
    );
}

/// Steps the clock through cool-downs until an operation reaches the server again: a
/// restarted or resumed server may take a few attempts (reconnection) before it answers.
fn comes_back(remote: &RemoteStore, clock: &ManualClock, works: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        clock.advance(COOLDOWN);
        if works() {
            return !remote.is_bypassed();
        }
    }
    false
}

/// A killed server: the first operation fails (the client keeps reconnecting; the check
/// after the connect timeout, or the timeout, ends it), the breaker trips, every operation
/// in the cool-down fails at once, and each cool-down costs exactly one more failure (the
/// probe); a restarted server is used again
/// without reopening the store.
#[test]
fn a_killed_redis_costs_one_failure_per_cooldown_and_comes_back() {
    let mut server = Server::start(Kind::Redis);
    let timeout = Duration::from_millis(300);
    let (remote, clock, key, f) = on_clock(&server, timeout, 11);
    server.kill();
    for cooldowns in 1..=3u64 {
        let t = Instant::now();
        assert!(remote.get(&ns(), key.digest(), 1 << 20).is_err());
        let failed = t.elapsed();
        let stats = remote.stats();
        assert_eq!(
            (stats.get_failures, stats.breaker_trips),
            (cooldowns, cooldowns),
            "one failure, and one trip, per cool-down: {stats:?}"
        );
        assert!(
            failed < timeout + Duration::from_millis(500),
            "a failure costs at most the timeout: {failed:?}"
        );
        bypassed_at_once(&remote, &key, timeout);
        // Just before the cool-down ends, still bypassed.
        clock.advance(COOLDOWN - Duration::from_millis(1));
        bypassed_gets(&remote, &key, 1);
        clock.advance(Duration::from_millis(1));
    }
    eprintln!("redis killed: {:?}", remote.stats());
    server.restart();
    assert!(
        comes_back(&remote, &clock, || remote
            .put(&ns(), key.digest(), &f)
            .is_ok()),
        "the restarted server is used again: {:?}",
        remote.stats()
    );
    assert_eq!(
        remote
            .get(&ns(), key.digest(), 1 << 20)
            .expect("test step")
            .as_deref(),
        Some(&f[..])
    );
}

/// A hung server (SIGSTOP: connections are accepted by the kernel, nothing answers): the
/// first get waits the timeout (real time, whatever the clock), then the breaker bypasses
/// the remote for the cool-down; each cool-down costs one more timeout, the connection
/// check's (the connect timeout) from the second on.
#[test]
fn a_hung_redis_costs_one_timeout_per_cooldown() {
    let server = Server::start(Kind::Redis);
    let timeout = Duration::from_millis(300);
    let (remote, clock, key, _) = on_clock(&server, timeout, 12);
    server.pause();
    for cooldowns in 1..=2u64 {
        let t = Instant::now();
        assert!(remote.get(&ns(), key.digest(), 1 << 20).is_err());
        let waited = t.elapsed();
        let bound = if cooldowns == 1 {
            timeout
        } else {
            hoard_remote::DEFAULT_CONNECT_TIMEOUT
        };
        assert!(
            waited >= bound && waited < bound + Duration::from_millis(500),
            "a hung server costs one real timeout: {waited:?}"
        );
        let stats = remote.stats();
        assert_eq!(
            (stats.timeouts, stats.breaker_trips),
            (cooldowns, cooldowns),
            "{stats:?}"
        );
        bypassed_at_once(&remote, &key, timeout);
        clock.advance(COOLDOWN);
    }
    eprintln!("redis hung: {:?}", remote.stats());
    server.resume();
    assert!(
        comes_back(&remote, &clock, || {
            remote
                .get(&ns(), key.digest(), 1 << 20)
                .is_ok_and(|v| v.is_some())
        }),
        "{:?}",
        remote.stats()
    );
}

/// A caller inside its own tokio runtime (an async build tool calling the sync API): the
/// store must not try to `block_on` there, which would panic.
#[test]
fn the_store_works_from_inside_another_async_runtime() {
    let server = Server::start(Kind::Redis);
    let remote = store(&server);
    assert_eq!(remote.config().backend(), Backend::Redis);
    let (key, f) = framed(13, 100);
    let caller = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("test step");
    let got = caller.block_on(async {
        remote.put(&ns(), key.digest(), &f).expect("test step");
        remote.get(&ns(), key.digest(), 1 << 20).expect("test step")
    });
    assert_eq!(got.as_deref(), Some(&f[..]));
    drop(caller);
    // Dropped inside a runtime too, without a panic.
    let caller = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("test step");
    caller.block_on(async move { drop(remote) });
}

/// Issue 13, item 4: a get is bounded by its limit before anything is fetched where the
/// backend can say a value's length first (Redis under a limit below its item limit: its
/// length, then the value; S3: a ranged request whose answer carries the object's size);
/// memcached, which cannot, receives at most its item limit and refuses after the fetch.
/// Through a tier, a local miss over the limit is `TooLarge` (the store contract), and the
/// remote value stays.
#[test]
fn a_value_over_the_limit_is_refused_before_it_is_fetched() {
    for kind in [Kind::Redis, Kind::S3, Kind::Memcached] {
        let server = Server::start(kind);
        let remote = Arc::new(store(&server));
        let len = if kind == Kind::Memcached {
            900 << 10
        } else {
            3 << 20
        };
        let (key, f) = framed(21, len);
        remote.put(&ns(), key.digest(), &f).expect("test step");
        let limit = 100 << 10;
        let e = remote
            .get(&ns(), key.digest(), limit)
            .expect_err("over the limit");
        assert_eq!(e.kind(), ErrorKind::TooLarge, "{kind:?}: {e}");
        assert!(
            e.message().contains(&f.len().to_string()),
            "{kind:?}: names the length: {e}"
        );
        let stats = remote.stats();
        assert_eq!(
            (
                stats.too_large,
                stats.hits,
                stats.misses,
                stats.get_failures
            ),
            (1, 0, 0, 0),
            "{kind:?}: {stats:?}"
        );
        let fetched = if kind == Kind::Memcached {
            f.len() as u64
        } else {
            0
        };
        assert_eq!(stats.bytes_read, fetched, "{kind:?}: {stats:?}");
        assert!(!remote.is_bypassed(), "{kind:?}: not a remote failure");

        let tier = TieredStore::new(
            Arc::new(hoard_testkit::InMemory::new()),
            remote.clone(),
            WritePolicy::Through,
            RemoteAccess::ReadWrite,
        )
        .expect("test step");
        let e = tier
            .get(&ns(), key.digest(), limit)
            .expect_err("over the limit through the tier");
        assert_eq!(e.kind(), ErrorKind::TooLarge, "{kind:?}: {e}");
        assert_eq!(
            (tier.stats().misses, tier.stats().remote_rejected),
            (1, 0),
            "{kind:?}"
        );
        let stays = remote.get(&ns(), key.digest(), u64::MAX);
        assert!(
            stays.as_ref().is_ok_and(|v| v.as_deref() == Some(&f[..])),
            "{kind:?}: the remote value stays"
        );
        // Under the limit, through each read plan, the value comes back whole.
        for limit in [f.len() as u64, f.len() as u64 + 1, u64::MAX] {
            let got = tier.get(&ns(), key.digest(), limit);
            assert!(
                got.as_ref().is_ok_and(|v| v.as_deref() == Some(&f[..])),
                "{kind:?}, limit {limit}: {:?}",
                got.map(|v| v.map(|v| v.len()))
            );
            tier.local().remove(&ns(), key.digest()).expect("test step");
        }
    }
}

/// A frame of a newer format (or any intact frame this build cannot read) is a miss that
/// stays in the remote: another build may read it.
#[test]
fn a_newer_frame_in_the_remote_is_a_miss_left_in_place() {
    let server = Server::start(Kind::Redis);
    let remote = Arc::new(store(&server));
    let (key, f) = framed(22, 2000);
    let newer = hoard_testkit::reseal(f, |b| {
        b[8..10].copy_from_slice(&(hoard_core::frame::FORMAT_VERSION + 1).to_le_bytes())
    });
    remote.put(&ns(), key.digest(), &newer).expect("test step");
    let local = Arc::new(hoard_testkit::InMemory::new());
    let tier = TieredStore::new(
        local.clone(),
        remote.clone(),
        WritePolicy::Through,
        RemoteAccess::ReadWrite,
    )
    .expect("test step");
    for _ in 0..2 {
        assert_eq!(
            tier.get(&ns(), key.digest(), 1 << 20).expect("test step"),
            None
        );
    }
    let t = tier.stats();
    assert_eq!(
        (
            t.remote_undecodable,
            t.remote_rejected,
            t.backfills,
            t.misses
        ),
        (2, 0, 0, 2),
        "{t:?}"
    );
    assert_eq!(
        local.get(&ns(), key.digest(), 1 << 20).expect("test step"),
        None
    );
    assert_eq!(
        remote
            .get(&ns(), key.digest(), 1 << 20)
            .expect("test step")
            .as_deref(),
        Some(&newer[..]),
        "left in the remote"
    );
}
