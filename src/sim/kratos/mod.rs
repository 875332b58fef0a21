//! Simulated Ory Kratos v1.3.1: native (API) registration and login flows with the password
//! method, sessions, API logout, and the admin identity endpoints.
//!
//! Behaviour follows the v1.3.1 sources with the project's stack config (`deploy/ory/`):
//! two-step registration (the default), the `session` hook after password registration,
//! `haveibeenpwned` off, identity schema with `traits.email` (password identifier,
//! 3..=320 chars, format email) and `traits.name.{first,last}`, no extra properties.

use super::byte_budget::{json_len, ENTRY_OVERHEAD, MAX_STORE_BYTES};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::http::header::{HeaderName, LINK, VARY};
use axum::http::Method;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::http::{
    go_not_found, herodot_json, herodot_raw, is_router_answer, json_type, no_cache, random_alnum,
    rfc3339, route, with_header, HError, Req, Resp, MSG_CONFLICT, MSG_FORBIDDEN, MSG_NO_ROWS,
    MSG_UNAUTHORIZED,
};
use super::store::{lock, BoundedMap, Sharded};

mod nodes;
mod schema;
mod state;
mod validation;

use nodes::*;
use state::*;
use validation::*;

pub use schema::IdentitySchema;

/// The project's own identity schema (email and names), served when no other is given.
const DEFAULT_SCHEMA: &str = include_str!("../../../deploy/ory/identity.schema.json");

pub(crate) const VERSION: &str = "v1.3.1";

const SCHEMA_ID: &str = "default";
/// base64url("default"), the tail of `schema_url`.
const SCHEMA_ID_B64: &str = "ZGVmYXVsdA";
const EMAIL_TITLE: &str = "Email";
const MIN_PASSWORD_LEN: usize = 8;
const BCRYPT_MAX_LEN: usize = 72;

const REASON_ORIGIN: &str = "The HTTP Request Header included the \"Origin\" key, indicating that this request was made as part of an AJAX request in a Browser. The flow however was initiated as an API request. To prevent potential misuse and mitigate several attack vectors including CSRF, the request has been blocked. Please consult the documentation.";
const REASON_COOKIE: &str = "The HTTP Request Header included the \"Cookie\" key, indicating that this request was made by a Browser. The flow however was initiated as an API request. To prevent potential misuse and mitigate several attack vectors including CSRF, the request has been blocked. Please consult the documentation.";
const REASON_LOGIN_ALREADY: &str =
    "A valid session was detected and thus login is not possible. Did you forget to set `?refresh=true`?";
const REASON_REGISTRATION_ALREADY: &str =
    "A valid session was detected and thus registration is not possible.";
const REASON_NO_SESSION: &str = "No valid session credentials found in the request.";

pub(crate) struct Kratos {
    public_url: String,
    admin_url: String,
    schema_url: String,
    flow_lifespan: Duration,
    session_lifespan: Duration,
    flows: Sharded<Uuid, Arc<Flow>>,
    identities: Mutex<Identities>,
    sessions: Sharded<String, Arc<Session>>,
    /// A deployment's own identity schema; `None`: the project's (email and names).
    schema: Option<Arc<IdentitySchema>>,
}

fn no_rows() -> HError {
    HError::new(404, MSG_NO_ROWS)
}

impl Kratos {
    pub(crate) fn new(
        public_url: &str,
        admin_url: &str,
        max_entries: usize,
        flow_lifespan: Duration,
        session_lifespan: Duration,
        schema: Option<Arc<IdentitySchema>>,
    ) -> Self {
        Kratos {
            public_url: public_url.to_owned(),
            admin_url: admin_url.to_owned(),
            schema_url: format!("{public_url}/schemas/{SCHEMA_ID_B64}"),
            flow_lifespan,
            session_lifespan,
            flows: Sharded::with_max_bytes(max_entries, MAX_STORE_BYTES, flow_weight),
            identities: Mutex::new(Identities {
                by_id: BoundedMap::with_max_bytes(max_entries, MAX_STORE_BYTES, identity_weight),
                by_identifier: HashMap::new(),
            }),
            sessions: Sharded::with_max_bytes(max_entries, MAX_STORE_BYTES, session_weight),
            schema,
        }
    }

    /// The registration form, with the values of a submitted body (`None`: empty).
    fn reg_nodes(&self, body: Option<&Map<String, Value>>, errs: &FieldMessages) -> Vec<Value> {
        match &self.schema {
            Some(schema) => schema.registration_nodes(body.and_then(|b| b.get("traits")), errs),
            None => {
                let values = body.map(TraitValues::from_body).unwrap_or_default();
                registration_nodes(&values, errs)
            }
        }
    }

    fn validate_traits(&self, traits: &Value, errs: &mut FieldMessages) {
        match &self.schema {
            Some(schema) => schema.validate(traits, errs),
            None => validate_traits(traits, errs),
        }
    }

    /// The password identifier in `traits` (normalised), per the schema.
    fn identifier_of(&self, traits: &Value) -> String {
        let raw = match &self.schema {
            Some(schema) => schema.identifier(traits).unwrap_or_default(),
            None => traits
                .get("email")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        };
        normalize_identifier(&raw)
    }

