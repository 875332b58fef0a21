//! The UI-node catalogue: the messages and form nodes Kratos v1.3.1 answers a registration or
//! login flow with.

use super::*;

/// Values the UI nodes of a failed registration show (`handleRegistrationError`).
#[derive(Default)]
pub(super) struct TraitValues {
    pub(super) email: Option<Value>,
    pub(super) first: Option<Value>,
    pub(super) last: Option<Value>,
}

impl TraitValues {
    pub(super) fn from_body(body: &Map<String, Value>) -> TraitValues {
        let traits = body.get("traits");
        let leaf = |v: Option<&Value>| match v {
            Some(Value::Object(_)) | Some(Value::Array(_)) | None => None,
            Some(v) => Some(v.clone()),
        };
        let name = traits.and_then(|t| t.get("name"));
        TraitValues {
            email: leaf(traits.and_then(|t| t.get("email"))),
            first: leaf(name.and_then(|n| n.get("first"))),
            last: leaf(name.and_then(|n| n.get("last"))),
        }
    }
}

/// A UI message (`text.Message`).
pub(super) fn message(id: u32, kind: &str, text: &str, context: Option<Value>) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(id));
    m.insert("text".into(), json!(text));
    m.insert("type".into(), json!(kind));
    if let Some(c) = context {
        m.insert("context".into(), c);
    }
    Value::Object(m)
}

pub(super) fn msg_generic(reason: &str) -> Value {
    message(4000001, "error", reason, Some(json!({ "reason": reason })))
}

pub(super) fn msg_required(property: &str) -> Value {
    message(
        4000002,
        "error",
        &format!("Property {property} is missing."),
        Some(json!({ "property": property })),
    )
}

pub(super) fn msg_min_length(min: usize, actual: usize) -> Value {
    message(
        4000003,
        "error",
        &format!("length must be >= {min}, but got {actual}"),
        Some(json!({"min_length": min, "actual_length": actual})),
    )
}

pub(super) fn msg_max_length(max: usize, actual: usize) -> Value {
    message(
        4000017,
        "error",
        &format!("length must be <= {max}, but got {actual}"),
        Some(json!({"max_length": max, "actual_length": actual})),
    )
}

pub(super) fn msg_wrong_type(allowed: &str, actual: &str) -> Value {
    message(
        4000026,
        "error",
        &format!("expected {allowed}, but got {actual}"),
        Some(json!({"allowed_types": [allowed], "actual_type": actual})),
    )
}

pub(super) fn msg_invalid_credentials() -> Value {
    message(4000006, "error", "The provided credentials are invalid, check for spelling mistakes in your password or username, email address, or phone number.", None)
}

pub(super) fn msg_duplicate() -> Value {
    message(
        4000007,
        "error",
        "An account with the same identifier (email, phone, username, ...) exists already.",
        None,
    )
}

pub(super) fn msg_flow_expired(kind: FlowKind, expired_at: SystemTime) -> Value {
    let (id, what) = match kind {
        FlowKind::Registration => (4040001, "registration"),
        FlowKind::Login => (4010001, "login"),
    };
    let mins = minutes_since(expired_at);
    message(
        id,
        "error",
        &format!("The {what} flow expired {mins:.2} minutes ago, please try again."),
        Some(json!({
            "expired_at": rfc3339(expired_at),
            "expired_at_unix": crate::sim::http::unix_secs(expired_at),
        })),
    )
}

pub(super) fn minutes_since(t: SystemTime) -> f64 {
    SystemTime::now()
        .duration_since(t)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
        / 60.0
}

pub(super) fn label(id: u32, text: &str, title_context: bool) -> Value {
    if title_context {
        message(id, "info", text, Some(json!({ "title": text })))
    } else {
        message(id, "info", text, None)
    }
}

pub(super) struct NodeSpec<'a> {
    pub(super) group: &'a str,
    pub(super) name: &'a str,
    pub(super) kind: &'a str,
    pub(super) value: Option<Value>,
    pub(super) required: bool,
    pub(super) autocomplete: Option<&'a str>,
    pub(super) label: Option<Value>,
}

pub(super) fn node(spec: NodeSpec<'_>, messages: Vec<Value>) -> Value {
    let mut attrs = Map::new();
    attrs.insert("name".into(), json!(spec.name));
    attrs.insert("type".into(), json!(spec.kind));
    if let Some(v) = spec.value {
        attrs.insert("value".into(), v);
    }
    if spec.required {
        attrs.insert("required".into(), json!(true));
    }
    if let Some(a) = spec.autocomplete {
        attrs.insert("autocomplete".into(), json!(a));
    }
    attrs.insert("disabled".into(), json!(false));
    attrs.insert("node_type".into(), json!("input"));
    let meta = match spec.label {
        Some(l) => json!({ "label": l }),
        None => json!({}),
    };
    json!({
        "type": "input",
        "group": spec.group,
        "attributes": Value::Object(attrs),
        "messages": messages,
        "meta": meta,
    })
}

/// Field-level messages keyed by node name, in the order they were raised.
pub(super) type FieldMessages = Vec<(String, Value)>;

