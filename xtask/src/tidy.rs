//! `cargo xtask tidy`: the workspace's structural rules, checked from `cargo metadata`, the
//! manifests and the list of files in the repository.
//!
//! The rules (the house rules of the style brief):
//! - every package under `crates/` lives in `crates/<package name>` and is named `hoard` or
//!   `hoard-<role>`; the other members are `xtask/`, `benches/` (`hoard-bench`) and
//!   `reliability/` (`hoard-reliability`);
//! - every member inherits `version`, `edition`, `rust-version` and `license` from the
//!   workspace and has `[lints] workspace = true`;
//! - every dependency of a member is `workspace = true`, declared once in the root, and the
//!   root declares internal crates with `default-features = false`;
//! - arrows point down (see [`Role`] for who may depend on whom);
//! - only the facade has default features, and every feature has a `## ` doc line;
//! - every crate under `crates/` has a README.md that its `src/lib.rs` includes as crate docs;
//! - no `Makefile` or `*.sh` outside `.ci/`, and no package directory that is not a member;
//! - the paths and `crate::Item` / `Type::member` names that the Markdown documents quote in
//!   backticks exist, and no document or comment cites the steering documents outside the
//!   repository (see [`docs`]).
//!
//! Loading ([`load`]) and checking ([`check`]) are separate so that the unit tests below can
//! feed the rules deliberately bad workspaces.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use cargo_metadata::{DependencyKind, MetadataCommand};
use toml::{Table, Value};

mod docs;
mod names;

/// The first line of every library crate's `src/lib.rs`.
const LIB_DOC_LINE: &str = r#"#![doc = include_str!("../README.md")]"#;

/// The package fields every member inherits from `[workspace.package]`.
const INHERITED: [&str; 4] = ["version", "edition", "rust-version", "license"];

/// Internal crates a crate may add as dev-dependencies, on top of its normal ones, to test
/// against real implementations and the conformance suites (`hoard-fs`: the local store a
/// remote tier is tested behind).
const TEST_HELPERS: [&str; 4] = ["hoard-testkit", "hoard-codec", "hoard-key", "hoard-fs"];

/// The async runtime and network stacks the remote tier needs. Only `hoard-remote` may
/// depend on them among the crates under `crates/` (the facade reaches them through its
/// optional `remote` feature alone), so that a build without the remote tier has no tokio
/// and no HTTP client.
const ASYNC_STACK: [&str; 7] = [
    "tokio",
    "opendal",
    "opendal-http-transport-reqwest",
    "reqwest",
    "hyper",
    "rustls",
    "futures-core",
];

/// The one crate allowed [`ASYNC_STACK`] dependencies.
const REMOTE_CRATE: &str = "hoard-remote";

/// One broken rule: the package, the file to fix and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    /// The package at fault (`workspace` for the root manifest, `repository` for files).
    pub(crate) package: String,
    /// The file to fix, relative to the repository root (with `:line` for a document).
    pub(crate) file: String,
    /// What is wrong and, where it is not obvious, how to fix it.
    pub(crate) message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.package, self.file, self.message)
    }
}

/// The kind of a dependency edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DepKind {
    /// `[dependencies]`.
    Normal,
    /// `[dev-dependencies]`.
    Dev,
    /// `[build-dependencies]`.
    Build,
}

impl DepKind {
    fn table(self) -> &'static str {
        match self {
            Self::Normal => "[dependencies]",
            Self::Dev => "[dev-dependencies]",
            Self::Build => "[build-dependencies]",
        }
    }
}

/// A dependency of a member, as `cargo metadata` resolves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Dep {
    /// The depended-on package's name (not a rename).
    pub(crate) name: String,
    /// Normal, dev or build.
    pub(crate) kind: DepKind,
    /// Whether the dependency is one of the workspace's own crates.
    pub(crate) internal: bool,
}

/// What tidy needs to know about one workspace member.
#[derive(Clone, Debug, Default)]
pub(crate) struct Member {
    /// The package name.
    pub(crate) name: String,
    /// The package directory relative to the repository root, `/`-separated.
    pub(crate) dir: String,
    /// The text of its `Cargo.toml`.
    pub(crate) manifest: String,
    /// Its dependencies.
    pub(crate) deps: Vec<Dep>,
    /// Its library's source path relative to `dir` and that file's text, if it has a library.
    pub(crate) lib: Option<(String, String)>,
    /// Whether `dir/README.md` exists.
    pub(crate) has_readme: bool,
}

impl Member {
    fn manifest_path(&self) -> String {
        format!("{}/Cargo.toml", self.dir)
    }

    fn problem(&self, file: String, message: impl Into<String>) -> Problem {
        Problem {
            package: format!("crate `{}`", self.name),
            file,
            message: message.into(),
        }
    }

    fn in_crates(&self) -> bool {
        self.dir.starts_with("crates/")
    }
}

/// Everything tidy checks, loaded from disk by [`load`] or built by hand in tests.
#[derive(Clone, Debug, Default)]
pub(crate) struct Workspace {
    /// The text of the root `Cargo.toml`.
    pub(crate) root_manifest: String,
    /// The workspace members.
    pub(crate) members: Vec<Member>,
    /// Every tracked or not-ignored file, relative to the root; `None` outside a git checkout.
    pub(crate) files: Option<Vec<String>>,
    /// The documents and sources the documentation rule reads; `None` outside a git checkout.
    pub(crate) docs: Option<docs::Docs>,
}

