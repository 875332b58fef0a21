//! The vocabulary every other module shares: which Ory service a call went to, whether it reads
//! or writes, what came of it, and what it counts under (the operations themselves are in
//! `ground::ops`).
//!
//! Outcomes are classified once, where the response is parsed (in `ory/`), and counted by class
//! everywhere after that; nothing downstream matches on strings.

use super::ops::Op;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    Kratos,
    Hydra,
    Keto,
}

impl Service {
    pub const ALL: [Service; 3] = [Service::Kratos, Service::Hydra, Service::Keto];

    pub fn name(self) -> &'static str {
        match self {
            Service::Kratos => "kratos",
            Service::Hydra => "hydra",
            Service::Keto => "keto",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether an operation creates or changes state (write) or works on state written earlier
/// (read). Logout and revoke count as reads: like the original Go tools, orysim calls "reads"
/// the operations that act on previously written entities, and "writes" the ones that create them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Read,
    Write,
}

/// What a recorded call counts under: its operation, plus the scenario step's name when the step
/// has one. Keys order by operation, then step, the plain (unnamed) operation first.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricKey {
    pub op: Op,
    pub step: Option<Arc<str>>,
}

impl MetricKey {
    /// The plain operation, not tied to a named step.
    pub fn op(op: Op) -> Self {
        MetricKey { op, step: None }
    }

    /// The operation as called by the scenario step `name`.
    pub fn step(op: Op, name: &str) -> Self {
        MetricKey {
            op,
            step: Some(Arc::from(name)),
        }
    }

    /// How reports show the key: `keto.check`, or `keto.check · check-after-login` for a named
    /// step.
    pub fn label(&self) -> String {
        match &self.step {
            None => self.op.name().to_string(),
            Some(step) => format!("{} · {step}", self.op.name()),
        }
    }
}

impl From<Op> for MetricKey {
    fn from(op: Op) -> Self {
        MetricKey::op(op)
    }
}

impl fmt::Display for MetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// The domain result of a call that worked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Succeeded; the call has no further domain result (a registration, a tuple write).
    Ok,
    /// A session (whoami) or token (introspection) that is active.
    Active,
    /// A session or token that is not active (401 on whoami, `active:false` on introspection).
    Inactive,
    /// A permission check that answered allowed.
    Allowed,
    /// A permission check that answered denied.
    Denied,
    /// Credentials accepted (a login that produced a session).
    Valid,
    /// Credentials rejected the documented way (Kratos 400 with message id 4000006).
    Invalid,
    /// The looked-up entity does not exist (identity lookup answered `[]`, expand found no tuple).
    Absent,
}

impl Verdict {
    pub const ALL: [Verdict; 8] = [
        Verdict::Ok,
        Verdict::Active,
        Verdict::Inactive,
        Verdict::Allowed,
        Verdict::Denied,
        Verdict::Valid,
        Verdict::Invalid,
        Verdict::Absent,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Active => "active",
            Verdict::Inactive => "inactive",
            Verdict::Allowed => "allowed",
            Verdict::Denied => "denied",
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Absent => "absent",
        }
    }

    pub fn from_name(name: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.name() == name)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Why a call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorClass {
    /// The server answered with an unexpected HTTP status.
    Status(u16),
    /// No complete answer within the per-request timeout.
    Timeout,
    /// The connection could not be made or broke.
    Connect,
    /// The answer could not be decoded (not JSON, missing fields orysim needs).
    Protocol,
    /// The answer decoded but said something orysim did not expect (e.g. a registration that
    /// returned no session token although the session hook is required).
    UnexpectedBody,
    /// The call worked but its result differed from what the scenario step expected.
    Expectation,
    /// No file descriptor left for a connection (EMFILE/ENFILE): orysim's limit, not the
    /// target's failure.
    Descriptors,
    /// Still in flight when the run ended and its grace period ran out: the target stalled.
    Unfinished,
}

impl ErrorClass {
    /// Stable key used in reports: `http_500`, `timeout`, `connect`, `protocol`, ...
    pub fn key(self) -> String {
        match self {
            ErrorClass::Status(code) => format!("http_{code}"),
            ErrorClass::Timeout => "timeout".into(),
            ErrorClass::Connect => "connect".into(),
            ErrorClass::Protocol => "protocol".into(),
            ErrorClass::UnexpectedBody => "unexpected_body".into(),
            ErrorClass::Expectation => "expectation".into(),
            ErrorClass::Descriptors => "descriptors".into(),
            ErrorClass::Unfinished => "unfinished".into(),
        }
    }

    pub fn from_key(key: &str) -> Option<ErrorClass> {
        Some(match key {
            "timeout" => ErrorClass::Timeout,
            "connect" => ErrorClass::Connect,
            "protocol" => ErrorClass::Protocol,
            "unexpected_body" => ErrorClass::UnexpectedBody,
            "expectation" => ErrorClass::Expectation,
            "descriptors" => ErrorClass::Descriptors,
            "unfinished" => ErrorClass::Unfinished,
            other => ErrorClass::Status(other.strip_prefix("http_")?.parse().ok()?),
        })
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// What came of one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok(Verdict),
    Err(ErrorClass),
}

impl Outcome {
    pub fn is_ok(self) -> bool {
        matches!(self, Outcome::Ok(_))
    }
}

/// How a Hydra OAuth2 client authenticates at the token endpoint
/// (`token_endpoint_auth_method`): the method it was registered with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
        }
    }

    pub fn from_name(name: &str) -> Option<AuthMethod> {
        match name {
            "client_secret_basic" => Some(AuthMethod::ClientSecretBasic),
            "client_secret_post" => Some(AuthMethod::ClientSecretPost),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_keys_label_and_order_by_op_then_step_plain_first() {
        let plain = MetricKey::from(Op::KetoCheck);
        let b = MetricKey::step(Op::KetoCheck, "check-b");
        let a = MetricKey::step(Op::KetoCheck, "check-a");
        let write = MetricKey::step(Op::KetoWrite, "zzz");
        assert_eq!(plain, MetricKey::op(Op::KetoCheck));
        assert_eq!(plain.step, None);
        assert_eq!(a.step.as_deref(), Some("check-a"));
        assert_eq!(plain.label(), "keto.check");
        assert_eq!(a.label(), "keto.check · check-a");
        assert_eq!(a.to_string(), a.label());
        let mut keys = vec![b.clone(), plain.clone(), write.clone(), a.clone()];
        keys.sort();
        // keto.write comes before keto.check in operation order.
        assert_eq!(keys, vec![write, plain, a, b]);
    }

    #[test]
    fn error_class_keys_round_trip() {
        for class in [
            ErrorClass::Status(503),
            ErrorClass::Timeout,
            ErrorClass::Connect,
            ErrorClass::Protocol,
            ErrorClass::UnexpectedBody,
            ErrorClass::Expectation,
            ErrorClass::Descriptors,
            ErrorClass::Unfinished,
        ] {
            assert_eq!(ErrorClass::from_key(&class.key()), Some(class));
        }
        assert_eq!(ErrorClass::from_key("http_x"), None);
    }
}
