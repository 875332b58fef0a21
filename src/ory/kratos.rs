//! Kratos: API (native) self-service flows on the public port, identity admin on the admin port.
//!
//! Every request sends `Accept: application/json` (otherwise some error paths redirect) and never
//! a Cookie or Origin header (Kratos rejects those on API flows; the shared client has no cookie
//! store). The admin token goes only to admin calls. Submit URLs are built from the configured
//! public URL, never from `ui.action` (which holds Kratos's own idea of its host name).

use super::http::{self, AdminAuth, CallHeaders, QueryBuf};
use super::wire::{json_accept, Answer, Body, Wire};
use super::Call;
use crate::ground::{ErrorClass, Verdict};
use crate::secret::Secret;
use reqwest::header::{HeaderName, ACCEPT};
use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

mod registration;
pub use registration::{form_inputs, FormInput};

/// Message id: "The provided credentials are invalid" (login).
pub const MSG_INVALID_CREDENTIALS: i64 = 4000006;
/// Message id: "An account with the same identifier ... exists already" (registration).
pub const MSG_DUPLICATE_IDENTIFIER: i64 = 4000007;

#[derive(Clone)]
pub struct KratosClient {
    inner: Arc<Inner>,
}

/// Targets are origin-form (path and query, any base path included): the wires add the rest.
struct Inner {
    /// The public endpoint's wire.
    public: Arc<Wire>,
    /// The admin endpoint's wire (it may send another client certificate).
    admin: Arc<Wire>,
    registration_flow: String,
    /// `{public}/self-service/registration?flow=`
    registration_submit: String,
    login_flow: String,
    /// `{public}/self-service/login?flow=`
    login_submit: String,
    whoami: String,
    logout: String,
    /// `{admin}/admin/identities?credentials_identifier=`
    identities_by_identifier: String,
    /// `{admin}/admin/identities/`
    identity_prefix: String,
    /// `{public}/schemas/`
    schemas_prefix: String,
    /// Per identity schema id: where its password identifiers are in the traits.
    identifier_paths: registration::IdentifierPaths,
    headers: CallHeaders,
}

const X_SESSION_TOKEN: HeaderName = HeaderName::from_static("x-session-token");

/// Identity traits of the load-test schema: email plus `name.first` / `name.last`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Traits {
    pub email: String,
    pub first: String,
    pub last: String,
}

#[derive(Debug)]
pub struct Registered {
    pub identity_id: String,
    /// Only present when the `session` hook runs after password registration.
    pub session_token: Option<Secret>,
    /// The identity schema the identity was created with.
    pub schema_id: String,
}

#[derive(Debug)]
pub struct LoggedIn {
    pub identity_id: String,
    pub session_token: Secret,
}

#[derive(Serialize)]
struct RegistrationBody<'a> {
    method: &'static str,
    password: &'a str,
    traits: TraitsBody<'a>,
}

#[derive(Serialize)]
struct TraitsBody<'a> {
    email: &'a str,
    name: NameBody<'a>,
}

#[derive(Serialize)]
struct NameBody<'a> {
    first: &'a str,
    last: &'a str,
}

#[derive(Serialize)]
struct LoginBody<'a> {
    method: &'static str,
    identifier: &'a str,
    password: &'a str,
}

#[derive(Serialize)]
struct LogoutBody<'a> {
    session_token: &'a str,
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

#[derive(Deserialize)]
struct RegisteredIdentity {
    id: String,
    #[serde(default)]
    schema_id: String,
}

#[derive(Deserialize)]
struct RegistrationOk {
    identity: RegisteredIdentity,
    #[serde(default)]
    session_token: Option<String>,
}

#[derive(Deserialize)]
struct LoginOk {
    #[serde(default)]
    session_token: Option<String>,
    session: SessionIdentity,
}

#[derive(Deserialize)]
struct SessionIdentity {
    identity: IdOnly,
}

#[derive(Deserialize)]
struct SessionActive {
    #[serde(default)]
    active: Option<bool>,
}

