//! Single-flight across processes: P processes missing the same K keys at the same time
//! compute each key once; and a holder killed (SIGKILL) in the middle of a computation
//! releases the key at once (its `flock` dies with it), so that the processes waiting for it
//! go on well within the wait's bound (10 s by default) and one of them computes the key.
//!
//! Every computation appends a line to a counter file (`O_APPEND`) before it works for
//! [`WORK`]; the row counts the lines.

use std::io::{BufRead, Write};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hoard::{Cache, CacheBuilder, DEFAULT_SINGLE_FLIGHT_WAIT};

use super::arena;
use crate::proc::Proc;
use crate::row::{Row, RowResult, Tier};

/// The namespace of the row's caches.
const NAMESPACE: &str = "reliability-flight";

/// How long each computation works (the overlap the row needs).
pub(super) const WORK: Duration = Duration::from_millis(200);

/// The row.
pub(crate) struct SingleFlight;

/// The rows of this module.
pub(crate) fn rows() -> Vec<Box<dyn Row>> {
    vec![Box::new(SingleFlight)]
}

impl Row for SingleFlight {
    fn name(&self) -> &str {
        "concurrency-single-flight"
    }

    fn title(&self) -> &str {
        "concurrency: single-flight"
    }

    fn run(&self, tier: &Tier) -> RowResult {
        single_flight(tier).unwrap_or_else(|why| {
            let mut r = RowResult::ran();
            r.violation(why);
            r
        })
    }
}

pub(super) fn value_of(key: &str) -> Vec<u8> {
    format!("the value of {key}").into_bytes()
}

pub(super) fn lines(path: &Path) -> u64 {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count() as u64)
}

fn spawn(dir: &Path, counter: &Path, keys: u64, seed: u64, hang: bool) -> Result<Proc, String> {
    let mut p = Proc::spawn(
        "flight",
        &[
            ("dir", dir.display().to_string()),
            ("counter", counter.display().to_string()),
            ("keys", keys.to_string()),
            ("seed", seed.to_string()),
            ("hang", u8::from(hang).to_string()),
        ],
        None,
    )?;
    p.wait_ready(Duration::from_secs(30))?;
    Ok(p)
}

fn single_flight(tier: &Tier) -> Result<RowResult, String> {
    let mut res = RowResult::ran();
    let dir = arena("single-flight")?;
    let (processes, keys) = (tier.count(4), tier.count(8));

    // P processes x K keys, started together.
    let counter = dir.path().join("computes");
    let cache = dir.path().join("cache");
    let mut children = (0..processes)
        .map(|i| spawn(&cache, &counter, keys, i, false))
        .collect::<Result<Vec<_>, _>>()?;
    for c in &mut children {
        c.send("go");
    }
    let (mut waits, mut wait_hits, mut gave_up, mut wrong) = (0, 0, 0, 0);
    for c in &mut children {
        let done = c.finish(Duration::from_secs(120));
        if !done.ok() {
            return Err(done.describe("flight"));
        }
        let r = done.result();
        waits += r.get("waits").copied().unwrap_or(0);
        wait_hits += r.get("wait_hits").copied().unwrap_or(0);
        gave_up += r.get("gave_up").copied().unwrap_or(0);
        wrong += r.get("wrong").copied().unwrap_or(0);
    }
    let computes = lines(&counter);

    // A holder killed mid-computation; waiters recover.
    let counter2 = dir.path().join("computes-killed");
    let cache2 = dir.path().join("cache-killed");
    let mut holder = spawn(&cache2, &counter2, 1, 0, true)?;
    holder.send("go");
    holder.wait_ready(Duration::from_secs(30))?;
    let mut waiters = (0..processes)
        .map(|i| spawn(&cache2, &counter2, 1, i, false))
        .collect::<Result<Vec<_>, _>>()?;
    for w in &mut waiters {
        w.send("go");
    }
    // Let the waiters reach the lock (a waiter that comes later takes it at once, which
    // the figures show as fewer waits).
    std::thread::sleep(Duration::from_millis(300));
    let killed_at = unix_ms();
    holder.kill();
    let (mut recovered_ms, mut waited, mut wrong2, mut gave_up2) = (0u64, 0u64, 0u64, 0u64);
    for w in &mut waiters {
        let done = w.finish(Duration::from_secs(120));
        if !done.ok() {
            return Err(done.describe("flight"));
        }
        let r = done.result();
        let done_ms = r.get("done_ms").copied().unwrap_or(u64::MAX);
        recovered_ms = recovered_ms.max(done_ms.saturating_sub(killed_at));
        waited += r.get("waits").copied().unwrap_or(0);
        wrong2 += r.get("wrong").copied().unwrap_or(0);
        gave_up2 += r.get("gave_up").copied().unwrap_or(0);
    }
    // The holder's computation (killed) and exactly one waiter's.
    let computes2 = lines(&counter2);
    let bound = u64::try_from(DEFAULT_SINGLE_FLIGHT_WAIT.as_millis()).unwrap_or(u64::MAX);

    res.info(
        computes,
        format!("computes of {keys} keys by {processes} processes"),
    )
    .zero(computes.abs_diff(keys), "computes beyond one per key")
    .info(waits, "waits")
    .info(wait_hits, "waits ended in a hit")
    .zero(gave_up, "waits that gave up")
    .zero(wrong + wrong2, "wrong values")
    .info(
        waited,
        format!("of {processes} waited for the killed holder"),
    )
    .info(recovered_ms, "ms from the kill to the last waiter's value")
    .zero(
        u64::from(recovered_ms >= bound),
        "waiters past the wait bound",
    )
    .zero(gave_up2, "waits on the killed holder that gave up")
    .zero(
        computes2.abs_diff(2),
        "computes of the killed key beyond holder + one",
    );
    res.note(format!(
        "each computation works {} ms; default wait bound {} s; the killed holder's lock is a flock on state/flight-<xyz>.lock",
        WORK.as_millis(),
        DEFAULT_SINGLE_FLIGHT_WAIT.as_secs()
    ));
    Ok(res)
}

