//! Kratos: flows, registration, login, sessions, logout, admin identities.

use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::sim::SimConfig;

fn node<'a>(flow: &'a Value, name: &str) -> &'a Value {
    flow["ui"]["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["attributes"]["name"] == name))
        .unwrap_or(&Value::Null)
}

fn node_message_ids(flow: &Value, name: &str) -> Vec<i64> {
    node(flow, name)["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(|x| x["id"].as_i64()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn registration_and_login_flows_have_the_kratos_shape() {
    let sim = sim().await;
    let c = client();
    let (status, flow) = get(
        &c,
        format!(
            "{}/self-service/registration/api",
            sim.urls[Endpoint::KratosPublic]
        ),
    )
    .await;
    assert_eq!(status, 200);
    let id = flow["id"].as_str().unwrap_or_default();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{flow}");
    assert_eq!(flow["type"], "api");
    assert_eq!(flow["state"], "choose_method");
    assert_eq!(flow["ui"]["method"], "POST");
    assert_eq!(
        flow["ui"]["action"],
        format!(
            "{}/self-service/registration?flow={id}",
            sim.urls[Endpoint::KratosPublic]
        )
    );
    assert_eq!(
        flow["request_url"],
        format!(
            "{}/self-service/registration/api",
            sim.urls[Endpoint::KratosPublic]
        )
    );
    assert!(flow["expires_at"].as_str().unwrap_or("") > flow["issued_at"].as_str().unwrap_or("z"));
    assert_eq!(node(&flow, "traits.email")["attributes"]["type"], "email");
    assert_eq!(node(&flow, "traits.email")["attributes"]["required"], true);
    assert_eq!(node(&flow, "csrf_token")["attributes"]["value"], "");
    assert!(!node(&flow, "traits.name.first").is_null());
    assert_eq!(node(&flow, "method")["attributes"]["value"], "profile");

    let (status, flow) = get(
        &c,
        format!(
            "{}/self-service/login/api",
            sim.urls[Endpoint::KratosPublic]
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(flow["type"], "api");
    assert_eq!(flow["refresh"], false);
    assert_eq!(flow["requested_aal"], "aal1");
    assert_eq!(node(&flow, "identifier")["attributes"]["required"], true);
    assert_eq!(node(&flow, "password")["attributes"]["type"], "password");
    assert_eq!(node(&flow, "method")["attributes"]["value"], "password");
    sim.shutdown().await;
}

#[tokio::test]
async fn registration_returns_identity_session_and_token() {
    let sim = sim().await;
    let c = client();
    let (status, body) = register(&c, &sim.urls, "ada@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let token = body["session_token"].as_str().unwrap_or_default();
    assert!(token.starts_with("ory_st_") && token.len() == 39, "{token}");
    assert_eq!(body["identity"]["traits"]["email"], "ada@example.com");
    assert_eq!(body["identity"]["schema_id"], "default");
    assert_eq!(body["identity"]["state"], "active");
    assert!(body["identity"].get("credentials").is_none());
    assert_eq!(body["session"]["active"], true);
    assert_eq!(body["session"]["authenticator_assurance_level"], "aal1");
    assert_eq!(
        body["session"]["authentication_methods"][0]["method"],
        "password"
    );
    assert_eq!(body["session"]["identity"]["id"], body["identity"]["id"]);
    // Kratos records `r.RemoteAddr`, port included.
    let ip = body["session"]["devices"][0]["ip_address"]
        .as_str()
        .unwrap_or("");
    assert!(ip.starts_with("127.0.0.1:"), "{ip}");
    assert_eq!(body["continue_with"][0]["action"], "set_ory_session_token");
    assert_eq!(body["continue_with"][0]["ory_session_token"], token);
    assert_eq!(sim.stats().identities, 1);
    assert_eq!(sim.stats().sessions, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn duplicate_email_is_case_insensitive_and_trimmed() {
    let sim = sim().await;
    let c = client();
    let (status, _) = register(&c, &sim.urls, "Grace@Example.com", PASSWORD).await;
    assert_eq!(status, 200);
    let (status, flow) = register(&c, &sim.urls, "  grace@example.COM", PASSWORD).await;
    assert_eq!(status, 400, "{flow}");
    assert_eq!(flow["ui"]["messages"][0]["id"], 4000007);
    assert_eq!(flow["ui"]["messages"][0]["type"], "error");
    // Trailing blanks fail the schema's email format before the identifier is trimmed.
    let (status, flow) = register(&c, &sim.urls, "grace@example.com ", PASSWORD).await;
    assert_eq!(status, 400, "{flow}");
    assert_eq!(node_message_ids(&flow, "traits.email"), vec![4000001]);
    assert_eq!(flow["type"], "api");
    assert_eq!(sim.stats().identities, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn registration_validation_errors_are_flow_node_messages() {
    let sim = sim().await;
    let c = client();
    let urls = &sim.urls;

    let (status, flow) = register(&c, urls, "short@example.com", "abc12").await;
    assert_eq!(status, 400);
    assert_eq!(node_message_ids(&flow, "password"), vec![4000032], "{flow}");
    assert_eq!(
        node(&flow, "traits.email")["attributes"]["value"],
        "short@example.com"
    );

    let id = registration_flow(&c, urls).await;
    let (status, flow) = submit_registration(
        &c,
        urls,
        &id,
        &json!({"method": "password", "password": PASSWORD, "traits": {}}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        node_message_ids(&flow, "traits.email"),
        vec![4000002],
        "{flow}"
    );
    assert_eq!(
        node(&flow, "traits.email")["messages"][0]["text"],
        "Property email is missing."
    );

    let (status, flow) = submit_registration(
        &c,
        urls,
        &id,
        &json!({"method": "password", "traits": {"email": "x@example.com"}}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(node_message_ids(&flow, "password"), vec![4000002], "{flow}");

    let (status, flow) =
        submit_registration(&c, urls, &id, &registration_body("not-an-email", PASSWORD)).await;
    assert_eq!(status, 400);
    assert_eq!(
        node_message_ids(&flow, "traits.email"),
        vec![4000001],
        "{flow}"
    );

    let (status, flow) = submit_registration(
        &c,
        urls,
        &id,
        &registration_body("x@example.com", "x@example.com"),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(node_message_ids(&flow, "password"), vec![4000031], "{flow}");

    let (status, flow) = submit_registration(&c, urls, &id, &json!({"method": "oidc"})).await;
    assert_eq!(status, 400);
    assert_eq!(
        node_message_ids(&flow, "traits.email"),
        vec![4000002],
        "{flow}"
    );

    let r = c
        .post(format!(
            "{}/self-service/registration?flow={id}",
            urls[Endpoint::KratosPublic]
        ))
        .header("Content-Type", "application/json")
        .body("14=)=!(%)$/ZP()GHI")
        .send()
        .await
        .expect("request");
    let (status, flow) = parts(r).await;
    assert_eq!(status, 400);
    assert_eq!(
        flow["ui"]["messages"][0]["text"],
        "Expected JSON sent in request body to be an object but got: Number"
    );
    assert_eq!(sim.stats().identities, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_malformed_and_foreign_flow_ids() {
    let sim = sim().await;
    let c = client();
    let urls = &sim.urls;
    let body = registration_body("x@example.com", PASSWORD);

    let (status, err) =
        submit_registration(&c, urls, &uuid::Uuid::new_v4().to_string(), &body).await;
    assert_eq!(status, 404);
    assert_eq!(
        err,
        json!({"error": {"code": 404, "status": "Not Found", "message": "Unable to locate the resource"}})
    );

    let (status, err) = submit_registration(&c, urls, "not-a-uuid", &body).await;
    assert_eq!(status, 400);
    assert_eq!(
        err["error"]["reason"],
        "The flow query parameter is missing or malformed."
    );
    assert_eq!(err["error"]["status"], "Bad Request");

    // A login flow is not a registration flow (separate tables in Kratos).
    let login_id = login_flow(&c, urls).await;
    let (status, err) = submit_registration(&c, urls, &login_id, &body).await;
    assert_eq!(status, 404, "{err}");

    let reg = registration_flow(&c, urls).await;
    let (status, _) = login(
        &c,
        urls,
        &json!({"method": "password", "identifier": "x", "password": "y"}),
    )
    .await;
    assert_eq!(status, 400);
    let r = c
        .post(format!(
            "{}/self-service/login?flow={reg}",
            urls[Endpoint::KratosPublic]
        ))
        .json(&json!({"method": "password", "identifier": "x", "password": "y"}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn expired_flows_answer_410_with_a_replacement_flow() {
    let cfg = SimConfig {
        flow_lifespan: Duration::from_millis(50),
        ..SimConfig::ephemeral()
    };
    let sim = sim_tuned(cfg, crate::sim::Tuning::default()).await;
    let c = client();
    let flow = registration_flow(&c, &sim.urls).await;
    tokio::time::sleep(Duration::from_millis(120)).await;
    let (status, err) = submit_registration(
        &c,
        &sim.urls,
        &flow,
        &registration_body("late@example.com", PASSWORD),
    )
    .await;
    assert_eq!(status, 410, "{err}");
    assert_eq!(err["error"]["id"], "self_service_flow_expired");
    assert_eq!(err["error"]["code"], 410);
    assert_eq!(err["error"]["status"], "Gone");
    assert_eq!(err["error"]["message"], "self-service flow expired");
    assert!(err["since"].as_u64().unwrap_or(0) > 0);
    assert!(err["expired_at"].is_string());
    let new_id = err["use_flow_id"].as_str().unwrap_or_default().to_owned();
    let (status, replacement) = get(
        &c,
        format!(
            "{}/self-service/registration/flows?id={new_id}",
            sim.urls[Endpoint::KratosPublic]
        ),
    )
    .await;
    assert_eq!(status, 200, "{replacement}");
    assert_eq!(replacement["ui"]["messages"][0]["id"], 4040001);

    let login = login_flow(&c, &sim.urls).await;
    tokio::time::sleep(Duration::from_millis(120)).await;
    let r = c
        .post(format!(
            "{}/self-service/login?flow={login}",
            sim.urls[Endpoint::KratosPublic]
        ))
        .json(&json!({"method": "password", "identifier": "x@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("request");
    let (status, err) = parts(r).await;
    assert_eq!(status, 410);
    assert_eq!(err["error"]["id"], "self_service_flow_expired");
    sim.shutdown().await;
}

#[tokio::test]
async fn cookie_or_origin_on_an_api_flow_is_rejected() {
    let sim = sim().await;
    let c = client();
    for (header, value, needle) in [
        ("Cookie", "name=bar", "\"Cookie\""),
        ("Origin", "https://www.example.com", "\"Origin\""),
    ] {
        let flow = registration_flow(&c, &sim.urls).await;
        let r = c
            .post(format!(
                "{}/self-service/registration?flow={flow}",
                sim.urls[Endpoint::KratosPublic]
            ))
            .header(header, value)
            .json(&registration_body("cookie@example.com", PASSWORD))
            .send()
            .await
            .expect("request");
        let (status, body) = parts(r).await;
        assert_eq!(status, 400, "{body}");
        let text = body["ui"]["messages"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(text.contains(needle), "{text}");
        assert_eq!(body["ui"]["messages"][0]["id"], 4000001);
    }
    // Cloudflare cookies are tolerated.
    let flow = registration_flow(&c, &sim.urls).await;
    let r = c
        .post(format!(
            "{}/self-service/registration?flow={flow}",
            sim.urls[Endpoint::KratosPublic]
        ))
        .header("Cookie", "__cf_bm=x; cf_clearance=y")
        .json(&registration_body("cf@example.com", PASSWORD))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(sim.stats().identities, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn login_with_password_and_the_documented_failures() {
    let sim = sim().await;
    let c = client();
    let urls = &sim.urls;
    let (status, reg) = register(&c, urls, "Linus@Example.com", PASSWORD).await;
    assert_eq!(status, 200);

    let (status, body) = login(
        &c,
        urls,
        &json!({"method": "password", "identifier": "linus@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["session_token"]
        .as_str()
        .unwrap_or("")
        .starts_with("ory_st_"));
    assert_eq!(body["session"]["active"], true);
    assert_eq!(body["session"]["identity"]["id"], reg["identity"]["id"]);
    assert_eq!(body["session"]["authentication_methods"][0]["aal"], "aal1");

    let (status, body) = login(
        &c,
        urls,
        &json!({"method": "password", "password_identifier": " LINUS@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "deprecated password_identifier: {body}");

    for wrong in [
        json!({"method": "password", "identifier": "linus@example.com", "password": "wrong-password"}),
        json!({"method": "password", "identifier": "nobody@example.com", "password": PASSWORD}),
    ] {
        let (status, body) = login(&c, urls, &wrong).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["ui"]["messages"][0]["id"], 4000006);
        assert_eq!(body["type"], "api");
    }

    let (status, body) = login(
        &c,
        urls,
        &json!({"method": "password", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        node_message_ids(&body, "identifier"),
        vec![4000002],
        "{body}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn whoami_accepts_session_token_or_bearer_and_401s_otherwise() {
    let sim = sim().await;
    let c = client();
    let urls = &sim.urls;
    let (_, reg) = register(&c, urls, "who@example.com", PASSWORD).await;
    let token = reg["session_token"].as_str().unwrap_or_default().to_owned();
    let whoami = format!("{}/sessions/whoami", urls[Endpoint::KratosPublic]);

    let r = c
        .get(&whoami)
        .header("X-Session-Token", &token)
        .send()
        .await
        .expect("request");
    let header = r
        .headers()
        .get("x-kratos-authenticated-identity-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (status, session) = parts(r).await;
    assert_eq!(status, 200);
    assert_eq!(session["identity"]["id"], header);
    assert_eq!(session["identity"]["traits"]["email"], "who@example.com");
    assert_eq!(session["active"], true);

    let r = c
        .get(&whoami)
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);

    let unauthorized = json!({"error": {
        "code": 401,
        "status": "Unauthorized",
        "reason": "No valid session credentials found in the request.",
        "message": "The request could not be authorized",
    }});
    let (status, body) = get(&c, whoami.clone()).await;
    assert_eq!((status, body), (401, unauthorized.clone()));
    let r = c
        .get(&whoami)
        .header("X-Session-Token", "ory_st_unknown")
        .send()
        .await
        .expect("request");
    assert_eq!(parts(r).await, (401, unauthorized.clone()));
    sim.shutdown().await;
}

#[tokio::test]
async fn logout_revokes_and_reports_like_kratos() {
    let sim = sim().await;
    let c = client();
    let urls = &sim.urls;
    let (_, reg) = register(&c, urls, "bye@example.com", PASSWORD).await;
    let token = reg["session_token"].as_str().unwrap_or_default().to_owned();
    let logout = format!("{}/self-service/logout/api", urls[Endpoint::KratosPublic]);

    let r = c
        .delete(&logout)
        .json(&json!({"session_token": token}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 204);
    assert!(r.text().await.unwrap_or_default().is_empty());
    // Already revoked but existing: still 204.
    let r = c
        .delete(&logout)
        .json(&json!({"session_token": token}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 204);
    let r = c
        .get(format!("{}/sessions/whoami", urls[Endpoint::KratosPublic]))
        .header("X-Session-Token", &token)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 401);

    let r = c
        .delete(&logout)
        .json(&json!({"session_token": "ory_st_nope"}))
        .send()
        .await
        .expect("request");
    let (status, body) = parts(r).await;
    assert_eq!(status, 403);
    assert_eq!(
        body["error"]["reason"],
        "The provided Ory Session Token could not be found, is invalid, or otherwise malformed."
    );
    let r = c.delete(&logout).send().await.expect("request");
    let (status, body) = parts(r).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn already_logged_in_requests_are_refused() {
    let sim = sim().await;
    let c = client();
    let urls = &sim.urls;
    let (_, reg) = register(&c, urls, "again@example.com", PASSWORD).await;
    let token = reg["session_token"].as_str().unwrap_or_default().to_owned();
    let r = c
        .get(format!(
            "{}/self-service/registration/api",
            urls[Endpoint::KratosPublic]
        ))
        .header("X-Session-Token", &token)
        .send()
        .await
        .expect("request");
    let (status, body) = parts(r).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["id"], "session_already_available");
    let r = c
        .get(format!(
            "{}/self-service/login/api?refresh=true",
            urls[Endpoint::KratosPublic]
        ))
        .header("X-Session-Token", &token)
        .send()
        .await
        .expect("request");
    let (status, body) = parts(r).await;
    assert_eq!(status, 200);
    assert_eq!(body["refresh"], true);
    sim.shutdown().await;
}

#[tokio::test]
async fn admin_identities_lookup_get_create_and_delete() {
    let sim = sim().await;
    let c = client();
    let urls = &sim.urls;
    let (_, reg) = register(&c, urls, "Admin.Lookup@Example.com", PASSWORD).await;
    let id = reg["identity"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let token = reg["session_token"].as_str().unwrap_or_default().to_owned();

    let (status, list) = get(
        &c,
        format!(
            "{}/admin/identities?credentials_identifier=admin.lookup%40example.com",
            urls[Endpoint::KratosAdmin]
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(
        list[0]["credentials"]["password"]["identifiers"][0],
        "admin.lookup@example.com"
    );
    assert!(list[0]["credentials"]["password"].get("config").is_none());
    let (status, list) = get(
        &c,
        format!(
            "{}/admin/identities?credentials_identifier=nobody%40example.com",
            urls[Endpoint::KratosAdmin]
        ),
    )
    .await;
    assert_eq!((status, list), (200, json!([])));

    let (status, one) = get(
        &c,
        format!("{}/admin/identities/{id}", urls[Endpoint::KratosAdmin]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(one["traits"]["email"], "Admin.Lookup@Example.com");
    let (status, err) = get(
        &c,
        format!(
            "{}/admin/identities/{}",
            urls[Endpoint::KratosAdmin],
            uuid::Uuid::new_v4()
        ),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(err["error"]["code"], 404);

    let r = c
        .delete(format!(
            "{}/admin/identities/{id}",
            urls[Endpoint::KratosAdmin]
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 204);
    let r = c
        .delete(format!(
            "{}/admin/identities/{id}",
            urls[Endpoint::KratosAdmin]
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 404);
    // Deleting the identity revoked its sessions.
    let r = c
        .get(format!("{}/sessions/whoami", urls[Endpoint::KratosPublic]))
        .header("X-Session-Token", &token)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 401);

    let create = json!({
        "schema_id": "default",
        "traits": {"email": "imported@example.com"},
        "credentials": {"password": {"config": {"password": PASSWORD}}},
    });
    let r = c
        .post(format!("{}/admin/identities", urls[Endpoint::KratosAdmin]))
        .json(&create)
        .send()
        .await
        .expect("request");
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (status, created) = parts(r).await;
    assert_eq!(status, 201, "{created}");
    assert!(
        location.ends_with(created["id"].as_str().unwrap_or("?")),
        "{location}"
    );
    let r = c
        .post(format!("{}/admin/identities", urls[Endpoint::KratosAdmin]))
        .json(&create)
        .send()
        .await
        .expect("request");
    let (status, err) = parts(r).await;
    assert_eq!(status, 409);
    assert_eq!(
        err["error"]["reason"],
        "This identity conflicts with another identity that already exists."
    );
    let (status, _) = login(
        &c,
        urls,
        &json!({"method": "password", "identifier": "imported@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200);
    sim.shutdown().await;
}
