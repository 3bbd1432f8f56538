//! The three plugin traits: [`KeyHasher`], [`Codec`] and [`Store`], plus the [`StoreExt`]
//! conveniences every store gets for free.

use std::fmt::Debug;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::read::{self, Disposition, Expected, StoredFrame, VerifiedFrame};
use crate::{CodecId, Digest, Error, ErrorKind, HasherId, Key, Lease, Namespace, Result};

/// A cryptographic hash that turns the caller's inputs into a [`Key`].
///
/// # Contract
/// - [`begin`](Self::begin) returns a fresh state; feeding it the same bytes, in any split
///   into [`HashState::update`] calls, yields the same [`Digest`] on every platform, in every
///   process and in every later release. A digest is part of the on-disk format.
/// - The output is 32 bytes of a collision-resistant hash: entries are trusted by key.
/// - [`id`](Self::id) is stable and unique to the algorithm (see [`HasherId`]).
pub trait KeyHasher: Send + Sync + Debug + 'static {
    /// The identity recorded in every frame keyed by this hasher.
    fn id(&self) -> HasherId;

    /// A fresh hashing state.
    fn begin(&self) -> Box<dyn HashState>;
}

/// An incremental hashing state returned by [`KeyHasher::begin`].
pub trait HashState: Send + Sync {
    /// Feeds bytes.
    fn update(&mut self, bytes: &[u8]);

    /// Finishes and returns the digest.
    fn finish(self: Box<Self>) -> Digest;

    /// An independent copy of the state: what it has been fed so far, and nothing it is fed
    /// later. Lets a caller hash a common prefix (a namespace, say) once and reuse it.
    fn fork(&self) -> Box<dyn HashState>;
}

/// A payload encoding (compression) that frames use.
///
/// # Contract
/// - [`encode`](Self::encode) *appends* the encoding of `input` to `out` and leaves the bytes
///   already in `out` untouched (the frame header lives there).
/// - [`decode`](Self::decode) appends exactly `decoded_len` bytes to `out` or returns an
///   [`ErrorKind::Corrupt`] error. It never grows `out` by more than `decoded_len` bytes, never
///   allocates in proportion to anything but `decoded_len`, and never panics, whatever `input`
///   holds: input comes from disk or the network and may be hostile.
/// - [`decode_into`](Self::decode_into) fills all of `out` with the decoding of `input`, which
///   must decode to exactly `out.len()` bytes, or returns an error ([`ErrorKind::Corrupt`] for
///   input that does not; `out` then holds unspecified bytes). It never writes outside `out`,
///   never allocates in proportion to anything but `out.len()`, and never panics. It is how
///   the chunks of a frame decode in place, each into its own part of one buffer; the
///   provided version decodes with `decode` into a temporary buffer and copies, so a codec
///   that does not override it still works, only slower.
/// - `decode(encode(x), x.len())` returns `x`, for every `x`, on every platform, and so does
///   `decode_into` into a buffer of `x.len()` bytes.
/// - [`id`](Self::id) is stable and unique to the format (see [`CodecId`]); any level can
///   decode any other level's output.
pub trait Codec: Send + Sync + Debug + 'static {
    /// The identity recorded in frames this codec encodes.
    fn id(&self) -> CodecId;

    /// The compression level recorded in frames (0 when the codec has no levels).
    fn level(&self) -> i32;

    /// Appends the encoding of `input` to `out`.
    fn encode(&self, input: &[u8], out: &mut Vec<u8>) -> Result<()>;

    /// Appends exactly `decoded_len` decoded bytes of `input` to `out`.
    fn decode(&self, input: &[u8], decoded_len: usize, out: &mut Vec<u8>) -> Result<()>;

    /// Fills `out` with exactly `out.len()` decoded bytes of `input`.
    ///
    /// Provided: decodes with [`decode`](Self::decode) into a temporary buffer, then copies.
    /// Codecs that can decode into a slice override it to save the copy.
    fn decode_into(&self, input: &[u8], out: &mut [u8]) -> Result<()> {
        let mut decoded = Vec::new();
        decoded.try_reserve_exact(out.len()).map_err(|e| {
            Error::new(
                ErrorKind::TooLarge,
                format!("cannot allocate {} bytes to decode a payload", out.len()),
            )
            .with_source(e)
        })?;
        self.decode(input, out.len(), &mut decoded)?;
        if decoded.len() != out.len() {
            return Err(Error::corrupt(format!(
                "{} decoded {} bytes where {} were declared",
                self.id(),
                decoded.len(),
                out.len()
            )));
        }
        out.copy_from_slice(&decoded);
        Ok(())
    }
}

/// Metadata of one stored entry, as [`Store::list`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EntryInfo {
    /// The entry's namespace.
    pub namespace: Namespace,
    /// The entry's key digest.
    pub digest: Digest,
    /// Bytes the stored frame occupies (header included).
    pub stored_len: u64,
    /// When the entry was last written, if the store knows.
    pub modified: Option<SystemTime>,
    /// When the entry was last read, if the store knows.
    pub accessed: Option<SystemTime>,
}

