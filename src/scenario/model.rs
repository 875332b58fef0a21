//! A compiled scenario: every name resolved to a slot, every template parsed, every operation's
//! fields checked. The engine runs this, never the file.

use super::template::{Generator, Part, Template};
use crate::ground::{Endpoint, Kind, Op, Output, Service, Verdict};
use std::time::Duration;

#[derive(Debug)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// Where it came from: a path, or `builtin:<name>`.
    pub origin: String,
    /// Scenarios that run side by side, each with its own share of the virtual users.
    pub groups: Vec<std::sync::Arc<Group>>,
    /// Every parameter with the value the run uses (after `--param` and flag overrides).
    pub params: std::collections::BTreeMap<String, String>,
    /// The file's `thresholds`, checked; they apply with those of the flags and config file.
    pub thresholds: Vec<crate::report::thresholds::Threshold>,
}

impl Scenario {
    /// Every service some step calls, in a stable order.
    pub fn services(&self) -> Vec<Service> {
        let mut out: Vec<Service> = self.groups.iter().flat_map(|g| g.services()).collect();
        out.sort();
        out.dedup();
        out
    }
}

#[derive(Debug)]
pub struct Group {
    pub name: String,
    pub pools: Vec<PoolDecl>,
    /// `[vu]` values, in file order; value `i` lives in `Slot::Vu(i)`.
    pub vu_values: Vec<Template>,
    pub setup: Vec<Step>,
    pub teardown: Vec<Step>,
    pub cleanup: Vec<Step>,
    /// How many values setup captures (`Slot::Run`).
    pub run_slots: usize,
    pub flows: Vec<Flow>,
    /// Whether flows are split into reads and writes for `--read-ratio`.
    pub uses_mix: bool,
}

