//! Simulated Ory Hydra v2.3.0 (fosite v0.49.0): OAuth2 clients, the client credentials grant,
//! token introspection and revocation.
//!
//! All errors are OAuth2-shaped (`{"error","error_description"}`); admin API herodot errors
//! are converted the way Hydra's `ErrorEnhancer` does (`error` = herodot message,
//! `error_description` = reason). fosite replaces `"` with `'` in descriptions.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::http::header::{CACHE_CONTROL, LOCATION, PRAGMA};
use axum::http::Method;
use base64::Engine;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::byte_budget::{json_len, strings_len, ENTRY_OVERHEAD, MAX_STORE_BYTES};
use super::http::{
    empty, go_not_found, go_redirect_307, is_router_answer, no_cache, random_b64url, random_from,
    respond, rfc3339, rfc3339_secs, route, unix_secs, with_header, Query, Req, Resp, CT_JSON,
    CT_JSON_UTF8, CT_OAUTH, CT_TEXT, MSG_NO_ROWS,
};
use super::store::Sharded;

pub(crate) const VERSION: &str = "v2.3.0";

const DEFAULT_SCOPE: &str = "offline_access offline openid";
const SECRET_CHARSET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ1234567890_-.~";

const DESC_INVALID_REQUEST: &str = "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.";
const HINT_INVALID_REQUEST: &str = "Make sure that the various parameters are correct, be aware of case sensitivity and trim your parameters. Make sure that the client you are using has exactly whitelisted the redirect_uri you specified.";
const DESC_INVALID_CLIENT: &str = "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method).";
pub(super) const DESC_INVALID_SCOPE: &str =
    "The requested scope is invalid, unknown, or malformed.";
pub(super) const DESC_UNAUTHORIZED_CLIENT: &str =
    "The client is not authorized to request a token using this method.";
pub(super) const DESC_INVALID_GRANT: &str = "The provided authorization grant (e.g., authorization code, resource owner credentials) or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.";
const DESC_INVALID_CLIENT_METADATA: &str = "The value of one of the Client Metadata fields is invalid and the server has rejected this request. Note that an Authorization Server MAY choose to substitute a valid value for any requested parameter of a Client's Metadata.";

/// A fosite `RFC6749Error`.
#[derive(Debug, Clone)]
pub(crate) struct OAuthError {
    code: u16,
    error: String,
    description: String,
    hint: Option<String>,
}

impl OAuthError {
    pub(super) fn new(code: u16, error: &str, description: &str, hint: Option<String>) -> Self {
        OAuthError {
            code,
            error: error.to_owned(),
            description: description.to_owned(),
            hint,
        }
    }

    pub(super) fn invalid_request(hint: Option<&str>) -> Self {
        OAuthError::new(
            400,
            "invalid_request",
            DESC_INVALID_REQUEST,
            Some(hint.unwrap_or(HINT_INVALID_REQUEST).to_owned()),
        )
    }

    fn invalid_client(hint: Option<String>) -> Self {
        OAuthError::new(401, "invalid_client", DESC_INVALID_CLIENT, hint)
    }

    fn is(&self, error: &str) -> bool {
        self.error == error
    }

    /// `RFC6749Error.MarshalJSON` (non-legacy): description + hint, `"` replaced by `'`.
    fn body(&self) -> String {
        json!({"error": self.error, "error_description": self.full_description()}).to_string()
    }

    /// The description with the hint appended, `"` replaced by `'`.
    pub(super) fn full_description(&self) -> String {
        let mut d = self.description.clone();
        if let Some(h) = &self.hint {
            if !h.is_empty() {
                d.push(' ');
                d.push_str(h);
            }
        }
        d.replace('"', "'")
    }

    pub(super) fn name(&self) -> &str {
        &self.error
    }

    /// fosite `writeJsonError`.
    pub(super) fn respond(&self) -> Resp {
        no_store(respond(self.code, Some(CT_OAUTH), self.body()))
    }

    /// herodot `WriteError` with Hydra's `ErrorEnhancer` (admin API).
    fn respond_admin(&self) -> Resp {
        let mut s = self.body();
        s.push('\n');
        respond(self.code, Some(CT_JSON), s)
    }
}

/// A herodot error as Hydra's admin API renders it.
pub(super) fn admin_error(code: u16, message: &str, reason: &str) -> Resp {
    OAuthError::new(code, message, reason, None).respond_admin()
}

pub(super) fn no_store(r: Resp) -> Resp {
    let r = with_header(r, CACHE_CONTROL, "no-store");
    with_header(r, PRAGMA, "no-cache")
}

pub(super) struct Client {
    pub(super) id: String,
    secret: String,
    auth_method: String,
    pub(super) grant_types: Vec<String>,
    pub(super) scopes: Vec<String>,
    pub(super) redirect_uris: Vec<String>,
    audience: Vec<String>,
    cc_lifespan: Option<Duration>,
    jwt: bool,
    /// The client as `GET /admin/clients/{id}` shows it.
    json: Value,
    deleted: AtomicBool,
    /// What the client costs in a store (see `byte_budget`), counted once when it is made.
    weight: usize,
}

