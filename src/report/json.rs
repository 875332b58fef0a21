//! The versioned JSON report: a typed, documented schema (see `docs/report-schema.md`) that later
//! tools (compare, merge, thresholds) load back with [`load`] and turn into a mergeable
//! [`Snapshot`] with [`Report::snapshot`].
//!
//! The report types are deliberately separate from the engine's internal types: they are a
//! contract with readers of old and new files. Versioning rule: additive changes (a new field, a
//! new key in a map) keep `schema_version`; renaming or removing a field, or changing its type or
//! meaning, bumps it. Readers therefore ignore unknown fields.

use super::{Mode, RunInfo, TargetKind};
use crate::metrics::{
    new_latency_histogram, FlowInfo, FlowKey, FlowStats, LatencyHistogram, OpStats, Snapshot,
};
use crate::model::{ErrorClass, Kind, MetricKey, Op, Service, Verdict};
use anyhow::{anyhow, bail, Context};
use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
    pub drift: Option<super::drift::DriftReport>,
    /// Every threshold with its measured value and verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<super::thresholds::ThresholdResult>,
    /// `--db-stats`: what each database did during the run (its own statistics, after minus
    /// before).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub db_stats: Vec<crate::db::DbStats>,
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

fn generator_report(g: &crate::metrics::GeneratorStats, elapsed: Duration) -> GeneratorReport {
    GeneratorReport {
        model: if g.open_model { "open" } else { "closed" }.to_string(),
        cpu_seconds: finite(g.cpu_time.as_secs_f64()),
        cpu_percent_of_all_cores: finite(g.cpu_share(elapsed) * 100.0),
        cores: g.cores as u64,
        peak_memory_bytes: g.peak_memory_bytes,
        in_process_simulator: g.in_process_simulator,
        arrivals: g.arrivals,
        delayed: g.delayed,
        dropped: g.dropped,
        dispatch_lag_us: g.dispatch_lag.as_ref().map(LatencySummary::of),
        start_lag_us: g.start_lag.as_ref().map(LatencySummary::of),
    }
}

/// Whether requests were really sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportMode {
    Live,
    DryRun,
}

impl From<Mode> for ReportMode {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Live => ReportMode::Live,
            Mode::DryRun => ReportMode::DryRun,
        }
    }
}

/// What the run was pointed at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportTargetKind {
    BuiltinSimulator,
    Remote,
}

