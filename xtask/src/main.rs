//! The hoard workspace's automation, run as `cargo xtask <command>` (see `.cargo/config.toml`).
//!
//! - `cargo xtask ci [--quick] [--list]`: everything CI checks, in order, failing fast;
//!   `--quick` skips plain `cargo test` (nextest and the doctests still run), the feature
//!   matrix and `cargo doc`, `--list` prints the steps only.
//! - `cargo xtask tidy`: the workspace's structural rules (also run by `cargo nextest run -p
//!   xtask` as an ordinary test).
//! - `cargo xtask deny`: the `ci` step that runs cargo-deny, on its own (it extracts the
//!   shared advisory snapshot when there is one).
//! - `cargo xtask reliability [--soak] [--row NAME]... [--list]`: builds the reliability
//!   harness in release mode and runs the matrix rows (CI tier; `--soak` for the soak tier).
//!
//! Automation is Rust (house rule 13): a step that CI needs belongs here, not in a script.

mod ci;
mod reliability;
mod tidy;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci [--quick] [--list]
                 run every CI check in order, failing fast (--quick: skip plain cargo
                 test, the feature matrix and cargo doc; --list: print the steps, run
                 nothing)
  tidy           check the workspace's structural rules
  deny           run cargo deny as ci does (offline against ../shared's advisory snapshot
                 when it exists)
  reliability [--soak] [--row NAME]... [--list]
                 build the reliability harness (release) and run the matrix rows, CI tier
                 unless --soak; fails if a row that ran had a violation
  help           print this message";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let root = workspace_root();
    match args.as_slice() {
        ["ci", rest @ ..] => {
            let mut options = ci::Options::default();
            for arg in rest {
                match *arg {
                    "--quick" => options.quick = true,
                    "--list" => options.list = true,
                    other => return usage_error(&format!("unknown option `{other}` for `ci`")),
                }
            }
            match ci::run(&root, options) {
                Ok(()) => ExitCode::SUCCESS,
                Err(()) => ExitCode::FAILURE,
            }
        }
        ["tidy"] => match tidy::run(&root) {
            Ok(n) => {
                println!("tidy: {n} members ok");
                ExitCode::SUCCESS
            }
            Err(report) => {
                eprintln!("{report}");
                eprintln!("xtask: step tidy failed");
                ExitCode::FAILURE
            }
        },
        ["deny"] => match ci::deny(&root) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("xtask: step deny failed: {e}");
                ExitCode::FAILURE
            }
        },
        ["reliability", rest @ ..] => match reliability::run(&root, rest) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("xtask: reliability failed: {e}");
                ExitCode::FAILURE
            }
        },
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        [] => usage_error("no command given"),
        [other, ..] => usage_error(&format!("unknown command or arguments: `{other}`")),
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("xtask: {message}\n\n{USAGE}");
    ExitCode::from(2)
}

/// The repository root: the parent of this crate's directory.
pub(crate) fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .expect("xtask/ lives directly in the repository root")
        .to_path_buf()
}