impl Client {
    fn is_public(&self) -> bool {
        self.auth_method == "none"
    }

    /// What the client costs in a store.
    pub(super) fn weight(&self) -> usize {
        self.weight
    }
}

/// What a stored token costs, its client included: the token keeps the client alive after the
/// client store has evicted it.
fn token_weight(t: &Arc<Token>) -> usize {
    let subject = t.subject.as_ref().map_or(0, String::len);
    let partner = t.partner.as_ref().map_or(0, String::len);
    strings_len(&t.scopes)
        + strings_len(&t.audience)
        + subject
        + partner
        + t.client.weight()
        + ENTRY_OVERHEAD
}

pub(super) struct Token {
    pub(super) client: Arc<Client>,
    pub(super) scopes: Vec<String>,
    pub(super) audience: Vec<String>,
    pub(super) issued_at: SystemTime,
    pub(super) expires_at: SystemTime,
    /// The user an authorization-code token was issued for (client-credentials tokens are
    /// their client's own).
    pub(super) subject: Option<String>,
    /// A refresh token rather than an access token.
    pub(super) refresh: bool,
    pub(super) revoked: AtomicBool,
    /// Every token of one authorization shares this flag: fosite revokes them all when a
    /// code or refresh token is used twice.
    pub(super) family: Option<Arc<AtomicBool>>,
    /// A refresh token: set once it has been exchanged.
    pub(super) used: AtomicBool,
    /// A refresh token: the access token issued with it (revoked when it is exchanged).
    pub(super) partner: Option<String>,
}

impl Token {
    pub(super) fn client_credentials(
        client: Arc<Client>,
        scopes: Vec<String>,
        audience: Vec<String>,
        issued_at: SystemTime,
        expires_at: SystemTime,
    ) -> Self {
        Token {
            client,
            scopes,
            audience,
            issued_at,
            expires_at,
            subject: None,
            refresh: false,
            revoked: AtomicBool::new(false),
            family: None,
            used: AtomicBool::new(false),
            partner: None,
        }
    }

    pub(super) fn is_active(&self) -> bool {
        !self.client.deleted.load(Ordering::Relaxed)
            && !self.revoked.load(Ordering::Relaxed)
            && !self
                .family
                .as_ref()
                .is_some_and(|f| f.load(Ordering::Relaxed))
            && self.expires_at > SystemTime::now()
    }
}

pub(crate) struct Hydra {
    pub(super) public_url: String,
    admin_url: String,
    pub(super) issuer: String,
    pub(super) token_lifespan: Duration,
    clients: Sharded<String, Arc<Client>>,
    pub(super) tokens: Sharded<String, Arc<Token>>,
    /// Authorization-code flows in progress, by challenge and by verifier.
    pub(super) flows: Sharded<String, Arc<super::hydra_code::AuthFlow>>,
    /// Authorization codes issued.
    pub(super) codes: Sharded<String, Arc<super::hydra_code::CodeGrant>>,
}

/// fosite's `WildcardScopeStrategy` (Hydra's default `strategies.scope`).
pub(super) fn wildcard_match(matchers: &[String], needle: &str) -> bool {
    let needle_parts: Vec<&str> = needle.split('.').collect();
    'outer: for matcher in matchers {
        let parts: Vec<&str> = matcher.split('.').collect();
        if parts.len() > needle_parts.len() {
            continue;
        }
        for (k, c) in parts.iter().enumerate() {
            if k == parts.len() - 1 && parts.len() != needle_parts.len() && *c != "*" {
                continue 'outer;
            }
            if *c == "*" && !needle_parts[k].is_empty() {
                continue;
            }
            if *c != needle_parts[k] {
                continue 'outer;
            }
        }
        return true;
    }
    false
}

pub(super) fn split_spaces(s: &str) -> Vec<String> {
    s.split(' ')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

fn string_list(v: Option<&Value>) -> Result<Option<Vec<String>>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| "array element".to_owned())
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err("list".to_owned()),
    }
}

fn opt_string(m: &Map<String, Value>, key: &str) -> Result<String, String> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v) => Err(format!(
            "json: cannot unmarshal {} into Go struct field Client.{key} of type string",
            match v {
                Value::Bool(_) => "bool",
                Value::Number(_) => "number",
                Value::Array(_) => "array",
                _ => "object",
            }
        )),
    }
}

/// Go duration strings (`1h`, `30m`, `1h30m`, `500ms`).
fn parse_go_duration(s: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * factor;
        rest = &rest[unit_end..];
    }
    // Go durations are int64 nanoseconds (about 292 years).
    if total > i64::MAX as f64 / 1e9 {
        return None;
    }
    Duration::try_from_secs_f64(total).ok()
}

