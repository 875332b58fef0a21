//! TLS end to end at unit scale: a tokio-rustls server on 127.0.0.1 with certificates made at
//! test time (no key is committed), probed the way preflight probes, and used by the lean
//! transport. Each failure the user can meet becomes one line naming its cause and its fix.

use super::fast::FastHttp;
use super::tls::{ClientIdentity, HttpVersion};
use super::transport::{EndpointTls, TlsOptions, Transports};
use super::{probe_ready_noting, ClientOptions};
use crate::ground::{Endpoint, Endpoints};
use rcgen::{BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair};
use reqwest::Url;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A CA and the key it signs with.
struct Ca {
    cert: Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        Ca {
            cert: params.self_signed(&key).unwrap(),
            key,
        }
    }

    /// A leaf for `names`, optionally expired.
    fn leaf(&self, names: &[&str], expired: bool) -> (Certificate, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        (params.signed_by(&key, &self.cert, &self.key).unwrap(), key)
    }
}

fn der_key(key: &KeyPair) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()))
}

/// Writes `text` to `dir/name`.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A TLS server answering every request with `200 {}` (keep-alive), and how many TLS
/// connections it accepted.
struct Server {
    url: Url,
    accepted: Arc<AtomicUsize>,
}

async fn serve(config: ServerConfig) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("https://{}/", listener.local_addr().unwrap())).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let count = count.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                count.fetch_add(1, Ordering::Relaxed);
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = tls.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                                       content-length: 2\r\n\r\n{}";
                        if tls.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    Server { url, accepted }
}

fn server_config(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> ServerConfig {
    let mut c =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    c
}

/// A server requiring client certificates signed by `client_ca`.
fn mtls_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca: &Ca,
) -> ServerConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(client_ca.cert.der().clone()).unwrap();
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .unwrap();
    let mut c = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    c
}

/// Every endpoint at `url` (only Keto's are probed), with `tls`.
fn transports(url: &Url, tls: &TlsOptions) -> Result<Transports, String> {
    let mut endpoints = Endpoints::default();
    endpoints[Endpoint::KetoRead] = Some(url.clone());
    endpoints[Endpoint::KetoWrite] = Some(url.clone());
    let opts = ClientOptions {
        timeout: Duration::from_secs(5),
        admin_token: None,
        max_connections_per_host: 4,
        proxy_from_env: false,
    };
    Transports::build(&opts, &endpoints, tls)
}

/// Preflight of the Keto read endpoint: `Ok` or its one-line error.
async fn probe(url: &Url, tls: &TlsOptions) -> Result<(), String> {
    let t = transports(url, tls)?;
    let read = t.per_endpoint[Endpoint::KetoRead].as_ref().unwrap();
    probe_ready_noting(&read.http, url, Some(&read.stats)).await
}

fn trusting(ca: &Path) -> TlsOptions {
    TlsOptions {
        ca_certs: vec![ca.to_path_buf()],
        ..TlsOptions::default()
    }
}

fn with_identity(mut tls: TlsOptions, cert: &Path, key: &Path) -> TlsOptions {
    for e in Endpoint::ALL {
        tls.endpoints[e] = EndpointTls {
            identity: Some(ClientIdentity {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            }),
            http_version: None,
        };
    }
    tls
}

fn assert_one_line(msg: &str, wants: &[&str]) {
    assert!(!msg.contains('\n'), "one line: {msg}");
    for w in wants {
        assert!(msg.contains(w), "{w:?} in {msg}");
    }
}

