//! The remote tier through the facade (feature `remote`), against real servers: two caches
//! with their own directories ("machines") sharing entries through each backend, a Redis
//! killed and restarted under a running cache, and the `[cache.remote]` table.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hoard::remote::{Credentials, ManualClock, RemoteAccess, RemoteConfig, WritePolicy};
use hoard::{
    Cache, CacheBuilder, CacheConfig, Codec, CodecId, ErrorKind, FsStore, RemoteSettings, Store,
    remote_lifetime_stats, zero_remote_stats,
};
use hoard_testkit::servers::{Kind, Server};

pub(crate) fn remote_config(server: &Server, prefix: &str) -> RemoteConfig {
    let c = RemoteConfig::parse(&server.url(prefix)).expect("server url");
    match server.kind() {
        Kind::S3 => c
            .endpoint(&server.endpoint())
            .expect("endpoint")
            .credentials(Credentials::new("hoard-test", "hoard-test")),
        _ => c.prefix(prefix).expect("prefix"),
    }
}

fn machine(dir: &tempfile::TempDir, settings: RemoteSettings) -> Cache {
    CacheBuilder::new(dir.path().join("cache"))
        .namespace("remote-facade")
        .without_worker()
        .remote(settings)
        .build()
        .expect("cache with a remote tier")
}

fn shares_between_two_machines(kind: Kind) {
    let server = Server::start(kind);
    let prefix = format!("share-{}", std::process::id());
    let (da, db) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let a = machine(&da, RemoteSettings::new(remote_config(&server, &prefix)));
    let b = machine(&db, RemoteSettings::new(remote_config(&server, &prefix)));
    let sizes = [0usize, 1, 1000, 64 << 10, 900 << 10];
    for (i, len) in sizes.into_iter().enumerate() {
        let key = a.key(format!("artifact {i}"));
        let value = hoard_testkit::artifact(len, i as u64);
        assert!(a.put(&key, &value), "{kind:?}: put {len} bytes on A");
        assert_eq!(
            b.get(&key).as_deref(),
            Some(&value[..]),
            "{kind:?}: {len} bytes on B"
        );
    }
    let tier = b.remote().expect("B has a remote tier");
    assert_eq!(
        tier.tier_stats().remote_hits,
        sizes.len() as u64,
        "{kind:?}"
    );
    assert_eq!(tier.tier_stats().backfills, sizes.len() as u64, "{kind:?}");
    // Now B holds them locally: hits without the remote.
    for i in 0..sizes.len() {
        assert!(b.get(&b.key(format!("artifact {i}"))).is_some());
    }
    assert_eq!(tier.tier_stats().local_hits, sizes.len() as u64, "{kind:?}");
    assert_eq!(b.stats().hits, 2 * sizes.len() as u64);

    // Dropping B adds its remote counters to the lifetime ones in its directory.
    drop(b);
    let store = FsStore::open(db.path().join("cache")).expect("B's directory");
    let lifetime = remote_lifetime_stats(&store)
        .expect("readable")
        .expect("written");
    assert_eq!(
        lifetime.counters["tier.remote_hits"],
        sizes.len() as u64,
        "{kind:?}"
    );
    assert_eq!(
        lifetime.counters["remote.hits"],
        sizes.len() as u64,
        "{kind:?}"
    );
    let before = zero_remote_stats(&store)
        .expect("zeroed")
        .expect("had counters");
    assert_eq!(before, lifetime);
    let after = remote_lifetime_stats(&store)
        .expect("readable")
        .expect("present");
    assert!(after.counters.is_empty(), "{after:?}");
}

#[test]
fn two_machines_share_entries_through_redis() {
    shares_between_two_machines(Kind::Redis);
}

#[test]
fn two_machines_share_entries_through_memcached() {
    shares_between_two_machines(Kind::Memcached);
}

#[test]
fn two_machines_share_entries_through_s3() {
    shares_between_two_machines(Kind::S3);
}

