//! Child processes, parent side: the harness re-executes its own binary as
//! `hoard-reliability child <role> key=value...` (see [`crate::child`]), so every writer,
//! reader and cleaner is a real process that can be killed at any instruction.
//!
//! A child talks to the parent in lines on stdout (`ready`, `ack <key> <seq>`,
//! `fail <key> <why>`, `result k=v ...`); it stops when its stdin reaches end of file, so a
//! child never outlives the harness. Stderr is collected for the report.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::sys::{self, Limits};

/// A running child.
pub(crate) struct Proc {
    role: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Lines received before the one a caller waited for.
    early: Vec<String>,
    stderr: Option<JoinHandle<String>>,
    status: Option<ExitStatus>,
}

/// A child that ended: how, and everything it said.
#[derive(Debug)]
pub(crate) struct Finished {
    /// Its exit status.
    pub(crate) status: ExitStatus,
    /// Its stdout lines.
    pub(crate) lines: Vec<String>,
    /// Its stderr (a panic message, say), at most a few KiB.
    pub(crate) stderr: String,
}

impl Finished {
    /// The `key=value` pairs of its `result` line.
    pub(crate) fn result(&self) -> BTreeMap<String, u64> {
        self.lines
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix("result "))
            .map(|rest| {
                rest.split_whitespace()
                    .filter_map(|kv| kv.split_once('='))
                    .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether it exited with status 0.
    pub(crate) fn ok(&self) -> bool {
        self.status.success()
    }

    /// Whether it died of SIGKILL (ours).
    pub(crate) fn killed(&self) -> bool {
        self.status.signal() == Some(libc::SIGKILL)
    }

    /// One line describing an unexpected end, for a violation.
    pub(crate) fn describe(&self, role: &str) -> String {
        let tail: String = self
            .stderr
            .lines()
            .rev()
            .take(3)
            .collect::<Vec<_>>()
            .join(" | ");
        format!("{role} child ended with {}: {tail}", self.status)
    }
}

impl Proc {
    /// Starts `hoard-reliability child <role> <args>` with `limits` applied before exec.
    pub(crate) fn spawn(
        role: &str,
        args: &[(&str, String)],
        limits: Option<Limits>,
    ) -> Result<Self, String> {
        // The magic link, not `current_exe()`'s path: the shared target directory may be
        // rebuilt while the harness runs, and the link still reaches this very binary after
        // its path has been replaced (or deleted).
        let mut cmd = Command::new("/proc/self/exe");
        cmd.arg("child").arg(role);
        for (k, v) in args {
            cmd.arg(format!("{k}={v}"));
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(l) = limits {
            sys::limit(&mut cmd, l);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start a {role} child: {e}"))?;
        let stdout = child.stdout.take().expect("stdout was piped");
        let stderr = child.stderr.take().expect("stderr was piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = stderr.take(64 << 10).read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        });
        Ok(Self {
            role: role.to_owned(),
            stdin: child.stdin.take(),
            child,
            lines: rx,
            early: Vec::new(),
            stderr: Some(stderr),
            status: None,
        })
    }

    /// The role it was started as.
    pub(crate) fn role(&self) -> &str {
        &self.role
    }

    /// Waits for the line `ready` (the child has opened its cache), at most `timeout`.
    pub(crate) fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line == "ready" => return Ok(()),
                Ok(line) => self.early.push(line),
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("{} child not ready after {timeout:?}", self.role));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let f = self.finish(Duration::from_secs(5));
                    return Err(f.describe(&self.role));
                }
            }
        }
    }

    /// Sends one line on its stdin (`go`).
    pub(crate) fn send(&mut self, line: &str) {
        if let Some(stdin) = &mut self.stdin {
            let _ = writeln!(stdin, "{line}");
        }
    }

    /// Closes its stdin: the child finishes what it is doing, reports and exits.
    pub(crate) fn stop(&mut self) {
        self.stdin = None;
    }

    /// Sends `signal` (`Signal::STOP`, `Signal::CONT`) to it, if it is still running.
    pub(crate) fn signal(&mut self, signal: rustix::process::Signal) -> Result<(), String> {
        if self.status.is_some() {
            return Err(format!("the {} child has already ended", self.role));
        }
        // Not reaped yet, so the pid is still this child's.
        rustix::process::kill_process(rustix::process::Pid::from_child(&self.child), signal)
            .map_err(|e| format!("cannot signal the {} child: {e}", self.role))
    }

    /// SIGKILL, at once.
    pub(crate) fn kill(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
        }
    }

    /// Waits for it to end (killing it after `timeout`) and collects what it said. Its
    /// stdin stays open: a child that runs until stopped needs [`stop`](Self::stop) first.
    pub(crate) fn finish(&mut self, timeout: Duration) -> Finished {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(s) = self.status {
                break s;
            }
            match self.child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                Ok(None) => {
                    let _ = self.child.kill();
                    match self.child.wait() {
                        Ok(s) => break s,
                        Err(_) => break ExitStatus::from_raw(libc::SIGKILL),
                    }
                }
                Err(_) => break ExitStatus::from_raw(libc::SIGKILL),
            }
        };
        self.status = Some(status);
        let mut lines = std::mem::take(&mut self.early);
        // The child is gone, so its stdout reaches end of file once the pipe is drained.
        let drain_until = Instant::now() + Duration::from_secs(10);
        loop {
            let left = drain_until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => lines.push(l),
                Err(_) => break,
            }
        }
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        Finished {
            status,
            lines,
            stderr,
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
