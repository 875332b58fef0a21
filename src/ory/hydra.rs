//! Hydra: OAuth2 client management and introspection on the admin port, the client-credentials
//! token endpoint and revocation on the public port.
//!
//! Client authentication at the token and revocation endpoints uses exactly the method the client
//! was registered with (Hydra answers 401 `invalid_client` otherwise).

use super::fast::FastHttp;
use super::http::{self, AdminAuth, QueryBuf};
use super::transport::Transport;
use super::{Call, ClientOptions};
use crate::ground::AuthMethod;
use crate::ground::{ErrorClass, Verdict};
use crate::secret::Secret;
use base64::Engine as _;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{RequestBuilder, StatusCode, Url};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A registered OAuth2 client and how it authenticates.
#[derive(Clone, Debug)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret: Secret,
    pub auth: AuthMethod,
}

impl OAuthClient {
    /// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1), marked sensitive.
    /// A base64 of two short strings: cheap enough to compute per request, next to Hydra's
    /// pbkdf2 check of the secret.
    pub fn basic_auth_header(&self) -> HeaderValue {
        let id = &self.client_id;
        let secret = self.client_secret.expose();
        let mut raw = String::with_capacity(3 * (id.len() + secret.len()) + 1);
        http::push_encoded(&mut raw, id);
        raw.push(':');
        http::push_encoded(&mut raw, secret);
        let mut value = String::with_capacity(6 + raw.len().div_ceil(3) * 4);
        value.push_str("Basic ");
        base64::engine::general_purpose::STANDARD.encode_string(raw.as_bytes(), &mut value);
        let mut hv = HeaderValue::try_from(value).expect("base64 is a valid header value");
        hv.set_sensitive(true);
        hv
    }

    /// Add this client's authentication to a request whose form body is `form`.
    pub(super) fn authenticate(&self, req: RequestBuilder, form: &mut QueryBuf) -> RequestBuilder {
        match self.auth {
            AuthMethod::ClientSecretBasic => req.header(AUTHORIZATION, self.basic_auth_header()),
            AuthMethod::ClientSecretPost => {
                form.pair("client_id", &self.client_id)
                    .pair("client_secret", self.client_secret.expose());
                req
            }
        }
    }
}

#[derive(Clone)]
pub struct HydraClient {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) http: reqwest::Client,
    /// The client of the admin endpoint (it may send another client certificate).
    pub(super) admin_http: reqwest::Client,
    /// The public base URL, onto which the authorization-code legs move Hydra's redirects.
    pub(super) public: Url,
    /// `{public}/oauth2/auth`
    pub(super) auth: Url,
    /// `{public}/userinfo`
    pub(super) userinfo: Url,
    /// `{admin}/admin/oauth2/auth/requests/`
    pub(super) requests_prefix: String,
    /// `{admin}/admin/clients`
    clients: Url,
    /// `{admin}/admin/clients/`
    client_prefix: String,
    introspect: Url,
    /// The path of `introspect`, for the fast transport.
    introspect_path: String,
    /// The lean transport to the admin port, when it can be used (see `fast`).
    admin_fast: Option<FastHttp>,
    pub(super) token: Url,
    revoke: Url,
    pub(super) admin: AdminAuth,
}

#[derive(Serialize)]
struct CreateClientBody<'a> {
    grant_types: Vec<&'a str>,
    token_endpoint_auth_method: &'static str,
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    redirect_uris: Option<[&'a str; 1]>,
}

/// What a client is registered for: its grant types (space-separated) and, for the
/// authorization-code grant, its one redirect URI.
#[derive(Clone, Copy, Debug)]
pub struct ClientGrants<'a> {
    pub grant_types: &'a str,
    pub redirect_uri: Option<&'a str>,
}

impl Default for ClientGrants<'_> {
    fn default() -> Self {
        ClientGrants {
            grant_types: "client_credentials",
            redirect_uri: None,
        }
    }
}

#[derive(Deserialize)]
struct CreatedClient {
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
}

#[derive(Deserialize)]
struct TokenOk {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
}

#[derive(Deserialize)]
struct Introspection {
    active: bool,
}

fn form_content_type() -> HeaderValue {
    HeaderValue::from_static("application/x-www-form-urlencoded")
}

