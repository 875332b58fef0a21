//! Hydra: clients, client credentials tokens, introspection, revocation.

use base64::Engine;
use serde_json::{json, Value};

use super::*;
use crate::ground::{Endpoint, PerEndpoint};

async fn create_client(
    c: &reqwest::Client,
    urls: &PerEndpoint<String>,
    body: &Value,
) -> (u16, Value) {
    let r = c
        .post(format!("{}/admin/clients", urls[Endpoint::HydraAdmin]))
        .json(body)
        .send()
        .await
        .expect("request");
    parts(r).await
}

fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| serde_urlencoded::to_string([("", s)]).unwrap_or_default()[1..].to_owned();
    let raw = format!("{}:{}", enc(id), enc(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

async fn token_basic(
    c: &reqwest::Client,
    urls: &PerEndpoint<String>,
    id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let r = c
        .post(format!("{}/oauth2/token", urls[Endpoint::HydraPublic]))
        .header("Authorization", basic(id, secret))
        .form(form)
        .send()
        .await
        .expect("request");
    parts(r).await
}

async fn introspect(c: &reqwest::Client, urls: &PerEndpoint<String>, token: &str) -> (u16, Value) {
    let r = c
        .post(format!(
            "{}/admin/oauth2/introspect",
            urls[Endpoint::HydraAdmin]
        ))
        .form(&[("token", token)])
        .send()
        .await
        .expect("request");
    parts(r).await
}

fn cc_client(method: &str) -> Value {
    json!({
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": method,
        "scope": "read write",
    })
}

#[tokio::test]
async fn clients_are_created_read_and_deleted() {
    let sim = sim().await;
    let c = client();
    let urls = &sim.urls;
    let (status, created) =
        create_client(&c, urls, &json!({"grant_types": ["client_credentials"]})).await;
    assert_eq!(status, 201, "{created}");
    let id = created["client_id"].as_str().unwrap_or_default().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    assert_eq!(created["client_secret"].as_str().map(str::len), Some(26));
    assert_eq!(created["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(created["scope"], "offline_access offline openid");
    assert_eq!(created["grant_types"], json!(["client_credentials"]));
    assert!(created["created_at"].as_str().unwrap_or("").ends_with('Z'));
    assert!(created["registration_access_token"].is_string());

    let (status, fetched) = get(
        &c,
        format!("{}/admin/clients/{id}", urls[Endpoint::HydraAdmin]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(fetched["client_id"], id.as_str());
    assert!(fetched.get("client_secret").is_none());

    let r = c
        .delete(format!("{}/admin/clients/{id}", urls[Endpoint::HydraAdmin]))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 204);
    let not_found = json!({"error": "Unable to locate the resource", "error_description": ""});
    assert_eq!(
        get(
            &c,
            format!("{}/admin/clients/{id}", urls[Endpoint::HydraAdmin])
        )
        .await,
        (404, not_found.clone())
    );
    let r = c
        .delete(format!("{}/admin/clients/{id}", urls[Endpoint::HydraAdmin]))
        .send()
        .await
        .expect("request");
    assert_eq!(parts(r).await, (404, not_found));

    let (status, chosen) = create_client(
        &c,
        urls,
        &json!({"client_id": "my-client", "client_secret": "s3cret-enough"}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(chosen["client_id"], "my-client");
    assert_eq!(chosen["client_secret"], "s3cret-enough");
    let (status, dup) = create_client(&c, urls, &json!({"client_id": "my-client"})).await;
    assert_eq!(status, 409, "{dup}");

    let (status, err) = create_client(&c, urls, &json!({"client_secret": "short"})).await;
    assert_eq!(status, 400);
    assert_eq!(err["error"], "invalid_client_metadata");
    assert!(err["error_description"]
        .as_str()
        .unwrap_or("")
        .contains("at least 6 characters"));
    assert_eq!(sim.stats().clients, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn client_credentials_tokens_with_basic_and_post_auth() {
    let sim = sim().await;
    let c = client();
    let urls = &sim.urls;
    let (_, basic_client) =
        create_client(&c, urls, &json!({"client_id": "svc a+b", "client_secret": "p@ss:w/rd+1", "grant_types": ["client_credentials"], "scope": "read write"})).await;
    let id = basic_client["client_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let secret = basic_client["client_secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Path parameters are percent-decoded like Go's URL.Path.
    let (status, fetched) = get(
        &c,
        format!("{}/admin/clients/svc%20a+b", urls[Endpoint::HydraAdmin]),
    )
    .await;
    assert_eq!(status, 200, "{fetched}");
    assert_eq!(fetched["client_id"], "svc a+b");

    let (status, tok) = token_basic(
        &c,
        urls,
        &id,
        &secret,
        &[("grant_type", "client_credentials"), ("scope", "read")],
    )
    .await;
    assert_eq!(status, 200, "{tok}");
    let access = tok["access_token"].as_str().unwrap_or_default();
    assert!(
        access.starts_with("ory_at_") && access.contains('.'),
        "{access}"
    );
    assert_eq!(tok["expires_in"], 3599);
    assert_eq!(tok["scope"], "read");
    assert_eq!(tok["token_type"], "bearer");

    let (_, post_client) = create_client(&c, urls, &cc_client("client_secret_post")).await;
    let pid = post_client["client_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let psecret = post_client["client_secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let r = c
        .post(format!("{}/oauth2/token", urls[Endpoint::HydraPublic]))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &pid),
            ("client_secret", &psecret),
        ])
        .send()
        .await
        .expect("request");
    let (status, tok) = parts(r).await;
    assert_eq!(status, 200, "{tok}");
    assert_eq!(tok["scope"], "");

    // The method used must equal the registered one.
    let (status, err) = token_basic(
        &c,
        urls,
        &pid,
        &psecret,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(err["error"], "invalid_client");
    let desc = err["error_description"].as_str().unwrap_or_default();
    assert!(
        desc.contains("'client_secret_post', but method 'client_secret_basic' was requested"),
        "{desc}"
    );
    let r = c
        .post(format!("{}/oauth2/token", urls[Endpoint::HydraPublic]))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .expect("request");
    let (status, err) = parts(r).await;
    assert_eq!(status, 401);
    assert!(err["error_description"]
        .as_str()
        .unwrap_or("")
        .contains("method 'client_secret_post' was requested"));
    assert_eq!(sim.stats().tokens, 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn token_endpoint_errors_match_fosite() {
    let sim = sim().await;
    let c = client();
    let urls = &sim.urls;
    let (_, cl) = create_client(&c, urls, &cc_client("client_secret_basic")).await;
    let id = cl["client_id"].as_str().unwrap_or_default().to_owned();
    let secret = cl["client_secret"].as_str().unwrap_or_default().to_owned();
    let cc = ("grant_type", "client_credentials");

    let (status, err) = token_basic(&c, urls, &id, "wrong-secret", &[cc]).await;
    assert_eq!(
        (status, err["error"].clone()),
        (401, json!("invalid_client"))
    );
    let (status, err) = token_basic(&c, urls, "nope", "whatever", &[cc]).await;
    assert_eq!(
        (status, err["error"].clone()),
        (401, json!("invalid_client"))
    );
    assert_eq!(
        err["error_description"],
        "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method)."
    );
    let (status, err) = token_basic(&c, urls, &id, &secret, &[cc, ("scope", "admin")]).await;
    assert_eq!(
        (status, err["error"].clone()),
        (400, json!("invalid_scope")),
        "{err}"
    );
    let (status, err) =
        token_basic(&c, urls, &id, &secret, &[("grant_type", "password_please")]).await;
    assert_eq!(
        (status, err["error"].clone()),
        (400, json!("invalid_request")),
        "{err}"
    );
    let (status, err) = token_basic(&c, urls, &id, &secret, &[("scope", "read")]).await;
    assert_eq!(
        (status, err["error"].clone()),
        (400, json!("invalid_request"))
    );
    let r = c
        .post(format!("{}/oauth2/token", urls[Endpoint::HydraPublic]))
        .header("Authorization", basic(&id, &secret))
        .send()
        .await
        .expect("request");
    let (status, err) = parts(r).await;
    assert_eq!(
        (status, err["error"].clone()),
        (400, json!("invalid_request"))
    );
    assert!(err["error_description"]
        .as_str()
        .unwrap_or("")
        .contains("The POST body can not be empty."));

    let (_, no_cc) = create_client(
        &c,
        urls,
        &json!({"grant_types": ["authorization_code"], "scope": "read"}),
    )
    .await;
    let nid = no_cc["client_id"].as_str().unwrap_or_default().to_owned();
    let nsecret = no_cc["client_secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, err) = token_basic(&c, urls, &nid, &nsecret, &[cc]).await;
    assert_eq!(
        (status, err["error"].clone()),
        (400, json!("unauthorized_client")),
        "{err}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn introspection_and_revocation() {
    let sim = sim().await;
    let c = client();
    let urls = &sim.urls;
    let (_, cl) = create_client(&c, urls, &cc_client("client_secret_basic")).await;
    let id = cl["client_id"].as_str().unwrap_or_default().to_owned();
    let secret = cl["client_secret"].as_str().unwrap_or_default().to_owned();
    let (_, tok) = token_basic(
        &c,
        urls,
        &id,
        &secret,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "read write"),
        ],
    )
    .await;
    let access = tok["access_token"].as_str().unwrap_or_default().to_owned();

    let (status, info) = introspect(&c, urls, &access).await;
    assert_eq!(status, 200);
    assert_eq!(info["active"], true);
    assert_eq!(info["client_id"], id.as_str());
    assert_eq!(info["sub"], id.as_str());
    assert_eq!(info["scope"], "read write");
    assert_eq!(info["token_type"], "Bearer");
    assert_eq!(info["token_use"], "access_token");
    assert_eq!(info["aud"], json!([]));
    assert_eq!(info["iss"], format!("{}/", urls[Endpoint::HydraPublic]));
    let iat = info["iat"].as_i64().unwrap_or(0);
    assert_eq!(info["exp"].as_i64().unwrap_or(0) - iat, 3600);
    assert_eq!(info["nbf"].as_i64(), Some(iat));

    assert_eq!(
        introspect(&c, urls, "ory_at_unknown.token").await,
        (200, json!({"active": false}))
    );
    let r = c
        .post(format!(
            "{}/admin/oauth2/introspect",
            urls[Endpoint::HydraAdmin]
        ))
        .send()
        .await
        .expect("request");
    let (status, err) = parts(r).await;
    assert_eq!(
        (status, err["error"].clone()),
        (400, json!("invalid_request"))
    );

    // Revocation: unknown tokens and repeats are fine, bad clients are not.
    let revoke = format!("{}/oauth2/revoke", urls[Endpoint::HydraPublic]);
    let r = c
        .post(&revoke)
        .header("Authorization", basic(&id, &secret))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap_or_default().is_empty());
    assert_eq!(
        introspect(&c, urls, &access).await,
        (200, json!({"active": false}))
    );
    let r = c
        .post(&revoke)
        .header("Authorization", basic(&id, &secret))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    let r = c
        .post(&revoke)
        .header("Authorization", basic(&id, "bad-secret"))
        .form(&[("token", "x")])
        .send()
        .await
        .expect("request");
    let (status, err) = parts(r).await;
    assert_eq!(
        (status, err["error"].clone()),
        (401, json!("invalid_client"))
    );
    let r = c
        .post(&revoke)
        .header("Authorization", basic(&id, &secret))
        .send()
        .await
        .expect("request");
    let (status, err) = parts(r).await;
    assert_eq!(
        (status, err["error"].clone()),
        (400, json!("invalid_request"))
    );

    // Another client cannot revoke this client's token.
    let (_, tok2) = token_basic(
        &c,
        urls,
        &id,
        &secret,
        &[("grant_type", "client_credentials")],
    )
    .await;
    let access2 = tok2["access_token"].as_str().unwrap_or_default().to_owned();
    let (_, other) = create_client(&c, urls, &cc_client("client_secret_basic")).await;
    let oid = other["client_id"].as_str().unwrap_or_default().to_owned();
    let osecret = other["client_secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let r = c
        .post(&revoke)
        .header("Authorization", basic(&oid, &osecret))
        .form(&[("token", access2.as_str())])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(introspect(&c, urls, &access2).await.1["active"], true);

    // Deleting the client deactivates its tokens.
    c.delete(format!("{}/admin/clients/{id}", urls[Endpoint::HydraAdmin]))
        .send()
        .await
        .expect("request");
    assert_eq!(introspect(&c, urls, &access2).await.1["active"], false);
    sim.shutdown().await;
}

#[tokio::test]
async fn expired_tokens_introspect_inactive() {
    let sim = sim().await;
    let c = client();
    let urls = &sim.urls;
    let mut body = cc_client("client_secret_basic");
    body["client_credentials_grant_access_token_lifespan"] = json!("1s");
    let (status, cl) = create_client(&c, urls, &body).await;
    assert_eq!(status, 201, "{cl}");
    let id = cl["client_id"].as_str().unwrap_or_default().to_owned();
    let secret = cl["client_secret"].as_str().unwrap_or_default().to_owned();
    let (_, tok) = token_basic(
        &c,
        urls,
        &id,
        &secret,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(tok["expires_in"], 0);
    let access = tok["access_token"].as_str().unwrap_or_default().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        introspect(&c, urls, &access).await,
        (200, json!({"active": false}))
    );
    sim.shutdown().await;
}
