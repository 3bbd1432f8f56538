//! Cache poisoning against an authenticated cache (issue 15, item 4): writers without the
//! key, with another key, and a forger who can compute checksums (it edits signed frames
//! and fixes their XXH3) plant entries, through the local directory and through a real
//! Redis; readers holding the key must serve none of them, and count every one.
//!
//! Each row also reads the planted keys with a key-less reader, the contrast: it serves the
//! poisoned values, so the attack is real and only the MAC stops it.

use hoard::frame::{Frame, MacKeys};
use hoard::remote::RemoteConfig;
use hoard::{Cache, CacheBuilder, Key, RemoteSettings, Store};
use hoard_testkit::servers::{self, Kind, Server};

use super::arena;
use super::remote::with_redis;
use crate::row::{Row, RowResult, Tier};

/// The readers' key: the one the legitimate writers sign with.
const GOOD: [u8; 32] = [0x6b; 32];
/// The key of the writer with the wrong key.
const WRONG: [u8; 32] = [0x77; 32];

const NAMESPACE: &str = "reliability-poisoning";

/// Through the local directory.
pub(crate) struct Local;
/// Through a shared Redis, each machine with its own directory.
pub(crate) struct Redis;

/// The rows of this module.
pub(crate) fn rows() -> Vec<Box<dyn Row>> {
    vec![Box::new(Local), Box::new(Redis)]
}

impl Row for Local {
    fn name(&self) -> &str {
        "poisoning-local"
    }

    fn title(&self) -> &str {
        "poisoning: unsigned, wrong-key and forged entries in the directory"
    }

    fn run(&self, tier: &Tier) -> RowResult {
        local(tier).unwrap_or_else(|why| {
            let mut r = RowResult::ran();
            r.violation(why);
            r
        })
    }
}

impl Row for Redis {
    fn name(&self) -> &str {
        "poisoning-redis"
    }

    fn title(&self) -> &str {
        "poisoning: unsigned, wrong-key and forged frames in a shared redis"
    }

    fn run(&self, tier: &Tier) -> RowResult {
        with_redis(|| redis(tier))
    }
}

fn keys(key: [u8; 32]) -> Result<MacKeys, String> {
    MacKeys::new([key]).map_err(|e| e.to_string())
}

/// A cache on `dir`, signed with `key` when given, behind `remote` when given.
fn cache(
    dir: &std::path::Path,
    key: Option<[u8; 32]>,
    remote: Option<&Server>,
) -> Result<Cache, String> {
    let mut b = CacheBuilder::new(dir).namespace(NAMESPACE).without_worker();
    if let Some(key) = key {
        b = b.auth_keys(keys(key)?);
    }
    if let Some(server) = remote {
        let config = RemoteConfig::parse(&server.url(""))
            .and_then(|c| c.prefix("poisoning"))
            .map_err(|e| e.to_string())?;
        b = b.remote(RemoteSettings::new(config));
    }
    b.build()
        .map_err(|e| format!("cannot open a cache at {}: {e}", dir.display()))
}

/// A signed frame with its payload's last byte changed and its checksum fixed: what a
/// writer that knows the format but not the key can make of a genuine entry.
fn forge(frame: Vec<u8>) -> Result<Vec<u8>, String> {
    Frame::parse(&frame).map_err(|e| format!("a genuine frame does not parse: {e}"))?;
    Ok(hoard_testkit::reseal(frame, |b| {
        if let Some(last) = b.last_mut() {
            *last ^= 0x5a;
        }
    }))
}

/// The planted keys, by attack, and the genuine ones.
struct Planted {
    unsigned: Vec<Key>,
    wrong_key: Vec<Key>,
    forged: Vec<Key>,
    genuine: Vec<(Key, Vec<u8>)>,
}

impl Planted {
    fn poisoned(&self) -> impl Iterator<Item = &Key> {
        self.unsigned
            .iter()
            .chain(&self.wrong_key)
            .chain(&self.forged)
    }

    fn count(&self) -> u64 {
        (self.unsigned.len() + self.wrong_key.len() + self.forged.len()) as u64
    }
}

