//! Simulated Hydra v2.3.0: the authorization-code flow with PKCE (the authorization endpoint,
//! the login and consent accept calls of the admin API, the code and refresh-token grants) and
//! userinfo, as orysim drives them.
//!
//! What real Hydra does and this copies: the authorization redirects to the login app with a
//! login challenge and sets a login CSRF cookie; the login verifier needs that cookie, then
//! redirects to the consent app with a consent challenge and its own CSRF cookie; the consent
//! verifier redirects (303) to the client with the code and `state`. Errors before the
//! redirect URI is known go to `/oauth2/fallbacks/error`, later ones to the redirect URI. A
//! code or refresh token used twice revokes every token of its authorization. Without
//! `urls.login`/`urls.consent` Hydra sends the browser to its own fallback pages; so does this.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::http::header::{HeaderValue, CACHE_CONTROL, LOCATION, SET_COOKIE, WWW_AUTHENTICATE};
use base64::Engine;
use serde_json::{json, Value};

use super::byte_budget::{strings_len, ENTRY_OVERHEAD};
use super::http::{
    random_b64url, respond, unix_secs, with_header, Query, Req, Resp, CT_HTML, CT_JSON,
};
use super::hydra::{
    admin_error, no_store, split_spaces, wildcard_match, Client, Hydra, OAuthError, Token,
    DESC_INVALID_GRANT, DESC_INVALID_SCOPE,
};
use super::store::lock;

/// Hydra's default refresh-token lifespan (720h).
const REFRESH_LIFESPAN: Duration = Duration::from_secs(720 * 3600);
/// Lifespan of the CSRF cookies (Hydra: 30 minutes).
const CSRF_MAX_AGE: u64 = 1800;
const NO_CACHE: &str = "private, no-cache, no-store, must-revalidate";
const DESC_REQUEST_FORBIDDEN: &str = "The request is not allowed.";
const DESC_ACCESS_DENIED: &str = "The resource owner or authorization server denied the request.";

/// Where one authorization stands.
enum Stage {
    /// Waiting for the login app to accept the challenge.
    Login,
    /// Login accepted; the browser must come back with the verifier.
    LoginAccepted {
        subject: String,
    },
    Consent {
        subject: String,
    },
    ConsentAccepted {
        subject: String,
        granted: Vec<String>,
    },
    Done,
}

/// One authorization in progress, stored under its challenges and verifiers.
pub(crate) struct AuthFlow {
    client: Arc<Client>,
    /// The authorization request's query, replayed by the redirects back to Hydra.
    query: String,
    redirect_uri: String,
    scopes: Vec<String>,
    state: String,
    nonce: String,
    code_challenge: String,
    challenge_method: String,
    login_csrf: String,
    consent_csrf: Mutex<String>,
    stage: Mutex<Stage>,
}

/// An issued authorization code.
pub(crate) struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    challenge_method: String,
    subject: String,
    scopes: Vec<String>,
    nonce: String,
    used: AtomicBool,
    family: Arc<AtomicBool>,
    issued_at: SystemTime,
}

/// What a stored authorization flow costs, its client included (the flow keeps it alive). The
/// consent CSRF token, set later, is a fixed-size random value counted in the overhead; the
/// subject the login app accepts is held only until the consent leg turns it into a code,
/// which counts it.
pub(super) fn auth_flow_weight(f: &Arc<AuthFlow>) -> usize {
    f.query.len()
        + f.redirect_uri.len()
        + strings_len(&f.scopes)
        + f.state.len()
        + f.nonce.len()
        + f.code_challenge.len()
        + f.challenge_method.len()
        + f.login_csrf.len()
        + f.client.weight()
        + ENTRY_OVERHEAD
}

/// What a stored authorization code costs.
pub(super) fn code_weight(c: &Arc<CodeGrant>) -> usize {
    c.client_id.len()
        + c.redirect_uri.len()
        + c.code_challenge.len()
        + c.challenge_method.len()
        + c.subject.len()
        + strings_len(&c.scopes)
        + c.nonce.len()
        + ENTRY_OVERHEAD
}

