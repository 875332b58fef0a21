//! A lean HTTP/1.1 transport: hyper's connection API directly, with the request line and
//! headers prepared once per client, and a plain stack of idle keep-alive connections instead of
//! reqwest's general-purpose pool (no URL re-parsing, no per-request header map built from
//! defaults, no redirect/retry layers).
//!
//! Every Ory call of an endpoint goes through it when the endpoint allows it (see `wire`). It
//! keeps what the reqwest path guarantees: one timeout over connect + headers + body,
//! the same error classes (see `http::classify_error`), the body cap (what is read is capped,
//! and the status of an answer beyond it is still known), no redirects followed,
//! the same request on the wire (`Host`, `User-Agent`, `Accept: */*` unless the call sets its
//! own, the call's headers, `Content-Type` and `Content-Length` of a body).
//! It is used for `http://` base URLs, and for `https://` ones over tokio-rustls with the
//! endpoint's own TLS configuration (the one its general client uses: same roots, same client
//! certificate, same session cache, so reconnections resume sessions), when the endpoint speaks
//! HTTP/1.1, the URL has no credentials and no proxy applies (a proxy environment variable is
//! honoured unless `ClientOptions::proxy_from_env` is off); anything else stays on reqwest.

use crate::ground::ErrorClass;
use crate::ory::http::MAX_BODY_BYTES;
use crate::ory::transport::{Transport, TransportStats};
use crate::ory::wire::{Answer, Body};
use crate::ory::ClientOptions;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use reqwest::Url;
use rustls::pki_types::ServerName;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tokio_rustls::TlsConnector;

/// How long an idle connection is kept (reqwest's `pool_idle_timeout` for the shared client).
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

type Sender = SendRequest<Full<Bytes>>;

/// A request's timeout timer. Each idle connection keeps the one its last request used, and
/// the next request on it re-arms it: tokio moves a registered timer's deadline later with one
/// atomic update, where a fresh timer per request takes the timer driver's lock twice (to
/// register it and to remove it) and walks its wheel. The timeout itself is unchanged: the
/// deadline is still `timeout` after the request starts and covers connect, headers and body.
type Timer = Pin<Box<Sleep>>;

/// An idle keep-alive connection.
struct Idle {
    sender: Sender,
    timer: Timer,
    since: Instant,
}