#[tokio::test]
async fn a_private_ca_is_trusted_with_ca_cert_and_named_when_missing() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("orysim test CA");
    let ca_pem = write(dir.path(), "ca.pem", &ca.cert.pem());
    let (leaf, key) = ca.leaf(&["127.0.0.1"], false);
    let srv = serve(server_config(vec![leaf.der().clone()], der_key(&key))).await;

    let err = probe(&srv.url, &TlsOptions::default()).await.unwrap_err();
    assert_one_line(&err, &[srv.url.as_str(), "unknown issuer", "--ca-cert"]);

    probe(&srv.url, &trusting(&ca_pem)).await.unwrap();

    // SSL_CERT_FILE is honoured by the system store; it is read once per process, so it is
    // checked in its own process by the end-to-end tests rather than here.
    let insecure = TlsOptions {
        insecure: true,
        ..TlsOptions::default()
    };
    probe(&srv.url, &insecure).await.unwrap();
    let t = transports(&srv.url, &insecure).unwrap();
    assert!(t.tls_usage().unwrap().insecure);
}

#[tokio::test]
async fn a_wrong_name_an_expired_certificate_and_a_ca_as_server_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("orysim test CA");
    let ca_pem = write(dir.path(), "ca.pem", &ca.cert.pem());
    let tls = trusting(&ca_pem);

    let (other, key) = ca.leaf(&["ory.example"], false);
    let srv = serve(server_config(vec![other.der().clone()], der_key(&key))).await;
    let err = probe(&srv.url, &tls).await.unwrap_err();
    assert_one_line(
        &err,
        &["not valid for the name '127.0.0.1'", "host name in the URL"],
    );

    let (old, key) = ca.leaf(&["127.0.0.1"], true);
    let srv = serve(server_config(vec![old.der().clone()], der_key(&key))).await;
    let err = probe(&srv.url, &tls).await.unwrap_err();
    assert_one_line(&err, &["has expired", "renew it"]);

    let srv = serve(server_config(vec![ca.cert.der().clone()], der_key(&ca.key))).await;
    let err = probe(&srv.url, &tls).await.unwrap_err();
    assert_one_line(&err, &["CA certificate as its own", "signed by that CA"]);
}

#[tokio::test]
async fn client_certificates_required_refused_and_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("orysim test CA");
    let ca_pem = write(dir.path(), "ca.pem", &ca.cert.pem());
    let clients = Ca::new("orysim client CA");
    let (leaf, key) = ca.leaf(&["127.0.0.1"], false);
    let srv = serve(mtls_config(
        vec![leaf.der().clone()],
        der_key(&key),
        &clients,
    ))
    .await;

    let err = probe(&srv.url, &trusting(&ca_pem)).await.unwrap_err();
    assert_one_line(&err, &["requires a client certificate", "--client-cert"]);

    let stranger = Ca::new("another CA");
    let (cert, key) = stranger.leaf(&["orysim"], false);
    let cert_pem = write(dir.path(), "stranger.pem", &cert.pem());
    let key_pem = write(dir.path(), "stranger.key", &key.serialize_pem());
    let err = probe(
        &srv.url,
        &with_identity(trusting(&ca_pem), &cert_pem, &key_pem),
    )
    .await
    .unwrap_err();
    assert_one_line(&err, &["refused the client certificate", "--client-cert"]);

    let (cert, key) = clients.leaf(&["orysim"], false);
    let cert_pem = write(dir.path(), "client.pem", &cert.pem());
    let key_pem = write(dir.path(), "client.key", &key.serialize_pem());
    probe(
        &srv.url,
        &with_identity(trusting(&ca_pem), &cert_pem, &key_pem),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn unreadable_empty_and_mismatched_pem_files_are_one_line_without_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("orysim test CA");
    let ca_pem = write(dir.path(), "ca.pem", &ca.cert.pem());
    let url = Url::parse("https://127.0.0.1:1/").unwrap();
    let build = |tls: &TlsOptions| transports(&url, tls).err().expect("refused");

    let missing = dir.path().join("missing.pem");
    assert_one_line(
        &build(&trusting(&missing)),
        &["--ca-cert", "missing.pem", "cannot read"],
    );
    let empty = write(dir.path(), "empty.pem", "");
    assert_one_line(
        &build(&trusting(&empty)),
        &["--ca-cert", "empty.pem", "no PEM certificate"],
    );

    let (cert, key) = ca.leaf(&["orysim"], false);
    let cert_pem = write(dir.path(), "client.pem", &cert.pem());
    let (_, other_key) = ca.leaf(&["orysim"], false);
    let secret = other_key.serialize_pem();
    let other_pem = write(dir.path(), "other.key", &secret);
    let err = build(&with_identity(trusting(&ca_pem), &cert_pem, &other_pem));
    assert_one_line(
        &err,
        &["--client-key", "does not belong to the certificate"],
    );
    let body: String = secret.lines().nth(1).unwrap().chars().take(16).collect();
    assert!(!err.contains(&body), "the key never appears: {err}");

    let err = build(&with_identity(trusting(&ca_pem), &cert_pem, &cert_pem));
    assert_one_line(&err, &["--client-key", "client.pem", "no PEM private key"]);
    let err = build(&with_identity(trusting(&ca_pem), &empty, &other_pem));
    assert_one_line(&err, &["--client-cert", "empty.pem"]);
    let key_pem = write(dir.path(), "client.key", &key.serialize_pem());
    transports(&url, &with_identity(trusting(&ca_pem), &cert_pem, &key_pem)).unwrap();
}

