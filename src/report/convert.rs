//! `orysim report INPUT -o OUTPUT`: the one command that turns orysim's data into another
//! form. INPUT is a report or an interval series (told apart by content, not by name);
//! OUTPUT's extension picks the form. A series whose run was killed is rebuilt into the report
//! the run would have written, marked `interrupted`.

use super::drift;
use super::html;
use super::intervals::{read_series, Header, SeriesEnd};
use super::json::{self, Report, SeriesRef};
use super::thresholds::{self, Evaluator};
use crate::cli::OutputForm;
use crate::engine::{RunInfo, TargetKind};
use crate::metrics::{GeneratorStats, LatencyHistogram, Snapshot};
use anyhow::{anyhow, bail, Context};
use std::io::Read as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// What the conversion found worth saying.
#[derive(Debug, Default)]
pub struct Outcome {
    pub notes: Vec<String>,
    pub thresholds_failed: bool,
}

enum Input {
    Report(Box<Report>),
    Series,
}

/// Reads `input`, writes `output` in the form `form` names, else its extension.
pub fn convert(
    input: &Path,
    output: &Path,
    form: Option<OutputForm>,
    threshold_exprs: &[String],
) -> anyhow::Result<Outcome> {
    let wanted = output
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let form = match (form, wanted.as_deref()) {
        (Some(form), _) => form,
        (None, Some("json")) => OutputForm::Json,
        (None, Some("html" | "htm")) => OutputForm::Html,
        (None, Some(other)) => bail!(
            "cannot write {}: unknown output form `.{other}` (supported: .json, .html; or \
             name it with --format)",
            output.display()
        ),
        (None, None) => bail!(
            "cannot write {}: give the output an extension that names its form (.json, \
             .html), or --format",
            output.display()
        ),
    };
    let parsed = threshold_exprs
        .iter()
        .map(|t| thresholds::parse(t).map_err(|e| anyhow!("{e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut outcome = Outcome::default();
    let series_path;
    let report = match sniff(input)? {
        Input::Report(report) => {
            let mut report = *report;
            series_path = html::series_beside(input, &report);
            if !parsed.is_empty() {
                let snap = report.snapshot().context("the report's figures")?;
                let elapsed = Duration::from_secs_f64(report.elapsed_seconds.max(0.0));
                let mut eval = Evaluator::new(&parsed);
                if eval.needs_intervals() {
                    let series = report
                        .series
                        .as_ref()
                        .map(|s| input.parent().unwrap_or(Path::new("")).join(&s.file));
                    let Some(series) = series.filter(|p| p.exists()) else {
                        bail!("windowed (@...) thresholds need the report's interval series, and {} names none that exists", input.display());
                    };
                    feed(&series, &mut eval)?;
                }
                report.thresholds = eval.finish(&snap, elapsed);
            }
            report
        }
        Input::Series => {
            series_path = Some(input.to_path_buf());
            rebuild(input, &parsed, &mut outcome)?
        }
    };
    outcome.thresholds_failed = report.thresholds.iter().any(|t| !t.ok);
    match form {
        OutputForm::Json => json::write_atomic(output, &report),
        OutputForm::Html => {
            let view = html::RunView::new(report, series_path.as_deref());
            if let Some(note) = &view.series_note {
                outcome.notes.push(note.clone());
            }
            html::write(output, &html::render_run(&view)?)
        }
    }
    .with_context(|| format!("cannot write {}", output.display()))?;
    Ok(outcome)
}

/// Tells a report from a series by its first line.
fn sniff(path: &Path) -> anyhow::Result<Input> {
    let mut head = Vec::new();
    std::fs::File::open(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .take(64 << 10)
        .read_to_end(&mut head)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let first_line = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let is_series = serde_json::from_slice::<serde_json::Value>(first_line)
        .ok()
        .is_some_and(|v| v.get("record").and_then(|r| r.as_str()) == Some("header"));
    if is_series {
        return Ok(Input::Series);
    }
    Ok(Input::Report(Box::new(json::load(path)?)))
}

/// Hands every interval of the series at `series` to `eval`.
pub(crate) fn feed(series: &Path, eval: &mut Evaluator) -> anyhow::Result<SeriesEnd> {
    let (_, end) = read_series(series, |_, r| {
        let snap = r.snapshot()?;
        eval.add_interval(
            Duration::from_secs_f64(r.offset_seconds.max(0.0)),
            Duration::from_secs_f64(r.elapsed_seconds.max(0.0)),
            &snap,
        );
        Ok(())
    })?;
    Ok(end)
}

/// The report of the run whose series is at `path`: every interval merged.
fn rebuild(
    path: &Path,
    parsed: &[thresholds::Threshold],
    outcome: &mut Outcome,
) -> anyhow::Result<Report> {
    let mut snapshot = Snapshot::default();
    let mut elapsed = Duration::ZERO;
    let mut first_start: Option<String> = None;
    let mut last_end: Option<String> = None;
    let mut generator = GeneratorStats::default();
    let mut start_lag: Option<LatencyHistogram> = None;
    let mut eval = Evaluator::new(parsed);
    let (header, end) = read_series(path, |_, r| {
        let snap = r.snapshot()?;
        eval.add_interval(
            Duration::from_secs_f64(r.offset_seconds.max(0.0)),
            Duration::from_secs_f64(r.elapsed_seconds.max(0.0)),
            &snap,
        );
        snapshot.merge(&snap);
        elapsed += Duration::from_secs_f64(r.elapsed_seconds.max(0.0));
        first_start.get_or_insert_with(|| r.started_at.clone());
        last_end = Some(r.ended_at.clone());
        let g = &r.generator;
        generator.cpu_time += Duration::from_secs_f64(g.cpu_seconds.max(0.0));
        generator.cores = generator.cores.max(g.cores as usize);
        generator.arrivals += g.arrivals;
        generator.delayed += g.delayed;
        generator.dropped += g.dropped;
        generator.peak_memory_bytes = generator.peak_memory_bytes.max(g.rss_bytes);
        if let Some(lag) = r.start_lag()? {
            match &mut start_lag {
                Some(h) => {
                    let _ = h.add(&lag);
                }
                None => start_lag = Some(lag),
            }
        }
        Ok(())
    })?;
    generator.start_lag = start_lag;
    generator.open_model = header.options.get("model").and_then(|m| m.as_str()) == Some("open");
    let mut warnings = Vec::new();
    if end.intervals == 0 {
        warnings.push("the series holds no complete interval: nothing was measured".to_string());
    }
    if !end.finished {
        warnings.push(format!(
            "rebuilt from the interval series: the run did not finish (it stopped after {} \
             complete intervals{}); figures cover those intervals",
            end.intervals,
            if end.torn_tail {
                ", and a torn last line was left out"
            } else {
                ""
            }
        ));
    }
    outcome.notes.extend(warnings.iter().cloned());
    let info = run_info(
        &header,
        &first_start,
        &last_end,
        elapsed,
        !end.finished,
        warnings,
        generator,
    )?;
    let mut report = json::build(&info, &snapshot);
    report.tool_version = header.tool_version.clone();
    report.target = header.target.clone();
    report.series = Some(SeriesRef {
        file: path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        interval_seconds: header.interval_seconds,
        intervals: end.intervals,
    });
    report.drift = drift::from_series(path)?;
    report.thresholds = eval.finish(&snapshot, elapsed);
    Ok(report)
}

fn parse_time(text: &Option<String>, fallback: &str) -> anyhow::Result<SystemTime> {
    let text = text.as_deref().unwrap_or(fallback);
    humantime::parse_rfc3339_weak(text.trim_end_matches('Z'))
        .map_err(|e| anyhow!("unreadable time `{text}`: {e}"))
}

fn run_info(
    header: &Header,
    first_start: &Option<String>,
    last_end: &Option<String>,
    elapsed: Duration,
    interrupted: bool,
    warnings: Vec<String>,
    generator: GeneratorStats,
) -> anyhow::Result<RunInfo> {
    let started_at = parse_time(first_start, &header.started_at)?;
    let ended_at = parse_time(last_end, &header.started_at)?;
    Ok(RunInfo {
        tool_version: env!("CARGO_PKG_VERSION"),
        started_at,
        ended_at,
        elapsed,
        interrupted,
        aborted: None,
        scenario: header.scenario.clone(),
        services: header.services.clone(),
        concurrency: header.concurrency.clone(),
        target_kind: match header.target.kind {
            json::ReportTargetKind::BuiltinSimulator => TargetKind::BuiltinSimulator,
            json::ReportTargetKind::Remote => TargetKind::Remote,
        },
        target_urls: header.target.urls.clone(),
        transport: header.target.transport.clone(),
        tls: header.target.tls.clone(),
        labels: header.labels.clone(),
        options: header.options.clone(),
        warnings,
        warmup: None,
        generator,
        split: crate::config::split::Split {
            segment: header.segment.unwrap_or_default(),
            run_id: header.run_id.clone(),
            start_at: None,
        },
        measured_from: None,
    })
}
