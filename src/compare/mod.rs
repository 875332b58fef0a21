//! `orysim compare`: whether a change made things better, worse or no different, per service,
//! operation and named step, with a confidence interval for every change.
//!
//! [`Run::load`] reads a report and its interval series; [`compare`] computes the
//! [`Comparison`] (the statistics are in `stats`, what differs between the runs in
//! `comparability`); `render_terminal` and `render_markdown` print it, and `--format json` is the
//! model itself.

pub mod comparability;
pub mod input;
pub mod model;
pub mod render_html;
pub mod render_markdown;
pub mod render_terminal;
pub mod stats;

pub use input::Run;
pub use model::*;

use crate::ground::Service;
use crate::metrics::{new_latency_histogram, LatencyHistogram};
use crate::report::json::decode_histogram;
use stats::{FigureInterval, SideSamples};

/// Bootstrap replicates per subject.
pub const RESAMPLES: usize = 1000;
/// Changes smaller than this are never called better or worse (twice the latency grid).
pub const MIN_RELATIVE_CHANGE: f64 = 0.01;
/// Fewest samples a side needs for significance.
pub const MIN_SAMPLES: usize = 5;
/// Database statements listed.
pub const DB_STATEMENTS: usize = 8;

/// The method, as the footer and the JSON name it.
pub fn method() -> Method {
    Method {
        name: "circular block bootstrap".to_string(),
        description: format!(
            "95% percentile intervals of after − before from {RESAMPLES} two-stage bootstrap \
             replicates (runs, then circular blocks of intervals sized by their \
             autocorrelation, spread-corrected for short correlated series); significant when \
             the interval excludes 0 and the change survives Benjamini-Hochberg at a 5% \
             false-discovery rate over all figures; changes under {:.0}% are not called",
            MIN_RELATIVE_CHANGE * 100.0
        ),
        confidence: stats::CONFIDENCE,
        resamples: RESAMPLES as u64,
        min_relative_change: MIN_RELATIVE_CHANGE,
        false_discovery_rate: stats::FALSE_DISCOVERY_RATE,
    }
}

/// Compares the runs of `before` with those of `after`.
pub fn compare(before: &[Run], after: &[Run]) -> Comparison {
    let subjects = subjects(before.iter().chain(after));
    let mut rows = subjects
        .iter()
        .map(|s| row(s, before, after))
        .collect::<Vec<_>>();
    judge(&mut rows);
    let mut notes: Vec<String> = before
        .iter()
        .chain(after)
        .filter_map(|r| r.note.clone())
        .collect();
    let samples = |runs: &[Run]| runs.iter().map(|r| r.seconds.len()).sum::<usize>();
    if samples(before) == 1 && samples(after) == 1 {
        notes.push(
            "single sample, no significance: neither report has an interval series (run with \
             --interval) and there is one run per side (repeat runs with --before/--after)"
                .to_string(),
        );
    } else if samples(before) < MIN_SAMPLES || samples(after) < MIN_SAMPLES {
        notes.push(format!(
            "too few samples for significance (before {}, after {}; at least {MIN_SAMPLES} \
             intervals or runs per side)",
            samples(before),
            samples(after)
        ));
    }
    let (db_statements, db_statements_from) = db_statements(before, after);
    let overall = overall(&rows);
    Comparison {
        format_version: FORMAT_VERSION,
        method: method(),
        before: side(before),
        after: side(after),
        warnings: comparability::differences(before, after),
        notes,
        rows,
        db_statements,
        db_statements_from,
        overall,
    }
}

fn side(runs: &[Run]) -> Side {
    Side {
        runs: runs
            .iter()
            .map(|r| RunRef {
                file: r.file.clone(),
                scenario: r.report.scenario.clone(),
                started_at: r.report.started_at.clone(),
                elapsed_seconds: r.report.elapsed_seconds,
                tool_version: r.report.tool_version.clone(),
                labels: r.report.labels.clone(),
                intervals: r.intervals,
            })
            .collect(),
    }
}

/// Every subject any run measured: per service (in the reports' order), the service, then its
/// operations and steps in the order they first appear.
fn subjects<'a>(runs: impl Iterator<Item = &'a Run> + Clone) -> Vec<Subject> {
    let mut services: Vec<Service> = Vec::new();
    let mut operations: Vec<Subject> = Vec::new();
    for run in runs {
        for s in run.report.services.iter().map(|s| s.name) {
            if !services.contains(&s) {
                services.push(s);
            }
        }
        for op in &run.report.operations {
            if !services.contains(&op.service) {
                services.push(op.service);
            }
            let subject = Subject::Operation {
                service: op.service,
                name: op.name.clone(),
                step: op.step.clone(),
            };
            if !operations.contains(&subject) {
                operations.push(subject);
            }
        }
    }
    let mut out = Vec::new();
    for service in services {
        out.push(Subject::Service { service });
        out.extend(
            operations
                .iter()
                .filter(|o| o.service() == service)
                .cloned(),
        );
    }
    out
}

