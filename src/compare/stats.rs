//! The statistics of a comparison: a two-stage circular block bootstrap of each figure's change.
//!
//! A side is one or more runs; a run is a sequence of samples (its intervals, or the whole run
//! when it has no interval series). A sample holds a row's calls, errors, measured seconds and
//! latencies. Every figure is the run's own figure recomputed from a set of samples (calls per
//! second of measured time, errors per call, latency percentiles of the merged latencies), so
//! the estimate the bootstrap varies is exactly the figure the summary shows.
//!
//! One bootstrap replicate of a side draws its runs with replacement (the run-to-run noise, when
//! there are several), then, within each drawn run, circular blocks of consecutive samples
//! (Politis and Romano's circular block bootstrap) of a length chosen from the run's lag-1
//! autocorrelation (Politis and White's rule for an AR(1) fit). Blocks keep neighbouring
//! intervals together, so autocorrelated intervals do not pass for independent evidence. Short
//! runs allow only short blocks, which still miss part of the variance of a correlated series:
//! each side's replicates are therefore spread around its estimate by the factor that restores
//! the AR(1) long-run variance the blocks miss (1 for uncorrelated intervals), and by
//! Hesterberg's expansion of the percentile interval for small samples (Student's t over the
//! normal quantile at the effective sample size, times √(n/(n − 1))). The 95% confidence
//! interval of a change is the percentile interval of after − before over the replicates; a
//! change is significant when that interval excludes zero.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Relative width of the latency grid the bootstrap merges on (0.5%): far finer than any change
/// worth a verdict, coarse enough to merge hundreds of intervals thousands of times quickly.
pub const GRID_STEP: f64 = 0.005;

/// Latency grid bucket of `us` microseconds.
pub fn grid_index(us: u64) -> u32 {
    ((us.max(1) as f64).ln() / GRID_STEP.ln_1p()).floor() as u32
}

/// Middle of a grid bucket, in microseconds.
pub fn grid_value(index: u32) -> f64 {
    (GRID_STEP.ln_1p() * (index as f64 + 0.5)).exp()
}

/// One row's measurements in one sample (an interval, or a whole run without a series).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    /// Measured seconds of the sample.
    pub seconds: f64,
    pub calls: u64,
    pub errors: u64,
    /// Latency grid buckets (ascending) and their counts; empty for a service row.
    pub latency: Vec<(u32, u64)>,
}

impl Sample {
    /// Adds `other` (a neighbouring interval) into this sample: batches of intervals.
    pub fn absorb(&mut self, other: &Sample) {
        self.seconds += other.seconds;
        self.calls += other.calls;
        self.errors += other.errors;
        let mut merged = Vec::with_capacity(self.latency.len() + other.latency.len());
        let (mut a, mut b) = (
            self.latency.iter().peekable(),
            other.latency.iter().peekable(),
        );
        loop {
            match (a.peek(), b.peek()) {
                (Some(&&(i, n)), Some(&&(j, m))) if i == j => {
                    merged.push((i, n + m));
                    a.next();
                    b.next();
                }
                (Some(&&x), Some(&&y)) => {
                    if x.0 < y.0 {
                        merged.push(x);
                        a.next();
                    } else {
                        merged.push(y);
                        b.next();
                    }
                }
                (Some(&&x), None) => {
                    merged.push(x);
                    a.next();
                }
                (None, Some(&&y)) => {
                    merged.push(y);
                    b.next();
                }
                (None, None) => break,
            }
        }
        self.latency = merged;
    }
}

/// The figures compared, in this order everywhere.
pub const FIGURES: usize = 6;
/// Quantiles of the four latency figures (p50, p90, p99, p99.9).
pub const QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

/// Sums of a set of samples, from which every figure follows.
struct Acc {
    seconds: f64,
    calls: u64,
    errors: u64,
    /// Counts per grid bucket, from `offset`.
    latency: Vec<u64>,
    offset: u32,
}

impl Acc {
    fn new(offset: u32, buckets: usize) -> Self {
        Acc {
            seconds: 0.0,
            calls: 0,
            errors: 0,
            latency: vec![0; buckets],
            offset,
        }
    }

