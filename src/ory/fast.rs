//! A lean HTTP/1.1 transport: each request is written and its answer read by the task that
//! makes the call, on a plain stack of idle keep-alive connections, with the request line and
//! headers encoded straight into the connection's buffer (`h1`). There is no connection task,
//! no channel between the caller and the socket and no header map per answer: a request costs
//! one write, the reads its answer needs and one parse, which is what the fastest load
//! generators do. reqwest's general-purpose pool, URL re-parsing, per-request header maps and
//! redirect/retry layers are left out.
//!
//! Every Ory call of an endpoint goes through it when the endpoint allows it (see `wire`). It
//! keeps what the reqwest path guarantees: one timeout over connect + headers + body,
//! the same error classes (see `http::classify_error`; `response_props` holds the two paths to
//! the same answer for any bytes a server sends), the body cap (what is read is capped,
//! and the status of an answer beyond it is still known), no redirects followed,
//! the same request on the wire (`Host`, `User-Agent`, `Accept: */*` unless the call sets its
//! own, the call's headers, `Content-Type` and `Content-Length` of a body).
//! It is used for `http://` base URLs, and for `https://` ones over tokio-rustls with the
//! endpoint's own TLS configuration (the one its general client uses: same roots, same client
//! certificate, same session cache, so reconnections resume sessions), when the endpoint speaks
//! HTTP/1.1, the URL has no credentials and no proxy applies (a proxy environment variable is
//! honoured unless `ClientOptions::proxy_from_env` is off); anything else stays on reqwest.

use crate::ground::ErrorClass;
use crate::ory::h1::{self, Chunked, Framing, Head, Parsed, MAX_HEAD_BYTES};
use crate::ory::http::MAX_BODY_BYTES;
use crate::ory::transport::{Transport, TransportStats};
use crate::ory::wire::{Answer, Body};
use crate::ory::ClientOptions;
use bytes::{Buf, Bytes, BytesMut};
use reqwest::header::{HeaderName, HeaderValue, ACCEPT, HOST, USER_AGENT};
use reqwest::{Method, Url};
use rustls::pki_types::ServerName;
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// How long an idle connection is kept (reqwest's `pool_idle_timeout` for the shared client).
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// A connection's read buffer starts at this size and grows for larger answers (an Ory
/// answer is usually well under it).
const READ_BUFFER_BYTES: usize = 4096;

/// A connection keeps its request buffer for the next request up to this size (a large body
/// once does not hold memory for the rest of the run).
const MAX_KEPT_OUTBOX_BYTES: usize = 64 * 1024;

/// After an answer larger than this, a kept connection gets a fresh read buffer: the body
/// handed out shares the old one's allocation, which the inbox would otherwise reclaim and
/// hold (up to the body cap) for as long as the connection lives.
const MAX_KEPT_INBOX_BYTES: usize = 64 * 1024;

/// A request's timeout timer. Each idle connection keeps the one its last request used, and
/// the next request on it re-arms it: tokio moves a registered timer's deadline later with one
/// atomic update, where a fresh timer per request takes the timer driver's lock twice (to
/// register it and to remove it) and walks its wheel. The timeout itself is unchanged: the
/// deadline is still `timeout` after the request starts and covers connect, headers and body.
type Timer = Pin<Box<Sleep>>;

/// The socket, plain or under TLS.
enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// An open connection with its buffers, kept from one request to the next.
struct Conn {
    io: Io,
    /// What was read and not consumed yet.
    inbox: BytesMut,
    /// The buffer the next request on this connection is encoded into (kept while idle).
    outbox: Vec<u8>,
    /// Bytes read for the answer being read.
    answer_bytes: usize,
}

/// A request encoded and bound to a connection taken from the idle ones (or to one to be
/// opened), with its timer armed: everything the call's arguments were needed for is done, so
/// the future that sends it borrows nothing of theirs.
pub(crate) struct Prepared {
    conn: Option<Conn>,
    timer: Timer,
    outbox: Vec<u8>,
    /// An answer to `HEAD` has no body.
    head: bool,
    cap: usize,
}

/// An idle keep-alive connection.
struct Idle {
    conn: Conn,
    timer: Timer,
    since: Instant,
}

