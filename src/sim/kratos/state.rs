//! What the simulated Kratos keeps: self-service flows, identities (by id and by identifier)
//! and sessions.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FlowKind {
    Registration,
    Login,
}

impl FlowKind {
    pub(super) fn submit_path(self) -> &'static str {
        match self {
            FlowKind::Registration => "/self-service/registration",
            FlowKind::Login => "/self-service/login",
        }
    }
}

pub(super) struct Flow {
    pub(super) kind: FlowKind,
    pub(super) issued_at: SystemTime,
    pub(super) expires_at: SystemTime,
    pub(super) request_url: String,
    pub(super) refresh: bool,
    pub(super) requested_aal: &'static str,
    /// Flow-wide messages it was created with (a replacement for an expired flow, a refresh).
    pub(super) messages: Vec<Value>,
    /// A login flow with `refresh=true` created with a session: that identity's identifier,
    /// shown in a hidden `identifier` node.
    pub(super) refresh_identifier: Option<String>,
}

pub(crate) struct Identity {
    pub(super) id: Uuid,
    /// The password identifier (trimmed, lower-cased email), if the identity has a password.
    pub(super) identifier: Option<String>,
    pub(super) password: Option<String>,
    pub(super) created_at: SystemTime,
    /// The identity as the public API shows it (no credentials, no admin metadata).
    pub(super) public_json: Box<str>,
    pub(super) metadata_admin: Option<Value>,
    pub(super) deleted: AtomicBool,
}

/// What a stored identity costs, its identifier counted again for the index (see
/// `byte_budget`): large templated traits must not grow the store without limit.
pub(super) fn identity_weight(i: &Arc<Identity>) -> usize {
    let len = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    let metadata = i.metadata_admin.as_ref().map_or(0, json_len);
    i.public_json.len() + 2 * len(&i.identifier) + len(&i.password) + metadata + ENTRY_OVERHEAD
}

/// What a stored flow costs: its request URL (the caller's query included), its messages and
/// the identifier of a refresh.
pub(super) fn flow_weight(f: &Arc<Flow>) -> usize {
    let messages: usize = f.messages.iter().map(json_len).sum();
    let identifier = f.refresh_identifier.as_ref().map_or(0, String::len);
    f.request_url.len() + messages + identifier + ENTRY_OVERHEAD
}

/// What a stored session costs, its identity included: the session keeps the identity alive
/// after the identity store has evicted it.
pub(super) fn session_weight(s: &Arc<Session>) -> usize {
    s.head.len() + s.tail.len() + identity_weight(&s.identity) + ENTRY_OVERHEAD
}

impl Identity {
    pub(super) fn is_live(&self) -> bool {
        !self.deleted.load(Ordering::Relaxed)
    }

    /// The admin representation: admin metadata (`null` when unset, always present) and, with
    /// `credentials`, the credentials metadata (no config), as `GET /admin/identities/{id}` and
    /// the `credentials_identifier` lookup show it. The plain list has no credentials.
    pub(super) fn admin_json(&self, credentials: bool) -> String {
        let mut v: Value = serde_json::from_str(&self.public_json).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            if let Some(identifier) = self.identifier.as_ref().filter(|_| credentials) {
                let ts = rfc3339(self.created_at);
                m.insert(
                    "credentials".into(),
                    json!({"password": {
                        "type": "password",
                        "identifiers": [identifier],
                        "version": 0,
                        "created_at": ts,
                        "updated_at": ts,
                    }}),
                );
            }
            m.insert(
                "metadata_admin".into(),
                self.metadata_admin.clone().unwrap_or(Value::Null),
            );
        }
        v.to_string()
    }
}

pub(super) struct Session {
    pub(super) identity: Arc<Identity>,
    pub(super) expires_at: SystemTime,
    pub(super) active: AtomicBool,
    /// The session JSON up to (and including) `"identity":`.
    pub(super) head: Box<str>,
    /// The session JSON after the identity object.
    pub(super) tail: Box<str>,
}

impl Session {
    pub(super) fn is_valid(&self) -> bool {
        self.active.load(Ordering::Relaxed)
            && self.identity.is_live()
            && self.expires_at > SystemTime::now()
    }

    pub(super) fn render(&self) -> String {
        let mut s = String::with_capacity(
            self.head.len() + self.identity.public_json.len() + self.tail.len() + 1,
        );
        s.push_str(&self.head);
        s.push_str(&self.identity.public_json);
        s.push_str(&self.tail);
        s
    }
}

pub(super) struct Identities {
    pub(super) by_id: BoundedMap<Uuid, Arc<Identity>>,
    pub(super) by_identifier: HashMap<String, Uuid>,
}

impl Identities {
    pub(super) fn insert(&mut self, identity: Arc<Identity>) {
        if let Some(ident) = &identity.identifier {
            self.by_identifier.insert(ident.clone(), identity.id);
        }
        for (_, old) in self.by_id.insert(identity.id, identity) {
            self.forget(&old);
        }
    }

    pub(super) fn forget(&mut self, old: &Identity) {
        old.deleted.store(true, Ordering::Relaxed);
        if let Some(ident) = &old.identifier {
            if self.by_identifier.get(ident) == Some(&old.id) {
                self.by_identifier.remove(ident);
            }
        }
    }

    pub(super) fn by_identifier(&self, identifier: &str) -> Option<Arc<Identity>> {
        let id = self.by_identifier.get(identifier)?;
        self.by_id.get(id).cloned()
    }
}
