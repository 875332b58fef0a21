//! Request/response plumbing shared by the three simulated services: a parsed request, the
//! Go-flavoured response shapes (herodot envelopes, httprouter's plain-text 404/405, Go's
//! `http.Redirect`), RFC 3339 timestamps and random tokens.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::http::header::{
    HeaderName, HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE, LOCATION, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, Method, Response, StatusCode};
use base64::Engine;
use rand::Rng;
use serde_json::{json, Map, Value};

pub(crate) type Resp = Response<Body>;

/// herodot `Write`/`WriteCode` (success bodies).
pub(crate) const CT_JSON_UTF8: &str = "application/json; charset=utf-8";
/// herodot `WriteError`.
pub(crate) const CT_JSON: &str = "application/json";
/// fosite (token, introspection, OAuth2 errors).
pub(crate) const CT_OAUTH: &str = "application/json;charset=UTF-8";
pub(crate) const CT_TEXT: &str = "text/plain; charset=utf-8";
pub(crate) const CT_HTML: &str = "text/html; charset=utf-8";

// herodot default messages.
pub(crate) const MSG_BAD_REQUEST: &str =
    "The request was malformed or contained invalid parameters";
pub(crate) const MSG_NOT_FOUND: &str = "The requested resource could not be found";
pub(crate) const MSG_UNAUTHORIZED: &str = "The request could not be authorized";
pub(crate) const MSG_FORBIDDEN: &str = "The requested action was forbidden";
pub(crate) const MSG_CONFLICT: &str = "The resource could not be created due to a conflict";
pub(crate) const MSG_INTERNAL: &str =
    "An internal server error occurred, please contact the system administrator";
/// `sqlcon.ErrNoRows` message (unknown flow, identity, client).
pub(crate) const MSG_NO_ROWS: &str = "Unable to locate the resource";

/// The parts of an HTTP request the handlers look at.
pub(crate) struct Req {
    pub method: Method,
    pub path: String,
    pub raw_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub remote: Option<SocketAddr>,
    /// Scheme + authority the client used, e.g. `http://127.0.0.1:4433`.
    pub host: String,
}

impl Req {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn has_header(&self, name: &str) -> bool {
        self.headers
            .get_all(name)
            .iter()
            .any(|v| !v.as_bytes().is_empty())
    }

    pub(crate) fn query(&self) -> Query {
        Query::parse(&self.raw_query)
    }

    /// The media type of `Content-Type`, lower-cased, without parameters.
    pub(crate) fn media_type(&self) -> String {
        self.header("content-type")
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }

    /// The request URL as the client sent it (`x.RequestURL` in Kratos).
    pub(crate) fn url(&self) -> String {
        if self.raw_query.is_empty() {
            format!("{}{}", self.host, self.path)
        } else {
            format!("{}{}?{}", self.host, self.path, self.raw_query)
        }
    }

    /// The client address as ory/x `httpx.ClientIP` sees it: a forwarding header's value, or
    /// the connection's remote address *with* its port.
    pub(crate) fn client_ip(&self) -> String {
        for h in ["true-client-ip", "x-real-ip"] {
            if let Some(v) = self.header(h) {
                if !v.trim().is_empty() {
                    return v.trim().to_owned();
                }
            }
        }
        if let Some(v) = self.header("x-forwarded-for") {
            if let Some(first) = v.split(',').next() {
                if !first.trim().is_empty() {
                    return first.trim().to_owned();
                }
            }
        }
        // `r.RemoteAddr`: Go keeps the port ("127.0.0.1:51360"), and so does Kratos.
        self.remote.map(|a| a.to_string()).unwrap_or_default()
    }

    /// A form body (`application/x-www-form-urlencoded`), as Go's `r.PostForm` would hold it:
    /// empty for any other content type.
    pub(crate) fn post_form(&self) -> Query {
        if self.media_type() == "application/x-www-form-urlencoded" {
            Query::parse(&String::from_utf8_lossy(&self.body))
        } else {
            Query::default()
        }
    }
}

/// Decoded `application/x-www-form-urlencoded` pairs in their original order.
#[derive(Default, Debug, Clone)]
pub(crate) struct Query(pub Vec<(String, String)>);

