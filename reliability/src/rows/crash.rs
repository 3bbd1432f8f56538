//! Crash row: writer processes killed with SIGKILL at random moments.
//!
//! Each cycle starts 2 to 4 writers on 256 shared keys (values of 24 bytes to 256 KiB),
//! waits until they are writing, kills them all at a random moment, and then checks:
//! every key reads back byte-exact or as a miss (I1), every entry file is a valid frame for
//! its name, and every key a dead writer left a temp file for takes a new put at once (I6).
//! At the end the eviction janitor sweeps the leftovers (I3), and nothing beside the cache
//! root changed (I5).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use hoard::Durability;

use super::{Reads, arena, clean_exit, containment, open, put_and_read, range_arg, sweep};
use crate::inspect::{Canary, scan};
use crate::proc::Proc;
use crate::row::{Row, RowResult, Tier};
use crate::value;

const KEYS: u32 = 256;

/// `crash`: ≥ 1,000 SIGKILL cycles of 2-4 writers.
pub(crate) struct Crash;

impl Row for Crash {
    fn name(&self) -> &str {
        "crash"
    }

    fn title(&self) -> &str {
        "crash: sigkill writers"
    }

    fn run(&self, tier: &Tier) -> RowResult {
        match run(tier) {
            Ok(r) | Err(r) => r,
        }
    }
}

fn run(tier: &Tier) -> Result<RowResult, RowResult> {
    let mut res = RowResult::ran();
    let fail = |why: String| {
        let mut r = RowResult::ran();
        r.violation(why);
        r
    };
    let dir = arena("crash").map_err(fail)?;
    let root = dir.path().join("cache");
    let canary = Canary::plant(dir.path(), &root)
        .map_err(|e| fail(format!("cannot plant the canary: {e}")))?;
    let cache = open(&root, Durability::None).map_err(fail)?;
    let by_digest: HashMap<[u8; 32], u32> = (0..KEYS)
        .map(|k| (*value::key(&cache, k).digest().as_bytes(), k))
        .collect();
    let mut rng = tier.rng("crash");
    let cycles = tier.count(1000);
    let (mut killed, mut temps_made, mut blocked, mut failed_puts) = (0u64, 0u64, 0u64, 0u64);
    let mut reads = Reads::default();
    let mut bad: HashSet<PathBuf> = HashSet::new();
    let mut seen_temps: HashSet<PathBuf> = HashSet::new();
    let mut next_writer = 0u32;
    for cycle in 0..cycles {
        let n = rng.usize(2..=4);
        let mut writers = Vec::with_capacity(n);
        for _ in 0..n {
            let args = [
                ("dir", root.display().to_string()),
                ("writer", next_writer.to_string()),
                ("seed", rng.u64(..).to_string()),
                ("keys", range_arg(&(0..KEYS))),
                ("min", "24".to_owned()),
                ("max", (256 << 10).to_string()),
                ("seq0", (cycle << 20).to_string()),
            ];
            next_writer += 1;
            match Proc::spawn("writer", &args, None) {
                Ok(p) => writers.push(p),
                Err(e) => {
                    res.violation(e);
                }
            }
        }
        for w in &mut writers {
            if let Err(e) = w.wait_ready(Duration::from_secs(20)) {
                res.violation(e);
            }
        }
        // A random moment: most land in the middle of a put (a put of 256 KiB takes about a
        // millisecond), some between puts, some before the first.
        std::thread::sleep(Duration::from_micros(rng.u64(0..=25_000)));
        rng.shuffle(&mut writers);
        for w in &mut writers {
            w.kill();
        }
        for mut w in writers {
            let f = w.finish(Duration::from_secs(10));
            if f.killed() {
                killed += 1;
            } else {
                clean_exit(&mut res, &f, w.role());
            }
            failed_puts += f.lines.iter().filter(|l| l.starts_with("fail ")).count() as u64;
        }
        let s = scan(&root);
        for (digest, path) in &s.temps {
            if !seen_temps.insert(path.clone()) {
                continue;
            }
            temps_made += 1;
            // The key this leftover belongs to must take a new put at once.
            if let Some(&k) = by_digest.get(digest.as_bytes()) {
                let len = value::size(&mut rng, 24, 64 << 10);
                if let Err(e) = put_and_read(&cache, k, cycle, len) {
                    blocked += 1;
                    res.violation(e);
                }
            }
        }
        bad.extend(s.bad);
        let r = Reads::all(&cache, 0..KEYS);
        reads.good += r.good;
        reads.misses += r.misses;
        reads.wrong += r.wrong;
        reads.short += r.short;
        reads.corrupt += r.corrupt;
        reads.errors += r.errors;
        for d in r.details {
            res.violation(d);
        }
    }
    let before = scan(&root).temps.len() as u64;
    let swept = sweep(&root).map_err(fail)?;
    let after = scan(&root);
    bad.extend(after.bad.iter().cloned());
    let last = Reads::all(&cache, 0..KEYS);
    for d in &last.details {
        res.violation(d.clone());
    }
    for p in bad.iter().take(3) {
        res.violation(format!("not a valid frame: {}", p.display()));
    }
    res.info(cycles, "cycles")
        .info(killed, "writers killed")
        .info(reads.good + last.good, "verified hits")
        .zero(reads.violations() + last.violations(), "wrong reads")
        .zero(bad.len() as u64, "bad files")
        .zero(
            reads.corrupt + reads.errors + last.corrupt + last.errors,
            "read errors",
        )
        .zero(failed_puts, "failed puts")
        .info(temps_made, "temp files left by kills")
        .zero(blocked, "keys blocked")
        .info(swept, "swept by the janitor")
        .zero(
            after.temps.len() as u64 + after.state_temps,
            "temp files left",
        );
    containment(&mut res, &canary);
    res.note(format!(
        "{before} temp files before the sweep; the janitor's cleanup with task_timeout 0 \
         swept {swept}; every leftover's key took a new put right after the kill"
    ));
    Ok(res)
}