impl Group {
    pub fn services(&self) -> Vec<Service> {
        let mut out: Vec<Service> = self
            .setup
            .iter()
            .chain(&self.teardown)
            .chain(&self.cleanup)
            .chain(self.flows.iter().flat_map(|f| &f.steps))
            .map(|s| s.op.service())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Virtual users reserved by flows with `vus`.
    pub fn dedicated_vus(&self) -> usize {
        self.flows.iter().filter_map(|f| f.dedicated_vus).sum()
    }
}

/// Entries a pool keeps when its declaration gives no `capacity`.
pub const DEFAULT_POOL_CAPACITY: usize = 10_000;

#[derive(Debug, Clone)]
pub struct PoolDecl {
    pub name: String,
    pub capacity: usize,
    pub fields: Vec<String>,
    pub ledger: bool,
    pub max_age: Option<Duration>,
}

#[derive(Debug)]
pub struct Flow {
    pub name: String,
    pub weight: f64,
    pub mix: Option<Kind>,
    pub dedicated_vus: Option<usize>,
    pub think: Option<Think>,
    /// `let` values in order: (slot, template).
    pub lets: Vec<(usize, Template)>,
    pub picks: Vec<Pick>,
    pub steps: Vec<Step>,
    /// Size of the iteration context.
    pub slots: usize,
    /// Reads and writes one full iteration issues (for the read/write mix).
    pub reads: u64,
    pub writes: u64,
}

/// Binds a pool entry's fields to iteration slots (field `i` → `slots[i]`).
#[derive(Debug, Clone)]
pub struct Pick {
    pub pool: usize,
    pub remove: bool,
    pub slots: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Think {
    Fixed(Duration),
    Uniform(Duration, Duration),
    Exponential(Duration),
}

#[derive(Debug)]
pub struct Step {
    pub op: Op,
    /// The name given in the file, recorded as its own line in the report.
    pub name: Option<String>,
    /// 1-based line in the file, for messages at run time (setup failures).
    pub line: usize,
    pub action: Action,
    pub expect: Expect,
    pub think: Option<Think>,
    pub captures: Vec<(Output, usize)>,
    /// (pool, one template per pool field).
    pub pushes: Vec<(usize, Vec<Template>)>,
    /// Teardown and cleanup only: run once per entry of this pool.
    pub for_each: Option<Pick>,
}

impl Step {
    /// The endpoint the step calls first: the one its `http` URL starts with, else its
    /// operation's.
    pub fn endpoint(&self) -> Endpoint {
        match &self.action {
            Action::Http(h) => match h.url.parts().first() {
                Some(Part::Gen(Generator::Endpoint(e))) => *e,
                _ => self.op.spec().endpoint,
            },
            _ => self.op.spec().endpoint,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// Any domain result counts as success.
    Any,
    Verdict(Verdict),
    /// `http` steps: one of these statuses.
    Status(Vec<u16>),
}

/// A Keto subject: an id, or a subject set `namespace:object#relation`.
#[derive(Debug, Clone)]
pub enum SubjectT {
    Id(Template),
    Set(Template),
}

#[derive(Debug, Clone)]
pub struct TupleT {
    pub namespace: Template,
    pub object: Template,
    pub relation: Template,
    pub subject: SubjectT,
}

#[derive(Debug, Clone)]
pub struct QueryT {
    pub namespace: Option<Template>,
    pub object: Option<Template>,
    pub relation: Option<Template>,
    pub subject: Option<SubjectT>,
}

#[derive(Debug, Clone)]
pub struct HydraClientT {
    pub client_id: Template,
    pub client_secret: Template,
    pub auth_method: Template,
}

#[derive(Debug, Clone)]
pub enum Action {
    KratosRegister {
        email: Template,
        password: Template,
        first_name: Template,
        last_name: Template,
        /// The traits to send as they are; `None`: filled from the registration form.
        traits: Option<TraitsT>,
    },
    KratosLogin {
        identifier: Template,
        password: Template,
    },
    KratosWhoami {
        session_token: Template,
    },
    KratosLogout {
        session_token: Template,
    },
    KratosLookupIdentity {
        identifier: Template,
    },
    KratosDeleteIdentity {
        identity_id: Template,
    },
    HydraCreateClient {
        auth_method: Template,
        scope: Template,
        /// Space-separated grant types.
        grant_types: Template,
        redirect_uri: Option<Template>,
    },
    HydraToken {
        client: HydraClientT,
        scope: Option<Template>,
    },
    HydraIntrospect {
        token: Template,
    },
    HydraRevoke {
        client: HydraClientT,
        token: Template,
    },
    HydraDeleteClient {
        client_id: Template,
    },
    HydraAuthorize {
        client_id: Template,
        redirect_uri: Template,
        scope: Template,
    },
    HydraAcceptLogin {
        subject: Template,
        browser: Template,
    },
    HydraAcceptConsent {
        /// Space-separated; the scope the authorization asked for when left out.
        scope: Option<Template>,
        browser: Template,
    },
    HydraExchangeCode {
        client: HydraClientT,
        browser: Template,
    },
    HydraRefresh {
        client: HydraClientT,
        refresh_token: Template,
    },
    HydraUserinfo {
        token: Template,
    },
    KetoWrite(TupleT),
    KetoCheck {
        tuple: TupleT,
        max_depth: Option<u32>,
    },
    KetoExpand {
        namespace: Template,
        object: Template,
        relation: Template,
        max_depth: Option<u32>,
    },
    KetoList {
        query: QueryT,
        page_size: Option<u32>,
    },
    KetoDelete(QueryT),
    KetoBatchCheck {
        tuples: Vec<BatchTupleT>,
        max_depth: Option<u32>,
    },
    Http(HttpT),
}

/// A `traits` table of a registration step: TOML's types become JSON's, strings are templates.
#[derive(Debug, Clone)]
pub enum TraitsT {
    Object(Vec<(String, TraitsT)>),
    Array(Vec<TraitsT>),
    Text(Template),
    /// A number or boolean, sent as it is.
    Literal(serde_json::Value),
}

impl TraitsT {
    fn templates<'a>(&'a self, out: &mut Vec<&'a Template>) {
        match self {
            TraitsT::Object(fields) => fields.iter().for_each(|(_, v)| v.templates(out)),
            TraitsT::Array(items) => items.iter().for_each(|v| v.templates(out)),
            TraitsT::Text(t) => out.push(t),
            TraitsT::Literal(_) => {}
        }
    }
}

/// One tuple of a batch check and the verdict it must get, if one is expected.
#[derive(Debug, Clone)]
pub struct BatchTupleT {
    pub tuple: TupleT,
    pub expect: Option<Verdict>,
}

impl Action {
    /// Every template the step renders, for working out which values it reads.
    pub fn templates(&self) -> Vec<&Template> {
        fn subject(s: &SubjectT) -> &Template {
            match s {
                SubjectT::Id(t) | SubjectT::Set(t) => t,
            }
        }
        fn tuple(t: &TupleT) -> Vec<&Template> {
            vec![&t.namespace, &t.object, &t.relation, subject(&t.subject)]
        }
        fn query(q: &QueryT) -> Vec<&Template> {
            [&q.namespace, &q.object, &q.relation]
                .into_iter()
                .flatten()
                .chain(q.subject.as_ref().map(subject))
                .collect()
        }
        fn client(c: &HydraClientT) -> Vec<&Template> {
            vec![&c.client_id, &c.client_secret, &c.auth_method]
        }
        match self {
            Action::KratosRegister {
                email,
                password,
                first_name,
                last_name,
                traits,
            } => {
                let mut out = vec![email, password, first_name, last_name];
                if let Some(t) = traits {
                    t.templates(&mut out);
                }
                out
            }
            Action::KratosLogin {
                identifier,
                password,
            } => vec![identifier, password],
            Action::KratosWhoami { session_token } | Action::KratosLogout { session_token } => {
                vec![session_token]
            }
            Action::KratosLookupIdentity { identifier } => vec![identifier],
            Action::KratosDeleteIdentity { identity_id } => vec![identity_id],
            Action::HydraCreateClient {
                auth_method,
                scope,
                grant_types,
                redirect_uri,
            } => [auth_method, scope, grant_types]
                .into_iter()
                .chain(redirect_uri.as_ref())
                .collect(),
            Action::HydraToken { client: c, scope } => {
                client(c).into_iter().chain(scope.as_ref()).collect()
            }
            Action::HydraIntrospect { token } | Action::HydraUserinfo { token } => vec![token],
            Action::HydraAuthorize {
                client_id,
                redirect_uri,
                scope,
            } => vec![client_id, redirect_uri, scope],
            Action::HydraAcceptLogin { subject, browser } => vec![subject, browser],
            Action::HydraAcceptConsent { scope, browser } => {
                scope.iter().chain([browser]).collect()
            }
            Action::HydraExchangeCode { client: c, browser } => {
                client(c).into_iter().chain([browser]).collect()
            }
            Action::HydraRefresh {
                client: c,
                refresh_token,
            } => client(c).into_iter().chain([refresh_token]).collect(),
            Action::HydraRevoke { client: c, token } => {
                client(c).into_iter().chain([token]).collect()
            }
            Action::HydraDeleteClient { client_id } => vec![client_id],
            Action::KetoWrite(t) | Action::KetoCheck { tuple: t, .. } => tuple(t),
            Action::KetoExpand {
                namespace,
                object,
                relation,
                ..
            } => vec![namespace, object, relation],
            Action::KetoList { query: q, .. } | Action::KetoDelete(q) => query(q),
            Action::KetoBatchCheck { tuples, .. } => {
                tuples.iter().flat_map(|t| tuple(&t.tuple)).collect()
            }
            Action::Http(h) => [&h.url]
                .into_iter()
                .chain(h.headers.iter().map(|(_, t)| t))
                .chain(h.body.as_ref())
                .collect(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct HttpT {
    pub method: reqwest::Method,
    pub url: Template,
    pub headers: Vec<(reqwest::header::HeaderName, Template)>,
    pub body: Option<Template>,
    /// Send the configured admin API key, like the admin calls of the Ory clients.
    pub admin_auth: bool,
}

/// `namespace:object#relation` → its three parts.
pub fn parse_subject_set(s: &str) -> Option<(&str, &str, &str)> {
    let (namespace, rest) = s.split_once(':')?;
    let (object, relation) = rest.rsplit_once('#')?;
    (!namespace.is_empty() && !object.is_empty() && !relation.is_empty())
        .then_some((namespace, object, relation))
}

/// How virtual users are split between the groups of a scenario: evenly, the remainder to the first ones.
pub fn split_users(total: usize, parts: usize) -> Vec<usize> {
    let parts = parts.max(1);
    (0..parts)
        .map(|i| total / parts + usize::from(i < total % parts))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_split_evenly_with_the_remainder_first() {
        assert_eq!(split_users(100, 3), vec![34, 33, 33]);
        assert_eq!(split_users(3, 3), vec![1, 1, 1]);
        assert_eq!(split_users(7, 1), vec![7]);
        assert_eq!(split_users(10, 3).iter().sum::<usize>(), 10);
    }
}
