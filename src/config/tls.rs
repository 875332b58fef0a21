//! TLS and HTTP-version settings: `--ca-cert`, `--insecure`, `--client-cert`/`--client-key` and
//! `--http-version`, or the config file's keys of the same names, globally or per endpoint in
//! `[tls.ENDPOINT]` tables. A flag applies to every endpoint and wins over the file.

use crate::cli::TlsArgs;
use crate::ground::parse::{usage, UsageError};
use crate::ground::{Endpoint, PerEndpoint};
use crate::ory::tls::{ClientIdentity, HttpVersion};
use crate::ory::transport::{EndpointTls, TlsOptions};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The TLS keys of a config file: top-level defaults, and per endpoint.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileTls {
    #[serde(default)]
    pub(super) ca_cert: Vec<PathBuf>,
    #[serde(default)]
    pub(super) insecure: bool,
    pub(super) client_cert: Option<PathBuf>,
    pub(super) client_key: Option<PathBuf>,
    pub(super) http_version: Option<String>,
    /// `[tls.kratos_admin]` and so on.
    #[serde(default)]
    pub(super) tls: BTreeMap<String, FileEndpointTls>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileEndpointTls {
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    http_version: Option<String>,
}

fn version(what: &str, v: &str) -> Result<HttpVersion, UsageError> {
    HttpVersion::parse(v)
        .ok_or_else(|| UsageError(format!("invalid {what} '{v}': write 1.1, 2 or auto")))
}

fn identity(
    what: &str,
    cert: Option<&PathBuf>,
    key: Option<&PathBuf>,
) -> Result<Option<ClientIdentity>, UsageError> {
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => Ok(Some(ClientIdentity {
            cert: cert.clone(),
            key: key.clone(),
        })),
        _ => usage(format!(
            "{what}: client_cert and client_key go together: set both or neither"
        )),
    }
}

pub(super) fn resolve_tls(args: &TlsArgs, file: &FileTls) -> Result<TlsOptions, UsageError> {
    for name in file.tls.keys() {
        if Endpoint::from_name(name).is_none() {
            return usage(format!(
                "config file: unknown endpoint [tls.{name}]: use one of {}",
                Endpoint::ALL.map(|e| e.name()).join(", ")
            ));
        }
    }
    let flag_identity = identity(
        "--client-cert/--client-key",
        args.client_cert.as_ref(),
        args.client_key.as_ref(),
    )?;
    let file_identity = identity(
        "config file",
        file.client_cert.as_ref(),
        file.client_key.as_ref(),
    )?;
    let flag_version = args
        .http_version
        .as_deref()
        .map(|v| version("--http-version", v))
        .transpose()?;
    let file_version = file
        .http_version
        .as_deref()
        .map(|v| version("http_version", v))
        .transpose()?;
    let mut endpoints: PerEndpoint<EndpointTls> = PerEndpoint::default();
    for e in Endpoint::ALL {
        let own = file.tls.get(e.name());
        let own_identity = match own {
            Some(t) => identity(
                &format!("config file [tls.{}]", e.name()),
                t.client_cert.as_ref(),
                t.client_key.as_ref(),
            )?,
            None => None,
        };
        let own_version = own
            .and_then(|t| t.http_version.as_deref())
            .map(|v| version(&format!("[tls.{}] http_version", e.name()), v))
            .transpose()?;
        endpoints[e] = EndpointTls {
            identity: flag_identity
                .clone()
                .or(own_identity)
                .or_else(|| file_identity.clone()),
            http_version: flag_version.or(own_version).or(file_version),
        };
    }
    let mut ca_certs = file.ca_cert.clone();
    ca_certs.extend(args.ca_certs.iter().cloned());
    Ok(TlsOptions {
        ca_certs,
        insecure: args.insecure || file.insecure,
        endpoints,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> FileTls {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn flags_win_over_the_endpoint_tables_which_win_over_the_file_defaults() {
        let f = file(
            r#"
            ca_cert = ["ca.pem"]
            client_cert = "all.pem"
            client_key = "all.key"
            http_version = "2"
            [tls.kratos_admin]
            client_cert = "admin.pem"
            client_key = "admin.key"
            http_version = "auto"
            "#,
        );
        let t = resolve_tls(&TlsArgs::default(), &f).unwrap();
        let admin = &t.endpoints[Endpoint::KratosAdmin];
        assert_eq!(
            admin.identity.as_ref().unwrap().cert,
            PathBuf::from("admin.pem")
        );
        assert_eq!(admin.http_version, Some(HttpVersion::Auto));
        let public = &t.endpoints[Endpoint::KratosPublic];
        assert_eq!(
            public.identity.as_ref().unwrap().key,
            PathBuf::from("all.key")
        );
        assert_eq!(public.http_version, Some(HttpVersion::Http2));
        assert_eq!(t.ca_certs, vec![PathBuf::from("ca.pem")]);

        let args = TlsArgs {
            ca_certs: vec!["more.pem".into()],
            insecure: true,
            client_cert: Some("flag.pem".into()),
            client_key: Some("flag.key".into()),
            http_version: Some("1.1".into()),
        };
        let t = resolve_tls(&args, &f).unwrap();
        assert!(t.insecure);
        assert_eq!(t.ca_certs.len(), 2);
        for (_, e) in t.endpoints.iter() {
            assert_eq!(e.identity.as_ref().unwrap().cert, PathBuf::from("flag.pem"));
            assert_eq!(e.http_version, Some(HttpVersion::Http1));
        }
    }

    #[test]
    fn bad_settings_are_one_line_usage_errors() {
        let bad_version = TlsArgs {
            http_version: Some("3".into()),
            ..TlsArgs::default()
        };
        let e = resolve_tls(&bad_version, &FileTls::default()).unwrap_err();
        assert!(e.0.contains("--http-version '3'"), "{}", e.0);
        let e = resolve_tls(
            &TlsArgs::default(),
            &file("[tls.kratos_admn]\nhttp_version = \"2\""),
        )
        .unwrap_err();
        assert!(
            e.0.contains("unknown endpoint [tls.kratos_admn]"),
            "{}",
            e.0
        );
        let e = resolve_tls(
            &TlsArgs::default(),
            &file("[tls.keto_read]\nclient_cert = \"c.pem\""),
        )
        .unwrap_err();
        assert!(e.0.contains("set both or neither"), "{}", e.0);
        assert!(
            !TlsArgs::default().insecure,
            "verification is on unless asked off"
        );
    }
}
