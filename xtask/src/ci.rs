//! `cargo xtask ci`: every check CI runs, in order, failing fast.
//!
//! Each step prints its command before it runs and its duration after; a failure prints
//! `xtask: step <name> failed` and stops. A summary table of the steps that ran closes the
//! output either way. The crates and features of the feature matrix come from
//! `cargo metadata`, so new crates and features are checked without editing this file.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cargo_metadata::MetadataCommand;

use crate::tidy;

/// The advisory database snapshot, relative to the repository root: a tarball the CI machines
/// keep beside the checkout.
const ADVISORY_DB_TARBALL: &str = "../shared/data/rustsec-advisory-db.tar.gz";

/// The directory name cargo-deny derives from the default advisory database URL; the
/// snapshot must be extracted under it for `db-path = "$ADVISORY_DB_ROOT"` to find it.
const ADVISORY_DB_DIR: &str = "advisory-db-3157b0e258782691";

/// Options of `cargo xtask ci`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Options {
    /// Skip plain `cargo test` (nextest and the doctests still run), the feature matrix and
    /// `cargo doc`.
    pub(crate) quick: bool,
    /// Print the steps instead of running them.
    pub(crate) list: bool,
}

/// What a step does.
#[derive(Debug)]
enum Action {
    /// Run `cargo` with these arguments and extra environment variables.
    Cargo {
        args: Vec<String>,
        env: Vec<(&'static str, String)>,
    },
    /// Run the tidy checks in process.
    Tidy,
    /// Run cargo-deny, offline against the shared advisory snapshot when there is one.
    Deny,
}

/// One named step.
#[derive(Debug)]
struct Step {
    name: String,
    action: Action,
}

impl Step {
    fn cargo(name: impl Into<String>, args: &[&str]) -> Self {
        Self {
            name: name.into(),
            action: Action::Cargo {
                args: args.iter().map(|&a| a.to_owned()).collect(),
                env: Vec::new(),
            },
        }
    }
}

/// How a step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It ran and passed.
    Ok,
    /// It did not run, for a reason it printed.
    Skipped,
    /// It ran and failed.
    Failed,
}

/// Runs every step; `Err` after the first failure (already reported on stderr).
pub(crate) fn run(root: &Path, options: Options) -> Result<(), ()> {
    match plan(root, options) {
        Ok(steps) if options.list => {
            for step in &steps {
                println!("{:<32} {}", step.name, describe(step));
            }
            Ok(())
        }
        Ok(steps) => run_steps(root, &steps).map(|_| ()).map_err(|_| ()),
        Err(e) => {
            eprintln!("xtask: step plan failed: {e}");
            Err(())
        }
    }
}

/// Runs `steps` in order until one fails, then prints the summary; returns the outcomes of
/// the steps that ran, in `Ok` if all passed or were skipped, in `Err` otherwise.
fn run_steps(root: &Path, steps: &[Step]) -> Result<Vec<Outcome>, Vec<Outcome>> {
    let mut done: Vec<(String, Outcome, Duration)> = Vec::new();
    let mut failed = None;
    for step in steps {
        println!("\nxtask: step {}", step.name);
        let start = Instant::now();
        let result = execute(root, step);
        let elapsed = start.elapsed();
        let outcome = match &result {
            Ok(o) => *o,
            Err(_) => Outcome::Failed,
        };
        println!("xtask: step {} took {}", step.name, secs(elapsed));
        done.push((step.name.clone(), outcome, elapsed));
        if let Err(e) = result {
            eprintln!("xtask: step {} failed: {e}", step.name);
            failed = Some(&step.name);
            break;
        }
    }
    summary(&done, steps.len());
    let outcomes = done.iter().map(|(_, o, _)| *o).collect();
    match failed {
        // Repeated after the summary so that it is the last line of a CI log.
        Some(name) => {
            eprintln!("xtask: step {name} failed");
            Err(outcomes)
        }
        None => {
            println!("xtask: all {} steps passed", steps.len());
            Ok(outcomes)
        }
    }
}

