//! TOML text to [`CacheConfig`], with errors that name the key, show the value as written
//! and give its line and column.
//!
//! The document is parsed into toml's spanned tree rather than deserialized with serde, so
//! that every message can point at the exact value and say what is allowed.

use std::ops::Range;
use std::path::Path;

use hoard_core::{Error, ErrorKind, Result};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::CacheConfig;
use super::keys::{self, KEYS};

/// The longest stretch of a bad value quoted in a message.
const MAX_SHOWN_CHARS: usize = 60;

struct Source<'a> {
    text: &'a str,
    origin: Option<&'a Path>,
}

impl Source<'_> {
    /// A configuration error about the text at `span`.
    fn error(&self, span: Option<Range<usize>>, message: String) -> Error {
        let message = match span {
            Some(span) => {
                let (line, column) = line_and_column(self.text, span.start);
                format!("{message} (line {line}, column {column})")
            }
            None => message,
        };
        let err = Error::new(ErrorKind::Config, message);
        match self.origin {
            Some(path) => err.with_path(path),
            None => err,
        }
    }

    /// The value at `span` as written, shortened to one line.
    fn shown(&self, span: Range<usize>) -> String {
        let raw = self.text.get(span).unwrap_or_default().trim();
        let first_line = raw.lines().next().unwrap_or_default();
        let mut shown: String = first_line.chars().take(MAX_SHOWN_CHARS).collect();
        if shown.len() < raw.len() {
            shown.push_str("...");
        }
        shown
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    (line, before[line_start..].chars().count() + 1)
}

/// A key as it may appear in a message: escaped if it holds anything unprintable.
pub(crate) fn show_key(key: &str) -> String {
    format!("`{}`", key.escape_debug())
}

/// Entries in the order they appear in the text (toml's map is sorted by name).
fn in_document_order<'t, 'i>(table: &'t DeTable<'i>) -> Vec<Entry<'t, 'i>> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    entries
}

/// A key of a TOML table and its value, as toml's spanned tree holds them.
type Entry<'t, 'i> = (
    &'t Spanned<std::borrow::Cow<'i, str>>,
    &'t Spanned<DeValue<'i>>,
);

pub(crate) fn parse(text: &str, origin: Option<&Path>) -> Result<CacheConfig> {
    let src = Source { text, origin };
    let doc = document(&src)?;
    let mut config = CacheConfig::default();
    // Where each key's value was, to place problems found after parsing.
    let mut spans: Vec<(&'static str, Range<usize>)> = Vec::new();
    for top in in_document_order(doc.get_ref()) {
        for (key, value) in in_document_order(cache_table(&src, top)?) {
            if key.get_ref() == "remote" {
                set_remote(&src, &mut config, (key, value))?;
            } else {
                let name = set_key(&src, &mut config, (key, value))?;
                spans.push((name, value.span()));
            }
        }
    }
    check(&src, &config, &spans)?;
    Ok(config)
}

/// The text as toml's spanned tree, or the TOML syntax error.
fn document<'i>(src: &Source<'i>) -> Result<Spanned<DeTable<'i>>> {
    DeTable::parse(src.text).map_err(|e| {
        // toml's "duplicate key" points at the key without naming it.
        let named = e
            .span()
            .filter(|_| e.message().starts_with("duplicate"))
            .map(|span| format!(" {}", show_key(src.shown(span).trim_matches('"'))))
            .unwrap_or_default();
        let message = format!(
            "the configuration is not valid TOML: {}{named}",
            e.message()
        );
        src.error(e.span(), message)
    })
}

