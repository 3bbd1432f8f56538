//! What is specific to the identity codec, and the lookup of codecs by id.

use hoard_codec::Identity;
use hoard_core::{Codec, CodecId};

use crate::{decode_checked, encode, realistic};

#[test]
fn identity_is_the_data_itself() {
    let data = realistic(1000, 1);
    assert_eq!(encode(&Identity, &data), data);
    assert_eq!(Identity.id(), CodecId::Identity);
    assert_eq!(Identity.level(), 0);
}

#[test]
fn identity_refuses_any_other_length() {
    assert!(decode_checked(&Identity, b"abc", 2).is_err());
    assert!(decode_checked(&Identity, b"abc", 4).is_err());
    assert_eq!(
        decode_checked(&Identity, b"abc", 3).ok(),
        Some(b"abc".to_vec())
    );
}

#[test]
fn by_id_returns_what_is_compiled_in() {
    let found = |id| hoard_codec::by_id(id).map(|c| (c.id(), c.level()));
    assert_eq!(found(CodecId::Identity), Some((CodecId::Identity, 0)));
    assert_eq!(
        found(CodecId::Zstd),
        cfg!(feature = "zstd").then_some((CodecId::Zstd, 3))
    );
    assert_eq!(
        found(CodecId::Lz4),
        cfg!(feature = "lz4").then_some((CodecId::Lz4, 0))
    );
    let plugin = CodecId::plugin(0x8001).expect("in the plugin range");
    assert!(hoard_codec::by_id(plugin).is_none());
}
