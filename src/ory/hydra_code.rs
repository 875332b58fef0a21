//! Hydra's authorization-code flow with PKCE, with orysim as both the user's browser and the
//! login-and-consent app, plus the refresh-token grant and userinfo.
//!
//! One leg per call, each timed on its own: the authorization request (→ login challenge), the
//! login accepted through the admin API and its redirect followed (→ consent challenge), the
//! consent accepted and followed (→ code), the code exchange (→ tokens). The browser's cookies
//! (Hydra's CSRF cookies) live in the [`Browser`] handed from leg to leg. Hydra's redirects are
//! read from the `Location` header and never followed to the login, consent or redirect URIs:
//! nothing needs to answer there.

use super::browser::{Browser, Stage};
use super::http::{self, QueryBuf};
use super::hydra::{HydraClient, OAuthClient};
use super::wire::{json_accept, Body};
use super::Call;
use crate::ground::{ErrorClass, Verdict};
use crate::secret::Secret;
use base64::Engine as _;
use reqwest::header::{ACCEPT, AUTHORIZATION, COOKIE, LOCATION};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;

/// What a code exchange or a refresh hands back.
pub struct Tokens {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    pub id_token: Option<Secret>,
}

#[derive(Deserialize)]
struct TokenSet {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
}

#[derive(Deserialize)]
struct RedirectTo {
    redirect_to: String,
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
}

#[derive(Deserialize)]
struct IdClaims {
    #[serde(default)]
    nonce: Option<String>,
}

#[derive(Deserialize)]
struct UserinfoBody {
    sub: String,
}

fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split_whitespace().any(|s| s == wanted)
}

/// The `nonce` claim of an ID token (its signature is Hydra's business; the nonce proves the
/// token answers this authorization).
fn id_token_nonce(id_token: &str) -> Option<String> {
    let payload = id_token.split('.').nth(1)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice::<IdClaims>(&raw).ok()?.nonce
}

