//! `hoard put` / `get` of a 100 MiB value stay within a small multiple of the value in
//! memory, measured as the child's peak resident set (what the kernel reports for it alone
//! through `wait4`).

use std::process::{Command, Stdio};

use crate::{Env, noise, s};

/// The value size the issue names.
const VALUE: usize = 100 << 20;

/// The bound: three times the value. The command holds the value and its frame (for
/// incompressible data, as large again) at once, plus the binary and the allocator's slack.
const BOUND: u64 = 3 * VALUE as u64;

/// Runs `cmd` to its end and returns its exit status and peak resident memory in bytes.
fn run_measured(mut cmd: Command) -> (i32, u64) {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the hoard binary starts");
    let pid = libc::pid_t::try_from(child.id()).expect("a pid fits pid_t");
    let mut status = 0;
    // SAFETY: `rusage` is plain old data that wait4 fills in; `status` is a valid out
    // pointer; `pid` is our own child, which nothing else waits for (the `Child` handle is
    // forgotten below, so std never waits for it a second time).
    #[expect(
        unsafe_code,
        reason = "getting a child's rusage needs wait4 (no safe wrapper)"
    )]
    let (reaped, usage) = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        let reaped = libc::wait4(pid, &mut status, 0, &mut usage);
        (reaped, usage)
    };
    std::mem::forget(child);
    assert_eq!(
        reaped,
        pid,
        "wait4 failed: {}",
        std::io::Error::last_os_error()
    );
    assert!(libc::WIFEXITED(status), "the command did not exit normally");
    // Linux reports ru_maxrss in KiB.
    let peak = u64::try_from(usage.ru_maxrss).expect("non-negative") * 1024;
    (libc::WEXITSTATUS(status), peak)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
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
    eprintln!("hoard put of 100 MiB: peak RSS {:.1} MiB", mib(peak));
    assert!(
        peak < BOUND,
        "put peaked at {:.1} MiB, above {:.1} MiB",
        mib(peak),
        mib(BOUND)
    );
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
    eprintln!("hoard get of 100 MiB: peak RSS {:.1} MiB", mib(peak));
    assert!(
        peak < BOUND,
        "get peaked at {:.1} MiB, above {:.1} MiB",
        mib(peak),
        mib(BOUND)
    );
    assert!(
        std::fs::read(&output).expect("written") == value,
        "read back intact"
    );
}
