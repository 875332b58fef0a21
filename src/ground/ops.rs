//! The one table of operations: for every Ory operation orysim calls, its name, endpoint (and so
//! its service), kind,
//! the verdicts it can answer, what a step can capture from it and the fields a scenario step
//! gives it. The scenario compiler reads steps by this table, and the step table of
//! `docs/scenarios.md` is generated from it (a test keeps the two equal). Adding an operation
//! starts here.

use super::endpoint::Endpoint;
use super::vocab::{Kind, Service, Verdict};
use std::fmt;

/// A value a step can hand to later steps.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    IdentityId,
    SessionToken,
    Email,
    /// The identifier a registration's traits carry (the schema's password identifier).
    Identifier,
    Password,
    ClientId,
    ClientSecret,
    AccessToken,
    Count,
    Status,
    LoginChallenge,
    ConsentChallenge,
    Code,
    RefreshToken,
    IdToken,
    /// The browser side of an authorization-code flow (cookies, PKCE verifier, state, nonce),
    /// handed from one leg to the next by the compiler: never named in a file.
    Browser,
    /// `http` steps: a JSON pointer into the response body.
    Json(String),
}

impl Output {
    pub fn name(&self) -> &str {
        match self {
            Output::IdentityId => "identity_id",
            Output::SessionToken => "session_token",
            Output::Email => "email",
            Output::Identifier => "identifier",
            Output::Password => "password",
            Output::ClientId => "client_id",
            Output::ClientSecret => "client_secret",
            Output::AccessToken => "access_token",
            Output::Count => "count",
            Output::Status => "status",
            Output::LoginChallenge => "login_challenge",
            Output::ConsentChallenge => "consent_challenge",
            Output::Code => "code",
            Output::RefreshToken => "refresh_token",
            Output::IdToken => "id_token",
            Output::Browser => "browser",
            Output::Json(p) => p,
        }
    }
}

/// How a step gives one field of its operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValue {
    /// A template that must be given.
    Required,
    /// A template that may be left out.
    Optional,
    /// A template; this one when left out.
    Default(&'static str),
    /// A positive whole number that may be left out.
    Count,
    /// A Hydra client authentication method (`client_secret_basic` when left out), checked when
    /// it is a constant.
    AuthMethod,
    /// A Keto subject: `subject_id`, or `subject_set` (`namespace:object#relation`), not both.
    Subject { required: bool },
    /// Not written in a file: the browser of the flow's authorization-code legs, carried
    /// from `hydra.authorize` (`starts`) to the legs after it.
    Browser { starts: bool },
    /// A table of identity traits (nested, any JSON type, strings templated) that may be left
    /// out: then they are filled from the registration form.
    Traits,
    /// A list of relation tuples, each a table of the tuple's fields and an optional `expect`.
    Tuples,
    /// Read by the step type's own parser (the generic `http` step).
    Special,
}

/// One field of a step: its name, how it is given, and what the documentation says of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub value: FieldValue,
    /// Shown after the field in the documentation's step table; empty for none.
    pub note: &'static str,
}

/// One row of the table.
#[derive(Debug)]
pub struct OpSpec {
    /// Dotted name used in reports and scenario files, e.g. `kratos.login`.
    pub name: &'static str,
    /// The endpoint the operation calls first, which connection failures are backed off by.
    /// A leg of the authorization-code flow that calls the admin API and then has the browser
    /// follow Hydra's public redirect names the admin endpoint: the public endpoint was called
    /// by the step before it in the same iteration, so a failure there has already ended it.
    /// For the generic `http` steps, the endpoint their URL starts with (`{{ endpoint.NAME }}`)
    /// takes precedence over this default.
    pub endpoint: Endpoint,
    /// The endpoint's service, where the operation is counted.
    pub service: Service,
    pub kind: Kind,
    /// What a scenario file writes as `op`: the name itself, or `http` for the generic steps.
    pub step: &'static str,
    /// The domain results a call can have (what `expect` may name).
    pub verdicts: &'static [Verdict],
    /// What a step of this operation can capture.
    pub outputs: &'static [Output],
    /// The step's fields, in the order they are read (and errors reported).
    pub fields: &'static [Field],
}

