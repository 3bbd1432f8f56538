//! Security rows: another user attacking a group-shared cache, and roots hoard must refuse.
//!
//! The attacker is uid/gid 65534 (`setpriv --reuid=65534 --regid=65534 --clear-groups`;
//! root ignores permission bits, so it must not be root) running a small Perl program
//! (`perl-base` is essential on Debian) that can write where the cache's group may. The
//! victim tree is the harness's canary beside the cache root, which the attacker cannot
//! write itself; its links point there. Invariant I5: the canary's fingerprint never
//! changes and nothing appears beside the root.
//!
//! - `security-planted`: symlinks at entry names, temp names, a shard, a namespace, the
//!   state files and lock files, then rounds of puts, gets, cleanups (evicting, sweeping),
//!   recompression, last-use updates and usage merges.
//! - `security-swap`: the attacker swaps directories and entries for links and back in a
//!   tight loop while the same rounds run.
//! - `security-roots`: a root owned by another user, group- or world-writable, or a
//!   symlink is refused with a message naming it and why, and the best-effort cache still
//!   returns every computed value.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hoard::evict::{Janitor, Limits, ManualClock, WorkerConfig};
use hoard::{Cache, CacheBuilder, ErrorKind, FsOptions, FsStore, Housekeeping, Identity};

use super::{arena, containment};
use crate::inspect::Canary;
use crate::row::{Row, RowResult, Tier};
use crate::sys;
use crate::value::{self, Read, Stamp};

/// The rows of this module.
pub(crate) fn rows() -> Vec<Box<dyn Row>> {
    vec![
        Box::new(Attack { swap: false }),
        Box::new(Attack { swap: true }),
        Box::new(Roots),
    ]
}

const NOBODY: u32 = 65534;
const KEYS: u32 = 32;

/// Plants links to the victim at every level of the layout.
const PLANT: &str = r#"
my ($root, $v) = @ARGV;
my @ns = grep { -d $_ && !-l $_ } glob("$root/v1/*");
for my $ns (@ns) {
    my $i = 0;
    for my $shard (grep { -d $_ && !-l $_ } glob("$ns/*")) {
        if ($i++ == 0) { rename($shard, "$shard.moved"); symlink($v, $shard); next; }
        my $j = 0;
        for my $e (glob("$shard/*")) {
            my ($name) = $e =~ m{([^/]+)$};
            symlink("$v/sub/data.bin", sprintf("%s/.tmp-%s-%016x", $shard, $name, $j));
            if ($j++ % 2 == 0) { unlink($e); symlink("$v/notes.txt", $e); }
        }
    }
}
symlink($v, "$root/v1/evil");
mkdir("$root/v1/other"); symlink($v, "$root/v1/other/00");
for my $s (qw(accounting usage cleanup-marker counters cleanup.lock usage.lock)) {
    unlink("$root/state/$s"); symlink("$v/notes.txt", "$root/state/$s");
}
symlink("$v/notes.txt", "$root/state/.tmp-usage-00000000000000ff");
"#;