/// Redis killed under a running cache: gets of remote-only entries become misses, puts
/// still succeed locally, a dead remote costs one failure per cool-down; after a restart
/// the same process uses the remote again. The breakers run on a manual clock, so the test
/// steps through cool-downs rather than sleeping through them.
#[test]
fn a_killed_redis_degrades_to_local_and_comes_back() {
    const COOLDOWNS: u64 = 3;
    const ROUNDS_PER_COOLDOWN: u64 = 10;
    let mut server = Server::start(Kind::Redis);
    let cooldown = Duration::from_secs(30);
    let timeout = Duration::from_millis(300);
    let config = remote_config(&server, "killed")
        .timeout(timeout)
        .expect("timeout")
        .cooldown(cooldown);
    let clock = Arc::new(ManualClock::new());
    let on_clock = |dir: &tempfile::TempDir| {
        CacheBuilder::new(dir.path().join("cache"))
            .namespace("remote-facade")
            .without_worker()
            .remote(RemoteSettings::new(config.clone()))
            .remote_clock(clock.clone())
            .build()
            .expect("cache with a remote tier")
    };
    let (da, db) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let (a, b) = (on_clock(&da), on_clock(&db));
    let shared = a.key("shared");
    assert!(a.put(&shared, b"before the kill"));

    server.kill();
    let mut slowest = Duration::ZERO;
    let mut rounds = 0u64;
    for _ in 0..COOLDOWNS {
        for _ in 0..ROUNDS_PER_COOLDOWN {
            let t = Instant::now();
            assert_eq!(b.get(&shared), None, "the remote is gone: a miss");
            slowest = slowest.max(t.elapsed());
            let local = b.key(format!("local {rounds}"));
            assert!(b.put(&local, b"kept locally"), "puts succeed locally");
            assert_eq!(b.get(&local).as_deref(), Some(&b"kept locally"[..]));
            rounds += 1;
        }
        clock.advance(cooldown);
    }
    let r = b.remote().expect("tier").remote_stats();
    eprintln!(
        "redis down for {COOLDOWNS} cool-downs: {rounds} rounds of get+put+get, slowest miss \
         {slowest:?}, {} failed remote operations ({} timeouts), {} bypassed, {} breaker trips",
        r.get_failures + r.put_failures,
        r.timeouts,
        r.bypassed,
        r.breaker_trips
    );
    assert_eq!(
        (r.get_failures + r.put_failures, r.breaker_trips),
        (COOLDOWNS, COOLDOWNS),
        "one failure per cool-down: {r:?}"
    );
    assert!(r.bypassed >= rounds, "{r:?}");
    assert!(
        slowest < timeout + Duration::from_millis(500),
        "{slowest:?}"
    );
    assert_eq!(b.stats().errors, 0, "remote failures are not cache errors");

    server.restart();
    let again = a.key("after the restart");
    // A reconnection may take a probe or two; each failed probe costs a cool-down.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut back = false;
    while !back && Instant::now() < deadline {
        clock.advance(cooldown);
        back = a.put(&again, b"after") && a.remote().is_some_and(|t| !t.is_bypassed());
    }
    assert!(back, "A writes to the restarted server");
    // Redis lost its data with the restart; the new entry reaches B through it.
    while b.get(&again).is_none() {
        assert!(
            Instant::now() < deadline,
            "B reads from the restarted server"
        );
        clock.advance(cooldown);
    }
    assert_eq!(b.get(&again).as_deref(), Some(&b"after"[..]));
}

#[test]
fn a_read_only_remote_is_never_written() {
    let server = Server::start(Kind::Redis);
    let (da, db) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let reader = machine(
        &da,
        RemoteSettings::new(remote_config(&server, "ro")).access(RemoteAccess::ReadOnly),
    );
    let writer = machine(&db, RemoteSettings::new(remote_config(&server, "ro")));
    let k = reader.key("x");
    assert!(reader.put(&k, b"local only"));
    assert_eq!(
        writer.get(&k),
        None,
        "the read-only cache published nothing"
    );
    assert!(writer.put(&k, b"published"));
    let fresh = tempfile::tempdir().expect("dir");
    let reader2 = machine(
        &fresh,
        RemoteSettings::new(remote_config(&server, "ro")).access(RemoteAccess::ReadOnly),
    );
    assert_eq!(reader2.get(&k).as_deref(), Some(&b"published"[..]));
    assert_eq!(
        reader2.remote().expect("tier").tier_stats().remote_writes,
        0
    );
}