/// Idle connections to one origin, oldest first: requests take the most recently used, and the
/// ones a burst left below the working set expire from the front.
pub(crate) struct FastHttp {
    /// `host:port` to connect to.
    addr: String,
    /// Headers every request carries: `Host`, `User-Agent`, `Accept: */*` (reqwest's defaults).
    headers: HeaderMap,
    timeout: Duration,
    max_idle: usize,
    idle_timeout: Duration,
    idle: Mutex<VecDeque<Idle>>,
    /// For `https://`: the endpoint's TLS configuration and the name its certificate must hold.
    tls: Option<(TlsConnector, ServerName<'static>)>,
    /// The endpoint's counters, told of every connection opened.
    stats: Option<Arc<TransportStats>>,
}

/// Proxy variables reqwest honours: with any of them set, requests go through reqwest.
pub(crate) fn proxy_configured(https: bool) -> bool {
    let vars: &[&str] = if https {
        &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
    } else {
        &["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
    };
    vars.iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

impl FastHttp {
    /// The fast transport for `base` through `transport` (`https://` too), or `None` when the
    /// endpoint needs reqwest (HTTP/2, credentials in the URL, a proxy).
    pub(crate) fn for_transport(
        base: &Url,
        opts: &ClientOptions,
        transport: &Transport,
    ) -> Option<FastHttp> {
        if !transport.lean_allowed() {
            return None;
        }
        let tls = match (base.scheme(), &transport.tls) {
            ("http", _) => None,
            ("https", Some(config)) => {
                let name = ServerName::try_from(base.host_str()?.to_string()).ok()?;
                // The endpoint's configuration (roots, client certificate, session cache and
                // handshake counter shared), offering HTTP/1.1 only: this transport speaks
                // nothing else.
                let mut config = (**config).clone();
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                Some((TlsConnector::from(Arc::new(config)), name))
            }
            _ => return None,
        };
        if !base.username().is_empty()
            || base.password().is_some()
            || (opts.proxy_from_env && proxy_configured(tls.is_some()))
        {
            return None;
        }
        let host = base.host_str()?;
        let port = base.port_or_known_default()?;
        let host_header = match base.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let mut headers = HeaderMap::with_capacity(4);
        headers.insert(HOST, HeaderValue::from_str(&host_header).ok()?);
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("orysim/", env!("CARGO_PKG_VERSION"))),
        );
        // reqwest's default, replaced by the call's own `Accept`.
        headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        Some(FastHttp {
            addr: format!("{host}:{port}"),
            headers,
            timeout: opts.timeout,
            max_idle: match opts.max_connections_per_host {
                0 => usize::MAX,
                n => n,
            },
            idle_timeout: IDLE_TIMEOUT,
            idle: Mutex::new(VecDeque::new()),
            tls,
            stats: Some(transport.stats.clone()),
        })
    }

    /// `GET target` with a body cap of `cap`: the status and the whole body.
    #[cfg(test)]
    pub(crate) async fn get(
        &self,
        target: String,
        extra: &[(HeaderName, HeaderValue)],
        cap: usize,
    ) -> Result<(hyper::StatusCode, Vec<u8>), ErrorClass> {
        let (status, body) = self
            .request_capped(Method::GET, target, extra, None, cap)
            .await?
            .whole()?;
        Ok((status, body.to_vec()))
    }

    /// `method target` (origin form: path and query, already encoded) with the call's headers
    /// (they replace the defaults of the same name, as on reqwest) and an optional body (sent
    /// with its `Content-Type` and `Content-Length`).
    pub(crate) async fn request(
        &self,
        method: Method,
        target: String,
        extra: &[(HeaderName, HeaderValue)],
        body: Option<Body>,
    ) -> Result<Answer, ErrorClass> {
        self.request_capped(method, target, extra, body, MAX_BODY_BYTES)
            .await
    }

    async fn request_capped(
        &self,
        method: Method,
        target: String,
        extra: &[(HeaderName, HeaderValue)],
        body: Option<Body>,
        cap: usize,
    ) -> Result<Answer, ErrorClass> {
        let uri = Uri::try_from(target).map_err(|_| ErrorClass::Protocol)?;
        let (content_type, bytes) = match body {
            Some(b) => (b.content_type, b.bytes),
            None => (None, Bytes::new()),
        };
        let mut req = Request::new(Full::new(bytes));
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        let headers = req.headers_mut();
        headers.clone_from(&self.headers);
        for (i, (name, value)) in extra.iter().enumerate() {
            // The first of a name replaces a default; a repeated name is sent once per value.
            if extra[..i].iter().any(|(n, _)| n == name) {
                headers.append(name.clone(), value.clone());
            } else {
                headers.insert(name.clone(), value.clone());
            }
        }
        if let Some(ct) = content_type {
            headers.insert(CONTENT_TYPE, ct);
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        let (conn, mut timer) = match self.checkout() {
            Some(Idle {
                sender, mut timer, ..
            }) => {
                timer.as_mut().reset(deadline);
                (Some(sender), timer)
            }
            None => (None, Box::pin(tokio::time::sleep_until(deadline))),
        };
        let mut req = Some(req);
        // As `tokio::time::timeout`: the call first, then the deadline.
        let sent = tokio::select! {
            biased;
            sent = self.send(conn, &mut req, cap) => sent,
            () = timer.as_mut() => return Err(ErrorClass::Timeout),
        };
        let (answer, sender) = sent?;
        if let Some(sender) = sender {
            self.checkin(sender, timer);
        }
        Ok(answer)
    }

    fn checkout(&self) -> Option<Idle> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = |c: &Idle, now: Instant| now.duration_since(c.since) < self.idle_timeout;
        let now = Instant::now();
        // Taking the newest alone would leave the connections a stall or a burst opened idle
        // for the rest of the run (descriptors, buffers, the server's side too): close the
        // expired ones at the old end as well.
        while idle.front().is_some_and(|c| !fresh(c, now)) {
            idle.pop_front();
        }
        while let Some(conn) = idle.pop_back() {
            if !conn.sender.is_closed() && fresh(&conn, now) {
                return Some(conn);
            }
        }
        None
    }

    fn checkin(&self, sender: Sender, timer: Timer) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.max_idle {
            idle.push_back(Idle {
                sender,
                timer,
                since: Instant::now(),
            });
        }
    }

