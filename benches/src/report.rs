//! The report: a text table, the performance targets checked against this run, JSON and an SVG
//! chart.

use std::io;
use std::path::Path;

use serde::Serialize;

use crate::measure::CaseResult;
use crate::trace::Window;

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
    /// The count hoard ran with (`CacheBuilder::threads`): chunked entries (above 512 KiB)
    /// encode and decode on that many threads.
    pub hoard: usize,
    /// `std::thread::available_parallelism` on this machine.
    pub available_parallelism: usize,
}

impl Threads {
    fn describe(&self) -> String {
        format!(
            "threads: hoard ran with {} (--threads {}); available parallelism {}",
            self.hoard, self.requested, self.available_parallelism
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

/// `a / b` where both were measured and `b` is not zero.
fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
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
            for name in ["hoard-identity", "hoard-identity-mapped"] {
                if size >= 64 << 10
                    && let Some(r) = ratio(get(name), get("plain-file"))
                {
                    t.push(Target {
                        claim: format!("{label} hit: {name} <= 1.25x the fs::read floor"),
                        measured: format!("{r:.2}x"),
                        met: r <= 1.25,
                    });
                }
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
        self.second_round_targets(&mut t);
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

    /// The second round's targets (hits at memory speed): chunked default hits and puts
    /// against the naive single-frame zstd-3 loop, the disk chunking costs, adaptive hits and
    /// puts against the plain-file floor (identity hits are checked with the first round's), and the adaptive cache's settled disk
    /// against an all-zstd-3 cache of the same entries in the trace replay.
    fn second_round_targets(&self, t: &mut Vec<Target>) {
        for size in self.sizes() {
            let get = |n: &str| self.case(n, size).map(|c| c.get.median_us);
            let put = |n: &str| self.case(n, size).map(|c| c.put.median_us);
            let label = size_label(size);
            let bound = match size {
                s if s >= 16 << 20 => Some(0.7),
                s if s >= 1 << 20 => Some(0.9),
                _ => None,
            };
            if let (Some(bound), Some(r)) = (bound, ratio(get("hoard"), get("naive-zstd-3"))) {
                t.push(Target {
                    claim: format!(
                        "{label} hit: hoard (chunked) <= {bound}x naive single-frame zstd-3"
                    ),
                    measured: format!("{r:.2}x"),
                    met: r <= bound,
                });
            }
            if size >= 16 << 20
                && let Some(r) = ratio(get("cacache"), get("hoard"))
            {
                t.push(Target {
                    claim: format!("{label} hit: hoard faster than cacache"),
                    measured: format!("{r:.2}x faster"),
                    met: r > 1.0,
                });
            }
            if size >= 16 << 20
                && let Some(r) = ratio(put("hoard"), put("naive-zstd-3"))
            {
                t.push(Target {
                    claim: format!(
                        "{label} put: hoard (chunked) <= 0.65x naive single-frame zstd-3"
                    ),
                    measured: format!("{r:.2}x"),
                    met: r <= 0.65,
                });
            }
            let disk_bound = match size {
                s if s >= 16 << 20 => Some(0.03),
                s if s >= 1 << 20 => Some(0.12),
                _ => None,
            };
            let cr = |n: &str| self.case(n, size).map(|c| c.compression_ratio);
            // Stored bytes are bytes put over the ratio: one frame's over chunks' is the
            // ratio the other way round.
            if let (Some(bound), Some(r)) = (disk_bound, ratio(cr("naive-zstd-3"), cr("hoard"))) {
                t.push(Target {
                    claim: format!(
                        "{label} disk: chunking costs <= {:.0}% against one zstd-3 frame",
                        bound * 100.0
                    ),
                    measured: format!("{:+.1}%", (r - 1.0) * 100.0),
                    met: r - 1.0 <= bound,
                });
            }
            if size >= 64 << 10
                && let Some(r) = ratio(get("hoard-adaptive"), get("plain-file"))
            {
                t.push(Target {
                    claim: format!("{label} hit: hoard-adaptive <= 1.3x the fs::read floor"),
                    measured: format!("{r:.2}x"),
                    met: r <= 1.3,
                });
            }
            if let Some(r) = ratio(put("hoard-adaptive"), put("plain-file")) {
                t.push(Target {
                    claim: format!("{label} put: hoard-adaptive <= 1.3x the write+rename floor"),
                    measured: format!("{r:.2}x"),
                    met: r <= 1.3,
                });
            }
        }
        for r in self
            .trace
            .iter()
            .filter(|r| r.contender.contains("adaptive"))
        {
            // Under traffic: the last window, once the worker has run through the replay.
            if let Some(x) = r.windows.last().and_then(Window::disk_vs_zstd3) {
                t.push(Target {
                    claim: format!(
                        "trace: {} disk under traffic (last window) <= 1.1x all-zstd-3",
                        r.contender
                    ),
                    measured: format!("{x:.3}x"),
                    met: x <= 1.1,
                });
            }
            if let Some(st) = &r.settled {
                let x = st.stored_bytes as f64 / st.zstd3_bytes.max(1) as f64;
                t.push(Target {
                    claim: format!(
                        "trace: {} disk once idle (settled) <= 1.1x all-zstd-3",
                        r.contender
                    ),
                    measured: format!("{x:.3}x"),
                    met: x <= 1.1,
                });
            }
        }
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
            // Contenders with the same files (hoard's configurations) share one line.
            let mut groups: Vec<(Vec<&str>, &str)> = Vec::new();
            for n in &self.disk_notes {
                match groups
                    .iter_mut()
                    .find(|(_, includes)| *includes == n.includes)
                {
                    Some((names, _)) => names.push(&n.contender),
                    None => groups.push((vec![&n.contender], &n.includes)),
                }
            }
            for (names, includes) in groups {
                s.push_str(&wrap(
                    &format!("{}: {includes}", names.join(", ")),
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
        s.push_str("\ntargets (the project's performance targets), this run\n");
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

    /// The median of `pick` (get or put) of `contender` at `size` over the plain-file floor's.
    fn floor_ratio(&self, contender: &str, size: usize, pick: Pick) -> Option<f64> {
        let floor = pick.of(self.case("plain-file", size)?);
        let v = pick.of(self.case(contender, size)?);
        (floor > 0.0 && v > 0.0).then(|| v / floor)
    }

    /// Draws each contender's median get and put as a ratio to the plain-file floor (the unit
    /// the targets are stated in) by size, as an SVG file. hoard's configurations get strong
    /// colours, their own markers and dash patterns, and are drawn after (above) the
    /// baselines and peers, which are thin and muted.
    pub fn write_svg(&self, path: &Path) -> io::Result<()> {
        use plotters::prelude::*;
        let err = |e: &dyn std::fmt::Display| io::Error::other(e.to_string());
        let sizes = self.sizes();
        let mut names: Vec<String> = self
            .contenders()
            .into_iter()
            .filter(|n| n != "plain-file")
            .collect();
        // Peers and baselines first, hoard's configurations last, the default on top.
        names.sort_by_key(|n| match n.as_str() {
            "hoard" => 2,
            n if n.starts_with("hoard") => 1,
            _ => 0,
        });
        let looks: Vec<(String, Look)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), Look::of(n, i)))
            .collect();
        let root = SVGBackend::new(path, (1300, 740)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let (top, rest) = root.split_vertically(58);
        top.draw(&Text::new(
            "hoard-bench: median latency as a ratio to the plain-file floor, by value size \
             (lower is better)",
            (16, 10),
            ("sans-serif", 20).into_font(),
        ))
        .map_err(|e| err(&e))?;
        top.draw(&Text::new(
            format!(
                "{}; hoard ran with {} thread(s), --threads {}, available parallelism {}",
                self.workload,
                self.threads.hoard,
                self.threads.requested,
                self.threads.available_parallelism
            ),
            (16, 36),
            ("sans-serif", 14).into_font(),
        ))
        .map_err(|e| err(&e))?;
        let (plots, legend) = rest.split_vertically(560);
        let panels = plots.split_evenly((1, 2));
        for (panel, (title, pick)) in panels.iter().zip([
            ("hits: get ÷ the fs::read floor", Pick::Get),
            (
                "misses: put ÷ the temp file + write + rename floor",
                Pick::Put,
            ),
        ]) {
            let ratios: Vec<f64> = names
                .iter()
                .flat_map(|n| sizes.iter().filter_map(|s| self.floor_ratio(n, *s, pick)))
                .collect();
            let lo = ratios.iter().copied().fold(1.0, f64::min).max(0.01) * 0.8;
            let hi = ratios.iter().copied().fold(1.0, f64::max) * 1.3;
            let mut chart = ChartBuilder::on(panel)
                .caption(title, ("sans-serif", 20))
                .margin(14)
                .x_label_area_size(40)
                .y_label_area_size(72)
                .build_cartesian_2d(
                    -0.2f64..(sizes.len() as f64 - 0.8),
                    (lo..hi).log_scale().with_key_points(ratio_ticks(lo, hi)),
                )
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
                .y_desc("× floor (log scale)")
                .label_style(("sans-serif", 14))
                .axis_desc_style(("sans-serif", 14))
                .y_label_formatter(&|v| format!("{}×", ratio_label(*v)))
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(|e| err(&e))?;
            let x_end = sizes.len() as f64 - 0.8;
            chart
                .draw_series(LineSeries::new(
                    vec![(-0.2, 1.0), (x_end, 1.0)],
                    BLACK.stroke_width(2),
                ))
                .map_err(|e| err(&e))?;
            for (name, look) in &looks {
                let points: Vec<(f64, f64)> = sizes
                    .iter()
                    .enumerate()
                    .filter_map(|(x, s)| self.floor_ratio(name, *s, pick).map(|r| (x as f64, r)))
                    .collect();
                let style = look.color.stroke_width(look.width);
                match look.dash {
                    Some((dash, gap)) => chart
                        .draw_series(DashedLineSeries::new(points.clone(), dash, gap, style))
                        .map_err(|e| err(&e))?,
                    None => chart
                        .draw_series(LineSeries::new(points.clone(), style))
                        .map_err(|e| err(&e))?,
                };
                let outline = look.outline();
                if look.filled() {
                    chart
                        .draw_series(points.iter().map(|p| {
                            EmptyElement::at(*p)
                                + Polygon::new(outline.clone(), look.color.filled())
                        }))
                        .map_err(|e| err(&e))?;
                } else {
                    chart
                        .draw_series(points.iter().map(|p| {
                            EmptyElement::at(*p)
                                + PathElement::new(outline.clone(), look.color.stroke_width(2))
                        }))
                        .map_err(|e| err(&e))?;
                }
            }
        }
        // The legend: hoard's configurations in the first row, the others in the second.
        let hoard_row: Vec<&(String, Look)> = looks.iter().filter(|(_, l)| l.hoard).rev().collect();
        let other_row: Vec<&(String, Look)> = looks.iter().filter(|(_, l)| !l.hoard).collect();
        for (row, entries) in [hoard_row, other_row].into_iter().enumerate() {
            let y = 30 + 40 * row as i32;
            for (i, (name, look)) in entries.into_iter().enumerate() {
                let x = 24 + 210 * i as i32;
                let style = look.color.stroke_width(look.width);
                let line = [(x, y), (x + 56, y)];
                match look.dash {
                    Some((dash, gap)) => legend.draw(&plotters::element::DashedPathElement::new(
                        line, dash, gap, style,
                    )),
                    None => legend.draw(&PathElement::new(line.to_vec(), style)),
                }
                .map_err(|e| err(&e))?;
                let outline: Vec<(i32, i32)> = look
                    .outline()
                    .into_iter()
                    .map(|(dx, dy)| (x + 28 + dx, y + dy))
                    .collect();
                if look.filled() {
                    legend.draw(&Polygon::new(outline, look.color.filled()))
                } else {
                    legend.draw(&PathElement::new(outline, look.color.stroke_width(2)))
                }
                .map_err(|e| err(&e))?;
                legend
                    .draw(&Text::new(
                        name.clone(),
                        (x + 64, y - 8),
                        ("sans-serif", 15).into_font(),
                    ))
                    .map_err(|e| err(&e))?;
            }
        }
        root.present().map_err(|e| err(&e))
    }
}

/// Ticks of a log axis from `lo` to `hi`: 1, 1.5, 2, 3, 5 and 7 times the powers of ten.
fn ratio_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut ticks = Vec::new();
    let mut decade = 10f64.powf(lo.log10().floor());
    while decade <= hi {
        for m in [1.0, 1.5, 2.0, 3.0, 5.0, 7.0] {
            let t = m * decade;
            if (lo..=hi).contains(&t) {
                ticks.push(t);
            }
        }
        decade *= 10.0;
    }
    ticks
}

/// A ratio for an axis label: two significant digits at most, no trailing zeros.
fn ratio_label(v: f64) -> String {
    let digits = if v >= 10.0 {
        0
    } else if v >= 1.0 {
        1
    } else {
        2
    };
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// Which median a chart panel shows.
#[derive(Clone, Copy, Debug)]
enum Pick {
    Get,
    Put,
}

impl Pick {
    fn of(self, c: &CaseResult) -> f64 {
        match self {
            Self::Get => c.get.median_us,
            Self::Put => c.put.median_us,
        }
    }
}

/// A marker shape of the chart.
#[derive(Clone, Copy, Debug)]
enum Marker {
    Dot,
    Triangle,
    Square,
    Diamond,
    Ring,
    Cross,
}

/// How one contender's line is drawn.
#[derive(Clone, Copy, Debug)]
struct Look {
    color: plotters::style::RGBColor,
    width: u32,
    dash: Option<(u32, u32)>,
    marker: Marker,
    hoard: bool,
}

impl Look {
    /// hoard's configurations in strong colours from the Okabe-Ito palette (told apart in
    /// colour vision deficiency too) with a marker and dash pattern each; the baselines and
    /// peers thin, in greys and muted tones. `i` picks a look for a contender not named here.
    fn of(name: &str, i: usize) -> Self {
        use plotters::style::RGBColor;
        let hoard = |color, width, dash, marker| Self {
            color,
            width,
            dash,
            marker,
            hoard: true,
        };
        let other = |color, dash, marker| Self {
            color,
            width: 1,
            dash,
            marker,
            hoard: false,
        };
        match name {
            "hoard" => hoard(RGBColor(0, 114, 178), 4, None, Marker::Dot),
            "hoard-blake3" => hoard(RGBColor(213, 94, 0), 2, Some((10, 5)), Marker::Triangle),
            "hoard-lz4" => hoard(RGBColor(0, 158, 115), 3, None, Marker::Square),
            "hoard-identity" => hoard(RGBColor(204, 121, 167), 3, Some((3, 4)), Marker::Diamond),
            "hoard-identity-mapped" => hoard(RGBColor(204, 121, 167), 2, None, Marker::Diamond),
            "hoard-durable" => hoard(RGBColor(230, 159, 0), 2, Some((14, 4)), Marker::Ring),
            "naive-zstd-3" => other(RGBColor(60, 60, 60), Some((6, 4)), Marker::Cross),
            "wasmtime-cache" => other(RGBColor(120, 120, 120), None, Marker::Triangle),
            "cacache" => other(RGBColor(150, 130, 100), None, Marker::Square),
            n if n.starts_with("hoard") => {
                let extra = [
                    RGBColor(86, 180, 233),
                    RGBColor(0, 0, 0),
                    RGBColor(240, 228, 66),
                ];
                hoard(extra[i % extra.len()], 3, Some((8, 3)), Marker::Dot)
            }
            _ => other(RGBColor(170, 170, 170), Some((2, 3)), Marker::Ring),
        }
    }

    /// The marker's outline in pixels around its point: filled for hoard's shapes and the
    /// square and triangle, stroked for the ring and the cross (see [`Look::filled`]).
    fn outline(&self) -> Vec<(i32, i32)> {
        let r: i32 = if self.hoard { 5 } else { 3 };
        let octagon = |r: i32| {
            let d = r * 2 / 5 + 1;
            vec![
                (-d, -r),
                (d, -r),
                (r, -d),
                (r, d),
                (d, r),
                (-d, r),
                (-r, d),
                (-r, -d),
                (-d, -r),
            ]
        };
        match self.marker {
            Marker::Dot | Marker::Ring => octagon(r),
            Marker::Triangle => vec![(0, -r - 1), (r + 1, r), (-r - 1, r), (0, -r - 1)],
            Marker::Square => vec![(-r, -r), (r, -r), (r, r), (-r, r), (-r, -r)],
            Marker::Diamond => vec![
                (0, -r - 2),
                (r + 1, 0),
                (0, r + 2),
                (-r - 1, 0),
                (0, -r - 2),
            ],
            Marker::Cross => vec![(-r, -r), (r, r), (0, 0), (-r, r), (r, -r)],
        }
    }

    /// Whether the marker is filled (or stroked).
    fn filled(&self) -> bool {
        !matches!(self.marker, Marker::Ring | Marker::Cross)
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
    use crate::measure::Latency;

    /// A report with made-up medians: every contender at every size, `factor` times the floor.
    fn report(contenders: &[(&str, f64)]) -> Report {
        let mut cases = Vec::new();
        for size in [1usize << 10, 64 << 10, 1 << 20] {
            for &(name, factor) in contenders {
                let lat = |us: f64| Latency {
                    samples: 3,
                    median_us: us,
                    p99_us: us,
                    mean_us: us,
                    mb_per_s: size as f64 / us,
                };
                let floor = size as f64 / 1000.0 + 4.0;
                cases.push(CaseResult {
                    contender: name.to_owned(),
                    size,
                    put: lat(floor * factor * 1.5),
                    get: lat(floor * factor),
                    compression_ratio: 1.0,
                    disk_bytes: size as u64,
                    wrong_reads: 0,
                });
            }
        }
        Report {
            workload: "made up".to_owned(),
            dir: "nowhere".to_owned(),
            threads: Threads {
                requested: 2,
                hoard: 1,
                available_parallelism: 2,
            },
            cases,
            disk_columns: DISK_COLUMNS.to_owned(),
            disk_notes: Vec::new(),
            key_hashing: Vec::new(),
            verify_share: Vec::new(),
            targets: Vec::new(),
            trace_config: None,
            trace: Vec::new(),
        }
    }

    #[test]
    fn the_chart_shows_ratios_to_the_floor_with_hoard_on_top() {
        let report = report(&[
            ("plain-file", 1.0),
            ("naive-zstd-3", 3.0),
            ("hoard", 3.1),
            ("hoard-lz4", 1.6),
            ("wasmtime-cache", 4.0),
            ("cacache", 2.0),
        ]);
        assert_eq!(report.floor_ratio("hoard", 1 << 10, Pick::Get), Some(3.1));
        assert_eq!(
            report.floor_ratio("plain-file", 1 << 20, Pick::Put),
            Some(1.0)
        );
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("report.svg");
        report.write_svg(&path).expect("the chart is drawn");
        let svg = std::fs::read_to_string(&path).expect("the chart is readable");
        assert!(
            svg.contains("\n1×\n</text>"),
            "the floor's tick is labelled"
        );
        let label = |name: &str| svg.contains(&format!("\n{name}\n</text>"));
        assert!(
            !label("plain-file"),
            "the floor is the 1x line, not a series"
        );
        let first_line = |name: &str| {
            assert!(label(name), "{name} is in the legend");
            let c = Look::of(name, 0).color;
            let stroke = format!("stroke=\"#{:02X}{:02X}{:02X}\"", c.0, c.1, c.2);
            svg.find(&stroke)
                .unwrap_or_else(|| panic!("{name} has a line"))
        };
        // Drawn in this order, so hoard's lines lie above the peers', the default's on top.
        assert!(first_line("cacache") < first_line("hoard-lz4"));
        assert!(first_line("wasmtime-cache") < first_line("hoard-lz4"));
        assert!(first_line("hoard-lz4") < first_line("hoard"));
    }

    #[test]
    fn ratio_ticks_cover_the_range() {
        let labels =
            |lo, hi| -> Vec<String> { ratio_ticks(lo, hi).into_iter().map(ratio_label).collect() };
        assert_eq!(labels(0.4, 2.5), ["0.5", "0.7", "1", "1.5", "2"]);
        assert_eq!(
            labels(0.9, 16.0),
            ["1", "1.5", "2", "3", "5", "7", "10", "15"]
        );
    }

    #[test]
    fn ratio_labels_are_short() {
        let labels: Vec<String> = [0.1, 0.25, 1.0, 1.5, 2.0, 20.0, 150.0]
            .into_iter()
            .map(ratio_label)
            .collect();
        assert_eq!(labels, ["0.1", "0.25", "1", "1.5", "2", "20", "150"]);
    }

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