    fn clear(&mut self) {
        self.seconds = 0.0;
        self.calls = 0;
        self.errors = 0;
        self.latency.iter_mut().for_each(|c| *c = 0);
    }

    fn add(&mut self, s: &Sample) {
        self.seconds += s.seconds;
        self.calls += s.calls;
        self.errors += s.errors;
        for &(i, n) in &s.latency {
            self.latency[(i - self.offset) as usize] += n;
        }
    }

    /// Throughput, error rate and the latency percentiles (µs, on the grid); `None` where the
    /// figure does not exist (no time measured, no call, no latency recorded).
    fn figures(&self) -> [Option<f64>; FIGURES] {
        let mut out = [None; FIGURES];
        out[0] = (self.seconds > 0.0).then(|| self.calls as f64 / self.seconds);
        out[1] = (self.calls > 0).then(|| self.errors as f64 / self.calls as f64);
        let total: u64 = self.latency.iter().sum();
        if total > 0 {
            for (k, q) in QUANTILES.iter().enumerate() {
                // The same rank rule as HdrHistogram's value_at_quantile.
                let rank = ((q * total as f64).ceil() as u64).max(1);
                let mut seen = 0;
                for (i, &c) in self.latency.iter().enumerate() {
                    seen += c;
                    if seen >= rank {
                        out[2 + k] = Some(grid_value(self.offset + i as u32));
                        break;
                    }
                }
            }
        }
        out
    }
}

/// Lag-1 autocorrelation of a series (0 for fewer than 3 values or no variance).
pub fn lag1_autocorrelation(xs: &[f64]) -> f64 {
    let n = xs.len();
    if n < 3 {
        return 0.0;
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    let var: f64 = xs.iter().map(|x| (x - mean).powi(2)).sum();
    if var <= 0.0 || !var.is_finite() {
        return 0.0;
    }
    let cov: f64 = xs.windows(2).map(|w| (w[0] - mean) * (w[1] - mean)).sum();
    cov / var
}

/// Block length of the circular block bootstrap for `n` samples whose lag-1 autocorrelation
/// is `rho`: Politis and White's optimal length for an AR(1) series,
/// (6ρ² / (1 − ρ²)²)^(1/3) · n^(1/3), at least 1 and at most n/2. Negative and tiny
/// correlations give 1 (an ordinary bootstrap); ρ is capped at 0.9.
pub fn block_length(n: usize, rho: f64) -> usize {
    let rho = rho.clamp(0.0, 0.9);
    let factor = (6.0 * rho * rho / (1.0 - rho * rho).powi(2)).cbrt();
    let b = (factor * (n as f64).cbrt()).round() as usize;
    b.clamp(1, (n / 2).max(1))
}

/// Lag-1 autocorrelation of `n` samples corrected for its small-sample bias (the estimate is
/// low by about (1 + 4ρ)/n for an AR(1) series with an estimated mean), within 0..0.8 (beyond
/// 0.8 a short run's estimate says more about a trend than about a correlation).
pub fn corrected_autocorrelation(rho: f64, n: usize) -> f64 {
    if n < 3 {
        return 0.0;
    }
    (rho + (1.0 + 4.0 * rho.max(0.0)) / n as f64).clamp(0.0, MAX_AUTOCORRELATION)
}

/// The largest autocorrelation the bootstrap assumes.
pub const MAX_AUTOCORRELATION: f64 = 0.8;

/// How much wider the spread of a mean of an AR(1) series is than what a circular block
/// bootstrap with blocks of `b` reproduces: √(long-run variance factor (1 + ρ)/(1 − ρ) over the
/// Bartlett-weighted sum the blocks keep, 1 + 2 Σ_{k<b} (1 − k/b) ρ^k). 1 when ρ is 0.
pub fn spread_correction(rho: f64, b: usize) -> f64 {
    let rho = rho.clamp(0.0, 0.9);
    let long_run = (1.0 + rho) / (1.0 - rho);
    let kept = 1.0
        + 2.0
            * (1..b)
                .map(|k| (1.0 - k as f64 / b as f64) * rho.powi(k as i32))
                .sum::<f64>();
    (long_run / kept).sqrt().max(1.0)
}

/// The normal quantile of a two-sided 95% interval.
const Z_95: f64 = 1.959_963_985;

/// Student's t quantile of a two-sided 95% interval at `df` degrees of freedom (at least 1):
/// the Cornish-Fisher expansion around the normal quantile (within 3% from 2 degrees of freedom
/// on, exact in the limit).
pub fn t_quantile_95(df: f64) -> f64 {
    let v = df.max(1.0);
    let z = Z_95;
    let (z3, z5, z7) = (z.powi(3), z.powi(5), z.powi(7));
    z + (z3 + z) / (4.0 * v)
        + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * v * v)
        + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * v * v * v)
}

