//! The remote lease (`Store::lease`) against real servers: one holder at a time on Redis and
//! S3, released on drop, expiring, never releasing a later holder's; memcached offers none;
//! the tier forwards it only when it writes to the remote.

use std::sync::Arc;
use std::time::Duration;

use hoard_core::{Digest, ErrorKind, Namespace, Store, StoreExt};
use hoard_fs::FsStore;
use hoard_remote::{RemoteAccess, RemoteStore, TieredStore, WritePolicy};
use hoard_testkit::servers::{Kind, Server, redis_bulk, redis_command};

use crate::backends::{config, raw_write};

fn ns() -> Namespace {
    Namespace::new("lease-test").expect("test step")
}

const TTL: Duration = Duration::from_secs(60);

#[test]
fn one_holder_at_a_time_released_on_drop() {
    let server = Server::start(Kind::Redis);
    let c = config(&server);
    let (a, b) = (
        RemoteStore::open(c.clone()).expect("store"),
        RemoteStore::open(c).expect("store"),
    );
    let d = Digest::from_bytes([1; 32]);
    let held = a
        .lease(&ns(), &d, TTL)
        .expect("answer")
        .expect("free: taken");
    assert!(
        b.lease(&ns(), &d, TTL).expect("answer").is_none(),
        "held by a"
    );
    assert!(
        a.lease(&ns(), &d, TTL).expect("answer").is_none(),
        "not re-entrant"
    );
    // Another key is free.
    let other = b
        .lease(&ns(), &Digest::from_bytes([2; 32]), TTL)
        .expect("answer");
    assert!(other.is_some());
    // The lease names no entry.
    assert_eq!(a.get(&ns(), &d, 1 << 20).expect("answer"), None);
    drop(held);
    let again = b.lease(&ns(), &d, TTL).expect("answer");
    assert!(again.is_some(), "released on drop");
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(
        (sa.lease_wins, sa.lease_losses, sa.lease_failures),
        (1, 1, 0)
    );
    assert_eq!(
        (sb.lease_wins, sb.lease_losses, sb.lease_failures),
        (2, 1, 0)
    );
}

#[test]
fn an_expired_holder_never_releases_the_next_one() {
    let server = Server::start(Kind::Redis);
    let store = RemoteStore::open(config(&server)).expect("store");
    let d = Digest::from_bytes([3; 32]);
    let key = store.lease_key(&ns(), &d);
    assert!(
        key.ends_with(".lease") && key.contains("lease-test"),
        "{key}"
    );
    let first = store
        .lease(&ns(), &d, Duration::from_secs(60))
        .expect("answer")
        .expect("taken");
    // The first holder's lease expires (as after a crash): another holder takes the key.
    redis_command(server.port(), &[b"DEL", key.as_bytes()]);
    redis_command(
        server.port(),
        &[b"SET", key.as_bytes(), b"someone-else", b"PX", b"60000"],
    );
    drop(first);
    let still = redis_bulk(&redis_command(server.port(), &[b"GET", key.as_bytes()]));
    assert_eq!(still.as_deref(), Some(&b"someone-else"[..]), "not released");
    // And a lease expires by itself.
    redis_command(server.port(), &[b"DEL", key.as_bytes()]);
    let short = store
        .lease(&ns(), &d, Duration::from_secs(10))
        .expect("answer")
        .expect("taken");
    let ttl = redis_command(server.port(), &[b"PTTL", key.as_bytes()]);
    let ms: i64 = std::str::from_utf8(&ttl[1..ttl.len() - 2])
        .expect("integer reply")
        .parse()
        .expect("integer reply");
    assert!((1..=10_000).contains(&ms), "PTTL {ms}");
    drop(short);
}

#[test]
fn memcached_offers_no_lease() {
    let server = Server::start(Kind::Memcached);
    let store = RemoteStore::open(config(&server)).expect("store");
    let err = store
        .lease(&ns(), &Digest::from_bytes([4; 32]), TTL)
        .expect_err("no lease");
    assert_eq!(err.kind(), ErrorKind::NotSupportedByStore, "{err}");
}

/// Writes `body` at `path` on the store's S3 bucket, behind the lease's back.
fn plant(store: &RemoteStore, path: &str, body: &str) {
    raw_write(store, path, body.as_bytes());
}

