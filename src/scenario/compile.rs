//! From the file as written to a runnable scenario, checking everything that can be checked
//! before a run starts. Every error names the file position it is about.

use super::file::{in_file_order, RawFlow, RawPhase, RawScenario, RawStep};
use super::model::*;
use super::names::Names;
use super::template::{Template, TemplateError};
use super::{think, weight, Overrides, ScenarioError};
use crate::config::line_col;
use crate::engine::pool::DEFAULT_POOL_CAPACITY;
use crate::model::{Kind, Op, Service, Verdict};
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

/// Fields every step may have, whatever its type.
const COMMON_FIELDS: [&str; 7] = [
    "op", "name", "expect", "think", "capture", "push", "for_each",
];

struct Ctx<'a> {
    origin: &'a str,
    source: &'a str,
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
            position: Some(line_col(self.source, span.start)),
            message: message.into(),
            hint,
        }
    }

    fn line(&self, span: &Range<usize>) -> usize {
        line_col(self.source, span.start).0
    }

    /// A template error inside a string value starting at `span`.
    fn template_err(&self, span: Range<usize>, e: TemplateError) -> ScenarioError {
        let opening = &self.source[span.start.min(self.source.len())..];
        let quote = if opening.starts_with("\"\"\"") || opening.starts_with("'''") {
            3
        } else if opening.starts_with('"') || opening.starts_with('\'') {
            1
        } else {
            0
        };
        let at = span.start + quote + e.offset;
        self.err(at..at, e.message, e.hint)
    }

    fn template(&self, value: &Spanned<String>, names: &Names) -> Result<Template> {
        Template::parse(value.get_ref(), names).map_err(|e| self.template_err(value.span(), e))
    }
}

