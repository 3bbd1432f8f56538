//! Concurrency rows: many processes on few keys.
//!
//! `concurrency`: 8 writer processes × 2,000 puts on 16 hot keys, 2 reader processes, and a
//! cleaner process that runs the eviction janitor's cleanup with tight limits and
//! recompresses every entry to alternating codecs in a loop; writers and readers run the
//! default eviction worker too. No read may be wrong or short, no put may fail.
//!
//! `concurrency-cleaners`: 4 processes start a cleanup of the same over-full cache at once;
//! together they may evict no more than needed + 5%.
//!
//! `concurrency-recompress`: 4 owner processes each put fresh versions of 4 hot keys that
//! only they write (compressible values of 4-256 KiB) and read their keys back after every
//! put, while one cleaner recompresses the whole cache to alternating codecs
//! (`recompress_all`, the `hoard recompress` path), another applies the worker's rule to
//! every hot key (`Janitor::recompress`, zstd 19), and the owners' own eviction workers
//! recompress the keys they use. A read of an older version than the owner's last
//! acknowledged put, during the run or at the end, is a rollback: there must be none.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Reads, arena, clean_exit, containment, open, range_arg};
use crate::inspect::{Canary, scan};
use crate::proc::{Finished, Proc};
use crate::row::{Row, RowResult, Tier};
use crate::value::{self, Read, Stamp};

/// The concurrency rows.
pub(crate) fn rows() -> Vec<Box<dyn Row>> {
    vec![
        Box::new(HotKeys),
        Box::new(Cleaners),
        Box::new(RecompressRace),
    ]
}

fn failed(why: String) -> RowResult {
    let mut r = RowResult::ran();
    r.violation(why);
    r
}

const HOT_KEYS: u32 = 16;
const WRITERS: usize = 8;
const READERS: usize = 2;

/// 8 × 2,000 puts on 16 hot keys, with readers, eviction and recompression racing them.
struct HotKeys;

impl Row for HotKeys {
    fn name(&self) -> &str {
        "concurrency"
    }

    fn title(&self) -> &str {
        "concurrency: 8 writers, 16 hot keys"
    }

    fn run(&self, tier: &Tier) -> RowResult {
        match hot_keys(tier) {
            Ok(r) | Err(r) => r,
        }
    }
}

fn sum(all: &[Finished], key: &str) -> u64 {
    all.iter()
        .map(|f| f.result().get(key).copied().unwrap_or(0))
        .sum()
}

