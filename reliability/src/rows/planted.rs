//! `planted`: sparse and huge files planted at entry paths, read by a child process each,
//! whose peak resident memory (VmHWM) and read time are measured.
//!
//! The cache runs with the default cap (1 GiB), so a 1 GiB file is within the store's read
//! limit and only its header can refuse it before it is read. Cases, each planted again
//! before every read:
//! - sparse files of zeros, 1 GiB (refused from its header: no magic) and 16 GiB (above
//!   the cap: refused from its size);
//! - a genuine entry's header declaring 1 TiB in a 1 GiB sparse file (refused from its
//!   header: the declared lengths disagree with the file), and one whose declaration matches
//!   a 16 GiB sparse file exactly (refused from its size).
//!
//! Every read must be a miss, within 64 MiB of peak resident memory for the whole child
//! (the binary, the cache and the read) and within 100 ms. Not exercised: a header whose
//! lengths agree with a file within the cap is read whole before its checksum fails, which
//! costs up to the cap, as a genuine entry of that size does.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use hoard::{FsStore, frame};

use super::arena;
use crate::proc::Proc;
use crate::row::{Row, RowResult, Tier};

/// The rows of this module.
pub(crate) fn rows() -> Vec<Box<dyn Row>> {
    vec![Box::new(Planted)]
}

struct Planted;

impl Row for Planted {
    fn name(&self) -> &str {
        "planted"
    }

    fn title(&self) -> &str {
        "planted sparse and huge entries"
    }

    fn run(&self, tier: &Tier) -> RowResult {
        planted(tier).unwrap_or_else(|why| {
            let mut r = RowResult::ran();
            r.violation(why);
            r
        })
    }
}

const GIB: u64 = 1 << 30;

/// The bound on a reading child's peak resident memory.
const MEMORY_BOUND_KIB: u64 = 64 << 10;

/// The bound on one read.
const TIME_BOUND: Duration = Duration::from_millis(100);

/// What the child reports a read found (`outcome=`).
pub(crate) mod outcome {
    /// A hit: a violation.
    pub(crate) const HIT: u64 = 0;
    /// Nothing there.
    pub(crate) const MISS: u64 = 1;
    /// Refused as damaged (and removed).
    pub(crate) const CORRUPT: u64 = 2;
    /// Refused as larger than the cap (left alone).
    pub(crate) const TOO_LARGE: u64 = 3;
    /// Any other error.
    pub(crate) const OTHER: u64 = 4;
}

/// One planted file: what it is called, its first bytes, its length, the outcome a read
/// must have.
struct Case {
    what: &'static str,
    head: Vec<u8>,
    len: u64,
    expect: u64,
}

fn plant(path: &Path, head: &[u8], len: u64) -> Result<(), String> {
    let e = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut f = std::fs::File::create(path).map_err(e)?;
    f.write_all(head).map_err(e)?;
    f.set_len(len).map_err(e)
}

fn planted(tier: &Tier) -> Result<RowResult, String> {
    let dir = arena("planted")?;
    let root = dir.path().join("cache");
    let cache = super::open(&root, hoard::Durability::None)?;
    let store = FsStore::open(&root).map_err(|e| e.to_string())?;
    // A genuine entry's header, to forge declarations from.
    let key = cache.key(b"planted");
    cache
        .try_put(&key, &[7u8; 4096])
        .map_err(|e| e.to_string())?;
    let path = store.entry_path(cache.namespace(), key.digest());
    let genuine = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let offset = u16::from_le_bytes([genuine[10], genuine[11]]);
    let declaring = |payload: u64| {
        let mut head = genuine[..frame::HEADER_LEN].to_vec();
        head[24..32].copy_from_slice(&payload.to_le_bytes());
        head[32..40].copy_from_slice(&payload.to_le_bytes());
        head
    };
    let cases = [
        Case {
            what: "sparse 1 GiB",
            head: Vec::new(),
            len: GIB,
            expect: outcome::CORRUPT,
        },
        Case {
            what: "sparse 16 GiB",
            head: Vec::new(),
            len: 16 * GIB,
            expect: outcome::TOO_LARGE,
        },
        Case {
            what: "1 TiB declared in 1 GiB",
            head: declaring(1 << 40),
            len: GIB,
            expect: outcome::CORRUPT,
        },
        Case {
            what: "16 GiB declared in 16 GiB",
            head: declaring(16 * GIB - u64::from(offset)),
            len: 16 * GIB,
            expect: outcome::TOO_LARGE,
        },
    ];
    drop(cache);
    let mut res = RowResult::ran();
    let (mut reads, mut hits, mut wrong, mut over, mut slow) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut max_kib, mut max_us) = (0u64, 0u64);
    for _ in 0..tier.count(5) {
        for case in &cases {
            plant(&path, &case.head, case.len)?;
            let mut child = Proc::spawn(
                "planted",
                &[
                    ("dir", root.display().to_string()),
                    ("key", "planted".to_owned()),
                ],
                None,
            )?;
            let finished = child.finish(Duration::from_secs(60));
            if !finished.ok() {
                res.violation(finished.describe(child.role()));
                continue;
            }
            let r = finished.result();
            let (Some(&got), Some(&peak), Some(&us)) =
                (r.get("outcome"), r.get("peak_kib"), r.get("us"))
            else {
                res.violation(format!("{}: the child reported {:?}", case.what, r));
                continue;
            };
            reads += 1;
            max_kib = max_kib.max(peak);
            max_us = max_us.max(us);
            if got == outcome::HIT {
                hits += 1;
                res.violation(format!("{}: a hit", case.what));
            } else if got != case.expect {
                wrong += 1;
                res.violation(format!(
                    "{}: outcome {got}, expected {}",
                    case.what, case.expect
                ));
            }
            if peak > MEMORY_BOUND_KIB {
                over += 1;
                res.violation(format!("{}: peak resident memory {peak} KiB", case.what));
            }
            if Duration::from_micros(us) > TIME_BOUND {
                slow += 1;
                res.violation(format!("{}: the read took {us} µs", case.what));
            }
        }
    }
    res.info(reads, "reads")
        .info(max_kib >> 10, "MiB peak (max)")
        .info(max_us, "µs per read (max)")
        .zero(hits, "hits")
        .zero(wrong, "other outcomes")
        .zero(over, "over 64 MiB")
        .zero(slow, "over 100 ms")
        .note(format!(
            "cap 1 GiB; {} planted kinds: sparse 1 and 16 GiB, 1 TiB declared in 1 GiB, 16 GiB \
             declared in 16 GiB; memory is each reading child's VmHWM",
            cases.len()
        ));
    Ok(res)
}
