//! hoard's remote tier against plain OpenDAL, and the tiered store against the local one, in
//! one run.
//!
//! `cargo bench -p hoard-bench --bench remote` (add `-- redis` to filter). Real servers are
//! started on free loopback ports (`hoard_testkit::servers`: `redis-server`, `memcached`,
//! moto's S3 server), so the figures include the loopback network and the server itself.
//!
//! - `remote-<backend>` groups, per frame size: `opendal_read` (a plain `Operator::read` of
//!   the same object key, blocking on a tokio runtime of the bench; Redis and S3: S3's store
//!   reads through OpenDAL, and `redis://`'s did before its own client), `raw_get` (Redis and
//!   memcached: a plain blocking
//!   `std::net::TcpStream` with `TCP_NODELAY`, one connection kept open, speaking the
//!   protocol by hand: RESP `GET` or memcached's text `get <key>`, the value copied out of
//!   the answer), `remote_get` (`RemoteStore::get`: key building, timeout, circuit breaker;
//!   S3 blocking on the store's own runtime, Redis and memcached on the calling thread
//!   through hoard's own clients) and `remote_get_verified`
//!   (`StoreExt::get_verified`: the same plus parsing and checking the frame). The targets:
//!   `remote_get` within 1.1× of `opendal_read`, and within 2× of `raw_get` (issue 15,
//!   item 5: memcached at wire speed; Redis likewise since its own client).
//! - `tiered-redis`, per frame size: `local_get` (an `FsStore` hit), `tiered_get_local_hit`
//!   (a `TieredStore` whose local store has the frame) and `tiered_get_remote_hit` (the local
//!   copy is removed before each iteration, so each one is a Redis hit, a frame check and a
//!   backfill into the local store).
//!
//! The closing tables give the medians and their ratios (same run: the machine is noisy).

use std::cell::Cell;
use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use hoard::{Digest, FsStore, HasherId, Key, Namespace, Store, StoreExt, frame};
use hoard_bench::{bench_root, criterion_median_ns};
use hoard_remote::{
    Credentials, RemoteAccess, RemoteConfig, RemoteStore, TieredStore, WritePolicy,
};
use hoard_testkit::servers::{Kind, Server};

/// Payload sizes; the frames are a header longer.
const SIZES: [(usize, &str); 3] = [(1 << 10, "1KiB"), (64 << 10, "64KiB"), (1 << 20, "1MiB")];

/// The backends, as named in the group names.
const BACKENDS: [(Kind, &str); 3] = [
    (Kind::Redis, "redis"),
    (Kind::Memcached, "memcached"),
    (Kind::S3, "s3"),
];

/// The largest payload `remote_get_verified` accepts (as `get_put`'s `max_entry_size`).
const MAX_DECODED: u64 = 64 << 20;

/// A bench operation slower than this runs with fewer samples (see [`samples`]).
const SLOW_OP: Duration = Duration::from_millis(5);

/// The namespace of every frame the bench puts.
fn ns() -> Namespace {
    Namespace::new("bench-remote").expect("a valid namespace")
}

/// The key and identity-codec frame of a `size`-byte artifact, as hoard stores it.
fn framed(size: usize, tag: u8) -> (Key, Vec<u8>) {
    let key = Key::new(HasherId::Sha256, Digest::from_bytes([tag; 32]));
    let data = hoard_testkit::artifact(size, u64::from(tag));
    let f = frame::encode(&key, &hoard::Identity, &data, 1).expect("encoding a frame");
    (key, f)
}

/// A store on `server`, under a prefix of this process.
///
/// Its breaker never opens (the threshold is `u32::MAX`; it is still consulted, lock and all,
/// as in production): a failed get is counted and reported (see [`Failures`]), and the gets
/// after it still go to the server instead of measuring bypasses. The timeout is generous, so
/// that a loaded machine slows the bench down rather than failing its operations.
fn remote(server: &Server) -> RemoteStore {
    let prefix = format!("bench-{}", std::process::id());
    let config = RemoteConfig::parse(&server.url(&prefix)).expect("a remote url");
    let config = match server.kind() {
        // moto checks no signature, but refuses anonymous requests to a private bucket.
        Kind::S3 => config
            .endpoint(&server.endpoint())
            .expect("an S3 endpoint")
            .credentials(Credentials::new("hoard-test", "hoard-test")),
        _ => config.prefix(&prefix).expect("a remote prefix"),
    };
    let config = config
        .timeout(Duration::from_secs(10))
        .expect("a remote timeout")
        .failure_threshold(u32::MAX)
        .expect("a failure threshold");
    RemoteStore::open(config).expect("opening the remote store")
}

