//! A deployment's own identity schema (`orysim sim --identity-schema FILE`): the registration
//! form Kratos v1.3.1 renders from it and the validation it applies to `traits`, for the subset
//! of JSON Schema identity schemas use: nested objects, `type` string / integer / number /
//! boolean, `required`, `additionalProperties: false`, `minLength`, `maxLength`, `pattern`,
//! `minimum`, `maximum`, and the formats email and tel (E.164, where Kratos asks
//! libphonenumber). Properties keep the file's order, as Kratos's nodes do.

use super::nodes::{label, messages_for, msg_generic, msg_max_length, msg_min_length};
use super::nodes::{msg_required, msg_wrong_type, node, FieldMessages, NodeSpec};
use super::validation::{additional_properties, is_valid_email};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};
use std::fmt;

/// A parsed identity schema, with its text as `GET /schemas/{id}` serves it.
pub struct IdentitySchema {
    pub(crate) raw: String,
    traits: Prop,
    /// The leaf properties under `traits`, in file order.
    fields: Vec<Field>,
}

struct Field {
    path: String,
    prop: Prop,
    required: bool,
}

#[derive(Deserialize, Default, Clone)]
struct Prop {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    pattern: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(rename = "minLength", default)]
    min_length: Option<usize>,
    #[serde(rename = "maxLength", default)]
    max_length: Option<usize>,
    #[serde(default)]
    minimum: Option<f64>,
    #[serde(default)]
    maximum: Option<f64>,
    #[serde(default)]
    properties: Ordered,
    #[serde(default)]
    required: Vec<String>,
    #[serde(rename = "additionalProperties", default)]
    additional: Option<Value>,
    #[serde(rename = "ory.sh/kratos", default)]
    kratos: Value,
}

/// Properties in the order the file lists them.
#[derive(Default, Clone)]
struct Ordered(Vec<(String, Prop)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of properties")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, Prop>()? {
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
struct Root {
    #[serde(default)]
    properties: RootProps,
}

#[derive(Deserialize, Default)]
struct RootProps {
    traits: Option<Prop>,
}

impl fmt::Debug for IdentitySchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let paths: Vec<&str> = self.fields.iter().map(|f| f.path.as_str()).collect();
        f.debug_struct("IdentitySchema")
            .field("traits", &paths)
            .finish()
    }
}

impl IdentitySchema {
    /// Reads a schema file's text; the error says what is wrong in one line.
    pub fn parse(raw: &str) -> Result<IdentitySchema, String> {
        let root: Root =
            serde_json::from_str(raw).map_err(|e| format!("not an identity schema: {e}"))?;
        let traits = root
            .properties
            .traits
            .ok_or("not an identity schema: it has no properties.traits")?;
        if traits.properties.0.is_empty() {
            return Err("not an identity schema: properties.traits has no properties".into());
        }
        let mut fields = Vec::new();
        flatten(&traits, "", true, &mut fields);
        if !fields.iter().any(|f| f.prop.is_identifier()) {
            return Err(
                "the schema marks no trait as a password identifier (\"ory.sh/kratos\": \
                 {\"credentials\": {\"password\": {\"identifier\": true}}})"
                    .into(),
            );
        }
        Ok(IdentitySchema {
            raw: raw.to_string(),
            traits,
            fields,
        })
    }

    /// The password identifier of `traits`: the first identifier trait that is a string.
    pub fn identifier(&self, traits: &Value) -> Option<String> {
        self.fields
            .iter()
            .filter(|f| f.prop.is_identifier())
            .find_map(|f| at(traits, &f.path).and_then(Value::as_str))
            .map(str::to_string)
    }

    /// The registration form: one node per trait (with the submitted value, if any), a
    /// `password` node for password messages right after the identifier, the CSRF token,
    /// nodes for messages on fields the form does not have, the submit button.
    pub fn registration_nodes(
        &self,
        submitted: Option<&Value>,
        errs: &FieldMessages,
    ) -> Vec<Value> {
        let mut known: Vec<String> = self
            .fields
            .iter()
            .map(|f| format!("traits.{}", f.path))
            .collect();
        known.extend(["csrf_token".into(), "method".into()]);
        let known_refs: Vec<&str> = known.iter().map(String::as_str).collect();
        let (password, extras): (Vec<Value>, Vec<Value>) =
            super::nodes::extra_nodes(errs, &known_refs)
                .into_iter()
                .partition(|n| n["attributes"]["name"] == "password");
        let mut password = Some(password);
        let mut nodes = Vec::new();
        for f in &self.fields {
            let name = format!("traits.{}", f.path);
            let (kind, autocomplete) = f.prop.input_type();
            let label_text = f.prop.title.clone().unwrap_or_else(|| f.path.clone());
            let mut n = node(
                NodeSpec {
                    group: "default",
                    name: &name,
                    kind,
                    value: submitted.and_then(|t| at(t, &f.path)).cloned(),
                    required: f.required,
                    autocomplete,
                    label: Some(label(1070002, &label_text, true)),
                },
                messages_for(errs, &name),
            );
            if let Some(p) = &f.prop.pattern {
                n["attributes"]["pattern"] = json!(p);
            }
            nodes.push(n);
            if f.prop.is_identifier() {
                nodes.extend(password.take().unwrap_or_default());
            }
        }
        nodes.push(super::nodes::csrf_node(errs));
        nodes.extend(extras);
        nodes.push(super::nodes::sign_up_node(errs));
        nodes
    }

