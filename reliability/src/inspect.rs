//! Looking at a cache directory and its surroundings from outside hoard.
//!
//! [`scan`] walks the FsStore layout itself and checks every entry file as a frame (what a
//! reader would get if it opened the file now), and counts temp files. [`Canary`] plants a
//! small tree beside the cache root and fingerprints everything beside the root, so that a
//! row can show invariant I5: nothing outside the cache root was created, written,
//! truncated, chmod'ed, touched or deleted.

use std::collections::BTreeMap;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hoard::frame::Frame;
use hoard::{Digest, Key};
use hoard_fs::layout::{self, EntryName, LAYOUT_DIR, STATE_DIR};

/// The largest decoded length a scanned frame may declare (no row stores more).
const SCAN_CAP: u64 = 1 << 30;

/// What [`scan`] found.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scan {
    /// Entry files (named like entries).
    pub(crate) entries: u64,
    /// Their total size.
    pub(crate) bytes: u64,
    /// Entry files that are not a valid frame for the digest they are named after (torn,
    /// empty, another key's); a reader gets a miss for them, but they should not exist.
    pub(crate) bad: Vec<PathBuf>,
    /// How many of `bad` are empty files (the classic result of rename without fsync).
    pub(crate) empty: u64,
    /// Temp files of entries: the digest they belong to and their path.
    pub(crate) temps: Vec<(Digest, PathBuf)>,
    /// Temp files of sidecar state (`state/.tmp-*`).
    pub(crate) state_temps: u64,
    /// Names below `v1/` that are neither entries, temps nor layout directories.
    pub(crate) foreign: Vec<PathBuf>,
}

/// Walks `root`'s layout: `v1/<namespace>/<shard>/<name>` and `state/`.
pub(crate) fn scan(root: &Path) -> Scan {
    let mut out = Scan::default();
    for ns in children(&root.join(LAYOUT_DIR)) {
        if !ns.is_dir() {
            out.foreign.push(ns);
            continue;
        }
        for shard in children(&ns) {
            let is_shard = shard
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(layout::is_shard_name);
            if !is_shard || !shard.is_dir() {
                out.foreign.push(shard);
                continue;
            }
            for file in children(&shard) {
                scan_file(&file, &mut out);
            }
        }
    }
    out.state_temps = children(&root.join(STATE_DIR))
        .iter()
        .filter(|p| name_of(p).starts_with(layout::TEMP_PREFIX))
        .count() as u64;
    out
}

fn scan_file(file: &Path, out: &mut Scan) {
    let name = name_of(file);
    if let Some((entry, _)) = layout::parse_temp(&name) {
        out.temps.push((*entry.digest(), file.to_path_buf()));
        return;
    }
    let Some(entry) = EntryName::parse(&name) else {
        out.foreign.push(file.to_path_buf());
        return;
    };
    out.entries += 1;
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        // Evicted or replaced between the listing and the read: nothing to judge.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            out.entries -= 1;
            return;
        }
        Err(_) => {
            out.bad.push(file.to_path_buf());
            return;
        }
    };
    out.bytes += bytes.len() as u64;
    if bytes.is_empty() {
        out.empty += 1;
        out.bad.push(file.to_path_buf());
        return;
    }
    let good = Frame::parse(&bytes).is_ok_and(|f| {
        let key = Key::new(f.header().hasher, *entry.digest());
        f.verify_for(&key, SCAN_CAP).is_ok()
    });
    if !good {
        out.bad.push(file.to_path_buf());
    }
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The entries of directory `dir`, sorted; empty if it does not exist or cannot be read.
fn children(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

/// What a fingerprint records of one path: everything a write, truncation, chmod, touch or
/// deletion changes (not the access time, which reading changes).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Node {
    kind: &'static str,
    mode: u32,
    uid: u32,
    len: u64,
    mtime: (i64, i64),
    content: u64,
}

