//! A dead remote at default settings, as short-lived processes (the `hoard` command, a
//! compiler wrapper) meet it: a refused port, a hung server (SIGSTOP: the kernel accepts,
//! nothing answers) and a killed one (it served, then died). Each row times one miss per
//! process, in the child (opening the cache, one get, dropping it), first for processes
//! without a remote (the baseline), then for processes with `[cache.remote]` at its
//! defaults (2 s timeout, 250 ms connect timeout, 10 s cool-down) sharing one directory.
//!
//! What must hold: no process after the first pays more than [`BOUND`] over the baseline's
//! median (the first recorded the failure in `state/`, the others bypass the remote); the
//! first pays at most the connect timeout plus [`BOUND`]; every get is a miss, never an
//! error; and the remote is tried at most once per cool-down over all processes.

use std::path::Path;
use std::time::{Duration, Instant};

use hoard::remote::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_COOLDOWN, RemoteConfig};
use hoard::{CacheBuilder, RemoteSettings};
use hoard_testkit::servers::{Kind, Server, free_port};

use super::arena;
use super::remote::with_redis;
use crate::proc::Proc;
use crate::row::{Row, RowResult, Tier};

/// The namespace of the row's caches.
const NAMESPACE: &str = "reliability-dead";

/// What a miss may cost a process beyond the baseline once the failure is recorded.
const BOUND: Duration = Duration::from_millis(50);

/// How the remote is dead.
#[derive(Clone, Copy)]
enum Death {
    Refused,
    Hung,
    Killed,
}

/// A row per [`Death`].
pub(crate) struct Dead(Death);

/// The rows of this module.
pub(crate) fn rows() -> Vec<Box<dyn Row>> {
    vec![
        Box::new(Dead(Death::Refused)),
        Box::new(Dead(Death::Hung)),
        Box::new(Dead(Death::Killed)),
    ]
}

impl Row for Dead {
    fn name(&self) -> &str {
        match self.0 {
            Death::Refused => "remote-dead-refused",
            Death::Hung => "remote-dead-hung",
            Death::Killed => "remote-dead-killed",
        }
    }

    fn title(&self) -> &str {
        match self.0 {
            Death::Refused => "remote: refused, per-process miss",
            Death::Hung => "remote: hung, per-process miss",
            Death::Killed => "remote: killed, per-process miss",
        }
    }

    fn run(&self, tier: &Tier) -> RowResult {
        with_redis(|| dead(self.0, tier))
    }
}

/// One child's miss: its time and its remote counters.
struct Miss {
    took: Duration,
    tried: u64,
    errors: u64,
    hit: bool,
}

