//! Runs one step's Ory call: renders its fields, then times only the call itself, and hands
//! back the outcome with whatever the call produced for captures.

use super::render::{render, Context, Draws};
use crate::ground::AuthMethod;
use crate::ground::{ErrorClass, Outcome, Output, Verdict};
use crate::ory::browser::Browser;
use crate::ory::hydra::{ClientGrants, OAuthClient};
use crate::ory::hydra_code::Tokens;
use crate::ory::keto::{RelationTuple, Subject, SubjectRef, TupleQuery, TupleRef};
use crate::ory::kratos::LoggedIn;
use crate::ory::wire::Body;
use crate::ory::Call;
use crate::scenario::model::{
    parse_subject_set, Action, Expect, HttpT, HydraClientT, QueryT, SubjectT, TupleT,
};
use crate::scenario::template::{Template, Value};
use crate::secret::Secret;
use std::future::Future;
use std::time::Instant;

/// The Ory clients of the run (one per configured service) and the way to send `http` steps.
pub use crate::ory::OryClients as Clients;

/// What a call produced, for captures.
pub enum Produced {
    Nothing,
    Registered {
        sent: super::register::Sent,
        /// The schema's password identifier as registered, when it could be found.
        identifier: Option<Value>,
        password: Value,
    },
    LoggedIn(LoggedIn),
    IdentityId(String),
    Client(OAuthClient),
    Token(Secret),
    Tokens(Tokens),
    /// A leg of an authorization-code flow: the browser for the next leg.
    Browser(Browser),
    Count(usize),
    /// What the tuples of a batch check answered.
    Batch(super::batch::Tally),
    Http {
        status: u16,
        body: Vec<u8>,
    },
}

impl Produced {
    pub fn get(&self, output: &Output) -> Option<Value> {
        let s = |v: &str| Some(Value::from(v));
        match (self, output) {
            (Produced::Registered { sent, .. }, Output::IdentityId) => {
                s(&sent.registered.identity_id)
            }
            (Produced::Registered { sent, .. }, Output::SessionToken) => sent
                .registered
                .session_token
                .as_ref()
                .and_then(|t| s(t.expose())),
            // The `email` trait; on a schema without one, the identifier, so that steps
            // written for the quickstart schema log in on any other.
            (
                Produced::Registered {
                    sent, identifier, ..
                },
                Output::Email,
            ) => crate::engine::traits_fill::string_at(&sent.traits, "email")
                .map(Value::from)
                .or_else(|| identifier.clone()),
            (Produced::Registered { identifier, .. }, Output::Identifier) => identifier.clone(),
            (Produced::Registered { password, .. }, Output::Password) => Some(password.clone()),
            (Produced::LoggedIn(l), Output::IdentityId) => s(&l.identity_id),
            (Produced::LoggedIn(l), Output::SessionToken) => s(l.session_token.expose()),
            (Produced::IdentityId(id), Output::IdentityId) => s(id),
            (Produced::Client(c), Output::ClientId) => s(&c.client_id),
            (Produced::Client(c), Output::ClientSecret) => s(c.client_secret.expose()),
            (Produced::Token(t), Output::AccessToken) => s(t.expose()),
            (Produced::Tokens(t), Output::AccessToken) => s(t.access_token.expose()),
            (Produced::Tokens(t), Output::RefreshToken) => {
                t.refresh_token.as_ref().and_then(|r| s(r.expose()))
            }
            (Produced::Tokens(t), Output::IdToken) => {
                t.id_token.as_ref().and_then(|r| s(r.expose()))
            }
            (Produced::Browser(b), Output::Browser) => s(&b.encode()),
            (Produced::Browser(b), Output::LoginChallenge)
                if b.stage == crate::ory::browser::Stage::Login =>
            {
                s(&b.pending)
            }
            (Produced::Browser(b), Output::ConsentChallenge)
                if b.stage == crate::ory::browser::Stage::Consent =>
            {
                s(&b.pending)
            }
            (Produced::Browser(b), Output::Code) if b.stage == crate::ory::browser::Stage::Code => {
                s(&b.pending)
            }
            (Produced::Count(n), Output::Count) => s(&n.to_string()),
            (Produced::Http { status, .. }, Output::Status) => s(&status.to_string()),
            (Produced::Http { body, .. }, Output::Json(pointer)) => {
                let doc: serde_json::Value = serde_json::from_slice(body).ok()?;
                match doc.pointer(pointer)? {
                    serde_json::Value::String(v) => s(v),
                    serde_json::Value::Null => None,
                    other => s(&other.to_string()),
                }
            }
            _ => None,
        }
    }
}

