//! Hydra: OAuth2 client management and introspection on the admin port, the client-credentials
//! token endpoint and revocation on the public port.
//!
//! Client authentication at the token and revocation endpoints uses exactly the method the client
//! was registered with (Hydra answers 401 `invalid_client` otherwise).

use super::http::{self, AdminAuth, CallHeaders, QueryBuf};
use super::wire::{json_accept, Answer, Body, Wire};
use super::Call;
use crate::ground::AuthMethod;
use crate::ground::{ErrorClass, Verdict};
use crate::secret::Secret;
use base64::Engine as _;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION};
use reqwest::{Method, StatusCode, Url};
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

    /// This client's authentication for a request whose form body is `form`: the
    /// `Authorization` header to send, or (`client_secret_post`) its credentials added to the
    /// form.
    pub(super) fn authenticate(&self, form: &mut QueryBuf) -> Option<HeaderValue> {
        match self.auth {
            AuthMethod::ClientSecretBasic => Some(self.basic_auth_header()),
            AuthMethod::ClientSecretPost => {
                form.pair("client_id", &self.client_id)
                    .pair("client_secret", self.client_secret.expose());
                None
            }
        }
    }
}

#[derive(Clone)]
pub struct HydraClient {
    pub(super) inner: Arc<Inner>,
}

/// Targets are origin-form (path and query, any base path included): the wires add the rest.
pub(super) struct Inner {
    /// The public endpoint's wire; its reqwest client also carries the browser legs.
    pub(super) public: Arc<Wire>,
    /// The admin endpoint's wire (it may send another client certificate).
    pub(super) admin: Arc<Wire>,
    /// The public base URL, onto which the authorization-code legs move Hydra's redirects.
    pub(super) public_url: Url,
    /// `{public}/oauth2/auth`, a full URL: the browser legs go through reqwest.
    pub(super) auth: Url,
    /// `{public}/userinfo`
    pub(super) userinfo: String,
    /// `{admin}/admin/oauth2/auth/requests/`
    pub(super) requests_prefix: String,
    /// `{admin}/admin/clients`
    clients: String,
    /// `{admin}/admin/clients/`
    client_prefix: String,
    introspect: String,
    token: String,
    revoke: String,
    pub(super) headers: CallHeaders,
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

use http::status_err;

impl HydraClient {
    /// The client over the public and admin endpoints' wires (see `OryClients::builder`).
    pub(super) fn build(
        (public, admin): (Arc<Wire>, Arc<Wire>),
        (public_url, admin_url): (&Url, &Url),
        auth: AdminAuth,
    ) -> Self {
        let path = http::join_path;
        let inner = Inner {
            public,
            admin,
            public_url: public_url.clone(),
            auth: http::join(public_url, "/oauth2/auth"),
            userinfo: path(public_url, "/userinfo"),
            requests_prefix: path(admin_url, "/admin/oauth2/auth/requests/"),
            clients: path(admin_url, "/admin/clients"),
            client_prefix: path(admin_url, "/admin/clients") + "/",
            introspect: path(admin_url, "/admin/oauth2/introspect"),
            token: path(public_url, "/oauth2/token"),
            revoke: path(public_url, "/oauth2/revoke"),
            headers: CallHeaders::new(&auth),
        };
        HydraClient {
            inner: Arc::new(inner),
        }
    }

    /// An admin call, with the admin token when there is one.
    pub(super) async fn admin(
        &self,
        method: Method,
        target: &str,
        body: Option<Body>,
    ) -> Result<Answer, ErrorClass> {
        let headers = self.inner.headers.admin()?;
        self.inner.admin.send(method, target, headers, body).await
    }

    /// A public `POST target` with `form` and the client's authentication.
    async fn post_form(
        &self,
        client: &OAuthClient,
        target: &str,
        mut form: QueryBuf,
    ) -> Result<Answer, ErrorClass> {
        let basic = client.authenticate(&mut form);
        let body = Some(Body::form(form.s));
        let wire = &self.inner.public;
        match basic {
            Some(basic) => {
                let headers = [(ACCEPT, json_accept()), (AUTHORIZATION, basic)];
                wire.send(Method::POST, target, &headers, body).await
            }
            None => {
                let headers = self.inner.headers.public();
                wire.send(Method::POST, target, headers, body).await
            }
        }
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
        Call::attempt(async {
            let body = Body::json(&CreateClientBody {
                grant_types: grants.grant_types.split_whitespace().collect(),
                token_endpoint_auth_method: auth.as_str(),
                scope,
                redirect_uris: grants.redirect_uri.map(|u| [u]),
            })?;
            let answer = self.admin(Method::POST, &self.inner.clients, Some(body));
            let (status, body) = answer.await?.whole()?;
            if status != StatusCode::CREATED {
                return Ok(status_err(status));
            }
            let created: CreatedClient = http::decode(&body)?;
            let registered = match created.token_endpoint_auth_method.as_deref() {
                None => auth,
                Some(name) => AuthMethod::from_name(name).ok_or(ErrorClass::UnexpectedBody)?,
            };
            Ok(match created.client_secret {
                Some(secret)
                    if !secret.is_empty()
                        && !created.client_id.is_empty()
                        && registered == auth =>
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
            })
        })
        .await
    }