fn hot_keys(tier: &Tier) -> Result<RowResult, RowResult> {
    let dir = arena("concurrency").map_err(failed)?;
    let root = dir.path().join("cache");
    let canary = Canary::plant(dir.path(), &root)
        .map_err(|e| failed(format!("cannot plant the canary: {e}")))?;
    drop(open(&root, hoard::Durability::None).map_err(failed)?);
    let mut rng = tier.rng("concurrency");
    let puts = tier.count(2000);
    let keys = range_arg(&(0..HOT_KEYS));
    let mut res = RowResult::ran();
    let mut cleaner = Proc::spawn(
        "cleaner",
        &[
            ("dir", root.display().to_string()),
            // Tight: 16 keys of up to 32 KiB are 300 KiB or so, so most rounds evict.
            ("count", "8".to_owned()),
            ("bytes", (128 << 10).to_string()),
            ("recompress", "1".to_owned()),
        ],
        None,
    )
    .map_err(failed)?;
    let mut readers = Vec::new();
    for r in 0..READERS {
        readers.push(
            Proc::spawn(
                "reader",
                &[
                    ("dir", root.display().to_string()),
                    ("keys", keys.clone()),
                    ("seed", rng.u64(..).to_string()),
                    ("worker", "1".to_owned()),
                ],
                None,
            )
            .map_err(|e| failed(format!("reader {r}: {e}")))?,
        );
    }
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        writers.push(
            Proc::spawn(
                "writer",
                &[
                    ("dir", root.display().to_string()),
                    ("writer", w.to_string()),
                    ("keys", keys.clone()),
                    ("seed", rng.u64(..).to_string()),
                    ("puts", puts.to_string()),
                    ("min", "24".to_owned()),
                    ("max", (32 << 10).to_string()),
                    ("worker", "1".to_owned()),
                ],
                None,
            )
            .map_err(|e| failed(format!("writer {w}: {e}")))?,
        );
    }
    for p in writers
        .iter_mut()
        .chain(readers.iter_mut())
        .chain(std::iter::once(&mut cleaner))
    {
        p.wait_ready(Duration::from_secs(30)).map_err(failed)?;
    }
    let wf: Vec<Finished> = writers
        .iter_mut()
        .map(|w| w.finish(Duration::from_secs(600)))
        .collect();
    for r in &mut readers {
        r.stop();
    }
    cleaner.stop();
    let rf: Vec<Finished> = readers
        .iter_mut()
        .map(|r| r.finish(Duration::from_secs(60)))
        .collect();
    let cf = cleaner.finish(Duration::from_secs(120));
    for f in &wf {
        clean_exit(&mut res, f, "writer");
        for l in f.lines.iter().filter(|l| l.starts_with("fail ")).take(2) {
            res.violation(format!("writer: {l}"));
        }
    }
    for f in &rf {
        clean_exit(&mut res, f, "reader");
        for l in f
            .lines
            .iter()
            .filter(|l| !l.starts_with("result") && l != &"ready")
            .take(2)
        {
            res.violation(format!("reader: {l}"));
        }
    }
    clean_exit(&mut res, &cf, "cleaner");
    for l in cf.lines.iter().filter(|l| l.starts_with("error")).take(2) {
        res.violation(format!("cleaner: {l}"));
    }
    let cache = open(&root, hoard::Durability::None).map_err(failed)?;
    let last = Reads::all(&cache, 0..HOT_KEYS);
    for d in &last.details {
        res.violation(d.clone());
    }
    let s = scan(&root);
    let cleaner_result = cf.result();
    let c = |k: &str| cleaner_result.get(k).copied().unwrap_or(0);
    let done = sum(&wf, "puts") + sum(&wf, "failed");
    if done != WRITERS as u64 * puts {
        res.violation(format!(
            "the writers made {done} of {} puts",
            WRITERS as u64 * puts
        ));
    }
    res.info(sum(&wf, "puts"), "puts")
        .zero(sum(&wf, "failed"), "failed puts")
        .info(sum(&rf, "reads"), "reads")
        .info(sum(&rf, "hits"), "hits")
        .zero(sum(&rf, "wrong") + last.violations(), "wrong reads")
        .zero(sum(&rf, "short"), "short reads")
        .zero(
            sum(&rf, "corrupt") + sum(&rf, "errors") + last.corrupt + last.errors,
            "read errors",
        )
        .info(c("cleanups"), "cleanups")
        .info(c("evicted"), "evicted")
        .info(c("recompressed"), "recompressed")
        .zero(c("errors") + c("corrupt"), "cleaner errors")
        .zero(s.bad.len() as u64, "bad files")
        .zero(s.temps.len() as u64, "temp files left");
    containment(&mut res, &canary);
    if c("evicted") == 0 || c("recompressed") == 0 {
        res.violation("the cleaner neither evicted nor recompressed anything: nothing raced");
    }
    Ok(res)
}

/// 4 processes cleaning at once.
struct Cleaners;

impl Row for Cleaners {
    fn name(&self) -> &str {
        "concurrency-cleaners"
    }

    fn title(&self) -> &str {
        "concurrency: 4 cleaners at once"
    }

    fn run(&self, tier: &Tier) -> RowResult {
        match cleaners(tier) {
            Ok(r) | Err(r) => r,
        }
    }
}

