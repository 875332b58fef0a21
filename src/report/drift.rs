//! Drift: did the run end where it started? The first tenth of the run against the last tenth
//! (at least one interval each; the first and last hour for runs over ten hours), per operation:
//! p50 and p99 (from the windows' merged histograms), throughput and error rate, with the size
//! of the change and whether it is beyond the run's own interval-to-interval noise.
//!
//! Noise is estimated from the series itself: σ is the median absolute successive difference of
//! the per-interval figure × 1.4826 / √2 (a robust standard deviation that a trend or a few
//! outlying intervals barely move). A window of k intervals averages that noise down to σ/√k,
//! so a change is called beyond noise when it exceeds 3·σ·√(2/k). σ is never taken below 1% of
//! the figure (HDR percentiles move in 0.1% steps, and identical per-interval values would make
//! it zero), and runs of fewer than ten intervals get no drift section.

use super::intervals::{read_series, IntervalRecord};
use crate::metrics::Snapshot;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Fewer intervals give no noise estimate worth the name (a tenth of the run is one interval,
/// and the noise comes from a handful of differences): no drift section.
const MIN_INTERVALS: usize = 10;

/// The noise never counts as less than this share of the figure: HDR percentiles move in steps
/// of 0.1%, and a run of identical per-interval values would otherwise call any change real.
const NOISE_FLOOR_SHARE: f64 = 0.01;

/// Runs longer than this compare their first and last hour instead of their tenths.
const LONG_RUN: Duration = Duration::from_secs(10 * 3600);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    /// Intervals in each compared window.
    pub intervals_per_window: u64,
    /// The windows, in seconds from the run's start: `[start, end]`.
    pub first_window_seconds: [f64; 2],
    pub last_window_seconds: [f64; 2],
    /// How "beyond noise" was decided, in words.
    pub method: String,
    pub operations: Vec<OperationDrift>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperationDrift {
    /// `keto.check`, or `keto.check · step` for a named step.
    pub name: String,
    pub p50_us: DriftFigure,
    pub p99_us: DriftFigure,
    pub requests_per_second: DriftFigure,
    pub error_rate: DriftFigure,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriftFigure {
    pub first: f64,
    pub last: f64,
    /// `last - first`.
    pub change: f64,
    /// `change / first`; null when `first` is 0.
    pub relative: Option<f64>,
    /// The interval-to-interval noise σ of the figure.
    pub noise: f64,
    pub beyond_noise: bool,
}

/// Per interval, per operation: the figures the noise is estimated from, with the index of
/// the interval they belong to.
#[derive(Default)]
struct PerInterval {
    index: Vec<usize>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    rps: Vec<f64>,
    error_rate: Vec<f64>,
}

/// Drift of the run whose series is at `path`; `None` with fewer than ten intervals.
pub fn from_series(path: &Path) -> anyhow::Result<Option<DriftReport>> {
    // First pass: how many intervals and their per-interval figures; second: the windows'
    // histograms. Two passes keep memory bounded by one interval, however long the run.
    let mut figures: BTreeMap<String, PerInterval> = BTreeMap::new();
    let mut lengths: Vec<(f64, f64)> = Vec::new();
    read_series(path, |_, r| {
        lengths.push((r.offset_seconds, r.elapsed_seconds));
        for o in &r.operations {
            let f = figures
                .entry(label(&o.name, o.step.as_deref()))
                .or_default();
            f.index.push(lengths.len() - 1);
            f.p50.push(o.latency_us.p50 as f64);
            f.p99.push(o.latency_us.p99 as f64);
            f.rps.push(o.requests_per_second.unwrap_or(0.0));
            f.error_rate.push(if o.count == 0 {
                0.0
            } else {
                o.errors as f64 / o.count as f64
            });
        }
        Ok(())
    })?;
    // A last interval much shorter than the others (the run's end cut it) holds too few calls
    // to stand for the end of the run: it stays in the totals, not in the windows.
    let nominal = lengths.first().map_or(0.0, |(_, l)| *l);
    if lengths.len() > 1 && lengths.last().is_some_and(|(_, l)| *l < nominal / 2.0) {
        lengths.pop();
        for f in figures.values_mut() {
            if f.index.last() == Some(&lengths.len()) {
                f.index.pop();
                for v in [&mut f.p50, &mut f.p99, &mut f.rps, &mut f.error_rate] {
                    v.pop();
                }
            }
        }
    }
    let n = lengths.len();
    if n < MIN_INTERVALS {
        return Ok(None);
    }
    let total: f64 = lengths.iter().map(|(_, l)| l).sum();
    let interval = (total / n as f64).max(1e-3);
    let k = if total > LONG_RUN.as_secs_f64() {
        ((3600.0 / interval).ceil() as usize).clamp(1, n / 2)
    } else {
        (n / 10).clamp(1, n / 2)
    };
    let (mut first, mut last) = (Snapshot::default(), Snapshot::default());
    let mut index = 0usize;
    read_series(path, |_, r: IntervalRecord| {
        if index < k {
            first.merge(&r.snapshot()?);
        }
        if index >= n - k && index < n {
            last.merge(&r.snapshot()?);
        }
        index += 1;
        Ok(())
    })?;
    let window_len =
        |range: std::ops::Range<usize>| -> f64 { lengths[range].iter().map(|(_, l)| l).sum() };
    let first_len = window_len(0..k);
    let last_len = window_len(n - k..n);
    let mut operations = Vec::new();
    for (name, per) in &figures {
        let find = |snap: &Snapshot| {
            snap.ops()
                .find(|s| label(s.op.name(), s.step.as_deref()) == *name)
                .cloned()
        };
        let (Some(a), Some(b)) = (find(&first), find(&last)) else {
            continue;
        };
        let rate = |count: u64, len: f64| if len > 0.0 { count as f64 / len } else { 0.0 };
        let err = |s: &crate::metrics::OpStats| {
            if s.count() == 0 {
                0.0
            } else {
                s.error_count() as f64 / s.count() as f64
            }
        };
        operations.push(OperationDrift {
            name: name.clone(),
            p50_us: figure(
                a.latency.value_at_quantile(0.5) as f64,
                b.latency.value_at_quantile(0.5) as f64,
                &per.p50,
                k,
            ),
            p99_us: figure(
                a.latency.value_at_quantile(0.99) as f64,
                b.latency.value_at_quantile(0.99) as f64,
                &per.p99,
                k,
            ),
            requests_per_second: figure(
                rate(a.count(), first_len),
                rate(b.count(), last_len),
                &per.rps,
                k,
            ),
            error_rate: figure(err(&a), err(&b), &per.error_rate, k),
        });
    }
    Ok(Some(DriftReport {
        intervals_per_window: k as u64,
        first_window_seconds: [lengths[0].0, lengths[0].0 + first_len],
        last_window_seconds: [lengths[n - k].0, lengths[n - k].0 + last_len],
        method: "beyond noise: |change| > 3·σ·√(2/k), σ = 1.4826·median|Δ| / √2 of the \
                 per-interval figure (at least 1% of the figure), k intervals per window"
            .to_string(),
        operations,
    }))
}

fn label(op: &str, step: Option<&str>) -> String {
    match step {
        Some(step) => format!("{op} · {step}"),
        None => op.to_string(),
    }
}

fn figure(first: f64, last: f64, series: &[f64], k: usize) -> DriftFigure {
    let noise = noise(series).max(NOISE_FLOOR_SHARE * first.abs().max(last.abs()));
    let change = last - first;
    let se = noise * (2.0 / k as f64).sqrt();
    DriftFigure {
        first,
        last,
        change,
        relative: (first != 0.0).then(|| change / first),
        noise,
        beyond_noise: change.abs() > 3.0 * se && change != 0.0,
    }
}

/// Robust interval-to-interval noise: median absolute successive difference × 1.4826 / √2.
fn noise(series: &[f64]) -> f64 {
    if series.len() < 2 {
        return 0.0;
    }
    let mut diffs: Vec<f64> = series.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    diffs.sort_by(|a, b| a.total_cmp(b));
    let mid = diffs.len() / 2;
    let median = if diffs.len().is_multiple_of(2) {
        (diffs[mid - 1] + diffs[mid]) / 2.0
    } else {
        diffs[mid]
    };
    median * 1.4826 / std::f64::consts::SQRT_2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_ignores_a_trend_and_a_spike_but_sees_jitter() {
        let flat = vec![100.0; 20];
        assert_eq!(noise(&flat), 0.0);
        let jitter: Vec<f64> = (0..40)
            .map(|i| if i % 2 == 0 { 100.0 } else { 110.0 })
            .collect();
        assert!((noise(&jitter) - 10.0 * 1.4826 / 2f64.sqrt()).abs() < 1e-9);
        let mut spike = vec![100.0; 40];
        spike[20] = 10_000.0;
        assert_eq!(noise(&spike), 0.0);
    }

    #[test]
    fn a_change_larger_than_the_noise_is_called_so() {
        let series: Vec<f64> = (0..40)
            .map(|i| if i % 2 == 0 { 100.0 } else { 104.0 })
            .collect();
        let same = figure(102.0, 103.0, &series, 4);
        assert!(!same.beyond_noise, "{same:?}");
        let worse = figure(102.0, 180.0, &series, 4);
        assert!(worse.beyond_noise);
        assert_eq!(worse.relative.map(|r| (r * 100.0).round()), Some(76.0));
        assert!(!figure(0.0, 0.0, &[0.0, 0.0], 1).beyond_noise);
    }
}
