//! What is specific to the zstd codec: levels, bombs, windows, frames, threads.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hoard_codec::{MAX_WINDOW_LOG, Zstd};
use hoard_core::{Codec, CodecId, ErrorKind};
use zstd::stream::write::Encoder;
use zstd::zstd_safe::CParameter;

use crate::{decode_checked, encode, realistic};

#[test]
fn levels_are_validated() {
    for level in [1, 3, 19, 22, -1, -5, -131_072] {
        let zstd = Zstd::new(level).unwrap_or_else(|e| panic!("{level}: {e:?}"));
        assert_eq!(zstd.level(), level);
        assert_eq!(Codec::level(&zstd), level);
        assert_eq!(zstd.id(), CodecId::Zstd);
    }
    for level in [23, 100, i32::MAX, -131_073, i32::MIN] {
        let err = Zstd::new(level).err();
        assert_eq!(
            err.as_ref().map(|e| e.kind()),
            Some(ErrorKind::Config),
            "{level}"
        );
        let message = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains(&level.to_string()), "{message}");
        assert!(message.contains("22"), "{message}");
    }
}

#[test]
fn default_and_zero_mean_level_three() {
    assert_eq!(Zstd::default().level(), 3);
    assert_eq!(Zstd::new(0).map(|z| z.level()).ok(), Some(3));
}

#[test]
fn the_ultra_level_stays_within_the_window_limit() {
    let zstd = Zstd::new(22).expect("22 is zstd's highest level");
    let data = realistic(256 * 1024, 9);
    let encoded = encode(&zstd, &data);
    assert_eq!(decode_checked(&zstd, &encoded, data.len()).ok(), Some(data));
}

/// A zstd frame of `len` zeros written in chunks, so neither side holds `len` bytes.
fn zeros_frame(len: u64, configure: impl FnOnce(&mut Encoder<'static, Vec<u8>>)) -> Vec<u8> {
    let mut encoder = Encoder::new(Vec::new(), 1).expect("a zstd encoder");
    configure(&mut encoder);
    let chunk = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        encoder.write_all(&chunk[..n]).expect("writing to a Vec");
        left -= n as u64;
    }
    encoder.finish().expect("finishing a zstd frame")
}

/// The peak resident set of this process, where the platform reports it.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[test]
fn a_bomb_fails_fast_within_the_declared_length() {
    // The peak resident set is the whole process's: alone, no other test adds to it.
    hoard_testkit::process::alone("zstd::a_bomb_fails_fast_within_the_declared_length", || {
        // No content size in the header: only the output bound stops the decoder.
        let bomb = zeros_frame(1 << 30, |_| {});
        assert!(bomb.len() < 256 * 1024, "the bomb is {} bytes", bomb.len());
        let zstd = Zstd::default();
        let before = peak_rss_bytes();
        let started = Instant::now();
        let mut out = Vec::new();
        let err = zstd
            .decode(&bomb, 1 << 20, &mut out)
            .err()
            .map(|e| e.kind());
        let elapsed = started.elapsed();
        assert_eq!(err, Some(ErrorKind::Corrupt));
        assert!(out.is_empty());
        assert!(out.capacity() <= (1 << 20) + 4096, "{}", out.capacity());
        // Decoding the whole gigabyte takes seconds here; stopping at 1 MiB takes milliseconds.
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
        if let (Some(before), Some(after)) = (before, peak_rss_bytes()) {
            // A decoded bomb would add 1 GiB.
            assert!(
                after - before < 256 << 20,
                "peak rss grew by {}",
                after - before
            );
        }
    });
}

#[test]
fn a_bomb_declaring_its_size_is_refused_before_decoding() {
    let bomb = zeros_frame(64 << 20, |e| {
        e.set_pledged_src_size(Some(64 << 20))
            .expect("pledging a size");
    });
    let mut out = Vec::new();
    let err = Zstd::default().decode(&bomb, 1 << 20, &mut out).err();
    assert_eq!(err.as_ref().map(|e| e.kind()), Some(ErrorKind::Corrupt));
    let message = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("67108864"), "{message}");
    assert_eq!(
        out.capacity(),
        0,
        "nothing may be allocated for a refused frame"
    );
}

#[test]
fn a_frame_needing_a_2_gib_window_is_refused() {
    let data = realistic(100_000, 12);
    let mut encoder = Encoder::new(Vec::new(), 3).expect("a zstd encoder");
    encoder
        .set_parameter(CParameter::WindowLog(31))
        .expect("window log 31 is valid on 64-bit targets");
    encoder.long_distance_matching(true).expect("ldm");
    encoder.write_all(&data).expect("writing to a Vec");
    let frame = encoder.finish().expect("finishing a zstd frame");
    // The same bytes decode fine with a plain zstd decoder that allows the window.
    let mut plain = zstd::stream::read::Decoder::new(&frame[..]).expect("a decoder");
    plain.window_log_max(31).expect("raising the limit");
    let mut check = Vec::new();
    std::io::Read::read_to_end(&mut plain, &mut check).expect("a valid frame");
    assert_eq!(check, data);

    let err = decode_checked(&Zstd::default(), &frame, data.len()).err();
    let message = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("window"), "{message}");
}