fn cleaners(tier: &Tier) -> Result<RowResult, RowResult> {
    const ENTRIES: u32 = 2000;
    const LIMIT: u64 = 1000;
    let rounds = tier.count(3);
    let mut res = RowResult::ran();
    let (mut needed, mut evicted, mut changes) = (0u64, 0u64, 0u64);
    let mut rng = tier.rng("concurrency-cleaners");
    for round in 0..rounds {
        let dir = arena("cleaners").map_err(failed)?;
        let root = dir.path().join("cache");
        let canary = Canary::plant(dir.path(), &root)
            .map_err(|e| failed(format!("cannot plant the canary: {e}")))?;
        let cache = open(&root, hoard::Durability::None).map_err(failed)?;
        for k in 0..ENTRIES {
            let stamp = Stamp {
                key: k,
                writer: value::HARNESS,
                seq: round,
            };
            let data = value::make(stamp, value::size(&mut rng, 24, 2048));
            cache
                .try_put(&value::key(&cache, k), &data)
                .map_err(|e| failed(format!("cannot populate: {e}")))?;
        }
        let mut procs = Vec::new();
        for _ in 0..4 {
            procs.push(
                Proc::spawn(
                    "cleaner",
                    &[
                        ("dir", root.display().to_string()),
                        ("count", LIMIT.to_string()),
                        ("bytes", (1u64 << 40).to_string()),
                        ("once", "1".to_owned()),
                    ],
                    None,
                )
                .map_err(failed)?,
            );
        }
        for p in &mut procs {
            p.wait_ready(Duration::from_secs(30)).map_err(failed)?;
        }
        for p in &mut procs {
            p.send("go");
        }
        let done: Vec<Finished> = procs
            .iter_mut()
            .map(|p| p.finish(Duration::from_secs(120)))
            .collect();
        for f in &done {
            clean_exit(&mut res, f, "cleaner");
        }
        // The janitor shrinks to 70% of the count limit.
        needed += u64::from(ENTRIES) - LIMIT * 70 / 100;
        evicted += sum(&done, "evicted");
        let reads = Reads::all(&cache, 0..ENTRIES);
        for d in &reads.details {
            res.violation(d.clone());
        }
        if reads.violations() > 0 {
            res.violation(format!(
                "round {round}: {} wrong reads after the cleanups",
                reads.violations()
            ));
        }
        changes += canary.changes().len() as u64;
    }
    let excess = evicted.saturating_sub(needed + needed / 20);
    res.info(rounds, "rounds")
        .info(needed, "evictions needed")
        .info(evicted, "evicted")
        .zero(excess, "evicted beyond needed + 5%")
        .zero(changes, "changes outside the root");
    if evicted < needed {
        res.violation(format!(
            "only {evicted} of {needed} needed evictions happened"
        ));
    }
    Ok(res)
}

/// Owners putting fresh versions of their hot keys while cleaners recompress them.
struct RecompressRace;

impl Row for RecompressRace {
    fn name(&self) -> &str {
        "concurrency-recompress"
    }

    fn title(&self) -> &str {
        "concurrency: recompression racing puts"
    }

    fn run(&self, tier: &Tier) -> RowResult {
        match recompress_race(tier) {
            Ok(r) | Err(r) => r,
        }
    }
}

/// The `last <key> <seq>` lines of the owners: each key's last acknowledged put.
fn last_puts(owners: &[Finished]) -> BTreeMap<u32, u64> {
    owners
        .iter()
        .flat_map(|f| f.lines.iter())
        .filter_map(|l| {
            let mut words = l.strip_prefix("last ")?.split_whitespace();
            let k = words.next()?.parse().ok()?;
            let seq = words.next()?.parse().ok()?;
            Some((k, seq))
        })
        .collect()
}

