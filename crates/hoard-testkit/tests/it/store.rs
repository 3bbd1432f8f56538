//! The store suite on a `Mutex<HashMap>` store, correct and with one flaw at a time.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::thread;

use hoard_core::{
    Digest, EntryInfo, Error, ErrorKind, Namespace, Result, Store, listing_not_supported,
};
use hoard_testkit::store;

use crate::expect_failure;

/// One deliberate contract violation, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flaw {
    None,
    /// A miss is an error instead of `Ok(None)`.
    MissIsError,
    /// A put writes the frame in pieces, letting other threads in between them.
    TornPut,
    /// A put removes the old frame, lets other threads in, then inserts the new one.
    VanishingReplace,
    /// A put over a longer frame overwrites its start and keeps its tail.
    OverwritesInPlace,
    /// Entries are keyed by digest alone.
    IgnoresNamespace,
    /// Entries are keyed by the first 8 bytes of the digest.
    ShortDigest,
    /// Only 256 slots, chosen by the digest's first byte: older keys silently vanish.
    ForgetsKeys,
    /// `remove` reports an entry but leaves it in place.
    RemoveKeeps,
    /// `get` returns frames whatever their size.
    IgnoresLimit,
    /// Listing is not supported (not a flaw: the listing checks must pass).
    CannotList,
    /// Listing fails with an I/O error.
    ListFails,
    /// Listing reports every entry twice.
    ListsTwice,
    /// Listing reports one byte more than the frame's length.
    WrongStoredLen,
    /// Listing goes on after the visitor said to stop.
    IgnoresBreak,
}

#[derive(Debug)]
struct MemStore {
    flaw: Flaw,
    map: Mutex<HashMap<(Namespace, Digest), Vec<u8>>>,
}