/// A tree beside the cache root whose fingerprint must not change.
#[derive(Debug)]
pub(crate) struct Canary {
    arena: PathBuf,
    skip: PathBuf,
    before: BTreeMap<PathBuf, Node>,
}

impl Canary {
    /// Plants a few files, a subdirectory and a symlink in `arena/canary`, then fingerprints
    /// everything in `arena` except the cache root `skip` (which may not exist yet).
    pub(crate) fn plant(arena: &Path, skip: &Path) -> std::io::Result<Self> {
        let dir = arena.join("canary");
        std::fs::create_dir_all(dir.join("sub"))?;
        let mut f = File::create(dir.join("notes.txt"))?;
        f.write_all(b"a file that no cache operation may touch\n")?;
        let mut f = File::create(dir.join("sub/data.bin"))?;
        let data: Vec<u8> = (0..4096u32).map(|i| (i * 31 % 251) as u8).collect();
        f.write_all(&data)?;
        std::fs::set_permissions(
            dir.join("sub/data.bin"),
            std::fs::Permissions::from_mode(0o640),
        )?;
        std::os::unix::fs::symlink("notes.txt", dir.join("link"))?;
        Ok(Self {
            arena: arena.to_path_buf(),
            skip: skip.to_path_buf(),
            before: fingerprint(arena, skip),
        })
    }

    /// What changed outside the cache root since [`plant`](Self::plant): one line per
    /// created, deleted or modified path (empty if nothing did).
    pub(crate) fn changes(&self) -> Vec<String> {
        let after = fingerprint(&self.arena, &self.skip);
        let mut out = Vec::new();
        for (p, n) in &self.before {
            match after.get(p) {
                None => out.push(format!("deleted {}", p.display())),
                Some(m) if m != n => out.push(format!("modified {}: {n:?} -> {m:?}", p.display())),
                Some(_) => {}
            }
        }
        for p in after.keys().filter(|p| !self.before.contains_key(*p)) {
            out.push(format!("created {}", p.display()));
        }
        out
    }
}

fn fingerprint(arena: &Path, skip: &Path) -> BTreeMap<PathBuf, Node> {
    let mut out = BTreeMap::new();
    let mut stack = vec![arena.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for path in children(&dir) {
            if path == skip {
                continue;
            }
            let Ok(md) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let ft = md.file_type();
            let (kind, content) = if ft.is_symlink() {
                let target = std::fs::read_link(&path).unwrap_or_default();
                ("symlink", hash_of(target.as_os_str().as_encoded_bytes()))
            } else if ft.is_dir() {
                stack.push(path.clone());
                ("dir", 0)
            } else if ft.is_file() {
                (
                    "file",
                    std::fs::read(&path).map_or(u64::MAX, |b| hash_of(&b)),
                )
            } else {
                ("other", 0)
            };
            // A directory's mtime changes when something is created in it, which the
            // listing itself shows; recording it too would also flag lost+found's upkeep.
            let mtime = if kind == "dir" {
                (0, 0)
            } else {
                (md.mtime(), md.mtime_nsec())
            };
            out.insert(
                path,
                Node {
                    kind,
                    mode: md.mode(),
                    uid: md.uid(),
                    len: if kind == "dir" { 0 } else { md.len() },
                    mtime,
                    content,
                },
            );
        }
    }
    out
}

fn hash_of(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canary_sees_writes_beside_the_root_but_not_inside_it() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let root = dir.path().join("cache");
        let canary = Canary::plant(dir.path(), &root).expect("plant the canary");
        std::fs::create_dir_all(root.join("v1")).expect("a fake cache");
        File::create(root.join("v1/x")).expect("a file inside the root");
        assert!(canary.changes().is_empty(), "{:?}", canary.changes());
        File::create(dir.path().join("stray")).expect("a file beside the root");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("canary/notes.txt"))
            .expect("open a canary file");
        f.write_all(b"!").expect("append");
        let changes = canary.changes();
        assert_eq!(changes.len(), 2, "{changes:?}");
    }
}
