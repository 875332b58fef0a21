//! Integration tests of what is the simulator's own (listeners, fault injection, bounds,
//! shutdown, counters), over real HTTP on ephemeral loopback ports. What Ory does is asserted
//! once, by the contract suite (`tests/contract`), against the simulator and real Ory alike.

mod server;
mod stats;

use serde_json::{json, Value};

pub(super) use crate::ory::test_server::client;

use super::{start, start_tuned, SimConfig, SimHandle, Tuning};
use crate::ground::{Endpoint, PerEndpoint};

pub(super) async fn sim() -> SimHandle {
    start(SimConfig::ephemeral())
        .await
        .expect("simulator starts")
}

pub(super) async fn sim_tuned(cfg: SimConfig, tuning: Tuning) -> SimHandle {
    start_tuned(cfg, tuning).await.expect("simulator starts")
}

/// Status and JSON body (Null when the body is empty or not JSON).
pub(super) async fn parts(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub(super) async fn get(c: &reqwest::Client, url: String) -> (u16, Value) {
    parts(c.get(url).send().await.expect("request")).await
}

/// An API-flow registration with `email` and `password`: the submit's status and body.
pub(super) async fn register(
    c: &reqwest::Client,
    urls: &PerEndpoint<String>,
    email: &str,
    password: &str,
) -> (u16, Value) {
    let public = &urls[Endpoint::KratosPublic];
    let (status, flow) = get(c, format!("{public}/self-service/registration/api")).await;
    assert_eq!(status, 200, "{flow}");
    let flow = flow["id"].as_str().expect("flow id");
    let body = json!({
        "method": "password",
        "password": password,
        "traits": {"email": email, "name": {"first": "Ada", "last": "Lovelace"}},
    });
    let r = c
        .post(format!("{public}/self-service/registration?flow={flow}"))
        .header("Accept", "application/json")
        .json(&body)
        .send()
        .await
        .expect("request");
    parts(r).await
}

pub(super) const PASSWORD: &str = "correct-horse-battery-staple";
