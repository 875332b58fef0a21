//! Hydra's authorization-code flow as orysim drives it: the authorization redirect with its
//! login CSRF cookie, the login and consent accept calls and the redirects that follow them,
//! the code and refresh-token grants (rotation, reuse), userinfo; and how `HydraClient`
//! classifies each leg.

use crate::{client, send, unique, Answer, Targets};
use orysim::ground::{AuthMethod, Endpoint, ErrorClass, Outcome, Verdict};
use orysim::ory::browser::Browser;
use orysim::ory::http::encode;
use orysim::ory::hydra::ClientGrants;
use orysim::secret::Secret;
use rand::SeedableRng;
use reqwest::Url;
use serde_json::json;

const REDIRECT: &str = "http://127.0.0.1:5555/callback";
const SCOPE: &str = "openid offline_access";

/// A client for the authorization-code grant (and refresh tokens).
async fn register(t: &Targets) -> orysim::ory::OAuthClient {
    let call = t
        .hydra()
        .create_client_for(
            AuthMethod::ClientSecretPost,
            SCOPE,
            ClientGrants {
                grant_types: "authorization_code refresh_token",
                redirect_uri: Some(REDIRECT),
            },
        )
        .await;
    assert_eq!(call.outcome, Outcome::Ok(Verdict::Ok), "{}", t.kind);
    call.value.unwrap()
}

fn location(a: &Answer) -> Url {
    let l = a
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("{}: no Location ({}): {}", a.what, a.status, a.text));
    Url::parse(l).unwrap_or_else(|e| panic!("{}: Location {l:?}: {e}", a.what))
}

fn param(u: &Url, name: &str) -> Option<String> {
    u.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `name=value` of every cookie the answer sets (deletions left out).
fn cookies(a: &Answer) -> Vec<String> {
    a.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| !v.contains("Max-Age=0"))
        .map(|v| v.split(';').next().unwrap().to_string())
        .collect()
}

async fn browse(what: &str, url: &str, cookie: &[String]) -> Answer {
    let mut req = client().get(url);
    if !cookie.is_empty() {
        req = req.header("cookie", cookie.join("; "));
    }
    send(what, req).await
}

/// Admin `PUT …/{kind}/accept` → `redirect_to`, moved onto the public URL under test.
async fn accept(t: &Targets, kind: &str, challenge: &str, body: serde_json::Value) -> String {
    let a = send(
        format!("PUT {kind}/accept"),
        client()
            .put(format!(
                "{}/admin/oauth2/auth/requests/{kind}/accept?{kind}_challenge={}",
                t[Endpoint::HydraAdmin],
                encode(challenge)
            ))
            .json(&body),
    )
    .await
    .expect(200);
    let to = Url::parse(&a.str_at("/redirect_to")).unwrap();
    format!(
        "{}{}?{}",
        t[Endpoint::HydraPublic],
        to.path(),
        to.query().unwrap_or("")
    )
}

fn auth_url(t: &Targets, client_id: &str, scope: &str, redirect: &str, state: &str) -> String {
    format!(
        "{}/oauth2/auth?response_type=code&client_id={}&redirect_uri={}&scope={}&state={state}\
         &nonce=nonce-1234567890&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
         &code_challenge_method=S256",
        t[Endpoint::HydraPublic],
        encode(client_id),
        encode(redirect),
        encode(scope)
    )
}