/// Sets the group's sample count for an operation taking about `per_op`: criterion's 100
/// samples for fast ones, 20 for 1 MiB frames (as `get_put`) and for operations slower than
/// [`SLOW_OP`], which criterion then samples flat. (memcached through OpenDAL 0.59 was one:
/// about 90 ms per get, its client writing each request in several small segments without
/// `TCP_NODELAY`; the store now has its own memcached client, and OpenDAL's is not
/// measured.)
fn samples(g: &mut BenchmarkGroup<'_, WallTime>, size: usize, per_op: Duration) {
    let n = if per_op >= SLOW_OP || size >= 1 << 20 {
        20
    } else {
        100
    };
    g.sample_size(n);
}

/// Failed remote operations of one group, counted instead of ending the run.
///
/// One error would otherwise end the whole run, and they happen on a loaded machine: the
/// Redis client OpenDAL uses gives up on a reply after 500 ms. A miss, by contrast, is a bug
/// of the bench and panics.
#[derive(Default)]
struct Failures(Cell<u64>);

impl Failures {
    /// The value of a hit; `None` (counted) for a failure.
    fn hit<T, E: std::fmt::Display>(&self, what: &str, result: Result<Option<T>, E>) -> Option<T> {
        match result {
            Ok(Some(value)) => Some(value),
            Ok(None) => panic!("{what}: a miss, but the frame was put"),
            Err(e) => {
                if self.0.get() == 0 {
                    eprintln!("{what} failed (counted; the run goes on): {e}");
                }
                self.0.set(self.0.get() + 1);
                None
            }
        }
    }
}

/// A plain client of a Redis or memcached server: one blocking `TcpStream` with
/// `TCP_NODELAY`, each request written whole, the answer parsed by hand. What a get costs
/// on the wire, for the `raw_get` baseline.
struct RawClient {
    kind: Kind,
    conn: BufReader<TcpStream>,
}

impl RawClient {
    fn connect(server: &Server) -> Self {
        let stream = TcpStream::connect(server.addr()).expect("connecting the raw client");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        Self {
            kind: server.kind(),
            conn: BufReader::new(stream),
        }
    }

