//! One transport per endpoint: its general HTTP client, the TLS configuration its lean transport
//! shares with it, the HTTP version it speaks, and what it counted (connections opened, full TLS
//! handshakes, the protocol the server chose), so that a run's load shape can be reported.

use super::tls::{ClientIdentity, HandshakeCounter, HttpVersion, Trust};
use super::ClientOptions;
use crate::ground::{Endpoint, Endpoints, PerEndpoint};
use rustls::ClientConfig;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// TLS and protocol settings of a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TlsOptions {
    /// Extra trusted CAs (PEM files), on top of the system's roots.
    pub ca_certs: Vec<PathBuf>,
    /// Do not verify server certificates.
    pub insecure: bool,
    /// Per endpoint: the client certificate to send and the HTTP version (`None`: the
    /// endpoint's default, see [`default_http_version`]).
    pub endpoints: PerEndpoint<EndpointTls>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct EndpointTls {
    pub identity: Option<ClientIdentity>,
    pub http_version: Option<HttpVersion>,
}

/// What the real clients of each API do. The public APIs are called by browsers and mobile
/// apps, which take HTTP/2 when the server offers it; the admin, read and write APIs by
/// backend services, many replicas each with connections of its own, whose load reaches the
/// server on many HTTP/1.1 connections rather than multiplexed onto one.
pub fn default_http_version(e: Endpoint) -> HttpVersion {
    match e {
        Endpoint::KratosPublic | Endpoint::HydraPublic => HttpVersion::Auto,
        _ => HttpVersion::Http1,
    }
}

/// What one endpoint's transports counted.
#[derive(Debug, Default)]
pub struct TransportStats {
    connections: AtomicU64,
    handshakes: Arc<HandshakeCounter>,
    protocol: Mutex<Option<&'static str>>,
}