impl Hydra {
    pub(crate) fn new(
        public_url: &str,
        admin_url: &str,
        max_entries: usize,
        token_lifespan: Duration,
    ) -> Self {
        Hydra {
            public_url: public_url.to_owned(),
            admin_url: admin_url.to_owned(),
            issuer: format!("{public_url}/"),
            token_lifespan,
            clients: Sharded::with_max_bytes(max_entries, MAX_STORE_BYTES, |c| c.weight()),
            tokens: Sharded::with_max_bytes(max_entries, MAX_STORE_BYTES, token_weight),
            flows: Sharded::with_max_bytes(
                max_entries,
                MAX_STORE_BYTES,
                super::hydra_code::auth_flow_weight,
            ),
            codes: Sharded::with_max_bytes(
                max_entries,
                MAX_STORE_BYTES,
                super::hydra_code::code_weight,
            ),
        }
    }

    /// A registered client.
    pub(super) fn client(&self, id: &str) -> Option<Arc<Client>> {
        self.clients.get(&id.to_owned())
    }

    pub(crate) fn counts(&self) -> (usize, usize) {
        (self.clients.len(), self.tokens.len())
    }

    pub(crate) fn public(&self, req: &Req) -> Resp {
        match req.path.as_str() {
            "/oauth2/auth" => match route(&req.method, &[(Method::GET, ())]) {
                Ok(_) => self.authorize(req),
                Err(r) => *r,
            },
            "/userinfo" => match route(&req.method, &[(Method::GET, ())]) {
                Ok(_) => self.userinfo(req),
                Err(r) => *r,
            },
            "/oauth2/token" => match route(&req.method, &[(Method::POST, ())]) {
                Ok(_) => self.token(req),
                Err(r) => *r,
            },
            "/oauth2/revoke" => match route(&req.method, &[(Method::POST, ())]) {
                Ok(_) => self.revoke(req),
                Err(r) => *r,
            },
            _ => go_not_found(),
        }
    }

    pub(crate) fn admin(&self, req: &Req) -> Resp {
        use Method as M;
        let path = req.path.as_str();
        // Routes registered through httprouterx' admin router also answer without the
        // `/admin` prefix, with a redirect to the prefixed path.
        let (prefixed, rest) = match path.strip_prefix("/admin") {
            Some(rest) if rest.starts_with('/') => (true, rest),
            _ => (false, path),
        };
        let known = if rest == "/clients" {
            match route(&req.method, &[(M::GET, 0), (M::POST, 1)]) {
                Ok(&h) => Some(h),
                Err(r) => return *r,
            }
        } else if let Some(id) = rest
            .strip_prefix("/clients/")
            .filter(|i| !i.is_empty() && !i.contains('/'))
        {
            let _ = id;
            match route(&req.method, &[(M::GET, 2), (M::DELETE, 3)]) {
                Ok(&h) => Some(h),
                Err(r) => return *r,
            }
        } else if rest == "/oauth2/introspect" {
            match route(&req.method, &[(M::POST, 4)]) {
                Ok(&h) => Some(h),
                Err(r) => return *r,
            }
        } else if rest == "/oauth2/auth/requests/login/accept" {
            match route(&req.method, &[(M::PUT, 5)]) {
                Ok(&h) => Some(h),
                Err(r) => return *r,
            }
        } else if rest == "/oauth2/auth/requests/consent/accept" {
            match route(&req.method, &[(M::PUT, 6)]) {
                Ok(&h) => Some(h),
                Err(r) => return *r,
            }
        } else {
            None
        };
        let Some(handler) = known else {
            return admin_not_found(req);
        };
        if !prefixed {
            let mut location = format!("{}/admin{}", self.admin_url, path);
            if !req.raw_query.is_empty() {
                location.push('?');
                location.push_str(&req.raw_query);
            }
            return go_redirect_307(req, &location);
        }
        let id = rest.strip_prefix("/clients/").unwrap_or("");
        let r = match handler {
            0 => self.list_clients(req),
            1 => self.create_client(req),
            2 => self.get_client(id),
            3 => self.delete_client(id),
            4 => self.introspect(req),
            5 => self.accept_login(req),
            _ => self.accept_consent(req),
        };
        // The admin handlers sit behind the no-cache middleware; fosite's own error writer
        // (inactive or refused introspection) overrides it with `no-store` + `Pragma`.
        if is_router_answer(&r) {
            r
        } else {
            no_cache(r)
        }
    }

    // ------------------------------------------------------------------------------------
    // clients

