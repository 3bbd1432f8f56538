//! Power-loss rows: a loop-mounted ext4 (or XFS) image, writers running, then the
//! filesystem shutdown ioctl, which drops everything the filesystem has not yet written to
//! its device, exactly as a power cut would.
//!
//! Each cut: 2-3 writers put values (each writer owns 256 keys, so a key's puts come from
//! one process in order) and report every put that returned success over a pipe, outside
//! the dying filesystem; after 100-300 ms the filesystem is shut down (flushing its log or
//! not, at random), the writers are killed, the image is unmounted and mounted again (the
//! journal replays), and every key is read:
//! - an acknowledgement counts only if the put returned before the cut began: the harness
//!   creates a flag file (outside the image) just before the ioctl, and a writer reports a
//!   put that returned while the flag existed as `late`. A real power cut kills the writer
//!   with the machine; the ioctl does not, and a call that returns after it proves nothing
//!   (XFS's directory fsync returns success on a shut-down filesystem);
//! - an acknowledged put is *lost* if its key reads as a miss or as an older put;
//! - a *bad file* is an entry file that is not a valid frame for its name;
//! - a *wrong read* is a hit with bytes that are not the key's (never allowed).
//!
//! With `Durability::Full` (fsync of the file, rename, fsync of the directory) nothing may
//! be lost or bad. Without fsync (`Durability::None`) entries may be lost and files torn,
//! but every surviving name must read right or as a miss; that row is also the contrast the
//! matrix asks for: the same cuts must show damage, or the test could not tell durable from
//! non-durable writes.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::time::Duration;

use hoard::Durability;

use super::{Reads, arena, containment, open, put_and_read, range_arg, sweep};
use crate::inspect::{Canary, scan};
use crate::proc::Proc;
use crate::row::{Row, RowResult, Tier};
use crate::sys::{self, Cut, Mount};
use crate::value::Read;

/// Keys per writer.
const KEYS: u32 = 256;
/// At most this many writers per cut.
const WRITERS: u32 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fs {
    Ext4,
    Xfs,
}

impl Fs {
    fn name(self) -> &'static str {
        match self {
            Self::Ext4 => "ext4",
            Self::Xfs => "xfs",
        }
    }

    fn mkfs(self) -> &'static str {
        match self {
            Self::Ext4 => "mkfs.ext4",
            Self::Xfs => "mkfs.xfs",
        }
    }

    /// Image size: XFS refuses filesystems under 300 MiB. The file is sparse.
    fn image_size(self) -> u64 {
        match self {
            Self::Ext4 => 256 << 20,
            Self::Xfs => 320 << 20,
        }
    }
}

/// One power-loss row: a filesystem and a durability.
struct Power {
    fs: Fs,
    durable: bool,
    name: String,
    title: String,
}

/// The power rows: ext4 and XFS, each with and without fsync.
pub(crate) fn rows() -> Vec<Box<dyn Row>> {
    let mut out: Vec<Box<dyn Row>> = Vec::new();
    for fs in [Fs::Ext4, Fs::Xfs] {
        for durable in [true, false] {
            let (n, t) = if durable {
                ("full", "fsync (durability full)")
            } else {
                ("none", "no fsync (contrast)")
            };
            out.push(Box::new(Power {
                fs,
                durable,
                name: format!("power-{}-{n}", fs.name()),
                title: format!("power: {}, {t}", fs.name()),
            }));
        }
    }
    out
}

impl Row for Power {
    fn name(&self) -> &str {
        &self.name
    }

    fn title(&self) -> &str {
        &self.title
    }

    fn run(&self, tier: &Tier) -> RowResult {
        if let Some(why) = sys::cannot_mount() {
            return RowResult::not_run(why);
        }
        if sys::find_tool(self.fs.mkfs()).is_none() {
            return RowResult::not_run(format!("`{}` is not installed", self.fs.mkfs()));
        }
        match self.cuts(tier) {
            Ok(r) | Err(r) => r,
        }
    }
}

/// `<key> <seq>` of an `ack` or `late` line.
fn key_seq(rest: &str) -> Option<(u32, u64)> {
    let (k, seq) = rest.split_once(' ')?;
    Some((k.parse().ok()?, seq.parse().ok()?))
}

/// What the writers acknowledged.
#[derive(Default)]
struct Acks {
    /// The newest acknowledged (before the cut) sequence number of every key, across cuts.
    newest: HashMap<u32, u64>,
    /// This cut's late acknowledgements: puts that returned after the cut began.
    late: Vec<(u32, u64)>,
}