/// A query parameter of a redirect's target.
fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl HydraClient {
    /// A redirect of Hydra's to itself, moved onto the configured public URL: Hydra builds it
    /// from its own idea of its address, which need not be the one orysim reaches it at.
    fn on_public(&self, target: &Url) -> Url {
        let mut url = self.inner.public_url.clone();
        url.set_path(target.path());
        url.set_query(target.query());
        url
    }

    /// One browser request: `GET url` with the browser's cookies, keeping the cookies the
    /// answer sets. → (status, the redirect target if it is a redirect). Through the public
    /// endpoint's reqwest client: the legs need the answer's `Set-Cookie` and `Location`.
    async fn browse(
        &self,
        url: Url,
        browser: &mut Browser,
    ) -> Result<(StatusCode, Option<Url>), ErrorClass> {
        let mut req = self.inner.public.http.get(url.clone());
        if let Some(cookies) = browser.cookie_header() {
            let mut hv = reqwest::header::HeaderValue::from_str(&cookies)
                .map_err(|_| ErrorClass::Protocol)?;
            hv.set_sensitive(true);
            req = req.header(COOKIE, hv);
        }
        let resp = req.send().await.map_err(|e| http::classify_error(&e))?;
        let status = resp.status();
        super::retry_after::note(status.as_u16(), resp.headers());
        browser.store_cookies(resp.headers());
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| url.join(l).ok())
            .filter(|_| status.is_redirection());
        // Read (and drop) the body so that the connection can be reused.
        match http::read_body(resp, http::MAX_BODY_BYTES).await {
            Ok(_) | Err(ErrorClass::Protocol) => {}
            Err(class) => return Err(class),
        }
        Ok((status, location))
    }

    /// Follows a browser request to the redirect Hydra must answer with, and reads `param`
    /// from it. A redirect carrying `error` (Hydra refusing the request), or none at all, is
    /// an answer orysim did not expect.
    async fn expect_redirect(
        &self,
        url: Url,
        browser: &mut Browser,
        param_name: &str,
    ) -> Result<(Url, String), ErrorClass> {
        match self.browse(url, browser).await? {
            (_, Some(target)) => match param(&target, param_name) {
                Some(v) if !v.is_empty() && param(&target, "error").is_none() => Ok((target, v)),
                _ => Err(ErrorClass::UnexpectedBody),
            },
            (status, None) if status.is_redirection() => Err(ErrorClass::UnexpectedBody),
            (status, None) => Err(ErrorClass::Status(status.as_u16())),
        }
    }

    /// `GET /oauth2/auth` (public): `response_type=code`, PKCE S256, `state` and `nonce`.
    /// Hydra redirects to the login app → `Ok` + the browser holding the login challenge.
    pub async fn authorize(&self, mut browser: Browser) -> Call<Browser> {
        let mut url = self.inner.auth.clone();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &browser.client_id)
            .append_pair("redirect_uri", &browser.redirect_uri)
            .append_pair("scope", &browser.scope)
            .append_pair("state", &browser.state)
            .append_pair("nonce", &browser.nonce)
            .append_pair("code_challenge", &browser.code_challenge())
            .append_pair("code_challenge_method", "S256");
        match self
            .expect_redirect(url, &mut browser, "login_challenge")
            .await
        {
            Ok((_, challenge)) => {
                browser.stage = Stage::Login;
                browser.pending = challenge;
                Call::ok_with(Verdict::Ok, browser)
            }
            Err(class) => Call::err(class),
        }
    }

    /// Admin `PUT /admin/oauth2/auth/requests/{kind}/accept?{kind}_challenge=…` → the
    /// `redirect_to` the browser must follow.
    async fn accept(
        &self,
        kind: &str,
        challenge: &str,
        body: &serde_json::Value,
    ) -> Result<Url, ErrorClass> {
        let mut url =
            String::with_capacity(self.inner.requests_prefix.len() + 64 + challenge.len());
        url.push_str(&self.inner.requests_prefix);
        url.push_str(kind);
        url.push_str("/accept?");
        url.push_str(kind);
        url.push_str("_challenge=");
        http::push_encoded(&mut url, challenge);
        let answer = self.admin(Method::PUT, &url, Some(Body::json(body)?));
        match answer.await?.whole()? {
            (StatusCode::OK, body) => {
                let r: RedirectTo = http::decode(&body)?;
                let target = Url::parse(&r.redirect_to).map_err(|_| ErrorClass::Protocol)?;
                Ok(self.on_public(&target))
            }
            (status, _) => Err(ErrorClass::Status(status.as_u16())),
        }
    }

    /// The login app accepts the login challenge for `subject`, and the browser follows Hydra
    /// back to the authorization → `Ok` + the browser holding the consent challenge.
    pub async fn accept_login(&self, mut browser: Browser, subject: &str) -> Call<Browser> {
        if browser.stage != Stage::Login {
            return Call::err(ErrorClass::Protocol);
        }
        let body = serde_json::json!({ "subject": subject, "remember": false });
        let next = match self.accept("login", &browser.pending, &body).await {
            Ok(next) => next,
            Err(class) => return Call::err(class),
        };
        match self
            .expect_redirect(next, &mut browser, "consent_challenge")
            .await
        {
            Ok((_, challenge)) => {
                browser.stage = Stage::Consent;
                browser.pending = challenge;
                Call::ok_with(Verdict::Ok, browser)
            }
            Err(class) => Call::err(class),
        }
    }

    /// The consent app grants `scope` (space-separated), and the browser follows Hydra to the
    /// client's redirect URI, which must carry the code and this authorization's `state` →
    /// `Ok` + the browser holding the code.
    pub async fn accept_consent(&self, mut browser: Browser, scope: &str) -> Call<Browser> {
        if browser.stage != Stage::Consent {
            return Call::err(ErrorClass::Protocol);
        }
        let grant: Vec<&str> = scope.split_whitespace().collect();
        let body = serde_json::json!({ "grant_scope": grant, "remember": false });
        let next = match self.accept("consent", &browser.pending, &body).await {
            Ok(next) => next,
            Err(class) => return Call::err(class),
        };
        let (target, code) = match self.expect_redirect(next, &mut browser, "code").await {
            Ok(r) => r,
            Err(class) => return Call::err(class),
        };
        let back_to_client = Url::parse(&browser.redirect_uri)
            .is_ok_and(|r| r.origin() == target.origin() && r.path() == target.path());
        if !back_to_client || param(&target, "state").as_deref() != Some(browser.state.as_str()) {
            return Call::err(ErrorClass::UnexpectedBody);
        }
        browser.stage = Stage::Code;
        browser.pending = code;
        Call::ok_with(Verdict::Ok, browser)
    }

    /// `grant_type=authorization_code` with the code and the PKCE verifier. 200 → `Ok` + the
    /// tokens; with `openid` an ID token carrying this authorization's nonce must come back,
    /// with `offline_access` a refresh token.
    pub async fn exchange_code(&self, client: &OAuthClient, browser: &Browser) -> Call<Tokens> {
        if browser.stage != Stage::Code {
            return Call::err(ErrorClass::Protocol);
        }
        let mut form = QueryBuf::new("", 256 + browser.pending.len());
        form.pair("grant_type", "authorization_code")
            .pair("code", &browser.pending)
            .pair("redirect_uri", &browser.redirect_uri)
            .pair("code_verifier", &browser.verifier);
        let tokens = match self.token_grant(client, form).await {
            Ok((StatusCode::OK, body)) => match tokens_of(&body) {
                Ok(t) => t,
                Err(class) => return Call::err(class),
            },
            Ok((status, _)) => return http::status_err(status),
            Err(class) => return Call::err(class),
        };
        let nonce_ok = match &tokens.id_token {
            Some(id) => id_token_nonce(id.expose()).as_deref() == Some(browser.nonce.as_str()),
            None => !has_scope(&browser.scope, "openid"),
        };
        let refresh_ok =
            tokens.refresh_token.is_some() || !has_scope(&browser.scope, "offline_access");
        if nonce_ok && refresh_ok {
            Call::ok_with(Verdict::Ok, tokens)
        } else {
            Call::err(ErrorClass::UnexpectedBody)
        }
    }

    /// `grant_type=refresh_token`. 200 → `Valid` + the new tokens (Hydra rotates the refresh
    /// token); 400 `invalid_grant` → `Invalid` (a used, revoked or unknown refresh token: Hydra
    /// then also revokes every token of that authorization).
    pub async fn refresh(&self, client: &OAuthClient, refresh_token: &Secret) -> Call<Tokens> {
        let mut form = QueryBuf::new("", 64 + refresh_token.expose().len());
        form.pair("grant_type", "refresh_token")
            .pair("refresh_token", refresh_token.expose());
        match self.token_grant(client, form).await {
            Ok((StatusCode::OK, body)) => match tokens_of(&body) {
                Ok(t) if t.refresh_token.is_some() => Call::ok_with(Verdict::Valid, t),
                Ok(_) => Call::err(ErrorClass::UnexpectedBody),
                Err(class) => Call::err(class),
            },
            Ok((StatusCode::BAD_REQUEST, body)) => match http::decode::<OAuthErrorBody>(&body) {
                Ok(e) if e.error == "invalid_grant" => Call::ok(Verdict::Invalid),
                _ => http::status_err(StatusCode::BAD_REQUEST),
            },
            Ok((status, _)) => http::status_err(status),
            Err(class) => Call::err(class),
        }
    }

    /// Public `GET /userinfo` with the access token. 200 (with `sub`) → `Active`; 401 →
    /// `Inactive`.
    pub async fn userinfo(&self, token: &Secret) -> Call<()> {
        Call::attempt(async {
            let auth = http::bearer_header(token).map_err(|_| ErrorClass::Protocol)?;
            let headers = [(ACCEPT, json_accept()), (AUTHORIZATION, auth)];
            let target = self.inner.userinfo.clone();
            Ok(match self.inner.public.get(&target, &headers).await? {
                (StatusCode::OK, body) => match http::decode::<UserinfoBody>(&body)? {
                    u if !u.sub.is_empty() => Call::ok(Verdict::Active),
                    _ => Call::err(ErrorClass::UnexpectedBody),
                },
                (StatusCode::UNAUTHORIZED, _) => Call::ok(Verdict::Inactive),
                (status, _) => http::status_err(status),
            })
        })
        .await
    }
}

fn tokens_of(body: &[u8]) -> Result<Tokens, ErrorClass> {
    let t: TokenSet = http::decode(body)?;
    let bearer = t
        .token_type
        .as_deref()
        .is_none_or(|tt| tt.eq_ignore_ascii_case("bearer"));
    if t.access_token.is_empty() || !bearer {
        return Err(ErrorClass::UnexpectedBody);
    }
    let secret = |s: Option<String>| s.filter(|s| !s.is_empty()).map(Secret::new);
    Ok(Tokens {
        access_token: Secret::new(t.access_token),
        refresh_token: secret(t.refresh_token),
        id_token: secret(t.id_token),
    })
}
