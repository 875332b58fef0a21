//! Templates: the strings of a scenario file with `{{ expression }}` placeholders.
//!
//! Parsing happens once, when the file is loaded, into parts whose variable references are
//! already resolved to slots; rendering on the hot path is then a walk over the parts with no
//! name look-ups. Parameters are constants by the time a run starts, so they are folded into
//! the literal text.

use super::names::{Scope, Slot};
use crate::ground::text::closest;
use crate::ground::Endpoint;
use std::sync::Arc;

/// One value in a virtual user's context. Values may be secrets (passwords, tokens), so
/// nothing ever formats them into a message or report.
pub type Value = Arc<str>;

/// A value computed fresh each time the template renders.
#[derive(Clone, Debug, PartialEq)]
pub enum Generator {
    /// A unique, plausible email: first.last.<run tag>.<vu>.<seq>@example.org
    FakeEmail,
    FakeFirstName,
    FakeLastName,
    /// 20 random alphanumerics: accepted by Kratos's password policy, never a breached one.
    FakePassword,
    Uuid,
    /// Inclusive range.
    RandomInt(i64, i64),
    Choice(Vec<String>),
    /// The virtual user's next sequence number (unique per user).
    Seq,
    VuId,
    /// The virtual user's iteration number (0-based).
    Iteration,
    RunTag,
    /// A base URL of the target, e.g. `endpoint.keto_read`.
    Endpoint(Endpoint),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    Text(String),
    Var(Slot),
    Gen(Generator),
}

/// A parsed template. A template that is only literal text renders without allocating.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
    /// The single literal value, when the template has no placeholder.
    constant: Option<Value>,
}

/// Where in the template string a parse error is, as a byte offset into the string.
#[derive(Debug, PartialEq)]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl Template {
    pub fn literal(text: &str) -> Template {
        Template {
            parts: vec![Part::Text(text.to_string())],
            constant: Some(Value::from(text)),
        }
    }

    /// The value of one slot, for fields the compiler fills in rather than the file.
    pub fn slot(slot: Slot) -> Template {
        Template {
            parts: vec![Part::Var(slot)],
            constant: None,
        }
    }

    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    pub fn constant(&self) -> Option<&Value> {
        self.constant.as_ref()
    }

    /// Every context slot the template reads.
    pub fn slots(&self) -> impl Iterator<Item = Slot> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(s) => Some(*s),
            _ => None,
        })
    }

    /// Parses `source`, resolving names through `scope`.
    pub fn parse(source: &str, scope: &dyn Scope) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = source;
        let mut offset = 0;
        while let Some(open) = rest.find("{{") {
            text.push_str(&rest[..open]);
            let inner_start = open + 2;
            let Some(close) = rest[inner_start..].find("}}") else {
                return Err(TemplateError {
                    offset: offset + open,
                    message: "`{{` is never closed".into(),
                    hint: Some("close the placeholder with `}}`".into()),
                });
            };
            let inner = &rest[inner_start..inner_start + close];
            let expr_offset = offset + inner_start + (inner.len() - inner.trim_start().len());
            match parse_expr(inner.trim(), scope).map_err(|(message, hint)| TemplateError {
                offset: expr_offset,
                message,
                hint,
            })? {
                Part::Text(t) => text.push_str(&t),
                part => {
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    parts.push(part);
                }
            }
            let consumed = inner_start + close + 2;
            offset += consumed;
            rest = &rest[consumed..];
        }
        text.push_str(rest);
        if !text.is_empty() || parts.is_empty() {
            parts.push(Part::Text(text));
        }
        let constant = match parts.as_slice() {
            [Part::Text(t)] => Some(Value::from(t.as_str())),
            _ => None,
        };
        Ok(Template { parts, constant })
    }
}

type ExprError = (String, Option<String>);

/// Placeholders that take arguments.
const FUNCTIONS: [&str; 2] = ["random.int", "random.choice"];

/// Placeholders without arguments that generate a value.
const GENERATORS: [&str; 9] = [
    "fake.email",
    "fake.first_name",
    "fake.last_name",
    "fake.password",
    "uuid",
    "seq",
    "vu.id",
    "vu.iteration",
    "run.tag",
];

/// Prefixes of generated values; names a file sets cannot start with them.
const GENERATOR_PREFIXES: [&str; 4] = ["fake.", "random.", "vu.", "run."];

