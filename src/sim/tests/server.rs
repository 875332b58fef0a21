//! Listeners, health endpoints, routing fallbacks, fault injection, bounds and shutdown.

use std::time::{Duration, Instant};

use serde_json::json;

use super::*;
use crate::ground::{Endpoint, PerEndpoint};
use crate::sim::{FaultSpec, Stall};

fn all_urls(urls: &PerEndpoint<String>) -> [&str; 6] {
    [
        &urls[Endpoint::KratosPublic],
        &urls[Endpoint::KratosAdmin],
        &urls[Endpoint::HydraPublic],
        &urls[Endpoint::HydraAdmin],
        &urls[Endpoint::KetoRead],
        &urls[Endpoint::KetoWrite],
    ]
}

/// `path` (a health check) on every port. Kratos's admin port serves it under `/admin` and
/// redirects the bare path there, which the client does not follow.
fn health_urls(urls: &PerEndpoint<String>, path: &str) -> Vec<String> {
    all_urls(urls)
        .into_iter()
        .map(|base| match base == urls[Endpoint::KratosAdmin] {
            true => format!("{base}/admin{path}"),
            false => format!("{base}{path}"),
        })
        .collect()
}

#[tokio::test]
async fn health_and_version_on_every_port() {
    let sim = sim().await;
    let c = client();
    for path in ["/health/alive", "/health/ready"] {
        for url in health_urls(&sim.urls, path) {
            assert_eq!(
                get(&c, url.clone()).await,
                (200, json!({"status": "ok"})),
                "{url}"
            );
        }
    }
    // Kratos' admin port keeps everything under /admin and redirects the rest there.
    let r = c
        .get(format!("{}/health/alive", sim.urls[Endpoint::KratosAdmin]))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 307);
    assert_eq!(
        r.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("/admin/health/alive")
    );
    for (base, version) in [
        (
            &format!("{}/admin", sim.urls[Endpoint::KratosAdmin]),
            "v1.3.1",
        ),
        (&sim.urls[Endpoint::HydraAdmin], "v2.3.0"),
        (&sim.urls[Endpoint::KetoRead], "v0.14.0"),
        (&sim.urls[Endpoint::KetoWrite], "v0.14.0"),
    ] {
        assert_eq!(
            get(&c, format!("{base}/version")).await,
            (200, json!({"version": version}))
        );
    }
    // Public Kratos and Hydra ports have no /version route in the real servers.
    assert_eq!(
        get(&c, format!("{}/version", sim.urls[Endpoint::KratosPublic]))
            .await
            .0,
        404
    );
    assert_eq!(
        get(&c, format!("{}/version", sim.urls[Endpoint::HydraPublic]))
            .await
            .0,
        404
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let sim = sim().await;
    let c = client();
    for base in all_urls(&sim.urls) {
        let r = c
            .get(format!("{base}/admin/no/such/route"))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status().as_u16(), 404, "{base}");
    }
    let r = c
        .get(format!("{}/nope", sim.urls[Endpoint::KratosPublic]))
        .send()
        .await
        .expect("request");
    assert_eq!(r.text().await.unwrap_or_default(), "404 page not found\n");
    let r = c
        .get(format!("{}/admin/nope", sim.urls[Endpoint::HydraAdmin]))
        .header("Accept", "application/json")
        .send()
        .await
        .expect("request");
    let (status, body) = parts(r).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], 404);
    let r = c
        .get(format!(
            "{}/admin/relation-tuples",
            sim.urls[Endpoint::KetoWrite]
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 405);
    assert!(r.headers().get("allow").is_some());
    let r = c
        .get(format!("{}/oauth2/token", sim.urls[Endpoint::HydraPublic]))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 405);
    sim.shutdown().await;
}

fn faulty(spec: FaultSpec) -> SimConfig {
    SimConfig {
        kratos: spec.clone(),
        hydra: spec.clone(),
        keto: spec,
        ..SimConfig::ephemeral()
    }
}