/// Hesterberg's expansion of a percentile interval from `n` independent samples: t over z at
/// n − 1 degrees of freedom, times √(n/(n − 1)); 1 in the limit. At least 3 samples are assumed
/// (below that, Student's t explodes and says nothing the verdicts could use).
pub fn small_sample_expansion(n: f64) -> f64 {
    let n = n.max(3.0);
    t_quantile_95(n - 1.0) / Z_95 * (n / (n - 1.0)).sqrt()
}

/// The autocorrelation that sets a run's block length: the mean lag-1 autocorrelation of the
/// row's per-sample throughput and median latency (the figures that move with the system's
/// state; the larger of two noisy estimates would be biased upwards).
pub fn run_autocorrelation(samples: &[Sample]) -> f64 {
    let rates: Vec<f64> = samples
        .iter()
        .map(|s| {
            if s.seconds > 0.0 {
                s.calls as f64 / s.seconds
            } else {
                0.0
            }
        })
        .collect();
    let medians: Vec<f64> = samples
        .iter()
        .filter(|s| !s.latency.is_empty())
        .map(|s| {
            let total: u64 = s.latency.iter().map(|x| x.1).sum();
            let mut seen = 0;
            for &(i, c) in &s.latency {
                seen += c;
                if seen * 2 >= total {
                    return grid_value(i);
                }
            }
            0.0
        })
        .collect();
    if medians.len() < 3 {
        return lag1_autocorrelation(&rates);
    }
    (lag1_autocorrelation(&rates) + lag1_autocorrelation(&medians)) / 2.0
}

/// One side of a comparison: its runs, each a sequence of samples in time order.
#[derive(Clone, Debug, Default)]
pub struct SideSamples {
    pub runs: Vec<Vec<Sample>>,
}

impl SideSamples {
    /// Samples at the lowest level the bootstrap draws from: intervals when a run has several,
    /// else whole runs.
    pub fn samples(&self) -> usize {
        self.runs.iter().map(Vec::len).sum()
    }

    fn bucket_range(&self) -> Option<(u32, u32)> {
        let mut range: Option<(u32, u32)> = None;
        for s in self.runs.iter().flatten() {
            if let (Some(first), Some(last)) = (s.latency.first(), s.latency.last()) {
                range = Some(match range {
                    None => (first.0, last.0),
                    Some((lo, hi)) => (lo.min(first.0), hi.max(last.0)),
                });
            }
        }
        range
    }
}

/// A confidence interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

impl Interval {
    pub fn excludes_zero(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }
}

/// The bootstrap's answer for one figure: intervals of after − before and of after / before − 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FigureInterval {
    pub absolute: Interval,
    /// Two-sided bootstrap p-value of "no change": twice the smaller share of replicates on
    /// either side of zero (1 when every replicate is exactly zero).
    pub p_value: f64,
    /// `None` when the before figure is zero in some replicate (a relative change is undefined).
    pub relative: Option<Interval>,
}

/// How the bootstrap runs.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub resamples: usize,
    pub seed: u64,
}

/// The two-sided confidence level of every interval.
pub const CONFIDENCE: f64 = 0.95;
/// The false-discovery rate the verdicts are controlled at (1 − CONFIDENCE).
pub const FALSE_DISCOVERY_RATE: f64 = 0.05;

