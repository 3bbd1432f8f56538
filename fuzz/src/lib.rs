//! Checks shared by hoard's fuzz targets (see `fuzz_targets/`); each has a proptest twin in
//! the crate it fuzzes, which runs on stable in CI.

use hoard_core::Codec;

/// The largest decoded length a fuzz input may declare: 1 MiB, so that a run explores inputs
/// rather than allocations.
pub const MAX_DECODED_LEN: u64 = 1 << 20;

/// Bytes put in the output buffer before decoding: a codec appends, and must leave them be.
const PREFIX: &[u8] = b"frame header stand-in";

/// Fuzzes one codec with `data`: its first 4 bytes (little-endian, modulo 1 MiB + 1) choose
/// a declared decoded length and the rest is the payload.
///
/// The [`Codec`] contract: decoding must not panic, must leave the bytes already in the
/// output alone, must never grow it by more than the declared length and, when it succeeds,
/// must append exactly that length; the payload must survive an encode/decode round trip.
pub fn check_codec(codec: &dyn Codec, data: &[u8]) {
    let Some((len_bytes, payload)) = data.split_first_chunk::<4>() else {
        return;
    };
    let declared = u64::from(u32::from_le_bytes(*len_bytes)) % (MAX_DECODED_LEN + 1);
    let declared = usize::try_from(declared).expect("1 MiB fits in usize");

    let mut out = PREFIX.to_vec();
    if codec.decode(payload, declared, &mut out).is_ok() {
        assert_eq!(
            out.len(),
            PREFIX.len() + declared,
            "{} decode succeeded with a length other than the declared one",
            codec.id()
        );
    }
    assert!(
        out.starts_with(PREFIX) && out.len() <= PREFIX.len() + declared,
        "{} decode changed bytes already in the output or grew it past the declared length",
        codec.id()
    );

    let mut encoded = PREFIX.to_vec();
    codec
        .encode(payload, &mut encoded)
        .expect("encoding any payload succeeds");
    assert!(
        encoded.starts_with(PREFIX),
        "{} encode changed bytes already in the output",
        codec.id()
    );
    let mut decoded = Vec::new();
    codec
        .decode(&encoded[PREFIX.len()..], payload.len(), &mut decoded)
        .expect("decoding what the codec encoded succeeds");
    assert_eq!(
        decoded,
        payload,
        "{} round trip changed the payload",
        codec.id()
    );
}

/// Fuzzes the configuration parser with `data` (as text, lossily decoded): no panic, and a
/// rejection is a configuration error with a message.
pub fn check_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Err(err) = hoard::CacheConfig::from_toml_str(&text, None) {
        assert_eq!(err.kind(), hoard::ErrorKind::Config, "{err}");
        assert!(!err.message().is_empty());
    }
}

/// Whether `name` is exactly one normal path component: what `FsStore::entry_path` may
/// join below the root.
fn one_component(name: &str) -> bool {
    let mut parts = std::path::Path::new(name).components();
    matches!(
        (parts.next(), parts.next()),
        (Some(std::path::Component::Normal(c)), None) if c == std::ffi::OsStr::new(name)
    )
}

/// A store that holds nothing, so that a cache can be built without touching the disk.
#[derive(Debug)]
struct Nowhere;

impl hoard::Store for Nowhere {
    fn get(
        &self,
        _: &hoard::Namespace,
        _: &hoard::Digest,
        _: u64,
    ) -> hoard::Result<Option<Vec<u8>>> {
        Ok(None)
    }
    fn put(&self, _: &hoard::Namespace, _: &hoard::Digest, _: &[u8]) -> hoard::Result<()> {
        Ok(())
    }
    fn remove(&self, _: &hoard::Namespace, _: &hoard::Digest) -> hoard::Result<bool> {
        Ok(false)
    }
    fn list(
        &self,
        _: &mut dyn FnMut(hoard::EntryInfo) -> std::ops::ControlFlow<()>,
    ) -> hoard::Result<()> {
        Ok(())
    }
}

/// Fuzzes namespace and file-name handling with `data`.
///
/// - `Namespace::new`: an accepted name is 1-100 characters of `[A-Za-z0-9._-]`, does not
///   start with `.`, and is one path component.
/// - `CacheBuilder::namespace_label`: any label gives a valid namespace; a label that is a
///   valid namespace is kept as is.
/// - `EntryName::parse` / `parse_temp`: what parses is respelled identically (one digest,
///   one name), is one path component, and its shard is the digest's first byte.
pub fn check_names(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(ns) = hoard::Namespace::new(&text) {
        let s = ns.as_str();
        assert!((1..=100).contains(&s.len()), "{s:?}");
        assert!(!s.starts_with('.'), "{s:?}");
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')),
            "{s:?}"
        );
        assert!(one_component(s), "{s:?}");
    }
    let cache = hoard::CacheBuilder::with_store(Nowhere)
        .namespace_label(data)
        .build()
        .expect("any label builds a cache");
    let ns = cache.namespace().as_str();
    assert!(
        hoard::Namespace::new(ns).is_ok() && one_component(ns),
        "{ns:?}"
    );
    if let Ok(valid) = std::str::from_utf8(data)
        && hoard::Namespace::new(valid).is_ok()
    {
        assert_eq!(ns, valid);
    }
    if let Some(name) = hoard_fs::layout::EntryName::parse(&text) {
        assert_eq!(name.as_str(), text);
        assert_eq!(hoard_fs::layout::EntryName::new(name.digest()), name);
        assert!(one_component(name.as_str()) && !name.as_str().starts_with('.'));
        assert_eq!(name.shard(), format!("{:02x}", name.digest().as_bytes()[0]));
    }
    if let Some((name, nonce)) = hoard_fs::layout::parse_temp(&text) {
        assert_eq!(name.temp_name(nonce), text);
        assert!(one_component(&text) && text.starts_with(hoard_fs::layout::TEMP_PREFIX));
        assert!(hoard_fs::layout::EntryName::parse(&text).is_none());
    }
}