/// What a reader did with the planted keys.
#[derive(Default)]
struct Served {
    poisoned: u64,
    genuine_hits: u64,
    genuine_wrong: u64,
}

fn read_all(reader: &Cache, planted: &Planted) -> Served {
    let mut s = Served::default();
    for k in planted.poisoned() {
        s.poisoned += u64::from(reader.get(k).is_some());
    }
    for (k, v) in &planted.genuine {
        match reader.get(k) {
            Some(got) if got == *v => s.genuine_hits += 1,
            Some(_) => s.genuine_wrong += 1,
            None => {}
        }
    }
    s
}

/// The value of key `i` of one kind (`poison`, `genuine`): distinct per key, 0.5 to 4.5 KiB.
fn value(kind: &str, i: u64) -> Vec<u8> {
    let mut v = format!("{kind} {i} ").into_bytes();
    v.extend(hoard_testkit::noise(
        512 + usize::try_from(i % 64).unwrap_or(0) * 64,
        i,
    ));
    v
}

fn local(tier: &Tier) -> Result<RowResult, String> {
    let mut res = RowResult::ran();
    let dir = arena("poisoning-local")?;
    let root = dir.path().join("cache");
    let n = tier.count(40);
    let signer = cache(&root, Some(GOOD), None)?;
    let unsigned = cache(&root, None, None)?;
    let wrong = cache(&root, Some(WRONG), None)?;
    let mut planted = Planted {
        unsigned: Vec::new(),
        wrong_key: Vec::new(),
        forged: Vec::new(),
        genuine: Vec::new(),
    };
    for i in 0..n {
        let k = signer.key(format!("unsigned {i}"));
        unsigned
            .try_put(&k, &value("poison", i))
            .map_err(|e| e.to_string())?;
        planted.unsigned.push(k);
        let k = signer.key(format!("wrong key {i}"));
        wrong
            .try_put(&k, &value("poison", i))
            .map_err(|e| e.to_string())?;
        planted.wrong_key.push(k);
        let k = signer.key(format!("forged {i}"));
        signer
            .try_put(&k, &value("genuine", i))
            .map_err(|e| e.to_string())?;
        let store = signer.store();
        let frame = store
            .get(signer.namespace(), k.digest(), u64::MAX)
            .map_err(|e| e.to_string())?
            .ok_or("a genuine entry vanished")?;
        store
            .put(signer.namespace(), k.digest(), &forge(frame)?)
            .map_err(|e| e.to_string())?;
        planted.forged.push(k);
        let k = signer.key(format!("genuine {i}"));
        let v = value("genuine", i);
        signer.try_put(&k, &v).map_err(|e| e.to_string())?;
        planted.genuine.push((k, v));
    }
    // Two keyed readers (fresh handles, as other processes would open them), then the
    // contrast: a reader without the key.
    let mut served = 0;
    let mut counted = 0;
    let mut genuine_missing = 0;
    let mut genuine_wrong = 0;
    for _ in 0..2 {
        let reader = cache(&root, Some(GOOD), None)?;
        let s = read_all(&reader, &planted);
        served += s.poisoned;
        genuine_wrong += s.genuine_wrong;
        genuine_missing += planted.genuine.len() as u64 - s.genuine_hits - s.genuine_wrong;
        counted += reader.stats().unauthenticated_entries;
    }
    let contrast = read_all(&cache(&root, None, None)?, &planted);
    res.info(
        planted.count(),
        "poisoned entries planted (unsigned, wrong key, forged)",
    )
    .zero(served, "poisoned entries served to keyed readers")
    .info(counted, "reads counted unauthenticated")
    .zero(
        2 * planted.count() - counted.min(2 * planted.count()),
        "poisoned reads not counted unauthenticated",
    )
    .zero(
        genuine_missing + genuine_wrong,
        "genuine entries not served",
    )
    .positive(
        contrast.poisoned,
        "poisoned entries a key-less reader serves (contrast)",
    );
    Ok(res)
}

