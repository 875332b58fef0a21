//! Shared HTTP plumbing for the Ory clients: transport-error classification, a capped body reader,
//! percent-encoding and URL building done once at client construction.
//!
//! Nothing here logs and nothing here formats a secret into a message.

use crate::ground::{ErrorClass, Verdict};
use crate::ory::Call;
use crate::secret::Secret;
use reqwest::header::{HeaderName, HeaderValue, ACCEPT, AUTHORIZATION};
use reqwest::{Response, StatusCode, Url};
use serde::Deserialize;
use std::error::Error as _;

/// Largest response body orysim reads; anything bigger is a misbehaving target (→ `Protocol`).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Classify a transport-level failure reported by reqwest.
///
/// * timeout anywhere in the chain (connect, headers or body) → `Timeout`
/// * connect failure (refused, DNS, TLS handshake) → `Connect`
/// * a body that broke off mid-way (reqwest may wrap it as `Decode`) → `Connect`
/// * the server answered something that is not HTTP (hyper parse error) → `Protocol`
/// * other send failures (reset, closed before the response completed, HTTP/2 stream errors)
///   → `Connect`
/// * builder/redirect/decode errors (a request orysim could not encode) → `Protocol`
pub fn classify_error(err: &reqwest::Error) -> ErrorClass {
    if err.is_timeout() {
        ErrorClass::Timeout
    } else if err.is_connect() {
        super::descriptors::class_of(err, ErrorClass::Connect)
    } else if err.is_body() || is_broken_body(err) {
        ErrorClass::Connect
    } else if err.is_request() {
        if is_http_parse_error(err) {
            ErrorClass::Protocol
        } else {
            ErrorClass::Connect
        }
    } else {
        ErrorClass::Protocol
    }
}

/// `Response::chunk` reports a body that broke off as a `Decode` error wrapping a `Body` error
/// (or an I/O error): that is a broken connection, not an undecodable answer.
fn is_broken_body(err: &reqwest::Error) -> bool {
    let mut source = err.source();
    while let Some(e) = source {
        if e.downcast_ref::<reqwest::Error>()
            .is_some_and(|r| r.is_body())
            || e.downcast_ref::<std::io::Error>().is_some()
        {
            return true;
        }
        source = e.source();
    }
    false
}

/// hyper is not a direct dependency, so its parse errors are recognised by their (stable)
/// descriptions. Only runs on the error path.
fn is_http_parse_error(err: &reqwest::Error) -> bool {
    let mut source = err.source();
    while let Some(e) = source {
        if e.downcast_ref::<std::io::Error>().is_none() {
            let text = e.to_string();
            if text.starts_with("invalid ")
                || text.starts_with("message head is too large")
                || text.starts_with("unexpected transfer-encoding")
                || text.starts_with("received unexpected message")
            {
                return true;
            }
        }
        source = e.source();
    }
    false
}

/// Read a response body, refusing more than `cap` bytes (→ `Protocol`). A body that breaks off
/// or times out is classified like any transport error.
pub async fn read_body(mut resp: Response, cap: usize) -> Result<Vec<u8>, ErrorClass> {
    let hint = resp.content_length();
    if let Some(len) = hint {
        if len > cap as u64 {
            return Err(ErrorClass::Protocol);
        }
    }
    let mut buf = Vec::with_capacity(hint.map_or(0, |n| n as usize));
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if buf.len() + chunk.len() > cap {
                    return Err(ErrorClass::Protocol);
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(buf),
            Err(e) => return Err(classify_error(&e)),
        }
    }
}

/// An answer with an unexpected status.
pub(crate) fn status_err<T>(status: StatusCode) -> Call<T> {
    Call::err(ErrorClass::Status(status.as_u16()))
}

/// The verdict of a call whose only answer of interest is its status: `want` → `Ok`, any
/// other status → `Status`.
pub(crate) fn expect<T>(status: StatusCode, want: StatusCode) -> Call<T> {
    if status == want {
        Call::ok(Verdict::Ok)
    } else {
        status_err(status)
    }
}

/// Decode a JSON body into a small struct; undecodable or missing required fields → `Protocol`.
pub(crate) fn decode<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ErrorClass> {
    serde_json::from_slice(body).map_err(|_| ErrorClass::Protocol)
}

/// `Authorization: Bearer <token>`, marked sensitive. Fails (without echoing the token) when it
/// cannot be sent as a header value. Surrounding whitespace is ignored.
pub fn bearer_header(token: &Secret) -> Result<HeaderValue, String> {
    let mut v = String::with_capacity(7 + token.expose().len());
    v.push_str("Bearer ");
    v.push_str(token.expose().trim());
    let mut hv = HeaderValue::try_from(v).map_err(|_| {
        "the admin token contains characters that cannot be sent in an HTTP header".to_string()
    })?;
    hv.set_sensitive(true);
    Ok(hv)
}