/// A finished call.
pub struct Done {
    pub start: Instant,
    pub end: Instant,
    pub outcome: Outcome,
    pub produced: Produced,
}

/// Times one call. It takes a closure that makes the call's future rather than the future: an
/// `async fn` keeps its by-value arguments for its whole life next to what it awaits, so a
/// future argument would be stored twice, and this future is part of every iteration's (see
/// `execute`). Making a call's future does no work, so the timing is the same.
pub(super) async fn timed<T, F: Future<Output = Call<T>>>(
    call: impl FnOnce() -> F,
    wrap: impl FnOnce(T) -> Produced,
) -> Done {
    let start = Instant::now();
    let Call { outcome, value } = call().await;
    let end = Instant::now();
    Done {
        start,
        end,
        outcome,
        produced: value.map_or(Produced::Nothing, wrap),
    }
}

/// A call that could not be made (no client for the service, or a field that rendered into
/// something the service cannot take): recorded as failing instantly.
fn refused(class: ErrorClass) -> Done {
    let now = Instant::now();
    Done {
        start: now,
        end: now,
        outcome: Outcome::Err(class),
        produced: Produced::Nothing,
    }
}

fn nothing<T>(_: T) -> Produced {
    Produced::Nothing
}

pub(super) struct Renderer<'a, 'b> {
    pub(super) cx: &'a Context<'a>,
    pub(super) draws: &'a mut Draws<'b>,
}

impl Renderer<'_, '_> {
    pub(super) fn get(&mut self, t: &Template) -> Value {
        render(t, self.cx, self.draws)
    }

    fn secret(&mut self, t: &Template) -> Secret {
        Secret::new(self.get(t))
    }

    fn subject(&mut self, s: &SubjectT) -> Option<Subject> {
        match s {
            SubjectT::Id(t) => Some(Subject::Id(self.get(t).to_string())),
            SubjectT::Set(t) => {
                let v = self.get(t);
                let (namespace, object, relation) = parse_subject_set(&v)?;
                Some(Subject::Set {
                    namespace: namespace.into(),
                    object: object.into(),
                    relation: relation.into(),
                })
            }
        }
    }

    fn tuple(&mut self, t: &TupleT) -> Option<RelationTuple> {
        Some(RelationTuple {
            namespace: self.get(&t.namespace).to_string(),
            object: self.get(&t.object).to_string(),
            relation: self.get(&t.relation).to_string(),
            subject: self.subject(&t.subject)?,
        })
    }

    fn query(&mut self, q: &QueryT) -> Option<TupleQuery> {
        Some(TupleQuery {
            namespace: q
                .namespace
                .as_ref()
                .map(|t| self.get(t).to_string())
                .unwrap_or_default(),
            object: q.object.as_ref().map(|t| self.get(t).to_string()),
            relation: q.relation.as_ref().map(|t| self.get(t).to_string()),
            subject: match &q.subject {
                Some(s) => Some(self.subject(s)?),
                None => None,
            },
        })
    }

    fn oauth_client(&mut self, c: &HydraClientT) -> Option<OAuthClient> {
        Some(OAuthClient {
            client_id: self.get(&c.client_id).to_string(),
            client_secret: self.secret(&c.client_secret),
            auth: AuthMethod::from_name(&self.get(&c.auth_method))?,
        })
    }
}

