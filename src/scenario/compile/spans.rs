//! Where things are in a scenario file and how errors about them read: every error names
//! the file position it is about, down to one entry of an inline table or one character past
//! an escape.

use crate::ground::parse::{clamp, line_col};
use crate::ground::text::closest;
use crate::scenario::names::Names;
use crate::scenario::template::{Template, TemplateError};
use crate::scenario::ScenarioError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use toml::Spanned;

pub(super) struct Ctx<'a> {
    pub(super) origin: &'a str,
    pub(super) source: &'a str,
    /// Built on the first `line` call: finding a line by counting newlines from the start of
    /// the file for every step made compilation quadratic in the file's size.
    pub(super) lines: std::cell::OnceCell<crate::scenario::line_index::LineIndex>,
}

pub(super) type Result<T> = std::result::Result<T, ScenarioError>;

impl Ctx<'_> {
    pub(super) fn err(
        &self,
        span: Range<usize>,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> ScenarioError {
        ScenarioError {
            origin: self.origin.to_string(),
            position: Some(line_col(self.source, span.start)),
            message: message.into(),
            hint,
        }
    }

    pub(super) fn line(&self, span: &Range<usize>) -> usize {
        let lines = self
            .lines
            .get_or_init(|| crate::scenario::line_index::LineIndex::new(self.source));
        lines.line(span.start)
    }

    /// A template error inside the string value at `span`.
    pub(super) fn template_err(&self, span: Range<usize>, e: TemplateError) -> ScenarioError {
        let at = source_offset(self.source, span.start, e.offset);
        self.err(at..at, e.message, e.hint)
    }

    /// The entries of the array or inline table at `span`, each with its own position (the
    /// file's parse keeps only the position of the whole value), in file order. Empty when the
    /// value is neither.
    pub(super) fn entries(&self, span: &Range<usize>) -> Vec<Entry> {
        #[derive(Deserialize)]
        struct Wrap<T> {
            v: T,
        }
        let Some(text) = self.source.get(span.clone()) else {
            return Vec::new();
        };
        // Parsed as a document `v = <value>`: only documents keep positions.
        const PREFIX: &str = "v = ";
        let doc = format!("{PREFIX}{text}");
        let shift = |r: Range<usize>| {
            let at = |o: usize| (o + span.start).saturating_sub(PREFIX.len());
            at(r.start)..at(r.end)
        };
        let mut out: Vec<Entry> =
            match toml::from_str::<Wrap<BTreeMap<Spanned<String>, Spanned<toml::Value>>>>(&doc)
                .map(|w| w.v)
            {
                Ok(map) => map
                    .into_iter()
                    .map(|(k, v)| Entry {
                        key: Some(Spanned::new(shift(k.span()), k.into_inner())),
                        value: Spanned::new(shift(v.span()), v.into_inner()),
                    })
                    .collect(),
                Err(_) => toml::from_str::<Wrap<Vec<Spanned<toml::Value>>>>(&doc)
                    .map(|w| w.v)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|v| Entry {
                        key: None,
                        value: Spanned::new(shift(v.span()), v.into_inner()),
                    })
                    .collect(),
            };
        out.sort_by_key(|e| e.value.span().start);
        out
    }

    /// The entries of `value` with their positions; should the value not parse on its own,
    /// each entry gets the position of the whole value.
    pub(super) fn entries_of(&self, value: &Spanned<toml::Value>) -> Vec<Entry> {
        let entries = self.entries(&value.span());
        let whole = |v: &toml::Value| Spanned::new(value.span(), v.clone());
        match value.get_ref() {
            toml::Value::Array(a) if a.len() != entries.len() => a
                .iter()
                .map(|v| Entry {
                    key: None,
                    value: whole(v),
                })
                .collect(),
            toml::Value::Table(t) if t.len() != entries.len() => t
                .iter()
                .map(|(k, v)| Entry {
                    key: Some(Spanned::new(value.span(), k.clone())),
                    value: whole(v),
                })
                .collect(),
            _ => entries,
        }
    }

    /// The entry of the inline table at `span` with this key.
    pub(super) fn entry(&self, span: &Range<usize>, key: &str) -> Option<Entry> {
        self.entries(span)
            .into_iter()
            .find(|e| e.key.as_ref().is_some_and(|k| k.get_ref() == key))
    }

    pub(super) fn template(&self, value: &Spanned<String>, names: &Names) -> Result<Template> {
        Template::parse(value.get_ref(), names).map_err(|e| self.template_err(value.span(), e))
    }
}

/// One element of an array, or one `key = value` of an inline table, with positions.
pub(super) struct Entry {
    pub(super) key: Option<Spanned<String>>,
    pub(super) value: Spanned<toml::Value>,
}

impl Entry {
    pub(super) fn key_span(&self) -> Range<usize> {
        self.key.as_ref().map_or(self.value.span(), |k| k.span())
    }
}

