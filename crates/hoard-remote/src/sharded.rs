//! [`ShardedStore`]: one remote spread over several servers of one backend, each key on one
//! server chosen by rendezvous hashing of its digest.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use hoard_core::{
    Digest, EntryInfo, Error, ErrorKind, Housekeeping, Lease, Namespace, Result, Store, StoredFrame,
};

use crate::clock::Clock;
use crate::config::RemoteConfig;
use crate::remote::RemoteStore;
use crate::shared::Fnv;
use crate::stats::RemoteStats;

/// A [`Store`] over several servers of one backend (several Redis or memcached servers, or
/// S3 buckets), as ccache shards its remote storage: each entry lives on exactly one of
/// them, chosen by **rendezvous (highest random weight) hashing** of its digest.
///
/// - **Placement.** Each server has a weight seed, FNV-1a 64 of its URL and endpoint; an
///   entry goes to the server whose seed mixed with the entry's digest scores highest. The
///   choice depends on the set of servers only (not their order), the same key always goes
///   to the same server, and adding a server moves only the keys it now wins (about `1/n`
///   of them); removing one moves only its own keys. The namespace plays no part: the
///   digest alone is the entry's name on every backend.
/// - **Failures stay per server.** Every server is a [`RemoteStore`] with its own timeout,
///   connection check and circuit breaker (and, with
///   [`with_shared_breaker`](Self::with_shared_breaker), its own shared state in the cache
///   directory, named after its URL). A dead server costs what a dead single remote costs
///   (at most the connect timeout, then one probe per cool-down), and only its own keys
///   miss; the others are not slowed.
/// - **Counters.** [`stats`](Self::stats) sums the servers' [`RemoteStats`];
///   [`shard_stats`](Self::shard_stats) gives each server's, in the order given.
/// - **Listing** lists every server in turn (S3); Redis and memcached cannot list.
///
/// A single server is a `ShardedStore` of one: it forwards every operation to that server
/// without hashing.
///
/// ```no_run
/// use hoard_core::{Digest, Namespace, Store};
/// use hoard_remote::{RemoteConfig, ShardedStore};
///
/// let servers = ["redis://10.0.0.1:6379/0", "redis://10.0.0.2:6379/0"]
///     .iter()
///     .map(|url| RemoteConfig::parse(url))
///     .collect::<Result<Vec<_>, _>>()?;
/// let remote = ShardedStore::open(servers)?;
/// let digest = Digest::from_bytes([7; 32]);
/// println!("on {}", remote.shards()[remote.shard_of(&digest)].config().url());
/// let _ = remote.get(&Namespace::new("example-1.0")?, &digest, 1 << 20)?;
/// # Ok::<(), hoard_core::Error>(())
/// ```
#[derive(Debug)]
pub struct ShardedStore {
    shards: Vec<RemoteStore>,
    /// Each server's weight seed (see [`seed`]), in the order of `shards`.
    seeds: Vec<u64>,
}

impl ShardedStore {
    /// Opens a [`RemoteStore`] for each configuration (nothing is connected yet) and spreads
    /// the keys over them. Refused ([`ErrorKind::Config`]) without a server, for servers of
    /// different backends, or for a server listed twice; the message names the URLs.
    pub fn open(configs: Vec<RemoteConfig>) -> Result<Self> {
        check_servers(&configs)?;
        let shards = configs
            .into_iter()
            .map(RemoteStore::open)
            .collect::<Result<Vec<_>>>()?;
        Ok(Self::from_checked(shards))
    }

    /// Spreads the keys over stores opened already (with their own clocks or shared
    /// breakers), under the same rules as [`open`](Self::open).
    pub fn from_stores(stores: Vec<RemoteStore>) -> Result<Self> {
        let configs: Vec<RemoteConfig> = stores.iter().map(|s| s.config().clone()).collect();
        check_servers(&configs)?;
        Ok(Self::from_checked(stores))
    }

    fn from_checked(shards: Vec<RemoteStore>) -> Self {
        let seeds = shards.iter().map(|s| seed(s.config())).collect();
        Self { shards, seeds }
    }