/// An arbitrary secret as a sensitive header value (e.g. `X-Session-Token`).
pub(crate) fn secret_header(s: &Secret) -> Result<HeaderValue, ErrorClass> {
    let mut hv = HeaderValue::from_str(s.expose()).map_err(|_| ErrorClass::Protocol)?;
    hv.set_sensitive(true);
    Ok(hv)
}

/// Admin authorization prepared once per client. An unusable token fails every admin call with
/// `Protocol` (`http_client` already rejects such a token at start-up).
#[derive(Clone, Debug)]
pub(crate) enum AdminAuth {
    None,
    Bearer(HeaderValue),
    Invalid,
}

impl AdminAuth {
    pub(crate) fn new(token: Option<&Secret>) -> Self {
        match token {
            None => AdminAuth::None,
            Some(t) if t.expose().trim().is_empty() => AdminAuth::None,
            Some(t) => match bearer_header(t) {
                Ok(hv) => AdminAuth::Bearer(hv),
                Err(_) => AdminAuth::Invalid,
            },
        }
    }

    /// The `Authorization` value to send, if any.
    pub(crate) fn header(&self) -> Result<Option<&HeaderValue>, ErrorClass> {
        match self {
            AdminAuth::None => Ok(None),
            AdminAuth::Bearer(hv) => Ok(Some(hv)),
            AdminAuth::Invalid => Err(ErrorClass::Protocol),
        }
    }
}

/// The headers of a client's calls, prepared once: `Accept: application/json` on every call,
/// plus the admin token on admin calls.
#[derive(Clone, Debug)]
pub(crate) struct CallHeaders {
    public: [(HeaderName, HeaderValue); 1],
    admin: Result<Vec<(HeaderName, HeaderValue)>, ErrorClass>,
}

impl CallHeaders {
    pub(crate) fn new(auth: &AdminAuth) -> Self {
        let accept = (ACCEPT, crate::ory::wire::json_accept());
        let admin = match auth.header() {
            Ok(None) => Ok(vec![accept.clone()]),
            Ok(Some(token)) => Ok(vec![accept.clone(), (AUTHORIZATION, token.clone())]),
            Err(class) => Err(class),
        };
        CallHeaders {
            public: [accept],
            admin,
        }
    }

    /// The headers of a public (or read) call.
    pub(crate) fn public(&self) -> &[(HeaderName, HeaderValue)] {
        &self.public
    }

    /// The headers of an admin call; `Protocol` when the admin token cannot be sent.
    pub(crate) fn admin(&self) -> Result<&[(HeaderName, HeaderValue)], ErrorClass> {
        self.admin.as_deref().map_err(|class| *class)
    }
}

/// Append `s` percent-encoded: every byte except RFC 3986 unreserved characters
/// (`A-Z a-z 0-9 - . _ ~`) becomes `%XX`. Valid in query values, form bodies and path segments,
/// and decoded identically by Go's `url.QueryUnescape`/`ParseForm`.
pub fn push_encoded(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.reserve(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xf) as usize] as char);
        }
    }
}

pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    push_encoded(&mut out, s);
    out
}

/// Appends `key=value` pairs to a URL or form string, encoding values. Keys are trusted constants.
pub(crate) struct QueryBuf {
    pub(crate) s: String,
    has_pairs: bool,
}

thread_local! {
    /// The buffer the hottest calls build their target in, reused from one call to the next.
    static SCRATCH: std::cell::Cell<String> = const { std::cell::Cell::new(String::new()) };
}

impl QueryBuf {
    /// `f` with a query started from `prefix` in this thread's reusable buffer: no allocation
    /// once warm. What `f` returns cannot borrow the buffer; a wire's `send` builds its
    /// request before it returns, so its future may be returned.
    pub(crate) fn scratch<R>(prefix: &str, f: impl FnOnce(&mut QueryBuf) -> R) -> R {
        let mut s = SCRATCH.take();
        s.clear();
        s.push_str(prefix);
        let mut q = QueryBuf {
            s,
            has_pairs: false,
        };
        let result = f(&mut q);
        SCRATCH.set(q.s);
        result
    }

    /// Start from a prefix that already ends in `?` (or is empty for a form body).
    pub(crate) fn new(prefix: &str, extra: usize) -> Self {
        let mut s = String::with_capacity(prefix.len() + extra);
        s.push_str(prefix);
        QueryBuf {
            s,
            has_pairs: false,
        }
    }

    pub(crate) fn pair(&mut self, key: &str, value: &str) -> &mut Self {
        if self.has_pairs {
            self.s.push('&');
        }
        self.has_pairs = true;
        self.s.push_str(key);
        self.s.push('=');
        push_encoded(&mut self.s, value);
        self
    }