/// Renders the step's fields and makes its call.
///
/// This future is part of every iteration's, which the executor boxes (see
/// `engine::executor`), so it is kept small: only the hot reads (the Keto check, Kratos whoami,
/// Hydra introspect) run inline, every other action runs in a box of its own.
pub async fn execute(
    action: &Action,
    expect: &Expect,
    clients: &Clients,
    cx: &Context<'_>,
    draws: &mut Draws<'_>,
) -> Done {
    let mut r = Renderer { cx, draws };
    // Which client a step needs was checked against the configured endpoints before the run;
    // a missing one here means the endpoint is not configured: a connect failure.
    let missing = || refused(ErrorClass::Connect);
    match action {
        Action::KetoCheck { tuple, max_depth } => {
            let Some(k) = &clients.keto else {
                return missing();
            };
            // Borrowed from the rendered values: no owned tuple per check.
            let (ns, obj, rel) = (
                r.get(&tuple.namespace),
                r.get(&tuple.object),
                r.get(&tuple.relation),
            );
            let subject_value = match &tuple.subject {
                SubjectT::Id(t) | SubjectT::Set(t) => r.get(t),
            };
            let subject = match &tuple.subject {
                SubjectT::Id(_) => SubjectRef::Id(&subject_value),
                SubjectT::Set(_) => match parse_subject_set(&subject_value) {
                    Some((namespace, object, relation)) => SubjectRef::Set {
                        namespace,
                        object,
                        relation,
                    },
                    None => return refused(ErrorClass::Protocol),
                },
            };
            let t = TupleRef {
                namespace: &ns,
                object: &obj,
                relation: &rel,
                subject,
            };
            timed(|| k.check_ref(&t, *max_depth), nothing).await
        }
        Action::KratosWhoami { session_token } => {
            let Some(k) = &clients.kratos else {
                return missing();
            };
            let token = r.secret(session_token);
            timed(|| k.whoami(&token), nothing).await
        }
        Action::HydraIntrospect { token } => {
            let Some(h) = &clients.hydra else {
                return missing();
            };
            let token = r.secret(token);
            timed(|| h.introspect(&token), nothing).await
        }
        _ => Box::pin(execute_other(action, expect, clients, &mut r)).await,
    }
}

