//! The generic `http` step: its method, URL, headers, body, admin key and which side of the
//! read/write mix it counts on.

use super::spans::Result;
use super::steps::Fields;
use crate::ground::text::closest;
use crate::ground::{Kind, Op, Service};
use crate::scenario::model::{Action, HttpT};
use crate::scenario::names::Names;
use crate::scenario::template::Template;

/// Methods an `http` step may use.
const HTTP_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Headers that frame the request's body: orysim writes them from the body it sends.
const FRAMED_BY_ORYSIM: [reqwest::header::HeaderName; 2] = [
    reqwest::header::CONTENT_LENGTH,
    reqwest::header::TRANSFER_ENCODING,
];

pub(super) fn http_step(f: &mut Fields, names: &Names) -> Result<(Op, Action)> {
    let service = match f.string("service")? {
        Some(s) => match s.get_ref().as_str() {
            "kratos" => Service::Kratos,
            "hydra" => Service::Hydra,
            "keto" => Service::Keto,
            other => {
                return Err(f.ctx.err(
                    s.span(),
                    format!("http: service `{other}` is not kratos, hydra or keto"),
                    Some("the service whose figures the call counts in".into()),
                ))
            }
        },
        None => {
            return Err(f.ctx.err(
                f.span.clone(),
                "http needs `service`",
                Some(
                    "service = \"kratos\", \"hydra\" or \"keto\": the figures it counts in".into(),
                ),
            ))
        }
    };
    let method = match f.string("method")? {
        None => reqwest::Method::GET,
        Some(m) => {
            let upper = m.get_ref().to_ascii_uppercase();
            // Any token is a valid method to `http`, so a typo would go out on the wire.
            match HTTP_METHODS.iter().find(|known| **known == upper) {
                Some(known) => {
                    reqwest::Method::from_bytes(known.as_bytes()).unwrap_or(reqwest::Method::GET)
                }
                None => {
                    return Err(f.ctx.err(
                        m.span(),
                        format!("http: `{}` is not an HTTP method", m.get_ref()),
                        Some(match closest(&upper, &HTTP_METHODS) {
                            Some(c) => format!("did you mean `{c}`?"),
                            None => format!("one of: {}", HTTP_METHODS.join(", ")),
                        }),
                    ))
                }
            }
        }
    };
    let url_raw = f.string("url")?.ok_or_else(|| {
        f.ctx.err(
            f.span.clone(),
            "http needs `url`",
            Some("e.g. url = \"{{ endpoint.kratos_public }}/health/alive\"".into()),
        )
    })?;
    let url = f.ctx.template(&url_raw, names)?;
    if let Some(c) = url.constant() {
        if crate::ground::parse::parse_base_url("http url", c).is_err() {
            return Err(f.ctx.err(
                url_raw.span(),
                format!("http: `{c}` is not an http(s) URL"),
                Some("start it with http:// or https://, or with {{ endpoint.NAME }}".into()),
            ));
        }
    }
    let mut headers = Vec::new();
    if let Some((_, h)) = f.get("headers") {
        if h.get_ref().as_table().is_none() {
            return Err(f.ctx.err(
                h.span(),
                "http: `headers` must be a table",
                Some("headers = { accept = \"application/json\" }".into()),
            ));
        }
        for entry in f.ctx.entries_of(h) {
            let k = entry.key.as_ref().map_or("", |k| k.get_ref().as_str());
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                f.ctx.err(
                    entry.key_span(),
                    format!("http: `{k}` is not a header name"),
                    Some("letters, digits and `-`".into()),
                )
            })?;
            if FRAMED_BY_ORYSIM.contains(&name) {
                // A second length beside orysim's would let the server read the body as a
                // request of its own, answered later on a connection another call reuses.
                return Err(f.ctx.err(
                    entry.key_span(),
                    format!("http: header `{k}` is set by orysim from the body"),
                    Some("remove it; the body is sent with its own Content-Length".into()),
                ));
            }
            let Some(v) = entry.value.get_ref().as_str() else {
                return Err(f.ctx.err(
                    entry.value.span(),
                    format!("http: header `{k}` must be a string"),
                    Some(format!("{k} = \"...\"")),
                ));
            };
            let t =
                Template::parse(v, names).map_err(|e| f.ctx.template_err(entry.value.span(), e))?;
            headers.push((name, t));
        }
    }
    let body = f.template("body", names)?;
    let admin_auth = match f.get("admin_auth") {
        None => false,
        Some((_, v)) => v.get_ref().as_bool().ok_or_else(|| {
            f.ctx.err(
                v.span(),
                "http: `admin_auth` is true or false",
                Some("true sends the configured admin API key".into()),
            )
        })?,
    };
    let kind = match f.string("kind")? {
        None if matches!(method, reqwest::Method::GET | reqwest::Method::HEAD) => Kind::Read,
        None => Kind::Write,
        Some(k) => match k.get_ref().as_str() {
            "read" => Kind::Read,
            "write" => Kind::Write,
            other => {
                return Err(f.ctx.err(
                    k.span(),
                    format!("http: kind `{other}` is not read or write"),
                    Some("the side of --read-ratio the call counts on".into()),
                ))
            }
        },
    };
    Ok((
        Op::http(service, kind),
        Action::Http(HttpT {
            method,
            url,
            headers,
            body,
            admin_auth,
        }),
    ))
}
