//! What the load generator measured about itself, and what it concludes from that: whether the
//! run's numbers describe the server, or were limited by the generator.

use super::histogram::LatencyHistogram;
use std::time::Duration;

/// The warm-up period, left out of the statistics but shown beside them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WarmupTotals {
    pub duration: Duration,
    pub requests: u64,
    pub errors: u64,
}

#[derive(Clone, Debug, Default)]
pub struct GeneratorStats {
    pub open_model: bool,
    /// User + system CPU time of the orysim process during the measured run.
    pub cpu_time: Duration,
    pub cores: usize,
    /// Open model: arrivals queued for a virtual user, and arrivals dropped because every
    /// virtual user was busy and the queue was full.
    pub arrivals: u64,
    /// Open model: arrivals that waited in the backlog because every virtual user was busy.
    pub delayed: u64,
    pub dropped: u64,
    /// Open model: how late the scheduler emitted arrivals (only generator overload does this).
    pub dispatch_lag: Option<LatencyHistogram>,
    /// Open model: how late iterations started (includes waiting for a free virtual user).
    pub start_lag: Option<LatencyHistogram>,
    pub peak_memory_bytes: Option<u64>,
    /// The built-in simulator ran in the same process, so the CPU figure includes it.
    pub in_process_simulator: bool,
}

/// Above this share of all cores, the generator may be what limits the run.
const CPU_BOUND_SHARE: f64 = 0.9;
/// A scheduler more than this late at p99 is not keeping its schedule.
const DISPATCH_LAG_P99_LIMIT_US: u64 = 10_000;

impl GeneratorStats {
    /// CPU use as a share of all cores over `elapsed` (1.0 = every core busy).
    pub fn cpu_share(&self, elapsed: Duration) -> f64 {
        let wall = elapsed.as_secs_f64() * self.cores.max(1) as f64;
        if wall > 0.0 {
            self.cpu_time.as_secs_f64() / wall
        } else {
            0.0
        }
    }

    /// Why the numbers may describe the generator rather than the server; empty when the
    /// generator kept up.
    pub fn warnings(&self, elapsed: Duration) -> Vec<String> {
        let mut out = Vec::new();
        if self.dropped > 0 {
            out.push(format!(
                "generator-bound: {} arrivals dropped because all virtual users were busy \
                 (raise --max-vus, or the target is saturated)",
                self.dropped
            ));
        }
        if self.delayed > 0 && self.arrivals > 0 {
            out.push(format!(
                "{} of {} arrivals ({:.1}%) waited for a free virtual user; their latency counts \
                 from the scheduled start (raise --max-vus if the target is not the cause)",
                self.delayed,
                self.arrivals,
                self.delayed as f64 * 100.0 / self.arrivals as f64
            ));
        }
        if let Some(lag) = &self.dispatch_lag {
            let p99 = lag.value_at_quantile(0.99);
            if p99 > DISPATCH_LAG_P99_LIMIT_US {
                out.push(format!(
                    "generator-bound: the scheduler ran {:.1} ms late at p99; latencies include \
                     the generator's own delay",
                    p99 as f64 / 1000.0
                ));
            }
        }
        let share = self.cpu_share(elapsed);
        if share >= CPU_BOUND_SHARE {
            let who = if self.in_process_simulator {
                "orysim and its in-process simulator"
            } else {
                "orysim"
            };
            out.push(format!(
                "generator-bound: {who} used {:.0}% of {} cores; the load generator may be \
                 the bottleneck",
                share * 100.0,
                self.cores
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::new_latency_histogram;

    #[test]
    fn a_calm_generator_raises_no_warning() {
        let g = GeneratorStats {
            cpu_time: Duration::from_secs(2),
            cores: 2,
            ..Default::default()
        };
        assert!(g.warnings(Duration::from_secs(10)).is_empty());
        assert!((g.cpu_share(Duration::from_secs(10)) - 0.1).abs() < 1e-9);
    }

    #[test]
    fn drops_lag_and_cpu_each_raise_a_warning() {
        let mut lag = new_latency_histogram();
        lag.record(50_000).unwrap();
        let g = GeneratorStats {
            cpu_time: Duration::from_secs(19),
            cores: 2,
            dropped: 7,
            dispatch_lag: Some(lag),
            in_process_simulator: true,
            ..Default::default()
        };
        let w = g.warnings(Duration::from_secs(10));
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[0].contains("7 arrivals dropped"));
        assert!(w[1].contains("50.0 ms late"));
        assert!(w[2].contains("95%") && w[2].contains("in-process simulator"));
    }

    #[test]
    fn zero_elapsed_does_not_divide_by_zero() {
        let g = GeneratorStats {
            cpu_time: Duration::from_secs(1),
            cores: 2,
            ..Default::default()
        };
        assert_eq!(g.cpu_share(Duration::ZERO), 0.0);
    }
}