/// Where a crate sits in the layering, which decides its allowed internal dependencies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// `hoard-core`: depends on no internal crate.
    Core,
    /// A crate that implements or tests the plugin API (`hoard-key`, `hoard-codec`,
    /// `hoard-fs`, `hoard-testkit`, `hoard-evict`, `hoard-remote`, and any new crate until
    /// the table in [`Role::of`] says otherwise): depends on `hoard-core` only.
    Leaf,
    /// A plugin crate that is also the worked example of the plugin guide (`hoard-sqlite`):
    /// depends on `hoard-core` only, like a leaf, and may have the facade as a
    /// dev-dependency, so that its tests show it under `hoard::Cache` and the eviction
    /// worker as a plugin author's would. Nothing but the benchmarks depends on it.
    Plugin,
    /// `hoard`: the only crate that depends on several internal crates, every library but
    /// the testkit.
    Facade,
    /// `hoard-cli`: depends on the facade only.
    Cli,
    /// A crate that fits hoard into another program's cache interfaces (`hoard-wasmtime`:
    /// wasmtime's `CacheStore` and a module cache): built on the facade only, as a user of
    /// hoard would be, and depended on by nothing but the benchmarks and the fault harness.
    Integration,
    /// `hoard-bench`: measures every layer, so it may depend on every library.
    Bench,
    /// `hoard-reliability`: the fault harness drives every layer (and may drive the `hoard`
    /// command), so it may depend on any internal crate.
    Harness,
    /// `xtask`: automation, depends on no internal crate.
    Tool,
}

impl Role {
    /// The role of package `name`.
    pub(crate) fn of(name: &str) -> Self {
        match name {
            "hoard-core" => Self::Core,
            "hoard" => Self::Facade,
            "hoard-sqlite" => Self::Plugin,
            "hoard-cli" => Self::Cli,
            "hoard-wasmtime" => Self::Integration,
            "hoard-bench" => Self::Bench,
            "hoard-reliability" => Self::Harness,
            "xtask" => Self::Tool,
            _ => Self::Leaf,
        }
    }

    /// Whether a crate of this role may have internal crate `dep` as a normal (or build)
    /// dependency.
    pub(crate) fn allows_normal(self, dep: &str) -> bool {
        let dep_role = Self::of(dep);
        match self {
            Self::Core | Self::Tool => false,
            Self::Leaf | Self::Plugin => dep_role == Self::Core,
            Self::Facade => matches!(dep_role, Self::Core | Self::Leaf) && dep != "hoard-testkit",
            Self::Cli | Self::Integration => dep_role == Self::Facade,
            Self::Bench => matches!(
                dep_role,
                Self::Core | Self::Leaf | Self::Plugin | Self::Facade | Self::Integration
            ),
            Self::Harness => dep_role != Self::Tool,
        }
    }

    /// Whether a crate of this role may have internal crate `dep` as a dev-dependency.
    ///
    /// `hoard-core` may not: every other internal crate depends on it, so its tests would
    /// link a second copy of it whose types do not match the crate under test.
    pub(crate) fn allows_dev(self, dep: &str) -> bool {
        self.allows_normal(dep)
            || (self != Self::Core && TEST_HELPERS.contains(&dep))
            || (self == Self::Plugin && Self::of(dep) == Self::Facade)
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Core => "hoard-core depends on no internal crate",
            Self::Leaf => "a leaf crate depends on no internal crate but hoard-core",
            Self::Plugin => {
                "a plugin example depends on hoard-core only (and on the facade in its tests)"
            }
            Self::Facade => {
                "the facade depends on the library crates, never on the testkit or the cli"
            }
            Self::Cli => "hoard-cli depends on the facade `hoard` only",
            Self::Integration => "an integration crate depends on the facade `hoard` only",
            Self::Bench => "the benches depend on library crates only",
            Self::Harness => {
                "the reliability harness depends on the workspace's crates, not on xtask"
            }
            Self::Tool => "xtask depends on no internal crate",
        }
    }
}

/// Loads the workspace at `root` with `cargo metadata --no-deps`, its manifests and
/// `git ls-files`.
pub(crate) fn load(root: &Path) -> Result<Workspace, String> {
    let metadata = MetadataCommand::new()
        .manifest_path(root.join("Cargo.toml"))
        .no_deps()
        .exec()
        .map_err(|e| format!("cargo metadata failed in {}: {e}", root.display()))?;
    let root_manifest = read(&root.join("Cargo.toml"))?;
    let member_names: BTreeSet<&str> = metadata
        .workspace_packages()
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    let mut members = Vec::new();
    for package in metadata.workspace_packages() {
        let dir_abs = package
            .manifest_path
            .parent()
            .ok_or_else(|| format!("manifest {} has no parent", package.manifest_path))?;
        // Relative to cargo's (canonical) idea of the root, so a symlinked checkout works.
        let dir = relative(metadata.workspace_root.as_std_path(), dir_abs.as_std_path())?;
        let deps = package
            .dependencies
            .iter()
            .map(|d| Dep {
                name: d.name.clone(),
                kind: match d.kind {
                    DependencyKind::Development => DepKind::Dev,
                    DependencyKind::Build => DepKind::Build,
                    _ => DepKind::Normal,
                },
                internal: d.path.is_some() || member_names.contains(d.name.as_str()),
            })
            .collect();
        let lib = match package.targets.iter().find(|t| t.is_lib()) {
            Some(t) => {
                let rel = relative(dir_abs.as_std_path(), t.src_path.as_std_path())?;
                Some((rel, read(t.src_path.as_std_path())?))
            }
            None => None,
        };
        members.push(Member {
            name: package.name.to_string(),
            dir,
            manifest: read(package.manifest_path.as_std_path())?,
            deps,
            lib,
            has_readme: dir_abs.join("README.md").is_file(),
        });
    }
    members.sort_by(|a, b| a.dir.cmp(&b.dir));
    let files = git_files(root)?;
    let docs = match &files {
        Some(files) => Some(docs::load(root, files, &members)?),
        None => None,
    };
    Ok(Workspace {
        root_manifest,
        members,
        files,
        docs,
    })
}

