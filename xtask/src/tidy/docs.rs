//! The documentation rule: what the repository's documents quote in backticks exists, and
//! no document sends its reader outside the repository.
//!
//! In every `*.md` file of the repository (`ARCHITECTURE.md`, the READMEs, ...), each inline
//! code span outside fenced code blocks is checked (a span may continue on the next line; a
//! blank line ends it):
//! - **Paths.** A span made only of letters, digits and `. _ - / *` that contains a `/` or
//!   ends in a file extension (`.rs`, `.toml`, `.md`, `.json`, `.svg`, `.lock`, `.hex`, ...)
//!   is a path candidate. It is checked when it ends in `.rs`, `.toml` or `.md`, or when its
//!   first segment is an entry of the repository root or of the document's directory, or a
//!   crate directory under `crates/` (`hoard-fs/src/io.rs`); other candidates (`state/usage`,
//!   `v1/`, `target/hoard-bench/report.json`) are runtime locations and left alone, as are
//!   spans starting with `/` or `~`, URLs, and anything with a `<placeholder>` or a space. A
//!   checked path must name a file or directory from the root, from the document's directory
//!   or under `crates/`; one whose first segment is none of those (`src/io.rs`, `tier.rs`)
//!   may instead be the end of any repository path. `*` matches within one segment. A path
//!   starting with `..` is resolved from the document's directory and must stay inside the
//!   repository.
//! - **Identifiers.** Each `a::b::c` path in a span whose first segment is a workspace crate
//!   (its package name with `_` for `-`: `hoard_core::frame::decode_payload`) must name
//!   things that crate's `src/` defines: every segment an item, a variant or a name brought
//!   in by `use` (so re-exports count). A two-segment `Type::member` whose `Type` is a struct,
//!   enum or trait of the workspace (`FsStore::open_with`, `Sys::write_all`) must name a
//!   method, associated const or type, variant or field of some workspace type of that name;
//!   so must the last two segments of a crate path that ends in one. Other paths (`std::fs`,
//!   `File::lock`, `T::hash`) are not checked. See [`super::names`] for how names are read.
//!
//! **Outside citations.** The project's steering documents (the design, style, reliability and
//! performance briefs) live outside the repository, so no document may cite them: a
//! Markdown line may not mention a `shared/...` path, `../shared`, or one of their file
//! names, and neither may a comment in a `*.rs` or `*.toml` file cite a `.md` document under
//! `shared/` or one of those file names. (A comment may still say where CI reads data from.)
//! State the fact itself, or refer to the brief in prose without a path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::names::Names;
use super::{Member, Problem};

/// A span ending in one of these is a path candidate even without a `/`.
const FILE_EXTENSIONS: [&str; 11] = [
    "rs", "toml", "md", "json", "svg", "lock", "hex", "txt", "yml", "yaml", "html",
];

/// A path candidate ending in one of these names a repository file wherever it starts.
const SOURCE_EXTENSIONS: [&str; 3] = ["rs", "toml", "md"];

/// The file names of the steering documents outside the repository.
const STEERING: [&str; 4] = ["DESIGN.md", "STYLE.md", "RELIABILITY.md", "PERF.md"];

/// What the documentation rule reads: the repository's files, the texts it checks and the
/// names the workspace's crates define.
#[derive(Clone, Debug, Default)]
pub(crate) struct Docs {
    /// Every file of the repository and every directory above one, relative to the root.
    paths: BTreeSet<String>,
    /// Every `*.md`, `*.rs` and `*.toml` file of the repository with its text.
    texts: Vec<(String, String)>,
    /// Per crate name with underscores (`hoard_core`): its package name and the names its
    /// `src/` defines.
    crates: BTreeMap<String, (String, Names)>,
    /// The names of all crates together, for `Type::member`.
    all: Names,
    /// The directory names under `crates/`.
    crate_dirs: BTreeSet<String>,
}

