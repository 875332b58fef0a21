//! Kratos: API (native) registration and login flows, whoami, logout and the identity admin
//! calls orysim makes, with their error shapes, and how `KratosClient` classifies them.

use crate::{client, send, unique, Answer, Targets, JSON};
use orysim::ground::Endpoint;
use orysim::ground::{ErrorClass, Outcome, Verdict};
use orysim::ory::kratos::{MSG_DUPLICATE_IDENTIFIER, MSG_INVALID_CREDENTIALS};
use orysim::ory::Traits;
use orysim::secret::Secret;
use serde_json::{json, Value};

fn email() -> String {
    format!("{}@example.com", unique("contract"))
}

fn password() -> String {
    format!("Pw-{}", uuid::Uuid::new_v4().simple())
}

fn registration_body(email: &str, password: &str) -> Value {
    json!({
        "method": "password",
        "password": password,
        "traits": {"email": email, "name": {"first": "Ada", "last": "Lovelace"}},
    })
}

/// `GET {public}/self-service/{kind}/api` → 200 flow; returns it.
async fn create_flow(t: &Targets, kind: &str) -> Answer {
    let a = send(
        format!("GET /self-service/{kind}/api"),
        client()
            .get(format!(
                "{}/self-service/{kind}/api",
                t[Endpoint::KratosPublic]
            ))
            .header("accept", JSON),
    )
    .await
    .expect(200);
    a.str_at("/id");
    a
}

async fn submit(t: &Targets, kind: &str, flow: &str, body: &Value) -> Answer {
    send(
        format!("POST /self-service/{kind}?flow=…"),
        client()
            .post(format!(
                "{}/self-service/{kind}?flow={flow}",
                t[Endpoint::KratosPublic]
            ))
            .header("accept", JSON)
            .json(body),
    )
    .await
}

/// Raw API-flow registration → the 200 answer.
async fn register(t: &Targets, email: &str, password: &str) -> Answer {
    let flow = create_flow(t, "registration").await.str_at("/id");
    submit(
        t,
        "registration",
        &flow,
        &registration_body(email, password),
    )
    .await
    .expect(200)
}

async fn login(t: &Targets, identifier: &str, password: &str) -> Answer {
    let flow = create_flow(t, "login").await.str_at("/id");
    let body = json!({"method": "password", "identifier": identifier, "password": password});
    submit(t, "login", &flow, &body).await
}

async fn whoami(t: &Targets, token: Option<&str>) -> Answer {
    let mut req = client()
        .get(format!("{}/sessions/whoami", t[Endpoint::KratosPublic]))
        .header("accept", JSON);
    if let Some(token) = token {
        req = req.header("x-session-token", token);
    }
    send("GET /sessions/whoami", req).await
}

async fn logout(t: &Targets, token: &str) -> Answer {
    send(
        "DELETE /self-service/logout/api",
        client()
            .delete(format!(
                "{}/self-service/logout/api",
                t[Endpoint::KratosPublic]
            ))
            .header("accept", JSON)
            .json(&json!({ "session_token": token })),
    )
    .await
}

async fn lookup(t: &Targets, identifier: &str) -> Answer {
    send(
        "GET /admin/identities?credentials_identifier=…",
        client()
            .get(format!("{}/admin/identities", t[Endpoint::KratosAdmin]))
            .query(&[("credentials_identifier", identifier)])
            .header("accept", JSON),
    )
    .await
    .expect(200)
}

fn message_ids(a: &Answer) -> Vec<i64> {
    a.json
        .pointer("/ui/messages")
        .and_then(Value::as_array)
        .map(|m| m.iter().filter_map(|m| m["id"].as_i64()).collect())
        .unwrap_or_default()
}

/// The UI node named `name` (Null when absent).
fn node<'a>(a: &'a Answer, name: &str) -> &'a Value {
    a.json["ui"]["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["attributes"]["name"] == name))
        .unwrap_or(&Value::Null)
}

