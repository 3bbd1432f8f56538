//! `hoard`: the operator's command for a hoard cache directory. See the crate README for
//! the commands, exit statuses and JSON schemas.
//!
//! # Modules
//! - `cli`: the clap definition (parsing, help, completions and the man page).
//! - `context`: configuration, directory and namespace; opening the cache.
//! - `commands`: one module per group of commands.
//! - `scan`: reading entries as a hit would, without side effects.
//! - `output`, `human`, `error`: printing, human-readable units, failures and exit statuses.

mod cli;
mod commands;
mod context;
mod error;
mod human;
mod output;
mod scan;

use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::error::{CliError, one_line};
use crate::output::Output;

fn main() -> ExitCode {
    // A bug must still end as one line on stderr and status 2, never a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let what = info.payload_as_str().unwrap_or("unknown cause");
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let _ = writeln!(
            std::io::stderr(),
            "hoard: internal error: {}{at}; please report it",
            one_line(what)
        );
    }));
    // Usage errors print clap's message and exit 2; --help and --version exit 0.
    let cli = Cli::try_parse().unwrap_or_else(|e| e.exit());
    let out = Output::new(cli.quiet, cli.verbose);
    let started = std::time::Instant::now();
    // The cache (and its worker thread) lives inside `run` and is dropped, its pending work
    // finished, before the status is returned.
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| commands::run(&cli, out)));
    out.detail(&resources(started.elapsed()));
    match result {
        Ok(Ok(status)) => status.into(),
        Ok(Err(CliError::BrokenPipe)) => ExitCode::SUCCESS,
        Ok(Err(err @ CliError::Failed(_))) => {
            let _ = writeln!(std::io::stderr(), "hoard: {}", one_line(&err.to_string()));
            ExitCode::from(2)
        }
        // The hook has printed the line.
        Err(_) => ExitCode::from(2),
    }
}

/// What the run cost, for `-v`: time, and on Linux the peak resident memory (the kernel's
/// `VmHWM`), which tells an operator what a recompression or a large get needs.
fn resources(elapsed: std::time::Duration) -> String {
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kib| format!(", peak memory {}", human::size(kib * 1024)))
        .unwrap_or_default();
    format!("done in {:.2} s{peak}", elapsed.as_secs_f64())
}
