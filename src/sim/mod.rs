//! The built-in Ory simulator: the subset of the Kratos (v1.3.1), Hydra (v2.3.0) and Keto
//! (v0.14.0) HTTP APIs that orysim calls, on the same six ports, with the same paths, status
//! codes, body shapes and error envelopes as the real servers.
//!
//! State is in memory and bounded per store (`max_entries`, oldest evicted first). Optional
//! fault injection per service adds latency with jitter, periodic stalls and injected 500s to
//! every endpoint except health (`/health/alive`, `/health/ready`, `/version`).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let sim = orysim::sim::start(orysim::sim::SimConfig::ephemeral()).await?;
//! println!("{}", sim.urls.export_lines());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

mod byte_budget;
mod faults;
mod http;
mod hydra;
mod hydra_code;
mod keto;
mod kratos;
pub use kratos::IdentitySchema;
mod store;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::{ConnectInfo, Request};
use axum::http::header::HOST;
use axum::http::Method;
use axum::Router;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use faults::{FaultSpec, Stall};

use crate::ground::{Endpoint, PerEndpoint, Service};
use http::{go_method_not_allowed, go_redirect_307, herodot_json, HError, Req, Resp};

/// Largest request body read (Kratos uses the same 5 MB cap).
const MAX_BODY: usize = 5 * 1024 * 1024;

/// Where and how the simulator runs.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub host: IpAddr,
    /// 0 = ephemeral port.
    pub ports: PerEndpoint<u16>,
    pub kratos: FaultSpec,
    /// Kratos's identity schema; `None`: the project's (email and names).
    pub identity_schema: Option<Arc<kratos::IdentitySchema>>,
    pub hydra: FaultSpec,
    pub keto: FaultSpec,
    /// Seed for jitter and error draws.
    pub seed: u64,
    /// Cap of each in-memory store (identities, sessions, flows, clients, tokens, tuples).
    pub max_entries: usize,
    /// Keto namespaces; anything else is "unknown namespace".
    pub keto_namespaces: Vec<String>,
    /// Lifespan of Kratos registration and login flows (Kratos's
    /// `selfservice.flows.{registration,login}.lifespan`, default 1 h). A flow submitted later
    /// answers 410 `self_service_flow_expired` with a replacement flow.
    pub flow_lifespan: Duration,
}

impl SimConfig {
    /// 127.0.0.1, ephemeral ports, no faults, 1,000,000 entries per store, the default
    /// namespaces `documents`, `groups`, `users`, flows that live 1 h.
    pub fn ephemeral() -> Self {
        SimConfig {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ports: PerEndpoint::default(),
            kratos: FaultSpec::default(),
            identity_schema: None,
            hydra: FaultSpec::default(),
            keto: FaultSpec::default(),
            seed: 0,
            max_entries: 1_000_000,
            keto_namespaces: vec!["documents".into(), "groups".into(), "users".into()],
            flow_lifespan: Duration::from_secs(3600),
        }
    }
}

/// Reads an identity schema file for `SimConfig::identity_schema`; the error is one line.
pub fn read_identity_schema(path: &std::path::Path) -> Result<Arc<kratos::IdentitySchema>, String> {
    let raw = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the identity schema {}: {e}", path.display()))?;
    kratos::IdentitySchema::parse(&raw)
        .map(Arc::new)
        .map_err(|e| format!("identity schema {}: {e}", path.display()))
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig::ephemeral()
    }
}

/// Entry counts of the in-memory stores (evicted or deleted entries are not counted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    pub identities: usize,
    /// Stored sessions, including revoked ones (Kratos keeps them too).
    pub sessions: usize,
    /// Stored registration and login flows.
    pub flows: usize,
    pub clients: usize,
    pub tokens: usize,
    pub tuples: usize,
}