#[test]
fn write_back_publishes_in_the_background() {
    let server = Server::start(Kind::Redis);
    let (da, db) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let a = machine(
        &da,
        RemoteSettings::new(remote_config(&server, "wb")).policy(WritePolicy::Back { queue: 64 }),
    );
    let b = machine(&db, RemoteSettings::new(remote_config(&server, "wb")));
    let keys: Vec<_> = (0..20).map(|i| a.key(format!("wb {i}"))).collect();
    for (i, k) in keys.iter().enumerate() {
        assert!(a.put(k, format!("value {i}").as_bytes()));
    }
    a.remote().expect("tier").flush();
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(b.get(k), Some(format!("value {i}").into_bytes()));
    }
    let t = a.remote().expect("tier").tier_stats();
    assert_eq!((t.queued, t.dropped, t.remote_writes), (20, 0, 20));
}

#[test]
fn the_remote_table_parses_renders_and_refuses_clearly() {
    let text = "[cache]\nnamespace = \"x\"\n\n[cache.remote]\nurl = \"s3://bucket/ci\"\n\
                endpoint = \"http://127.0.0.1:9000\"\nregion = \"eu-west-1\"\ntimeout = \"500ms\"\n\
                connect-timeout = \"100ms\"\ncooldown = \"30s\"\nwrite-policy = \"write-back\"\nwrite-back-queue = \"64\"\n\
                read-only = true\n";
    let c = CacheConfig::from_toml_str(text, None).expect("valid");
    let r = c.remote.as_ref().expect("remote");
    assert_eq!(r.config.get_prefix(), "ci");
    assert_eq!(r.config.get_timeout(), Duration::from_millis(500));
    assert_eq!(r.config.get_connect_timeout(), Duration::from_millis(100));
    assert_eq!(r.policy, WritePolicy::Back { queue: 64 });
    assert_eq!(r.access, RemoteAccess::ReadOnly);
    let shown = c.remote_toml().expect("rendered");
    let again = CacheConfig::from_toml_str(
        &format!(
            "[cache]\n{}",
            shown.replace("[cache.remote]", "\n[cache.remote]")
        ),
        None,
    )
    .expect("the rendering parses");
    assert_eq!(again.remote, c.remote, "{shown}");

    for (table, needle, line) in [
        (
            "url = \"redis://:secret@h\"",
            "credentials do not belong",
            2,
        ),
        ("url = \"ftp://h\"", "unknown scheme", 2),
        (
            "url = \"redis://h\"\nendpoint = \"http://x\"",
            "s3:// remotes only",
            3,
        ),
        (
            "url = \"redis://h\"\ntimout = \"1s\"",
            "did you mean `timeout`",
            3,
        ),
        (
            "url = \"redis://h\"\ntimeout = \"soon\"",
            "remote.timeout",
            3,
        ),
        (
            "url = \"redis://h\"\nwrite-policy = \"write-thru\"",
            "write-through",
            3,
        ),
        ("prefix = \"x\"", "needs a `url`", 1),
    ] {
        let text = format!("[cache.remote]\n{table}\n");
        let e = CacheConfig::from_toml_str(&text, None).expect_err(table);
        assert_eq!(e.kind(), ErrorKind::Config, "{table}");
        assert!(e.message().contains(needle), "{table}: {e}");
        assert!(!e.message().contains("secret"), "{table}: {e}");
        assert!(
            e.message().contains(&format!("line {line}")),
            "{table}: {e}"
        );
    }
}

#[test]
fn from_config_opens_the_tier_and_get_or_compute_uses_it() {
    let server = Server::start(Kind::Redis);
    let dirs = [
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    ];
    let caches: Vec<Cache> = dirs
        .iter()
        .map(|d| {
            let text = format!(
                "[cache]\ndirectory = {:?}\n[cache.remote]\nurl = {:?}\nprefix = \"cfg\"\n",
                d.path().join("c"),
                server.url("")
            );
            let config = CacheConfig::from_toml_str(&text, None).expect("valid");
            Cache::from_config(&config).expect("opens")
        })
        .collect();
    let key = caches[0].key("compiled module");
    let mut computed = 0;
    let v1 = caches[0].get_or_compute(&key, || {
        computed += 1;
        b"machine code".to_vec()
    });
    let v2 = caches[1].get_or_compute(&key, || {
        computed += 1;
        b"machine code".to_vec()
    });
    assert_eq!(
        (v1.as_slice(), v2.as_slice(), computed),
        (&b"machine code"[..], &b"machine code"[..], 1)
    );
}

