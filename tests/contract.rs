//! Contract tests: the same assertions about every Ory call orysim makes, run against the
//! built-in simulator (`contract_simulator_*`, plain `cargo test`) and against the real Kratos
//! v1.3.1, Hydra v2.3.0 and Keto v0.14.0 started by `scripts/ory-stack up`
//! (`contract_real_ory_*`, `#[ignore]`d; `scripts/test` runs them with `--include-ignored`).
//!
//! Each contract is one `async fn(Targets)`. It checks status codes, the body fields orysim
//! reads and the error shapes with raw HTTP, and the classification (`Outcome`) of orysim's own
//! typed clients for the same situations. Every contract uses fresh, uuid-based data, so the
//! tests run in parallel and repeatedly against the same databases. Each one is bounded in time.
//!
//! Real-stack tests take their URLs from the environment (`eval "$(scripts/ory-stack env)"`),
//! panic when one is missing (never skip), and refuse any host that is not loopback.

mod common;

use std::future::Future;
use std::time::Duration;

use orysim::ground::{Endpoint, PerEndpoint};
use orysim::ory::{http_client, ClientOptions, HydraClient, KetoClient, KratosClient, OryClients};
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, Url};
use serde_json::Value;

/// Upper bound for one contract (real Kratos hashes every password with bcrypt; an unknown
/// login identifier adds up to a second of deliberate delay).
const CONTRACT_TIMEOUT: Duration = Duration::from_secs(90);
/// Per-request timeout of the clients used by the contracts.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Base URLs of the six Ory APIs under test (no trailing slash).
#[derive(Clone, Debug)]
pub struct Targets {
    pub urls: PerEndpoint<String>,
    /// What the targets are, for failure messages: "simulator" or "real Ory".
    pub kind: &'static str,
}

impl std::ops::Index<Endpoint> for Targets {
    type Output = String;

    fn index(&self, e: Endpoint) -> &String {
        &self.urls[e]
    }
}

impl Targets {
    fn from_sim(urls: &PerEndpoint<String>) -> Targets {
        Targets {
            urls: urls.clone(),
            kind: "simulator",
        }
    }

    /// The real stack's URLs from the environment. Panics when one is missing or not loopback.
    fn from_env() -> Targets {
        Targets {
            urls: PerEndpoint::from_fn(|e| loopback_base(e.env(), &common::real_url(e.env()))),
            kind: "real Ory",
        }
    }

    /// (what it is, e.g. "Kratos public"; its URL).
    pub fn all(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.urls
            .iter()
            .map(|(e, url)| (e.describe().trim_end_matches(" API"), url.as_str()))
    }

    pub fn kratos(&self) -> KratosClient {
        self.clients().kratos.expect("Kratos client")
    }

    pub fn hydra(&self) -> HydraClient {
        self.clients().hydra.expect("Hydra client")
    }

    pub fn keto(&self) -> KetoClient {
        self.clients().keto.expect("Keto client")
    }

    /// orysim's own clients of the six APIs, built as a run builds them.
    fn clients(&self) -> OryClients {
        let endpoints = PerEndpoint::from_fn(|e| Some(url(&self[e])));
        let opts = ClientOptions {
            timeout: REQUEST_TIMEOUT,
            ..ClientOptions::default()
        };
        OryClients::builder(&endpoints, &opts)
            .build()
            .expect("Ory clients")
    }
}

/// `value` as a base URL (a Keto `host:port` gets `http://`), which must be on loopback.
fn loopback_base(var: &str, value: &str) -> String {
    let value = value.trim();
    let with_scheme = if value.contains("://") {
        value.to_string()
    } else {
        format!("http://{value}")
    };
    let parsed =
        Url::parse(&with_scheme).unwrap_or_else(|e| panic!("{var}={value:?} is not a URL: {e}"));
    let host = parsed.host_str().unwrap_or("");
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    assert!(
        loopback,
        "{var}={value:?}: contract tests only run against a local stack on loopback \
         (scripts/ory-stack up); they write and delete data"
    );
    with_scheme.trim_end_matches('/').to_string()
}

pub fn url(s: &str) -> Url {
    Url::parse(s).unwrap_or_else(|e| panic!("{s:?} is not a URL: {e}"))
}

/// orysim's own HTTP client: pooled, no cookie store, no redirects, bounded.
pub fn client() -> reqwest::Client {
    http_client(&ClientOptions {
        timeout: REQUEST_TIMEOUT,
        ..ClientOptions::default()
    })
    .expect("HTTP client")
}