/// The steps, in order. Reads `cargo metadata --no-deps` for the feature matrix.
fn plan(root: &Path, options: Options) -> Result<Vec<Step>, String> {
    let mut steps = vec![
        Step::cargo("fmt", &["fmt", "--all", "--", "--check"]),
        Step::cargo(
            "fmt fuzz",
            &["fmt", "--manifest-path", "fuzz/Cargo.toml", "--", "--check"],
        ),
        Step {
            name: "tidy".to_owned(),
            action: Action::Tidy,
        },
        Step::cargo(
            "clippy",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--all-features",
                "--locked",
                "--",
                "-D",
                "warnings",
            ],
        ),
        Step::cargo(
            "nextest",
            &[
                "nextest",
                "run",
                "--workspace",
                "--all-features",
                "--locked",
                "--no-fail-fast",
            ],
        ),
    ];
    if options.quick {
        steps.push(Step::cargo(
            "doctest",
            &["test", "--doc", "--workspace", "--all-features", "--locked"],
        ));
    } else {
        // The suite as a newcomer first runs it: one process per test binary, tests on
        // threads of that process, doctests included (so no separate doctest step).
        steps.push(Step::cargo(
            "test",
            &["test", "--workspace", "--all-features", "--locked"],
        ));
        steps.push(Step {
            name: "doc".to_owned(),
            action: Action::Cargo {
                args: [
                    "doc",
                    "--workspace",
                    "--no-deps",
                    "--all-features",
                    "--locked",
                ]
                .map(str::to_owned)
                .to_vec(),
                env: vec![("RUSTDOCFLAGS", "-D warnings".to_owned())],
            },
        });
        steps.extend(feature_matrix(root)?);
        steps.extend(apple_steps());
        steps.push(windows_step(root));
    }
    steps.push(Step {
        name: "deny".to_owned(),
        action: Action::Deny,
    });
    let fuzz_locked = fuzz_lock_committed(root);
    let mut fuzz = vec!["check", "--manifest-path", "fuzz/Cargo.toml"];
    if fuzz_locked {
        fuzz.push("--locked");
    }
    steps.push(Step::cargo("fuzz check", &fuzz));
    Ok(steps)
}

/// The cross target whose check and clippy steps [`apple_steps`] add.
const APPLE_TARGET: &str = "aarch64-apple-darwin";

/// What builds for macOS without a C compiler for it: the crates whose code has no C
/// dependency, with the features and targets that keep it so (zstd-sys, BLAKE3's assembly
/// and SQLite are C; the tests of hoard-codec and hoard-evict use zstd, so only their
/// libraries are checked; the facade is checked with LZ4 instead of zstd). hoard-core's
/// frame MAC needs BLAKE3, whose NEON code on aarch64 is C: these steps leave it out (see
/// [`APPLE_ENV`]).
const APPLE_RUNS: [&[&str]; 3] = [
    &[
        "-p",
        "hoard-core",
        "-p",
        "hoard-key",
        "-p",
        "hoard-fs",
        "-p",
        "hoard-testkit",
        "--all-targets",
        "--features",
        "hoard-fs/fault-injection",
    ],
    &[
        "-p",
        "hoard-codec",
        "-p",
        "hoard-evict",
        "--lib",
        "--features",
        "hoard-codec/lz4",
    ],
    &[
        "-p",
        "hoard",
        "--lib",
        "--no-default-features",
        "--features",
        "lz4",
    ],
];

/// The environment of the macOS steps: blake3's build script reads its features from
/// `CARGO_FEATURE_*` variables, so this one turns on its `no_neon` for these checks only
/// (the portable Rust code instead of the NEON C, which needs an Apple C compiler). A real
/// macOS build keeps NEON: nothing in the manifests asks for `no_neon`.
const APPLE_ENV: (&str, &str) = ("CARGO_FEATURE_NO_NEON", "1");

