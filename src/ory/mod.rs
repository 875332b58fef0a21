//! Typed clients for exactly the Ory calls orysim makes (Kratos, Hydra, Keto).
//!
//! Everything here runs on the load generator's hot path: one `reqwest::Client` per endpoint
//! (`transport`: pooled, no cookie store, no redirects, per-request timeout, the endpoint's TLS
//! settings and HTTP version), URLs prebuilt at construction, bodies read with a size cap and
//! decoded into small structs. [`OryClients::builder`] is the one place the clients are built;
//! it chooses once per endpoint (`wire`) whether its calls take the lean HTTP/1.1 path (`fast`,
//! over TLS too, with the same timeout, error classes and body cap) or reqwest. Every call
//! returns a [`Call`] whose [`Outcome`] is classified here, once; nothing downstream inspects
//! bodies or strings.

pub mod browser;
pub mod clients;
pub mod descriptors;
pub(crate) mod fast;
pub(crate) mod h1;
pub mod http;
pub mod hydra;
pub mod hydra_code;
pub mod keto;
pub mod kratos;
#[cfg(test)]
mod response_props;
pub mod retry_after;
pub mod tls;
#[cfg(test)]
mod tls_tests;
pub mod transport;
pub(crate) mod wire;

pub use clients::{ClientsBuilder, OryClients};
pub use hydra::{HydraClient, OAuthClient};
pub use keto::{KetoClient, RelationTuple, Subject, SubjectRef, TupleQuery, TupleRef};
pub use kratos::{KratosClient, LoggedIn, Registered, Traits};

use crate::ground::{ErrorClass, Outcome, Verdict};
use crate::secret::Secret;
use anyhow::Context as _;
use reqwest::Url;
use std::time::Duration;

/// The result of one Ory call: its classified outcome, plus the data it produced (`Some` only
/// when useful data came back).
#[derive(Debug)]
pub struct Call<T> {
    pub outcome: Outcome,
    pub value: Option<T>,
}

impl<T> Call<T> {
    /// Worked, nothing to hand back.
    pub fn ok(verdict: Verdict) -> Self {
        Call {
            outcome: Outcome::Ok(verdict),
            value: None,
        }
    }

    /// Worked, with a value.
    pub fn ok_with(verdict: Verdict, value: T) -> Self {
        Call {
            outcome: Outcome::Ok(verdict),
            value: Some(value),
        }
    }

    pub fn err(class: ErrorClass) -> Self {
        Call {
            outcome: Outcome::Err(class),
            value: None,
        }
    }

    pub fn is_ok(&self) -> bool {
        self.outcome.is_ok()
    }
}

impl<T> From<ErrorClass> for Call<T> {
    fn from(class: ErrorClass) -> Self {
        Call::err(class)
    }
}

/// A call written with `?`: each step that can fail returns `Result<_, ErrorClass>`, the body
/// ends in `Ok(call)`, and the first failure becomes the call's error.
pub type Attempt<T> = Result<Call<T>, ErrorClass>;

impl<T> From<Attempt<T>> for Call<T> {
    fn from(attempt: Attempt<T>) -> Self {
        attempt.unwrap_or_else(Call::err)
    }
}

