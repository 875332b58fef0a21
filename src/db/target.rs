//! `--db-stats [NAME=]URL`: which database to read statistics from, parsed once, with the
//! password kept as a [`Secret`]. Display, Debug and every parse error show the URL with the
//! password replaced, so a target can be printed or stored in a report as it is.

use crate::secret::{Secret, REDACTED};
use std::fmt;
use std::path::PathBuf;

/// The flag the errors name, so that a bad value points at what to fix.
pub const FLAG: &str = "--db-stats";

/// How to secure the connection, with libpq's meaning of each `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    /// `disable`: plain TCP.
    Disable,
    /// `allow`, `prefer` (libpq's default): TLS if the server offers it, certificate not checked.
    Prefer,
    /// `require`: TLS or fail, certificate not checked (libpq does the same without a root cert).
    Require,
    /// `verify-ca`: TLS with a certificate chain to a trusted root; any host name.
    VerifyCa,
    /// `verify-full`: `verify-ca` and the certificate names the host.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Option<SslMode> {
        Some(match value {
            "disable" => SslMode::Disable,
            "allow" | "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }
}

/// Where the server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    Tcp(String),
    /// A Unix socket directory (`?host=/var/run/postgresql`).
    Socket(PathBuf),
}

/// One database to take statistics from.
#[derive(Clone, PartialEq, Eq)]
pub struct DbTarget {
    /// The `NAME=` prefix, else the database name.
    pub name: String,
    pub host: Host,
    pub port: u16,
    pub user: String,
    pub password: Option<Secret>,
    pub dbname: String,
    pub ssl_mode: SslMode,
    /// `sslrootcert`: PEM roots for `verify-ca`/`verify-full` (else the Mozilla roots).
    pub ssl_root_cert: Option<PathBuf>,
    /// `sslcert` and `sslkey`: a client certificate (CockroachDB's certificate login).
    pub ssl_client_cert: Option<(PathBuf, PathBuf)>,
    /// `options`: run-time parameters sent at startup (e.g. CockroachDB's `--cluster=NAME`).
    pub options: Option<String>,
    redacted_url: String,
}

/// A `--db-stats` value that cannot be used; its Display is the one line to show the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbTargetError(String);

impl fmt::Display for DbTargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DbTargetError {}

impl DbTarget {
    /// Parses `URL` or `NAME=URL`, where URL is `postgres://` or `postgresql://`.
    pub fn parse(input: &str) -> Result<DbTarget, DbTargetError> {
        let (name, url_text) = split_name(input.trim());
        let fail = |why: String| {
            DbTargetError(format!(
                "{FLAG} '{}': {why} (expected [NAME=]postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=...])",
                redact_unparsed(input.trim())
            ))
        };
        let url = url::Url::parse(url_text).map_err(|e| fail(format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(fail(format!(
                "unsupported scheme '{}', use postgres:// or postgresql://",
                url.scheme()
            )));
        }
        let mut user = decode(url.username()).map_err(&fail)?;
        let mut password = url.password().map(decode).transpose().map_err(&fail)?;
        let mut host = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => {
                Some(Host::Tcp(decode(d).map_err(&fail)?))
            }
            Some(url::Host::Ipv4(ip)) => Some(Host::Tcp(ip.to_string())),
            Some(url::Host::Ipv6(ip)) => Some(Host::Tcp(ip.to_string())),
            _ => None,
        };
        let mut port = url.port().unwrap_or(5432);
        let mut dbname = decode(url.path().trim_start_matches('/')).map_err(&fail)?;
        let mut ssl_mode = SslMode::Prefer;
        let (mut root, mut cert, mut key, mut options) = (None, None, None, None);
        for (k, v) in url.query_pairs() {
            let v = v.into_owned();
            match &*k {
                "sslmode" => {
                    ssl_mode = SslMode::parse(&v).ok_or_else(|| {
                        fail(format!("sslmode '{v}' is not one of disable, allow, prefer, require, verify-ca, verify-full"))
                    })?
                }
                "sslrootcert" => root = Some(PathBuf::from(v)),
                "sslcert" => cert = Some(PathBuf::from(v)),
                "sslkey" => key = Some(PathBuf::from(v)),
                "options" => options = Some(v),
                "user" => user = v,
                "password" => password = Some(v),
                "dbname" => dbname = v,
                "host" if v.starts_with('/') => host = Some(Host::Socket(PathBuf::from(v))),
                "host" => host = Some(Host::Tcp(v)),
                "port" => port = v.parse().map_err(|_| fail(format!("port '{v}' is not a number")))?,
                // Harmless libpq/driver settings: orysim sets its own name and timeouts.
                "application_name" | "connect_timeout" | "target_session_attrs" => {}
                other => return Err(fail(format!("unknown parameter '{other}'"))),
            }
        }
        let host = host.ok_or_else(|| fail("no host".into()))?;
        if user.is_empty() {
            return Err(fail("no user name".into()));
        }
        if dbname.is_empty() {
            dbname = user.clone(); // libpq's default
        }
        let ssl_client_cert = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => return Err(fail("sslcert and sslkey go together".into())),
        };
        if ssl_client_cert.is_some() && ssl_mode == SslMode::Disable {
            return Err(fail("sslcert needs TLS, but sslmode is disable".into()));
        }
        let name = match name {
            Some(n) => n.to_string(),
            None => dbname.clone(),
        };
        Ok(DbTarget {
            redacted_url: redact_url(&url),
            name,
            host,
            port,
            user,
            password: password.map(Secret::new),
            dbname,
            ssl_mode,
            ssl_root_cert: root,
            ssl_client_cert,
            options,
        })
    }

    /// The URL as given, with any password replaced: safe for logs and reports.
    pub fn redacted_url(&self) -> &str {
        &self.redacted_url
    }

    /// Replaces the password wherever it appears in `text` (a driver or OS error message).
    pub fn scrub(&self, text: &str) -> String {
        match &self.password {
            Some(p) if !p.is_empty() => text.replace(p.expose(), REDACTED),
            _ => text.to_string(),
        }
    }
}