#[test]
fn the_eviction_worker_keeps_the_remote_counters_with_its_own() {
    let server = Server::start(Kind::Redis);
    let prefix = format!("worker-counters-{}", std::process::id());
    let (da, db) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let with_worker = |dir: &tempfile::TempDir| {
        CacheBuilder::new(dir.path().join("cache"))
            .namespace("remote-facade")
            .remote(RemoteSettings::new(remote_config(&server, &prefix)))
            .build()
            .expect("cache with a worker and a remote tier")
    };
    let a = with_worker(&da);
    let key = a.key("shared");
    assert!(a.put(&key, b"remote value"));
    drop(a);
    let b = with_worker(&db);
    assert!(b.worker().is_some());
    assert_eq!(b.get(&key).as_deref(), Some(&b"remote value"[..]));
    // An explicit sync goes through the worker's janitor: one state, one merge.
    assert!(b.remote().expect("tier").sync().expect("merged"));
    let shared = b
        .worker()
        .expect("worker")
        .janitor()
        .shared_stats()
        .expect("readable")
        .expect("merged");
    assert_eq!(shared.named.get("tier.remote_hits"), Some(&1), "{shared:?}");
    assert_eq!(shared.hits, 1, "the worker's own counters share the merge");
    drop(b);
    let store = FsStore::open(db.path().join("cache")).expect("B's directory");
    let lifetime = remote_lifetime_stats(&store)
        .expect("readable")
        .expect("written");
    assert_eq!(lifetime.counters.get("remote.hits"), Some(&1));
    assert_eq!(lifetime.counters.get("tier.backfills"), Some(&1));
}

/// A codec the default build lacks: a plugin id, bytes as they are.
#[derive(Debug)]
struct Plugin;

impl Codec for Plugin {
    fn id(&self) -> CodecId {
        CodecId::plugin(0x8123).expect("a plugin id")
    }

    fn level(&self) -> i32 {
        0
    }

    fn encode(&self, input: &[u8], out: &mut Vec<u8>) -> hoard::Result<()> {
        out.extend_from_slice(input);
        Ok(())
    }

    fn decode(&self, input: &[u8], _decoded_len: usize, out: &mut Vec<u8>) -> hoard::Result<()> {
        out.extend_from_slice(input);
        Ok(())
    }
}

/// A cache like [`machine`]'s, with a maximum entry size of `cap`.
fn capped_machine(dir: &tempfile::TempDir, server: &Server, prefix: &str, cap: u64) -> Cache {
    CacheBuilder::new(dir.path().join("cache"))
        .namespace("remote-facade")
        .without_worker()
        .max_entry_size(cap)
        .remote(RemoteSettings::new(remote_config(server, prefix)))
        .build()
        .expect("cache with a remote tier")
}

/// Asserts that nothing was copied into the local store of `cache` in `dir` for `key`.
#[track_caller]
fn assert_not_local(dir: &tempfile::TempDir, cache: &Cache, key: &hoard::Key) {
    let local = FsStore::open(dir.path().join("cache")).expect("the cache's directory");
    assert_eq!(
        local
            .get(cache.namespace(), key.digest(), u64::MAX)
            .expect("readable"),
        None,
        "nothing was copied locally"
    );
}

/// Issue 13, item 5: a frame in a codec this build lacks, in the remote, is a miss every
/// time, never copied into the local store (where it would be a local hit no get can use,
/// until a put replaced it), and stays in the remote for a build that can read it.
#[test]
fn a_remote_frame_in_a_codec_this_build_lacks_is_a_miss_and_is_not_backfilled() {
    let server = Server::start(Kind::Redis);
    let prefix = format!("undecodable-{}", std::process::id());
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let with_plugin = |dir: &tempfile::TempDir, codec: bool| {
        let b = CacheBuilder::new(dir.path().join("cache"))
            .namespace("remote-facade")
            .without_worker()
            .remote(RemoteSettings::new(remote_config(&server, &prefix)));
        let b = if codec {
            b.codec(Plugin)
        } else {
            b.decoder(Plugin)
        };
        b.build().expect("cache with a remote tier")
    };
    let writer = with_plugin(&dirs[0], true);
    let key = writer.key("plugin coded");
    assert!(writer.put(&key, b"only a build with the plugin reads this"));

    let reader = machine(
        &dirs[1],
        RemoteSettings::new(remote_config(&server, &prefix)),
    );
    for _ in 0..3 {
        assert_eq!(reader.get(&key), None);
    }
    let t = reader.remote().expect("tier").tier_stats();
    assert_eq!(
        (
            t.remote_undecodable,
            t.remote_hits,
            t.local_hits,
            t.backfills,
            t.remote_rejected
        ),
        (3, 0, 0, 0, 0),
        "{t:?}"
    );
    assert_eq!((reader.stats().misses, reader.stats().errors), (3, 0));
    assert_not_local(&dirs[1], &reader, &key);

    let other = with_plugin(&dirs[2], false);
    assert_eq!(
        other.get(&key).as_deref(),
        Some(&b"only a build with the plugin reads this"[..]),
        "the remote kept it for a build that can read it"
    );
}