#[test]
fn the_window_limit_is_exactly_max_window_log() {
    let data = realistic(10_000, 13);
    for (log, accepted) in [(MAX_WINDOW_LOG, true), (MAX_WINDOW_LOG + 1, false)] {
        let mut encoder = Encoder::new(Vec::new(), 3).expect("a zstd encoder");
        encoder
            .set_parameter(CParameter::WindowLog(log))
            .expect("a valid window log");
        encoder.write_all(&data).expect("writing to a Vec");
        let frame = encoder.finish().expect("finishing a zstd frame");
        let result = decode_checked(&Zstd::default(), &frame, data.len());
        assert_eq!(result.is_ok(), accepted, "window log {log}");
    }
}

/// Frames written by a streaming encoder carry no content size, so only the output bound
/// catches a wrong length.
#[test]
fn a_wrong_length_without_a_declared_size_is_corrupt() {
    let data = realistic(5000, 14);
    let mut encoder = Encoder::new(Vec::new(), 3).expect("a zstd encoder");
    encoder.include_contentsize(false).expect("a valid flag");
    encoder.write_all(&data).expect("writing to a Vec");
    let frame = encoder.finish().expect("finishing a zstd frame");
    let zstd = Zstd::default();
    assert_eq!(
        decode_checked(&zstd, &frame, data.len()).ok(),
        Some(data.clone())
    );
    for wrong in [0, 4999, 5001, 1 << 30] {
        assert!(decode_checked(&zstd, &frame, wrong).is_err(), "{wrong}");
    }
}

#[test]
fn exactly_one_frame_is_accepted() {
    let zstd = Zstd::default();
    let (a, b) = (realistic(700, 15), realistic(300, 16));
    let (ea, eb) = (encode(&zstd, &a), encode(&zstd, &b));
    let two = [ea.clone(), eb].concat();
    assert!(decode_checked(&zstd, &two, 1000).is_err());
    let trailing = [ea.clone(), vec![0]].concat();
    assert!(decode_checked(&zstd, &trailing, 700).is_err());
    // A skippable frame is a valid zstd stream, but not a hoard zstd payload.
    let skippable = [&[0x50, 0x2a, 0x4d, 0x18, 0, 0, 0, 0][..], &ea].concat();
    assert!(decode_checked(&zstd, &skippable, 700).is_err());
    assert_eq!(decode_checked(&zstd, &ea, 700).ok(), Some(a));
}

#[test]
fn decoding_works_whatever_room_out_already_has() {
    let zstd = Zstd::default();
    let data = realistic(10_000, 17);
    let encoded = encode(&zstd, &data);
    let buffers = [
        Vec::new(),
        Vec::with_capacity(data.len()),
        Vec::with_capacity(data.len() * 3),
        b"xyz".to_vec(),
    ];
    for mut out in buffers {
        let before = out.clone();
        zstd.decode(&encoded, data.len(), &mut out)
            .expect("a valid payload");
        assert_eq!(out, [before.clone(), data.clone()].concat());
        // One byte short, with room to spare: must not write past the declared length.
        out.truncate(before.len());
        out.reserve(data.len() * 2);
        let err = zstd.decode(&encoded, data.len() - 1, &mut out).err();
        assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::Corrupt));
        assert_eq!(out, before);
    }
}

#[test]
fn errors_do_not_spoil_the_pool() {
    let zstd = Zstd::default();
    let data = realistic(3000, 18);
    let encoded = encode(&zstd, &data);
    let mut damaged = encoded.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0xff;
    for _ in 0..20 {
        let _ = decode_checked(&zstd, &damaged, data.len());
        let _ = decode_checked(&zstd, &encoded[..middle], data.len());
        assert_eq!(
            decode_checked(&zstd, &encoded, data.len()).ok(),
            Some(data.clone())
        );
        assert_eq!(
            encode(&zstd, &data),
            encoded,
            "the same level gives the same bytes"
        );
    }
}

#[test]
fn one_codec_serves_many_threads() {
    let zstd = Arc::new(Zstd::new(1).expect("a valid level"));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let zstd = Arc::clone(&zstd);
            std::thread::spawn(move || {
                for i in 0..200u64 {
                    let data = realistic((i as usize * 37) % 5000, t * 1000 + i);
                    let encoded = encode(&*zstd, &data);
                    let decoded = decode_checked(&*zstd, &encoded, data.len());
                    assert!(decoded.is_ok_and(|d| d == data), "thread {t}, round {i}");
                }
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().is_ok(), "a thread failed");
    }
}

#[test]
fn zstd_is_send_sync_debug() {
    fn assert_traits<T: Send + Sync + std::fmt::Debug + 'static>(_: &T) {}
    let zstd = Zstd::new(7).expect("a valid level");
    assert_traits(&zstd);
    assert!(format!("{zstd:?}").contains('7'));
}
