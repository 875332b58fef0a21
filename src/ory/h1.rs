//! HTTP/1.1 on the wire, for the lean transport (`fast`): a request encoded into bytes, an
//! answer's head parsed (httparse) and its body framed and decoded.
//!
//! The rules are hyper's client rules, so that an answer means the same on the lean path as on
//! reqwest (which is hyper underneath); `response_props` holds the two to that:
//! - a head is at most `MAX_HEAD_BYTES` with at most `MAX_HEADERS` headers; beyond either, or
//!   anything httparse refuses, or a status below 100, is `Protocol`;
//! - informational answers (1xx but 101) are skipped; 101, 204, 304 and answers to `HEAD` have
//!   no body; `Transfer-Encoding` wins over `Content-Length` (chunked when it is the last
//!   coding, else read until the connection closes; on HTTP/1.0 it is `Protocol`);
//!   `Content-Length` values must all be the same digits (else `Protocol`); with neither, the
//!   body runs until the connection closes;
//! - keep-alive is HTTP/1.1's default, ended by any `Connection: close`; HTTP/1.0 keeps the
//!   connection only with `Connection: keep-alive`;
//! - a malformed chunked body is a broken connection (`Connect`), as hyper's body error is.

use crate::ground::ErrorClass;
use bytes::{Buf, BytesMut};
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use std::io::Write as _;
use std::time::Duration;

/// The longest head read before giving up on it (hyper's default read buffer limit).
pub(crate) const MAX_HEAD_BYTES: usize = 8192 + 4096 * 100;

/// The most headers an answer may have (hyper's default).
const MAX_HEADERS: usize = 100;

/// Chunk extensions and trailers are skipped, up to these many bytes (hyper's limits).
const CHUNK_EXTENSIONS_LIMIT: u64 = 16 * 1024;
const TRAILERS_LIMIT: usize = 16 * 1024;

/// Appends the request to `out`: the request line, the endpoint's `defaults` (each replaced by
/// the call's headers of the same name), the call's headers, the body's `Content-Type` (which
/// replaces the call's) and, for a body that is not empty, its `Content-Length`.
pub(crate) fn encode_request(
    out: &mut Vec<u8>,
    method: &Method,
    target: &str,
    defaults: &[(HeaderName, HeaderValue)],
    extra: &[(HeaderName, HeaderValue)],
    content_type: Option<&HeaderValue>,
    body: &[u8],
) {
    let header = |out: &mut Vec<u8>, name: &HeaderName, value: &HeaderValue| {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    };
    let replaced =
        |name: &HeaderName| content_type.is_some() && name == reqwest::header::CONTENT_TYPE;
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in defaults {
        if !extra.iter().any(|(n, _)| n == name) {
            header(out, name, value);
        }
    }
    for (name, value) in extra {
        if !replaced(name) {
            header(out, name, value);
        }
    }
    if let Some(ct) = content_type {
        header(out, &reqwest::header::CONTENT_TYPE, ct);
    }
    if !body.is_empty() {
        // Writing into a `Vec` cannot fail.
        let _ = write!(out, "content-length: {}\r\n", body.len());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// Whether `target` can go on the request line as it is: origin form, visible ASCII only (no
/// whitespace or control characters, which would let a value from a scenario split the
/// request; anything else must come percent-encoded).
pub(crate) fn valid_target(target: &str) -> bool {
    target.starts_with('/') && target.bytes().all(|b| b.is_ascii_graphic())
}

/// How an answer's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    Empty,
    Length(u64),
    Chunked,
    /// Until the server closes the connection.
    UntilClose,
}

/// A parsed head of a final answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Head {
    pub status: StatusCode,
    pub framing: Framing,
    pub keep_alive: bool,
    /// The `Retry-After` of a 429.
    pub retry_after: Option<Duration>,
    /// Bytes of the head, to be consumed.
    pub len: usize,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    Final(Head),
    /// An informational answer of this many bytes, to be skipped.
    Informational(usize),
    /// More bytes are needed.
    Partial,
}