/// The exact figures of a side, from the reports (HDR percentiles of the merged histograms).
struct Exact {
    calls: u64,
    errors: u64,
    seconds: f64,
    latency: Option<LatencyHistogram>,
}

fn exact(subject: &Subject, runs: &[Run]) -> Exact {
    let mut e = Exact {
        calls: 0,
        errors: 0,
        seconds: 0.0,
        latency: None,
    };
    for run in runs {
        e.seconds += run.report.elapsed_seconds;
        for op in &run.report.operations {
            let matches = match subject {
                Subject::Service { service } => op.service == *service,
                Subject::Operation { name, step, .. } => &op.name == name && &op.step == step,
            };
            if !matches {
                continue;
            }
            e.calls += op.count;
            e.errors += op.errors;
            if let (Subject::Operation { .. }, Ok(h)) = (subject, decode_histogram(&op.histogram)) {
                let merged = e.latency.get_or_insert_with(new_latency_histogram);
                // Both come from orysim's own range; a histogram that does not fit is left out
                // of the figure rather than failing the comparison.
                let _ = merged.add(&h);
            }
        }
    }
    e
}

impl Exact {
    fn figure(&self, f: Figure) -> Option<f64> {
        match f {
            Figure::Throughput => (self.seconds > 0.0).then(|| self.calls as f64 / self.seconds),
            Figure::ErrorRate => (self.calls > 0).then(|| self.errors as f64 / self.calls as f64),
            _ => {
                let h = self.latency.as_ref().filter(|h| !h.is_empty())?;
                Some(h.value_at_quantile(f.quantile()?) as f64)
            }
        }
    }
}

fn side_samples(subject: &Subject, runs: &[Run]) -> SideSamples {
    SideSamples {
        runs: runs
            .iter()
            .map(|run| {
                let slots = run.samples.get(subject);
                run.seconds
                    .iter()
                    .enumerate()
                    .map(|(i, &seconds)| {
                        let mut s = slots
                            .and_then(|v| v.get(i).cloned().flatten())
                            .unwrap_or_default();
                        s.seconds = seconds;
                        s
                    })
                    .collect()
            })
            .collect(),
    }
}