/// Swaps directories and entries for links to the victim and back until killed.
const SWAP: &str = r#"
my ($root, $v) = @ARGV;
srand(7);
while (1) {
    my @t = ("$root/v1", "$root/state");
    for my $ns (glob("$root/v1/*")) {
        push @t, $ns;
        for my $shard (glob("$ns/*")) { push @t, $shard; my @e = glob("$shard/*"); push @t, @e[0 .. ($#e < 3 ? $#e : 3)]; }
    }
    for (1 .. 500) {
        my $t = $t[int(rand(@t))];
        next if !defined($t) || -l $t;
        my $a = "$t.swapped";
        rename($t, $a) or next;
        symlink(-d $a ? $v : "$v/notes.txt", $t);
        unlink($t);
        rename($a, $t);
    }
}
"#;

/// Why the attacker cannot run here.
fn cannot_attack() -> Option<String> {
    if !sys::is_root() {
        return Some("needs root to run an attacker as uid 65534".to_owned());
    }
    for tool in ["setpriv", "perl"] {
        if sys::find_tool(tool).is_none() {
            return Some(format!("`{tool}` is not installed"));
        }
    }
    None
}

fn attacker(program: &str, root: &Path, victim: &Path) -> Result<Child, String> {
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            "perl",
            "-e",
        ])
        .arg(program)
        .arg(root)
        .arg(victim)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the attacker: {e}"))
}

struct Attack {
    swap: bool,
}

impl Row for Attack {
    fn name(&self) -> &str {
        if self.swap {
            "security-swap"
        } else {
            "security-planted"
        }
    }

    fn title(&self) -> &str {
        if self.swap {
            "security: swap loop vs puts/cleanups"
        } else {
            "security: planted symlinks"
        }
    }

    fn run(&self, tier: &Tier) -> RowResult {
        if let Some(why) = cannot_attack() {
            return RowResult::not_run(why);
        }
        attack(self.swap, tier).unwrap_or_else(|why| {
            let mut r = RowResult::ran();
            r.violation(why);
            r
        })
    }
}

/// One round of everything the victim does; returns (reads, wrong reads).
fn victim_round(cache: &Cache, root: &Path, seq: u64) -> (u64, u64) {
    let (mut reads, mut wrong) = (0, 0);
    for k in 0..KEYS {
        reads += 1;
        if matches!(value::read_back(cache, k), Read::Wrong(_) | Read::Short) {
            wrong += 1;
        }
        let stamp = Stamp {
            key: k,
            writer: value::HARNESS,
            seq,
        };
        cache.put(
            &value::key(cache, k),
            &value::make(stamp, 100 + k as usize * 40),
        );
    }
    let Ok(store) = FsStore::open_with(root, FsOptions::new().group_shared(true)) else {
        return (reads, wrong);
    };
    let store: Arc<dyn Housekeeping> = Arc::new(store);
    let evicting = Janitor::new(
        Arc::clone(&store),
        WorkerConfig::new().limits(Limits::new(u64::from(KEYS / 2), 1 << 30)),
    );
    let _ = evicting.cleanup_now();
    let ahead = Arc::new(ManualClock::new(
        SystemTime::now() + Duration::from_secs(7200),
    ));
    let _ = Janitor::new(Arc::clone(&store), WorkerConfig::new())
        .with_clock(ahead)
        .cleanup_now();
    let _ = evicting.recompress_all(&Identity, None);
    let used: Vec<_> = (0..KEYS)
        .map(|k| (*value::key(cache, k).digest(), SystemTime::UNIX_EPOCH))
        .collect();
    let _ = store.touch(cache.namespace(), &used);
    let _ = evicting.merge_usage(cache.namespace(), &[(*value::key(cache, 0).digest(), 2)]);
    (reads, wrong)
}

fn attack(swap: bool, tier: &Tier) -> Result<RowResult, String> {
    let mut res = RowResult::ran();
    let dir = arena(if swap {
        "security-swap"
    } else {
        "security-planted"
    })?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("chmod the arena: {e}"))?;
    let root = dir.path().join("cache");
    std::fs::create_dir(&root).map_err(|e| e.to_string())?;
    std::os::unix::fs::chown(&root, Some(0), Some(NOBODY)).map_err(|e| e.to_string())?;
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o2770))
        .map_err(|e| e.to_string())?;
    let canary = Canary::plant(dir.path(), &root).map_err(|e| format!("canary: {e}"))?;
    let victim = dir.path().join("canary");
    let cache = CacheBuilder::new(&root)
        .namespace(value::NAMESPACE)
        .group_shared(true)
        .without_worker()
        .build()
        .map_err(|e| format!("cannot open the shared cache: {e}"))?;
    let (mut reads, mut wrong, mut rounds) = (0u64, 0u64, 0u64);
    let (r, w) = victim_round(&cache, &root, 0);
    reads += r;
    wrong += w;
    let links;
    if swap {
        let mut child = attacker(SWAP, &root, &victim)?;
        let until = Instant::now() + Duration::from_secs(tier.count(10));
        while Instant::now() < until {
            rounds += 1;
            let (r, w) = victim_round(&cache, &root, rounds);
            reads += r;
            wrong += w;
        }
        let _ = child.kill();
        let status = child.wait().map_err(|e| e.to_string())?;
        if status.code().is_some() {
            res.violation(format!("the attacker stopped on its own: {status}"));
        }
        links = count_links(&root);
    } else {
        let out = attacker(PLANT, &root, &victim)?
            .wait_with_output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            res.violation(format!(
                "the attacker failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        links = count_links(&root);
        if links < 10 {
            res.violation(format!("the attacker planted only {links} links"));
        }
        for seq in 1..=tier.count(3) {
            rounds += 1;
            let (r, w) = victim_round(&cache, &root, seq);
            reads += r;
            wrong += w;
        }
    }
    res.info(rounds, "victim rounds").info(reads, "reads");
    if !swap {
        res.info(links, "links planted");
    }
    res.zero(wrong, "wrong reads");
    containment(&mut res, &canary);
    Ok(res)
}

/// Symlinks below `root` (the attacker's work still in place).
fn count_links(root: &Path) -> u64 {
    let mut n = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_symlink() {
                n += 1;
            } else if p.is_dir() {
                stack.push(p);
            }
        }
    }
    n
}