    async fn connect(&self) -> Result<Sender, ErrorClass> {
        let stream = TcpStream::connect(&self.addr)
            .await
            .map_err(|e| super::descriptors::class_of(&e, ErrorClass::Connect))?;
        let _ = stream.set_nodelay(true);
        let sender = match &self.tls {
            None => Self::handshake(stream).await?,
            Some((connector, name)) => {
                // A failed handshake is a connection failure, as on the reqwest path.
                let stream = connector
                    .connect(name.clone(), stream)
                    .await
                    .map_err(|_| ErrorClass::Connect)?;
                Self::handshake(stream).await?
            }
        };
        if let Some(stats) = &self.stats {
            stats.connection_opened();
        }
        Ok(sender)
    }

    async fn handshake<S>(stream: S) -> Result<Sender, ErrorClass>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| ErrorClass::Connect)?;
        tokio::spawn(async move {
            // Errors surface through the request that hit them.
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// Sends `req` on `conn` (a connection just taken from the idle ones) or on the next one;
    /// the answer and the connection to keep. `req` is borrowed, taken when sent and
    /// put back for a retry: an `async fn` keeps its by-value arguments for its whole life
    /// beside its locals, and this future is part of every call's.
    async fn send(
        &self,
        mut conn: Option<Sender>,
        req: &mut Option<Request<Full<Bytes>>>,
        cap: usize,
    ) -> Result<(Answer, Option<Sender>), ErrorClass> {
        loop {
            // A pooled connection may have been closed by the server meanwhile: when the
            // request was not sent on it, it is sent again on a fresh connection (as reqwest
            // does); a fresh connection is never retried.
            let next = conn
                .take()
                .or_else(|| self.checkout().map(|idle| idle.sender));
            let (mut sender, reused) = match next {
                Some(s) => (s, true),
                None => (self.connect().await?, false),
            };
            if sender.ready().await.is_err() {
                if reused {
                    continue;
                }
                return Err(ErrorClass::Connect);
            }
            let Some(r) = req.take() else {
                unreachable!("the request is put back before every retry");
            };
            let resp = match sender.try_send_request(r).await {
                Ok(resp) => resp,
                Err(mut e) => match e.take_message() {
                    Some(r) if reused => {
                        *req = Some(r);
                        continue;
                    }
                    _ => return Err(classify(e.error())),
                },
            };
            let status = resp.status();
            super::retry_after::note(status.as_u16(), resp.headers());
            let body = read_body(resp.into_body(), cap).await;
            // A body beyond the cap was not read to its end: its connection is dropped.
            let keep = body.is_ok().then_some(sender);
            let body = match body {
                Err(ErrorClass::Protocol) => Err(ErrorClass::Protocol),
                Err(class) => return Err(class),
                Ok(body) => Ok(body),
            };
            return Ok((Answer { status, body }, keep));
        }
    }
}

/// The body, up to `cap`. An answer whose body comes in one chunk (a small JSON answer read
/// with its head) is handed back as that chunk, without a copy or an allocation.
async fn read_body(mut body: hyper::body::Incoming, cap: usize) -> Result<Bytes, ErrorClass> {
    use hyper::body::Body as _;
    let hint = body.size_hint().exact();
    if let Some(len) = hint {
        if len > cap as u64 {
            return Err(ErrorClass::Protocol);
        }
    }
    let mut first: Option<Bytes> = None;
    let mut rest: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        // A body that breaks off is a broken connection, as on the reqwest path.
        let frame = frame.map_err(|_| ErrorClass::Connect)?;
        if let Ok(chunk) = frame.into_data() {
            let read = first.as_ref().map_or(0, Bytes::len) + rest.len();
            if read + chunk.len() > cap {
                return Err(ErrorClass::Protocol);
            }
            match first.take() {
                None if rest.is_empty() => first = Some(chunk),
                earlier => {
                    if let Some(earlier) = earlier {
                        rest.reserve(hint.map_or(0, |n| n as usize).max(read + chunk.len()));
                        rest.extend_from_slice(&earlier);
                    }
                    rest.extend_from_slice(&chunk);
                }
            }
        }
    }
    Ok(first.unwrap_or_else(|| rest.into()))
}

