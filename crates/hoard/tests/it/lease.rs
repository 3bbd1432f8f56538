//! The remote lease through the facade (feature `remote`), on a real Redis (and S3): two caches
//! with their own directories ("machines", which share no local lock) miss one key at the
//! same time and compute it once; a crashed holder's lease expires and the waiter computes;
//! a dead remote fails the lease at once and the key is computed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hoard::remote::RemoteStore;
use hoard::{Cache, CacheBuilder, CacheConfig, DEFAULT_LEASE_TTL, Namespace, RemoteSettings};
use hoard_testkit::servers::{Kind, Server, redis_command};

use crate::remote::remote_config;

const NS: &str = "lease";

fn machine(dir: &tempfile::TempDir, server: &Server, prefix: &str, wait: Duration) -> Cache {
    CacheBuilder::new(dir.path().join("cache"))
        .namespace(NS)
        .without_worker()
        .single_flight_wait(wait)
        .remote(RemoteSettings::new(remote_config(server, prefix)).lease(Some(DEFAULT_LEASE_TTL)))
        .build()
        .expect("cache with a leasing remote tier")
}

/// Spins until `done` holds; a bug that never lets it hold fails the test instead of
/// hanging it (the bound is no timing assertion: it only ends a hung test).
fn until(mut done: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < give_up, "the awaited state never came");
        std::thread::yield_now();
    }
}

#[test]
fn two_machines_missing_one_key_compute_it_once_through_redis() {
    compute_once(Kind::Redis);
}

#[test]
fn two_machines_missing_one_key_compute_it_once_through_s3() {
    compute_once(Kind::S3);
}

