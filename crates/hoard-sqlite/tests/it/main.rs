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
