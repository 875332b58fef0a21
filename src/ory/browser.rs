//! The browser side of one OAuth2 authorization-code flow: what orysim, playing the user's
//! browser, keeps from one leg to the next (Hydra's cookies, the PKCE verifier, `state` and
//! `nonce`, the challenge or code the last leg produced).
//!
//! The engine carries it between steps as one value (see `Output::Browser`), so it encodes to
//! and decodes from a string; it holds secrets (the verifier, the code) and so has no `Debug`.

use base64::Engine as _;
use rand::Rng;
use reqwest::header::{HeaderMap, SET_COOKIE};

/// Which answer the next leg waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `pending` is a login challenge.
    Login,
    /// `pending` is a consent challenge.
    Consent,
    /// `pending` is the authorization code.
    Code,
}

impl Stage {
    fn key(self) -> &'static str {
        match self {
            Stage::Login => "login",
            Stage::Consent => "consent",
            Stage::Code => "code",
        }
    }
}

pub struct Browser {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: String,
    pub nonce: String,
    /// The PKCE `code_verifier`.
    pub verifier: String,
    /// The cookies Hydra set, by name. Every request of the flow goes to the one Hydra public
    /// origin with `Path=/`, so domain and path need no matching.
    pub cookies: Vec<(String, String)>,
    pub stage: Stage,
    pub pending: String,
}