const fn req(name: &'static str) -> Field {
    Field {
        name,
        value: FieldValue::Required,
        note: "",
    }
}

const fn opt(name: &'static str) -> Field {
    Field {
        name,
        value: FieldValue::Optional,
        note: "",
    }
}

const fn count(name: &'static str) -> Field {
    Field {
        name,
        value: FieldValue::Count,
        note: "",
    }
}

const fn generated(name: &'static str, template: &'static str) -> Field {
    Field {
        name,
        value: FieldValue::Default(template),
        note: "",
    }
}

const fn special(name: &'static str, note: &'static str) -> Field {
    Field {
        name,
        value: FieldValue::Special,
        note,
    }
}

const AUTH_METHOD: Field = Field {
    name: "auth_method",
    value: FieldValue::AuthMethod,
    note: "",
};

const fn subject(required: bool) -> Field {
    Field {
        name: "subject_id",
        value: FieldValue::Subject { required },
        note: "",
    }
}

const TUPLE: [Field; 4] = [
    req("namespace"),
    req("object"),
    req("relation"),
    subject(true),
];

const HTTP_FIELDS: [Field; 7] = [
    Field {
        name: "service",
        value: FieldValue::Special,
        note: "kratos, hydra, keto: where it counts",
    },
    Field {
        name: "url",
        value: FieldValue::Special,
        note: "",
    },
    special("method", "GET"),
    special("headers", ""),
    special("body", ""),
    special("admin_auth", "send `--admin-token`"),
    special("kind", "read for GET/HEAD, else write"),
];

const fn browser(starts: bool) -> Field {
    Field {
        name: "browser",
        value: FieldValue::Browser { starts },
        note: "",
    }
}

/// Fields every step may have, whatever its type.
pub const COMMON_FIELDS: [&str; 7] = [
    "op", "name", "expect", "think", "capture", "push", "for_each",
];

macro_rules! ops {
    ($($variant:ident => $spec:expr;)*) => {
        /// Every Ory operation orysim knows how to call.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Op { $($variant),* }

        impl Op {
            pub const ALL: &'static [Op] = &[$(Op::$variant),*];
        }

        /// The table, in `Op` order.
        pub static OPS: &[OpSpec] = &[$($spec),*];
    };
}

use Output as O;
use Verdict as V;

/// Shorthand for a row; `step` is the name itself for every operation but the `http` ones.
const fn row(
    name: &'static str,
    endpoint: Endpoint,
    kind: Kind,
    verdicts: &'static [Verdict],
    outputs: &'static [Output],
    fields: &'static [Field],
) -> OpSpec {
    OpSpec {
        name,
        endpoint,
        service: endpoint.service(),
        kind,
        step: name,
        verdicts,
        outputs,
        fields,
    }
}

const fn http(name: &'static str, endpoint: Endpoint, kind: Kind) -> OpSpec {
    OpSpec {
        step: "http",
        ..row(name, endpoint, kind, &[V::Ok], &[], &HTTP_FIELDS)
    }
}

use Endpoint::{HydraAdmin, HydraPublic, KetoRead, KratosAdmin, KratosPublic};
use Kind::{Read, Write};