fn recompress_race(tier: &Tier) -> Result<RowResult, RowResult> {
    const OWNERS: u32 = 4;
    const KEYS_EACH: u32 = 4;
    let dir = arena("recompress").map_err(failed)?;
    let root = dir.path().join("cache");
    let canary = Canary::plant(dir.path(), &root)
        .map_err(|e| failed(format!("cannot plant the canary: {e}")))?;
    drop(open(&root, hoard::Durability::None).map_err(failed)?);
    let mut rng = tier.rng("concurrency-recompress");
    let puts = tier.count(1500);
    let hot = 0..OWNERS * KEYS_EACH;
    let mut res = RowResult::ran();
    // Limits nobody reaches: no entry is evicted, so every miss is a moment in which an
    // entry is moved aside, and every key must hold its last put at the end.
    let unlimited = [
        ("dir", root.display().to_string()),
        ("count", (1u64 << 40).to_string()),
        ("bytes", (1u64 << 50).to_string()),
    ];
    let mut cleaners = Vec::new();
    for extra in [("recompress", "1"), ("upgrade", "1")] {
        let mut args = unlimited.to_vec();
        args.push((extra.0, extra.1.to_owned()));
        args.push(("keys", range_arg(&hot)));
        cleaners.push(Proc::spawn("cleaner", &args, None).map_err(failed)?);
    }
    let mut owners = Vec::new();
    for w in 0..OWNERS {
        let keys = w * KEYS_EACH..(w + 1) * KEYS_EACH;
        owners.push(
            Proc::spawn(
                "owner",
                &[
                    ("dir", root.display().to_string()),
                    ("writer", w.to_string()),
                    ("keys", range_arg(&keys)),
                    ("seed", rng.u64(..).to_string()),
                    ("puts", puts.to_string()),
                    ("min", (4u64 << 10).to_string()),
                    ("max", (256u64 << 10).to_string()),
                    ("worker", "1".to_owned()),
                    ("threshold", "2".to_owned()),
                ],
                None,
            )
            .map_err(|e| failed(format!("owner {w}: {e}")))?,
        );
    }
    for p in owners.iter_mut().chain(cleaners.iter_mut()) {
        p.wait_ready(Duration::from_secs(30)).map_err(failed)?;
    }
    let of: Vec<Finished> = owners
        .iter_mut()
        .map(|w| w.finish(Duration::from_secs(900)))
        .collect();
    for c in &mut cleaners {
        c.stop();
    }
    let cf: Vec<Finished> = cleaners
        .iter_mut()
        .map(|c| c.finish(Duration::from_secs(120)))
        .collect();
    for f in &of {
        clean_exit(&mut res, f, "owner");
        for l in f
            .lines
            .iter()
            .filter(|l| {
                ["fail ", "rollback ", "wrong ", "error "]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .take(2)
        {
            res.violation(format!("owner: {l}"));
        }
    }
    for f in &cf {
        clean_exit(&mut res, f, "cleaner");
        for l in f.lines.iter().filter(|l| l.starts_with("error")).take(2) {
            res.violation(format!("cleaner: {l}"));
        }
    }
    // Everyone has stopped: every key holds exactly its owner's last acknowledged put.
    let last = last_puts(&of);
    let cache = open(&root, hoard::Durability::None).map_err(failed)?;
    let (mut final_rollbacks, mut lost, mut final_wrong) = (0u64, 0u64, 0u64);
    for k in hot.clone() {
        let Some(&want) = last.get(&k) else {
            continue;
        };
        match value::read_back(&cache, k) {
            Read::Good(s) if s.key == k && s.seq == want && s.writer == k / KEYS_EACH => {}
            Read::Good(s) if s.writer == k / KEYS_EACH && s.seq < want => {
                final_rollbacks += 1;
                res.violation(format!(
                    "key {k} holds seq {} after its owner's last put, seq {want}",
                    s.seq
                ));
            }
            Read::Miss => {
                lost += 1;
                res.violation(format!("key {k} lost its last put (seq {want})"));
            }
            other => {
                final_wrong += 1;
                res.violation(format!("key {k}: {other:?}, expected seq {want}"));
            }
        }
    }
    let s = scan(&root);
    let c = |k: &str| sum(&cf, k);
    let o = |k: &str| sum(&of, k);
    let done = o("puts") + o("failed");
    if done != u64::from(OWNERS) * puts {
        res.violation(format!(
            "the owners made {done} of {} puts",
            u64::from(OWNERS) * puts
        ));
    }
    res.info(o("puts"), "puts")
        .zero(o("failed"), "failed puts")
        .info(o("checks"), "checks")
        .info(o("misses"), "momentary misses")
        .zero(o("rollbacks") + final_rollbacks, "rollbacks")
        .zero(lost, "lost puts")
        .zero(o("wrong") + final_wrong, "wrong reads")
        .zero(o("errors"), "read errors")
        .info(c("recompressed"), "recompressed (all)")
        .info(c("upgraded"), "upgraded (worker rule)")
        .info(o("worker_recompressions"), "by workers")
        .zero(c("errors") + c("corrupt"), "cleaner errors")
        .zero(s.bad.len() as u64, "bad files")
        .zero(s.temps.len() as u64, "temp files left");
    containment(&mut res, &canary);
    if c("recompressed") == 0 || c("upgraded") == 0 {
        res.violation("the cleaners recompressed nothing: nothing raced");
    }
    Ok(res)
}
