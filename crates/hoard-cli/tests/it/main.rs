//! Black-box tests of the `hoard` binary on real cache directories: every command, every
//! exit status, text and JSON output.
//!
//! Each test runs the built binary with an isolated environment (its own HOME and XDG
//! directories, on Windows its own profile and known folders; no `HOARD_*` variables), so
//! nothing on the machine running the tests is read or written. Caches are filled through the library where that is quicker than one process
//! per entry; keys made by `Cache::key` are the same as the command's KEY.

mod config;
mod counters;
mod entries;
mod locks;
mod maintain;
// The peak-memory figures of `-v` come from Linux's /proc (`VmHWM`), and the pipe and
// device inputs from `head` and `/dev/zero`.
#[cfg(target_os = "linux")]
mod memory;
// The remote tier's tests start redis-server, memcached and moto: Linux programs, which a
// Windows process under Wine cannot start.
#[cfg(unix)]
mod remote;
mod run;
mod survey;
mod verify;

use std::ffi::OsStr;
use std::fs::{File, FileTimes};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use hoard::Cache;
use tempfile::TempDir;

/// What a run of the command produced.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: String,
}

impl Run {
    pub(crate) fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout()))
    }

    /// Asserts the exit status, showing the output when it is not the one expected.
    #[track_caller]
    pub(crate) fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code,
            code,
            "stdout: {}\nstderr: {}",
            self.stdout(),
            self.stderr
        );
        self
    }

    /// Asserts that stderr is exactly one line (an error message) and returns it.
    #[track_caller]
    pub(crate) fn one_error_line(&self) -> &str {
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "stderr: {:?}", self.stderr);
        assert!(lines[0].starts_with("hoard: "), "{:?}", lines[0]);
        assert!(!self.stderr.contains("panicked"), "{:?}", self.stderr);
        lines[0]
    }
}

/// A temporary home with a cache directory in it.
pub(crate) struct Env {
    pub(crate) home: TempDir,
}

impl Env {
    pub(crate) fn new() -> Self {
        Self {
            home: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    /// The cache directory the tests pass with `--dir`.
    pub(crate) fn dir(&self) -> PathBuf {
        self.home.path().join("cache")
    }

    /// A path inside the temporary home.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }

    /// The command, isolated from the machine's configuration.
    pub(crate) fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hoard"));
        let home = self.home.path();
        // The same two directories stand for the platform's configuration and cache folders:
        // XDG's on Unix, the known folders (%APPDATA%, %LOCALAPPDATA%) on Windows.
        cmd.env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join("xdg-config"))
            .env("XDG_CACHE_HOME", home.join("xdg-cache"))
            .env("USERPROFILE", home)
            .env("APPDATA", home.join("xdg-config"))
            .env("LOCALAPPDATA", home.join("xdg-cache"))
            .env_remove("HOARD_CONFIG")
            .env_remove("HOARD_CACHE_DIR")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `hoard --dir <cache> ARGS`.
    pub(crate) fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Run {
        let mut cmd = self.command();
        cmd.arg("--dir").arg(self.dir()).args(args);
        finish(cmd)
    }

    /// Runs `hoard ARGS` (no `--dir`).
    pub(crate) fn run_bare<S: AsRef<OsStr>>(&self, args: &[S]) -> Run {
        let mut cmd = self.command();
        cmd.args(args);
        finish(cmd)
    }

    /// Runs `hoard --dir <cache> ARGS` with `input` on stdin.
    pub(crate) fn run_with_stdin<S: AsRef<OsStr>>(&self, args: &[S], input: &[u8]) -> Run {
        let mut cmd = self.command();
        cmd.arg("--dir")
            .arg(self.dir())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("the hoard binary starts");
        let mut stdin = child.stdin.take().expect("a piped stdin");
        stdin.write_all(input).expect("the child reads its input");
        drop(stdin);
        let out = child.wait_with_output().expect("the child ends");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The library's view of the cache directory (no worker: nothing changes behind the
    /// test's back).
    pub(crate) fn cache(&self) -> Cache {
        self.cache_in("default")
    }

    /// The library's view of namespace `ns`.
    pub(crate) fn cache_in(&self, ns: &str) -> Cache {
        Cache::builder(self.dir())
            .namespace(ns)
            .without_worker()
            .build()
            .expect("the cache opens")
    }

    /// Writes `bytes` to a file in the temporary home and returns its path.
    pub(crate) fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        let mut f = File::create(&path).expect("a test file");
        f.write_all(bytes).expect("the test file is written");
        path
    }
}

fn finish(mut cmd: Command) -> Run {
    let out = cmd.output().expect("the hoard binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The path of the entry for KEY in `cache`, as `inspect --json` reports it.
pub(crate) fn entry_path(env: &Env, key: &str) -> PathBuf {
    let r = env.run(&["inspect", "--json", key]).expect_code(0);
    PathBuf::from(r.json()["path"].as_str().expect("a path"))
}

/// Sets an entry's (or any file's) access and modification times to `age` ago.
pub(crate) fn backdate(path: &Path, age: Duration) {
    let t = SystemTime::now() - age;
    File::open(path)
        .and_then(|f| f.set_times(FileTimes::new().set_accessed(t).set_modified(t)))
        .expect("the file's times can be set");
}

/// Deterministic bytes that do not compress (xorshift), `len` of them.
pub(crate) fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Bytes that compress well (text lines), `len` of them.
pub(crate) fn text(seed: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut i = seed;
    while out.len() < len {
        out.extend_from_slice(format!("line {i} of a compiled artifact\n").as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

/// A test path as a command-line argument (temporary paths are UTF-8).
pub(crate) fn s(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// `days` days.
pub(crate) const fn days(days: u64) -> Duration {
    Duration::from_secs(days * 86_400)
}
