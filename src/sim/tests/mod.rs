//! Integration tests: the simulator on ephemeral loopback ports, exercised over real HTTP.

mod hydra;
mod keto;
mod kratos;
mod server;

use std::time::Duration;

use serde_json::{json, Value};

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

/// No cookies, no proxies, bounded.
pub(super) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

pub(super) fn no_redirect_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
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

pub(super) async fn registration_flow(c: &reqwest::Client, urls: &PerEndpoint<String>) -> String {
    let (status, flow) = get(
        c,
        format!(
            "{}/self-service/registration/api",
            urls[Endpoint::KratosPublic]
        ),
    )
    .await;
    assert_eq!(status, 200, "{flow}");
    flow["id"].as_str().expect("flow id").to_owned()
}

pub(super) async fn login_flow(c: &reqwest::Client, urls: &PerEndpoint<String>) -> String {
    let (status, flow) = get(
        c,
        format!("{}/self-service/login/api", urls[Endpoint::KratosPublic]),
    )
    .await;
    assert_eq!(status, 200, "{flow}");
    flow["id"].as_str().expect("flow id").to_owned()
}

pub(super) async fn submit_registration(
    c: &reqwest::Client,
    urls: &PerEndpoint<String>,
    flow: &str,
    body: &Value,
) -> (u16, Value) {
    let r = c
        .post(format!(
            "{}/self-service/registration?flow={flow}",
            urls[Endpoint::KratosPublic]
        ))
        .header("Accept", "application/json")
        .json(body)
        .send()
        .await
        .expect("request");
    parts(r).await
}

pub(super) fn registration_body(email: &str, password: &str) -> Value {
    json!({
        "method": "password",
        "password": password,
        "traits": {"email": email, "name": {"first": "Ada", "last": "Lovelace"}},
    })
}

pub(super) async fn register(
    c: &reqwest::Client,
    urls: &PerEndpoint<String>,
    email: &str,
    password: &str,
) -> (u16, Value) {
    let flow = registration_flow(c, urls).await;
    submit_registration(c, urls, &flow, &registration_body(email, password)).await
}

pub(super) async fn login(
    c: &reqwest::Client,
    urls: &PerEndpoint<String>,
    body: &Value,
) -> (u16, Value) {
    let flow = login_flow(c, urls).await;
    let r = c
        .post(format!(
            "{}/self-service/login?flow={flow}",
            urls[Endpoint::KratosPublic]
        ))
        .json(body)
        .send()
        .await
        .expect("request");
    parts(r).await
}

pub(super) const PASSWORD: &str = "correct-horse-battery-staple";