ops! {
    KratosRegister => row("kratos.register", KratosPublic, Write, &[V::Ok],
        &[O::IdentityId, O::SessionToken, O::Email, O::Identifier, O::Password],
        &[
            generated("email", "{{ fake.email }}"),
            generated("password", "{{ fake.password }}"),
            generated("first_name", "{{ fake.first_name }}"),
            generated("last_name", "{{ fake.last_name }}"),
            Field {
                name: "traits",
                value: FieldValue::Traits,
                note: "a table; replaces email and the names",
            },
        ]);
    KratosLogin => row("kratos.login", KratosPublic, Read, &[V::Valid, V::Invalid],
        &[O::IdentityId, O::SessionToken], &[req("identifier"), req("password")]);
    KratosWhoami => row("kratos.whoami", KratosPublic, Read, &[V::Active, V::Inactive], &[],
        &[req("session_token")]);
    KratosLogout => row("kratos.logout", KratosPublic, Read, &[V::Ok], &[], &[req("session_token")]);
    KratosLookupIdentity => row("kratos.lookup_identity", KratosAdmin, Read, &[V::Ok, V::Absent],
        &[O::IdentityId], &[req("identifier")]);
    KratosDeleteIdentity => row("kratos.delete_identity", KratosAdmin, Write, &[V::Ok], &[],
        &[req("identity_id")]);
    HydraCreateClient => row("hydra.create_client", HydraAdmin, Write, &[V::Ok],
        &[O::ClientId, O::ClientSecret],
        &[AUTH_METHOD, generated("scope", ""), generated("grant_types", "client_credentials"),
          opt("redirect_uri")]);
    HydraToken => row("hydra.token", HydraPublic, Write, &[V::Ok], &[O::AccessToken],
        &[req("client_id"), req("client_secret"), AUTH_METHOD, opt("scope")]);
    HydraIntrospect => row("hydra.introspect", HydraAdmin, Read, &[V::Active, V::Inactive],
        &[], &[req("token")]);
    HydraRevoke => row("hydra.revoke", HydraPublic, Read, &[V::Ok], &[],
        &[req("client_id"), req("client_secret"), AUTH_METHOD, req("token")]);
    HydraDeleteClient => row("hydra.delete_client", HydraAdmin, Write, &[V::Ok], &[],
        &[req("client_id")]);
    // The authorization-code flow, one leg per step: orysim is the browser and the login and
    // consent app.
    HydraAuthorize => row("hydra.authorize", HydraPublic, Read, &[V::Ok],
        &[O::LoginChallenge, O::Browser],
        &[req("client_id"), req("redirect_uri"), generated("scope", "openid offline_access"),
          browser(true)]);
    HydraAcceptLogin => row("hydra.accept_login", HydraAdmin, Write, &[V::Ok],
        &[O::ConsentChallenge, O::Browser], &[req("subject"), browser(false)]);
    HydraAcceptConsent => row("hydra.accept_consent", HydraAdmin, Write, &[V::Ok],
        &[O::Code, O::Browser], &[opt("scope"), browser(false)]);
    HydraExchangeCode => row("hydra.exchange_code", HydraPublic, Write, &[V::Ok],
        &[O::AccessToken, O::RefreshToken, O::IdToken],
        &[req("client_id"), req("client_secret"), AUTH_METHOD, browser(false)]);
    HydraRefresh => row("hydra.refresh", HydraPublic, Write, &[V::Valid, V::Invalid],
        &[O::AccessToken, O::RefreshToken, O::IdToken],
        &[req("client_id"), req("client_secret"), AUTH_METHOD, req("refresh_token")]);
    HydraUserinfo => row("hydra.userinfo", HydraPublic, Read, &[V::Active, V::Inactive], &[],
        &[req("token")]);
    KetoWrite => row("keto.write", Endpoint::KetoWrite, Write, &[V::Ok], &[], &TUPLE);
    KetoCheck => row("keto.check", KetoRead, Read, &[V::Allowed, V::Denied], &[],
        &[TUPLE[0], TUPLE[1], TUPLE[2], TUPLE[3], count("max_depth")]);
    KetoExpand => row("keto.expand", KetoRead, Read, &[V::Ok, V::Absent], &[O::Count],
        &[req("namespace"), req("object"), req("relation"), count("max_depth")]);
    KetoList => row("keto.list", KetoRead, Read, &[V::Ok], &[O::Count],
        &[opt("namespace"), opt("object"), opt("relation"), subject(false), count("page_size")]);
    KetoDelete => row("keto.delete", Endpoint::KetoWrite, Write, &[V::Ok], &[],
        &[req("namespace"), opt("object"), opt("relation"), subject(false)]);
    KetoBatchCheck => row("keto.batch_check", KetoRead, Read, &[V::Ok, V::Allowed, V::Denied], &[],
        &[Field { name: "tuples", value: FieldValue::Tuples, note: "" }, count("max_depth")]);
    // Generic `http` steps of scenario files, counted under the service they target.
    KratosHttpRead => http("kratos.http.read", KratosPublic, Read);
    KratosHttpWrite => http("kratos.http.write", KratosPublic, Write);
    HydraHttpRead => http("hydra.http.read", HydraPublic, Read);
    HydraHttpWrite => http("hydra.http.write", HydraPublic, Write);
    KetoHttpRead => http("keto.http.read", KetoRead, Read);
    KetoHttpWrite => http("keto.http.write", Endpoint::KetoWrite, Write);
}

