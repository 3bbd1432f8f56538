//! criterion micro-benchmarks of hoard's pieces: key hashing, each codec, frame verification
//! and the filesystem store, at 1 KiB, 64 KiB and 1 MiB.
//!
//! `cargo bench -p hoard-bench --bench pieces` (add a filter such as `-- codec`).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hoard::{Codec, Digest, HasherId, Key, KeyHasher, Namespace, Store, frame};

const SIZES: [(usize, &str); 3] = [(1 << 10, "1KiB"), (64 << 10, "64KiB"), (1 << 20, "1MiB")];

fn key_hashing(c: &mut Criterion) {
    let hashers: [(&str, &dyn KeyHasher); 2] =
        [("sha256", &hoard::Sha256), ("blake3", &hoard::Blake3)];
    let mut g = c.benchmark_group("key");
    for (size, label) in SIZES {
        let data = hoard_testkit::artifact(size, 1);
        g.throughput(Throughput::Bytes(size as u64));
        for (name, h) in hashers {
            g.bench_with_input(BenchmarkId::new(name, label), &data, |b, data| {
                b.iter(|| {
                    let mut s = h.begin();
                    s.update(black_box(data));
                    s.finish()
                });
            });
        }
    }
    g.finish();
}

fn codecs() -> Vec<(&'static str, Box<dyn Codec>)> {
    vec![
        ("identity", Box::new(hoard::Identity)),
        ("zstd-3", Box::new(hoard::Zstd::new(3).expect("level 3"))),
        ("zstd-19", Box::new(hoard::Zstd::new(19).expect("level 19"))),
        ("lz4", Box::new(hoard::Lz4)),
    ]
}

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec");
    for (size, label) in SIZES {
        let data = hoard_testkit::artifact(size, 2);
        g.throughput(Throughput::Bytes(size as u64));
        for (name, codec) in codecs() {
            let mut encoded = Vec::new();
            codec.encode(&data, &mut encoded).expect("encode");
            g.bench_function(BenchmarkId::new(format!("{name}/encode"), label), |b| {
                b.iter(|| {
                    let mut out = Vec::new();
                    codec.encode(black_box(&data), &mut out).expect("encode");
                    out
                });
            });
            g.bench_function(BenchmarkId::new(format!("{name}/decode"), label), |b| {
                b.iter(|| {
                    let mut out = Vec::new();
                    out.reserve_exact(size);
                    codec
                        .decode(black_box(&encoded), size, &mut out)
                        .expect("decode");
                    out
                });
            });
        }
    }
    g.finish();
}

fn frame_verify(c: &mut Criterion) {
    let key = Key::new(HasherId::Sha256, Digest::from_bytes([3; 32]));
    let zstd = hoard::Zstd::new(3).expect("level 3");
    let mut g = c.benchmark_group("frame");
    for (size, label) in SIZES {
        let bytes =
            frame::encode(&key, &zstd, &hoard_testkit::artifact(size, 3), 0).expect("encode");
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(BenchmarkId::new("parse+verify", label), |b| {
            b.iter(|| {
                let f = frame::Frame::parse(black_box(&bytes)).expect("valid");
                f.verify_for(&key, u64::MAX).expect("right key")
            });
        });
    }
    g.finish();
}

fn store(c: &mut Criterion) {
    let root = tempfile::tempdir_in(hoard_bench::bench_root()).expect("bench dir");
    let fs = hoard::FsStore::open(root.path().join("store")).expect("store");
    let ns = Namespace::new("bench").expect("namespace");
    let digest = Digest::from_bytes([4; 32]);
    let mut g = c.benchmark_group("fs-store");
    for (size, label) in SIZES {
        let frame = hoard_testkit::noise(size, 4);
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(BenchmarkId::new("put", label), |b| {
            b.iter(|| fs.put(&ns, &digest, black_box(&frame)).expect("put"));
        });
        g.bench_function(BenchmarkId::new("get", label), |b| {
            b.iter(|| fs.get(&ns, &digest, u64::MAX).expect("get").expect("hit"));
        });
    }
    g.finish();
}

criterion_group!(benches, key_hashing, codec, frame_verify, store);
criterion_main!(benches);