    /// `GET /schemas` and `GET /schemas/{id}` (by id or by its base64url): the schema file.
    fn schemas(&self, req: &Req) -> Option<Resp> {
        let raw = self
            .schema
            .as_ref()
            .map_or(DEFAULT_SCHEMA, |s| s.raw.as_str());
        if req.path == "/schemas" {
            let schema: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
            return Some(herodot_json(
                200,
                &json!([{ "id": SCHEMA_ID, "schema": schema }]),
            ));
        }
        let id = req.path.strip_prefix("/schemas/")?;
        if req.method != Method::GET {
            return None;
        }
        Some(if id == SCHEMA_ID || id == SCHEMA_ID_B64 {
            super::http::respond(200, Some(super::http::CT_JSON), raw.to_string())
        } else {
            no_rows().respond(req)
        })
    }

    pub(crate) fn counts(&self) -> (usize, usize, usize) {
        (
            lock(&self.identities).by_id.len(),
            self.sessions.len(),
            self.flows.len(),
        )
    }

    // ------------------------------------------------------------------------------------
    // routing

    /// The public API. Kratos's CSRF middleware adds `Vary: Cookie` to every answer (router
    /// 404/405 included); the handlers' no-cache middleware adds `Cache-Control`.
    pub(crate) fn public(&self, req: &Req) -> Resp {
        let r = self.public_routes(req);
        let r = if is_router_answer(&r) { r } else { no_cache(r) };
        with_header(r, VARY, "Cookie")
    }

    /// The admin API: `Cache-Control` on everything but the router's own 404/405.
    pub(crate) fn admin(&self, req: &Req) -> Resp {
        let r = self.admin_routes(req);
        if is_router_answer(&r) {
            r
        } else {
            no_cache(r)
        }
    }

    fn public_routes(&self, req: &Req) -> Resp {
        use Method as M;
        if req.path.starts_with("/schemas") {
            if let Some(r) = self.schemas(req) {
                return r;
            }
        }
        match req.path.as_str() {
            "/self-service/registration/api" => match route(&req.method, &[(M::GET, ())]) {
                Ok(_) => self.create_flow(req, FlowKind::Registration),
                Err(r) => *r,
            },
            "/self-service/login/api" => match route(&req.method, &[(M::GET, ())]) {
                Ok(_) => self.create_flow(req, FlowKind::Login),
                Err(r) => *r,
            },
            "/self-service/registration/flows" => match route(&req.method, &[(M::GET, ())]) {
                Ok(_) => self.get_flow(req, FlowKind::Registration),
                Err(r) => *r,
            },
            "/self-service/login/flows" => match route(&req.method, &[(M::GET, ())]) {
                Ok(_) => self.get_flow(req, FlowKind::Login),
                Err(r) => *r,
            },
            "/self-service/registration" => {
                match route(&req.method, &[(M::GET, ()), (M::POST, ())]) {
                    Ok(_) => self.submit(req, FlowKind::Registration),
                    Err(r) => *r,
                }
            }
            "/self-service/login" => match route(&req.method, &[(M::GET, ()), (M::POST, ())]) {
                Ok(_) => self.submit(req, FlowKind::Login),
                Err(r) => *r,
            },
            "/sessions/whoami" => {
                let methods = [
                    (M::GET, ()),
                    (M::HEAD, ()),
                    (M::POST, ()),
                    (M::PUT, ()),
                    (M::PATCH, ()),
                    (M::DELETE, ()),
                    (M::CONNECT, ()),
                    (M::OPTIONS, ()),
                    (M::TRACE, ()),
                ];
                match route(&req.method, &methods) {
                    Ok(_) => self.whoami(req),
                    Err(r) => *r,
                }
            }
            "/self-service/logout/api" => match route(&req.method, &[(M::DELETE, ())]) {
                Ok(_) => self.logout(req),
                Err(r) => *r,
            },
            _ => go_not_found(),
        }
    }

    fn admin_routes(&self, req: &Req) -> Resp {
        use Method as M;
        let path = req.path.as_str();
        if path == "/admin/identities" {
            return match route(&req.method, &[(M::GET, 0), (M::POST, 1)]) {
                Ok(0) => self.list_identities(req),
                Ok(_) => self.create_identity(req),
                Err(r) => *r,
            };
        }
        if let Some(id) = path.strip_prefix("/admin/identities/") {
            if !id.is_empty() && !id.contains('/') {
                return match route(&req.method, &[(M::GET, 0), (M::DELETE, 1)]) {
                    Ok(0) => self.get_identity(req, id),
                    Ok(_) => self.delete_identity(req, id),
                    Err(r) => *r,
                };
            }
        }
        go_not_found()
    }

    // ------------------------------------------------------------------------------------
    // sessions

    fn request_token(req: &Req) -> Option<String> {
        if let Some(t) = req.header("x-session-token").filter(|t| !t.is_empty()) {
            return Some(t.to_owned());
        }
        let auth = req.header("authorization")?;
        let parts: Vec<&str> = auth.split(' ').collect();
        if parts.len() == 2 && parts[0].eq_ignore_ascii_case("bearer") && !parts[1].is_empty() {
            Some(parts[1].to_owned())
        } else {
            None
        }
    }