/// A stable seed per subject, so the same reports always give the same answer.
fn seed(subject: &Subject) -> u64 {
    // FNV-1a.
    subject.label().bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn row(subject: &Subject, before: &[Run], after: &[Run]) -> Row {
    let (eb, ea) = (exact(subject, before), exact(subject, after));
    let presence = match (eb.calls > 0, ea.calls > 0) {
        (true, false) => Presence::BeforeOnly,
        (false, true) => Presence::AfterOnly,
        _ => Presence::Both,
    };
    let (sb, sa) = (side_samples(subject, before), side_samples(subject, after));
    let enough = sb.samples() >= MIN_SAMPLES && sa.samples() >= MIN_SAMPLES;
    let intervals = if presence == Presence::Both && enough {
        Some(stats::bootstrap(
            &sb,
            &sa,
            stats::Settings {
                resamples: RESAMPLES,
                seed: seed(subject),
            },
        ))
    } else {
        None
    };
    let figures = Figure::ALL
        .into_iter()
        .enumerate()
        .filter(|(_, f)| f.quantile().is_none() || matches!(subject, Subject::Operation { .. }))
        .map(|(k, f)| {
            let note = if presence != Presence::Both {
                Some(match presence {
                    Presence::BeforeOnly => "called only before".to_string(),
                    _ => "called only after".to_string(),
                })
            } else if sb.samples() == 1 && sa.samples() == 1 {
                Some("single sample, no significance".to_string())
            } else if !enough {
                Some(format!("fewer than {MIN_SAMPLES} samples on a side"))
            } else {
                f.quantile().and_then(|q| {
                    let need = (10.0 / (1.0 - q)).round() as u64;
                    (eb.calls.min(ea.calls) < need)
                        .then(|| format!("too few calls for {} ({need} per side)", f.name()))
                })
            };
            let ci = intervals
                .as_ref()
                .and_then(|i| i[k])
                .filter(|_| note.is_none());
            figure_change(f, eb.figure(f), ea.figure(f), ci, note)
        })
        .collect();
    Row {
        subject: subject.clone(),
        presence,
        calls_before: eb.calls,
        calls_after: ea.calls,
        figures,
    }
}

fn figure_change(
    figure: Figure,
    before: Option<f64>,
    after: Option<f64>,
    ci: Option<FigureInterval>,
    note: Option<String>,
) -> FigureChange {
    let change = before.zip(after).map(|(b, a)| a - b);
    let relative_change = before
        .zip(after)
        .and_then(|(b, a)| (b > 0.0).then(|| a / b - 1.0));
    FigureChange {
        figure,
        unit: figure.unit().to_string(),
        before,
        after,
        change,
        relative_change,
        ci: ci.map(|c| Interval {
            low: c.absolute.low,
            high: c.absolute.high,
        }),
        relative_ci: ci.and_then(|c| c.relative).map(|r| Interval {
            low: r.low,
            high: r.high,
        }),
        p_value: ci.map(|c| c.p_value),
        // Set by `judge`, once every figure's p-value is known.
        significant: false,
        verdict: Verdict::NoChange,
        note,
    }
}

/// Verdicts: a figure is significant when its interval excludes zero and it is a discovery of
/// Benjamini-Hochberg over every judged figure (dozens of figures are compared at once: without
/// this, an A/A comparison would call a few of them at the 5% level); it is better or worse
/// when, besides, its relative change reaches [`MIN_RELATIVE_CHANGE`] (error rates are judged
/// on their absolute change: a relative change of a tiny rate means little).
fn judge(rows: &mut [Row]) {
    let judged: Vec<(usize, usize, f64)> = rows
        .iter()
        .enumerate()
        .flat_map(|(r, row)| {
            row.figures
                .iter()
                .enumerate()
                .filter_map(move |(k, f)| f.p_value.map(|p| (r, k, p)))
        })
        .collect();
    let p: Vec<f64> = judged.iter().map(|j| j.2).collect();
    let discoveries = stats::benjamini_hochberg(&p, stats::FALSE_DISCOVERY_RATE);
    for ((r, k, _), discovery) in judged.into_iter().zip(discoveries) {
        let f = &mut rows[r].figures[k];
        f.significant = discovery && f.ci.is_some_and(|c| c.low > 0.0 || c.high < 0.0);
        let large_enough = f.figure == Figure::ErrorRate
            || f.relative_change
                .is_none_or(|r| r.abs() >= MIN_RELATIVE_CHANGE);
        f.verdict = match f.change {
            Some(d) if f.significant && large_enough => {
                if (d > 0.0) == f.figure.higher_is_better() {
                    Verdict::Better
                } else {
                    Verdict::Worse
                }
            }
            _ => Verdict::NoChange,
        };
    }
}

fn overall(rows: &[Row]) -> Overall {
    let (mut better, mut worse, mut unchanged) = (0, 0, 0);
    let mut judged: Vec<(f64, String)> = Vec::new();
    for row in rows {
        for f in &row.figures {
            match f.verdict {
                Verdict::Better => better += 1,
                Verdict::Worse => worse += 1,
                _ => unchanged += 1,
            }
            if matches!(f.verdict, Verdict::Better | Verdict::Worse) {
                let size = f.relative_change.unwrap_or(f.change.unwrap_or(0.0));
                judged.push((
                    size.abs(),
                    format!(
                        "{} {} {} {}",
                        f.verdict.emoji(),
                        row.subject.label(),
                        f.figure.name(),
                        render_terminal::format_change(f)
                    ),
                ));
            }
        }
    }
    judged.sort_by(|a, b| b.0.total_cmp(&a.0));
    Overall {
        verdict: match (better > 0, worse > 0) {
            (true, true) => Verdict::Mixed,
            (true, false) => Verdict::Better,
            (false, true) => Verdict::Worse,
            (false, false) => Verdict::NoChange,
        },
        better,
        worse,
        unchanged,
        highlights: judged.into_iter().take(3).map(|(_, s)| s).collect(),
    }
}

fn db_statements(
    before: &[Run],
    after: &[Run],
) -> (Vec<crate::db::StatementChange>, Option<String>) {
    let first = |runs: &[Run]| runs.iter().find(|r| !r.report.db_stats.is_empty()).cloned();
    match (first(before), first(after)) {
        (Some(b), Some(a)) => (
            crate::db::statement_changes(&b.report.db_stats, &a.report.db_stats, DB_STATEMENTS),
            Some(format!("{} → {}", b.file, a.file)),
        ),
        _ => (Vec::new(), None),
    }
}

/// Operations whose throughput, p99 or error rate got significantly worse by more than `pct`
/// percent (error rate: percentage points), as `keto.check p99 +38.2%` lines.
pub fn regressions(c: &Comparison, pct: f64) -> Vec<String> {
    let mut out = Vec::new();
    for row in c
        .rows
        .iter()
        .filter(|r| matches!(r.subject, Subject::Operation { .. }))
    {
        for f in &row.figures {
            if f.verdict != Verdict::Worse
                || !matches!(
                    f.figure,
                    Figure::Throughput | Figure::P99 | Figure::ErrorRate
                )
            {
                continue;
            }
            let size = match f.figure {
                Figure::ErrorRate => f.change.unwrap_or(0.0) * 100.0,
                _ => f.relative_change.map_or(f64::INFINITY, |r| r.abs() * 100.0),
            };
            if size.abs() > pct {
                out.push(format!(
                    "{} {} {}",
                    row.subject.label(),
                    f.figure.name(),
                    render_terminal::format_change(f)
                ));
            }
        }
    }
    out
}