struct Roots;

impl Row for Roots {
    fn name(&self) -> &str {
        "security-roots"
    }

    fn title(&self) -> &str {
        "security: insecure roots refused"
    }

    fn run(&self, _tier: &Tier) -> RowResult {
        roots().unwrap_or_else(|why| {
            let mut r = RowResult::ran();
            r.violation(why);
            r
        })
    }
}

fn roots() -> Result<RowResult, String> {
    let mut res = RowResult::ran();
    let dir = arena("security-roots")?;
    let mut cases = Vec::new();
    for (name, mode, word) in [
        ("world", 0o777, "world-writable"),
        ("group", 0o770, "group-writable"),
    ] {
        let p = dir.path().join(name);
        std::fs::create_dir(&p).map_err(|e| e.to_string())?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
            .map_err(|e| e.to_string())?;
        cases.push((p, word));
    }
    let real = dir.path().join("real");
    std::fs::create_dir(&real).map_err(|e| e.to_string())?;
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| e.to_string())?;
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&real, &link).map_err(|e| e.to_string())?;
    cases.push((link, "symlink"));
    if sys::is_root() {
        let theirs = dir.path().join("theirs");
        std::fs::create_dir(&theirs).map_err(|e| e.to_string())?;
        std::os::unix::fs::chown(&theirs, Some(NOBODY), Some(NOBODY)).map_err(|e| e.to_string())?;
        cases.push((theirs, "owned by uid 65534"));
    } else {
        res.note("not run: the other-owner case needs root to chown");
    }
    let (mut refused, mut unclear, mut computed, mut written) = (0u64, 0u64, 0u64, 0u64);
    for (root, word) in &cases {
        match CacheBuilder::new(root).build() {
            Err(e) if e.kind() == ErrorKind::Insecure => {
                refused += 1;
                let text = e.to_string();
                if !text.contains(word) || !text.contains(&root.display().to_string()) {
                    unclear += 1;
                    res.violation(format!("unclear refusal: {text}"));
                }
            }
            other => {
                res.violation(format!("{} not refused: {other:?}", root.display()));
            }
        }
        let cache = CacheBuilder::new(root).build_or_uncached();
        let k = cache.key(b"input");
        for _ in 0..2 {
            if cache.get_or_compute(&k, || b"computed".to_vec()) == b"computed" {
                computed += 1;
            }
        }
        let target = if root.is_symlink() { &real } else { root };
        written += std::fs::read_dir(target).map_or(0, |d| d.count() as u64);
    }
    res.info(refused, "refused")
        .info(computed, "values computed")
        .zero(cases.len() as u64 - refused, "accepted")
        .zero(unclear, "unclear messages")
        .zero(cases.len() as u64 * 2 - computed, "values lost")
        .zero(written, "files written into refused roots");
    Ok(res)
}
