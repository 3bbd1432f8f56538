//! Huge values planted in a real Redis under entries' names: 100 and 200 MiB of garbage, and
//! valid-looking frames of the same sizes (identity coded, for the very key), each read once
//! through a `Cache` in a child process, with the default size cap and with a 1 MiB cap.
//!
//! What must hold: no wrong read (garbage is never served; a frame over the cap is never
//! served); the frame under the default cap is a hit with its exact bytes; and the child's
//! peak resident memory (VmHWM) grows by at most:
//! - with the 1 MiB cap: [`SMALL`] (nothing larger than the cap is fetched: the remote says
//!   the value's length before sending it);
//! - with the default cap: the value once for garbage, twice for a frame (the fetched frame
//!   and the decoded value handed to the caller), plus what the Redis client holds while it
//!   parses a reply (see [`CLIENT_COPIES`]), plus [`SMALL`].
//!
//! Whether the valid frames under the default cap are served is reported, not judged: the
//! Redis client under OpenDAL 0.59 gives up on a reply after 500 ms (not configurable
//! through OpenDAL), which a reply of 200 MiB can take on a loaded machine; the get is then
//! a counted remote failure and a miss.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use hoard::remote::RemoteConfig;
use hoard::{Cache, CacheBuilder, Identity, Key, RemoteSettings};
use hoard_testkit::servers::{self, Kind, Server};

use super::arena;
use crate::proc::Proc;
use crate::row::{Row, RowResult, Tier};

/// The namespace of the row's caches.
const NAMESPACE: &str = "reliability-huge";

/// The key prefix in Redis.
const PREFIX: &str = "reliability-huge";

/// The slack every bound allows: allocator and runtime noise, the client's small buffers.
const SMALL: u64 = 16 << 20;

/// Copies of a whole reply the Redis client (redis-rs, under OpenDAL) keeps at once: it
/// reads a reply into its connection buffer, whole, before it copies the value out of it,
/// so a fetch of `n` bytes peaks at `2 n` however the bytes are used afterwards.
const CLIENT_COPIES: u64 = 2;

/// The row.
pub(crate) struct HugeValues;

/// The rows of this module.
pub(crate) fn rows() -> Vec<Box<dyn Row>> {
    vec![Box::new(HugeValues)]
}

impl Row for HugeValues {
    fn name(&self) -> &str {
        "remote-huge"
    }

    fn title(&self) -> &str {
        "remote: planted huge values"
    }

    fn run(&self, tier: &Tier) -> RowResult {
        super::remote::with_redis(|| huge(tier))
    }
}

/// Byte `i` of the payload with `seed`: cheap to check without a second copy.
fn pattern(i: usize, seed: u64) -> u8 {
    ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed).to_le_bytes()[7]
}

/// What was planted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Planted {
    Garbage,
    Frame,
}

/// One child's get, judged.
struct Outcome {
    hit: bool,
    wrong: bool,
    grew_kib: u64,
    took: Duration,
    /// The remote read failed (the Redis client's reply timeout, for the largest values).
    failed: bool,
}

fn huge(tier: &Tier) -> Result<RowResult, String> {
    let mut res = RowResult::ran();
    let dir = arena("remote-huge")?;
    let server = Server::start(Kind::Redis);
    // Only for the keys: the children compute the same ones.
    let keys = Cache::builder(dir.path().join("keys"))
        .namespace(NAMESPACE)
        .without_worker()
        .build()
        .map_err(|e| format!("cannot open a cache: {e}"))?;
    let mut rng = tier.rng("remote-huge");
    let (mut wrong, mut over, mut runs) = (0u64, 0u64, 0u64);
    let (mut served, mut servable, mut failed) = (0u64, 0u64, 0u64);
    let mut peaks: BTreeMap<String, u64> = BTreeMap::new();
    let mut slowest = Duration::ZERO;
    for mib in [100usize, 200] {
        let len = mib << 20;
        for planted in [Planted::Garbage, Planted::Frame] {
            let text = format!("huge {mib} {planted:?}");
            let key = keys.key(&text);
            let seed = rng.u64(..);
            let value = match planted {
                Planted::Garbage => {
                    let mut v = vec![0u8; len];
                    rng.fill(&mut v);
                    v
                }
                Planted::Frame => {
                    let data: Vec<u8> = (0..len).map(|i| pattern(i, seed)).collect();
                    hoard::frame::encode(&key, &Identity, &data, 1)
                        .map_err(|e| format!("cannot frame the value: {e}"))?
                }
            };
            let object = format!("{PREFIX}/{NAMESPACE}/{}", key.digest().to_hex());
            for cap in [None, Some(1u64 << 20)] {
                let reply =
                    servers::redis_command(server.port(), &[b"SET", object.as_bytes(), &value]);
                if reply != b"+OK\r\n" {
                    return Err(format!(
                        "cannot plant {mib} MiB in redis: {}",
                        String::from_utf8_lossy(&reply)
                    ));
                }
                let run_dir = dir.path().join(format!("run{runs}"));
                runs += 1;
                let o = get_in_child(&run_dir, &server, &text, cap, planted, len, seed)?;
                slowest = slowest.max(o.took);
                let expect_hit = planted == Planted::Frame && cap.is_none();
                wrong += u64::from(o.wrong || (o.hit && !expect_hit));
                servable += u64::from(expect_hit);
                served += u64::from(expect_hit && o.hit);
                failed += u64::from(o.failed);
                let bound = match (cap, planted) {
                    (Some(_), _) => SMALL,
                    (None, Planted::Garbage) => CLIENT_COPIES * len as u64 + SMALL,
                    (None, Planted::Frame) => (CLIENT_COPIES + 1) * len as u64 + SMALL,
                };
                let label = format!(
                    "{mib}M-{}-{}",
                    match planted {
                        Planted::Garbage => "garbage",
                        Planted::Frame => "frame",
                    },
                    if cap.is_some() { "1Mi" } else { "default" }
                );
                if o.grew_kib << 10 > bound {
                    over += 1;
                    res.violation(format!(
                        "{label}: peak resident memory grew {} MiB, bound {} MiB",
                        o.grew_kib >> 10,
                        bound >> 20
                    ));
                }
                peaks.insert(label, o.grew_kib >> 10);
            }
        }
    }
    res.info(runs, "gets of planted values")
        .zero(wrong, "wrong reads")
        .zero(over, "peaks over the bound")
        .info(
            served,
            format!("of {servable} valid frames under the cap served"),
        )
        .info(failed, "remote reads failed (client reply timeout)")
        .info(
            u64::try_from(slowest.as_millis()).unwrap_or(u64::MAX),
            "ms slowest get",
        );
    let figures: Vec<String> = peaks.iter().map(|(k, v)| format!("{k} +{v}")).collect();
    res.note(format!(
        "peak resident growth in MiB (child VmHWM over its value after opening): {}",
        figures.join(", ")
    ));
    Ok(res)
}

