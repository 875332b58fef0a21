//! One endpoint's way to send a request, chosen once when the clients are built: the lean
//! HTTP/1.1 transport (`fast`) when it can carry the endpoint's calls, the endpoint's reqwest
//! client otherwise (a proxy from the environment, HTTP/2, credentials in the URL). Every Ory
//! call goes through [`Wire::send`], so both ways put the same request on the wire and hand
//! back the same [`Answer`].

use super::fast::{FastHttp, Prepared};
use super::http::{self, MAX_BODY_BYTES};
use super::transport::Transport;
use super::ClientOptions;
use crate::ground::ErrorClass;
use bytes::Bytes;
use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use std::future::Future;

/// A request body with its content type (none for a scenario's raw `http` body).
pub(crate) struct Body {
    pub content_type: Option<HeaderValue>,
    pub bytes: Bytes,
}

impl Body {
    /// `value` as JSON (`Content-Type: application/json`, as reqwest's `.json()` sends it).
    /// Serializing the crate's own request structs cannot fail; if one did, the request could
    /// not be encoded (`Protocol`, as reqwest classifies it).
    pub(crate) fn json(value: &impl serde::Serialize) -> Result<Body, ErrorClass> {
        let bytes = serde_json::to_vec(value).map_err(|_| ErrorClass::Protocol)?;
        Ok(Body {
            content_type: Some(HeaderValue::from_static("application/json")),
            bytes: bytes.into(),
        })
    }

    /// A form body (`application/x-www-form-urlencoded`), already encoded.
    pub(crate) fn form(encoded: String) -> Body {
        Body {
            content_type: Some(HeaderValue::from_static(
                "application/x-www-form-urlencoded",
            )),
            bytes: encoded.into_bytes().into(),
        }
    }
}

/// An answer: its status and its body, read up to the cap. A body beyond the cap is
/// `Err(Protocol)` and was not read further: calls that only need the status still have it.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Result<Bytes, ErrorClass>,
}

impl Answer {
    /// The status and the whole body; a body beyond the cap fails the call (`Protocol`).
    pub(crate) fn whole(self) -> Result<(StatusCode, Bytes), ErrorClass> {
        Ok((self.status, self.body?))
    }

    /// The status, for calls whose only answer of interest is their status: the cap limits
    /// what is read, so a body beyond it (a large value written and echoed back) is not an
    /// error; a body that broke off is.
    pub(crate) fn status(self) -> Result<StatusCode, ErrorClass> {
        match self.body {
            Ok(_) | Err(ErrorClass::Protocol) => Ok(self.status),
            Err(class) => Err(class),
        }
    }
}

/// `Accept: application/json`, which every Ory call sends (otherwise some error paths
/// redirect).
pub(crate) const fn json_accept() -> HeaderValue {
    HeaderValue::from_static("application/json")
}

// One per endpoint, inside an `Arc`: boxing the lean variant would only add a pointer hop to
// every call.
#[allow(clippy::large_enum_variant)]
enum Route {
    Lean(FastHttp),
    General,
}

/// One endpoint's sender: its base URL up to the path, and the way chosen for it.
pub(crate) struct Wire {
    /// `scheme://[user:pass@]host[:port]`: the general client takes full URLs.
    origin: String,
    route: Route,
    /// The endpoint's reqwest client: the way when the lean one cannot be used, and for the
    /// browser legs of the authorization-code flow, which need the answers' cookies and
    /// redirects.
    pub(crate) http: reqwest::Client,
}

impl Wire {
    /// The wire for the endpoint at `base` through `transport`: lean when `lean` allows it
    /// and the endpoint can take it.
    pub(crate) fn new(base: &Url, transport: &Transport, opts: &ClientOptions, lean: bool) -> Wire {
        let fast = lean.then(|| FastHttp::for_transport(base, opts, transport));
        let route = match fast.flatten() {
            Some(fast) => Route::Lean(fast),
            None => Route::General,
        };
        Wire {
            origin: base[..url::Position::BeforePath].to_string(),
            route,
            http: transport.http.clone(),
        }
    }

    /// The full URL of `target`.
    #[cfg(test)]
    pub(crate) fn url(&self, target: &str) -> String {
        format!("{}{target}", self.origin)
    }

    /// Whether calls take the lean transport.
    pub fn is_lean(&self) -> bool {
        matches!(self.route, Route::Lean(_))
    }

    /// Sends `method target` (origin form: path and query, already encoded, any base path
    /// included) with `headers` and `body`; the answer with its body read up to the cap. The
    /// request is built before this returns, so the future borrows only the wire: a caller may
    /// build `target` in a buffer it reuses.
    pub(crate) fn send(
        &self,
        method: Method,
        target: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Option<Body>,
    ) -> impl Future<Output = Result<Answer, ErrorClass>> + Send + '_ {
        let ready = match &self.route {
            Route::Lean(fast) => {
                Ready::Lean(fast, fast.prepare_request(method, target, headers, body))
            }
            Route::General => {
                let mut url = String::with_capacity(self.origin.len() + target.len());
                url.push_str(&self.origin);
                url.push_str(target);
                Ready::General(general_request(&self.http, method, &url, headers, body))
            }
        };
        async move {
            match ready {
                Ready::Lean(fast, prepared) => fast.finish(prepared?).await,
                Ready::General(request) => send_built(request).await,
            }
        }
    }

    /// `send` of a `GET` whose whole answer is read.
    pub(crate) fn get(
        &self,
        target: &str,
        headers: &[(HeaderName, HeaderValue)],
    ) -> impl Future<Output = Result<(StatusCode, Bytes), ErrorClass>> + Send + '_ {
        Whole {
            sent: self.send(Method::GET, target, headers, None),
        }
    }
}

pin_project_lite::pin_project! {
    /// A sent request's whole answer. A named future: an `async move` block around `sent`
    /// would hold it twice (captured and awaited), doubling the size of every read's future.
    struct Whole<F> {
        #[pin]
        sent: F,
    }
}

impl<F: Future<Output = Result<Answer, ErrorClass>>> Future for Whole<F> {
    type Output = Result<(StatusCode, Bytes), ErrorClass>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.project().sent.poll(cx).map(|answer| answer?.whole())
    }
}

/// A request ready to be sent on one of the two ways.
enum Ready<'a> {
    Lean(&'a FastHttp, Result<Prepared, ErrorClass>),
    General(reqwest::RequestBuilder),
}

/// A request through a reqwest client, to a full URL.
pub(crate) async fn send_general(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    headers: &[(HeaderName, HeaderValue)],
    body: Option<Body>,
) -> Result<Answer, ErrorClass> {
    send_built(general_request(client, method, url, headers, body)).await
}

/// The reqwest request for `method url` with `headers` and `body`.
fn general_request(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    headers: &[(HeaderName, HeaderValue)],
    body: Option<Body>,
) -> reqwest::RequestBuilder {
    let mut req = client.request(method, url);
    for (name, value) in headers {
        req = req.header(name.clone(), value.clone());
    }
    if let Some(body) = body {
        if let Some(content_type) = body.content_type {
            req = req.header(CONTENT_TYPE, content_type);
        }
        req = req.body(body.bytes);
    }
    req
}

async fn send_built(req: reqwest::RequestBuilder) -> Result<Answer, ErrorClass> {
    let resp = req.send().await.map_err(|e| http::classify_error(&e))?;
    let status = resp.status();
    super::retry_after::note(status.as_u16(), resp.headers());
    Ok(Answer {
        status,
        body: http::read_body(resp, MAX_BODY_BYTES).await.map(Bytes::from),
    })
}
