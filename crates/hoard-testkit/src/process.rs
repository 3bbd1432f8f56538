//! [`alone`]: one test in a process of its own, for tests that change or measure what the
//! whole process shares: the umask, the peak resident set, a counting global allocator.
//! [`HeldElsewhere`]: a file locked by another process (util-linux's `flock`, or any holder
//! that says when it holds), for tests of what a held lock costs.
//!
//! `cargo test` runs the tests of a binary on threads of one process, so such a test would
//! see (or disturb) the tests running beside it; nextest runs every test in its own process,
//! but a test must pass under both. [`alone`] re-runs the test binary with only that test,
//! so the test behaves the same under either runner.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

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

/// A file locked by another process until this is dropped: a real holder, as a stopped or
/// slow hoard process would be. [`HeldElsewhere::new`] is util-linux's `flock` (Unix);
/// [`HeldElsewhere::started`] takes any holder, such as a test binary re-run to hold hoard's
/// own lock (what Windows, which has no `flock`, uses).
#[derive(Debug)]
pub struct HeldElsewhere {
    child: Child,
    /// The holder's stdout after its `held` line, drained at drop so that the holder never
    /// writes into a closed pipe.
    stdout: BufReader<ChildStdout>,
}

impl HeldElsewhere {
    /// Starts `flock FILE` and returns once it holds the lock (the file is created if
    /// missing).
    ///
    /// # Panics
    /// If `flock` cannot be started or does not report that it holds the lock.
    pub fn new(file: &Path) -> Self {
        // `cat` inherits the locked descriptor and holds it until its stdin closes.
        let mut command = Command::new("flock");
        command
            .arg(file)
            .args(["sh", "-c", "echo held; exec cat >/dev/null"]);
        Self::started(command, &format!("flock {}", file.display()))
    }

    /// Starts `command` with piped stdin and stdout and returns once it printed a line
    /// `held` (lines before it are skipped, such as a test harness's `running 1 test`).
    /// The holder must hold its lock until its stdin closes, which the drop of this does.
    /// `what` names the holder in panics.
    ///
    /// # Panics
    /// If `command` cannot be started or ends its output without a `held` line.
    pub fn started(mut command: Command, what: &str) -> Self {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the lock holder {what}: {e}"));
        let mut stdout = child.stdout.take().map(BufReader::new);
        let mut seen = String::new();
        let end = loop {
            let Some(out) = stdout.as_mut() else {
                break "no piped stdout".to_owned();
            };
            let mut line = String::new();
            match out.read_line(&mut line) {
                Ok(n) if n > 0 && line.trim() == "held" => break String::new(),
                Ok(n) if n > 0 => seen.push_str(&line),
                other => break format!("{other:?}"),
            }
        };
        match stdout {
            Some(stdout) if end.is_empty() => Self { child, stdout },
            _ => {
                let _ = child.kill();
                let status = child.wait();
                panic!("the lock holder {what} ended without holding ({end}, {status:?}): {seen}");
            }
        }
    }
}

impl Drop for HeldElsewhere {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = std::io::copy(&mut self.stdout, &mut std::io::sink());
        let _ = self.child.wait();
    }
}
