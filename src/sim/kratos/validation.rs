//! Checks of a submission as Kratos makes them: decoding, CSRF rules of API flows, the identity
//! schema, the password strategy's payload schema and the default password policy.

use super::*;
use crate::ground::text::edit_distance;

/// gjson's type name for what a lenient parse of `body` sees first.
pub(super) fn gjson_type(body: &[u8]) -> &'static str {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => "JSON",
        Some(b'[') => "JSON",
        Some(b'"') => "String",
        Some(b't') => "True",
        Some(b'f') => "False",
        Some(b'-') | Some(b'0'..=b'9') => "Number",
        _ => "Null",
    }
}

pub(super) fn go_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Sets `value` at a dotted path, creating objects on the way (Kratos form decoding).
pub(super) fn set_dotted(root: &mut Map<String, Value>, path: &str, value: Value) {
    let mut parts = path.split('.').peekable();
    let mut cur = root;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(part.to_owned(), value);
            return;
        }
        let entry = cur
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        match entry {
            Value::Object(m) => cur = m,
            _ => return,
        }
    }
}

/// Decodes a self-service submission like ory/x `decoderx` does, or returns the reason a
/// Kratos 400 flow message shows.
pub(super) fn decode_submission(req: &Req) -> Result<Map<String, Value>, String> {
    if req.method == Method::GET {
        let mut m = Map::new();
        for (k, v) in req.query().0 {
            set_dotted(&mut m, &k, Value::String(v));
        }
        return Ok(m);
    }
    if req.body.is_empty() {
        return Err("Unable to decode HTTP Request Body because its HTTP Header \"Content-Length\" is zero.".into());
    }
    let body = match req.media_type().as_str() {
        "application/json" => match serde_json::from_slice::<Value>(&req.body) {
            Ok(Value::Object(m)) => m,
            Ok(_) | Err(_) => match gjson_type(&req.body) {
                // gjson parses a broken object leniently; Kratos then finds no method.
                "JSON" if req.body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') => {
                    Map::new()
                }
                t => {
                    return Err(format!(
                        "Expected JSON sent in request body to be an object but got: {t}"
                    ))
                }
            },
        },
        "application/x-www-form-urlencoded" => {
            let mut m = Map::new();
            for (k, v) in crate::sim::http::Query::parse(&String::from_utf8_lossy(&req.body)).0 {
                set_dotted(&mut m, &k, Value::String(v));
            }
            m
        }
        _ => {
            return Err(format!(
                "HTTP {} Request used unknown HTTP Header \"Content-Type: {}\", only [multipart/form-data application/x-www-form-urlencoded application/json] are supported.",
                req.method,
                req.header("content-type").unwrap_or("")
            ))
        }
    };
    if let Some(m) = body.get("method") {
        if !m.is_string() {
            return Err(format!(
                "Unable to decode JSON payload: json: cannot unmarshal {} into Go struct field .method of type string",
                go_kind(m)
            ));
        }
    }
    Ok(body)
}

/// `flow.EnsureCSRF` for API flows.
pub(super) fn api_flow_csrf_violation(req: &Req) -> Option<&'static str> {
    if req.has_header("origin") {
        return Some(REASON_ORIGIN);
    }
    for value in req.headers.get_all("cookie") {
        let Ok(value) = value.to_str() else { continue };
        for part in value.split(';') {
            let name = part.split('=').next().unwrap_or("").trim();
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b));
            if valid
                && !(name.starts_with("__cf") || name.starts_with("_cf") || name.starts_with("cf_"))
            {
                return Some(REASON_COOKIE);
            }
        }
    }
    None
}

/// ory/jsonschema v3 `isHostname`.
pub(super) fn is_hostname(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.len() > 253 || s.starts_with('-') {
        return false;
    }
    s.split('.').all(|label| {
        (1..=63).contains(&label.len())
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-')
    })
}

/// ory/jsonschema v3 `isEmail`: length limits, a hostname domain, and (approximately) Go's
/// `net/mail.ParseAddress` for the local part (a dot-atom or a quoted string; leading
/// whitespace is skipped).
pub(super) fn is_valid_email(s: &str) -> bool {
    if s.len() > 254 {
        return false;
    }
    let Some(at) = s.rfind('@') else {
        return false;
    };
    let (local, domain) = (&s[..at], &s[at + 1..]);
    if local.len() > 64 || !is_hostname(domain) {
        return false;
    }
    let local = local.trim_start_matches([' ', '\t']);
    if local.len() >= 2 && local.starts_with('"') && local.ends_with('"') {
        return true;
    }
    const ATEXT: &[u8] = b"!#$%&'*+-/=?^_`{|}~";
    !local.is_empty()
        && local.split('.').all(|atom| {
            !atom.is_empty()
                && atom
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || ATEXT.contains(&c) || c >= 0x80)
        })
}

pub(super) fn additional_properties(m: &Map<String, Value>, allowed: &[&str]) -> Option<Value> {
    let extra: Vec<String> = m
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| format!("{k:?}"))
        .collect();
    if extra.is_empty() {
        None
    } else {
        Some(msg_generic(&format!(
            "additionalProperties {} not allowed",
            extra.join(", ")
        )))
    }
}