/// Confidence intervals of the change of every figure from `before` to `after`; `None` for a
/// figure missing from a side in some replicate.
pub fn bootstrap(
    before: &SideSamples,
    after: &SideSamples,
    settings: Settings,
) -> [Option<FigureInterval>; FIGURES] {
    let range = match (before.bucket_range(), after.bucket_range()) {
        (Some(a), Some(b)) => (a.0.min(b.0), a.1.max(b.1)),
        (Some(r), None) | (None, Some(r)) => r,
        (None, None) => (0, 0),
    };
    let buckets = (range.1 - range.0) as usize + 1;
    let mut rng = SmallRng::seed_from_u64(settings.seed);
    let (plan_before, plan_after) = (ResamplePlan::of(before), ResamplePlan::of(after));
    let mut acc = Acc::new(range.0, buckets);
    let mut deltas: Vec<Vec<f64>> = (0..FIGURES)
        .map(|_| Vec::with_capacity(settings.resamples))
        .collect();
    let mut ratios: Vec<Vec<f64>> = (0..FIGURES)
        .map(|_| Vec::with_capacity(settings.resamples))
        .collect();
    let mut missing = [false; FIGURES];
    let mut ratio_missing = [false; FIGURES];
    for _ in 0..settings.resamples {
        let b = plan_before.replicate(before, &mut acc, &mut rng);
        let a = plan_after.replicate(after, &mut acc, &mut rng);
        for k in 0..FIGURES {
            match (b[k], a[k]) {
                (Some(x), Some(y)) => {
                    deltas[k].push(y - x);
                    if x > 0.0 {
                        ratios[k].push(y / x - 1.0);
                    } else {
                        ratio_missing[k] = true;
                    }
                }
                _ => missing[k] = true,
            }
        }
    }
    let tail = (1.0 - CONFIDENCE) / 2.0;
    std::array::from_fn(|k| {
        if missing[k] || deltas[k].is_empty() {
            return None;
        }
        let n = deltas[k].len() as f64;
        let below = deltas[k].iter().filter(|d| **d <= 0.0).count() as f64;
        let above = deltas[k].iter().filter(|d| **d >= 0.0).count() as f64;
        Some(FigureInterval {
            p_value: (2.0 * below.min(above) / n).min(1.0),
            absolute: percentile_interval(&mut deltas[k], tail),
            relative: (!ratio_missing[k]).then(|| percentile_interval(&mut ratios[k], tail)),
        })
    })
}

/// How a side is resampled: each run's block length, and the spread correction of the side.
struct ResamplePlan {
    blocks: Vec<usize>,
    center: [Option<f64>; FIGURES],
    spread: f64,
}

impl ResamplePlan {
    fn of(side: &SideSamples) -> Self {
        let mut blocks = Vec::new();
        let (mut weighted, mut total, mut effective) = (0.0, 0.0, 0.0);
        for run in &side.runs {
            let rho = corrected_autocorrelation(run_autocorrelation(run), run.len());
            let b = block_length(run.len(), rho);
            blocks.push(b);
            weighted += spread_correction(rho, b) * run.len() as f64;
            total += run.len() as f64;
            effective += run.len() as f64 * (1.0 - rho) / (1.0 + rho);
        }
        let autocorrelation = if total > 0.0 { weighted / total } else { 1.0 };
        ResamplePlan {
            blocks,
            center: point_figures(side),
            spread: autocorrelation * small_sample_expansion(effective),
        }
    }

    /// One replicate of the side's figures, spread around the side's estimate.
    fn replicate(
        &self,
        side: &SideSamples,
        acc: &mut Acc,
        rng: &mut SmallRng,
    ) -> [Option<f64>; FIGURES] {
        let raw = replicate(side, &self.blocks, acc, rng);
        std::array::from_fn(|k| match (raw[k], self.center[k]) {
            (Some(x), Some(c)) => Some((c + self.spread * (x - c)).max(0.0)),
            (x, _) => x,
        })
    }
}

