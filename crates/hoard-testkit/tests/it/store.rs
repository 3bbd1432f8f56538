//! The store suite on [`InMemory`], correct and behind one flaw at a time.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::thread;

use hoard_core::{
    Digest, EntryInfo, Error, ErrorKind, Namespace, Result, Store, StoreExt, listing_not_supported,
};
use hoard_testkit::{InMemory, store};

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

/// An [`InMemory`] store behind one flaw: a correct store, broken on purpose.
#[derive(Debug)]
struct Flawed {
    flaw: Flaw,
    inner: InMemory,
}

impl Flawed {
    fn new(flaw: Flaw) -> Self {
        Self {
            flaw,
            inner: InMemory::new(),
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
}

impl Store for Flawed {
    fn get(&self, ns: &Namespace, digest: &Digest, limit: u64) -> Result<Option<Vec<u8>>> {
        let (sns, sd) = self.slot(ns, digest);
        let limit = if self.flaw == Flaw::IgnoresLimit {
            u64::MAX
        } else {
            limit
        };
        match self.inner.get(&sns, &sd, limit)? {
            None if self.flaw == Flaw::MissIsError => {
                Err(Error::new(ErrorKind::Io, format!("no entry {ns}/{digest}")))
            }
            found => Ok(found),
        }
    }

    fn put(&self, ns: &Namespace, digest: &Digest, frame: &[u8]) -> Result<()> {
        let (ns, d) = self.slot(ns, digest);
        match self.flaw {
            Flaw::TornPut => {
                // Growing prefixes, several of them, so that readers have many chances to
                // see a torn frame even on a loaded machine.
                let piece = frame.len().div_ceil(8).max(1);
                let mut end = 0;
                while end < frame.len() {
                    end = (end + piece).min(frame.len());
                    self.inner.put(&ns, &d, &frame[..end])?;
                    thread::yield_now();
                }
                if frame.is_empty() {
                    self.inner.put(&ns, &d, frame)?;
                }
                Ok(())
            }
            Flaw::VanishingReplace => {
                self.inner.remove(&ns, &d)?;
                for _ in 0..4 {
                    thread::yield_now();
                }
                self.inner.put(&ns, &d, frame)
            }
            Flaw::OverwritesInPlace => match self.inner.get(&ns, &d, u64::MAX)? {
                Some(mut old) if old.len() >= frame.len() => {
                    old[..frame.len()].copy_from_slice(frame);
                    self.inner.put(&ns, &d, &old)
                }
                _ => self.inner.put(&ns, &d, frame),
            },
            _ => self.inner.put(&ns, &d, frame),
        }
    }

    fn remove(&self, ns: &Namespace, digest: &Digest) -> Result<bool> {
        let (ns, d) = self.slot(ns, digest);
        if self.flaw == Flaw::RemoveKeeps {
            return Ok(self.inner.get(&ns, &d, u64::MAX)?.is_some());
        }
        self.inner.remove(&ns, &d)
    }

    fn list(&self, visit: &mut dyn FnMut(EntryInfo) -> ControlFlow<()>) -> Result<()> {
        match self.flaw {
            Flaw::CannotList => return Err(listing_not_supported("in-memory test")),
            Flaw::ListFails => return Err(Error::new(ErrorKind::Io, "listing broke")),
            _ => {}
        }
        let mut entries = self.inner.entries()?;
        if self.flaw == Flaw::WrongStoredLen {
            for e in &mut entries {
                e.stored_len += 1;
            }
        }
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

fn make(flaw: Flaw) -> impl Fn() -> Flawed {
    move || Flawed::new(flaw)
}

#[test]
fn the_unflawed_wrapper_passes_every_check() {
    store::run_all(make(Flaw::None));
}

#[test]
fn a_store_that_cannot_list_passes_with_the_listing_checks_skipped() {
    store::run_all(make(Flaw::CannotList));
}

#[test]
fn the_checks_can_share_one_store() {
    let shared = Arc::new(InMemory::new());
    store::run_all(|| Arc::clone(&shared));
    store::run_all(|| Arc::clone(&shared));
}

#[test]
fn a_miss_that_is_an_error_is_caught() {
    expect_failure("miss is an error", "misses are Ok(None)", || {
        store::absent_key_is_none(&Flawed::new(Flaw::MissIsError));
    });
}

#[test]
fn a_torn_put_is_caught() {
    expect_failure("torn put", "atomic puts", || {
        store::concurrent_puts_are_atomic(&Flawed::new(Flaw::TornPut));
    });
}

#[test]
fn a_replace_that_removes_first_is_caught() {
    expect_failure("remove, then insert", "returned nothing after", || {
        store::concurrent_puts_are_atomic(&Flawed::new(Flaw::VanishingReplace));
    });
}

#[test]
fn an_in_place_overwrite_is_caught() {
    expect_failure("overwrite in place", "a put replaces", || {
        store::put_replaces(&Flawed::new(Flaw::OverwritesInPlace));
    });
}

#[test]
fn ignoring_namespaces_is_caught() {
    expect_failure("ignores namespaces", "namespaces are isolated", || {
        store::namespaces_are_isolated(&Flawed::new(Flaw::IgnoresNamespace));
    });
}

#[test]
fn a_truncated_digest_is_caught() {
    expect_failure("short digest", "digests are isolated", || {
        store::digests_are_isolated(&Flawed::new(Flaw::ShortDigest));
    });
}

#[test]
fn forgotten_keys_are_caught() {
    expect_failure("forgets keys", "concurrent safety", || {
        store::many_keys_from_many_threads(&Flawed::new(Flaw::ForgetsKeys));
    });
}

#[test]
fn a_remove_that_keeps_the_entry_is_caught() {
    expect_failure("remove keeps", "remove deletes", || {
        store::remove_deletes(&Flawed::new(Flaw::RemoveKeeps));
    });
}

#[test]
fn an_ignored_limit_is_caught() {
    expect_failure("ignores limit", "bounded gets", || {
        store::get_respects_the_limit(&Flawed::new(Flaw::IgnoresLimit));
    });
}

#[test]
fn listing_errors_other_than_not_supported_are_caught() {
    expect_failure("list fails", "listing", || {
        store::list_reports_each_entry_once(&Flawed::new(Flaw::ListFails));
    });
}

#[test]
fn listing_an_entry_twice_is_caught() {
    expect_failure("lists twice", "more than once", || {
        store::list_reports_each_entry_once(&Flawed::new(Flaw::ListsTwice));
    });
}

#[test]
fn a_wrong_stored_len_is_caught() {
    expect_failure("wrong stored_len", "stored_len", || {
        store::list_reports_each_entry_once(&Flawed::new(Flaw::WrongStoredLen));
    });
}

#[test]
fn listing_past_break_is_caught() {
    expect_failure("ignores break", "ControlFlow::Break", || {
        store::list_stops_when_told(&Flawed::new(Flaw::IgnoresBreak));
    });
}
