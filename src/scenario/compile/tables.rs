//! The two step fields that are tables rather than strings: a registration's `traits` and a
//! batch check's `tuples`.

use super::spans::{Ctx, Result};
use super::steps::Fields;
use crate::ground::Verdict;
use crate::scenario::model::{parse_subject_set, BatchTupleT, SubjectT, TraitsT, TupleT};
use crate::scenario::names::Names;
use std::ops::Range;
use toml::Spanned;

/// `traits`: a table whose strings are templates and whose other values are sent as they are.
pub(super) fn traits(f: &mut Fields, names: &Names) -> Result<Option<TraitsT>> {
    let Some((_, value)) = f.get("traits") else {
        return Ok(None);
    };
    if !value.get_ref().is_table() {
        return Err(f.ctx.err(
            value.span(),
            format!("{}: `traits` must be a table", f.op_name),
            Some("traits = { username = \"u{{ seq }}\", terms = true }".into()),
        ));
    }
    trait_value(f.ctx, value, names).map(Some)
}

fn trait_value(ctx: &Ctx, value: &Spanned<toml::Value>, names: &Names) -> Result<TraitsT> {
    use toml::Value as T;
    Ok(match value.get_ref() {
        T::String(s) => TraitsT::Text(ctx.template(&Spanned::new(value.span(), s.clone()), names)?),
        T::Integer(i) => TraitsT::Literal((*i).into()),
        T::Float(x) => match serde_json::Number::from_f64(*x) {
            Some(n) => TraitsT::Literal(serde_json::Value::Number(n)),
            None => {
                return Err(ctx.err(
                    value.span(),
                    "a trait cannot be NaN or infinite",
                    Some("JSON has only finite numbers".into()),
                ))
            }
        },
        T::Boolean(b) => TraitsT::Literal((*b).into()),
        T::Datetime(d) => TraitsT::Literal(d.to_string().into()),
        T::Array(_) => TraitsT::Array(
            ctx.entries_of(value)
                .iter()
                .map(|e| trait_value(ctx, &e.value, names))
                .collect::<Result<_>>()?,
        ),
        T::Table(_) => TraitsT::Object(
            ctx.entries_of(value)
                .iter()
                .map(|e| {
                    let key = e
                        .key
                        .as_ref()
                        .map_or(String::new(), |k| k.get_ref().clone());
                    Ok((key, trait_value(ctx, &e.value, names)?))
                })
                .collect::<Result<_>>()?,
        ),
    })
}

const TUPLE_KEYS: [&str; 6] = [
    "namespace",
    "object",
    "relation",
    "subject_id",
    "subject_set",
    "expect",
];

/// `tuples`: a non-empty list of tuple tables, each with an optional `expect` (allowed or
/// denied).
pub(super) fn tuples(f: &mut Fields, names: &Names) -> Result<Vec<BatchTupleT>> {
    let example =
        "tuples = [{ namespace = \"documents\", object = \"doc-1\", relation = \"viewer\", \
                   subject_id = \"user:alice\", expect = \"allowed\" }]";
    let Some((_, value)) = f.get("tuples") else {
        return Err(f.ctx.err(
            f.span.clone(),
            format!("{} needs `tuples`", f.op_name),
            Some(example.into()),
        ));
    };
    let ctx = f.ctx;
    let entries = match value.get_ref() {
        toml::Value::Array(a) if !a.is_empty() => ctx.entries_of(value),
        _ => {
            return Err(ctx.err(
                value.span(),
                format!("{}: `tuples` must be a non-empty list of tables", f.op_name),
                Some(example.into()),
            ))
        }
    };
    entries
        .iter()
        .map(|e| batch_tuple(ctx, &f.op_name, &e.value, names))
        .collect()
}

fn batch_tuple(
    ctx: &Ctx,
    op_name: &str,
    value: &Spanned<toml::Value>,
    names: &Names,
) -> Result<BatchTupleT> {
    let span = value.span();
    let Some(table) = value.get_ref().as_table() else {
        return Err(ctx.err(
            span,
            format!("{op_name}: every tuple is a table"),
            Some("{ namespace = \"...\", object = \"...\", relation = \"...\", subject_id = \"...\" }".into()),
        ));
    };
    if let Some(key) = table.keys().find(|k| !TUPLE_KEYS.contains(&k.as_str())) {
        return Err(ctx.err(
            key_span(ctx, &span, key),
            format!("unknown field `{key}` in a tuple of {op_name}"),
            Some(format!("a tuple has: {}", TUPLE_KEYS.join(", "))),
        ));
    }
    let text = |key: &str| -> Result<Option<(Range<usize>, String)>> {
        match table.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some((key_span(ctx, &span, key), s.clone()))),
            Some(_) => Err(ctx.err(
                key_span(ctx, &span, key),
                format!("{op_name}: a tuple's `{key}` must be a string"),
                None,
            )),
        }
    };
    let template = |key: &str| -> Result<Option<crate::scenario::template::Template>> {
        text(key)?
            .map(|(at, s)| ctx.template(&Spanned::new(at, s), names))
            .transpose()
    };
    let required = |key: &'static str| -> Result<crate::scenario::template::Template> {
        template(key)?.ok_or_else(|| {
            ctx.err(
                span.clone(),
                format!("a tuple of {op_name} needs `{key}`"),
                Some(format!("add {key} = \"...\" to the tuple")),
            )
        })
    };
    let namespace = required("namespace")?;
    let object = required("object")?;
    let relation = required("relation")?;
    let subject = match (template("subject_id")?, text("subject_set")?) {
        (Some(id), None) => SubjectT::Id(id),
        (None, Some((at, s))) => {
            let t = ctx.template(&Spanned::new(at.clone(), s.clone()), names)?;
            if t.constant().is_some() && parse_subject_set(&s).is_none() {
                return Err(ctx.err(
                    at,
                    format!("subject_set `{s}` is not namespace:object#relation"),
                    Some("e.g. subject_set = \"groups:admins#member\"".into()),
                ));
            }
            SubjectT::Set(t)
        }
        _ => {
            return Err(ctx.err(
                span,
                format!("a tuple of {op_name} needs `subject_id` or `subject_set`, not both"),
                Some(
                    "subject_id = \"user:alice\" or subject_set = \"groups:admins#member\"".into(),
                ),
            ))
        }
    };
    let expect = match text("expect")? {
        None => None,
        Some((at, s)) => match Verdict::from_name(&s) {
            Some(v @ (Verdict::Allowed | Verdict::Denied)) => Some(v),
            _ => {
                return Err(ctx.err(
                    at,
                    format!("a tuple's check never answers `{s}`"),
                    Some("it answers: allowed, denied".into()),
                ))
            }
        },
    };
    Ok(BatchTupleT {
        tuple: TupleT {
            namespace,
            object,
            relation,
            subject,
        },
        expect,
    })
}

/// Where `key` is written inside the inline table at `span`; the whole table when not found.
fn key_span(ctx: &Ctx, span: &Range<usize>, key: &str) -> Range<usize> {
    ctx.entry(span, key)
        .map_or(span.clone(), |e| e.value.span())
}