/// Counts over all cuts.
#[derive(Default)]
struct Tally {
    acked: u64,
    lost: u64,
    bad: u64,
    empty: u64,
    wrong: u64,
    read_errors: u64,
    after_cut_failures: u64,
    log_flush: u64,
    late: u64,
    late_lost: u64,
}

impl Power {
    fn durability(&self) -> Durability {
        if self.durable {
            Durability::Full
        } else {
            Durability::None
        }
    }

    fn cuts(&self, tier: &Tier) -> Result<RowResult, RowResult> {
        let fail = |why: String| {
            let mut r = RowResult::ran();
            r.violation(why);
            r
        };
        let dir = arena(&self.name).map_err(fail)?;
        let image = dir.path().join("fs.img");
        File::create(&image)
            .and_then(|f| f.set_len(self.fs.image_size()))
            .map_err(|e| fail(format!("cannot create the image: {e}")))?;
        let mut mkfs = std::process::Command::new(self.fs.mkfs());
        match self.fs {
            Fs::Ext4 => mkfs.args(["-q", "-F"]),
            Fs::Xfs => mkfs.args(["-q", "-f"]),
        };
        sys::run(mkfs.arg(&image)).map_err(RowResult::not_run)?;
        let point = dir.path().join("mnt");
        std::fs::create_dir(&point)
            .map_err(|e| fail(format!("cannot create the mount point: {e}")))?;
        let mut mount = Mount::image(&image, &point)
            .map_err(|e| RowResult::not_run(format!("cannot mount: {e}")))?;
        let root = point.join("cache");
        let canary = Canary::plant(&point, &root)
            .map_err(|e| fail(format!("cannot plant the canary: {e}")))?;
        drop(open(&root, self.durability()).map_err(fail)?);
        sys::syncfs(&point).map_err(|e| fail(format!("syncfs failed: {e}")))?;

        let mut rng = tier.rng(&self.name);
        let cuts = tier.count(100);
        let mut t = Tally::default();
        let mut res = RowResult::ran();
        let mut acks = Acks::default();
        for cut in 0..cuts {
            let n = rng.u32(2..=WRITERS);
            // Created (outside the image) right before the cut; see the module docs.
            let flag = dir.path().join(format!("cut-{cut}"));
            let mut writers = Vec::new();
            acks.late.clear();
            for w in 0..n {
                let keys = w * KEYS..(w + 1) * KEYS;
                let args = [
                    ("dir", root.display().to_string()),
                    ("writer", w.to_string()),
                    ("seed", rng.u64(..).to_string()),
                    ("keys", range_arg(&keys)),
                    ("min", "24".to_owned()),
                    ("max", (64 << 10).to_string()),
                    // Sequence numbers grow across cuts, so an older survivor is told apart.
                    ("seq0", (cut << 32).to_string()),
                    ("durability", self.durability().as_str().to_owned()),
                    ("ack", "1".to_owned()),
                    ("cut", flag.display().to_string()),
                ];
                writers.push(Proc::spawn("writer", &args, None).map_err(fail)?);
            }
            for w in &mut writers {
                w.wait_ready(Duration::from_secs(20)).map_err(fail)?;
            }
            std::thread::sleep(Duration::from_millis(rng.u64(100..=300)));
            let how = if rng.bool() {
                Cut::LogFlush
            } else {
                Cut::NoLogFlush
            };
            if how == Cut::LogFlush {
                t.log_flush += 1;
            }
            File::create(&flag).map_err(|e| fail(format!("cannot create the cut flag: {e}")))?;
            if let Err(e) = sys::shutdown(mount.point(), how) {
                return Err(RowResult::not_run(format!(
                    "the shutdown ioctl failed on {}: {e}",
                    self.fs.name()
                )));
            }
            for w in &mut writers {
                w.kill();
            }
            for mut w in writers {
                let f = w.finish(Duration::from_secs(10));
                if !f.killed() && !f.ok() {
                    res.violation(f.describe("writer"));
                }
                // `fail` lines are puts that met the shutdown (EIO): never acknowledged, so
                // never counted as lost.
                for line in &f.lines {
                    if let Some((k, seq)) = line.strip_prefix("late ").and_then(key_seq) {
                        t.late += 1;
                        acks.late.push((k, seq));
                    } else if let Some((k, seq)) = line.strip_prefix("ack ").and_then(key_seq) {
                        t.acked += 1;
                        let e = acks.newest.entry(k).or_insert(seq);
                        *e = (*e).max(seq);
                    }
                }
            }
            mount.unmount().map_err(fail)?;
            mount.mount().map_err(fail)?;
            self.verify(cut, &root, &mut acks, &mut t, &mut res, &mut rng)?;
        }
        let swept = sweep(&root).map_err(fail)?;
        let after = scan(&root);
        res.info(cuts, "cuts")
            .info(t.acked, "acked puts")
            .info(t.late, "late acks");
        if self.durable {
            res.zero(t.wrong, "wrong reads")
                .zero(t.lost, "acked puts lost")
                .zero(t.bad, "bad files");
        } else {
            res.zero(t.wrong, "wrong reads")
                .info(t.lost, "acked puts lost")
                .info(t.bad, "bad files (read as misses)")
                .positive(t.lost + t.bad, "damage seen (contrast)");
        }
        res.zero(t.read_errors, "read errors")
            .zero(t.after_cut_failures, "failed puts after remount")
            .info(swept, "temps swept")
            .zero(after.temps.len() as u64, "temp files left");
        // While the canary's filesystem is still mounted.
        containment(&mut res, &canary);
        drop(mount);
        res.note(format!(
            "{} cuts flushed the log, {} did not; {} bad files were empty; a key counts as lost \
             (once) when its newest acknowledged put reads as a miss or an older value; {} puts \
             returned after the cut began (late acks, not held to durability), {} of them were \
             lost",
            t.log_flush,
            cuts - t.log_flush,
            t.empty,
            t.late,
            t.late_lost
        ));
        Ok(res)
    }

