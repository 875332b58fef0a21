//! Live metrics in the Prometheus text exposition format (version 0.0.4), served during a run
//! with `--metrics-listen`. Everything is rendered from the sampler's cumulative view, refreshed
//! every second, so a scrape never touches the recorder the virtual users write to.

use crate::engine::sampler::{LiveState, LiveView};
use crate::metrics::LatencyHistogram;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

/// Upper bounds of the latency buckets, in seconds: from a sub-millisecond Keto check to a
/// multi-second bcrypt login under load.
const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Labels every series carries.
#[derive(Clone, Debug, Default)]
pub struct RunLabels {
    pub scenario: String,
    pub run_tag: String,
}

/// Escapes a label value as the exposition format requires.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('"', "\\\"")
}

fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// The labels that name an operation's (or named step's) series.
fn op_labels<'a>(scenario: &'a str, s: &'a crate::metrics::OpStats) -> [(&'a str, &'a str); 4] {
    [
        ("scenario", scenario),
        ("service", s.op.service().name()),
        ("operation", s.op.name()),
        ("step", s.step.as_deref().unwrap_or("")),
    ]
}

fn histogram(out: &mut String, name: &str, base: &[(&str, &str)], h: &LatencyHistogram) {
    for le in BUCKETS {
        let le_us = (le * 1e6) as u64;
        let count = if h.is_empty() {
            0
        } else {
            h.count_between(0, le_us)
        };
        let le_text = format!("{le}");
        let mut pairs = base.to_vec();
        pairs.push(("le", &le_text));
        let _ = writeln!(out, "{name}_bucket{} {count}", labels(&pairs));
    }
    let mut pairs = base.to_vec();
    pairs.push(("le", "+Inf"));
    let _ = writeln!(out, "{name}_bucket{} {}", labels(&pairs), h.len());
    let sum = if h.is_empty() {
        0.0
    } else {
        h.mean() * h.len() as f64 / 1e6
    };
    let _ = writeln!(out, "{name}_sum{} {sum}", labels(base));
    let _ = writeln!(out, "{name}_count{} {}", labels(base), h.len());
}