fn parse_expr(expr: &str, scope: &dyn Scope) -> Result<Part, ExprError> {
    if expr.is_empty() {
        return Err(("empty placeholder `{{ }}`".into(), None));
    }
    let (head, args) = match expr.find('(') {
        Some(i) => {
            let Some(inner) = expr[i + 1..].strip_suffix(')') else {
                return Err((
                    format!("`{expr}`: missing `)`"),
                    Some("write e.g. random.int(1, 100)".into()),
                ));
            };
            (expr[..i].trim(), Some(parse_args(inner)?))
        }
        None => (expr, None),
    };
    let no_args = |part: Part| match &args {
        None => Ok(part),
        Some(_) => Err((format!("`{head}` takes no arguments"), None)),
    };
    match head {
        "fake.email" => no_args(Part::Gen(Generator::FakeEmail)),
        "fake.first_name" => no_args(Part::Gen(Generator::FakeFirstName)),
        "fake.last_name" => no_args(Part::Gen(Generator::FakeLastName)),
        "fake.password" => no_args(Part::Gen(Generator::FakePassword)),
        "uuid" => no_args(Part::Gen(Generator::Uuid)),
        "seq" => no_args(Part::Gen(Generator::Seq)),
        "vu.id" => no_args(Part::Gen(Generator::VuId)),
        "vu.iteration" => no_args(Part::Gen(Generator::Iteration)),
        "run.tag" => no_args(Part::Gen(Generator::RunTag)),
        "random.int" => {
            let args = args.unwrap_or_default();
            let ints: Option<Vec<i64>> = args.iter().map(|a| a.parse().ok()).collect();
            match ints.as_deref() {
                Some(&[lo, hi]) if lo <= hi => Ok(Part::Gen(Generator::RandomInt(lo, hi))),
                Some(&[lo, hi]) => Err((format!("random.int({lo}, {hi}): {lo} > {hi}"), None)),
                _ => Err((
                    "random.int needs two integers".into(),
                    Some("write e.g. random.int(0, 999)".into()),
                )),
            }
        }
        "random.choice" => match args {
            Some(choices) if !choices.is_empty() => Ok(Part::Gen(Generator::Choice(choices))),
            _ => Err((
                "random.choice needs at least one value".into(),
                Some("write e.g. random.choice(\"reader\", \"editor\")".into()),
            )),
        },
        _ if head.starts_with("endpoint.") => {
            let name = &head["endpoint.".len()..];
            match Endpoint::from_name(name) {
                Some(e) => no_args(Part::Gen(Generator::Endpoint(e))),
                None => Err((
                    format!("unknown endpoint `{name}`"),
                    Some(format!(
                        "one of: {}",
                        Endpoint::ALL.map(Endpoint::name).join(", ")
                    )),
                )),
            }
        }
        _ if head.starts_with("param.") => {
            let name = &head["param.".len()..];
            match scope.param(name) {
                Some(v) => no_args(Part::Text(v)),
                None => Err((
                    format!("unknown parameter `{name}`"),
                    Some(match closest(name, &scope.param_names()) {
                        Some(c) => format!("did you mean `param.{c}`?"),
                        None => "declare it under [params]".into(),
                    }),
                )),
            }
        }
        _ => {
            if args.is_some() {
                return Err((
                    format!("unknown function `{head}`"),
                    Some(match closest(head, &FUNCTIONS) {
                        Some(c) => format!("did you mean `{c}`?"),
                        None => format!("functions: {}", FUNCTIONS.join(", ")),
                    }),
                ));
            }
            // User names never contain these prefixes (they are reserved), so this is a
            // misspelt generator rather than a variable set too late.
            if GENERATOR_PREFIXES.iter().any(|p| head.starts_with(p)) {
                return Err((
                    format!("unknown generator `{head}`"),
                    Some(
                        match closest(head, &[&GENERATORS[..], &FUNCTIONS[..]].concat()) {
                            Some(c) => format!("did you mean `{c}`?"),
                            None => format!("generators: {}", GENERATORS.join(", ")),
                        },
                    ),
                ));
            }
            if !head
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            {
                return Err((format!("`{head}` is not a name or function"), None));
            }
            scope
                .lookup(head)
                .map(Part::Var)
                .map_err(|hint| (format!("`{head}` is used before it is set"), Some(hint)))
        }
    }
}

