//! zstd through the zstd C library, behind the `zstd` feature.

use std::fmt;
use std::io::Cursor;
use std::sync::{Mutex, MutexGuard, PoisonError};

use hoard_core::{Codec, CodecId, Error, ErrorKind, Result};
use zstd::bulk::{Compressor, Decompressor};
use zstd::zstd_safe::{self, DParameter};

use crate::reserve::reserve_exact;

/// The largest window, as a power of two, a frame may need to be decoded: 128 MiB.
///
/// It is zstd's own default limit for streaming decoders (`ZSTD_WINDOWLOG_LIMIT_DEFAULT`) and
/// what every compression level up to 22 stays within, so hoard's own frames always pass. A
/// frame that asks for more (up to 2 GiB with `--long=31`) is refused as corrupt before any
/// decoding.
pub const MAX_WINDOW_LOG: u32 = 27;

/// Idle contexts kept per direction. A level-19 compression context for a large input
/// holds tens of megabytes, so the pool stays small: enough for the threads of one process
/// to stop paying for a fresh context on every call.
const POOL_LIMIT: usize = 4;

/// The level the ancestor, wasmtime-cache, compresses at by default.
const DEFAULT_LEVEL: i32 = 3;

/// The four bytes every zstd frame starts with (`0xFD2FB528`, little-endian).
const FRAME_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// zstd compression at a fixed level, recorded as [`CodecId::Zstd`].
///
/// A payload is exactly one zstd frame, without a content checksum (the hoard frame has
/// one) and with the content size in its header. Decoding accepts any level and checks the
/// frame header before touching the data: the window may not exceed `2^`[`MAX_WINDOW_LOG`]
/// bytes, a declared content size must match the expected length, and nothing may follow
/// the frame. It then decodes straight into the caller's buffer, which zstd cannot write
/// past the expected length.
///
/// Compression and decompression contexts are reused through a small internal pool: at
/// 1 KiB a fresh context costs three times the work itself. A `Zstd` is `Send + Sync`; share
/// one (in an `Arc`) rather than making one per call.
///
/// ```
/// use hoard_codec::Zstd;
/// use hoard_core::Codec;
///
/// let zstd = Zstd::new(19)?;
/// let data = b"hoard hoard hoard hoard hoard hoard".repeat(100);
/// let mut encoded = Vec::new();
/// zstd.encode(&data, &mut encoded)?;
/// let mut decoded = Vec::new();
/// zstd.decode(&encoded, data.len(), &mut decoded)?;
/// assert_eq!(decoded, data);
/// assert!(Zstd::new(23).is_err());
/// # Ok::<(), hoard_core::Error>(())
/// ```
pub struct Zstd {
    level: i32,
    compressors: Pool<Compressor<'static>>,
    decompressors: Pool<Decompressor<'static>>,
}

impl Zstd {
    /// A codec compressing at `level`, which must lie in the range the linked zstd accepts
    /// (`-131072..=22` for zstd 1.5); otherwise an [`ErrorKind::Config`] error.
    ///
    /// Negative levels trade ratio for speed; levels above 19 need much more memory to
    /// compress (not to decompress). Level 0 is zstd's alias for its default and is recorded
    /// as 3, the level it stands for.
    pub fn new(level: i32) -> Result<Self> {
        let range = zstd::compression_level_range();
        if !range.contains(&level) {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "zstd level {level} is outside the allowed range {}..={}",
                    range.start(),
                    range.end()
                ),
            ));
        }
        let level = if level == 0 {
            zstd::DEFAULT_COMPRESSION_LEVEL
        } else {
            level
        };
        Ok(Self::with_checked_level(level))
    }

    fn with_checked_level(level: i32) -> Self {
        Self {
            level,
            compressors: Pool::default(),
            decompressors: Pool::default(),
        }
    }

    /// The compression level, as recorded in frames.
    pub fn level(&self) -> i32 {
        self.level
    }

    fn compressor(&self) -> Result<Compressor<'static>> {
        if let Some(c) = self.compressors.take() {
            return Ok(c);
        }
        Compressor::new(self.level).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!(
                    "cannot create a zstd compression context at level {}",
                    self.level
                ),
            )
            .with_source(e)
        })
    }

    fn decompressor(&self) -> Result<Decompressor<'static>> {
        if let Some(d) = self.decompressors.take() {
            return Ok(d);
        }
        let context_error = |e| {
            Error::new(ErrorKind::Io, "cannot create a zstd decompression context").with_source(e)
        };
        let mut d = Decompressor::new().map_err(context_error)?;
        // Only zstd's streaming decoder honours this; the bulk path is guarded by
        // `check_frame`. Set anyway so the context is safe whatever API uses it later.
        d.set_parameter(DParameter::WindowLogMax(MAX_WINDOW_LOG))
            .map_err(context_error)?;
        Ok(d)
    }
}

impl Default for Zstd {
    /// Level 3, the ancestor's level.
    fn default() -> Self {
        Self::with_checked_level(DEFAULT_LEVEL)
    }
}

impl fmt::Debug for Zstd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Zstd")
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

impl Codec for Zstd {
    fn id(&self) -> CodecId {
        CodecId::Zstd
    }

    fn level(&self) -> i32 {
        self.level
    }

    fn encode(&self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        // With this much room zstd takes its fast path and cannot run out of space.
        let bound = zstd_safe::compress_bound(input.len());
        reserve_exact(out, bound, "encode a zstd payload")?;
        let mut compressor = self.compressor()?;
        let start = out.len();
        let mut spare = Cursor::new(&mut *out);
        spare.set_position(start as u64);
        match compressor.compress_to_buffer(input, &mut spare) {
            Ok(_) => {
                self.compressors.give_back(compressor);
                Ok(())
            }
            Err(e) => {
                out.truncate(start);
                Err(Error::new(
                    ErrorKind::Io,
                    format!(
                        "zstd could not encode {} bytes at level {}",
                        input.len(),
                        self.level
                    ),
                )
                .with_source(e))
            }
        }
    }

