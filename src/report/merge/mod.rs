//! `orysim merge`: the segments' reports of a split run (`orysim run --segment I/N`) become
//! the one report a single process running the whole load would have written. Nothing is
//! averaged: histograms are added (so every percentile is that of all the calls), counts and
//! outcomes summed, and rates divide by the common wall-clock window, from the earliest
//! segment's measured start to the latest one's end. The interval series are merged by
//! wall-clock time ([`series`]), and thresholds are judged on the merged figures.
//!
//! A merge refuses, with one line, what would not be one run: reports of different run ids,
//! scenarios or options (unless forced), and a set of segments that is not the whole load
//! exactly once (never forced: the figures would be wrong).

mod series;

use super::convert;
use super::drift;
use super::json::{self, Report, SegmentReport};
use super::thresholds::{self, Evaluator, Threshold};
use crate::config::split::{parse_rfc3339, Split};
use crate::engine::{RunInfo, TargetKind};
use crate::ground::Service;
use crate::metrics::{GeneratorStats, Snapshot, WarmupTotals};
use crate::segment::{check_cover, Segment};
use anyhow::{anyhow, bail, Context};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Segments whose measured starts lie further apart than this were not started together.
const START_SPREAD_WARNING: Duration = Duration::from_secs(1);

/// Options that differ between the segments of one run by design.
const PER_SEGMENT_OPTIONS: [&str; 1] = ["seed"];

/// A merged run, written, with what is worth saying about it.
pub struct Merged {
    pub info: RunInfo,
    pub snapshot: Snapshot,
    pub report: Report,
    pub notes: Vec<String>,
}

/// Merges the reports at `inputs` into `output` (and its interval series beside it).
pub fn merge(
    inputs: &[PathBuf],
    output: &Path,
    threshold_exprs: &[String],
    force: bool,
) -> anyhow::Result<Merged> {
    if !output
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        bail!(
            "cannot write {}: the merged report is JSON, give it a .json name",
            output.display()
        );
    }
    let mut parts = Vec::with_capacity(inputs.len());
    for path in inputs {
        let report = json::load(path)?;
        let segment = report.segment.unwrap_or(Segment::WHOLE);
        parts.push(Part {
            path: path.clone(),
            report,
            segment,
        });
    }
    check_one_run(&parts, force)?;
    parts.sort_by_key(|p| p.segment);

    let mut snapshot = Snapshot::default();
    for p in &parts {
        let snap = p
            .report
            .snapshot()
            .with_context(|| format!("{}: the report's figures", p.path.display()))?;
        snapshot.merge(&snap);
    }
    let window = Window::of(&parts)?;
    let mut notes = Vec::new();
    let info = run_info(&parts, &window)?;
    let mut report = json::build(&info, &snapshot);
    report.target = parts[0].report.target.clone();
    report.segments = parts.iter().map(Part::summary).collect();

    let merged_series = series::merge(&parts, output, &info, window.start);
    let series_path = match merged_series {
        Ok(Some((path, reference))) => {
            report.series = Some(reference);
            Some(path)
        }
        Ok(None) => None,
        Err(e) => {
            notes.push(format!("no merged interval series: {e:#}"));
            None
        }
    };
    if let Some(path) = &series_path {
        report.drift = drift::from_series(path).unwrap_or_else(|e| {
            notes.push(format!("drift not computed: {e:#}"));
            None
        });
    }
    report.thresholds = judge(
        &parts,
        threshold_exprs,
        series_path.as_deref(),
        &snapshot,
        &info,
    )?;
    json::write_atomic(output, &report)
        .with_context(|| format!("cannot write {}", output.display()))?;
    Ok(Merged {
        info,
        snapshot,
        report,
        notes,
    })
}

/// One segment's report and where it came from.
struct Part {
    path: PathBuf,
    report: Report,
    segment: Segment,
}

impl Part {
    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn measured_from(&self) -> anyhow::Result<SystemTime> {
        let text = self
            .report
            .measured_from
            .as_deref()
            .unwrap_or(&self.report.started_at);
        parse_rfc3339(text).ok_or_else(|| anyhow!("{}: unreadable time `{text}`", self.name()))
    }

    fn elapsed(&self) -> Duration {
        Duration::from_secs_f64(self.report.elapsed_seconds.max(0.0))
    }

    fn summary(&self) -> SegmentReport {
        let r = &self.report;
        SegmentReport {
            segment: self.segment,
            file: self.name(),
            measured_from: r.measured_from.clone(),
            elapsed_seconds: r.elapsed_seconds,
            requests: r.totals.requests,
            errors: r.totals.errors,
            interrupted: r.interrupted,
            cpu_seconds: r.generator.cpu_seconds,
        }
    }
}

