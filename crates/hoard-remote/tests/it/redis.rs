//! hoard's own Redis client (`redis://`) against a real redis-server: entries shared with
//! OpenDAL's Redis service in both directions (same keys, same values, same database),
//! credentials, and a connection a timeout cut short never answering the next request.

use std::time::Duration;

use hoard_core::{Digest, ErrorKind, Namespace, Store};
use hoard_remote::{Credentials, RemoteConfig, RemoteStore};
use hoard_testkit::servers::{Kind, Server, redis_bulk, redis_command};

fn ns() -> Namespace {
    Namespace::new("remote-redis").expect("test step")
}

fn config(server: &Server, db: u32, credentials: Option<Credentials>) -> RemoteConfig {
    let mut config = RemoteConfig::parse(&format!("redis://127.0.0.1:{}/{db}", server.port()))
        .and_then(|c| c.timeout(Duration::from_secs(5)))
        .expect("test step");
    if let Some(c) = credentials {
        config = config.credentials(c);
    }
    config
}

/// hoard's Redis keys and values are those OpenDAL's Redis service used, in the URL's
/// database, so stores of builds before and after the client change share a server: each
/// reads what the other put, under credentials, and nothing lands in database 0.
#[test]
fn entries_are_shared_with_opendals_redis_client_in_the_urls_database() {
    let server = Server::start(Kind::Redis);
    let acl = redis_command(
        server.port(),
        &[
            b"ACL",
            b"SETUSER",
            b"builder",
            b"on",
            b">s3cr3t-pw",
            b"~*",
            b"+@all",
        ],
    );
    assert_eq!(acl, b"+OK\r\n", "{}", String::from_utf8_lossy(&acl));
    let store = RemoteStore::open(config(
        &server,
        3,
        Some(Credentials::new("builder", "s3cr3t-pw")),
    ))
    .expect("test step");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("test step");
    let (ours, theirs) = (Digest::from_bytes([6; 32]), Digest::from_bytes([7; 32]));
    store.put(&ns(), &ours, b"put by hoard").expect("test step");
    let ours_key = store.object_key(&ns(), &ours);
    let read = rt
        .block_on(store.operator().read(&ours_key))
        .expect("OpenDAL reads it");
    assert_eq!(read.to_vec(), b"put by hoard");
    let theirs_key = store.object_key(&ns(), &theirs);
    rt.block_on(
        store
            .operator()
            .write(&theirs_key, b"put by OpenDAL".to_vec()),
    )
    .expect("OpenDAL writes");
    for limit in [1 << 20, u64::MAX] {
        assert_eq!(
            store
                .get(&ns(), &theirs, limit)
                .expect("test step")
                .as_deref(),
            Some(&b"put by OpenDAL"[..]),
            "limit {limit}"
        );
    }
    // Database 0 holds neither.
    for key in [&ours_key, &theirs_key] {
        let raw = redis_bulk(&redis_command(server.port(), &[b"GET", key.as_bytes()]));
        assert_eq!(raw, None, "{key} is not in database 0");
    }
    assert!(store.remove(&ns(), &theirs).expect("test step"));
    assert!(!store.remove(&ns(), &theirs).expect("test step"));
    assert!(
        !rt.block_on(store.operator().exists(&theirs_key))
            .expect("test step")
    );
    let s = store.stats();
    assert_eq!(
        (s.puts, s.hits, s.removes, s.get_failures),
        (1, 2, 2, 0),
        "{s:?}"
    );
}

/// Wrong credentials fail the connection check, named as an authentication failure and
/// without the password.
#[test]
fn wrong_credentials_fail_without_showing_them() {
    let server = Server::start(Kind::Redis);
    redis_command(
        server.port(),
        &[
            b"ACL",
            b"SETUSER",
            b"builder",
            b"on",
            b">s3cr3t-pw",
            b"~*",
            b"+@all",
        ],
    );
    let wrong = RemoteStore::open(config(
        &server,
        0,
        Some(Credentials::new("builder", "not-the-pw")),
    ))
    .expect("test step");
    let e = wrong
        .get(&ns(), &Digest::from_bytes([5; 32]), 1 << 20)
        .expect_err("refused");
    assert!(e.to_string().contains("authentication failed"), "{e}");
    assert!(!format!("{e:?}").contains("not-the-pw"), "{e:?}");
    assert_eq!(wrong.stats().connect_failures, 1, "{:?}", wrong.stats());
}

/// A get whose answer a timeout cut short drops its connection: after the hung server
/// resumes, its late answer never reaches the next request, which gets its own value.
#[test]
fn a_connection_cut_by_a_timeout_never_answers_the_next_request() {
    let server = Server::start(Kind::Redis);
    let config = config(&server, 0, None)
        .timeout(Duration::from_millis(200))
        .and_then(|c| c.failure_threshold(1000))
        .expect("test step");
    let store = RemoteStore::open(config).expect("test step");
    let (a, b) = (Digest::from_bytes([8; 32]), Digest::from_bytes([9; 32]));
    store.put(&ns(), &a, b"value a").expect("test step");
    store.put(&ns(), &b, b"value b").expect("test step");
    server.pause();
    let e = store.get(&ns(), &a, 1 << 20).expect_err("nothing answers");
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    server.resume();
    assert_eq!(
        store.get(&ns(), &b, 1 << 20).expect("test step").as_deref(),
        Some(&b"value b"[..])
    );
    assert_eq!(
        store.get(&ns(), &a, 1 << 20).expect("test step").as_deref(),
        Some(&b"value a"[..])
    );
    assert_eq!(store.stats().timeouts, 1, "{:?}", store.stats());
}

/// A password alone (an empty username) is `AUTH <password>` for Redis's default user, as
/// through OpenDAL: a server with `requirepass` serves it, and refuses a store without it.
#[test]
fn a_password_alone_authenticates_the_default_user() {
    let server = Server::start(Kind::Redis);
    let set = redis_command(
        server.port(),
        &[b"CONFIG", b"SET", b"requirepass", b"d3fault-pw"],
    );
    assert_eq!(set, b"+OK\r\n", "{}", String::from_utf8_lossy(&set));
    let store = RemoteStore::open(config(&server, 0, Some(Credentials::new("", "d3fault-pw"))))
        .expect("test step");
    let d = Digest::from_bytes([10; 32]);
    store.put(&ns(), &d, b"a frame").expect("authenticated put");
    assert_eq!(
        store
            .get(&ns(), &d, 1 << 20)
            .expect("authenticated get")
            .as_deref(),
        Some(&b"a frame"[..])
    );
    let none = RemoteStore::open(config(&server, 0, None)).expect("test step");
    assert!(none.get(&ns(), &d, 1 << 20).is_err(), "unauthenticated");
}