/// Every rule, over a loaded workspace; an empty list means tidy.
pub(crate) fn check(ws: &Workspace) -> Vec<Problem> {
    let mut problems = Vec::new();
    let root = match ws.root_manifest.parse::<Table>() {
        Ok(t) => t,
        Err(e) => {
            problems.push(workspace_problem(format!("cannot parse: {e}")));
            return problems;
        }
    };
    let declared = root
        .get("workspace")
        .and_then(|w| w.get("dependencies"))
        .and_then(Value::as_table)
        .cloned()
        .unwrap_or_default();
    check_root_dependencies(&declared, &mut problems);
    for m in &ws.members {
        check_location(m, &mut problems);
        match m.manifest.parse::<Table>() {
            Ok(manifest) => {
                check_inheritance(m, &manifest, &mut problems);
                check_dependency_style(m, &manifest, &declared, &mut problems);
                if m.in_crates() {
                    check_features(m, &manifest, &mut problems);
                }
            }
            Err(e) => problems.push(m.problem(m.manifest_path(), format!("cannot parse: {e}"))),
        }
        check_arrows(m, &mut problems);
        if m.in_crates() {
            check_async_stack(m, &mut problems);
        }
        if m.in_crates() {
            check_docs(m, &mut problems);
        }
    }
    if let Some(files) = &ws.files {
        check_files(files, &root, &ws.members, &mut problems);
    }
    if let Some(d) = &ws.docs {
        problems.extend(docs::check(d));
    }
    problems
}

/// Loads and checks the workspace at `root`; `Ok` holds the number of members checked, `Err`
/// a report listing every problem.
pub(crate) fn run(root: &Path) -> Result<usize, String> {
    let ws = load(root)?;
    if ws.files.is_none() {
        eprintln!(
            "tidy: {} is not a git checkout; file checks skipped",
            root.display()
        );
    }
    let problems = check(&ws);
    if problems.is_empty() {
        return Ok(ws.members.len());
    }
    let mut report = format!("tidy found {} problem(s):", problems.len());
    for p in &problems {
        report.push_str("\n  ");
        report.push_str(&p.to_string());
    }
    Err(report)
}

fn workspace_problem(message: impl Into<String>) -> Problem {
    Problem {
        package: "workspace".to_owned(),
        file: "Cargo.toml".to_owned(),
        message: message.into(),
    }
}

fn check_root_dependencies(declared: &Table, problems: &mut Vec<Problem>) {
    for (name, spec) in declared {
        let Some(path) = spec.get("path").and_then(Value::as_str) else {
            continue;
        };
        if spec.get("default-features").and_then(Value::as_bool) != Some(false) {
            problems.push(workspace_problem(format!(
                "internal dependency `{name}` in [workspace.dependencies] must have `default-features = false`: only the facade picks defaults"
            )));
        }
        let expected = format!("crates/{name}");
        if path.trim_end_matches('/') != expected {
            problems.push(workspace_problem(format!(
                "internal dependency `{name}` in [workspace.dependencies] points to `{path}`, expected `{expected}`"
            )));
        }
    }
}

fn check_location(m: &Member, problems: &mut Vec<Problem>) {
    let file = m.manifest_path();
    if let Some(dir_name) = m.dir.strip_prefix("crates/") {
        if dir_name.contains('/') {
            problems.push(m.problem(
                file.clone(),
                format!("packages live directly under crates/, not in `{}`", m.dir),
            ));
        } else if dir_name != m.name {
            problems.push(m.problem(
                file.clone(),
                format!(
                    "package `{}` lives in `{}`: its directory must be named exactly as the package (`crates/{}`)",
                    m.name, m.dir, m.name
                ),
            ));
        }
        if !is_crate_name(&m.name) {
            problems.push(m.problem(
                file,
                format!(
                    "package name `{}` must be `hoard` or `hoard-<role>` with a lowercase role noun",
                    m.name
                ),
            ));
        }
        return;
    }
    let expected = match m.dir.as_str() {
        "xtask" => "xtask",
        "benches" => "hoard-bench",
        "reliability" => "hoard-reliability",
        _ => {
            problems.push(m.problem(
                file,
                format!(
                    "member lives in `{}`: members live in crates/<package>, xtask/, benches/ or reliability/",
                    m.dir
                ),
            ));
            return;
        }
    };
    if m.name != expected {
        problems.push(m.problem(
            file,
            format!("the package in `{}/` must be named `{expected}`", m.dir),
        ));
    }
}

