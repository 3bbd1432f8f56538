//! What a dead remote costs at default settings: a refused connection fails at once, a hung
//! server costs the connect timeout rather than the operation's, and with the breaker state
//! shared through a cache directory a second process does not try the remote at all during
//! the cool-down, and exactly one process probes it when the cool-down ends.
//!
//! The costs are shown by the counters, never by timing: a refusal retried until the
//! deadline would end as a timeout (`timeouts`), a check that ran out its time counts in
//! `connect_failures` and `timeouts`, and a bypassed operation sends nothing.

use std::sync::Arc;
use std::time::Duration;

use hoard_core::{Digest, Housekeeping, Namespace, Store};
use hoard_fs::FsStore;
use hoard_remote::{DEFAULT_CONNECT_TIMEOUT, ManualClock, RemoteConfig, RemoteStore};
use hoard_testkit::servers::{Kind, Server, free_port};

fn ns() -> Namespace {
    Namespace::new("remote-outage").expect("test step")
}

fn digest() -> Digest {
    Digest::from_bytes([42; 32])
}

/// The cool-down of these tests, passed only by the manual clock.
const COOLDOWN: Duration = Duration::from_secs(30);

#[test]
fn a_refused_connection_fails_at_once_on_every_backend() {
    let port = free_port();
    for url in [
        format!("redis://127.0.0.1:{port}/0"),
        format!("memcached://127.0.0.1:{port}"),
        "s3://bucket/p".to_owned(),
    ] {
        let mut config = RemoteConfig::parse(&url).expect("test step");
        if url.starts_with("s3") {
            config = config
                .endpoint(&format!("http://127.0.0.1:{port}"))
                .expect("test step");
        }
        // Default settings: only the refusal can end the get before the 2 s timeout
        // without counting a timeout.
        let remote = RemoteStore::open(config).expect("test step");
        let err = remote
            .get(&ns(), &digest(), 1 << 20)
            .expect_err("nothing listens");
        assert!(err.message().contains("cannot connect"), "{url}: {err}");
        let s = remote.stats();
        assert_eq!(
            (
                s.get_failures,
                s.connect_failures,
                s.timeouts,
                s.breaker_trips
            ),
            (1, 1, 0, 1),
            "{url}: {s:?}"
        );
        assert!(remote.is_bypassed());
    }
}

#[test]
fn a_hung_server_costs_the_connect_timeout_not_the_operation_timeout() {
    let server = Server::start(Kind::Redis);
    server.pause();
    let config = RemoteConfig::parse(&server.url(""))
        .and_then(|c| c.timeout(Duration::from_secs(60)))
        .and_then(|c| c.connect_timeout(Duration::from_millis(100)))
        .expect("test step");
    let remote = RemoteStore::open(config).expect("test step");
    let err = remote
        .get(&ns(), &digest(), 1 << 20)
        .expect_err("nothing answers");
    assert!(err.message().contains("connect timeout"), "{err}");
    let s = remote.stats();
    assert_eq!(
        (s.get_failures, s.connect_failures, s.timeouts),
        (1, 1, 1),
        "{s:?}"
    );
    server.resume();
    assert_eq!(DEFAULT_CONNECT_TIMEOUT, Duration::from_millis(250));
}

/// Two stores ("processes") sharing one cache directory's state, on one manual clock.
fn two_processes(
    url: &str,
    keeper: &Arc<dyn Housekeeping>,
) -> (RemoteStore, RemoteStore, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new());
    let open = || {
        let config = RemoteConfig::parse(url)
            .expect("test step")
            .cooldown(COOLDOWN);
        RemoteStore::open(config)
            .expect("test step")
            .with_clock(clock.clone())
            .with_shared_breaker(Arc::clone(keeper))
    };
    (open(), open(), clock)
}

