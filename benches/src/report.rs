//! The report: a text table, the performance targets checked against this run, JSON and an SVG
//! chart.

use std::io;
use std::path::Path;

use serde::Serialize;

use crate::measure::CaseResult;

/// A performance target, evaluated on figures from this run.
#[derive(Clone, Debug, Serialize)]
pub struct Target {
    /// What is claimed.
    pub claim: String,
    /// The figure measured (a ratio, usually).
    pub measured: String,
    /// Whether the claim holds in this run.
    pub met: bool,
}

/// The thread counts of a run.
#[derive(Clone, Debug, Serialize)]
pub struct Threads {
    /// `--threads` (default: the available parallelism).
    pub requested: usize,
    /// The count hoard ran with: `requested` once the harness hands it over (see
    /// [`HOARD_TAKES_THREADS`](crate::contenders::HOARD_TAKES_THREADS)), 1 until then.
    pub hoard: usize,
    /// `std::thread::available_parallelism` on this machine.
    pub available_parallelism: usize,
}

impl Threads {
    fn describe(&self) -> String {
        let how = if self.hoard == self.requested {
            format!("--threads {}", self.requested)
        } else {
            format!(
                "--threads {} recorded; this hoard codes each entry on the calling thread",
                self.requested
            )
        };
        format!(
            "threads: hoard ran with {} ({how}); available parallelism {}",
            self.hoard, self.available_parallelism
        )
    }
}

/// What one contender's disk and ratio columns include.
#[derive(Clone, Debug, Serialize)]
pub struct DiskNote {
    /// The contender.
    pub contender: String,
    /// What its files hold besides the values' bytes.
    pub includes: String,
}

/// How the ratio and disk columns are computed, and why a ratio can exceed the codec's.
pub const DISK_COLUMNS: &str = "ratio: bytes put / growth of the contender's file sizes during \
the puts, so headers, indexes and side files count against the codec's ratio. A ratio above \
what compression gives can only come from deduplication (a content-addressed store such as \
cacache keeps one copy of identical values); every value of a run is distinct, so nothing \
deduplicates and cacache, which does not compress, shows a little below 1. disk: growth of \
allocated blocks during the puts, directories included, so small entries pay a whole \
file-system block per file (4 KiB on ext4), twice for a peer with two files per entry.";

/// Everything one run produced.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Where the data came from.
    pub workload: String,
    /// The directory the caches lived in.
    pub dir: String,
    /// The thread counts.
    pub threads: Threads,
    /// Per contender and size.
    pub cases: Vec<CaseResult>,
    /// How the ratio and disk columns are computed ([`DISK_COLUMNS`]).
    pub disk_columns: String,
    /// What each contender's disk and ratio columns include.
    pub disk_notes: Vec<DiskNote>,
    /// Key hashing, MB/s by hasher and input size.
    pub key_hashing: Vec<(String, usize, f64)>,
    /// Frame verification (parse + checksum + key check) as a share of a default hit, by size.
    pub verify_share: Vec<(usize, f64)>,
    /// The performance targets.
    pub targets: Vec<Target>,
    /// The trace replay's shape, if one ran.
    pub trace_config: Option<crate::trace::TraceConfig>,
    /// The trace replay, per contender.
    pub trace: Vec<crate::trace::TraceResult>,
}

