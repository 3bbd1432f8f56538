//! `TieredStore` under the store conformance suite, in front of a real Redis: every write
//! policy, a read-only remote, and both an in-memory and a filesystem local store; and the
//! backfill guard, with a remote whose gets wait for the test's word.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};

use hoard_core::{Digest, EntryInfo, Namespace, Result, Store};
use hoard_fs::FsStore;
use hoard_remote::{RemoteAccess, RemoteStore, TieredStore, WritePolicy};
use hoard_testkit::InMemory;
use hoard_testkit::servers::{Kind, Server};

use crate::backends::config;

/// A tier of a fresh `local` in front of a fresh prefix of `server`.
fn tier(
    server: &Server,
    local: Arc<dyn Store>,
    policy: WritePolicy,
    access: RemoteAccess,
) -> TieredStore {
    let remote = RemoteStore::open(config(server)).expect("test step");
    TieredStore::new(local, Arc::new(remote), policy, access).expect("test step")
}

fn in_memory() -> Arc<dyn Store> {
    Arc::new(InMemory::new())
}

#[test]
fn a_write_through_tier_passes_the_store_conformance_suite() {
    let server = Server::start(Kind::Redis);
    hoard_testkit::store::run_all(|| {
        tier(
            &server,
            in_memory(),
            WritePolicy::Through,
            RemoteAccess::ReadWrite,
        )
    });
}

/// Write-back makes the backfill race wide (puts return before the remote has them): a get
/// that misses locally while puts are under way reads an older frame from the remote. The
/// backfill guard keeps it from copying that frame over the newer local one, so the suite's
/// `concurrent_puts_are_atomic` (the last completed put wins) holds here too.
#[test]
fn a_write_back_tier_passes_the_store_conformance_suite() {
    let server = Server::start(Kind::Redis);
    hoard_testkit::store::run_all(|| {
        tier(
            &server,
            in_memory(),
            WritePolicy::Back { queue: 8 },
            RemoteAccess::ReadWrite,
        )
    });
}

#[test]
fn local_only_and_read_only_tiers_pass_the_store_conformance_suite() {
    let server = Server::start(Kind::Redis);
    hoard_testkit::store::run_all(|| {
        tier(
            &server,
            in_memory(),
            WritePolicy::LocalOnly,
            RemoteAccess::ReadWrite,
        )
    });
    hoard_testkit::store::run_all(|| {
        tier(
            &server,
            in_memory(),
            WritePolicy::Through,
            RemoteAccess::ReadOnly,
        )
    });
}

#[test]
fn a_tier_on_a_filesystem_store_passes_the_store_conformance_suite() {
    let server = Server::start(Kind::Redis);
    let dir = tempfile::tempdir().expect("test step");
    let n = AtomicUsize::new(0);
    hoard_testkit::store::run_all(|| {
        let root = dir
            .path()
            .join(n.fetch_add(1, Ordering::Relaxed).to_string());
        let local = Arc::new(FsStore::open(root).expect("test step"));
        tier(
            &server,
            local,
            WritePolicy::Through,
            RemoteAccess::ReadWrite,
        )
    });
}

/// A remote in memory whose next get, once [`armed`](Gated::arm), reads the value, says so
/// and waits for the test's go-ahead before returning it: the test then acts in the middle
/// of a tier's get.
#[derive(Debug, Default)]
struct Gated {
    inner: InMemory,
    gate: Mutex<Option<(SyncSender<()>, Receiver<()>)>>,
}

impl Gated {
    /// Arms the next get; returns (its "begun" signal, its go-ahead).
    fn arm(&self) -> (Receiver<()>, SyncSender<()>) {
        let (begun_tx, begun_rx) = sync_channel(1);
        let (go_tx, go_rx) = sync_channel(1);
        *self.gate.lock().unwrap_or_else(PoisonError::into_inner) = Some((begun_tx, go_rx));
        (begun_rx, go_tx)
    }
}

impl Store for Gated {
    fn get(&self, ns: &Namespace, digest: &Digest, limit: u64) -> Result<Option<Vec<u8>>> {
        // Read first: the value is on its way back when the test acts.
        let value = self.inner.get(ns, digest, limit);
        let gate = self
            .gate
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((begun, go)) = gate {
            begun.send(()).expect("the test waits for the get");
            go.recv().expect("the test lets the get go on");
        }
        value
    }

    fn put(&self, ns: &Namespace, digest: &Digest, frame: &[u8]) -> Result<()> {
        self.inner.put(ns, digest, frame)
    }

    fn remove(&self, ns: &Namespace, digest: &Digest) -> Result<bool> {
        self.inner.remove(ns, digest)
    }

    fn list(&self, visit: &mut dyn FnMut(EntryInfo) -> ControlFlow<()>) -> Result<()> {
        self.inner.list(visit)
    }
}

/// Issue 13: a get that misses locally reads an older frame from the remote while a put (or
/// a removal) of the same entry lands locally; the backfill must not undo it.
#[test]
fn a_backfill_never_undoes_a_put_or_removal_that_landed_during_the_get() {
    let ns = Namespace::new("guard").expect("test step");
    let d = Digest::from_bytes([42; 32]);
    let old = hoard_testkit::store::frame_for(&d, b"older, in the remote");
    let new = hoard_testkit::store::frame_for(&d, b"newer, put locally during the get");
    for removal in [false, true] {
        let remote = Arc::new(Gated::default());
        remote.inner.put(&ns, &d, &old).expect("test step");
        let local = Arc::new(InMemory::new());
        let tier = TieredStore::new(
            local.clone(),
            remote.clone(),
            WritePolicy::LocalOnly,
            RemoteAccess::ReadWrite,
        )
        .expect("test step");
        if removal {
            local.put(&ns, &d, &new).expect("test step");
            // The entry is evicted locally: the next get goes to the remote.
            local.remove(&ns, &d).expect("test step");
        }
        let (begun, go) = remote.arm();
        let got = std::thread::scope(|s| {
            let reader = s.spawn(|| tier.get(&ns, &d, 1 << 20));
            begun.recv().expect("the get reached the remote");
            if removal {
                assert!(tier.remove(&ns, &d).expect("test step"), "the remote copy");
            } else {
                tier.put(&ns, &d, &new).expect("test step");
            }
            go.send(()).expect("test step");
            reader.join().expect("the reader")
        });
        // The get overlapped the change: the remote's frame is a fair answer to it.
        assert_eq!(got.expect("test step").as_deref(), Some(&old[..]));
        let t = tier.stats();
        assert_eq!(
            (t.backfills, t.backfills_superseded),
            (0, 1),
            "removal {removal}: {t:?}"
        );
        let now = local.get(&ns, &d, 1 << 20).expect("test step");
        if removal {
            assert_eq!(now, None, "the removal stands");
        } else {
            assert_eq!(now.as_deref(), Some(&new[..]), "the newer put stands");
        }
    }
}