fn miss(dir: &Path, port: Option<u16>, key: &str) -> Result<Miss, String> {
    let mut args = vec![("dir", dir.display().to_string()), ("key", key.to_owned())];
    if let Some(port) = port {
        args.push(("port", port.to_string()));
    }
    let mut p = Proc::spawn("remote-miss", &args, None)?;
    let done = p.finish(Duration::from_secs(60));
    if !done.ok() {
        return Err(done.describe("remote-miss"));
    }
    let r = done.result();
    let get = |k: &str| r.get(k).copied().unwrap_or(0);
    Ok(Miss {
        took: Duration::from_micros(get("took_us")),
        // Every try of the dead remote is one failed get (a failed connection check or a
        // timeout is counted there too).
        tried: get("get_failures"),
        errors: get("errors"),
        hit: get("hit") == 1,
    })
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn dead(death: Death, tier: &Tier) -> Result<RowResult, String> {
    let mut res = RowResult::ran();
    let dir = arena("remote-dead")?;
    let processes = tier.count(8);
    let mut baseline = Vec::new();
    for i in 0..processes {
        baseline.push(miss(&dir.path().join("plain"), None, &format!("absent {i}"))?.took);
    }
    let base = median(baseline);

    let shared = dir.path().join("shared");
    let mut server = None;
    let port = match death {
        Death::Refused => free_port(),
        Death::Hung => {
            let s = Server::start(Kind::Redis);
            s.pause();
            let port = s.port();
            server = Some(s);
            port
        }
        Death::Killed => {
            let mut s = Server::start(Kind::Redis);
            // It serves first (a miss answered by Redis), then dies.
            let served = miss(&shared, Some(s.port()), "before the kill")?;
            if served.tried > 0 {
                return Err("the live server failed a get".to_owned());
            }
            s.kill();
            let port = s.port();
            server = Some(s);
            port
        }
    };
    let started = Instant::now();
    let mut misses = Vec::new();
    for i in 0..processes {
        misses.push(miss(&shared, Some(port), &format!("absent {i}"))?);
    }
    let elapsed = started.elapsed();
    if let (Death::Hung, Some(s)) = (death, &server) {
        s.resume();
    }
    drop(server);

    let cost = |m: &Miss| m.took.saturating_sub(base);
    let first = misses.first().map(cost).unwrap_or_default();
    let later: Vec<Duration> = misses.iter().skip(1).map(cost).collect();
    let worst_later = later.iter().max().copied().unwrap_or_default();
    let over = later.iter().filter(|c| **c > BOUND).count() as u64;
    let tried: u64 = misses.iter().map(|m| m.tried).sum();
    let cooldowns = 1 + elapsed.as_millis() / DEFAULT_COOLDOWN.as_millis().max(1);
    let allowed = u64::try_from(cooldowns).unwrap_or(u64::MAX);
    let first_bound = DEFAULT_CONNECT_TIMEOUT + BOUND;
    res.info(ms(base), "ms baseline miss")
        .info(ms(first), "ms first process's extra")
        .info(ms(median(later.clone())), "ms median later extra")
        .info(ms(worst_later), "ms worst later extra")
        .zero(
            u64::from(first > first_bound),
            "first over the connect timeout",
        )
        .zero(
            over,
            format!("later processes over +{} ms", BOUND.as_millis()),
        )
        .zero(
            tried.saturating_sub(allowed),
            "remote tries beyond one per cool-down",
        )
        .zero(
            misses.iter().filter(|m| m.hit).count() as u64,
            "hits of absent keys",
        )
        .zero(misses.iter().map(|m| m.errors).sum(), "cache errors");
    res.note(format!(
        "{processes} processes with the remote (default settings: 2 s timeout, {} ms connect timeout, {} s cool-down) after {processes} without; per-process time of open + get + drop, measured in the child",
        DEFAULT_CONNECT_TIMEOUT.as_millis(),
        DEFAULT_COOLDOWN.as_secs()
    ));
    Ok(res)
}

/// The `remote-miss` child: opens the cache at `dir=` (with a Redis tier at `port=` and
/// default remote settings, when given), gets `key=` once, drops the cache, and reports the
/// time of all three and the remote counters.
pub(crate) fn child(opts: &std::collections::BTreeMap<String, String>) -> Result<(), String> {
    let dir = opts.get("dir").ok_or("missing `dir=`")?;
    let key = opts.get("key").ok_or("missing `key=`")?;
    let started = Instant::now();
    let mut b = CacheBuilder::new(dir).namespace(NAMESPACE);
    if let Some(port) = opts.get("port") {
        let config = RemoteConfig::parse(&format!("redis://127.0.0.1:{port}/0"))
            .map_err(|e| e.to_string())?;
        b = b.remote(RemoteSettings::new(config));
    }
    let cache = b
        .build()
        .map_err(|e| format!("cannot open the cache: {e}"))?;
    let got = cache.get(&cache.key(key));
    let remote = cache.remote().map(|t| t.remote_stats()).unwrap_or_default();
    let errors = cache.stats().errors;
    drop(cache);
    let took = started.elapsed();
    println!(
        "result took_us={} hit={} connect_failures={} timeouts={} get_failures={} bypassed={} errors={errors}",
        took.as_micros(),
        u8::from(got.is_some()),
        remote.connect_failures,
        remote.timeouts,
        remote.get_failures,
        remote.bypassed,
    );
    Ok(())
}