/// A request that failed, and whether it may go again on a fresh connection: only when none
/// of it could be written on a connection taken from the idle ones (the server closed it
/// meanwhile), as reqwest retries a request that was never sent. Once written, even in part,
/// a request is never sent twice.
struct Failed {
    class: ErrorClass,
    unsent: bool,
}

impl From<ErrorClass> for Failed {
    fn from(class: ErrorClass) -> Self {
        Failed {
            class,
            unsent: false,
        }
    }
}

/// Idle connections to one origin, oldest first: requests take the most recently used, and the
/// ones a burst left below the working set expire from the front.
pub(crate) struct FastHttp {
    /// `host:port` to connect to.
    addr: String,
    /// Headers every request carries: `Host`, `User-Agent`, `Accept: */*` (reqwest's defaults).
    headers: Vec<(HeaderName, HeaderValue)>,
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
        let headers = vec![
            (HOST, HeaderValue::from_str(&host_header).ok()?),
            (
                USER_AGENT,
                HeaderValue::from_static(concat!("orysim/", env!("CARGO_PKG_VERSION"))),
            ),
            // reqwest's default, replaced by the call's own `Accept`.
            (ACCEPT, HeaderValue::from_static("*/*")),
        ];
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
    ) -> Result<(reqwest::StatusCode, Vec<u8>), ErrorClass> {
        let prepared = self.prepare(&Method::GET, &target, extra, None, cap)?;
        let (status, body) = self.finish(prepared).await?.whole()?;
        Ok((status, body.to_vec()))
    }

    /// `method target` (origin form: path and query, already encoded) with the call's headers
    /// (they replace the defaults of the same name, as on reqwest) and an optional body (sent
    /// with its `Content-Type` and `Content-Length`), prepared for `finish`: the request is
    /// encoded before this returns, so what is sent borrows none of the arguments.
    pub(crate) fn prepare_request(
        &self,
        method: Method,
        target: &str,
        extra: &[(HeaderName, HeaderValue)],
        body: Option<Body>,
    ) -> Result<Prepared, ErrorClass> {
        self.prepare(&method, target, extra, body.as_ref(), MAX_BODY_BYTES)
    }

    /// Takes the newest idle connection (if any), arms the timeout and encodes the request into
    /// the connection's buffer: no allocation on a warm connection.
    fn prepare(
        &self,
        method: &Method,
        target: &str,
        extra: &[(HeaderName, HeaderValue)],
        body: Option<&Body>,
        cap: usize,
    ) -> Result<Prepared, ErrorClass> {
        if !h1::valid_target(target) {
            return Err(ErrorClass::Protocol);
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        let (mut conn, timer) = match self.checkout() {
            Some(Idle {
                conn, mut timer, ..
            }) => {
                timer.as_mut().reset(deadline);
                (Some(conn), timer)
            }
            None => (None, Box::pin(tokio::time::sleep_until(deadline))),
        };
        let mut outbox = conn
            .as_mut()
            .map(|c| std::mem::take(&mut c.outbox))
            .unwrap_or_default();
        outbox.clear();
        let (content_type, bytes) = match body {
            Some(b) => (b.content_type.as_ref(), &b.bytes[..]),
            None => (None, &[][..]),
        };
        h1::encode_request(
            &mut outbox,
            method,
            target,
            &self.headers,
            extra,
            content_type,
            bytes,
        );
        Ok(Prepared {
            conn,
            timer,
            outbox,
            head: *method == Method::HEAD,
            cap,
        })
    }

    /// Sends a prepared request and reads its answer, within its timeout.
    pub(crate) async fn finish(&self, prepared: Prepared) -> Result<Answer, ErrorClass> {
        let Prepared {
            conn,
            mut timer,
            outbox,
            head,
            cap,
        } = prepared;
        // As `tokio::time::timeout`: the call first, then the deadline.
        let sent = tokio::select! {
            biased;
            sent = self.send(conn, &outbox, head, cap) => sent,
            () = timer.as_mut() => return Err(ErrorClass::Timeout),
        };
        let (answer, keep, retry_after) = sent?;
        if let Some(mut conn) = keep {
            // A large request body is not kept for the next request.
            if outbox.capacity() <= MAX_KEPT_OUTBOX_BYTES {
                conn.outbox = outbox;
            }
            self.checkin(conn, timer);
        }
        // Right before handing the answer back: the caller takes it on this thread.
        if let Some(wait) = retry_after {
            super::retry_after::note_wait(wait);
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
        while let Some(mut idle_conn) = idle.pop_back() {
            if fresh(&idle_conn, now) && idle_conn.conn.still_open() {
                return Some(idle_conn);
            }
        }
        None
    }

    fn checkin(&self, conn: Conn, timer: Timer) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.max_idle {
            idle.push_back(Idle {
                conn,
                timer,
                since: Instant::now(),
            });
        }
    }

    async fn connect(&self) -> Result<Conn, ErrorClass> {
        let stream = TcpStream::connect(&self.addr)
            .await
            .map_err(|e| super::descriptors::class_of(&e, ErrorClass::Connect))?;
        let _ = stream.set_nodelay(true);
        let io = match &self.tls {
            None => Io::Plain(stream),
            Some((connector, name)) => {
                // A failed handshake is a connection failure, as on the reqwest path.
                let stream = connector
                    .connect(name.clone(), stream)
                    .await
                    .map_err(|_| ErrorClass::Connect)?;
                Io::Tls(Box::new(stream))
            }
        };
        if let Some(stats) = &self.stats {
            stats.connection_opened();
        }
        Ok(Conn {
            io,
            inbox: BytesMut::with_capacity(READ_BUFFER_BYTES),
            outbox: Vec::new(),
            answer_bytes: 0,
        })
    }

    /// Sends the encoded request on `conn` (a connection just taken from the idle ones) or on
    /// the next one: the answer, the connection when it may be used again, and a 429's wait.
    async fn send(
        &self,
        mut conn: Option<Conn>,
        request: &[u8],
        head: bool,
        cap: usize,
    ) -> Result<(Answer, Option<Conn>, Option<Duration>), ErrorClass> {
        loop {
            let next = conn
                .take()
                .or_else(|| self.checkout().map(|idle| idle.conn));
            let (mut c, reused) = match next {
                Some(c) => (c, true),
                // Boxed: with its TLS handshake the connect future is several KiB, and inline
                // it would make every call's future (and each move of it) that large.
                None => (Box::pin(self.connect()).await?, false),
            };
            match c.exchange(request, head, cap).await {
                Ok((answer, keep, retry_after)) => {
                    return Ok((answer, keep.then_some(c), retry_after));
                }
                Err(Failed { unsent: true, .. }) if reused => continue,
                Err(Failed { class, .. }) => return Err(class),
            }
        }
    }
}