#[test]
fn s3_one_holder_at_a_time_expiry_and_a_release_that_spares_the_next_holder() {
    let server = Server::start(Kind::S3);
    let c = config(&server);
    let (a, b) = (
        RemoteStore::open(c.clone()).expect("store"),
        RemoteStore::open(c).expect("store"),
    );
    let d = Digest::from_bytes([7; 32]);
    let held = a
        .lease(&ns(), &d, TTL)
        .expect("answer")
        .expect("free: taken");
    assert!(
        b.lease(&ns(), &d, TTL).expect("answer").is_none(),
        "held by a"
    );
    assert_eq!(a.get(&ns(), &d, 1 << 20).expect("answer"), None, "no entry");
    drop(held);
    let again = b
        .lease(&ns(), &d, TTL)
        .expect("answer")
        .expect("released on drop");
    drop(again);
    // An expired lease (its deadline in the past) is taken over; so is a damaged object.
    let key = a.lease_key(&ns(), &d);
    assert!(key.ends_with(".lease"), "{key}");
    plant(&a, &key, "hoard-lease crashed 1");
    let over = b
        .lease(&ns(), &d, TTL)
        .expect("answer")
        .expect("expired: taken");
    // Its first holder, meanwhile replaced, never deletes the replacement.
    plant(&a, &key, "hoard-lease someone-else 99999999999999");
    drop(over);
    assert!(
        a.lease(&ns(), &d, TTL).expect("answer").is_none(),
        "still held"
    );
    plant(&a, &key, "not a lease");
    assert!(
        a.lease(&ns(), &d, TTL).expect("answer").is_some(),
        "damaged: taken"
    );
    // Leases are not entries: the listing shows none.
    assert!(a.entries().expect("listing").is_empty());
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(sa.lease_wins + sb.lease_wins, 4, "{sa:?} {sb:?}");
    assert_eq!(sa.lease_losses + sb.lease_losses, 2, "{sa:?} {sb:?}");
}

#[test]
fn a_dead_redis_fails_the_lease_at_once() {
    let mut server = Server::start(Kind::Redis);
    let store = RemoteStore::open(config(&server)).expect("store");
    server.kill();
    let err = store
        .lease(&ns(), &Digest::from_bytes([5; 32]), TTL)
        .expect_err("no server");
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    let s = store.stats();
    assert_eq!(
        (s.lease_failures, s.connect_failures, s.timeouts),
        (1, 1, 0)
    );
    // The breaker is open now: the next lease is not even sent.
    store
        .lease(&ns(), &Digest::from_bytes([5; 32]), TTL)
        .expect_err("bypassed");
    assert_eq!(store.stats().bypassed, 1);
}

#[test]
fn the_tier_forwards_the_lease_only_when_it_writes_to_the_remote() {
    let server = Server::start(Kind::Redis);
    let d = Digest::from_bytes([6; 32]);
    let tier = |dir: &tempfile::TempDir, policy, access| {
        let local = Arc::new(FsStore::open(dir.path().join("c")).expect("local"));
        let remote = Arc::new(RemoteStore::open(config(&server)).expect("remote"));
        TieredStore::new(local, remote, policy, access).expect("tier")
    };
    let dir = tempfile::tempdir().expect("dir");
    for (policy, access) in [
        (WritePolicy::Through, RemoteAccess::ReadOnly),
        (WritePolicy::LocalOnly, RemoteAccess::ReadWrite),
    ] {
        let err = tier(&dir, policy, access)
            .lease(&ns(), &d, TTL)
            .expect_err("no lease");
        assert_eq!(err.kind(), ErrorKind::NotSupportedByStore, "{err}");
    }
    for policy in [WritePolicy::Through, WritePolicy::Back { queue: 4 }] {
        let t = tier(&dir, policy, RemoteAccess::ReadWrite);
        let held = t.lease(&ns(), &d, TTL).expect("answer").expect("taken");
        // The same remote key space (each tier has a fresh prefix, so use its remote).
        assert!(t.remote().lease(&ns(), &d, TTL).expect("answer").is_none());
        drop(held);
        assert!(
            t.lease(&ns(), &d, TTL).expect("answer").is_some(),
            "{policy:?}"
        );
    }
}
