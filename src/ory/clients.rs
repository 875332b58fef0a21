//! The one place the Ory clients are built: from the endpoints, the [`ClientOptions`], the TLS
//! settings and each endpoint's transport. Each endpoint gets one [`Wire`], which decides here,
//! once, whether its calls take the lean HTTP/1.1 transport or reqwest; the clients and a
//! scenario's own `http` steps share it.

use super::http::AdminAuth;
use super::transport::{TlsOptions, Transports};
use super::wire::{send_general, Answer, Body, Wire};
use super::{check_options, ClientOptions, HydraClient, KetoClient, KratosClient};
use crate::ground::{Endpoint, Endpoints, ErrorClass, PerEndpoint};
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, Url};
use std::sync::Arc;

/// The Ory clients of a run (one per service whose two endpoints are configured), and the way
/// to send a scenario's own requests.
#[derive(Clone)]
pub struct OryClients {
    pub kratos: Option<KratosClient>,
    pub hydra: Option<HydraClient>,
    pub keto: Option<KetoClient>,
    /// Each endpoint's transport (its reqwest client, TLS settings and counters).
    pub transports: Transports,
    wires: PerEndpoint<Option<Arc<Wire>>>,
    /// `(origin, endpoint)` of each configured endpoint, to route a scenario's own URLs.
    origins: Vec<(String, Endpoint)>,
    pub(crate) admin: AdminAuth,
}

/// Builds [`OryClients`]; see [`OryClients::builder`].
pub struct ClientsBuilder<'a> {
    endpoints: &'a Endpoints,
    opts: &'a ClientOptions,
    tls: Option<&'a TlsOptions>,
    transports: Option<&'a Transports>,
    lean: bool,
}

impl OryClients {
    /// Clients for `endpoints` with `opts`; by default the transports are built here too, with
    /// the default TLS settings.
    pub fn builder<'a>(endpoints: &'a Endpoints, opts: &'a ClientOptions) -> ClientsBuilder<'a> {
        ClientsBuilder {
            endpoints,
            opts,
            tls: None,
            transports: None,
            lean: true,
        }
    }

    /// Whether `endpoint`'s calls take the lean transport (`None`: not configured).
    pub fn is_lean(&self, endpoint: Endpoint) -> Option<bool> {
        self.wires[endpoint].as_ref().map(|w| w.is_lean())
    }

    /// Sends a scenario's own request to a full URL: through the wire of the endpoint on its
    /// origin when that endpoint's calls take the lean transport and the URL carries no
    /// credentials, otherwise through that endpoint's reqwest client (or the general one for a
    /// URL of no endpoint), exactly as before.
    pub(crate) async fn send_url(
        &self,
        method: Method,
        url: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Option<Body>,
    ) -> Result<Answer, ErrorClass> {
        let endpoint = self.origins.iter().find_map(|(origin, e)| {
            url.strip_prefix(origin.as_str())
                .filter(|rest| rest.is_empty() || rest.starts_with('/'))
                .map(|_| *e)
        });
        if let Some(wire) = endpoint.and_then(|e| self.wires[e].as_ref()) {
            if wire.is_lean() {
                // The same URL reqwest would send: parsed (and normalised) the same way.
                let parsed = Url::parse(url).map_err(|_| ErrorClass::Protocol)?;
                if parsed.username().is_empty() && parsed.password().is_none() {
                    let target = &parsed[url::Position::BeforePath..url::Position::AfterQuery];
                    return wire.send(method, target, headers, body).await;
                }
            }
        }
        send_general(self.transports.client_for(url), method, url, headers, body).await
    }
}