/// `http::classify_error` for hyper's errors while sending and reading the head: an answer that
/// is not HTTP → `Protocol`, anything else (reset, closed before the answer) → `Connect`.
fn classify(err: &hyper::Error) -> ErrorClass {
    if err.is_timeout() {
        return ErrorClass::Timeout;
    }
    if err.is_parse() || err.is_parse_status() || err.is_parse_too_large() {
        return ErrorClass::Protocol;
    }
    let text = err.to_string();
    if text.starts_with("invalid ")
        || text.starts_with("message head is too large")
        || text.starts_with("unexpected transfer-encoding")
        || text.starts_with("received unexpected message")
    {
        ErrorClass::Protocol
    } else {
        ErrorClass::Connect
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ory::test_server::{
        closed_port_url, oversized_chunked_response, raw_server, CannedServer, Reply,
    };
    use hyper::header::AUTHORIZATION;

    fn lean(base: &Url, opts: &ClientOptions) -> Option<FastHttp> {
        crate::ory::test_server::lean_transport(base, opts)
    }

    fn opts(timeout_ms: u64) -> ClientOptions {
        ClientOptions {
            timeout: Duration::from_millis(timeout_ms),
            max_connections_per_host: 4,
            proxy_from_env: false,
            ..ClientOptions::default()
        }
    }

    fn fast(base: &Url, timeout_ms: u64) -> FastHttp {
        lean(base, &opts(timeout_ms)).expect("plain http base")
    }

    #[test]
    fn only_without_credentials_and_with_reqwest_defaults() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(lean(&u("http://a:b@h:4466"), &opts(100)).is_none());
        let f = lean(&u("http://h:4466/p"), &opts(100)).unwrap();
        assert_eq!(f.addr, "h:4466");
        assert_eq!(f.headers[HOST], "h:4466");
        assert_eq!(f.headers[ACCEPT], "*/*");
        let f = lean(&u("http://[::1]/"), &opts(100)).unwrap();
        assert_eq!(f.addr, "[::1]:80");
        assert_eq!(f.headers[HOST], "[::1]");
    }

    #[tokio::test]
    async fn sends_the_same_request_and_reuses_the_connection() {
        let srv = CannedServer::start(vec![Reply::new("GET", "/x", 200, "{\"a\":1}")]).await;
        let f = fast(&srv.base, 2000);
        let hv = HeaderValue::from_static("Bearer t");
        let json = HeaderValue::from_static("application/json");
        for _ in 0..3 {
            let (status, body) = f
                .get(
                    "/x?q=a%20b".into(),
                    &[(AUTHORIZATION, hv.clone()), (ACCEPT, json.clone())],
                    1024,
                )
                .await
                .unwrap();
            assert_eq!((status.as_u16(), body.as_slice()), (200, &b"{\"a\":1}"[..]));
        }
        let seen = srv.seen();
        assert_eq!(seen[0].target, "/x?q=a%20b");
        assert_eq!(seen[0].header("authorization"), Some("Bearer t"));
        assert_eq!(seen[0].header("accept"), Some("application/json"));
        assert!(seen[0].header("user-agent").unwrap().starts_with("orysim/"));
        assert_eq!(
            seen[0].header("host"),
            Some(
                srv.base
                    .as_str()
                    .trim_start_matches("http://")
                    .trim_end_matches('/')
            )
        );
        assert_eq!(
            f.idle.lock().unwrap().len(),
            1,
            "one connection, kept alive"
        );
        let (status, _) = f.get("/missing".into(), &[], 1024).await.unwrap();
        assert_eq!(status.as_u16(), 404);
        assert!(seen[0].body.is_empty() && seen[0].header("content-length").is_none());

        let srv = CannedServer::start(vec![Reply::new("POST", "/form", 200, "{}")]).await;
        let f = fast(&srv.base, 2000);
        let answer = f
            .request(
                Method::POST,
                "/form".into(),
                &[],
                Some(Body::form("token=a%2Bb".into())),
            )
            .await
            .unwrap();
        assert_eq!(answer.status.as_u16(), 200);
        let seen = &srv.seen()[0];
        assert_eq!(seen.body, b"token=a%2Bb");
        assert_eq!(seen.header("content-length"), Some("11"));
        assert_eq!(
            seen.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
    }

    #[tokio::test]
    async fn connections_left_idle_below_the_working_set_are_closed_when_they_expire() {
        let srv = CannedServer::start(vec![Reply::new("GET", "/x", 200, "{}")]).await;
        let mut f = fast(&srv.base, 2000);
        f.idle_timeout = Duration::from_millis(150);
        // A burst opens four connections; then one request at a time reuses the newest.
        let get = || f.get("/x".into(), &[], 1024);
        let burst = tokio::join!(get(), get(), get(), get());
        assert!(burst.0.is_ok() && burst.1.is_ok() && burst.2.is_ok() && burst.3.is_ok());
        assert_eq!(f.idle.lock().unwrap().len(), 4);
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(40)).await;
            f.get("/x".into(), &[], 1024).await.unwrap();
        }
        assert_eq!(
            f.idle.lock().unwrap().len(),
            1,
            "the three connections the burst left idle are closed once expired"
        );
    }

    #[tokio::test]
    async fn errors_are_classified_like_the_reqwest_path() {
        let closed = closed_port_url().await;
        assert_eq!(
            fast(&closed, 2000).get("/".into(), &[], 1024).await.err(),
            Some(ErrorClass::Connect)
        );

        let slow = CannedServer::start(vec![
            Reply::new("GET", "/slow", 200, "{}").delay(Duration::from_millis(1500))
        ])
        .await;
        assert_eq!(
            fast(&slow.base, 200)
                .get("/slow".into(), &[], 1024)
                .await
                .err(),
            Some(ErrorClass::Timeout)
        );

        let big = CannedServer::start(vec![Reply::new("GET", "/big", 200, "0123456789")]).await;
        assert_eq!(
            fast(&big.base, 2000).get("/big".into(), &[], 5).await.err(),
            Some(ErrorClass::Protocol)
        );

        let chunked = raw_server(oversized_chunked_response).await;
        assert_eq!(
            fast(&chunked, 5000)
                .get("/".into(), &[], MAX_BODY_BYTES)
                .await
                .err(),
            Some(ErrorClass::Protocol)
        );

        let ssh = raw_server(|_req| b"SSH-2.0-OpenSSH_9.2\r\n\r\n".to_vec()).await;
        assert_eq!(
            fast(&ssh, 2000).get("/".into(), &[], 1024).await.err(),
            Some(ErrorClass::Protocol)
        );

        let cut = raw_server(|_req| {
            b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\ncontent-type: application/json\r\n\r\n{\"id\":"
                .to_vec()
        })
        .await;
        assert_eq!(
            fast(&cut, 2000).get("/".into(), &[], 1024).await.err(),
            Some(ErrorClass::Connect)
        );

        let silent = raw_server(|_req| Vec::new()).await;
        assert_eq!(
            fast(&silent, 2000).get("/".into(), &[], 1024).await.err(),
            Some(ErrorClass::Connect)
        );
    }

    #[tokio::test]
    async fn the_timeout_holds_on_a_reused_connection_and_its_re_armed_timer() {
        let srv = CannedServer::start(vec![
            Reply::new("GET", "/fast", 200, "{}"),
            Reply::new("GET", "/slow", 200, "{}").delay(Duration::from_millis(1500)),
        ])
        .await;
        let f = fast(&srv.base, 200);
        for pause in [0, 300] {
            // 300 ms idle: the timer kept with the connection fires meanwhile, and is re-armed.
            tokio::time::sleep(Duration::from_millis(pause)).await;
            let (status, _) = f.get("/fast".into(), &[], 1024).await.unwrap();
            assert_eq!(status.as_u16(), 200);
            assert_eq!(f.idle.lock().unwrap().len(), 1, "kept with its timer");
        }
        // Each request gets the whole timeout from its own start, not from the timer's
        // first arming.
        let start = Instant::now();
        assert_eq!(
            f.get("/slow".into(), &[], 1024).await.err(),
            Some(ErrorClass::Timeout)
        );
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(200) && took < Duration::from_millis(1200),
            "timed out after {took:?}"
        );
        assert!(
            f.idle.lock().unwrap().is_empty(),
            "a timed-out connection is dropped"
        );
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_is_replaced() {
        // The raw server answers once per connection, then closes it.
        let url =
            raw_server(|_req| b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}".to_vec()).await;
        let f = fast(&url, 2000);
        for _ in 0..3 {
            let (status, body) = f.get("/".into(), &[], 1024).await.unwrap();
            assert_eq!((status.as_u16(), body.as_slice()), (200, &b"{}"[..]));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
