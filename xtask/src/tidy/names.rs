//! An index of the names the workspace's Rust sources define, for the documentation rule
//! ([`super::docs`]).
//!
//! A token scanner, not a parser: it reads items (`fn`, `struct`, `enum`, `trait`, `type`,
//! `const`, `static`, `mod`, `macro_rules!`), the names a `use` brings in (re-exports), enum
//! variants, struct fields and the `fn` / `const` / `type` items of `impl` and `trait` blocks.
//! It errs towards finding a name (a function nested in another or a private `use` counts),
//! so a stale reference can slip through in a corner, but a correct one is never reported.

use std::collections::{BTreeMap, BTreeSet};

/// The names defined by one crate's sources, and the members of the types they define.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Names {
    /// Items, variants and names brought in by `use`.
    pub(crate) items: BTreeSet<String>,
    /// Type name (struct, enum, union, trait) to its members: methods, associated consts and
    /// types, variants, named fields.
    pub(crate) types: BTreeMap<String, BTreeSet<String>>,
    /// Type aliases (`type A = path::B<..>;` outside `impl` and `trait` blocks): `A` to `B`.
    pub(crate) aliases: BTreeMap<String, String>,
}

impl Names {
    /// Adds the names of one source file.
    pub(crate) fn add_source(&mut self, src: &str) {
        Indexer::new(self, lex(src)).run();
    }

    /// Adds everything `other` holds.
    pub(crate) fn merge(&mut self, other: &Self) {
        self.items.extend(other.items.iter().cloned());
        for (ty, members) in &other.types {
            self.types
                .entry(ty.clone())
                .or_default()
                .extend(members.iter().cloned());
        }
        for (alias, target) in &other.aliases {
            self.aliases.insert(alias.clone(), target.clone());
        }
    }

    /// The members of type `name`, through one level of alias; `None` when no type of that
    /// name is defined (a std or third-party type, or an alias of one).
    pub(crate) fn members(&self, name: &str) -> Option<BTreeSet<&str>> {
        let own = self.types.get(name);
        let aliased = self.aliases.get(name).and_then(|t| self.types.get(t));
        if own.is_none() && aliased.is_none() {
            return None;
        }
        Some(
            own.into_iter()
                .chain(aliased)
                .flatten()
                .map(String::as_str)
                .collect(),
        )
    }
}

/// A token of Rust source: what the index needs (comments, literals, lifetimes and numbers
/// are dropped).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Ident(String),
    /// `::`, `->`, `=>` or a single punctuation character.
    Punct(String),
}

impl Tok {
    fn is(&self, p: &str) -> bool {
        matches!(self, Self::Punct(s) if s == p)
    }