/// The name Hydra gives a client's CSRF cookie (`ory_hydra_<kind>_csrf_dev_<hash of the client>`).
fn csrf_cookie_name(kind: &str, client_id: &str) -> String {
    // FNV-1a: any stable per-client number will do.
    let hash = client_id.bytes().fold(2_166_136_261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16_777_619)
    });
    format!("ory_hydra_{kind}_csrf_dev_{hash}")
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(req: &'a Req, name: &str) -> Option<&'a str> {
    req.headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// RFC 7231 IMF-fixdate, as Go's `http.Cookie` writes `Expires`.
fn httpdate(t: SystemTime) -> String {
    let secs = unix_secs(t);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(month - 1) as usize];
    format!("{weekday}, {day:02} {mon} {year} {h:02}:{m:02}:{s:02} GMT")
}

fn set_cookie(r: &mut Resp, name: &str, value: &str, max_age: u64) {
    let text = if max_age == 0 {
        format!("{name}={value}; Path=/; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0; HttpOnly; SameSite=Lax")
    } else {
        let expires = httpdate(SystemTime::now() + Duration::from_secs(max_age));
        format!(
            "{name}={value}; Path=/; Expires={expires}; Max-Age={max_age}; HttpOnly; SameSite=Lax"
        )
    };
    if let Ok(v) = HeaderValue::from_str(&text) {
        r.headers_mut().append(SET_COOKIE, v);
    }
}

/// Go's `http.Redirect` for a GET: status, `Location` and the small HTML body.
fn redirect(status: u16, location: &str) -> Resp {
    let r = if status == 303 {
        super::http::empty(303)
    } else {
        let text = if status == 302 { "Found" } else { "See Other" };
        respond(
            status,
            Some(CT_HTML),
            format!(
                "<a href=\"{}\">{text}</a>.\n\n",
                location.replace('&', "&amp;")
            ),
        )
    };
    with_header(r, LOCATION, location)
}

/// An error sent back to the client's redirect URI (fosite `WriteAuthorizeError`).
fn error_to_client(redirect_uri: &str, e: &OAuthError, state: &str) -> Resp {
    let mut target = url::Url::parse(redirect_uri).expect("registered redirect URIs parse");
    target
        .query_pairs_mut()
        .append_pair("error", e.name())
        .append_pair("error_description", &e.full_description())
        .append_pair("state", state);
    no_store(with_header(
        redirect(303, target.as_str()),
        CACHE_CONTROL,
        "no-store",
    ))
}

fn admin_not_found() -> Resp {
    admin_error(404, "Not Found", "Unable to locate the requested resource")
}

/// A fresh challenge or verifier.
fn random_id() -> String {
    random_b64url(48)
}

fn base64url(v: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
}

impl Hydra {
    fn fallback(&self, page: &str) -> String {
        format!("{}/oauth2/fallbacks/{page}", self.public_url)
    }

    /// An error before the redirect URI is trusted: to Hydra's own error page (302).
    fn error_to_fallback(&self, e: &OAuthError) -> Resp {
        let mut target = url::Url::parse(&self.fallback("error")).expect("a valid base URL");
        target
            .query_pairs_mut()
            .append_pair("error", e.name())
            .append_pair("error_description", &e.full_description());
        with_header(redirect(302, target.as_str()), CACHE_CONTROL, NO_CACHE)
    }

    /// `GET /oauth2/auth`: a new authorization, a returning login verifier or a returning
    /// consent verifier.
    pub(super) fn authorize(&self, req: &Req) -> Resp {
        let q = req.query();
        if let Some(v) = q.get("login_verifier") {
            return self.login_verified(req, v);
        }
        if let Some(v) = q.get("consent_verifier") {
            return self.consent_verified(req, v);
        }
        let client_id = q.get("client_id").unwrap_or("");
        let Some(client) = self.client(client_id) else {
            return self.error_to_fallback(&OAuthError::new(401, "invalid_client", "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method).", Some("The requested OAuth 2.0 Client does not exist.".into())));
        };
        let redirect_uri = q.get("redirect_uri").unwrap_or("").to_string();
        if !client.redirect_uris.contains(&redirect_uri) {
            return self.error_to_fallback(&OAuthError::invalid_request(Some(
                "The 'redirect_uri' parameter does not match any of the OAuth 2.0 Client's pre-registered redirect urls.",
            )));
        }
        let state = q.get("state").unwrap_or("").to_string();
        let refuse = |e: OAuthError| error_to_client(&redirect_uri, &e, &state);
        if q.get("response_type") != Some("code") {
            return refuse(OAuthError::new(
                400,
                "unsupported_response_type",
                "The authorization server does not support obtaining a token using this method.",
                Some(format!(
                    "The client is not allowed to request response_type '{}'.",
                    q.get("response_type").unwrap_or("")
                )),
            ));
        }
        if state.chars().count() < 8 {
            return refuse(OAuthError::new(400, "invalid_state", "The state is missing or does not have enough characters and is therefore considered too weak.", Some("Request parameter 'state' must be at least be 8 characters long to ensure sufficient entropy.".into())));
        }
        let scopes = split_spaces(q.get("scope").unwrap_or(""));
        if let Some(s) = scopes.iter().find(|s| !wildcard_match(&client.scopes, s)) {
            return refuse(OAuthError::new(
                400,
                "invalid_scope",
                DESC_INVALID_SCOPE,
                Some(format!(
                    "The OAuth 2.0 Client is not allowed to request scope '{s}'."
                )),
            ));
        }
        if !client.grant_types.iter().any(|g| g == "authorization_code") {
            return refuse(OAuthError::new(400, "unauthorized_client", super::hydra::DESC_UNAUTHORIZED_CLIENT, Some("The OAuth 2.0 Client is not allowed to use authorization grant 'authorization_code'.".into())));
        }
        let flow = Arc::new(AuthFlow {
            client: client.clone(),
            query: req.raw_query.clone(),
            redirect_uri,
            scopes,
            state,
            nonce: q.get("nonce").unwrap_or("").to_string(),
            code_challenge: q.get("code_challenge").unwrap_or("").to_string(),
            challenge_method: q
                .get("code_challenge_method")
                .unwrap_or("plain")
                .to_string(),
            login_csrf: random_b64url(32),
            consent_csrf: Mutex::new(String::new()),
            stage: Mutex::new(Stage::Login),
        });
        let challenge = random_id();
        self.flows.insert(challenge.clone(), flow.clone());
        let target = format!("{}?login_challenge={challenge}", self.fallback("login"));
        let mut r = with_header(redirect(302, &target), CACHE_CONTROL, NO_CACHE);
        set_cookie(
            &mut r,
            &csrf_cookie_name("login", &client.id),
            &flow.login_csrf,
            CSRF_MAX_AGE,
        );
        r
    }

    /// The flow a challenge or verifier names.
    fn flow_at(&self, key: &str) -> Option<Arc<AuthFlow>> {
        self.flows.get(&key.to_string())
    }

    /// `PUT /admin/oauth2/auth/requests/{kind}/accept` → `redirect_to` with a verifier.
    fn accept_request(&self, req: &Req, kind: &str) -> Resp {
        let q = req.query();
        let challenge = q.get(&format!("{kind}_challenge")).unwrap_or("");
        let Some(flow) = self.flow_at(challenge) else {
            return admin_not_found();
        };
        let body: Value = match serde_json::from_slice(&req.body) {
            Ok(Value::Object(m)) => Value::Object(m),
            _ => {
                return admin_error(
                    400,
                    super::http::MSG_BAD_REQUEST,
                    "Unable to decode the request body",
                )
            }
        };
        {
            let mut stage = lock(&flow.stage);
            let next = match (&*stage, kind) {
                (Stage::Login, "login") => {
                    let subject = body.get("subject").and_then(Value::as_str).unwrap_or("");
                    if subject.is_empty() {
                        return admin_error(
                            400,
                            super::http::MSG_BAD_REQUEST,
                            "Field 'subject' must not be empty.",
                        );
                    }
                    Stage::LoginAccepted {
                        subject: subject.to_string(),
                    }
                }
                (Stage::Consent { subject }, "consent") => {
                    let granted = body
                        .get("grant_scope")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default();
                    Stage::ConsentAccepted {
                        subject: subject.clone(),
                        granted,
                    }
                }
                _ => return admin_not_found(),
            };
            *stage = next;
        }
        self.flows.remove(&challenge.to_string());
        let verifier = random_id();
        self.flows.insert(verifier.clone(), flow.clone());
        let redirect_to = format!(
            "{}/oauth2/auth?{}&{kind}_verifier={verifier}",
            self.public_url, flow.query
        );
        let mut s = json!({ "redirect_to": redirect_to }).to_string();
        s.push('\n');
        respond(200, Some(super::http::CT_JSON_UTF8), s)
    }

    pub(super) fn accept_login(&self, req: &Req) -> Resp {
        self.accept_request(req, "login")
    }

    pub(super) fn accept_consent(&self, req: &Req) -> Resp {
        self.accept_request(req, "consent")
    }

    /// The browser back from the login app: needs the login CSRF cookie; on to consent.
    fn login_verified(&self, req: &Req, verifier: &str) -> Resp {
        let Some(flow) = self.flow_at(verifier) else {
            return self.error_to_fallback(&OAuthError::new(403, "access_denied", DESC_ACCESS_DENIED, Some("The login verifier has already been used, has not been granted, or is invalid.".into())));
        };
        let refuse = |hint: &str| {
            error_to_client(
                &flow.redirect_uri,
                &OAuthError::new(
                    403,
                    "request_forbidden",
                    DESC_REQUEST_FORBIDDEN,
                    Some(hint.into()),
                ),
                &flow.state,
            )
        };
        match cookie(req, &csrf_cookie_name("login", &flow.client.id)) {
            None => return refuse("No CSRF value available in the session cookie."),
            Some(v) if v != flow.login_csrf => return refuse(
                "The CSRF value from the token does not match the CSRF value from the data store.",
            ),
            Some(_) => {}
        }
        self.flows.remove(&verifier.to_string());
        {
            let mut stage = lock(&flow.stage);
            let Stage::LoginAccepted { subject } = &*stage else {
                return refuse("The login verifier has already been used.");
            };
            *stage = Stage::Consent {
                subject: subject.clone(),
            };
        }
        let csrf = random_b64url(32);
        *lock(&flow.consent_csrf) = csrf.clone();
        let challenge = random_id();
        self.flows.insert(challenge.clone(), flow.clone());
        let target = format!("{}?consent_challenge={challenge}", self.fallback("consent"));
        let mut r = with_header(redirect(302, &target), CACHE_CONTROL, NO_CACHE);
        // Not remembered: Hydra clears its session cookie.
        set_cookie(&mut r, "ory_hydra_session_dev", &random_b64url(32), 0);
        set_cookie(
            &mut r,
            &csrf_cookie_name("consent", &flow.client.id),
            &csrf,
            CSRF_MAX_AGE,
        );
        r
    }

    /// The browser back from the consent app: needs the consent CSRF cookie; a code for the
    /// client, sent to its redirect URI with `state`.
    fn consent_verified(&self, req: &Req, verifier: &str) -> Resp {
        let Some(flow) = self.flow_at(verifier) else {
            return self.error_to_fallback(&OAuthError::new(403, "access_denied", DESC_ACCESS_DENIED, Some("The consent verifier has already been used, has not been granted, or is invalid.".into())));
        };
        let refuse = |e: OAuthError| error_to_client(&flow.redirect_uri, &e, &flow.state);
        let csrf = lock(&flow.consent_csrf).clone();
        match cookie(req, &csrf_cookie_name("consent", &flow.client.id)) {
            None => return refuse(OAuthError::new(403, "request_forbidden", DESC_REQUEST_FORBIDDEN, Some("No CSRF value available in the session cookie.".into()))),
            Some(v) if v != csrf => return refuse(OAuthError::new(403, "request_forbidden", DESC_REQUEST_FORBIDDEN, Some("The CSRF value from the token does not match the CSRF value from the data store.".into()))),
            Some(_) => {}
        }
        let (subject, granted) = {
            let mut stage = lock(&flow.stage);
            let Stage::ConsentAccepted { subject, granted } = &*stage else {
                return refuse(OAuthError::new(
                    403,
                    "access_denied",
                    DESC_ACCESS_DENIED,
                    Some("The consent verifier has already been used.".into()),
                ));
            };
            let out = (subject.clone(), granted.clone());
            *stage = Stage::Done;
            out
        };
        // The verifier stays known, so that a second use is told apart from an unknown one.
        let code = format!("ory_ac_{}.{}", random_b64url(32), random_b64url(32));
        let scopes: Vec<String> = flow
            .scopes
            .iter()
            .filter(|s| granted.contains(s))
            .cloned()
            .collect();
        self.codes.insert(
            code.clone(),
            Arc::new(CodeGrant {
                client_id: flow.client.id.clone(),
                redirect_uri: flow.redirect_uri.clone(),
                code_challenge: flow.code_challenge.clone(),
                challenge_method: flow.challenge_method.clone(),
                subject,
                scopes: scopes.clone(),
                nonce: flow.nonce.clone(),
                used: AtomicBool::new(false),
                family: Arc::new(AtomicBool::new(false)),
                issued_at: SystemTime::now(),
            }),
        );
        let mut target =
            url::Url::parse(&flow.redirect_uri).expect("registered redirect URIs parse");
        target
            .query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("scope", &scopes.join(" "))
            .append_pair("state", &flow.state);
        no_store(with_header(
            redirect(303, target.as_str()),
            CACHE_CONTROL,
            "no-store",
        ))
    }

    /// `grant_type=authorization_code` for an authenticated client allowed that grant.
    pub(super) fn exchange_code(
        &self,
        client: &Arc<Client>,
        form: &Query,
    ) -> Result<String, OAuthError> {
        let invalid = |hint: &str| {
            OAuthError::new(400, "invalid_grant", DESC_INVALID_GRANT, Some(hint.into()))
        };
        let code = form.get("code").unwrap_or("");
        let Some(grant) = self.codes.get(&code.to_string()) else {
            return Err(invalid("The authorization code is malformed or not valid."));
        };
        if grant.client_id != client.id {
            return Err(invalid("The OAuth 2.0 Client ID from this request does not match the one from the authorize request."));
        }
        if grant.used.swap(true, Ordering::AcqRel) {
            grant.family.store(true, Ordering::Relaxed);
            return Err(invalid("The authorization code has already been used."));
        }
        if form.get("redirect_uri").unwrap_or("") != grant.redirect_uri {
            return Err(invalid("The 'redirect_uri' from this request does not match the one from the authorize request."));
        }
        let verifier = form.get("code_verifier").unwrap_or("");
        if !grant.code_challenge.is_empty() {
            let expected = if grant.challenge_method == "S256" {
                base64url(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref())
            } else {
                verifier.to_string()
            };
            if verifier.is_empty() {
                return Err(invalid(
                    "The PKCE code verifier must be at least 43 characters.",
                ));
            }
            if expected != grant.code_challenge {
                return Err(invalid(
                    "The PKCE code challenge did not match the code verifier.",
                ));
            }
        }
        Ok(self.issue(
            client,
            &grant.subject,
            &grant.scopes,
            &grant.nonce,
            &grant.family,
            grant.issued_at,
        ))
    }

    /// `grant_type=refresh_token`: rotation; a used refresh token revokes its authorization.
    pub(super) fn refresh(&self, client: &Arc<Client>, form: &Query) -> Result<String, OAuthError> {
        let invalid = |hint: &str| {
            OAuthError::new(400, "invalid_grant", DESC_INVALID_GRANT, Some(hint.into()))
        };
        let key = form.get("refresh_token").unwrap_or("").to_string();
        let Some(old) = self.tokens.get(&key).filter(|t| t.refresh) else {
            return Err(invalid("The refresh token is malformed or not valid."));
        };
        if old.client.id != client.id {
            return Err(invalid("The OAuth 2.0 Client ID from this request does not match the ID during the initial token issuance."));
        }
        let family = old.family.clone().unwrap_or_default();
        if old.used.swap(true, Ordering::AcqRel) {
            family.store(true, Ordering::Relaxed);
            return Err(invalid("The refresh token was already used."));
        }
        if !old.is_active() {
            return Err(invalid("The refresh token is malformed or not valid."));
        }
        // Rotation: the refresh token and the access token issued with it end here.
        old.revoked.store(true, Ordering::Relaxed);
        if let Some(at) = old.partner.as_ref().and_then(|k| self.tokens.get(k)) {
            at.revoked.store(true, Ordering::Relaxed);
        }
        let subject = old.subject.clone().unwrap_or_default();
        Ok(self.issue(client, &subject, &old.scopes, "", &family, old.issued_at))
    }

    /// New access and refresh tokens (and an ID token with `openid`) for one authorization.
    fn issue(
        &self,
        client: &Arc<Client>,
        subject: &str,
        scopes: &[String],
        nonce: &str,
        family: &Arc<AtomicBool>,
        auth_time: SystemTime,
    ) -> String {
        let now = SystemTime::now();
        let token = |refresh: bool, lifespan: Duration, partner: Option<String>| {
            let prefix = if refresh { "ory_rt" } else { "ory_at" };
            let value = format!("{prefix}_{}.{}", random_b64url(32), random_b64url(32));
            self.tokens.insert(
                value.clone(),
                Arc::new(Token {
                    client: client.clone(),
                    scopes: scopes.to_vec(),
                    audience: Vec::new(),
                    issued_at: now,
                    expires_at: now + lifespan,
                    subject: Some(subject.to_string()),
                    refresh,
                    revoked: AtomicBool::new(false),
                    family: Some(family.clone()),
                    used: AtomicBool::new(false),
                    partner,
                }),
            );
            value
        };
        let access = token(false, self.token_lifespan, None);
        let mut out = json!({
            "access_token": access.clone(),
            "expires_in": self.token_lifespan.as_secs(),
            "scope": scopes.join(" "),
            "token_type": "bearer",
        });
        if scopes
            .iter()
            .any(|s| s == "offline_access" || s == "offline")
        {
            out["refresh_token"] = json!(token(true, REFRESH_LIFESPAN, Some(access.clone())));
        }
        if scopes.iter().any(|s| s == "openid") {
            out["id_token"] = json!(self.id_token(client, subject, nonce, now, auth_time));
        }
        out.to_string()
    }

    /// An ID token shaped like Hydra's; its signature is random (the simulator has no keys).
    fn id_token(
        &self,
        client: &Client,
        subject: &str,
        nonce: &str,
        iat: SystemTime,
        auth_time: SystemTime,
    ) -> String {
        let b64 = |v: &Value| base64url(v.to_string().as_bytes());
        let header = json!({"alg": "RS256", "kid": "orysim-simulator", "typ": "JWT"});
        let mut claims = json!({
            "aud": [client.id],
            "auth_time": unix_secs(auth_time),
            "exp": unix_secs(iat + self.token_lifespan),
            "iat": unix_secs(iat),
            "iss": self.issuer,
            "jti": uuid::Uuid::new_v4().to_string(),
            "rat": unix_secs(auth_time),
            "sub": subject,
        });
        if !nonce.is_empty() {
            claims["nonce"] = json!(nonce);
        }
        format!("{}.{}.{}", b64(&header), b64(&claims), random_b64url(256))
    }

    /// `GET /userinfo` with a bearer access token.
    pub(super) fn userinfo(&self, req: &Req) -> Resp {
        let bearer = req
            .header("authorization")
            .and_then(|a| {
                a.get(..7)
                    .filter(|p| p.eq_ignore_ascii_case("bearer "))
                    .map(|_| a[7..].trim())
            })
            .unwrap_or("");
        let found = self
            .tokens
            .get(&bearer.to_string())
            .filter(|t| !t.refresh && t.is_active());
        match found {
            Some(t) => {
                let mut s = json!({
                    "aud": [t.client.id],
                    "auth_time": unix_secs(t.issued_at),
                    "iat": unix_secs(t.issued_at),
                    "iss": self.issuer,
                    "rat": unix_secs(t.issued_at),
                    "sub": t.subject.as_deref().unwrap_or(&t.client.id),
                })
                .to_string();
                s.push('\n');
                with_header(
                    respond(200, Some(super::http::CT_JSON_UTF8), s),
                    CACHE_CONTROL,
                    NO_CACHE,
                )
            }
            None => {
                const DESC: &str = "The request could not be authorized. Check that you provided valid credentials in the right format.";
                let mut s =
                    json!({"error": "request_unauthorized", "error_description": DESC}).to_string();
                s.push('\n');
                let r = with_header(respond(401, Some(CT_JSON), s), CACHE_CONTROL, NO_CACHE);
                with_header(
                    r,
                    WWW_AUTHENTICATE,
                    &format!("Bearer error=\"request_unauthorized\",error_description=\"{DESC}\""),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_flows_and_codes_stay_within_their_byte_budget_oldest_out_first() {
        let limit = |used: usize| used <= (16 << 20) + 16 * ((2 << 20) + 1024);
        let big = || "q".repeat(512 << 10);
        use crate::sim::store::Sharded;
        let flows = Sharded::with_max_bytes(1_000_000, 16 << 20, auth_flow_weight);
        let (used, kept) = crate::sim::store::fill_hundred(&flows, || {
            Arc::new(AuthFlow {
                client: super::super::hydra::client_with_scope_of(256 << 10),
                query: big(),
                redirect_uri: "http://127.0.0.1/cb".into(),
                scopes: vec!["s".repeat(256 << 10)],
                state: "state".into(),
                nonce: "nonce".into(),
                code_challenge: "c".into(),
                challenge_method: "S256".into(),
                login_csrf: "csrf".into(),
                consent_csrf: Mutex::new(String::new()),
                stage: Mutex::new(Stage::Login),
            })
        });
        assert!(limit(used), "{used}");
        assert!(kept.len() < 40 && kept.contains(&99), "{kept:?}");
        let codes = Sharded::with_max_bytes(1_000_000, 16 << 20, code_weight);
        let (used, kept) = crate::sim::store::fill_hundred(&codes, || {
            Arc::new(CodeGrant {
                client_id: "c".into(),
                redirect_uri: big(),
                code_challenge: "c".into(),
                challenge_method: "S256".into(),
                subject: big(),
                scopes: Vec::new(),
                nonce: "n".into(),
                used: AtomicBool::new(false),
                family: Arc::new(AtomicBool::new(false)),
                issued_at: SystemTime::now(),
            })
        });
        assert!(limit(used), "{used}");
        assert!(kept.len() < 40 && kept.contains(&99), "{kept:?}");
    }

    #[test]
    fn http_dates_are_imf_fixdate() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_417_845);
        assert_eq!(httpdate(t), "Fri, 04 Dec 2026 20:57:25 GMT");
        assert_eq!(
            httpdate(SystemTime::UNIX_EPOCH + Duration::from_secs(1)),
            "Thu, 01 Jan 1970 00:00:01 GMT"
        );
    }

    #[test]
    fn csrf_cookie_names_differ_per_client() {
        assert_ne!(
            csrf_cookie_name("login", "a"),
            csrf_cookie_name("login", "b")
        );
        assert!(csrf_cookie_name("consent", "a").starts_with("ory_hydra_consent_csrf_dev_"));
    }
}
