//! `config new | show | path`, configuration errors, usage errors, completions and the man
//! page.

use std::collections::BTreeSet;

use hoard::CacheConfig;

use crate::{Env, s};

/// The keys a file lists, commented out or not (`# key = value` / `key = value`).
fn keys_of(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(|l| l.trim_start_matches("# "))
        .filter_map(|l| l.split_once(" = ").map(|(k, _)| k))
        .filter(|k| k.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn config_new_writes_the_default_file_once_and_path_finds_it() {
    let env = Env::new();
    let r = env.run_bare(&["config", "path"]).expect_code(0);
    let default = env.path("xdg-config").join("hoard").join("config.toml");
    assert_eq!(r.stdout(), format!("{}\n", default.display()));

    let r = env.run_bare(&["config", "new"]).expect_code(0);
    assert!(r.stderr.contains(s(&default)), "{}", r.stderr);
    let written = std::fs::read_to_string(&default).expect("created");
    assert!(keys_of(&written).contains("files-total-size-soft-limit"));
    // It loads back as the defaults, and is never overwritten.
    assert_eq!(
        CacheConfig::load(&default).expect("loads"),
        CacheConfig::default()
    );
    let r = env.run_bare(&["config", "new"]).expect_code(2);
    assert!(
        r.one_error_line().contains("refusing to overwrite") && r.stderr.contains(s(&default)),
        "{}",
        r.stderr
    );

    // An explicit path, and $HOARD_CONFIG.
    let mine = env.path("elsewhere/mine.toml");
    env.run_bare(&["config", "new", s(&mine)]).expect_code(0);
    assert!(mine.is_file());
    let mut cmd = env.command();
    cmd.env("HOARD_CONFIG", &mine).args(["config", "path"]);
    let out = cmd.output().expect("runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", mine.display())
    );
}

#[test]
fn config_show_prints_every_key_and_loads_back_to_the_same_settings() {
    let env = Env::new();
    let file = env.file(
        "custom.toml",
        b"[cache]\ncodec = \"lz4\"\ncleanup-interval = \"90m\"\nfiles-total-size-soft-limit = \"2Gi\"\n",
    );
    let r = env
        .run(&[
            "--config",
            s(&file),
            "--namespace",
            "tool-1.2",
            "config",
            "show",
        ])
        .expect_code(0);
    let shown = r.stdout();
    assert!(
        shown.contains(&format!("# Read from {}", file.display())),
        "{shown}"
    );
    let loaded = CacheConfig::from_toml_str(&shown, None).expect("the output is a valid config");
    let mut expected = CacheConfig::load(&file).expect("loads");
    expected.directory = Some(env.dir());
    expected.namespace = "tool-1.2".to_owned();
    assert_eq!(loaded, expected);
    assert!(
        shown.contains("files-total-size-soft-limit = \"2Gi\""),
        "{shown}"
    );
    assert!(shown.contains("cleanup-interval = \"90m\""), "{shown}");

    // Exactly the keys of a new configuration file: none forgotten, none invented.
    let default = env.path("default.toml");
    env.run_bare(&["config", "new", s(&default)]).expect_code(0);
    let text = std::fs::read_to_string(&default).expect("written");
    // Without a remote, `show` has no [cache.remote] table (the remote test checks that one).
    let (cache_part, _remote_part) = text
        .split_once("# [cache.remote]")
        .expect("the default file lists the remote table");
    assert_eq!(keys_of(&shown), keys_of(cache_part));
}

#[test]
fn a_bad_configuration_is_one_line_naming_the_key() {
    let env = Env::new();
    let cases: [(&[u8], &str); 4] = [
        (
            b"[cache]\nfile-count-soft-limit = \"12 apples\"\n",
            "file-count-soft-limit",
        ),
        (b"[cache]\ncleanup_interval = \"1h\"\n", "cleanup-interval"),
        (b"[cache]\ncodec = \"brotli\"\n", "codec"),
        (
            b"[cache]\nbaseline-compression-level = 9\noptimized-compression-level = 4\n",
            "optimized-compression-level",
        ),
    ];
    for (i, (text, key)) in cases.iter().enumerate() {
        let file = env.file(&format!("bad{i}.toml"), text);
        for args in [
            &["stats"][..],
            &["get", "k"],
            &["put", "k", "-"],
            &["config", "show"],
        ] {
            let mut all = vec!["--config", s(&file)];
            all.extend_from_slice(args);
            let r = env.run(&all).expect_code(2);
            let line = r.one_error_line();
            assert!(line.contains(key), "{line}");
            assert!(line.contains(s(&file)), "{line}");
        }
    }
    assert!(!env.dir().exists(), "nothing was opened");
    // $HOARD_CONFIG naming a missing file is an error too (it must exist).
    let mut cmd = env.command();
    cmd.env("HOARD_CONFIG", env.path("missing.toml"))
        .arg("stats");
    let out = cmd.output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("missing.toml") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let env = Env::new();
    for args in [
        &[][..],
        &["frobnicate"],
        &["get"],
        &["evict"],
        &["evict", "--older-than", "1d", "--namespace", "x"],
        &["evict", "--older-than", "1 fortnight"],
        &["gc", "--max-size", "12QB"],
        &["gc", "--max-files", "-3"],
        &["recompress"],
        &["-v", "-q", "ls"],
        &["completions", "tcsh"],
        &["man", "frobnicate"],
    ] {
        let r = env.run_bare(args);
        assert_eq!(r.code, 2, "hoard {}: {}", args.join(" "), r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
    let r = env.run_bare(&["gc", "--max-size", "12QB"]);
    assert!(
        r.stderr.contains("12QB") && r.stderr.contains("unknown unit"),
        "{}",
        r.stderr
    );
    // Help and version are not errors.
    env.run_bare(&["--help"]).expect_code(0);
    let r = env.run_bare(&["--version"]).expect_code(0);
    assert!(r.stdout().starts_with("hoard "), "{}", r.stdout());
    let help = env.run_bare(&["--help"]).stdout();
    assert!(help.contains("Exit status"), "{help}");
}

#[test]
fn completions_and_man_pages_come_from_the_definition() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = env
            .run_bare(&["completions", shell])
            .expect_code(0)
            .stdout();
        for word in ["hoard", "recompress", "older-than"] {
            assert!(out.contains(word), "{shell} completions lack {word}");
        }
    }
    let page = env.run_bare(&["man"]).expect_code(0).stdout();
    assert!(page.contains(".TH hoard 1"), "{page}");
    for section in [
        ".SH SYNOPSIS",
        ".SH OPTIONS",
        ".SH KEYS",
        ".SH ENVIRONMENT",
        ".SH \"EXIT STATUS\"",
    ] {
        assert!(page.contains(section), "{section} missing");
    }
    assert!(
        page.contains("hoard\\-gc(1)"),
        "the page lists the commands' pages"
    );
    let gc = env.run_bare(&["man", "gc"]).expect_code(0).stdout();
    assert!(
        gc.contains(".TH hoard-gc 1") && gc.contains("max\\-size"),
        "{gc}"
    );
    let new = env
        .run_bare(&["man", "config", "new"])
        .expect_code(0)
        .stdout();
    assert!(new.contains(".TH hoard-config-new 1"), "{new}");
}

#[test]
fn config_show_keeps_the_adaptive_format() {
    let env = Env::new();
    let file = env.file(
        "adaptive.toml",
        b"[cache]\ncodec = \"adaptive\"\nadaptive-hot-uses = \"4\"\nadaptive-cold-after = \"2h\"\n",
    );
    let shown = env
        .run(&["--config", s(&file), "config", "show"])
        .expect_code(0)
        .stdout();
    assert!(shown.contains("codec = \"adaptive\""), "{shown}");
    assert!(shown.contains("adaptive-hot-uses = \"4\""), "{shown}");
    let loaded = CacheConfig::from_toml_str(&shown, None).expect("the output is a valid config");
    let mut expected = CacheConfig::load(&file).expect("loads");
    expected.directory = Some(env.dir());
    assert_eq!(loaded, expected);
}