/// `execute` for every other action: the calls on reqwest (writes, logins, admin calls,
/// `http` steps), whose futures are larger and whose calls cost far more than a box.
async fn execute_other(
    action: &Action,
    expect: &Expect,
    clients: &Clients,
    r: &mut Renderer<'_, '_>,
) -> Done {
    let missing = || refused(ErrorClass::Connect);
    match action {
        Action::KratosRegister { .. } => {
            let Some(k) = &clients.kratos else {
                return missing();
            };
            super::register::register(k, action, r).await
        }
        Action::KratosLogin {
            identifier,
            password,
        } => {
            let Some(k) = &clients.kratos else {
                return missing();
            };
            let id = r.get(identifier);
            let pw = r.secret(password);
            timed(|| k.login(&id, &pw), Produced::LoggedIn).await
        }
        Action::KratosLogout { session_token } => {
            let Some(k) = &clients.kratos else {
                return missing();
            };
            let token = r.secret(session_token);
            timed(|| k.logout(&token), nothing).await
        }
        Action::KratosLookupIdentity { identifier } => {
            let Some(k) = &clients.kratos else {
                return missing();
            };
            let id = r.get(identifier);
            timed(|| k.lookup_identity(&id), Produced::IdentityId).await
        }
        Action::KratosDeleteIdentity { identity_id } => {
            let Some(k) = &clients.kratos else {
                return missing();
            };
            let id = r.get(identity_id);
            timed(|| k.delete_identity(&id), nothing).await
        }
        Action::HydraCreateClient {
            auth_method,
            scope,
            grant_types,
            redirect_uri,
        } => {
            let Some(h) = &clients.hydra else {
                return missing();
            };
            let Some(auth) = AuthMethod::from_name(&r.get(auth_method)) else {
                return refused(ErrorClass::Protocol);
            };
            let scope = r.get(scope);
            let grant_types = r.get(grant_types);
            let redirect_uri = redirect_uri.as_ref().map(|t| r.get(t));
            let grants = ClientGrants {
                grant_types: &grant_types,
                redirect_uri: redirect_uri.as_deref(),
            };
            timed(
                || h.create_client_for(auth, &scope, grants),
                Produced::Client,
            )
            .await
        }
        Action::HydraAuthorize {
            client_id,
            redirect_uri,
            scope,
        } => {
            let Some(h) = &clients.hydra else {
                return missing();
            };
            let (id, uri, scope) = (r.get(client_id), r.get(redirect_uri), r.get(scope));
            let browser = Browser::start(&id, &uri, &scope, r.draws.rng);
            timed(|| h.authorize(browser), Produced::Browser).await
        }
        Action::HydraAcceptLogin { subject, browser } => {
            let Some(h) = &clients.hydra else {
                return missing();
            };
            let Some(b) = Browser::decode(&r.get(browser)) else {
                return refused(ErrorClass::Protocol);
            };
            let subject = r.get(subject);
            timed(|| h.accept_login(b, &subject), Produced::Browser).await
        }
        Action::HydraAcceptConsent { scope, browser } => {
            let Some(h) = &clients.hydra else {
                return missing();
            };
            let Some(b) = Browser::decode(&r.get(browser)) else {
                return refused(ErrorClass::Protocol);
            };
            let scope = match scope {
                Some(t) => r.get(t).to_string(),
                None => b.scope.clone(),
            };
            timed(|| h.accept_consent(b, &scope), Produced::Browser).await
        }
        Action::HydraExchangeCode { client, browser } => {
            let Some(h) = &clients.hydra else {
                return missing();
            };
            let (Some(c), Some(b)) = (r.oauth_client(client), Browser::decode(&r.get(browser)))
            else {
                return refused(ErrorClass::Protocol);
            };
            timed(|| h.exchange_code(&c, &b), Produced::Tokens).await
        }
        Action::HydraRefresh {
            client,
            refresh_token,
        } => {
            let Some(h) = &clients.hydra else {
                return missing();
            };
            let Some(c) = r.oauth_client(client) else {
                return refused(ErrorClass::Protocol);
            };
            let token = r.secret(refresh_token);
            timed(|| h.refresh(&c, &token), Produced::Tokens).await
        }
        Action::HydraUserinfo { token } => {
            let Some(h) = &clients.hydra else {
                return missing();
            };
            let token = r.secret(token);
            timed(|| h.userinfo(&token), nothing).await
        }
        Action::HydraToken { client, scope } => {
            let Some(h) = &clients.hydra else {
                return missing();
            };
            let Some(c) = r.oauth_client(client) else {
                return refused(ErrorClass::Protocol);
            };
            let scope = scope.as_ref().map(|s| r.get(s));
            timed(|| h.token(&c, scope.as_deref()), Produced::Token).await
        }
        Action::HydraRevoke { client, token } => {
            let Some(h) = &clients.hydra else {
                return missing();
            };
            let Some(c) = r.oauth_client(client) else {
                return refused(ErrorClass::Protocol);
            };
            let token = r.secret(token);
            timed(|| h.revoke(&c, &token), nothing).await
        }
        Action::HydraDeleteClient { client_id } => {
            let Some(h) = &clients.hydra else {
                return missing();
            };
            let id = r.get(client_id);
            timed(|| h.delete_client(&id), nothing).await
        }
        Action::KetoWrite(t) => {
            let Some(k) = &clients.keto else {
                return missing();
            };
            let Some(tuple) = r.tuple(t) else {
                return refused(ErrorClass::Protocol);
            };
            timed(|| k.write(&tuple), nothing).await
        }
        Action::KetoExpand {
            namespace,
            object,
            relation,
            max_depth,
        } => {
            let Some(k) = &clients.keto else {
                return missing();
            };
            let (ns, obj, rel) = (r.get(namespace), r.get(object), r.get(relation));
            timed(|| k.expand(&ns, &obj, &rel, *max_depth), Produced::Count).await
        }
        Action::KetoList { query, page_size } => {
            let Some(k) = &clients.keto else {
                return missing();
            };
            let Some(q) = r.query(query) else {
                return refused(ErrorClass::Protocol);
            };
            timed(|| k.list(&q, *page_size), Produced::Count).await
        }
        Action::KetoDelete(query) => {
            let Some(k) = &clients.keto else {
                return missing();
            };
            let Some(q) = r.query(query) else {
                return refused(ErrorClass::Protocol);
            };
            timed(|| k.delete(&q), nothing).await
        }
        Action::KetoBatchCheck { tuples, max_depth } => {
            let Some(k) = &clients.keto else {
                return missing();
            };
            let Some(rendered) = tuples
                .iter()
                .map(|t| r.tuple(&t.tuple))
                .collect::<Option<Vec<_>>>()
            else {
                return refused(ErrorClass::Protocol);
            };
            let mut done = timed(
                || k.batch_check(&rendered, *max_depth),
                |verdicts| Produced::Batch(super::batch::tally(tuples, &verdicts)),
            )
            .await;
            if let Produced::Batch(tally) = &done.produced {
                done.outcome = super::batch::judge(tally);
            }
            done
        }
        Action::Http(h) => http_call(h, expect, clients, r).await,
        Action::KetoCheck { .. } | Action::KratosWhoami { .. } | Action::HydraIntrospect { .. } => {
            unreachable!("executed inline by `execute`")
        }
    }
}

