//! `hoard put` / `get` of a 100 MiB value stay within a small multiple of the value in
//! memory, measured as the child's own peak resident set: the `VmHWM` of its image, which
//! the command reports itself with `-v`.
//!
//! Not `wait4`'s `ru_maxrss`: Linux carries that figure over from the parent's image across
//! `exec`, so a test binary whose other threads hold large buffers would make the child
//! "peak" at the parent's size.

use std::process::{Command, Stdio};

use crate::{Env, noise, s};

/// The value size the issue names.
const VALUE: usize = 100 << 20;

/// The bound: three times the value. The command holds the value and its frame (for
/// incompressible data, as large again) at once, plus the binary and the allocator's slack.
const BOUND: u64 = 3 * VALUE as u64;

/// Runs `cmd` with `-v` to its end and returns its exit status and the peak resident memory
/// in bytes it reports for itself.
fn run_measured(mut cmd: Command) -> (i32, u64) {
    let out = cmd
        .arg("-v")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("the hoard binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let peak = stderr
        .lines()
        .find_map(|l| l.split_once(", peak memory "))
        .and_then(|(_, size)| parse_size(size))
        .unwrap_or_else(|| panic!("no peak memory in the -v output: {stderr}"));
    (out.status.code().unwrap_or(-1), peak)
}

/// Parses the command's human-readable size (`512 B`, `101.3 MiB`), to within its rounding.
fn parse_size(text: &str) -> Option<u64> {
    let (number, unit) = text.trim().split_once(' ')?;
    let shift = match unit {
        "B" => 0,
        "KiB" => 10,
        "MiB" => 20,
        "GiB" => 30,
        _ => return None,
    };
    let value: f64 = number.parse().ok()?;
    Some((value * f64::from(1u32 << shift)) as u64)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

/// The measured peak is the command's own: at least the value it held, below [`BOUND`].
#[track_caller]
fn assert_peak(what: &str, peak: u64) {
    eprintln!("hoard {what} of 100 MiB: peak RSS {:.1} MiB", mib(peak));
    // A figure below the value would mean the measurement no longer sees the command's work
    // (or the command stopped holding the whole value, and this check should follow it).
    assert!(
        peak >= VALUE as u64,
        "{what} peaked at {:.1} MiB, below the value it holds",
        mib(peak)
    );
    assert!(
        peak < BOUND,
        "{what} peaked at {:.1} MiB, above {:.1} MiB",
        mib(peak),
        mib(BOUND)
    );
}

#[test]
fn put_of_100_mib_stays_within_three_times_the_value() {
    let env = Env::new();
    let value = noise(7, VALUE);
    let input = env.file("big.bin", &value);
    let mut cmd = env.command();
    cmd.args(["--dir", s(&env.dir()), "put", "big", s(&input)]);
    let (code, peak) = run_measured(cmd);
    assert_eq!(code, 0);
    assert_peak("put", peak);
    let cache = env.cache();
    assert!(cache.get(&cache.key("big")) == Some(value), "stored intact");
}

#[test]
fn get_of_100_mib_stays_within_three_times_the_value() {
    let env = Env::new();
    let value = noise(8, VALUE);
    let cache = env.cache();
    cache
        .try_put(&cache.key("big"), &value)
        .expect("the value is stored");
    let output = env.path("out.bin");
    let mut cmd = env.command();
    cmd.args(["--dir", s(&env.dir()), "get", "big", "-o", s(&output)]);
    let (code, peak) = run_measured(cmd);
    assert_eq!(code, 0);
    assert_peak("get", peak);
    assert!(
        std::fs::read(&output).expect("written") == value,
        "read back intact"
    );
}
