//! One step: its type, its own fields (read by the table of operations), `name`, `expect`,
//! `think`, `capture`, `push` and `for_each`.

use super::flows::parse_think;
use super::http::http_step;
use super::spans::{Ctx, Result};
use super::tables;
use super::{bind_pick, Phase};
use crate::ground::ops::{step_types, FieldValue, COMMON_FIELDS};
use crate::ground::text::closest;
use crate::ground::{AuthMethod, Op, Output, Verdict};
use crate::scenario::file::{in_file_order, RawStep};
use crate::scenario::model::*;
use crate::scenario::names::Names;
use crate::scenario::template::Template;
use std::ops::Range;
use toml::Spanned;

/// A step's fields, handed out one by one so that whatever is left over is unknown.
pub(super) struct Fields<'a> {
    pub(super) ctx: &'a Ctx<'a>,
    pub(super) op_name: String,
    map: &'a RawStep,
    pub(super) span: Range<usize>,
    known: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    pub(super) fn get(
        &mut self,
        name: &'static str,
    ) -> Option<(&'a Spanned<String>, &'a Spanned<toml::Value>)> {
        self.known.push(name);
        self.map.iter().find(|(k, _)| k.get_ref() == name)
    }

    pub(super) fn string(&mut self, name: &'static str) -> Result<Option<Spanned<String>>> {
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

    pub(super) fn template(
        &mut self,
        name: &'static str,
        names: &Names,
    ) -> Result<Option<Template>> {
        self.string(name)?
            .map(|s| self.ctx.template(&s, names))
            .transpose()
    }

    pub(super) fn required(&mut self, name: &'static str, names: &Names) -> Result<Template> {
        self.template(name, names)?.ok_or_else(|| {
            self.ctx.err(
                self.span.clone(),
                format!("{} needs `{name}`", self.op_name),
                Some(format!("add {name} = \"...\" to this step")),
            )
        })
    }

    pub(super) fn or_default(
        &mut self,
        name: &'static str,
        default: &str,
        names: &Names,
    ) -> Result<Template> {
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

    pub(super) fn u32(&mut self, name: &'static str) -> Result<Option<u32>> {
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
    pub(super) fn finish(&self) -> Result<()> {
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
                if parse_subject_set(c).is_none() {
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

fn check_auth_method(f: &Fields, t: &Template) -> Result<()> {
    if let Some(c) = t.constant() {
        if AuthMethod::from_name(c).is_none() {
            return Err(f.ctx.err(
                f.span.clone(),
                format!("{}: auth_method `{c}` is not supported", f.op_name),
                Some("client_secret_basic or client_secret_post".into()),
            ));
        }
    }
    Ok(())
}

/// Where the legs of an authorization-code flow keep its browser: a name no template can
/// write, so only the compiler hands it from one leg to the next.
pub(super) const BROWSER: &str = "oauth2 browser";

/// The browser a leg continues: the one `hydra.authorize` started earlier in the flow.
fn browser_of(f: &Fields, names: &Names) -> Result<Template> {
    use crate::scenario::names::Scope;
    match names.lookup(BROWSER) {
        Ok(slot) => Ok(Template::slot(slot)),
        Err(_) => Err(f.ctx.err(
            f.span.clone(),
            format!(
                "{} continues an authorization, but no hydra.authorize step comes before it",
                f.op_name
            ),
            Some(
                "start the flow with hydra.authorize, then hydra.accept_login,                  hydra.accept_consent and hydra.exchange_code, in that order"
                    .into(),
            ),
        )),
    }
}

/// Hydra refuses a redirect URI it cannot parse as an absolute URL or one with a fragment:
/// a constant one is checked here, before anything is sent.
fn check_redirect_uri(f: &Fields, t: &Template) -> Result<()> {
    let Some(c) = t.constant() else {
        return Ok(());
    };
    let problem = match url::Url::parse(c) {
        Err(e) => Some(format!("is not an absolute URL ({e})")),
        Ok(u) if u.fragment().is_some() => Some("has a fragment (#), which Hydra refuses".into()),
        Ok(u) if !matches!(u.scheme(), "http" | "https") => {
            Some("is not http or https".to_string())
        }
        Ok(_) => None,
    };
    match problem {
        Some(p) => Err(f.ctx.err(
            f.span.clone(),
            format!("{}: redirect_uri `{c}` {p}", f.op_name),
            Some(
                "e.g. redirect_uri = \"http://127.0.0.1:5555/callback\"; it never needs to answer"
                    .into(),
            ),
        )),
        None => Ok(()),
    }
}

/// The step's own fields, read in the order the table of operations lists them.
fn action(op: Op, f: &mut Fields, names: &Names) -> Result<Action> {
    let mut given = Vec::with_capacity(op.spec().fields.len());
    for field in op.spec().fields {
        let name = field.name;
        given.push(match field.value {
            FieldValue::Required => Given::Template(f.required(name, names)?),
            FieldValue::Optional => Given::Maybe(f.template(name, names)?),
            FieldValue::Default(template) => Given::Template(f.or_default(name, template, names)?),
            FieldValue::Count => Given::Count(f.u32(name)?),
            FieldValue::AuthMethod => {
                let t = f.or_default(name, AuthMethod::default().as_str(), names)?;
                check_auth_method(f, &t)?;
                Given::Template(t)
            }
            FieldValue::Subject { required } => Given::Subject(subject(f, names, required)?),
            FieldValue::Browser { starts: true } => Given::Maybe(None),
            FieldValue::Browser { starts: false } => Given::Template(browser_of(f, names)?),
            FieldValue::Traits => Given::Traits(registration_traits(f, names)?),
            FieldValue::Tuples => Given::Tuples(tables::tuples(f, names)?),
            FieldValue::Special => unreachable!("only the http step has special fields"),
        });
    }
    for (field, g) in op.spec().fields.iter().zip(&given) {
        if let ("redirect_uri", Given::Template(t) | Given::Maybe(Some(t))) = (field.name, g) {
            check_redirect_uri(f, t)?
        }
    }
    Ok(build(op, &mut Given::take(given)))
}

/// One field as the step gave it.
enum Given {
    Template(Template),
    Maybe(Option<Template>),
    Count(Option<u32>),
    Subject(Option<SubjectT>),
    Traits(Option<TraitsT>),
    Tuples(Vec<BatchTupleT>),
}

/// `traits`, which replaces the generated email and names: giving both is a mistake.
fn registration_traits(f: &mut Fields, names: &Names) -> Result<Option<TraitsT>> {
    let traits = tables::traits(f, names)?;
    if traits.is_some() {
        for replaced in ["email", "first_name", "last_name"] {
            if let Some((key, _)) = f.get(replaced) {
                return Err(f.ctx.err(
                    key.span(),
                    format!("{}: give `traits` or `{replaced}`, not both", f.op_name),
                    Some(format!(
                        "with `traits`, put the {replaced} inside it under your schema's name"
                    )),
                ));
            }
        }
    }
    Ok(traits)
}

/// The fields of a step, taken in table order by `build`.
struct Taken(std::vec::IntoIter<Given>);

impl Given {
    fn take(given: Vec<Given>) -> Taken {
        Taken(given.into_iter())
    }
}

// `build` takes exactly the fields the table lists, in its order; the test that compiles a
// step of every operation holds the two together.
impl Taken {
    fn template(&mut self) -> Template {
        match self.0.next() {
            Some(Given::Template(t)) => t,
            _ => unreachable!("the table gives a template here"),
        }
    }

    fn maybe(&mut self) -> Option<Template> {
        match self.0.next() {
            Some(Given::Maybe(t)) => t,
            _ => unreachable!("the table gives an optional template here"),
        }
    }

    fn count(&mut self) -> Option<u32> {
        match self.0.next() {
            Some(Given::Count(n)) => n,
            _ => unreachable!("the table gives a count here"),
        }
    }

    fn subject(&mut self) -> Option<SubjectT> {
        match self.0.next() {
            Some(Given::Subject(s)) => s,
            _ => unreachable!("the table gives a subject here"),
        }
    }

    fn traits(&mut self) -> Option<TraitsT> {
        match self.0.next() {
            Some(Given::Traits(t)) => t,
            _ => unreachable!("the table gives traits here"),
        }
    }

    fn tuples(&mut self) -> Vec<BatchTupleT> {
        match self.0.next() {
            Some(Given::Tuples(t)) => t,
            _ => unreachable!("the table gives tuples here"),
        }
    }

    fn tuple(&mut self) -> TupleT {
        TupleT {
            namespace: self.template(),
            object: self.template(),
            relation: self.template(),
            subject: self.subject().expect("a required subject"),
        }
    }

    fn query(&mut self, namespace_required: bool) -> QueryT {
        QueryT {
            namespace: if namespace_required {
                Some(self.template())
            } else {
                self.maybe()
            },
            object: self.maybe(),
            relation: self.maybe(),
            subject: self.subject(),
        }
    }

    fn client(&mut self) -> HydraClientT {
        HydraClientT {
            client_id: self.template(),
            client_secret: self.template(),
            auth_method: self.template(),
        }
    }
}

/// The typed action of `op` from its fields.
fn build(op: Op, t: &mut Taken) -> Action {
    match op {
        Op::KratosRegister => Action::KratosRegister {
            email: t.template(),
            password: t.template(),
            first_name: t.template(),
            last_name: t.template(),
            traits: t.traits(),
        },
        Op::KratosLogin => Action::KratosLogin {
            identifier: t.template(),
            password: t.template(),
        },
        Op::KratosWhoami => Action::KratosWhoami {
            session_token: t.template(),
        },
        Op::KratosLogout => Action::KratosLogout {
            session_token: t.template(),
        },
        Op::KratosLookupIdentity => Action::KratosLookupIdentity {
            identifier: t.template(),
        },
        Op::KratosDeleteIdentity => Action::KratosDeleteIdentity {
            identity_id: t.template(),
        },
        Op::HydraCreateClient => Action::HydraCreateClient {
            auth_method: t.template(),
            scope: t.template(),
            grant_types: t.template(),
            redirect_uri: t.maybe(),
        },
        Op::HydraToken => Action::HydraToken {
            client: t.client(),
            scope: t.maybe(),
        },
        Op::HydraIntrospect => Action::HydraIntrospect {
            token: t.template(),
        },
        Op::HydraRevoke => Action::HydraRevoke {
            client: t.client(),
            token: t.template(),
        },
        Op::HydraDeleteClient => Action::HydraDeleteClient {
            client_id: t.template(),
        },
        Op::HydraAuthorize => {
            let (client_id, redirect_uri, scope) = (t.template(), t.template(), t.template());
            t.maybe();
            Action::HydraAuthorize {
                client_id,
                redirect_uri,
                scope,
            }
        }
        Op::HydraAcceptLogin => Action::HydraAcceptLogin {
            subject: t.template(),
            browser: t.template(),
        },
        Op::HydraAcceptConsent => Action::HydraAcceptConsent {
            scope: t.maybe(),
            browser: t.template(),
        },
        Op::HydraExchangeCode => Action::HydraExchangeCode {
            client: t.client(),
            browser: t.template(),
        },
        Op::HydraRefresh => Action::HydraRefresh {
            client: t.client(),
            refresh_token: t.template(),
        },
        Op::HydraUserinfo => Action::HydraUserinfo {
            token: t.template(),
        },
        Op::KetoWrite => Action::KetoWrite(t.tuple()),
        Op::KetoCheck => Action::KetoCheck {
            tuple: t.tuple(),
            max_depth: t.count(),
        },
        Op::KetoExpand => Action::KetoExpand {
            namespace: t.template(),
            object: t.template(),
            relation: t.template(),
            max_depth: t.count(),
        },
        Op::KetoList => Action::KetoList {
            query: t.query(false),
            page_size: t.count(),
        },
        Op::KetoDelete => Action::KetoDelete(t.query(true)),
        Op::KetoBatchCheck => Action::KetoBatchCheck {
            tuples: t.tuples(),
            max_depth: t.count(),
        },
        Op::KratosHttpRead
        | Op::KratosHttpWrite
        | Op::HydraHttpRead
        | Op::HydraHttpWrite
        | Op::KetoHttpRead
        | Op::KetoHttpWrite => unreachable!("http steps are read by `http_step`"),
    }
}

pub(super) fn compile_step(
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
            Some(format!("one of: {}", step_types().join(", "))),
        ));
    };
    let Some(op_name) = op_value.get_ref().as_str() else {
        return Err(ctx.err(
            op_value.span(),
            "`op` must be a string",
            Some("e.g. op = \"keto.check\"".into()),
        ));
    };
    let step_types = step_types();
    if !step_types.contains(&op_name) {
        return Err(ctx.err(
            op_value.span(),
            format!("unknown step type `{op_name}`"),
            Some(match closest(op_name, &step_types) {
                Some(c) => format!("did you mean `{c}`?"),
                None => format!("one of: {}", step_types.join(", ")),
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

    let (op, mut action) = match Op::from_step(op_name) {
        Some(op) => (op, action(op, &mut f, names)?),
        None => http_step(&mut f, names)?,
    };

    let name = f.string("name")?.map(|s| s.into_inner());
    let mut expect = compile_expect(&mut f, op)?;
    // A batch's `expect = "allowed"` (or "denied") is what each of its tuples must answer,
    // unless the tuple says otherwise; the request itself must then answer ok.
    if let (Action::KetoBatchCheck { tuples, .. }, Expect::Verdict(v)) = (&mut action, &expect) {
        if *v != Verdict::Ok {
            for t in tuples.iter_mut().filter(|t| t.expect.is_none()) {
                t.expect = Some(*v);
            }
            expect = Expect::Verdict(Verdict::Ok);
        }
    }
    let think = parse_think(ctx, f.string("think")?.as_ref())?;
    f.finish()?;

    // Captures bind after the step's own fields were resolved: a step cannot use its output.
    let mut captures = compile_captures(ctx, map, op, op_name, names)?;
    // The legs of an authorization-code flow hand their browser on without being asked.
    if op.spec().outputs.contains(&Output::Browser) {
        names.later.remove(BROWSER);
        captures.push((Output::Browser, names.bind_iter(BROWSER)));
    }
    let pushes = compile_pushes(ctx, map, phase, names, pools)?;

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

/// `capture`: outputs of the step bound to names for the steps after it.
fn compile_captures(
    ctx: &Ctx,
    map: &RawStep,
    op: Op,
    op_name: &str,
    names: &mut Names,
) -> Result<Vec<(Output, usize)>> {
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
        let is_http = op.is_http();
        for (alias, output_name, output_span) in pairs {
            let output = if is_http {
                match output_name.as_str() {
                    "status" => Some(Output::Status),
                    p if p.starts_with('/') || p.is_empty() => Some(Output::Json(p.to_string())),
                    _ => None,
                }
            } else {
                op.spec()
                    .outputs
                    .iter()
                    .find(|o| o.name() == output_name && **o != Output::Browser)
                    .cloned()
            };
            let Some(output) = output else {
                let available: Vec<&str> = if is_http {
                    vec!["status", "/json/pointer"]
                } else {
                    op.spec()
                        .outputs
                        .iter()
                        .filter(|o| **o != Output::Browser)
                        .map(|o| o.name())
                        .collect()
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

    Ok(captures)
}

/// `push`: entries the step adds to pools, one template per pool field.
fn compile_pushes(
    ctx: &Ctx,
    map: &RawStep,
    phase: Phase,
    names: &Names,
    pools: &[PoolDecl],
) -> Result<Vec<(usize, Vec<Template>)>> {
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

    Ok(pushes)
}

fn compile_expect(f: &mut Fields, op: Op) -> Result<Expect> {
    let Some((_, v)) = f.get("expect") else {
        return Ok(Expect::Any);
    };
    let is_http = op.is_http();
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
            let possible = op.spec().verdicts;
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
                op.spec()
                    .verdicts
                    .iter()
                    .map(|v| v.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        )),
    }
}