async fn http_call(
    h: &HttpT,
    expect: &Expect,
    clients: &Clients,
    r: &mut Renderer<'_, '_>,
) -> Done {
    let url = r.get(&h.url);
    let mut headers = Vec::with_capacity(h.headers.len() + 1);
    for (name, value) in &h.headers {
        let v = r.get(value);
        match reqwest::header::HeaderValue::from_str(&v) {
            Ok(mut hv) => {
                // Header values may carry tokens: keep them out of any debug output.
                hv.set_sensitive(true);
                headers.push((name.clone(), hv));
            }
            Err(_) => return refused(ErrorClass::Protocol),
        }
    }
    let body = h.body.as_ref().map(|body| Body {
        // A raw body: no content type of its own, as before.
        content_type: None,
        bytes: r.get(body).to_string().into(),
    });
    if h.admin_auth {
        match clients.admin.header() {
            Ok(Some(auth)) => headers.push((reqwest::header::AUTHORIZATION, auth.clone())),
            Ok(None) => {}
            Err(class) => return refused(class),
        }
    }
    let start = Instant::now();
    let result = clients
        .send_url(h.method.clone(), &url, &headers, body)
        .await
        .and_then(|answer| answer.whole());
    let end = Instant::now();
    let (outcome, produced) = match result {
        Ok((status, body)) => {
            let code = status.as_u16();
            let ok = match expect {
                Expect::Status(codes) => codes.contains(&code),
                _ => status.is_success(),
            };
            let outcome = if ok {
                Outcome::Ok(Verdict::Ok)
            } else {
                Outcome::Err(ErrorClass::Status(code))
            };
            (
                outcome,
                Produced::Http {
                    status: code,
                    body: body.into(),
                },
            )
        }
        Err(class) => (Outcome::Err(class), Produced::Nothing),
    };
    Done {
        start,
        end,
        outcome,
        produced,
    }
}
