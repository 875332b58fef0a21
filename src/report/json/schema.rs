//! The report's types: the schema as written (see `docs/report-schema.md`).

use crate::ground::{Kind, Service};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The schema version this build writes and the newest it can read.
pub const SCHEMA_VERSION: u32 = 1;

/// Value of the `tool` field.
pub const TOOL_NAME: &str = "orysim";

/// A finished run, as written to `report.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Version of this schema; see the module documentation for the rule.
    pub schema_version: u32,
    /// Always `"orysim"`.
    pub tool: String,
    /// Version of orysim that wrote the report.
    pub tool_version: String,
    /// Scenario or scope name, e.g. `all`, `keto`.
    pub scenario: String,
    pub mode: ReportMode,
    /// True when the run was stopped (Ctrl-C) before its planned end.
    pub interrupted: bool,
    /// RFC 3339 UTC with milliseconds, e.g. `2024-05-01T12:00:00.123Z`.
    pub started_at: String,
    pub ended_at: String,
    /// Measured wall-clock time of the load phase, microsecond precision; every rate divides
    /// by it.
    pub elapsed_seconds: f64,
    pub target: Target,
    /// `--label KEY=VALUE`: what the run is (`db=crdb`, `tuning=pool-16`). Added in schema 1
    /// without a version bump (additive; absent when the run had no labels).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The resolved options, secrets already removed upstream.
    pub options: serde_json::Value,
    /// Things the reader must know to trust the numbers.
    pub warnings: Vec<String>,
    pub totals: Totals,
    /// One entry per service, in summary order.
    pub services: Vec<ServiceReport>,
    /// One entry per operation that was called, and one per named scenario step that called it,
    /// ordered by operation (service, then flow order), then step name, the plain entry first.
    pub operations: Vec<OperationReport>,
    /// One entry per scenario flow that ran: how long its iterations took end to end. Added in
    /// schema 1 without a version bump (additive; absent in older reports).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flows: Vec<FlowReport>,
    /// The warm-up period left out of every other figure; absent without `--warmup`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup: Option<WarmupReport>,
    /// What the load generator measured about itself.
    #[serde(default)]
    pub generator: GeneratorReport,
    /// Why the run stopped before its planned end when it was not interrupted (a threshold
    /// marked `!` that could no longer hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted: Option<String>,
    /// The interval series written beside the report, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<SeriesRef>,
    /// The first against the last part of the run, per operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<crate::report::drift::DriftReport>,
    /// Every threshold with its measured value and verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<crate::report::thresholds::ThresholdResult>,
    /// `--db-stats`: what each database did during the run (its own statistics, after minus
    /// before).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub db_stats: Vec<crate::db::DbStats>,
    /// `--run-id`: the id every segment of a split run shares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// `--segment`: the share of the run's load this report covers, `I/N`; absent for a whole
    /// run and for a merged report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<crate::segment::Segment>,
    /// `--start-at`: the common start time asked for, RFC 3339 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<String>,
    /// When the measured run started (after setup, the wait for `--start-at` and the
    /// warm-up), RFC 3339 UTC with microseconds. A merged report's rates divide by the
    /// wall-clock window from its segments' earliest `measured_from` to their latest end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_from: Option<String>,
    /// A merged report (`orysim merge`): the segments it was made of, in segment order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<SegmentReport>,
}

/// One segment of a merged report, as its own report said.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentReport {
    pub segment: crate::segment::Segment,
    /// The file it was read from, as given to `orysim merge`.
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_from: Option<String>,
    pub elapsed_seconds: f64,
    pub requests: u64,
    pub errors: u64,
    pub interrupted: bool,
    /// The segment's generator CPU time, to see which one was busiest.
    pub cpu_seconds: f64,
}

/// Where a report's interval series is, and its shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesRef {
    /// File name of the series, relative to the report's directory.
    pub file: String,
    pub interval_seconds: f64,
    /// Interval records written.
    pub intervals: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WarmupReport {
    pub seconds: f64,
    pub requests: u64,
    pub errors: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GeneratorReport {
    /// `closed` (virtual users) or `open` (arrival rate).
    pub model: String,
    /// CPU time (user + system) of the orysim process during the measured run.
    pub cpu_seconds: f64,
    /// `cpu_seconds` as a share of all cores over the elapsed time, in percent.
    pub cpu_percent_of_all_cores: f64,
    pub cores: u64,
    pub peak_memory_bytes: Option<u64>,
    /// The built-in simulator ran inside the orysim process (its CPU is in the figures).
    pub in_process_simulator: bool,
    /// Open model: arrivals handed to virtual users, those of them that waited for a free
    /// virtual user, and arrivals dropped because the backlog was full.
    pub arrivals: u64,
    #[serde(default)]
    pub delayed: u64,
    pub dropped: u64,
    /// Open model: how late the scheduler emitted arrivals (generator overload only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatch_lag_us: Option<LatencySummary>,
    /// Open model: how late iterations started (includes waiting for a free virtual user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_lag_us: Option<LatencySummary>,
}

/// Whether requests were really sent. orysim writes `live` (a dry run writes no report);
/// `dry_run` stays readable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportMode {
    Live,
    DryRun,
}