/// The message ids on the node named `name`.
fn node_ids(a: &Answer, name: &str) -> Vec<i64> {
    node_messages(a, name)
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

/// A 400 flow body carrying the flow-wide message `id` (not an error envelope).
fn assert_flow_message(a: &Answer, flow: Option<&str>, id: i64) {
    assert_eq!(a.status, 400, "{}: {}", a.what, a.text);
    assert!(
        a.json.get("error").is_none(),
        "{}: a validation failure is a flow, not an error envelope: {}",
        a.what,
        a.text
    );
    if let Some(flow) = flow {
        assert_eq!(a.json["id"], flow, "{}: {}", a.what, a.text);
    }
    let ids = message_ids(a);
    assert!(
        ids.contains(&id),
        "{}: ui.messages ids {ids:?} lack {id}: {}",
        a.what,
        a.text
    );
    let msg = a.json["ui"]["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["id"] == id))
        .unwrap();
    assert_eq!(msg["type"], "error", "{}", a.text);
    assert!(msg["text"].as_str().is_some_and(|s| !s.is_empty()));
}

fn traits(email: &str) -> Traits {
    Traits {
        email: email.to_string(),
        first: "Grace".into(),
        last: "Hopper".into(),
    }
}

/// Registration API flow: the flow, the successful submit (identity, session token, active
/// session, thanks to the `session` hook) and `KratosClient::register`.
pub async fn registration(t: Targets) {
    let flow = create_flow(&t, "registration").await;
    let flow_id = flow.str_at("/id");
    assert!(uuid::Uuid::parse_str(&flow_id).is_ok(), "{}", flow.text);
    assert_eq!(flow.json["type"], "api", "{}", flow.text);
    assert_eq!(flow.json["state"], "choose_method", "{}", flow.text);
    assert!(flow.str_at("/expires_at") > flow.str_at("/issued_at"));
    let public = &t[Endpoint::KratosPublic];
    assert_eq!(
        flow.str_at("/ui/action"),
        format!("{public}/self-service/registration?flow={flow_id}")
    );
    assert_eq!(flow.str_at("/ui/method"), "POST");
    assert_eq!(
        flow.str_at("/request_url"),
        format!("{public}/self-service/registration/api")
    );
    let email_node = &node(&flow, "traits.email")["attributes"];
    assert_eq!(email_node["type"], "email", "{}", flow.text);
    assert_eq!(email_node["required"], true, "{}", flow.text);
    assert_eq!(node(&flow, "csrf_token")["attributes"]["value"], "");
    assert_eq!(node(&flow, "method")["attributes"]["value"], "profile");

    let (email, pw) = (email(), password());
    let ok = submit(
        &t,
        "registration",
        &flow_id,
        &registration_body(&email, &pw),
    )
    .await
    .expect(200);
    let identity_id = ok.str_at("/identity/id");
    assert_eq!(ok.json["identity"]["traits"]["email"], email, "{}", ok.text);
    assert_eq!(ok.json["identity"]["state"], "active", "{}", ok.text);
    assert_eq!(ok.json["identity"]["schema_id"], "default", "{}", ok.text);
    assert!(
        ok.json["identity"].get("credentials").is_none(),
        "{}",
        ok.text
    );
    let token = ok.str_at("/session_token");
    assert!(token.starts_with("ory_st_") && token.len() == 39, "{token}");
    let session = &ok.json["session"];
    assert_eq!(session["active"], true, "{}", ok.text);
    assert_eq!(session["identity"]["id"], identity_id, "{}", ok.text);
    assert_eq!(session["authenticator_assurance_level"], "aal1");
    assert_eq!(session["authentication_methods"][0]["method"], "password");
    // Kratos records the peer address, port included.
    let ip = ok.str_at("/session/devices/0/ip_address");
    assert!(ip.starts_with("127.0.0.1:"), "{ip}");
    assert_eq!(
        ok.json["continue_with"][0]["action"],
        "set_ory_session_token"
    );
    assert_eq!(ok.json["continue_with"][0]["ory_session_token"], token);

    // Kratos v1.3.1 does not use up an API registration flow: it registers a second identity.
    let again = submit(
        &t,
        "registration",
        &flow_id,
        &registration_body(&self::email(), &pw),
    )
    .await
    .expect(200);
    assert_ne!(again.str_at("/identity/id"), identity_id, "{}", again.text);

    let k = t.kratos();
    let call = k
        .register(&traits(&self::email()), &Secret::new(password()))
        .await;
    assert_eq!(call.outcome, Outcome::Ok(Verdict::Ok), "{}", t.kind);
    let reg = call.value.expect("registered");
    assert!(!reg.identity_id.is_empty());
    let token = reg.session_token.expect("session hook token");
    assert!(token.expose().starts_with("ory_st_"));
    assert_eq!(k.whoami(&token).await.outcome, Outcome::Ok(Verdict::Active));
}

/// The same email twice: 400 with the registration flow and message 4000007; the client calls
/// it `Status(400)`.
pub async fn duplicate_registration(t: Targets) {
    let (email, pw) = (email(), password());
    register(&t, &email, &pw).await;
    let flow = create_flow(&t, "registration").await.str_at("/id");
    let dup = submit(&t, "registration", &flow, &registration_body(&email, &pw)).await;
    assert_flow_message(&dup, Some(&flow), MSG_DUPLICATE_IDENTIFIER);
    assert_eq!(dup.json["type"], "api", "{}", dup.text);

    // Identifiers are compared lower-cased.
    let flow = create_flow(&t, "registration").await.str_at("/id");
    let upper = submit(
        &t,
        "registration",
        &flow,
        &registration_body(&email.to_uppercase(), &pw),
    )
    .await;
    assert_flow_message(&upper, Some(&flow), MSG_DUPLICATE_IDENTIFIER);
    // Leading blanks are trimmed from the identifier...
    let padded = submit(
        &t,
        "registration",
        &flow,
        &registration_body(&format!("  {}", email.to_uppercase()), &pw),
    )
    .await;
    assert_flow_message(&padded, Some(&flow), MSG_DUPLICATE_IDENTIFIER);
    // ...but trailing ones fail the schema's email format first.
    let trailing = submit(
        &t,
        "registration",
        &flow,
        &registration_body(&format!("{email} "), &pw),
    )
    .await
    .expect(400);
    assert_eq!(
        node_ids(&trailing, "traits.email"),
        [4000001],
        "{}",
        trailing.text
    );

    let call = t
        .kratos()
        .register(&traits(&email), &Secret::new(password()))
        .await;
    assert_eq!(call.outcome, Outcome::Err(ErrorClass::Status(400)));
}

/// Login API flow: 200 with an `ory_st_` token; wrong password and unknown identifier are both
/// 400 flows with message 4000006, which the client calls `Invalid`.
pub async fn login_flow(t: Targets) {
    let (email, pw) = (email(), password());
    let identity_id = register(&t, &email, &pw).await.str_at("/identity/id");

    let flow = create_flow(&t, "login").await;
    assert_eq!(flow.json["type"], "api", "{}", flow.text);
    assert_eq!(flow.json["refresh"], false, "{}", flow.text);
    assert_eq!(flow.json["requested_aal"], "aal1", "{}", flow.text);
    flow.str_at("/expires_at");
    assert_eq!(node(&flow, "identifier")["attributes"]["required"], true);
    assert_eq!(node(&flow, "password")["attributes"]["type"], "password");
    assert_eq!(node(&flow, "method")["attributes"]["value"], "password");

    let ok = login(&t, &email, &pw).await.expect(200);
    let token = ok.str_at("/session_token");
    assert!(token.starts_with("ory_st_"), "{}", ok.text);
    assert_eq!(ok.json["session"]["active"], true, "{}", ok.text);
    assert_eq!(
        ok.json["session"]["identity"]["id"], identity_id,
        "{}",
        ok.text
    );
    ok.str_at("/session/id");
    ok.str_at("/session/expires_at");
    assert_eq!(
        ok.json["session"]["authentication_methods"][0]["aal"],
        "aal1"
    );

    // The identifier is matched case-insensitively.
    login(&t, &email.to_uppercase(), &pw).await.expect(200);
    // The deprecated `password_identifier` still works, and is trimmed.
    let flow_id = create_flow(&t, "login").await.str_at("/id");
    let body =
        json!({"method": "password", "password_identifier": format!(" {email}"), "password": pw});
    submit(&t, "login", &flow_id, &body).await.expect(200);
    // No identifier at all: a message on its node.
    let flow_id = create_flow(&t, "login").await.str_at("/id");
    let body = json!({"method": "password", "password": pw});
    let a = submit(&t, "login", &flow_id, &body).await.expect(400);
    assert_eq!(node_ids(&a, "identifier"), [4000002], "{}", a.text);

    let flow_id = create_flow(&t, "login").await.str_at("/id");
    let bad = submit(
        &t,
        "login",
        &flow_id,
        &json!({"method": "password", "identifier": email, "password": "wrong-Passw0rd!"}),
    )
    .await;
    assert_flow_message(&bad, Some(&flow_id), MSG_INVALID_CREDENTIALS);

    let unknown = login(&t, &self::email(), &pw).await;
    assert_flow_message(&unknown, None, MSG_INVALID_CREDENTIALS);
    assert_eq!(unknown.json["type"], "api", "{}", unknown.text);
    // A method that is not enabled.
    let flow_id = create_flow(&t, "login").await.str_at("/id");
    let a = submit(&t, "login", &flow_id, &json!({"method": "oidc"})).await;
    assert_flow_message(&a, Some(&flow_id), 4010002);

    let k = t.kratos();
    let call = k.login(&email, &Secret::new(pw.clone())).await;
    assert_eq!(call.outcome, Outcome::Ok(Verdict::Valid));
    let li = call.value.expect("logged in");
    assert_eq!(li.identity_id, identity_id);
    assert!(li.session_token.expose().starts_with("ory_st_"));
    assert_eq!(
        k.whoami(&li.session_token).await.outcome,
        Outcome::Ok(Verdict::Active)
    );
    let call = k.login(&email, &Secret::new("wrong-Passw0rd!")).await;
    assert_eq!(call.outcome, Outcome::Ok(Verdict::Invalid));
    assert!(call.value.is_none());
    let call = k.login(&self::email(), &Secret::new(pw)).await;
    assert_eq!(call.outcome, Outcome::Ok(Verdict::Invalid));
}

/// Submitting to a flow that does not exist: 404 envelope; a malformed flow id: 400 envelope.
pub async fn flow_errors(t: Targets) {
    let body = json!({"method": "password", "identifier": email(), "password": password()});
    for kind in ["login", "registration"] {
        let missing = uuid::Uuid::new_v4().to_string();
        let a = submit(&t, kind, &missing, &body).await;
        a.expect_envelope(404);
        assert_eq!(
            a.json,
            json!({"error": {"code": 404, "status": "Not Found", "message": "Unable to locate the resource"}})
        );

        let a = submit(&t, kind, "not-a-flow-id", &body).await;
        a.expect_envelope(400);
        assert_eq!(a.json["error"]["status"], "Bad Request", "{}", a.text);
        assert_eq!(
            a.json["error"]["reason"], "The flow query parameter is missing or malformed.",
            "{}",
            a.text
        );
    }
    // A login flow is not a registration flow, nor the other way round.
    for (made, submitted) in [("login", "registration"), ("registration", "login")] {
        let flow = create_flow(&t, made).await.str_at("/id");
        submit(&t, submitted, &flow, &body)
            .await
            .expect_envelope(404);
    }
}

/// whoami: 200 active with the session token; 401 envelope without a token or with a bogus one.
pub async fn whoami_contract(t: Targets) {
    let (email, pw) = (email(), password());
    let reg = register(&t, &email, &pw).await;
    let identity_id = reg.str_at("/identity/id");
    let token = reg.str_at("/session_token");

    let a = whoami(&t, Some(&token)).await.expect(200);
    assert_eq!(a.json["active"], true, "{}", a.text);
    assert_eq!(a.json["identity"]["id"], identity_id, "{}", a.text);
    assert_eq!(a.json["identity"]["traits"]["email"], email, "{}", a.text);
    assert_eq!(a.header("x-kratos-authenticated-identity-id"), identity_id);
    a.str_at("/id");
    a.str_at("/expires_at");

    // `Authorization: Bearer` works as well.
    let a = send(
        "GET /sessions/whoami (bearer)",
        client()
            .get(format!("{}/sessions/whoami", t[Endpoint::KratosPublic]))
            .header("accept", JSON)
            .bearer_auth(&token),
    )
    .await
    .expect(200);
    assert_eq!(a.json["identity"]["id"], identity_id, "{}", a.text);

    let bogus = format!("ory_st_{}", uuid::Uuid::new_v4().simple());
    for tok in [None, Some(bogus.as_str())] {
        let a = whoami(&t, tok).await;
        a.expect_envelope(401);
        assert_eq!(
            a.json,
            json!({"error": {
                "code": 401,
                "status": "Unauthorized",
                "reason": "No valid session credentials found in the request.",
                "message": "The request could not be authorized",
            }})
        );
    }

    let k = t.kratos();
    assert_eq!(
        k.whoami(&Secret::new(token)).await.outcome,
        Outcome::Ok(Verdict::Active)
    );
    assert_eq!(
        k.whoami(&Secret::new(bogus)).await.outcome,
        Outcome::Ok(Verdict::Inactive)
    );
}

/// logout: 204, then whoami 401; logging out the same token again is still 204; an unknown
/// token is 403. The client calls them `Ok` and `Status(403)`.
pub async fn logout_contract(t: Targets) {
    let (email, pw) = (email(), password());
    let token = register(&t, &email, &pw).await.str_at("/session_token");

    let a = logout(&t, &token).await.expect(204);
    assert!(a.text.is_empty(), "204 with a body: {}", a.text);
    whoami(&t, Some(&token)).await.expect_envelope(401);
    logout(&t, &token).await.expect(204);

    let unknown = logout(&t, &format!("ory_st_{}", uuid::Uuid::new_v4().simple())).await;
    unknown.expect_envelope(403);
    assert_eq!(
        unknown.json["error"]["reason"],
        "The provided Ory Session Token could not be found, is invalid, or otherwise malformed."
    );
    // No body at all.
    let a = send(
        "DELETE /self-service/logout/api (no body)",
        client()
            .delete(format!(
                "{}/self-service/logout/api",
                t[Endpoint::KratosPublic]
            ))
            .header("accept", JSON),
    )
    .await;
    a.expect_envelope(400);

    let k = t.kratos();
    let li = k
        .login(&email, &Secret::new(pw))
        .await
        .value
        .expect("login");
    assert_eq!(
        k.whoami(&li.session_token).await.outcome,
        Outcome::Ok(Verdict::Active)
    );
    assert_eq!(
        k.logout(&li.session_token).await.outcome,
        Outcome::Ok(Verdict::Ok)
    );
    assert_eq!(
        k.whoami(&li.session_token).await.outcome,
        Outcome::Ok(Verdict::Inactive)
    );
    let bogus = Secret::new(format!("ory_st_{}", uuid::Uuid::new_v4().simple()));
    assert_eq!(
        k.logout(&bogus).await.outcome,
        Outcome::Err(ErrorClass::Status(403))
    );
}

/// Admin lookup by `credentials_identifier`: an array holding the identity; `[]` for an
/// unknown email. The client calls them `Ok` + id and `Absent`.
pub async fn admin_lookup(t: Targets) {
    // Registered with capitals: the identifier is stored lower-cased, the trait as given.
    let (given, pw) = (email().replacen('c', "C", 1), password());
    let email = given.to_lowercase();
    let identity_id = register(&t, &given, &pw).await.str_at("/identity/id");

    let a = lookup(&t, &email).await;
    let list = a
        .json
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {}", a.text));
    assert_eq!(list.len(), 1, "{}", a.text);
    assert_eq!(list[0]["id"], identity_id, "{}", a.text);
    assert_eq!(list[0]["traits"]["email"], given, "{}", a.text);
    let creds = &list[0]["credentials"]["password"];
    assert_eq!(creds["identifiers"], json!([email]), "{}", a.text);
    assert!(creds.get("config").is_none(), "{}", a.text);

    let one = send(
        "GET /admin/identities/{id}",
        client()
            .get(format!(
                "{}/admin/identities/{identity_id}",
                t[Endpoint::KratosAdmin]
            ))
            .header("accept", JSON),
    )
    .await
    .expect(200);
    assert_eq!(one.json["traits"]["email"], given, "{}", one.text);
    let unknown = uuid::Uuid::new_v4();
    let a = send(
        "GET /admin/identities/{unknown}",
        client()
            .get(format!(
                "{}/admin/identities/{unknown}",
                t[Endpoint::KratosAdmin]
            ))
            .header("accept", JSON),
    )
    .await;
    a.expect_envelope(404);

    let a = lookup(&t, &self::email()).await;
    assert_eq!(a.json, json!([]), "{}", a.text);

    let k = t.kratos();
    let call = k.lookup_identity(&email).await;
    assert_eq!(call.outcome, Outcome::Ok(Verdict::Ok));
    assert_eq!(call.value.as_deref(), Some(identity_id.as_str()));
    let call = k.lookup_identity(&self::email()).await;
    assert_eq!(call.outcome, Outcome::Ok(Verdict::Absent));
    assert!(call.value.is_none());
}

/// Admin delete: 204, then 404 envelope; the identity's sessions end with it.
pub async fn delete_identity(t: Targets) {
    let (email, pw) = (email(), password());
    let reg = register(&t, &email, &pw).await;
    let identity_id = reg.str_at("/identity/id");
    let token = reg.str_at("/session_token");
    let http = client();
    let del = |id: String| {
        let http = http.clone();
        let url = format!("{}/admin/identities/{id}", t[Endpoint::KratosAdmin]);
        async move {
            send(
                "DELETE /admin/identities/{id}",
                http.delete(url).header("accept", JSON),
            )
            .await
        }
    };

    let a = del(identity_id.clone()).await.expect(204);
    assert!(a.text.is_empty(), "{}", a.text);
    del(identity_id.clone()).await.expect_envelope(404);
    assert_eq!(lookup(&t, &email).await.json, json!([]));
    whoami(&t, Some(&token)).await.expect_envelope(401);

    let k = t.kratos();
    let id = k
        .register(&traits(&self::email()), &Secret::new(password()))
        .await
        .value
        .expect("registered")
        .identity_id;
    assert_eq!(
        k.delete_identity(&id).await.outcome,
        Outcome::Ok(Verdict::Ok)
    );
    assert_eq!(
        k.delete_identity(&id).await.outcome,
        Outcome::Err(ErrorClass::Status(404))
    );
}

/// Registration validation: each failure is a 400 flow with the message on the node at fault
/// (or on the flow), the submitted values kept.
pub async fn registration_validation(t: Targets) {
    let (email, pw) = (email(), password());
    let flow = create_flow(&t, "registration").await.str_at("/id");
    let bad = |body: Value| {
        let (t, flow) = (t.clone(), flow.clone());
        async move { submit(&t, "registration", &flow, &body).await.expect(400) }
    };

    let a = bad(registration_body(&email, "abc12")).await;
    assert_eq!(node_ids(&a, "password"), [4000032], "{}", a.text);
    assert_eq!(node(&a, "traits.email")["attributes"]["value"], email);

    let a = bad(json!({"method": "password", "password": pw, "traits": {}})).await;
    assert_eq!(
        node_messages(&a, "traits.email"),
        [(4000002, "Property email is missing.".to_string())]
    );
    let a = bad(json!({"method": "password", "traits": {"email": email}})).await;
    assert_eq!(node_ids(&a, "password"), [4000002], "{}", a.text);
    let a = bad(registration_body("not-an-email", &pw)).await;
    assert_eq!(node_ids(&a, "traits.email"), [4000001], "{}", a.text);
    // A password equal to the identifier is refused as too similar.
    let a = bad(registration_body(&email, &email)).await;
    assert_eq!(node_ids(&a, "password"), [4000031], "{}", a.text);
    // A method that is not enabled: the traits are validated all the same...
    let fresh = |body: Value| {
        let t = t.clone();
        async move {
            let flow = create_flow(&t, "registration").await.str_at("/id");
            submit(&t, "registration", &flow, &body).await.expect(400)
        }
    };
    let a = fresh(json!({"method": "oidc"})).await;
    assert_eq!(node_ids(&a, "traits.email"), [4000002], "{}", a.text);
    assert_eq!(message_ids(&a), [0; 0], "{}", a.text);
    // ...and only valid ones find no strategy.
    let a = fresh(json!({"method": "oidc", "traits": {"email": email}})).await;
    assert_eq!(message_ids(&a), [4010003], "{}", a.text);

    let a = send(
        "POST /self-service/registration (not an object)",
        client()
            .post(format!(
                "{}/self-service/registration?flow={flow}",
                t[Endpoint::KratosPublic]
            ))
            .header("accept", JSON)
            .header("content-type", JSON)
            .body("14=)=!(%)$/ZP()GHI"),
    )
    .await
    .expect(400);
    assert_eq!(
        a.json["ui"]["messages"][0]["text"],
        "Expected JSON sent in request body to be an object but got: Number"
    );
    assert_eq!(
        lookup(&t, &email).await.json,
        json!([]),
        "nothing registered"
    );
}

/// A cookie or an `Origin` on an API flow is a browser in disguise: 400 with a message naming
/// the header. Cloudflare's own cookies are tolerated.
pub async fn api_flow_browser_headers(t: Targets) {
    let post = |flow: String, header: &'static str, value: &'static str| {
        let t = t.clone();
        async move {
            send(
                format!("POST /self-service/registration ({header})"),
                client()
                    .post(format!(
                        "{}/self-service/registration?flow={flow}",
                        t[Endpoint::KratosPublic]
                    ))
                    .header("accept", JSON)
                    .header(header, value)
                    .json(&registration_body(&email(), &password())),
            )
            .await
        }
    };
    for (header, value, needle) in [
        ("cookie", "name=bar", "\"Cookie\""),
        ("origin", "https://www.example.com", "\"Origin\""),
    ] {
        let flow = create_flow(&t, "registration").await.str_at("/id");
        let a = post(flow, header, value).await.expect(400);
        assert_eq!(message_ids(&a), [4000001], "{}", a.text);
        let text = a.json["ui"]["messages"][0]["text"].as_str().unwrap_or("");
        assert!(text.contains(needle), "{text}");
    }
    let flow = create_flow(&t, "registration").await.str_at("/id");
    post(flow, "cookie", "__cf_bm=x; cf_clearance=y")
        .await
        .expect(200);
}

/// Admin create: 201 with a `Location` naming the new identity, whose imported password logs
/// in; the same identifier again is 409.
pub async fn admin_create_identity(t: Targets) {
    let (email, pw) = (email(), password());
    let create = json!({
        "schema_id": "default",
        "traits": {"email": email},
        "credentials": {"password": {"config": {"password": pw}}},
    });
    let post = || {
        send(
            "POST /admin/identities",
            client()
                .post(format!("{}/admin/identities", t[Endpoint::KratosAdmin]))
                .header("accept", JSON)
                .json(&create),
        )
    };
    let a = post().await.expect(201);
    let id = a.str_at("/id");
    let location = a.header("location");
    assert!(location.ends_with(&id), "{location}");
    let a = post().await;
    a.expect_envelope(409);
    assert_eq!(
        a.json["error"]["reason"],
        "This identity conflicts with another identity that already exists."
    );
    login(&t, &email, &pw).await.expect(200);
}

/// An expired flow: 410 envelope `self_service_flow_expired` with `use_flow_id`, a replacement
/// flow that works. Simulator only: the real stack runs with Kratos's default 1 h lifespan.
pub async fn expired_flow(t: Targets) {
    let flow = create_flow(&t, "registration").await.str_at("/id");
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let (email, pw) = (email(), password());
    let a = submit(&t, "registration", &flow, &registration_body(&email, &pw)).await;
    a.expect_envelope(410);
    assert_eq!(
        a.json["error"]["id"], "self_service_flow_expired",
        "{}",
        a.text
    );
    assert_eq!(a.json["error"]["status"], "Gone", "{}", a.text);
    assert_eq!(a.json["error"]["message"], "self-service flow expired");
    assert!(
        a.json["since"].as_u64().is_some_and(|n| n > 0),
        "{}",
        a.text
    );
    a.str_at("/expired_at");
    let replacement = a.str_at("/use_flow_id");
    assert_ne!(replacement, flow);
    // The replacement flow says why it exists.
    let r = send(
        "GET /self-service/registration/flows?id=…",
        client()
            .get(format!(
                "{}/self-service/registration/flows",
                t[Endpoint::KratosPublic]
            ))
            .query(&[("id", &replacement)])
            .header("accept", JSON),
    )
    .await
    .expect(200);
    assert_eq!(message_ids(&r), [4040001], "{}", r.text);
    let ok = submit(
        &t,
        "registration",
        &replacement,
        &registration_body(&email, &pw),
    )
    .await
    .expect(200);
    ok.str_at("/identity/id");

    // Login flows expire the same way.
    let flow = create_flow(&t, "login").await.str_at("/id");
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let body = json!({"method": "password", "identifier": email, "password": pw});
    let a = submit(&t, "login", &flow, &body).await;
    a.expect_envelope(410);
    assert_eq!(a.json["error"]["id"], "self_service_flow_expired");
}

fn node_names(a: &Answer) -> Vec<String> {
    a.json["ui"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: no ui.nodes: {}", a.what, a.text))
        .iter()
        .map(|n| n["attributes"]["name"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Details beyond what orysim reads, where the simulator once differed from Kratos v1.3.1:
/// node order, defaulted traits, refresh flows, the admin identity view and its `Link` header,
/// the no-cache headers, the unsupported-content-type message and the router's answers.
pub async fn details(t: Targets) {
    let flow = create_flow(&t, "registration").await;
    assert_eq!(
        node_names(&flow),
        [
            "traits.email",
            "traits.name.first",
            "traits.name.last",
            "csrf_token",
            "method"
        ],
        "{}",
        flow.text
    );
    assert!(
        flow.header("cache-control").contains("no-store"),
        "{:?}",
        flow.headers
    );
    assert_eq!(flow.header("vary"), "Cookie", "{:?}", flow.headers);

    // A password error node sits right after the identifier.
    let (email, pw) = (email(), password());
    let short = submit(
        &t,
        "registration",
        &flow.str_at("/id"),
        &registration_body(&email, "short"),
    )
    .await
    .expect(400);
    let names = node_names(&short);
    assert_eq!(names[..2], ["traits.email", "password"], "{}", short.text);

    // Traits without `name` come back with `"name": {}`.
    let flow_id = create_flow(&t, "registration").await.str_at("/id");
    let body = json!({"method": "password", "password": pw, "traits": {"email": email}});
    let ok = submit(&t, "registration", &flow_id, &body)
        .await
        .expect(200);
    assert_eq!(
        ok.json["identity"]["traits"],
        json!({"email": email, "name": {}})
    );
    let token = ok.str_at("/session_token");

    // Re-authentication flow for a session: confirm message, identifier pre-filled and hidden.
    let refresh = send(
        "GET /self-service/login/api?refresh=true",
        client()
            .get(format!(
                "{}/self-service/login/api?refresh=true",
                t[Endpoint::KratosPublic]
            ))
            .header("accept", JSON)
            .header("x-session-token", &token),
    )
    .await
    .expect(200);
    assert_eq!(refresh.json["refresh"], true, "{}", refresh.text);
    assert_eq!(message_ids(&refresh), [1010003], "{}", refresh.text);
    let ident = refresh.json["ui"]["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["attributes"]["name"] == "identifier"))
        .unwrap_or_else(|| panic!("no identifier node: {}", refresh.text));
    assert_eq!(ident["attributes"]["type"], "hidden", "{}", refresh.text);
    assert_eq!(ident["attributes"]["value"], email, "{}", refresh.text);
    // A new registration flow with a session is refused.
    let a = send(
        "GET /self-service/registration/api (with a session)",
        client()
            .get(format!(
                "{}/self-service/registration/api",
                t[Endpoint::KratosPublic]
            ))
            .header("accept", JSON)
            .header("x-session-token", &token),
    )
    .await;
    a.expect_envelope(400);
    assert_eq!(
        a.json["error"]["id"], "session_already_available",
        "{}",
        a.text
    );

    // The admin view: `metadata_admin` is always there, the lookup has a `Link` header.
    let a = lookup(&t, &email).await;
    assert!(a.json[0].get("metadata_admin").is_some(), "{}", a.text);
    assert_eq!(
        a.json[0]["credentials"]["password"]["identifiers"],
        json!([email]),
        "{}",
        a.text
    );
    assert!(
        a.header("cache-control").contains("no-store"),
        "{:?}",
        a.headers
    );
    let link = a.header("link");
    assert!(
        link.ends_with(
            "&page_size=250&page_token=00000000-0000-0000-0000-000000000000>; rel=\"first\""
        ),
        "{link}"
    );

    // whoami errors carry the no-cache headers too.
    let w = whoami(&t, None).await;
    assert!(
        w.header("cache-control").contains("no-store"),
        "{:?}",
        w.headers
    );
    assert_eq!(w.header("vary"), "Cookie", "{:?}", w.headers);

    // A body of an unsupported content type.
    let flow_id = create_flow(&t, "login").await.str_at("/id");
    let a = send(
        "POST /self-service/login (text/plain)",
        client()
            .post(format!(
                "{}/self-service/login?flow={flow_id}",
                t[Endpoint::KratosPublic]
            ))
            .header("accept", JSON)
            .header("content-type", "text/plain")
            .body("identifier=x"),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.text);
    let text = a.json["ui"]["messages"][0]["text"].as_str().unwrap_or("");
    assert!(
        text.ends_with(
            "only [multipart/form-data application/x-www-form-urlencoded application/json] are supported."
        ),
        "{text}"
    );

    // The router's own answers are plain text with nosniff; whoami answers every method.
    let a = send(
        "GET /nope",
        client().get(format!("{}/nope", t[Endpoint::KratosPublic])),
    )
    .await
    .expect(404);
    assert_eq!(a.header("x-content-type-options"), "nosniff");
    let a = send(
        "DELETE /sessions/whoami",
        client()
            .delete(format!("{}/sessions/whoami", t[Endpoint::KratosPublic]))
            .header("accept", JSON),
    )
    .await;
    a.expect_envelope(401);
}

contracts! {
    registration => contract_simulator_kratos_registration, contract_real_ory_kratos_registration;
    duplicate_registration => contract_simulator_kratos_duplicate_registration, contract_real_ory_kratos_duplicate_registration;
    login_flow => contract_simulator_kratos_login, contract_real_ory_kratos_login;
    flow_errors => contract_simulator_kratos_flow_errors, contract_real_ory_kratos_flow_errors;
    whoami_contract => contract_simulator_kratos_whoami, contract_real_ory_kratos_whoami;
    logout_contract => contract_simulator_kratos_logout, contract_real_ory_kratos_logout;
    admin_lookup => contract_simulator_kratos_admin_lookup, contract_real_ory_kratos_admin_lookup;
    delete_identity => contract_simulator_kratos_delete_identity, contract_real_ory_kratos_delete_identity;
    details => contract_simulator_kratos_details, contract_real_ory_kratos_details;
    registration_validation => contract_simulator_kratos_registration_validation, contract_real_ory_kratos_registration_validation;
    api_flow_browser_headers => contract_simulator_kratos_api_flow_browser_headers, contract_real_ory_kratos_api_flow_browser_headers;
    admin_create_identity => contract_simulator_kratos_admin_create_identity, contract_real_ory_kratos_admin_create_identity;
}

/// Simulator only (see [`expired_flow`]): flows live 1 s, long enough to submit the replacement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_simulator_kratos_expired_flow() {
    let mut cfg = orysim::sim::SimConfig::ephemeral();
    cfg.flow_lifespan = std::time::Duration::from_secs(1);
    crate::on_simulator_with("contract_simulator_kratos_expired_flow", cfg, expired_flow).await;
}

/// The messages on the node named `name`: (id, text).
fn node_messages(a: &Answer, name: &str) -> Vec<(i64, String)> {
    a.json["ui"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["attributes"]["name"] == name)
        .flat_map(|n| n["messages"].as_array().cloned().unwrap_or_default())
        .map(|m| {
            (
                m["id"].as_i64().unwrap_or(0),
                m["text"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Registration with `deploy/ory/identity.username.schema.json`: the form Kratos renders from
/// it, its validation (required, type, pattern, format, additionalProperties), a registration
/// and a login by username, and what `KratosClient` reads of the form and the schema.
pub async fn custom_schema(t: Targets) {
    let flow = create_flow(&t, "registration").await;
    assert_eq!(
        node_names(&flow),
        [
            "traits.username",
            "traits.phone",
            "traits.tenant",
            "traits.seats",
            "traits.terms_accepted",
            "csrf_token",
            "method"
        ]
    );
    let attrs = |i: usize| flow.json["ui"]["nodes"][i]["attributes"].clone();
    assert_eq!(
        attrs(0),
        json!({"name": "traits.username", "type": "text", "required": true,
               "pattern": "^[a-z][a-z0-9_]+$", "disabled": false, "node_type": "input"})
    );
    assert_eq!(
        attrs(1),
        json!({"name": "traits.phone", "type": "tel", "required": true, "autocomplete": "tel",
               "disabled": false, "node_type": "input"})
    );
    assert_eq!(
        attrs(3),
        json!({"name": "traits.seats", "type": "number", "disabled": false, "node_type": "input"})
    );
    assert_eq!(attrs(4)["type"], "checkbox");
    assert_eq!(
        flow.json["ui"]["nodes"][1]["meta"]["label"],
        json!({"id": 1070002, "text": "Phone number", "type": "info", "context": {"title": "Phone number"}})
    );

    let pw = password();
    let flow_id = flow.str_at("/id");
    let bad = submit(
        &t,
        "registration",
        &flow_id,
        &json!({"method": "password", "password": pw,
                "traits": {"username": "Alice", "seats": "3", "tenant": 5, "extra": 1}}),
    )
    .await
    .expect(400);
    assert_eq!(
        node_messages(&bad, "traits.username"),
        [(
            4000004,
            "does not match pattern \"^[a-z][a-z0-9_]+$\"".to_string()
        )]
    );
    assert_eq!(
        node_messages(&bad, "traits.phone"),
        [(4000002, "Property phone is missing.".to_string())]
    );
    assert_eq!(
        node_messages(&bad, "traits.seats"),
        [(4000026, "expected integer, but got string".to_string())]
    );
    assert_eq!(
        node_messages(&bad, "traits.tenant"),
        [(4000026, "expected string, but got number".to_string())]
    );
    assert_eq!(
        node_messages(&bad, "traits.terms_accepted"),
        [(4000002, "Property terms_accepted is missing.".to_string())]
    );
    assert_eq!(
        node_messages(&bad, "traits"),
        [(
            4000001,
            "additionalProperties \"extra\" not allowed".to_string()
        )]
    );
    let nodes = &bad.json["ui"]["nodes"];
    assert_eq!(nodes[0]["attributes"]["value"], "Alice", "values are kept");

    let username = unique("u").replace('-', "_");
    let flow = create_flow(&t, "registration").await.str_at("/id");
    let traits =
        json!({"username": username, "phone": "+14155550123", "terms_accepted": true, "seats": 3});
    let ok = submit(
        &t,
        "registration",
        &flow,
        &json!({"method": "password", "password": pw, "traits": traits}),
    )
    .await
    .expect(200);
    assert_eq!(ok.json["identity"]["traits"], traits);
    assert_eq!(ok.str_at("/identity/schema_id"), "default");
    login(&t, &username, &pw)
        .await
        .expect(200)
        .str_at("/session_token");

    let kratos = t.kratos();
    let (_, inputs) = kratos.start_registration().await.expect("a flow");
    let kinds: Vec<(&str, &str, bool)> = inputs
        .iter()
        .map(|i| (i.path.as_str(), i.kind.as_str(), i.required))
        .collect();
    assert_eq!(
        kinds,
        [
            ("username", "text", true),
            ("phone", "tel", true),
            ("tenant", "text", false),
            ("seats", "number", false),
            ("terms_accepted", "checkbox", true)
        ]
    );
    let paths = kratos
        .identifier_paths("default")
        .await
        .expect("the schema");
    assert_eq!(&*paths, ["username".to_string()]);
}

fn custom_schema_file() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/ory/identity.username.schema.json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_simulator_kratos_custom_schema() {
    let mut cfg = orysim::sim::SimConfig::ephemeral();
    cfg.identity_schema = Some(orysim::sim::read_identity_schema(&custom_schema_file()).unwrap());
    crate::on_simulator_with(
        "contract_simulator_kratos_custom_schema",
        cfg,
        custom_schema,
    )
    .await;
}

/// On the second real stack `scripts/test` starts with that schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the custom-schema Kratos: scripts/test"]
async fn contract_real_ory_kratos_custom_schema() {
    let mut t = Targets::from_env();
    for (e, var) in [
        (Endpoint::KratosPublic, "ORYSIM_CUSTOM_KRATOS_PUBLIC_URL"),
        (Endpoint::KratosAdmin, "ORYSIM_CUSTOM_KRATOS_ADMIN_URL"),
    ] {
        let url = crate::common::real_url(var);
        t.urls[e] = crate::loopback_base(var, &url);
    }
    crate::bounded(
        "contract_real_ory_kratos_custom_schema",
        &t.clone(),
        custom_schema(t),
    )
    .await;
}
