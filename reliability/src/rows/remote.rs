//! The remote tier under a failing Redis: two caches ("machines") with their own directories
//! share a real `redis-server`, which is killed, restarted, hung (SIGSTOP) and fed damaged
//! values while the caches keep working.
//!
//! What must hold: a get while the remote is down is a miss (or a local hit), never wrong
//! bytes and never an error; every put succeeds locally; a dead or hung remote costs at most
//! one timeout per cool-down (plus one, for the cool-down under way); after a restart the
//! same processes share entries again without being reopened; a damaged remote value is
//! rejected, not served.
//!
//! The caches' circuit breakers run on a manual clock that each round of an outage phase
//! advances by a fraction of the cool-down: cool-downs pass at a known rate of rounds,
//! whatever the machine's speed, and nothing sleeps through one. Timeouts stay real time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hoard::remote::{ManualClock, RemoteConfig};
use hoard::{Cache, CacheBuilder, Key, RemoteSettings};
use hoard_testkit::servers::{self, Kind, Server};

use super::arena;
use crate::row::{Row, RowResult, Tier};

/// The per-operation timeout of the row's caches.
const TIMEOUT: Duration = Duration::from_millis(200);

/// The circuit breaker's cool-down of the row's caches, on their manual clock.
const COOLDOWN: Duration = Duration::from_secs(30);

/// Rounds of an outage phase per cool-down: each round advances the clock by this fraction
/// of [`COOLDOWN`].
const ROUNDS_PER_COOLDOWN: u32 = 4;

/// The row.
pub(crate) struct Outage;

/// The rows of this module.
pub(crate) fn rows() -> Vec<Box<dyn Row>> {
    vec![Box::new(Outage)]
}

impl Row for Outage {
    fn name(&self) -> &str {
        "remote-outage"
    }

    fn title(&self) -> &str {
        "remote: redis killed, hung, damaged"
    }

    fn run(&self, tier: &Tier) -> RowResult {
        with_redis(|| outage(tier))
    }
}

/// Runs a row that needs `redis-server`: not run without it; an error that stops the row
/// early is its violation.
pub(crate) fn with_redis(row: impl FnOnce() -> Result<RowResult, String>) -> RowResult {
    let installed = std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        return RowResult::not_run("redis-server is not installed (apt-get install redis-server)");
    }
    row().unwrap_or_else(|why| {
        let mut r = RowResult::ran();
        r.violation(why);
        r
    })
}

/// The value of key `i` (distinct per key, 1 to 64 KiB).
fn value_of(i: u64) -> Vec<u8> {
    let len = 1024 + usize::try_from(i.wrapping_mul(7919) % (63 * 1024)).unwrap_or(0);
    hoard_testkit::noise(len, i)
}

fn machine(
    dir: &std::path::Path,
    server: &Server,
    clock: &Arc<ManualClock>,
) -> Result<Cache, String> {
    let config = RemoteConfig::parse(&server.url(""))
        .and_then(|c| c.prefix("reliability"))
        .and_then(|c| c.timeout(TIMEOUT))
        .map_err(|e| e.to_string())?
        .cooldown(COOLDOWN);
    CacheBuilder::new(dir)
        .namespace("reliability-remote")
        .without_worker()
        .remote(RemoteSettings::new(config))
        .remote_clock(clock.clone())
        .build()
        .map_err(|e| format!("cannot open a cache with a remote tier: {e}"))
}

/// What one outage phase saw.
#[derive(Debug, Default)]
struct Phase {
    gets: u64,
    /// The slowest get or put (a write-through put waits for the remote too).
    slowest: Duration,
    wrong: u64,
    failed_puts: u64,
    elapsed: Duration,
}

/// Gets of the remote-only `shared` keys and put-then-get of local keys on `b` for
/// `length`, judging every answer; each round advances `clock` by a
/// [`ROUNDS_PER_COOLDOWN`]th of the cool-down.
fn degrade(
    b: &Cache,
    clock: &ManualClock,
    shared: &[(Key, Vec<u8>)],
    length: Duration,
    tag: &str,
) -> Phase {
    let mut p = Phase::default();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < length {
        let (key, value) = &shared[usize::try_from(n).unwrap_or(0) % shared.len()];
        let t = Instant::now();
        let got = b.get(key);
        p.slowest = p.slowest.max(t.elapsed());
        p.gets += 1;
        if got.as_ref().is_some_and(|g| g != value) {
            p.wrong += 1;
        }
        let local = b.key(format!("{tag} local {n}"));
        let v = value_of(n);
        let t = Instant::now();
        let stored = b.put(&local, &v);
        p.slowest = p.slowest.max(t.elapsed());
        if !stored || b.get(&local).as_deref() != Some(&v[..]) {
            p.failed_puts += 1;
        }
        clock.advance(COOLDOWN / ROUNDS_PER_COOLDOWN);
        n += 1;
    }
    p.elapsed = start.elapsed();
    p
}

