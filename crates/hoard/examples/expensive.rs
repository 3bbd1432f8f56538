//! Caches a real, expensive computation and shows a miss, then a hit.
//!
//! ```text
//! cargo run --release -p hoard --example expensive [-- --dir DIR] [-- --limit N]
//! ```
//!
//! The computation is a sieve of Eratosthenes up to `--limit` (default 60 million): about a
//! second of CPU, and a result of several megabytes once serialized, like a compiled module.
//! Without `--dir` the cache lives in a fresh temporary directory, so the first call is a
//! miss; with `--dir`, a second run of the program hits from its first call.

use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use hoard::Cache;

/// What the computation depends on: all of it, and only it, goes into the key.
#[derive(Hash)]
struct Sieve {
    limit: u64,
}

fn primes(job: &Sieve) -> Result<Vec<u64>, String> {
    let n = usize::try_from(job.limit).map_err(|_| format!("limit {} is too large", job.limit))?;
    let mut composite = vec![false; n + 1];
    let mut out = Vec::new();
    for i in 2..=n {
        if !composite[i] {
            out.push(i as u64);
            let mut j = i * i;
            while j <= n {
                composite[j] = true;
                j += i;
            }
        }
    }
    Ok(out)
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut dir: Option<PathBuf> = None;
    let mut limit: u64 = 60_000_000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dir" => dir = Some(args.next().ok_or("--dir needs a path")?.into()),
            "--limit" => limit = args.next().ok_or("--limit needs a number")?.parse()?,
            other => {
                return Err(
                    format!("unknown argument {other:?} (try --dir DIR, --limit N)").into(),
                );
            }
        }
    }
    let temp = tempfile::tempdir()?;
    let dir = dir.unwrap_or_else(|| temp.path().join("cache"));
    let cache = Cache::builder(&dir).namespace("example-sieve-1").build()?;
    println!("cache directory: {}", dir.display());

    for call in 1..=2 {
        let before = cache.stats();
        let started = Instant::now();
        let found = cache.get_data(Sieve { limit }, primes)?;
        let took = started.elapsed();
        let hit = cache.stats().hits > before.hits;
        println!(
            "call {call}: {} in {:>8.1} ms: {} primes below {limit}, the last {}",
            if hit { "hit " } else { "miss" },
            took.as_secs_f64() * 1e3,
            found.len(),
            found.last().copied().unwrap_or(0),
        );
    }
    let s = cache.stats();
    println!(
        "stats: {} hits, {} misses, {} inserts, {} corrupt, {} errors",
        s.hits, s.misses, s.inserts, s.corrupt, s.errors
    );
    Ok(())
}