#[test]
fn a_cooldown_is_honoured_by_every_process_and_one_probes_when_it_ends() {
    let dir = tempfile::tempdir().expect("test step");
    let keeper: Arc<dyn Housekeeping> = Arc::new(FsStore::open(dir.path()).expect("test step"));
    let mut server = Server::start(Kind::Redis);
    let url = server.url("");
    server.kill();
    let (a, b, clock) = two_processes(&url, &keeper);

    assert!(a.get(&ns(), &digest(), 1 << 20).is_err());
    assert_eq!(a.stats().connect_failures, 1);
    // The other process never tries the remote during the cool-down A started.
    for _ in 0..5 {
        assert!(b.get(&ns(), &digest(), 1 << 20).is_err());
    }
    let sb = b.stats();
    assert_eq!(
        (sb.bypassed, sb.connect_failures, sb.probes),
        (5, 0, 0),
        "{sb:?}"
    );
    assert!(b.is_bypassed());

    // The cool-down ends: the first process to ask probes, the other keeps bypassing.
    clock.advance(COOLDOWN);
    assert!(b.get(&ns(), &digest(), 1 << 20).is_err());
    assert!(a.get(&ns(), &digest(), 1 << 20).is_err());
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!((sb.probes, sb.connect_failures), (1, 1), "{sb:?}");
    assert_eq!((sa.probes, sa.connect_failures), (0, 1), "{sa:?}");

    // Back up: the next probe closes the shared state, and both use the remote again.
    server.restart();
    clock.advance(COOLDOWN);
    assert_eq!(
        a.get(&ns(), &digest(), 1 << 20)
            .expect("a probe that works"),
        None
    );
    assert_eq!(a.stats().probes, 1);
    assert_eq!(
        b.get(&ns(), &digest(), 1 << 20).expect("closed again"),
        None
    );
    assert!(!a.is_bypassed() && !b.is_bypassed());
    let state = keeper
        .read_state(
            &hoard_core::StateName::new(&format!(
                "remote-breaker-{}",
                state_suffix(&format!("{a:?}"))
            ))
            .expect("test step"),
            64,
        )
        .expect("test step");
    assert_eq!(
        state.map(|s| s.len()),
        Some(24),
        "the state is kept in the directory"
    );
}

/// The hex digits of the shared state's name as a store's `Debug` shows it.
fn state_suffix(debug: &str) -> String {
    let at = debug
        .find("remote-breaker-")
        .expect("the store shows its shared state")
        + "remote-breaker-".len();
    debug[at..at + 16].to_owned()
}

#[test]
fn a_damaged_or_foreign_state_is_ignored() {
    let dir = tempfile::tempdir().expect("test step");
    let fs = Arc::new(FsStore::open(dir.path()).expect("test step"));
    let keeper: Arc<dyn Housekeeping> = fs.clone();
    let server = Server::start(Kind::Redis);
    let (a, _b, _clock) = two_processes(&server.url(""), &keeper);
    let name = hoard_core::StateName::new(&format!(
        "remote-breaker-{}",
        state_suffix(&format!("{a:?}"))
    ))
    .expect("test step");
    for junk in [&b"garbage"[..], &[0u8; 24][..]] {
        keeper.write_state(&name, junk).expect("test step");
        assert_eq!(
            a.get(&ns(), &digest(), 1 << 20).expect("not bypassed"),
            None
        );
    }
    assert_eq!(a.stats().bypassed, 0);
}

#[test]
fn a_server_killed_under_a_live_connection_fails_at_the_connect_timeout() {
    let mut server = Server::start(Kind::Redis);
    let config = RemoteConfig::parse(&server.url(""))
        .and_then(|c| c.timeout(Duration::from_secs(60)))
        .expect("test step");
    let remote = RemoteStore::open(config).expect("test step");
    assert_eq!(remote.get(&ns(), &digest(), 1 << 20).expect("a miss"), None);
    server.kill();
    // The client keeps its connection and reconnects until the operation's timeout; the
    // check after the connect timeout is refused and ends the get, not a timeout.
    let err = remote
        .get(&ns(), &digest(), 1 << 20)
        .expect_err("the server is gone");
    let s = remote.stats();
    eprintln!("killed under a live connection: {err}; {s:?}");
    assert_eq!((s.get_failures, s.timeouts), (1, 0), "{s:?}: {err}");
    assert!(s.connect_failures <= 1, "{s:?}");
}

#[test]
fn a_store_that_cannot_lock_still_probes_after_the_cooldown() {
    let memory = Arc::new(hoard_testkit::InMemory::new());
    memory.fail(hoard_testkit::memory::Op::Lock, true);
    let keeper: Arc<dyn Housekeeping> = memory.clone();
    let (a, b, clock) = two_processes(&format!("redis://127.0.0.1:{}/0", free_port()), &keeper);
    assert!(a.get(&ns(), &digest(), 1 << 20).is_err());
    assert!(b.get(&ns(), &digest(), 1 << 20).is_err());
    assert_eq!(b.stats().bypassed, 1);
    for cooldowns in 1..=2 {
        clock.advance(COOLDOWN);
        assert!(b.get(&ns(), &digest(), 1 << 20).is_err());
        assert_eq!(b.stats().probes, cooldowns, "{:?}", b.stats());
    }
}