fn compute_once(kind: Kind) {
    let server = Server::start(kind);
    let prefix = format!("lease-once-{}", std::process::id());
    let dirs = [
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    ];
    let machines: Vec<Cache> = dirs
        .iter()
        .map(|d| machine(d, &server, &prefix, Duration::from_secs(60)))
        .collect();
    let key = machines[0].key("slow artifact");
    let computes = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..2)
        .map(|i| {
            let (cache, other) = (machines[i].clone(), machines[1 - i].clone());
            let computes = Arc::clone(&computes);
            std::thread::spawn(move || {
                cache.get_or_compute(&key, || {
                    computes.fetch_add(1, Ordering::SeqCst);
                    // The computation lasts until the other machine found the key leased.
                    until(|| other.stats().lease_losses == 1);
                    b"the artifact".to_vec()
                })
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().expect("no panic"), b"the artifact");
    }
    assert_eq!(computes.load(Ordering::SeqCst), 1);
    let [a, b] = [machines[0].stats(), machines[1].stats()];
    let sum = |f: fn(&hoard::Stats) -> u64| f(&a) + f(&b);
    assert_eq!(
        (
            sum(|s| s.lease_wins),
            sum(|s| s.lease_losses),
            sum(|s| s.lease_wait_hits),
            sum(|s| s.lease_gave_up),
            sum(|s| s.lease_failures),
            sum(|s| s.inserts),
        ),
        (1, 1, 1, 0, 0, 1),
        "{a:?} {b:?}"
    );
    // The remote's own counters agree: one request won; the loser's requests all lost (it
    // asks again while it waits, so at least one), and the lease is gone.
    let remote = |c: &Cache| c.remote().expect("tier").remote_stats();
    let (ra, rb) = (remote(&machines[0]), remote(&machines[1]));
    assert_eq!(ra.lease_wins + rb.lease_wins, 1, "{ra:?} {rb:?}");
    assert!(ra.lease_losses + rb.lease_losses >= 1, "{ra:?} {rb:?}");
    let lease_key = RemoteStore::open(remote_config(&server, &prefix))
        .expect("store")
        .lease_key(&Namespace::new(NS).expect("ns"), key.digest());
    if kind == Kind::Redis {
        let exists = redis_command(server.port(), &[b"EXISTS", lease_key.as_bytes()]);
        assert_eq!(exists, b":0\r\n", "released");
    }
}

#[test]
fn a_crashed_holders_lease_expires_and_the_waiter_computes() {
    let server = Server::start(Kind::Redis);
    let prefix = format!("lease-crash-{}", std::process::id());
    let dir = tempfile::tempdir().expect("dir");
    let cache = machine(&dir, &server, &prefix, Duration::from_secs(60));
    let key = cache.key("abandoned");
    // A holder that took the lease for 1.5 s and died: nobody releases it. (Long enough
    // that the cache finds it still held, short enough for a quick test.)
    let lease_key = RemoteStore::open(remote_config(&server, &prefix))
        .expect("store")
        .lease_key(&Namespace::new(NS).expect("ns"), key.digest());
    let set = redis_command(
        server.port(),
        &[b"SET", lease_key.as_bytes(), b"crashed", b"PX", b"1500"],
    );
    assert_eq!(set, b"+OK\r\n");
    let got = cache.get_or_compute(&key, || b"computed after the expiry".to_vec());
    assert_eq!(got, b"computed after the expiry");
    let s = cache.stats();
    assert_eq!(
        (
            s.lease_losses,
            s.lease_wins,
            s.lease_gave_up,
            s.lease_wait_hits,
            s.inserts
        ),
        (1, 1, 0, 0, 1),
        "{s:?}"
    );
    // Stored for the fleet: another machine reads it without computing.
    let other_dir = tempfile::tempdir().expect("dir");
    let other = machine(&other_dir, &server, &prefix, Duration::from_secs(60));
    let again = other.get_or_compute(&key, || unreachable!("stored remotely"));
    assert_eq!(again, b"computed after the expiry");
}

#[test]
fn a_wait_for_a_lease_is_bounded() {
    let server = Server::start(Kind::Redis);
    let prefix = format!("lease-bound-{}", std::process::id());
    let dir = tempfile::tempdir().expect("dir");
    let cache = machine(&dir, &server, &prefix, Duration::from_millis(50));
    let key = cache.key("held for long");
    let lease_key = RemoteStore::open(remote_config(&server, &prefix))
        .expect("store")
        .lease_key(&Namespace::new(NS).expect("ns"), key.digest());
    redis_command(
        server.port(),
        &[b"SET", lease_key.as_bytes(), b"slow", b"PX", b"600000"],
    );
    let got = cache.get_or_compute(&key, || b"computed anyway".to_vec());
    assert_eq!(got, b"computed anyway");
    let s = cache.stats();
    assert_eq!(
        (s.lease_losses, s.lease_gave_up, s.lease_wins),
        (1, 1, 0),
        "{s:?}"
    );
}

#[test]
fn a_dead_remote_fails_the_lease_at_once_and_the_key_is_computed() {
    let mut server = Server::start(Kind::Redis);
    let prefix = format!("lease-dead-{}", std::process::id());
    let dir = tempfile::tempdir().expect("dir");
    let cache = machine(&dir, &server, &prefix, Duration::from_secs(60));
    server.kill();
    let got = cache.get_or_compute(&cache.key("k"), || b"computed".to_vec());
    assert_eq!(got, b"computed");
    let s = cache.stats();
    assert_eq!(
        (s.lease_failures, s.lease_wins, s.lease_losses),
        (1, 0, 0),
        "{s:?}"
    );
    // The get's refused connection opened the breaker: the lease was not even sent.
    let r = cache.remote().expect("tier").remote_stats();
    assert_eq!(
        (r.connect_failures, r.timeouts, r.lease_failures),
        (1, 0, 0),
        "{r:?}"
    );
    assert!(r.bypassed >= 1, "{r:?}");
}

#[test]
fn the_remote_table_turns_the_lease_on_and_sets_its_ttl() {
    let url = "[cache.remote]\nurl = \"redis://127.0.0.1:6379/0\"\n";
    let off = CacheConfig::from_toml_str(url, None).expect("valid");
    assert_eq!(off.remote.as_ref().expect("remote").lease, None);
    assert!(off.remote_toml().expect("toml").contains("lease = false\n"));
    let on = CacheConfig::from_toml_str(&format!("{url}lease = true\n"), None).expect("valid");
    assert_eq!(
        on.remote.as_ref().expect("remote").lease,
        Some(DEFAULT_LEASE_TTL)
    );
    let text = format!("{url}lease = true\nlease-ttl = \"45s\"\n");
    let set = CacheConfig::from_toml_str(&text, None).expect("valid");
    assert_eq!(
        set.remote.as_ref().expect("remote").lease,
        Some(Duration::from_secs(45))
    );
    let rendered = set.remote_toml().expect("toml");
    assert!(
        rendered.contains("lease = true\nlease-ttl = \"45s\"\n"),
        "{rendered}"
    );
    let back = CacheConfig::from_toml_str(&format!("[cache]\n{rendered}"), None).expect("valid");
    assert_eq!(back.remote, set.remote);
    let err =
        CacheConfig::from_toml_str(&format!("{url}lease-ttl = \"0s\"\n"), None).expect_err("zero");
    assert!(err.to_string().contains("lease-ttl"), "{err}");
    let memcached = "[cache.remote]\nurl = \"memcached://127.0.0.1:11211\"\nlease = true\n";
    let err = CacheConfig::from_toml_str(memcached, None).expect_err("no lease on memcached");
    assert!(
        err.to_string()
            .contains("remote.lease needs a redis or s3 remote"),
        "{err}"
    );
}