/// Refuses reports that are not the segments of one run, exactly once each.
fn check_one_run(parts: &[Part], force: bool) -> anyhow::Result<()> {
    let first = &parts[0];
    let unless_forced = |what: String| -> anyhow::Result<()> {
        if force {
            Ok(())
        } else {
            bail!("{what} (--force merges them anyway)")
        }
    };
    for p in &parts[1..] {
        let (a, b) = (&first.report, &p.report);
        if a.run_id != b.run_id {
            let id = |r: &Report| r.run_id.clone().unwrap_or_else(|| "none".into());
            unless_forced(format!(
                "cannot merge reports of different runs: {} has run id {}, {} has {}",
                first.name(),
                id(a),
                p.name(),
                id(b)
            ))?;
        }
        if a.scenario != b.scenario {
            unless_forced(format!(
                "cannot merge reports of different scenarios: {} ran `{}`, {} ran `{}`",
                first.name(),
                a.scenario,
                p.name(),
                b.scenario
            ))?;
        } else if let Some(key) = differing_option(&a.options, &b.options) {
            unless_forced(format!(
                "cannot merge reports run with different options: `{key}` differs between {} \
                 and {}",
                first.name(),
                p.name()
            ))?;
        }
    }
    let segments: Vec<Segment> = parts.iter().map(|p| p.segment).collect();
    check_cover(&segments).map_err(|e| anyhow!("cannot merge: {e}"))
}

/// The first option (in key order) that differs, leaving out those that differ by design.
fn differing_option(a: &serde_json::Value, b: &serde_json::Value) -> Option<String> {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return (a != b).then(|| "options".to_string());
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| !PER_SEGMENT_OPTIONS.contains(&k.as_str()))
        .find(|k| a.get(*k) != b.get(*k))
        .cloned()
}

/// The common wall-clock window of the segments' measured runs.
struct Window {
    start: SystemTime,
    end: SystemTime,
    /// The latest start minus the earliest.
    spread: Duration,
}

impl Window {
    fn of(parts: &[Part]) -> anyhow::Result<Window> {
        let mut starts = Vec::new();
        let mut end = SystemTime::UNIX_EPOCH;
        for p in parts {
            let from = p.measured_from()?;
            starts.push(from);
            end = end.max(from + p.elapsed());
        }
        let start = starts.iter().copied().min().unwrap_or(end);
        let latest = starts.iter().copied().max().unwrap_or(start);
        Ok(Window {
            start,
            end: end.max(start),
            spread: latest.duration_since(start).unwrap_or_default(),
        })
    }

    fn elapsed(&self) -> Duration {
        self.end.duration_since(self.start).unwrap_or_default()
    }
}