fn redis(tier: &Tier) -> Result<RowResult, String> {
    let mut res = RowResult::ran();
    let dir = arena("poisoning-redis")?;
    let server = Server::start(Kind::Redis);
    let n = tier.count(20);
    let signer = cache(&dir.path().join("signer"), Some(GOOD), Some(&server))?;
    let unsigned = cache(&dir.path().join("unsigned"), None, Some(&server))?;
    let wrong = cache(&dir.path().join("wrong"), Some(WRONG), Some(&server))?;
    let mut planted = Planted {
        unsigned: Vec::new(),
        wrong_key: Vec::new(),
        forged: Vec::new(),
        genuine: Vec::new(),
    };
    let prefix = signer
        .remote()
        .ok_or("the signer has no remote tier")?
        .config()
        .get_prefix()
        .to_owned();
    for i in 0..n {
        let k = signer.key(format!("unsigned {i}"));
        unsigned
            .try_put(&k, &value("poison", i))
            .map_err(|e| e.to_string())?;
        planted.unsigned.push(k);
        let k = signer.key(format!("wrong key {i}"));
        wrong
            .try_put(&k, &value("poison", i))
            .map_err(|e| e.to_string())?;
        planted.wrong_key.push(k);
        // Forged in Redis behind hoard's back, by someone who can write to the server.
        let k = signer.key(format!("forged {i}"));
        signer
            .try_put(&k, &value("genuine", i))
            .map_err(|e| e.to_string())?;
        let object = format!("{prefix}/{NAMESPACE}/{}", k.digest().to_hex());
        let frame = servers::redis_bulk(&servers::redis_command(
            server.port(),
            &[b"GET", object.as_bytes()],
        ))
        .ok_or_else(|| format!("{object} is not in redis"))?;
        servers::redis_command(server.port(), &[b"SET", object.as_bytes(), &forge(frame)?]);
        planted.forged.push(k);
        let k = signer.key(format!("genuine {i}"));
        let v = value("genuine", i);
        signer.try_put(&k, &v).map_err(|e| e.to_string())?;
        planted.genuine.push((k, v));
    }
    // Keyed readers on machines of their own: everything comes from the remote.
    let mut served = 0;
    let mut refused = 0;
    let mut backfilled_poison = 0;
    let mut genuine_missing = 0;
    let mut genuine_wrong = 0;
    for r in 0..2 {
        let local_dir = dir.path().join(format!("reader{r}"));
        let reader = cache(&local_dir, Some(GOOD), Some(&server))?;
        // Twice: a poisoned frame backfilled by the first read would be a local hit now.
        for _ in 0..2 {
            let s = read_all(&reader, &planted);
            served += s.poisoned;
            genuine_wrong += s.genuine_wrong;
            genuine_missing += planted.genuine.len() as u64 - s.genuine_hits - s.genuine_wrong;
        }
        let t = reader
            .remote()
            .ok_or("a reader has no remote tier")?
            .tier_stats();
        refused += t.remote_unauthenticated;
        let local = hoard::FsStore::open(&local_dir).map_err(|e| e.to_string())?;
        for k in planted.poisoned() {
            let here = local
                .get(reader.namespace(), k.digest(), u64::MAX)
                .map_err(|e| e.to_string())?;
            backfilled_poison += u64::from(here.is_some());
        }
    }
    let contrast_dir = dir.path().join("contrast");
    let contrast = read_all(&cache(&contrast_dir, None, Some(&server))?, &planted);
    let expected = 4 * planted.count();
    res.info(
        planted.count(),
        "poisoned frames planted (unsigned, wrong key, forged)",
    )
    .zero(served, "poisoned entries served to keyed readers")
    .zero(
        backfilled_poison,
        "poisoned frames backfilled into a keyed reader's directory",
    )
    .info(refused, "remote frames refused as unauthenticated")
    .zero(
        expected - refused.min(expected),
        "poisoned reads not counted unauthenticated",
    )
    .zero(
        genuine_missing + genuine_wrong,
        "genuine entries not served",
    )
    .positive(
        contrast.poisoned,
        "poisoned entries a key-less reader serves (contrast)",
    );
    Ok(res)
}
