//! Flows: weight, mix, dedicated virtual users, think time, `let`, `pick`/`take`, and their
//! steps in order.

use super::spans::{source_offset, Ctx, Result};
use super::steps::compile_step;
use super::{bind_pick, check_var_name, Phase};
use crate::ground::text::closest;
use crate::ground::Kind;
use crate::scenario::file::{in_file_order, RawFlow};
use crate::scenario::model::*;
use crate::scenario::names::Names;
use crate::scenario::{think, weight};
use toml::Spanned;

pub(super) fn compile_flow(
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

pub(super) fn parse_think(ctx: &Ctx, raw: Option<&Spanned<String>>) -> Result<Option<Think>> {
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
