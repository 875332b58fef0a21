//! The one server-certificate verifier of every TLS client orysim opens: the Ory endpoints
//! (`--ca-cert`, `--insecure`) and the database behind `--db-stats` (libpq's `sslmode`). They
//! differ only in how much of the certificate they check; the handshake signatures are always
//! checked, so the session keys belong to whoever holds the certificate's key.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// How much of the server's certificate is checked.
pub(crate) enum CertCheck {
    /// Nothing: the channel is encrypted but the server not authenticated (`--insecure`;
    /// `sslmode=prefer` and `require`).
    Nothing,
    /// The chain must reach a trusted root, whatever host name it is for (`sslmode=verify-ca`).
    ChainOnly(Arc<WebPkiServerVerifier>),
    /// The chain and the host name (the default for Ory endpoints; `sslmode=verify-full`).
    ChainAndName(Arc<WebPkiServerVerifier>),
}

/// Full TLS handshakes made (resumed ones skip certificate verification, so are not counted).
#[derive(Debug, Default)]
pub struct HandshakeCounter {
    full: AtomicU64,
}

impl HandshakeCounter {
    pub fn full_handshakes(&self) -> u64 {
        self.full.load(Ordering::Relaxed)
    }
}

/// A verifier that checks what `check` says and tells `counter` (when given) of every full
/// handshake.
pub(crate) fn verifier(
    provider: Arc<CryptoProvider>,
    check: CertCheck,
    counter: Option<Arc<HandshakeCounter>>,
) -> Arc<dyn ServerCertVerifier> {
    Arc::new(Verifier {
        provider,
        check,
        counter,
    })
}

struct Verifier {
    provider: Arc<CryptoProvider>,
    check: CertCheck,
    counter: Option<Arc<HandshakeCounter>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let check = match self.check {
            CertCheck::Nothing => "nothing",
            CertCheck::ChainOnly(_) => "chain only",
            CertCheck::ChainAndName(_) => "chain and name",
        };
        f.debug_struct("Verifier").field("check", &check).finish()
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(counter) = &self.counter {
            counter.full.fetch_add(1, Ordering::Relaxed);
        }
        match &self.check {
            CertCheck::Nothing => Ok(ServerCertVerified::assertion()),
            CertCheck::ChainAndName(webpki) => {
                webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            }
            CertCheck::ChainOnly(webpki) => {
                match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
                    Err(rustls::Error::InvalidCertificate(
                        CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. },
                    )) => Ok(ServerCertVerified::assertion()),
                    other => other,
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