/// Just the flow-wide message ids of a flow object returned with 400.
#[derive(Deserialize)]
struct FlowMessages {
    #[serde(default)]
    ui: Option<UiMessages>,
}

#[derive(Deserialize)]
struct UiMessages {
    #[serde(default)]
    messages: Option<Vec<MessageId>>,
}

#[derive(Deserialize)]
struct MessageId {
    id: i64,
}

/// Whether a 400 flow body carries the flow-wide message `id`.
fn has_message(body: &[u8], id: i64) -> bool {
    match http::decode::<FlowMessages>(body) {
        Ok(f) => {
            f.ui.and_then(|ui| ui.messages)
                .is_some_and(|m| m.iter().any(|m| m.id == id))
        }
        Err(_) => false,
    }
}

use http::status_err;

impl KratosClient {
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
            whoami: path(public_url, "/sessions/whoami"),
            registration_flow: path(public_url, "/self-service/registration/api"),
            registration_submit: path(public_url, "/self-service/registration") + "?flow=",
            login_flow: path(public_url, "/self-service/login/api"),
            login_submit: path(public_url, "/self-service/login") + "?flow=",
            logout: path(public_url, "/self-service/logout/api"),
            identities_by_identifier: path(admin_url, "/admin/identities")
                + "?credentials_identifier=",
            identity_prefix: path(admin_url, "/admin/identities") + "/",
            schemas_prefix: path(public_url, "/schemas") + "/",
            identifier_paths: registration::IdentifierPaths::default(),
            headers: CallHeaders::new(&auth),
        };
        KratosClient {
            inner: Arc::new(inner),
        }
    }

    /// A public call: `method target` with `Accept: application/json` and an optional body.
    async fn public(
        &self,
        method: Method,
        target: &str,
        body: Option<Body>,
    ) -> Result<Answer, ErrorClass> {
        let headers = self.inner.headers.public();
        self.inner.public.send(method, target, headers, body).await
    }

    /// An admin call: with the admin token, when there is one.
    async fn admin(&self, method: Method, target: &str) -> Result<Answer, ErrorClass> {
        let headers = self.inner.headers.admin()?;
        self.inner.admin.send(method, target, headers, None).await
    }

    /// Create an API flow and return the submit URL for it.
    async fn start_flow(&self, flow: &str, submit_prefix: &str) -> Result<String, ErrorClass> {
        let answer = self.public(Method::GET, flow, None);
        let (status, body) = answer.await?.whole()?;
        if status != StatusCode::OK {
            return Err(ErrorClass::Status(status.as_u16()));
        }
        let flow: IdOnly = http::decode(&body)?;
        if flow.id.is_empty() {
            return Err(ErrorClass::UnexpectedBody);
        }
        let mut url = QueryBuf::new(submit_prefix, flow.id.len());
        http::push_encoded(&mut url.s, &flow.id);
        Ok(url.s)
    }

    /// Password registration through an API flow with the quickstart schema's traits.
    pub async fn register(&self, traits: &Traits, password: &Secret) -> Call<Registered> {
        let submit = match self.start_registration().await {
            Ok((submit, _)) => submit,
            Err(class) => return Call::err(class),
        };
        let body = RegistrationBody {
            method: "password",
            password: password.expose(),
            traits: TraitsBody {
                email: &traits.email,
                name: NameBody {
                    first: &traits.first,
                    last: &traits.last,
                },
            },
        };
        self.submit_registration(submit, &body).await
    }

    /// Creates a registration API flow: the submit URL and the flow's `traits.*` inputs.
    pub async fn start_registration(&self) -> Result<(String, Vec<FormInput>), ErrorClass> {
        let inner = &self.inner;
        let answer = self.public(Method::GET, &inner.registration_flow, None);
        let (status, body) = answer.await?.whole()?;
        if status != StatusCode::OK {
            return Err(ErrorClass::Status(status.as_u16()));
        }
        let flow: IdOnly = http::decode(&body)?;
        if flow.id.is_empty() {
            return Err(ErrorClass::UnexpectedBody);
        }
        let mut url = QueryBuf::new(&inner.registration_submit, flow.id.len());
        http::push_encoded(&mut url.s, &flow.id);
        Ok((url.s, form_inputs(&body)))
    }

    /// Submits a registration flow. 200 → `Ok`; any other status (including the 400 duplicate,
    /// message id 4000007) → `Status(code)`.
    pub async fn submit_registration(
        &self,
        submit: String,
        body: &impl Serialize,
    ) -> Call<Registered> {
        Call::attempt(async {
            let answer = self.public(Method::POST, &submit, Some(Body::json(body)?));
            let (status, body) = answer.await?.whole()?;
            if status != StatusCode::OK {
                // 400 with 4000007 (duplicate) is deliberately an error too: Status(400).
                return Ok(status_err(status));
            }
            Ok(match http::decode::<RegistrationOk>(&body)? {
                ok if ok.identity.id.is_empty() => Call::err(ErrorClass::UnexpectedBody),
                ok => Call::ok_with(
                    Verdict::Ok,
                    Registered {
                        identity_id: ok.identity.id,
                        session_token: ok.session_token.filter(|t| !t.is_empty()).map(Secret::new),
                        schema_id: ok.identity.schema_id,
                    },
                ),
            })
        })
        .await
    }

    /// Password login through an API flow. 200 with a session token → `Valid`; 400 with message id
    /// 4000006 → `Invalid`; anything else → its error class.
    pub async fn login(&self, identifier: &str, password: &Secret) -> Call<LoggedIn> {
        Call::attempt(async {
            let inner = &self.inner;
            let submit = self
                .start_flow(&inner.login_flow, &inner.login_submit)
                .await?;
            let body = Body::json(&LoginBody {
                method: "password",
                identifier,
                password: password.expose(),
            })?;
            let answer = self.public(Method::POST, &submit, Some(body));
            let (status, body) = answer.await?.whole()?;
            Ok(match status {
                StatusCode::OK => match http::decode::<LoginOk>(&body)? {
                    LoginOk {
                        session_token: Some(token),
                        session,
                    } if !token.is_empty() && !session.identity.id.is_empty() => Call::ok_with(
                        Verdict::Valid,
                        LoggedIn {
                            identity_id: session.identity.id,
                            session_token: Secret::new(token),
                        },
                    ),
                    _ => Call::err(ErrorClass::UnexpectedBody),
                },
                StatusCode::BAD_REQUEST if has_message(&body, MSG_INVALID_CREDENTIALS) => {
                    Call::ok(Verdict::Invalid)
                }
                _ => status_err(status),
            })
        })
        .await
    }

    /// `GET /sessions/whoami` with `X-Session-Token`. 200 → `Active`; 401 → `Inactive`.
    pub async fn whoami(&self, token: &Secret) -> Call<()> {
        Call::attempt(async {
            let headers = [
                (ACCEPT, json_accept()),
                (X_SESSION_TOKEN, http::secret_header(token)?),
            ];
            Ok(
                match self.inner.public.get(&self.inner.whoami, &headers).await? {
                    (StatusCode::OK, body) => match http::decode::<SessionActive>(&body)? {
                        SessionActive {
                            active: Some(false),
                        } => Call::ok(Verdict::Inactive),
                        _ => Call::ok(Verdict::Active),
                    },
                    (StatusCode::UNAUTHORIZED, _) => Call::ok(Verdict::Inactive),
                    (status, _) => status_err(status),
                },
            )
        })
        .await
    }

    /// `DELETE /self-service/logout/api` with `{"session_token"}`. 204 → `Ok`.
    pub async fn logout(&self, token: &Secret) -> Call<()> {
        Call::attempt(async {
            let body = Body::json(&LogoutBody {
                session_token: token.expose(),
            })?;
            let answer = self.public(Method::DELETE, &self.inner.logout, Some(body));
            Ok(http::expect(
                answer.await?.status()?,
                StatusCode::NO_CONTENT,
            ))
        })
        .await
    }

    /// Admin `GET /admin/identities?credentials_identifier=<email>`. Non-empty array → `Ok` + the
    /// first identity id; `[]` → `Absent`.
    pub async fn lookup_identity(&self, email: &str) -> Call<String> {
        let mut url = QueryBuf::new(&self.inner.identities_by_identifier, email.len() + 8);
        http::push_encoded(&mut url.s, email);
        Call::attempt(async {
            Ok(match self.admin(Method::GET, &url.s).await?.whole()? {
                (StatusCode::OK, body) => {
                    match http::decode::<Vec<IdOnly>>(&body)?.into_iter().next() {
                        Some(first) if first.id.is_empty() => Call::err(ErrorClass::UnexpectedBody),
                        Some(first) => Call::ok_with(Verdict::Ok, first.id),
                        None => Call::ok(Verdict::Absent),
                    }
                }
                (status, _) => status_err(status),
            })
        })
        .await
    }

    /// Admin `DELETE /admin/identities/{id}`. 204 → `Ok`.
    pub async fn delete_identity(&self, id: &str) -> Call<()> {
        let mut url = QueryBuf::new(&self.inner.identity_prefix, id.len());
        http::push_encoded(&mut url.s, id);
        Call::attempt(async {
            let answer = self.admin(Method::DELETE, &url.s).await?;
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
    use crate::ory::test_server::{closed_port_url, CannedServer, Reply, Seen};
    use crate::ory::{ClientOptions, OryClients};

    const FLOW_ID: &str = "0b7f5b2c-6f0e-4d3b-9a3e-6a8e3f1c2d4e";
    // ui.action deliberately points at an internal host name: it must not be used.
    const REG_FLOW: &str = r#"{"id":"0b7f5b2c-6f0e-4d3b-9a3e-6a8e3f1c2d4e","type":"api","expires_at":"2030-01-01T00:00:00Z","issued_at":"2025-01-01T00:00:00Z","request_url":"http://kratos-pod-7:4433/self-service/registration/api","ui":{"action":"http://kratos-pod-7:4433/self-service/registration?flow=0b7f5b2c-6f0e-4d3b-9a3e-6a8e3f1c2d4e","method":"POST","nodes":[{"type":"input","group":"default","attributes":{"name":"traits.email","type":"email","required":true},"messages":[],"meta":{}}]},"state":"choose_method"}"#;
    const LOGIN_FLOW: &str = r#"{"id":"0b7f5b2c-6f0e-4d3b-9a3e-6a8e3f1c2d4e","type":"api","refresh":false,"requested_aal":"aal1","ui":{"action":"http://kratos-pod-7:4433/self-service/login?flow=0b7f5b2c-6f0e-4d3b-9a3e-6a8e3f1c2d4e","method":"POST","nodes":[]},"state":"choose_method"}"#;
    const REG_OK: &str = r#"{"identity":{"id":"9f425a8d-7efc-4768-8f23-7647a74fdf13","schema_id":"default","traits":{"email":"a+b@example.com","name":{"first":"A","last":"B"}},"state":"active"},"session_token":"ory_st_abc","session":{"id":"s1","active":true,"identity":{"id":"9f425a8d-7efc-4768-8f23-7647a74fdf13"}},"continue_with":[{"action":"set_ory_session_token","ory_session_token":"ory_st_abc"}]}"#;
    const REG_OK_NO_SESSION: &str = r#"{"identity":{"id":"9f425a8d-7efc-4768-8f23-7647a74fdf13","traits":{}},"continue_with":null}"#;
    const REG_DUPLICATE: &str = r#"{"id":"0b7f5b2c-6f0e-4d3b-9a3e-6a8e3f1c2d4e","type":"api","ui":{"action":"x","method":"POST","nodes":[],"messages":[{"id":4000007,"text":"An account with the same identifier (email, phone, username, ...) exists already.","type":"error","context":{}}]},"state":"choose_method"}"#;
    const LOGIN_OK: &str = r#"{"session_token":"ory_st_xyz","session":{"id":"s2","active":true,"expires_at":"2030-01-01T00:00:00Z","authenticator_assurance_level":"aal1","identity":{"id":"9f425a8d-7efc-4768-8f23-7647a74fdf13","traits":{"email":"a@b.c"}}}}"#;
    const LOGIN_INVALID: &str = r#"{"id":"0b7f5b2c-6f0e-4d3b-9a3e-6a8e3f1c2d4e","type":"api","ui":{"action":"x","method":"POST","nodes":[{"type":"input","group":"password","attributes":{"name":"identifier"},"messages":[]}],"messages":[{"id":4000006,"text":"The provided credentials are invalid, check for spelling mistakes in your password or username, email address, or phone number.","type":"error"}]},"state":"choose_method"}"#;
    const PASSWORD_POLICY: &str = r#"{"id":"f","ui":{"nodes":[{"attributes":{"name":"password"},"messages":[{"id":4000032,"text":"too short","type":"error"}]}]}}"#;
    const WHOAMI_OK: &str = r#"{"id":"s2","active":true,"identity":{"id":"9f425a8d"}}"#;
    const WHOAMI_401: &str = r#"{"error":{"code":401,"status":"Unauthorized","reason":"No valid session credentials found in the request.","message":"The request could not be authorized"}}"#;
    const ENVELOPE_500: &str = r#"{"error":{"code":500,"status":"Internal Server Error","reason":"database is locked","message":"An internal server error occurred, please contact the system administrator"}}"#;
    const ENVELOPE_404: &str =
        r#"{"error":{"code":404,"status":"Not Found","message":"Unable to locate the resource"}}"#;

    fn client_for(srv: &CannedServer, token: Option<&str>) -> KratosClient {
        clients_for(srv, token, false).kratos.unwrap()
    }

    /// The client of a Kratos at `public` and `admin`, with the default options.
    fn kratos_at(public: &Url, admin: &Url) -> KratosClient {
        let mut endpoints = crate::ground::Endpoints::default();
        endpoints[crate::ground::Endpoint::KratosPublic] = Some(public.clone());
        endpoints[crate::ground::Endpoint::KratosAdmin] = Some(admin.clone());
        let opts = ClientOptions::default();
        let clients = OryClients::builder(&endpoints, &opts).build().unwrap();
        clients.kratos.unwrap()
    }

    fn traits() -> Traits {
        Traits {
            email: "a+b@example.com".into(),
            first: "A".into(),
            last: "B".into(),
        }
    }

    fn assert_public(seen: &Seen) {
        assert_eq!(seen.header("accept"), Some("application/json"), "{seen:?}");
        for h in ["cookie", "origin", "authorization"] {
            assert!(
                seen.header(h).is_none(),
                "{h} sent on a public call: {seen:?}"
            );
        }
    }

    #[test]
    fn submit_urls_are_built_from_the_public_base() {
        let public = Url::parse("http://127.0.0.1:4434/prefix/").unwrap();
        let admin = Url::parse("http://127.0.0.1:4433").unwrap();
        let k = kratos_at(&public, &admin);
        let (on_public, on_admin) = (&k.inner.public, &k.inner.admin);
        assert_eq!(
            on_public.url(&k.inner.registration_submit),
            "http://127.0.0.1:4434/prefix/self-service/registration?flow="
        );
        assert_eq!(
            on_public.url(&k.inner.login_flow),
            "http://127.0.0.1:4434/prefix/self-service/login/api"
        );
        assert_eq!(
            on_admin.url(&k.inner.identities_by_identifier),
            "http://127.0.0.1:4433/admin/identities?credentials_identifier="
        );
    }

    #[test]
    fn message_ids_are_found_only_flow_wide() {
        assert!(has_message(
            LOGIN_INVALID.as_bytes(),
            MSG_INVALID_CREDENTIALS
        ));
        assert!(has_message(
            REG_DUPLICATE.as_bytes(),
            MSG_DUPLICATE_IDENTIFIER
        ));
        assert!(!has_message(PASSWORD_POLICY.as_bytes(), 4000032));
        assert!(!has_message(b"not json", MSG_INVALID_CREDENTIALS));
    }

    #[tokio::test]
    async fn register_posts_to_the_public_url_and_returns_the_identity() {
        let srv = CannedServer::start(vec![
            Reply::new("GET", "/self-service/registration/api", 200, REG_FLOW),
            Reply::new("POST", "/self-service/registration", 200, REG_OK),
        ])
        .await;
        let k = client_for(&srv, Some("ory_pat_admin"));
        let call = k.register(&traits(), &Secret::new("s3cret-Pa55")).await;
        assert_eq!(call.outcome, Outcome::Ok(Verdict::Ok));
        let reg = call.value.unwrap();
        assert_eq!(reg.identity_id, "9f425a8d-7efc-4768-8f23-7647a74fdf13");
        assert_eq!(reg.session_token.unwrap().expose(), "ory_st_abc");

        let seen = srv.seen();
        assert_eq!(seen.len(), 2);
        assert_eq!(
            (seen[0].method.as_str(), seen[0].target.as_str()),
            ("GET", "/self-service/registration/api")
        );
        assert_eq!(seen[1].method, "POST");
        assert_eq!(
            seen[1].target,
            format!("/self-service/registration?flow={FLOW_ID}")
        );
        assert_eq!(seen[1].header("content-type"), Some("application/json"));
        seen.iter().for_each(assert_public);
        assert_eq!(
            seen[1].json(),
            serde_json::json!({"method":"password","password":"s3cret-Pa55",
                "traits":{"email":"a+b@example.com","name":{"first":"A","last":"B"}}})
        );
    }

    #[tokio::test]
    async fn register_without_session_hook_has_no_token() {
        let srv = CannedServer::start(vec![
            Reply::new("GET", "/self-service/registration/api", 200, REG_FLOW),
            Reply::new("POST", "/self-service/registration", 200, REG_OK_NO_SESSION),
        ])
        .await;
        let call = client_for(&srv, None)
            .register(&traits(), &Secret::new("pw"))
            .await;
        assert_eq!(call.outcome, Outcome::Ok(Verdict::Ok));
        assert!(call.value.unwrap().session_token.is_none());
    }

    #[tokio::test]
    async fn register_duplicate_is_status_400() {
        let srv = CannedServer::start(vec![
            Reply::new("GET", "/self-service/registration/api", 200, REG_FLOW),
            Reply::new("POST", "/self-service/registration", 400, REG_DUPLICATE),
        ])
        .await;
        let call = client_for(&srv, None)
            .register(&traits(), &Secret::new("pw"))
            .await;
        assert_eq!(call.outcome, Outcome::Err(ErrorClass::Status(400)));
        assert!(call.value.is_none());
    }

    #[tokio::test]
    async fn register_flow_creation_failure_is_that_error() {
        let srv = CannedServer::start(vec![Reply::new(
            "GET",
            "/self-service/registration/api",
            500,
            ENVELOPE_500,
        )])
        .await;
        let call = client_for(&srv, None)
            .register(&traits(), &Secret::new("pw"))
            .await;
        assert_eq!(call.outcome, Outcome::Err(ErrorClass::Status(500)));
        assert_eq!(
            srv.seen().len(),
            1,
            "no submit after a failed flow creation"
        );

        let srv = CannedServer::start(vec![Reply::new(
            "GET",
            "/self-service/registration/api",
            200,
            "<html>oops</html>",
        )])
        .await;
        let call = client_for(&srv, None)
            .register(&traits(), &Secret::new("pw"))
            .await;
        assert_eq!(call.outcome, Outcome::Err(ErrorClass::Protocol));
    }

    #[tokio::test]
    async fn login_valid_invalid_and_other_400() {
        let srv = CannedServer::start(vec![
            Reply::new("GET", "/self-service/login/api", 200, LOGIN_FLOW),
            Reply::new("POST", "/self-service/login", 200, LOGIN_OK),
        ])
        .await;
        let call = client_for(&srv, Some("adm"))
            .login("a+b@example.com", &Secret::new("pw"))
            .await;
        assert_eq!(call.outcome, Outcome::Ok(Verdict::Valid));
        let li = call.value.unwrap();
        assert_eq!(li.session_token.expose(), "ory_st_xyz");
        assert_eq!(li.identity_id, "9f425a8d-7efc-4768-8f23-7647a74fdf13");
        let seen = srv.seen();
        seen.iter().for_each(assert_public);
        assert_eq!(
            seen[1].target,
            format!("/self-service/login?flow={FLOW_ID}")
        );
        assert_eq!(
            seen[1].json(),
            serde_json::json!({"method":"password","identifier":"a+b@example.com","password":"pw"})
        );

        let srv = CannedServer::start(vec![
            Reply::new("GET", "/self-service/login/api", 200, LOGIN_FLOW),
            Reply::new("POST", "/self-service/login", 400, LOGIN_INVALID),
        ])
        .await;
        let call = client_for(&srv, None)
            .login("x@y.z", &Secret::new("bad"))
            .await;
        assert_eq!(call.outcome, Outcome::Ok(Verdict::Invalid));
        assert!(call.value.is_none());

        let srv = CannedServer::start(vec![
            Reply::new("GET", "/self-service/login/api", 200, LOGIN_FLOW),
            Reply::new("POST", "/self-service/login", 400, PASSWORD_POLICY),
        ])
        .await;
        let call = client_for(&srv, None)
            .login("x@y.z", &Secret::new("bad"))
            .await;
        assert_eq!(call.outcome, Outcome::Err(ErrorClass::Status(400)));
    }

    #[tokio::test]
    async fn login_200_without_token_is_unexpected_body() {
        let srv = CannedServer::start(vec![
            Reply::new("GET", "/self-service/login/api", 200, LOGIN_FLOW),
            Reply::new(
                "POST",
                "/self-service/login",
                200,
                r#"{"session":{"identity":{"id":"i"}}}"#,
            ),
        ])
        .await;
        let call = client_for(&srv, None)
            .login("x@y.z", &Secret::new("pw"))
            .await;
        assert_eq!(call.outcome, Outcome::Err(ErrorClass::UnexpectedBody));
    }

    async fn whoami_cases(client_for: fn(&CannedServer, Option<&str>) -> KratosClient) {
        let srv =
            CannedServer::start(vec![Reply::new("GET", "/sessions/whoami", 200, WHOAMI_OK)]).await;
        let k = client_for(&srv, Some("adm"));
        assert_eq!(
            k.whoami(&Secret::new("ory_st_1")).await.outcome,
            Outcome::Ok(Verdict::Active)
        );
        let seen = srv.seen();
        assert_public(&seen[0]);
        assert_eq!(seen[0].header("x-session-token"), Some("ory_st_1"));

        let srv =
            CannedServer::start(vec![Reply::new("GET", "/sessions/whoami", 401, WHOAMI_401)]).await;
        let k = client_for(&srv, None);
        assert_eq!(
            k.whoami(&Secret::new("ory_st_1")).await.outcome,
            Outcome::Ok(Verdict::Inactive)
        );

        let srv = CannedServer::start(vec![Reply::new(
            "GET",
            "/sessions/whoami",
            500,
            ENVELOPE_500,
        )])
        .await;
        let k = client_for(&srv, None);
        assert_eq!(
            k.whoami(&Secret::new("t")).await.outcome,
            Outcome::Err(ErrorClass::Status(500))
        );
        assert_eq!(
            k.whoami(&Secret::new("bad\ntoken")).await.outcome,
            Outcome::Err(ErrorClass::Protocol)
        );
    }

    #[tokio::test]
    async fn whoami_active_inactive_and_error() {
        whoami_cases(client_for).await;
    }

    #[tokio::test]
    async fn whoami_over_the_fast_transport() {
        whoami_cases(|srv, token| {
            let k = clients_for(srv, token, true).kratos.unwrap();
            assert!(k.inner.public.is_lean());
            k
        })
        .await;
    }

    #[tokio::test]
    async fn logout_sends_the_token_in_a_json_body() {
        let srv = CannedServer::start(vec![Reply::new(
            "DELETE",
            "/self-service/logout/api",
            204,
            "",
        )])
        .await;
        let k = client_for(&srv, Some("adm"));
        assert_eq!(
            k.logout(&Secret::new("ory_st_1")).await.outcome,
            Outcome::Ok(Verdict::Ok)
        );
        let seen = srv.seen();
        assert_public(&seen[0]);
        assert_eq!(seen[0].header("content-type"), Some("application/json"));
        assert_eq!(
            seen[0].json(),
            serde_json::json!({"session_token":"ory_st_1"})
        );

        let srv = CannedServer::start(vec![Reply::new(
            "DELETE",
            "/self-service/logout/api",
            403,
            ENVELOPE_404,
        )])
        .await;
        let k = client_for(&srv, None);
        assert_eq!(
            k.logout(&Secret::new("x")).await.outcome,
            Outcome::Err(ErrorClass::Status(403))
        );
    }

    #[tokio::test]
    async fn lookup_identity_encodes_the_email_and_sends_the_admin_token() {
        let srv = CannedServer::start(vec![Reply::new(
            "GET",
            "/admin/identities",
            200,
            r#"[{"id":"id-1","schema_id":"default","credentials":{"password":{"type":"password","identifiers":["a+b@example.com"]}},"traits":{}},{"id":"id-2"}]"#,
        )])
        .await;
        let k = client_for(&srv, Some("ory_pat_admin"));
        let call = k.lookup_identity("a+b@example.com").await;
        assert_eq!(call.outcome, Outcome::Ok(Verdict::Ok));
        assert_eq!(call.value.as_deref(), Some("id-1"));
        let seen = srv.seen();
        assert_eq!(
            seen[0].target,
            "/admin/identities?credentials_identifier=a%2Bb%40example.com"
        );
        assert_eq!(
            seen[0].header("authorization"),
            Some("Bearer ory_pat_admin")
        );
        assert_eq!(seen[0].header("accept"), Some("application/json"));

        let srv =
            CannedServer::start(vec![Reply::new("GET", "/admin/identities", 200, "[]")]).await;
        let call = client_for(&srv, None)
            .lookup_identity("nobody@example.com")
            .await;
        assert_eq!(call.outcome, Outcome::Ok(Verdict::Absent));
        assert!(call.value.is_none());
        assert!(srv.seen()[0].header("authorization").is_none());

        let srv = CannedServer::start(vec![Reply::new(
            "GET",
            "/admin/identities",
            200,
            r#"{"a":1}"#,
        )])
        .await;
        let call = client_for(&srv, None).lookup_identity("x@y.z").await;
        assert_eq!(call.outcome, Outcome::Err(ErrorClass::Protocol));
    }

    #[tokio::test]
    async fn delete_identity_204_and_404() {
        let srv = CannedServer::start(vec![Reply::new(
            "DELETE",
            "/admin/identities/id-1",
            204,
            "",
        )])
        .await;
        let k = client_for(&srv, Some("adm"));
        assert_eq!(
            k.delete_identity("id-1").await.outcome,
            Outcome::Ok(Verdict::Ok)
        );
        assert_eq!(srv.seen()[0].header("authorization"), Some("Bearer adm"));
        assert_eq!(
            k.delete_identity("nope").await.outcome,
            Outcome::Err(ErrorClass::Status(404))
        );
    }

    #[tokio::test]
    async fn closed_port_is_connect() {
        let url = closed_port_url().await;
        let k = kratos_at(&url, &url);
        let call = k.login("x", &Secret::new("pw")).await;
        assert_eq!(call.outcome, Outcome::Err(ErrorClass::Connect));
    }
}