    /// Every server's circuit breaker reads `clock` (see [`RemoteStore::with_clock`]).
    #[must_use]
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        self.map_shards(|s| s.with_clock(Arc::clone(&clock)))
    }

    /// Every server's breaker state is shared through `keeper` (see
    /// [`RemoteStore::with_shared_breaker`]); each server has its own state, named after
    /// its URL.
    #[must_use]
    pub fn with_shared_breaker(self, keeper: Arc<dyn Housekeeping>) -> Self {
        self.map_shards(|s| s.with_shared_breaker(Arc::clone(&keeper)))
    }

    fn map_shards(self, f: impl FnMut(RemoteStore) -> RemoteStore) -> Self {
        Self {
            shards: self.shards.into_iter().map(f).collect(),
            seeds: self.seeds,
        }
    }

    /// The servers, in the order given.
    pub fn shards(&self) -> &[RemoteStore] {
        &self.shards
    }

    /// The index in [`shards`](Self::shards) of the server that holds `digest`'s entries.
    pub fn shard_of(&self, digest: &Digest) -> usize {
        if self.seeds.len() < 2 {
            return 0;
        }
        let mut best = (0, 0u64);
        for (i, &seed) in self.seeds.iter().enumerate() {
            let score = weight(seed, digest);
            // Ties (one in 2^64) go to the lower seed, so that the order of the list never
            // matters.
            if i == 0 || score > best.1 || (score == best.1 && seed < self.seeds[best.0]) {
                best = (i, score);
            }
        }
        best.0
    }

    fn shard(&self, digest: &Digest) -> &RemoteStore {
        &self.shards[self.shard_of(digest)]
    }

    /// The first server's configuration (the servers differ only in their URLs when they
    /// come from one `[cache.remote]` table).
    pub fn config(&self) -> &RemoteConfig {
        self.shards[0].config()
    }

    /// Every server's counters, summed.
    pub fn stats(&self) -> RemoteStats {
        self.shards
            .iter()
            .map(RemoteStore::stats)
            .fold(RemoteStats::default(), |sum, s| sum + s)
    }

    /// Each server's counters, in the order of [`shards`](Self::shards).
    pub fn shard_stats(&self) -> Vec<RemoteStats> {
        self.shards.iter().map(RemoteStore::stats).collect()
    }

    /// Whether every server's circuit breaker currently bypasses it (with one server down of
    /// several, only its keys are bypassed: see each [`RemoteStore::is_bypassed`]).
    pub fn is_bypassed(&self) -> bool {
        self.shards.iter().all(RemoteStore::is_bypassed)
    }

    /// Pings every server ([`RemoteStore::ping`]) and returns the slowest answer, or the
    /// first server's failure (after every server was tried).
    pub fn ping(&self) -> Result<Duration> {
        let mut slowest = Duration::ZERO;
        let mut failed = None;
        for shard in &self.shards {
            match shard.ping() {
                Ok(took) => slowest = slowest.max(took),
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        failed.map_or(Ok(slowest), Err)
    }
}

/// The servers of one sharded remote: at least one, one backend, none twice.
fn check_servers(configs: &[RemoteConfig]) -> Result<()> {
    let Some(first) = configs.first() else {
        return Err(Error::new(
            ErrorKind::Config,
            "a sharded remote needs at least one server url",
        ));
    };
    for (i, c) in configs.iter().enumerate() {
        if c.backend() != first.backend() {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "remote servers must all be of one backend: {} is {}, but {} is {}",
                    first.url(),
                    first.backend(),
                    c.url(),
                    c.backend()
                ),
            ));
        }
        if configs[..i].iter().any(|o| seed(o) == seed(c)) {
            return Err(Error::new(
                ErrorKind::Config,
                format!("remote server {} is listed twice", c.url()),
            ));
        }
    }
    Ok(())
}

/// A server's weight seed: FNV-1a 64 of its URL and S3 endpoint.
fn seed(config: &RemoteConfig) -> u64 {
    let mut h = Fnv::new();
    h.write(config.url().as_bytes());
    h.write(&[0]);
    h.write(config.get_endpoint().unwrap_or("").as_bytes());
    h.finish()
}

/// The server's score for `digest`: each 8-byte word of the digest mixed into the seed by
/// SplitMix64's finalizer, so that every bit of both moves the score.
fn weight(seed: u64, digest: &Digest) -> u64 {
    let mut h = mix(seed);
    for word in digest.as_bytes().chunks(8) {
        let mut w = [0u8; 8];
        w[..word.len()].copy_from_slice(word);
        h = mix(h ^ u64::from_le_bytes(w));
    }
    h
}

