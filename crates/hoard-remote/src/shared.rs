//! The circuit breaker's state shared by every process that uses one cache directory: a small
//! blob in the directory's `state/` ([`Housekeeping::read_state`] /
//! [`Housekeeping::write_state`]), so that a remote one process found dead is bypassed by
//! every other process for the rest of the cool-down, and at most one of them probes it when
//! the cool-down ends.
//!
//! # The blob
//! `state/remote-breaker-<16 hex digits>` (the digits: FNV-1a 64 of the remote's URL, prefix
//! and endpoint, so that remotes sharing a directory keep separate states), 24 bytes: magic
//! `hoardrb1`, the end of the cool-down (i64 ms since the Unix epoch, 0 for "closed"), and
//! FNV-1a 64 of those 16 bytes, little-endian. Like every sidecar state it is advisory: a blob
//! that fails a check, or that cannot be read, is "closed" (a process then finds out for
//! itself, at the cost of one connect timeout), and an end further in the future than one
//! cool-down (and a second) (another machine's clock, a clock that jumped back) is ignored.
//!
//! # The probe
//! When a cool-down has ended, the first process to need the remote claims the probe: under
//! the named lock of the same name, taken with a try (never waited for), it re-reads the
//! blob and, if the cool-down is still over, writes a new one ending a cool-down from now.
//! Every other process keeps bypassing until the probe's process closes the state after a
//! success (or the new cool-down ends after a failure). The probe is an ordinary operation
//! preceded by the connection check, so it costs at most the connect timeout when the remote
//! is refused or hung.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hoard_core::{Housekeeping, LockTarget, StateName};

use crate::config::RemoteConfig;

/// The blob's magic.
const MAGIC: &[u8; 8] = b"hoardrb1";

/// The blob's length.
const LEN: usize = 24;

/// How far past one cool-down from now a recorded end may be and still count: processes
/// compute wall times from their own clocks, a few ms apart.
const SLACK_MS: i64 = 1_000;

/// What the shared state says about the remote now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shared {
    /// No process has seen it fail (or the last probe succeeded).
    Closed,
    /// Bypassed until this instant (on the store's clock).
    Open(Instant),
    /// It failed, and its cool-down is over: the next operation is the probe.
    Expired,
}

/// The breaker state of one remote in one cache directory.
#[derive(Debug)]
pub(crate) struct SharedBreaker {
    keeper: Arc<dyn Housekeeping>,
    name: StateName,
    cooldown: Duration,
}

impl SharedBreaker {
    /// The shared state of the remote `config` names, kept by `keeper`.
    pub(crate) fn new(keeper: Arc<dyn Housekeeping>, config: &RemoteConfig) -> Self {
        Self {
            keeper,
            name: state_name(config),
            cooldown: config.get_cooldown(),
        }
    }

    /// The state's name (and its lock's).
    pub(crate) fn name(&self) -> &StateName {
        &self.name
    }

    /// What the state says at `now`.
    pub(crate) fn read(&self, now: Instant) -> Shared {
        match self.keeper.read_state(&self.name, LEN as u64) {
            Ok(Some(bytes)) => judge(decode(&bytes), wall_ms(now), self.cooldown, now),
            Ok(None) => Shared::Closed,
            Err(e) => {
                tracing::debug!(state = %self.name, error = %e, "cannot read the shared breaker state");
                Shared::Closed
            }
        }
    }

    /// Records that the remote failed at `now`: bypassed by every process for a cool-down.
    pub(crate) fn open(&self, now: Instant) {
        let until = wall_ms(now).saturating_add(millis(self.cooldown));
        self.write(until);
    }

    /// Records that the remote answered (after a probe).
    pub(crate) fn close(&self) {
        self.write(0);
    }

    /// Claims the probe of a remote whose cool-down is over: `true` if this process is to
    /// run it (the state then says "open" for another cool-down, so that no other process
    /// probes meanwhile). Never waits for the lock: another process holding it is claiming.
    /// A store that cannot lock (an error, not a busy lock) claims without it: two
    /// processes may then both probe, but the remote is never left unprobed.
    pub(crate) fn claim(&self, now: Instant) -> bool {
        let held = match self.keeper.lock(LockTarget::Named(&self.name), false) {
            Ok(Some(held)) => Some(held),
            Ok(None) => return false,
            Err(e) => {
                tracing::debug!(state = %self.name, error = %e, "cannot lock the shared breaker state; claiming without the lock");
                None
            }
        };
        let claimed = self.read(now) == Shared::Expired;
        if claimed {
            self.open(now);
        }
        drop(held);
        claimed
    }

    fn write(&self, until_ms: i64) {
        if let Err(e) = self.keeper.write_state(&self.name, &encode(until_ms)) {
            tracing::debug!(state = %self.name, error = %e, "cannot write the shared breaker state");
        }
    }
}