impl From<TargetKind> for ReportTargetKind {
    fn from(kind: TargetKind) -> Self {
        match kind {
            TargetKind::BuiltinSimulator => ReportTargetKind::BuiltinSimulator,
            TargetKind::Remote => ReportTargetKind::Remote,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub kind: ReportTargetKind,
    /// Endpoint name (`kratos_public`, `keto_read`, ...) to URL, userinfo removed.
    pub urls: BTreeMap<String, String>,
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
    pub outcomes: BTreeMap<String, u64>,
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

impl LatencySummary {
    pub fn of(h: &LatencyHistogram) -> Self {
        if h.is_empty() {
            return LatencySummary {
                min: 0,
                mean: 0.0,
                p50: 0,
                p75: 0,
                p90: 0,
                p95: 0,
                p99: 0,
                p99_9: 0,
                max: 0,
                stdev: 0.0,
            };
        }
        LatencySummary {
            min: h.min(),
            mean: finite(h.mean()),
            p50: h.value_at_quantile(0.50),
            p75: h.value_at_quantile(0.75),
            p90: h.value_at_quantile(0.90),
            p95: h.value_at_quantile(0.95),
            p99: h.value_at_quantile(0.99),
            p99_9: h.value_at_quantile(0.999),
            max: h.max(),
            stdev: finite(h.stdev()),
        }
    }
}

/// `count` per second of measured time; `None` when nothing was measured (elapsed 0), so no
/// report ever holds NaN or infinity.
pub fn per_second(count: u64, elapsed: Duration) -> Option<f64> {
    let secs = elapsed.as_secs_f64();
    (secs > 0.0).then(|| finite(count as f64 / secs))
}

/// Derived figures (rates, ratios, means) are finite and rounded to 6 significant digits: more
/// than any measurement here supports, short in the file, and parsed back to the same `f64`.
fn finite(x: f64) -> f64 {
    if !x.is_finite() {
        return 0.0;
    }
    format!("{x:.5e}").parse().unwrap_or(0.0)
}

/// RFC 3339 UTC with milliseconds. Times outside 1970..9999 (a broken clock) are clamped
/// rather than allowed to panic the formatter.
pub fn rfc3339(t: SystemTime) -> String {
    const YEAR_9999_END: u64 = 253_402_300_799;
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = secs.min(Duration::from_secs(YEAR_9999_END));
    humantime::format_rfc3339_millis(UNIX_EPOCH + secs).to_string()
}

/// Services to report: the run's own list first (summary order), then any other service that
/// appears in the snapshot, so nothing measured is dropped.
pub(crate) fn services_in_order(info: &RunInfo, snap: &Snapshot) -> Vec<Service> {
    let mut out = info.services.clone();
    for s in snap.services() {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// The verdicts a service's summary block always shows.
pub(crate) fn headline_verdicts(service: Service) -> [Verdict; 2] {
    match service {
        Service::Kratos | Service::Hydra => [Verdict::Active, Verdict::Inactive],
        Service::Keto => [Verdict::Allowed, Verdict::Denied],
    }
}

/// The measured part of a report or of one interval: totals, services, operations, flows.
pub(crate) struct Figures {
    pub totals: Totals,
    pub services: Vec<ServiceReport>,
    pub operations: Vec<OperationReport>,
    pub flows: Vec<FlowReport>,
}

/// The figures of `snap` over `elapsed`; services in the given order first.
pub(crate) fn figures(
    services: &[Service],
    concurrency: &BTreeMap<Service, usize>,
    snap: &Snapshot,
    elapsed: Duration,
) -> Figures {
    let requests = snap.total_requests();
    let errors = snap.total_errors();
    let mut order = services.to_vec();
    for s in snap.services() {
        if !order.contains(&s) {
            order.push(s);
        }
    }
    let services = order
        .into_iter()
        .map(|service| {
            let t = snap.service_totals(service);
            let headline = headline_verdicts(service);
            let outcomes = Verdict::ALL
                .into_iter()
                .filter(|v| headline.contains(v) || t.verdict(*v) > 0)
                .map(|v| (v.name().to_string(), t.verdict(v)))
                .collect();
            ServiceReport {
                name: service,
                concurrency: concurrency.get(&service).map(|&n| n as u64),
                reads: t.reads,
                writes: t.writes,
                failed_reads: t.failed_reads,
                failed_writes: t.failed_writes,
                read_write_ratio: t.read_write_ratio().map(finite),
                reads_per_second: per_second(t.reads, elapsed),
                outcomes,
            }
        })
        .collect();
    Figures {
        totals: Totals {
            requests,
            errors,
            error_rate: if requests == 0 {
                0.0
            } else {
                finite(errors as f64 / requests as f64)
            },
            requests_per_second: per_second(requests, elapsed),
        },
        services,
        operations: snap.ops().map(|s| operation(s, elapsed)).collect(),
        flows: snap.flows().map(|f| flow(f, elapsed)).collect(),
    }
}

/// Builds the report of a finished run.
pub fn build(info: &RunInfo, snap: &Snapshot) -> Report {
    let elapsed = info.elapsed;
    let Figures {
        totals,
        services,
        operations,
        flows,
    } = figures(&info.services, &info.concurrency, snap, elapsed);

    Report {
        schema_version: SCHEMA_VERSION,
        tool: TOOL_NAME.to_string(),
        tool_version: info.tool_version.to_string(),
        scenario: info.scenario.clone(),
        mode: info.mode.into(),
        interrupted: info.interrupted,
        started_at: rfc3339(info.started_at),
        ended_at: rfc3339(info.ended_at),
        elapsed_seconds: elapsed.as_micros() as f64 / 1e6,
        target: Target {
            kind: info.target_kind.into(),
            urls: info.target_urls.clone(),
        },
        options: info.options.clone(),
        warnings: info.warnings.clone(),
        totals,
        services,
        operations,
        flows,
        warmup: info.warmup.as_ref().map(|w| WarmupReport {
            seconds: w.duration.as_micros() as f64 / 1e6,
            requests: w.requests,
            errors: w.errors,
        }),
        generator: generator_report(&info.generator, elapsed),
        aborted: info.aborted.clone(),
        series: None,
        drift: None,
        thresholds: Vec::new(),
        db_stats: Vec::new(),
    }
}

fn operation(s: &OpStats, elapsed: Duration) -> OperationReport {
    OperationReport {
        name: s.op.name().to_string(),
        step: s.step.as_deref().map(str::to_string),
        service: s.op.service(),
        kind: s.op.kind(),
        count: s.count(),
        ok: s.ok_count(),
        errors: s.error_count(),
        requests_per_second: per_second(s.count(), elapsed),
        outcomes: Verdict::ALL
            .into_iter()
            .filter(|v| s.verdict(*v) > 0)
            .map(|v| (v.name().to_string(), s.verdict(v)))
            .collect(),
        error_classes: s.errors.iter().map(|(c, n)| (c.key(), *n)).collect(),
        latency_us: LatencySummary::of(&s.latency),
        latency_uncorrected_us: s.uncorrected.as_ref().map(LatencySummary::of),
        histogram: encode_histogram(&s.latency),
        histogram_uncorrected: s.uncorrected.as_ref().map(encode_histogram),
    }
}

fn flow(f: &FlowStats, elapsed: Duration) -> FlowReport {
    FlowReport {
        scenario: f.info.key.scenario.to_string(),
        name: f.info.key.flow.to_string(),
        service: f.info.service,
        steps: f.info.steps as u64,
        count: f.count(),
        ok: f.ok,
        errors: f.error_count(),
        iterations_per_second: per_second(f.count(), elapsed),
        error_classes: f.errors.iter().map(|(c, n)| (c.key(), *n)).collect(),
        duration_us: LatencySummary::of(&f.duration),
        duration_uncorrected_us: f.uncorrected.as_ref().map(LatencySummary::of),
        histogram: encode_histogram(&f.duration),
        histogram_uncorrected: f.uncorrected.as_ref().map(encode_histogram),
    }
}

/// Base64 (standard alphabet, padded) of the HdrHistogram V2 + deflate encoding: the format
/// HdrHistogram's Java, Python, Go and JS ports decode as a "compressed histogram".
pub fn encode_histogram(h: &LatencyHistogram) -> String {
    let mut bytes = Vec::new();
    // Serialising into a Vec cannot fail for an in-range u64 histogram; an empty string would
    // make `snapshot()` fail loudly rather than silently lose data.
    if V2DeflateSerializer::new().serialize(h, &mut bytes).is_err() {
        return String::new();
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes [`encode_histogram`]'s output into the crate's one histogram shape.
pub fn decode_histogram(encoded: &str) -> anyhow::Result<LatencyHistogram> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .context("histogram is not valid base64")?;
    let decoded: LatencyHistogram = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| anyhow!("histogram is not a valid HdrHistogram V2 encoding: {e}"))?;
    let mut h = new_latency_histogram();
    h.add(&decoded)
        .map_err(|e| anyhow!("histogram does not fit orysim's latency range: {e:?}"))?;
    Ok(h)
}

impl Report {
    /// Rebuilds the mergeable snapshot the report was built from (counts, verdicts, error
    /// classes and both histograms, without loss).
    pub fn snapshot(&self) -> anyhow::Result<Snapshot> {
        let mut snap = Snapshot::default();
        for o in &self.operations {
            let stats = o.to_stats().with_context(|| match &o.step {
                None => format!("operation `{}` in the report", o.name),
                Some(step) => format!("operation `{}` of step `{step}` in the report", o.name),
            })?;
            snap.insert(stats);
        }
        for f in &self.flows {
            let stats = f
                .to_stats()
                .with_context(|| format!("flow `{}/{}` in the report", f.scenario, f.name))?;
            snap.insert_flow(stats);
        }
        Ok(snap)
    }
}

impl FlowReport {
    fn to_stats(&self) -> anyhow::Result<FlowStats> {
        let mut stats = FlowStats::new(FlowInfo {
            key: FlowKey::new(&self.scenario, &self.name),
            service: self.service,
            steps: usize::try_from(self.steps).context("field `steps`")?,
        });
        stats.ok = self.ok;
        for (key, &n) in &self.error_classes {
            let class =
                ErrorClass::from_key(key).ok_or_else(|| anyhow!("unknown error class `{key}`"))?;
            *stats.errors.entry(class).or_insert(0) += n;
        }
        stats.duration = decode_histogram(&self.histogram).context("field `histogram`")?;
        stats.uncorrected = match &self.histogram_uncorrected {
            Some(enc) => Some(decode_histogram(enc).context("field `histogram_uncorrected`")?),
            None => None,
        };
        if stats.count() != self.count || stats.duration.len() != self.count {
            bail!(
                "ok and error classes add up to {} and the histogram holds {}, but count is {}",
                stats.count(),
                stats.duration.len(),
                self.count
            );
        }
        Ok(stats)
    }
}

impl OperationReport {
    fn to_stats(&self) -> anyhow::Result<OpStats> {
        let op = Op::from_name(&self.name).ok_or_else(|| anyhow!("unknown operation"))?;
        let key = match &self.step {
            None => MetricKey::op(op),
            Some(step) => MetricKey::step(op, step),
        };
        let mut stats = OpStats::for_key(&key);
        for (name, &n) in &self.outcomes {
            let v = Verdict::from_name(name).ok_or_else(|| anyhow!("unknown outcome `{name}`"))?;
            stats.verdicts[v.index()] += n;
        }
        for (key, &n) in &self.error_classes {
            let class =
                ErrorClass::from_key(key).ok_or_else(|| anyhow!("unknown error class `{key}`"))?;
            *stats.errors.entry(class).or_insert(0) += n;
        }
        stats.latency = decode_histogram(&self.histogram).context("field `histogram`")?;
        stats.uncorrected = match &self.histogram_uncorrected {
            Some(enc) => Some(decode_histogram(enc).context("field `histogram_uncorrected`")?),
            None => None,
        };
        if stats.count() != self.count {
            bail!(
                "outcomes and error classes add up to {} but count is {}",
                stats.count(),
                self.count
            );
        }
        if stats.latency.len() != self.count {
            bail!(
                "histogram holds {} values but count is {}",
                stats.latency.len(),
                self.count
            );
        }
        Ok(stats)
    }
}

/// Writes the report as pretty JSON, atomically: parent directories are created, the JSON goes
/// to a temporary file in the same directory, which is flushed to disk and then renamed over
/// `path`. A reader never sees a half-written report, and an interrupted write leaves the
/// previous report intact.
pub fn write_atomic(path: &Path, report: &Report) -> std::io::Result<()> {
    let mut json = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
    json.push(b'\n');

    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let file_name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("report path {} has no file name", path.display()),
        )
    })?;

    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{}.{}.{}.tmp",
        file_name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));

    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(&json)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    // Make the rename itself durable where the platform allows it; failing here loses nothing.
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Loads a report written by any orysim whose schema this build understands.
pub fn load(path: &Path) -> anyhow::Result<Report> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read report {}", path.display()))?;