#[tokio::test]
async fn the_lean_transport_speaks_tls_and_resumes_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("orysim test CA");
    let ca_pem = write(dir.path(), "ca.pem", &ca.cert.pem());
    let (leaf, key) = ca.leaf(&["127.0.0.1"], false);
    let srv = serve(server_config(vec![leaf.der().clone()], der_key(&key))).await;
    let mut tls = trusting(&ca_pem);
    tls.endpoints[Endpoint::KetoRead].http_version = Some(HttpVersion::Http1);
    let t = transports(&srv.url, &tls).unwrap();
    let read = t.per_endpoint[Endpoint::KetoRead].as_ref().unwrap();
    probe_ready_noting(&read.http, &srv.url, Some(&read.stats))
        .await
        .unwrap();
    let opts = ClientOptions {
        timeout: Duration::from_secs(5),
        admin_token: None,
        max_connections_per_host: 4,
        proxy_from_env: false,
    };
    let fast = FastHttp::for_transport(&srv.url, &opts, read).expect("https on the lean path");
    // Two calls at once need two connections; both resume the session the probe started.
    let (a, b) = tokio::join!(
        fast.get("/x".into(), &[], 1024),
        fast.get("/y".into(), &[], 1024)
    );
    assert_eq!(a.unwrap().1, b"{}");
    assert_eq!(b.unwrap().1, b"{}");
    let again = fast.get("/z".into(), &[], 1024).await.unwrap();
    assert_eq!(again.0.as_u16(), 200);
    let usage = &t.usage()[0];
    assert_eq!(usage.endpoint, "keto_read");
    assert_eq!(usage.protocol.as_deref(), Some("HTTP/1.1"));
    assert_eq!(usage.connections, 3, "the probe's and two lean ones");
    assert_eq!(srv.accepted.load(Ordering::Relaxed), 3);
    assert_eq!(usage.tls_handshakes, 3);
    assert_eq!(
        usage.tls_full_handshakes, 1,
        "the lean connections resumed: {usage:?}"
    );

    // auto: the lean path only once preflight saw the server choose HTTP/1.1.
    tls.endpoints[Endpoint::KetoRead].http_version = Some(HttpVersion::Auto);
    let t = transports(&srv.url, &tls).unwrap();
    let read = t.per_endpoint[Endpoint::KetoRead].as_ref().unwrap();
    assert!(FastHttp::for_transport(&srv.url, &opts, read).is_none());
    probe_ready_noting(&read.http, &srv.url, Some(&read.stats))
        .await
        .unwrap();
    assert!(FastHttp::for_transport(&srv.url, &opts, read).is_some());

    // HTTP/2 asked for: the lean path stays out of it.
    tls.endpoints[Endpoint::KetoRead].http_version = Some(HttpVersion::Http2);
    let t = transports(&srv.url, &tls).unwrap();
    let read = t.per_endpoint[Endpoint::KetoRead].as_ref().unwrap();
    assert!(FastHttp::for_transport(&srv.url, &opts, read).is_none());
}