    fn decode(&self, input: &[u8], decoded_len: usize, out: &mut Vec<u8>) -> Result<()> {
        check_frame(input, decoded_len)?;
        reserve_exact(out, decoded_len, "decode a zstd payload")?;
        let mut decompressor = self.decompressor()?;
        let start = out.len();
        let result = if out.capacity() - start == decoded_len {
            // The spare capacity is exactly the expected length (the usual case after
            // `try_reserve_exact`): decode into it without zeroing it first.
            let mut spare = Cursor::new(&mut *out);
            spare.set_position(start as u64);
            decompressor.decompress_to_buffer(input, &mut spare)
        } else {
            // More room than expected: hand zstd a slice of exactly the expected length.
            out.resize(start + decoded_len, 0);
            decompressor.decompress_to_buffer(input, &mut out[start..])
        };
        let checked = self.checked(decompressor, input, decoded_len, result);
        if checked.is_err() {
            out.truncate(start);
        }
        checked
    }

    fn decode_into(&self, input: &[u8], out: &mut [u8]) -> Result<()> {
        let decoded_len = out.len();
        check_frame(input, decoded_len)?;
        let mut decompressor = self.decompressor()?;
        // zstd writes into the slice and fails rather than write past its end.
        let result = decompressor.decompress_to_buffer(input, out);
        self.checked(decompressor, input, decoded_len, result)
    }
}

impl Zstd {
    /// The outcome of a decompression into room for exactly `decoded_len` bytes; the context
    /// goes back to the pool only after a success.
    fn checked(
        &self,
        decompressor: Decompressor<'static>,
        input: &[u8],
        decoded_len: usize,
        result: std::io::Result<usize>,
    ) -> Result<()> {
        match result {
            Ok(n) if n == decoded_len => {
                self.decompressors.give_back(decompressor);
                Ok(())
            }
            Ok(n) => Err(Error::corrupt(format!(
                "zstd payload decodes to {n} bytes where {decoded_len} were declared"
            ))),
            // A failed context is dropped rather than pooled: cheap insurance, errors are rare.
            Err(e) => Err(Error::corrupt(format!(
                "zstd payload of {} bytes does not decode to the declared {decoded_len}",
                input.len()
            ))
            .with_source(e)),
        }
    }
}

/// Checks what zstd's one-shot decoder does not: the window limit (zstd applies
/// `WindowLogMax` to streaming only), the declared content size, and that the payload is
/// exactly one frame. Reads the header as RFC 8878 section 3.1.1 lays it out.
fn check_frame(input: &[u8], decoded_len: usize) -> Result<()> {
    let (Some(magic), Some(&descriptor)) = (input.get(..4), input.get(4)) else {
        return Err(Error::corrupt(format!(
            "zstd payload of {} bytes is too short for a frame header",
            input.len()
        )));
    };
    if magic != FRAME_MAGIC {
        return Err(Error::corrupt(
            "zstd payload does not start with a zstd frame",
        ));
    }
    let content_size = zstd_safe::get_frame_content_size(input)
        .map_err(|_| Error::corrupt("zstd frame header is truncated or damaged"))?;
    if let Some(declared) = content_size
        && declared != decoded_len as u64
    {
        return Err(Error::corrupt(format!(
            "zstd frame declares {declared} decoded bytes where {decoded_len} were declared"
        )));
    }
    let single_segment = descriptor & 0x20 != 0;
    let window = if single_segment {
        // The window is the whole content, whose size such a header always carries.
        content_size.unwrap_or(u64::MAX)
    } else {
        let Some(&window_descriptor) = input.get(5) else {
            return Err(Error::corrupt("zstd frame header is truncated"));
        };
        let log = 10 + u32::from(window_descriptor >> 3);
        let base = 1u64 << log;
        base + (base / 8) * u64::from(window_descriptor & 0x7)
    };
    if window > 1 << MAX_WINDOW_LOG {
        return Err(Error::corrupt(format!(
            "zstd frame needs a window of {window} bytes, above the limit of 2^{MAX_WINDOW_LOG}"
        )));
    }
    let frame_len = zstd_safe::find_frame_compressed_size(input).map_err(|code| {
        Error::corrupt(format!(
            "zstd frame is truncated or damaged: {}",
            zstd_safe::get_error_name(code).to_lowercase()
        ))
    })?;
    if frame_len != input.len() {
        return Err(Error::corrupt(format!(
            "zstd payload has {} bytes after its frame",
            input.len().saturating_sub(frame_len)
        )));
    }
    Ok(())
}

/// Idle contexts, taken for one call and given back after it.
struct Pool<T> {
    idle: Mutex<Vec<T>>,
}

impl<T> Default for Pool<T> {
    fn default() -> Self {
        Self {
            idle: Mutex::new(Vec::new()),
        }
    }
}

impl<T> Pool<T> {
    fn lock(&self) -> MutexGuard<'_, Vec<T>> {
        // Nothing panics while the lock is held, and a list of idle contexts is valid
        // whatever happened to its last user.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take(&self) -> Option<T> {
        self.lock().pop()
    }

    fn give_back(&self, context: T) {
        let surplus = {
            let mut idle = self.lock();
            if idle.len() < POOL_LIMIT {
                idle.push(context);
                None
            } else {
                Some(context)
            }
        };
        // Freeing a context takes a moment; not while others wait for the lock.
        drop(surplus);
    }
}