fn outage(tier: &Tier) -> Result<RowResult, String> {
    let mut res = RowResult::ran();
    let dir = arena("remote-outage")?;
    let mut server = Server::start(Kind::Redis);
    let clock = Arc::new(ManualClock::new());
    let a = machine(&dir.path().join("a"), &server, &clock)?;
    let b = machine(&dir.path().join("b"), &server, &clock)?;
    let keys = tier.count(50);
    let shared: Vec<(Key, Vec<u8>)> = (0..keys)
        .map(|i| (a.key(format!("shared {i}")), value_of(i)))
        .collect();
    for (k, v) in &shared {
        if !a.put(k, v) {
            return Err("a put failed before any fault".to_owned());
        }
    }
    let length = Duration::from_secs(tier.count(2));

    // Killed: connections refused, then reconnect attempts until the timeout.
    server.kill();
    let killed = degrade(&b, &clock, &shared, length, "killed");
    // Hung: a live process that answers nothing.
    server.restart();
    server.pause();
    let before_hung = b.remote().map(|t| t.remote_stats()).unwrap_or_default();
    let hung = degrade(&b, &clock, &shared, length, "hung");
    server.resume();
    let r = b.remote().map(|t| t.remote_stats()).unwrap_or_default();
    let timeouts = r.timeouts;
    let hung_timeouts = r.timeouts - before_hung.timeouts;
    // At most one per cool-down, plus one for the cool-down under way, per phase.
    let allowed = |p: &Phase| p.gets / u64::from(ROUNDS_PER_COOLDOWN) + 1;
    let excess = timeouts.saturating_sub(allowed(&killed) + allowed(&hung));

    // Restarted (the data went with the old process): the same caches share again.
    clock.advance(COOLDOWN);
    let fresh: Vec<(Key, Vec<u8>)> = (0..keys.min(20))
        .map(|i| (a.key(format!("after {i}")), value_of(1000 + i)))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut not_shared = fresh.len() as u64;
    while Instant::now() < deadline && not_shared > 0 {
        not_shared = 0;
        for (k, v) in &fresh {
            let shared_now = a.put(k, v) && b.get(k).as_deref() == Some(&v[..]);
            not_shared += u64::from(!shared_now);
        }
        if not_shared > 0 {
            // A reconnection may cost a failed probe: let the next cool-down pass.
            clock.advance(COOLDOWN);
        }
    }

    // Damaged in Redis behind hoard's back: a flipped bit, a cut, another key's frame.
    let remote = a.remote().ok_or("cache A has no remote tier")?;
    let prefix = remote.config().get_prefix().to_owned();
    let mut damaged_wrong = 0u64;
    let ns = a.namespace().as_str().to_owned();
    for (i, (k, v)) in fresh.iter().enumerate().take(3) {
        let object = format!("{prefix}/{ns}/{}", k.digest().to_hex());
        let frame = servers::redis_bulk(&servers::redis_command(
            server.port(),
            &[b"GET", object.as_bytes()],
        ))
        .ok_or_else(|| format!("{object} is not in redis"))?;
        let bad = match i {
            0 => {
                let mut f = frame.clone();
                let at = f.len() / 2;
                f[at] ^= 0x04;
                f
            }
            1 => frame[..frame.len() - 1].to_vec(),
            _ => {
                let other = &fresh[(i + 1) % fresh.len()].0;
                let other_object = format!("{prefix}/{ns}/{}", other.digest().to_hex());
                servers::redis_bulk(&servers::redis_command(
                    server.port(),
                    &[b"GET", other_object.as_bytes()],
                ))
                .ok_or("the other frame is not in redis")?
            }
        };
        servers::redis_command(server.port(), &[b"SET", object.as_bytes(), &bad]);
        let dir_c = dir.path().join(format!("c{i}"));
        let c = machine(&dir_c, &server, &clock)?;
        if c.get(k).is_some_and(|g| g != *v) {
            damaged_wrong += 1;
        }
    }
    let rejected_by = |dir_name: &str| -> Result<u64, String> {
        let store = hoard::FsStore::open(dir.path().join(dir_name)).map_err(|e| e.to_string())?;
        Ok(hoard::remote_lifetime_stats(&store)
            .map_err(|e| e.to_string())?
            .map_or(0, |l| {
                l.counters.get("tier.remote_rejected").copied().unwrap_or(0)
            }))
    };
    let rejected = rejected_by("c0")? + rejected_by("c1")? + rejected_by("c2")?;

    let b_stats = b.stats();
    res.info(killed.gets + hung.gets, "rounds while down (get, put, get)")
        .info(
            u64::try_from(killed.slowest.max(hung.slowest).as_millis()).unwrap_or(u64::MAX),
            format!("ms slowest get or put (timeout {} ms)", TIMEOUT.as_millis()),
        )
        .info(timeouts, format!("timeouts ({hung_timeouts} while hung)"))
        .info(r.bypassed, "bypassed")
        .info(r.breaker_trips, "breaker trips")
        .zero(excess, "timeouts beyond one per cool-down")
        .zero(killed.wrong + hung.wrong + damaged_wrong, "wrong reads")
        .zero(killed.failed_puts + hung.failed_puts, "failed local puts")
        .zero(b_stats.errors, "cache errors")
        .zero(not_shared, "keys not shared after the restart")
        .info(rejected, "of 3 damaged remote values rejected by the tier")
        .zero(3u64.saturating_sub(rejected), "damaged values not rejected");
    res.note(format!(
        "killed for {:.1} s: {} rounds, slowest {} ms; hung (SIGSTOP) for {:.1} s: {} rounds, slowest {} ms; a cool-down every {} rounds (manual clock)",
        killed.elapsed.as_secs_f64(),
        killed.gets,
        killed.slowest.as_millis(),
        hung.elapsed.as_secs_f64(),
        hung.gets,
        hung.slowest.as_millis(),
        ROUNDS_PER_COOLDOWN
    ));
    Ok(res)
}