pub const JSON: &str = "application/json";

/// A fresh, unique, lower-case token for names, emails and objects.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// One answer, read completely.
pub struct Answer {
    pub what: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    /// The body as JSON; `Null` when empty or not JSON.
    pub json: Value,
}

impl Answer {
    /// Panics (with the request and the body) unless the status is `status`.
    pub fn expect(self, status: u16) -> Answer {
        assert_eq!(
            self.status, status,
            "{}: expected HTTP {status}, got {}: {}",
            self.what, self.status, self.text
        );
        self
    }

    pub fn content_type(&self) -> &str {
        self.header(reqwest::header::CONTENT_TYPE.as_str())
    }

    /// The header `name`, "" when absent or not text.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Panics unless this is a herodot error envelope
    /// `{"error":{"code":code,"status":…,"message":…}}` answered with `code`; returns its
    /// `reason` ("" when absent).
    pub fn expect_envelope(&self, code: u16) -> String {
        assert_eq!(self.status, code, "{}: {}", self.what, self.text);
        assert!(
            self.content_type().starts_with(JSON),
            "{}: content type {:?}",
            self.what,
            self.content_type()
        );
        let error = &self.json["error"];
        assert_eq!(error["code"], code, "{}: {}", self.what, self.text);
        assert!(error["status"].is_string(), "{}: {}", self.what, self.text);
        assert!(error["message"].is_string(), "{}: {}", self.what, self.text);
        error["reason"].as_str().unwrap_or("").to_string()
    }

    /// A string field (JSON pointer) that must be present and non-empty.
    pub fn str_at(&self, pointer: &str) -> String {
        match self.json.pointer(pointer) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            other => panic!(
                "{}: expected a non-empty string at {pointer}, got {other:?} in {}",
                self.what, self.text
            ),
        }
    }
}

/// Send `req` and read the whole answer. `what` names the call in failure messages.
pub async fn send(what: impl Into<String>, req: RequestBuilder) -> Answer {
    let what = what.into();
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{what}: request failed: {e}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp
        .text()
        .await
        .unwrap_or_else(|e| panic!("{what}: body unreadable: {e}"));
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        what,
        status,
        headers,
        text,
        json,
    }
}

/// Runs `contract` against a fresh in-process simulator on ephemeral loopback ports.
pub async fn on_simulator<F, Fut>(name: &str, contract: F)
where
    F: FnOnce(Targets) -> Fut,
    Fut: Future<Output = ()>,
{
    on_simulator_with(name, orysim::sim::SimConfig::ephemeral(), contract).await
}

pub async fn on_simulator_with<F, Fut>(name: &str, cfg: orysim::sim::SimConfig, contract: F)
where
    F: FnOnce(Targets) -> Fut,
    Fut: Future<Output = ()>,
{
    let sim = orysim::sim::start(cfg).await.expect("simulator starts");
    let targets = Targets::from_sim(&sim.urls);
    bounded(name, &targets, contract(targets.clone())).await;
    sim.shutdown().await;
}

/// Runs `contract` against the real stack named by the environment.
pub async fn on_real_ory<F, Fut>(name: &str, contract: F)
where
    F: FnOnce(Targets) -> Fut,
    Fut: Future<Output = ()>,
{
    let targets = Targets::from_env();
    bounded(name, &targets, contract(targets.clone())).await;
}

async fn bounded(name: &str, targets: &Targets, fut: impl Future<Output = ()>) {
    if tokio::time::timeout(CONTRACT_TIMEOUT, fut).await.is_err() {
        panic!(
            "contract {name} did not finish within {CONTRACT_TIMEOUT:?} on the {}: {targets:?}",
            targets.kind
        );
    }
}

/// `contracts! { path::to::contract => contract_simulator_x, contract_real_ory_x; ... }`
/// declares, per contract, a simulator test and an ignored real-stack test.
macro_rules! contracts {
    ($($contract:path => $sim:ident, $real:ident;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sim() {
            $crate::on_simulator(stringify!($sim), $contract).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        #[ignore = "needs the real Ory stack: scripts/test"]
        async fn $real() {
            $crate::on_real_ory(stringify!($real), $contract).await;
        }
    )*};
}

mod contract {
    pub mod health;
    pub mod hydra;
    pub mod hydra_code;
    pub mod keto;
    pub mod kratos;
}