    #[derive(Deserialize)]
    struct Version {
        schema_version: Option<u32>,
    }
    let version: Version = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a JSON report", path.display()))?;
    match version.schema_version {
        None => bail!(
            "{} has no schema_version: it is not an orysim report",
            path.display()
        ),
        Some(v) if v > SCHEMA_VERSION => bail!(
            "{} uses report schema {v}, newer than this orysim understands ({SCHEMA_VERSION}); \
             upgrade orysim",
            path.display()
        ),
        Some(_) => {}
    }
    serde_json::from_slice(&bytes).with_context(|| format!("invalid report {}", path.display()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{ErrorClass, Outcome};

    /// A three-service run used by the JSON and summary tests.
    pub(crate) fn sample_info() -> RunInfo {
        let start = UNIX_EPOCH + Duration::from_secs(1_714_564_800);
        RunInfo {
            tool_version: "0.1.0",
            started_at: start,
            ended_at: start + Duration::from_millis(10_020),
            elapsed: Duration::from_millis(10_020),
            mode: Mode::Live,
            interrupted: false,
            aborted: None,
            scenario: "all".into(),
            services: vec![Service::Kratos, Service::Hydra, Service::Keto],
            concurrency: [
                (Service::Kratos, 34),
                (Service::Hydra, 33),
                (Service::Keto, 33),
            ]
            .into_iter()
            .collect(),
            target_kind: TargetKind::BuiltinSimulator,
            target_urls: BTreeMap::new(),
            options: serde_json::json!({"concurrency": 100, "duration": "10s", "seed": 42}),
            warnings: vec![],
            warmup: None,
            generator: Default::default(),
        }
    }

    fn record(snap: &mut Snapshot, op: Op, n: u64, base_us: u64, outcome: Outcome) {
        let mut s = OpStats::new(op);
        for i in 0..n {
            s.record(base_us + (i * 37) % (base_us + 1), None, outcome);
        }
        snap.insert(s);
    }

    pub(crate) fn sample_snapshot() -> Snapshot {
        use crate::model::ErrorClass::*;
        let mut snap = Snapshot::default();
        record(
            &mut snap,
            Op::KratosRegister,
            117,
            9_000,
            Outcome::Ok(Verdict::Ok),
        );
        record(
            &mut snap,
            Op::KratosRegister,
            3,
            2_000,
            Outcome::Err(Status(400)),
        );
        record(
            &mut snap,
            Op::KratosLogin,
            1190,
            4_000,
            Outcome::Ok(Verdict::Valid),
        );
        record(
            &mut snap,
            Op::KratosLogin,
            10,
            4_000,
            Outcome::Ok(Verdict::Invalid),
        );
        record(
            &mut snap,
            Op::KratosWhoami,
            1200,
            800,
            Outcome::Ok(Verdict::Active),
        );
        record(
            &mut snap,
            Op::KratosWhoami,
            15,
            700,
            Outcome::Ok(Verdict::Inactive),
        );
        record(
            &mut snap,
            Op::KratosWhoami,
            1,
            1_500_000,
            Outcome::Err(Timeout),
        );
        record(
            &mut snap,
            Op::HydraToken,
            400,
            3_000,
            Outcome::Ok(Verdict::Ok),
        );
        record(
            &mut snap,
            Op::HydraIntrospect,
            380,
            600,
            Outcome::Ok(Verdict::Active),
        );
        record(
            &mut snap,
            Op::HydraIntrospect,
            20,
            600,
            Outcome::Ok(Verdict::Inactive),
        );
        record(
            &mut snap,
            Op::KetoWrite,
            50,
            1_200,
            Outcome::Ok(Verdict::Ok),
        );
        record(
            &mut snap,
            Op::KetoCheck,
            9000,
            300,
            Outcome::Ok(Verdict::Allowed),
        );
        record(
            &mut snap,
            Op::KetoCheck,
            1000,
            300,
            Outcome::Ok(Verdict::Denied),
        );
        snap
    }

    /// Open-model stats: corrected and uncorrected histograms.
    pub(crate) fn open_model_snapshot() -> Snapshot {
        let mut snap = Snapshot::default();
        let mut s = OpStats::new(Op::KetoCheck);
        for i in 0..1000u64 {
            s.record(500 + i * 20, Some(400 + i), Outcome::Ok(Verdict::Allowed));
        }
        snap.insert(s);
        snap
    }

    /// Two named steps of keto.check beside the plain operation, and a named keto.write.
    pub(crate) fn steps_snapshot() -> Snapshot {
        let mut snap = Snapshot::default();
        let mut add = |key: MetricKey, n: u64, us: u64, outcome: Outcome| {
            let mut s = OpStats::for_key(&key);
            for i in 0..n {
                s.record(us + i % 7, None, outcome);
            }
            snap.insert(s);
        };
        let after_login = MetricKey::step(Op::KetoCheck, "after-login");
        let admin = MetricKey::step(Op::KetoCheck, "admin-check");
        add(after_login.clone(), 30, 200, Outcome::Ok(Verdict::Allowed));
        add(after_login, 2, 200, Outcome::Err(ErrorClass::Status(503)));
        add(admin, 12, 9_000, Outcome::Ok(Verdict::Denied));
        add(
            MetricKey::op(Op::KetoCheck),
            100,
            400,
            Outcome::Ok(Verdict::Allowed),
        );
        add(
            MetricKey::step(Op::KetoWrite, "grant"),
            5,
            1_000,
            Outcome::Ok(Verdict::Ok),
        );
        snap
    }

    /// `steps_snapshot` plus flows: a multi-step Keto flow with failed iterations, a
    /// single-step one, and one that spans services (open model: both durations).
    pub(crate) fn flows_snapshot() -> Snapshot {
        let mut snap = steps_snapshot();
        let mut add = |scenario: &str, flow: &str, service, steps, n: u64, us: u64| {
            let mut f = FlowStats::new(FlowInfo {
                key: FlowKey::new(scenario, flow),
                service,
                steps,
            });
            for i in 0..n {
                let failed = (i % 10 == 9).then_some(ErrorClass::Timeout);
                f.record(us + i, Some(us * 9 / 10 + i), failed);
            }
            snap.insert_flow(f);
        };
        add("keto", "share-album", Some(Service::Keto), 4, 20, 42_000);
        add("keto", "check", Some(Service::Keto), 1, 50, 400);
        add("login-token-check", "login", None, 3, 10, 150_000);
        snap
    }

    #[test]
    fn flows_are_reported_apart_from_requests() {
        let snap = flows_snapshot();
        let r = build(&sample_info(), &snap);
        assert_eq!(r.totals.requests, steps_snapshot().total_requests());
        assert_eq!(r.flows.len(), 3);
        let share = r.flows.iter().find(|f| f.name == "share-album").unwrap();
        assert_eq!(
            (share.scenario.as_str(), share.service),
            ("keto", Some(Service::Keto))
        );
        assert_eq!(
            (share.steps, share.count, share.ok, share.errors),
            (4, 20, 18, 2)
        );
        assert_eq!(share.error_classes.get("timeout"), Some(&2));
        assert!((share.duration_us.p50 as i64 - 42_010).abs() <= 50);
        assert!(share.duration_uncorrected_us.as_ref().unwrap().p50 < share.duration_us.p50);
        let login = r.flows.iter().find(|f| f.name == "login").unwrap();
        assert_eq!(login.service, None);
        let v = serde_json::to_value(&r).unwrap();
        assert!(v["flows"][0]["histogram"]
            .as_str()
            .is_some_and(|h| !h.is_empty()));
        // A report without flows (older, or closed to flows) leaves the key out and still reads.
        let plain = build(&sample_info(), &sample_snapshot());
        let v = serde_json::to_value(&plain).unwrap();
        assert!(v.get("flows").is_none());
        let parsed: Report = serde_json::from_value(v).unwrap();
        assert!(parsed.flows.is_empty());
    }

    fn json_has_no_non_finite(v: &serde_json::Value) {
        match v {
            serde_json::Value::Number(n) => {
                if let Some(f) = n.as_f64() {
                    assert!(f.is_finite());
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(json_has_no_non_finite),
            serde_json::Value::Object(o) => o.values().for_each(json_has_no_non_finite),
            _ => {}
        }
    }

    #[test]
    fn rates_divide_by_measured_elapsed_time() {
        let mut info = sample_info();
        info.elapsed = Duration::from_secs(10);
        let mut snap = Snapshot::default();
        record(
            &mut snap,
            Op::KetoCheck,
            1000,
            300,
            Outcome::Ok(Verdict::Allowed),
        );
        let r = build(&info, &snap);
        assert_eq!(r.totals.requests, 1000);
        assert_eq!(r.totals.requests_per_second, Some(100.0));
        assert_eq!(r.operations[0].requests_per_second, Some(100.0));
        let keto = r.services.iter().find(|s| s.name == Service::Keto).unwrap();
        assert_eq!(keto.reads_per_second, Some(100.0));
        assert_eq!(keto.read_write_ratio, None);
        assert_eq!(r.elapsed_seconds, 10.0);
    }

    #[test]
    fn zero_elapsed_yields_null_rates_and_no_non_finite_numbers() {
        let mut info = sample_info();
        info.elapsed = Duration::ZERO;
        let r = build(&info, &sample_snapshot());
        assert_eq!(r.totals.requests_per_second, None);
        assert!(r.services.iter().all(|s| s.reads_per_second.is_none()));
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains("NaN") && !text.contains("inf"));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        json_has_no_non_finite(&v);
        assert!(v["totals"]["requests_per_second"].is_null());

        // No requests at all: error rate is 0, not NaN.
        let empty = build(&info, &Snapshot::default());
        assert_eq!(empty.totals.error_rate, 0.0);
    }

    #[test]
    fn report_carries_counts_outcomes_and_error_classes() {
        let r = build(&sample_info(), &sample_snapshot());
        assert_eq!(r.schema_version, 1);
        assert_eq!(r.tool, "orysim");
        assert_eq!(r.started_at, "2024-05-01T12:00:00.000Z");
        assert_eq!(r.ended_at, "2024-05-01T12:00:10.020Z");
        let kratos = &r.services[0];
        assert_eq!(kratos.name, Service::Kratos);
        assert_eq!(kratos.concurrency, Some(34));
        assert_eq!((kratos.writes, kratos.failed_writes), (120, 3));
        assert_eq!((kratos.reads, kratos.failed_reads), (2416, 1));
        assert_eq!(kratos.outcomes["active"], 1200);
        assert_eq!(kratos.outcomes["valid"], 1190);
        let keto = &r.services[2];
        assert_eq!(keto.outcomes["allowed"], 9000);
        assert_eq!(keto.outcomes["denied"], 1000);
        assert!(!keto.outcomes.contains_key("active"));

        let reg = r
            .operations
            .iter()
            .find(|o| o.name == "kratos.register")
            .unwrap();
        assert_eq!(reg.kind, Kind::Write);
        assert_eq!(reg.error_classes["http_400"], 3);
        assert_eq!((reg.count, reg.ok, reg.errors), (120, 117, 3));
        let names: Vec<&str> = r.operations.iter().map(|o| o.name.as_str()).collect();
        let mut sorted: Vec<Op> = names.iter().map(|n| Op::from_name(n).unwrap()).collect();
        sorted.sort();
        assert_eq!(
            names,
            sorted.iter().map(|o| o.name()).collect::<Vec<_>>(),
            "operations are ordered by op"
        );

        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["mode"], "live");
        assert_eq!(v["target"]["kind"], "builtin_simulator");
        assert!(v["operations"][0]["latency_us"]["p99_9"].is_u64());
        assert!(v["operations"][0].get("histogram_uncorrected").is_none());
    }

    #[test]
    fn named_steps_get_their_own_entries_and_count_in_the_totals() {
        let mut info = sample_info();
        info.elapsed = Duration::from_secs(1);
        let r = build(&info, &steps_snapshot());
        let entries: Vec<(&str, Option<&str>, u64)> = r
            .operations
            .iter()
            .map(|o| (o.name.as_str(), o.step.as_deref(), o.count))
            .collect();
        assert_eq!(
            entries,
            vec![
                ("keto.write", Some("grant"), 5),
                ("keto.check", None, 100),
                ("keto.check", Some("admin-check"), 12),
                ("keto.check", Some("after-login"), 32),
            ]
        );
        let after_login = &r.operations[3];
        assert_eq!(after_login.service, Service::Keto);
        assert_eq!(after_login.kind, Kind::Read);
        assert_eq!(after_login.outcomes["allowed"], 30);
        assert_eq!(after_login.error_classes["http_503"], 2);
        assert_eq!(after_login.requests_per_second, Some(32.0));
        assert!(r.operations[2].latency_us.p50 >= 9_000);
        assert!(r.operations[1].latency_us.p50 < 1_000);

        assert_eq!((r.totals.requests, r.totals.errors), (149, 2));
        let keto = r.services.iter().find(|s| s.name == Service::Keto).unwrap();
        assert_eq!((keto.reads, keto.writes, keto.failed_reads), (144, 5, 2));
        assert_eq!(keto.outcomes["allowed"], 130);
        assert_eq!(keto.outcomes["denied"], 12);

        // `step` is written for named entries only.
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["operations"][3]["name"], "keto.check");
        assert_eq!(v["operations"][3]["step"], "after-login");
        assert!(v["operations"][1].get("step").is_none());
        // A report written before steps existed still loads: no `step` means the plain entry.
        let mut old = v.clone();
        old["operations"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .for_each(|o| {
                o.as_object_mut().unwrap().remove("step");
            });
        let old: Report = serde_json::from_value(old).unwrap();
        assert!(old.operations.iter().all(|o| o.step.is_none()));
        let snap = old.snapshot().unwrap();
        assert_eq!(
            snap.op(Op::KetoCheck).unwrap().count(),
            144,
            "entries merge"
        );
        assert_eq!(snap.op(Op::KetoWrite).unwrap().count(), 5);

        // A corrupt named entry is reported with its step.
        let mut bad = r.clone();
        bad.operations[3].count += 1;
        let err = format!("{:#}", bad.snapshot().unwrap_err());
        assert!(
            err.contains("keto.check") && err.contains("after-login"),
            "{err}"
        );
    }

    #[test]
    fn json_round_trip_rebuilds_an_equal_snapshot() {
        for original in [
            sample_snapshot(),
            open_model_snapshot(),
            steps_snapshot(),
            flows_snapshot(),
        ] {
            let report = build(&sample_info(), &original);
            let text = serde_json::to_string_pretty(&report).unwrap();
            let parsed: Report = serde_json::from_str(&text).unwrap();
            assert_eq!(parsed, report);
            let rebuilt = parsed.snapshot().unwrap();
            assert_eq!(rebuilt.total_requests(), original.total_requests());
            assert_eq!(rebuilt.total_errors(), original.total_errors());
            assert_eq!(rebuilt.ops().count(), original.ops().count());
            for a in original.ops() {
                let b = rebuilt.get(&a.key()).unwrap();
                assert_eq!(a.step, b.step);
                assert_eq!(a.verdicts, b.verdicts);
                assert_eq!(a.errors, b.errors);
                assert_eq!(a.latency, b.latency, "{}", a.op);
                assert_eq!(
                    a.latency.value_at_quantile(0.99),
                    b.latency.value_at_quantile(0.99)
                );
                assert_eq!(a.uncorrected, b.uncorrected);
            }
            assert_eq!(rebuilt.flows().count(), original.flows().count());
            for a in original.flows() {
                let b = rebuilt.flow(a.key()).unwrap();
                assert_eq!(a.info, b.info);
                assert_eq!((a.ok, &a.errors), (b.ok, &b.errors));
                assert_eq!(a.duration, b.duration);
                assert_eq!(a.uncorrected, b.uncorrected);
            }
            // The rebuilt snapshot is mergeable with live data.
            let mut merged = rebuilt.clone();
            merged.merge(&original);
            assert_eq!(merged.total_requests(), 2 * original.total_requests());
        }
    }

    #[test]
    fn uncorrected_latency_is_reported_only_when_present() {
        let r = build(&sample_info(), &open_model_snapshot());
        let op = &r.operations[0];
        let unc = op.latency_uncorrected_us.as_ref().unwrap();
        assert!(unc.p99 < op.latency_us.p99);
        assert!(op.histogram_uncorrected.is_some());
    }

    #[test]
    fn inconsistent_or_corrupt_reports_are_rejected() {
        let mut r = build(&sample_info(), &sample_snapshot());
        r.operations[0].count += 1;
        assert!(r.snapshot().is_err());
        let mut r = build(&sample_info(), &sample_snapshot());
        r.operations[0].histogram = "not base64!".into();
        let err = format!("{:#}", r.snapshot().unwrap_err());
        assert!(
            err.contains("kratos.register") && err.contains("base64"),
            "{err}"
        );
        let mut r = build(&sample_info(), &sample_snapshot());
        r.operations[0].name = "kratos.nope".into();
        assert!(r.snapshot().is_err());
    }

    #[test]
    fn atomic_write_creates_dirs_overwrites_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/deeper/report.json");
        let first = build(&sample_info(), &sample_snapshot());
        write_atomic(&path, &first).unwrap();
        assert_eq!(load(&path).unwrap(), first);

        let mut info = sample_info();
        info.scenario = "keto".into();
        let second = build(&info, &open_model_snapshot());
        write_atomic(&path, &second).unwrap();
        let loaded = load(&path).unwrap();
        assert_eq!(loaded, second);
        assert_eq!(loaded.scenario, "keto");

        let entries: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(entries, vec!["report.json".to_string()]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("{\n  \"schema_version\": 1,"),
            "pretty JSON"
        );
    }

    #[test]
    fn load_rejects_newer_schemas_and_non_reports() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        let mut v = serde_json::to_value(build(&sample_info(), &sample_snapshot())).unwrap();
        v["schema_version"] = 2.into();
        std::fs::write(&path, v.to_string()).unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("newer"), "{err}");
        std::fs::write(&path, "{}").unwrap();
        assert!(load(&path).is_err());
        // Unknown (future, additive) fields are ignored.
        v["schema_version"] = 1.into();
        v["some_new_field"] = "x".into();
        std::fs::write(&path, v.to_string()).unwrap();
        assert!(load(&path).is_ok());
    }

    #[test]
    fn options_are_copied_exactly() {
        let mut info = sample_info();
        info.options = serde_json::json!({
            "kratos_public_url": "http://127.0.0.1:4433",
            "concurrency": 12,
            "nested": {"rate": 50.5, "stages": ["10s:5", "20s:10"]},
            "api_key": "[redacted]"
        });
        let r = build(&info, &sample_snapshot());
        assert_eq!(r.options, info.options);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["options"], info.options);
    }

    #[test]
    fn timestamps_outside_the_formattable_range_do_not_panic() {
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00.000Z"
        );
        assert!(rfc3339(UNIX_EPOCH + Duration::from_secs(u64::MAX / 4)).starts_with("9999-"));
    }
}