    /// Public `POST /oauth2/token` with `form` and the client's authentication → the answer.
    pub(super) async fn token_grant(
        &self,
        client: &OAuthClient,
        form: QueryBuf,
    ) -> Result<(StatusCode, bytes::Bytes), ErrorClass> {
        self.post_form(client, &self.inner.token, form)
            .await?
            .whole()
    }

    /// Public `POST /oauth2/token` with `grant_type=client_credentials`. 200 → `Ok` + the access
    /// token.
    pub async fn token(&self, client: &OAuthClient, scope: Option<&str>) -> Call<Secret> {
        let mut form = QueryBuf::new("", 96);
        form.pair("grant_type", "client_credentials");
        if let Some(scope) = scope {
            form.pair("scope", scope);
        }
        Call::attempt(async {
            Ok(match self.token_grant(client, form).await? {
                (StatusCode::OK, body) => match http::decode::<TokenOk>(&body)? {
                    t if t.access_token.is_empty() => Call::err(ErrorClass::UnexpectedBody),
                    t if t
                        .token_type
                        .as_deref()
                        .is_some_and(|tt| !tt.eq_ignore_ascii_case("bearer")) =>
                    {
                        Call::err(ErrorClass::UnexpectedBody)
                    }
                    t => Call::ok_with(Verdict::Ok, Secret::new(t.access_token)),
                },
                (status, _) => status_err(status),
            })
        })
        .await
    }

    /// Admin `POST /admin/oauth2/introspect`. 200 `active:true` → `Active`, `active:false` →
    /// `Inactive` (expired, revoked and unknown tokens all look like that).
    pub async fn introspect(&self, token: &Secret) -> Call<()> {
        let mut form = QueryBuf::new("", token.expose().len() + 8);
        form.pair("token", token.expose());
        Call::attempt(async {
            let answer = self.admin(
                Method::POST,
                &self.inner.introspect,
                Some(Body::form(form.s)),
            );
            Ok(match answer.await?.whole()? {
                (StatusCode::OK, body) => match http::decode::<Introspection>(&body)? {
                    Introspection { active: true } => Call::ok(Verdict::Active),
                    Introspection { active: false } => Call::ok(Verdict::Inactive),
                },
                (status, _) => status_err(status),
            })
        })
        .await
    }

    /// Public `POST /oauth2/revoke` with the client's authentication. 200 → `Ok` (also for unknown
    /// or already revoked tokens, per RFC 7009).
    pub async fn revoke(&self, client: &OAuthClient, token: &Secret) -> Call<()> {
        let mut form = QueryBuf::new("", token.expose().len() + 96);
        form.pair("token", token.expose());
        Call::attempt(async {
            let answer = self.post_form(client, &self.inner.revoke, form).await?;
            Ok(http::expect(answer.status()?, StatusCode::OK))
        })
        .await
    }

    /// Admin `DELETE /admin/clients/{id}`. 204 → `Ok`.
    pub async fn delete_client(&self, client_id: &str) -> Call<()> {
        let mut url = QueryBuf::new(&self.inner.client_prefix, client_id.len());
        http::push_encoded(&mut url.s, client_id);
        Call::attempt(async {
            let answer = self.admin(Method::DELETE, &url.s, None).await?;
            Ok(http::expect(answer.status()?, StatusCode::NO_CONTENT))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ground::Outcome;
    use crate::ory::test_server::clients_for;
    use crate::ory::test_server::{CannedServer, Reply};

    const CREATED_BASIC: &str = r#"{"client_id":"c0ffee00-1111-2222-3333-444455556666","client_name":"","client_secret":"generated~secret.1","grant_types":["client_credentials"],"response_types":["code"],"scope":"read write","token_endpoint_auth_method":"client_secret_basic","created_at":"2025-01-01T00:00:00Z"}"#;
    const TOKEN_OK: &str = r#"{"access_token":"ory_at_abc.def","expires_in":3599,"scope":"read","token_type":"bearer"}"#;
    const INVALID_CLIENT: &str = r#"{"error":"invalid_client","error_description":"Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method)."}"#;
    const NOT_FOUND: &str = r#"{"error":"Unable to locate the resource","error_description":""}"#;

    fn hydra(srv: &CannedServer, token: Option<&str>) -> HydraClient {
        clients_for(srv, token, false).hydra.unwrap()
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
            let h = clients_for(srv, token, true).hydra.unwrap();
            assert!(h.inner.admin.is_lean());
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