/// The raw flow: redirects, CSRF cookies, verifiers used once, the code used once.
pub async fn code_flow_raw(t: Targets) {
    let c = register(&t).await;
    let state = unique("state");
    let a = browse(
        "GET /oauth2/auth",
        &auth_url(&t, &c.client_id, SCOPE, REDIRECT, &state),
        &[],
    )
    .await;
    assert_eq!(a.status, 302, "{}", a.text);
    let challenge = param(&location(&a), "login_challenge").expect("a login challenge");
    let mut jar = cookies(&a);
    assert!(
        jar.iter().any(|c| c.starts_with("ory_hydra_login_csrf_")),
        "{jar:?}"
    );

    let next = accept(
        &t,
        "login",
        &challenge,
        json!({"subject": "user-1", "remember": false}),
    )
    .await;
    // Without the CSRF cookie Hydra refuses, back at the client with `state`.
    let a = browse("login verifier without cookie", &next, &[]).await;
    assert_eq!(a.status, 303, "{}", a.text);
    let to = location(&a);
    assert_eq!(param(&to, "error").as_deref(), Some("request_forbidden"));
    assert_eq!(param(&to, "state").as_deref(), Some(state.as_str()));

    let next = {
        // The refused attempt used the verifier: authorize afresh.
        let a = browse(
            "GET /oauth2/auth",
            &auth_url(&t, &c.client_id, SCOPE, REDIRECT, &state),
            &[],
        )
        .await;
        jar = cookies(&a);
        let challenge = param(&location(&a), "login_challenge").unwrap();
        accept(
            &t,
            "login",
            &challenge,
            json!({"subject": "user-1", "remember": false}),
        )
        .await
    };
    let a = browse("login verifier", &next, &jar).await;
    assert_eq!(a.status, 302, "{}", a.text);
    let challenge = param(&location(&a), "consent_challenge").expect("a consent challenge");
    jar.extend(cookies(&a));
    assert!(
        jar.iter().any(|c| c.starts_with("ory_hydra_consent_csrf_")),
        "{jar:?}"
    );

    let next = accept(
        &t,
        "consent",
        &challenge,
        json!({"grant_scope": ["openid", "offline_access"], "remember": false}),
    )
    .await;
    let a = browse("consent verifier", &next, &jar).await;
    assert_eq!(a.status, 303, "{}", a.text);
    let to = location(&a);
    assert!(to.as_str().starts_with(REDIRECT), "{to}");
    assert_eq!(param(&to, "state").as_deref(), Some(state.as_str()));
    let code = param(&to, "code").expect("a code");
    let a = browse("consent verifier again", &next, &jar).await;
    assert_eq!(
        param(&location(&a), "error").as_deref(),
        Some("access_denied")
    );

    let exchange = |verifier: &'static str| {
        let (id, secret, code) = (
            c.client_id.clone(),
            c.client_secret.expose().to_string(),
            code.clone(),
        );
        let url = format!("{}/oauth2/token", t[Endpoint::HydraPublic]);
        async move {
            let body = format!(
                "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={verifier}&client_id={}&client_secret={}",
                encode(&code), encode(REDIRECT), encode(&id), encode(&secret)
            );
            send(
                "POST /oauth2/token (code)",
                client()
                    .post(url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body),
            )
            .await
        }
    };
    // RFC 7636 appendix B: this verifier matches the challenge sent.
    let a = exchange("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        .await
        .expect(200);
    assert_eq!(a.json["token_type"], "bearer");
    assert_eq!(a.json["scope"], SCOPE);
    let access = a.str_at("/access_token");
    assert!(a.str_at("/refresh_token").starts_with("ory_rt_"));
    assert_eq!(a.str_at("/id_token").split('.').count(), 3);
    let a = exchange("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").await;
    assert_eq!(
        (a.status, a.json["error"].as_str()),
        (400, Some("invalid_grant")),
        "{}",
        a.text
    );
    // A code used twice revokes what it gave.
    let a = send(
        "GET /userinfo",
        client()
            .get(format!("{}/userinfo", t[Endpoint::HydraPublic]))
            .bearer_auth(&access),
    )
    .await;
    assert_eq!(a.status, 401, "{}", a.text);
    assert_eq!(a.json["error"], "request_unauthorized");
}

