//! `Cache::get` / `Cache::put` against the naive baseline, by size and codec, in one run.
//!
//! `cargo bench -p hoard-bench --bench get_put` (add `-- zstd` to filter). The closing table
//! gives hoard's median divided by the baseline's median for each case.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use hoard::Cache;
use hoard_bench::{Baseline, Codec, bench_root, criterion_median_ns};

const SIZES: [(usize, &str); 4] = [
    (1 << 10, "1KiB"),
    (64 << 10, "64KiB"),
    (1 << 20, "1MiB"),
    (16 << 20, "16MiB"),
];
const CODECS: [Codec; 3] = [Codec::Zstd(3), Codec::Lz4, Codec::Identity];

fn bench(c: &mut Criterion, root: &std::path::Path) {
    for codec in CODECS {
        for (size, label) in SIZES {
            let data = hoard_testkit::artifact(size, 7);
            let case_dir = root.join(format!("{}-{label}", codec.name()));
            std::fs::create_dir_all(&case_dir).expect("bench dir");
            let cache = Cache::builder(case_dir.join("hoard"))
                .codec_arc(codec.hoard().expect("codec"))
                .max_entry_size(64 << 20)
                .build()
                .expect("cache");
            let key = cache.key(b"bench entry");
            assert!(cache.put(&key, &data));
            let mut base = Baseline::new(codec, &case_dir).expect("baseline");
            base.put(&data).expect("baseline put");

            let mut g = c.benchmark_group(format!("get-{}-{label}", codec.name()));
            g.throughput(Throughput::Bytes(size as u64));
            if size >= 1 << 20 {
                g.sample_size(20).measurement_time(Duration::from_secs(4));
            }
            g.bench_function(BenchmarkId::from_parameter("hoard"), |b| {
                b.iter(|| black_box(cache.get(&key).expect("hit")));
            });
            g.bench_function(BenchmarkId::from_parameter("naive"), |b| {
                b.iter(|| black_box(base.get().expect("baseline hit")));
            });
            g.finish();

            let mut g = c.benchmark_group(format!("put-{}-{label}", codec.name()));
            g.throughput(Throughput::Bytes(size as u64));
            if size >= 1 << 20 {
                g.sample_size(10).measurement_time(Duration::from_secs(5));
            }
            g.bench_function(BenchmarkId::from_parameter("hoard"), |b| {
                b.iter(|| assert!(cache.put(&key, black_box(&data))));
            });
            g.bench_function(BenchmarkId::from_parameter("naive"), |b| {
                b.iter(|| base.put(black_box(&data)).expect("baseline put"));
            });
            g.finish();
        }
    }
}

fn report(criterion_dir: &std::path::Path) {
    println!("\nhoard / naive, median ratio (lower is better; same run)");
    println!(
        "{:<10} {:>7} {:>12} {:>12} {:>7} {:>12} {:>12} {:>7}",
        "codec", "size", "get hoard", "get naive", "ratio", "put hoard", "put naive", "ratio"
    );
    for codec in CODECS {
        for (_, label) in SIZES {
            let m = |op: &str, who: &str| {
                criterion_median_ns(
                    criterion_dir,
                    &format!("{op}-{}-{label}/{who}", codec.name()),
                )
            };
            let cell =
                |v: Option<f64>| v.map_or("-".to_owned(), |ns| format!("{:.1} µs", ns / 1e3));
            let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
                _ => "-".to_owned(),
            };
            let (gh, gn, ph, pn) = (
                m("get", "hoard"),
                m("get", "naive"),
                m("put", "hoard"),
                m("put", "naive"),
            );
            if gh.is_none() && ph.is_none() {
                continue;
            }
            println!(
                "{:<10} {:>7} {:>12} {:>12} {:>7} {:>12} {:>12} {:>7}",
                codec.name(),
                label,
                cell(gh),
                cell(gn),
                ratio(gh, gn),
                cell(ph),
                cell(pn),
                ratio(ph, pn)
            );
        }
    }
}

fn main() {
    let root = tempfile::tempdir_in(bench_root()).expect("bench directory");
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, root.path());
    c.final_summary();
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")),
        Into::into,
    );
    report(&target.join("criterion"));
}
