//! Opening one short-lived connection to a target, bounded by a timeout, with TLS as its
//! `sslmode` asks.

use super::target::{DbTarget, Host, SslMode};
use super::tls;
use std::time::Duration;
use tokio_postgres::Client;

/// The `application_name` of orysim's own sessions, so that they can be told apart from the
/// load (CockroachDB's statement statistics are keyed by it).
pub const APPLICATION_NAME: &str = "orysim-db-stats";

/// Connects, or says why not in one line without the password.
pub async fn connect(target: &DbTarget, timeout: Duration) -> Result<Client, String> {
    let mut config = tokio_postgres::Config::new();
    config
        .user(&target.user)
        .dbname(&target.dbname)
        .port(target.port)
        .application_name(APPLICATION_NAME)
        .connect_timeout(timeout)
        .ssl_mode(match target.ssl_mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
    match &target.host {
        Host::Tcp(h) => config.host(h),
        Host::Socket(path) => config.host_path(path),
    };
    if let Some(p) = &target.password {
        config.password(p.expose());
    }
    if let Some(o) = &target.options {
        config.options(o);
    }
    let attempt = async {
        if target.ssl_mode == SslMode::Disable {
            let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
            tokio::spawn(connection);
            Ok(client)
        } else {
            let tls = tls::client_config(target).map_err(Failure::Tls)?;
            let (client, connection) = config
                .connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
                .await?;
            tokio::spawn(connection);
            Ok(client)
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Err(_) => Err(format!(
            "no connection to {} within {:?}",
            target.redacted_url(),
            timeout
        )),
        Ok(Err(Failure::Tls(why))) => Err(why),
        Ok(Err(Failure::Db(e))) => Err(target.scrub(&format!(
            "cannot connect to {}: {}",
            target.redacted_url(),
            error_text(&e)
        ))),
        Ok(Ok(client)) => Ok(client),
    }
}

enum Failure {
    Tls(String),
    Db(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Failure::Db(e)
    }
}

/// A driver error on one line: the server's own message when there is one, else the driver's
/// with its cause.
pub fn error_text(e: &tokio_postgres::Error) -> String {
    let text = match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    };
    text.replace(['\n', '\r'], " ")
}