/// Issue 13, item 4: a remote value over the reader's cap is a miss the tier reports as
/// `TooLarge` (skipped, not removed), and it is refused before it is fetched: Redis says
/// the length first when the cap is below its item limit.
#[test]
fn a_remote_value_over_the_cap_is_skipped_without_being_fetched() {
    let server = Server::start(Kind::Redis);
    let prefix = format!("over-cap-{}", std::process::id());
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let writer = machine(
        &dirs[0],
        RemoteSettings::new(remote_config(&server, &prefix)),
    );
    let key = writer.key("large");
    let value = hoard_testkit::noise(3 << 20, 7);
    assert!(writer.put(&key, &value));

    let capped = capped_machine(&dirs[1], &server, &prefix, 1 << 20);
    assert_eq!(capped.get(&key), None);
    let e = capped.try_get(&key).expect_err("over the cap");
    assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
    let tier = capped.remote().expect("tier");
    let r = tier.remote_stats();
    assert_eq!((r.too_large, r.hits, r.bytes_read), (2, 0, 0), "{r:?}");
    assert_eq!(
        (capped.stats().corrupt, capped.stats().errors),
        (0, 0),
        "a skip, not damage"
    );

    let reader = machine(
        &dirs[2],
        RemoteSettings::new(remote_config(&server, &prefix)),
    );
    assert_eq!(
        reader.get(&key).as_deref(),
        Some(&value[..]),
        "the remote value stays for readers with a larger cap"
    );
}

/// A remote frame small on the wire but declaring more decoded bytes than the reader's cap
/// (a compressible value from a cache with a larger cap) is a miss that is not copied into
/// the local store, where it would be a local hit the reader always skips.
#[test]
fn a_remote_frame_declaring_more_than_the_cap_is_not_backfilled() {
    let server = Server::start(Kind::Redis);
    let prefix = format!("declared-over-cap-{}", std::process::id());
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().expect("dir")).collect();
    let writer = machine(
        &dirs[0],
        RemoteSettings::new(remote_config(&server, &prefix)),
    );
    let key = writer.key("compressible");
    assert!(writer.put(&key, &vec![0u8; 4 << 20]), "4 MiB of zeros");

    let capped = capped_machine(&dirs[1], &server, &prefix, 1 << 20);
    for _ in 0..2 {
        assert_eq!(capped.get(&key), None);
    }
    let t = capped.remote().expect("tier").tier_stats();
    assert_eq!(
        (t.remote_undecodable, t.backfills, t.local_hits),
        (2, 0, 0),
        "{t:?}"
    );
    assert_not_local(&dirs[1], &capped, &key);
}

/// An authenticated reader takes from a shared Redis only what its key signed: frames of a
/// writer without the key or with another one are misses, counted, never backfilled, and
/// left in the remote; a signed frame is served and backfilled.
#[test]
fn an_authenticated_reader_never_backfills_an_unsigned_or_foreign_remote_frame() {
    use hoard::frame::MacKeys;
    let server = Server::start(Kind::Redis);
    let prefix = format!("auth-{}", std::process::id());
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().expect("dir")).collect();
    let settings = || RemoteSettings::new(remote_config(&server, &prefix));
    let with_key = |dir: &tempfile::TempDir, key: u8| {
        CacheBuilder::new(dir.path().join("cache"))
            .namespace("remote-facade")
            .without_worker()
            .auth_keys(MacKeys::new([[key; 32]]).expect("key"))
            .remote(settings())
            .build()
            .expect("keyed cache with a remote tier")
    };
    let plain = machine(&dirs[0], settings());
    let other = with_key(&dirs[1], 2);
    let signer = with_key(&dirs[2], 1);
    let reader = with_key(&dirs[3], 1);
    let (k_plain, k_other, k_signed) = (
        reader.key("no-mac"),
        reader.key("wrong-key"),
        reader.key("signed"),
    );
    assert!(plain.put(&k_plain, b"poison"));
    assert!(other.put(&k_other, b"poison"));
    assert!(signer.put(&k_signed, b"good"));
    for _ in 0..2 {
        assert_eq!(reader.get(&k_plain), None);
        assert_eq!(reader.get(&k_other), None);
    }
    assert_eq!(reader.get(&k_signed).as_deref(), Some(&b"good"[..]));
    let t = reader.remote().expect("tier").tier_stats();
    assert_eq!(
        (t.remote_unauthenticated, t.remote_hits, t.backfills),
        (4, 1, 1),
        "{t:?}"
    );
    assert_not_local(&dirs[3], &reader, &k_plain);
    assert_not_local(&dirs[3], &reader, &k_other);
    // Left in the remote: a key-less reader still gets them.
    let fresh_dir = tempfile::tempdir().expect("dir");
    let fresh = machine(&fresh_dir, settings());
    assert_eq!(fresh.get(&k_plain).as_deref(), Some(&b"poison"[..]));
}