impl EntryInfo {
    /// Builds an entry description (the struct is `#[non_exhaustive]`).
    pub fn new(
        namespace: Namespace,
        digest: Digest,
        stored_len: u64,
        modified: Option<SystemTime>,
        accessed: Option<SystemTime>,
    ) -> Self {
        Self {
            namespace,
            digest,
            stored_len,
            modified,
            accessed,
        }
    }
}

/// Where frames live: a directory, a remote service, a tier of both.
///
/// A store moves opaque frames; it does not verify them (the caller does, with
/// [`frame`](crate::frame)), so a store that returns damaged bytes is safe, just useless.
///
/// # Contract
/// - **Atomic puts.** After `put(ns, d, f)` returns `Ok`, a `get(ns, d, _)` returns `f` or a
///   later put's frame, never a mix, a prefix or an empty value; a put that fails or is
///   interrupted leaves the previous frame (or nothing) visible, and no garbage that blocks
///   later puts of the same key.
/// - **Concurrent safety.** Any number of threads and processes may call any method at the
///   same time; the last completed put wins.
/// - **Bounded gets.** `get(ns, d, limit)` never returns or allocates for more than `limit`
///   bytes: a larger stored value is an [`ErrorKind::TooLarge`] error.
/// - **Item limits are declared.** A store whose backend caps the size of a value (memcached)
///   may refuse larger frames with [`ErrorKind::TooLarge`], storing nothing; it documents
///   the limit. Every other put of a valid frame is stored.
/// - **Misses are `Ok(None)`.** Only failures to answer are errors.
/// - **Early refusal is allowed.** A store that knows a value's length before reading it may
///   refuse a value whose first bytes already fail [`frame::check_prefix`](crate::frame::check_prefix)
///   with that check's [`ErrorKind::Corrupt`] error instead of reading the rest (a planted
///   sparse gigabyte then costs a header read). It never refuses a value that passes the
///   check, whatever its contents.
/// - **Containment.** No namespace or digest makes the store touch anything outside its own
///   space (directory, prefix, key space).
/// - **Listing** visits each entry at most once and may miss entries written during the
///   walk; a store that cannot list returns [`ErrorKind::NotSupportedByStore`].
pub trait Store: Send + Sync + Debug + 'static {
    /// The frame stored under `(ns, digest)`, or `None`.
    fn get(&self, ns: &Namespace, digest: &Digest, limit: u64) -> Result<Option<Vec<u8>>>;

    /// [`get`](Self::get) for the verified read ([`read::read_entry`]): the same frame
    /// under the same contract, in one buffer or split at its payload offset
    /// ([`StoredFrame`]).
    ///
    /// Provided: `get`, in one buffer. A store that can read the payload into a buffer of
    /// its own overrides it (the filesystem store does for entries above 64 KiB), so that a
    /// stored (identity) payload becomes the caller's value without a second copy; a split
    /// must fall exactly at the payload offset the frame's header declares. Only speed
    /// depends on the choice: a wrapper that does not forward this method still returns
    /// every frame, through `get`.
    fn get_frame(
        &self,
        ns: &Namespace,
        digest: &Digest,
        limit: u64,
    ) -> Result<Option<StoredFrame>> {
        Ok(self.get(ns, digest, limit)?.map(StoredFrame::whole))
    }

    /// Stores `frame` under `(ns, digest)` atomically, replacing any previous frame.
    fn put(&self, ns: &Namespace, digest: &Digest, frame: &[u8]) -> Result<()>;

    /// Removes the entry; `Ok(true)` if there was one.
    fn remove(&self, ns: &Namespace, digest: &Digest) -> Result<bool>;

    /// Calls `visit` for every entry until it returns [`ControlFlow::Break`].
    fn list(&self, visit: &mut dyn FnMut(EntryInfo) -> ControlFlow<()>) -> Result<()>;

    /// Tries to take the lease of `(ns, digest)` for `ttl`: a key about to be computed, so
    /// that callers sharing the store (a fleet sharing a remote) compute it once.
    /// `Ok(Some(lease))`: this caller holds it until the [`Lease`] is dropped or `ttl`
    /// passes, whichever comes first. `Ok(None)`: someone else holds it (wait for their
    /// value, or compute after a bound). Never waits for a holder.
    ///
    /// # Contract
    /// - At most one live lease per `(ns, digest)` among all callers of the store; a lease
    ///   expires by itself after `ttl` (so a crashed holder frees it), and dropping it
    ///   releases it early only if it is still the holder's (never someone else's taken
    ///   after an expiry).
    /// - A lease names no entry: it is not listed, read or counted as one, and never
    ///   blocks a get or a put.
    ///
    /// Provided: an [`ErrorKind::NotSupportedByStore`] error (a store with no shared
    /// lease; its callers simply compute). hoard-remote's Redis and S3 stores offer it.
    fn lease(&self, ns: &Namespace, digest: &Digest, ttl: Duration) -> Result<Option<Lease>> {
        let _ = ttl;
        Err(Error::new(
            ErrorKind::NotSupportedByStore,
            format!("this store offers no lease (asked for {ns}/{digest})"),
        ))
    }
}