/// Runs one get of `text` through a fresh cache at `dir` in a child process.
fn get_in_child(
    dir: &Path,
    server: &Server,
    text: &str,
    cap: Option<u64>,
    planted: Planted,
    len: usize,
    seed: u64,
) -> Result<Outcome, String> {
    let mut args = vec![
        ("dir", dir.display().to_string()),
        ("port", server.port().to_string()),
        ("key", text.replace(' ', "_")),
        ("len", len.to_string()),
        ("seed", seed.to_string()),
        ("frame", u8::from(planted == Planted::Frame).to_string()),
    ];
    if let Some(cap) = cap {
        args.push(("cap", cap.to_string()));
    }
    let mut child = Proc::spawn("remote-get", &args, None)?;
    child.stop();
    let f = child.finish(Duration::from_secs(120));
    if !f.ok() {
        return Err(f.describe("remote-get"));
    }
    let r = f.result();
    let field = |k: &str| {
        r.get(k)
            .copied()
            .ok_or_else(|| format!("remote-get child reported no `{k}`: {:?}", f.lines))
    };
    Ok(Outcome {
        hit: field("hit")? == 1,
        wrong: field("wrong")? == 1,
        grew_kib: field("peak_kib")?.saturating_sub(field("base_kib")?),
        took: Duration::from_millis(field("took_ms")?),
        failed: field("failed")? > 0,
    })
}

/// The child side: `remote-get dir= port= key= len= seed= frame=0|1 [cap=]`. Opens a cache
/// with a Redis tier, pings the remote (so the connection exists before the baseline), then
/// gets `key` once and reports `result base_kib= peak_kib= hit= wrong= took_ms=`.
pub(crate) fn child(opts: &BTreeMap<String, String>) -> Result<(), String> {
    let arg = |k: &str| {
        opts.get(k)
            .map(String::as_str)
            .ok_or_else(|| format!("missing argument `{k}=`"))
    };
    let num = |k: &str| -> Result<u64, String> {
        arg(k)?
            .parse()
            .map_err(|_| format!("`{k}=` is not a number"))
    };
    let port = u16::try_from(num("port")?).map_err(|_| "bad port".to_owned())?;
    let config = RemoteConfig::parse(&format!("redis://127.0.0.1:{port}"))
        .and_then(|c| c.prefix(PREFIX))
        .and_then(|c| c.timeout(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let mut b = CacheBuilder::new(arg("dir")?)
        .namespace(NAMESPACE)
        .without_worker()
        .remote(RemoteSettings::new(config));
    if opts.contains_key("cap") {
        b = b.max_entry_size(num("cap")?);
    }
    let cache = b
        .build()
        .map_err(|e| format!("cannot open the cache: {e}"))?;
    let key: Key = cache.key(arg("key")?.replace('_', " "));
    let remote = cache.remote().ok_or("the cache has no remote tier")?;
    remote
        .ping()
        .map_err(|e| format!("the remote does not answer: {e}"))?;
    let base = kib("VmHWM:").ok_or("no VmHWM in /proc/self/status")?;
    let started = Instant::now();
    let got = cache.get(&key);
    let took = started.elapsed();
    let peak = kib("VmHWM:").ok_or("no VmHWM in /proc/self/status")?;
    let (len, seed) = (
        usize::try_from(num("len")?).unwrap_or(usize::MAX),
        num("seed")?,
    );
    let frame = num("frame")? == 1;
    let wrong = got.as_ref().is_some_and(|v| {
        !frame || v.len() != len || v.iter().enumerate().any(|(i, b)| *b != pattern(i, seed))
    });
    let stats = remote.remote_stats();
    println!(
        "result base_kib={base} peak_kib={peak} hit={} wrong={} took_ms={} failed={}",
        u8::from(got.is_some()),
        u8::from(wrong),
        took.as_millis(),
        stats.get_failures
    );
    Ok(())
}

/// A `kB` field of `/proc/self/status`.
fn kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}