/// `cargo check` and `cargo clippy -D warnings` of [`APPLE_RUNS`] for [`APPLE_TARGET`]
/// (its standard library installed by `.ci/run` through rustup).
fn apple_steps() -> Vec<Step> {
    let mut steps = Vec::new();
    for tool in ["check", "clippy"] {
        for (i, run) in APPLE_RUNS.iter().enumerate() {
            let mut args = vec![tool, "--locked", "--target", APPLE_TARGET];
            args.extend_from_slice(run);
            if tool == "clippy" {
                args.extend_from_slice(&["--", "-D", "warnings"]);
            }
            let mut step = Step::cargo(format!("{tool} macOS ({})", i + 1), &args);
            if let Action::Cargo { env, .. } = &mut step.action {
                env.push((APPLE_ENV.0, APPLE_ENV.1.to_owned()));
            }
            steps.push(step);
        }
    }
    steps
}

/// The Windows target whose tests [`windows_step`] runs under Wine.
const WINDOWS_TARGET: &str = "x86_64-pc-windows-gnu";

/// The crates whose tests run on Windows: everything up to the filesystem store, the facade
/// and the CLI. Their suites include the `Store` and `Housekeeping` conformance suites on
/// the in-memory store and on `FsStore` (its planted-link tests say "not run": Wine 8 cannot
/// create symlinks); the facade's and the CLI's leave out what has no Windows meaning
/// (modes, owners, fault injection, signals, `/proc` figures, the Linux servers of the
/// remote tier) by `#[cfg(unix)]`.
const WINDOWS_PACKAGES: [&str; 8] = [
    "hoard-core",
    "hoard-key",
    "hoard-codec",
    "hoard-evict",
    "hoard-testkit",
    "hoard-fs",
    "hoard",
    "hoard-cli",
];

/// `cargo test` of [`WINDOWS_PACKAGES`] for [`WINDOWS_TARGET`] (linked by Debian's MinGW-w64
/// cross compiler), each test binary run by `.ci/wine-runner` under Debian's `wine64`. Plain
/// `cargo test` rather than nextest: nextest starts one process per test, and every Wine
/// process start costs about a second.
fn windows_step(root: &Path) -> Step {
    let mut args = vec![
        "test",
        "--locked",
        "--target",
        WINDOWS_TARGET,
        "--all-features",
    ];
    for p in WINDOWS_PACKAGES {
        args.extend_from_slice(&["-p", p]);
    }
    Step {
        name: "test windows (wine)".to_owned(),
        action: Action::Cargo {
            args: args.into_iter().map(str::to_owned).collect(),
            env: vec![(
                "CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER",
                root.join(".ci/wine-runner").display().to_string(),
            )],
        },
    }
}

/// The feature-matrix steps for the packages under `crates/` (see [`matrix_runs`]).
fn feature_matrix(root: &Path) -> Result<Vec<Step>, String> {
    let metadata = MetadataCommand::new()
        .manifest_path(root.join("Cargo.toml"))
        .no_deps()
        .exec()
        .map_err(|e| format!("cargo metadata failed: {e}"))?;
    let crates_dir = root.join("crates");
    let packages: Vec<(String, Vec<String>)> = metadata
        .workspace_packages()
        .into_iter()
        .filter(|p| p.manifest_path.as_std_path().starts_with(&crates_dir))
        .map(|p| (p.name.to_string(), p.features.keys().cloned().collect()))
        .collect();
    if !packages.iter().any(|(name, _)| name == "hoard") {
        println!("xtask: no package `hoard` under crates/, facade feature matrix skipped");
    }
    Ok(matrix_runs(&packages)
        .into_iter()
        .map(|r| {
            let mut cargo_args = vec!["check".to_owned(), "--locked".to_owned()];
            cargo_args.extend(r.iter().cloned());
            Step {
                name: matrix_step_name(&r),
                action: Action::Cargo {
                    args: cargo_args,
                    env: Vec::new(),
                },
            }
        })
        .collect())
}

