//! The rustls client configuration for each `sslmode`, with libpq's meanings: `prefer` and
//! `require` encrypt without checking the certificate, `verify-ca` checks the chain only,
//! `verify-full` checks the chain and the host name.

use super::target::{DbTarget, SslMode};
use crate::tls_verify::{verifier, CertCheck};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use std::sync::Arc;

/// The client configuration for `target`, or a message saying which file could not be used.
pub fn client_config(target: &DbTarget) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let webpki = || {
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots(target)?), provider.clone())
            .build()
            .map_err(|e| format!("TLS setup: {e}"))
    };
    let check = match target.ssl_mode {
        SslMode::Disable | SslMode::Prefer | SslMode::Require => CertCheck::Nothing,
        SslMode::VerifyCa => CertCheck::ChainOnly(webpki()?),
        SslMode::VerifyFull => CertCheck::ChainAndName(webpki()?),
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier(provider, check, None));
    match &target.ssl_client_cert {
        None => Ok(builder.with_no_client_auth()),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("sslcert {}: {e}", cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("sslkey {}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("sslcert/sslkey: {e}"))
        }
    }
}

/// `sslrootcert` when given, else the Mozilla roots.
fn roots(target: &DbTarget) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match &target.ssl_root_cert {
        None => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!(
                    "sslrootcert {}: no usable certificate",
                    path.display()
                ));
            }
        }
    }
    Ok(store)
}
