//! `hoard-reliability`: runs the rows of the reliability matrix (see its README)
//! against real processes, mounts and resource limits, and prints one line per row with its
//! figures.
//!
//! ```text
//! hoard-reliability [--row NAME]... [--list]
//! ```
//!
//! `--row` selects rows by name or by family prefix (`--row power`); `--list` prints the
//! rows. `HOARD_SOAK=1` runs the soak tier (ten times the counts);
//! `HOARD_RELIABILITY_SEED=N` repeats a run's random choices. The exit status is 1 if any
//! row that ran had a violation; a row that cannot run here (no root, no mount, a missing
//! tool) prints `NOT RUN (why)` and is never counted as passed. `cargo xtask reliability`
//! builds this in release mode and runs it.
//!
//! The harness re-executes itself as `hoard-reliability child <role> ...` for writers,
//! readers and cleaners (see `child.rs`).

mod child;
mod inspect;
mod proc;
mod row;
mod rows;
mod sys;
mod value;

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use crate::row::Tier;

const USAGE: &str = "\
usage: hoard-reliability [--row NAME]... [--list]

  --row NAME   run only the rows named NAME or starting with NAME- (repeatable)
  --list       list the rows and exit

environment:
  HOARD_SOAK=1               soak tier: ten times the counts of the CI tier
  HOARD_RELIABILITY_SEED=N   repeat the random choices of an earlier run";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("child") {
        return child::main(&args[1..]);
    }
    let mut selected = Vec::new();
    let mut list = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--row" => match it.next() {
                Some(name) => selected.push(name.clone()),
                None => return usage_error("--row needs a name"),
            },
            "--list" => list = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => return usage_error(&format!("unknown argument `{other}`")),
        }
    }
    let all = rows::all();
    let chosen: Vec<_> = all
        .iter()
        .filter(|r| {
            selected.is_empty()
                || selected
                    .iter()
                    .any(|s| r.name() == s || r.name().starts_with(&format!("{s}-")))
        })
        .collect();
    if chosen.is_empty() {
        return usage_error(&format!("no row matches {selected:?}; `--list` shows them"));
    }
    if list {
        for r in &chosen {
            println!("{:<24} {}", r.name(), r.title());
        }
        return ExitCode::SUCCESS;
    }
    let seed = std::env::var("HOARD_RELIABILITY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let tier = Tier::from_env(seed);
    println!(
        "hoard reliability matrix: {} tier, {} row(s), HOARD_RELIABILITY_SEED={seed}",
        tier.name(),
        chosen.len()
    );
    let start = Instant::now();
    let (mut passed, mut failed, mut not_run) = (0, 0, 0);
    for r in &chosen {
        let t = Instant::now();
        // A row that panics is a failed row, not the end of the run; its guards (mounts,
        // children) have unwound by the time it is reported.
        let mut result =
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| r.run(&tier))) {
                Ok(result) => result,
                Err(panic) => {
                    let why = panic
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .or_else(|| panic.downcast_ref::<&str>().copied())
                        .unwrap_or("a non-text panic");
                    let mut failed = row::RowResult::ran();
                    failed.violation(format!("the row panicked: {why}"));
                    failed
                }
            };
        result.elapsed = t.elapsed();
        println!("{}", result.render(r.title()));
        let _ = std::io::stdout().flush();
        if result.is_not_run() {
            not_run += 1;
        } else if result.passed() {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    println!(
        "{} row(s): {passed} passed, {failed} failed, {not_run} not run, in {:.0}s",
        chosen.len(),
        start.elapsed().as_secs_f64()
    );
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("hoard-reliability: {message}\n\n{USAGE}");
    ExitCode::from(2)
}
