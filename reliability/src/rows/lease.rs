//! The remote lease across "machines": P processes, each with a cache directory of its own
//! (so no local lock is shared), all with one real Redis as their remote tier and
//! `lease = true`, miss the same K keys at the same time and compute each key once; and a
//! lease holder killed (SIGKILL) in the middle of a computation leaves its lease to expire
//! (its TTL, 1 s here), after which one waiter takes it and computes, and the others read
//! that value, all within the wait's bound (10 s by default).
//!
//! Every computation appends a line to a counter file (`O_APPEND`) before it works for
//! [`WORK`]; the row counts the lines.

use std::path::Path;
use std::time::Duration;

use hoard::remote::RemoteConfig;
use hoard::{CacheBuilder, DEFAULT_LEASE_TTL, DEFAULT_SINGLE_FLIGHT_WAIT, RemoteSettings};
use hoard_testkit::servers::{Kind, Server};

use super::arena;
use super::flight::{self, WORK, lines, unix_ms};
use crate::proc::Proc;
use crate::row::{Row, RowResult, Tier};

/// The namespace of the row's caches.
const NAMESPACE: &str = "reliability-lease";

/// The lease TTL of the killed-holder phase: what its waiters wait for at most.
const SHORT_TTL: Duration = Duration::from_secs(1);

/// The row.
pub(crate) struct Lease;

/// The rows of this module.
pub(crate) fn rows() -> Vec<Box<dyn Row>> {
    vec![Box::new(Lease)]
}

impl Row for Lease {
    fn name(&self) -> &str {
        "concurrency-lease"
    }

    fn title(&self) -> &str {
        "concurrency: remote lease (Redis)"
    }

    fn run(&self, tier: &Tier) -> RowResult {
        lease(tier).unwrap_or_else(|why| {
            let mut r = RowResult::ran();
            r.violation(why);
            r
        })
    }
}

/// One child's options: its own cache directory, the shared counter file and Redis.
struct Spec<'a> {
    dir: &'a Path,
    counter: &'a Path,
    port: u16,
    prefix: &'a str,
    ttl: Duration,
}

fn spawn(spec: &Spec<'_>, keys: u64, seed: u64, hang: bool) -> Result<Proc, String> {
    std::fs::create_dir_all(spec.dir)
        .map_err(|e| format!("cannot create {}: {e}", spec.dir.display()))?;
    let mut p = Proc::spawn(
        "lease",
        &[
            (
                "dir",
                spec.dir.join(format!("m{seed}")).display().to_string(),
            ),
            ("counter", spec.counter.display().to_string()),
            ("port", spec.port.to_string()),
            ("prefix", spec.prefix.to_owned()),
            ("ttl_ms", spec.ttl.as_millis().to_string()),
            ("keys", keys.to_string()),
            ("seed", seed.to_string()),
            ("hang", u8::from(hang).to_string()),
        ],
        None,
    )?;
    p.wait_ready(Duration::from_secs(30))?;
    Ok(p)
}

/// The sums of the children's reports.
#[derive(Default)]
struct Sums {
    wins: u64,
    losses: u64,
    wait_hits: u64,
    gave_up: u64,
    failures: u64,
    wrong: u64,
    /// The latest time a child finished (ms since the epoch).
    last_done_ms: u64,
}

fn collect(children: &mut [Proc]) -> Result<Sums, String> {
    let mut s = Sums::default();
    for c in children {
        let done = c.finish(Duration::from_secs(120));
        if !done.ok() {
            return Err(done.describe("lease"));
        }
        let r = done.result();
        let get = |k: &str| r.get(k).copied().unwrap_or(0);
        s.wins += get("lease_wins");
        s.losses += get("lease_losses");
        s.wait_hits += get("lease_wait_hits");
        s.gave_up += get("lease_gave_up");
        s.failures += get("lease_failures");
        s.wrong += get("wrong");
        s.last_done_ms = s.last_done_ms.max(get("done_ms"));
    }
    Ok(s)
}