impl Io {
    /// Writes the whole request. On failure: whether nothing of it went out, so that it may be
    /// sent again elsewhere. Only the first write can fail that early: a large body is
    /// written in parts, and a server may act on the part it got (an early answer, then a
    /// reset). Under TLS a write that fails has sent none of its records.
    async fn write_request(&mut self, bytes: &[u8]) -> Result<(), bool> {
        let mut written = 0;
        while written < bytes.len() {
            let wrote = match self {
                Io::Plain(s) => s.write(&bytes[written..]).await,
                Io::Tls(s) => s.write(&bytes[written..]).await,
            };
            match wrote {
                Ok(n) if n > 0 => written += n,
                Ok(_) | Err(_) => return Err(written == 0),
            }
        }
        if let Io::Tls(s) = self {
            s.flush().await.map_err(|_| false)?;
        }
        Ok(())
    }

    async fn read_into(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Io::Plain(s) => s.read_buf(buf).await,
            Io::Tls(s) => s.read_buf(buf).await,
        }
    }

    fn poll_read_now(&mut self, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let mut cx = Context::from_waker(Waker::noop());
        match self {
            Io::Plain(s) => Pin::new(s).poll_read(&mut cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(&mut cx, buf),
        }
    }
}

impl Conn {
    /// Whether an idle connection can carry a request: nothing is waiting to be read on it.
    /// A server that closed it (end of stream), reset it or sent anything unasked (a `408`
    /// before closing) leaves it unusable. The read also takes in what TLS sends between
    /// answers (session tickets), and it is the read that finds the socket empty, so the
    /// answer's first read after the request goes straight to waiting.
    fn still_open(&mut self) -> bool {
        let mut byte = [0u8; 1];
        let mut buf = ReadBuf::new(&mut byte);
        matches!(self.io.poll_read_now(&mut buf), Poll::Pending)
    }

