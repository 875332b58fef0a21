//! From the file as written to a runnable scenario, checking everything that can be checked
//! before a run starts. Every error names the file position it is about.

use super::file::{in_file_order, RawFlow, RawPhase, RawScenario, RawStep};
use super::model::*;
use super::names::{closest, Names};
use super::template::{Template, TemplateError};
use super::{think, weight, Overrides, ScenarioError};
use crate::config::line_col;
use crate::engine::pool::DEFAULT_POOL_CAPACITY;
use crate::model::{Kind, Op, Service, Verdict};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;
use toml::Spanned;

/// Every step type a file may use.
pub const STEP_TYPES: [&str; 17] = [
    "kratos.register",
    "kratos.login",
    "kratos.whoami",
    "kratos.logout",
    "kratos.lookup_identity",
    "kratos.delete_identity",
    "hydra.create_client",
    "hydra.token",
    "hydra.introspect",
    "hydra.revoke",
    "hydra.delete_client",
    "keto.write",
    "keto.check",
    "keto.expand",
    "keto.list",
    "keto.delete",
    "http",
];

/// Methods an `http` step may use.
const HTTP_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Fields every step may have, whatever its type.
const COMMON_FIELDS: [&str; 7] = [
    "op", "name", "expect", "think", "capture", "push", "for_each",
];

struct Ctx<'a> {
    origin: &'a str,
    source: &'a str,
    /// Built on the first `line` call.
    lines: std::cell::OnceCell<super::line_index::LineIndex>,
}

type Result<T> = std::result::Result<T, ScenarioError>;

impl Ctx<'_> {
    fn err(
        &self,
        span: Range<usize>,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> ScenarioError {
        ScenarioError {
            origin: self.origin.to_string(),
            position: Some(position(self.source, span.start)),
            message: message.into(),
            hint,
        }
    }

    fn line(&self, span: &Range<usize>) -> usize {
        let lines = self
            .lines
            .get_or_init(|| super::line_index::LineIndex::new(self.source));
        lines.line(span.start)
    }

    /// A template error inside the string value at `span`.
    fn template_err(&self, span: Range<usize>, e: TemplateError) -> ScenarioError {
        let at = source_offset(self.source, span.start, e.offset);
        self.err(at..at, e.message, e.hint)
    }

    /// The entries of the array or inline table at `span`, each with its own position (the
    /// file's parse keeps only the position of the whole value), in file order. Empty when the
    /// value is neither.
    fn entries(&self, span: &Range<usize>) -> Vec<Entry> {
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
    fn entries_of(&self, value: &Spanned<toml::Value>) -> Vec<Entry> {
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
    fn entry(&self, span: &Range<usize>, key: &str) -> Option<Entry> {
        self.entries(span)
            .into_iter()
            .find(|e| e.key.as_ref().is_some_and(|k| k.get_ref() == key))
    }

    fn template(&self, value: &Spanned<String>, names: &Names) -> Result<Template> {
        Template::parse(value.get_ref(), names).map_err(|e| self.template_err(value.span(), e))
    }
}

/// One element of an array, or one `key = value` of an inline table, with positions.
struct Entry {
    key: Option<Spanned<String>>,
    value: Spanned<toml::Value>,
}

impl Entry {
    fn key_span(&self) -> Range<usize> {
        self.key.as_ref().map_or(self.value.span(), |k| k.span())
    }
}

/// `offset` moved into `source` and back to the start of the character it falls in.
fn clamp(source: &str, offset: usize) -> usize {
    let mut at = offset.min(source.len());
    while !source.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// 1-based line and column (in characters) of a byte offset.
fn position(source: &str, offset: usize) -> (usize, usize) {
    line_col(source, clamp(source, offset))
}

/// Where byte `offset` of the text of the string value written at `start` is in the source:
/// escapes (`\"`, `\u00e9`, a line-ending backslash) and a multi-line string's leading newline
/// make the two differ. A value that is not a string maps one to one.
fn source_offset(source: &str, start: usize, offset: usize) -> usize {
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
fn toml_error(origin: &str, source: &str, e: &toml::de::Error) -> ScenarioError {
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
        position: Some(position(source, at)),
        message,
        hint,
    }
}

/// Compiles one file. `dir` resolves relative `include` paths.
pub fn compile(
    origin: &str,
    source: &str,
    dir: Option<&Path>,
    overrides: &Overrides,
) -> Result<Scenario> {
    let ctx = Ctx {
        origin,
        source,
        lines: Default::default(),
    };
    let raw: RawScenario = toml::from_str(source).map_err(|e| toml_error(origin, source, &e))?;
    check_name(&ctx, &raw.name)?;
    let mut declared = BTreeMap::new();
    let groups = match &raw.include {
        Some(include) => {
            if !raw.flow.is_empty() || raw.setup.is_some() || !raw.pools.is_empty() {
                return Err(ctx.err(
                    include.span(),
                    "a scenario with `include` cannot have flows, pools or setup of its own",
                    Some("put them in a separate file and include it".into()),
                ));
            }
            if include.get_ref().is_empty() {
                return Err(ctx.err(
                    include.span(),
                    "`include` is empty",
                    Some("e.g. include = [\"kratos\", \"keto\"]".into()),
                ));
            }
            let mut groups = Vec::new();
            for entry in include.get_ref() {
                let (inc_origin, inc_source) = included_source(&ctx, entry, dir)?;
                let inc_ctx = Ctx {
                    origin: &inc_origin,
                    source: &inc_source,
                    lines: Default::default(),
                };
                let inc_raw: RawScenario = toml::from_str(&inc_source)
                    .map_err(|e| toml_error(&inc_origin, &inc_source, &e))?;
                if inc_raw.include.is_some() {
                    return Err(ctx.err(
                        entry.span(),
                        format!("`{}` itself includes other scenarios", entry.get_ref()),
                        Some("include only scenarios that have flows".into()),
                    ));
                }
                check_name(&inc_ctx, &inc_raw.name)?;
                groups.push(compile_group(&inc_ctx, &inc_raw, overrides, &mut declared)?);
            }
            groups
        }
        None => vec![compile_group(&ctx, &raw, overrides, &mut declared)?],
    };
    if let Some(unknown) = overrides.keys().find(|k| !declared.contains_key(*k)) {
        return Err(ScenarioError {
            origin: origin.to_string(),
            position: None,
            message: format!("--param {unknown}: the scenario has no such parameter"),
            hint: Some(if declared.is_empty() {
                "it declares no parameters".to_string()
            } else {
                format!(
                    "its parameters: {}",
                    declared.into_keys().collect::<Vec<_>>().join(", ")
                )
            }),
        });
    }
    Ok(Scenario {
        name: raw.name.get_ref().clone(),
        description: raw.description.clone().unwrap_or_default(),
        origin: origin.to_string(),
        groups: groups.into_iter().map(std::sync::Arc::new).collect(),
        params: declared,
    })
}

fn check_name(ctx: &Ctx, name: &Spanned<String>) -> Result<()> {
    let n = name.get_ref();
    if n.is_empty()
        || !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ctx.err(
            name.span(),
            format!("scenario name `{n}` is not a valid name"),
            Some("letters, digits, `-` and `_`, e.g. name = \"login-check\"".into()),
        ));
    }
    Ok(())
}

fn included_source(
    ctx: &Ctx,
    entry: &Spanned<String>,
    dir: Option<&Path>,
) -> Result<(String, String)> {
    let name = entry.get_ref();
    if let Some(source) = super::builtin_source(name) {
        return Ok((format!("builtin:{name}"), source.to_string()));
    }
    let path = match dir {
        Some(d) => d.join(name),
        None => Path::new(name).to_path_buf(),
    };
    crate::limits::read_text(&path, crate::limits::MAX_SCENARIO_BYTES)
        .map(|s| (path.display().to_string(), s))
        .map_err(|e| {
            let why = match e {
                crate::limits::ReadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    "no such file".to_string()
                }
                crate::limits::ReadError::NotUtf8 { line, col } => {
                    format!("{}:{line}:{col}: not UTF-8 text", path.display())
                }
                e => e.to_string(),
            };
            ctx.err(
                entry.span(),
                format!("cannot include `{name}`: {why}"),
                Some(format!(
                    "built-ins: {}; other files are found relative to this one",
                    super::BUILTINS.map(|(n, _)| n).join(", ")
                )),
            )
        })
}

