//! `SqliteStore`: the testkit's suites, then the store under the facade and the worker.

mod facade;

use std::sync::atomic::{AtomicUsize, Ordering};

use hoard_sqlite::SqliteStore;

#[test]
fn store_conformance() {
    let base = tempfile::tempdir().expect("tempdir");
    let counter = AtomicUsize::new(0);
    hoard_testkit::store::run_all(|| {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        SqliteStore::open(base.path().join(format!("s{n}.sqlite"))).expect("open")
    });
}

#[test]
fn housekeeping_conformance() {
    let base = tempfile::tempdir().expect("tempdir");
    let counter = AtomicUsize::new(0);
    hoard_testkit::housekeeping::run_all(|| {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        SqliteStore::open(base.path().join(format!("h{n}.sqlite"))).expect("open")
    });
}

#[test]
fn a_checkpoint_moves_the_log_into_the_database_file() {
    use hoard_core::{Digest, Namespace, Store};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.sqlite");
    let store = SqliteStore::open(&path).expect("open");
    let ns = Namespace::new("n").expect("namespace");
    for i in 0..50u8 {
        store
            .put(&ns, &Digest::from_bytes([i; 32]), &[i; 4096])
            .expect("put");
    }
    let mut wal = path.clone().into_os_string();
    wal.push("-wal");
    let wal_len = || std::fs::metadata(&wal).map_or(0, |m| m.len());
    assert!(wal_len() > 0, "the puts went to the write-ahead log");
    store.checkpoint().expect("checkpoint");
    assert_eq!(wal_len(), 0, "truncated");
    assert!(
        std::fs::metadata(&path).expect("database").len() >= 50 * 4096,
        "the entries are in the database file"
    );
    assert_eq!(
        store
            .get(&ns, &Digest::from_bytes([7; 32]), u64::MAX)
            .expect("get"),
        Some(vec![7; 4096])
    );
}
