//! The TLS client side of the Ory clients: which roots are trusted, which client certificate is
//! sent, and how a TLS failure is put into words.
//!
//! Trust follows the rest of the system: the operating system's store (which honours
//! `SSL_CERT_FILE` and `SSL_CERT_DIR`, as curl, OpenSSL, Go and Python do), the bundled Mozilla
//! roots only when the system has none, plus every `--ca-cert`. One `rustls::ClientConfig` is
//! built per endpoint setting and shared by the general client and the lean transport, so both
//! trust the same roots, send the same client certificate and resume the same sessions.
//!
//! Nothing here formats a private key, or any part of one, into a message.

pub use crate::tls_verify::HandshakeCounter;
use crate::tls_verify::{verifier, CertCheck};
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{AlertDescription, CertificateError, ClientConfig, RootCertStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Which HTTP version to speak to an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize)]
pub enum HttpVersion {
    /// HTTP/1.1 only: one request at a time per connection.
    #[serde(rename = "1.1")]
    Http1,
    /// HTTP/2 only (ALPN `h2` over TLS, prior knowledge over plain HTTP).
    #[serde(rename = "2")]
    Http2,
    /// Whatever the server offers over TLS (ALPN `h2`, `http/1.1`); HTTP/1.1 over plain HTTP.
    #[serde(rename = "auto")]
    Auto,
}

impl HttpVersion {
    pub fn parse(v: &str) -> Option<HttpVersion> {
        match v.trim() {
            "1.1" | "1" | "http1" => Some(HttpVersion::Http1),
            "2" | "h2" | "http2" => Some(HttpVersion::Http2),
            "auto" => Some(HttpVersion::Auto),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            HttpVersion::Http1 => "1.1",
            HttpVersion::Http2 => "2",
            HttpVersion::Auto => "auto",
        }
    }

    /// The ALPN protocols offered in the TLS handshake.
    fn alpn(self) -> Vec<Vec<u8>> {
        match self {
            HttpVersion::Http1 => vec![b"http/1.1".to_vec()],
            HttpVersion::Http2 => vec![b"h2".to_vec()],
            HttpVersion::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        }
    }
}

/// A client certificate chain and its private key, as PEM files.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientIdentity {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The roots every endpoint trusts, loaded once.
#[derive(Clone, Debug)]
pub struct Trust {
    roots: Arc<RootCertStore>,
    /// Where the roots came from, for the summary and the report.
    pub source: String,
    pub insecure: bool,
}

impl Trust {
    /// The system's roots (bundled ones when it has none) plus `ca_certs`. Each `--ca-cert` must
    /// hold at least one certificate; a system store that cannot be read is not an error.
    pub fn load(ca_certs: &[PathBuf], insecure: bool) -> Result<Trust, String> {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(native.certs);
        let mut source = if added > 0 {
            format!("system store ({added} roots)")
        } else {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            "bundled Mozilla roots (the system has none)".to_string()
        };
        for path in ca_certs {
            let certs = read_certs("--ca-cert", path)?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!(
                    "--ca-cert {}: no usable CA certificate in it",
                    path.display()
                ));
            }
            source.push_str(&format!(" + {}", path.display()));
        }
        Ok(Trust {
            roots: Arc::new(roots),
            source,
            insecure,
        })
    }

    /// A TLS configuration for one endpoint setting: these roots (or none with `insecure`),
    /// `identity` sent when the server asks, `version` offered by ALPN, a session cache of its
    /// own, and `counters` told of every full handshake.
    pub fn client_config(
        &self,
        identity: Option<&ClientIdentity>,
        version: HttpVersion,
        counters: Arc<HandshakeCounter>,
    ) -> Result<Arc<ClientConfig>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let check = if self.insecure {
            CertCheck::Nothing
        } else {
            CertCheck::ChainAndName(
                WebPkiServerVerifier::builder_with_provider(self.roots.clone(), provider.clone())
                    .build()
                    .map_err(|e| format!("TLS setup: {e}"))?,
            )
        };
        let verifier = verifier(provider.clone(), check, Some(counters));
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match identity {
            None => builder.with_no_client_auth(),
            Some(id) => {
                let (chain, key) = read_identity(id)?;
                builder.with_client_auth_cert(chain, key).map_err(|e| {
                    let why = match e {
                        rustls::Error::InconsistentKeys(_) => {
                            "the key does not belong to the certificate".to_string()
                        }
                        other => other.to_string(),
                    };
                    format!(
                        "--client-cert {} / --client-key {}: {why}",
                        id.cert.display(),
                        id.key.display()
                    )
                })?
            }
        };
        config.alpn_protocols = version.alpn();
        // Enough tickets for every connection of a large run to resume.
        config.resumption = Resumption::in_memory_sessions(4096);
        Ok(Arc::new(config))
    }
}

