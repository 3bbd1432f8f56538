//! [`alone`]: one test in a process of its own, for tests that change or measure what the
//! whole process shares: the umask, the peak resident set, a counting global allocator.
//! [`HeldElsewhere`]: a file `flock`ed by another process, for tests of what a held lock
//! costs.
//!
//! `cargo test` runs the tests of a binary on threads of one process, so such a test would
//! see (or disturb) the tests running beside it; nextest runs every test in its own process,
//! but a test must pass under both. [`alone`] re-runs the test binary with only that test,
//! so the test behaves the same under either runner.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Set in the re-run binary to the test that runs there.
const ALONE_ENV: &str = "HOARD_TESTKIT_ALONE";

/// Runs `body` as the only test of a process of its own: the current test binary, started
/// again with `test --exact --test-threads=1`, where this same call runs `body`. The
/// child's stderr is repeated on this process's stderr.
///
/// `test` is the test's path within its binary, as `cargo test -- --list` prints it
/// (`module::test_name`); call `alone` from that test, with all of the test inside `body`.
///
/// ```no_run
/// // The body of `#[test] fn modes_follow_no_umask()` in module `security`:
/// hoard_testkit::process::alone("security::modes_follow_no_umask", || {
///     // Change the umask, create files, check their modes.
/// });
/// ```
///
/// # Panics
/// If the child cannot be started, if it fails, or if it did not run that test (a wrong
/// `test` path), with its output in the message.
pub fn alone(test: &str, body: impl FnOnce()) {
    if std::env::var_os(ALONE_ENV).is_some_and(|t| t == test) {
        body();
        return;
    }
    let exe = std::env::current_exe().expect("the running test binary has a path");
    let out = Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ALONE_ENV, test)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot re-run the test binary for {test}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{test} failed in its own process ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains(&format!("test {test} ... ok")),
        "{test} did not run in its own process (is the path right?)\n--- stdout\n{stdout}"
    );
    eprint!("{stderr}");
}

/// A file locked (`flock`, exclusive) by another process, util-linux's `flock`, until this is
/// dropped: a real holder, as a stopped or slow hoard process would be.
#[derive(Debug)]
pub struct HeldElsewhere {
    child: Child,
}

impl HeldElsewhere {
    /// Starts `flock FILE` and returns once it holds the lock (the file is created if
    /// missing).
    ///
    /// # Panics
    /// If `flock` cannot be started or does not report that it holds the lock.
    pub fn new(file: &Path) -> Self {
        // `cat` inherits the locked descriptor and holds it until its stdin closes.
        let mut child = Command::new("flock")
            .arg(file)
            .args(["sh", "-c", "echo held; exec cat >/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("util-linux flock runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("a piped stdout"))
            .read_line(&mut line)
            .expect("flock reports");
        assert_eq!(line.trim(), "held", "flock {}", file.display());
        Self { child }
    }
}

impl Drop for HeldElsewhere {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}