/// The whole exposition for one scrape.
pub fn render(state: &LiveState, run: &RunLabels) -> String {
    let mut out = String::new();
    let scenario = run.scenario.as_str();
    let _ = writeln!(out, "# HELP orysim_run_info The run being measured.");
    let _ = writeln!(out, "# TYPE orysim_run_info gauge");
    let _ = writeln!(
        out,
        "orysim_run_info{} 1",
        labels(&[
            ("scenario", scenario),
            ("run_tag", &run.run_tag),
            ("version", env!("CARGO_PKG_VERSION")),
        ])
    );

    let _ = writeln!(out, "# HELP orysim_requests_total Calls made, by operation and outcome (a verdict, or an error class).");
    let _ = writeln!(out, "# TYPE orysim_requests_total counter");
    for s in state.snapshot.ops() {
        let [scenario_label, service, operation, step] = op_labels(scenario, s);
        let base = [
            scenario_label,
            service,
            operation,
            step,
            (
                "kind",
                match s.op.kind() {
                    crate::ground::Kind::Read => "read",
                    crate::ground::Kind::Write => "write",
                },
            ),
        ];
        for v in crate::ground::Verdict::ALL {
            let n = s.verdict(v);
            if n > 0 {
                let mut pairs = base.to_vec();
                pairs.extend([("outcome", v.name()), ("status", "ok")]);
                let _ = writeln!(out, "orysim_requests_total{} {n}", labels(&pairs));
            }
        }
        for (class, n) in &s.errors {
            let key = class.key();
            let mut pairs = base.to_vec();
            pairs.extend([("outcome", key.as_str()), ("status", "error")]);
            let _ = writeln!(out, "orysim_requests_total{} {n}", labels(&pairs));
        }
    }

    let _ = writeln!(out, "# HELP orysim_request_duration_seconds Call latency; in the open model from when the call was due (coordinated-omission corrected).");
    let _ = writeln!(out, "# TYPE orysim_request_duration_seconds histogram");
    for s in state.snapshot.ops() {
        let base = op_labels(scenario, s);
        histogram(
            &mut out,
            "orysim_request_duration_seconds",
            &base,
            &s.latency,
        );
    }
    if state.snapshot.ops().any(|s| s.uncorrected.is_some()) {
        let _ = writeln!(out, "# HELP orysim_request_duration_uncorrected_seconds Open model: call latency from the actual send.");
        let _ = writeln!(
            out,
            "# TYPE orysim_request_duration_uncorrected_seconds histogram"
        );
        for s in state.snapshot.ops() {
            if let Some(h) = &s.uncorrected {
                let base = op_labels(scenario, s);
                histogram(
                    &mut out,
                    "orysim_request_duration_uncorrected_seconds",
                    &base,
                    h,
                );
            }
        }
    }
    if state.snapshot.flows().next().is_some() {
        let _ = writeln!(out, "# HELP orysim_flow_duration_seconds Scenario flow iterations, start to last step's end.");
        let _ = writeln!(out, "# TYPE orysim_flow_duration_seconds histogram");
        for f in state.snapshot.flows() {
            let base = [
                ("scenario", scenario),
                ("group", &*f.key().scenario),
                ("flow", &*f.key().flow),
            ];
            histogram(&mut out, "orysim_flow_duration_seconds", &base, &f.duration);
        }
    }

    let g = &state.generator;
    let gauge = |out: &mut String, name: &str, kind: &str, help: &str, value: String| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let _ = writeln!(out, "{name}{} {value}", labels(&[("scenario", scenario)]));
    };
    gauge(
        &mut out,
        "orysim_active_vus",
        "gauge",
        "Virtual users holding an iteration (iterations in flight).",
        g.active_vus.to_string(),
    );
    gauge(
        &mut out,
        "orysim_arrivals_total",
        "counter",
        "Open model: arrivals handed to virtual users.",
        g.arrivals.to_string(),
    );
    gauge(
        &mut out,
        "orysim_delayed_arrivals_total",
        "counter",
        "Open model: arrivals that waited for a free virtual user.",
        g.delayed.to_string(),
    );
    gauge(
        &mut out,
        "orysim_dropped_arrivals_total",
        "counter",
        "Open model: arrivals dropped because every virtual user was busy.",
        g.dropped.to_string(),
    );
    gauge(
        &mut out,
        "orysim_generator_cpu_seconds_total",
        "counter",
        "CPU time used by the orysim process during the measured run.",
        format!("{}", g.cpu_time.as_secs_f64()),
    );
    if let Some(rss) = g.rss_bytes {
        gauge(
            &mut out,
            "orysim_generator_resident_memory_bytes",
            "gauge",
            "Resident memory of the orysim process.",
            rss.to_string(),
        );
    }
    gauge(
        &mut out,
        "orysim_elapsed_seconds",
        "gauge",
        "Time since the measured run started.",
        format!("{}", state.elapsed.as_secs_f64()),
    );
    out
}

/// A bound listener for the metrics endpoint: binding happens before the load so that a busy
/// port is a usage error, not a run without metrics.
pub struct MetricsServer {
    listener: tokio::net::TcpListener,
}

impl MetricsServer {
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        Ok(MetricsServer {
            listener: tokio::net::TcpListener::bind(addr).await?,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves `GET /metrics` (and `/`) until the returned task is aborted.
    pub fn serve(self, live: Arc<LiveView>, run: RunLabels) -> tokio::task::JoinHandle<()> {
        use axum::{http::header, routing::get, Router};
        let handler = move || {
            let live = Arc::clone(&live);
            let run = run.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    render(&live.get(), &run),
                )
            }
        };
        let app = Router::new()
            .route("/metrics", get(handler.clone()))
            .route("/", get(handler));
        tokio::spawn(async move {
            let _ = axum::serve(self.listener, app).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_end_at_the_count() {
        let state = LiveState {
            snapshot: crate::report::json::tests::open_model_snapshot(),
            ..LiveState::default()
        };
        let text = render(
            &state,
            &RunLabels {
                scenario: "keto".into(),
                run_tag: "t\"1".into(),
            },
        );
        assert!(text.contains("run_tag=\"t\\\"1\""), "{text}");
        let buckets: Vec<u64> = text
            .lines()
            .filter(|l| {
                l.starts_with("orysim_request_duration_seconds_bucket")
                    && l.contains("operation=\"keto.check\"")
            })
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(buckets.len(), BUCKETS.len() + 1);
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
        let count_line = text
            .lines()
            .find(|l| {
                l.starts_with("orysim_request_duration_seconds_count") && l.contains("keto.check")
            })
            .unwrap();
        assert!(count_line.ends_with(&format!(" {}", buckets.last().unwrap())));
        assert!(text.contains("# TYPE orysim_requests_total counter"));
        assert!(text.contains("orysim_request_duration_uncorrected_seconds_bucket"));
    }
}