/// Parses the head at the start of `buf`, the answer to a `HEAD` request when `head_request`.
pub(crate) fn parse_head(buf: &[u8], head_request: bool) -> Result<Parsed, ErrorClass> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut headers);
    let len = match res.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
        Err(_) => return Err(ErrorClass::Protocol),
    };
    let code = res.code.unwrap_or(0);
    let status = StatusCode::from_u16(code).map_err(|_| ErrorClass::Protocol)?;
    let http11 = res.version == Some(1);
    let mut keep_alive = http11;
    let mut saw_close = false;
    let mut transfer_encoding: Option<Option<&str>> = None;
    // `None`: no `Content-Length`; `Some(None)`: one that is invalid or disagrees.
    let mut content_length: Option<Option<u64>> = None;
    // `Some` once the first `Retry-After` is seen, holding its wait if it is readable.
    let mut retry_after: Option<Option<Duration>> = None;
    for h in res.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("connection") {
            let value = visible_ascii(h.value);
            if saw_close || value.is_some_and(|v| has_token(v, "close")) {
                saw_close = true;
                keep_alive = false;
            } else if !keep_alive {
                keep_alive = value.is_some_and(|v| has_token(v, "keep-alive"));
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // The last `Transfer-Encoding` line decides.
            transfer_encoding = Some(visible_ascii(h.value));
        } else if name.eq_ignore_ascii_case("content-length") {
            let this = parse_lengths(h.value);
            content_length = Some(match content_length {
                None => this,
                Some(earlier) => earlier.filter(|&e| this == Some(e)),
            });
        } else if code == 429 && retry_after.is_none() && name.eq_ignore_ascii_case("retry-after") {
            // The first one, as `HeaderMap::get` reads it on the reqwest path.
            retry_after = Some(visible_ascii(h.value).map(super::retry_after::wait_of));
        }
    }
    let framing = match code {
        101 => Framing::Empty,
        100..=199 => return Ok(Parsed::Informational(len)),
        204 | 304 => Framing::Empty,
        _ if head_request => Framing::Empty,
        _ => match (transfer_encoding, content_length) {
            (Some(_), _) if !http11 => return Err(ErrorClass::Protocol),
            (Some(te), _) if te.is_some_and(last_coding_is_chunked) => Framing::Chunked,
            (Some(_), _) => Framing::UntilClose,
            (None, Some(Some(n))) => Framing::Length(n),
            (None, Some(None)) => return Err(ErrorClass::Protocol),
            (None, None) => Framing::UntilClose,
        },
    };
    Ok(Parsed::Final(Head {
        status,
        framing,
        // An upgrade the client never asked for ends the connection's use.
        keep_alive: keep_alive && code != 101,
        retry_after: retry_after.flatten(),
        len,
    }))
}

/// The value as text when it is visible ASCII (or tabs), as `HeaderValue::to_str` takes it.
fn visible_ascii(value: &[u8]) -> Option<&str> {
    std::str::from_utf8(value)
        .ok()
        .filter(|v| v.bytes().all(|b| b == b'\t' || (b' '..0x7f).contains(&b)))
}

fn has_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

fn last_coding_is_chunked(value: &str) -> bool {
    value
        .rsplit(',')
        .next()
        .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"))
}

/// A `Content-Length` line: comma-separated lengths, all digits and all the same.
fn parse_lengths(value: &[u8]) -> Option<u64> {
    let text = visible_ascii(value)?;
    let mut length = None;
    for v in text.split(',') {
        let n = digits(v.trim().as_bytes())?;
        match length {
            Some(l) if l != n => return None,
            _ => length = Some(n),
        }
    }
    length
}

/// Decimal digits only (`u64::from_str` would take a sign).
fn digits(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() {
        return None;
    }
    bytes.iter().try_fold(0u64, |n, &b| match b {
        b'0'..=b'9' => n.checked_mul(10)?.checked_add(u64::from(b - b'0')),
        _ => None,
    })
}

/// Where a chunked body's decoding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum ChunkState {
    #[default]
    Start,
    Size,
    SizeSpace,
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    EndCr,
    EndLf,
    Trailer,
    TrailerLf,
    End,
}

/// A chunked body decoder that takes its input as it arrives.
#[derive(Debug, Default)]
pub(crate) struct Chunked {
    state: ChunkState,
    size: u64,
    extension_bytes: u64,
    trailer_bytes: usize,
}