/// Knobs that are not part of the public configuration (tests shorten lifespans).
#[derive(Clone, Debug)]
pub(crate) struct Tuning {
    pub session_lifespan: Duration,
    pub access_token_lifespan: Duration,
    pub shutdown_grace: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            session_lifespan: Duration::from_secs(24 * 3600),
            access_token_lifespan: Duration::from_secs(3600),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// A running simulator. Dropping it stops the servers in the background; prefer
/// [`SimHandle::shutdown`], which waits for them.
pub struct SimHandle {
    pub urls: PerEndpoint<String>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    grace: Duration,
}

impl fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimHandle")
            .field("urls", &self.urls)
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    /// Graceful stop: no new connections, in-flight requests may finish; after a bounded
    /// grace period (5 s) remaining connections are dropped.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + self.grace;
        for task in std::mem::take(&mut self.tasks) {
            let abort = task.abort_handle();
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                abort.abort();
            }
        }
    }

    pub fn stats(&self) -> SimStats {
        let (identities, sessions, flows) = self.shared.kratos.counts();
        let (clients, tokens) = self.shared.hydra.counts();
        SimStats {
            identities,
            sessions,
            flows,
            clients,
            tokens,
            tuples: self.shared.keto.count(),
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

struct Shared {
    kratos: kratos::Kratos,
    hydra: hydra::Hydra,
    keto: keto::Keto,
    /// Indexed by `Service as usize` order: Kratos, Hydra, Keto.
    faults: [faults::Faults; 3],
}

impl Shared {
    fn faults(&self, svc: Service) -> &faults::Faults {
        match svc {
            Service::Kratos => &self.faults[0],
            Service::Hydra => &self.faults[1],
            Service::Keto => &self.faults[2],
        }
    }
}

/// Binds all six listeners, starts the servers and returns once they accept connections.
pub async fn start(cfg: SimConfig) -> anyhow::Result<SimHandle> {
    start_tuned(cfg, Tuning::default()).await
}

pub(crate) async fn start_tuned(cfg: SimConfig, tuning: Tuning) -> anyhow::Result<SimHandle> {
    let mut listeners = Vec::with_capacity(Endpoint::ALL.len());
    let mut urls = PerEndpoint::<String>::default();
    for (port, &number) in cfg.ports.iter() {
        let addr = SocketAddr::new(cfg.host, number);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot bind the simulated {} on {addr}", port.describe()))?;
        let local = listener.local_addr().with_context(|| {
            format!(
                "cannot read the address of the simulated {}",
                port.describe()
            )
        })?;
        urls[port] = format!("http://{local}");
        listeners.push((port, listener));
    }
    let started = Instant::now();
    let max = cfg.max_entries.max(1);
    let shared = Arc::new(Shared {
        kratos: kratos::Kratos::new(
            &urls[Endpoint::KratosPublic],
            &urls[Endpoint::KratosAdmin],
            max,
            cfg.flow_lifespan,
            tuning.session_lifespan,
            cfg.identity_schema.clone(),
        ),
        hydra: hydra::Hydra::new(
            &urls[Endpoint::HydraPublic],
            &urls[Endpoint::HydraAdmin],
            max,
            tuning.access_token_lifespan,
        ),
        keto: keto::Keto::new(&cfg.keto_namespaces, max),
        faults: [
            faults::Faults::new(cfg.kratos.clone(), cfg.seed, started),
            faults::Faults::new(cfg.hydra.clone(), cfg.seed.wrapping_add(1), started),
            faults::Faults::new(cfg.keto.clone(), cfg.seed.wrapping_add(2), started),
        ],
    });

    let (stop, _) = watch::channel(false);
    let mut tasks = Vec::with_capacity(listeners.len());
    for (port, listener) in listeners {
        let shared = shared.clone();
        let app = Router::new().fallback(
            move |ConnectInfo(remote): ConnectInfo<SocketAddr>, req: Request| {
                let shared = shared.clone();
                async move { dispatch(&shared, port, remote, req).await }
            },
        );
        let mut rx = stop.subscribe();
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .tcp_nodelay(true)
            .with_graceful_shutdown(async move {
                let _ = rx.wait_for(|stopped| *stopped).await;
            })
            .await;
        }));
    }
    Ok(SimHandle {
        urls,
        shared,
        stop,
        tasks,
        grace: tuning.shutdown_grace,
    })
}

