//! `hoard-bench`: hoard against its alternatives and its peers, side by side in one run.
//!
//! ```text
//! cargo run --release -p hoard-bench [-- --quick | --full] [--threads N] [--corpus DIR] [--dir DIR] [--out DIR]
//! ```
//!
//! Prints a table per size (median and p99 latency, MB/s, ratio to the plain-file floor, for
//! hits and misses; compression ratio and disk use), checks the performance targets on this run's
//! figures, and writes `report.json` and `report.svg` under `target/hoard-bench/`.

use std::error::Error;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use hoard::{KeyHasher, frame};
use hoard_bench::contenders;
use hoard_bench::measure::run_size;
use hoard_bench::report::{DiskNote, Report, Threads, size_label};
use hoard_bench::trace::{self, TraceConfig, WasmtimeLock};
use hoard_bench::workload::Source;
use indicatif::{ProgressBar, ProgressStyle};

struct Args {
    plan: Vec<(usize, usize)>,
    warm: usize,
    trace_scale: f64,
    trace_only: bool,
    threads: usize,
    corpus: Option<PathBuf>,
    dir: Option<PathBuf>,
    out: PathBuf,
}

const USAGE: &str = "usage: hoard-bench [--quick | --full] [--trace-only] [--threads N] [--corpus DIR] [--dir DIR] [--out DIR]";

fn available_parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn parse_args() -> Result<Args, String> {
    let mut plan = vec![
        (1 << 10, 300),
        (64 << 10, 150),
        (1 << 20, 40),
        (16 << 20, 8),
    ];
    let mut warm = 1536;
    let mut trace_scale = 1.0;
    let mut trace_only = false;
    let mut threads = available_parallelism();
    let mut corpus = None;
    let mut dir = None;
    let mut out = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(
            || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")),
            PathBuf::from,
        )
        .join("hoard-bench");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--quick" => {
                plan = vec![(1 << 10, 100), (64 << 10, 50), (1 << 20, 12), (16 << 20, 3)];
                warm = 512;
                trace_scale = 0.25;
            }
            "--full" => {
                plan = vec![
                    (1 << 10, 2000),
                    (64 << 10, 800),
                    (1 << 20, 150),
                    (16 << 20, 24),
                ];
                warm = 2048;
                trace_scale = 4.0;
            }
            "--trace-only" => trace_only = true,
            "--threads" => {
                threads = value("--threads")?
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(format!("--threads needs a whole number from 1\n{USAGE}"))?;
            }
            "--corpus" => corpus = Some(PathBuf::from(value("--corpus")?)),
            "--dir" => dir = Some(PathBuf::from(value("--dir")?)),
            "--out" => out = PathBuf::from(value("--out")?),
            "--bench" => {} // cargo bench passes this to every target
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(Args {
        plan,
        warm,
        trace_scale,
        trace_only,
        threads,
        corpus,
        dir,
        out,
    })
}

