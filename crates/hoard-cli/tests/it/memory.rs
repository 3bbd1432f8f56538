//! `hoard put` / `get` of a 100 MiB value stay within a small multiple of the value in
//! memory, and refusals (a planted sparse gigabyte, an input above the cap) within a small
//! bound, measured as the child's own peak resident set: the `VmHWM` of its image, which
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
/// in bytes it reports for itself. Its standard input is what the command was given
/// (`Env::command` sets none).
fn run_measured(mut cmd: Command) -> (i32, u64) {
    let out = cmd
        .arg("-v")
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

/// The bound for refusals: a small fraction of what the planted inputs would cost read.
const REFUSAL_BOUND: u64 = 64 << 20;

#[test]
fn get_of_a_planted_sparse_gigabyte_is_a_quick_miss_in_little_memory() {
    let env = Env::new();
    let cache = env.cache();
    cache
        .try_put(&cache.key("k"), b"value")
        .expect("the value is stored");
    drop(cache);
    let path = crate::entry_path(&env, "k");
    let f = std::fs::File::create(&path).expect("the entry is writable");
    f.set_len(1 << 30).expect("a sparse gigabyte");
    drop(f);
    let started = std::time::Instant::now();
    let mut cmd = env.command();
    cmd.args(["--dir", s(&env.dir()), "-v", "get", "k"]);
    let (code, peak) = run_measured(cmd);
    let took = started.elapsed();
    assert_eq!(code, 1, "a miss");
    eprintln!(
        "hoard get of a sparse 1 GiB entry: peak RSS {:.1} MiB in {took:?}",
        mib(peak)
    );
    assert!(
        peak < REFUSAL_BOUND,
        "get peaked at {:.1} MiB, above {:.1} MiB",
        mib(peak),
        mib(REFUSAL_BOUND)
    );
    assert!(!path.exists(), "the planted file is removed as corrupt");
}

/// Where `put`'s input comes from.
#[derive(Clone, Copy, Debug)]
enum Input<'a> {
    /// A path argument.
    Arg(&'a std::path::Path),
    /// Standard input redirected from a file.
    Stdin(&'a std::path::Path),
    /// A pipe that carries 64 MiB of zeros (`head -c` of `/dev/zero`).
    Pipe,
}

/// `hoard --config CONFIG put z` with `input`, and the `head` feeding a pipe (to be waited
/// for once the command is dropped).
fn put_command(
    env: &Env,
    config: &std::path::Path,
    input: Input<'_>,
) -> (Command, Option<std::process::Child>) {
    let mut cmd = env.command();
    cmd.args(["--dir", s(&env.dir()), "--config", s(config), "put", "z"]);
    let mut feeder = None;
    match input {
        Input::Arg(path) => {
            cmd.arg(path);
        }
        Input::Stdin(path) => {
            cmd.stdin(std::fs::File::open(path).expect("the input opens"));
        }
        Input::Pipe => {
            let mut head = Command::new("head")
                .args(["-c", "67108864", "/dev/zero"])
                .stdout(Stdio::piped())
                .spawn()
                .expect("head starts");
            cmd.stdin(head.stdout.take().expect("a piped stdout"));
            feeder = Some(head);
        }
    }
    (cmd, feeder)
}

#[test]
fn put_of_an_input_above_the_cap_is_refused_before_it_is_read() {
    let env = Env::new();
    let cap: u64 = 1 << 20;
    let config = env.file("small.toml", b"[cache]\nmax-entry-size = \"1Mi\"\n");
    let big = env.file("big.bin", &vec![7u8; (cap + 1) as usize]);
    let zero = std::path::Path::new("/dev/zero");
    for input in [
        Input::Arg(zero),
        Input::Arg(&big),
        Input::Stdin(&big),
        Input::Pipe,
    ] {
        let (mut cmd, feeder) = put_command(&env, &config, input);
        let done = cmd.output().expect("the hoard binary runs");
        drop(cmd);
        if let Some(mut head) = feeder {
            let _ = head.wait();
        }
        let stderr = String::from_utf8_lossy(&done.stderr);
        assert_eq!(done.status.code(), Some(2), "{input:?}: {stderr}");
        assert!(
            stderr.contains(&format!("the {cap}-byte max entry size (`max-entry-size`)")),
            "{input:?}: {stderr}"
        );
        let expected = match input {
            Input::Arg(p) if p == zero => "input /dev/zero is larger than".to_owned(),
            Input::Arg(p) => format!("input {} is {} bytes, above", p.display(), cap + 1),
            Input::Stdin(_) => format!("standard input is {} bytes, above", cap + 1),
            Input::Pipe => "standard input is larger than".to_owned(),
        };
        assert!(stderr.contains(&expected), "{input:?}: {stderr}");

        let (cmd, feeder) = put_command(&env, &config, input);
        let (code, peak) = run_measured(cmd);
        if let Some(mut head) = feeder {
            let _ = head.wait();
        }
        assert_eq!(code, 2, "{input:?}");
        eprintln!(
            "hoard put of {input:?} above a 1 MiB cap: peak RSS {:.1} MiB",
            mib(peak)
        );
        assert!(
            peak < REFUSAL_BOUND,
            "{input:?}: put peaked at {:.1} MiB",
            mib(peak)
        );
    }
    let cache = env.cache();
    assert!(cache.get(&cache.key("z")).is_none(), "nothing stored");
}
