//! From the file as written to a runnable scenario, checking everything that can be checked
//! before a run starts. Every error names the file position it is about (`spans`); this file
//! compiles the scenario and its groups (parameters, pools, phases), `flows` the flows and
//! `steps` each step, read by the table of operations.

mod flows;
mod http;
mod spans;
mod steps;
mod tables;
#[cfg(test)]
mod tests;

use super::file::{in_file_order, RawPhase, RawScenario, RawStep};
use super::model::*;
use super::names::Names;
use super::{Overrides, ScenarioError};
use flows::compile_flow;
use spans::{toml_error, Ctx, Entry, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use steps::compile_step;
use toml::Spanned;

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
    let thresholds = raw
        .thresholds
        .iter()
        .map(|t| {
            crate::report::thresholds::parse(t.get_ref()).map_err(|e| {
                // Point at the offending character inside the string (after its quote).
                let at = t.span().start + 1 + e.column.saturating_sub(1);
                ctx.err(at..at, format!("invalid threshold: {}", e.message), None)
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Scenario {
        name: raw.name.get_ref().clone(),
        description: raw.description.clone().unwrap_or_default(),
        origin: origin.to_string(),
        groups: groups.into_iter().map(std::sync::Arc::new).collect(),
        params: declared,
        thresholds,
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
            Some(a) => match crate::ground::parse::duration(a.get_ref()) {
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

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Setup,
    Flow,
    Teardown,
    Cleanup,
}
