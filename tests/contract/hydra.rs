//! Hydra: OAuth2 client registration and deletion, the client-credentials grant with both
//! authentication methods, introspection and revocation, with their OAuth2-style errors, and how
//! `HydraClient` classifies them.

use crate::{client, send, unique, Answer, Targets, JSON};
use base64::Engine as _;
use orysim::ground::AuthMethod;
use orysim::ground::Endpoint;
use orysim::ground::{ErrorClass, Outcome, Verdict};
use orysim::ory::http::encode;
use orysim::ory::OAuthClient;
use orysim::secret::Secret;
use serde_json::{json, Value};

const FORM: &str = "application/x-www-form-urlencoded";

struct Registered {
    id: String,
    secret: String,
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn basic(id: &str, secret: &str) -> String {
    let raw = format!("{}:{}", encode(id), encode(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// `POST /admin/clients` for a client-credentials client → the 201 answer.
async fn create_client(t: &Targets, method: &str) -> Answer {
    let body = json!({
        "client_name": unique("orysim-contract"),
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": method,
        "scope": "read write",
    });
    create_raw(t, &body).await.expect(201)
}

async fn create_raw(t: &Targets, body: &Value) -> Answer {
    send(
        "POST /admin/clients",
        client()
            .post(format!("{}/admin/clients", t[Endpoint::HydraAdmin]))
            .header("accept", JSON)
            .json(body),
    )
    .await
}

async fn get_client(t: &Targets, id: &str) -> Answer {
    send(
        "GET /admin/clients/{id}",
        client()
            .get(format!(
                "{}/admin/clients/{}",
                t[Endpoint::HydraAdmin],
                encode(id)
            ))
            .header("accept", JSON),
    )
    .await
}

async fn register(t: &Targets, method: &str) -> Registered {
    let a = create_client(t, method).await;
    Registered {
        id: a.str_at("/client_id"),
        secret: a.str_at("/client_secret"),
    }
}

async fn delete_client(t: &Targets, id: &str) -> Answer {
    send(
        "DELETE /admin/clients/{id}",
        client()
            .delete(format!(
                "{}/admin/clients/{}",
                t[Endpoint::HydraAdmin],
                encode(id)
            ))
            .header("accept", JSON),
    )
    .await
}

enum Auth<'a> {
    Basic(&'a str, &'a str),
    Post(&'a str, &'a str),
}

/// A form POST to the public port with the given client authentication.
async fn public_post(t: &Targets, path: &str, pairs: &[(&str, &str)], auth: Auth<'_>) -> Answer {
    let mut pairs = pairs.to_vec();
    let mut req = client()
        .post(format!("{}{path}", t[Endpoint::HydraPublic]))
        .header("accept", JSON)
        .header("content-type", FORM);
    match auth {
        Auth::Basic(id, secret) => req = req.header("authorization", basic(id, secret)),
        Auth::Post(id, secret) => {
            pairs.push(("client_id", id));
            pairs.push(("client_secret", secret));
        }
    }
    send(format!("POST {path}"), req.body(form(&pairs))).await
}

async fn token(t: &Targets, auth: Auth<'_>) -> Answer {
    public_post(
        t,
        "/oauth2/token",
        &[("grant_type", "client_credentials"), ("scope", "read")],
        auth,
    )
    .await
}

async fn introspect(t: &Targets, token: &str) -> Answer {
    send(
        "POST /admin/oauth2/introspect",
        client()
            .post(format!(
                "{}/admin/oauth2/introspect",
                t[Endpoint::HydraAdmin]
            ))
            .header("accept", JSON)
            .header("content-type", FORM)
            .body(form(&[("token", token)])),
    )
    .await
    .expect(200)
}

/// A token answer: 200, bearer, an access token and its lifetime.
fn assert_token(a: &Answer) -> String {
    assert_eq!(a.status, 200, "{}: {}", a.what, a.text);
    assert!(a.content_type().starts_with(JSON), "{}", a.content_type());
    assert_eq!(a.json["token_type"], "bearer", "{}", a.text);
    assert!(
        a.json["expires_in"].as_i64().is_some_and(|n| n > 0),
        "{}",
        a.text
    );
    assert_eq!(a.json["scope"], "read", "{}", a.text);
    a.str_at("/access_token")
}

/// An OAuth2 error `{"error": name, "error_description": ...}` with `status`.
fn assert_oauth_error(a: &Answer, status: u16, error: &str) {
    assert_eq!(a.status, status, "{}: {}", a.what, a.text);
    assert_eq!(a.json["error"], error, "{}: {}", a.what, a.text);
    assert!(
        a.json["error_description"].is_string(),
        "{}: {}",
        a.what,
        a.text
    );
}

fn oauth(r: &Registered, auth: AuthMethod) -> OAuthClient {
    OAuthClient {
        client_id: r.id.clone(),
        client_secret: Secret::new(r.secret.clone()),
        auth,
    }
}

/// Client registration: 201 with the id, the plaintext secret and the auth method; the client's
/// `create_client` and `delete_client`.
pub async fn create_and_delete_client(t: Targets) {
    for method in ["client_secret_basic", "client_secret_post"] {
        let a = create_client(&t, method).await;
        let id = a.str_at("/client_id");
        a.str_at("/client_secret");
        assert_eq!(a.json["token_endpoint_auth_method"], method, "{}", a.text);
        assert_eq!(
            a.json["grant_types"],
            json!(["client_credentials"]),
            "{}",
            a.text
        );
        assert_eq!(a.json["scope"], "read write", "{}", a.text);

        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{}", a.text);
        assert_eq!(a.str_at("/client_secret").len(), 26, "{}", a.text);
        assert!(a.str_at("/created_at").ends_with('Z'), "{}", a.text);
        a.str_at("/registration_access_token");

        let d = delete_client(&t, &id).await.expect(204);
        assert!(d.text.is_empty(), "{}", d.text);
        let not_found = json!({"error": "Unable to locate the resource", "error_description": ""});
        let again = delete_client(&t, &id).await;
        assert_eq!(again.status, 404, "{}", again.text);
        assert_eq!(again.json, not_found, "OAuth2-style: {}", again.text);
        let gone = get_client(&t, &id).await;
        assert_eq!(
            (gone.status, &gone.json),
            (404, &not_found),
            "{}",
            gone.text
        );
    }

    // Defaults: Basic authentication and Hydra's default scope.
    let a = create_raw(&t, &json!({"grant_types": ["client_credentials"]}))
        .await
        .expect(201);
    assert_eq!(a.json["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(
        a.json["scope"], "offline_access offline openid",
        "{}",
        a.text
    );
    delete_client(&t, &a.str_at("/client_id")).await.expect(204);

    // A chosen id and secret are kept; the id is then taken. Too short a secret is refused.
    let id = unique("my-client");
    let chosen = json!({"client_id": id, "client_secret": "s3cret-enough"});
    let a = create_raw(&t, &chosen).await.expect(201);
    assert_eq!(a.json["client_id"], id.as_str(), "{}", a.text);
    assert_eq!(a.json["client_secret"], "s3cret-enough", "{}", a.text);
    create_raw(&t, &chosen).await.expect(409);
    delete_client(&t, &id).await.expect(204);
    let a = create_raw(&t, &json!({"client_secret": "short"})).await;
    assert_oauth_error(&a, 400, "invalid_client_metadata");
    assert!(
        a.json["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("at least 6 characters")),
        "{}",
        a.text
    );

    let h = t.hydra();
    for auth in [AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretPost] {
        let call = h.create_client(auth, "read write").await;
        assert_eq!(call.outcome, Outcome::Ok(Verdict::Ok), "{auth:?}");
        let c = call.value.expect("client");
        assert_eq!(c.auth, auth);
        assert!(!c.client_id.is_empty() && !c.client_secret.is_empty());
        assert!(h.token(&c, Some("read")).await.is_ok());
        assert_eq!(
            h.delete_client(&c.client_id).await.outcome,
            Outcome::Ok(Verdict::Ok)
        );
        assert_eq!(
            h.delete_client(&c.client_id).await.outcome,
            Outcome::Err(ErrorClass::Status(404))
        );
        // A deleted client cannot get tokens any more.
        assert_eq!(
            h.token(&c, Some("read")).await.outcome,
            Outcome::Err(ErrorClass::Status(401))
        );
    }
}

/// client_secret_basic: 200 token; the same client authenticating with client_secret_post, a
/// wrong secret or an unknown id: 401 `invalid_client`.
pub async fn token_basic(t: Targets) {
    let c = register(&t, "client_secret_basic").await;
    let a = token(&t, Auth::Basic(&c.id, &c.secret)).await;
    let access = assert_token(&a);
    assert!(
        access.starts_with("ory_at_") && access.contains('.'),
        "{access}"
    );
    assert_eq!(a.json["expires_in"], 3599, "{}", a.text);

    let wrong_method = token(&t, Auth::Post(&c.id, &c.secret)).await;
    assert_oauth_error(&wrong_method, 401, "invalid_client");
    let desc = wrong_method.json["error_description"]
        .as_str()
        .unwrap_or("");
    assert!(
        desc.contains("'client_secret_basic', but method 'client_secret_post' was requested"),
        "{desc}"
    );
    let bad_secret = token(&t, Auth::Basic(&c.id, "not-the-secret")).await;
    assert_oauth_error(&bad_secret, 401, "invalid_client");
    let unknown = token(&t, Auth::Basic(&unique("no-such-client"), &c.secret)).await;
    assert_oauth_error(&unknown, 401, "invalid_client");
    assert_eq!(
        unknown.json["error_description"],
        "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method)."
    );

    let h = t.hydra();
    let good = oauth(&c, AuthMethod::ClientSecretBasic);
    let call = h.token(&good, Some("read")).await;
    assert_eq!(call.outcome, Outcome::Ok(Verdict::Ok));
    assert!(!call.value.expect("token").is_empty());
    assert_eq!(
        h.token(&oauth(&c, AuthMethod::ClientSecretPost), Some("read"))
            .await
            .outcome,
        Outcome::Err(ErrorClass::Status(401))
    );
    let mut bad = good.clone();
    bad.client_secret = Secret::new("not-the-secret");
    assert_eq!(
        h.token(&bad, Some("read")).await.outcome,
        Outcome::Err(ErrorClass::Status(401))
    );
    delete_client(&t, &c.id).await.expect(204);
}

/// client_secret_post: 200 token with the credentials in the form; Basic auth for that client
/// is 401 `invalid_client`.
pub async fn token_post(t: Targets) {
    let c = register(&t, "client_secret_post").await;
    let tok = assert_token(&token(&t, Auth::Post(&c.id, &c.secret)).await);
    assert_eq!(introspect(&t, &tok).await.json["active"], true);

    let wrong_method = token(&t, Auth::Basic(&c.id, &c.secret)).await;
    assert_oauth_error(&wrong_method, 401, "invalid_client");
    let desc = wrong_method.json["error_description"]
        .as_str()
        .unwrap_or("");
    assert!(
        desc.contains("'client_secret_post', but method 'client_secret_basic' was requested"),
        "{desc}"
    );
    let bad_secret = token(&t, Auth::Post(&c.id, "not-the-secret")).await;
    assert_oauth_error(&bad_secret, 401, "invalid_client");
    // Without a scope the token has none.
    let a = public_post(
        &t,
        "/oauth2/token",
        &[("grant_type", "client_credentials")],
        Auth::Post(&c.id, &c.secret),
    )
    .await
    .expect(200);
    assert_eq!(a.json["scope"], "", "{}", a.text);

    let h = t.hydra();
    let post = oauth(&c, AuthMethod::ClientSecretPost);
    let tok = h.token(&post, Some("read")).await.value.expect("token");
    assert_eq!(
        h.introspect(&tok).await.outcome,
        Outcome::Ok(Verdict::Active)
    );
    assert_eq!(
        h.revoke(&post, &tok).await.outcome,
        Outcome::Ok(Verdict::Ok)
    );
    assert_eq!(
        h.introspect(&tok).await.outcome,
        Outcome::Ok(Verdict::Inactive)
    );
    assert_eq!(
        h.token(&oauth(&c, AuthMethod::ClientSecretBasic), Some("read"))
            .await
            .outcome,
        Outcome::Err(ErrorClass::Status(401))
    );
    delete_client(&t, &c.id).await.expect(204);
}

/// Introspection: an issued token is active with its client id; an unknown one is exactly
/// `{"active":false}`.
pub async fn introspection(t: Targets) {
    let c = register(&t, "client_secret_basic").await;
    let tok = assert_token(&token(&t, Auth::Basic(&c.id, &c.secret)).await);

    let a = introspect(&t, &tok).await;
    assert_eq!(a.json["active"], true, "{}", a.text);
    assert_eq!(a.json["client_id"], c.id, "{}", a.text);
    assert_eq!(a.json["scope"], "read", "{}", a.text);
    assert_eq!(a.json["token_use"], "access_token", "{}", a.text);
    assert_eq!(a.json["sub"], c.id, "{}", a.text);
    assert_eq!(a.json["token_type"], "Bearer", "{}", a.text);
    assert_eq!(a.json["aud"], json!([]), "{}", a.text);
    assert_eq!(a.json["iss"], format!("{}/", t[Endpoint::HydraPublic]));
    let iat = a.json["iat"].as_i64().expect("iat");
    assert_eq!(a.json["exp"].as_i64(), Some(iat + 3600), "{}", a.text);
    assert_eq!(a.json["nbf"].as_i64(), Some(iat), "{}", a.text);

    let unknown = format!(
        "ory_at_{}.{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let a = introspect(&t, &unknown).await;
    assert_eq!(a.json, json!({"active": false}), "{}", a.text);
    let a = introspect(&t, "not-even-a-token").await;
    assert_eq!(a.json, json!({"active": false}), "{}", a.text);
    let a = send(
        "POST /admin/oauth2/introspect (no token)",
        client()
            .post(format!(
                "{}/admin/oauth2/introspect",
                t[Endpoint::HydraAdmin]
            ))
            .header("accept", JSON),
    )
    .await;
    assert_oauth_error(&a, 400, "invalid_request");

    let h = t.hydra();
    assert_eq!(
        h.introspect(&Secret::new(tok.clone())).await.outcome,
        Outcome::Ok(Verdict::Active)
    );
    assert_eq!(
        h.introspect(&Secret::new(unknown)).await.outcome,
        Outcome::Ok(Verdict::Inactive)
    );
    // Deleting the client ends its tokens.
    delete_client(&t, &c.id).await.expect(204);
    assert_eq!(introspect(&t, &tok).await.json, json!({"active": false}));
}

/// Revocation: 200 (empty), then the token introspects inactive; revoking it again, or an
/// unknown token, is still 200.
pub async fn revocation(t: Targets) {
    let c = register(&t, "client_secret_basic").await;
    let tok = assert_token(&token(&t, Auth::Basic(&c.id, &c.secret)).await);
    let other = assert_token(&token(&t, Auth::Basic(&c.id, &c.secret)).await);

    let revoke = |tok: String| {
        let t = t.clone();
        let (id, secret) = (c.id.clone(), c.secret.clone());
        async move {
            public_post(
                &t,
                "/oauth2/revoke",
                &[("token", &tok)],
                Auth::Basic(&id, &secret),
            )
            .await
        }
    };
    let a = revoke(tok.clone()).await.expect(200);
    assert!(a.text.is_empty(), "{}", a.text);
    assert_eq!(introspect(&t, &tok).await.json, json!({"active": false}));
    // Only the revoked token is affected.
    assert_eq!(introspect(&t, &other).await.json["active"], true);
    revoke(tok.clone()).await.expect(200);
    revoke(unique("ory_at_unknown")).await.expect(200);
    let a = public_post(
        &t,
        "/oauth2/revoke",
        &[("token", "x")],
        Auth::Basic(&c.id, "not-the-secret"),
    )
    .await;
    assert_oauth_error(&a, 401, "invalid_client");
    let a = public_post(&t, "/oauth2/revoke", &[], Auth::Basic(&c.id, &c.secret)).await;
    assert_oauth_error(&a, 400, "invalid_request");

    // Another client's revocation is accepted and does nothing.
    let stranger = register(&t, "client_secret_basic").await;
    public_post(
        &t,
        "/oauth2/revoke",
        &[("token", &other)],
        Auth::Basic(&stranger.id, &stranger.secret),
    )
    .await
    .expect(200);
    assert_eq!(introspect(&t, &other).await.json["active"], true);
    delete_client(&t, &stranger.id).await.expect(204);

    let h = t.hydra();
    let oc = oauth(&c, AuthMethod::ClientSecretBasic);
    assert_eq!(
        h.revoke(&oc, &Secret::new(other.clone())).await.outcome,
        Outcome::Ok(Verdict::Ok)
    );
    assert_eq!(
        h.introspect(&Secret::new(other)).await.outcome,
        Outcome::Ok(Verdict::Inactive)
    );
    let mut bad = oc.clone();
    bad.client_secret = Secret::new("not-the-secret");
    assert_eq!(
        h.revoke(&bad, &Secret::new(tok)).await.outcome,
        Outcome::Err(ErrorClass::Status(401))
    );
    delete_client(&t, &c.id).await.expect(204);
}

/// A token request for a client that does not have the grant or asks for a scope it lacks.
pub async fn token_refusals(t: Targets) {
    let c = register(&t, "client_secret_basic").await;
    let a = public_post(
        &t,
        "/oauth2/token",
        &[("grant_type", "client_credentials"), ("scope", "admin")],
        Auth::Basic(&c.id, &c.secret),
    )
    .await;
    assert_oauth_error(&a, 400, "invalid_scope");
    let a = public_post(
        &t,
        "/oauth2/token",
        &[
            ("grant_type", "password"),
            ("username", "u"),
            ("password", "p"),
        ],
        Auth::Basic(&c.id, &c.secret),
    )
    .await;
    assert_eq!(a.status / 100, 4, "{}", a.text);
    assert!(a.json["error"].is_string(), "{}", a.text);
    for (pairs, what) in [
        (&[("grant_type", "password_please")][..], "an unknown grant"),
        (&[("scope", "read")][..], "no grant type"),
        (&[][..], "an empty body"),
    ] {
        let a = public_post(&t, "/oauth2/token", pairs, Auth::Basic(&c.id, &c.secret)).await;
        assert_oauth_error(&a, 400, "invalid_request");
        if pairs.is_empty() {
            let desc = a.json["error_description"].as_str().unwrap_or("");
            assert!(
                desc.contains("The POST body can not be empty."),
                "{what}: {desc}"
            );
        }
    }
    delete_client(&t, &c.id).await.expect(204);

    // A client without the client-credentials grant.
    let a = create_raw(
        &t,
        &json!({"grant_types": ["authorization_code"], "scope": "read", "redirect_uris": ["http://127.0.0.1:5555/cb"]}),
    )
    .await
    .expect(201);
    let (id, secret) = (a.str_at("/client_id"), a.str_at("/client_secret"));
    let a = token(&t, Auth::Basic(&id, &secret)).await;
    assert_oauth_error(&a, 400, "unauthorized_client");
    delete_client(&t, &id).await.expect(204);
}

/// Ids and secrets with reserved characters: the admin path is percent-decoded and Basic
/// credentials are form-encoded before base64 (RFC 6749 2.3.1).
pub async fn reserved_characters(t: Targets) {
    let id = format!("svc a+b:{}", uuid::Uuid::new_v4().simple());
    let secret = "p@ss:w/rd+1 %";
    let body = json!({"client_id": id, "client_secret": secret,
                      "grant_types": ["client_credentials"], "scope": "read write"});
    create_raw(&t, &body).await.expect(201);
    let a = get_client(&t, &id).await.expect(200);
    assert_eq!(a.json["client_id"], id.as_str(), "{}", a.text);
    assert_token(&token(&t, Auth::Basic(&id, secret)).await);
    delete_client(&t, &id).await.expect(204);
}

/// A client's own access-token lifespan: `expires_in` follows it and the token then
/// introspects inactive.
pub async fn token_lifespan(t: Targets) {
    let body = json!({"grant_types": ["client_credentials"], "scope": "read",
                      "client_credentials_grant_access_token_lifespan": "1s"});
    let a = create_raw(&t, &body).await.expect(201);
    let c = Registered {
        id: a.str_at("/client_id"),
        secret: a.str_at("/client_secret"),
    };
    let a = token(&t, Auth::Basic(&c.id, &c.secret)).await.expect(200);
    assert_eq!(a.json["expires_in"], 0, "{}", a.text);
    let access = a.str_at("/access_token");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(introspect(&t, &access).await.json, json!({"active": false}));
    delete_client(&t, &c.id).await.expect(204);
}

/// Details beyond what orysim reads, where the simulator once differed from Hydra v2.3.0:
/// the create answer's `metadata` and `registration_client_uri`, and the caching headers of
/// the admin API, the token endpoint and introspection.
pub async fn details(t: Targets) {
    let a = create_client(&t, "client_secret_basic").await;
    assert_eq!(a.json["metadata"], json!({}), "{}", a.text);
    let uri = a.str_at("/registration_client_uri");
    assert!(uri.ends_with("/oauth2/register/"), "{uri}");
    assert!(
        a.header("cache-control").contains("no-store"),
        "{:?}",
        a.headers
    );
    let c = Registered {
        id: a.str_at("/client_id"),
        secret: a.str_at("/client_secret"),
    };

    let tok = token(&t, Auth::Basic(&c.id, &c.secret)).await;
    let at = assert_token(&tok);
    assert_eq!(tok.header("cache-control"), "no-store");
    assert_eq!(tok.header("pragma"), "no-cache");

    let active = introspect(&t, &at).await;
    assert_eq!(
        active.header("cache-control"),
        "private, no-cache, no-store, must-revalidate"
    );
    assert_eq!(active.header("pragma"), "");
    let inactive = introspect(&t, "ory_at_unknown.unknown").await;
    assert_eq!(inactive.header("cache-control"), "no-store");
    assert_eq!(inactive.header("pragma"), "no-cache");

    let g = send(
        "GET /admin/clients/{id}",
        client()
            .get(format!(
                "{}/admin/clients/{}",
                t[Endpoint::HydraAdmin],
                encode(&c.id)
            ))
            .header("accept", JSON),
    )
    .await
    .expect(200);
    assert_eq!(g.json["client_id"], c.id.as_str(), "{}", g.text);
    assert!(g.json.get("client_secret").is_none(), "{}", g.text);
    assert_eq!(g.json["metadata"], json!({}), "{}", g.text);
    delete_client(&t, &c.id).await.expect(204);
}

contracts! {
    create_and_delete_client => contract_simulator_hydra_clients, contract_real_ory_hydra_clients;
    token_basic => contract_simulator_hydra_token_basic, contract_real_ory_hydra_token_basic;
    token_post => contract_simulator_hydra_token_post, contract_real_ory_hydra_token_post;
    introspection => contract_simulator_hydra_introspection, contract_real_ory_hydra_introspection;
    revocation => contract_simulator_hydra_revocation, contract_real_ory_hydra_revocation;
    token_refusals => contract_simulator_hydra_token_refusals, contract_real_ory_hydra_token_refusals;
    details => contract_simulator_hydra_details, contract_real_ory_hydra_details;
    reserved_characters => contract_simulator_hydra_reserved_characters, contract_real_ory_hydra_reserved_characters;
    token_lifespan => contract_simulator_hydra_token_lifespan, contract_real_ory_hydra_token_lifespan;
}