impl std::str::FromStr for DbTarget {
    type Err = DbTargetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DbTarget::parse(s)
    }
}

impl fmt::Display for DbTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.redacted_url)
    }
}

impl fmt::Debug for DbTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbTarget")
            .field("name", &self.name)
            .field("url", &self.redacted_url)
            .finish()
    }
}

/// Checks that no two targets share a name (the name keys the report and `compare`).
pub fn check_unique_names(targets: &[DbTarget]) -> Result<(), DbTargetError> {
    for (i, t) in targets.iter().enumerate() {
        if targets[..i].iter().any(|o| o.name == t.name) {
            return Err(DbTargetError(format!(
                "{FLAG}: two databases are named '{}': give each its own with NAME=URL",
                t.name
            )));
        }
    }
    Ok(())
}

/// `NAME=URL` when the text before the first `=` is a plain name; a URL's own `=` (in its query)
/// comes after `://`, so it never looks like one.
fn split_name(input: &str) -> (Option<&str>, &str) {
    match input.split_once('=') {
        Some((name, rest))
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) =>
        {
            (Some(name), rest)
        }
        _ => (None, input),
    }
}

fn decode(text: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| "percent-encoding is not UTF-8".to_string())
}

/// The URL with the password of its user part and any `password=` parameter replaced.
fn redact_url(url: &url::Url) -> String {
    let mut shown = url.clone();
    // set_password fails only for URLs without a host, which were rejected or have no password.
    if url.password().is_some() {
        let _ = shown.set_password(Some("REDACTED"));
    }
    if url.query_pairs().any(|(k, _)| k == "password") {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "password" {
                    "REDACTED".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    shown.to_string().replace("REDACTED", REDACTED)
}

/// Best-effort redaction of text that did not parse as a URL: whatever sits between the user
/// name's `:` and the last `@`, and the value of a `password=` parameter.
fn redact_unparsed(input: &str) -> String {
    let mut out = input.to_string();
    if let Some(start) = out.find("://").map(|i| i + 3) {
        if let Some(at) = out[start..].rfind('@').map(|i| start + i) {
            if let Some(colon) = out[start..at].find(':').map(|i| start + i) {
                out.replace_range(colon + 1..at, REDACTED);
            }
        }
    }
    if let Some(p) = out.find("password=").map(|i| i + "password=".len()) {
        let end = out[p..].find('&').map_or(out.len(), |i| p + i);
        out.replace_range(p..end, REDACTED);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_plain_url_with_defaults() {
        let t = DbTarget::parse("postgres://keto:s3cret@127.0.0.1/keto").unwrap();
        assert_eq!(t.name, "keto");
        assert_eq!(t.host, Host::Tcp("127.0.0.1".into()));
        assert_eq!(
            (t.port, t.user.as_str(), t.dbname.as_str()),
            (5432, "keto", "keto")
        );
        assert_eq!(t.password.as_ref().unwrap().expose(), "s3cret");
        assert_eq!(t.ssl_mode, SslMode::Prefer);
    }

    #[test]
    fn parses_name_port_and_tls_settings() {
        let t = DbTarget::parse(
            "crdb=postgresql://root@db.example:26257/defaultdb?sslmode=verify-full&sslrootcert=/c/ca.crt&sslcert=/c/u.crt&sslkey=/c/u.key&options=--cluster%3Dx",
        )
        .unwrap();
        assert_eq!(t.name, "crdb");
        assert_eq!(t.port, 26257);
        assert_eq!(t.dbname, "defaultdb");
        assert!(t.password.is_none());
        assert_eq!(t.ssl_mode, SslMode::VerifyFull);
        assert_eq!(t.ssl_root_cert, Some(PathBuf::from("/c/ca.crt")));
        assert_eq!(
            t.ssl_client_cert,
            Some((PathBuf::from("/c/u.crt"), PathBuf::from("/c/u.key")))
        );
        assert_eq!(t.options.as_deref(), Some("--cluster=x"));
    }

    #[test]
    fn a_url_query_is_not_mistaken_for_a_name() {
        let t = DbTarget::parse("postgres://u@h/d?sslmode=disable").unwrap();
        assert_eq!(t.name, "d");
        assert_eq!(t.ssl_mode, SslMode::Disable);
    }

    #[test]
    fn database_defaults_to_the_user_and_ipv6_and_sockets_work() {
        let t = DbTarget::parse("postgresql://alice@[::1]:6543").unwrap();
        assert_eq!((t.dbname.as_str(), t.port), ("alice", 6543));
        assert_eq!(t.host, Host::Tcp("::1".into()));
        let s = DbTarget::parse("postgres:///app?host=/var/run/postgresql&user=bob").unwrap();
        assert_eq!(s.host, Host::Socket(PathBuf::from("/var/run/postgresql")));
    }

    #[test]
    fn percent_encoded_password_is_decoded() {
        let t = DbTarget::parse("postgres://u:p%40ss%2Fw@h/d").unwrap();
        assert_eq!(t.password.unwrap().expose(), "p@ss/w");
    }

    #[test]
    fn display_debug_and_redacted_url_hide_the_password() {
        for input in [
            "k=postgres://keto:hunter2@127.0.0.1:5432/keto?sslmode=disable",
            "postgres://keto@127.0.0.1/keto?password=hunter2&sslmode=require",
        ] {
            let t = DbTarget::parse(input).unwrap();
            for shown in [
                format!("{t}"),
                format!("{t:?}"),
                t.redacted_url().to_string(),
            ] {
                assert!(!shown.contains("hunter2"), "{shown}");
                assert!(shown.contains(REDACTED), "{shown}");
            }
            assert_eq!(
                t.scrub("auth failed for hunter2"),
                format!("auth failed for {REDACTED}")
            );
        }
        let t = DbTarget::parse("postgres://keto:hunter2@h:1/keto").unwrap();
        assert_eq!(t.redacted_url(), "postgres://keto:[redacted]@h:1/keto");
    }

    #[test]
    fn bad_values_are_one_line_errors_naming_the_flag_without_the_password() {
        let cases = [
            ("mysql://u:hunter2@h/d", "unsupported scheme 'mysql'"),
            ("postgres://u:hunter2@h/d?sslmode=maybe", "sslmode 'maybe'"),
            (
                "postgres://u:hunter2@h/d?pool=3",
                "unknown parameter 'pool'",
            ),
            ("postgres://u:hunter2@h:99999/d", "not a URL"),
            ("postgres://:hunter2@h/d", "no user name"),
            ("postgres://u:hunter2@/d", "empty host"),
            ("postgres:///d?user=u&password=hunter2", "no host"),
            (
                "x=postgres://u:hunter2@h/d?sslcert=/a",
                "sslcert and sslkey go together",
            ),
            ("just some words hunter2", "not a URL"),
            (
                "postgres://u:hunter2@h/d?password=hunter2&port=x",
                "port 'x'",
            ),
        ];
        for (input, want) in cases {
            let e = DbTarget::parse(input).unwrap_err().to_string();
            assert!(e.starts_with("--db-stats '"), "{e}");
            assert!(e.contains(want), "{input}: {e}");
            assert!(!e.contains('\n'), "{e}");
            if input.contains("://") {
                assert!(!e.contains("hunter2"), "{e}");
            }
        }
    }

    #[test]
    fn duplicate_names_are_refused() {
        let a = DbTarget::parse("postgres://u@h/keto").unwrap();
        let b = DbTarget::parse("postgres://u@other/keto").unwrap();
        let e = check_unique_names(&[a.clone(), b]).unwrap_err().to_string();
        assert!(e.contains("'keto'"), "{e}");
        let c = DbTarget::parse("k2=postgres://u@other/keto").unwrap();
        assert!(check_unique_names(&[a, c]).is_ok());
    }
}