    fn create_client(&self, req: &Req) -> Resp {
        let decode_err = |e: String| {
            admin_error(
                400,
                super::http::MSG_BAD_REQUEST,
                &format!("Unable to decode the request body: {e}"),
            )
        };
        let body = match serde_json::from_slice::<Value>(&req.body) {
            Ok(Value::Object(m)) => m,
            Ok(Value::Null) => Map::new(),
            Ok(_) => {
                return decode_err(
                    "json: cannot unmarshal non-object into Go value of type client.Client".into(),
                )
            }
            Err(e) => {
                return decode_err(if req.body.is_empty() {
                    "EOF".into()
                } else {
                    e.to_string()
                })
            }
        };
        let strings = (|| {
            Ok::<_, String>((
                opt_string(&body, "client_id")?,
                opt_string(&body, "client_secret")?,
                opt_string(&body, "scope")?,
                opt_string(&body, "token_endpoint_auth_method")?,
                opt_string(&body, "access_token_strategy")?,
            ))
        })();
        let (id, mut secret, scope_raw, method_raw, strategy) = match strings {
            Ok(t) => t,
            Err(e) => return decode_err(e),
        };
        let lists = [
            "grant_types",
            "response_types",
            "redirect_uris",
            "audience",
            "contacts",
            "allowed_cors_origins",
        ];
        let mut parsed: Vec<Option<Vec<String>>> = Vec::new();
        for k in lists {
            match string_list(body.get(k)) {
                Ok(v) => parsed.push(v),
                Err(_) => {
                    return decode_err(format!(
                        "json: cannot unmarshal into Go struct field Client.{k} of type []string"
                    ))
                }
            }
        }
        let [grant_types, response_types, redirect_uris, audience, contacts, cors] =
            <[Option<Vec<String>>; 6]>::try_from(parsed).unwrap_or_default();
        let cc_lifespan = match body.get("client_credentials_grant_access_token_lifespan") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => match parse_go_duration(s) {
                Some(d) => Some(d),
                None => return decode_err(format!("time: invalid duration {s:?}")),
            },
            Some(_) => return decode_err("invalid duration".into()),
        };