fn param_text(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Pool name → its fields, from every `push` in the group, checked for agreement.
fn pool_schemas(ctx: &Ctx, raw: &RawScenario) -> Result<BTreeMap<String, (Vec<String>, usize)>> {
    let mut schemas: BTreeMap<String, (Vec<String>, usize)> = BTreeMap::new();
    let phases = [&raw.setup, &raw.teardown, &raw.cleanup];
    let mut steps: Vec<&Spanned<RawStep>> = phases
        .iter()
        .filter_map(|p| p.as_ref())
        .flat_map(|p| p.step.iter())
        .chain(raw.flow.iter().flat_map(|f| f.get_ref().step.iter()))
        .collect();
    // In file order, so that a disagreement is reported where the later push is.
    steps.sort_by_key(|s| s.span().start);
    for step in steps {
        let Some((_, push)) = step.get_ref().iter().find(|(k, _)| k.get_ref() == "push") else {
            continue;
        };
        let Some(table) = push.get_ref().as_table() else {
            return Err(ctx.err(
                push.span(),
                "`push` must be a table of pools",
                Some("push = { pool = { field = \"{{ value }}\" } }".into()),
            ));
        };
        for (pool, fields) in table {
            let entry = ctx.entry(&push.span(), pool);
            let key_span = entry.as_ref().map_or(push.span(), Entry::key_span);
            let value_span = entry.as_ref().map_or(push.span(), |e| e.value.span());
            let Some(fields) = fields.as_table() else {
                return Err(ctx.err(
                    value_span,
                    format!("push to `{pool}`: give the entry's fields as a table"),
                    Some(format!(
                        "push = {{ {pool} = {{ id = \"{{{{ identity_id }}}}\" }} }}"
                    )),
                ));
            };
            if fields.is_empty() {
                return Err(ctx.err(
                    value_span,
                    format!("push to `{pool}` has no fields"),
                    Some(format!(
                        "push = {{ {pool} = {{ id = \"{{{{ identity_id }}}}\" }} }}"
                    )),
                ));
            }
            let names: Vec<String> = fields.keys().cloned().collect();
            let line = ctx.line(&key_span);
            match schemas.get(pool) {
                Some((existing, at)) if *existing != names => {
                    return Err(ctx.err(
                        key_span,
                        format!(
                            "pool `{pool}` gets fields {} here but {} at line {at}",
                            names.join(", "),
                            existing.join(", ")
                        ),
                        Some("every push to one pool must give the same fields".into()),
                    ))
                }
                Some(_) => {}
                None => {
                    schemas.insert(pool.clone(), (names, line));
                }
            }
        }
    }
    Ok(schemas)
}

fn compile_group(
    ctx: &Ctx,
    raw: &RawScenario,
    overrides: &Overrides,
    declared: &mut BTreeMap<String, String>,
) -> Result<Group> {
    let mut names = Names::default();
    for (key, value) in in_file_order(&raw.params) {
        let Some(mut text) = param_text(value.get_ref()) else {
            return Err(ctx.err(
                value.span(),
                format!(
                    "parameter `{}` must be a string, number or boolean",
                    key.get_ref()
                ),
                Some("parameters are single values: lists and tables are not".into()),
            ));
        };
        if let Some(v) = overrides.get(key.get_ref()) {
            text = v.clone();
        }
        declared.insert(key.get_ref().clone(), text.clone());
        names.params.insert(key.get_ref().clone(), text);
    }

    let schemas = pool_schemas(ctx, raw)?;
    let mut pools: Vec<PoolDecl> = Vec::new();
    for (key, decl) in in_file_order(&raw.pools) {
        let Some((fields, _)) = schemas.get(key.get_ref()) else {
            return Err(ctx.err(
                key.span(),
                format!(
                    "pool `{}` is declared but no step pushes to it",
                    key.get_ref()
                ),
                Some("add a step with push = { pool = { ... } } or remove the declaration".into()),
            ));
        };
        let capacity = match &decl.get_ref().capacity {
            None => DEFAULT_POOL_CAPACITY,
            Some(c) if *c.get_ref() >= 1 && *c.get_ref() <= 10_000_000 => *c.get_ref() as usize,
            Some(c) => {
                return Err(ctx.err(
                    c.span(),
                    format!("pool capacity {} is out of range", c.get_ref()),
                    Some("1 to 10000000".into()),
                ))
            }
        };
        let max_age = match &decl.get_ref().max_age {
            None => None,
            Some(a) => match humantime::parse_duration(a.get_ref()) {
                Ok(d) if !d.is_zero() => Some(d),
                _ => {
                    return Err(ctx.err(
                        a.span(),
                        format!("max_age = \"{}\" is not a positive duration", a.get_ref()),
                        Some("e.g. \"50m\"".into()),
                    ))
                }
            },
        };
        pools.push(PoolDecl {
            name: key.get_ref().clone(),
            capacity,
            fields: fields.clone(),
            ledger: decl.get_ref().ledger,
            max_age,
        });
    }
    for (name, (fields, _)) in &schemas {
        if !pools.iter().any(|p| &p.name == name) {
            pools.push(PoolDecl {
                name: name.clone(),
                capacity: DEFAULT_POOL_CAPACITY,
                fields: fields.clone(),
                ledger: false,
                max_age: None,
            });
        }
    }

    let mut vu_values = Vec::new();
    for (key, value) in in_file_order(&raw.vu) {
        check_var_name(ctx, key)?;
        vu_values.push(ctx.template(value, &names)?);
        let i = names.vu.len();
        names.vu.insert(key.get_ref().clone(), i);
    }

    let mut group = Group {
        name: raw.name.get_ref().clone(),
        pools,
        vu_values,
        setup: Vec::new(),
        teardown: Vec::new(),
        cleanup: Vec::new(),
        run_slots: 0,
        flows: Vec::new(),
        uses_mix: false,
    };

    if let Some(setup) = &raw.setup {
        let mut setup_names = names.clone();
        setup_names.vu.clear();
        for step in &setup.step {
            let compiled = compile_step(ctx, step, &mut setup_names, Phase::Setup, &group.pools)?;
            group.setup.push(compiled);
        }
        // Setup captures become run-wide values for everything after.
        names.run = setup_names.iter.clone();
        group.run_slots = setup_names.iter_len();
    }

    for (phase, raw_phase) in [
        (Phase::Teardown, &raw.teardown),
        (Phase::Cleanup, &raw.cleanup),
    ] {
        let Some(raw_phase) = raw_phase else { continue };
        let steps = compile_phase(ctx, raw_phase, &names, phase, &group.pools)?;
        match phase {
            Phase::Teardown => group.teardown = steps,
            _ => group.cleanup = steps,
        }
    }

    if raw.flow.is_empty() {
        return Err(ctx.err(
            raw.name.span(),
            format!("scenario `{}` has no flows", raw.name.get_ref()),
            Some("add at least one [[flow]] with [[flow.step]]s".into()),
        ));
    }
    for (i, flow) in raw.flow.iter().enumerate() {
        group
            .flows
            .push(compile_flow(ctx, flow, i, &names, &group.pools)?);
    }
    let with_mix = group.flows.iter().filter(|f| f.mix.is_some()).count();
    if with_mix > 0 && with_mix < group.flows.len() {
        let (i, _) = group
            .flows
            .iter()
            .enumerate()
            .find(|(_, f)| f.mix.is_none())
            .unwrap_or((0, &group.flows[0]));
        return Err(ctx.err(
            raw.flow[i].span(),
            format!(
                "flow `{}` has no `mix` while other flows do",
                group.flows[i].name
            ),
            Some("give every flow mix = \"read\" or \"write\", or none of them".into()),
        ));
    }
    group.uses_mix = with_mix > 0;
    let weighted = group.flows.iter().filter(|f| f.dedicated_vus.is_none());
    if weighted.clone().count() > 0 && weighted.map(|f| f.weight).sum::<f64>() <= 0.0 {
        return Err(ctx.err(
            raw.name.span(),
            "every flow's weight is 0: nothing would run",
            Some("check the parameters the weights use".into()),
        ));
    }
    check_pools_have_writers(ctx, raw, &group)?;
    Ok(group)
}

/// A pool that is only read at run time, never written before, would leave its readers
/// waiting forever: pushes in teardown or cleanup do not count.
fn check_pools_have_writers(ctx: &Ctx, raw: &RawScenario, group: &Group) -> Result<()> {
    let mut written = BTreeSet::new();
    for step in group
        .setup
        .iter()
        .chain(group.flows.iter().flat_map(|f| &f.steps))
    {
        written.extend(step.pushes.iter().map(|(p, _)| *p));
    }
    for (flow, raw_flow) in group.flows.iter().zip(&raw.flow) {
        for pick in &flow.picks {
            if !written.contains(&pick.pool) {
                let pool = &group.pools[pick.pool].name;
                let span = raw_flow
                    .get_ref()
                    .pick
                    .iter()
                    .chain(&raw_flow.get_ref().take)
                    .find(|(_, v)| v.get_ref() == pool)
                    .map_or(raw_flow.span(), |(_, v)| v.span());
                return Err(ctx.err(
                    span,
                    format!("pool `{pool}` is read here but only teardown or cleanup writes it"),
                    Some("push to it from setup or from a flow".into()),
                ));
            }
        }
    }
    Ok(())
}

fn check_var_name(ctx: &Ctx, key: &Spanned<String>) -> Result<()> {
    let k = key.get_ref();
    let reserved = [
        "param", "run", "vu", "endpoint", "fake", "random", "uuid", "seq",
    ];
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(ctx.err(
            key.span(),
            format!("`{k}` is not a valid name"),
            Some("letters, digits and `_`".into()),
        ));
    }
    if reserved.contains(&k.as_str()) {
        return Err(ctx.err(
            key.span(),
            format!("`{k}` is a reserved name"),
            Some(format!("reserved: {}", reserved.join(", "))),
        ));
    }
    Ok(())
}

