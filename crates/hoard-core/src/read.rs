//! The one verified read every reader of entries shares: the facade's hits, the eviction
//! worker's recompression, the `hoard` command's `get`, `ls`, `verify` and `stats`, and the
//! tiered store's check of a remote value.
//!
//! The sequence is always the same: read the frame from the store (bounded by
//! [`frame::max_frame_len`] of the size cap), parse it (structure and checksum), check it
//! against the name it was read under ([`Expected`]: a full [`Key`], or a bare [`Digest`]
//! with the hasher taken from the frame's own header), check the declared size against the
//! cap, and only then decode it with a codec from a [`Decoders`] registry. Every failure is
//! classified once, by [`Error::disposition`], and for a decode by
//! [`VerifiedFrame::decode_with`] ([`Rejected::disposition`]):
//!
//! | [`ErrorKind`] | [`Disposition`] | what readers do |
//! |---|---|---|
//! | `Corrupt`, `Insecure` | [`Disposition::Corrupt`] | a miss; the cache removes the entry |
//! | `Corrupt` from decoding a frame that verified | [`Disposition::Undecodable`] | a miss; the entry is counted and left alone |
//! | `Unsupported`, `TooLarge` | [`Disposition::Skip`] | a miss; the entry is left alone |
//! | `Unauthenticated` | [`Disposition::Unauthenticated`] | a miss, counted; never served, never backfilled; left alone |
//! | anything else | [`Disposition::Fail`] | the read itself failed: nothing is known |
//!
//! A reader whose [`Decoders`] carry MAC keys ([`FrameOptions::with_mac_keys`]) serves only
//! authenticated frames: [`VerifiedFrame::into_value`], [`VerifiedFrame::decode_with`] and
//! [`VerifiedView::decode_with`] check the MAC before decoding, and a caller that uses a
//! frame's bytes without decoding them (a memory-mapped value, a remote frame copied into a
//! local store) calls [`VerifiedFrame::authenticate`] or [`VerifiedView::authenticate`]
//! first. A frame that fails is [`Disposition::Unauthenticated`]: intact, possibly the entry
//! of a writer without the key sharing the directory, so it is left in place (the reader's
//! own put of that key replaces it).
//!
//! A frame whose checksum and name verify but whose payload the registered codec cannot
//! decode is not damaged (damage fails the checksum): it was most likely written by another
//! program's codec under the same id. Removing it would let caches that disagree on a codec
//! id destroy each other's data, so it is [`Disposition::Undecodable`], never `Corrupt`.
//!
//! ```
//! use std::sync::Arc;
//! use hoard_core::read::{self, Decoders, Disposition, Expected};
//! # use hoard_core::{Codec, CodecId, Digest, EntryInfo, HasherId, Key, Namespace, Result, Store, frame};
//! # use std::ops::ControlFlow;
//! # #[derive(Debug)] struct Plain;
//! # impl Codec for Plain {
//! #     fn id(&self) -> CodecId { CodecId::Identity }
//! #     fn level(&self) -> i32 { 0 }
//! #     fn encode(&self, i: &[u8], o: &mut Vec<u8>) -> Result<()> { o.extend_from_slice(i); Ok(()) }
//! #     fn decode(&self, i: &[u8], _: usize, o: &mut Vec<u8>) -> Result<()> { o.extend_from_slice(i); Ok(()) }
//! # }
//! # #[derive(Debug, Default)] struct One(std::sync::Mutex<Option<Vec<u8>>>);
//! # impl Store for One {
//! #     fn get(&self, _: &Namespace, _: &Digest, _: u64) -> Result<Option<Vec<u8>>> { Ok(self.0.lock().unwrap().clone()) }
//! #     fn put(&self, _: &Namespace, _: &Digest, f: &[u8]) -> Result<()> { *self.0.lock().unwrap() = Some(f.to_vec()); Ok(()) }
//! #     fn remove(&self, _: &Namespace, _: &Digest) -> Result<bool> { Ok(self.0.lock().unwrap().take().is_some()) }
//! #     fn list(&self, _: &mut dyn FnMut(EntryInfo) -> ControlFlow<()>) -> Result<()> { Ok(()) }
//! # }
//! let store = One::default();
//! let ns = Namespace::new("demo")?;
//! let key = Key::new(HasherId::Sha256, Digest::from_bytes([7; 32]));
//! store.put(&ns, key.digest(), &frame::encode(&key, &Plain, b"machine code", 0)?)?;
//!
//! let decoders = Decoders::new().with(Arc::new(Plain));
//! let entry = read::read_entry(&store, &ns, Expected::Key(&key), 1 << 20)
//!     .expect("an intact entry")
//!     .expect("present");
//! assert_eq!(entry.decode_with(&decoders).expect("identity decodes"), b"machine code");
//!
//! // Another key's name: the same bytes are a corrupt entry, never a hit.
//! let other = Key::new(HasherId::Sha256, Digest::from_bytes([8; 32]));
//! let rejected = read::read_entry(&store, &ns, Expected::Key(&other), 1 << 20).unwrap_err();
//! assert_eq!(rejected.disposition(), Disposition::Corrupt);
//! # Ok::<(), hoard_core::Error>(())
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::frame::{self, Frame, FrameHeader, FrameOptions};
use crate::{
    Bucket, Codec, CodecId, Digest, Error, ErrorKind, Housekeeping, Item, Key, Namespace, Result,
    Store,
};