impl Query {
    pub(crate) fn parse(raw: &str) -> Query {
        Query(serde_urlencoded::from_str::<Vec<(String, String)>>(raw).unwrap_or_default())
    }

    /// First value for `key` (Go's `url.Values.Get`).
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn get_all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }
}

/// A response with a status, an optional content type and a body.
pub(crate) fn respond(
    status: u16,
    content_type: Option<&'static str>,
    body: impl Into<Body>,
) -> Resp {
    let mut r = Response::new(body.into());
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(ct) = content_type {
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    r
}

/// Sets a header whose value may come from request data; an unrepresentable value is skipped.
pub(crate) fn with_header(mut r: Resp, name: HeaderName, value: &str) -> Resp {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
    r
}

pub(crate) fn empty(status: u16) -> Resp {
    respond(status, None, Body::empty())
}

/// herodot `Write`/`WriteCode`: JSON plus the trailing newline of Go's `json.Encoder`.
pub(crate) fn herodot_json(status: u16, v: &Value) -> Resp {
    herodot_raw(status, v.to_string())
}

pub(crate) fn herodot_raw(status: u16, mut json: String) -> Resp {
    json.push('\n');
    respond(status, Some(CT_JSON_UTF8), json)
}

/// A herodot `DefaultError` (without the envelope).
#[derive(Clone, Debug)]
pub(crate) struct HError {
    pub id: Option<&'static str>,
    pub code: u16,
    pub reason: Option<String>,
    pub message: String,
    pub details: Option<Value>,
}

impl HError {
    pub(crate) fn new(code: u16, message: &str) -> Self {
        HError {
            id: None,
            code,
            reason: None,
            message: message.to_owned(),
            details: None,
        }
    }

    pub(crate) fn bad_request() -> Self {
        HError::new(400, MSG_BAD_REQUEST)
    }

    pub(crate) fn not_found() -> Self {
        HError::new(404, MSG_NOT_FOUND)
    }

    pub(crate) fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    pub(crate) fn id(mut self, id: &'static str) -> Self {
        self.id = Some(id);
        self
    }

    /// The inner object, in herodot's field order.
    pub(crate) fn to_value(&self, request_id: Option<&str>) -> Value {
        let mut m = Map::new();
        if let Some(id) = self.id {
            m.insert("id".into(), json!(id));
        }
        m.insert("code".into(), json!(self.code));
        m.insert("status".into(), json!(status_text(self.code)));
        if let Some(rid) = request_id.filter(|r| !r.is_empty()) {
            m.insert("request".into(), json!(rid));
        }
        if let Some(reason) = &self.reason {
            m.insert("reason".into(), json!(reason));
        }
        if let Some(d) = &self.details {
            m.insert("details".into(), d.clone());
        }
        m.insert("message".into(), json!(self.message));
        Value::Object(m)
    }

    /// herodot `WriteError`: `{"error":{...}}` with `Content-Type: application/json`.
    pub(crate) fn respond(&self, req: &Req) -> Resp {
        let body = json!({ "error": self.to_value(req.header("x-request-id")) });
        let mut s = body.to_string();
        s.push('\n');
        respond(self.code, Some(CT_JSON), s)
    }
}

pub(crate) fn status_text(code: u16) -> &'static str {
    StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

/// Go's `http.Error` always adds `X-Content-Type-Options: nosniff`.
fn go_error(status: u16, text: &'static str) -> Resp {
    let r = respond(status, Some(CT_TEXT), text);
    with_header(r, X_CONTENT_TYPE_OPTIONS, "nosniff")
}

/// julienschmidt/httprouter's default 404 (`http.NotFound`).
pub(crate) fn go_not_found() -> Resp {
    go_error(404, "404 page not found\n")
}

/// Whether `r` is one of Go's plain-text router answers (404/405), which bypass the
/// handlers' middleware (no `Cache-Control` from Kratos's and Hydra's no-cache middleware).
pub(crate) fn is_router_answer(r: &Resp) -> bool {
    r.headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == CT_TEXT.as_bytes())
}

/// `Cache-Control` set by Kratos's and Hydra's no-cache middleware (`x.NoCache`).
pub(crate) const NO_CACHE: &str = "private, no-cache, no-store, must-revalidate";