impl MemStore {
    fn new(flaw: Flaw) -> Self {
        Self {
            flaw,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, ns: &Namespace, digest: &Digest) -> (Namespace, Digest) {
        let mut d = *digest.as_bytes();
        let ns = match self.flaw {
            Flaw::IgnoresNamespace => Namespace::new("all").expect("valid"),
            Flaw::ShortDigest => {
                d[8..].fill(0);
                ns.clone()
            }
            Flaw::ForgetsKeys => {
                d = [d[0]; 32];
                ns.clone()
            }
            _ => ns.clone(),
        };
        (ns, Digest::from_bytes(d))
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<(Namespace, Digest), Vec<u8>>> {
        self.map
            .lock()
            .expect("no thread panics while holding the map")
    }
}

impl Store for MemStore {
    fn get(&self, ns: &Namespace, digest: &Digest, limit: u64) -> Result<Option<Vec<u8>>> {
        let map = self.map();
        match map.get(&self.slot(ns, digest)) {
            None if self.flaw == Flaw::MissIsError => {
                Err(Error::new(ErrorKind::Io, format!("no entry {ns}/{digest}")))
            }
            None => Ok(None),
            Some(f) if f.len() as u64 > limit && self.flaw != Flaw::IgnoresLimit => {
                Err(Error::new(
                    ErrorKind::TooLarge,
                    format!("entry {ns}/{digest} is {} bytes, above {limit}", f.len()),
                ))
            }
            Some(f) => Ok(Some(f.clone())),
        }
    }

    fn put(&self, ns: &Namespace, digest: &Digest, frame: &[u8]) -> Result<()> {
        let slot = self.slot(ns, digest);
        match self.flaw {
            Flaw::TornPut => {
                // Several pieces, so that readers have many chances to see a torn frame even
                // on a loaded machine.
                let mut pieces = frame.chunks(frame.len().div_ceil(8).max(1));
                let first = pieces.next().unwrap_or_default();
                self.map().insert(slot.clone(), first.to_vec());
                for piece in pieces {
                    thread::yield_now();
                    self.map()
                        .entry(slot.clone())
                        .or_default()
                        .extend_from_slice(piece);
                }
            }
            Flaw::VanishingReplace => {
                self.map().remove(&slot);
                for _ in 0..4 {
                    thread::yield_now();
                }
                self.map().insert(slot, frame.to_vec());
            }
            Flaw::OverwritesInPlace => {
                let mut map = self.map();
                let old = map.entry(slot).or_default();
                if old.len() >= frame.len() {
                    old[..frame.len()].copy_from_slice(frame);
                } else {
                    *old = frame.to_vec();
                }
            }
            _ => {
                self.map().insert(slot, frame.to_vec());
            }
        }
        Ok(())
    }

    fn remove(&self, ns: &Namespace, digest: &Digest) -> Result<bool> {
        let slot = self.slot(ns, digest);
        let mut map = self.map();
        if self.flaw == Flaw::RemoveKeeps {
            return Ok(map.contains_key(&slot));
        }
        Ok(map.remove(&slot).is_some())
    }

    fn list(&self, visit: &mut dyn FnMut(EntryInfo) -> ControlFlow<()>) -> Result<()> {
        match self.flaw {
            Flaw::CannotList => return Err(listing_not_supported("in-memory test")),
            Flaw::ListFails => return Err(Error::new(ErrorKind::Io, "listing broke")),
            _ => {}
        }
        // A snapshot, so that the visitor may call the store.
        let entries: Vec<EntryInfo> = self
            .map()
            .iter()
            .map(|((ns, d), f)| {
                let extra = u64::from(self.flaw == Flaw::WrongStoredLen);
                EntryInfo::new(ns.clone(), *d, f.len() as u64 + extra, None, None)
            })
            .collect();
        let times = if self.flaw == Flaw::ListsTwice { 2 } else { 1 };
        for _ in 0..times {
            for e in &entries {
                if visit(e.clone()).is_break() && self.flaw != Flaw::IgnoresBreak {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

fn make(flaw: Flaw) -> impl Fn() -> MemStore {
    move || MemStore::new(flaw)
}

#[test]
fn a_correct_store_passes_every_check() {
    store::run_all(make(Flaw::None));
}

#[test]
fn a_store_that_cannot_list_passes_with_the_listing_checks_skipped() {
    store::run_all(make(Flaw::CannotList));
}

#[test]
fn the_checks_can_share_one_store() {
    let shared = Arc::new(MemStore::new(Flaw::None));
    store::run_all(|| Arc::clone(&shared));
    store::run_all(|| Arc::clone(&shared));
}

#[test]
fn a_miss_that_is_an_error_is_caught() {
    expect_failure("miss is an error", "misses are Ok(None)", || {
        store::absent_key_is_none(&MemStore::new(Flaw::MissIsError));
    });
}

#[test]
fn a_torn_put_is_caught() {
    expect_failure("torn put", "atomic puts", || {
        store::concurrent_puts_are_atomic(&MemStore::new(Flaw::TornPut));
    });
}

#[test]
fn a_replace_that_removes_first_is_caught() {
    expect_failure("remove, then insert", "returned nothing after", || {
        store::concurrent_puts_are_atomic(&MemStore::new(Flaw::VanishingReplace));
    });
}

#[test]
fn an_in_place_overwrite_is_caught() {
    expect_failure("overwrite in place", "a put replaces", || {
        store::put_replaces(&MemStore::new(Flaw::OverwritesInPlace));
    });
}

#[test]
fn ignoring_namespaces_is_caught() {
    expect_failure("ignores namespaces", "namespaces are isolated", || {
        store::namespaces_are_isolated(&MemStore::new(Flaw::IgnoresNamespace));
    });
}

#[test]
fn a_truncated_digest_is_caught() {
    expect_failure("short digest", "digests are isolated", || {
        store::digests_are_isolated(&MemStore::new(Flaw::ShortDigest));
    });
}

#[test]
fn forgotten_keys_are_caught() {
    expect_failure("forgets keys", "concurrent safety", || {
        store::many_keys_from_many_threads(&MemStore::new(Flaw::ForgetsKeys));
    });
}

#[test]
fn a_remove_that_keeps_the_entry_is_caught() {
    expect_failure("remove keeps", "remove deletes", || {
        store::remove_deletes(&MemStore::new(Flaw::RemoveKeeps));
    });
}

#[test]
fn an_ignored_limit_is_caught() {
    expect_failure("ignores limit", "bounded gets", || {
        store::get_respects_the_limit(&MemStore::new(Flaw::IgnoresLimit));
    });
}

#[test]
fn listing_errors_other_than_not_supported_are_caught() {
    expect_failure("list fails", "listing", || {
        store::list_reports_each_entry_once(&MemStore::new(Flaw::ListFails));
    });
}

#[test]
fn listing_an_entry_twice_is_caught() {
    expect_failure("lists twice", "more than once", || {
        store::list_reports_each_entry_once(&MemStore::new(Flaw::ListsTwice));
    });
}

#[test]
fn a_wrong_stored_len_is_caught() {
    expect_failure("wrong stored_len", "stored_len", || {
        store::list_reports_each_entry_once(&MemStore::new(Flaw::WrongStoredLen));
    });
}

#[test]
fn listing_past_break_is_caught() {
    expect_failure("ignores break", "ControlFlow::Break", || {
        store::list_stops_when_told(&MemStore::new(Flaw::IgnoresBreak));
    });
}