/// The `[cache]` table, the only top-level key hoard reads.
fn cache_table<'t, 'i>(src: &Source<'_>, (name, value): Entry<'t, 'i>) -> Result<&'t DeTable<'i>> {
    if name.get_ref() != "cache" {
        let hint = keys::suggest(name.get_ref(), ["cache"])
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        return Err(src.error(
            Some(name.span()),
            format!(
                "unknown top-level key {}: hoard reads only the [cache] table{hint}",
                show_key(name.get_ref())
            ),
        ));
    }
    let DeValue::Table(table) = value.get_ref() else {
        return Err(src.error(
            Some(value.span()),
            format!(
                "key `cache` must be a table ([cache]), found {} {}",
                value.get_ref().type_str(),
                src.shown(value.span())
            ),
        ));
    };
    Ok(table)
}

/// The `[cache.remote]` table, refused when hoard is built without its `remote` feature.
fn set_remote(
    src: &Source<'_>,
    config: &mut CacheConfig,
    (key, value): Entry<'_, '_>,
) -> Result<()> {
    let DeValue::Table(remote_table) = value.get_ref() else {
        return Err(src.error(
            Some(value.span()),
            format!(
                "key `remote` must be a table ([cache.remote]), found {} {}",
                value.get_ref().type_str(),
                src.shown(value.span())
            ),
        ));
    };
    #[cfg(feature = "remote")]
    {
        let _ = key;
        let settings = super::remote::parse(remote_table, value.span(), &|s| src.shown(s))
            .map_err(|(span, message)| src.error(span, message))?;
        config.remote = Some(settings);
        Ok(())
    }
    #[cfg(not(feature = "remote"))]
    {
        let _ = (remote_table, config);
        Err(src.error(
            Some(key.span()),
            "[cache.remote] needs hoard built with its `remote` feature; this build \
             has no remote tier"
                .to_owned(),
        ))
    }
}

/// Parses one key of `[cache]` into `config`; returns its name as the key table spells it.
fn set_key(
    src: &Source<'_>,
    config: &mut CacheConfig,
    (key, value): Entry<'_, '_>,
) -> Result<&'static str> {
    let Some(spec) = keys::find(key.get_ref()) else {
        let hint = keys::suggest(key.get_ref(), KEYS.iter().map(|k| k.name))
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_else(|| {
                let all: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
                format!("; the keys are {}", all.join(", "))
            });
        return Err(src.error(
            Some(key.span()),
            format!("unknown key {} in [cache]{hint}", show_key(key.get_ref())),
        ));
    };
    (spec.parse)(config, value.get_ref()).map_err(|reason| {
        let message = reason.message(spec.name, value.get_ref(), &src.shown(value.span()));
        src.error(Some(value.span()), message)
    })?;
    Ok(spec.name)
}

/// The checks across keys, placed at the value of the key a problem names (or of the
/// other key it involves) when the text set it.
fn check(
    src: &Source<'_>,
    config: &CacheConfig,
    spans: &[(&'static str, Range<usize>)],
) -> Result<()> {
    config.check().map_err(|problem| {
        let span_of = |key: &str| {
            spans
                .iter()
                .find(|(name, _)| *name == key)
                .map(|(_, span)| span.clone())
        };
        let span = span_of(problem.key).or_else(|| problem.other.and_then(span_of));
        src.error(span, problem.message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_count_characters_from_one() {
        let text = "a\nbé = 1\n";
        assert_eq!(line_and_column(text, 0), (1, 1));
        assert_eq!(line_and_column(text, 2), (2, 1));
        assert_eq!(line_and_column(text, text.find('=').expect("=")), (2, 4));
        assert_eq!(line_and_column(text, text.len()), (3, 1));
    }

    #[test]
    fn long_and_multiline_values_are_shortened() {
        let text = format!("x = \"{}\"\ny = '''a\nb'''", "v".repeat(100));
        let src = Source {
            text: &text,
            origin: None,
        };
        let x = src.shown(4..text.find('\n').expect("newline"));
        assert_eq!(x.chars().count(), MAX_SHOWN_CHARS + 3);
        assert!(x.ends_with("..."));
        let y_start = text.find("'''").expect("y");
        assert_eq!(src.shown(y_start..text.len()), "'''a...");
    }
}