pub(super) fn json_accept() -> HeaderValue {
    HeaderValue::from_static("application/json")
}

use http::status_err;

impl HydraClient {
    pub fn new(
        http: reqwest::Client,
        public: &Url,
        admin: &Url,
        admin_token: Option<Secret>,
    ) -> Self {
        Self::build((http.clone(), http), public, admin, admin_token, None)
    }

    /// `new`, with introspection sent over the lean transport when the admin URL allows it
    /// (plain `http://`, no credentials, no proxy), bounded by `opts.timeout`.
    pub fn with_options(
        http: reqwest::Client,
        public: &Url,
        admin: &Url,
        opts: &ClientOptions,
    ) -> Self {
        let fast = FastHttp::for_base(admin, opts);
        Self::build(
            (http.clone(), http),
            public,
            admin,
            opts.admin_token.clone(),
            fast,
        )
    }

    /// `with_options` through each endpoint's own transport (TLS settings, HTTP version,
    /// counters); introspection takes the lean transport when the admin one allows it.
    pub fn with_transports(
        transports: (&Transport, &Transport),
        public: &Url,
        admin: &Url,
        opts: &ClientOptions,
    ) -> Self {
        let fast = FastHttp::for_transport(admin, opts, transports.1);
        Self::build(
            (transports.0.http.clone(), transports.1.http.clone()),
            public,
            admin,
            opts.admin_token.clone(),
            fast,
        )
    }

    fn build(
        (http, admin_http): (reqwest::Client, reqwest::Client),
        public: &Url,
        admin: &Url,
        admin_token: Option<Secret>,
        fast: Option<FastHttp>,
    ) -> Self {
        let introspect = http::join(admin, "/admin/oauth2/introspect");
        let inner = Inner {
            http,
            admin_http,
            introspect_path: introspect.path().to_string(),
            admin_fast: fast,
            introspect,
            public: public.clone(),
            auth: http::join(public, "/oauth2/auth"),
            userinfo: http::join(public, "/userinfo"),
            requests_prefix: http::join_str(admin, "/admin/oauth2/auth/requests/"),
            clients: http::join(admin, "/admin/clients"),
            client_prefix: http::join_str(admin, "/admin/clients") + "/",
            token: http::join(public, "/oauth2/token"),
            revoke: http::join(public, "/oauth2/revoke"),
            admin: AdminAuth::new(admin_token.as_ref()),
        };
        HydraClient {
            inner: Arc::new(inner),
        }
    }

    pub(super) fn admin(&self, req: RequestBuilder) -> Result<RequestBuilder, ErrorClass> {
        self.inner.admin.apply(req.header(ACCEPT, json_accept()))
    }

    /// Admin `POST /admin/clients` for a client-credentials client. 201 → `Ok` + the client with
    /// its plaintext secret (only ever returned here).
    pub async fn create_client(&self, auth: AuthMethod, scope: &str) -> Call<OAuthClient> {
        self.create_client_for(auth, scope, ClientGrants::default())
            .await
    }

    /// `create_client` for the given grant types and redirect URI.
    pub async fn create_client_for(
        &self,
        auth: AuthMethod,
        scope: &str,
        grants: ClientGrants<'_>,
    ) -> Call<OAuthClient> {
        let body = CreateClientBody {
            grant_types: grants.grant_types.split_whitespace().collect(),
            token_endpoint_auth_method: auth.as_str(),
            scope,
            redirect_uris: grants.redirect_uri.map(|u| [u]),
        };
        let req = match self.admin(self.inner.admin_http.post(self.inner.clients.clone())) {
            Ok(r) => r.json(&body),
            Err(class) => return Call::err(class),
        };
        let (status, body) = match http::execute(req).await {
            Ok(r) => r,
            Err(class) => return Call::err(class),
        };
        if status != StatusCode::CREATED {
            return status_err(status);
        }
        let created: CreatedClient = match http::decode(&body) {
            Ok(c) => c,
            Err(class) => return Call::err(class),
        };
        let registered = match created.token_endpoint_auth_method.as_deref() {
            None => auth,
            Some(name) => match AuthMethod::from_name(name) {
                Some(m) => m,
                None => return Call::err(ErrorClass::UnexpectedBody),
            },
        };
        match created.client_secret {
            Some(secret)
                if !secret.is_empty() && !created.client_id.is_empty() && registered == auth =>
            {
                Call::ok_with(
                    Verdict::Ok,
                    OAuthClient {
                        client_id: created.client_id,
                        client_secret: Secret::new(secret),
                        auth,
                    },
                )
            }
            _ => Call::err(ErrorClass::UnexpectedBody),
        }
    }