/// What the run was pointed at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportTargetKind {
    BuiltinSimulator,
    Remote,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub kind: ReportTargetKind,
    /// Endpoint name (`kratos_public`, `keto_read`, ...) to URL, userinfo removed.
    pub urls: BTreeMap<String, String>,
    /// Per endpoint: HTTP version, negotiated protocol, connections and TLS handshakes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transport: Vec<crate::ory::transport::EndpointUsage>,
    /// Trust and verification, when an endpoint used TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<crate::ory::transport::TlsUsage>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub requests: u64,
    pub errors: u64,
    /// `errors / requests`, a fraction between 0 and 1 (0 when there were no requests).
    pub error_rate: f64,
    /// `requests / elapsed_seconds`; null when `elapsed_seconds` is 0.
    pub requests_per_second: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceReport {
    pub name: Service,
    /// Virtual users given to this service; null when unknown.
    pub concurrency: Option<u64>,
    pub reads: u64,
    pub writes: u64,
    pub failed_reads: u64,
    pub failed_writes: u64,
    /// Reads per write; null when nothing was written.
    pub read_write_ratio: Option<f64>,
    /// `reads / elapsed_seconds` ("Checks/sec" in the summary); null when elapsed is 0.
    pub reads_per_second: Option<f64>,
    /// Verdict name to count. The service's headline verdicts are always present (Kratos and
    /// Hydra: `active`, `inactive`; Keto: `allowed`, `denied`); others only when nonzero.
    /// The tuples of batch checks count here one by one (their calls' own `ok` does not).
    pub outcomes: BTreeMap<String, u64>,
    /// With batch checks only: reads counted as the checks they made (a batch call as its
    /// tuples), and their rate, the summary's "Checks/sec". Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks_per_second: Option<f64>,
}

/// What the tuples of an operation's batch calls answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchChecksReport {
    /// Tuples checked (`allowed + denied + failed`).
    pub count: u64,
    pub allowed: u64,
    pub denied: u64,
    /// Tuples the server answered with an error.
    pub failed: u64,
    /// `count / elapsed_seconds`; null when elapsed is 0.
    pub per_second: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperationReport {
    /// Dotted operation name, e.g. `kratos.login`.
    pub name: String,
    /// The scenario step's name when these calls were made by a named step; absent for the
    /// operation's other calls. Added in schema 1 without a version bump (additive, optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    pub service: Service,
    pub kind: Kind,
    /// Calls made (`ok + errors`).
    pub count: u64,
    pub ok: u64,
    pub errors: u64,
    /// `count / elapsed_seconds`; null when elapsed is 0.
    pub requests_per_second: Option<f64>,
    /// Verdict name to count, nonzero entries only; their sum is `ok`.
    pub outcomes: BTreeMap<String, u64>,
    /// Error class key (`http_500`, `timeout`, ...) to count; their sum is `errors`.
    pub error_classes: BTreeMap<String, u64>,
    /// Latency summary in microseconds. In the open model this counts from the intended start
    /// (coordinated-omission corrected).
    pub latency_us: LatencySummary,
    /// Open model only: latency from the actual send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_uncorrected_us: Option<LatencySummary>,
    /// Base64 of the HdrHistogram V2 + deflate encoding of the latency histogram (µs).
    pub histogram: String,
    /// Same encoding for the uncorrected histogram; open model only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram_uncorrected: Option<String>,
    /// Batch operations (`keto.batch_check`) only: what their tuples answered. `count` and
    /// `outcomes` above count the calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<BatchChecksReport>,
}

/// The iterations of one scenario flow. A flow is not a request: its figures are not part of
/// any request total, rate or error rate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowReport {
    /// The scenario (group) the flow belongs to, e.g. `keto` in the `all` scenario.
    pub scenario: String,
    /// The flow's name in its scenario file.
    pub name: String,
    /// The service every step calls; null when the flow spans several.
    pub service: Option<Service>,
    /// Steps in the flow.
    pub steps: u64,
    /// Iterations that issued their first call (`ok + errors`).
    pub count: u64,
    /// Iterations whose every step worked as expected.
    pub ok: u64,
    /// Iterations that ended at a failed step.
    pub errors: u64,
    /// `count / elapsed_seconds`; null when elapsed is 0.
    pub iterations_per_second: Option<f64>,
    /// Error class of the failed step to count; their sum is `errors`.
    pub error_classes: BTreeMap<String, u64>,
    /// Iteration duration in microseconds, from its start to its last step's end (the failed
    /// step's, for a failed iteration), think time between steps included. In the open model it
    /// counts from the iteration's scheduled start (coordinated-omission corrected).
    pub duration_us: LatencySummary,
    /// Open model only: from the iteration's actual start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_uncorrected_us: Option<LatencySummary>,
    /// Histogram of `duration_us`, encoded like an operation's `histogram`.
    pub histogram: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram_uncorrected: Option<String>,
}

/// Latency figures in microseconds. Percentiles are HDR values (3 significant digits).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p75: u64,
    pub p90: u64,
    pub p95: u64,
    pub p99: u64,
    pub p99_9: u64,
    pub max: u64,
    pub stdev: f64,
}