/// The `cargo check` arguments of the feature matrix, given each package under `crates/`
/// with its features: the facade `hoard` without features, with each feature alone and with
/// all; then each package alone and, for packages with features, without default features
/// and with each feature alone. Duplicates are dropped.
fn matrix_runs(packages: &[(String, Vec<String>)]) -> Vec<Vec<String>> {
    let mut packages: Vec<&(String, Vec<String>)> = packages.iter().collect();
    packages.sort();
    let features = |fs: &[String]| -> Vec<String> {
        fs.iter()
            .filter(|f| f.as_str() != "default")
            .cloned()
            .collect()
    };
    let mut runs: Vec<Vec<String>> = Vec::new();
    if let Some((_, facade)) = packages.iter().find(|(name, _)| name == "hoard") {
        runs.push(args(&["-p", "hoard", "--no-default-features"]));
        for f in features(facade) {
            runs.push(args(&[
                "-p",
                "hoard",
                "--no-default-features",
                "--features",
                &f,
            ]));
        }
        runs.push(args(&["-p", "hoard", "--all-features"]));
    }
    for (name, fs) in &packages {
        runs.push(args(&["-p", name]));
        let fs = features(fs);
        if !fs.is_empty() {
            runs.push(args(&["-p", name, "--no-default-features"]));
            for f in fs {
                runs.push(args(&[
                    "-p",
                    name,
                    "--no-default-features",
                    "--features",
                    &f,
                ]));
            }
        }
    }
    let mut seen = BTreeSet::new();
    runs.retain(|r| seen.insert(r.clone()));
    runs
}

/// A short name for the summary table: `check hoard (only lz4)` for
/// `-p hoard --no-default-features --features lz4`.
fn matrix_step_name(run: &[String]) -> String {
    let package = run.get(1).map_or("?", String::as_str);
    let has = |flag: &str| run.iter().any(|a| a == flag);
    let feature = run
        .iter()
        .position(|a| a == "--features")
        .and_then(|i| run.get(i + 1));
    match (feature, has("--no-default-features"), has("--all-features")) {
        (Some(f), _, _) => format!("check {package} (only {f})"),
        (None, true, _) => format!("check {package} (no features)"),
        (None, false, true) => format!("check {package} (all features)"),
        (None, false, false) => format!("check {package}"),
    }
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|&s| s.to_owned()).collect()
}

/// The command a step runs, as `--list` shows it.
fn describe(step: &Step) -> String {
    match &step.action {
        Action::Cargo { args, env } => {
            let mut out: Vec<String> = env.iter().map(|(k, v)| format!("{k}={}", quote(v))).collect();
            out.push("cargo".to_owned());
            out.extend(args.iter().map(|a| quote(a)));
            out.join(" ")
        }
        Action::Tidy => "cargo xtask tidy (in process)".to_owned(),
        Action::Deny => "cargo xtask deny (cargo fetch --locked; ADVISORY_DB_ROOT=<snapshot> cargo deny --locked --offline check)".to_owned(),
    }
}

fn execute(root: &Path, step: &Step) -> Result<Outcome, String> {
    match &step.action {
        Action::Cargo { args, env } => {
            let mut cmd = cargo();
            cmd.current_dir(root).args(args);
            for (k, v) in env {
                cmd.env(k, v);
            }
            spawn(&mut cmd, env).map(|()| Outcome::Ok)
        }
        Action::Tidy => {
            println!("$ cargo xtask tidy");
            let n = tidy::run(root)?;
            println!("tidy: {n} members ok");
            Ok(Outcome::Ok)
        }
        Action::Deny => deny(root),
    }
}