fn compile_phase(
    ctx: &Ctx,
    raw: &RawPhase,
    names: &Names,
    phase: Phase,
    pools: &[PoolDecl],
) -> Result<Vec<Step>> {
    let mut out = Vec::new();
    for step in &raw.step {
        let mut names = names.clone();
        names.vu.clear();
        names.iter.clear();
        out.push(compile_step(ctx, step, &mut names, phase, pools)?);
    }
    Ok(out)
}

fn bind_pick(
    ctx: &Ctx,
    alias: &Spanned<String>,
    pool_name: &Spanned<String>,
    remove: bool,
    names: &mut Names,
    pools: &[PoolDecl],
) -> Result<Pick> {
    check_var_name(ctx, alias)?;
    let Some(pool) = pools.iter().position(|p| &p.name == pool_name.get_ref()) else {
        return Err(ctx.err(
            pool_name.span(),
            format!(
                "pool `{}` is read here but no step pushes to it",
                pool_name.get_ref()
            ),
            Some(match pools.len() {
                0 => "no pools exist yet: push = { name = { field = \"...\" } } creates one".into(),
                _ => format!(
                    "pools: {}",
                    pools
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        ));
    };
    let slots = pools[pool]
        .fields
        .iter()
        .map(|f| names.bind_iter(&format!("{}.{f}", alias.get_ref())))
        .collect();
    Ok(Pick {
        pool,
        remove,
        slots,
    })
}

fn compile_flow(
    ctx: &Ctx,
    raw: &Spanned<RawFlow>,
    index: usize,
    names: &Names,
    pools: &[PoolDecl],
) -> Result<Flow> {
    let f = raw.get_ref();
    let name = f
        .name
        .as_ref()
        .map_or_else(|| format!("flow-{}", index + 1), |n| n.get_ref().clone());
    if f.step.is_empty() {
        return Err(ctx.err(
            raw.span(),
            format!("flow `{name}` has no steps"),
            Some("add [[flow.step]] tables after it".into()),
        ));
    }
    let weight = match &f.weight {
        None => 1.0,
        Some(w) => match w.get_ref() {
            toml::Value::Integer(0) => {
                return Err(ctx.err(
                    w.span(),
                    format!("flow `{name}` has a weight of zero"),
                    Some("remove the flow, or give it a positive weight".into()),
                ))
            }
            toml::Value::Float(x) if *x == 0.0 => {
                return Err(ctx.err(
                    w.span(),
                    format!("flow `{name}` has a weight of zero"),
                    Some("remove the flow, or give it a positive weight".into()),
                ))
            }
            toml::Value::Integer(i) if *i > 0 => *i as f64,
            toml::Value::Float(x) if *x > 0.0 && x.is_finite() => *x,
            toml::Value::String(expr) => match weight::eval(expr, &names.params) {
                Ok(x) if x >= 0.0 && x.is_finite() => x,
                Ok(x) => {
                    return Err(ctx.err(
                        w.span(),
                        format!("weight `{expr}` is {x}, not a number of zero or more"),
                        Some("check the parameters the weight uses".into()),
                    ))
                }
                Err(e) => {
                    let at = source_offset(ctx.source, w.span().start, e.offset);
                    return Err(ctx.err(
                        at..at,
                        format!("weight `{expr}`: {}", e.message),
                        Some(e.hint.unwrap_or_else(|| {
                            "a number, or arithmetic over numbers and param.NAME".into()
                        })),
                    ));
                }
            },
            _ => {
                return Err(ctx.err(
                    w.span(),
                    "a weight must be a positive number or an expression string",
                    Some("e.g. weight = 3 or weight = \"10 * param.share\"".into()),
                ))
            }
        },
    };
    let mix = match &f.mix {
        None => None,
        Some(m) => match m.get_ref().as_str() {
            "read" => Some(Kind::Read),
            "write" => Some(Kind::Write),
            other => {
                return Err(ctx.err(
                    m.span(),
                    format!("mix = \"{other}\" is neither \"read\" nor \"write\""),
                    Some(match closest(other, &["read", "write"]) {
                        Some(c) => format!("did you mean \"{c}\"?"),
                        None => "--read-ratio draws from the read flows and the write flows".into(),
                    }),
                ))
            }
        },
    };
    let dedicated_vus = match &f.vus {
        None => None,
        Some(v) if *v.get_ref() >= 1 && *v.get_ref() <= 100_000 => Some(*v.get_ref() as usize),
        Some(v) => {
            return Err(ctx.err(
                v.span(),
                format!("vus = {} is out of range", v.get_ref()),
                Some("1 to 100000 virtual users".into()),
            ))
        }
    };
    let think = parse_think(ctx, f.think.as_ref())?;

    let mut names = names.clone();
    // Names set by some step of this flow, for a precise "used before it is set".
    for step in &f.step {
        if let Some((_, capture)) = step
            .get_ref()
            .iter()
            .find(|(k, _)| k.get_ref() == "capture")
        {
            for n in capture_names(capture.get_ref()) {
                names
                    .later
                    .insert(n, format!("by the step at line {}", ctx.line(&step.span())));
            }
        }
    }
    let mut lets = Vec::new();
    for (key, value) in in_file_order(&f.let_) {
        check_var_name(ctx, key)?;
        let t = ctx.template(value, &names)?;
        lets.push((names.bind_iter(key.get_ref()), t));
    }
    let mut picks = Vec::new();
    for (remove, map) in [(false, &f.pick), (true, &f.take)] {
        for (alias, pool) in in_file_order(map) {
            picks.push(bind_pick(ctx, alias, pool, remove, &mut names, pools)?);
        }
    }
    let mut steps = Vec::new();
    for step in &f.step {
        steps.push(compile_step(ctx, step, &mut names, Phase::Flow, pools)?);
    }
    let reads = steps.iter().filter(|s| s.op.kind() == Kind::Read).count() as u64;
    let writes = steps.len() as u64 - reads;
    Ok(Flow {
        name,
        weight,
        mix,
        dedicated_vus,
        think,
        lets,
        picks,
        steps,
        slots: names.iter_len(),
        reads,
        writes,
    })
}

fn parse_think(ctx: &Ctx, raw: Option<&Spanned<String>>) -> Result<Option<Think>> {
    raw.map(|t| {
        think::parse(t.get_ref()).map_err(|e| {
            ctx.err(
                t.span(),
                format!("think = \"{}\": {e}", t.get_ref()),
                Some("e.g. \"500ms\", \"uniform(1s, 3s)\", \"exponential(2s)\"".into()),
            )
        })
    })
    .transpose()
}

/// The names a `capture` value binds (for look-ahead hints; checked properly later).
fn capture_names(v: &toml::Value) -> Vec<String> {
    match v {
        toml::Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        toml::Value::Table(t) => t.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Setup,
    Flow,
    Teardown,
    Cleanup,
}

/// A step's fields, handed out one by one so that whatever is left over is unknown.
struct Fields<'a> {
    ctx: &'a Ctx<'a>,
    op_name: String,
    map: &'a RawStep,
    span: Range<usize>,
    known: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    fn get(
        &mut self,
        name: &'static str,
    ) -> Option<(&'a Spanned<String>, &'a Spanned<toml::Value>)> {
        self.known.push(name);
        self.map.iter().find(|(k, _)| k.get_ref() == name)
    }

    fn string(&mut self, name: &'static str) -> Result<Option<Spanned<String>>> {
        match self.get(name) {
            None => Ok(None),
            Some((_, v)) => match v.get_ref() {
                toml::Value::String(s) => Ok(Some(Spanned::new(v.span(), s.clone()))),
                toml::Value::Integer(i) => Ok(Some(Spanned::new(v.span(), i.to_string()))),
                _ => Err(self.ctx.err(
                    v.span(),
                    format!("{}: `{name}` must be a string", self.op_name),
                    Some(format!(
                        "{name} = \"...\", with {{{{ placeholders }}}} if needed"
                    )),
                )),
            },
        }
    }

    fn template(&mut self, name: &'static str, names: &Names) -> Result<Option<Template>> {
        self.string(name)?
            .map(|s| self.ctx.template(&s, names))
            .transpose()
    }

    fn required(&mut self, name: &'static str, names: &Names) -> Result<Template> {
        self.template(name, names)?.ok_or_else(|| {
            self.ctx.err(
                self.span.clone(),
                format!("{} needs `{name}`", self.op_name),
                Some(format!("add {name} = \"...\" to this step")),
            )
        })
    }

    fn or_default(&mut self, name: &'static str, default: &str, names: &Names) -> Result<Template> {
        match self.template(name, names)? {
            Some(t) => Ok(t),
            None => Template::parse(default, names).map_err(|e| {
                self.ctx.err(
                    self.span.clone(),
                    format!("default of `{name}`: {}", e.message),
                    e.hint,
                )
            }),
        }
    }

    fn u32(&mut self, name: &'static str) -> Result<Option<u32>> {
        match self.get(name) {
            None => Ok(None),
            Some((_, v)) => match v.get_ref() {
                toml::Value::Integer(i) if (1..=u32::MAX as i64).contains(i) => Ok(Some(*i as u32)),
                _ => Err(self.ctx.err(
                    v.span(),
                    format!("{}: `{name}` must be a positive integer", self.op_name),
                    Some(format!("e.g. {name} = 5")),
                )),
            },
        }
    }

    /// Fails on the first field no one asked for.
    fn finish(&self) -> Result<()> {
        for (key, _) in in_file_order(self.map) {
            let k = key.get_ref().as_str();
            if !self.known.contains(&k) && !COMMON_FIELDS.contains(&k) {
                let mut fields: Vec<&str> = self
                    .known
                    .iter()
                    .copied()
                    .filter(|f| !COMMON_FIELDS.contains(f))
                    .collect();
                fields.sort();
                fields.dedup();
                let all: Vec<&str> = fields.iter().chain(&COMMON_FIELDS).copied().collect();
                let suggestion = closest(k, &all)
                    .map(|c| format!("did you mean `{c}`? "))
                    .unwrap_or_default();
                let own = if fields.is_empty() {
                    "it has no fields of its own".to_string()
                } else {
                    format!("its fields: {}", fields.join(", "))
                };
                return Err(self.ctx.err(
                    key.span(),
                    format!("unknown field `{k}` for {}", self.op_name),
                    Some(format!(
                        "{suggestion}{own}; every step: {}",
                        COMMON_FIELDS[1..].join(", ")
                    )),
                ));
            }
        }
        Ok(())
    }
}

fn subject(f: &mut Fields, names: &Names, required: bool) -> Result<Option<SubjectT>> {
    let id = f.template("subject_id", names)?;
    let set_key = f.get("subject_set").map(|(k, _)| k.span());
    let set_raw = f.string("subject_set")?;
    let set = match &set_raw {
        Some(s) => {
            let t = f.ctx.template(s, names)?;
            if let Some(c) = t.constant() {
                if crate::scenario::model::parse_subject_set(c).is_none() {
                    return Err(f.ctx.err(
                        s.span(),
                        format!("subject_set `{c}` is not namespace:object#relation"),
                        Some("e.g. subject_set = \"groups:admins#member\"".into()),
                    ));
                }
            }
            Some(t)
        }
        None => None,
    };
    match (id, set) {
        (Some(_), Some(_)) => Err(f.ctx.err(
            set_key.unwrap_or(f.span.clone()),
            format!(
                "{}: give `subject_id` or `subject_set`, not both",
                f.op_name
            ),
            Some(
                "a tuple has one subject: an id such as user:alice, or a set such as \
                 groups:admins#member"
                    .into(),
            ),
        )),
        (Some(id), None) => Ok(Some(SubjectT::Id(id))),
        (None, Some(set)) => Ok(Some(SubjectT::Set(set))),
        (None, None) if required => Err(f.ctx.err(
            f.span.clone(),
            format!("{} needs `subject_id` or `subject_set`", f.op_name),
            Some(
                "an id (subject_id = \"user:alice\") or a set \
                 (subject_set = \"groups:admins#member\")"
                    .into(),
            ),
        )),
        (None, None) => Ok(None),
    }
}

fn tuple(f: &mut Fields, names: &Names) -> Result<TupleT> {
    Ok(TupleT {
        namespace: f.required("namespace", names)?,
        object: f.required("object", names)?,
        relation: f.required("relation", names)?,
        subject: subject(f, names, true)?.expect("required subject"),
    })
}

fn query(f: &mut Fields, names: &Names, namespace_required: bool) -> Result<QueryT> {
    Ok(QueryT {
        namespace: if namespace_required {
            Some(f.required("namespace", names)?)
        } else {
            f.template("namespace", names)?
        },
        object: f.template("object", names)?,
        relation: f.template("relation", names)?,
        subject: subject(f, names, false)?,
    })
}

fn hydra_client(f: &mut Fields, names: &Names) -> Result<HydraClientT> {
    let client = HydraClientT {
        client_id: f.required("client_id", names)?,
        client_secret: f.required("client_secret", names)?,
        auth_method: f.or_default("auth_method", "client_secret_basic", names)?,
    };
    check_auth_method(f, &client.auth_method)?;
    Ok(client)
}

fn check_auth_method(f: &Fields, t: &Template) -> Result<()> {
    if let Some(c) = t.constant() {
        if crate::ory::hydra::AuthMethod::from_name(c).is_none() {
            return Err(f.ctx.err(
                f.span.clone(),
                format!("{}: auth_method `{c}` is not supported", f.op_name),
                Some("client_secret_basic or client_secret_post".into()),
            ));
        }
    }
    Ok(())
}

/// The results an operation can have, for checking `expect`.
fn possible_verdicts(op: Op) -> &'static [Verdict] {
    use Verdict::*;
    match op {
        Op::KratosWhoami | Op::HydraIntrospect => &[Active, Inactive],
        Op::KratosLogin => &[Valid, Invalid],
        Op::KratosLookupIdentity | Op::KetoExpand => &[Ok, Absent],
        Op::KetoCheck => &[Allowed, Denied],
        _ => &[Ok],
    }
}

/// What a step of type `op` can capture.
fn outputs(op: Op) -> &'static [Output] {
    use Output::*;
    match op {
        Op::KratosRegister => &[IdentityId, SessionToken, Email, Password],
        Op::KratosLogin => &[IdentityId, SessionToken],
        Op::KratosLookupIdentity => &[IdentityId],
        Op::HydraCreateClient => &[ClientId, ClientSecret],
        Op::HydraToken => &[AccessToken],
        Op::KetoExpand | Op::KetoList => &[Count],
        _ => &[],
    }
}

fn compile_step(
    ctx: &Ctx,
    raw: &Spanned<RawStep>,
    names: &mut Names,
    phase: Phase,
    pools: &[PoolDecl],
) -> Result<Step> {
    let map = raw.get_ref();
    let Some((_, op_value)) = map.iter().find(|(k, _)| k.get_ref() == "op") else {
        return Err(ctx.err(
            raw.span(),
            "a step needs `op`",
            Some(format!("one of: {}", STEP_TYPES.join(", "))),
        ));
    };
    let Some(op_name) = op_value.get_ref().as_str() else {
        return Err(ctx.err(
            op_value.span(),
            "`op` must be a string",
            Some("e.g. op = \"keto.check\"".into()),
        ));
    };
    if !STEP_TYPES.contains(&op_name) {
        return Err(ctx.err(
            op_value.span(),
            format!("unknown step type `{op_name}`"),
            Some(match closest(op_name, &STEP_TYPES) {
                Some(c) => format!("did you mean `{c}`?"),
                None => format!("one of: {}", STEP_TYPES.join(", ")),
            }),
        ));
    }
    let mut f = Fields {
        ctx,
        op_name: op_name.to_string(),
        map,
        span: raw.span(),
        known: Vec::new(),
    };

    // `for_each` binds the entry's fields as `item.<field>` before anything else is read.
    let for_each_key = map.keys().find(|k| k.get_ref() == "for_each");
    let for_each = match f.string("for_each")? {
        None => None,
        Some(pool) if matches!(phase, Phase::Teardown | Phase::Cleanup) => {
            let alias = Spanned::new(pool.span(), "item".to_string());
            Some(bind_pick(ctx, &alias, &pool, false, names, pools)?)
        }
        Some(pool) => {
            return Err(ctx.err(
                for_each_key.map_or(pool.span(), |k| k.span()),
                format!(
                    "`for_each` is for teardown and cleanup steps, not {}",
                    match phase {
                        Phase::Setup => "setup",
                        _ => "flows",
                    }
                ),
                Some(match phase {
                    Phase::Setup => "setup runs each step once".into(),
                    _ => format!("in a flow, use pick = {{ item = \"{}\" }}", pool.get_ref()),
                }),
            ))
        }
    };

    let n: &Names = names;
    let (op, action) = match op_name {
        "kratos.register" => (
            Op::KratosRegister,
            Action::KratosRegister {
                email: f.or_default("email", "{{ fake.email }}", n)?,
                password: f.or_default("password", "{{ fake.password }}", n)?,
                first_name: f.or_default("first_name", "{{ fake.first_name }}", n)?,
                last_name: f.or_default("last_name", "{{ fake.last_name }}", n)?,
            },
        ),
        "kratos.login" => (
            Op::KratosLogin,
            Action::KratosLogin {
                identifier: f.required("identifier", n)?,
                password: f.required("password", n)?,
            },
        ),
        "kratos.whoami" => (
            Op::KratosWhoami,
            Action::KratosWhoami {
                session_token: f.required("session_token", n)?,
            },
        ),
        "kratos.logout" => (
            Op::KratosLogout,
            Action::KratosLogout {
                session_token: f.required("session_token", n)?,
            },
        ),
        "kratos.lookup_identity" => (
            Op::KratosLookupIdentity,
            Action::KratosLookupIdentity {
                identifier: f.required("identifier", n)?,
            },
        ),
        "kratos.delete_identity" => (
            Op::KratosDeleteIdentity,
            Action::KratosDeleteIdentity {
                identity_id: f.required("identity_id", n)?,
            },
        ),
        "hydra.create_client" => {
            let auth_method = f.or_default("auth_method", "client_secret_basic", n)?;
            check_auth_method(&f, &auth_method)?;
            (
                Op::HydraCreateClient,
                Action::HydraCreateClient {
                    auth_method,
                    scope: f.or_default("scope", "", n)?,
                },
            )
        }
        "hydra.token" => (
            Op::HydraToken,
            Action::HydraToken {
                client: hydra_client(&mut f, n)?,
                scope: f.template("scope", n)?,
            },
        ),
        "hydra.introspect" => (
            Op::HydraIntrospect,
            Action::HydraIntrospect {
                token: f.required("token", n)?,
            },
        ),
        "hydra.revoke" => (
            Op::HydraRevoke,
            Action::HydraRevoke {
                client: hydra_client(&mut f, n)?,
                token: f.required("token", n)?,
            },
        ),
        "hydra.delete_client" => (
            Op::HydraDeleteClient,
            Action::HydraDeleteClient {
                client_id: f.required("client_id", n)?,
            },
        ),
        "keto.write" => (Op::KetoWrite, Action::KetoWrite(tuple(&mut f, n)?)),
        "keto.check" => (
            Op::KetoCheck,
            Action::KetoCheck {
                tuple: tuple(&mut f, n)?,
                max_depth: f.u32("max_depth")?,
            },
        ),
        "keto.expand" => (
            Op::KetoExpand,
            Action::KetoExpand {
                namespace: f.required("namespace", n)?,
                object: f.required("object", n)?,
                relation: f.required("relation", n)?,
                max_depth: f.u32("max_depth")?,
            },
        ),
        "keto.list" => (
            Op::KetoList,
            Action::KetoList {
                query: query(&mut f, n, false)?,
                page_size: f.u32("page_size")?,
            },
        ),
        "keto.delete" => (Op::KetoDelete, Action::KetoDelete(query(&mut f, n, true)?)),
        _ => http_step(&mut f, n)?,
    };

    let name = f.string("name")?.map(|s| s.into_inner());
    let expect = compile_expect(&mut f, op)?;
    let think = parse_think(ctx, f.string("think")?.as_ref())?;
    f.finish()?;

    // Captures bind after the step's own fields were resolved: a step cannot use its output.
    let mut captures = Vec::new();
    if let Some((_, capture)) = map.iter().find(|(k, _)| k.get_ref() == "capture") {
        let entries = ctx.entries_of(capture);
        let table = match capture.get_ref() {
            toml::Value::Array(_) => false,
            toml::Value::Table(_) => true,
            _ => {
                return Err(ctx.err(
                    capture.span(),
                    "`capture` is a list of outputs or a table alias = output",
                    Some(
                        "capture = [\"identity_id\"] or capture = { id = \"identity_id\" }".into(),
                    ),
                ))
            }
        };
        // (alias, where it is written, output, where it is written)
        let mut pairs = Vec::new();
        for entry in &entries {
            let Some(output_name) = entry.value.get_ref().as_str() else {
                return Err(ctx.err(
                    entry.value.span(),
                    "a captured output is a string",
                    Some(if table {
                        "capture = { alias = \"output\" }".into()
                    } else {
                        "capture = [\"output\", ...]".into()
                    }),
                ));
            };
            let alias = entry
                .key
                .clone()
                .unwrap_or_else(|| Spanned::new(entry.value.span(), output_name.to_string()));
            pairs.push((alias, output_name.to_string(), entry.value.span()));
        }
        let is_http = matches!(
            op,
            Op::KratosHttpRead
                | Op::KratosHttpWrite
                | Op::HydraHttpRead
                | Op::HydraHttpWrite
                | Op::KetoHttpRead
                | Op::KetoHttpWrite
        );
        for (alias, output_name, output_span) in pairs {
            let output = if is_http {
                match output_name.as_str() {
                    "status" => Some(Output::Status),
                    p if p.starts_with('/') || p.is_empty() => Some(Output::Json(p.to_string())),
                    _ => None,
                }
            } else {
                outputs(op)
                    .iter()
                    .find(|o| o.name() == output_name)
                    .cloned()
            };
            let Some(output) = output else {
                let available: Vec<&str> = if is_http {
                    vec!["status", "/json/pointer"]
                } else {
                    outputs(op).iter().map(|o| o.name()).collect()
                };
                return Err(ctx.err(
                    output_span,
                    format!("{op_name} has no output `{output_name}`"),
                    Some(if available.is_empty() {
                        format!("{op_name} has nothing to capture")
                    } else {
                        match closest(&output_name, &available) {
                            Some(c) if !is_http => format!("did you mean `{c}`?"),
                            _ => format!("it can capture: {}", available.join(", ")),
                        }
                    }),
                ));
            };
            let alias_text = alias.get_ref();
            if alias_text.is_empty()
                || !alias_text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(ctx.err(
                    alias.span(),
                    format!("`{alias_text}` is not a valid name"),
                    Some(if is_http && !table {
                        "name what an http step captures: capture = { name = \"/json/pointer\" }"
                            .into()
                    } else {
                        "letters, digits and `_`".into()
                    }),
                ));
            }
            names.later.remove(alias_text);
            captures.push((output, names.bind_iter(alias_text)));
        }
    }

    let mut pushes = Vec::new();
    if let Some((push_key, push)) = map.iter().find(|(k, _)| k.get_ref() == "push") {
        if phase != Phase::Setup && phase != Phase::Flow {
            return Err(ctx.err(
                push_key.span(),
                "teardown and cleanup steps cannot push",
                Some("push from setup or from a flow".into()),
            ));
        }
        // Shapes were checked with the pool schemas.
        for (pool_name, fields) in push.get_ref().as_table().into_iter().flatten() {
            let Some(pool) = pools.iter().position(|p| &p.name == pool_name) else {
                return Err(ctx.err(
                    push.span(),
                    format!("push to `{pool_name}`: no such pool"),
                    Some("every pool a step pushes to exists".into()),
                ));
            };
            let pool_span = ctx
                .entry(&push.span(), pool_name)
                .map_or(push.span(), |e| e.value.span());
            let mut templates = Vec::new();
            for field in &pools[pool].fields {
                let entry = ctx.entry(&pool_span, field);
                let span = entry.as_ref().map_or(pool_span.clone(), |e| e.value.span());
                let Some(value) = fields.get(field).and_then(|v| v.as_str()) else {
                    return Err(ctx.err(
                        span,
                        format!("push to `{pool_name}`: field `{field}` must be a string"),
                        Some(format!("e.g. {field} = \"{{{{ identity_id }}}}\"")),
                    ));
                };
                let t = Template::parse(value, names).map_err(|e| ctx.template_err(span, e))?;
                templates.push(t);
            }
            pushes.push((pool, templates));
        }
    }

    Ok(Step {
        op,
        name,
        line: ctx.line(&raw.span()),
        action,
        expect,
        think,
        captures,
        pushes,
        for_each,
    })
}