/// Human-readable size (`1 KiB`, `16 MiB`).
pub fn size_label(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

impl Report {
    fn case(&self, contender: &str, size: usize) -> Option<&CaseResult> {
        self.cases
            .iter()
            .find(|c| c.contender == contender && c.size == size)
    }

    fn sizes(&self) -> Vec<usize> {
        let mut s: Vec<usize> = self.cases.iter().map(|c| c.size).collect();
        s.sort_unstable();
        s.dedup();
        s
    }

    fn contenders(&self) -> Vec<String> {
        let mut names = Vec::new();
        for c in &self.cases {
            if !names.contains(&c.contender) {
                names.push(c.contender.clone());
            }
        }
        names
    }

    /// Checks the performance targets that this run's figures can decide.
    pub fn check_targets(&mut self) {
        let mut t = Vec::new();
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        for size in self.sizes() {
            let get = |n: &str| self.case(n, size).map(|c| c.get.median_us);
            let put = |n: &str| self.case(n, size).map(|c| c.put.median_us);
            let label = size_label(size);
            if let Some(r) = ratio(get("hoard"), get("naive-zstd-3")) {
                t.push(Target {
                    claim: format!("{label} hit: hoard <= 1.2x naive fs::read + zstd bulk"),
                    measured: format!("{r:.2}x"),
                    met: r <= 1.2,
                });
            }
            if let Some(r) = ratio(get("wasmtime-cache"), get("hoard")) {
                let need = if size <= 1 << 10 { 2.0 } else { 1.0 };
                t.push(Target {
                    claim: format!("{label} hit: hoard >= {need}x faster than wasmtime-cache"),
                    measured: format!("{r:.2}x faster"),
                    met: r >= need,
                });
            }
            if size >= 64 << 10
                && let Some(r) = ratio(get("hoard"), get("hoard-lz4"))
            {
                t.push(Target {
                    claim: format!("{label} hit: lz4 >= 2x faster than zstd-3"),
                    measured: format!("{r:.2}x faster"),
                    met: r >= 2.0,
                });
            }
            if let Some(r) = ratio(put("hoard"), put("naive-zstd-3")) {
                t.push(Target {
                    claim: format!("{label} put: hoard <= 1.15x (bulk compress + temp + rename)"),
                    measured: format!("{r:.2}x"),
                    met: r <= 1.15,
                });
            }
            if size == 64 << 10
                && let Some(r) = ratio(put("wasmtime-cache"), put("hoard"))
            {
                t.push(Target {
                    claim: format!("{label} put: hoard >= 1.5x faster than wasmtime-cache"),
                    measured: format!("{r:.2}x faster"),
                    met: r >= 1.5,
                });
            }
        }
        for &(size, share) in &self.verify_share {
            t.push(Target {
                claim: format!(
                    "{} hit: frame verification <= 5% of the hit",
                    size_label(size)
                ),
                measured: format!("{:.1}%", share * 100.0),
                met: share <= 0.05,
            });
        }
        for size in [1usize << 20, 16 << 20] {
            let rate = |h: &str| {
                self.key_hashing
                    .iter()
                    .find(|(n, s, _)| n == h && *s == size)
                    .map(|x| x.2)
            };
            if let Some(r) = ratio(rate("blake3"), rate("sha256")) {
                t.push(Target {
                    claim: format!("{} keys: BLAKE3 >= 4x SHA-256", size_label(size)),
                    measured: format!("{r:.2}x"),
                    met: r >= 4.0,
                });
            }
        }
        self.targets = t;
    }

    /// The table and the targets, as text.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "workload: {}\ndirectory: {}\n{}\n",
            self.workload,
            self.dir,
            self.threads.describe()
        );
        for size in self.sizes() {
            let floor = self.case("plain-file", size);
            s.push_str(&format!(
                "\n{}\n{:<16} {:>10} {:>10} {:>9} {:>8} | {:>10} {:>10} {:>9} {:>8} | {:>6} {:>10} {:>5}\n",
                size_label(size),
                "contender",
                "get med",
                "get p99",
                "MB/s",
                "x floor",
                "put med",
                "put p99",
                "MB/s",
                "x floor",
                "ratio",
                "disk",
                "bad"
            ));
            for name in self.contenders() {
                let Some(c) = self.case(&name, size) else {
                    continue;
                };
                let x = |v: f64, f: Option<f64>| match f {
                    Some(f) if f > 0.0 => format!("{:.2}x", v / f),
                    _ => "-".to_owned(),
                };
                s.push_str(&format!(
                    "{:<16} {:>8.1}µs {:>8.1}µs {:>9.0} {:>8} | {:>8.1}µs {:>8.1}µs {:>9.0} {:>8} | {:>6.2} {:>10} {:>5}\n",
                    c.contender,
                    c.get.median_us,
                    c.get.p99_us,
                    c.get.mb_per_s,
                    x(c.get.median_us, floor.map(|f| f.get.median_us)),
                    c.put.median_us,
                    c.put.p99_us,
                    c.put.mb_per_s,
                    x(c.put.median_us, floor.map(|f| f.put.median_us)),
                    c.compression_ratio,
                    human_bytes(c.disk_bytes),
                    c.wrong_reads,
                ));
            }
        }
        if !self.disk_notes.is_empty() {
            s.push('\n');
            s.push_str(&wrap(&self.disk_columns, "", ""));
            for n in &self.disk_notes {
                s.push_str(&wrap(
                    &format!("{}: {}", n.contender, n.includes),
                    "- ",
                    "  ",
                ));
            }
        }
        if !self.key_hashing.is_empty() {
            s.push_str("\nkey hashing (MB/s)\n");
            for (name, size, rate) in &self.key_hashing {
                s.push_str(&format!(
                    "{name:<8} {:>8} {rate:>10.0}\n",
                    size_label(*size)
                ));
            }
        }
        if let Some(cfg) = &self.trace_config {
            s.push_str(&crate::trace::to_text(cfg, &self.trace));
        }
        s.push_str("\ntargets (shared/PERF.md), this run\n");
        for t in &self.targets {
            s.push_str(&format!(
                "[{}] {:<58} {}\n",
                if t.met { "met " } else { "MISS" },
                t.claim,
                t.measured
            ));
        }
        s
    }

    /// Writes the report as pretty JSON.
    pub fn write_json(&self, path: &Path) -> io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(io::Error::other)?;
        let mut f = std::fs::File::create(path)?;
        io::Write::write_all(&mut f, text.as_bytes())
    }

    /// Draws median get and put latency by size, one line per contender, as an SVG file.
    pub fn write_svg(&self, path: &Path) -> io::Result<()> {
        use plotters::prelude::*;
        let err = |e: &dyn std::fmt::Display| io::Error::other(e.to_string());
        let sizes = self.sizes();
        let names = self.contenders();
        let root = SVGBackend::new(path, (1200, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let panels = root.split_evenly((1, 2));
        for (panel, (title, pick)) in panels.iter().zip([
            ("hits (get), median µs", 0usize),
            ("misses (put), median µs", 1usize),
        ]) {
            let values: Vec<f64> = self
                .cases
                .iter()
                .map(|c| {
                    if pick == 0 {
                        c.get.median_us
                    } else {
                        c.put.median_us
                    }
                })
                .filter(|v| *v > 0.0)
                .collect();
            let lo = values
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min)
                .max(0.1)
                / 2.0;
            let hi = values.iter().copied().fold(0.0, f64::max).max(1.0) * 2.0;
            let mut chart = ChartBuilder::on(panel)
                .caption(title, ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(64)
                .build_cartesian_2d(-0.2f64..(sizes.len() as f64 - 0.8), (lo..hi).log_scale())
                .map_err(|e| err(&e))?;
            let labels: Vec<String> = sizes.iter().map(|s| size_label(*s)).collect();
            chart
                .configure_mesh()
                .x_labels(sizes.len())
                .x_label_formatter(&|x| {
                    let i = x.round();
                    if (x - i).abs() < 0.01 && i >= 0.0 {
                        labels.get(i as usize).cloned().unwrap_or_default()
                    } else {
                        String::new()
                    }
                })
                .y_desc("µs (log)")
                .y_label_formatter(&|v| format!("{v:.0}"))
                .draw()
                .map_err(|e| err(&e))?;
            for (i, name) in names.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                let points: Vec<(f64, f64)> = sizes
                    .iter()
                    .enumerate()
                    .filter_map(|(x, s)| {
                        self.case(name, *s).map(|c| {
                            (
                                x as f64,
                                if pick == 0 {
                                    c.get.median_us
                                } else {
                                    c.put.median_us
                                },
                            )
                        })
                    })
                    .collect();
                chart
                    .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                    .map_err(|e| err(&e))?
                    .label(name.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
                chart
                    .draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())))
                    .map_err(|e| err(&e))?;
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))
    }
}

/// `text` in lines of at most 96 characters (words longer than that stay whole), the first
/// line starting with `first`, the others with `rest`.
pub(crate) fn wrap(text: &str, first: &str, rest: &str) -> String {
    let mut out = String::new();
    let mut line = first.to_owned();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.chars().count() + 1 + word.chars().count() > 96 {
            out.push_str(&line);
            out.push('\n');
            line = rest.to_owned();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// `1.2 GiB`-style sizes.
pub fn human_bytes(b: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_lines_short_and_words_whole() {
        let text = "word ".repeat(60);
        let wrapped = wrap(&text, "- ", "  ");
        assert!(wrapped.lines().all(|l| l.chars().count() <= 96));
        assert!(
            wrapped.starts_with("- word")
                && wrapped.lines().skip(1).all(|l| l.starts_with("  word"))
        );
        assert_eq!(
            wrapped.split_whitespace().filter(|w| *w == "word").count(),
            60
        );
        let long = "x".repeat(120);
        assert_eq!(wrap(&long, "", ""), format!("{long}\n"));
    }
}