/// What a failed read means for the entry it was reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Disposition {
    /// The entry is damaged: it fails its checksum, is truncated or extended, belongs to
    /// another key, or is not a regular file. It can never be served; readers that own the
    /// cache remove it.
    Corrupt,
    /// The entry is intact but not for this reader: a newer format, a codec or hasher this
    /// build lacks, or more than the size cap. A miss that leaves the entry in place.
    Skip,
    /// The read itself failed (I/O, permissions): nothing is known about the entry.
    Fail,
    /// The frame verified (structure, checksum, name, cap) but the codec registered for its
    /// id cannot decode the payload: another program's codec under the same id, or a codec
    /// bug, not damage. A miss that leaves the entry in place; readers count it. Only
    /// [`VerifiedFrame::decode_with`] reports it.
    Undecodable,
    /// The frame is intact but the reader holds MAC keys and the frame is not signed by one
    /// of them (no MAC, another key, a wrong tag): never served, never backfilled; a counted
    /// miss that leaves the entry in place.
    Unauthenticated,
}

impl Error {
    /// How a reader treats this error when it came from reading an entry (see the
    /// [module docs](crate::read)).
    pub fn disposition(&self) -> Disposition {
        match self.kind() {
            ErrorKind::Corrupt | ErrorKind::Insecure => Disposition::Corrupt,
            ErrorKind::Unsupported | ErrorKind::TooLarge => Disposition::Skip,
            ErrorKind::Unauthenticated => Disposition::Unauthenticated,
            _ => Disposition::Fail,
        }
    }
}

/// The name an entry was read under, which its frame must match.
#[derive(Clone, Copy, Debug)]
pub enum Expected<'a> {
    /// The full key: the frame's hasher and digest must both match. What a cache that knows
    /// its hasher checks.
    Key(&'a Key),
    /// Only the digest (the entry's name in a store): the hasher is taken from the frame's
    /// header. What maintenance tools, which read every hasher's entries, check.
    Digest(&'a Digest),
}

impl Expected<'_> {
    /// The digest the entry is stored under.
    pub fn digest(&self) -> &Digest {
        match self {
            Self::Key(key) => key.digest(),
            Self::Digest(digest) => digest,
        }
    }
}

/// The codecs a reader can decode, by id, and how it decodes (the [`FrameOptions`]: on how
/// many threads the chunks of a frame decode): one registry for every reader.
///
/// The first codec registered for an id is the one used; later ones with the same id are
/// ignored (so a cache's own codec, registered first, wins over a built-in of that id).
#[derive(Clone, Default)]
pub struct Decoders {
    codecs: Vec<Arc<dyn Codec>>,
    options: FrameOptions,
}

impl fmt::Debug for Decoders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoders")
            .field(
                "codecs",
                &self.codecs.iter().map(|c| c.id()).collect::<Vec<_>>(),
            )
            .field("threads", &self.options.threads())
            .field("mac_keys", &self.options.mac_keys())
            .finish()
    }
}