fn is_crate_name(name: &str) -> bool {
    if name == "hoard" {
        return true;
    }
    let Some(role) = name.strip_prefix("hoard-") else {
        return false;
    };
    let mut chars = role.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

fn check_inheritance(m: &Member, manifest: &Table, problems: &mut Vec<Problem>) {
    let file = m.manifest_path();
    let package = manifest.get("package").and_then(Value::as_table);
    for key in INHERITED {
        let inherited = package
            .and_then(|p| p.get(key))
            .is_some_and(is_workspace_true);
        if !inherited {
            problems.push(m.problem(
                file.clone(),
                format!("`package.{key}` must be inherited: write `{key}.workspace = true`"),
            ));
        }
    }
    if !manifest.get("lints").is_some_and(is_workspace_true) {
        problems.push(m.problem(
            file,
            "missing `[lints] workspace = true`: members use the workspace lints",
        ));
    }
}

/// Whether `v` is a table `{ workspace = true }` (other keys allowed).
fn is_workspace_true(v: &Value) -> bool {
    v.get("workspace").and_then(Value::as_bool) == Some(true)
}

fn dependency_tables(manifest: &Table) -> Vec<(String, &Table)> {
    let mut out = Vec::new();
    let kinds = ["dependencies", "dev-dependencies", "build-dependencies"];
    for kind in kinds {
        if let Some(t) = manifest.get(kind).and_then(Value::as_table) {
            out.push((format!("[{kind}]"), t));
        }
    }
    if let Some(targets) = manifest.get("target").and_then(Value::as_table) {
        for (cfg, target) in targets {
            for kind in kinds {
                if let Some(t) = target.get(kind).and_then(Value::as_table) {
                    out.push((format!("[target.'{cfg}'.{kind}]"), t));
                }
            }
        }
    }
    out
}

fn check_dependency_style(
    m: &Member,
    manifest: &Table,
    declared: &Table,
    problems: &mut Vec<Problem>,
) {
    for (table, deps) in dependency_tables(manifest) {
        for (key, spec) in deps {
            if !is_workspace_true(spec) {
                problems.push(m.problem(
                    m.manifest_path(),
                    format!(
                        "dependency `{key}` in {table} must be declared once in the root [workspace.dependencies] and written `{key}.workspace = true`"
                    ),
                ));
                continue;
            }
            let name = spec.get("package").and_then(Value::as_str).unwrap_or(key);
            if !declared.contains_key(name) {
                problems.push(m.problem(
                    m.manifest_path(),
                    format!(
                        "dependency `{key}` in {table} is not declared in the root [workspace.dependencies]"
                    ),
                ));
            }
        }
    }
}

fn check_arrows(m: &Member, problems: &mut Vec<Problem>) {
    let role = Role::of(&m.name);
    for dep in m.deps.iter().filter(|d| d.internal && d.name != m.name) {
        let allowed = match dep.kind {
            DepKind::Normal | DepKind::Build => role.allows_normal(&dep.name),
            DepKind::Dev => role.allows_dev(&dep.name),
        };
        if !allowed {
            problems.push(m.problem(
                m.manifest_path(),
                format!(
                    "arrows point down: `{}` may not depend on `{}` in {} ({})",
                    m.name,
                    dep.name,
                    dep.kind.table(),
                    role.describe()
                ),
            ));
        }
    }
}

/// Only hoard-remote depends on tokio, OpenDAL or an HTTP/TLS stack; the facade depends on
/// hoard-remote only optionally.
fn check_async_stack(m: &Member, problems: &mut Vec<Problem>) {
    if m.name == REMOTE_CRATE {
        return;
    }
    for dep in &m.deps {
        if dep.kind != DepKind::Dev && ASYNC_STACK.contains(&dep.name.as_str()) {
            problems.push(m.problem(
                m.manifest_path(),
                format!(
                    "`{}` may not depend on `{}`: only {REMOTE_CRATE} brings an async runtime or a network stack",
                    m.name, dep.name
                ),
            ));
        }
    }
    let optional = m
        .manifest
        .parse::<Table>()
        .ok()
        .and_then(|t| {
            t.get("dependencies")?
                .get(REMOTE_CRATE)?
                .get("optional")?
                .as_bool()
        })
        .unwrap_or(false);
    let depends = m
        .deps
        .iter()
        .any(|d| d.name == REMOTE_CRATE && d.kind != DepKind::Dev);
    if depends && Role::of(&m.name) == Role::Facade && !optional {
        problems.push(m.problem(
            m.manifest_path(),
            format!(
                "the facade depends on {REMOTE_CRATE} only behind a feature (`optional = true`)"
            ),
        ));
    }
}

fn check_features(m: &Member, manifest: &Table, problems: &mut Vec<Problem>) {
    let Some(features) = manifest.get("features").and_then(Value::as_table) else {
        return;
    };
    if Role::of(&m.name) != Role::Facade {
        let non_empty_default = features
            .get("default")
            .and_then(Value::as_array)
            .is_some_and(|d| !d.is_empty());
        if non_empty_default {
            problems.push(m.problem(
                m.manifest_path(),
                "only the facade `hoard` has default features: make `default` empty or remove it",
            ));
        }
    }
    let (documented, undocumented) = scan_feature_docs(&m.manifest);
    for name in &undocumented {
        problems.push(m.problem(
            m.manifest_path(),
            format!("feature `{name}` needs a `## ` doc comment line right above it"),
        ));
    }
    for name in features.keys() {
        let seen = documented.contains(name) || undocumented.contains(name);
        if name != "default" && !seen {
            problems.push(m.problem(
                m.manifest_path(),
                format!(
                    "feature `{name}` is not defined on its own line under [features], where its `## ` doc line goes"
                ),
            ));
        }
    }
}

/// Scans the `[features]` section of a manifest's text; returns the features with a `## `
/// line right above them and those without. `default` is the list of defaults, not a feature
/// of its own, so it needs no doc line.
fn scan_feature_docs(text: &str) -> (BTreeSet<String>, Vec<String>) {
    let mut documented = BTreeSet::new();
    let mut undocumented = Vec::new();
    let mut in_features = false;
    let mut depth = 0_i32;
    let mut previous = "";
    for line in text.lines() {
        let t = line.trim();
        if depth == 0 && t.starts_with('[') {
            in_features = strip_comment(t).trim() == "[features]";
        } else if in_features
            && depth == 0
            && !t.starts_with('#')
            && let Some((key, _)) = t.split_once('=')
        {
            let key = key.trim().trim_matches('"').trim_matches('\'').to_owned();
            if key == "default" {
                // The list of defaults, not a feature of its own.
            } else if previous.starts_with("## ") {
                documented.insert(key);
            } else {
                undocumented.push(key);
            }
        }
        if in_features {
            depth += bracket_balance(strip_comment(t));
        }
        previous = t;
    }
    (documented, undocumented)
}

/// `line` without a trailing `#` comment (a `#` inside a string is kept).
fn strip_comment(line: &str) -> &str {
    let mut in_string = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_string = !in_string,
            '#' if !in_string => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Opening minus closing brackets outside strings.
fn bracket_balance(line: &str) -> i32 {
    let mut in_string = false;
    let mut balance = 0;
    for c in line.chars() {
        match c {
            '"' => in_string = !in_string,
            '[' if !in_string => balance += 1,
            ']' if !in_string => balance -= 1,
            _ => {}
        }
    }
    balance
}

fn check_docs(m: &Member, problems: &mut Vec<Problem>) {
    if !m.has_readme {
        problems.push(m.problem(
            format!("{}/README.md", m.dir),
            "every crate has a README.md (it is the crate's documentation)",
        ));
    }
    let Some((src, text)) = &m.lib else {
        return;
    };
    let file = format!("{}/{src}", m.dir);
    if src != "src/lib.rs" {
        problems.push(m.problem(file, "the library's root must be src/lib.rs"));
        return;
    }
    let first = text.lines().find(|l| !l.trim().is_empty()).map(str::trim);
    if first != Some(LIB_DOC_LINE) {
        problems.push(m.problem(
            file,
            format!("must start with `{LIB_DOC_LINE}` so the README's examples are crate docs and doctests"),
        ));
    }
}

fn check_files(files: &[String], root: &Table, members: &[Member], problems: &mut Vec<Problem>) {
    let excluded: Vec<String> = root
        .get("workspace")
        .and_then(|w| w.get("exclude"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|s| format!("{}/", s.trim_end_matches('/')))
                .collect()
        })
        .unwrap_or_default();
    let manifests: BTreeSet<String> = members.iter().map(Member::manifest_path).collect();
    for file in files {
        let name = file.rsplit('/').next().unwrap_or(file);
        let is_make =
            matches!(name, "Makefile" | "makefile" | "GNUmakefile") || name.ends_with(".mk");
        if (is_make || name.ends_with(".sh")) && !file.starts_with(".ci/") {
            problems.push(Problem {
                package: "repository".to_owned(),
                file: file.clone(),
                message: "automation is Rust: no Makefile or shell script outside .ci/ (add a `cargo xtask` command instead)".to_owned(),
            });
        }
        if name == "Cargo.toml"
            && file != "Cargo.toml"
            && !manifests.contains(file)
            && !excluded.iter().any(|e| file.starts_with(e.as_str()))
        {
            problems.push(Problem {
                package: "repository".to_owned(),
                file: file.clone(),
                message: "a package that is neither a workspace member nor in `exclude`: add its directory to the root `members`".to_owned(),
            });
        }
    }
}

/// Tracked and not-ignored files that exist, or `None` when `root` is not a git checkout.
fn git_files(root: &Path) -> Result<Option<Vec<String>>, String> {
    if !root.join(".git").exists() {
        return Ok(None);
    }
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .output()
        .map_err(|e| format!("cannot run git ls-files: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git ls-files failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8(out.stdout).map_err(|e| format!("git ls-files: {e}"))?;
    let mut files: Vec<String> = text
        .split('\0')
        .filter(|f| !f.is_empty() && root.join(f).symlink_metadata().is_ok())
        .map(str::to_owned)
        .collect();
    files.sort();
    files.dedup();
    Ok(Some(files))
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn relative(base: &Path, path: &Path) -> Result<String, String> {
    let rel: PathBuf = path
        .strip_prefix(base)
        .map_err(|_| format!("{} is outside {}", path.display(), base.display()))?
        .to_path_buf();
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real workspace is tidy: `cargo nextest run -p xtask` runs the same check as
    /// `cargo xtask tidy`.
    #[test]
    fn workspace_is_tidy() {
        let root = crate::workspace_root();
        match run(&root) {
            Ok(n) => assert!(n > 1, "tidy saw only {n} member(s) in {}", root.display()),
            Err(report) => panic!("{report}"),
        }
    }

    const ROOT: &str = r#"
[workspace]
members = ["crates/*", "xtask"]
exclude = ["fuzz"]

[workspace.package]
version = "0.1.0"

[workspace.dependencies]
hoard-core = { path = "crates/hoard-core", default-features = false }
hoard-key = { path = "crates/hoard-key", default-features = false }
hoard-codec = { path = "crates/hoard-codec", default-features = false }
hoard-fs = { path = "crates/hoard-fs", default-features = false }
hoard-testkit = { path = "crates/hoard-testkit", default-features = false }
hoard = { path = "crates/hoard", default-features = false }
sha2 = "0.10"
zstd = { version = "0.13", default-features = false }
"#;

    fn manifest(name: &str, body: &str) -> String {
        format!(
            "[package]\nname = \"{name}\"\nversion.workspace = true\nedition.workspace = true\n\
             rust-version.workspace = true\nlicense.workspace = true\n{body}\n[lints]\nworkspace = true\n"
        )
    }

    fn member(name: &str, body: &str, deps: &[(&str, DepKind)]) -> Member {
        Member {
            name: name.to_owned(),
            dir: format!("crates/{name}"),
            manifest: manifest(name, body),
            deps: deps
                .iter()
                .map(|&(n, kind)| Dep {
                    name: n.to_owned(),
                    kind,
                    internal: n.starts_with("hoard"),
                })
                .collect(),
            lib: Some((
                "src/lib.rs".to_owned(),
                format!("{LIB_DOC_LINE}\n//! more\n"),
            )),
            has_readme: true,
        }
    }

    fn good_key() -> Member {
        member(
            "hoard-key",
            "[features]\n## BLAKE3 keys.\nblake3 = [\"dep:blake3\"]\n\n\
             [dependencies]\nhoard-core.workspace = true\nsha2 = { workspace = true, features = [] }\n\n\
             [dev-dependencies]\nhoard-testkit.workspace = true\n",
            &[
                ("hoard-core", DepKind::Normal),
                ("sha2", DepKind::Normal),
                ("hoard-testkit", DepKind::Dev),
            ],
        )
    }

    fn good_facade() -> Member {
        member(
            "hoard",
            "[features]\ndefault = [\"zstd\"]\n## zstd compression.\nzstd = [\n  \"hoard-codec/zstd\",\n]\n\n\
             [dependencies]\nhoard-core.workspace = true\nhoard-key.workspace = true\nhoard-codec.workspace = true\nhoard-fs.workspace = true\n",
            &[
                ("hoard-core", DepKind::Normal),
                ("hoard-key", DepKind::Normal),
                ("hoard-codec", DepKind::Normal),
                ("hoard-fs", DepKind::Normal),
            ],
        )
    }

    #[test]
    fn only_the_remote_crate_brings_tokio_and_the_facade_takes_it_optionally() {
        let leaky = member(
            "hoard-fs",
            "[dependencies]\nhoard-core.workspace = true\ntokio.workspace = true\n",
            &[("hoard-core", DepKind::Normal), ("tokio", DepKind::Normal)],
        );
        let problems = check(&ws(vec![leaky]));
        assert!(
            problems
                .iter()
                .any(|p| p.message.contains("may not depend on `tokio`")),
            "{problems:?}"
        );
        let remote = member(
            "hoard-remote",
            "[dependencies]\nhoard-core.workspace = true\ntokio.workspace = true\n",
            &[("hoard-core", DepKind::Normal), ("tokio", DepKind::Normal)],
        );
        let problems = check(&ws(vec![remote]));
        assert!(
            !problems.iter().any(|p| p.message.contains("async runtime")),
            "{problems:?}"
        );
        let mut facade = good_facade();
        facade.manifest = facade.manifest.replace(
            "hoard-fs.workspace = true\n",
            "hoard-fs.workspace = true\nhoard-remote.workspace = true\n",
        );
        facade.deps.push(Dep {
            name: "hoard-remote".to_owned(),
            kind: DepKind::Normal,
            internal: true,
        });
        let problems = check(&ws(vec![facade.clone()]));
        assert!(
            problems
                .iter()
                .any(|p| p.message.contains("only behind a feature")),
            "{problems:?}"
        );
        facade.manifest = facade.manifest.replace(
            "hoard-remote.workspace = true",
            "hoard-remote = { workspace = true, optional = true }",
        );
        let problems = check(&ws(vec![facade]));
        assert!(
            !problems
                .iter()
                .any(|p| p.message.contains("behind a feature")),
            "{problems:?}"
        );
    }

    fn ws(members: Vec<Member>) -> Workspace {
        let mut files = vec!["Cargo.toml".to_owned(), "fuzz/Cargo.toml".to_owned()];
        files.extend(members.iter().map(Member::manifest_path));
        Workspace {
            root_manifest: ROOT.to_owned(),
            members,
            files: Some(files),
            docs: None,
        }
    }

    /// Checks `w` and asserts exactly one problem, naming `package` and `file`, whose message
    /// contains `needle`.
    fn assert_one(w: &Workspace, package: &str, file: &str, needle: &str) {
        let problems = check(w);
        assert_eq!(problems.len(), 1, "expected one problem, got {problems:#?}");
        let p = &problems[0];
        assert!(
            p.package.contains(package) && p.file == file && p.message.contains(needle),
            "expected {package} / {file} / {needle:?}, got {p}"
        );
    }

    #[test]
    fn a_good_workspace_passes() {
        let problems = check(&ws(vec![good_key(), good_facade()]));
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn a_field_that_is_not_inherited_is_rejected() {
        let mut m = good_key();
        m.manifest = m
            .manifest
            .replace("edition.workspace = true", "edition = \"2021\"");
        assert_one(
            &ws(vec![m]),
            "hoard-key",
            "crates/hoard-key/Cargo.toml",
            "`edition.workspace = true`",
        );
    }

    #[test]
    fn missing_workspace_lints_are_rejected() {
        let mut m = good_key();
        m.manifest = m.manifest.replace("[lints]\nworkspace = true\n", "");
        assert_one(
            &ws(vec![m]),
            "hoard-key",
            "crates/hoard-key/Cargo.toml",
            "[lints] workspace = true",
        );
    }

    #[test]
    fn a_dependency_with_its_own_version_is_rejected() {
        let mut m = good_key();
        m.manifest = m.manifest.replace(
            "[dev-dependencies]\n",
            "[dev-dependencies]\ntempfile = \"3\"\n",
        );
        assert_one(
            &ws(vec![m]),
            "hoard-key",
            "crates/hoard-key/Cargo.toml",
            "dependency `tempfile` in [dev-dependencies] must be declared once",
        );
    }

    #[test]
    fn a_target_specific_dependency_is_checked_too() {
        let mut m = good_key();
        m.manifest
            .push_str("\n[target.'cfg(unix)'.dependencies]\nlibc = { version = \"0.2\" }\n");
        assert_one(
            &ws(vec![m]),
            "hoard-key",
            "crates/hoard-key/Cargo.toml",
            "dependency `libc` in [target.'cfg(unix)'.dependencies]",
        );
    }

    #[test]
    fn an_internal_root_dependency_with_default_features_is_rejected() {
        let mut w = ws(vec![good_key()]);
        w.root_manifest = w.root_manifest.replace(
            "hoard-fs = { path = \"crates/hoard-fs\", default-features = false }",
            "hoard-fs = { path = \"crates/hoard-fs\" }",
        );
        assert_one(
            &w,
            "workspace",
            "Cargo.toml",
            "`hoard-fs` in [workspace.dependencies] must have `default-features = false`",
        );
    }

    #[test]
    fn a_leaf_depending_on_another_leaf_is_rejected() {
        let mut m = good_key();
        m.deps.push(Dep {
            name: "hoard-codec".to_owned(),
            kind: DepKind::Normal,
            internal: true,
        });
        assert_one(
            &ws(vec![m]),
            "hoard-key",
            "crates/hoard-key/Cargo.toml",
            "arrows point down: `hoard-key` may not depend on `hoard-codec` in [dependencies]",
        );
    }

    #[test]
    fn core_depending_on_anything_internal_is_rejected() {
        let m = member("hoard-core", "", &[("hoard-testkit", DepKind::Dev)]);
        assert_one(
            &ws(vec![m]),
            "hoard-core",
            "crates/hoard-core/Cargo.toml",
            "`hoard-core` may not depend on `hoard-testkit` in [dev-dependencies]",
        );
    }

    #[test]
    fn the_facade_may_not_depend_on_the_testkit_but_a_new_leaf_may_test_with_it() {
        let mut facade = good_facade();
        facade.deps.push(Dep {
            name: "hoard-testkit".to_owned(),
            kind: DepKind::Normal,
            internal: true,
        });
        let evict = member(
            "hoard-evict",
            "",
            &[
                ("hoard-core", DepKind::Normal),
                ("hoard-testkit", DepKind::Dev),
            ],
        );
        assert_one(
            &ws(vec![facade, evict]),
            "hoard",
            "crates/hoard/Cargo.toml",
            "`hoard` may not depend on `hoard-testkit`",
        );
        let cli = member("hoard-cli", "", &[("hoard-core", DepKind::Normal)]);
        assert_one(
            &ws(vec![cli]),
            "hoard-cli",
            "crates/hoard-cli/Cargo.toml",
            "hoard-cli depends on the facade `hoard` only",
        );
    }

    #[test]
    fn the_wasmtime_integration_depends_on_the_facade_and_only_the_benches_on_it() {
        let good = member(
            "hoard-wasmtime",
            "",
            &[("hoard", DepKind::Normal), ("hoard-testkit", DepKind::Dev)],
        );
        let bench = {
            let mut m = member(
                "hoard-bench",
                "",
                &[
                    ("hoard", DepKind::Normal),
                    ("hoard-wasmtime", DepKind::Normal),
                ],
            );
            m.dir = "benches".to_owned();
            m
        };
        assert!(check(&ws(vec![good.clone(), bench])).is_empty());
        let mut past_the_facade = good;
        past_the_facade.deps.push(Dep {
            name: "hoard-fs".to_owned(),
            kind: DepKind::Normal,
            internal: true,
        });
        assert_one(
            &ws(vec![past_the_facade]),
            "hoard-wasmtime",
            "crates/hoard-wasmtime/Cargo.toml",
            "an integration crate depends on the facade `hoard` only",
        );
        let mut facade = good_facade();
        facade.deps.push(Dep {
            name: "hoard-wasmtime".to_owned(),
            kind: DepKind::Normal,
            internal: true,
        });
        assert_one(
            &ws(vec![facade]),
            "hoard",
            "crates/hoard/Cargo.toml",
            "`hoard` may not depend on `hoard-wasmtime`",
        );
    }

    #[test]
    fn default_features_outside_the_facade_are_rejected() {
        let mut m = good_key();
        m.manifest = m
            .manifest
            .replace("[features]\n", "[features]\ndefault = [\"blake3\"]\n");
        assert_one(
            &ws(vec![m]),
            "hoard-key",
            "crates/hoard-key/Cargo.toml",
            "only the facade `hoard` has default features",
        );
    }

    #[test]
    fn an_undocumented_feature_is_rejected() {
        let mut m = good_facade();
        m.manifest = m.manifest.replace(
            "[dependencies]",
            "lz4 = [\"hoard-codec/lz4\"] # fast\n\n[dependencies]",
        );
        assert_one(
            &ws(vec![m]),
            "hoard",
            "crates/hoard/Cargo.toml",
            "feature `lz4` needs a `## ` doc comment",
        );
    }

    #[test]
    fn a_plain_comment_is_not_a_feature_doc() {
        let (documented, undocumented) = scan_feature_docs(
            "[features]\n# not a doc\na = []\n## a doc\nb = [\n  \"a\",\n]\n[dependencies]\nc = []\n",
        );
        assert_eq!(undocumented, ["a"]);
        assert_eq!(documented.into_iter().collect::<Vec<_>>(), ["b"]);
    }

    #[test]
    fn the_reliability_harness_may_depend_on_any_internal_crate() {
        let mut m = member(
            "hoard-reliability",
            "",
            &[
                ("hoard", DepKind::Normal),
                ("hoard-fs", DepKind::Normal),
                ("hoard-testkit", DepKind::Normal),
                ("hoard-cli", DepKind::Normal),
            ],
        );
        m.dir = "reliability".to_owned();
        assert!(check(&ws(vec![m.clone()])).is_empty());
        m.name = "reliability".to_owned();
        m.deps.clear();
        assert_one(
            &ws(vec![m]),
            "reliability",
            "reliability/Cargo.toml",
            "must be named `hoard-reliability`",
        );
    }

    #[test]
    fn a_misnamed_directory_and_package_are_rejected() {
        let mut m = good_key();
        m.dir = "crates/key".to_owned();
        assert_one(
            &ws(vec![m]),
            "hoard-key",
            "crates/key/Cargo.toml",
            "must be named exactly as the package",
        );
        let mut m = member("keys", "", &[]);
        m.name = "keys".to_owned();
        assert_one(
            &ws(vec![m]),
            "keys",
            "crates/keys/Cargo.toml",
            "must be `hoard` or `hoard-<role>`",
        );
    }

    #[test]
    fn a_missing_readme_or_doc_include_is_rejected() {
        let mut m = good_key();
        m.has_readme = false;
        assert_one(
            &ws(vec![m]),
            "hoard-key",
            "crates/hoard-key/README.md",
            "README.md",
        );
        let mut m = good_key();
        m.lib = Some(("src/lib.rs".to_owned(), "//! Keys.\n".to_owned()));
        assert_one(
            &ws(vec![m]),
            "hoard-key",
            "crates/hoard-key/src/lib.rs",
            "must start with",
        );
    }

    #[test]
    fn makefiles_and_scripts_outside_ci_are_rejected() {
        let mut w = ws(vec![good_key()]);
        w.files = Some(vec![
            ".ci/setup.sh".to_owned(),
            "tools/release.sh".to_owned(),
        ]);
        assert_one(
            &w,
            "repository",
            "tools/release.sh",
            "no Makefile or shell script",
        );
        w.files = Some(vec!["Makefile".to_owned()]);
        assert_one(&w, "repository", "Makefile", "no Makefile or shell script");
    }

    #[test]
    fn a_package_outside_the_members_is_rejected_unless_excluded() {
        let mut w = ws(vec![good_key()]);
        w.files = Some(vec![
            "fuzz/Cargo.toml".to_owned(),
            "benches/Cargo.toml".to_owned(),
        ]);
        assert_one(
            &w,
            "repository",
            "benches/Cargo.toml",
            "neither a workspace member",
        );
    }

    /// The whole pipeline, `cargo metadata` included, on a small workspace on disk whose
    /// leaf crate breaks two rules.
    #[test]
    fn load_and_check_a_workspace_on_disk() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let root = dir.path();
        let write = |path: &str, text: &str| {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().expect("files are in a directory"))
                .expect("create a directory");
            #[expect(
                clippy::disallowed_methods,
                reason = "the test builds a throwaway workspace"
            )]
            std::fs::write(p, text).expect("write a file");
        };
        write(
            "Cargo.toml",
            "[workspace]\nresolver = \"3\"\nmembers = [\"crates/*\"]\n\n[workspace.package]\nversion = \"0.1.0\"\n\
             edition = \"2024\"\nrust-version = \"1.95\"\nlicense = \"MIT\"\n\n[workspace.lints.rust]\nunsafe_code = \"deny\"\n\n[workspace.dependencies]\n\
             hoard-core = { path = \"crates/hoard-core\", default-features = false }\n\
             hoard-fs = { path = \"crates/hoard-fs\", default-features = false }\n",
        );
        write("crates/hoard-core/Cargo.toml", &manifest("hoard-core", ""));
        write("crates/hoard-core/README.md", "Core.\n");
        write("crates/hoard-core/src/lib.rs", &format!("{LIB_DOC_LINE}\n"));
        write(
            "crates/hoard-fs/Cargo.toml",
            &manifest(
                "hoard-fs",
                "[dependencies]\nhoard-core = { path = \"../hoard-core\" }\n",
            ),
        );
        write("crates/hoard-fs/src/lib.rs", "//! No README include.\n");
        let w = load(root).expect("the temp workspace loads");
        assert_eq!(w.members.len(), 2);
        assert!(w.files.is_none(), "not a git checkout");
        let text: Vec<String> = check(&w).iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 3, "{text:#?}");
        assert!(text[0].contains("crate `hoard-fs` (crates/hoard-fs/Cargo.toml): dependency `hoard-core` in [dependencies] must be declared once"), "{text:#?}");
        assert!(
            text[1].contains("crate `hoard-fs` (crates/hoard-fs/README.md)"),
            "{text:#?}"
        );
        assert!(
            text[2].contains("crate `hoard-fs` (crates/hoard-fs/src/lib.rs): must start with"),
            "{text:#?}"
        );
    }
}
