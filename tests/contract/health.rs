//! Health: every one of the six base URLs passes orysim's preflight (`probe_ready`). Kratos's
//! admin port answers `/health/*` with a redirect to `/admin/health/*`, which the probe follows
//! once (same origin).

use crate::{client, send, url, Targets};
use orysim::ground::Endpoint;
use orysim::ory::probe_ready;

pub async fn probe_ready_on_all_six(t: Targets) {
    let http = client();
    for (name, base) in t.all() {
        if let Err(e) = probe_ready(&http, &url(base)).await {
            panic!("{name} ({base}) on the {}: {e}", t.kind);
        }
    }
    // The redirect the probe follows.
    let a = send(
        "GET kratos admin /health/ready",
        http.get(format!("{}/health/ready", t[Endpoint::KratosAdmin])),
    )
    .await;
    match a.status {
        200 => {}
        301 | 302 | 303 | 307 | 308 => {
            let location = a
                .headers
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            assert_eq!(location, "/admin/health/ready", "{}", a.text);
        }
        other => panic!("kratos admin /health/ready answered {other}: {}", a.text),
    }
    let a = send(
        "GET kratos admin /admin/health/ready",
        http.get(format!("{}/admin/health/ready", t[Endpoint::KratosAdmin])),
    )
    .await
    .expect(200);
    assert_eq!(a.json["status"], "ok", "{}", a.text);
}

contracts! {
    probe_ready_on_all_six => contract_simulator_health_probe_ready, contract_real_ory_health_probe_ready;
}