/// Validates `traits` against the project's identity schema.
pub(super) fn validate_traits(traits: &Value, errs: &mut FieldMessages) {
    let Value::Object(m) = traits else {
        errs.push(("traits".into(), msg_wrong_type("object", json_type(traits))));
        return;
    };
    if let Some(msg) = additional_properties(m, &["email", "name"]) {
        errs.push(("traits".into(), msg));
    }
    match m.get("email") {
        None => errs.push(("traits.email".into(), msg_required("email"))),
        Some(Value::String(s)) => {
            let n = s.chars().count();
            if n < 3 {
                errs.push(("traits.email".into(), msg_min_length(3, n)));
            }
            if n > 320 {
                errs.push(("traits.email".into(), msg_max_length(320, n)));
            }
            if !is_valid_email(s) {
                errs.push((
                    "traits.email".into(),
                    msg_generic(&format!("{s:?} is not valid \"email\"")),
                ));
            }
        }
        Some(v) => errs.push((
            "traits.email".into(),
            msg_wrong_type("string", json_type(v)),
        )),
    }
    match m.get("name") {
        None => {}
        Some(Value::Object(n)) => {
            if let Some(msg) = additional_properties(n, &["first", "last"]) {
                errs.push(("traits.name".into(), msg));
            }
            for key in ["first", "last"] {
                if let Some(v) = n.get(key) {
                    if !v.is_string() {
                        errs.push((
                            format!("traits.name.{key}"),
                            msg_wrong_type("string", json_type(v)),
                        ));
                    }
                }
            }
        }
        Some(v) => errs.push(("traits.name".into(), msg_wrong_type("object", json_type(v)))),
    }
}

pub(super) fn validate_string_field(
    body: &Map<String, Value>,
    key: &str,
    required: bool,
    min_len: usize,
    errs: &mut FieldMessages,
) {
    match body.get(key) {
        None if required => errs.push((key.into(), msg_required(key))),
        None => {}
        Some(Value::String(s)) => {
            let n = s.chars().count();
            if n < min_len {
                errs.push((key.into(), msg_min_length(min_len, n)));
            }
        }
        Some(v) => errs.push((key.into(), msg_wrong_type("string", json_type(v)))),
    }
}

/// The payload checks of the password strategy's registration JSON schema, but for
/// `traits`, which the identity schema checks (see `Kratos::validate_traits`).
pub(super) fn validate_registration_payload(body: &Map<String, Value>) -> FieldMessages {
    let mut errs = FieldMessages::new();
    validate_string_field(body, "csrf_token", false, 0, &mut errs);
    validate_string_field(body, "password", true, 1, &mut errs);
    if let Some(tp) = body.get("transient_payload") {
        if !tp.is_object() {
            errs.push((
                "transient_payload".into(),
                msg_wrong_type("object", json_type(tp)),
            ));
        }
    }
    errs
}

/// The payload checks of the password strategy's login JSON schema.
pub(super) fn validate_login_payload(body: &Map<String, Value>) -> FieldMessages {
    let mut errs = FieldMessages::new();
    validate_string_field(body, "csrf_token", false, 0, &mut errs);
    validate_string_field(body, "password", true, 1, &mut errs);
    if let Some(tp) = body.get("transient_payload") {
        if !tp.is_object() {
            errs.push((
                "transient_payload".into(),
                msg_wrong_type("object", json_type(tp)),
            ));
        }
    }
    let legacy_ok =
        matches!(body.get("password_identifier"), Some(Value::String(s)) if !s.is_empty());
    if legacy_ok {
        validate_string_field(body, "identifier", false, 1, &mut errs);
    } else {
        if let Some(v) = body.get("password_identifier") {
            if !v.is_string() {
                errs.push((
                    "password_identifier".into(),
                    msg_wrong_type("string", json_type(v)),
                ));
            }
        }
        validate_string_field(body, "identifier", true, 1, &mut errs);
    }
    errs
}

/// Longest common substring length, as Kratos' `lcsLength` (byte positions).
pub(super) fn lcs_length(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut best = 0;
    let mut prev = vec![0usize; b.len() + 1];
    let mut cur = vec![0usize; b.len() + 1];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            cur[j] = if a[i - 1] == b[j - 1] {
                prev[j - 1] + 1
            } else {
                0
            };
            best = best.max(cur[j]);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    best
}

/// Kratos' default password policy (min length 8, identifier similarity, bcrypt's 72 bytes).
pub(super) fn password_policy(identifier: &str, password: &str) -> Option<Value> {
    if password.len() < MIN_PASSWORD_LEN {
        return Some(message(
            4000032,
            "error",
            &format!(
                "The password must be at least {MIN_PASSWORD_LEN} characters long, but got {}.",
                password.len()
            ),
            Some(json!({"min_length": MIN_PASSWORD_LEN, "actual_length": password.len()})),
        ));
    }
    if !identifier.is_empty() {
        let (id, pw) = (identifier.to_lowercase(), password.to_lowercase());
        let dist = edit_distance(&id, &pw);
        let lcs = lcs_length(&id, &pw) as f32 / pw.len().max(1) as f32;
        if dist < 5 || lcs > 0.5 {
            return Some(message(
                4000031,
                "error",
                "The password can not be used because it is too similar to the identifier.",
                None,
            ));
        }
    }
    if password.len() > BCRYPT_MAX_LEN {
        return Some(message(
            4000033,
            "error",
            &format!(
                "The password must be at most {BCRYPT_MAX_LEN} characters long, but got {}.",
                password.len()
            ),
            Some(json!({"max_length": BCRYPT_MAX_LEN, "actual_length": password.len()})),
        ));
    }
    None
}

pub(super) fn normalize_identifier(s: &str) -> String {
    s.trim().to_lowercase()
}

pub(super) fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}
