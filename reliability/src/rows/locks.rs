//! Lock rows: a lock holder stopped (issue 13, item 1).
//!
//! `locks-stopped-<lock>`, for the `counters`, `cleanup` and `usage` locks and the entry
//! lock of one key: a `holder` process takes the lock and is stopped with SIGSTOP (as
//! Ctrl-Z or a debugger would stop a hoard process at the wrong moment), then two
//! `lockuser` processes (puts, gets, worker syncs and cache drops, each timed) and a
//! `lockcleaner` (every explicit operation once, timed) run against the cache. Every
//! operation must end within its bound (hoard-evict's `lock` module): gets, puts and opens
//! take no lock, so within [`MERGE_LOCK_WAIT`]; syncs and drops within [`MERGE_LOCK_WAIT`];
//! explicit operations within [`OPERATION_LOCK_WAIT`], busy or done; each with
//! [`SLACK`] for scheduling on a loaded machine. No put may fail and no read may be wrong;
//! the harness checks that the stopped holder kept the lock all along.

use std::path::Path;
use std::time::Duration;

use hoard::evict::{MERGE_LOCK_WAIT, OPERATION_LOCK_WAIT};
use hoard::{FsStore, Housekeeping, LockTarget, StateName};
use rustix::process::Signal;

use super::{Reads, arena, clean_exit, containment, open, range_arg};
use crate::inspect::Canary;
use crate::proc::{Finished, Proc};
use crate::row::{Row, RowResult, Tier};
use crate::value::{self, Stamp};

/// What a loaded machine may add to a bound before the row calls it a violation: a hang
/// is what this row exists to catch, and it costs far more.
const SLACK: Duration = Duration::from_secs(1);

/// Keys the harness seeds; key 0 is the one whose entry lock the `entry` row holds, and the
/// users never write it.
const KEYS: u32 = 24;

const USERS: u32 = 2;

/// The lock rows.
pub(crate) fn rows() -> Vec<Box<dyn Row>> {
    ["counters", "cleanup", "usage", "entry"]
        .into_iter()
        .map(|lock| {
            Box::new(Stopped {
                lock,
                name: format!("locks-stopped-{lock}"),
                title: format!("locks: {lock} lock holder stopped"),
            }) as Box<dyn Row>
        })
        .collect()
}

struct Stopped {
    lock: &'static str,
    name: String,
    title: String,
}

impl Row for Stopped {
    fn name(&self) -> &str {
        &self.name
    }

    fn title(&self) -> &str {
        &self.title
    }

    fn run(&self, tier: &Tier) -> RowResult {
        match stopped(tier, self.lock) {
            Ok(r) | Err(r) => r,
        }
    }
}

fn failed(why: String) -> RowResult {
    let mut r = RowResult::ran();
    r.violation(why);
    r
}

fn sum(all: &[Finished], key: &str) -> u64 {
    all.iter()
        .map(|f| f.result().get(key).copied().unwrap_or(0))
        .sum()
}

