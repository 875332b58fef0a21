//! `kratos.register` against any identity schema: the traits the step gives, or ones filled
//! from the registration form; the identifier the identity got, for later logins.

use super::exec::{timed, Done, Produced, Renderer};
use crate::engine::traits_fill::{fill, string_at, Known};
use crate::ground::ErrorClass;
use crate::ory::kratos::{KratosClient, Registered};
use crate::ory::Call;
use crate::scenario::model::{Action, TraitsT};
use crate::scenario::template::Value;
use crate::secret::Secret;
use serde_json::Value as Json;

/// What a registration produced besides the identity: the traits it sent.
pub struct Sent {
    pub registered: Registered,
    pub traits: Json,
}

fn render_traits(t: &TraitsT, r: &mut Renderer) -> Json {
    match t {
        TraitsT::Object(fields) => Json::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), render_traits(v, r)))
                .collect(),
        ),
        TraitsT::Array(items) => Json::Array(items.iter().map(|v| render_traits(v, r)).collect()),
        TraitsT::Text(t) => Json::from(&*r.get(t)),
        TraitsT::Literal(v) => v.clone(),
    }
}

/// Runs a `kratos.register` step: the flow's creation and submission are timed together, as
/// a user sees them; finding the identifier afterwards is not (it asks Kratos for the identity
/// schema once per schema).
pub async fn register(k: &KratosClient, action: &Action, r: &mut Renderer<'_, '_>) -> Done {
    let Action::KratosRegister {
        email,
        password,
        first_name,
        last_name,
        traits,
    } = action
    else {
        unreachable!("called for registration steps only")
    };
    let password_value = r.get(password);
    let secret = Secret::new(password_value.to_string());
    let given = traits.as_ref().map(|t| render_traits(t, r));
    let known = match &given {
        Some(_) => None,
        None => Some((r.get(email), r.get(first_name), r.get(last_name))),
    };
    // Unique to the run, the user and the user's sequence: identifiers never collide.
    *r.draws.seq += 1;
    let unique = format!("{}x{}x{}", r.cx.run_tag, r.cx.vu_id, r.draws.seq);
    let rng = &mut *r.draws.rng;
    let mut done = timed(
        || async {
            let (submit, inputs) = match k.start_registration().await {
                Ok(started) => started,
                Err(class) => return Call::err(class),
            };
            let traits = match (given, &known) {
                (Some(t), _) => t,
                (None, Some((email, first, last))) => {
                    let known = Known { email, first, last };
                    match fill(&inputs, &known, &unique, rng) {
                        Ok(t) => t,
                        // The preflight names the trait; here the call cannot be made.
                        Err(_) => return Call::err(ErrorClass::Protocol),
                    }
                }
                (None, None) => unreachable!("known is set when no traits are given"),
            };
            let body = serde_json::json!({
                "method": "password",
                "password": secret.expose(),
                "traits": &traits,
            });
            let call = k.submit_registration(submit, &body).await;
            Call {
                outcome: call.outcome,
                value: call.value.map(|registered| Sent { registered, traits }),
            }
        },
        |sent| Produced::Registered {
            sent,
            identifier: None,
            password: password_value,
        },
    )
    .await;
    if let Produced::Registered {
        sent, identifier, ..
    } = &mut done.produced
    {
        *identifier = identifier_of(k, sent).await;
    }
    done
}

/// The value of the schema's first password identifier found in the traits sent; without
/// the schema, the `email` trait.
async fn identifier_of(k: &KratosClient, sent: &Sent) -> Option<Value> {
    let paths = k.identifier_paths(&sent.registered.schema_id).await.ok();
    paths
        .iter()
        .flat_map(|p| p.iter())
        .find_map(|p| string_at(&sent.traits, p))
        .or_else(|| string_at(&sent.traits, "email"))
        .map(Value::from)
}