/// Conveniences built on the four required [`Store`] methods; every store has them.
pub trait StoreExt: Store {
    /// Reads the entry for `key` and verifies its frame: structure, checksum and key.
    ///
    /// `max_decoded_len` bounds the uncompressed size the frame may declare; the read itself
    /// is bounded by [`frame::max_frame_len`](crate::frame::max_frame_len) of it. Damage is an [`ErrorKind::Corrupt`]
    /// error; an entry from a newer hoard is [`ErrorKind::Unsupported`]; an entry that
    /// declares more than `max_decoded_len` is [`ErrorKind::TooLarge`]. The MAC of an
    /// authenticated frame is not checked here (no keys are given): decode with a
    /// [`Decoders`](crate::Decoders) registry that carries them, or call
    /// [`VerifiedFrame::authenticate`].
    fn get_verified(
        &self,
        ns: &Namespace,
        key: &Key,
        max_decoded_len: u64,
    ) -> Result<Option<VerifiedFrame>> {
        read::read_entry(self, ns, Expected::Key(key), max_decoded_len).map_err(Error::from)
    }

    /// Every entry, collected (see [`Store::list`] for what a walk guarantees).
    fn entries(&self) -> Result<Vec<EntryInfo>> {
        let mut out = Vec::new();
        self.list(&mut |e| {
            out.push(e);
            ControlFlow::Continue(())
        })?;
        Ok(out)
    }

    /// Whether an entry exists under `(ns, digest)` with a frame that parses and verifies
    /// for this build (a damaged, oversized or unsupported entry is `false`; only a failed
    /// read is an error). Like [`get_verified`](Self::get_verified), it does not check a MAC.
    fn contains_valid(&self, ns: &Namespace, key: &Key, max_decoded_len: u64) -> Result<bool> {
        match self.get_verified(ns, key, max_decoded_len) {
            Ok(found) => Ok(found.is_some()),
            Err(e) if e.disposition() == Disposition::Fail => Err(e),
            Err(_) => Ok(false),
        }
    }
}

impl<S: Store + ?Sized> StoreExt for S {}

macro_rules! forward_store {
    ($($ty:ty),*) => {$(
        #[deny(clippy::missing_trait_methods)]
        impl<S: Store + ?Sized> Store for $ty {
            fn get(&self, ns: &Namespace, digest: &Digest, limit: u64) -> Result<Option<Vec<u8>>> {
                (**self).get(ns, digest, limit)
            }
            fn get_frame(
                &self,
                ns: &Namespace,
                digest: &Digest,
                limit: u64,
            ) -> Result<Option<StoredFrame>> {
                (**self).get_frame(ns, digest, limit)
            }
            fn put(&self, ns: &Namespace, digest: &Digest, frame: &[u8]) -> Result<()> {
                (**self).put(ns, digest, frame)
            }
            fn remove(&self, ns: &Namespace, digest: &Digest) -> Result<bool> {
                (**self).remove(ns, digest)
            }
            fn list(&self, visit: &mut dyn FnMut(EntryInfo) -> ControlFlow<()>) -> Result<()> {
                (**self).list(visit)
            }
            fn lease(
                &self,
                ns: &Namespace,
                digest: &Digest,
                ttl: Duration,
            ) -> Result<Option<Lease>> {
                (**self).lease(ns, digest, ttl)
            }
        }
    )*};
}
forward_store!(Box<S>, Arc<S>);

macro_rules! forward_codec {
    ($($ty:ty),*) => {$(
        #[deny(clippy::missing_trait_methods)]
        impl<C: Codec + ?Sized> Codec for $ty {
            fn id(&self) -> CodecId {
                (**self).id()
            }
            fn level(&self) -> i32 {
                (**self).level()
            }
            fn encode(&self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
                (**self).encode(input, out)
            }
            fn decode(&self, input: &[u8], decoded_len: usize, out: &mut Vec<u8>) -> Result<()> {
                (**self).decode(input, decoded_len, out)
            }
            fn decode_into(&self, input: &[u8], out: &mut [u8]) -> Result<()> {
                (**self).decode_into(input, out)
            }
        }
    )*};
}
forward_codec!(Box<C>, Arc<C>);

macro_rules! forward_hasher {
    ($($ty:ty),*) => {$(
        #[deny(clippy::missing_trait_methods)]
        impl<H: KeyHasher + ?Sized> KeyHasher for $ty {
            fn id(&self) -> HasherId {
                (**self).id()
            }
            fn begin(&self) -> Box<dyn HashState> {
                (**self).begin()
            }
        }
    )*};
}
forward_hasher!(Box<H>, Arc<H>);

/// Returned by [`Store::list`] implementations that cannot enumerate their entries.
pub fn listing_not_supported(store: &str) -> Error {
    Error::new(
        ErrorKind::NotSupportedByStore,
        format!("the {store} store cannot list its entries"),
    )
}
