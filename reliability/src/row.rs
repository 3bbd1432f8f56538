//! What a matrix row is ([`Row`]), how hard it runs ([`Tier`]) and what it reports
//! ([`RowResult`]).
//!
//! A row reports figures, each either informative (how many cycles, how many entries were
//! lost where losing them is allowed) or an expectation: a count of violations that must be
//! zero, or a count of detected damage that must be above zero (the contrast rows, which
//! prove that a check can fail). A row that cannot run on this machine says why and is
//! never counted as passed.

use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::time::Duration;

/// How hard rows run: the CI tier, or the soak tier (`HOARD_SOAK=1`) with ten times the
/// counts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tier {
    /// Whether this is the soak tier.
    pub(crate) soak: bool,
    /// The run's seed; every row derives its own random stream from it.
    pub(crate) seed: u64,
}

impl Tier {
    /// The tier the environment asks for, with `seed`.
    pub(crate) fn from_env(seed: u64) -> Self {
        let soak = std::env::var("HOARD_SOAK").is_ok_and(|v| !v.is_empty() && v != "0");
        Self { soak, seed }
    }

    /// `ci` in the CI tier, ten times that in the soak tier.
    pub(crate) fn count(&self, ci: u64) -> u64 {
        if self.soak { ci * 10 } else { ci }
    }

    /// The tier's name as printed.
    pub(crate) fn name(&self) -> &'static str {
        if self.soak { "soak" } else { "ci" }
    }

    /// A random stream for the row named `row`: the same seed and row give the same stream.
    pub(crate) fn rng(&self, row: &str) -> fastrand::Rng {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        row.hash(&mut h);
        fastrand::Rng::with_seed(self.seed ^ h.finish())
    }
}

/// One row of the reliability matrix. Rows live in modules under `rows/` and are listed in
/// [`crate::rows::all`]; a new row is a type implementing this trait, added there.
pub(crate) trait Row {
    /// The name `--row` selects it by: lowercase words joined by `-`, the family first
    /// (`crash`, `power-ext4-full`), so that `--row power` selects a family.
    fn name(&self) -> &str;
    /// What the one-line report starts with (`crash: sigkill writers`).
    fn title(&self) -> &str;
    /// Runs the row and reports its figures. Must not panic on a violation: it counts it.
    fn run(&self, tier: &Tier) -> RowResult;
}

/// What a figure must be for its row to pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Informative only.
    Info,
    /// A violation count: must be 0.
    Zero,
    /// Damage a contrast run exists to show: must be above 0.
    Positive,
}

/// One number of a row's report.
#[derive(Clone, Debug)]
pub(crate) struct Figure {
    value: u64,
    label: String,
    expect: Expect,
}

impl Figure {
    fn met(&self) -> bool {
        match self.expect {
            Expect::Info => true,
            Expect::Zero => self.value == 0,
            Expect::Positive => self.value > 0,
        }
    }
}

/// The report of one row.
#[derive(Clone, Debug)]
pub(crate) struct RowResult {
    not_run: Option<String>,
    figures: Vec<Figure>,
    notes: Vec<String>,
    violations: Vec<String>,
    /// Set by the runner.
    pub(crate) elapsed: Duration,
}

/// At most this many violation details are kept per row.
const MAX_DETAILS: usize = 8;

impl RowResult {
    /// An empty report of a row that ran.
    pub(crate) fn ran() -> Self {
        Self {
            not_run: None,
            figures: Vec::new(),
            notes: Vec::new(),
            violations: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

    /// The report of a row that could not run here, and why (no root, no tool, no mount).
    pub(crate) fn not_run(why: impl Into<String>) -> Self {
        Self {
            not_run: Some(why.into()),
            ..Self::ran()
        }
    }

    /// An informative figure.
    pub(crate) fn info(&mut self, value: u64, label: impl Into<String>) -> &mut Self {
        self.figure(value, label, Expect::Info)
    }

    /// A violation count, which must be zero.
    pub(crate) fn zero(&mut self, value: u64, label: impl Into<String>) -> &mut Self {
        self.figure(value, label, Expect::Zero)
    }

    /// Detected damage, which must be above zero (contrast rows).
    pub(crate) fn positive(&mut self, value: u64, label: impl Into<String>) -> &mut Self {
        self.figure(value, label, Expect::Positive)
    }

    fn figure(&mut self, value: u64, label: impl Into<String>, expect: Expect) -> &mut Self {
        self.figures.push(Figure {
            value,
            label: label.into(),
            expect,
        });
        self
    }

    /// A remark printed under the row's line (what was measured, which bound applied).
    pub(crate) fn note(&mut self, text: impl Into<String>) -> &mut Self {
        self.notes.push(text.into());
        self
    }

    /// A violation that is not a count (a child that panicked, a tool that failed midway);
    /// it fails the row. Only the first few are kept.
    pub(crate) fn violation(&mut self, text: impl Into<String>) -> &mut Self {
        if self.violations.len() < MAX_DETAILS {
            self.violations.push(text.into());
        } else if self.violations.len() == MAX_DETAILS {
            self.violations
                .push("(more violations not shown)".to_owned());
        }
        self
    }

    /// Whether the row could not run.
    pub(crate) fn is_not_run(&self) -> bool {
        self.not_run.is_some()
    }

    /// Whether the row ran and every expectation held.
    pub(crate) fn passed(&self) -> bool {
        self.not_run.is_none() && self.violations.is_empty() && self.figures.iter().all(Figure::met)
    }

    /// The one-line report (`title  figures  PASS`), then indented notes and violations.
    pub(crate) fn render(&self, title: &str) -> String {
        let mut line = format!("{title:<36}");
        if let Some(why) = &self.not_run {
            let _ = write!(line, " NOT RUN ({why})");
            return line;
        }
        for f in &self.figures {
            let _ = write!(line, "  {} {}", f.value, f.label);
            match (f.expect, f.met()) {
                (Expect::Positive, true) => line.push_str(" (> 0 expected)"),
                (Expect::Positive, false) => line.push_str(" (MUST BE > 0)"),
                (Expect::Zero, false) => line.push_str(" (MUST BE 0)"),
                _ => {}
            }
        }
        let status = if self.passed() { "PASS" } else { "FAIL" };
        let _ = write!(line, "  {status}  ({:.1}s)", self.elapsed.as_secs_f64());
        for n in &self.notes {
            let _ = write!(line, "\n    {n}");
        }
        for v in &self.violations {
            let _ = write!(line, "\n    violation: {v}");
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations_decide_the_status() {
        let mut r = RowResult::ran();
        r.info(1000, "cycles")
            .zero(0, "wrong reads")
            .positive(3, "bad files");
        assert!(r.passed());
        assert!(
            r.render("crash")
                .contains("1000 cycles  0 wrong reads  3 bad files (> 0 expected)  PASS")
        );
        r.positive(0, "lost puts");
        assert!(!r.passed());
        let mut r = RowResult::ran();
        r.zero(1, "wrong reads");
        assert!(r.render("x").contains("FAIL"));
        let mut r = RowResult::ran();
        r.violation("child panicked");
        assert!(!r.passed());
        let n = RowResult::not_run("no root");
        assert!(!n.passed() && n.is_not_run());
        assert!(n.render("power").contains("NOT RUN (no root)"));
    }

    #[test]
    fn tiers_scale_counts() {
        let ci = Tier {
            soak: false,
            seed: 1,
        };
        let soak = Tier {
            soak: true,
            seed: 1,
        };
        assert_eq!((ci.count(100), soak.count(100)), (100, 1000));
        assert_eq!(ci.rng("a").u64(..), ci.rng("a").u64(..));
    }
}
