//! `HashBridge`: determinism within a process, `finish`, and its place in the encoding.

use std::hash::{Hash, Hasher};

use hoard_key::{HashBridge, KeyBuilder, Sha256};

use crate::{digest_of, hex};

#[derive(Hash)]
struct State {
    name: String,
    flags: Vec<bool>,
    level: u32,
}

fn state(level: u32) -> State {
    State {
        name: "cranelift".to_owned(),
        flags: vec![true, false],
        level,
    }
}

fn bridged(value: &impl Hash) -> hoard_core::Key {
    let mut bridge = HashBridge::new(KeyBuilder::new(&Sha256, "bridge"));
    value.hash(&mut bridge);
    bridge.into_key()
}

#[test]
fn the_same_value_gives_the_same_key_within_a_process() {
    assert_eq!(bridged(&state(2)), bridged(&state(2)));
    assert_ne!(bridged(&state(2)), bridged(&state(3)));
}

#[test]
fn finish_is_the_start_of_the_digest_and_does_not_consume() {
    let mut bridge = HashBridge::from(KeyBuilder::new(&Sha256, "bridge"));
    bridge.write(b"first");
    let early = bridge.finish();
    assert_eq!(early, bridge.finish());
    bridge.write(b"second");
    let late = bridge.finish();
    let key = bridge.into_key();
    let mut first = [0u8; 8];
    first.copy_from_slice(&key.digest().as_bytes()[..8]);
    assert_eq!(late, u64::from_le_bytes(first));
    assert_ne!(early, late);
}

/// Prefix, domain, builder fields, the raw-tail marker (tag 6), then unframed bytes.
#[test]
fn a_bridge_continues_the_builder_stream_after_a_marker() {
    let mut builder = KeyBuilder::new(&Sha256, "bridge");
    builder.u64(7);
    let mut bridge = HashBridge::new(builder);
    bridge.write(b"ra");
    bridge.write(b"w");
    let key = bridge.into_key();
    // Python's hashlib over the documented bytes.
    assert_eq!(
        *key.digest(),
        hex("b54fc19a9858b6838740dba95a28c94cc7ff8f1b4e41987869082b05113e238b")
    );
    let mut expected = b"hoard-key\0v1\0".to_vec();
    expected.extend_from_slice(&[2, 6, 0, 0, 0, 0, 0, 0, 0]);
    expected.extend_from_slice(b"bridge");
    expected.extend_from_slice(&[3, 8, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0]);
    expected.extend_from_slice(b"\x06raw");
    assert_eq!(*key.digest(), digest_of(&Sha256, &[&expected]));
}

#[test]
fn a_bridged_key_differs_from_a_builder_key() {
    // Bytes the bridge writes that spell a whole builder field still give another key.
    let mut fake_field = vec![1u8];
    fake_field.extend_from_slice(&3u64.to_le_bytes());
    fake_field.extend_from_slice(b"abc");
    let mut bridge = HashBridge::new(KeyBuilder::new(&Sha256, "bridge"));
    bridge.write(&fake_field);
    let built = KeyBuilder::new(&Sha256, "bridge")
        .bytes(b"abc")
        .fork()
        .finish();
    assert_ne!(bridge.into_key(), built);
}

#[test]
fn bridges_are_send_and_debug() {
    fn assert_send<T: Send + std::fmt::Debug>(_: &T) {}
    let bridge = HashBridge::new(KeyBuilder::new(&Sha256, "bridge"));
    assert_send(&bridge);
    assert!(format!("{bridge:?}").contains("HashBridge"));
}