impl Decoders {
    /// An empty registry: nothing decodes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `codec` unless one with its id is registered already; `true` if it was added.
    pub fn add(&mut self, codec: Arc<dyn Codec>) -> bool {
        if self.get(codec.id()).is_some() {
            return false;
        }
        self.codecs.push(codec);
        true
    }

    /// [`add`](Self::add), by value.
    #[must_use]
    pub fn with(mut self, codec: Arc<dyn Codec>) -> Self {
        self.add(codec);
        self
    }

    /// Decodes with `options` (default: [`FrameOptions::default`], one thread, no keys). With
    /// MAC keys in `options`, only frames signed by one of them decode (see the module docs).
    #[must_use]
    pub fn with_options(mut self, options: FrameOptions) -> Self {
        self.options = options;
        self
    }

    /// The options frames are decoded with.
    pub fn options(&self) -> &FrameOptions {
        &self.options
    }

    /// Adds every codec of `other` whose id is not registered yet (its options are not
    /// taken).
    pub fn extend(&mut self, other: &Decoders) {
        for codec in &other.codecs {
            self.add(Arc::clone(codec));
        }
    }

    /// The codec registered for `id`.
    pub fn get(&self, id: CodecId) -> Option<&Arc<dyn Codec>> {
        self.codecs.iter().find(|c| c.id() == id)
    }

    /// The registered codecs, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Codec>> + '_ {
        self.codecs.iter()
    }

    /// Decodes a verified frame with the codec its header names: an
    /// [`ErrorKind::Unsupported`] error when none is registered.
    pub fn decode(&self, found: &crate::VerifiedFrame) -> Result<Vec<u8>> {
        self.decode_payload(found.header(), found.payload())
    }

    /// [`decode`](Self::decode) of a verified header and its payload.
    fn decode_payload(&self, header: &FrameHeader, payload: &[u8]) -> Result<Vec<u8>> {
        let id = header.codec;
        let codec = self.get(id).ok_or_else(|| {
            Error::new(
                ErrorKind::Unsupported,
                format!(
                    "entry for key {} is encoded with {id}, which this build does not include",
                    header.key()
                ),
            )
        })?;
        frame::decode_payload_with(header, payload, codec.as_ref(), &self.options)
    }
}

/// An entry that could not be used: the error, what it means, and the header when the
/// frame's structure and checksum held (a frame of another key, say).
#[derive(Debug)]
pub struct Rejected {
    error: Error,
    disposition: Disposition,
    // Boxed: a rejection travels in `Err`, which should stay small.
    header: Option<Box<FrameHeader>>,
}

impl Rejected {
    fn new(error: Error, header: Option<FrameHeader>) -> Self {
        Self {
            disposition: error.disposition(),
            error,
            header: header.map(Box::new),
        }
    }

    /// What the failure means for the entry: the error's [`Error::disposition`], except for
    /// a decode failure of a verified frame, which is [`Disposition::Undecodable`].
    pub fn disposition(&self) -> Disposition {
        self.disposition
    }

    /// The error.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The verified header, when the frame parsed and only a later check failed.
    pub fn header(&self) -> Option<&FrameHeader> {
        self.header.as_deref()
    }

    /// The error, dropping the rest.
    pub fn into_error(self) -> Error {
        self.error
    }
}

impl From<Error> for Rejected {
    /// A failure before any frame was parsed (a failed read, say): no header, the error's
    /// own [`Error::disposition`].
    fn from(error: Error) -> Self {
        Self::new(error, None)
    }
}

impl From<Rejected> for Error {
    fn from(r: Rejected) -> Self {
        r.error
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

/// A frame as a store hands it to the verified read ([`Store::get_frame`]): in one buffer,
/// or in two, split at the payload offset.
///
/// A store that reads the payload into a buffer of its own (the filesystem store, for large
/// entries) returns it [`split`](Self::split): a stored (identity) payload then becomes the
/// caller's value as it is, without a second copy ([`VerifiedFrame::into_value`]). Nothing
/// here is verified; [`VerifiedFrame::check_stored`] does that.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFrame {
    /// The whole frame, or every byte before the payload offset when `payload` is set.
    head: Vec<u8>,
    payload: Option<Vec<u8>>,
}

impl StoredFrame {
    /// A frame in one buffer.
    pub fn whole(bytes: Vec<u8>) -> Self {
        Self {
            head: bytes,
            payload: None,
        }
    }