    /// Validates `traits` as Kratos does, messages keyed by node name.
    pub fn validate(&self, traits: &Value, errs: &mut FieldMessages) {
        validate_object(&self.traits, traits, "traits", errs);
    }

    /// `traits` as Kratos stores it: every object property the schema declares is created on
    /// the way (Kratos decodes the form along the schema).
    pub fn with_objects(&self, traits: &mut Value) {
        fn fill(prop: &Prop, v: &mut Value) {
            let Value::Object(m) = v else { return };
            for (name, p) in &prop.properties.0 {
                if p.kind.as_deref() == Some("object") {
                    fill(p, m.entry(name.clone()).or_insert_with(|| json!({})));
                }
            }
        }
        fill(&self.traits, traits);
    }
}

fn flatten(prop: &Prop, prefix: &str, required_path: bool, out: &mut Vec<Field>) {
    for (name, p) in &prop.properties.0 {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let required = required_path && prop.required.contains(name);
        if p.kind.as_deref() == Some("object") {
            flatten(p, &path, required, out);
        } else {
            out.push(Field {
                path,
                prop: p.clone(),
                required,
            });
        }
    }
}

fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, part| v.get(part))
}

impl Prop {
    fn is_identifier(&self) -> bool {
        self.kratos.pointer("/credentials/password/identifier") == Some(&Value::Bool(true))
    }

    /// The input type Kratos renders and its `autocomplete`.
    fn input_type(&self) -> (&'static str, Option<&'static str>) {
        match (self.kind.as_deref(), self.format.as_deref()) {
            (Some("string"), Some("email")) => ("email", Some("email")),
            (Some("string"), Some("tel")) => ("tel", Some("tel")),
            (Some("string"), Some("date")) => ("date", None),
            (Some("string"), Some("date-time")) => ("datetime-local", None),
            (Some("string"), Some("uri")) => ("url", None),
            (Some("integer" | "number"), _) => ("number", None),
            (Some("boolean"), _) => ("checkbox", None),
            _ => ("text", None),
        }
    }
}

/// Kratos's validator names every JSON number `number` when the type is wrong.
fn actual_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn validate_object(prop: &Prop, v: &Value, name: &str, errs: &mut FieldMessages) {
    let Value::Object(m) = v else {
        errs.push((name.into(), msg_wrong_type("object", actual_type(v))));
        return;
    };
    if prop.additional == Some(Value::Bool(false)) {
        let allowed: Vec<&str> = prop.properties.0.iter().map(|(k, _)| k.as_str()).collect();
        if let Some(msg) = additional_properties(m, &allowed) {
            errs.push((name.into(), msg));
        }
    }
    for (key, p) in &prop.properties.0 {
        let child = format!("{name}.{key}");
        match m.get(key) {
            None if prop.required.contains(key) => errs.push((child, msg_required(key))),
            None => {}
            Some(value) => validate_value(p, value, &child, errs),
        }
    }
}

fn validate_value(p: &Prop, v: &Value, name: &str, errs: &mut FieldMessages) {
    let wrong = |errs: &mut FieldMessages, want: &str| {
        errs.push((name.into(), msg_wrong_type(want, actual_type(v))))
    };
    match (p.kind.as_deref(), v) {
        (Some("object"), _) => validate_object(p, v, name, errs),
        (Some("string"), Value::String(s)) => validate_string(p, s, name, errs),
        (Some("integer"), Value::Number(n)) if n.as_f64().is_some_and(|x| x.fract() != 0.0) => {
            wrong(errs, "integer")
        }
        (Some("integer" | "number"), Value::Number(n)) => {
            let x = n.as_f64().unwrap_or_default();
            if let Some(min) = p.minimum.filter(|min| x < *min) {
                errs.push((name.into(), bound_message(4000018, ">=", "minimum", min, v)));
            }
            if let Some(max) = p.maximum.filter(|max| x > *max) {
                errs.push((name.into(), bound_message(4000020, "<=", "maximum", max, v)));
            }
        }
        (Some("boolean"), Value::Bool(_)) => {}
        (Some(want @ ("string" | "integer" | "number" | "boolean")), _) => wrong(errs, want),
        _ => {}
    }
}