    /// After a remount: judge every file and every key, then check that a put works.
    fn verify(
        &self,
        cut: u64,
        root: &Path,
        acks: &mut Acks,
        t: &mut Tally,
        res: &mut RowResult,
        rng: &mut fastrand::Rng,
    ) -> Result<(), RowResult> {
        let s = scan(root);
        t.bad += s.bad.len() as u64;
        t.empty += s.empty;
        if self.durable {
            for p in s.bad.iter().take(3) {
                res.violation(format!("cut {cut}: not a valid frame: {}", p.display()));
            }
        }
        let cache = open(root, self.durability()).map_err(|e| {
            let mut r = RowResult::ran();
            r.violation(e);
            r
        })?;
        let mut reads = Reads::default();
        // The newest late acknowledgement of each key, to count how many of them were lost.
        let mut newest_late: HashMap<u32, u64> = HashMap::new();
        for &(k, seq) in &acks.late {
            let e = newest_late.entry(k).or_insert(seq);
            *e = (*e).max(seq);
        }
        for k in 0..WRITERS * KEYS {
            let read = crate::value::read_back(&cache, k);
            if let Some(&seq) = newest_late.get(&k) {
                let survived = matches!(&read, Read::Good(s) if s.seq >= seq);
                if !survived {
                    t.late_lost += 1;
                }
            }
            let acked = acks.newest.get(&k).copied();
            let lost = match (&read, acked) {
                (Read::Good(s), Some(a)) => s.seq < a,
                (Read::Miss | Read::Corrupt(_), Some(_)) => true,
                _ => false,
            };
            if lost {
                t.lost += 1;
                // Counted once: later cuts hold the key to its next acknowledged put only.
                acks.newest.remove(&k);
                if self.durable {
                    res.violation(format!(
                        "cut {cut}: key {k} acknowledged at seq {acked:?} reads as {read:?}"
                    ));
                }
            }
            reads.add(k, read);
        }
        t.wrong += reads.violations();
        t.read_errors += reads.errors;
        for d in &reads.details {
            res.violation(format!("cut {cut}: {d}"));
        }
        // Nothing left by the cut may block a key: a put right after the remount works.
        let k = rng.u32(0..WRITERS * KEYS);
        match put_and_read(&cache, k, (cut << 32) | 0xffff_ffff, 4096) {
            Ok(s) => {
                // Only durable puts are held to surviving the next cut.
                if self.durable {
                    acks.newest.insert(k, s.seq);
                }
            }
            Err(e) => {
                t.after_cut_failures += 1;
                res.violation(format!("cut {cut}: {e}"));
            }
        }
        Ok(())
    }
}