/// `url` as a list: several servers of one backend, keys spread over them, each server's
/// counters apart and summed; the rendering reads back the same.
#[test]
fn a_url_list_spreads_the_entries_over_every_server() {
    let servers = [
        Server::start(Kind::Memcached),
        Server::start(Kind::Memcached),
    ];
    let dir = tempfile::tempdir().expect("dir");
    let text = format!(
        "[cache]\ndirectory = {:?}\n[cache.remote]\nurl = [\n  {:?},\n  {:?},\n]\nprefix = \"list\"\ntimeout = \"5s\"\n",
        dir.path().join("c"),
        servers[0].url(""),
        servers[1].url("")
    );
    let config = CacheConfig::from_toml_str(&text, None).expect("valid");
    let settings = config.remote.as_ref().expect("remote");
    assert_eq!(settings.servers().len(), 2);
    assert!(
        settings
            .servers()
            .iter()
            .all(|s| s.get_prefix() == "list" && s.get_timeout() == Duration::from_secs(5)),
        "the table's keys apply to every server"
    );
    let shown = config.remote_toml().expect("rendered");
    let again = CacheConfig::from_toml_str(
        &format!("[cache]\ndirectory = {:?}\n{shown}", dir.path().join("c")),
        None,
    )
    .expect("the rendering parses");
    assert_eq!(again.remote, config.remote, "{shown}");

    let cache = Cache::from_config(&config).expect("opens");
    for i in 0..40 {
        let key = cache.key(format!("sharded {i}"));
        assert!(cache.put(&key, format!("value {i}").as_bytes()));
    }
    let tier = cache.remote().expect("a remote tier");
    let per_server: Vec<u64> = tier.servers().iter().map(|s| s.stats().puts).collect();
    assert_eq!(per_server.iter().sum::<u64>(), 40, "{per_server:?}");
    assert!(per_server.iter().all(|&n| n > 0), "{per_server:?}");
    assert_eq!(tier.remote_stats().puts, 40);
    assert!(tier.ping().is_ok());
}

#[test]
fn a_url_list_names_the_entry_it_refuses() {
    for (list, needle, line) in [
        (
            "[\n  \"redis://a:1/0\",\n  \"memcached://b:2\",\n]",
            "`remote.url[1]` is a memcached server, but `remote.url[0]` is redis",
            4,
        ),
        (
            "[\n  \"redis://a:1/0\",\n  \"redis://b:2/0\",\n  \"redis://a:1/0\",\n]",
            "`remote.url[2]` names the server of `remote.url[0]` again",
            5,
        ),
        (
            "[\n  \"redis://a:1/0\",\n  \"ftp://b\",\n]",
            "`remote.url[1]`: invalid remote url",
            4,
        ),
        ("[\n  \"redis://a:1/0\",\n  7,\n]", "remote.url[1]", 4),
        ("[]", "empty list", 2),
        ("7", "a string", 2),
    ] {
        let text = format!("[cache.remote]\nurl = {list}\n");
        let e = CacheConfig::from_toml_str(&text, None).expect_err(list);
        assert_eq!(e.kind(), ErrorKind::Config, "{list}");
        assert!(e.message().contains(needle), "{list}: {e}");
        assert!(e.message().contains(&format!("line {line}")), "{list}: {e}");
    }
}