/// orysim's typed legs, refresh rotation and its reuse, userinfo.
pub async fn code_flow_typed(t: Targets) {
    let c = register(&t).await;
    let h = t.hydra();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
    let b = Browser::start(&c.client_id, REDIRECT, SCOPE, &mut rng);
    let call = h.authorize(b).await;
    assert_eq!(call.outcome, Outcome::Ok(Verdict::Ok), "{}", t.kind);
    let call = h.accept_login(call.value.unwrap(), "user-2").await;
    assert_eq!(call.outcome, Outcome::Ok(Verdict::Ok), "{}", t.kind);
    let call = h.accept_consent(call.value.unwrap(), SCOPE).await;
    assert_eq!(call.outcome, Outcome::Ok(Verdict::Ok), "{}", t.kind);
    let browser = call.value.unwrap();
    let call = h.exchange_code(&c, &browser).await;
    assert_eq!(call.outcome, Outcome::Ok(Verdict::Ok), "{}", t.kind);
    let first = call.value.unwrap();
    assert_eq!(
        h.userinfo(&first.access_token).await.outcome,
        Outcome::Ok(Verdict::Active)
    );
    let old_refresh = first.refresh_token.unwrap();
    let call = h.refresh(&c, &old_refresh).await;
    assert_eq!(call.outcome, Outcome::Ok(Verdict::Valid), "{}", t.kind);
    let second = call.value.unwrap();
    assert_eq!(
        h.introspect(&first.access_token).await.outcome,
        Outcome::Ok(Verdict::Inactive)
    );
    assert_eq!(
        h.introspect(&second.access_token).await.outcome,
        Outcome::Ok(Verdict::Active)
    );
    // Rotation: the old refresh token is refused, and its reuse revokes the new tokens.
    assert_eq!(
        h.refresh(&c, &old_refresh).await.outcome,
        Outcome::Ok(Verdict::Invalid)
    );
    assert_eq!(
        h.introspect(&second.access_token).await.outcome,
        Outcome::Ok(Verdict::Inactive)
    );
    let next = second.refresh_token.unwrap();
    assert_eq!(
        h.refresh(&c, &next).await.outcome,
        Outcome::Ok(Verdict::Invalid)
    );
    assert_eq!(
        h.userinfo(&Secret::new("ory_at_nope.nope")).await.outcome,
        Outcome::Ok(Verdict::Inactive)
    );
    assert_eq!(
        h.delete_client(&c.client_id).await.outcome,
        Outcome::Ok(Verdict::Ok)
    );
}

/// What Hydra refuses: an unknown scope (back at the client), an unregistered redirect URI
/// (Hydra's error page), an unknown challenge, a redirect URI with a fragment.
pub async fn code_flow_refusals(t: Targets) {
    let c = register(&t).await;
    let a = browse(
        "unknown scope",
        &auth_url(&t, &c.client_id, "openid bogus", REDIRECT, "state-12345"),
        &[],
    )
    .await;
    assert_eq!(a.status, 303, "{}", a.text);
    let to = location(&a);
    assert!(to.as_str().starts_with(REDIRECT), "{to}");
    assert_eq!(param(&to, "error").as_deref(), Some("invalid_scope"));
    assert_eq!(param(&to, "state").as_deref(), Some("state-12345"));

    let a = browse(
        "unregistered redirect",
        &auth_url(
            &t,
            &c.client_id,
            "openid",
            "http://127.0.0.1:5555/other",
            "state-12345",
        ),
        &[],
    )
    .await;
    assert_eq!(a.status, 302, "{}", a.text);
    let to = location(&a);
    assert!(to.path().ends_with("/oauth2/fallbacks/error"), "{to}");
    assert_eq!(param(&to, "error").as_deref(), Some("invalid_request"));

    let h = t.hydra();
    let b = Browser::start(
        &c.client_id,
        REDIRECT,
        "openid bogus",
        &mut rand::rngs::SmallRng::seed_from_u64(1),
    );
    assert_eq!(
        h.authorize(b).await.outcome,
        Outcome::Err(ErrorClass::UnexpectedBody)
    );

    for (kind, body) in [
        ("login", json!({"subject": "x"})),
        ("consent", json!({"grant_scope": ["openid"]})),
    ] {
        let a = send(
            format!("PUT {kind}/accept (unknown)"),
            client()
                .put(format!(
                    "{}/admin/oauth2/auth/requests/{kind}/accept?{kind}_challenge=nope",
                    t[Endpoint::HydraAdmin]
                ))
                .json(&body),
        )
        .await;
        assert_eq!(a.status, 404, "{}", a.text);
        assert_eq!(a.json["error"], "Not Found", "{}", a.text);
    }

    let call = h
        .create_client_for(
            AuthMethod::ClientSecretBasic,
            "openid",
            ClientGrants {
                grant_types: "authorization_code",
                redirect_uri: Some("http://127.0.0.1/cb#x"),
            },
        )
        .await;
    assert_eq!(call.outcome, Outcome::Err(ErrorClass::Status(400)));
}

contracts! {
    code_flow_raw => contract_simulator_hydra_code_flow_raw, contract_real_ory_hydra_code_flow_raw;
    code_flow_typed => contract_simulator_hydra_code_flow_typed, contract_real_ory_hydra_code_flow_typed;
    code_flow_refusals => contract_simulator_hydra_code_flow_refusals, contract_real_ory_hydra_code_flow_refusals;
}
