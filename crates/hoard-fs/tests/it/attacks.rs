//! Symlinks planted at every level of the layout, pointing at a victim tree: hoard must
//! neither read, write nor delete through them.

use std::path::Path;

use hoard_core::{Digest, ErrorKind, Namespace, Store, StoreExt};
use hoard_fs::layout::{EntryName, TEMP_PREFIX, parse_temp};
use proptest::prelude::*;

use crate::{digest, files_below, fresh, ns};

/// A victim tree outside the cache, and a fingerprint of everything in it.
fn victim(base: &Path) -> (std::path::PathBuf, Vec<(std::path::PathBuf, Vec<u8>)>) {
    let v = base.join("victim");
    std::fs::create_dir_all(v.join("sub")).expect("mkdir victim");
    for (name, body) in [
        ("a", "precious a"),
        ("sub/b", "precious b"),
        ("c", "precious c"),
    ] {
        use std::io::Write;
        let mut f = std::fs::File::create(v.join(name)).expect("create victim file");
        f.write_all(body.as_bytes()).expect("write victim file");
    }
    let print = fingerprint(&v);
    (v, print)
}

fn fingerprint(root: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    files_below(root)
        .into_iter()
        .map(|p| {
            let body = std::fs::read(root.join(&p)).expect("read victim");
            (p, body)
        })
        .collect()
}

#[test]
fn a_symlink_at_an_entry_name_is_never_followed() {
    let (dir, store) = fresh();
    let (v, print) = victim(dir.path());
    let n = ns("n");
    let entry = store.entry_path(&n, &digest(1));
    std::fs::create_dir_all(entry.parent().expect("parent")).expect("mkdir");
    if !crate::plant_link(v.join("a"), &entry) {
        return;
    }

    let err = store
        .get(&n, &digest(1), 1 << 20)
        .expect_err("symlink refused");
    assert_eq!(err.kind(), ErrorKind::Insecure, "{err}");
    assert!(
        store.entries().expect("list").is_empty(),
        "a symlink is not listed"
    );
    // Removing the entry removes the link, not its target.
    assert!(store.remove(&n, &digest(1)).expect("remove"));
    assert!(v.join("a").exists());
    // A put over a planted link replaces the link itself.
    if !crate::plant_link(v.join("c"), &entry) {
        return;
    }
    store.put(&n, &digest(1), b"mine").expect("put");
    assert_eq!(
        store.get(&n, &digest(1), 100).expect("get").as_deref(),
        Some(&b"mine"[..])
    );
    assert_eq!(fingerprint(&v), print, "the victim tree changed");
}

#[test]
fn symlinked_directories_at_every_level_are_never_followed() {
    for level in ["v1", "v1/n", "shard"] {
        let (dir, store) = fresh();
        let (v, print) = victim(dir.path());
        let n = ns("n");
        let root = dir.path().join("cache");
        let planted = match level {
            "shard" => store
                .entry_path(&n, &digest(1))
                .parent()
                .expect("shard")
                .to_path_buf(),
            other => root.join(other),
        };
        if planted.exists() {
            #[expect(
                clippy::disallowed_methods,
                reason = "the attacker clears a level to plant a link"
            )]
            std::fs::remove_dir_all(&planted).expect("clear the level");
        }
        std::fs::create_dir_all(planted.parent().expect("parent")).expect("mkdir parents");
        if !crate::plant_link(&v, &planted) {
            return;
        }

        let got = store.get(&n, &digest(1), 1 << 20);
        assert!(!matches!(got, Ok(Some(_))), "{level}: read through a link");
        let put = store.put(&n, &digest(1), b"frame");
        assert!(put.is_err(), "{level}: wrote through a link");
        // Refused as insecure, not "nothing there": the caller must not take it for gone.
        assert_eq!(
            store.remove(&n, &digest(1)).map_err(|e| e.kind()),
            Err(ErrorKind::Insecure),
            "{level}: remove through a link"
        );
        match store.entries() {
            Ok(listed) => assert!(listed.is_empty(), "{level}: listed through a link"),
            Err(e) => assert_eq!(e.kind(), ErrorKind::Insecure, "{level}: {e}"),
        }
        assert_eq!(fingerprint(&v), print, "{level}: the victim tree changed");
        assert!(
            std::fs::symlink_metadata(&planted)
                .expect("link")
                .file_type()
                .is_symlink()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Any namespace string is either refused or names a directory directly below `v1/`.
    #[test]
    fn arbitrary_namespaces_never_leave_the_root(name in any::<String>(), raw in proptest::collection::vec(any::<u8>(), 0..40)) {
        let lossy = String::from_utf8_lossy(&raw).into_owned();
        for candidate in [name, lossy, format!("../{}", raw.len()), "a/../../b".to_owned()] {
            if let Ok(ns) = Namespace::new(&candidate) {
                let (dir, store) = fresh();
                let path = store.entry_path(&ns, &digest(1));
                let rel = path.strip_prefix(dir.path().join("cache/v1")).expect("below v1");
                prop_assert_eq!(rel.components().count(), 3);
                prop_assert!(rel.components().all(|c| matches!(c, std::path::Component::Normal(_))));
            }
        }
    }

    /// The stable twin of the `namespace_path` fuzz target's name checks: whatever parses
    /// as an entry or temp name is respelled identically, is one path component, and names
    /// its own shard; valid names and one-byte changes of them included.
    #[test]
    fn entry_and_temp_names_parse_exactly(
        raw in proptest::collection::vec(any::<u8>(), 0..80),
        digest in any::<[u8; 32]>(),
        nonce in any::<u64>(),
        at in any::<usize>(),
        byte in any::<u8>(),
    ) {
        let name = EntryName::new(&Digest::from_bytes(digest));
        prop_assert_eq!(EntryName::parse(name.as_str()), Some(name));
        let temp = name.temp_name(nonce);
        prop_assert_eq!(parse_temp(&temp), Some((name, nonce)));
        let mutate = |s: &str| {
            let mut b = s.as_bytes().to_vec();
            let i = at % b.len();
            b[i] = byte;
            String::from_utf8_lossy(&b).into_owned()
        };
        let candidates = [String::from_utf8_lossy(&raw).into_owned(), mutate(name.as_str()), mutate(&temp)];
        for text in candidates {
            if let Some(n) = EntryName::parse(&text) {
                prop_assert_eq!(n.as_str(), text.as_str());
                prop_assert_eq!(EntryName::new(n.digest()), n);
                prop_assert!(one_component(n.as_str()) && !n.as_str().starts_with('.'));
                prop_assert_eq!(n.shard(), format!("{:02x}", n.digest().as_bytes()[0]));
            }
            if let Some((n, nonce)) = parse_temp(&text) {
                prop_assert_eq!(n.temp_name(nonce), text.clone());
                prop_assert!(one_component(&text) && text.starts_with(TEMP_PREFIX));
                prop_assert!(EntryName::parse(&text).is_none());
            }
        }
    }
}

/// Whether `name` is exactly one normal path component.
fn one_component(name: &str) -> bool {
    let mut parts = Path::new(name).components();
    matches!(
        (parts.next(), parts.next()),
        (Some(std::path::Component::Normal(c)), None) if c == std::ffi::OsStr::new(name)
    )
}