    /// Reads more into the inbox, growing it by at least `want` bytes of room: the bytes read,
    /// 0 at the end of the stream.
    async fn read_more(&mut self, want: usize) -> Result<usize, ErrorClass> {
        if self.inbox.capacity() - self.inbox.len() < want.max(512) {
            self.inbox.reserve(want.max(READ_BUFFER_BYTES));
        }
        let n = self
            .io
            .read_into(&mut self.inbox)
            .await
            .map_err(|_| ErrorClass::Connect)?;
        self.answer_bytes += n;
        Ok(n)
    }

    /// Writes the request and reads its answer: the answer, whether the connection may carry
    /// another request, and a 429's wait.
    async fn exchange(
        &mut self,
        request: &[u8],
        head: bool,
        cap: usize,
    ) -> Result<(Answer, bool, Option<Duration>), Failed> {
        if let Err(nothing_went_out) = self.io.write_request(request).await {
            return Err(Failed {
                class: ErrorClass::Connect,
                unsent: nothing_went_out,
            });
        }
        self.answer_bytes = 0;
        let parsed = self.read_head(head).await?;
        let body = self.read_body(parsed.framing, cap).await?;
        let keep = body.is_ok()
            && parsed.keep_alive
            && parsed.framing != Framing::UntilClose
            // Bytes beyond the answer mean the framing is lost.
            && self.inbox.is_empty();
        if keep && self.answer_bytes > MAX_KEPT_INBOX_BYTES {
            self.inbox = BytesMut::with_capacity(READ_BUFFER_BYTES);
        }
        let answer = Answer {
            status: parsed.status,
            body,
        };
        Ok((answer, keep, parsed.retry_after))
    }

    async fn read_head(&mut self, head_request: bool) -> Result<Head, ErrorClass> {
        loop {
            if !self.inbox.is_empty() {
                match h1::parse_head(&self.inbox, head_request)? {
                    Parsed::Final(head) => {
                        self.inbox.advance(head.len);
                        return Ok(head);
                    }
                    Parsed::Informational(len) => {
                        self.inbox.advance(len);
                        continue;
                    }
                    Parsed::Partial if self.inbox.len() >= MAX_HEAD_BYTES => {
                        return Err(ErrorClass::Protocol)
                    }
                    Parsed::Partial => {}
                }
            }
            // Closed before the whole head came: a broken connection, as on reqwest.
            if self.read_more(READ_BUFFER_BYTES).await? == 0 {
                return Err(ErrorClass::Connect);
            }
        }
    }