/// Compiles one file. `dir` resolves relative `include` paths.
pub fn compile(
    origin: &str,
    source: &str,
    dir: Option<&Path>,
    overrides: &Overrides,
) -> Result<Scenario> {
    let ctx = Ctx { origin, source };
    let raw: RawScenario = toml::from_str(source).map_err(|e| ScenarioError {
        origin: origin.to_string(),
        position: Some(e.span().map_or((1, 1), |s| line_col(source, s.start))),
        message: e.message().trim().replace('\n', " "),
        hint: None,
    })?;
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
                return Err(ctx.err(include.span(), "`include` is empty", None));
            }
            let mut groups = Vec::new();
            for entry in include.get_ref() {
                let (inc_origin, inc_source) = included_source(&ctx, entry, dir)?;
                let inc_ctx = Ctx {
                    origin: &inc_origin,
                    source: &inc_source,
                };
                let inc_raw: RawScenario =
                    toml::from_str(&inc_source).map_err(|e| ScenarioError {
                        origin: inc_origin.clone(),
                        position: Some(e.span().map_or((1, 1), |s| line_col(&inc_source, s.start))),
                        message: e.message().trim().replace('\n', " "),
                        hint: None,
                    })?;
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
            format!("scenario name `{n}` must be letters, digits, `-` or `_`"),
            None,
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
    std::fs::read_to_string(&path)
        .map(|s| (path.display().to_string(), s))
        .map_err(|e| {
            ctx.err(
                entry.span(),
                format!("cannot include `{name}`: {e}"),
                Some(format!(
                    "a built-in ({}) or a path relative to this file",
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
    let steps = phases
        .iter()
        .filter_map(|p| p.as_ref())
        .flat_map(|p| p.step.iter())
        .chain(raw.flow.iter().flat_map(|f| f.get_ref().step.iter()));
    for step in steps {
        let Some((_, push)) = step.get_ref().iter().find(|(k, _)| k.get_ref() == "push") else {
            continue;
        };
        let Some(table) = push.get_ref().as_table() else {
            return Err(ctx.err(
                push.span(),
                "`push` must be a table: push = { pool = { field = \"{{ value }}\" } }",
                None,
            ));
        };
        for (pool, fields) in table {
            let Some(fields) = fields.as_table() else {
                return Err(ctx.err(
                    push.span(),
                    format!("push to `{pool}`: give the entry's fields as a table"),
                    Some(format!(
                        "push = {{ {pool} = {{ id = \"{{{{ identity_id }}}}\" }} }}"
                    )),
                ));
            };
            if fields.is_empty() {
                return Err(ctx.err(push.span(), format!("push to `{pool}` has no fields"), None));
            }
            let names: Vec<String> = fields.keys().cloned().collect();
            let line = ctx.line(&push.span());
            match schemas.get(pool) {
                Some((existing, at)) if *existing != names => {
                    return Err(ctx.err(
                        push.span(),
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
                None,
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
        return Err(ctx.err(key.span(), format!("`{k}` is a reserved name"), None));
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
                        format!("weight `{expr}` is {x}, below zero"),
                        None,
                    ))
                }
                Err(e) => return Err(ctx.err(w.span(), format!("weight `{expr}`: {e}"), None)),
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
                    format!("mix = \"{other}\": must be \"read\" or \"write\""),
                    None,
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
                format!("vus = {}: must be 1 to 100000", v.get_ref()),
                None,
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
                    None,
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
                None,
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
                    None,
                )),
            },
        }
    }

    /// Fails on the first field no one asked for.
    fn finish(&self) -> Result<()> {
        for (key, _) in in_file_order(self.map) {
            let k = key.get_ref().as_str();
            if !self.known.contains(&k) && !COMMON_FIELDS.contains(&k) {
                let mut fields: Vec<&str> = self.known.clone();
                fields.sort();
                fields.dedup();
                return Err(self.ctx.err(
                    key.span(),
                    format!("unknown field `{k}` for {}", self.op_name),
                    Some(format!(
                        "its fields: {}; every step: {}",
                        fields.join(", "),
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
    let set_raw = f.string("subject_set")?;
    let set = match &set_raw {
        Some(s) => {
            let t = f.ctx.template(s, names)?;
            if let Some(c) = t.constant() {
                if crate::scenario::model::parse_subject_set(c).is_none() {
                    return Err(f.ctx.err(
                        s.span(),
                        format!("subject_set `{c}` is not namespace:object#relation"),
                        None,
                    ));
                }
            }
            Some(t)
        }
        None => None,
    };
    match (id, set) {
        (Some(_), Some(_)) => Err(f.ctx.err(
            f.span.clone(),
            format!(
                "{}: give `subject_id` or `subject_set`, not both",
                f.op_name
            ),
            None,
        )),
        (Some(id), None) => Ok(Some(SubjectT::Id(id))),
        (None, Some(set)) => Ok(Some(SubjectT::Set(set))),
        (None, None) if required => Err(f.ctx.err(
            f.span.clone(),
            format!("{} needs `subject_id` or `subject_set`", f.op_name),
            None,
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
        return Err(ctx.err(op_value.span(), "`op` must be a string", None));
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
    let for_each = match f.string("for_each")? {
        None => None,
        Some(pool) if matches!(phase, Phase::Teardown | Phase::Cleanup) => {
            let alias = Spanned::new(pool.span(), "item".to_string());
            Some(bind_pick(ctx, &alias, &pool, false, names, pools)?)
        }
        Some(pool) => {
            return Err(ctx.err(
                pool.span(),
                "`for_each` is for teardown and cleanup steps",
                Some("in a flow, use pick or take".into()),
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
        let pairs: Vec<(String, String)> = match capture.get_ref() {
            toml::Value::Array(a) => a
                .iter()
                .map(|v| v.as_str().map(|s| (s.to_string(), s.to_string())))
                .collect::<Option<_>>()
                .ok_or_else(|| {
                    ctx.err(
                        capture.span(),
                        "capture = [\"name\", ...] takes strings",
                        None,
                    )
                })?,
            toml::Value::Table(t) => t
                .iter()
                .map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect::<Option<_>>()
                .ok_or_else(|| {
                    ctx.err(
                        capture.span(),
                        "capture = { alias = \"output\" } takes strings",
                        None,
                    )
                })?,
            _ => {
                return Err(ctx.err(
                    capture.span(),
                    "`capture` is a list of outputs or a table alias = output",
                    None,
                ))
            }
        };
        for (alias, output_name) in pairs {
            let output = if matches!(
                op,
                Op::KratosHttpRead
                    | Op::KratosHttpWrite
                    | Op::HydraHttpRead
                    | Op::HydraHttpWrite
                    | Op::KetoHttpRead
                    | Op::KetoHttpWrite
            ) {
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
                let available: Vec<&str> = if op_name == "http" {
                    vec!["status", "/json/pointer"]
                } else {
                    outputs(op).iter().map(|o| o.name()).collect()
                };
                return Err(ctx.err(
                    capture.span(),
                    format!("{op_name} has no output `{output_name}`"),
                    Some(if available.is_empty() {
                        format!("{op_name} has nothing to capture")
                    } else {
                        format!("it can capture: {}", available.join(", "))
                    }),
                ));
            };
            if alias.is_empty() || !alias.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(ctx.err(
                    capture.span(),
                    format!("`{alias}` is not a valid name"),
                    None,
                ));
            }
            names.later.remove(&alias);
            captures.push((output, names.bind_iter(&alias)));
        }
    }

    let mut pushes = Vec::new();
    if let Some((_, push)) = map.iter().find(|(k, _)| k.get_ref() == "push") {
        if phase != Phase::Setup && phase != Phase::Flow {
            return Err(ctx.err(push.span(), "teardown and cleanup steps cannot push", None));
        }
        // Shapes were checked with the pool schemas.
        for (pool_name, fields) in push.get_ref().as_table().into_iter().flatten() {
            let pool = pools
                .iter()
                .position(|p| &p.name == pool_name)
                .expect("every pushed pool has a schema");
            let mut templates = Vec::new();
            for field in &pools[pool].fields {
                let value = fields.get(field).and_then(|v| v.as_str()).ok_or_else(|| {
                    ctx.err(
                        push.span(),
                        format!("push to `{pool_name}`: field `{field}` must be a string"),
                        None,
                    )
                })?;
                let t = Template::parse(value, names).map_err(|e| {
                    ctx.err(
                        push.span(),
                        format!("push to `{pool_name}`, field `{field}`: {}", e.message),
                        e.hint,
                    )
                })?;
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
        _ => Err(f.ctx.err(v.span(), "`expect` must be a string", None)),
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
                "http needs `service` (kratos, hydra or keto): the figures it counts in",
                None,
            ))
        }
    };
    let method = match f.string("method")? {
        None => reqwest::Method::GET,
        Some(m) => reqwest::Method::from_bytes(m.get_ref().to_ascii_uppercase().as_bytes())
            .map_err(|_| {
                f.ctx.err(
                    m.span(),
                    format!("http: `{}` is not an HTTP method", m.get_ref()),
                    None,
                )
            })?,
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
        let Some(table) = h.get_ref().as_table() else {
            return Err(f.ctx.err(h.span(), "http: `headers` must be a table", None));
        };
        for (k, v) in table {
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                f.ctx
                    .err(h.span(), format!("http: `{k}` is not a header name"), None)
            })?;
            let Some(v) = v.as_str() else {
                return Err(f.ctx.err(
                    h.span(),
                    format!("http: header `{k}` must be a string"),
                    None,
                ));
            };
            let t = Template::parse(v, names).map_err(|e| {
                f.ctx
                    .err(h.span(), format!("header `{k}`: {}", e.message), e.hint)
            })?;
            headers.push((name, t));
        }
    }
    let body = f.template("body", names)?;
    let admin_auth = match f.get("admin_auth") {
        None => false,
        Some((_, v)) => v.get_ref().as_bool().ok_or_else(|| {
            f.ctx
                .err(v.span(), "http: `admin_auth` is true or false", None)
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
                    None,
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

/// The candidate nearest to `s` by edit distance, when it is close enough to be a typo.
fn closest<'a>(s: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(s, c), *c))
        .filter(|(d, c)| *d <= 3.max(c.len() / 4))
        .min()
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