pub(super) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The `flight` child: opens the cache at `dir=`, says `ready`, waits for `go`, then
/// `get_or_compute`s keys `key 0` .. `key <keys-1>` (in an order from `seed=`), each
/// computation appending a line to `counter=` and working [`WORK`]. With `hang=1` it
/// computes `key 0` and, inside the computation, says `ready` again and blocks until
/// killed. Reports the single-flight counters, wrong values and when it finished.
pub(crate) fn child(opts: &std::collections::BTreeMap<String, String>) -> Result<(), String> {
    let arg = |k: &str| opts.get(k).ok_or_else(|| format!("missing `{k}=`"));
    let num = |k: &str| -> Result<u64, String> {
        arg(k)?
            .parse()
            .map_err(|_| format!("`{k}=` is not a number"))
    };
    let counter = std::path::PathBuf::from(arg("counter")?);
    let cache = CacheBuilder::new(arg("dir")?)
        .namespace(NAMESPACE)
        .without_worker()
        .build()
        .map_err(|e| format!("cannot open the cache: {e}"))?;
    let wrong = compute_keys(
        &cache,
        &counter,
        num("keys")?,
        num("seed")?,
        num("hang")? == 1,
    );
    let s = cache.stats();
    drop(cache);
    println!(
        "result waits={} wait_hits={} gave_up={} wrong={wrong} done_ms={}",
        s.flight_waits,
        s.flight_wait_hits,
        s.flight_gave_up,
        unix_ms()
    );
    Ok(())
}

/// What the children of this row and of the lease row do once their cache is open: say
/// `ready`, wait for `go`, then `get_or_compute` keys `key 0` .. `key <keys-1>` (in an order
/// from `seed`), each computation appending a line to `counter` and working [`WORK`]. With
/// `hang` the first computation says `ready` again and blocks until the process is killed.
/// Returns how many values came back wrong.
pub(super) fn compute_keys(cache: &Cache, counter: &Path, keys: u64, seed: u64, hang: bool) -> u64 {
    println!("ready");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    let mut order: Vec<u64> = (0..keys).collect();
    fastrand::Rng::with_seed(seed).shuffle(&mut order);
    let mut wrong = 0u64;
    for i in order {
        let name = format!("key {i}");
        let key = cache.key(&name);
        let got = cache.get_or_compute(&key, || {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(counter)
                .expect("the counter file opens");
            let _ = writeln!(f, "computed {name}");
            if hang {
                println!("ready");
                let _ = std::io::stdout().flush();
                // Until killed: the parent never closes stdin before the kill.
                let mut rest = String::new();
                let _ = std::io::stdin().lock().read_line(&mut rest);
            }
            std::thread::sleep(WORK);
            value_of(&name)
        });
        wrong += u64::from(got != value_of(&name));
    }
    wrong
}
