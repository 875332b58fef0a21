//! One parser for each kind of value users type: durations, rates, base URLs; and the source
//! positions every file error points at. Each error is a one-line `UsageError` (exit code 2).

use reqwest::Url;
use std::fmt;
use std::time::Duration;

/// A mistake in the user's input. Printed as one line; exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

pub(crate) fn usage<T>(msg: impl Into<String>) -> Result<T, UsageError> {
    Err(UsageError(msg.into()))
}

/// `10s`, `5m`, `2h`, `250ms`, `1h 30m`; a bare `0` is zero. The error says why, without the
/// value (callers name the value in their own wording).
pub fn duration(value: &str) -> Result<Duration, String> {
    let v = value.trim();
    if v == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(v).map_err(|e| e.to_string())
}

/// Parses `10s`, `5m`, `2h`, `250ms`; a bare `0` means "no limit" where allowed.
pub fn parse_duration(what: &str, value: &str) -> Result<Duration, UsageError> {
    duration(value).or_else(|e| {
        usage(format!(
            "invalid {what} '{value}': {e} (use a number with a unit, e.g. 10s, 5m, 2h)"
        ))
    })
}

/// Parses `500/s`, `120/m`, `10/h` or a bare number (per second) into iterations per second.
pub fn parse_rate(what: &str, value: &str) -> Result<f64, UsageError> {
    let v = value.trim();
    let (num, per) = match v.split_once('/') {
        Some((n, unit)) => (n.trim(), unit.trim()),
        None => (v, "s"),
    };
    let seconds = match per {
        "s" | "sec" | "second" => 1.0,
        "m" | "min" | "minute" => 60.0,
        "h" | "hour" => 3600.0,
        other => {
            return usage(format!(
                "invalid {what} '{value}': unknown unit '/{other}' (use /s, /m or /h)"
            ))
        }
    };
    match num.parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(n / seconds),
        _ => usage(format!(
            "invalid {what} '{value}': expected a rate such as 500/s"
        )),
    }
}

/// Validates a base URL. `host:port` without a scheme (the form Keto's CLI uses for
/// KETO_READ_REMOTE) is taken as `http://host:port`.
pub fn parse_base_url(what: &str, value: &str) -> Result<Url, UsageError> {
    let v = value.trim();
    let with_scheme = if v.contains("://") {
        v.to_string()
    } else {
        format!("http://{v}")
    };
    let invalid = |why: String| {
        usage(format!(
            "invalid {what} '{}': {why}",
            strip_userinfo(&with_scheme)
        ))
    };
    let url = match Url::parse(&with_scheme) {
        Ok(url) => url,
        Err(e) => return invalid(format!("{e} (expected e.g. http://127.0.0.1:4433)")),
    };
    if !matches!(url.scheme(), "http" | "https") {
        return invalid("scheme must be http or https".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return invalid("no host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return invalid("a base URL takes no query or fragment".into());
    }
    Ok(url)
}

/// For messages and reports: a URL without any `user:password@` part.
pub fn strip_userinfo(value: &str) -> String {
    match Url::parse(value) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string().trim_end_matches('/').to_string()
        }
        // Unparseable: still drop anything before an '@' in the authority part.
        Err(_) => {
            let (scheme, rest) = match value.find("://") {
                Some(i) => value.split_at(i + 3),
                None => ("", value),
            };
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            let host = authority.rsplit('@').next().unwrap_or(authority);
            format!("{scheme}{host}{path}")
        }
    }
}

/// 1-based line and column (in characters) of a byte offset; an offset past the end or inside
/// a character counts as the start of that character.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..clamp(text, offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// `offset` moved into `text` and back to the start of the character it falls in.
pub fn clamp(text: &str, offset: usize) -> usize {
    let mut at = offset.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_zero_is_a_zero_duration() {
        // The flags' wording of the other cases is tested with the run options.
        assert_eq!(duration(" 0 "), Ok(Duration::ZERO));
        assert!(duration("ten").is_err());
    }

    #[test]
    fn rates_parse_units() {
        assert_eq!(parse_rate("--rate", "500/s").unwrap(), 500.0);
        assert_eq!(parse_rate("--rate", "120/m").unwrap(), 2.0);
        assert_eq!(parse_rate("--rate", "50").unwrap(), 50.0);
        assert!(parse_rate("--rate", "5/fortnight").is_err());
        assert!(parse_rate("--rate", "fast").is_err());
    }

    #[test]
    fn bad_urls_get_one_clear_line_without_credentials() {
        let err = parse_base_url("--kratos-public", "ftp://h:1")
            .unwrap_err()
            .0;
        assert!(err.contains("scheme must be http or https"), "{err}");
        let err = parse_base_url("--kratos-admin", "http://user:hunter2@")
            .unwrap_err()
            .0;
        assert!(!err.contains("hunter2"), "{err}");
        let err = parse_base_url("--kratos-admin", "http://h:4434/?x=1")
            .unwrap_err()
            .0;
        assert!(err.contains("no query"), "{err}");
        assert_eq!(
            strip_userinfo("https://admin:s3cret@ory.example:4434/base"),
            "https://ory.example:4434/base"
        );
        assert_eq!(strip_userinfo("http://u:pw@"), "http://");
    }

    #[test]
    fn line_col_counts_from_one_in_characters() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("aé\nb", 2), (1, 2));
    }
}