    pub(crate) fn pair_u32(&mut self, key: &str, value: u32) -> &mut Self {
        if self.has_pairs {
            self.s.push('&');
        }
        self.has_pairs = true;
        self.s.push_str(key);
        self.s.push('=');
        use std::fmt::Write as _;
        let _ = write!(self.s, "{value}");
        self
    }
}

/// `base` + `path` as a URL: any path prefix of the base is kept (`https://h/kratos` +
/// `/sessions/whoami` → `https://h/kratos/sessions/whoami`), query and fragment are dropped.
pub fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    let prefix = base.path().trim_end_matches('/');
    let mut p = String::with_capacity(prefix.len() + path.len());
    p.push_str(prefix);
    p.push_str(path);
    url.set_path(&p);
    url
}

/// The path of `join(base, path)` (base path prefix included, encoded): the origin-form target
/// a `Wire` takes, completed per call (query strings, path ids).
pub(crate) fn join_path(base: &Url, path: &str) -> String {
    join(base, path).path().to_string()
}

/// A URL safe to show in a message: user name and password removed.
pub fn display_url(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.into()
}

/// One line describing a transport error: its own text without the URL, then its causes.
pub fn describe_error(err: reqwest::Error) -> String {
    let class = classify_error(&err);
    let err = err.without_url();
    let mut msg = format!("{} ({err}", class.key());
    let mut source = err.source();
    while let Some(e) = source {
        msg.push_str(": ");
        msg.push_str(&e.to_string());
        source = e.source();
    }
    msg.push(')');
    msg
}