impl<T> Call<T> {
    /// Runs a call written with `?` (see [`Attempt`]).
    pub fn attempt<F: std::future::Future<Output = Attempt<T>>>(attempt: F) -> Attempting<F> {
        Attempting { attempt }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Call::attempt`]: the attempt's own, its output made a `Call`. A named
    /// future rather than an `async fn`, which would hold the attempt twice (as its argument
    /// and as the future it awaits): a call's future is moved several times on its way to
    /// the virtual user's task, and every byte of it is copied each time.
    pub struct Attempting<F> {
        #[pin]
        attempt: F,
    }
}

impl<T, F: std::future::Future<Output = Attempt<T>>> std::future::Future for Attempting<F> {
    type Output = Call<T>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Call<T>> {
        self.project().attempt.poll(cx).map(Call::from)
    }
}

#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Per-request timeout (connect + headers + body).
    pub timeout: Duration,
    /// Ory Network API key, sent as `Authorization: Bearer` on admin-side calls only.
    pub admin_token: Option<Secret>,
    /// Idle connections kept per host: size it to the concurrency. 0 = unlimited.
    pub max_connections_per_host: usize,
    /// Honour the proxy environment variables (`HTTP_PROXY`, …), as every run does; off, no
    /// proxy is used (and the lean transport is never ruled out by one).
    pub proxy_from_env: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(10),
            admin_token: None,
            max_connections_per_host: 64,
            proxy_from_env: true,
        }
    }
}

/// The one HTTP client shared by all Ory clients. No cookie store (Kratos API flows must not send
/// cookies), no redirects (a Kratos 303 is an answer to classify, not to follow), pooled
/// connections, `opts.timeout` on every request. Also rejects an admin token that cannot be sent
/// as a header, so that mistake surfaces at start-up.
pub fn http_client(opts: &ClientOptions) -> anyhow::Result<reqwest::Client> {
    check_options(opts)?;
    client_builder(opts)
        .build()
        .context("building the HTTP client")
}

/// Rejects options no client can work with: a zero timeout, an admin token that cannot be sent
/// as a header (without echoing it).
pub fn check_options(opts: &ClientOptions) -> anyhow::Result<()> {
    anyhow::ensure!(
        !opts.timeout.is_zero(),
        "the request timeout must be greater than zero"
    );
    if let Some(token) = &opts.admin_token {
        http::bearer_header(token).map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

/// The settings every general client shares (see `http_client`).
pub(crate) fn client_builder(opts: &ClientOptions) -> reqwest::ClientBuilder {
    let idle = match opts.max_connections_per_host {
        0 => usize::MAX,
        n => n,
    };
    let builder = match opts.proxy_from_env {
        true => reqwest::Client::builder(),
        false => reqwest::Client::builder().no_proxy(),
    };
    builder
        .timeout(opts.timeout)
        .connect_timeout(opts.timeout)
        .pool_max_idle_per_host(idle)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("orysim/", env!("CARGO_PKG_VERSION")))
}

/// Preflight: `GET {base}/health/ready`, falling back to `/health/alive` when ready answers 404.
/// `Ok(())` on 200; otherwise one line naming the URL and what came back (status and a short body
/// snippet, or the connection error). Bounded by the client timeout (per request).
pub async fn probe_ready(client: &reqwest::Client, base: &Url) -> Result<(), String> {
    probe_ready_noting(client, base, None).await
}

/// `probe_ready`, noting the protocol of the answers in `stats`. A TLS failure, or nginx's
/// page refusing a request without a client certificate, is put in words with its fix.
pub async fn probe_ready_noting(
    client: &reqwest::Client,
    base: &Url,
    stats: Option<&transport::TransportStats>,
) -> Result<(), String> {
    let ready = http::join(base, "/health/ready");
    let probe = Probe { client, stats };
    match probe.following(&ready).await? {
        (200, _, _) => Ok(()),
        (404, _, _) => {
            let alive = http::join(base, "/health/alive");
            match probe.following(&alive).await? {
                (200, _, _) => Ok(()),
                (status, snippet, url) => Err(format!(
                    "GET {} answered HTTP {status} (after /health/ready answered 404): {snippet}",
                    http::display_url(&url)
                )),
            }
        }
        (status, snippet, url) => Err(format!(
            "GET {} answered HTTP {status}: {snippet}",
            http::display_url(&url)
        )),
    }
}

struct Probe<'a> {
    client: &'a reqwest::Client,
    stats: Option<&'a transport::TransportStats>,
}

impl Probe<'_> {
    /// Probes `url`, following one redirect on the same origin: Kratos's admin port answers
    /// `/health/ready` with 307 to `/admin/health/ready`.
    async fn following(&self, url: &Url) -> Result<(u16, String, Url), String> {
        let (status, snippet, location) = self.one(url).await?;
        let target = location
            .filter(|_| (300..400).contains(&status))
            .and_then(|loc| url.join(&loc).ok())
            .filter(|next| next.origin() == url.origin());
        match target {
            Some(next) => {
                let (status, snippet, _) = self.one(&next).await?;
                Ok((status, snippet, next))
            }
            None => Ok((status, snippet, url.clone())),
        }
    }

    async fn one(&self, url: &Url) -> Result<(u16, String, Option<String>), String> {
        let resp = self
            .client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| {
                let shown = http::display_url(url);
                match tls::explain(&e, url.host_str().unwrap_or_default()) {
                    Some(words) => format!("GET {shown}: {words}"),
                    None => format!("GET {shown} failed: {}", http::describe_error(e)),
                }
            })?;
        if let Some(stats) = self.stats {
            stats.saw(resp.version());
        }
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        match http::read_body(resp, 64 * 1024).await {
            Ok(body) => {
                let page = String::from_utf8_lossy(&body);
                if let Some(words) = tls::explain_client_cert_page(status, &page) {
                    return Err(format!("GET {}: {words}", http::display_url(url)));
                }
                Ok((status, http::snippet(&body, 200), location))
            }
            Err(class) => Ok((status, format!("<body unreadable: {class}>"), location)),
        }
    }
}

/// A tiny canned-response HTTP server on 127.0.0.1 for the tests of this module tree, and the
/// one HTTP client every unit test talks to a local server (or the simulator) with.
#[cfg(test)]
pub(crate) mod test_server {
    use axum::body::Body;
    use axum::extract::{Request, State};
    use axum::http::{HeaderMap, HeaderValue, StatusCode};
    use axum::response::Response;
    use reqwest::Url;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// The lean transport of a Keto read endpoint at `base`, or `None` where reqwest is needed;
    /// pass `proxy_from_env: false` in `opts` for it to be chosen whatever the environment says.
    pub fn lean_transport(
        base: &Url,
        opts: &super::ClientOptions,
    ) -> Option<super::fast::FastHttp> {
        use crate::ground::{Endpoint, Endpoints};
        let mut endpoints = Endpoints::default();
        endpoints[Endpoint::KetoRead] = Some(base.clone());
        let t = super::transport::Transports::build(opts, &endpoints, &Default::default())
            .expect("transports");
        let read = t.per_endpoint[Endpoint::KetoRead].as_ref()?;
        super::fast::FastHttp::for_transport(base, opts, read)
    }

    /// orysim's own client settings (`client_builder`: no cookie store, no redirects), bounded,
    /// and never through a proxy named by the environment: the servers are all on loopback.
    pub fn client() -> reqwest::Client {
        let opts = super::ClientOptions {
            timeout: Duration::from_secs(10),
            ..super::ClientOptions::default()
        };
        super::client_builder(&opts)
            .no_proxy()
            .build()
            .expect("HTTP client")
    }

    /// One canned answer for `method path` (query ignored when matching).
    #[derive(Clone)]
    pub struct Reply {
        method: &'static str,
        path: &'static str,
        status: u16,
        body: &'static str,
        delay: Duration,
    }

    impl Reply {
        pub fn new(
            method: &'static str,
            path: &'static str,
            status: u16,
            body: &'static str,
        ) -> Self {
            Reply {
                method,
                path,
                status,
                body,
                delay: Duration::ZERO,
            }
        }

        pub fn delay(mut self, d: Duration) -> Self {
            self.delay = d;
            self
        }
    }

    /// A request as the server saw it.
    #[derive(Clone, Debug)]
    pub struct Seen {
        pub method: String,
        /// Path and query exactly as sent (still percent-encoded).
        pub target: String,
        pub headers: HeaderMap,
        pub body: Vec<u8>,
    }

    impl Seen {
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers.get(name).and_then(|v| v.to_str().ok())
        }

        pub fn json(&self) -> serde_json::Value {
            serde_json::from_slice(&self.body).expect("request body is JSON")
        }
    }

    struct Shared {
        replies: Vec<Reply>,
        seen: Mutex<Vec<Seen>>,
    }

    pub struct CannedServer {
        pub base: Url,
        shared: Arc<Shared>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for CannedServer {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, 4 << 20)
            .await
            .unwrap_or_default();
        let target = parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str().to_string())
            .unwrap_or_default();
        shared.seen.lock().unwrap().push(Seen {
            method: parts.method.as_str().to_string(),
            target,
            headers: parts.headers.clone(),
            body: body.to_vec(),
        });
        let reply = shared
            .replies
            .iter()
            .find(|r| r.method == parts.method.as_str() && r.path == parts.uri.path())
            .cloned();
        let Some(reply) = reply else {
            return Response::builder()
                .status(StatusCode::NOT_FOUND)
                .header("content-type", "application/json")
                .body(Body::from(
                    r#"{"error":{"code":404,"status":"Not Found","message":"The requested resource could not be found"}}"#,
                ))
                .unwrap();
        };
        if !reply.delay.is_zero() {
            tokio::time::sleep(reply.delay).await;
        }
        let mut resp = Response::new(Body::from(reply.body));
        *resp.status_mut() = StatusCode::from_u16(reply.status).unwrap();
        if !reply.body.is_empty() {
            resp.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
        }
        resp
    }

    impl CannedServer {
        pub async fn start(replies: Vec<Reply>) -> CannedServer {
            let shared = Arc::new(Shared {
                replies,
                seen: Mutex::new(Vec::new()),
            });
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let app = axum::Router::new()
                .fallback(handle)
                .with_state(shared.clone());
            let task = tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            CannedServer {
                base: Url::parse(&format!("http://{addr}")).unwrap(),
                shared,
                task,
            }
        }

        pub fn url(&self, path: &str) -> String {
            format!("{}{}", self.base.as_str().trim_end_matches('/'), path)
        }

        pub fn seen(&self) -> Vec<Seen> {
            self.shared.seen.lock().unwrap().clone()
        }
    }

    /// Every Ory client with all six endpoints at `srv`, `token` as the admin token, a 2 s
    /// timeout, and the lean transport (`lean`, proxies from the environment ignored so that
    /// it is always taken) or reqwest only.
    pub fn clients_for(
        srv: &CannedServer,
        token: Option<&str>,
        lean: bool,
    ) -> crate::ory::OryClients {
        let opts = crate::ory::ClientOptions {
            timeout: Duration::from_secs(2),
            admin_token: token.map(crate::secret::Secret::new),
            max_connections_per_host: 4,
            proxy_from_env: false,
        };
        let endpoints = crate::ground::PerEndpoint::from_fn(|_| Some(srv.base.clone()));
        let clients = crate::ory::OryClients::builder(&endpoints, &opts)
            .lean(lean)
            .build()
            .unwrap();
        for e in crate::ground::Endpoint::ALL {
            assert_eq!(clients.is_lean(e), Some(lean), "{e:?}");
        }
        clients
    }

    /// A URL on 127.0.0.1 where nothing listens.
    pub async fn closed_port_url() -> Url {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        Url::parse(&format!("http://{addr}/")).unwrap()
    }

    /// A 200 answer with a chunked body of 1.25 MiB and no Content-Length: the body cap must be
    /// enforced while streaming.
    pub fn oversized_chunked_response(_request: &[u8]) -> Vec<u8> {
        let mut r = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..20 {
            r.extend_from_slice(b"10000\r\n");
            r.extend(std::iter::repeat_n(b'a', 0x10000));
            r.extend_from_slice(b"\r\n");
        }
        r.extend_from_slice(b"0\r\n\r\n");
        r
    }

    /// Reads a request up to the end of its head; `None` if the client went away first.
    pub async fn read_head(sock: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        Some(head)
    }

    /// A raw TCP server: reads one request head, writes `respond(head)` verbatim, closes.
    pub async fn raw_server(respond: fn(&[u8]) -> Vec<u8>) -> Url {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let Some(head) = read_head(&mut sock).await else {
                        return;
                    };
                    let _ = sock.write_all(&respond(&head)).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Url::parse(&format!("http://{addr}/")).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::test_server::{client, closed_port_url, CannedServer, Reply};
    use super::*;

    #[test]
    fn http_client_rejects_bad_options_without_echoing_the_token() {
        let mut opts = ClientOptions {
            admin_token: Some(Secret::new("secret\nvalue")),
            ..ClientOptions::default()
        };
        let err = http_client(&opts).unwrap_err().to_string();
        assert!(!err.contains("secret"), "{err}");
        opts.admin_token = Some(Secret::new("ory_pat_ok"));
        assert!(http_client(&opts).is_ok());
        opts.timeout = Duration::ZERO;
        assert!(http_client(&opts).is_err());
    }

    #[test]
    fn call_constructors() {
        let c: Call<u8> = Call::ok_with(Verdict::Ok, 3);
        assert!(c.is_ok() && c.value == Some(3));
        let e: Call<u8> = ErrorClass::Timeout.into();
        assert_eq!(e.outcome, Outcome::Err(ErrorClass::Timeout));
        assert!(e.value.is_none());
    }

    #[tokio::test]
    async fn an_attempt_ends_at_its_first_failure() {
        let parse = |s: &str| s.parse::<u8>().map_err(|_| ErrorClass::Protocol);
        let c = Call::attempt(async { Ok(Call::ok_with(Verdict::Ok, parse("7")? + 1)) }).await;
        assert_eq!((c.outcome, c.value), (Outcome::Ok(Verdict::Ok), Some(8)));
        let c: Call<u8> = Call::attempt(async {
            let n = parse("x")?;
            Ok(Call::ok_with(Verdict::Ok, n))
        })
        .await;
        assert_eq!(
            (c.outcome, c.value),
            (Outcome::Err(ErrorClass::Protocol), None)
        );
    }

    #[tokio::test]
    async fn probe_ready_ok_and_fallback_to_alive() {
        let srv = CannedServer::start(vec![Reply::new(
            "GET",
            "/health/ready",
            200,
            r#"{"status":"ok"}"#,
        )])
        .await;
        assert_eq!(probe_ready(&client(), &srv.base).await, Ok(()));

        let srv = CannedServer::start(vec![Reply::new(
            "GET",
            "/health/alive",
            200,
            r#"{"status":"ok"}"#,
        )])
        .await;
        assert_eq!(probe_ready(&client(), &srv.base).await, Ok(()));
        let paths: Vec<_> = srv.seen().into_iter().map(|s| s.target).collect();
        assert_eq!(paths, ["/health/ready", "/health/alive"]);
    }

    #[tokio::test]
    async fn probe_ready_reports_status_and_snippet() {
        let srv = CannedServer::start(vec![Reply::new(
            "GET",
            "/health/ready",
            503,
            "{\"errors\":{\"database\":\"connection refused\"}}\n",
        )])
        .await;
        let err = probe_ready(&client(), &srv.base).await.unwrap_err();
        assert!(
            err.contains("/health/ready") && err.contains("503"),
            "{err}"
        );
        assert!(
            err.contains("connection refused") && !err.contains('\n'),
            "{err}"
        );

        let srv = CannedServer::start(vec![]).await; // both 404
        let err = probe_ready(&client(), &srv.base).await.unwrap_err();
        assert!(
            err.contains("/health/alive") && err.contains("404"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn probe_ready_reports_connection_errors() {
        let url = closed_port_url().await;
        let err = probe_ready(&client(), &url).await.unwrap_err();
        assert!(err.contains(url.as_str().trim_end_matches('/')), "{err}");
        assert!(err.contains("connect"), "{err}");
    }
}
