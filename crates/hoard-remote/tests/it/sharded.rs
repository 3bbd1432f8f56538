//! `ShardedStore` over several real servers: where keys go, what removing a server moves, and
//! what a killed server costs (only its own keys, at most one refused connection per
//! cool-down, no timeout). Costs are shown by the counters, never by timing.

use std::time::Duration;

use hoard_core::{Digest, ErrorKind, Namespace, Store};
use hoard_remote::{RemoteConfig, ShardedStore};
use hoard_testkit::servers::{Kind, Server};

fn ns() -> Namespace {
    Namespace::new("remote-sharded").expect("test step")
}

/// The configurations of `servers` under one prefix of this test.
fn configs(servers: &[&Server], prefix: &str) -> Vec<RemoteConfig> {
    servers
        .iter()
        .map(|s| {
            RemoteConfig::parse(&s.url(prefix))
                .and_then(|c| c.prefix(prefix))
                .and_then(|c| c.timeout(Duration::from_secs(5)))
                .expect("test step")
        })
        .collect()
}

fn digest(i: u8) -> Digest {
    let mut b = [i; 32];
    b[1] = i.wrapping_mul(31);
    b[7] = i.wrapping_mul(97);
    Digest::from_bytes(b)
}

fn value(i: u8) -> Vec<u8> {
    hoard_testkit::noise(200 + usize::from(i), u64::from(i))
}

/// Every key lives on exactly the server `shard_of` names, each server gets some, and a store
/// without one of the servers places every other key where it was: only the removed server's
/// keys move (and miss).
#[test]
fn keys_go_to_one_server_each_and_removing_a_server_moves_only_its_keys() {
    let servers = [
        Server::start(Kind::Redis),
        Server::start(Kind::Redis),
        Server::start(Kind::Redis),
    ];
    let all: Vec<&Server> = servers.iter().collect();
    let three = ShardedStore::open(configs(&all, "spread")).expect("test step");
    let keys = 0..90u8;
    for i in keys.clone() {
        three.put(&ns(), &digest(i), &value(i)).expect("test step");
    }
    let mut per_shard = [0u32; 3];
    for i in keys.clone() {
        let home = three.shard_of(&digest(i));
        assert_eq!(
            home,
            three.shard_of(&digest(i)),
            "the same key, the same server"
        );
        per_shard[home] += 1;
        for (s, shard) in three.shards().iter().enumerate() {
            let held = shard.get(&ns(), &digest(i), 1 << 20).expect("test step");
            assert_eq!(
                held.is_some(),
                s == home,
                "key {i} on server {s} (home {home})"
            );
        }
        assert_eq!(
            three.get(&ns(), &digest(i), 1 << 20).expect("test step"),
            Some(value(i))
        );
    }
    assert!(per_shard.iter().all(|&n| n >= 10), "{per_shard:?}");
    let stats = three.stats();
    let by_shard = three.shard_stats();
    assert_eq!(stats.puts, 90);
    assert_eq!(by_shard.iter().map(|s| s.puts).sum::<u64>(), 90);
    assert_eq!(
        by_shard.iter().map(|s| s.puts).collect::<Vec<_>>(),
        per_shard.iter().map(|&n| u64::from(n)).collect::<Vec<_>>()
    );

    // Without the third server: its keys move (to servers that do not have them), the others
    // stay where they are and still hit.
    let two = ShardedStore::open(configs(&all[..2], "spread")).expect("test step");
    for i in keys {
        let (before, after) = (three.shard_of(&digest(i)), two.shard_of(&digest(i)));
        let got = two.get(&ns(), &digest(i), 1 << 20).expect("test step");
        if before == 2 {
            assert!(after < 2);
            assert_eq!(got, None, "key {i} moved off the removed server");
        } else {
            assert_eq!(after, before, "key {i} stays on server {before}");
            assert_eq!(got, Some(value(i)));
        }
    }
}

/// A killed server (memcached here, the client hoard wrote for it): its keys fail and then
/// are bypassed for the cool-down (one refused connection, no timeout), the other servers'
/// keys hit as before.
#[test]
fn a_killed_server_costs_only_its_own_keys_and_no_timeout() {
    let mut servers = [
        Server::start(Kind::Memcached),
        Server::start(Kind::Memcached),
        Server::start(Kind::Memcached),
    ];
    let all: Vec<&Server> = servers.iter().collect();
    let store = ShardedStore::open(
        configs(&all, "killed")
            .into_iter()
            .map(|c| c.cooldown(Duration::from_secs(3600)))
            .collect(),
    )
    .expect("test step");
    let keys = 0..60u8;
    for i in keys.clone() {
        store.put(&ns(), &digest(i), &value(i)).expect("test step");
    }
    let dead = 1;
    servers[dead].kill();
    let before = store.shard_stats();
    let mut on_dead = 0;
    for _ in 0..3 {
        for i in keys.clone() {
            let got = store.get(&ns(), &digest(i), 1 << 20);
            if store.shard_of(&digest(i)) == dead {
                assert!(got.is_err(), "key {i} is on the killed server");
                on_dead += 1;
            } else {
                assert_eq!(got.expect("a live server"), Some(value(i)));
            }
        }
    }
    assert!(on_dead > 0);
    let after = store.shard_stats();
    let killed = &after[dead];
    // One failure (the pooled connection closed by the kill, or a refused connection),
    // every other get bypassed; no timeout anywhere.
    assert_eq!(
        (
            killed.get_failures - before[dead].get_failures,
            killed.bypassed,
            killed.timeouts
        ),
        (1, on_dead - 1, 0),
        "{killed:?}"
    );
    assert!(killed.connect_failures <= 1, "{killed:?}");
    assert!(store.shards()[dead].is_bypassed());
    assert!(!store.is_bypassed(), "the others are not bypassed");
    for (s, stats) in after.iter().enumerate().filter(|&(s, _)| s != dead) {
        assert_eq!(
            (
                stats.get_failures,
                stats.connect_failures,
                stats.bypassed,
                stats.timeouts
            ),
            (0, 0, 0, 0),
            "server {s}: {stats:?}"
        );
        assert!(stats.hits > 0, "server {s}: {stats:?}");
    }
    assert!(store.ping().is_err(), "one server is down");
}

#[test]
fn servers_of_different_backends_are_refused() {
    let configs = vec![
        RemoteConfig::parse("redis://127.0.0.1:1/0").expect("test step"),
        RemoteConfig::parse("memcached://127.0.0.1:2").expect("test step"),
    ];
    let e = ShardedStore::open(configs).expect_err("mixed backends");
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.message().contains("memcached://127.0.0.1:2"), "{e}");
}