/// At most `max` characters of a body, on one line, for error messages.
pub fn snippet(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out = String::with_capacity(max.min(text.len()) + 3);
    let mut last_space = false;
    for (n, c) in text.trim().chars().enumerate() {
        if n >= max {
            out.push('…');
            break;
        }
        if c.is_whitespace() || c.is_control() {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ory::test_server::{
        closed_port_url, oversized_chunked_response, raw_server, CannedServer, Reply,
    };
    use std::time::Duration;

    fn client(timeout_ms: u64) -> reqwest::Client {
        crate::ory::http_client(&crate::ory::ClientOptions {
            timeout: Duration::from_millis(timeout_ms),
            admin_token: None,
            max_connections_per_host: 4,
            proxy_from_env: false,
        })
        .unwrap()
    }

    async fn fetch(c: &reqwest::Client, url: &str) -> Result<(StatusCode, Vec<u8>), ErrorClass> {
        let answer = crate::ory::wire::send_general(c, reqwest::Method::GET, url, &[], None);
        let (status, body) = answer.await?.whole()?;
        Ok((status, body.to_vec()))
    }

    #[test]
    fn encoding_keeps_unreserved_and_escapes_the_rest() {
        assert_eq!(encode("AZaz09-._~"), "AZaz09-._~");
        assert_eq!(encode("jo+test@example.com"), "jo%2Btest%40example.com");
        assert_eq!(
            encode("a b:c/d?e&f=g#h%"),
            "a%20b%3Ac%2Fd%3Fe%26f%3Dg%23h%25"
        );
        assert_eq!(encode("é"), "%C3%A9");
    }

    #[test]
    fn query_buffer_joins_pairs() {
        let mut q = QueryBuf::new("http://h/x?", 32);
        q.pair("a", "1 2")
            .pair("b.c", "x@y")
            .pair_u32("max-depth", 7);
        assert_eq!(q.s, "http://h/x?a=1%202&b.c=x%40y&max-depth=7");
        let mut f = QueryBuf::new("", 8);
        f.pair("token", "t+1");
        assert_eq!(f.s, "token=t%2B1");
    }

    #[test]
    fn join_keeps_path_prefix_and_drops_query() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert_eq!(
            join(&u("http://h:4433"), "/sessions/whoami").as_str(),
            "http://h:4433/sessions/whoami"
        );
        assert_eq!(
            join(&u("http://h:4433/"), "/sessions/whoami").as_str(),
            "http://h:4433/sessions/whoami"
        );
        assert_eq!(
            join(&u("https://h/kratos/?x=1#f"), "/admin/identities").as_str(),
            "https://h/kratos/admin/identities"
        );
        assert_eq!(
            join_path(&u("https://h/p"), "/a?"),
            "/p/a%3F",
            "a path is a path: '?' in it is encoded by the URL parser"
        );
    }

    #[test]
    fn display_url_hides_credentials() {
        let u = Url::parse("https://user:pw@h:1/x").unwrap();
        assert_eq!(display_url(&u), "https://h:1/x");
    }

    #[test]
    fn bearer_header_is_sensitive_and_never_echoes_the_token() {
        let hv = bearer_header(&Secret::new(" ory_pat_abc \n")).unwrap();
        assert!(hv.is_sensitive());
        assert_eq!(hv.to_str().unwrap(), "Bearer ory_pat_abc");
        let err = bearer_header(&Secret::new("bad\u{7}token")).unwrap_err();
        assert!(!err.contains("bad"));
        assert!(matches!(
            AdminAuth::new(Some(&Secret::new("a\u{1}b"))),
            AdminAuth::Invalid
        ));
        assert!(matches!(
            AdminAuth::new(Some(&Secret::new("  "))),
            AdminAuth::None
        ));
    }

    #[test]
    fn snippet_is_one_short_line() {
        assert_eq!(snippet(b"  {\"a\":\n\n 1}  ", 100), "{\"a\": 1}");
        assert_eq!(snippet(b"abcdef", 3), "abc…");
    }

    #[test]
    fn decode_failures_are_protocol() {
        #[derive(Deserialize)]
        struct A {
            #[allow(dead_code)]
            a: u32,
        }
        assert_eq!(decode::<A>(b"<html>").err(), Some(ErrorClass::Protocol));
        assert_eq!(decode::<A>(b"{}").err(), Some(ErrorClass::Protocol));
        assert!(decode::<A>(b"{\"a\":1,\"b\":2}").is_ok());
    }

    #[tokio::test]
    async fn closed_port_is_connect() {
        let url = closed_port_url().await;
        let c = client(2000);
        assert_eq!(
            fetch(&c, url.as_str()).await.err(),
            Some(ErrorClass::Connect)
        );
    }

    #[tokio::test]
    async fn slow_handler_is_timeout() {
        let srv = CannedServer::start(vec![
            Reply::new("GET", "/slow", 200, "{}").delay(Duration::from_millis(1500))
        ])
        .await;
        let c = client(200);
        assert_eq!(
            fetch(&c, &srv.url("/slow")).await.err(),
            Some(ErrorClass::Timeout)
        );
    }

    #[tokio::test]
    async fn body_larger_than_the_cap_is_protocol() {
        let big: &'static str = Box::leak("x".repeat(MAX_BODY_BYTES + 1).into_boxed_str());
        let srv = CannedServer::start(vec![Reply::new("GET", "/big", 200, big)]).await;
        let c = client(5000);
        assert_eq!(
            fetch(&c, &srv.url("/big")).await.err(),
            Some(ErrorClass::Protocol)
        );
        let ok = CannedServer::start(vec![Reply::new("GET", "/ok", 200, "hello")]).await;
        let (status, body) = fetch(&c, &ok.url("/ok")).await.unwrap();
        assert_eq!((status.as_u16(), body.as_slice()), (200, &b"hello"[..]));
    }

    #[tokio::test]
    async fn chunked_body_larger_than_the_cap_is_protocol() {
        // No Content-Length: the cap must be enforced while streaming.
        let url = raw_server(oversized_chunked_response).await;
        let c = client(5000);
        assert_eq!(
            fetch(&c, url.as_str()).await.err(),
            Some(ErrorClass::Protocol)
        );
    }

    #[tokio::test]
    async fn non_http_answer_is_protocol() {
        let url = raw_server(|_req| b"SSH-2.0-OpenSSH_9.2\r\n\r\n".to_vec()).await;
        let c = client(2000);
        assert_eq!(
            fetch(&c, url.as_str()).await.err(),
            Some(ErrorClass::Protocol)
        );
    }

    #[tokio::test]
    async fn body_cut_off_mid_way_is_connect() {
        let url = raw_server(|_req| {
            b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\ncontent-type: application/json\r\n\r\n{\"id\":"
                .to_vec()
        })
        .await;
        let c = client(2000);
        assert_eq!(
            fetch(&c, url.as_str()).await.err(),
            Some(ErrorClass::Connect)
        );
    }

    #[tokio::test]
    async fn connection_closed_without_answer_is_connect() {
        let url = raw_server(|_req| Vec::new()).await;
        let c = client(2000);
        assert_eq!(
            fetch(&c, url.as_str()).await.err(),
            Some(ErrorClass::Connect)
        );
    }

    #[tokio::test]
    async fn describe_error_is_one_line_without_credentials() {
        let mut url = closed_port_url().await;
        url.set_password(Some("hunter2")).unwrap();
        url.set_username("admin").unwrap();
        let err = client(2000).get(url).send().await.unwrap_err();
        let msg = describe_error(err);
        assert!(msg.starts_with("connect ("), "{msg}");
        assert!(!msg.contains("hunter2") && !msg.contains('\n'), "{msg}");
    }
}
