//! The stores' counters (`SimHandle::stats`): what each successful call adds, and that refused
//! calls add nothing.

use serde_json::json;

use super::*;
use crate::sim::SimStats;

#[tokio::test]
async fn stats_count_what_the_stores_hold() {
    let sim = sim().await;
    let c = client();
    let urls = &sim.urls;
    let (status, _) = register(&c, urls, "ada@example.com", PASSWORD).await;
    assert_eq!(status, 200);
    let (status, _) = register(&c, urls, "ADA@example.com", PASSWORD).await;
    assert_eq!(status, 400, "a duplicate");
    let (status, _) = register(&c, urls, "short@example.com", "abc").await;
    assert_eq!(status, 400, "too short a password");

    let r = c
        .post(format!("{}/admin/clients", urls[Endpoint::HydraAdmin]))
        .json(&json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_post"}))
        .send()
        .await
        .expect("request");
    let (status, client) = parts(r).await;
    assert_eq!(status, 201, "{client}");
    let id = client["client_id"].as_str().unwrap_or_default();
    let secret = client["client_secret"].as_str().unwrap_or_default();
    for (secret, expected) in [(secret, 200), ("wrong-secret", 401)] {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ];
        let r = c
            .post(format!("{}/oauth2/token", urls[Endpoint::HydraPublic]))
            .form(&form)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status().as_u16(), expected);
    }

    let write = format!("{}/admin/relation-tuples", urls[Endpoint::KetoWrite]);
    for (tuple, expected) in [
        (
            json!({"namespace": "documents", "object": "o", "relation": "r", "subject_id": "s"}),
            201,
        ),
        (
            json!({"namespace": "nope", "object": "o", "relation": "r", "subject_id": "s"}),
            404,
        ),
        (
            json!({"namespace": "documents", "object": "o", "relation": "r"}),
            400,
        ),
    ] {
        let r = c.put(&write).json(&tuple).send().await.expect("request");
        assert_eq!(r.status().as_u16(), expected, "{tuple}");
    }

    let stats = sim.stats();
    assert!(stats.flows >= 3, "{stats:?}");
    assert_eq!(
        SimStats { flows: 0, ..stats },
        SimStats {
            identities: 1,
            sessions: 1,
            flows: 0,
            clients: 1,
            tokens: 1,
            tuples: 1,
        }
    );
    sim.shutdown().await;
}