    /// A frame in two buffers: `head`, every byte before the payload offset its header
    /// declares (fixed header, extension area, padding), and `payload`, the rest.
    pub fn split(head: Vec<u8>, payload: Vec<u8>) -> Self {
        Self {
            head,
            payload: Some(payload),
        }
    }

    /// The frame's length in bytes, both parts together.
    pub fn len(&self) -> u64 {
        self.head.len() as u64 + self.payload.as_ref().map_or(0, |p| p.len() as u64)
    }

    /// Whether the frame holds no byte at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the frame came in two buffers.
    pub fn is_split(&self) -> bool {
        self.payload.is_some()
    }

    /// The buffers: the whole frame and `None`, or the head (every byte before the payload
    /// offset) and the payload.
    pub fn parts(&self) -> (&[u8], Option<&[u8]>) {
        (&self.head, self.payload.as_deref())
    }

    /// The whole frame in one buffer (a split frame's parts are joined: a copy).
    pub fn into_bytes(self) -> Vec<u8> {
        match self.payload {
            None => self.head,
            Some(payload) => {
                let mut bytes = self.head;
                bytes.extend_from_slice(&payload);
                bytes
            }
        }
    }
}

/// A frame read from a store and verified: structure, checksum, name and size cap.
#[derive(Clone, Debug)]
pub struct VerifiedFrame {
    frame: StoredFrame,
    header: FrameHeader,
}

impl VerifiedFrame {
    /// Verifies `bytes` as the frame of the entry named by `expected`, declaring at most
    /// `max_decoded_len` decoded bytes. The header is kept in the rejection when only the
    /// name or the cap failed.
    pub fn check(
        bytes: Vec<u8>,
        expected: Expected<'_>,
        max_decoded_len: u64,
    ) -> Result<Self, Rejected> {
        Self::check_stored(StoredFrame::whole(bytes), expected, max_decoded_len)
    }

    /// [`check`](Self::check) for a frame in one buffer or two: a split frame is verified
    /// in the buffers it came in (the checksum runs over the head, then the payload), so
    /// nothing is copied.
    pub fn check_stored(
        frame: StoredFrame,
        expected: Expected<'_>,
        max_decoded_len: u64,
    ) -> Result<Self, Rejected> {
        let parsed = match &frame.payload {
            None => Frame::parse(&frame.head),
            Some(payload) => Frame::parse_split(&frame.head, payload),
        };
        let header = verify(parsed, expected, max_decoded_len)?;
        Ok(Self { frame, header })
    }

    /// The verified header.
    pub fn header(&self) -> &FrameHeader {
        &self.header
    }

    /// The encoded payload.
    pub fn payload(&self) -> &[u8] {
        match &self.frame.payload {
            None => &self.frame.head[self.header.payload_offset..],
            Some(payload) => payload,
        }
    }

    /// The whole frame, header included: borrowed when it came in one buffer, joined (a
    /// copy) when the store returned it in two.
    pub fn as_bytes(&self) -> Cow<'_, [u8]> {
        match &self.frame.payload {
            None => Cow::Borrowed(&self.frame.head),
            Some(_) => Cow::Owned(self.frame.clone().into_bytes()),
        }
    }

    /// The whole frame, header included, by value (joined when it came in two buffers).
    pub fn into_bytes(self) -> Vec<u8> {
        self.frame.into_bytes()
    }