fn read_certs(flag: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{flag} {}: {}", path.display(), pem_error(&e)))?;
    if certs.is_empty() {
        return Err(format!(
            "{flag} {}: no PEM certificate in it (-----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

fn read_identity(
    id: &ClientIdentity,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let chain = read_certs("--client-cert", &id.cert)?;
    // PKCS#8, PKCS#1 (RSA) and SEC1 (EC) keys; the error never quotes the file.
    let key = PrivateKeyDer::from_pem_file(&id.key).map_err(|e| {
        let why = match e {
            pem::Error::NoItemsFound => "no PEM private key in it (PKCS#8, RSA or EC)".to_string(),
            other => pem_error(&other),
        };
        format!("--client-key {}: {why}", id.key.display())
    })?;
    Ok((chain, key))
}

/// A PEM reading error in words, without the file's content.
fn pem_error(e: &pem::Error) -> String {
    match e {
        pem::Error::Io(io) => format!("cannot read it: {io}"),
        pem::Error::NoItemsFound => "no PEM item in it".to_string(),
        pem::Error::MissingSectionEnd { .. } => "a PEM section is not closed".to_string(),
        pem::Error::IllegalSectionStart { .. } => "a PEM section start is malformed".to_string(),
        pem::Error::Base64Decode(_) => "a PEM section is not valid base64".to_string(),
        _ => "not a PEM file".to_string(),
    }
}

/// The TLS failure somewhere in `err`'s chain of causes, in words with its fix; `None` when the
/// failure is not a TLS one. `host` is the host name of the URL.
pub fn explain(err: &(dyn std::error::Error + 'static), host: &str) -> Option<String> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(explain_rustls(tls, host));
        }
        if let Some(tls) = e.downcast_ref::<std::io::Error>().and_then(rustls_in_io) {
            return Some(explain_rustls(tls, host));
        }
        next = e.source();
    }
    None
}

/// The rustls error an I/O error carries, however deeply wrapped: `io::Error::source` skips
/// the error it wraps, so it is looked for by hand.
fn rustls_in_io(io: &std::io::Error) -> Option<&rustls::Error> {
    let inner = io.get_ref()?;
    if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    inner
        .downcast_ref::<std::io::Error>()
        .and_then(rustls_in_io)
}

fn explain_rustls(err: &rustls::Error, host: &str) -> String {
    use rustls::Error as E;
    match err {
        E::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => "TLS: the server's certificate is signed by an \
                 unknown issuer (a private CA?): trust that CA with --ca-cert FILE (PEM)"
                .to_string(),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!(
                    "TLS: the server's certificate is not valid for the name '{host}': use a \
                     host name in the URL that the certificate names"
                )
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "TLS: the server's certificate has expired: renew it on the server (or check \
                 this machine's clock)"
                    .to_string()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "TLS: the server's certificate is not valid yet: check this machine's clock"
                    .to_string()
            }
            CertificateError::Other(other)
                if format!("{other:?}").contains("CaUsedAsEndEntity") =>
            {
                "TLS: the server presents a CA certificate as its own: configure it with a \
                 server certificate signed by that CA (and trust the CA with --ca-cert)"
                    .to_string()
            }
            other => format!(
                "TLS: the server's certificate was rejected ({other:?}): check it, or trust its \
                 CA with --ca-cert"
            ),
        },
        E::AlertReceived(AlertDescription::CertificateRequired) => CLIENT_CERT_REQUIRED.to_string(),
        E::AlertReceived(AlertDescription::HandshakeFailure) => {
            "TLS: the server ended the handshake (handshake_failure): it may require a client \
             certificate (--client-cert/--client-key) or a TLS version this client does not offer"
                .to_string()
        }
        E::AlertReceived(
            AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::AccessDenied,
        ) => CLIENT_CERT_REFUSED.to_string(),
        E::NoCertificatesPresented => {
            "TLS: the server sent no certificate: check that the URL points at a TLS server"
                .to_string()
        }
        E::InvalidMessage(_) | E::InappropriateMessage { .. } => {
            "TLS: the server did not speak TLS: is it plain http:// rather than https://?"
                .to_string()
        }
        other => format!("TLS: {other}"),
    }
}

const CLIENT_CERT_REQUIRED: &str =
    "TLS: the server requires a client certificate: pass --client-cert FILE --client-key FILE";

const CLIENT_CERT_REFUSED: &str = "TLS: the server refused the client certificate: pass one \
     it trusts with --client-cert FILE --client-key FILE";

/// nginx completes the handshake without a client certificate and answers 400 with a page
/// naming the problem; that answer, in words, when `body` is one.
pub fn explain_client_cert_page(status: u16, body: &str) -> Option<String> {
    if status != 400 {
        return None;
    }
    if body.contains("No required SSL certificate was sent") {
        Some(CLIENT_CERT_REQUIRED.to_string())
    } else if body.contains("The SSL certificate error") {
        Some(CLIENT_CERT_REFUSED.to_string())
    } else {
        None
    }
}