    fn request_session(&self, req: &Req) -> Option<Arc<Session>> {
        let token = Self::request_token(req)?;
        self.sessions.get(&token).filter(|s| s.is_valid())
    }

    fn whoami(&self, req: &Req) -> Resp {
        match self.request_session(req) {
            Some(s) => {
                let r = herodot_raw(200, s.render());
                with_header(
                    r,
                    HeaderName::from_static("x-kratos-authenticated-identity-id"),
                    &s.identity.id.to_string(),
                )
            }
            None => HError::new(401, MSG_UNAUTHORIZED)
                .reason(REASON_NO_SESSION)
                .respond(req),
        }
    }

    fn logout(&self, req: &Req) -> Resp {
        if req.body.is_empty() {
            return HError::bad_request()
                .reason("Unable to decode HTTP Request Body because its HTTP Header \"Content-Length\" is zero.")
                .respond(req);
        }
        if req.media_type() != "application/json" {
            return HError::bad_request()
                .reason(format!(
                    "HTTP DELETE Request used unknown HTTP Header \"Content-Type: {}\", only [application/json] are supported.",
                    req.header("content-type").unwrap_or("")
                ))
                .respond(req);
        }
        let token = match serde_json::from_slice::<Value>(&req.body) {
            Ok(Value::Object(m)) => match m.get("session_token") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(v) => {
                    return HError::bad_request()
                        .reason(format!("Unable to decode JSON payload: json: cannot unmarshal {} into Go struct field performNativeLogoutBody.session_token of type string", go_kind(v)))
                        .respond(req)
                }
            },
            Ok(Value::Null) => String::new(),
            Ok(v) => {
                return HError::bad_request()
                    .reason(format!("Unable to decode JSON payload: json: cannot unmarshal {} into Go value of type logout.performNativeLogoutBody", go_kind(&v)))
                    .respond(req)
            }
            Err(e) => {
                return HError::bad_request()
                    .reason(format!("Unable to decode JSON payload: {e}"))
                    .respond(req)
            }
        };
        match self.sessions.get(&token) {
            Some(s) if s.identity.is_live() => {
                s.active.store(false, Ordering::Relaxed);
                super::http::empty(204)
            }
            _ => HError::new(403, MSG_FORBIDDEN)
                .reason("The provided Ory Session Token could not be found, is invalid, or otherwise malformed.")
                .respond(req),
        }
    }

    /// Creates, stores and returns a new active session: (token, session).
    fn issue_session(&self, identity: Arc<Identity>, req: &Req) -> (String, Arc<Session>) {
        let token = format!("ory_st_{}", random_alnum(32));
        let now = SystemTime::now();
        let ts = rfc3339(now);
        let expires_at = now + self.session_lifespan;
        let user_agent: Vec<&str> = req
            .headers
            .get_all("user-agent")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let mut location = Vec::new();
        for h in ["cf-ipcity", "cf-ipcountry"] {
            if let Some(v) = req.header(h).filter(|v| !v.is_empty()) {
                location.push(v);
            }
        }
        let device = json!({
            "id": Uuid::new_v4().to_string(),
            "ip_address": req.client_ip(),
            "user_agent": if user_agent.is_empty() { Value::Null } else { json!(user_agent.join(" ")) },
            "location": location.join(", "),
        });
        let head = format!(
            r#"{{"id":"{}","active":true,"expires_at":"{}","authenticated_at":"{ts}","authenticator_assurance_level":"aal1","authentication_methods":[{{"method":"password","aal":"aal1","completed_at":"{ts}"}}],"issued_at":"{ts}","identity":"#,
            Uuid::new_v4(),
            rfc3339(expires_at),
        );
        let tail = format!(r#","devices":[{device}]}}"#);
        let session = Arc::new(Session {
            identity,
            expires_at,
            active: AtomicBool::new(true),
            head: head.into_boxed_str(),
            tail: tail.into_boxed_str(),
        });
        self.sessions.insert(token.clone(), session.clone());
        (token, session)
    }

    // ------------------------------------------------------------------------------------
    // flows

    fn new_flow(
        &self,
        kind: FlowKind,
        req: &Req,
        refresh: bool,
        aal: &'static str,
        messages: Vec<Value>,
        refresh_identifier: Option<String>,
    ) -> (Uuid, Arc<Flow>) {
        let now = SystemTime::now();
        let flow = Arc::new(Flow {
            kind,
            issued_at: now,
            expires_at: now + self.flow_lifespan,
            request_url: req.url(),
            refresh,
            requested_aal: aal,
            messages,
            refresh_identifier,
        });
        let id = Uuid::new_v4();
        self.flows.insert(id, flow.clone());
        (id, flow)
    }

    fn flow_json(&self, id: Uuid, f: &Flow, nodes: Vec<Value>, messages: &[Value]) -> Value {
        let mut ui = Map::new();
        ui.insert(
            "action".into(),
            json!(format!(
                "{}{}?flow={id}",
                self.public_url,
                f.kind.submit_path()
            )),
        );
        ui.insert("method".into(), json!("POST"));
        ui.insert("nodes".into(), Value::Array(nodes));
        if !messages.is_empty() {
            ui.insert("messages".into(), Value::Array(messages.to_vec()));
        }
        let mut m = Map::new();
        m.insert("id".into(), json!(id.to_string()));
        m.insert("type".into(), json!("api"));
        m.insert("expires_at".into(), json!(rfc3339(f.expires_at)));
        m.insert("issued_at".into(), json!(rfc3339(f.issued_at)));
        m.insert("request_url".into(), json!(f.request_url));
        m.insert("ui".into(), Value::Object(ui));
        if f.kind == FlowKind::Login {
            m.insert("created_at".into(), json!(rfc3339(f.issued_at)));
            m.insert("updated_at".into(), json!(rfc3339(f.issued_at)));
            m.insert("refresh".into(), json!(f.refresh));
            m.insert("requested_aal".into(), json!(f.requested_aal));
        }
        m.insert("organization_id".into(), Value::Null);
        m.insert("state".into(), json!("choose_method"));
        Value::Object(m)
    }

    fn create_flow(&self, req: &Req, kind: FlowKind) -> Resp {
        let session = self.request_session(req);
        let (refresh, aal) = match kind {
            FlowKind::Registration => {
                if session.is_some() {
                    return already_logged_in(REASON_REGISTRATION_ALREADY).respond(req);
                }
                (false, "aal1")
            }
            FlowKind::Login => {
                let q = req.query();
                let refresh = q.get("refresh").and_then(parse_go_bool).unwrap_or(false);
                let raw_aal = q
                    .get("aal")
                    .filter(|a| !a.is_empty())
                    .unwrap_or("aal1")
                    .to_lowercase();
                let aal = match raw_aal.as_str() {
                    "aal1" => "aal1",
                    "aal2" => "aal2",
                    other => {
                        return HError::bad_request()
                            .reason(format!("Unable to parse AuthenticationMethod Assurance Level (AAL): expected one of [aal1, aal2] but got {other}"))
                            .respond(req)
                    }
                };
                match &session {
                    None if aal == "aal2" => return HError::new(
                        401,
                        "aal2 and aal3 can only be requested if a session exists already",
                    )
                    .id("session_aal1_required")
                    .reason(
                        "You can not requested a higher AAL (AAL2/AAL3) without an active session.",
                    )
                    .respond(req),
                    None => (false, aal),
                    Some(_) if refresh || aal == "aal2" => (refresh, aal),
                    Some(_) => return already_logged_in(REASON_LOGIN_ALREADY).respond(req),
                }
            }
        };
        // Re-authentication: Kratos asks to confirm and pre-fills the session's identifier.
        let (messages, refresh_identifier) = match &session {
            Some(s) if kind == FlowKind::Login && refresh => (
                vec![message(
                    1010003,
                    "info",
                    "Please confirm this action by verifying that it is you.",
                    None,
                )],
                s.identity.identifier.clone(),
            ),
            _ => (Vec::new(), None),
        };
        let (id, flow) = self.new_flow(kind, req, refresh, aal, messages, refresh_identifier);
        let nodes = match kind {
            FlowKind::Registration => self.reg_nodes(None, &Vec::new()),
            FlowKind::Login => login_nodes("", &Vec::new(), flow.refresh_identifier.as_deref()),
        };
        herodot_json(200, &self.flow_json(id, &flow, nodes, &flow.messages))
    }

    /// `GET /self-service/{registration,login}/flows?id=`. The simulator does not keep the
    /// messages and values of failed submissions, only those a flow was created with.
    fn get_flow(&self, req: &Req, kind: FlowKind) -> Resp {
        let q = req.query();
        let flow = q
            .get("id")
            .and_then(|s| Uuid::parse_str(s).ok())
            .and_then(|id| self.flows.get(&id).map(|f| (id, f)));
        let (id, flow) = match flow {
            Some((id, f)) if f.kind == kind => (id, f),
            _ => return no_rows().respond(req),
        };
        if flow.expires_at < SystemTime::now() {
            let (what, init) = match kind {
                FlowKind::Registration => ("registration", "/self-service/registration/api"),
                FlowKind::Login => ("login", "/self-service/login/api"),
            };
            let mut e = HError::new(
                410,
                "The requested resource is no longer available because it has expired or is otherwise invalid.",
            )
            .id("self_service_flow_expired")
            .reason(format!(
                "The {what} flow has expired. Call the {what} flow init API endpoint to initialize a new {what} flow."
            ));
            e.details = Some(json!({ "api": format!("{}{init}", self.public_url) }));
            return e.respond(req);
        }
        let nodes = match kind {
            FlowKind::Registration => self.reg_nodes(None, &Vec::new()),
            FlowKind::Login => login_nodes("", &Vec::new(), flow.refresh_identifier.as_deref()),
        };
        herodot_json(200, &self.flow_json(id, &flow, nodes, &flow.messages))
    }

    /// The 400 answer of `WriteFlowError` after a validation problem.
    fn flow_error(&self, id: Uuid, f: &Flow, nodes: Vec<Value>, messages: &[Value]) -> Resp {
        herodot_json(400, &self.flow_json(id, f, nodes, messages))
    }

    /// The 410 answer for an expired flow, with the replacement flow Kratos creates.
    fn flow_expired(&self, req: &Req, f: &Flow) -> Resp {
        let (new_id, _) = self.new_flow(
            f.kind,
            req,
            f.refresh,
            f.requested_aal,
            vec![msg_flow_expired(f.kind, f.expires_at)],
            f.refresh_identifier.clone(),
        );
        let ago = SystemTime::now()
            .duration_since(f.expires_at)
            .unwrap_or(Duration::ZERO);
        let err = HError::new(410, "self-service flow expired")
            .id("self_service_flow_expired")
            .reason(format!(
                "The self-service flow expired {:.2} minutes ago, initialize a new one.",
                ago.as_secs_f64() / 60.0
            ));
        let body = json!({
            "error": err.to_value(req.header("x-request-id")),
            "expired_at": rfc3339(f.expires_at),
            "since": ago.as_nanos() as u64,
            "use_flow_id": new_id.to_string(),
        });
        let mut s = body.to_string();
        s.push('\n');
        super::http::respond(410, Some(super::http::CT_JSON), s)
    }

    fn submit(&self, req: &Req, kind: FlowKind) -> Resp {
        let q = req.query();
        let Some(id) = q.get("flow").and_then(|f| Uuid::parse_str(f).ok()) else {
            return HError::bad_request()
                .reason("The flow query parameter is missing or malformed.")
                .respond(req);
        };
        let flow = match self.flows.get(&id) {
            Some(f) if f.kind == kind => f,
            _ => return no_rows().respond(req),
        };
        let session = self.request_session(req);
        match kind {
            FlowKind::Registration => {
                if session.is_some() {
                    return already_logged_in(REASON_REGISTRATION_ALREADY).respond(req);
                }
                if flow.expires_at < SystemTime::now() {
                    return self.flow_expired(req, &flow);
                }
                self.submit_registration(req, id, &flow)
            }
            FlowKind::Login => {
                if session.is_some() && !flow.refresh && flow.requested_aal == "aal1" {
                    return self.flow_error(
                        id,
                        &flow,
                        login_nodes("", &Vec::new(), flow.refresh_identifier.as_deref()),
                        &[msg_generic(REASON_LOGIN_ALREADY)],
                    );
                }
                if flow.expires_at < SystemTime::now() {
                    return self.flow_expired(req, &flow);
                }
                self.submit_login(req, id, &flow)
            }
        }
    }

    fn submit_registration(&self, req: &Req, id: Uuid, flow: &Flow) -> Resp {
        let body = match decode_submission(req) {
            Ok(b) => b,
            Err(reason) => {
                return self.flow_error(
                    id,
                    flow,
                    self.reg_nodes(None, &Vec::new()),
                    &[msg_generic(&reason)],
                )
            }
        };
        if body.get("method").and_then(Value::as_str) != Some("password") {
            // Kratos's profile strategy validates the traits (missing ones as `{}`) whatever
            // the method; only valid traits get as far as "no strategy".
            let mut errs = FieldMessages::new();
            self.validate_traits(body.get("traits").unwrap_or(&json!({})), &mut errs);
            if !errs.is_empty() {
                return self.flow_error(id, flow, self.reg_nodes(Some(&body), &errs), &[]);
            }
            let msg = message(
                4010003,
                "error",
                "Could not find a strategy to sign you up with. Did you fill out the form correctly?",
                None,
            );
            return self.flow_error(id, flow, self.reg_nodes(None, &Vec::new()), &[msg]);
        }
        let mut errs = validate_registration_payload(&body);
        if let Some(traits) = body.get("traits") {
            self.validate_traits(traits, &mut errs);
        }
        if !errs.is_empty() {
            return self.flow_error(id, flow, self.reg_nodes(Some(&body), &errs), &[]);
        }
        if let Some(reason) = api_flow_csrf_violation(req) {
            return self.flow_error(
                id,
                flow,
                self.reg_nodes(Some(&body), &Vec::new()),
                &[msg_generic(reason)],
            );
        }
        let Some(mut traits) = body.get("traits").cloned() else {
            // Kratos validates the missing traits as an empty object.
            let mut errs = FieldMessages::new();
            self.validate_traits(&json!({}), &mut errs);
            return self.flow_error(id, flow, self.reg_nodes(Some(&body), &errs), &[]);
        };
        // Kratos decodes the form along the identity schema, which creates every object on
        // the way: traits without `name` come back with `"name": {}`.
        match &self.schema {
            Some(schema) => schema.with_objects(&mut traits),
            None => {
                if let Value::Object(t) = &mut traits {
                    t.entry("name").or_insert_with(|| json!({}));
                }
            }
        }
        let identifier = self.identifier_of(&traits);
        let password = body.get("password").and_then(Value::as_str).unwrap_or("");
        if let Some(msg) = password_policy(&identifier, password) {
            let errs = vec![("password".to_owned(), msg)];
            return self.flow_error(id, flow, self.reg_nodes(Some(&body), &errs), &[]);
        }
        let identity = match self.create(
            traits,
            Some(password.to_owned()),
            Some(identifier),
            "active",
            Value::Null,
            None,
        ) {
            Ok(i) => i,
            Err(()) => {
                return self.flow_error(
                    id,
                    flow,
                    self.reg_nodes(None, &Vec::new()),
                    &[msg_duplicate()],
                )
            }
        };
        let (token, session) = self.issue_session(identity.clone(), req);
        let body = format!(
            r#"{{"session_token":"{token}","session":{},"identity":{},"continue_with":[{{"action":"set_ory_session_token","ory_session_token":"{token}"}}]}}"#,
            session.render(),
            identity.public_json,
        );
        herodot_raw(200, body)
    }

    fn submit_login(&self, req: &Req, id: Uuid, flow: &Flow) -> Resp {
        let empty = FieldMessages::new();
        if flow.requested_aal != "aal1" {
            // Only the password (first factor) method exists here.
            let msg = message(4010002, "error", "Could not find a strategy to log you in with. Did you fill out the form correctly?", None);
            return self.flow_error(
                id,
                flow,
                login_nodes("", &empty, flow.refresh_identifier.as_deref()),
                &[msg],
            );
        }
        let body = match decode_submission(req) {
            Ok(b) => b,
            Err(reason) => {
                return self.flow_error(
                    id,
                    flow,
                    login_nodes("", &empty, flow.refresh_identifier.as_deref()),
                    &[msg_generic(&reason)],
                )
            }
        };
        if body.get("method").and_then(Value::as_str) != Some("password") {
            let msg = message(4010002, "error", "Could not find a strategy to log you in with. Did you fill out the form correctly?", None);
            return self.flow_error(
                id,
                flow,
                login_nodes("", &empty, flow.refresh_identifier.as_deref()),
                &[msg],
            );
        }
        let identifier = [body.get("identifier"), body.get("password_identifier")]
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find(|s| !s.is_empty())
            .unwrap_or("")
            .to_owned();
        let errs = validate_login_payload(&body);
        if !errs.is_empty() {
            return self.flow_error(
                id,
                flow,
                login_nodes(&identifier, &errs, flow.refresh_identifier.as_deref()),
                &[],
            );
        }
        if let Some(reason) = api_flow_csrf_violation(req) {
            return self.flow_error(
                id,
                flow,
                login_nodes(&identifier, &empty, flow.refresh_identifier.as_deref()),
                &[msg_generic(reason)],
            );
        }
        let password = body.get("password").and_then(Value::as_str).unwrap_or("");
        let found = lock(&self.identities).by_identifier(&normalize_identifier(&identifier));
        let identity = match found {
            Some(i) if i.is_live() && i.password.as_deref() == Some(password) => i,
            _ => {
                return self.flow_error(
                    id,
                    flow,
                    login_nodes(&identifier, &empty, flow.refresh_identifier.as_deref()),
                    &[msg_invalid_credentials()],
                )
            }
        };
        let (token, session) = self.issue_session(identity, req);
        herodot_raw(
            200,
            format!(
                r#"{{"session_token":"{token}","session":{},"continue_with":null}}"#,
                session.render()
            ),
        )
    }

    // ------------------------------------------------------------------------------------
    // identities

    /// Creates an identity; `Err(())` when the identifier is taken.
    fn create(
        &self,
        traits: Value,
        password: Option<String>,
        identifier: Option<String>,
        state: &str,
        metadata_public: Value,
        metadata_admin: Option<Value>,
    ) -> Result<Arc<Identity>, ()> {
        let id = Uuid::new_v4();
        let now = SystemTime::now();
        let ts = rfc3339(now);
        let public = json!({
            "id": id.to_string(),
            "schema_id": SCHEMA_ID,
            "schema_url": self.schema_url,
            "state": state,
            "state_changed_at": ts,
            "traits": traits,
            "metadata_public": metadata_public,
            "created_at": ts,
            "updated_at": ts,
            "organization_id": null,
        });
        let identity = Arc::new(Identity {
            id,
            identifier,
            password,
            created_at: now,
            public_json: public.to_string().into_boxed_str(),
            metadata_admin,
            deleted: AtomicBool::new(false),
        });
        let mut ids = lock(&self.identities);
        if let Some(ident) = &identity.identifier {
            if ids.by_identifier(ident).is_some() {
                return Err(());
            }
        }
        ids.insert(identity.clone());
        Ok(identity)
    }

    fn find_identity(&self, raw_id: &str) -> Option<Arc<Identity>> {
        let id = Uuid::parse_str(raw_id).ok()?;
        lock(&self.identities).by_id.get(&id).cloned()
    }

    fn get_identity(&self, req: &Req, raw_id: &str) -> Resp {
        match self.find_identity(raw_id) {
            Some(i) => herodot_raw(200, i.admin_json(true)),
            None => no_rows().respond(req),
        }
    }

    fn delete_identity(&self, req: &Req, raw_id: &str) -> Resp {
        let Ok(id) = Uuid::parse_str(raw_id) else {
            return no_rows().respond(req);
        };
        let mut ids = lock(&self.identities);
        match ids.by_id.remove(&id) {
            Some(identity) => {
                ids.forget(&identity);
                super::http::empty(204)
            }
            None => no_rows().respond(req),
        }
    }

    /// `GET /admin/identities`: keyset pagination (`page_size`, `page_token`) with Kratos's
    /// `Link` header; the `credentials_identifier` filter matches exactly, lower-cased.
    fn list_identities(&self, req: &Req) -> Resp {
        let q = req.query();
        let page_size = match q.get("page_size").or(q.get("per_page")) {
            None | Some("") => 250,
            Some(s) => match s.parse::<usize>() {
                Ok(n) if n >= 1 => n.min(1000),
                _ => {
                    return HError::bad_request()
                        .reason("Items per Page must be a positive integer between 1 and 1000")
                        .respond(req)
                }
            },
        };
        if let Some(raw) = q.get("credentials_identifier").filter(|s| !s.is_empty()) {
            let found = lock(&self.identities).by_identifier(&normalize_identifier(raw));
            let body = match found {
                Some(i) => format!("[{}]", i.admin_json(true)),
                None => "[]".to_owned(),
            };
            let link = link_header(&q, page_size, None);
            return with_header(herodot_raw(200, body), LINK, &link);
        }
        let after = q.get("page_token").and_then(|t| Uuid::parse_str(t).ok());
        let ids = lock(&self.identities);
        let (items, next) = {
            let mut live = ids.by_id.values_in_order().filter(|i| i.is_live());
            if let Some(after) = after.filter(|a| !a.is_nil()) {
                // Keyset pagination over the simulator's (insertion) order.
                for i in live.by_ref() {
                    if i.id == after {
                        break;
                    }
                }
            }
            let page: Vec<&Arc<Identity>> = live.by_ref().take(page_size).collect();
            let next = match (page.last(), live.next()) {
                (Some(last), Some(_)) => Some(last.id),
                _ => None,
            };
            let items: Vec<String> = page.iter().map(|i| i.admin_json(false)).collect();
            (items, next)
        };
        drop(ids);
        let link = link_header(&q, page_size, next);
        with_header(
            herodot_raw(200, format!("[{}]", items.join(","))),
            LINK,
            &link,
        )
    }

    fn create_identity(&self, req: &Req) -> Resp {
        let bad = |message: String| {
            let mut e = HError::bad_request();
            e.message = message;
            e.respond(req)
        };
        let body = match serde_json::from_slice::<Value>(&req.body) {
            Ok(Value::Object(m)) => m,
            Ok(v) => {
                return bad(format!(
                    "json: cannot unmarshal {} into Go value of type identity.CreateIdentityBody",
                    go_kind(&v)
                ))
            }
            Err(e) => {
                return bad(if req.body.is_empty() {
                    "EOF".into()
                } else {
                    e.to_string()
                })
            }
        };
        const KNOWN: [&str; 9] = [
            "schema_id",
            "traits",
            "credentials",
            "state",
            "metadata_public",
            "metadata_admin",
            "verifiable_addresses",
            "recovery_addresses",
            "organization_id",
        ];
        if let Some(k) = body.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return bad(format!("json: unknown field \"{k}\""));
        }
        match body.get("schema_id") {
            Some(Value::String(s)) if s == SCHEMA_ID || s.is_empty() => {}
            None | Some(Value::Null) => {}
            Some(other) => {
                return HError::bad_request()
                    .reason(format!(
                        "Unable to find JSON Schema ID: {}",
                        other.as_str().unwrap_or_default()
                    ))
                    .respond(req)
            }
        }
        let state = match body.get("state") {
            None | Some(Value::Null) => "active",
            Some(Value::String(s)) if s == "active" || s.is_empty() => "active",
            Some(Value::String(s)) if s == "inactive" => "inactive",
            Some(_) => {
                return HError::bad_request()
                    .reason("identity state is not valid")
                    .respond(req)
            }
        };
        let traits = body.get("traits").cloned().unwrap_or(json!({}));
        let mut errs = FieldMessages::new();
        self.validate_traits(&traits, &mut errs);
        if let Some((field, msg)) = errs.first() {
            let text = msg.get("text").and_then(Value::as_str).unwrap_or("");
            return HError::bad_request()
                .reason(format!("I[#/{}] {text}", field.replace('.', "/")))
                .respond(req);
        }
        let creds = body.get("credentials").and_then(|c| c.get("password"));
        let password = creds
            .and_then(|p| p.get("config"))
            .and_then(|c| c.get("password").or_else(|| c.get("hashed_password")))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let identifier = creds.map(|_| self.identifier_of(&traits));
        let metadata_public = body.get("metadata_public").cloned().unwrap_or(Value::Null);
        let metadata_admin = body.get("metadata_admin").cloned().filter(|v| !v.is_null());
        match self.create(
            traits,
            password,
            identifier,
            state,
            metadata_public,
            metadata_admin,
        ) {
            Ok(identity) => {
                let r = herodot_raw(201, identity.admin_json(true));
                with_header(
                    r,
                    axum::http::header::LOCATION,
                    &format!("{}/identities/{}", self.admin_url, identity.id),
                )
            }
            Err(()) => HError::new(409, MSG_CONFLICT)
                .reason("This identity conflicts with another identity that already exists.")
                .respond(req),
        }
    }
}