/// SplitMix64's finalizer: a bijection of `u64` whose output bits each depend on every
/// input bit.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[deny(clippy::missing_trait_methods)]
impl Store for ShardedStore {
    fn get(&self, ns: &Namespace, digest: &Digest, limit: u64) -> Result<Option<Vec<u8>>> {
        self.shard(digest).get(ns, digest, limit)
    }

    fn get_frame(
        &self,
        ns: &Namespace,
        digest: &Digest,
        limit: u64,
    ) -> Result<Option<StoredFrame>> {
        self.shard(digest).get_frame(ns, digest, limit)
    }

    fn put(&self, ns: &Namespace, digest: &Digest, frame: &[u8]) -> Result<()> {
        self.shard(digest).put(ns, digest, frame)
    }

    fn remove(&self, ns: &Namespace, digest: &Digest) -> Result<bool> {
        self.shard(digest).remove(ns, digest)
    }

    fn lease(&self, ns: &Namespace, digest: &Digest, ttl: Duration) -> Result<Option<Lease>> {
        self.shard(digest).lease(ns, digest, ttl)
    }

    fn list(&self, visit: &mut dyn FnMut(EntryInfo) -> ControlFlow<()>) -> Result<()> {
        let mut stopped = false;
        for shard in &self.shards {
            shard.list(&mut |entry| {
                let flow = visit(entry);
                stopped = flow.is_break();
                flow
            })?;
            if stopped {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers(n: u16) -> Vec<RemoteConfig> {
        (0..n)
            .map(|i| RemoteConfig::parse(&format!("redis://127.0.0.1:{}/0", 7000 + i)))
            .collect::<Result<_>>()
            .expect("valid urls")
    }

    /// The URL of the server `store` puts `digest` on.
    fn placement(store: &ShardedStore, digest: &Digest) -> String {
        store.shards()[store.shard_of(digest)]
            .config()
            .url()
            .to_owned()
    }

    /// Digests as uniform as real ones: SplitMix64 of a counter in every word.
    fn digests(n: u64) -> Vec<Digest> {
        (0..n)
            .map(|i| {
                let mut b = [0u8; 32];
                for (k, word) in b.chunks_mut(8).enumerate() {
                    word.copy_from_slice(&mix(i * 4 + k as u64).to_le_bytes());
                }
                Digest::from_bytes(b)
            })
            .collect()
    }

    #[test]
    fn keys_spread_evenly_and_adding_a_server_moves_only_its_share() {
        let three = ShardedStore::open(servers(3)).expect("opening");
        let four = ShardedStore::open(servers(4)).expect("opening");
        let new_server = four.shards()[3].config().url().to_owned();
        let mut per_server = std::collections::BTreeMap::new();
        let mut moved = 0;
        for d in &digests(6000) {
            let (before, after) = (placement(&three, d), placement(&four, d));
            assert_eq!(
                before,
                placement(&three, d),
                "the same key, the same server"
            );
            *per_server.entry(before.clone()).or_insert(0) += 1;
            if before != after {
                assert_eq!(after, new_server, "a key only moves to the new server");
                moved += 1;
            }
        }
        assert_eq!(per_server.len(), 3);
        for (url, n) in &per_server {
            assert!((1700..2300).contains(n), "{url}: {n} of 6000");
        }
        assert!((1200..1800).contains(&moved), "{moved} of 6000 moved");
    }

    #[test]
    fn the_order_of_the_servers_does_not_matter() {
        let mut configs = servers(3);
        let forward = ShardedStore::open(configs.clone()).expect("opening");
        configs.reverse();
        let reversed = ShardedStore::open(configs).expect("opening");
        for d in &digests(500) {
            assert_eq!(placement(&forward, d), placement(&reversed, d));
        }
    }

    #[test]
    fn mixed_backends_and_duplicates_are_refused_by_url() {
        let mut configs = servers(2);
        configs.push(RemoteConfig::parse("memcached://127.0.0.1:11211").expect("a valid url"));
        let e = check_servers(&configs).expect_err("mixed backends");
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(
            e.message().contains("memcached://127.0.0.1:11211") && e.message().contains("redis"),
            "{e}"
        );
        let mut configs = servers(2);
        configs.push(configs[0].clone());
        let e = check_servers(&configs).expect_err("a duplicate");
        assert!(e.message().contains("listed twice"), "{e}");
        assert!(check_servers(&[]).is_err());
    }
}