        if secret.is_empty() {
            secret = random_from(SECRET_CHARSET, 26);
        }
        let method = if method_raw.is_empty() {
            "client_secret_basic".to_owned()
        } else {
            method_raw
        };
        if method == "private_key_jwt"
            && body.get("jwks").is_none()
            && body.get("jwks_uri").is_none()
        {
            return self.metadata_error("When token_endpoint_auth_method is 'private_key_jwt', either jwks or jwks_uri must be set.");
        }
        if !secret.is_empty() && secret.chars().count() < 6 {
            return self.metadata_error(
                "Field client_secret must contain a secret that is at least 6 characters long.",
            );
        }
        let scope = if scope_raw.is_empty() {
            DEFAULT_SCOPE.to_owned()
        } else {
            scope_raw
        };
        for uri in redirect_uris.iter().flatten() {
            if uri.contains('#') {
                return OAuthError::new(
                    400,
                    "invalid_redirect_uri",
                    "The value of one or more redirect_uris is invalid.",
                    Some("Redirect URIs must not contain fragments (#).".into()),
                )
                .respond_admin();
            }
        }
        let strategy = match strategy.as_str() {
            "" => String::new(),
            "opaque" | "jwt" => strategy,
            other => {
                return self.metadata_error(&format!(
                    "invalid access token strategy: invalid access token strategy: {other}"
                ))
            }
        };
        let id = if id.is_empty() {
            Uuid::new_v4().to_string()
        } else {
            id
        };
        let now = SystemTime::now();
        let ts = rfc3339_secs(now);
        let str_or = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let list_or_empty = |v: &Option<Vec<String>>| json!(v.clone().unwrap_or_default());
        let mut stored = json!({
            "client_id": id,
            "client_name": str_or("client_name"),
            "redirect_uris": list_or_empty(&redirect_uris),
            "grant_types": list_or_empty(&grant_types),
            "response_types": list_or_empty(&response_types),
            "scope": scope,
            "audience": list_or_empty(&audience),
            "owner": str_or("owner"),
            "policy_uri": str_or("policy_uri"),
            "allowed_cors_origins": list_or_empty(&cors),
            "tos_uri": str_or("tos_uri"),
            "client_uri": str_or("client_uri"),
            "logo_uri": str_or("logo_uri"),
            "contacts": list_or_empty(&contacts),
            "client_secret_expires_at": 0,
            "subject_type": "public",
            "jwks": body.get("jwks").cloned().unwrap_or(json!({})),
            "token_endpoint_auth_method": method,
            "userinfo_signed_response_alg": "none",
            "created_at": ts,
            // Hydra rounds `created_at` to the second but keeps `updated_at` precise.
            "updated_at": rfc3339(now),
            "metadata": body.get("metadata").cloned().filter(|m| !m.is_null()).unwrap_or(json!({})),
            "skip_consent": body.get("skip_consent").and_then(Value::as_bool).unwrap_or(false),
            "skip_logout_consent": body.get("skip_logout_consent").cloned().unwrap_or(Value::Null),
            "authorization_code_grant_access_token_lifespan": null,
            "authorization_code_grant_id_token_lifespan": null,
            "authorization_code_grant_refresh_token_lifespan": null,
            "client_credentials_grant_access_token_lifespan": body.get("client_credentials_grant_access_token_lifespan").cloned().unwrap_or(Value::Null),
            "implicit_grant_access_token_lifespan": null,
            "implicit_grant_id_token_lifespan": null,
            "jwt_bearer_grant_access_token_lifespan": null,
            "refresh_token_grant_id_token_lifespan": null,
            "refresh_token_grant_access_token_lifespan": null,
            "refresh_token_grant_refresh_token_lifespan": null,
        });
        if !strategy.is_empty() {
            stored["access_token_strategy"] = json!(strategy);
        }
        let client = Arc::new(Client {
            id: id.clone(),
            secret: secret.clone(),
            auth_method: method.clone(),
            grant_types: grant_types.clone().unwrap_or_default(),
            scopes: split_spaces(&scope),
            redirect_uris: redirect_uris.clone().unwrap_or_default(),
            audience: audience.clone().unwrap_or_default(),
            cc_lifespan,
            jwt: strategy == "jwt",
            deleted: AtomicBool::new(false),
            weight: id.len()
                + secret.len()
                + method.len()
                + strings_len(grant_types.as_deref().unwrap_or_default())
                + scope.len()
                + strings_len(redirect_uris.as_deref().unwrap_or_default())
                + strings_len(audience.as_deref().unwrap_or_default())
                + json_len(&stored)
                + ENTRY_OVERHEAD,
            json: stored.clone(),
        });
        let inserted = self.clients.with(&id, |m| {
            if m.contains(&id) {
                (false, Vec::new())
            } else {
                (true, m.insert(id.clone(), client.clone()))
            }
        });
        match inserted {
            (false, _) => {
                return admin_error(
                    409,
                    "Unable to insert or update resource because a resource with that value exists already",
                    "",
                )
            }
            (true, evicted) => {
                for (_, c) in evicted {
                    c.deleted.store(true, Ordering::Relaxed);
                }
            }
        }
        // The create response echoes what was sent (absent lists stay null) plus secrets.
        let mut out = stored;
        for (k, v) in [
            ("grant_types", &grant_types),
            ("response_types", &response_types),
            ("redirect_uris", &redirect_uris),
            ("contacts", &contacts),
        ] {
            if v.is_none() {
                out[k] = Value::Null;
            }
        }
        if !client.is_public() {
            out["client_secret"] = json!(secret);
        }
        out["registration_access_token"] = json!(format!(
            "ory_at_{}.{}",
            random_b64url(32),
            random_b64url(32)
        ));
        // v2.3.0 builds it before the client id is known: it ends in `/oauth2/register/`.
        out["registration_client_uri"] = json!(format!("{}/oauth2/register/", self.public_url));
        let mut s = out.to_string();
        s.push('\n');
        with_header(
            respond(201, Some(CT_JSON_UTF8), s),
            LOCATION,
            &format!("/admin/clients/{id}"),
        )
    }

    fn metadata_error(&self, hint: &str) -> Resp {
        OAuthError::new(
            400,
            "invalid_client_metadata",
            DESC_INVALID_CLIENT_METADATA,
            Some(hint.to_owned()),
        )
        .respond_admin()
    }

    fn get_client(&self, id: &str) -> Resp {
        match self.clients.get(&id.to_owned()) {
            Some(c) => {
                let mut s = c.json.to_string();
                s.push('\n');
                respond(200, Some(CT_JSON_UTF8), s)
            }
            None => admin_error(404, MSG_NO_ROWS, ""),
        }
    }

    fn delete_client(&self, id: &str) -> Resp {
        match self.clients.remove(&id.to_owned()) {
            Some(c) => {
                c.deleted.store(true, Ordering::Relaxed);
                empty(204)
            }
            None => admin_error(404, MSG_NO_ROWS, ""),
        }
    }

    fn list_clients(&self, req: &Req) -> Resp {
        let q = req.query();
        let page_size = q
            .get("page_size")
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(250)
            .min(500);
        let mut items: Vec<String> = Vec::new();
        self.clients.for_each_shard(|m| {
            for c in m.values_in_order() {
                if items.len() >= page_size {
                    return false;
                }
                items.push(c.json.to_string());
            }
            true
        });
        respond(200, Some(CT_JSON_UTF8), format!("[{}]\n", items.join(",")))
    }

    // ------------------------------------------------------------------------------------
    // client authentication (fosite DefaultClientAuthenticationStrategy)

    pub(super) fn authenticate(&self, req: &Req, form: &Query) -> Result<Arc<Client>, OAuthError> {
        if let Some(t) = form.get("client_assertion_type").filter(|t| !t.is_empty()) {
            if t == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
                return Err(OAuthError::invalid_client(Some(
                    "Unable to verify the integrity of the 'client_assertion' value.".into(),
                )));
            }
            return Err(OAuthError::invalid_request(Some(&format!(
                "Unknown client_assertion_type '{t}'."
            ))));
        }
        let basic = basic_auth(req);
        let (client_id, client_secret) = match &basic {
            Some((id, secret)) => {
                let id = url_unescape(id).ok_or_else(|| OAuthError::invalid_request(Some("The client id in the HTTP authorization header could not be decoded from 'application/x-www-form-urlencoded'.")))?;
                let secret = url_unescape(secret).ok_or_else(|| OAuthError::invalid_request(Some("The client secret in the HTTP authorization header could not be decoded from 'application/x-www-form-urlencoded'.")))?;
                (id, secret)
            }
            None => {
                let id = form.get("client_id").unwrap_or("");
                if id.is_empty() {
                    return Err(OAuthError::invalid_request(Some(
                        "Client credentials missing or malformed in both HTTP Authorization header and HTTP POST body.",
                    )));
                }
                (
                    id.to_owned(),
                    form.get("client_secret").unwrap_or("").to_owned(),
                )
            }
        };
        let client = self
            .clients
            .get(&client_id)
            .ok_or_else(|| OAuthError::invalid_client(None))?;
        let mismatch = |requested: &str| {
            OAuthError::invalid_client(Some(format!(
                "The OAuth 2.0 Client supports client authentication method '{}', but method '{requested}' was requested. You must configure the OAuth 2.0 client's 'token_endpoint_auth_method' value to accept '{requested}'.",
                client.auth_method
            )))
        };
        let form_creds = !form.get("client_id").unwrap_or("").is_empty()
            && !form.get("client_secret").unwrap_or("").is_empty();
        if form_creds && client.auth_method != "client_secret_post" {
            return Err(mismatch("client_secret_post"));
        }
        if matches!(&basic, Some((_, s)) if !s.is_empty())
            && client.auth_method != "client_secret_basic"
        {
            return Err(mismatch("client_secret_basic"));
        }
        if client.is_public() {
            return Ok(client);
        }
        if client.secret != client_secret {
            return Err(OAuthError::invalid_client(None));
        }
        Ok(client)
    }

    // ------------------------------------------------------------------------------------
    // token endpoint

    fn token(&self, req: &Req) -> Resp {
        match self.token_inner(req) {
            Ok(body) => no_store(respond(200, Some(CT_OAUTH), body)),
            Err(e) => e.respond(),
        }
    }

    fn token_inner(&self, req: &Req) -> Result<String, OAuthError> {
        let form = req.post_form();
        if form.is_empty() {
            return Err(OAuthError::invalid_request(Some(
                "The POST body can not be empty.",
            )));
        }
        let grant_types = split_spaces(form.get("grant_type").unwrap_or(""));
        if grant_types.is_empty() {
            return Err(OAuthError::invalid_request(Some(
                "Request parameter 'grant_type' is missing",
            )));
        }
        let scopes = split_spaces(form.get("scope").unwrap_or(""));
        let audiences = {
            let all = form.get_all("audience");
            if all.len() > 1 {
                all.into_iter()
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
                    .collect()
            } else {
                split_spaces(all.first().copied().unwrap_or(""))
            }
        };
        let auth = self.authenticate(req, &form);
        let exactly = |g: &str| grant_types.len() == 1 && grant_types[0] == g;
        if !exactly("client_credentials") {
            // Other grants Hydra knows require an authenticated client first.
            let known = [
                "authorization_code",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:jwt-bearer",
            ];
            if let Some(g) = known.iter().find(|g| exactly(g)) {
                let client = auth?;
                let allowed = client.grant_types.iter().any(|x| x == g);
                if allowed && *g == "authorization_code" {
                    return self.exchange_code(&client, &form);
                }
                if allowed && *g == "refresh_token" {
                    return self.refresh(&client, &form);
                }
                if !allowed {
                    return Err(OAuthError::new(
                        400,
                        "unauthorized_client",
                        DESC_UNAUTHORIZED_CLIENT,
                        Some(format!(
                            "The OAuth 2.0 Client is not allowed to use authorization grant '{g}'."
                        )),
                    ));
                }
                return Err(OAuthError::new(
                    400,
                    "invalid_grant",
                    DESC_INVALID_GRANT,
                    None,
                ));
            }
            return Err(OAuthError::invalid_request(None));
        }
        let client = auth?;
        for s in &scopes {
            if !wildcard_match(&client.scopes, s) {
                return Err(OAuthError::new(
                    400,
                    "invalid_scope",
                    DESC_INVALID_SCOPE,
                    Some(format!(
                        "The OAuth 2.0 Client is not allowed to request scope '{s}'."
                    )),
                ));
            }
        }
        for a in &audiences {
            if !client.audience.iter().any(|c| c == a) {
                return Err(OAuthError::invalid_request(Some(&format!(
                    "Requested audience '{a}' has not been whitelisted by the OAuth 2.0 Client."
                ))));
            }
        }
        if client.is_public() {
            return Err(OAuthError::new(400, "invalid_grant", DESC_INVALID_GRANT, Some("The OAuth 2.0 Client is marked as public and is thus not allowed to use authorization grant 'client_credentials'.".into())));
        }
        if !client.grant_types.iter().any(|g| g == "client_credentials") {
            return Err(OAuthError::new(
                400,
                "unauthorized_client",
                DESC_UNAUTHORIZED_CLIENT,
                Some("The OAuth 2.0 Client is not allowed to use authorization grant 'client_credentials'.".into()),
            ));
        }
        let lifespan = client.cc_lifespan.unwrap_or(self.token_lifespan);
        let now = SystemTime::now();
        let expires_at = now + lifespan;
        let token_str = if client.jwt {
            self.fake_jwt(&client, &scopes, &audiences, now, expires_at)
        } else {
            format!("ory_at_{}.{}", random_b64url(32), random_b64url(32))
        };
        let token = Arc::new(Token::client_credentials(
            client.clone(),
            scopes.clone(),
            audiences,
            now,
            expires_at,
        ));
        self.tokens.insert(token_str.clone(), token);
        let expires_in = lifespan.as_secs().saturating_sub(1);
        Ok(json!({
            "access_token": token_str,
            "expires_in": expires_in,
            "scope": scopes.join(" "),
            "token_type": "bearer",
        })
        .to_string())
    }

    /// A JWT-shaped access token for clients with `access_token_strategy: jwt`. The signature
    /// is random: the simulator has no signing keys (introspection works, offline checks do not).
    pub(super) fn fake_jwt(
        &self,
        client: &Client,
        scopes: &[String],
        aud: &[String],
        iat: SystemTime,
        exp: SystemTime,
    ) -> String {
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let header = json!({"alg": "RS256", "kid": "orysim-simulator", "typ": "JWT"});
        let claims = json!({
            "aud": aud,
            "client_id": client.id,
            "exp": unix_secs(exp),
            "ext": {},
            "iat": unix_secs(iat),
            "iss": self.issuer,
            "jti": Uuid::new_v4().to_string(),
            "nbf": unix_secs(iat),
            "scp": scopes,
            "sub": client.id,
        });
        format!("{}.{}.{}", b64(&header), b64(&claims), random_b64url(256))
    }

    // ------------------------------------------------------------------------------------
    // introspection and revocation

    fn introspect(&self, req: &Req) -> Resp {
        let form = req.post_form();
        if form.is_empty() {
            return OAuthError::invalid_request(Some("The POST body can not be empty.")).respond();
        }
        let token = form.get("token").unwrap_or("");
        let wanted = split_spaces(form.get("scope").unwrap_or(""));
        let found = self
            .tokens
            .get(&token.to_owned())
            .filter(|t| t.is_active() && wanted.iter().all(|s| wildcard_match(&t.scopes, s)));
        let active = found.is_some();
        let mut body = match found {
            None => json!({"active": false}).to_string(),
            Some(t) => {
                let mut m = Map::new();
                m.insert("active".into(), json!(true));
                if !t.scopes.is_empty() {
                    m.insert("scope".into(), json!(t.scopes.join(" ")));
                }
                m.insert("client_id".into(), json!(t.client.id));
                m.insert(
                    "sub".into(),
                    json!(t.subject.as_deref().unwrap_or(&t.client.id)),
                );
                m.insert("exp".into(), json!(unix_secs(t.expires_at)));
                m.insert("iat".into(), json!(unix_secs(t.issued_at)));
                m.insert("nbf".into(), json!(unix_secs(t.issued_at)));
                m.insert("aud".into(), json!(t.audience));
                m.insert("iss".into(), json!(self.issuer));
                m.insert("token_type".into(), json!("Bearer"));
                let token_use = if t.refresh {
                    "refresh_token"
                } else {
                    "access_token"
                };
                m.insert("token_use".into(), json!(token_use));
                Value::Object(m).to_string()
            }
        };
        body.push('\n');
        let r = respond(200, Some(CT_OAUTH), body);
        // fosite writes an inactive token through its error writer (no-store + Pragma); an
        // active one gets the admin middleware's no-cache header (added by the caller).
        if active {
            r
        } else {
            no_store(r)
        }
    }

    fn revoke(&self, req: &Req) -> Resp {
        let form = req.post_form();
        let result = if form.is_empty() {
            Err(OAuthError::invalid_request(Some(
                "The POST body can not be empty.",
            )))
        } else {
            self.authenticate(req, &form).map(|client| {
                let token = form.get("token").unwrap_or("").to_owned();
                let owned_by_caller = self
                    .tokens
                    .get(&token)
                    .map(|t| t.client.id == client.id)
                    .unwrap_or(false);
                // A token of another client: fosite answers unauthorized_client, which the
                // revocation writer turns into a plain 200 without revoking anything.
                if owned_by_caller {
                    self.tokens.remove(&token);
                }
            })
        };
        // fosite WriteRevocationResponse: only invalid_request and invalid_client are errors,
        // written as the bare fosite error values (default hint, no specific one).
        let r = match result {
            Ok(()) => empty(200),
            Err(e) if e.is("invalid_client") => OAuthError::invalid_client(None).respond(),
            Err(e) if e.is("invalid_request") => OAuthError::invalid_request(None).respond(),
            Err(_) => empty(200),
        };
        no_store(r)
    }
}

