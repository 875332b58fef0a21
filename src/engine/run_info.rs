//! The run's description, as the engine hands it to the exporters beside the snapshot.

use crate::config::split::Split;
use crate::ground::Service;
use crate::metrics::{GeneratorStats, WarmupTotals};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// What the run was pointed at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// The in-process built-in simulator, started because no endpoint was configured.
    BuiltinSimulator,
    /// Endpoints given by flags, environment or config file.
    Remote,
}

/// Everything about a run except the measurements. Holds no secret: `options` is already
/// redacted and URLs have had any userinfo stripped.
#[derive(Clone, Debug)]
pub struct RunInfo {
    pub tool_version: &'static str,
    pub started_at: SystemTime,
    pub ended_at: SystemTime,
    /// Measured wall-clock time of the load phase (monotonic clock). Rates divide by this.
    pub elapsed: Duration,
    /// True when the run was stopped by Ctrl-C before its planned end.
    pub interrupted: bool,
    /// Why the run stopped early when it was not interrupted (a threshold marked `!` that
    /// could no longer hold).
    pub aborted: Option<String>,
    /// Scenario or scope name, e.g. `all`, `keto`.
    pub scenario: String,
    /// Services the run exercised, in summary order.
    pub services: Vec<Service>,
    /// Virtual users per service (the closed model splits `--concurrency` between services).
    pub concurrency: BTreeMap<Service, usize>,
    pub target_kind: TargetKind,
    /// Endpoint name (`kratos_public`, ...) to URL, userinfo removed.
    pub target_urls: BTreeMap<String, String>,
    /// Per endpoint: HTTP version, negotiated protocol, connections and TLS handshakes.
    pub transport: Vec<crate::ory::transport::EndpointUsage>,
    /// Trust and verification when an endpoint used TLS.
    pub tls: Option<crate::ory::transport::TlsUsage>,
    /// `--label KEY=VALUE`: what the run is.
    pub labels: BTreeMap<String, String>,
    /// The resolved options, secrets removed, as they should appear in the report.
    pub options: serde_json::Value,
    /// Things the reader must know to trust the numbers (e.g. the generator was the
    /// bottleneck, or the run was interrupted). Shown with ⚠️ in the summary.
    pub warnings: Vec<String>,
    /// The warm-up period, when there was one (its calls are not in the snapshot).
    pub warmup: Option<WarmupTotals>,
    /// What the generator measured about itself.
    pub generator: GeneratorStats,
    /// The run this process's load belongs to and its share of it (`--run-id`, `--segment`,
    /// `--start-at`); the default for a whole run.
    pub split: Split,
    /// Wall-clock time at which the measured run started (after setup, the wait for
    /// `--start-at` and the warm-up); `None` when unknown (rebuilt from an old series).
    pub measured_from: Option<SystemTime>,
}