/// `state/remote-breaker-<FNV-1a 64 of url, prefix and endpoint>`.
fn state_name(config: &RemoteConfig) -> StateName {
    let mut h = Fnv::new();
    for part in [
        config.url(),
        config.get_prefix(),
        config.get_endpoint().unwrap_or(""),
    ] {
        h.write(part.as_bytes());
        h.write(&[0]);
    }
    StateName::new(&format!("remote-breaker-{:016x}", h.finish()))
        .expect("remote-breaker- and 16 hex digits make a valid state name")
}

/// The end of the cool-down the blob records (0: closed), or `None` for a damaged blob.
fn decode(bytes: &[u8]) -> Option<i64> {
    if bytes.len() != LEN || &bytes[..8] != MAGIC {
        return None;
    }
    let mut h = Fnv::new();
    h.write(&bytes[..16]);
    let sum = u64::from_le_bytes(bytes[16..24].try_into().ok()?);
    if sum != h.finish() {
        return None;
    }
    Some(i64::from_le_bytes(bytes[8..16].try_into().ok()?))
}

fn encode(until_ms: i64) -> [u8; LEN] {
    let mut out = [0u8; LEN];
    out[..8].copy_from_slice(MAGIC);
    out[8..16].copy_from_slice(&until_ms.to_le_bytes());
    let mut h = Fnv::new();
    h.write(&out[..16]);
    out[16..].copy_from_slice(&h.finish().to_le_bytes());
    out
}

/// The state a decoded blob gives at wall time `now_ms` (store clock `now`).
fn judge(until_ms: Option<i64>, now_ms: i64, cooldown: Duration, now: Instant) -> Shared {
    match until_ms {
        None | Some(0) => Shared::Closed,
        Some(until) if until <= now_ms => Shared::Expired,
        Some(until) if until - now_ms > millis(cooldown).saturating_add(SLACK_MS) => Shared::Closed,
        Some(until) => {
            let left = Duration::from_millis(u64::try_from(until - now_ms).unwrap_or(0));
            Shared::Open(now.checked_add(left).unwrap_or(now))
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The wall time (ms since the epoch) of the store-clock instant `now`: the system time of
/// the process's anchor (the first call), moved by how far `now` is from the anchor's
/// monotonic instant. For the system clock this is the system time (as of the anchor, so a
/// later jump of the system clock does not move it); a manual clock moves it exactly as far
/// as it was advanced, so that tests step shared cool-downs as they step a process's own. A
/// function of `now` alone within a process, so that two stores on one clock agree to the
/// millisecond.
fn wall_ms(now: Instant) -> i64 {
    static ANCHOR: OnceLock<(Instant, i128)> = OnceLock::new();
    let (anchor, anchor_ns) = *ANCHOR.get_or_init(|| {
        let system = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(0));
        (Instant::now(), system)
    });
    let offset = if now >= anchor {
        i128::try_from((now - anchor).as_nanos()).unwrap_or(i128::MAX / 2)
    } else {
        -i128::try_from((anchor - now).as_nanos()).unwrap_or(i128::MAX / 2)
    };
    i64::try_from((anchor_ns + offset).div_euclid(1_000_000)).unwrap_or(0)
}

/// FNV-1a 64: a checksum and a name stable across builds and Rust versions (std's hashers
/// promise neither), for 24-byte blobs and a few dozen bytes of URL.
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_reads_back_and_damage_reads_as_closed() {
        let now = Instant::now();
        let cooldown = Duration::from_secs(10);
        let at = 1_000_000;
        let open = decode(&encode(at + 4_000));
        assert_eq!(
            judge(open, at, cooldown, now),
            Shared::Open(now + Duration::from_secs(4))
        );
        assert_eq!(judge(open, at + 4_000, cooldown, now), Shared::Expired);
        assert_eq!(judge(decode(&encode(0)), at, cooldown, now), Shared::Closed);
        let mut bad = encode(at + 4_000);
        bad[9] ^= 1;
        assert_eq!(decode(&bad), None);
        assert_eq!(judge(decode(&bad), at, cooldown, now), Shared::Closed);
        assert_eq!(decode(&bad[..20]), None);
        assert_eq!(
            judge(decode(&encode(at + 60_000)), at, cooldown, now),
            Shared::Closed,
            "an end further than one cool-down away is another clock's: ignored"
        );
    }

    #[test]
    fn names_differ_per_remote_and_are_valid() {
        let a = RemoteConfig::parse("redis://127.0.0.1:1/0").expect("a valid url");
        let b = RemoteConfig::parse("redis://127.0.0.1:2/0").expect("a valid url");
        let (na, nb) = (state_name(&a), state_name(&b));
        assert_ne!(na, nb);
        assert_eq!(na, state_name(&a));
        assert!(na.as_str().starts_with("remote-breaker-"));
    }

    #[test]
    fn wall_time_follows_the_store_clock() {
        let now = Instant::now();
        let later = now + Duration::from_secs(30);
        assert_eq!(wall_ms(later) - wall_ms(now), 30_000);
        let system = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, millis);
        assert!(
            (wall_ms(Instant::now()) - system).abs() < 60_000,
            "the system's time"
        );
    }
}