    /// The decoded value, taking the frame: what a hit returns.
    ///
    /// A stored (identity) payload is the value: when the store read it into a buffer of
    /// its own ([`StoredFrame::split`]) that very buffer is returned, with no copy; from a
    /// frame in one buffer the payload is moved to the front of that buffer (no second
    /// allocation). Any other codec decodes once, from the payload into a new buffer of
    /// exactly the decoded length, as [`decode_with`](Self::decode_with) does, with the same
    /// classification of failures. Identity must be registered in `decoders`, as for a
    /// decode.
    pub fn into_value(self, decoders: &Decoders) -> Result<Vec<u8>, Rejected> {
        if let Some(keys) = decoders.options().mac_keys() {
            self.authenticate(keys)?;
        }
        if self.header.codec != CodecId::Identity || decoders.get(CodecId::Identity).is_none() {
            return self.decode_with(decoders);
        }
        // The parse checked that an identity frame's payload is exactly its decoded length.
        Ok(match self.frame.payload {
            Some(payload) => payload,
            None => {
                let mut bytes = self.frame.head;
                bytes.drain(..self.header.payload_offset);
                bytes
            }
        })
    }

    /// Decodes the payload with `codec`, which must be the codec the header names, on the
    /// caller's thread.
    pub fn decode(&self, codec: &dyn Codec) -> Result<Vec<u8>> {
        frame::decode_payload(&self.header, self.payload(), codec)
    }

    /// [`decode`](Self::decode), with the chunks of a chunked frame decoded on up to
    /// `options.threads()` threads.
    pub fn decode_with_options(
        &self,
        codec: &dyn Codec,
        options: &FrameOptions,
    ) -> Result<Vec<u8>> {
        frame::decode_payload_with(&self.header, self.payload(), codec, options)
    }

    /// Decodes the payload with the registered codec the header names, with the registry's
    /// [`FrameOptions`], classifying a failure like a read: a payload that does not decode
    /// is [`Disposition::Undecodable`] (the frame verified, so it is not damaged: the codec
    /// registered under its id is not the one that wrote it), a codec this build lacks is
    /// skipped.
    pub fn decode_with(&self, decoders: &Decoders) -> Result<Vec<u8>, Rejected> {
        if let Some(keys) = decoders.options().mac_keys() {
            self.authenticate(keys)?;
        }
        decode_classified(decoders, &self.header, self.payload())
    }

    /// Checks the frame's MAC against `keys` ([`frame::authenticate`]): a rejection of
    /// [`Disposition::Unauthenticated`], keeping the header, when it is not signed by one of
    /// them. [`into_value`](Self::into_value) and [`decode_with`](Self::decode_with) run it
    /// when their registry has keys; call it before using the frame's bytes otherwise.
    pub fn authenticate(&self, keys: &frame::MacKeys) -> Result<(), Rejected> {
        let offset = self.header.payload_offset;
        let (head, payload) = match &self.frame.payload {
            None => self.frame.head.split_at(offset),
            Some(payload) => (&self.frame.head[..], &payload[..]),
        };
        frame::authenticate(&self.header, head, payload, keys)
            .map_err(|e| Rejected::new(e, Some(self.header.clone())))
    }
}

/// A frame verified where it lies (a memory map, say), borrowing its bytes: the same checks
/// as [`VerifiedFrame`], nothing copied.
#[derive(Clone, Debug)]
pub struct VerifiedView<'a> {
    header: FrameHeader,
    head: &'a [u8],
    payload: &'a [u8],
}

impl<'a> VerifiedView<'a> {
    /// Verifies `bytes` as the frame of the entry named by `expected`, declaring at most
    /// `max_decoded_len` decoded bytes, as [`VerifiedFrame::check`] does.
    pub fn check(
        bytes: &'a [u8],
        expected: Expected<'_>,
        max_decoded_len: u64,
    ) -> Result<Self, Rejected> {
        let parsed = Frame::parse(bytes);
        let payload = parsed.as_ref().map_or(&[][..], Frame::payload);
        let header = verify(parsed, expected, max_decoded_len)?;
        Ok(Self {
            head: &bytes[..header.payload_offset],
            header,
            payload,
        })
    }

    /// Checks the frame's MAC against `keys`, as [`VerifiedFrame::authenticate`] does: what
    /// a caller that uses the payload where it lies (a memory-mapped value) runs first.
    pub fn authenticate(&self, keys: &frame::MacKeys) -> Result<(), Rejected> {
        frame::authenticate(&self.header, self.head, self.payload, keys)
            .map_err(|e| Rejected::new(e, Some(self.header.clone())))
    }

    /// The verified header.
    pub fn header(&self) -> &FrameHeader {
        &self.header
    }