/// One bootstrap replicate of a side's figures.
fn replicate(
    side: &SideSamples,
    blocks: &[usize],
    acc: &mut Acc,
    rng: &mut SmallRng,
) -> [Option<f64>; FIGURES] {
    acc.clear();
    let runs = side.runs.len();
    for _ in 0..runs {
        // With one run there is nothing to draw between runs.
        let r = if runs == 1 { 0 } else { rng.gen_range(0..runs) };
        let run = &side.runs[r];
        let n = run.len();
        if n == 0 {
            continue;
        }
        let b = blocks[r];
        let mut taken = 0;
        while taken < n {
            let start = rng.gen_range(0..n);
            for j in 0..b.min(n - taken) {
                acc.add(&run[(start + j) % n]);
            }
            taken += b;
        }
    }
    acc.figures()
}

/// The figures of all samples of a side together (no resampling), on the grid.
pub fn point_figures(side: &SideSamples) -> [Option<f64>; FIGURES] {
    let Some((lo, hi)) = side.bucket_range().or(Some((0, 0))) else {
        return [None; FIGURES];
    };
    let mut acc = Acc::new(lo, (hi - lo) as usize + 1);
    for s in side.runs.iter().flatten() {
        acc.add(s);
    }
    acc.figures()
}

/// Benjamini-Hochberg: which of `p_values` are discoveries at false-discovery rate `q` (the
/// largest k whose k-th smallest p-value is at most k/m · q, and every smaller one).
pub fn benjamini_hochberg(p_values: &[f64], q: f64) -> Vec<bool> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let cutoff = (1..=m)
        .rev()
        .find(|&k| p_values[order[k - 1]] <= k as f64 / m as f64 * q)
        .unwrap_or(0);
    let mut out = vec![false; m];
    for &i in &order[..cutoff] {
        out[i] = true;
    }
    out
}