/// Go's `Request.BasicAuth`.
fn basic_auth(req: &Req) -> Option<(String, String)> {
    let auth = req.header("authorization")?.as_bytes();
    if auth.len() < 6 || !auth[..6].eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&auth[6..])
        .ok()?;
    let s = String::from_utf8(decoded).ok()?;
    let (user, pass) = s.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

/// Go's `url.QueryUnescape` (`+` is a space); `None` for a malformed escape.
fn url_unescape(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// `serverx.DefaultNotFoundHandler` (Hydra's admin router), content-negotiated.
fn admin_not_found(req: &Req) -> Resp {
    let accept = req.header("accept").unwrap_or("").to_ascii_lowercase();
    if accept.contains("application/json") {
        let body = json!({"error": {"code": 404, "message": "Not Found", "reason": "The requested route does not exist. Make sure you are using the right path, domain, and port."}});
        respond(404, Some(CT_JSON_UTF8), format!("{body:#}\n"))
    } else if accept.contains("text/plain") {
        respond(
            404,
            Some(CT_TEXT),
            "Error 404 - The requested route does not exist. Make sure you are using the right path, domain, and port.",
        )
    } else {
        respond(
            404,
            Some(super::http::CT_HTML),
            "<!DOCTYPE html><html><head><title>404 - Route not found</title></head><body><h1>Error 404</h1><p>The requested route does not exist. Make sure you are using the right path, domain, and port.</p></body></html>",
        )
    }
}

/// A client whose scope is `scope_bytes` long, for the byte-budget tests.
#[cfg(test)]
pub(super) fn client_with_scope_of(scope_bytes: usize) -> Arc<Client> {
    let scope = "s".repeat(scope_bytes);
    let json = json!({ "client_id": "c", "scope": scope });
    Arc::new(Client {
        id: "c".into(),
        secret: "secret".into(),
        auth_method: "client_secret_basic".into(),
        grant_types: vec!["client_credentials".into()],
        scopes: vec![scope.clone()],
        redirect_uris: Vec::new(),
        audience: Vec::new(),
        cc_lifespan: None,
        jwt: false,
        weight: 2 * scope.len() + ENTRY_OVERHEAD,
        json,
        deleted: AtomicBool::new(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_scope_strategy_matches_fosite() {
        let m = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(wildcard_match(&m(&["read", "write"]), "read"));
        assert!(!wildcard_match(&m(&["read"]), "admin"));
        assert!(wildcard_match(&m(&["foo.*"]), "foo.bar"));
        assert!(!wildcard_match(&m(&["foo.*"]), "foo"));
        assert!(!wildcard_match(&m(&["foo"]), "foo.bar"));
        assert!(wildcard_match(&m(&["foo.*.baz"]), "foo.x.baz"));
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_go_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("x"), None);
        assert_eq!(parse_go_duration("99999999999999999999h"), None);
    }

    #[test]
    fn descriptions_replace_double_quotes() {
        let e = OAuthError::invalid_request(Some("say \"hi\""));
        assert!(e.body().contains("say 'hi'"));
    }

    #[test]
    fn clients_and_tokens_with_large_scopes_stay_within_their_byte_budget_oldest_out_first() {
        let limit = |used: usize| used <= (16 << 20) + 16 * ((2 << 20) + 1024);
        let clients = Sharded::with_max_bytes(1_000_000, 16 << 20, |c: &Arc<Client>| c.weight());
        let (used, kept) =
            crate::sim::store::fill_hundred(&clients, || client_with_scope_of(1 << 20));
        assert!(limit(used), "{used}");
        assert!(kept.len() < 40 && kept.contains(&99), "{kept:?}");
        // A token keeps its client alive after the client store let it go: both are counted.
        let tokens = Sharded::with_max_bytes(1_000_000, 16 << 20, token_weight);
        let (used, kept) = crate::sim::store::fill_hundred(&tokens, || {
            let now = SystemTime::now();
            Arc::new(Token::client_credentials(
                client_with_scope_of(512 << 10),
                vec!["s".repeat(512 << 10)],
                Vec::new(),
                now,
                now,
            ))
        });
        assert!(limit(used), "{used}");
        assert!(kept.len() < 40 && kept.contains(&99), "{kept:?}");
    }

    #[test]
    fn query_unescape_is_go_compatible() {
        assert_eq!(url_unescape("a%2Bb+c").as_deref(), Some("a+b c"));
        assert_eq!(url_unescape("%zz"), None);
        assert_eq!(url_unescape("%+1"), None);
    }
}