/// Reads the texts the rule checks among `files` (relative to `root`) and indexes the
/// sources of `members`.
pub(crate) fn load(root: &Path, files: &[String], members: &[Member]) -> Result<Docs, String> {
    let mut docs = Docs::default();
    for file in files {
        let mut dir = file.as_str();
        docs.paths.insert(file.clone());
        while let Some((parent, _)) = dir.rsplit_once('/') {
            docs.paths.insert(parent.to_owned());
            dir = parent;
        }
        if [".md", ".rs", ".toml"].iter().any(|e| file.ends_with(e)) {
            let text = std::fs::read_to_string(root.join(file))
                .map_err(|e| format!("cannot read {file}: {e}"))?;
            docs.texts.push((file.clone(), text));
        }
    }
    for m in members {
        let src = format!("{}/src/", m.dir);
        let mut names = Names::default();
        for (path, text) in &docs.texts {
            if path.starts_with(&src) && path.ends_with(".rs") {
                names.add_source(text);
            }
        }
        docs.all.merge(&names);
        docs.crates
            .insert(m.name.replace('-', "_"), (m.name.clone(), names));
        if let Some(dir) = m.dir.strip_prefix("crates/") {
            docs.crate_dirs.insert(dir.to_owned());
        }
    }
    Ok(docs)
}

/// The rule over every text; problems name the file and line.
pub(crate) fn check(docs: &Docs) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (path, text) in &docs.texts {
        let mut report = |line: usize, message: String| {
            problems.push(Problem {
                package: "repository".to_owned(),
                file: format!("{path}:{line}"),
                message,
            });
        };
        if path.ends_with(".md") {
            check_markdown(docs, path, text, &mut report);
            continue;
        }
        for (i, line) in text.lines().enumerate() {
            let comment = if path.ends_with(".rs") {
                rust_comment(line)
            } else {
                &line[super::strip_comment(line).len()..]
            };
            if let Some(message) = citation_message(&citations(comment, true)) {
                report(i + 1, message);
            }
        }
    }
    problems
}

fn citation_message(cited: &[String]) -> Option<String> {
    if cited.is_empty() {
        return None;
    }
    let list: Vec<String> = cited.iter().map(|c| format!("`{c}`")).collect();
    Some(format!(
        "cites {}, outside the repository: state the fact itself, or refer to the brief in prose without a path",
        list.join(", ")
    ))
}

/// Checks one Markdown document: outside citations on every line, paths and identifiers in
/// the inline code spans outside fenced blocks.
fn check_markdown(docs: &Docs, path: &str, text: &str, report: &mut impl FnMut(usize, String)) {
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    let mut fenced = false;
    // An open code span: its backtick count, its first line and its text so far.
    let mut span: Option<(usize, usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if let Some(message) = citation_message(&citations(line, false)) {
            report(n, message);
        }
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fenced = !fenced;
            span = None;
            continue;
        }
        if fenced {
            continue;
        }
        if trimmed.is_empty() {
            span = None;
            continue;
        }
        let chars: Vec<char> = line.chars().collect();
        let mut j = 0;
        while j < chars.len() {
            if chars[j] != '`' {
                if let Some((_, _, body)) = &mut span {
                    body.push(chars[j]);
                }
                j += 1;
                continue;
            }
            let run = chars[j..].iter().take_while(|&&c| c == '`').count();
            match span.take() {
                Some((ticks, start, body)) if ticks == run => {
                    for message in check_span(docs, dir, body.trim()) {
                        report(start, message);
                    }
                }
                Some((ticks, start, mut body)) => {
                    body.extend(std::iter::repeat_n('`', run));
                    span = Some((ticks, start, body));
                }
                None => span = Some((run, n, String::new())),
            }
            j += run;
        }
        if let Some((_, _, body)) = &mut span {
            body.push(' ');
        }
    }
}

/// The problems with one code span of a document in `dir`.
fn check_span(docs: &Docs, dir: &str, span: &str) -> Vec<String> {
    if !citations(span, false).is_empty() {
        // Reported with the line.
        return Vec::new();
    }
    let mut out: Vec<String> = check_path(docs, dir, span).into_iter().collect();
    out.extend(check_identifiers(docs, span));
    out
}