/// The `tail` and `1 − tail` percentiles of `values` (linear interpolation between ranks).
fn percentile_interval(values: &mut [f64], tail: f64) -> Interval {
    values.sort_by(f64::total_cmp);
    Interval {
        low: percentile(values, tail),
        high: percentile(values, 1.0 - tail),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let pos = p * (sorted.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos.fract());
    match sorted.get(i + 1) {
        Some(next) => sorted[i] + (next - sorted[i]) * frac,
        None => sorted[i],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(resamples: usize) -> Settings {
        Settings { resamples, seed: 7 }
    }

    /// A sample of `calls` calls over one second, latencies spread evenly over ±10% of `us`.
    fn sample(calls: u64, errors: u64, us: f64) -> Sample {
        let mut latency: Vec<(u32, u64)> = Vec::new();
        for i in 0..calls {
            let v = us * (0.9 + 0.2 * (i as f64 + 0.5) / calls as f64);
            let idx = grid_index(v.round() as u64);
            match latency.last_mut() {
                Some(last) if last.0 == idx => last.1 += 1,
                _ => latency.push((idx, 1)),
            }
        }
        Sample {
            seconds: 1.0,
            calls,
            errors,
            latency,
        }
    }

    #[test]
    fn the_grid_is_half_a_percent_wide() {
        for us in [1u64, 7, 999, 20_000, 1_234_567, 60_000_000] {
            let back = grid_value(grid_index(us));
            assert!(
                (back / us as f64 - 1.0).abs() <= GRID_STEP,
                "{us} -> {back}"
            );
        }
        assert!(grid_index(1000) < grid_index(1006));
    }

    #[test]
    fn autocorrelation_and_block_length_known_answers() {
        // Alternating: lag-1 autocorrelation (n-1)/n · -1 with this estimator.
        let alt: Vec<f64> = (0..10)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        assert!((lag1_autocorrelation(&alt) + 0.9).abs() < 1e-12);
        // A straight line 1..=5: mean 3, variance sum 10, lagged products 4 → 0.4.
        assert!((lag1_autocorrelation(&[1.0, 2.0, 3.0, 4.0, 5.0]) - 0.4).abs() < 1e-12);
        assert_eq!(lag1_autocorrelation(&[2.0, 2.0, 2.0]), 0.0);
        // ρ = 0.5, n = 27: (6·0.25/0.5625)^(1/3) · 3 = 1.387 · 3 = 4.16 → 4.
        assert_eq!(block_length(27, 0.5), 4);
        assert_eq!(block_length(27, -0.4), 1);
        assert_eq!(block_length(27, 0.0), 1);
        // Capped at half the run.
        assert_eq!(block_length(6, 0.9), 3);
        // ρ = 0.5 with blocks of 3: long-run factor 3, kept 1 + 2(2/3·0.5 + 1/3·0.25) = 1.8333.
        assert!((spread_correction(0.5, 3) - (3.0f64 / 1.833_333_333).sqrt()).abs() < 1e-6);
        assert_eq!(spread_correction(0.0, 1), 1.0);
        // 0.4 estimated from 10 samples: + (1 + 1.6)/10.
        assert!((corrected_autocorrelation(0.4, 10) - 0.66).abs() < 1e-12);
        assert_eq!(corrected_autocorrelation(0.99, 100), 0.8);
        // Student's t: 2.776 at 4 degrees of freedom, 2.086 at 20, 1.96 in the limit.
        assert!(
            (t_quantile_95(4.0) - 2.776).abs() < 0.03,
            "{}",
            t_quantile_95(4.0)
        );
        assert!((t_quantile_95(20.0) - 2.086).abs() < 0.002);
        assert!((t_quantile_95(1e9) - 1.96).abs() < 0.001);
        // 10 samples: 2.262/1.96 · √(10/9) = 1.2165.
        assert!((small_sample_expansion(10.0) - 1.2165).abs() < 0.005);
    }

    #[test]
    fn point_figures_known_answers() {
        let side = SideSamples {
            runs: vec![vec![sample(100, 1, 1000.0), sample(300, 3, 1000.0)]],
        };
        let f = point_figures(&side);
        assert_eq!(f[0], Some(200.0));
        assert_eq!(f[1], Some(0.01));
        // Evenly spread over 900..1100 µs: the median is ~1000 µs, p99 ~1098 µs.
        assert!((f[2].unwrap() - 1000.0).abs() < 10.0, "{f:?}");
        assert!((f[4].unwrap() - 1098.0).abs() < 10.0, "{f:?}");
    }

    #[test]
    fn benjamini_hochberg_known_answer() {
        // m = 5, q = 0.05: thresholds 0.01 0.02 0.03 0.04 0.05. Sorted p: 0.001 0.012 0.029
        // 0.041 0.6 → the 4th (0.041 ≤ 0.04)? no; the 3rd (0.029 ≤ 0.03) yes: three discoveries.
        let p = [0.6, 0.029, 0.001, 0.041, 0.012];
        assert_eq!(
            benjamini_hochberg(&p, 0.05),
            vec![false, true, true, false, true]
        );
        assert_eq!(benjamini_hochberg(&[0.2, 0.3], 0.05), vec![false, false]);
        assert!(benjamini_hochberg(&[], 0.05).is_empty());
    }

    #[test]
    fn absorbing_merges_buckets_in_order() {
        let mut a = Sample {
            seconds: 1.0,
            calls: 3,
            errors: 0,
            latency: vec![(1, 1), (5, 2)],
        };
        a.absorb(&Sample {
            seconds: 0.5,
            calls: 3,
            errors: 1,
            latency: vec![(0, 1), (5, 1), (9, 1)],
        });
        assert_eq!(a.latency, vec![(0, 1), (1, 1), (5, 3), (9, 1)]);
        assert_eq!((a.seconds, a.calls, a.errors), (1.5, 6, 1));
    }

    #[test]
    fn a_clear_shift_is_found_with_its_size_and_sign() {
        // Throughput 1000 ± noise against 1100 ± noise; latency 10 ms against 8 ms.
        let run = |rate: f64, us: f64, phase: u64| -> Vec<Sample> {
            (0..20)
                .map(|i| {
                    let wobble = ((i * 7 + phase) % 5) as f64 - 2.0;
                    sample((rate + wobble * 10.0) as u64, 0, us * (1.0 + wobble * 0.01))
                })
                .collect()
        };
        let before = SideSamples {
            runs: vec![run(1000.0, 10_000.0, 0)],
        };
        let after = SideSamples {
            runs: vec![run(1100.0, 8_000.0, 3)],
        };
        let ci = bootstrap(&before, &after, settings(1000));
        let tput = ci[0].unwrap();
        assert!(
            tput.absolute.low > 80.0 && tput.absolute.high < 120.0,
            "{tput:?}"
        );
        let rel = tput.relative.unwrap();
        assert!(rel.low > 0.08 && rel.high < 0.12, "{rel:?}");
        let p50 = ci[2].unwrap().relative.unwrap();
        assert!(p50.low > -0.23 && p50.high < -0.17, "{p50:?}");
        assert!(ci[0].unwrap().p_value < 0.01 && ci[2].unwrap().p_value < 0.01);
        // No errors on either side: the error rate's change is exactly zero, not significant.
        assert_eq!(ci[1].unwrap().p_value, 1.0);
        let err = ci[1].unwrap().absolute;
        assert_eq!((err.low, err.high), (0.0, 0.0));
        assert!(!err.excludes_zero());
        // Same seed, same answer.
        assert_eq!(bootstrap(&before, &after, settings(1000)), ci);
    }

    /// Standard normal from two uniforms (Box-Muller).
    fn normal(rng: &mut SmallRng) -> f64 {
        let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
        let u2: f64 = rng.gen();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// An autocorrelated run: the system's state follows an AR(1) process with coefficient
    /// `rho`; it scales the interval's latency and, inversely, its calls (a closed model).
    fn ar1_run(rng: &mut SmallRng, n: usize, rho: f64, shift: f64) -> Vec<Sample> {
        let mut state = normal(rng) / (1.0 - rho * rho).sqrt();
        (0..n)
            .map(|_| {
                state = rho * state + normal(rng);
                let factor = (0.05 * state).exp() * (1.0 + shift);
                let calls = (200.0 / factor) as u64;
                let mut latency: Vec<(u32, u64)> = (0..calls)
                    .map(|_| grid_index((5000.0 * factor * (0.3 * normal(rng)).exp()) as u64))
                    .map(|i| (i, 1))
                    .collect();
                latency.sort_unstable();
                latency.dedup_by(|x, y| {
                    if x.0 == y.0 {
                        y.1 += x.1;
                        true
                    } else {
                        false
                    }
                });
                Sample {
                    seconds: 1.0,
                    calls,
                    errors: 0,
                    latency,
                }
            })
            .collect()
    }

    /// A/A pairs of autocorrelated runs: the share called significant stays near the 5% the
    /// confidence level allows (the block bootstrap alone, without the spread corrections, called
    /// 20% of them); a 25% latency shift is found in nearly every pair.
    #[test]
    fn false_positive_rate_stays_near_the_level_under_autocorrelation() {
        let mut rng = SmallRng::seed_from_u64(11);
        let pairs = 120;
        let (mut positives, mut detected) = (0, 0);
        for p in 0..pairs {
            let a = SideSamples {
                runs: vec![ar1_run(&mut rng, 30, 0.6, 0.0)],
            };
            let b = SideSamples {
                runs: vec![ar1_run(&mut rng, 30, 0.6, 0.0)],
            };
            let s = Settings {
                resamples: 400,
                seed: p,
            };
            let ci = bootstrap(&a, &b, s);
            if ci[2].unwrap().absolute.excludes_zero() {
                positives += 1;
            }
            let shifted = SideSamples {
                runs: vec![ar1_run(&mut rng, 30, 0.6, 0.25)],
            };
            let ci = bootstrap(&a, &shifted, s);
            if ci[2].unwrap().absolute.low > 0.0 {
                detected += 1;
            }
        }
        let fpr = positives as f64 / pairs as f64;
        assert!(fpr <= 0.11, "false-positive rate {fpr}");
        assert!(
            detected as f64 / pairs as f64 >= 0.8,
            "detected {detected}/{pairs}"
        );
    }
}
