//! hoard's memcached client against a real memcached that requires authentication (`-Y`):
//! the right credentials work, wrong ones fail without showing the password.

use std::time::Duration;

use hoard_core::{Digest, Namespace, Store};
use hoard_remote::{Credentials, RemoteConfig, RemoteStore};
use hoard_testkit::servers::Server;

fn ns() -> Namespace {
    Namespace::new("remote-memcached").expect("test step")
}

fn store(server: &Server, credentials: Option<Credentials>) -> RemoteStore {
    let mut config = RemoteConfig::parse(&server.url(""))
        .and_then(|c| c.timeout(Duration::from_secs(5)))
        .expect("test step");
    if let Some(c) = credentials {
        config = config.credentials(c);
    }
    RemoteStore::open(config).expect("test step")
}

#[test]
fn credentials_authenticate_each_connection_and_wrong_ones_fail_without_showing_them() {
    let server = Server::start_memcached_with_auth("builder", "s3cr3t-pw");
    let d = Digest::from_bytes([5; 32]);

    let good = store(&server, Some(Credentials::new("builder", "s3cr3t-pw")));
    good.put(&ns(), &d, b"a frame").expect("authenticated put");
    assert_eq!(
        good.get(&ns(), &d, 1 << 20)
            .expect("authenticated get")
            .as_deref(),
        Some(&b"a frame"[..])
    );
    assert!(good.remove(&ns(), &d).expect("authenticated remove"));
    assert!(!good.remove(&ns(), &d).expect("authenticated remove"));

    let wrong = store(&server, Some(Credentials::new("builder", "not-the-pw")));
    let e = wrong.get(&ns(), &d, 1 << 20).expect_err("refused");
    assert!(e.to_string().contains("authentication failed"), "{e}");
    assert!(!format!("{e:?}").contains("not-the-pw"), "{e:?}");

    let none = store(&server, None);
    assert!(none.get(&ns(), &d, 1 << 20).is_err(), "unauthenticated");
}

/// hoard's memcached keys and values are those OpenDAL's memcached service used, so stores of
/// builds before and after the client change share a server: each reads what the other put.
#[test]
fn entries_are_shared_with_opendals_memcached_client() {
    let server = hoard_testkit::servers::Server::start(hoard_testkit::servers::Kind::Memcached);
    let store = store(&server, None);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("test step");
    let (ours, theirs) = (Digest::from_bytes([6; 32]), Digest::from_bytes([7; 32]));
    store.put(&ns(), &ours, b"put by hoard").expect("test step");
    let read = rt
        .block_on(store.operator().read(&store.object_key(&ns(), &ours)))
        .expect("OpenDAL reads it");
    assert_eq!(read.to_vec(), b"put by hoard");
    rt.block_on(store.operator().write(
        &store.object_key(&ns(), &theirs),
        b"put by OpenDAL".to_vec(),
    ))
    .expect("OpenDAL writes");
    assert_eq!(
        store
            .get(&ns(), &theirs, 1 << 20)
            .expect("test step")
            .as_deref(),
        Some(&b"put by OpenDAL"[..])
    );
}

/// A hung memcached (SIGSTOP: the kernel still accepts connections, nothing answers) costs
/// the connect timeout, not the operation's: the client's connection check is bounded by it.
#[test]
fn a_hung_memcached_costs_the_connect_timeout_not_the_operation_timeout() {
    let server = Server::start(hoard_testkit::servers::Kind::Memcached);
    server.pause();
    let config = RemoteConfig::parse(&server.url(""))
        .and_then(|c| c.timeout(Duration::from_secs(60)))
        .and_then(|c| c.connect_timeout(Duration::from_millis(100)))
        .expect("test step");
    let remote = RemoteStore::open(config).expect("test step");
    let err = remote
        .get(&ns(), &Digest::from_bytes([8; 32]), 1 << 20)
        .expect_err("nothing answers");
    assert!(err.message().contains("connect timeout"), "{err}");
    let s = remote.stats();
    assert_eq!(
        (
            s.get_failures,
            s.connect_failures,
            s.timeouts,
            s.breaker_trips
        ),
        (1, 1, 1, 1),
        "{s:?}"
    );
    server.resume();
}