/// 32 random bytes, base64url without padding (43 characters: a valid PKCE verifier).
fn random_token(rng: &mut impl Rng) -> String {
    let bytes: [u8; 32] = rng.gen();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Browser {
    /// A fresh browser for one authorization, with new PKCE verifier, state and nonce.
    pub fn start(client_id: &str, redirect_uri: &str, scope: &str, rng: &mut impl Rng) -> Self {
        Browser {
            client_id: client_id.into(),
            redirect_uri: redirect_uri.into(),
            scope: scope.into(),
            state: random_token(rng),
            nonce: random_token(rng),
            verifier: random_token(rng),
            cookies: Vec::new(),
            stage: Stage::Login,
            pending: String::new(),
        }
    }

    /// The PKCE `code_challenge` for method S256: base64url(SHA-256(verifier)).
    pub fn code_challenge(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, self.verifier.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
    }

    /// Takes in every `Set-Cookie` of an answer: a cookie with `Max-Age` ≤ 0 or an expiry in
    /// 1970 (how Hydra deletes one) leaves the jar, any other replaces its namesake.
    pub fn store_cookies(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let mut attrs = text.split(';');
            let Some((name, value)) = attrs.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            let deleted = attrs.any(|a| {
                let a = a.trim().to_ascii_lowercase();
                a.strip_prefix("max-age=")
                    .is_some_and(|n| n.parse::<i64>().is_ok_and(|n| n <= 0))
                    || (a.starts_with("expires=") && a.contains(" 1970 "))
            });
            self.cookies.retain(|(n, _)| n != name);
            if !deleted && !name.is_empty() {
                self.cookies.push((name.to_string(), value.to_string()));
            }
        }
    }

    /// The `Cookie` header the browser sends, if it holds any cookie.
    pub fn cookie_header(&self) -> Option<String> {
        (!self.cookies.is_empty()).then(|| {
            self.cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// The browser as one value (form-encoded), for the next leg.
    pub fn encode(&self) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::with_capacity(512));
        out.append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("scope", &self.scope)
            .append_pair("state", &self.state)
            .append_pair("nonce", &self.nonce)
            .append_pair("verifier", &self.verifier)
            .append_pair("stage", self.stage.key())
            .append_pair("pending", &self.pending);
        for (name, value) in &self.cookies {
            out.append_pair("cookie", &format!("{name}={value}"));
        }
        out.finish()
    }

    /// `encode`'s inverse; `None` for anything it did not write.
    pub fn decode(text: &str) -> Option<Browser> {
        let mut b = Browser {
            client_id: String::new(),
            redirect_uri: String::new(),
            scope: String::new(),
            state: String::new(),
            nonce: String::new(),
            verifier: String::new(),
            cookies: Vec::new(),
            stage: Stage::Login,
            pending: String::new(),
        };
        let mut stage = None;
        for (k, v) in url::form_urlencoded::parse(text.as_bytes()) {
            match &*k {
                "client_id" => b.client_id = v.into_owned(),
                "redirect_uri" => b.redirect_uri = v.into_owned(),
                "scope" => b.scope = v.into_owned(),
                "state" => b.state = v.into_owned(),
                "nonce" => b.nonce = v.into_owned(),
                "verifier" => b.verifier = v.into_owned(),
                "pending" => b.pending = v.into_owned(),
                "stage" => {
                    stage = [Stage::Login, Stage::Consent, Stage::Code]
                        .into_iter()
                        .find(|s| s.key() == v)
                }
                "cookie" => {
                    let (n, v) = v.split_once('=')?;
                    b.cookies.push((n.to_string(), v.to_string()));
                }
                _ => return None,
            }
        }
        b.stage = stage?;
        (!b.client_id.is_empty() && !b.verifier.is_empty()).then_some(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;
    use reqwest::header::HeaderValue;

    #[test]
    fn pkce_challenge_is_the_rfc_7636_example() {
        let mut b = Browser::start(
            "c",
            "http://x/cb",
            "openid",
            &mut SmallRng::seed_from_u64(1),
        );
        assert_eq!(b.verifier.len(), 43);
        assert_ne!(b.state, b.nonce);
        // RFC 7636 appendix B.
        b.verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into();
        assert_eq!(
            b.code_challenge(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn cookies_are_set_replaced_and_deleted_the_way_hydra_sends_them() {
        let mut b = Browser::start("c", "http://x/cb", "", &mut SmallRng::seed_from_u64(1));
        let mut h = HeaderMap::new();
        h.append(
            SET_COOKIE,
            HeaderValue::from_static("csrf_a=one; Path=/; Max-Age=1800; HttpOnly; SameSite=Lax"),
        );
        h.append(SET_COOKIE, HeaderValue::from_static("session=s; Path=/"));
        b.store_cookies(&h);
        assert_eq!(b.cookie_header().as_deref(), Some("csrf_a=one; session=s"));
        let mut h = HeaderMap::new();
        h.append(
            SET_COOKIE,
            HeaderValue::from_static(
                "session=s; Path=/; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0; HttpOnly",
            ),
        );
        h.append(SET_COOKIE, HeaderValue::from_static("csrf_a=two; Path=/"));
        b.store_cookies(&h);
        assert_eq!(b.cookie_header().as_deref(), Some("csrf_a=two"));
        b.cookies.clear();
        assert_eq!(b.cookie_header(), None);
    }

    #[test]
    fn encodes_and_decodes_every_part() {
        let mut b = Browser::start(
            "my client",
            "http://x/cb?a=b&c",
            "openid offline_access",
            &mut SmallRng::seed_from_u64(2),
        );
        b.cookies.push(("a".into(), "x=y;z".into()));
        b.stage = Stage::Consent;
        b.pending = "chal+lenge/=".into();
        let d = Browser::decode(&b.encode()).unwrap();
        assert_eq!(d.encode(), b.encode());
        assert_eq!(d.client_id, "my client");
        assert_eq!(d.redirect_uri, "http://x/cb?a=b&c");
        assert_eq!(d.cookies, vec![("a".to_string(), "x=y;z".to_string())]);
        assert!(d.stage == Stage::Consent);
        assert_eq!(d.pending, "chal+lenge/=");
        assert!(Browser::decode("").is_none());
        assert!(Browser::decode("client_id=c&verifier=v&stage=nope").is_none());
        assert!(Browser::decode("client_id=c&verifier=v&stage=login&other=1").is_none());
    }
}