/// Comma-separated integers or double-quoted strings.
fn parse_args(inner: &str) -> Result<Vec<String>, ExprError> {
    let mut out = Vec::new();
    let mut chars = inner.trim().chars().peekable();
    if chars.peek().is_none() {
        return Ok(out);
    }
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let arg = if chars.peek() == Some(&'"') {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => s.push(c),
                        None => return Err(("unterminated string argument".into(), None)),
                    },
                    Some(c) => s.push(c),
                    None => return Err(("unterminated string argument".into(), None)),
                }
            }
            s
        } else {
            let mut s = String::new();
            while chars.peek().is_some_and(|c| *c != ',') {
                s.push(chars.next().unwrap_or(' '));
            }
            let s = s.trim().to_string();
            if s.is_empty() || s.parse::<i64>().is_err() {
                return Err((
                    format!("argument `{s}` is neither an integer nor a \"quoted string\""),
                    None,
                ));
            }
            s
        };
        out.push(arg);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => return Ok(out),
            Some(',') => continue,
            Some(c) => return Err((format!("unexpected `{c}` in arguments"), None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TestScope;
    impl Scope for TestScope {
        fn lookup(&self, name: &str) -> Result<Slot, String> {
            match name {
                "email" => Ok(Slot::Iter(0)),
                "user.password" => Ok(Slot::Iter(1)),
                _ => Err(format!("set `{name}` first")),
            }
        }
        fn param(&self, name: &str) -> Option<String> {
            (name == "namespace").then(|| "documents".to_string())
        }
        fn param_names(&self) -> Vec<&str> {
            vec!["namespace"]
        }
    }

    fn parse(s: &str) -> Result<Template, TemplateError> {
        Template::parse(s, &TestScope)
    }

    #[test]
    fn literal_text_is_a_constant_and_params_fold_into_it() {
        assert_eq!(
            parse("viewer").unwrap().constant().unwrap().as_ref(),
            "viewer"
        );
        let t = parse("ns-{{ param.namespace }}-x").unwrap();
        assert_eq!(t.constant().unwrap().as_ref(), "ns-documents-x");
    }

    #[test]
    fn variables_generators_and_text_keep_their_order() {
        let t = parse("{{email}}:{{ random.int(1, 9) }}/{{ user.password }}").unwrap();
        assert_eq!(
            t.parts(),
            &[
                Part::Var(Slot::Iter(0)),
                Part::Text(":".into()),
                Part::Gen(Generator::RandomInt(1, 9)),
                Part::Text("/".into()),
                Part::Var(Slot::Iter(1)),
            ]
        );
        let t = parse(r#"{{ random.choice("a b", "c\"d") }}"#).unwrap();
        assert_eq!(
            t.parts(),
            &[Part::Gen(Generator::Choice(vec![
                "a b".into(),
                "c\"d".into()
            ]))]
        );
    }

    #[test]
    fn errors_point_at_the_expression() {
        let e = parse("x-{{ session_token }}").unwrap_err();
        assert_eq!(e.offset, 5);
        assert_eq!(e.message, "`session_token` is used before it is set");
        assert!(parse("{{ email")
            .unwrap_err()
            .message
            .contains("never closed"));
        assert!(parse("{{ param.nope }}")
            .unwrap_err()
            .message
            .contains("unknown parameter"));
        assert!(parse("{{ random.int(5, 1) }}")
            .unwrap_err()
            .message
            .contains("5 > 1"));
        assert!(parse("{{ random.int(a, 1) }}").is_err());
        assert!(parse("{{ endpoint.kratos }}")
            .unwrap_err()
            .message
            .contains("unknown endpoint"));
        assert!(parse("{{ uuid(1) }}")
            .unwrap_err()
            .message
            .contains("no arguments"));
        assert!(parse("{{ }}").is_err());
    }

    #[test]
    fn misspelt_generators_functions_and_parameters_get_a_suggestion() {
        let e = parse("{{ fake.emial }}").unwrap_err();
        assert_eq!(e.message, "unknown generator `fake.emial`");
        assert_eq!(e.hint.as_deref(), Some("did you mean `fake.email`?"));
        let e = parse("{{ vu.nothing_like_it }}").unwrap_err();
        assert_eq!(e.message, "unknown generator `vu.nothing_like_it`");
        assert!(e.hint.unwrap().starts_with("generators: fake.email"));
        let e = parse("{{ random.ints(1, 2) }}").unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean `random.int`?"));
        let e = parse("{{ param.namespaces }}").unwrap_err();
        assert_eq!(e.message, "unknown parameter `namespaces`");
        assert_eq!(e.hint.as_deref(), Some("did you mean `param.namespace`?"));
        let e = parse("{{ param.other }}").unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("declare it under [params]"));
        // Names that are not generators are still variables.
        assert_eq!(
            parse("{{ session }}").unwrap_err().message,
            "`session` is used before it is set"
        );
    }
}