fn validate_string(p: &Prop, s: &str, name: &str, errs: &mut FieldMessages) {
    let n = s.chars().count();
    if let Some(min) = p.min_length.filter(|min| n < *min) {
        errs.push((name.into(), msg_min_length(min, n)));
    }
    if let Some(max) = p.max_length.filter(|max| n > *max) {
        errs.push((name.into(), msg_max_length(max, n)));
    }
    if let Some(pattern) = &p.pattern {
        if regex::Regex::new(pattern).is_ok_and(|re| !re.is_match(s)) {
            errs.push((
                name.into(),
                super::nodes::message(
                    4000004,
                    "error",
                    &format!("does not match pattern {pattern:?}"),
                    Some(json!({ "pattern": pattern })),
                ),
            ));
        }
    }
    let valid = match p.format.as_deref() {
        Some("email") => is_valid_email(s),
        Some("tel") => is_e164(s),
        _ => true,
    };
    if !valid {
        let format = p.format.as_deref().unwrap_or_default();
        errs.push((
            name.into(),
            msg_generic(&format!("{s:?} is not valid {format:?}")),
        ));
    }
}

/// `+` and 8 to 15 digits, the first not 0: the numbers libphonenumber can accept.
fn is_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|d| {
        (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    })
}

fn bound_message(id: u32, op: &str, key: &str, bound: f64, actual: &Value) -> Value {
    let bound_json = if bound.fract() == 0.0 {
        json!(bound as i64)
    } else {
        json!(bound)
    };
    let mut context = Map::new();
    context.insert("actual".into(), actual.clone());
    context.insert(key.into(), bound_json.clone());
    super::nodes::message(
        id,
        "error",
        &format!("must be {op} {bound_json} but found {actual}"),
        Some(Value::Object(context)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = include_str!("../../../deploy/ory/identity.username.schema.json");

    fn schema() -> IdentitySchema {
        IdentitySchema::parse(SCHEMA).unwrap()
    }

    fn names(nodes: &[Value]) -> Vec<String> {
        nodes
            .iter()
            .map(|n| n["attributes"]["name"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn the_form_follows_the_files_order_and_types() {
        let nodes = schema().registration_nodes(None, &Vec::new());
        assert_eq!(
            names(&nodes),
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
        let a = |i: usize| &nodes[i]["attributes"];
        assert_eq!(a(0)["type"], "text");
        assert_eq!(a(0)["pattern"], "^[a-z][a-z0-9_]+$");
        assert_eq!(a(0)["required"], true);
        assert_eq!(
            (a(1)["type"].as_str(), a(1)["autocomplete"].as_str()),
            (Some("tel"), Some("tel"))
        );
        assert!(a(2).get("required").is_none());
        assert_eq!(a(3)["type"], "number");
        assert_eq!(a(4)["type"], "checkbox");
        assert_eq!(nodes[1]["meta"]["label"]["text"], "Phone number");
    }

    #[test]
    fn validation_names_each_trait_as_kratos_does() {
        let mut errs = FieldMessages::new();
        schema().validate(
            &json!({"username": "Ab", "seats": 0, "tenant": 5, "phone": "12", "extra": 1}),
            &mut errs,
        );
        let ids: Vec<(String, i64)> = errs
            .iter()
            .map(|(n, m)| (n.clone(), m["id"].as_i64().unwrap()))
            .collect();
        assert_eq!(
            ids,
            [
                ("traits".to_string(), 4000001),
                ("traits.username".to_string(), 4000003),
                ("traits.username".to_string(), 4000004),
                ("traits.phone".to_string(), 4000001),
                ("traits.tenant".to_string(), 4000026),
                ("traits.seats".to_string(), 4000018),
                ("traits.terms_accepted".to_string(), 4000002),
            ]
        );
        assert_eq!(errs[4].1["context"]["actual_type"], "number");
        assert_eq!(errs[5].1["text"], "must be >= 1 but found 0");
        let mut errs = FieldMessages::new();
        schema().validate(
            &json!({"username": "ada_1", "phone": "+14155550123", "terms_accepted": false, "seats": 3}),
            &mut errs,
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(
            schema()
                .identifier(&json!({"username": "ada_1"}))
                .as_deref(),
            Some("ada_1")
        );
    }

    #[test]
    fn a_file_that_is_no_identity_schema_is_refused() {
        assert!(IdentitySchema::parse("{").is_err());
        assert!(IdentitySchema::parse(r#"{"properties":{}}"#)
            .unwrap_err()
            .contains("properties.traits"));
        let no_identifier =
            r#"{"properties":{"traits":{"type":"object","properties":{"a":{"type":"string"}}}}}"#;
        assert!(IdentitySchema::parse(no_identifier)
            .unwrap_err()
            .contains("identifier"));
    }
}