fn lease(tier: &Tier) -> Result<RowResult, String> {
    let mut res = RowResult::ran();
    let dir = arena("lease")?;
    let server = Server::start(Kind::Redis);
    let (processes, keys) = (tier.count(4), tier.count(8));

    // P machines x K keys, started together.
    let counter = dir.path().join("computes");
    let spec = Spec {
        dir: &dir.path().join("together"),
        counter: &counter,
        port: server.port(),
        prefix: "together",
        ttl: DEFAULT_LEASE_TTL,
    };
    let mut children = (0..processes)
        .map(|i| spawn(&spec, keys, i, false))
        .collect::<Result<Vec<_>, _>>()?;
    for c in &mut children {
        c.send("go");
    }
    let together = collect(&mut children)?;
    let computes = lines(&counter);

    // A lease holder killed mid-computation; waiters recover when its lease expires.
    let counter2 = dir.path().join("computes-killed");
    let spec2 = Spec {
        dir: &dir.path().join("killed"),
        counter: &counter2,
        port: server.port(),
        prefix: "killed",
        ttl: SHORT_TTL,
    };
    let mut holder = spawn(&spec2, 1, 0, true)?;
    holder.send("go");
    holder.wait_ready(Duration::from_secs(30))?;
    let mut waiters = (1..=processes)
        .map(|i| spawn(&spec2, 1, i, false))
        .collect::<Result<Vec<_>, _>>()?;
    for w in &mut waiters {
        w.send("go");
    }
    let killed_at = unix_ms();
    holder.kill();
    let killed = collect(&mut waiters)?;
    let recovered_ms = killed.last_done_ms.saturating_sub(killed_at);
    // The holder's computation (killed) and exactly one waiter's.
    let computes2 = lines(&counter2);
    let bound = u64::try_from(DEFAULT_SINGLE_FLIGHT_WAIT.as_millis()).unwrap_or(u64::MAX);

    res.info(
        computes,
        format!("computes of {keys} keys by {processes} machines sharing one Redis"),
    )
    .zero(computes.abs_diff(keys), "computes beyond one per key")
    .info(together.wins, "leases won")
    .info(together.losses, "leases lost (waits)")
    .info(together.wait_hits, "waits ended in a hit")
    .zero(together.gave_up, "waits that gave up")
    .zero(
        together.failures + killed.failures,
        "lease requests that failed",
    )
    .zero(together.wrong + killed.wrong, "wrong values")
    .info(
        killed.losses,
        format!("of {processes} waited for the killed holder's lease"),
    )
    .info(recovered_ms, "ms from the kill to the last waiter's value")
    .zero(
        u64::from(recovered_ms >= bound),
        "waiters past the wait bound",
    )
    .zero(killed.gave_up, "waits on the killed holder that gave up")
    .zero(
        computes2.abs_diff(2),
        "computes of the killed key beyond holder + one",
    );
    res.note(format!(
        "each computation works {} ms; each machine has its own directory (no shared flock); lease TTL {} s ({} s in the kill phase); default wait bound {} s",
        WORK.as_millis(),
        DEFAULT_LEASE_TTL.as_secs(),
        SHORT_TTL.as_secs(),
        DEFAULT_SINGLE_FLIGHT_WAIT.as_secs()
    ));
    Ok(res)
}

/// The `lease` child: opens a cache at `dir=` with the Redis on `port=` (key prefix
/// `prefix=`) as its remote tier, taking leases for `ttl_ms=`; says `ready`, waits for
/// `go`, then `get_or_compute`s keys `key 0` .. `key <keys-1>` (in an order from `seed=`),
/// each computation appending a line to `counter=` and working [`WORK`]. With `hang=1` it
/// computes `key 0` and, inside the computation (holding the lease), says `ready` again and
/// blocks until killed. Reports the lease counters, wrong values and when it finished.
pub(crate) fn child(opts: &std::collections::BTreeMap<String, String>) -> Result<(), String> {
    let arg = |k: &str| opts.get(k).ok_or_else(|| format!("missing `{k}=`"));
    let num = |k: &str| -> Result<u64, String> {
        arg(k)?
            .parse()
            .map_err(|_| format!("`{k}=` is not a number"))
    };
    let counter = std::path::PathBuf::from(arg("counter")?);
    let prefix = arg("prefix")?;
    let config = RemoteConfig::parse(&format!("redis://127.0.0.1:{}/0", num("port")?))
        .and_then(|c| c.prefix(prefix))
        .map_err(|e| e.to_string())?;
    let ttl = Duration::from_millis(num("ttl_ms")?);
    let cache = CacheBuilder::new(arg("dir")?)
        .namespace(NAMESPACE)
        .without_worker()
        .remote(RemoteSettings::new(config).lease(Some(ttl)))
        .build()
        .map_err(|e| format!("cannot open the cache: {e}"))?;
    let wrong = flight::compute_keys(
        &cache,
        &counter,
        num("keys")?,
        num("seed")?,
        num("hang")? == 1,
    );
    let s = cache.stats();
    drop(cache);
    println!(
        "result lease_wins={} lease_losses={} lease_wait_hits={} lease_gave_up={} lease_failures={} wrong={wrong} done_ms={}",
        s.lease_wins,
        s.lease_losses,
        s.lease_wait_hits,
        s.lease_gave_up,
        s.lease_failures,
        unix_ms()
    );
    Ok(())
}