fn compile_expect(f: &mut Fields, op: Op) -> Result<Expect> {
    let Some((_, v)) = f.get("expect") else {
        return Ok(Expect::Any);
    };
    let is_http = f.op_name == "http";
    let status = |x: &toml::Value| {
        x.as_integer()
            .filter(|c| (100..=599).contains(c))
            .map(|c| c as u16)
    };
    match v.get_ref() {
        _ if is_http => {
            let codes: Option<Vec<u16>> = match v.get_ref() {
                toml::Value::Array(a) => a.iter().map(status).collect(),
                x => status(x).map(|c| vec![c]),
            };
            match codes {
                Some(c) if !c.is_empty() => Ok(Expect::Status(c)),
                _ => Err(f.ctx.err(
                    v.span(),
                    "http: `expect` is an HTTP status or a list of them",
                    Some("e.g. expect = 200 or expect = [200, 204]".into()),
                )),
            }
        }
        toml::Value::String(s) => {
            let possible = possible_verdicts(op);
            match Verdict::from_name(s) {
                Some(verdict) if possible.contains(&verdict) => Ok(Expect::Verdict(verdict)),
                _ => Err(f.ctx.err(
                    v.span(),
                    format!("{} never answers `{s}`", f.op_name),
                    Some(format!(
                        "it answers: {}",
                        possible
                            .iter()
                            .map(|v| v.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                )),
            }
        }
        _ => Err(f.ctx.err(
            v.span(),
            "`expect` must be a string",
            Some(format!(
                "{} answers: {}",
                f.op_name,
                possible_verdicts(op)
                    .iter()
                    .map(|v| v.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        )),
    }
}

fn http_step(f: &mut Fields, names: &Names) -> Result<(Op, Action)> {
    let service = match f.string("service")? {
        Some(s) => match s.get_ref().as_str() {
            "kratos" => Service::Kratos,
            "hydra" => Service::Hydra,
            "keto" => Service::Keto,
            other => {
                return Err(f.ctx.err(
                    s.span(),
                    format!("http: service `{other}` is not kratos, hydra or keto"),
                    Some("the service whose figures the call counts in".into()),
                ))
            }
        },
        None => {
            return Err(f.ctx.err(
                f.span.clone(),
                "http needs `service`",
                Some(
                    "service = \"kratos\", \"hydra\" or \"keto\": the figures it counts in".into(),
                ),
            ))
        }
    };
    let method = match f.string("method")? {
        None => reqwest::Method::GET,
        Some(m) => {
            let upper = m.get_ref().to_ascii_uppercase();
            // Any token is a valid method to `http`, so a typo would go out on the wire.
            match HTTP_METHODS.iter().find(|known| **known == upper) {
                Some(known) => {
                    reqwest::Method::from_bytes(known.as_bytes()).unwrap_or(reqwest::Method::GET)
                }
                None => {
                    return Err(f.ctx.err(
                        m.span(),
                        format!("http: `{}` is not an HTTP method", m.get_ref()),
                        Some(match closest(&upper, &HTTP_METHODS) {
                            Some(c) => format!("did you mean `{c}`?"),
                            None => format!("one of: {}", HTTP_METHODS.join(", ")),
                        }),
                    ))
                }
            }
        }
    };
    let url_raw = f.string("url")?.ok_or_else(|| {
        f.ctx.err(
            f.span.clone(),
            "http needs `url`",
            Some("e.g. url = \"{{ endpoint.kratos_public }}/health/alive\"".into()),
        )
    })?;
    let url = f.ctx.template(&url_raw, names)?;
    if let Some(c) = url.constant() {
        if crate::config::parse_base_url("http url", c).is_err() {
            return Err(f.ctx.err(
                url_raw.span(),
                format!("http: `{c}` is not an http(s) URL"),
                Some("start it with http:// or https://, or with {{ endpoint.NAME }}".into()),
            ));
        }
    }
    let mut headers = Vec::new();
    if let Some((_, h)) = f.get("headers") {
        if h.get_ref().as_table().is_none() {
            return Err(f.ctx.err(
                h.span(),
                "http: `headers` must be a table",
                Some("headers = { accept = \"application/json\" }".into()),
            ));
        }
        for entry in f.ctx.entries_of(h) {
            let k = entry.key.as_ref().map_or("", |k| k.get_ref().as_str());
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                f.ctx.err(
                    entry.key_span(),
                    format!("http: `{k}` is not a header name"),
                    Some("letters, digits and `-`".into()),
                )
            })?;
            let Some(v) = entry.value.get_ref().as_str() else {
                return Err(f.ctx.err(
                    entry.value.span(),
                    format!("http: header `{k}` must be a string"),
                    Some(format!("{k} = \"...\"")),
                ));
            };
            let t =
                Template::parse(v, names).map_err(|e| f.ctx.template_err(entry.value.span(), e))?;
            headers.push((name, t));
        }
    }
    let body = f.template("body", names)?;
    let admin_auth = match f.get("admin_auth") {
        None => false,
        Some((_, v)) => v.get_ref().as_bool().ok_or_else(|| {
            f.ctx.err(
                v.span(),
                "http: `admin_auth` is true or false",
                Some("true sends the configured admin API key".into()),
            )
        })?,
    };
    let kind = match f.string("kind")? {
        None if matches!(method, reqwest::Method::GET | reqwest::Method::HEAD) => Kind::Read,
        None => Kind::Write,
        Some(k) => match k.get_ref().as_str() {
            "read" => Kind::Read,
            "write" => Kind::Write,
            other => {
                return Err(f.ctx.err(
                    k.span(),
                    format!("http: kind `{other}` is not read or write"),
                    Some("the side of --read-ratio the call counts on".into()),
                ))
            }
        },
    };
    let op = match (service, kind) {
        (Service::Kratos, Kind::Read) => Op::KratosHttpRead,
        (Service::Kratos, Kind::Write) => Op::KratosHttpWrite,
        (Service::Hydra, Kind::Read) => Op::HydraHttpRead,
        (Service::Hydra, Kind::Write) => Op::HydraHttpWrite,
        (Service::Keto, Kind::Read) => Op::KetoHttpRead,
        (Service::Keto, Kind::Write) => Op::KetoHttpWrite,
    };
    Ok((
        op,
        Action::Http(HttpT {
            method,
            url,
            headers,
            body,
            admin_auth,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(source: &str) -> String {
        match compile("t.toml", source, None, &Overrides::new()) {
            Ok(_) => "it compiles".into(),
            Err(e) => e.to_string(),
        }
    }

    const FLOW: &str = "[[flow]]\n[[flow.step]]\nop = \"kratos.register\"\n";

    #[test]
    fn template_errors_point_into_the_source_past_escapes() {
        // Before: the offset into the decoded text was used as an offset into the source, so
        // escapes moved the column, and a multi-byte character could make it panic.
        let step = |value: &str| {
            format!("name = \"x\"\n[[flow]]\n[[flow.step]]\nop = \"kratos.register\"\nemail = {value}\n")
        };
        let e = error(&step(r#""\t\t\té{{x}}""#));
        assert_eq!(
            e,
            "t.toml:5:19: `x` is used before it is set (set it under `let`, `[vu]`, with \
             `pick`, or capture it in an earlier step: capture = [\"x\"])"
        );
        assert!(error(&step(r#""\"q\" \u00e9-{{ nope }}""#)).starts_with("t.toml:5:26: `nope`"));
        assert!(error(&step(r#""\U0001F600{{ nope }}""#)).starts_with("t.toml:5:23: `nope`"));
        // Literal strings have no escapes; multi-line strings drop their first newline and
        // line-ending backslashes.
        assert!(error(&step(r#"'\t{{ nope }}'"#)).starts_with("t.toml:5:15: `nope`"));
        assert!(error(&step("\"\"\"\n  a-{{ nope }}\"\"\"")).starts_with("t.toml:6:8: `nope`"));
        assert!(error(&step("\"\"\"a \\\n    b{{ nope }}\"\"\"")).starts_with("t.toml:6:9: `nope`"));
    }

    #[test]
    fn source_offsets_stay_on_character_boundaries() {
        let source = "x = \"é\\t\"";
        for offset in 0..20 {
            let at = source_offset(source, 4, offset);
            assert!(
                source.is_char_boundary(at) && at <= source.len(),
                "{offset} -> {at}"
            );
        }
        // Truncated escapes end the walk instead of slicing out of bounds.
        for source in ["\"\\u12", "\"\\", "\"\"\"\\  ", "'"] {
            assert!(source_offset(source, 0, 10) <= source.len());
        }
        assert_eq!(position("aé\nb", 2), (1, 2));
    }

    #[test]
    fn toml_errors_read_as_what_and_hint() {
        assert_eq!(
            error("name = \"x\"\n[[flow]\n"),
            "t.toml:2:7: invalid table header (expected `.`, `]]`)"
        );
        let hint = "(a value is a \"string\", a number, true or false, [a list] or { a = table })";
        assert_eq!(
            error("name ="),
            format!("t.toml:1:7: `=` without a value {hint}")
        );
        assert_eq!(
            error("name = \"x\"\nweight =  # none\n"),
            format!("t.toml:2:11: `=` without a value {hint}")
        );
        assert_eq!(
            error(&format!("name = \"x\"\n{FLOW}nmae = 1\n")),
            "t.toml:5:1: unknown field `nmae` for kratos.register (did you mean `name`? its \
             fields: email, first_name, last_name, password; every step: name, expect, think, \
             capture, push, for_each)"
        );
        assert_eq!(
            error("name = \"x\"\n[pools]\np = { size = 1 }\n"),
            "t.toml:3:7: unknown key `size` (keys here: capacity, ledger, max_age)"
        );
        assert_eq!(
            error("name = 3\n"),
            "t.toml:1:8: invalid type: integer `3` (expected a string)"
        );
        assert_eq!(
            error("name = \"x\"\nname = \"y\"\n"),
            "t.toml:2:1: duplicate key `name` in document root (a key can appear only once in \
             a table)"
        );
        assert_eq!(
            error("description = \"x\"\n"),
            "t.toml:1:1: the scenario has no `name` (start the file with name = \"my-scenario\")"
        );
    }

    #[test]
    fn list_and_table_entries_are_pointed_at_one_by_one() {
        let source = "name = \"x\"\n[[flow]]\n[[flow.step]]\nop = \"kratos.register\"\n";
        let e = error(&format!(
            "{source}capture = {{ id = \"identity_id\", t = \"token\" }}\n"
        ));
        assert_eq!(
            e,
            "t.toml:5:37: kratos.register has no output `token` (it can capture: identity_id, \
             session_token, email, password)"
        );
        let e = error(&format!("{source}capture = {{ \"a b\" = \"email\" }}\n"));
        assert!(
            e.starts_with("t.toml:5:13: `a b` is not a valid name"),
            "{e}"
        );
        let e = error(&format!("{source}capture = [\n  \"email\",\n  3,\n]\n"));
        assert!(
            e.starts_with("t.toml:7:3: a captured output is a string"),
            "{e}"
        );
        let e = error(&format!("{source}capture = [\"sesion_token\"]\n"));
        assert!(e.ends_with("(did you mean `session_token`?)"), "{e}");
        let e = error(&format!(
            "{source}capture = [\"email\"]\npush = {{ p = {{ e = \"{{{{ email }}}}\", n = 1 }} }}\n"
        ));
        assert!(
            e.starts_with("t.toml:6:39: push to `p`: field `n` must be a string"),
            "{e}"
        );
    }

    #[test]
    fn http_methods_are_checked_and_headers_pointed_at() {
        let step = |extra: &str| {
            format!(
                "name = \"x\"\n[[flow]]\n[[flow.step]]\nop = \"http\"\nservice = \"keto\"\n\
                 url = \"{{{{ endpoint.keto_read }}}}/health/ready\"\n{extra}\n"
            )
        };
        assert_eq!(error(&step("method = \"post\"")), "it compiles");
        assert_eq!(
            error(&step("method = \"GTE\"")),
            "t.toml:7:10: http: `GTE` is not an HTTP method (did you mean `GET`?)"
        );
        assert_eq!(
            error(&step("method = \"BREW\"")),
            "t.toml:7:10: http: `BREW` is not an HTTP method (one of: GET, HEAD, POST, PUT, \
             PATCH, DELETE, OPTIONS)"
        );
        let e = error(&step(
            "headers = { accept = \"x\", \"bad header\" = \"y\" }",
        ));
        assert!(
            e.starts_with("t.toml:7:27: http: `bad header` is not a header name"),
            "{e}"
        );
        let e = error(&step("headers = { x-id = \"{{ nope }}\" }"));
        assert!(
            e.starts_with("t.toml:7:24: `nope` is used before it is set"),
            "{e}"
        );
    }

    #[test]
    fn misplaced_fields_are_pointed_at_by_their_key() {
        let e = error(
            "name = \"x\"\n[[flow]]\n[[flow.step]]\nop = \"keto.check\"\nnamespace = \"n\"\n\
             object = \"o\"\nrelation = \"r\"\nsubject_set = \"a:b#c\"\nsubject_id = \"u\"\n",
        );
        assert!(e.starts_with("t.toml:8:1: keto.check: give `subject_id` or `subject_set`"));
        let e = error(&format!(
            "name = \"x\"\n[[setup.step]]\nop = \"kratos.register\"\nfor_each = \"p\"\n{FLOW}"
        ));
        assert_eq!(
            e,
            "t.toml:4:1: `for_each` is for teardown and cleanup steps, not setup (setup runs \
             each step once)"
        );
    }

    #[test]
    fn a_missing_include_says_so_plainly() {
        let dir = tempfile::tempdir().unwrap();
        let e = compile(
            "t.toml",
            "name = \"x\"\ninclude = [\"gone.toml\"]\n",
            Some(dir.path()),
            &Overrides::new(),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "t.toml:2:12: cannot include `gone.toml`: no such file (built-ins: kratos, hydra, \
             keto, all, seed-parity; other files are found relative to this one)"
        );
    }
}