    /// The body, up to `cap`; an answer beyond it is `Err(Protocol)` in the answer (its status
    /// is still known), a body that breaks off fails the call (`Connect`).
    async fn read_body(
        &mut self,
        framing: Framing,
        cap: usize,
    ) -> Result<Result<Bytes, ErrorClass>, ErrorClass> {
        match framing {
            Framing::Empty => Ok(Ok(Bytes::new())),
            Framing::Length(n) if n > cap as u64 => Ok(Err(ErrorClass::Protocol)),
            Framing::Length(n) => {
                let n = n as usize;
                while self.inbox.len() < n {
                    if self.read_more(n - self.inbox.len()).await? == 0 {
                        return Err(ErrorClass::Connect);
                    }
                }
                // The body shares the inbox's allocation: no copy, and once the caller is done
                // with it the inbox reclaims the room.
                Ok(Ok(self.inbox.split_to(n).freeze()))
            }
            Framing::Chunked => {
                let mut decoder = Chunked::default();
                let mut out = Vec::new();
                loop {
                    match decoder.decode(&mut self.inbox, &mut out, cap) {
                        Ok(true) => return Ok(Ok(out.into())),
                        Ok(false) => {}
                        Err(ErrorClass::Protocol) => return Ok(Err(ErrorClass::Protocol)),
                        Err(class) => return Err(class),
                    }
                    if self.read_more(READ_BUFFER_BYTES).await? == 0 {
                        return Err(ErrorClass::Connect);
                    }
                }
            }
            Framing::UntilClose => loop {
                if self.inbox.len() > cap {
                    return Ok(Err(ErrorClass::Protocol));
                }
                if self.read_more(READ_BUFFER_BYTES).await? == 0 {
                    return Ok(Ok(self.inbox.split().freeze()));
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ory::test_server::{
        closed_port_url, oversized_chunked_response, raw_server, CannedServer, Reply,
    };
    use reqwest::header::AUTHORIZATION;

    fn default_header(f: &FastHttp, name: HeaderName) -> &str {
        let (_, value) = f.headers.iter().find(|(n, _)| *n == name).unwrap();
        value.to_str().unwrap()
    }

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
        assert_eq!(default_header(&f, HOST), "h:4466");
        assert_eq!(default_header(&f, ACCEPT), "*/*");
        let f = lean(&u("http://[::1]/"), &opts(100)).unwrap();
        assert_eq!(f.addr, "[::1]:80");
        assert_eq!(default_header(&f, HOST), "[::1]");
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
        let prepared = f
            .prepare_request(
                Method::POST,
                "/form",
                &[],
                Some(Body::form("token=a%2Bb".into())),
            )
            .unwrap();
        let answer = f.finish(prepared).await.unwrap();
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

    /// A server on a thread: on each connection it answers a first request (keep-alive), then
    /// takes in the start of a second, answers `413` early and resets the connection. Its URL
    /// and the count of connections it accepted.
    fn early_answering_server() -> (Url, Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        std::thread::spawn(move || {
            for sock in listener.incoming() {
                let Ok(mut sock) = sock else { return };
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 64 * 1024];
                    let _ = sock.read(&mut buf);
                    let _ = sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}");
                    let _ = sock.read(&mut buf);
                    let _ = sock
                        .write_all(b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\n\r\n");
                    // Closing with unread bytes resets the connection.
                });
            }
        });
        (Url::parse(&format!("http://{addr}/")).unwrap(), accepted)
    }

    #[tokio::test]
    async fn a_request_partly_written_is_never_sent_again() {
        let (url, accepted) = early_answering_server();
        let f = fast(&url, 5000);
        let (status, _) = f.get("/".into(), &[], 1024).await.unwrap();
        assert_eq!(status.as_u16(), 200);
        // On the reused connection, a body far beyond what the socket buffers take in: the
        // write fails part way, after the server has seen the request's head.
        let body = Body {
            content_type: None,
            bytes: Bytes::from(vec![b'x'; 64 * 1024 * 1024]),
        };
        let prepared = f
            .prepare_request(Method::POST, "/upload", &[], Some(body))
            .unwrap();
        assert!(f.finish(prepared).await.is_err());
        assert_eq!(
            accepted.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "the request went out again on a second connection"
        );
    }

    #[tokio::test]
    async fn a_large_answer_does_not_stay_in_the_connection_s_buffer() {
        let big: &'static str = Box::leak("x".repeat(512 * 1024).into_boxed_str());
        let srv = CannedServer::start(vec![Reply::new("GET", "/big", 200, big)]).await;
        let f = fast(&srv.base, 2000);
        let prepared = f.prepare_request(Method::GET, "/big", &[], None).unwrap();
        let answer = f.finish(prepared).await.unwrap();
        let body = answer.body.unwrap();
        assert_eq!(body.len(), big.len());
        let body_end = body.as_ptr_range().end;
        drop(body);
        let idle = f.idle.lock().unwrap();
        assert_eq!(idle.len(), 1, "the connection is kept");
        // Read in place, the body is the front of the inbox's allocation and the inbox its
        // tail, which would reclaim (and hold) the whole of it for the next answers.
        assert_ne!(
            idle[0].conn.inbox.as_ptr(),
            body_end,
            "the inbox still shares the large answer's buffer"
        );
        assert_eq!(idle[0].conn.inbox.capacity(), READ_BUFFER_BYTES);
    }
}