/// The step type of the generic HTTP call.
pub const HTTP_STEP: &str = "http";

impl Op {
    /// This operation's row of the table.
    pub fn spec(self) -> &'static OpSpec {
        &OPS[self as usize]
    }

    /// Dotted name used in reports and scenario files, e.g. `kratos.login`.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    pub fn service(self) -> Service {
        self.spec().service
    }

    pub fn kind(self) -> Kind {
        self.spec().kind
    }

    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.iter().copied().find(|op| op.name() == name)
    }

    /// Dense index for array-based per-operation storage on the hot path.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether one call checks many tuples (counted per tuple besides per call).
    pub fn is_batch(self) -> bool {
        self == Op::KetoBatchCheck
    }

    /// Whether this is one of the generic `http` steps.
    pub fn is_http(self) -> bool {
        self.spec().step == HTTP_STEP
    }

    /// The `http` operation counted under `service` and `kind`.
    pub fn http(service: Service, kind: Kind) -> Op {
        Op::ALL
            .iter()
            .copied()
            .find(|op| op.is_http() && op.service() == service && op.kind() == kind)
            .expect("the table has an http operation for every service and kind")
    }

    /// The operation a step type names; `None` for `http` (its operation depends on the
    /// step's service and kind) and for unknown names.
    pub fn from_step(step: &str) -> Option<Op> {
        Op::ALL
            .iter()
            .copied()
            .find(|op| !op.is_http() && op.spec().step == step)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Every step type a file may use, in table order.
pub fn step_types() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for op in OPS {
        if !out.contains(&op.step) {
            out.push(op.step);
        }
    }
    out
}