#[tokio::test]
async fn error_rate_one_fails_every_non_health_request_with_the_service_envelope() {
    let sim = sim_tuned(
        faulty(FaultSpec {
            error_rate: 1.0,
            ..FaultSpec::default()
        }),
        Tuning::default(),
    )
    .await;
    let c = client();
    let urls = &sim.urls;
    for _ in 0..3 {
        let (status, body) = get(
            &c,
            format!(
                "{}/self-service/registration/api",
                urls[Endpoint::KratosPublic]
            ),
        )
        .await;
        assert_eq!(status, 500);
        assert_eq!(body["error"]["code"], 500);
        assert_eq!(body["error"]["status"], "Internal Server Error");
        assert!(body["error"]["message"].is_string());
    }
    let (status, body) = get(
        &c,
        format!("{}/admin/identities", urls[Endpoint::KratosAdmin]),
    )
    .await;
    assert_eq!((status, body["error"]["code"].clone()), (500, json!(500)));
    let r = c
        .post(format!("{}/oauth2/token", urls[Endpoint::HydraPublic]))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("request");
    let (status, body) = parts(r).await;
    assert_eq!(status, 500);
    assert_eq!(body["error"], "server_error");
    assert!(body["error_description"].is_string());
    let (status, body) = get(
        &c,
        format!("{}/admin/clients/x", urls[Endpoint::HydraAdmin]),
    )
    .await;
    assert_eq!(
        (status, body["error"].clone()),
        (500, json!("server_error"))
    );
    let (status, body) = get(&c, format!("{}/namespaces", urls[Endpoint::KetoRead])).await;
    assert_eq!((status, body["error"]["code"].clone()), (500, json!(500)));
    let r = c
        .put(format!(
            "{}/admin/relation-tuples",
            urls[Endpoint::KetoWrite]
        ))
        .json(&json!({"namespace": "documents", "object": "o", "relation": "r", "subject_id": "s"}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 500);
    for url in health_urls(urls, "/health/ready") {
        assert_eq!(get(&c, url.clone()).await.0, 200, "{url}");
    }
    assert_eq!(
        get(&c, format!("{}/version", urls[Endpoint::KetoRead]))
            .await
            .0,
        200
    );
    assert_eq!(sim.stats().tuples, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn latency_is_added_but_not_to_health() {
    let sim = sim_tuned(
        faulty(FaultSpec {
            latency: Duration::from_millis(20),
            ..FaultSpec::default()
        }),
        Tuning::default(),
    )
    .await;
    let c = client();
    for url in [
        format!(
            "{}/self-service/login/api",
            sim.urls[Endpoint::KratosPublic]
        ),
        format!("{}/admin/clients/none", sim.urls[Endpoint::HydraAdmin]),
        format!("{}/namespaces", sim.urls[Endpoint::KetoRead]),
    ] {
        let t = Instant::now();
        let (status, _) = get(&c, url.clone()).await;
        assert!(status < 500, "{url}");
        assert!(
            t.elapsed() >= Duration::from_millis(20),
            "{url}: {:?}",
            t.elapsed()
        );
    }
    sim.shutdown().await;

    let slow = sim_tuned(
        faulty(FaultSpec {
            latency: Duration::from_millis(400),
            jitter: Duration::from_millis(50),
            ..FaultSpec::default()
        }),
        Tuning::default(),
    )
    .await;
    let t = Instant::now();
    for url in health_urls(&slow.urls, "/health/alive") {
        assert_eq!(get(&c, url).await.0, 200);
    }
    assert!(
        t.elapsed() < Duration::from_millis(350),
        "health took {:?}",
        t.elapsed()
    );
    slow.shutdown().await;
}

#[tokio::test]
async fn stalls_hold_requests_until_the_stall_ends() {
    // The whole period is a stall: a request right after start waits for the period's end.
    let sim = sim_tuned(
        faulty(FaultSpec {
            stall: Some(Stall {
                every: Duration::from_millis(800),
                length: Duration::from_millis(800),
            }),
            ..FaultSpec::default()
        }),
        Tuning::default(),
    )
    .await;
    let c = client();
    let t = Instant::now();
    assert_eq!(
        get(&c, format!("{}/health/alive", sim.urls[Endpoint::KetoRead]))
            .await
            .0,
        200
    );
    assert!(t.elapsed() < Duration::from_millis(300));
    let t = Instant::now();
    assert_eq!(
        get(&c, format!("{}/namespaces", sim.urls[Endpoint::KetoRead]))
            .await
            .0,
        200
    );
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(200) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn bind_failure_names_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let cfg = SimConfig {
        ports: {
            let mut ports = PerEndpoint::<u16>::default();
            ports[Endpoint::HydraAdmin] = port;
            ports
        },
        ..SimConfig::ephemeral()
    };
    let err = match crate::sim::start(cfg).await {
        Ok(_) => panic!("binding a taken port must fail"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.contains("Hydra admin"), "{err}");
}

#[tokio::test]
async fn stores_are_bounded_by_max_entries() {
    let cfg = SimConfig {
        max_entries: 3,
        ..SimConfig::ephemeral()
    };
    let sim = sim_tuned(cfg, Tuning::default()).await;
    let c = client();
    let mut first_token = String::new();
    for i in 0..6 {
        let (status, body) =
            register(&c, &sim.urls, &format!("user{i}@example.com"), PASSWORD).await;
        assert_eq!(status, 200, "{body}");
        if i == 0 {
            first_token = body["session_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
        }
        let t = json!({"namespace": "documents", "object": format!("d{i}"), "relation": "viewer", "subject_id": "u"});
        let r = c
            .put(format!(
                "{}/admin/relation-tuples",
                sim.urls[Endpoint::KetoWrite]
            ))
            .json(&t)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status().as_u16(), 201);
    }
    let stats = sim.stats();
    assert!(stats.identities <= 3, "{stats:?}");
    assert_eq!(stats.tuples, 3);
    // The oldest identity was evicted: its email is free again and its session is gone.
    let (status, _) = get(
        &c,
        format!(
            "{}/admin/identities?credentials_identifier=user0%40example.com",
            sim.urls[Endpoint::KratosAdmin]
        ),
    )
    .await;
    assert_eq!(status, 200);
    let r = c
        .get(format!(
            "{}/sessions/whoami",
            sim.urls[Endpoint::KratosPublic]
        ))
        .header("X-Session-Token", &first_token)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 401);
    sim.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_listening() {
    let sim = sim().await;
    let url = format!("{}/health/alive", sim.urls[Endpoint::KetoRead]);
    let c = client();
    assert_eq!(get(&c, url.clone()).await.0, 200);
    let t = Instant::now();
    sim.shutdown().await;
    assert!(t.elapsed() < Duration::from_secs(6));
    let fresh = client();
    assert!(fresh.get(url).send().await.is_err());
}

#[test]
fn ports_urls_and_exports() {
    let p = PerEndpoint::ory_defaults(100);
    assert_eq!(
        (
            p[Endpoint::KratosPublic],
            p[Endpoint::KratosAdmin],
            p[Endpoint::HydraPublic],
            p[Endpoint::HydraAdmin],
            p[Endpoint::KetoRead],
            p[Endpoint::KetoWrite]
        ),
        (4533, 4534, 4544, 4545, 4566, 4567)
    );
    assert_eq!(PerEndpoint::<u16>::default()[Endpoint::KetoWrite], 0);
    let cfg = SimConfig::ephemeral();
    assert_eq!(cfg.host.to_string(), "127.0.0.1");
    assert_eq!(cfg.keto_namespaces, vec!["documents", "groups", "users"]);
    assert!(cfg.kratos.is_none() && cfg.hydra.is_none() && cfg.keto.is_none());
    let urls = PerEndpoint::ory_defaults(0).map(|_, port| format!("http://127.0.0.1:{port}"));
    let exports = urls.export_lines();
    let lines: Vec<&str> = exports.lines().collect();
    assert_eq!(
        lines,
        vec![
            "export KRATOS_PUBLIC_URL=http://127.0.0.1:4433",
            "export KRATOS_ADMIN_URL=http://127.0.0.1:4434",
            "export HYDRA_PUBLIC_URL=http://127.0.0.1:4444",
            "export HYDRA_ADMIN_URL=http://127.0.0.1:4445",
            "export KETO_READ_REMOTE=http://127.0.0.1:4466",
            "export KETO_WRITE_REMOTE=http://127.0.0.1:4467",
        ]
    );
}

#[tokio::test]
async fn urls_have_no_trailing_slash_and_use_the_bound_ports() {
    let sim = sim().await;
    for base in all_urls(&sim.urls) {
        assert!(
            base.starts_with("http://127.0.0.1:") && !base.ends_with('/'),
            "{base}"
        );
        assert!(!base.ends_with(":0"), "{base}");
    }
    sim.shutdown().await;
}
