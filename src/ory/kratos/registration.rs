//! What registration against any identity schema needs from Kratos: the `traits.*` inputs of a
//! registration flow's form, and where the schema keeps its password identifiers (read once per
//! schema from the public `GET /schemas/{id}`, as Kratos's own UI nodes do not say).

use super::{http, KratosClient};
use crate::ground::ErrorClass;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One `traits.*` input of a registration form, as Kratos renders the schema into UI nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormInput {
    /// The trait's dotted path under `traits`, e.g. `name.first`.
    pub path: String,
    /// The input type: `email`, `tel`, `text`, `number`, `checkbox`, `date`, `url`, ...
    pub kind: String,
    pub required: bool,
    /// The schema's `pattern`, when it has one.
    pub pattern: Option<String>,
}

#[derive(Deserialize)]
struct FlowUi {
    ui: Ui,
}

#[derive(Deserialize)]
struct Ui {
    #[serde(default)]
    nodes: Vec<Node>,
}

#[derive(Deserialize)]
struct Node {
    #[serde(default)]
    attributes: Attributes,
}

#[derive(Deserialize, Default)]
struct Attributes {
    #[serde(default)]
    name: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    pattern: Option<String>,
}

/// The `traits.*` inputs of a flow body, in the form's order; none when it is not a flow.
pub fn form_inputs(flow: &[u8]) -> Vec<FormInput> {
    let Ok(flow) = serde_json::from_slice::<FlowUi>(flow) else {
        return Vec::new();
    };
    flow.ui
        .nodes
        .into_iter()
        .filter_map(|n| {
            let a = n.attributes;
            let path = a.name.strip_prefix("traits.")?.to_string();
            Some(FormInput {
                path,
                kind: a.kind,
                required: a.required,
                pattern: a.pattern.filter(|p| !p.is_empty()),
            })
        })
        .collect()
}

/// Password identifier paths per schema id, filled on first use.
#[derive(Default)]
pub(super) struct IdentifierPaths(Mutex<HashMap<String, Arc<[String]>>>);

/// The dotted paths under `traits` marked `ory.sh/kratos.credentials.password.identifier`.
fn identifier_paths_of(schema: &Value) -> Vec<String> {
    fn walk(props: &Value, prefix: &str, out: &mut Vec<String>) {
        let Some(props) = props.as_object() else {
            return;
        };
        for (name, prop) in props {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            if prop.pointer("/ory.sh~1kratos/credentials/password/identifier") == Some(&true.into())
            {
                out.push(path.clone());
            }
            if let Some(nested) = prop.get("properties") {
                walk(nested, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    if let Some(traits) = schema.pointer("/properties/traits/properties") {
        walk(traits, "", &mut out);
    }
    out
}

impl KratosClient {
    /// Where the password identifiers of schema `schema_id` are in the traits; asked once per
    /// schema. An error is not remembered, so a later registration asks again.
    pub async fn identifier_paths(&self, schema_id: &str) -> Result<Arc<[String]>, ErrorClass> {
        let cache = &self.inner.identifier_paths.0;
        if let Some(paths) = cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(schema_id)
        {
            return Ok(paths.clone());
        }
        let mut url = self.inner.schemas_prefix.clone();
        http::push_encoded(&mut url, schema_id);
        let headers = self.inner.headers.public();
        let schema: Value = match self.inner.public.get(&url, headers).await? {
            (StatusCode::OK, body) => http::decode(&body)?,
            (status, _) => return Err(ErrorClass::Status(status.as_u16())),
        };
        let paths: Arc<[String]> = identifier_paths_of(&schema).into();
        cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(schema_id.to_string(), paths.clone());
        Ok(paths)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inputs_are_the_trait_nodes_in_form_order() {
        let flow = json!({"id":"f","ui":{"nodes":[
            {"attributes":{"name":"traits.username","type":"text","required":true,"pattern":"^[a-z]+$"}},
            {"attributes":{"name":"traits.phone","type":"tel","required":true,"autocomplete":"tel"}},
            {"attributes":{"name":"traits.name.first","type":"text"}},
            {"attributes":{"name":"csrf_token","type":"hidden","required":true}},
            {"attributes":{"name":"method","type":"submit","value":"profile"}},
            {"type":"text","attributes":{"text":{"id":1}}}
        ]}});
        let inputs = form_inputs(flow.to_string().as_bytes());
        assert_eq!(
            inputs,
            vec![
                FormInput {
                    path: "username".into(),
                    kind: "text".into(),
                    required: true,
                    pattern: Some("^[a-z]+$".into())
                },
                FormInput {
                    path: "phone".into(),
                    kind: "tel".into(),
                    required: true,
                    pattern: None
                },
                FormInput {
                    path: "name.first".into(),
                    kind: "text".into(),
                    required: false,
                    pattern: None
                },
            ]
        );
        assert!(form_inputs(b"not json").is_empty());
    }

    #[test]
    fn identifier_paths_are_found_at_any_depth() {
        let schema = json!({"properties":{"traits":{"properties":{
            "email":{"type":"string","ory.sh/kratos":{"credentials":{"password":{"identifier":true}}}},
            "profile":{"type":"object","properties":{
                "handle":{"type":"string","ory.sh/kratos":{"credentials":{"password":{"identifier":true}}}},
                "nick":{"type":"string","ory.sh/kratos":{"credentials":{"password":{"identifier":false}}}}
            }},
            "phone":{"type":"string"}
        }}}});
        let mut paths = identifier_paths_of(&schema);
        paths.sort();
        assert_eq!(paths, vec!["email", "profile.handle"]);
        assert!(identifier_paths_of(&json!({"type":"object"})).is_empty());
    }
}