/// Adds the no-cache middleware's header unless the handler already set one.
pub(crate) fn no_cache(mut r: Resp) -> Resp {
    if !r.headers().contains_key(CACHE_CONTROL) {
        r.headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static(NO_CACHE));
    }
    r
}

/// httprouter's default 405 with the `Allow` header it computes.
pub(crate) fn go_method_not_allowed(allowed: &[&str]) -> Resp {
    let mut methods: Vec<&str> = allowed.to_vec();
    methods.push("OPTIONS");
    methods.sort_unstable();
    methods.dedup();
    let r = go_error(405, "Method Not Allowed\n");
    with_header(r, ALLOW, &methods.join(", "))
}

/// Go's `http.Redirect(w, r, url, 307)`.
pub(crate) fn go_redirect_307(req: &Req, location: &str) -> Resp {
    let r = if req.method == Method::GET || req.method == Method::HEAD {
        let body = format!(
            "<a href=\"{}\">Temporary Redirect</a>.\n\n",
            html_escape(location)
        );
        respond(307, Some(CT_HTML), body)
    } else {
        empty(307)
    };
    with_header(r, LOCATION, location)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

/// Routes a request to `handlers` by method, answering 405 (httprouter style) when the path
/// is known but the method is not.
pub(crate) fn route<'a, T>(
    method: &Method,
    handlers: &'a [(Method, T)],
) -> Result<&'a T, Box<Resp>> {
    if let Some((_, h)) = handlers.iter().find(|(m, _)| m == method) {
        return Ok(h);
    }
    let allowed: Vec<&str> = handlers.iter().map(|(m, _)| m.as_str()).collect();
    Err(Box::new(go_method_not_allowed(&allowed)))
}

/// RFC 3339 in UTC with up to microsecond precision, trailing zeros trimmed, like Go's
/// `time.Time` JSON encoding of a timestamp read back from PostgreSQL.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = d.as_secs() as i64;
    let micros = d.subsec_micros();
    let (y, mo, da, h, mi, s) = civil(secs);
    let mut out = format!("{y:04}-{mo:02}-{da:02}T{h:02}:{mi:02}:{s:02}");
    if micros != 0 {
        let frac = format!("{micros:06}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// RFC 3339 rounded to whole seconds (Hydra rounds client timestamps).
pub(crate) fn rfc3339_secs(t: SystemTime) -> String {
    let secs = unix_secs(t + Duration::from_millis(500));
    let (y, mo, da, h, mi, s) = civil(secs);
    format!("{y:04}-{mo:02}-{da:02}T{h:02}:{mi:02}:{s:02}Z")
}

pub(crate) fn unix_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Seconds since the epoch to (year, month, day, hour, minute, second), proleptic Gregorian.
fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (h, mi, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (y, m as u32, d as u32, h as u32, mi as u32, s as u32)
}

const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// `randx.MustString(n, randx.AlphaNum)`.
pub(crate) fn random_alnum(n: usize) -> String {
    random_from(ALNUM, n)
}

pub(crate) fn random_from(charset: &[u8], n: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| charset[rng.gen_range(0..charset.len())] as char)
        .collect()
}

/// `n` random bytes, base64url without padding (fosite HMAC token parts).
pub(crate) fn random_b64url(n: usize) -> String {
    let mut buf = vec![0u8; n];
    rand::thread_rng().fill(&mut buf[..]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Go's `json` type name for a value, as santhosh-tekuri/jsonschema reports it.
pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) => {
            if n.is_i64() || n.is_u64() || n.as_f64().map(|f| f.fract() == 0.0).unwrap_or(false) {
                "integer"
            } else {
                "number"
            }
        }
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_micros(1_709_251_199_120_000);
        assert_eq!(rfc3339(t), "2024-02-29T23:59:59.12Z");
        assert_eq!(rfc3339_secs(t), "2024-02-29T23:59:59Z");
    }

    #[test]
    fn query_keeps_order_and_decodes() {
        let q = Query::parse("a=1&b=x%20y&a=2&c");
        assert_eq!(q.get("a"), Some("1"));
        assert_eq!(q.get_all("a"), vec!["1", "2"]);
        assert_eq!(q.get("b"), Some("x y"));
        assert!(q.has("c"));
        assert!(!q.has("d"));
    }
}