/// Where byte `offset` of the text of the string value written at `start` is in the source:
/// escapes (`\"`, `\u00e9`, a line-ending backslash) and a multi-line string's leading newline
/// make the two differ. A value that is not a string maps one to one.
pub(super) fn source_offset(source: &str, start: usize, offset: usize) -> usize {
    let start = clamp(source, start);
    let rest = &source[start..];
    let (delimiter, basic, multiline) = if rest.starts_with("\"\"\"") {
        (3, true, true)
    } else if rest.starts_with("'''") {
        (3, false, true)
    } else if rest.starts_with('"') {
        (1, true, false)
    } else if rest.starts_with('\'') {
        (1, false, false)
    } else {
        return clamp(source, start + offset);
    };
    let body = &rest[delimiter..];
    let mut i = 0;
    if multiline {
        if body.starts_with("\r\n") {
            i = 2;
        } else if body.starts_with('\n') {
            i = 1;
        }
    }
    let mut decoded = 0;
    while decoded < offset {
        let Some(c) = body.get(i..).and_then(|r| r.chars().next()) else {
            break;
        };
        if basic && c == '\\' {
            match body[i + 1..].chars().next() {
                Some(u @ ('u' | 'U')) => {
                    let digits = if u == 'u' { 4 } else { 8 };
                    let Some(hex) = body.get(i + 2..i + 2 + digits) else {
                        break;
                    };
                    decoded += u32::from_str_radix(hex, 16)
                        .ok()
                        .and_then(char::from_u32)
                        .map_or(1, char::len_utf8);
                    i += 2 + digits;
                }
                // A line-ending backslash: it and the whitespace after it are not text.
                Some(' ' | '\t' | '\r' | '\n') if multiline => {
                    i += 1;
                    while body[i..].starts_with([' ', '\t', '\r', '\n']) {
                        i += 1;
                    }
                }
                Some(escaped) => {
                    decoded += 1;
                    i += 1 + escaped.len_utf8();
                }
                None => break,
            }
        } else if multiline && body[i..].starts_with("\r\n") {
            decoded += 1;
            i += 2;
        } else {
            decoded += c.len_utf8();
            i += c.len_utf8();
        }
    }
    clamp(source, start + delimiter + i)
}

/// A TOML error (syntax, or a key that has no place in a scenario) as `what (hint)`.
pub(super) fn toml_error(origin: &str, source: &str, e: &toml::de::Error) -> ScenarioError {
    let at = clamp(source, e.span().map_or(0, |s| s.start));
    let text = e.message().trim();
    let next = source[at..].chars().next();
    let missing_value = matches!(next, None | Some('\n' | '\r' | '#'))
        && source[..at].trim_end_matches([' ', '\t']).ends_with('=');
    let (message, hint) = if missing_value {
        (
            "`=` without a value".to_string(),
            Some(
                "a value is a \"string\", a number, true or false, [a list] or { a = table }"
                    .into(),
            ),
        )
    } else if let Some(rest) = text.strip_prefix("unknown field ") {
        // serde: "unknown field `x`, expected one of `a`, `b`" (or "there are no fields")
        let key_end = rest
            .get(1..)
            .and_then(|r| r.find('`'))
            .map_or(rest.len(), |i| i + 2);
        let (key, expected) = rest.split_at(key_end);
        let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let suggestion = closest(key.trim_matches('`'), &candidates)
            .map(|c| format!("did you mean `{c}`? "))
            .unwrap_or_default();
        let keys = candidates.join(", ");
        (
            format!("unknown key {key}"),
            Some(if keys.is_empty() {
                "this table takes no keys".to_string()
            } else {
                format!("{suggestion}keys here: {keys}")
            }),
        )
    } else if text == "missing field `name`" {
        (
            "the scenario has no `name`".to_string(),
            Some("start the file with name = \"my-scenario\"".into()),
        )
    } else if let Some((what, expected)) = text.split_once(", expected ") {
        // serde: "invalid type: integer `3`, expected a string"
        (what.to_string(), Some(format!("expected {expected}")))
    } else if let Some((what, expected)) = text.split_once("\nexpected ") {
        // The TOML parser: "invalid table header\nexpected `.`, `]]`"
        (
            what.replace('\n', " "),
            Some(format!("expected {expected}")),
        )
    } else if text.is_empty() {
        let found = match next {
            None => "end of file".to_string(),
            Some('\n' | '\r') => "end of line".to_string(),
            Some(c) => format!("`{c}`"),
        };
        (
            format!("invalid TOML: unexpected {found}"),
            Some(
                "a value is a \"string\", a number, true or false, [a list] or { a = table }"
                    .into(),
            ),
        )
    } else if text.starts_with("duplicate key") {
        (
            text.replace('\n', " "),
            Some("a key can appear only once in a table".into()),
        )
    } else {
        (
            text.replace('\n', " "),
            Some("see https://toml.io for the syntax".into()),
        )
    };
    ScenarioError {
        origin: origin.to_string(),
        position: Some(line_col(source, at)),
        message,
        hint,
    }
}