    /// The encoded payload, where it lies.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Decodes the payload as [`VerifiedFrame::decode_with`] does, with the same
    /// classification of failures.
    pub fn decode_with(&self, decoders: &Decoders) -> Result<Vec<u8>, Rejected> {
        if let Some(keys) = decoders.options().mac_keys() {
            self.authenticate(keys)?;
        }
        decode_classified(decoders, &self.header, self.payload)
    }
}

/// The checks after the parse: the name (a full key, or the digest with the frame's own
/// hasher) and the cap.
fn verify(
    parsed: Result<Frame<'_>>,
    expected: Expected<'_>,
    max_decoded_len: u64,
) -> Result<FrameHeader, Rejected> {
    let parsed = parsed.map_err(|e| Rejected::new(e, None))?;
    let key = match expected {
        Expected::Key(key) => *key,
        // The name is the digest; the frame records the hasher.
        Expected::Digest(digest) => Key::new(parsed.header().hasher, *digest),
    };
    parsed
        .verify_for(&key, max_decoded_len)
        .map_err(|e| Rejected::new(e, Some(parsed.header().clone())))
}

/// Decodes a verified payload; a payload that does not decode is
/// [`Disposition::Undecodable`] (see [`VerifiedFrame::decode_with`]).
fn decode_classified(
    decoders: &Decoders,
    header: &FrameHeader,
    payload: &[u8],
) -> Result<Vec<u8>, Rejected> {
    decoders.decode_payload(header, payload).map_err(|e| {
        let mut rejected = Rejected::new(e, Some(header.clone()));
        if rejected.disposition == Disposition::Corrupt {
            rejected.disposition = Disposition::Undecodable;
        }
        rejected
    })
}

/// Reads the entry `(ns, expected)` from `store` ([`Store::get_frame`]) and verifies it (see
/// the module docs); `Ok(None)` when there is none. Nothing is decoded: call
/// [`VerifiedFrame::into_value`] (or [`VerifiedFrame::decode_with`] to keep the frame).
pub fn read_entry<S: Store + ?Sized>(
    store: &S,
    ns: &Namespace,
    expected: Expected<'_>,
    max_decoded_len: u64,
) -> Result<Option<VerifiedFrame>, Rejected> {
    let read = read_with(expected, max_decoded_len, |limit| {
        Ok(store
            .get_frame(ns, expected.digest(), limit)?
            .map(|frame| (frame, ())))
    })?;
    Ok(read.map(|(found, ())| found))
}

/// [`read_entry`] through [`Housekeeping::read_item`], for a caller that may replace what
/// it read: the verified frame with its bucket and the [`Item`] of exactly the version
/// read, which [`Housekeeping::replace_item`] takes. The frame's hasher is taken from its
/// header, as for [`Expected::Digest`].
pub fn read_versioned<S: Housekeeping + ?Sized>(
    store: &S,
    ns: &Namespace,
    digest: &Digest,
    max_decoded_len: u64,
) -> Result<Option<(Bucket, Item, VerifiedFrame)>, Rejected> {
    let read = read_with(Expected::Digest(digest), max_decoded_len, |limit| {
        let read = store.read_item(ns, digest, limit)?;
        Ok(read.map(|(bucket, item, bytes)| (StoredFrame::whole(bytes), (bucket, item))))
    })?;
    Ok(read.map(|(found, (bucket, item))| (bucket, item, found)))
}

/// The sequence both reads share: `read` is given the byte limit of `max_decoded_len` and
/// returns the stored frame with whatever else it learned.
fn read_with<T>(
    expected: Expected<'_>,
    max_decoded_len: u64,
    read: impl FnOnce(u64) -> Result<Option<(StoredFrame, T)>>,
) -> Result<Option<(VerifiedFrame, T)>, Rejected> {
    match read(frame::max_frame_len(max_decoded_len)) {
        Ok(Some((frame, more))) => {
            let found = VerifiedFrame::check_stored(frame, expected, max_decoded_len)?;
            Ok(Some((found, more)))
        }
        Ok(None) => Ok(None),
        Err(e) => Err(Rejected::new(e, None)),
    }
}