/// `Some(problem)` when `span` is a repository path (see the module docs) that names
/// nothing.
fn check_path(docs: &Docs, dir: &str, span: &str) -> Option<String> {
    let ok_chars = span
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._/*-".contains(c));
    if !ok_chars
        || span.starts_with('/')
        || span.starts_with('-')
        || span.contains("//")
        || !span.chars().any(|c| c.is_ascii_alphabetic())
    {
        return None;
    }
    let path = span.strip_prefix("./").unwrap_or(span);
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let last = segs.last().copied().unwrap_or_default();
    let ext = last
        .rsplit_once('.')
        .filter(|(stem, _)| !stem.is_empty())
        .map_or("", |(_, e)| e);
    if !path.contains('/') && !FILE_EXTENSIONS.contains(&ext) {
        return None;
    }
    let missing = || {
        format!(
            "`{span}` names no file or directory of the repository (tried from the root, the document's directory, crates/ and as the end of a path)"
        )
    };
    let dir_segs: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
    if segs[0] == ".." {
        let mut base = dir_segs;
        let mut rest = segs.as_slice();
        while rest.first() == Some(&"..") {
            if base.pop().is_none() {
                return Some(format!("`{span}` points outside the repository"));
            }
            rest = &rest[1..];
        }
        base.extend_from_slice(rest);
        return (!docs.exists(&base, false)).then(missing);
    }
    if segs.iter().any(|s| s.is_empty() || *s == "." || *s == "..") {
        return None;
    }
    let joined = |prefix: &[&str]| -> Vec<String> {
        prefix
            .iter()
            .chain(segs.iter())
            .map(|s| (*s).to_owned())
            .collect()
    };
    let from_root = joined(&[]);
    let from_dir = joined(&dir_segs);
    let from_crates = joined(&["crates"]);
    let first = [segs[0]];
    let in_root = docs.exists(&first, false);
    let in_dir = !dir_segs.is_empty() && docs.exists(&joined_first(&dir_segs, segs[0]), false);
    let in_crates = docs.crate_dirs.iter().any(|d| glob(segs[0], d));
    let anchored = in_root || in_dir || in_crates;
    if !anchored && !SOURCE_EXTENSIONS.contains(&ext) {
        return None;
    }
    let found = docs.exists(&from_root, false)
        || docs.exists(&from_dir, false)
        || (in_crates && docs.exists(&from_crates, false))
        || (!anchored && docs.exists(&from_root, true));
    (!found).then(missing)
}

fn joined_first<'a>(dir: &[&'a str], first: &'a str) -> Vec<&'a str> {
    let mut v = dir.to_vec();
    v.push(first);
    v
}

impl Docs {
    /// Whether some repository path matches `pattern` segment by segment (`*` matching
    /// within a segment), or ends with it when `suffix`.
    fn exists<S: AsRef<str>>(&self, pattern: &[S], suffix: bool) -> bool {
        let literal = !pattern.iter().any(|s| s.as_ref().contains('*'));
        if literal && !suffix {
            let p: Vec<&str> = pattern.iter().map(AsRef::as_ref).collect();
            return self.paths.contains(&p.join("/"));
        }
        self.paths.iter().any(|path| {
            let segs: Vec<&str> = path.split('/').collect();
            if segs.len() < pattern.len() || (!suffix && segs.len() != pattern.len()) {
                return false;
            }
            let tail = &segs[segs.len() - pattern.len()..];
            tail.iter().zip(pattern).all(|(s, p)| glob(p.as_ref(), s))
        })
    }
}

/// Whether `name` matches `pattern`, where `*` matches any run of characters.
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, rest)) => {
            let Some(after) = name.strip_prefix(head) else {
                return false;
            };
            (0..=after.len())
                .filter(|&i| after.is_char_boundary(i))
                .any(|i| glob(rest, &after[i..]))
        }
    }
}

/// The problems with the `a::b` paths in `span` (see the module docs).
fn check_identifiers(docs: &Docs, span: &str) -> Vec<String> {
    let mut out = Vec::new();
    for path in rust_paths(span) {
        let segs: Vec<&str> = path.split("::").collect();
        let n = segs.len();
        let is_type = |s: &str| {
            s.starts_with(|c: char| c.is_ascii_uppercase()) && docs.all.members(s).is_some()
        };
        let typed_tail = if let Some((package, names)) = docs.crates.get(segs[0]) {
            let typed = n >= 3 && is_type(segs[n - 2]);
            let items = if typed { &segs[1..n - 1] } else { &segs[1..] };
            if let Some(missing) = items.iter().find(|s| !names.items.contains(**s)) {
                out.push(format!(
                    "`{path}`: crate `{package}` defines no `{missing}` in its src/"
                ));
                continue;
            }
            typed
        } else {
            n == 2 && is_type(segs[0])
        };
        if !typed_tail {
            continue;
        }
        let (ty, member) = (segs[n - 2], segs[n - 1]);
        if docs.all.members(ty).is_some_and(|m| !m.contains(member)) {
            out.push(format!(
                "`{path}`: no workspace type `{ty}` has a member `{member}` (method, associated const or type, variant or field)"
            ));
        }
    }
    out
}

/// The maximal `a::b(::c)*` paths of identifiers in `text`.
fn rust_paths(text: &str) -> Vec<String> {
    let c: Vec<char> = text.chars().collect();
    let ident_char = |x: char| x.is_alphanumeric() || x == '_';
    let ident_start = |x: char| x.is_alphabetic() || x == '_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let after_boundary = i == 0 || !(ident_char(c[i - 1]) || c[i - 1] == ':');
        if !(after_boundary && ident_start(c[i])) {
            i += 1;
            continue;
        }
        let mut segs = Vec::new();
        loop {
            let start = i;
            while i < c.len() && ident_char(c[i]) {
                i += 1;
            }
            segs.push(c[start..i].iter().collect::<String>());
            let more = c.get(i) == Some(&':')
                && c.get(i + 1) == Some(&':')
                && c.get(i + 2).is_some_and(|&x| ident_start(x));
            if !more {
                break;
            }
            i += 2;
        }
        if segs.len() >= 2 {
            out.push(segs.join("::"));
        }
    }
    out
}

/// The comment at the end of a line of Rust (`//`, `///`, `//!` outside a string literal on
/// that line), or `""`.
fn rust_comment(line: &str) -> &str {
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '/' if !in_string && line[i + 1..].starts_with('/') => return &line[i..],
            _ => {}
        }
    }
    ""
}

/// The outside citations in `text`: `shared/...` paths, `../shared` and the steering
/// documents' file names. In a comment (`comment`), only `shared/` paths to `.md` documents
/// and the file names count.
fn citations(text: &str, comment: bool) -> Vec<String> {
    let path_char = |c: char| c.is_ascii_alphanumeric() || "._/*-".contains(c);
    let word_char = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let path_start = |end: usize| {
        text[..end]
            .rfind(|c: char| !path_char(c))
            .map_or(0, |i| i + 1)
    };
    let mut found = BTreeSet::new();
    for name in STEERING {
        for (pos, _) in text.match_indices(name) {
            let before = text[..pos].chars().next_back();
            let after = text[pos + name.len()..].chars().next();
            if word_char(before) || before == Some('-') || word_char(after) {
                continue;
            }
            found.insert(text[path_start(pos)..pos + name.len()].to_owned());
        }
    }
    for (pos, word) in text.match_indices("shared") {
        let before = text[..pos].chars().next_back();
        let dotdot = text[..pos].ends_with("../");
        if !dotdot && (word_char(before) || matches!(before, Some('-' | '.' | '/'))) {
            continue;
        }
        let rest = &text[pos + word.len()..];
        if !dotdot && !rest.starts_with('/') {
            continue;
        }
        let start = if dotdot { path_start(pos) } else { pos };
        let end = pos + word.len() + rest.find(|c: char| !path_char(c)).unwrap_or(rest.len());
        let cited = text[start..end].trim_end_matches('.');
        if comment && !cited.ends_with(".md") {
            continue;
        }
        found.insert(cited.to_owned());
    }
    let all: Vec<String> = found.iter().cloned().collect();
    found.retain(|f| !all.iter().any(|g| g != f && g.ends_with(f.as_str())));
    found.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citations_of_the_steering_documents_are_found() {
        let c = |t: &str| citations(t, false);
        assert_eq!(c("see `../shared/DESIGN.md`."), ["../shared/DESIGN.md"]);
        assert_eq!(c("checks shared/PERF.md's targets"), ["shared/PERF.md"]);
        assert_eq!(c("## Departures from DESIGN.md"), ["DESIGN.md"]);
        assert_eq!(c("when `../shared` exists"), ["../shared"]);
        assert_eq!(
            c("(RELIABILITY.md, STYLE.md)"),
            ["RELIABILITY.md", "STYLE.md"]
        );
        assert!(c("a shared lock, the shared advisory snapshot").is_empty());
        assert!(c("crates/x/src/shared/mod.rs, MY_DESIGN.md, UNSHARED/x").is_empty());
        // A comment may say where CI reads data from, not cite a brief.
        assert!(citations("// the snapshot in `../shared/data`", true).is_empty());
        assert_eq!(
            citations("// see shared/data/README.md.", true),
            ["shared/data/README.md"]
        );
        assert_eq!(rust_comment("let s = \"a // b\"; // PERF.md"), "// PERF.md");
        assert_eq!(rust_comment("let s = \"a \\\" // b\";"), "");
    }

    #[test]
    fn globs_match_within_a_segment() {
        assert!(glob("seed-*", "seed-1"));
        assert!(glob("*.rs", "lib.rs"));
        assert!(!glob("*.rs", "lib.toml"));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("a*b", "ab-"));
    }

    #[test]
    fn identifier_paths_are_extracted_from_code() {
        assert_eq!(
            rust_paths("housekeeping::run_all(\\|\\| MyStore::new()).x::y"),
            ["housekeeping::run_all", "MyStore::new", "x::y"]
        );
        assert_eq!(rust_paths("Vec::<u8>::new"), Vec::<String>::new());
        assert_eq!(rust_paths("a::b::C"), ["a::b::C"]);
    }

    /// A small tree on disk: one crate, a stale document and a correct one.
    struct Tree {
        dir: tempfile::TempDir,
        files: Vec<String>,
    }

    impl Tree {
        fn new() -> Self {
            let mut tree = Self {
                dir: tempfile::tempdir().expect("a temp dir"),
                files: Vec::new(),
            };
            tree.write("Cargo.toml", "[workspace]\n");
            tree.write(
                "crates/hoard-demo/src/lib.rs",
                "//! A demo crate.\npub mod frame;\npub use frame::Frame;\n/// A store.\npub struct FsStore { pub root: u8 }\nimpl FsStore {\n    pub fn open_with() {}\n}\npub enum ErrorKind { Corrupt, Io }\n",
            );
            tree.write(
                "crates/hoard-demo/src/frame.rs",
                "pub fn decode_payload() {}\npub struct Frame;\n",
            );
            tree.write("crates/hoard-demo/tests/it/main.rs", "// tests\n");
            tree.write(
                "crates/hoard-demo/README.md",
                "# hoard-demo\n\nSee `src/frame.rs`, `tests/it/main.rs`, `../../Cargo.toml` and `FsStore::root`.\n",
            );
            tree
        }

        fn write(&mut self, path: &str, text: &str) {
            let p = self.dir.path().join(path);
            std::fs::create_dir_all(p.parent().expect("files are in a directory"))
                .expect("create a directory");
            #[expect(
                clippy::disallowed_methods,
                reason = "the test builds a throwaway repository"
            )]
            std::fs::write(p, text).expect("write a file");
            if !self.files.iter().any(|f| f == path) {
                self.files.push(path.to_owned());
            }
        }

        fn check(&self) -> Vec<Problem> {
            let member = Member {
                name: "hoard-demo".to_owned(),
                dir: "crates/hoard-demo".to_owned(),
                ..Member::default()
            };
            let docs = load(self.dir.path(), &self.files, &[member]).expect("the tree loads");
            check(&docs)
        }
    }

    /// A document that is right about the tree, with runtime locations that are no
    /// repository paths.
    const GOOD: &str = "# Demo\n\n\
        The store (`crates/hoard-demo/src/lib.rs`, `hoard-demo/src/frame.rs`, `src/frame.rs`,\n\
        `lib.rs`, `crates/*/README.md`, `crates/`) is `hoard_demo::FsStore`; frames are\n\
        parsed by `hoard_demo::frame::decode_payload` and `hoard_demo::Frame`, opened with\n\
        `FsStore::open_with(options)` or `hoard_demo::FsStore::open_with`, fail with\n\
        `ErrorKind::Corrupt`. Not checked: `std::fs::write`, `File::lock`, `T::hash`,\n\
        `state/usage`, `v1/<namespace>/<shard>/`, `~/.cache/hoard`, `/proc/self/mountinfo`,\n\
        `target/hoard-bench/report.json`, `https://example.com/a.md`, `cargo run -p x`.\n\
        A span can run over\n\
        two lines: `hoard_demo::frame::decode_payload(\n\
        bytes)`.\n\n\
        ```text\n\
        crates/gone.rs in a fenced block is not a quoted path\n\
        ```\n";

    #[test]
    fn a_correct_document_passes() {
        let mut tree = Tree::new();
        tree.write("ARCHITECTURE.md", GOOD);
        let problems = tree.check();
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn stale_references_are_reported_with_file_and_line() {
        let mut tree = Tree::new();
        let stale = format!(
            "{GOOD}\nThe frame lives in `crates/hoard-demo/src/gone.rs`.\n\
             It is `hoard_demo::frame::missing`, opened by\n\
             `FsStore::missing_method`, as in `../shared/DESIGN.md`.\n\
             Per the STYLE.md rules.\n\
             Up: `../../outside.md`.\n\
             Variant: `hoard_demo::ErrorKind::Gone`, module: `hoard_demo::nowhere::Frame`.\n"
        );
        tree.write("ARCHITECTURE.md", &stale);
        tree.write(
            "crates/hoard-demo/src/extra.rs",
            "pub fn cited() {} // as shared/PERF.md asks\npub const S: &str = \"shared/PERF.md in a string is not a comment\";\n",
        );
        tree.write("deny.toml", "# the briefs: shared/STYLE.md\nx = 1\n");
        let problems: Vec<String> = tree.check().iter().map(ToString::to_string).collect();
        let base = GOOD.lines().count() + 1;
        let expected = [
            (
                format!("ARCHITECTURE.md:{}", base + 1),
                "`crates/hoard-demo/src/gone.rs` names no file or directory",
            ),
            (
                format!("ARCHITECTURE.md:{}", base + 2),
                "`hoard_demo::frame::missing`: crate `hoard-demo` defines no `missing`",
            ),
            (
                format!("ARCHITECTURE.md:{}", base + 3),
                "`FsStore::missing_method`: no workspace type `FsStore` has a member `missing_method`",
            ),
            (
                format!("ARCHITECTURE.md:{}", base + 3),
                "cites `../shared/DESIGN.md`, outside the repository",
            ),
            (
                format!("ARCHITECTURE.md:{}", base + 4),
                "cites `STYLE.md`, outside the repository",
            ),
            (
                format!("ARCHITECTURE.md:{}", base + 5),
                "`../../outside.md` points outside the repository",
            ),
            (
                format!("ARCHITECTURE.md:{}", base + 6),
                "no workspace type `ErrorKind` has a member `Gone`",
            ),
            (
                format!("ARCHITECTURE.md:{}", base + 6),
                "crate `hoard-demo` defines no `nowhere`",
            ),
            (
                "crates/hoard-demo/src/extra.rs:1".to_owned(),
                "cites `shared/PERF.md`",
            ),
            ("deny.toml:1".to_owned(), "cites `shared/STYLE.md`"),
        ];
        for (file, needle) in &expected {
            assert!(
                problems
                    .iter()
                    .any(|p| p.contains(&format!("({file})")) && p.contains(needle)),
                "no problem at {file} containing {needle:?} in {problems:#?}"
            );
        }
        assert_eq!(problems.len(), expected.len(), "{problems:#?}");
        // Fixed, the document passes again.
        tree.write("ARCHITECTURE.md", GOOD);
        tree.write("crates/hoard-demo/src/extra.rs", "pub fn cited() {}\n");
        tree.write("deny.toml", "# the style brief\nx = 1\n");
        let problems = tree.check();
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