pub(super) fn messages_for(fields: &FieldMessages, name: &str) -> Vec<Value> {
    fields
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, m)| m.clone())
        .collect()
}

/// Nodes Kratos adds for messages on fields the form does not have (`Container.AddMessage`).
pub(super) fn extra_nodes(fields: &FieldMessages, known: &[&str]) -> Vec<Value> {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for (name, _) in fields {
        if known.contains(&name.as_str()) || seen.contains(&name.as_str()) {
            continue;
        }
        seen.push(name);
        out.push(node(
            NodeSpec {
                group: "default",
                name,
                kind: "text",
                value: None,
                required: false,
                autocomplete: None,
                label: None,
            },
            messages_for(fields, name),
        ));
    }
    out
}

pub(super) fn csrf_node(fields: &FieldMessages) -> Value {
    node(
        NodeSpec {
            group: "default",
            name: "csrf_token",
            kind: "hidden",
            value: Some(json!("")),
            required: true,
            autocomplete: None,
            label: None,
        },
        messages_for(fields, "csrf_token"),
    )
}

/// Step one of two-step registration (the v1.3.1 default): traits and the `profile` submit.
/// Order as Kratos sorts them: the schema's fields (a `password` node right after the password
/// identifier `traits.email`), then the rest in insertion order: CSRF token, nodes added for
/// messages on unknown fields, the submit button.
pub(super) fn registration_nodes(values: &TraitValues, fields: &FieldMessages) -> Vec<Value> {
    let (password, extras): (Vec<Value>, Vec<Value>) = extra_nodes(
        fields,
        &[
            "csrf_token",
            "traits.email",
            "traits.name.first",
            "traits.name.last",
            "method",
        ],
    )
    .into_iter()
    .partition(|n| n["attributes"]["name"] == "password");
    let mut nodes = vec![node(
        NodeSpec {
            group: "default",
            name: "traits.email",
            kind: "email",
            value: values.email.clone(),
            required: true,
            autocomplete: Some("email"),
            label: Some(label(1070002, EMAIL_TITLE, true)),
        },
        messages_for(fields, "traits.email"),
    )];
    nodes.extend(password);
    nodes.extend([
        node(
            NodeSpec {
                group: "default",
                name: "traits.name.first",
                kind: "text",
                value: values.first.clone(),
                required: false,
                autocomplete: None,
                label: Some(label(1070002, "First name", true)),
            },
            messages_for(fields, "traits.name.first"),
        ),
        node(
            NodeSpec {
                group: "default",
                name: "traits.name.last",
                kind: "text",
                value: values.last.clone(),
                required: false,
                autocomplete: None,
                label: Some(label(1070002, "Last name", true)),
            },
            messages_for(fields, "traits.name.last"),
        ),
        csrf_node(fields),
    ]);
    nodes.extend(extras);
    nodes.push(sign_up_node(fields));
    nodes
}

/// The registration form's "Sign up" button (last node of every registration form).
pub(super) fn sign_up_node(fields: &FieldMessages) -> Value {
    node(
        NodeSpec {
            group: "profile",
            name: "method",
            kind: "submit",
            value: Some(json!("profile")),
            required: false,
            autocomplete: None,
            label: Some(label(1040001, "Sign up", false)),
        },
        messages_for(fields, "method"),
    )
}

/// Login form nodes. A refresh flow (`refresh_identifier`) has the session's identifier in a
/// hidden node and a plain "Sign in" button.
pub(super) fn login_nodes(
    identifier: &str,
    fields: &FieldMessages,
    refresh_identifier: Option<&str>,
) -> Vec<Value> {
    let identifier_node = match refresh_identifier {
        Some(known) => NodeSpec {
            group: "default",
            name: "identifier",
            kind: "hidden",
            value: Some(json!(known)),
            required: false,
            autocomplete: None,
            label: None,
        },
        None => NodeSpec {
            group: "default",
            name: "identifier",
            kind: "text",
            value: Some(json!(identifier)),
            required: true,
            autocomplete: None,
            label: Some(label(1070002, EMAIL_TITLE, true)),
        },
    };
    let submit_label = match refresh_identifier {
        Some(_) => label(1010001, "Sign in", false),
        None => label(1010022, "Sign in with password", false),
    };
    let mut nodes = vec![
        csrf_node(fields),
        node(identifier_node, messages_for(fields, "identifier")),
    ];
    nodes.extend(extra_nodes(
        fields,
        &["csrf_token", "identifier", "password", "method"],
    ));
    nodes.push(node(
        NodeSpec {
            group: "password",
            name: "password",
            kind: "password",
            value: None,
            required: true,
            autocomplete: Some("current-password"),
            label: Some(label(1070001, "Password", false)),
        },
        messages_for(fields, "password"),
    ));
    nodes.push(node(
        NodeSpec {
            group: "password",
            name: "method",
            kind: "submit",
            value: Some(json!("password")),
            required: false,
            autocomplete: None,
            label: Some(submit_label),
        },
        messages_for(fields, "method"),
    ));
    nodes
}
