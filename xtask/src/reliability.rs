//! `cargo xtask reliability [--soak] [HARNESS ARGS]`: builds the reliability harness
//! (`reliability/`, package `hoard-reliability`) in release mode and runs it.
//!
//! The harness prints one line per matrix row and exits non-zero if a row that ran had a
//! violation. `--soak` sets `HOARD_SOAK=1` (ten times the counts); an inherited
//! `HOARD_SOAK` is passed through as well. Other arguments (`--row NAME`, `--list`) go to
//! the harness. Rows that need root, mounts or tools it does not find print `NOT RUN`;
//! `.ci/run` installs the tools first.

use std::path::Path;

use crate::ci;

/// Builds and runs the harness; `Err` if the build failed or a row had a violation.
pub(crate) fn run(root: &Path, args: &[&str]) -> Result<(), String> {
    let mut soak = false;
    let mut rest = Vec::new();
    for a in args {
        match *a {
            "--soak" => soak = true,
            other => rest.push(other),
        }
    }
    let mut cmd = ci::cargo();
    cmd.current_dir(root).args([
        "run",
        "--release",
        "--locked",
        "--package",
        "hoard-reliability",
        "--",
    ]);
    cmd.args(&rest);
    let mut shown = Vec::new();
    if soak {
        cmd.env("HOARD_SOAK", "1");
        shown.push(("HOARD_SOAK", "1".to_owned()));
    }
    ci::spawn(&mut cmd, &shown)
}