impl<'a> ClientsBuilder<'a> {
    /// TLS settings for the transports built here (ignored with [`Self::transports`]).
    pub fn tls(mut self, tls: &'a TlsOptions) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Transports built (and preflighted) already: with `auto` HTTP over TLS, the protocol the
    /// server chose at preflight decides whether the lean transport may be used.
    pub fn transports(mut self, transports: &'a Transports) -> Self {
        self.transports = Some(transports);
        self
    }

    /// Whether the lean transport may be used at all (on by default; off, every call goes
    /// through reqwest).
    pub fn lean(mut self, lean: bool) -> Self {
        self.lean = lean;
        self
    }

    /// The clients. Errors are one line for the user (bad options, an unreadable certificate).
    pub fn build(self) -> Result<OryClients, String> {
        let (endpoints, opts) = (self.endpoints, self.opts);
        check_options(opts).map_err(|e| format!("cannot build the HTTP client: {e:#}"))?;
        let transports = match self.transports {
            Some(t) => t.clone(),
            None => Transports::build(opts, endpoints, self.tls.unwrap_or(&Default::default()))?,
        };
        let wires = PerEndpoint::from_fn(|e| match (&endpoints[e], &transports.per_endpoint[e]) {
            (Some(url), Some(t)) => Some(Arc::new(Wire::new(url, t, opts, self.lean))),
            _ => None,
        });
        let admin = AdminAuth::new(opts.admin_token.as_ref());
        use Endpoint::*;
        let pair =
            |a: Endpoint, b: Endpoint| match (&endpoints[a], &endpoints[b], &wires[a], &wires[b]) {
                (Some(ua), Some(ub), Some(wa), Some(wb)) => {
                    Some(((wa.clone(), wb.clone()), (ua, ub), admin.clone()))
                }
                _ => None,
            };
        let origins = endpoints
            .iter()
            .filter_map(|(e, u)| u.as_ref().map(|u| (u.origin().ascii_serialization(), e)))
            .collect();
        Ok(OryClients {
            kratos: pair(KratosPublic, KratosAdmin).map(|(w, u, a)| KratosClient::build(w, u, a)),
            hydra: pair(HydraPublic, HydraAdmin).map(|(w, u, a)| HydraClient::build(w, u, a)),
            keto: pair(KetoRead, KetoWrite).map(|(w, u, a)| KetoClient::build(w, u, a)),
            wires,
            origins,
            admin,
            transports,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ground::AuthMethod;
    use crate::ory::browser::{Browser, Stage};
    use crate::ory::keto::{RelationTuple, Subject, TupleQuery};
    use crate::ory::kratos::Traits;
    use crate::ory::test_server::{clients_for, CannedServer, Reply, Seen};
    use crate::ory::wire::Body;
    use crate::ory::OAuthClient;
    use crate::secret::Secret;
    use rand::{rngs::SmallRng, SeedableRng};
    use reqwest::header::HeaderValue;
    use reqwest::Method;

    const FLOW: &str = r#"{"id":"f-1","ui":{"nodes":[]}}"#;
    const CLIENT: &str = r#"{"client_id":"c","client_secret":"s","token_endpoint_auth_method":"client_secret_post"}"#;
    const TOKENS: &str = r#"{"access_token":"a","refresh_token":"r","token_type":"bearer"}"#;

    fn replies() -> Vec<Reply> {
        vec![
            Reply::new("GET", "/self-service/registration/api", 200, FLOW),
            Reply::new("GET", "/self-service/login/api", 200, FLOW),
            Reply::new("GET", "/schemas/default", 200, r#"{"properties":{}}"#),
            Reply::new("POST", "/admin/clients", 201, CLIENT),
            Reply::new("POST", "/oauth2/token", 200, TOKENS),
            Reply::new(
                "PUT",
                "/admin/oauth2/auth/requests/login/accept",
                200,
                r#"{"redirect_to":"http://127.0.0.1:9/oauth2/auth?x=1"}"#,
            ),
        ]
    }

    /// Every operation of every client once (the answers do not matter here).
    async fn every_operation(c: &super::OryClients) {
        let (k, h, keto) = (
            c.kratos.as_ref().unwrap(),
            c.hydra.as_ref().unwrap(),
            c.keto.as_ref().unwrap(),
        );
        let tuple = RelationTuple {
            namespace: "docs".into(),
            object: "d 1".into(),
            relation: "viewer".into(),
            subject: Subject::Id("user:a".into()),
        };
        let query = TupleQuery {
            namespace: "docs".into(),
            object: Some("d 1".into()),
            ..TupleQuery::default()
        };
        keto.write(&tuple).await;
        keto.check(&tuple, Some(2)).await;
        keto.expand("docs", "d", "viewer", None).await;
        keto.list(&query, Some(5)).await;
        keto.delete(&query).await;
        keto.batch_check(std::slice::from_ref(&tuple), Some(3))
            .await;
        let traits = Traits {
            email: "a+b@example.com".into(),
            first: "A".into(),
            last: "B".into(),
        };
        let password = Secret::new("pw");
        k.register(&traits, &password).await;
        k.login("a@b.c", &password).await;
        k.whoami(&Secret::new("ory_st_1")).await;
        k.logout(&Secret::new("ory_st_1")).await;
        k.lookup_identity("a@b.c").await;
        k.delete_identity("id 1").await;
        let _ = k.identifier_paths("default").await;
        h.create_client(AuthMethod::ClientSecretPost, "read").await;
        for auth in [AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretPost] {
            let client = OAuthClient {
                client_id: "c:1".into(),
                client_secret: Secret::new("s"),
                auth,
            };
            h.token(&client, Some("read")).await;
            h.revoke(&client, &Secret::new("t")).await;
            h.refresh(&client, &Secret::new("r")).await;
        }
        h.introspect(&Secret::new("t")).await;
        h.userinfo(&Secret::new("t")).await;
        h.delete_client("c 1").await;
        let mut browser = Browser::start(
            "c",
            "http://x/cb",
            "openid",
            &mut SmallRng::seed_from_u64(1),
        );
        browser.stage = Stage::Login;
        browser.pending = "challenge".into();
        h.accept_login(browser, "subject").await;
        let base = c.transports.per_endpoint[crate::ground::Endpoint::KetoRead]
            .as_ref()
            .map(|_| c.origins[0].0.clone())
            .unwrap();
        let url = format!("{base}/custom/path?a=b%20c#fragment");
        let headers = [(
            reqwest::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer x"),
        )];
        let body = Body {
            content_type: None,
            bytes: "raw".into(),
        };
        let _ = c.send_url(Method::POST, &url, &headers, Some(body)).await;
    }

    /// A request as compared: method, target, every header, body.
    fn shape(s: &Seen) -> (String, String, Vec<(String, String)>, Vec<u8>) {
        let mut headers: Vec<_> = s
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("?").to_string()))
            .collect();
        headers.sort();
        (s.method.clone(), s.target.clone(), headers, s.body.clone())
    }

    #[tokio::test]
    async fn the_lean_path_puts_the_same_requests_on_the_wire_as_reqwest() {
        let srv = CannedServer::start(replies()).await;
        every_operation(&clients_for(&srv, Some("ory_pat_x"), false)).await;
        let general: Vec<_> = srv.seen().iter().map(shape).collect();
        every_operation(&clients_for(&srv, Some("ory_pat_x"), true)).await;
        let lean: Vec<_> = srv.seen()[general.len()..].iter().map(shape).collect();
        assert_eq!(general.len(), 28, "every operation sent its requests");
        assert_eq!(lean.len(), general.len());
        for (l, g) in lean.iter().zip(&general) {
            assert_eq!(l, g);
        }
    }
}