    fn ident(&self) -> Option<&str> {
        match self {
            Self::Ident(s) => Some(s),
            Self::Punct(_) => None,
        }
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Splits `src` into tokens.
fn lex(src: &str) -> Vec<Tok> {
    let c: Vec<char> = src.chars().collect();
    let at = |i: usize| c.get(i).copied();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(ch) = at(i) {
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && at(i + 1) == Some('/') {
            while at(i).is_some_and(|x| x != '\n') {
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == Some('*') {
            let mut depth = 0;
            while let Some(x) = at(i) {
                if x == '/' && at(i + 1) == Some('*') {
                    depth += 1;
                    i += 2;
                } else if x == '*' && at(i + 1) == Some('/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if ch == '"' {
            i = skip_string(&c, i + 1);
        } else if ch == '\'' {
            i = skip_quote(&c, i);
        } else if is_ident_start(ch) {
            let start = i;
            while at(i).is_some_and(is_ident_char) {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            match (word.as_str(), at(i)) {
                ("r", Some('#')) if at(i + 1).is_some_and(is_ident_start) => {
                    // A raw identifier.
                    let s = i + 1;
                    i = s;
                    while at(i).is_some_and(is_ident_char) {
                        i += 1;
                    }
                    out.push(Tok::Ident(c[s..i].iter().collect()));
                }
                ("r" | "br" | "cr", Some('#' | '"')) => i = skip_raw_string(&c, i),
                ("b" | "c", Some('"')) => i = skip_string(&c, i + 1),
                ("b", Some('\'')) => i = skip_quote(&c, i),
                _ => out.push(Tok::Ident(word)),
            }
        } else if ch.is_ascii_digit() {
            while at(i).is_some_and(|x| x.is_ascii_alphanumeric() || x == '_') {
                i += 1;
            }
        } else {
            let two: String = c[i..(i + 2).min(c.len())].iter().collect();
            if matches!(two.as_str(), "::" | "->" | "=>") {
                out.push(Tok::Punct(two));
                i += 2;
            } else {
                out.push(Tok::Punct(ch.to_string()));
                i += 1;
            }
        }
    }
    out
}

/// The index after a string literal whose body starts at `i`.
fn skip_string(c: &[char], mut i: usize) -> usize {
    while let Some(&x) = c.get(i) {
        match x {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// The index after a raw string whose `#`s or opening quote start at `i`.
fn skip_raw_string(c: &[char], mut i: usize) -> usize {
    let mut hashes = 0;
    while c.get(i) == Some(&'#') {
        hashes += 1;
        i += 1;
    }
    i += 1; // the opening quote
    while i < c.len() {
        if c[i] == '"' && (1..=hashes).all(|k| c.get(i + k) == Some(&'#')) {
            return i + 1 + hashes;
        }
        i += 1;
    }
    i
}

/// The index after a character literal or a lifetime starting with the quote at `i`.
fn skip_quote(c: &[char], i: usize) -> usize {
    match (c.get(i + 1), c.get(i + 2)) {
        (Some('\\'), _) => {
            // An escape: skip the backslash and the escaped character, then to the quote.
            let mut j = i + 3;
            while c.get(j).is_some_and(|&x| x != '\'') {
                j += 1;
            }
            j + 1
        }
        (Some(_), Some('\'')) => i + 3,
        _ => {
            // A lifetime or a label.
            let mut j = i + 1;
            while c.get(j).is_some_and(|&x| is_ident_char(x)) {
                j += 1;
            }
            j
        }
    }
}

/// What a `{` opened.
#[derive(Clone, Debug)]
enum Block {
    /// An `impl` block of this type, or a `trait` of this name: its `fn`s are members.
    Members(String),
    /// An enum's variants.
    Enum(String),
    /// A struct's named fields.
    Struct(String),
    /// Anything else (a module, a function body, an expression).
    Other,
}

struct Indexer<'a> {
    names: &'a mut Names,
    toks: Vec<Tok>,
    /// Open blocks, each with the `(` / `[` depth at its start.
    stack: Vec<(Block, usize)>,
    /// What the next `{` opens, set by an item header.
    pending: Option<Block>,
    /// Current `(` / `[` depth.
    nest: usize,
    /// The methods of the std traits named by the last `#[derive(..)]`, for the next type.
    derived: Vec<&'static str>,
}

/// The methods a `#[derive]` of a std trait gives a type, so that `Type::clone` is found.
fn derived_methods(derive: &str) -> &'static [&'static str] {
    match derive {
        "Clone" => &["clone", "clone_from"],
        "Debug" => &["fmt"],
        "Default" => &["default"],
        "PartialEq" => &["eq", "ne"],
        "Hash" => &["hash"],
        "PartialOrd" => &["partial_cmp", "lt", "le", "gt", "ge"],
        "Ord" => &["cmp", "max", "min", "clamp"],
        _ => &[],
    }
}

impl<'a> Indexer<'a> {
    fn new(names: &'a mut Names, toks: Vec<Tok>) -> Self {
        Self {
            names,
            toks,
            stack: Vec::new(),
            pending: None,
            nest: 0,
            derived: Vec::new(),
        }
    }

    fn ident_at(&self, i: usize) -> Option<&str> {
        self.toks.get(i).and_then(Tok::ident)
    }

    fn top(&self) -> Option<&Block> {
        self.stack
            .last()
            .filter(|(_, nest)| *nest == self.nest)
            .map(|(b, _)| b)
    }

    fn member(&mut self, ty: &str, name: &str) {
        self.names
            .types
            .entry(ty.to_owned())
            .or_default()
            .insert(name.to_owned());
    }

    fn run(mut self) {
        for i in 0..self.toks.len() {
            let prev = i.checked_sub(1).and_then(|p| self.toks.get(p)).cloned();
            let next = self.ident_at(i + 1).map(str::to_owned);
            match self.toks[i].clone() {
                Tok::Punct(p) => match p.as_str() {
                    "{" => {
                        let block = self.pending.take().unwrap_or(Block::Other);
                        self.stack.push((block, self.nest));
                    }
                    "}" => {
                        if let Some((_, nest)) = self.stack.pop() {
                            self.nest = nest;
                        }
                    }
                    "(" | "[" => self.nest += 1,
                    ")" | "]" => self.nest = self.nest.saturating_sub(1),
                    ";" => self.pending = None,
                    _ => {}
                },
                Tok::Ident(word) => self.ident(i, &word, prev.as_ref(), next.as_deref()),
            }
        }
    }

    fn ident(&mut self, i: usize, word: &str, prev: Option<&Tok>, next: Option<&str>) {
        let after_separator = prev.is_none_or(|p| p.is("{") || p.is(",") || p.is("]"));
        match self.top().cloned() {
            Some(Block::Enum(ty)) if after_separator => {
                self.names.items.insert(word.to_owned());
                self.member(&ty, word);
                return;
            }
            Some(Block::Struct(ty))
                if self.toks.get(i + 1).is_some_and(|t| t.is(":"))
                    && (after_separator
                        || prev.is_some_and(|p| p.is(")") || p.ident() == Some("pub"))) =>
            {
                self.member(&ty, word);
                return;
            }
            _ => {}
        }
        match word {
            "fn" | "const" | "static" | "mod" | "type" | "struct" | "enum" | "trait" => {
                let name = match next {
                    Some("mut") if word == "static" => self.ident_at(i + 2).map(str::to_owned),
                    other => other.map(str::to_owned),
                };
                let Some(name) =
                    name.filter(|n| !matches!(n.as_str(), "fn" | "mut" | "unsafe" | "_"))
                else {
                    return;
                };
                let name = name.as_str();
                self.names.items.insert(name.to_owned());
                if let Some(Block::Members(ty)) = self.top().cloned()
                    && matches!(word, "fn" | "const" | "type")
                {
                    self.member(&ty, name);
                    return;
                }
                match word {
                    "struct" => self.type_header(name, Block::Struct(name.to_owned())),
                    "enum" => self.type_header(name, Block::Enum(name.to_owned())),
                    "trait" => self.type_header(name, Block::Members(name.to_owned())),
                    "type" => {
                        if let Some(target) = self.alias_target(i + 2) {
                            self.names.aliases.insert(name.to_owned(), target);
                        }
                    }
                    _ => {}
                }
            }
            "macro_rules" => {
                if self.toks.get(i + 1).is_some_and(|t| t.is("!"))
                    && let Some(name) = self.ident_at(i + 2).map(str::to_owned)
                {
                    self.names.items.insert(name);
                }
            }
            "use" => self.use_tree(i + 1),
            "derive" if self.toks.get(i + 1).is_some_and(|t| t.is("(")) => {
                let mut j = i + 2;
                while let Some(t) = self.toks.get(j).filter(|t| !t.is(")")) {
                    if let Some(name) = t.ident() {
                        self.derived.extend(derived_methods(name));
                    }
                    j += 1;
                }
            }
            "impl" => {
                let item_position = prev.is_none_or(|p| {
                    p.is("{")
                        || p.is("}")
                        || p.is(";")
                        || p.is("]")
                        || matches!(p.ident(), Some("unsafe" | "default"))
                });
                if item_position {
                    self.pending = Some(match self.impl_self_type(i + 1) {
                        Some(ty) => Block::Members(ty),
                        None => Block::Other,
                    });
                }
            }
            _ => {}
        }
    }

    fn type_header(&mut self, name: &str, block: Block) {
        let members = self.names.types.entry(name.to_owned()).or_default();
        members.extend(self.derived.drain(..).map(str::to_owned));
        self.pending = Some(block);
    }

    /// The last path segment of the type after `type Name<..> =`, starting at `i` (just
    /// after the name).
    fn alias_target(&self, mut i: usize) -> Option<String> {
        let mut depth = 0_i32;
        while let Some(t) = self.toks.get(i) {
            if t.is("<") {
                depth += 1;
            } else if t.is(">") {
                depth -= 1;
            } else if depth == 0 && t.is("=") {
                break;
            } else if depth == 0 && (t.is(";") || t.is("{")) {
                return None;
            }
            i += 1;
        }
        self.path_last(i + 1)
    }

    /// The last segment of the path starting at `i` (after `&`, `mut`, `dyn`), before any
    /// generic arguments.
    fn path_last(&self, mut i: usize) -> Option<String> {
        while self
            .toks
            .get(i)
            .is_some_and(|t| t.is("&") || t.is("(") || matches!(t.ident(), Some("mut" | "dyn")))
        {
            i += 1;
        }
        let mut last = None;
        while let Some(name) = self.ident_at(i) {
            last = Some(name.to_owned());
            if self.toks.get(i + 1).is_some_and(|t| t.is("::")) {
                i += 2;
            } else {
                break;
            }
        }
        last
    }

    /// The self type of the `impl` whose header starts at `i` (after the keyword).
    fn impl_self_type(&self, mut i: usize) -> Option<String> {
        if self.toks.get(i).is_some_and(|t| t.is("<")) {
            i = self.skip_angles(i);
        }
        let start = i;
        let mut depth = 0_i32;
        let mut for_at = None;
        while let Some(t) = self.toks.get(i) {
            if t.is("<") {
                depth += 1;
            } else if t.is(">") {
                depth -= 1;
            } else if t.is("{") || t.is(";") || t.ident() == Some("where") {
                break;
            } else if depth == 0 && t.ident() == Some("for") {
                for_at = Some(i);
            }
            i += 1;
        }
        self.path_last(for_at.map_or(start, |f| f + 1))
    }

    /// The index after the `<..>` group starting at `i`.
    fn skip_angles(&self, mut i: usize) -> usize {
        let mut depth = 0_i32;
        while let Some(t) = self.toks.get(i) {
            if t.is("<") {
                depth += 1;
            } else if t.is(">") {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            i += 1;
        }
        i
    }

    /// Adds the names a `use` tree starting at `i` brings in: each path's last segment and
    /// each `as` rename.
    fn use_tree(&mut self, mut i: usize) {
        while let Some(t) = self.toks.get(i) {
            if t.is(";") {
                break;
            }
            if let Some(name) = t.ident()
                && !matches!(name, "self" | "super" | "crate" | "as")
                && !self.toks.get(i + 1).is_some_and(|n| n.is("::"))
            {
                self.names.items.insert(name.to_owned());
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(src: &str) -> Names {
        let mut n = Names::default();
        n.add_source(src);
        n
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|&s| s.to_owned()).collect()
    }

    #[test]
    fn items_members_variants_and_fields_are_indexed() {
        let n = names(
            r##"
            //! fn not_an_item() in a comment
            pub use other::{Alpha, beta as gamma};
            mod inner;
            #[derive(Clone, Copy, Debug)]
            pub(crate) struct Sys<'a> { io: &'a dyn Io, pub(crate) count: u8 }
            static mut COUNTER: u8 = 0;
            struct Unit;
            struct Tuple(u8, String);
            pub enum Kind { #[default] First, Second(u8), Third { at: u64 } = 3 }
            const LIMIT: usize = 4;
            static NAME: &str = "fn hidden() { struct Fake; }";
            type Alias = crate::Sys<'static>;
            pub type Result<T> = std::result::Result<T, Error>;
            macro_rules! helper { () => {} }
            impl<'a> Sys<'a> {
                pub(crate) fn write_all(self, bytes: &[u8]) -> Result<()> {
                    fn nested() {}
                    let c = '"'; let s = r#"fn raw() {}"#; let l: &'a str = "x";
                    Ok(())
                }
                const MAX: u32 = 16;
            }
            impl<T: Fn() -> u8> std::fmt::Debug for Kind where T: Send {
                fn fmt(&self) -> impl Iterator<Item = u8> { std::iter::empty() }
            }
            pub trait Store: Send {
                type Entry;
                fn get(&self) -> u8;
                fn provided(&self) {}
            }
            "##,
        );
        assert_eq!(
            n.items,
            set(&[
                "Alias",
                "Alpha",
                "COUNTER",
                "First",
                "Kind",
                "LIMIT",
                "MAX",
                "NAME",
                "Result",
                "Second",
                "Store",
                "Sys",
                "Third",
                "Tuple",
                "Unit",
                "Entry",
                "fmt",
                "gamma",
                "get",
                "helper",
                "inner",
                "nested",
                "provided",
                "write_all",
                "beta",
            ])
        );
        assert_eq!(
            n.types["Sys"],
            set(&[
                "MAX",
                "clone",
                "clone_from",
                "count",
                "fmt",
                "io",
                "write_all"
            ])
        );
        assert_eq!(n.types["Kind"], set(&["First", "Second", "Third", "fmt"]));
        assert_eq!(n.types["Store"], set(&["Entry", "get", "provided"]));
        assert_eq!(n.aliases["Alias"], "Sys");
        assert!(n.members("Alias").is_some_and(|m| m.contains("write_all")));
        assert_eq!(n.members("Result"), None, "an alias of a std type");
        assert_eq!(n.members("File"), None);
    }
}