async fn dispatch(shared: &Shared, port: Endpoint, remote: SocketAddr, req: Request) -> Resp {
    let (parts, body) = req.into_parts();
    let host = parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| remote.to_string());
    let mut r = Req {
        method: parts.method,
        path: percent_decode_path(parts.uri.path()),
        raw_query: parts.uri.query().unwrap_or("").to_owned(),
        headers: parts.headers,
        body: Default::default(),
        remote: Some(remote),
        host: format!("http://{host}"),
    };
    if let Some(resp) = unfaulted(port, &r) {
        return resp;
    }
    let svc = port.service();
    if shared.faults(svc).apply().await {
        return injected_fault(port, &r);
    }
    match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => r.body = b,
        Err(_) => return unreadable_body(port, &r),
    }
    match port {
        Endpoint::KratosPublic => shared.kratos.public(&r),
        Endpoint::KratosAdmin => shared.kratos.admin(&r),
        Endpoint::HydraPublic => shared.hydra.public(&r),
        Endpoint::HydraAdmin => shared.hydra.admin(&r),
        Endpoint::KetoRead => shared.keto.read_api(&r),
        Endpoint::KetoWrite => shared.keto.write_api(&r),
    }
}

/// Go's `URL.Path`: percent-escapes decoded (`+` stays `+`); malformed escapes are kept.
fn percent_decode_path(raw: &str) -> String {
    if !raw.contains('%') {
        return raw.to_owned();
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Health, version and Kratos' admin-prefix redirect: answered before fault injection.
fn unfaulted(port: Endpoint, r: &Req) -> Option<Resp> {
    let path = r.path.as_str();
    let (health, version): (&[&str], &[&str]) = match port {
        Endpoint::KratosPublic | Endpoint::HydraPublic => {
            (&["/health/alive", "/health/ready"], &[])
        }
        Endpoint::KratosAdmin => {
            if !path.starts_with("/admin") {
                // Kratos' RedirectAdminMiddleware: everything lives under /admin.
                let mut target = format!("/admin{}", if path == "/" { "" } else { path });
                if !r.raw_query.is_empty() {
                    target.push('?');
                    target.push_str(&r.raw_query);
                }
                return Some(go_redirect_307(r, &target));
            }
            (
                &["/admin/health/alive", "/admin/health/ready"],
                &["/admin/version"],
            )
        }
        Endpoint::HydraAdmin | Endpoint::KetoRead | Endpoint::KetoWrite => {
            (&["/health/alive", "/health/ready"], &["/version"])
        }
    };
    let is_health = health.contains(&path);
    let is_version = version.contains(&path);
    if !is_health && !is_version {
        return None;
    }
    if r.method != Method::GET {
        return Some(go_method_not_allowed(&["GET"]));
    }
    // Kratos's admin router wraps health and version in its no-cache middleware too.
    let finish = |r: Resp| {
        if port == Endpoint::KratosAdmin {
            http::no_cache(r)
        } else {
            r
        }
    };
    if is_health {
        return Some(finish(herodot_json(200, &json!({"status": "ok"}))));
    }
    let v = match port.service() {
        Service::Kratos => kratos::VERSION,
        Service::Hydra => hydra::VERSION,
        Service::Keto => keto::VERSION,
    };
    Some(finish(herodot_json(200, &json!({ "version": v }))))
}

const FAULT_REASON: &str = "Injected fault (orysim simulator).";

fn injected_fault(port: Endpoint, r: &Req) -> Resp {
    match port.service() {
        Service::Hydra => {
            let body = json!({
                "error": "server_error",
                "error_description": format!("The authorization server encountered an unexpected condition that prevented it from fulfilling the request. {FAULT_REASON}"),
            });
            let ct = if port == Endpoint::HydraPublic {
                http::CT_OAUTH
            } else {
                http::CT_JSON
            };
            http::respond(500, Some(ct), body.to_string())
        }
        _ => HError::new(500, http::MSG_INTERNAL)
            .reason(FAULT_REASON)
            .respond(r),
    }
}

fn unreadable_body(port: Endpoint, r: &Req) -> Resp {
    let reason = "Unable to read the HTTP request body (too large or aborted).";
    match port.service() {
        Service::Hydra => http::respond(
            400,
            Some(http::CT_OAUTH),
            json!({"error": "invalid_request", "error_description": format!("The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed. {reason}")}).to_string(),
        ),
        _ => HError::bad_request().reason(reason).respond(r),
    }
}