    /// The value at `key` (`None`: a miss), or an I/O error.
    fn get(&mut self, key: &str) -> std::io::Result<Option<Vec<u8>>> {
        let request = match self.kind {
            Kind::Redis => format!("*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len()),
            _ => format!("get {key}\r\n"),
        };
        self.conn.get_mut().write_all(request.as_bytes())?;
        let mut line = String::new();
        self.conn.read_line(&mut line)?;
        let len = match self.kind {
            // `$<len>`, or `$-1` for a miss.
            Kind::Redis => line
                .trim_end()
                .strip_prefix('$')
                .and_then(|n| n.parse::<i64>().ok()),
            // `VALUE <key> <flags> <bytes>`, or `END` for a miss.
            _ if line.starts_with("END") => Some(-1),
            _ => line.split_whitespace().nth(3).and_then(|n| n.parse().ok()),
        };
        let len =
            len.ok_or_else(|| std::io::Error::other(format!("unexpected answer {line:?}")))?;
        let Ok(len) = usize::try_from(len) else {
            return Ok(None);
        };
        let mut value = vec![0; len];
        self.conn.read_exact(&mut value)?;
        // The value's CRLF, and memcached's `END` line.
        let trailer = if self.kind == Kind::Redis { 2 } else { 7 };
        let mut rest = [0u8; 7];
        self.conn.read_exact(&mut rest[..trailer])?;
        Ok(Some(value))
    }
}

/// The fastest of a few calls of `op`, after one to warm up the connection.
fn probe(mut op: impl FnMut()) -> Duration {
    op();
    (0..3)
        .map(|_| {
            let start = Instant::now();
            op();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// The `remote-<backend>` group: OpenDAL's read, `RemoteStore::get` and `get_verified`.
/// Returns how many of their operations failed.
fn remote_group(c: &mut Criterion, kind: Kind, name: &str) -> u64 {
    let server = Server::start(kind);
    let store = remote(&server);
    // The baseline's own runtime, shaped like the store's (two workers), so that the ratio is
    // hoard's own cost. The operator and its connection pools are the store's, so both read
    // over the same connections. Not a current-thread runtime: it drives its reactor and
    // tasks only while the baseline blocks on it, so a connection opened during the baseline
    // (a Redis reconnect, a new memcached connection, a kept-alive HTTP connection) and then
    // taken from the shared pool by the store would wait, up to its timeout, for a runtime
    // nobody drives.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-opendal")
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let ns = ns();
    let failures = Failures::default();
    // The store's memcached client is its own, not OpenDAL's (see `samples`).
    let opendal = kind != Kind::Memcached;
    let mut raw = (kind != Kind::S3).then(|| RawClient::connect(&server));
    let mut g = c.benchmark_group(format!("remote-{name}"));
    for (tag, (size, label)) in (1u8..).zip(SIZES) {
        let (key, f) = framed(size, tag);
        // memcached keeps items up to 1 MiB (`-I 1m`, key and item header included), so a
        // 1 MiB payload's frame is over `MEMCACHED_DEFAULT_MAX_ITEM` and its put would be
        // skipped: that size is not measured there (the table shows `-`).
        if f.len() as u64 > store.config().get_max_item_size() {
            continue;
        }
        let digest = *key.digest();
        store.put(&ns, &digest, &f).expect("remote put");
        let object = store.object_key(&ns, &digest);
        if opendal {
            let read = rt
                .block_on(store.operator().read(&object))
                .expect("OpenDAL read");
            assert_eq!(read.to_vec(), f, "OpenDAL reads back the frame put");
        }
        if let Some(raw) = raw.as_mut() {
            let read = raw.get(&object).expect("raw get");
            assert_eq!(
                read,
                Some(f.clone()),
                "the raw client reads back the frame put"
            );
        }

        let per_op = probe(|| {
            black_box(failures.hit("remote get", store.get(&ns, &digest, u64::MAX)));
        });
        samples(&mut g, size, per_op);
        g.throughput(Throughput::Bytes(size as u64));
        if opendal {
            g.bench_function(BenchmarkId::new("opendal_read", label), |b| {
                b.iter(|| {
                    let read = rt.block_on(store.operator().read(black_box(&object)));
                    black_box(failures.hit("OpenDAL read", read.map(Some)))
                });
            });
        }
        if let Some(raw) = raw.as_mut() {
            g.bench_function(BenchmarkId::new("raw_get", label), |b| {
                b.iter(|| black_box(failures.hit("raw get", raw.get(black_box(&object)))));
            });
        }
        g.bench_function(BenchmarkId::new("remote_get", label), |b| {
            b.iter(|| {
                let got = store.get(&ns, black_box(&digest), u64::MAX);
                black_box(failures.hit("remote get", got))
            });
        });
        g.bench_function(BenchmarkId::new("remote_get_verified", label), |b| {
            b.iter(|| {
                let got = store.get_verified(&ns, black_box(&key), MAX_DECODED);
                black_box(failures.hit("verified remote get", got))
            });
        });
    }
    g.finish();
    failures.0.get()
}

/// The `tiered-redis` group: an `FsStore` hit, a `TieredStore` local hit, and a remote hit
/// with its backfill. Returns how many remote reads failed: the tier reports a failed remote
/// read as a miss, and every get here is of a frame that was put.
fn tiered_group(c: &mut Criterion, root: &Path) -> u64 {
    let server = Server::start(Kind::Redis);
    let remote: Arc<dyn Store> = Arc::new(remote(&server));
    let local = Arc::new(FsStore::open(root.join("tiered-local")).expect("a local store"));
    let tier = TieredStore::new(
        Arc::clone(&local) as Arc<dyn Store>,
        remote,
        WritePolicy::Through,
        RemoteAccess::ReadWrite,
    )
    .expect("a tiered store");
    let ns = ns();
    let mut g = c.benchmark_group("tiered-redis");
    for (tag, (size, label)) in (1u8..).zip(SIZES) {
        let (key, f) = framed(size, tag);
        let digest = *key.digest();
        tier.put(&ns, &digest, &f).expect("tiered put");
        assert_eq!(
            tier.stats().remote_writes,
            u64::from(tag),
            "written through"
        );

        let per_op = probe(|| {
            local.remove(&ns, &digest).expect("local remove");
            black_box(tier.get(&ns, &digest, u64::MAX).expect("tiered get"));
        });
        if local
            .get(&ns, &digest, u64::MAX)
            .expect("local get")
            .is_none()
        {
            // The last probe's remote read failed: put the local copy back.
            local.put(&ns, &digest, &f).expect("local put");
        }
        samples(&mut g, size, per_op);
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(BenchmarkId::new("local_get", label), |b| {
            b.iter(|| {
                black_box(
                    local
                        .get(&ns, black_box(&digest), u64::MAX)
                        .expect("local get")
                        .expect("local hit"),
                )
            });
        });
        g.bench_function(BenchmarkId::new("tiered_get_local_hit", label), |b| {
            b.iter(|| {
                black_box(
                    tier.get(&ns, black_box(&digest), u64::MAX)
                        .expect("tiered get")
                        .expect("tiered hit"),
                )
            });
        });
        // Each iteration finds the local store without the frame (its backfill from the
        // previous iteration is removed in the untimed setup). A miss is a failed remote
        // read, counted by the tier.
        g.bench_function(BenchmarkId::new("tiered_get_remote_hit", label), |b| {
            b.iter_batched(
                || local.remove(&ns, &digest).expect("local remove"),
                |_| {
                    black_box(
                        tier.get(&ns, black_box(&digest), u64::MAX)
                            .expect("tiered get"),
                    )
                },
                BatchSize::PerIteration,
            );
        });
    }
    g.finish();
    let stats = tier.stats();
    assert_eq!(
        (stats.remote_rejected, stats.backfill_failures),
        (0, 0),
        "tiered-redis: every remote hit is good and backfilled: {stats:?}"
    );
    stats.misses
}

/// Runs every group; returns the failed operations of each.
fn bench(c: &mut Criterion, root: &Path) -> Vec<(String, u64)> {
    let mut failed: Vec<(String, u64)> = BACKENDS
        .iter()
        .map(|&(kind, name)| (format!("remote-{name}"), remote_group(c, kind, name)))
        .collect();
    failed.push(("tiered-redis".to_owned(), tiered_group(c, root)));
    failed
}

/// Formats a median in microseconds, `-` when criterion has none (filtered out, skipped).
fn cell(v: Option<f64>) -> String {
    v.map_or("-".to_owned(), |ns| format!("{:.1} µs", ns / 1e3))
}

/// `a / b`, `-` when either is missing.
fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".to_owned(),
    }
}

/// Prints the closing tables from criterion's estimates under `criterion_dir`, with a note
/// for each group whose operations failed.
fn report(criterion_dir: &Path, failed: &[(String, u64)]) {
    let m = |group: &str, who: &str, label: &str| {
        criterion_median_ns(criterion_dir, &format!("{group}/{who}/{label}"))
    };
    println!(
        "\nremote / plain OpenDAL read and / raw client get, median ratios (lower is better; \
         same run; targets ≤ 1.10x and ≤ 2x)"
    );
    println!(
        "{:<10} {:>7} {:>13} {:>11} {:>13} {:>13} {:>8} {:>9} {:>7}",
        "backend",
        "size",
        "opendal_read",
        "raw_get",
        "remote_get",
        "get_verified",
        "/opendal",
        "verified",
        "/raw"
    );
    for (_, name) in BACKENDS {
        let group = format!("remote-{name}");
        for (_, label) in SIZES {
            let (base, raw, get, verified) = (
                m(&group, "opendal_read", label),
                m(&group, "raw_get", label),
                m(&group, "remote_get", label),
                m(&group, "remote_get_verified", label),
            );
            if base.is_none() && raw.is_none() && get.is_none() {
                continue;
            }
            println!(
                "{:<10} {:>7} {:>13} {:>11} {:>13} {:>13} {:>8} {:>9} {:>7}",
                name,
                label,
                cell(base),
                cell(raw),
                cell(get),
                cell(verified),
                ratio(get, base),
                ratio(verified, base),
                ratio(get, raw)
            );
        }
    }
    println!("\ntiered (redis behind an FsStore) / local, median ratio (same run)");
    println!(
        "{:>7} {:>12} {:>12} {:>7} {:>12} {:>9}",
        "size", "local_get", "tiered_local", "ratio", "tiered_remote", "ratio"
    );
    for (_, label) in SIZES {
        let (local, hit, miss) = (
            m("tiered-redis", "local_get", label),
            m("tiered-redis", "tiered_get_local_hit", label),
            m("tiered-redis", "tiered_get_remote_hit", label),
        );
        if local.is_none() && hit.is_none() && miss.is_none() {
            continue;
        }
        println!(
            "{:>7} {:>12} {:>12} {:>7} {:>12} {:>9}",
            label,
            cell(local),
            cell(hit),
            ratio(hit, local),
            cell(miss),
            ratio(miss, local)
        );
    }
    for (group, n) in failed.iter().filter(|(_, n)| *n > 0) {
        println!("note: {n} operations of {group} failed; its medians include their time");
    }
}

fn main() {
    let root = tempfile::tempdir_in(bench_root()).expect("bench directory");
    let mut c = Criterion::default().configure_from_args();
    let failed = bench(&mut c, root.path());
    c.final_summary();
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")),
        Into::into,
    );
    report(&target.join("criterion"), &failed);
}