fn max(all: &[&Finished], key: &str) -> u64 {
    all.iter()
        .map(|f| f.result().get(key).copied().unwrap_or(0))
        .max()
        .unwrap_or(0)
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Whether the lock `lock` of the cache at `root` is held by someone else now.
fn held_elsewhere(root: &Path, lock: &str) -> Result<bool, String> {
    let store = FsStore::open(root).map_err(|e| format!("cannot open the store: {e}"))?;
    let got = if lock == "entry" {
        let cache = open(root, hoard::Durability::None)?;
        let key = value::key(&cache, 0);
        store.lock(LockTarget::Entry(cache.namespace(), key.digest()), false)
    } else {
        let name = StateName::new(lock).map_err(|e| e.to_string())?;
        store.lock(LockTarget::Named(&name), false)
    };
    got.map(|l| l.is_none())
        .map_err(|e| format!("cannot try the {lock} lock: {e}"))
}

fn stopped(tier: &Tier, lock: &str) -> Result<RowResult, RowResult> {
    let dir = arena("locks").map_err(failed)?;
    let root = dir.path().join("cache");
    let canary = Canary::plant(dir.path(), &root)
        .map_err(|e| failed(format!("cannot plant the canary: {e}")))?;
    let mut rng = tier.rng(&format!("locks-stopped-{lock}"));
    let cache = open(&root, hoard::Durability::None).map_err(failed)?;
    for k in 0..KEYS {
        let stamp = Stamp {
            key: k,
            writer: value::HARNESS,
            seq: 0,
        };
        cache
            .try_put(
                &value::key(&cache, k),
                &value::make(stamp, value::size(&mut rng, 24, 16 << 10)),
            )
            .map_err(|e| failed(format!("cannot populate: {e}")))?;
    }
    let dir_arg = root.display().to_string();
    let mut holder = Proc::spawn(
        "holder",
        &[
            ("dir", dir_arg.clone()),
            ("lock", lock.to_owned()),
            ("key", "0".to_owned()),
        ],
        None,
    )
    .map_err(failed)?;
    holder.wait_ready(Duration::from_secs(30)).map_err(failed)?;
    holder.signal(Signal::STOP).map_err(failed)?;
    let mut res = RowResult::ran();
    let mut users = Vec::new();
    for u in 0..USERS {
        users.push(
            Proc::spawn(
                "lockuser",
                &[
                    ("dir", dir_arg.clone()),
                    ("writer", u.to_string()),
                    ("keys", range_arg(&(1..KEYS))),
                    ("read", range_arg(&(0..KEYS))),
                    ("seed", rng.u64(..).to_string()),
                    ("rounds", tier.count(4).to_string()),
                    ("puts", tier.count(40).to_string()),
                    ("worker", "1".to_owned()),
                ],
                None,
            )
            .map_err(|e| failed(format!("user {u}: {e}")))?,
        );
    }
    let mut cleaner = Proc::spawn(
        "lockcleaner",
        &[
            ("dir", dir_arg.clone()),
            // Tight, so that the cleanup evicts while the users put.
            ("count", (KEYS / 2).to_string()),
            ("bytes", (256u64 << 10).to_string()),
        ],
        None,
    )
    .map_err(failed)?;
    for p in users.iter_mut().chain(std::iter::once(&mut cleaner)) {
        p.wait_ready(Duration::from_secs(30)).map_err(failed)?;
    }
    // Generous: a hang is what fails the row; these only keep a hung run finite.
    let uf: Vec<Finished> = users
        .iter_mut()
        .map(|u| u.finish(Duration::from_secs(120)))
        .collect();
    let cf = cleaner.finish(Duration::from_secs(120));
    match held_elsewhere(&root, lock) {
        Ok(true) => {}
        Ok(false) => {
            res.violation(format!("the stopped holder did not keep the {lock} lock"));
        }
        Err(e) => {
            res.violation(e);
        }
    }
    let _ = holder.signal(Signal::CONT);
    holder.stop();
    let hf = holder.finish(Duration::from_secs(30));
    clean_exit(&mut res, &hf, "holder");
    for f in &uf {
        clean_exit(&mut res, f, "lockuser");
        for l in f
            .lines
            .iter()
            .filter(|l| !l.starts_with("result") && l != &"ready")
            .take(2)
        {
            res.violation(format!("lockuser: {l}"));
        }
    }
    clean_exit(&mut res, &cf, "lockcleaner");
    for l in cf.lines.iter().filter(|l| l.starts_with("error")).take(2) {
        res.violation(format!("lockcleaner: {l}"));
    }
    let last = Reads::all(&cache, 0..KEYS);
    for d in &last.details {
        res.violation(d.clone());
    }
    let c = cf.result();
    let c = |k: &str| c.get(k).copied().unwrap_or(0);
    let slowest_rw = max(&uf.iter().collect::<Vec<_>>(), "slowest_rw_us") / 1000;
    let slowest_exit = max(
        &uf.iter().chain(std::iter::once(&cf)).collect::<Vec<_>>(),
        "slowest_exit_us",
    ) / 1000;
    let slowest_op = c("slowest_op_us") / 1000;
    let over = [
        (slowest_rw, MERGE_LOCK_WAIT),
        (slowest_exit, MERGE_LOCK_WAIT),
        (slowest_op, OPERATION_LOCK_WAIT),
    ]
    .iter()
    .filter(|(took, bound)| *took > ms(*bound + SLACK))
    .count() as u64;
    let operations = sum(&uf, "puts") + sum(&uf, "failed") + sum(&uf, "reads") + c("ops");
    res.info(operations, "operations")
        .zero(sum(&uf, "failed"), "failed puts")
        .zero(
            sum(&uf, "errors") + sum(&uf, "corrupt") + last.errors + last.corrupt,
            "failed gets",
        )
        .zero(
            sum(&uf, "wrong") + sum(&uf, "short") + last.violations(),
            "wrong reads",
        )
        .info(c("busy"), "busy")
        .info(c("skipped"), "recompressions skipped")
        .info(slowest_rw, "ms slowest get/put/open")
        .info(
            slowest_exit,
            format!("ms slowest sync/drop (bound {})", ms(MERGE_LOCK_WAIT)),
        )
        .info(
            slowest_op,
            format!("ms slowest operation (bound {})", ms(OPERATION_LOCK_WAIT)),
        )
        .zero(over, "over bound")
        .zero(c("errors"), "operation errors");
    containment(&mut res, &canary);
    res.note(format!(
        "bounds: get/put/open and sync/drop {} ms, explicit operations {} ms, each + {} ms \
         of scheduling slack",
        ms(MERGE_LOCK_WAIT),
        ms(OPERATION_LOCK_WAIT),
        ms(SLACK)
    ));
    // The contrast: the held lock must have cost what its bound says.
    match lock {
        "counters" | "cleanup" if c("busy") == 0 => {
            res.violation(format!(
                "no explicit operation found the {lock} lock busy: was it held?"
            ));
        }
        "entry" if c("skipped") == 0 => {
            res.violation("no recompression skipped the locked entry: was it held?");
        }
        _ => {}
    }
    Ok(res)
}