/// The merged run's description: what the segments share, their sums, their warnings each
/// under its segment.
fn run_info(parts: &[Part], window: &Window) -> anyhow::Result<RunInfo> {
    let first = &parts[0].report;
    let time = |text: &str, p: &Part| {
        parse_rfc3339(text).ok_or_else(|| anyhow!("{}: unreadable time `{text}`", p.name()))
    };
    let mut started_at = window.start;
    let mut ended_at = window.end;
    let mut services: Vec<Service> = Vec::new();
    let mut concurrency: BTreeMap<Service, usize> = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut warmup: Option<WarmupTotals> = None;
    let mut generator = GeneratorStats {
        open_model: first.generator.model == "open",
        ..GeneratorStats::default()
    };
    let mut peak_memory: Option<u64> = None;
    for p in parts {
        let r = &p.report;
        started_at = started_at.min(time(&r.started_at, p)?);
        ended_at = ended_at.max(time(&r.ended_at, p)?);
        for s in &r.services {
            if !services.contains(&s.name) {
                services.push(s.name);
            }
            *concurrency.entry(s.name).or_insert(0) += s.concurrency.unwrap_or(0) as usize;
        }
        warnings.extend(
            r.warnings
                .iter()
                .map(|w| format!("segment {}: {w}", p.segment)),
        );
        if let Some(w) = &r.warmup {
            let total = warmup.get_or_insert(WarmupTotals {
                duration: Duration::ZERO,
                requests: 0,
                errors: 0,
            });
            total.duration = total
                .duration
                .max(Duration::from_secs_f64(w.seconds.max(0.0)));
            total.requests += w.requests;
            total.errors += w.errors;
        }
        let g = &r.generator;
        generator.cpu_time += Duration::from_secs_f64(g.cpu_seconds.max(0.0));
        generator.cores += g.cores as usize;
        generator.arrivals += g.arrivals;
        generator.delayed += g.delayed;
        generator.dropped += g.dropped;
        generator.in_process_simulator |= g.in_process_simulator;
        if let Some(m) = g.peak_memory_bytes {
            peak_memory = Some(peak_memory.unwrap_or(0).max(m));
        }
    }
    generator.peak_memory_bytes = peak_memory;
    if window.spread > START_SPREAD_WARNING {
        warnings.insert(
            0,
            format!(
                "the segments' measured runs started up to {:.1}s apart: they did not run \
                 together (give every segment the same --start-at)",
                window.spread.as_secs_f64()
            ),
        );
    }
    let mut options = first.options.clone();
    if parts
        .iter()
        .any(|p| p.report.options.get("seed") != options.get("seed"))
    {
        if let Some(o) = options.as_object_mut() {
            // Every segment drew its own seed: there is no one seed to repeat the run with.
            o.insert("seed".into(), serde_json::Value::Null);
        }
    }
    let interrupted = parts.iter().any(|p| p.report.interrupted);
    let aborted = parts.iter().find_map(|p| {
        p.report
            .aborted
            .as_ref()
            .map(|a| format!("segment {}: {a}", p.segment))
    });
    Ok(RunInfo {
        tool_version: env!("CARGO_PKG_VERSION"),
        started_at,
        ended_at,
        elapsed: window.elapsed(),
        interrupted,
        aborted,
        scenario: first.scenario.clone(),
        services,
        concurrency,
        target_kind: match first.target.kind {
            json::ReportTargetKind::BuiltinSimulator => TargetKind::BuiltinSimulator,
            json::ReportTargetKind::Remote => TargetKind::Remote,
        },
        target_urls: first.target.urls.clone(),
        transport: merged_transport(parts),
        // Every segment of one run is launched with the same labels.
        labels: first.labels.clone(),
        // Any segment that skipped verification makes the merged run unverified.
        tls: parts
            .iter()
            .filter_map(|p| p.report.target.tls.clone())
            .max_by_key(|t| t.insecure),
        options,
        warnings,
        warmup,
        generator,
        split: Split {
            segment: Segment::WHOLE,
            run_id: first.run_id.clone(),
            start_at: first.start_at.as_deref().and_then(parse_rfc3339),
        },
        measured_from: Some(window.start),
    })
}

/// The segments' own thresholds (each once) and those given to the merge, judged on the
/// merged figures: windowed ones on the merged series.
fn judge(
    parts: &[Part],
    exprs: &[String],
    series: Option<&Path>,
    snapshot: &Snapshot,
    info: &RunInfo,
) -> anyhow::Result<Vec<thresholds::ThresholdResult>> {
    let mut all: Vec<String> = Vec::new();
    let from_segments = parts
        .iter()
        .flat_map(|p| p.report.thresholds.iter().map(|t| t.expr.clone()));
    for expr in from_segments.chain(exprs.iter().cloned()) {
        if !all.contains(&expr) {
            all.push(expr);
        }
    }
    let parsed = all
        .iter()
        .map(|t| thresholds::parse(t).map_err(|e| anyhow!("{e}")))
        .collect::<anyhow::Result<Vec<Threshold>>>()?;
    let mut eval = Evaluator::new(&parsed);
    if eval.needs_intervals() {
        let Some(series) = series else {
            bail!(
                "windowed (@...) thresholds need the merged interval series, and the segments' \
                 series could not be merged"
            );
        };
        convert::feed(series, &mut eval)?;
    }
    Ok(eval.finish(snapshot, info.elapsed))
}

#[cfg(test)]
mod tests;

/// Per endpoint, the segments' connections and handshakes added up; the versions and protocol
/// are the first segment's (every segment ran with the same options).
fn merged_transport(parts: &[Part]) -> Vec<crate::ory::transport::EndpointUsage> {
    let mut merged: Vec<crate::ory::transport::EndpointUsage> = Vec::new();
    for usage in parts.iter().flat_map(|p| &p.report.target.transport) {
        match merged.iter_mut().find(|m| m.endpoint == usage.endpoint) {
            Some(m) => {
                m.connections += usage.connections;
                m.tls_handshakes += usage.tls_handshakes;
                m.tls_full_handshakes += usage.tls_full_handshakes;
                m.protocol = m.protocol.take().or_else(|| usage.protocol.clone());
            }
            None => merged.push(usage.clone()),
        }
    }
    merged
}