/// The step table of `docs/scenarios.md`, generated from the table.
pub fn step_table_markdown() -> String {
    let mut out = String::from(
        "| `op` | fields (required **bold**) | can capture | `expect` |\n|---|---|---|---|\n",
    );
    for step in step_types() {
        let spec = OPS.iter().find(|s| s.step == step).expect("listed step");
        let fields: Vec<String> = spec
            .fields
            .iter()
            .filter(|f| !matches!(f.value, FieldValue::Browser { .. }))
            .map(field_doc)
            .collect();
        let (captures, expect) = if step == HTTP_STEP {
            (
                "status, any JSON pointer (`/a/b`)".to_string(),
                "status code(s), default any 2xx".to_string(),
            )
        } else {
            (
                spec.outputs
                    .iter()
                    .filter(|o| **o != Output::Browser)
                    .map(Output::name)
                    .collect::<Vec<_>>()
                    .join(", "),
                spec.verdicts
                    .iter()
                    .map(|v| v.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        };
        let cells = [format!("`{step}`"), fields.join(", "), captures, expect];
        for cell in cells {
            out.push_str("| ");
            out.push_str(&cell);
            out.push_str(if cell.is_empty() { "" } else { " " });
        }
        out.push_str("|\n");
    }
    out
}

fn field_doc(f: &Field) -> String {
    let text = match f.value {
        FieldValue::Required => format!("**{}**", f.name),
        FieldValue::Optional | FieldValue::Count => f.name.to_string(),
        FieldValue::Default("") => f.name.to_string(),
        FieldValue::Default(t) if t.starts_with("{{ fake.") => format!("{} (generated)", f.name),
        FieldValue::Default(t) => format!("{} ({t})", f.name),
        FieldValue::AuthMethod => "auth_method (client_secret_basic)".to_string(),
        FieldValue::Subject { required: true } => {
            "**subject_id** or **subject_set** (`ns:object#relation`)".to_string()
        }
        FieldValue::Subject { required: false } => "subject_id/subject_set".to_string(),
        FieldValue::Traits => f.name.to_string(),
        FieldValue::Tuples => {
            "**tuples** (list of tuple tables, each with an optional `expect`)".to_string()
        }
        FieldValue::Special if matches!(f.name, "service" | "url") => format!("**{}**", f.name),
        FieldValue::Special | FieldValue::Browser { .. } => f.name.to_string(),
    };
    if f.note.is_empty() {
        text
    } else {
        format!("{text} ({})", f.note)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_names_round_trip_and_are_prefixed_by_their_service() {
        for &op in Op::ALL {
            assert_eq!(Op::from_name(op.name()), Some(op));
            assert!(op.name().starts_with(op.service().name()));
        }
        assert_eq!(Op::from_name("kratos.nope"), None);
    }

    #[test]
    fn op_indices_are_dense() {
        for (i, &op) in Op::ALL.iter().enumerate() {
            assert_eq!(op.index(), i);
        }
        assert_eq!(OPS.len(), Op::ALL.len());
    }

    #[test]
    fn reads_and_writes_follow_the_documented_split() {
        assert_eq!(Op::KratosRegister.kind(), Kind::Write);
        assert_eq!(Op::KratosLogout.kind(), Kind::Read);
        assert_eq!(Op::HydraToken.kind(), Kind::Write);
        assert_eq!(Op::HydraIntrospect.kind(), Kind::Read);
        assert_eq!(Op::KetoWrite.kind(), Kind::Write);
        assert_eq!(Op::KetoCheck.kind(), Kind::Read);
    }

    #[test]
    fn every_operation_names_the_endpoint_it_calls_first() {
        for &op in Op::ALL {
            assert_eq!(op.spec().endpoint.service(), op.service(), "{op}");
        }
        let admin: Vec<&str> = Op::ALL
            .iter()
            .filter(|op| {
                matches!(
                    op.spec().endpoint,
                    Endpoint::KratosAdmin | Endpoint::HydraAdmin
                )
            })
            .map(|op| op.name())
            .collect();
        assert_eq!(
            admin,
            [
                "kratos.lookup_identity",
                "kratos.delete_identity",
                "hydra.create_client",
                "hydra.introspect",
                "hydra.delete_client",
                "hydra.accept_login",
                "hydra.accept_consent",
            ]
        );
        for op in [Op::KetoWrite, Op::KetoDelete, Op::KetoHttpWrite] {
            assert_eq!(op.spec().endpoint, Endpoint::KetoWrite, "{op}");
        }
        for op in [Op::KetoCheck, Op::KetoBatchCheck, Op::KetoHttpRead] {
            assert_eq!(op.spec().endpoint, Endpoint::KetoRead, "{op}");
        }
    }

    #[test]
    fn every_service_and_kind_has_its_http_operation() {
        for service in Service::ALL {
            for kind in [Kind::Read, Kind::Write] {
                let op = Op::http(service, kind);
                assert!(op.is_http());
                assert_eq!((op.service(), op.kind()), (service, kind));
            }
        }
        assert_eq!(step_types().len(), 24);
        assert_eq!(Op::from_step("http"), None);
        assert_eq!(Op::from_step("keto.check"), Some(Op::KetoCheck));
    }

    #[test]
    fn the_documentation_shows_the_table() {
        let docs = include_str!("../../docs/scenarios.md");
        let table = step_table_markdown();
        assert!(
            docs.contains(&table),
            "docs/scenarios.md's step table differs from the operations table; it should read:\n{table}"
        );
    }
}