impl TransportStats {
    pub(crate) fn connection_opened(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Notes the protocol of an answer (the first one seen is kept: an endpoint's connections
    /// all offer the same ALPN to the same server).
    pub(crate) fn saw(&self, version: reqwest::Version) {
        let mut p = self.protocol.lock().unwrap_or_else(|e| e.into_inner());
        if p.is_none() {
            *p = Some(protocol_name(version));
        }
    }

    pub fn protocol(&self) -> Option<&'static str> {
        *self.protocol.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn protocol_name(v: reqwest::Version) -> &'static str {
    match v {
        reqwest::Version::HTTP_09 => "HTTP/0.9",
        reqwest::Version::HTTP_10 => "HTTP/1.0",
        reqwest::Version::HTTP_2 => "HTTP/2",
        reqwest::Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

/// One endpoint's way to the server.
#[derive(Clone)]
pub struct Transport {
    pub endpoint: Endpoint,
    pub http: reqwest::Client,
    /// The TLS configuration of `http`, shared with the lean transport (`https` only).
    pub tls: Option<Arc<ClientConfig>>,
    pub version: HttpVersion,
    pub client_cert: bool,
    pub stats: Arc<TransportStats>,
}

impl Transport {
    /// Whether the lean HTTP/1.1 transport may carry this endpoint's calls: HTTP/1.1 was asked
    /// for, or `auto` and the server chose HTTP/1.1 at preflight (plain HTTP is HTTP/1.1). With
    /// `auto` over TLS and no preflight answer yet, the general client keeps them.
    pub fn lean_allowed(&self) -> bool {
        match self.version {
            HttpVersion::Http1 => true,
            HttpVersion::Http2 => false,
            HttpVersion::Auto => self.tls.is_none() || self.stats.protocol() == Some("HTTP/1.1"),
        }
    }
}

/// The endpoints' transports, plus one for URLs that belong to none of them.
#[derive(Clone)]
pub struct Transports {
    pub per_endpoint: PerEndpoint<Option<Transport>>,
    pub general: reqwest::Client,
    pub trust: Option<Trust>,
    /// `(origin, endpoint)`: which transport a scenario's own URL goes through.
    origins: Vec<(String, Endpoint)>,
}

impl Transports {
    /// Builds every configured endpoint's transport. Errors are one line for the user (an
    /// unreadable CA or client certificate file, a key that does not match).
    pub fn build(
        opts: &ClientOptions,
        endpoints: &Endpoints,
        tls: &TlsOptions,
    ) -> Result<Transports, String> {
        let any_tls = endpoints
            .iter()
            .any(|(_, u)| u.as_ref().is_some_and(|u| u.scheme() == "https"));
        let needs_trust = any_tls
            || !tls.ca_certs.is_empty()
            || tls.endpoints.iter().any(|(_, t)| t.identity.is_some());
        let trust = if needs_trust {
            Some(Trust::load(&tls.ca_certs, tls.insecure)?)
        } else {
            None
        };
        // URLs of a scenario's own steps that match no endpoint: the same trust, no client
        // certificate.
        let general_tls = match &trust {
            Some(t) => Some(t.client_config(None, HttpVersion::Http1, Default::default())?),
            None => None,
        };
        let general = builder(opts, HttpVersion::Http1, general_tls.as_deref(), None)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let mut per_endpoint = PerEndpoint::from_fn(|_| None);
        let mut origins = Vec::new();
        for (e, url) in endpoints.iter() {
            let Some(url) = url else { continue };
            let settings = &tls.endpoints[e];
            let version = settings
                .http_version
                .unwrap_or_else(|| default_http_version(e));
            let stats = Arc::new(TransportStats::default());
            let config = match (&trust, url.scheme() == "https") {
                (Some(trust), true) => Some(trust.client_config(
                    settings.identity.as_ref(),
                    version,
                    stats.handshakes.clone(),
                )?),
                _ => None,
            };
            let http = builder(opts, version, config.as_deref(), Some(stats.clone()))
                .build()
                .map_err(|err| format!("{}: cannot build the HTTP client: {err}", e.name()))?;
            origins.push((url.origin().ascii_serialization(), e));
            per_endpoint[e] = Some(Transport {
                endpoint: e,
                http,
                tls: config,
                version,
                client_cert: settings.identity.is_some(),
                stats,
            });
        }
        Ok(Transports {
            per_endpoint,
            general,
            trust,
            origins,
        })
    }

    /// The client for a full URL: the transport of the endpoint on its origin, else the
    /// general one.
    pub fn client_for(&self, url: &str) -> &reqwest::Client {
        self.origins
            .iter()
            .find(|(origin, _)| {
                url.strip_prefix(origin.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
            .and_then(|(_, e)| self.per_endpoint[*e].as_ref())
            .map_or(&self.general, |t| &t.http)
    }

    /// Where the trusted roots came from and whether verification was off; `None` when no
    /// endpoint uses TLS.
    pub fn tls_usage(&self) -> Option<TlsUsage> {
        let any_tls = self
            .per_endpoint
            .iter()
            .any(|(_, t)| t.as_ref().is_some_and(|t| t.tls.is_some()));
        self.trust.as_ref().filter(|_| any_tls).map(|t| TlsUsage {
            trust: t.source.clone(),
            insecure: t.insecure,
        })
    }

    /// Per endpoint, what the run's load looked like on the wire, for the report and summary.
    pub fn usage(&self) -> Vec<EndpointUsage> {
        self.per_endpoint
            .iter()
            .filter_map(|(e, t)| t.as_ref().map(|t| (e, t)))
            .map(|(e, t)| {
                let connections = t.stats.connections.load(Ordering::Relaxed);
                let full = t.stats.handshakes.full_handshakes();
                EndpointUsage {
                    endpoint: e.name().to_string(),
                    http_version: t.version.as_str().to_string(),
                    protocol: t.stats.protocol().map(str::to_string),
                    tls: t.tls.is_some(),
                    client_cert: t.client_cert,
                    connections,
                    tls_handshakes: if t.tls.is_some() { connections } else { 0 },
                    tls_full_handshakes: full,
                }
            })
            .collect()
    }
}

/// One endpoint's line in the summary and entry in the report.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EndpointUsage {
    pub endpoint: String,
    /// `--http-version` in force.
    pub http_version: String,
    /// What the server chose (`HTTP/1.1`, `HTTP/2`), when an answer came back.
    pub protocol: Option<String>,
    pub tls: bool,
    pub client_cert: bool,
    pub connections: u64,
    /// One per TLS connection; `tls_full_handshakes` of them verified a certificate, the rest
    /// resumed a session.
    pub tls_handshakes: u64,
    pub tls_full_handshakes: u64,
}

/// The TLS side of a run, for the summary and the report.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TlsUsage {
    /// The roots trusted: the system's store or the bundled ones, plus each `--ca-cert`.
    pub trust: String,
    /// Server certificates were not verified (`--insecure`).
    pub insecure: bool,
}

/// The general client's settings (see `http_client`), for one endpoint.
fn builder(
    opts: &ClientOptions,
    version: HttpVersion,
    tls: Option<&ClientConfig>,
    stats: Option<Arc<TransportStats>>,
) -> reqwest::ClientBuilder {
    let mut b = super::client_builder(opts);
    if let Some(config) = tls {
        b = b.use_preconfigured_tls(config.clone());
    }
    b = match version {
        HttpVersion::Http1 => b.http1_only(),
        HttpVersion::Http2 => b.http2_prior_knowledge(),
        HttpVersion::Auto => b,
    };
    if let Some(stats) = stats {
        b = b.connector_layer(CountConnections(stats));
    }
    b
}

/// Counts the connections the general client opens.
#[derive(Clone)]
struct CountConnections(Arc<TransportStats>);

impl<S> tower_layer::Layer<S> for CountConnections {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            stats: self.0.clone(),
        }
    }
}

#[derive(Clone)]
struct Counted<S> {
    inner: S,
    stats: Arc<TransportStats>,
}

impl<S, R> tower_service::Service<R> for Counted<S>
where
    S: tower_service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let stats = self.stats.clone();
        let connecting = self.inner.call(req);
        Box::pin(async move {
            let conn = connecting.await?;
            stats.connection_opened();
            Ok(conn)
        })
    }
}