/// Runs cargo-deny: `cargo fetch --locked` then `cargo deny --locked --offline check` against
/// the advisory snapshot in `../shared/data` when it exists, else `cargo deny --locked check bans licenses sources`.
/// Without cargo-deny on `PATH` the step is skipped, or fails when `CI` is set.
pub(crate) fn deny(root: &Path) -> Result<Outcome, String> {
    if !on_path("cargo-deny") {
        if is_ci() {
            return Err("cargo-deny is not installed and CI is set: install it with `cargo install --locked cargo-deny`".to_owned());
        }
        println!(
            "xtask: cargo deny skipped: cargo-deny is not on PATH (install it with `cargo install --locked cargo-deny`)"
        );
        return Ok(Outcome::Skipped);
    }
    let tarball = root.join(ADVISORY_DB_TARBALL);
    if !tarball.is_file() {
        println!(
            "xtask: no advisory snapshot at {}: advisories not checked offline",
            tarball.display()
        );
        // deny.toml reads `db-path = "$ADVISORY_DB_ROOT"` and cargo-deny refuses a config
        // naming an unset variable, even when advisories are not checked: point it at
        // cargo-deny's own default location.
        let mut cmd = cargo();
        cmd.current_dir(root)
            .args(["deny", "--locked", "check", "bans", "licenses", "sources"]);
        let mut shown = Vec::new();
        if std::env::var_os("ADVISORY_DB_ROOT").is_none() {
            let default = cargo_home()?.join("advisory-dbs").display().to_string();
            cmd.env("ADVISORY_DB_ROOT", &default);
            shown.push(("ADVISORY_DB_ROOT", default));
        }
        spawn(&mut cmd, &shown)?;
        return Ok(Outcome::Ok);
    }
    let db_root = tempfile::Builder::new()
        .prefix("hoard-advisory-db-")
        .tempdir()
        .map_err(|e| format!("cannot create a temp dir: {e}"))?;
    let db = db_root.path().join(ADVISORY_DB_DIR);
    std::fs::create_dir_all(&db).map_err(|e| format!("cannot create {}: {e}", db.display()))?;
    let tarball = tarball
        .canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", tarball.display()))?;
    spawn(
        Command::new("tar")
            .arg("-xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(&db),
        &[],
    )?;
    spawn(
        Command::new("git").arg("-C").arg(&db).args(["init", "-q"]),
        &[],
    )?;
    spawn(
        Command::new("git").arg("-C").arg(&db).args(["add", "-A"]),
        &[],
    )?;
    spawn(
        Command::new("git").arg("-C").arg(&db).args([
            "-c",
            "user.email=ci@localhost",
            "-c",
            "user.name=ci",
            "-c",
            "commit.gpgsign=false",
            "commit",
            "-qm",
            "snapshot",
        ]),
        &[],
    )?;
    // `--offline` also stops cargo-deny's `cargo metadata` from downloading crates, and it
    // needs every package of every platform (earlier steps fetch the host's only); crates.io
    // is reachable where the advisory database is not, so fetch them first.
    spawn(cargo().current_dir(root).args(["fetch", "--locked"]), &[])?;
    let db_root_text = db_root.path().display().to_string();
    let mut cmd = cargo();
    cmd.current_dir(root)
        .env("ADVISORY_DB_ROOT", &db_root_text)
        .args(["deny", "--locked", "--offline", "check"]);
    spawn(&mut cmd, &[("ADVISORY_DB_ROOT", db_root_text.clone())])?;
    Ok(Outcome::Ok)
}

/// `$CARGO_HOME`, or its default `~/.cargo`.
fn cargo_home() -> Result<PathBuf, String> {
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        return Ok(PathBuf::from(home));
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cargo"))
        .ok_or_else(|| "neither CARGO_HOME nor HOME is set".to_owned())
}

/// Whether the `CI` environment variable is set (to anything but an empty string).
fn is_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Whether an executable `name` is in a `PATH` directory or in `$CARGO_HOME/bin`, where cargo
/// also looks for subcommands.
fn on_path(name: &str) -> bool {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(home).join("bin"));
    }
    dirs.iter().any(|d| {
        d.join(name).is_file()
            || d.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
                .is_file()
    })
}

/// Whether `fuzz/Cargo.lock` is committed, so the fuzz check can use `--locked`.
fn fuzz_lock_committed(root: &Path) -> bool {
    Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "--error-unmatch", "fuzz/Cargo.lock"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The cargo that runs xtask (`$CARGO`), so the pinned toolchain is used throughout.
pub(crate) fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")))
}

/// Prints `cmd` (with `env` shown as a prefix) and runs it with inherited stdio.
pub(crate) fn spawn(cmd: &mut Command, env: &[(&str, String)]) -> Result<(), String> {
    let mut shown = String::from("$");
    for (k, v) in env {
        shown.push_str(&format!(" {k}={}", quote(v)));
    }
    let program = Path::new(cmd.get_program())
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    shown.push(' ');
    shown.push_str(&program);
    for a in cmd.get_args() {
        shown.push(' ');
        shown.push_str(&quote(&a.to_string_lossy()));
    }
    println!("{shown}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` exited with {status}",
            shown.trim_start_matches("$ ")
        ))
    }
}

fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

fn summary(done: &[(String, Outcome, Duration)], planned: usize) {
    let width = done
        .iter()
        .map(|(n, _, _)| n.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!("\nxtask: summary");
    println!("  {:<width$}  {:<7}  {:>8}", "step", "result", "time");
    let mut total = Duration::ZERO;
    for (name, outcome, elapsed) in done {
        let result = match outcome {
            Outcome::Ok => "ok",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "FAILED",
        };
        println!("  {name:<width$}  {result:<7}  {:>8}", secs(*elapsed));
        total += *elapsed;
    }
    if done.len() < planned {
        println!("  ({} later step(s) not run)", planned - done.len());
    }
    println!("  {:<width$}  {:<7}  {:>8}", "total", "", secs(total));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_quoted_for_copy_and_paste() {
        assert_eq!(quote("-D warnings"), "'-D warnings'");
        assert_eq!(quote("--features"), "--features");
        assert_eq!(quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn the_runner_stops_at_the_first_failing_step() {
        let root = crate::workspace_root();
        let steps = [
            Step::cargo("version", &["--version"]),
            Step::cargo("broken", &["--no-such-flag-for-xtask-tests"]),
            Step::cargo("never", &["--version"]),
        ];
        assert_eq!(
            run_steps(&root, &steps),
            Err(vec![Outcome::Ok, Outcome::Failed])
        );
        assert_eq!(run_steps(&root, &steps[..1]), Ok(vec![Outcome::Ok]));
    }

    #[test]
    fn the_feature_matrix_covers_the_facade_and_each_crate_once() {
        let packages = vec![
            ("hoard-core".to_owned(), vec![]),
            (
                "hoard".to_owned(),
                vec!["default".to_owned(), "lz4".to_owned(), "zstd".to_owned()],
            ),
            (
                "hoard-key".to_owned(),
                vec!["blake3".to_owned(), "default".to_owned()],
            ),
        ];
        let runs: Vec<String> = matrix_runs(&packages).iter().map(|r| r.join(" ")).collect();
        assert_eq!(
            runs,
            [
                "-p hoard --no-default-features",
                "-p hoard --no-default-features --features lz4",
                "-p hoard --no-default-features --features zstd",
                "-p hoard --all-features",
                "-p hoard",
                "-p hoard-core",
                "-p hoard-key",
                "-p hoard-key --no-default-features",
                "-p hoard-key --no-default-features --features blake3",
            ]
        );
    }

    #[test]
    fn matrix_steps_have_short_names() {
        let name = |a: &[&str]| matrix_step_name(&args(a));
        assert_eq!(name(&["-p", "hoard"]), "check hoard");
        assert_eq!(
            name(&["-p", "hoard", "--no-default-features"]),
            "check hoard (no features)"
        );
        assert_eq!(
            name(&["-p", "hoard", "--no-default-features", "--features", "lz4"]),
            "check hoard (only lz4)"
        );
        assert_eq!(
            name(&["-p", "hoard", "--all-features"]),
            "check hoard (all features)"
        );
    }

    #[test]
    fn the_full_plan_runs_plain_cargo_test_after_nextest() {
        let options = Options {
            quick: false,
            list: false,
        };
        let steps = plan(&crate::workspace_root(), options).expect("the full plan");
        let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names[..7],
            [
                "fmt", "fmt fuzz", "tidy", "clippy", "nextest", "test", "doc"
            ]
        );
        assert!(!names.contains(&"doctest"), "{names:?}");
        assert_eq!(
            describe(&steps[5]),
            "cargo test --workspace --all-features --locked"
        );
        assert_eq!(names[names.len() - 2..], ["deny", "fuzz check"]);
    }

    #[test]
    fn the_plan_follows_the_documented_order() {
        let options = Options {
            quick: true,
            list: false,
        };
        let steps =
            plan(&crate::workspace_root(), options).expect("the quick plan needs no metadata");
        let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "fmt",
                "fmt fuzz",
                "tidy",
                "clippy",
                "nextest",
                "doctest",
                "deny",
                "fuzz check"
            ]
        );
    }
}
