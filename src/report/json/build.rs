//! From a finished run (the engine's `RunInfo` and the `Snapshot`) to the report.

use super::codec::encode_histogram;
use super::schema::*;
use crate::engine::{RunInfo, TargetKind};
use crate::ground::{Service, Verdict};
use crate::metrics::{FlowStats, LatencyHistogram, OpStats, Snapshot};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

impl From<TargetKind> for ReportTargetKind {
    fn from(kind: TargetKind) -> Self {
        match kind {
            TargetKind::BuiltinSimulator => ReportTargetKind::BuiltinSimulator,
            TargetKind::Remote => ReportTargetKind::Remote,
        }
    }
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
    humantime::format_rfc3339_millis(formattable(t)).to_string()
}

/// `t` within the years the formatter accepts (1970..9999).
fn formattable(t: SystemTime) -> SystemTime {
    const YEAR_9999_END: u64 = 253_402_300_799;
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    UNIX_EPOCH + secs.min(Duration::from_secs(YEAR_9999_END))
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

/// The figures of `snap` over `elapsed`; the given services first (summary order), then any
/// other service the snapshot holds, so nothing measured is dropped.
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
                checks: (t.batch_calls > 0).then(|| t.checks()),
                checks_per_second: (t.batch_calls > 0)
                    .then(|| per_second(t.checks(), elapsed))
                    .flatten(),
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
        mode: ReportMode::Live,
        interrupted: info.interrupted,
        started_at: rfc3339(info.started_at),
        ended_at: rfc3339(info.ended_at),
        elapsed_seconds: elapsed.as_micros() as f64 / 1e6,
        target: Target {
            kind: info.target_kind.into(),
            urls: info.target_urls.clone(),
            transport: info.transport.clone(),
            tls: info.tls.clone(),
        },
        labels: info.labels.clone(),
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
        run_id: info.split.run_id.clone(),
        segment: (!info.split.segment.is_whole()).then_some(info.split.segment),
        start_at: info.split.start_at.map(rfc3339),
        measured_from: info.measured_from.map(rfc3339_micros),
        segments: Vec::new(),
    }
}

/// RFC 3339 UTC with microseconds, for times that line segments up (clamped as [`rfc3339`]).
pub fn rfc3339_micros(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(formattable(t)).to_string()
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
        checks: s.op.is_batch().then(|| BatchChecksReport {
            count: s.checks.total(),
            allowed: s.checks.allowed,
            denied: s.checks.denied,
            failed: s.checks.failed,
            per_second: per_second(s.checks.total(), elapsed),
        }),
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