    /// Public `POST /oauth2/token` with `form` and the client's authentication → the answer.
    pub(super) async fn token_grant(
        &self,
        client: &OAuthClient,
        mut form: QueryBuf,
    ) -> Result<(StatusCode, Vec<u8>), ErrorClass> {
        let req = self
            .inner
            .http
            .post(self.inner.token.clone())
            .header(ACCEPT, json_accept())
            .header(CONTENT_TYPE, form_content_type());
        let req = client.authenticate(req, &mut form).body(form.s);
        http::execute(req).await
    }

    /// Public `POST /oauth2/token` with `grant_type=client_credentials`. 200 → `Ok` + the access
    /// token.
    pub async fn token(&self, client: &OAuthClient, scope: Option<&str>) -> Call<Secret> {
        let mut form = QueryBuf::new("", 96);
        form.pair("grant_type", "client_credentials");
        if let Some(scope) = scope {
            form.pair("scope", scope);
        }
        match self.token_grant(client, form).await {
            Ok((StatusCode::OK, body)) => match http::decode::<TokenOk>(&body) {
                Ok(t) if t.access_token.is_empty() => Call::err(ErrorClass::UnexpectedBody),
                Ok(t)
                    if t.token_type
                        .as_deref()
                        .is_some_and(|tt| !tt.eq_ignore_ascii_case("bearer")) =>
                {
                    Call::err(ErrorClass::UnexpectedBody)
                }
                Ok(t) => Call::ok_with(Verdict::Ok, Secret::new(t.access_token)),
                Err(class) => Call::err(class),
            },
            Ok((status, _)) => status_err(status),
            Err(class) => Call::err(class),
        }
    }

    /// Admin `POST /admin/oauth2/introspect`. 200 `active:true` → `Active`, `active:false` →
    /// `Inactive` (expired, revoked and unknown tokens all look like that).
    pub async fn introspect(&self, token: &Secret) -> Call<()> {
        let mut form = QueryBuf::new("", token.expose().len() + 8);
        form.pair("token", token.expose());
        let answer = match &self.inner.admin_fast {
            Some(fast) => {
                let form_type = form_content_type();
                let mut headers = vec![(CONTENT_TYPE, &form_type)];
                match self.inner.admin.header() {
                    Ok(Some(auth)) => headers.push((AUTHORIZATION, auth)),
                    Ok(None) => {}
                    Err(class) => return Call::err(class),
                }
                let target = self.inner.introspect_path.clone();
                let body = form.s.into_bytes().into();
                fast.request(
                    reqwest::Method::POST,
                    target,
                    &headers,
                    body,
                    http::MAX_BODY_BYTES,
                )
                .await
            }
            None => {
                let req =
                    match self.admin(self.inner.admin_http.post(self.inner.introspect.clone())) {
                        Ok(r) => r.header(CONTENT_TYPE, form_content_type()).body(form.s),
                        Err(class) => return Call::err(class),
                    };
                http::execute(req).await
            }
        };
        match answer {
            Ok((StatusCode::OK, body)) => match http::decode::<Introspection>(&body) {
                Ok(Introspection { active: true }) => Call::ok(Verdict::Active),
                Ok(Introspection { active: false }) => Call::ok(Verdict::Inactive),
                Err(class) => Call::err(class),
            },
            Ok((status, _)) => status_err(status),
            Err(class) => Call::err(class),
        }
    }

    /// Public `POST /oauth2/revoke` with the client's authentication. 200 → `Ok` (also for unknown
    /// or already revoked tokens, per RFC 7009).
    pub async fn revoke(&self, client: &OAuthClient, token: &Secret) -> Call<()> {
        let mut form = QueryBuf::new("", token.expose().len() + 96);
        form.pair("token", token.expose());
        let req = self
            .inner
            .http
            .post(self.inner.revoke.clone())
            .header(ACCEPT, json_accept())
            .header(CONTENT_TYPE, form_content_type());
        let req = client.authenticate(req, &mut form).body(form.s);
        http::expect_status(req, StatusCode::OK).await
    }

