//! Reading entries the way a hit does (structure, checksum, key, cap, and optionally the
//! payload), without the cache's side effects: nothing is removed or counted here.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::time::SystemTime;

use hoard::frame::{FrameHeader, MacKeys};
use hoard::read::{self, Disposition, Expected, Rejected};
use hoard::{Digest, EntryInfo, ErrorKind, FsStore, Housekeeping, Namespace, Store};
use serde::Serialize;

use crate::context::{Settings, decoders};

/// What reading an entry found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Verdict {
    /// Verified (and decoded, when asked): a hit.
    Ok,
    /// Damaged, truncated, another key's, or not a regular file: a miss that the cache
    /// removes when it reads it.
    Corrupt,
    /// Intact but not readable by this build: a newer format, or a plugin codec or hasher.
    /// Left alone.
    Unsupported,
    /// Declares more than the configured maximum entry size. Left alone.
    TooLarge,
    /// Verified (checksum, name, size) but the codec this build has for its id cannot
    /// decode it: another program's codec under the same id. Not damage: left alone.
    Undecodable,
    /// Intact, but the configuration has an `auth-key-file` and the entry is not signed by
    /// one of its keys (no MAC, another key, a forged tag): the cache never serves it. Left
    /// alone (a writer without the key may share the directory).
    Unauthenticated,
}

impl Verdict {
    /// The word used in text output and JSON.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Corrupt => "corrupt",
            Self::Unsupported => "unsupported",
            Self::TooLarge => "too-large",
            Self::Undecodable => "undecodable",
            Self::Unauthenticated => "unauthenticated",
        }
    }
}

/// An entry read back.
#[derive(Debug)]
pub(crate) struct Examined {
    /// The verdict.
    pub(crate) verdict: Verdict,
    /// The header, when the frame's structure and checksum held.
    pub(crate) header: Option<FrameHeader>,
    /// Why the verdict is not `Ok`.
    pub(crate) reason: Option<String>,
}

impl Examined {
    fn bad(verdict: Verdict, header: Option<FrameHeader>, err: &hoard::Error) -> Self {
        Self {
            verdict,
            header,
            reason: Some(err.message().to_owned()),
        }
    }
}

/// The verdict a rejection stands for, or `None` for a failure to read at all (I/O).
fn verdict_of(rejected: &Rejected) -> Option<Verdict> {
    match rejected.disposition() {
        Disposition::Corrupt => Some(Verdict::Corrupt),
        Disposition::Undecodable => Some(Verdict::Undecodable),
        Disposition::Unauthenticated => Some(Verdict::Unauthenticated),
        Disposition::Skip if rejected.error().kind() == ErrorKind::TooLarge => {
            Some(Verdict::TooLarge)
        }
        Disposition::Skip => Some(Verdict::Unsupported),
        _ => None,
    }
}

/// Puts back the access times that reading entries disturbed.
///
/// The access time is an entry's last use, which decides what a cleanup evicts first, and
/// the kernel may move it on any read (`relatime` does when it is older than the
/// modification time or a day old). Listing, verifying or inspecting is not a use, so
/// every entry read is given back the access time it was listed with, through the store's
/// `touch` (hoard-fs does the writing). A hit from another process in between may be
/// undone; its worker records it again on its next hit.
pub(crate) struct AtimeKeeper<'a> {
    store: &'a FsStore,
    pending: BTreeMap<Namespace, Vec<(Digest, SystemTime)>>,
    queued: usize,
}

/// Restored in batches, so that memory stays bounded on huge caches.
const ATIME_BATCH: usize = 4096;

impl<'a> AtimeKeeper<'a> {
    /// A keeper for entries of `store`.
    pub(crate) fn new(store: &'a FsStore) -> Self {
        Self {
            store,
            pending: BTreeMap::new(),
            queued: 0,
        }
    }

    /// Notes that `info`'s entry was read.
    pub(crate) fn read(&mut self, info: &EntryInfo) {
        let Some(accessed) = info.accessed else {
            return;
        };
        self.pending
            .entry(info.namespace.clone())
            .or_default()
            .push((info.digest, accessed));
        self.queued += 1;
        if self.queued >= ATIME_BATCH {
            self.flush();
        }
    }

    /// Restores the times noted so far. Best effort: a read-only cache (a shared one, say)
    /// can still be listed; its times are then whatever the kernel made them.
    pub(crate) fn flush(&mut self) {
        for (ns, batch) in std::mem::take(&mut self.pending) {
            let _ = self.store.touch(&ns, &batch);
        }
        self.queued = 0;
    }
}

impl Drop for AtimeKeeper<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Reads and checks the entry `(ns, digest)`; with `keys` (an authenticated cache's), also
/// its MAC; with `decode`, also decodes its payload. `Ok(None)` if it is gone; `Err` only for
/// a failure to read it.
pub(crate) fn examine(
    store: &FsStore,
    ns: &Namespace,
    digest: &Digest,
    max_entry_size: u64,
    keys: Option<&MacKeys>,
    decode: bool,
) -> hoard::Result<Option<Examined>> {
    let rejected = |r: Rejected| {
        verdict_of(&r)
            .map(|v| Some(Examined::bad(v, r.header().cloned(), r.error())))
            .ok_or_else(|| r.into_error())
    };
    let found = match read::read_entry(store, ns, Expected::Digest(digest), max_entry_size) {
        Ok(Some(found)) => found,
        Ok(None) => return Ok(None),
        Err(r) => return rejected(r),
    };
    if let Some(keys) = keys
        && let Err(r) = found.authenticate(keys)
    {
        return rejected(r);
    }
    if decode && let Err(r) = found.decode_with(decoders()) {
        return rejected(r);
    }
    Ok(Some(Examined {
        verdict: Verdict::Ok,
        header: Some(found.header().clone()),
        reason: None,
    }))
}

/// Every entry in the scope of `settings` (every namespace, or `--namespace`'s), from the
/// store's listing: names and file metadata only, nothing read.
pub(crate) fn listing(store: &FsStore, settings: &Settings) -> hoard::Result<Vec<EntryInfo>> {
    let mut out = Vec::new();
    store.list(&mut |info| {
        if settings.includes(&info.namespace) {
            out.push(info);
        }
        ControlFlow::Continue(())
    })?;
    // A stable order for people and scripts: by namespace, then digest.
    out.sort_by(|a, b| (&a.namespace, a.digest).cmp(&(&b.namespace, b.digest)));
    Ok(out)
}

/// When an entry was last used, as the eviction worker reckons it: the later of its access
/// time (which the worker sets on hits) and its modification time (its put).
pub(crate) fn last_used(info: &EntryInfo) -> Option<SystemTime> {
    match (info.accessed, info.modified) {
        (Some(a), Some(m)) => Some(a.max(m)),
        (a, m) => a.or(m),
    }
}

/// Milliseconds since the Unix epoch (negative before it), for JSON.
pub(crate) fn unix_ms(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}