fn median_us(mut f: impl FnMut(), iters: usize) -> f64 {
    let mut v: Vec<f64> = (0..iters)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn key_hashing(sizes: &[usize]) -> Vec<(String, usize, f64)> {
    let hashers: [(&str, &dyn KeyHasher); 2] =
        [("sha256", &hoard::Sha256), ("blake3", &hoard::Blake3)];
    let mut out = Vec::new();
    for &size in sizes {
        let data = hoard_testkit::artifact(size, 1);
        let iters = (64 << 20) / size.max(1);
        for (name, h) in hashers {
            let us = median_us(
                || {
                    let mut s = h.begin();
                    s.update(black_box(&data));
                    black_box(s.finish());
                },
                iters.clamp(5, 2000),
            );
            out.push((name.to_owned(), size, size as f64 / us));
        }
    }
    out
}

/// Frame verification (parse, checksum, key and cap checks) of a default entry, as a share
/// of this run's median default hit.
fn verify_share(
    report: &Report,
    source: &Source,
    sizes: &[usize],
) -> Result<Vec<(usize, f64)>, Box<dyn Error>> {
    let codec = hoard::Zstd::new(3)?;
    let key = hoard::Key::new(hoard::HasherId::Sha256, hoard::Digest::from_bytes([9; 32]));
    let mut out = Vec::new();
    for &size in sizes {
        let Some(hit) = report
            .cases
            .iter()
            .find(|c| c.contender == "hoard" && c.size == size)
            .map(|c| c.get.median_us)
        else {
            continue;
        };
        let bytes = frame::encode(&key, &codec, &source.value(size, 0), 0)?;
        let iters = ((256 << 20) / bytes.len().max(1)).clamp(5, 5000);
        let us = median_us(
            || {
                let f = frame::Frame::parse(black_box(&bytes)).expect("valid frame");
                black_box(f.verify_for(&key, u64::MAX).expect("right key"));
            },
            iters,
        );
        out.push((size, us / hit));
    }
    Ok(out)
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(2);
        }
    };
    if args.trace_only {
        args.plan.clear();
        args.warm = 0;
    }
    let source = match &args.corpus {
        Some(dir) => Source::corpus(dir, 64 << 20)?,
        None => Source::Generated,
    };
    let temp = tempfile::tempdir_in(args.dir.clone().unwrap_or_else(hoard_bench::bench_root))?;
    let mut all = contenders::all(&temp.path().join("side-by-side"), args.threads)?;
    let trace_cfg = TraceConfig::standard(args.trace_scale);
    let measured: u64 = args.plan.iter().map(|(_, n)| 2 * *n as u64).sum();
    let bar = ProgressBar::new(
        measured * all.len() as u64 + args.warm as u64 + 4 * trace_cfg.windows as u64,
    )
    .with_style(
        ProgressStyle::with_template("{spinner} {msg:>14} [{bar:40}] {pos}/{len} ops, {elapsed}")
            .map_err(|e| e.to_string())?
            .progress_chars("=> "),
    );
    bar.set_message("warming up");
    hoard_bench::measure::warm_up(&mut all, &source, 1 << 40, args.warm, || bar.inc(1))?;

    let mut report = Report {
        workload: source.describe(),
        dir: temp.path().display().to_string(),
        threads: Threads {
            requested: args.threads,
            hoard: args.threads,
            available_parallelism: available_parallelism(),
        },
        cases: Vec::new(),
        disk_columns: hoard_bench::report::DISK_COLUMNS.to_owned(),
        disk_notes: if args.plan.is_empty() {
            Vec::new()
        } else {
            all.iter()
                .map(|c| DiskNote {
                    contender: c.name().to_owned(),
                    includes: c.disk_note(),
                })
                .collect()
        },
        key_hashing: Vec::new(),
        verify_share: Vec::new(),
        targets: Vec::new(),
        trace_config: None,
        trace: Vec::new(),
    };
    for (i, &(size, ops)) in args.plan.iter().enumerate() {
        bar.set_message(size_label(size));
        let first_id = i as u64 * 1_000_000;
        report
            .cases
            .extend(run_size(&mut all, &source, size, ops, first_id, || {
                bar.inc(1)
            })?);
    }
    drop(all);
    if !args.plan.is_empty() {
        bar.set_message("keys, frames");
        let sizes: Vec<usize> = args.plan.iter().map(|p| p.0).collect();
        report.key_hashing = key_hashing(&sizes);
        report.verify_share = verify_share(&report, &source, &sizes)?;
    }
    bar.set_message("trace: hoard");
    report.trace.push(trace::replay_hoard(
        &temp.path().join("trace-hoard"),
        &source,
        &trace_cfg,
        args.threads,
    )?);
    bar.inc(trace_cfg.windows as u64);
    bar.set_message("trace: hoard-adaptive");
    let (adaptive, quiet) = trace::trace_adaptive(&trace_cfg);
    report.trace.push(trace::replay_hoard_as(
        "hoard-adaptive",
        &temp.path().join("trace-hoard-adaptive"),
        &source,
        &trace_cfg,
        args.threads,
        quiet,
        |b| b.adaptive(adaptive),
    )?);
    bar.inc(trace_cfg.windows as u64);
    for (lock, dir) in [
        (WasmtimeLock::AsIs, "trace-wasmtime"),
        (WasmtimeLock::Released, "trace-wasmtime-released"),
    ] {
        bar.set_message("trace: wasmtime");
        report.trace.push(trace::replay_wasmtime(
            &temp.path().join(dir),
            &source,
            &trace_cfg,
            lock,
        )?);
        bar.inc(trace_cfg.windows as u64);
    }
    report.trace_config = Some(trace_cfg);
    bar.finish_and_clear();
    report.check_targets();

    print!("{}", report.to_text());
    std::fs::create_dir_all(&args.out)?;
    let json = args.out.join("report.json");
    report.write_json(&json)?;
    if report.cases.is_empty() {
        println!("\nwrote {}", json.display());
    } else {
        let svg = args.out.join("report.svg");
        report.write_svg(&svg)?;
        println!("\nwrote {} and {}", json.display(), svg.display());
    }
    let wrong: usize = report.cases.iter().map(|c| c.wrong_reads).sum();
    if wrong > 0 {
        eprintln!("hoard-bench: {wrong} reads returned nothing or wrong bytes");
        std::process::exit(1);
    }
    Ok(())
}