    /// Admin `DELETE /admin/clients/{id}`. 204 → `Ok`.
    pub async fn delete_client(&self, client_id: &str) -> Call<()> {
        let mut url = QueryBuf::new(&self.inner.client_prefix, client_id.len());
        http::push_encoded(&mut url.s, client_id);
        let req = match self.admin(self.inner.admin_http.delete(url.s)) {
            Ok(r) => r,
            Err(class) => return Call::err(class),
        };
        http::expect_status(req, StatusCode::NO_CONTENT).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ground::Outcome;
    use crate::ory::test_server::{CannedServer, Reply};
    use crate::ory::{http_client, ClientOptions};
    use std::time::Duration;

    const CREATED_BASIC: &str = r#"{"client_id":"c0ffee00-1111-2222-3333-444455556666","client_name":"","client_secret":"generated~secret.1","grant_types":["client_credentials"],"response_types":["code"],"scope":"read write","token_endpoint_auth_method":"client_secret_basic","created_at":"2025-01-01T00:00:00Z"}"#;
    const TOKEN_OK: &str = r#"{"access_token":"ory_at_abc.def","expires_in":3599,"scope":"read","token_type":"bearer"}"#;
    const INVALID_CLIENT: &str = r#"{"error":"invalid_client","error_description":"Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method)."}"#;
    const NOT_FOUND: &str = r#"{"error":"Unable to locate the resource","error_description":""}"#;

    fn hydra(srv: &CannedServer, token: Option<&str>) -> HydraClient {
        let http = http_client(&ClientOptions {
            timeout: Duration::from_secs(2),
            ..ClientOptions::default()
        })
        .unwrap();
        HydraClient::new(http, &srv.base, &srv.base, token.map(Secret::new))
    }

    fn oauth(auth: AuthMethod) -> OAuthClient {
        OAuthClient {
            client_id: "my:client".into(),
            client_secret: Secret::new("s+cr=t/ é"),
            auth,
        }
    }

    fn form(body: &[u8]) -> Vec<(String, String)> {
        serde_urlencoded::from_bytes(body).unwrap()
    }

    #[test]
    fn auth_method_names() {
        assert_eq!(AuthMethod::default(), AuthMethod::ClientSecretBasic);
        for m in [AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretPost] {
            assert_eq!(AuthMethod::from_name(m.as_str()), Some(m));
            assert_eq!(
                serde_json::to_string(&m).unwrap(),
                format!("\"{}\"", m.as_str())
            );
        }
    }

    #[test]
    fn basic_auth_form_encodes_both_parts() {
        let hv = oauth(AuthMethod::ClientSecretBasic).basic_auth_header();
        assert!(hv.is_sensitive());
        let b64 = hv.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(
            std::str::from_utf8(&raw).unwrap(),
            "my%3Aclient:s%2Bcr%3Dt%2F%20%C3%A9"
        );
        // Plain ids and secrets are unchanged by the encoding.
        let plain = OAuthClient {
            client_id: "abc".into(),
            client_secret: Secret::new("def"),
            auth: AuthMethod::ClientSecretBasic,
        };
        assert_eq!(
            plain.basic_auth_header().to_str().unwrap(),
            "Basic YWJjOmRlZg=="
        );
        assert!(!format!("{:?}", oauth(AuthMethod::ClientSecretPost)).contains("s+cr"));
    }

    #[tokio::test]
    async fn create_client_sends_the_documented_body() {
        let srv = CannedServer::start(vec![Reply::new(
            "POST",
            "/admin/clients",
            201,
            CREATED_BASIC,
        )])
        .await;
        let h = hydra(&srv, Some("ory_pat_x"));
        let call = h
            .create_client(AuthMethod::ClientSecretBasic, "read write")
            .await;
        assert_eq!(call.outcome, Outcome::Ok(Verdict::Ok));
        let c = call.value.unwrap();
        assert_eq!(c.client_id, "c0ffee00-1111-2222-3333-444455556666");
        assert_eq!(c.client_secret.expose(), "generated~secret.1");
        assert_eq!(c.auth, AuthMethod::ClientSecretBasic);
        let seen = &srv.seen()[0];
        assert_eq!(seen.header("authorization"), Some("Bearer ory_pat_x"));
        assert_eq!(
            seen.json(),
            serde_json::json!({"grant_types":["client_credentials"],
                "token_endpoint_auth_method":"client_secret_basic","scope":"read write"})
        );
        // Registered with a different method than asked for: decodable but wrong.
        let call = h.create_client(AuthMethod::ClientSecretPost, "read").await;
        assert_eq!(call.outcome, Outcome::Err(ErrorClass::UnexpectedBody));
    }

    #[tokio::test]
    async fn create_client_errors() {
        let srv = CannedServer::start(vec![Reply::new(
            "POST",
            "/admin/clients",
            400,
            r#"{"error":"invalid_client_metadata","error_description":"bad"}"#,
        )])
        .await;
        let call = hydra(&srv, None)
            .create_client(AuthMethod::ClientSecretBasic, "x")
            .await;
        assert_eq!(call.outcome, Outcome::Err(ErrorClass::Status(400)));

        let srv = CannedServer::start(vec![Reply::new(
            "POST",
            "/admin/clients",
            201,
            r#"{"client_id":"c"}"#,
        )])
        .await;
        let call = hydra(&srv, None)
            .create_client(AuthMethod::ClientSecretBasic, "x")
            .await;
        assert_eq!(
            call.outcome,
            Outcome::Err(ErrorClass::UnexpectedBody),
            "no secret came back"
        );
    }

    #[tokio::test]
    async fn token_with_basic_auth() {
        let srv =
            CannedServer::start(vec![Reply::new("POST", "/oauth2/token", 200, TOKEN_OK)]).await;
        let h = hydra(&srv, Some("ory_pat_x"));
        let client = oauth(AuthMethod::ClientSecretBasic);
        let call = h.token(&client, Some("read write")).await;
        assert_eq!(call.outcome, Outcome::Ok(Verdict::Ok));
        assert_eq!(call.value.unwrap().expose(), "ory_at_abc.def");
        let seen = &srv.seen()[0];
        assert_eq!(
            seen.header("authorization"),
            client.basic_auth_header().to_str().ok(),
            "client auth, never the admin token"
        );
        assert_eq!(
            seen.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            form(&seen.body),
            [
                ("grant_type".into(), "client_credentials".into()),
                ("scope".into(), "read write".into())
            ]
        );
    }

    #[tokio::test]
    async fn token_with_post_auth_and_errors() {
        let srv =
            CannedServer::start(vec![Reply::new("POST", "/oauth2/token", 200, TOKEN_OK)]).await;
        let h = hydra(&srv, None);
        let call = h.token(&oauth(AuthMethod::ClientSecretPost), None).await;
        assert_eq!(call.outcome, Outcome::Ok(Verdict::Ok));
        let seen = &srv.seen()[0];
        assert!(seen.header("authorization").is_none());
        let f = form(&seen.body);
        assert_eq!(
            f,
            [
                ("grant_type".to_string(), "client_credentials".to_string()),
                ("client_id".into(), "my:client".into()),
                ("client_secret".into(), "s+cr=t/ é".into()),
            ]
        );

        let srv = CannedServer::start(vec![Reply::new(
            "POST",
            "/oauth2/token",
            401,
            INVALID_CLIENT,
        )])
        .await;
        let call = hydra(&srv, None)
            .token(&oauth(AuthMethod::ClientSecretBasic), None)
            .await;
        assert_eq!(call.outcome, Outcome::Err(ErrorClass::Status(401)));
        assert!(call.value.is_none());

        let srv = CannedServer::start(vec![Reply::new(
            "POST",
            "/oauth2/token",
            200,
            "access_token=x",
        )])
        .await;
        let call = hydra(&srv, None)
            .token(&oauth(AuthMethod::ClientSecretBasic), None)
            .await;
        assert_eq!(call.outcome, Outcome::Err(ErrorClass::Protocol));

        let srv = CannedServer::start(vec![Reply::new(
            "POST",
            "/oauth2/token",
            200,
            r#"{"access_token":"","token_type":"bearer"}"#,
        )])
        .await;
        let call = hydra(&srv, None)
            .token(&oauth(AuthMethod::ClientSecretBasic), None)
            .await;
        assert_eq!(call.outcome, Outcome::Err(ErrorClass::UnexpectedBody));
    }

    async fn introspect_cases(hydra: fn(&CannedServer, Option<&str>) -> HydraClient) {
        let srv = CannedServer::start(vec![Reply::new(
            "POST",
            "/admin/oauth2/introspect",
            200,
            r#"{"active":true,"client_id":"c","sub":"c","exp":1900000000,"iat":1,"iss":"http://127.0.0.1:4444","scope":"read","token_type":"Bearer","token_use":"access_token"}"#,
        )])
        .await;
        let h = hydra(&srv, Some("ory_pat_x"));
        let call = h.introspect(&Secret::new("ory_at_a+b")).await;
        assert_eq!(call.outcome, Outcome::Ok(Verdict::Active));
        let seen = &srv.seen()[0];
        assert_eq!(seen.header("authorization"), Some("Bearer ory_pat_x"));
        assert_eq!(seen.body, b"token=ory_at_a%2Bb");
        assert_eq!(
            seen.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(seen.header("accept"), Some("application/json"));

        let srv = CannedServer::start(vec![Reply::new(
            "POST",
            "/admin/oauth2/introspect",
            200,
            r#"{"active":false}"#,
        )])
        .await;
        let call = hydra(&srv, None).introspect(&Secret::new("t")).await;
        assert_eq!(call.outcome, Outcome::Ok(Verdict::Inactive));

        let srv = CannedServer::start(vec![Reply::new(
            "POST",
            "/admin/oauth2/introspect",
            200,
            r#"{}"#,
        )])
        .await;
        let call = hydra(&srv, None).introspect(&Secret::new("t")).await;
        assert_eq!(call.outcome, Outcome::Err(ErrorClass::Protocol));
    }

    #[tokio::test]
    async fn introspect_active_and_inactive() {
        introspect_cases(hydra).await;
    }

    #[tokio::test]
    async fn introspect_over_the_fast_transport() {
        introspect_cases(|srv, token| {
            let opts = ClientOptions {
                timeout: Duration::from_secs(2),
                admin_token: token.map(Secret::new),
                ..ClientOptions::default()
            };
            let h =
                HydraClient::with_options(http_client(&opts).unwrap(), &srv.base, &srv.base, &opts);
            assert!(h.inner.admin_fast.is_some() || std::env::var_os("HTTP_PROXY").is_some());
            h
        })
        .await;
    }

    #[tokio::test]
    async fn revoke_uses_client_auth() {
        let srv = CannedServer::start(vec![Reply::new("POST", "/oauth2/revoke", 200, "")]).await;
        let h = hydra(&srv, Some("ory_pat_x"));
        let call = h
            .revoke(&oauth(AuthMethod::ClientSecretPost), &Secret::new("tok"))
            .await;
        assert_eq!(call.outcome, Outcome::Ok(Verdict::Ok));
        let seen = &srv.seen()[0];
        assert!(seen.header("authorization").is_none());
        assert_eq!(form(&seen.body)[0], ("token".into(), "tok".into()));
        assert_eq!(
            form(&seen.body)[1],
            ("client_id".into(), "my:client".into())
        );

        let call = h
            .revoke(&oauth(AuthMethod::ClientSecretBasic), &Secret::new("tok"))
            .await;
        assert_eq!(call.outcome, Outcome::Ok(Verdict::Ok));
        assert!(srv.seen()[1]
            .header("authorization")
            .unwrap()
            .starts_with("Basic "));
    }

    #[tokio::test]
    async fn delete_client_204_and_404() {
        let srv = CannedServer::start(vec![
            Reply::new("DELETE", "/admin/clients/my%3Aclient", 204, ""),
            Reply::new("DELETE", "/admin/clients/gone", 404, NOT_FOUND),
        ])
        .await;
        let h = hydra(&srv, None);
        assert_eq!(
            h.delete_client("my:client").await.outcome,
            Outcome::Ok(Verdict::Ok)
        );
        assert_eq!(
            h.delete_client("gone").await.outcome,
            Outcome::Err(ErrorClass::Status(404))
        );
    }
}