impl Chunked {
    /// Decodes what `input` holds (consuming it) into `out`: `Ok(true)` at the body's end,
    /// `Ok(false)` when more input is needed, `Protocol` as soon as `out` would pass `cap`,
    /// `Connect` for a malformed body. Bytes after the end stay in `input`.
    pub(crate) fn decode(
        &mut self,
        input: &mut BytesMut,
        out: &mut Vec<u8>,
        cap: usize,
    ) -> Result<bool, ErrorClass> {
        use ChunkState::*;
        let broken = Err(ErrorClass::Connect);
        while self.state != End {
            if self.state == Data {
                if input.is_empty() {
                    return Ok(false);
                }
                let take = input
                    .len()
                    .min(usize::try_from(self.size).unwrap_or(usize::MAX));
                if out.len() + take > cap {
                    return Err(ErrorClass::Protocol);
                }
                out.extend_from_slice(&input[..take]);
                input.advance(take);
                self.size -= take as u64;
                if self.size == 0 {
                    self.state = DataCr;
                }
                continue;
            }
            let Some(&b) = input.first() else {
                return Ok(false);
            };
            input.advance(1);
            self.state = match (self.state, b) {
                (Start | Size, b) if b.is_ascii_hexdigit() => {
                    let digit = u64::from((b as char).to_digit(16).unwrap_or(0));
                    match self.size.checked_mul(16).and_then(|s| s.checked_add(digit)) {
                        Some(s) => self.size = s,
                        None => return broken,
                    }
                    Size
                }
                (Size | SizeSpace, b'\t' | b' ') => SizeSpace,
                (Size | SizeSpace, b';') => Extension,
                (Size | SizeSpace, b'\r') => SizeLf,
                (Extension, b'\r') => SizeLf,
                (Extension, b'\n') => return broken,
                (Extension, _) => {
                    self.extension_bytes += 1;
                    if self.extension_bytes >= CHUNK_EXTENSIONS_LIMIT {
                        return broken;
                    }
                    Extension
                }
                (SizeLf, b'\n') if self.size == 0 => EndCr,
                (SizeLf, b'\n') => Data,
                (DataCr, b'\r') => DataLf,
                (DataLf, b'\n') => {
                    self.size = 0;
                    Start
                }
                (EndCr, b'\r') => EndLf,
                (EndLf, b'\n') => End,
                (EndCr | Trailer, b) => {
                    self.trailer_bytes += 1;
                    if self.trailer_bytes >= TRAILERS_LIMIT {
                        return broken;
                    }
                    if b == b'\r' {
                        TrailerLf
                    } else {
                        Trailer
                    }
                }
                (TrailerLf, b'\n') => EndCr,
                _ => return broken,
            };
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{ACCEPT, AUTHORIZATION, HOST};

    fn head(bytes: &str) -> Result<Parsed, ErrorClass> {
        parse_head(bytes.as_bytes(), false)
    }

    fn framing(bytes: &str) -> Result<(Framing, bool), ErrorClass> {
        match head(bytes)? {
            Parsed::Final(h) => Ok((h.framing, h.keep_alive)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn requests_carry_defaults_replaced_by_the_calls_headers() {
        let defaults = [
            (HOST, HeaderValue::from_static("h:1")),
            (ACCEPT, HeaderValue::from_static("*/*")),
        ];
        let extra = [
            (ACCEPT, HeaderValue::from_static("application/json")),
            (AUTHORIZATION, HeaderValue::from_static("Bearer t")),
        ];
        let mut out = Vec::new();
        encode_request(
            &mut out,
            &Method::GET,
            "/x?a=1",
            &defaults,
            &extra,
            None,
            b"",
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "GET /x?a=1 HTTP/1.1\r\nhost: h:1\r\naccept: application/json\r\n\
             authorization: Bearer t\r\n\r\n"
        );
        let mut out = Vec::new();
        let json = HeaderValue::from_static("application/json");
        let extra = [(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain"),
        )];
        encode_request(
            &mut out,
            &Method::POST,
            "/p",
            &[],
            &extra,
            Some(&json),
            b"{}",
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /p HTTP/1.1\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
        );
    }

    #[test]
    fn targets_with_spaces_or_controls_are_refused() {
        assert!(valid_target("/a?b=%20"));
        for bad in ["", "a", "/a b", "/a\r\nx: y", "/\u{7f}", "/é"] {
            assert!(!valid_target(bad), "{bad:?}");
        }
    }

    #[test]
    fn heads_are_framed_by_hypers_rules() {
        use Framing::*;
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"),
            Ok((Length(5), true))
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\ncontent-length: 5\r\n\r\n"),
            Ok((Length(5), true))
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n"),
            Err(ErrorClass::Protocol)
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\ncontent-length: +5\r\n\r\n"),
            Err(ErrorClass::Protocol)
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999\r\n\r\n"),
            Err(ErrorClass::Protocol)
        );
        assert_eq!(
            framing(
                "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\ncontent-length: 5\r\n\r\n"
            ),
            Ok((Chunked, true))
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n"),
            Ok((UntilClose, true))
        );
        assert_eq!(
            framing("HTTP/1.0 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"),
            Err(ErrorClass::Protocol)
        );
        assert_eq!(framing("HTTP/1.1 200 OK\r\n\r\n"), Ok((UntilClose, true)));
        assert_eq!(
            framing("HTTP/1.1 204 No Content\r\ncontent-length: 9\r\n\r\n"),
            Ok((Empty, true))
        );
        assert_eq!(
            framing("HTTP/1.1 101 Switching\r\n\r\n"),
            Ok((Empty, false))
        );
        assert_eq!(framing("HTTP/1.1 200 OK\r\nconnection: close\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n"), Ok((Length(0), false)));
        assert_eq!(
            framing("HTTP/1.0 200 OK\r\nconnection: Keep-Alive\r\ncontent-length: 0\r\n\r\n"),
            Ok((Length(0), true))
        );
        assert_eq!(
            framing("HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n"),
            Ok((Length(0), false))
        );
        assert_eq!(
            head("HTTP/1.1 100 Continue\r\n\r\n"),
            Ok(Parsed::Informational(25))
        );
        assert_eq!(head("HTTP/1.1 200 OK\r\ncontent-le"), Ok(Parsed::Partial));
        assert_eq!(head("HTTP/1.1 099 X\r\n\r\n"), Err(ErrorClass::Protocol));
        assert_eq!(
            head("SSH-2.0-OpenSSH_9.2\r\n\r\n"),
            Err(ErrorClass::Protocol)
        );
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", true)
                .map(|p| matches!(p, Parsed::Final(Head { framing: Empty, .. }))),
            Ok(true)
        );
        let Ok(Parsed::Final(h)) =
            head("HTTP/1.1 429 Slow\r\nretry-after: 3\r\ncontent-length: 0\r\n\r\n")
        else {
            panic!()
        };
        assert_eq!(h.retry_after, Some(Duration::from_secs(3)));
    }

    fn decode_all(pieces: &[&[u8]], cap: usize) -> Result<(bool, Vec<u8>, Vec<u8>), ErrorClass> {
        let mut dec = Chunked::default();
        let mut out = Vec::new();
        let mut input = BytesMut::new();
        let mut done = false;
        for p in pieces {
            input.extend_from_slice(p);
            done = dec.decode(&mut input, &mut out, cap)?;
        }
        Ok((done, out, input.to_vec()))
    }

    #[test]
    fn chunked_bodies_decode_across_any_split_and_refuse_malformed_ones() {
        let body = b"5;ext=1\r\nhello\r\n1 \r\n!\r\n0\r\nx-trailer: 1\r\n\r\nNEXT";
        for cut in 0..body.len() {
            let (done, out, rest) = decode_all(&[&body[..cut], &body[cut..]], 100).unwrap();
            assert!(done, "cut at {cut}");
            assert_eq!(out, b"hello!");
            assert_eq!(rest, b"NEXT");
        }
        assert_eq!(
            decode_all(&[b"5\r\nhel"], 100),
            Ok((false, b"hel".to_vec(), vec![]))
        );
        assert_eq!(
            decode_all(&[b"5\r\nhello\r\n"], 4),
            Err(ErrorClass::Protocol)
        );
        for bad in [
            &b"x\r\n"[..],
            b"5\r\nhelloX",
            b"5\rX",
            b"5;a\nb",
            b"1 2\r\n",
            b"fffffffffffffffff\r\n",
        ] {
            assert_eq!(decode_all(&[bad], 100), Err(ErrorClass::Connect), "{bad:?}");
        }
    }
}