/// ory/x keyset pagination's `Link` header: `rel="first"` (nil token) and, when another page
/// exists, `rel="next"`. The query keeps the other parameters, sorted and re-encoded as Go's
/// `url.Values.Encode` does.
fn link_header(q: &super::http::Query, page_size: usize, next: Option<Uuid>) -> String {
    let mut base: Vec<(String, String)> = q
        .0
        .iter()
        .filter(|(k, _)| k != "page_size" && k != "page_token" && k != "per_page" && k != "page")
        .cloned()
        .collect();
    base.push(("page_size".into(), page_size.to_string()));
    let link = |token: &str| {
        let mut pairs = base.clone();
        pairs.push(("page_token".into(), token.to_owned()));
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let query: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", go_query_escape(k), go_query_escape(v)))
            .collect();
        format!("</admin/identities?{}>", query.join("&"))
    };
    let mut out = format!("{}; rel=\"first\"", link(&Uuid::nil().to_string()));
    if let Some(next) = next {
        out.push_str(&format!(",{}; rel=\"next\"", link(&next.to_string())));
    }
    out
}

/// Go's `url.QueryEscape`: unreserved characters stay, a space becomes `+`, the rest `%XX`.
fn go_query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn already_logged_in(reason: &str) -> HError {
    HError::new(400, "you are already logged in")
        .id("session_already_available")
        .reason(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_check_matches_kratos_thresholds() {
        assert!(password_policy("alice@example.com", "alice@example.com1").is_some());
        assert!(password_policy("alice@example.com", "Tr0ub4dor&3-horse").is_none());
        let short = password_policy("a@b.c", "1234567").unwrap_or(Value::Null);
        assert_eq!(short["id"], 4000032);
        let long = password_policy("a@b.c", &"x9".repeat(40)).unwrap_or(Value::Null);
        assert_eq!(long["id"], 4000033);
    }

    #[test]
    fn email_format_is_checked() {
        assert!(is_valid_email("user+1@example.com"));
        assert!(!is_valid_email("user.example.com"));
        assert!(!is_valid_email("us er@example.com"));
        assert!(!is_valid_email("@example.com"));
        assert!(is_valid_email("  lead@Example.COM"));
        assert!(!is_valid_email("trail@example.com "));
        assert!(!is_valid_email("a@-example.com"));
        assert!(!is_valid_email("a..b@example.com"));
    }

    #[test]
    fn traits_validation_reports_the_kratos_message_ids() {
        let mut errs = FieldMessages::new();
        validate_traits(
            &json!({"email": "ab", "name": {"first": 1}, "x": true}),
            &mut errs,
        );
        let ids: Vec<(String, i64)> = errs
            .iter()
            .map(|(f, m)| (f.clone(), m["id"].as_i64().unwrap_or(0)))
            .collect();
        assert!(ids.contains(&("traits".into(), 4000001)));
        assert!(ids.contains(&("traits.email".into(), 4000003)));
        assert!(ids.contains(&("traits.email".into(), 4000001)));
        assert!(ids.contains(&("traits.name.first".into(), 4000026)));
        let mut errs = FieldMessages::new();
        validate_traits(&json!({}), &mut errs);
        assert_eq!(errs[0].1["id"], 4000002);
        assert_eq!(errs[0].1["text"], "Property email is missing.");
    }

    fn identity_with_traits_of(bytes: usize) -> Arc<Identity> {
        Arc::new(Identity {
            id: Uuid::new_v4(),
            identifier: Some("a@example.com".into()),
            password: Some("secret-password".into()),
            created_at: SystemTime::now(),
            public_json: format!("{{\"traits\":{{\"bio\":\"{}\"}}}}", "x".repeat(bytes)).into(),
            metadata_admin: None,
            deleted: AtomicBool::new(false),
        })
    }

    #[test]
    fn sessions_holding_large_identities_stay_within_their_byte_budget_oldest_out_first() {
        let sessions = Sharded::with_max_bytes(1_000_000, 16 << 20, session_weight);
        let (used, kept) = crate::sim::store::fill_hundred(&sessions, || {
            Arc::new(Session {
                identity: identity_with_traits_of(1 << 20),
                expires_at: SystemTime::now(),
                active: AtomicBool::new(true),
                head: "{}".into(),
                tail: "{}".into(),
            })
        });
        // Every shard keeps its newest entry even beyond its share.
        assert!(used <= (16 << 20) + 16 * ((1 << 20) + 1024), "{used}");
        assert!(kept.len() < 40, "{kept:?}");
        assert!(kept.contains(&99), "{kept:?}");
    }

    #[test]
    fn flows_with_large_request_urls_stay_within_their_byte_budget_oldest_out_first() {
        let flows = Sharded::with_max_bytes(1_000_000, 16 << 20, flow_weight);
        let (used, kept) = crate::sim::store::fill_hundred(&flows, || {
            Arc::new(Flow {
                kind: FlowKind::Login,
                issued_at: SystemTime::now(),
                expires_at: SystemTime::now(),
                request_url: format!("http://127.0.0.1/?return_to={}", "x".repeat(1 << 20)),
                refresh: false,
                requested_aal: "aal1",
                messages: vec![json!({"text": "y".repeat(1000)})],
                refresh_identifier: None,
            })
        });
        assert!(used <= (16 << 20) + 16 * ((1 << 20) + 2048), "{used}");
        assert!(kept.len() < 40, "{kept:?}");
        assert!(kept.contains(&99), "{kept:?}");
    }

    #[test]
    fn msg_bad_request_is_herodot_default() {
        assert_eq!(
            HError::bad_request().message,
            super::super::http::MSG_BAD_REQUEST
        );
    }
}
