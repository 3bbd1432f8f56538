//! Where things are printed: results on stdout (text or JSON), notes and progress on stderr,
//! progress only on a terminal and only for operations slow enough to need it.

use std::io::{self, IsTerminal, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::error::{CliError, CliResult, one_line};

/// An operation that has run this long is worth a progress bar; quicker ones (small caches)
/// finish before a bar would be readable, so none is drawn.
const REVEAL_AFTER: Duration = Duration::from_millis(400);

/// How chatty stderr is (`-q`, default, `-v`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Output {
    quiet: bool,
    verbose: u8,
}

impl Output {
    /// From the `-q` / `-v` options.
    pub(crate) fn new(quiet: bool, verbose: u8) -> Self {
        Self { quiet, verbose }
    }

    /// A note on stderr (a miss, "nothing to remove"), unless `-q`.
    pub(crate) fn note(&self, message: &str) {
        if !self.quiet {
            to_stderr(message);
        }
    }

    /// Detail on stderr, only with `-v`.
    pub(crate) fn detail(&self, message: &str) {
        if self.verbose > 0 && !self.quiet {
            to_stderr(message);
        }
    }

    /// Whether progress may be drawn: stderr is a terminal and `-q` is off.
    fn progress_allowed(&self) -> bool {
        !self.quiet && io::stderr().is_terminal()
    }

    /// A progress bar over `len` steps, drawn once the work has taken [`REVEAL_AFTER`].
    pub(crate) fn bar(&self, len: u64, message: &'static str) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {human_pos}/{human_len} ({eta} left)")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(message);
        Progress {
            bar,
            allowed: self.progress_allowed(),
            shown: false,
            started: Instant::now(),
        }
    }

    /// Runs `work`, showing a spinner with `message` if it takes longer than
    /// [`REVEAL_AFTER`] (for operations that report no progress of their own).
    pub(crate) fn spin<T>(&self, message: &str, work: impl FnOnce() -> T) -> T {
        if !self.progress_allowed() {
            return work();
        }
        let spinner = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        spinner.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        spinner.set_message(message.to_owned());
        let (done, finished) = mpsc::channel::<()>();
        std::thread::scope(|scope| {
            let spinner = &spinner;
            scope.spawn(move || {
                if finished.recv_timeout(REVEAL_AFTER) == Err(mpsc::RecvTimeoutError::Timeout) {
                    spinner.set_draw_target(ProgressDrawTarget::stderr());
                    spinner.enable_steady_tick(Duration::from_millis(120));
                    // Until the work ends (or the sender is dropped by a panic).
                    let _ = finished.recv();
                }
                spinner.finish_and_clear();
            });
            let result = work();
            // The receiver lives until the scope ends; a send cannot fail before that.
            let _ = done.send(());
            result
        })
    }
}

/// One line on stderr; a closed stderr is ignored (there is nowhere left to complain).
fn to_stderr(message: &str) {
    let _ = writeln!(io::stderr(), "hoard: {}", one_line(message));
}

/// A progress bar that stays hidden until the work has taken a moment.
pub(crate) struct Progress {
    bar: ProgressBar,
    allowed: bool,
    shown: bool,
    started: Instant,
}

impl Progress {
    /// Advances by `n` steps.
    pub(crate) fn inc(&mut self, n: u64) {
        self.bar.inc(n);
        if self.allowed && !self.shown && self.started.elapsed() >= REVEAL_AFTER {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown = true;
        }
    }

    /// Removes the bar from the terminal.
    pub(crate) fn finish(self) {
        self.bar.finish_and_clear();
    }
}

/// Writes `text` to stdout.
pub(crate) fn print(text: &str) -> CliResult<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| CliError::output(&e))
}

/// Writes `value` to stdout as pretty-printed JSON and a newline.
pub(crate) fn print_json(value: &impl Serialize) -> CliResult<()> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::new(format!("cannot render the JSON output: {e}")))?;
    text.push('\n');
    print(&text)
}
